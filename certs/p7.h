/*
 * p7: the "certs-only" degenerate PKCS#7/CMS SignedData of EST responses (RFC 7030 §4.1.3,
 * §4.2.3; RFC 5652 SignedData with no signers and no content).
 */
#ifndef LATCHKEY_P7_H
#define LATCHKEY_P7_H

#include <stddef.h>
#include <openssl/types.h>
#include <openssl/x509.h>

/* DER of a certs-only SignedData holding certs[0..n-1]; *der malloc'd (caller frees). */
int	p7_certs_encode(X509 *const *certs, size_t n, unsigned char **der, size_t *len,
	    char *err, size_t errlen);
/* Parse DER (bounded by len); returns the certificates (caller frees with
 * sk_X509_pop_free(st, X509_free); OpenSSL 3.0 has no
 * OSSL_STACK_OF_X509_free) or NULL with err. Accepts BER as OpenSSL does. */
STACK_OF(X509) *p7_certs_decode(const unsigned char *der, size_t len, char *err,
	    size_t errlen);

/*
 * DER of a CMS SignedData (RFC 5652 §5) over data[0..len) as encapsulated id-data, signed by
 * key with cert (included, with chain when not NULL), binary (no MIME canonicalisation), no
 * S/MIME capabilities: the signed posture report and the signed update manifest. *der
 * malloc'd (caller frees). 0, or -1 with err ("CMS signing failed: <OpenSSL's reason>").
 */
int	p7_sign_data(const unsigned char *data, size_t len, X509 *cert, EVP_PKEY *key,
	    STACK_OF(X509) *chain, unsigned char **der, size_t *derlen, char *err,
	    size_t errlen);

#endif
