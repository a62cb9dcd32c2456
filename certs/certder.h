/*
 * certder: DER-level work on certificates this registrar issued itself, for the enrollment
 * hot path. OpenSSL 3.0 decodes the public key of every certificate it parses through its
 * provider decoders, which costs more than signing; these helpers read the few fields we need
 * and wrap certificates for EST without parsing them into X509 objects.
 */
#ifndef LATCHKEY_CERTDER_H
#define LATCHKEY_CERTDER_H

#include <stddef.h>
#include <stdint.h>

/*
 * Serial number (uppercase hex, no leading zeros, as pki_cert_serial_hex) and validity
 * (Unix seconds) of a DER certificate. Bounded by len; -1 on anything malformed.
 */
int	certder_info(const unsigned char *der, size_t len, char *serial_hex, size_t hexlen,
	    int64_t *not_before, int64_t *not_after);

/*
 * A certs-only SignedData (RFC 5652 §5.1 with no signers and no content; RFC 7030 §4.1.3)
 * holding the given DER certificates, byte-identical to what OpenSSL's PKCS7 code makes.
 * *out is malloc'd (caller frees). -1 on overflow or allocation failure.
 */
int	certder_p7_certs(const unsigned char *const *ders, const size_t *lens, size_t n,
	    unsigned char **out, size_t *outlen);

#endif
