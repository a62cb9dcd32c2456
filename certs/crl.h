/*
 * crl: the domain CA's certificate revocation list (RFC 5280 §5).
 *
 * crl_build() is a pure function of its arguments: it takes the CA certificate and key, so the
 * signer process (the only holder of the key) calls it; the network side only serves the DER
 * (application/pkix-crl). The entries reach the signer as a compact framing:
 *
 *   entries = u32 n | n * ( u8 serial_len | serial | i64 revoked_at | i8 reason )
 *
 * integers big-endian; serial = the serial number's magnitude, big-endian, no leading zero
 * octets (1..CRL_SERIAL_BYTES_MAX octets); revoked_at = seconds since the epoch; reason = an
 * RFC 5280 §5.3.1 CRLReason code or -1. crl_entries_decode() checks every length before it
 * copies or allocates and refuses more than CRL_ENTRIES_MAX entries.
 *
 * Buffers returned through unsigned char ** are malloc'd; the caller frees them with free().
 * Failing functions return -1 and write one line into err (errlen bytes, may be NULL/0).
 */
#ifndef LATCHKEY_CRL_H
#define LATCHKEY_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#define CRL_ENTRIES_MAX		1000000
#define CRL_SERIAL_BYTES_MAX	31	/* magnitude octets; 62 hex digits fit serial_hex */
#define CRL_RC_NONE		(-1)	/* no reasonCode entry extension */

/* RFC 5280 §5.3.1 CRLReason (value 7 is not used). */
#define CRL_RC_UNSPECIFIED		0
#define CRL_RC_KEY_COMPROMISE		1
#define CRL_RC_CA_COMPROMISE		2
#define CRL_RC_AFFILIATION_CHANGED	3
#define CRL_RC_SUPERSEDED		4
#define CRL_RC_CESSATION		5
#define CRL_RC_CERTIFICATE_HOLD		6
#define CRL_RC_REMOVE_FROM_CRL		8
#define CRL_RC_PRIVILEGE_WITHDRAWN	9
#define CRL_RC_AA_COMPROMISE		10

struct crl_entry {
	char	serial_hex[64];	/* hex, either case; leading zeros allowed on input */
	int64_t	revoked_at;	/* seconds since the epoch, >= 0 */
	int	reason;		/* CRL_RC_* or CRL_RC_NONE */
};

/*
 * Build and sign a v2 CRL: issuer = the CA's subject, thisUpdate = this_update, nextUpdate =
 * this_update + next_update_hours (1..87600), one revokedCertificates entry per e[i] (sorted by
 * serial number; the list is omitted when n == 0) with revocationDate and, unless
 * reason == CRL_RC_NONE, a reasonCode extension; CRL extensions cRLNumber = crl_number and
 * authorityKeyIdentifier = the CA's subjectKeyIdentifier (or the RFC 5280 §4.2.1.2 (1) SHA-1 of
 * its key when it has none). Times before 2050 are UTCTime, later ones GeneralizedTime
 * (RFC 5280 §5.1.2.4). Signature: ECDSA with SHA-256 (P-256) or SHA-384 (P-384 and larger),
 * Ed25519, RSA PKCS#1 v1.5 with SHA-256. Fails on a bad or duplicate serial, a reason out of
 * range, n > CRL_ENTRIES_MAX or a key that does not match the certificate.
 * On success *der (malloc'd, caller frees) holds the DER CertificateList.
 */
int	crl_build(X509 *ca_cert, EVP_PKEY *ca_key, const struct crl_entry *e, size_t n,
	    uint64_t crl_number, int64_t this_update, unsigned next_update_hours,
	    unsigned char **der, size_t *len, char *err, size_t errlen);

/* RFC 5280 names ("keyCompromise", ...; case-insensitive) to codes; -1 when unknown. */
int	crl_reason_from_name(const char *name);
/* Code to RFC 5280 name; NULL for CRL_RC_NONE, 7 and anything out of range. */
const char *crl_reason_name(int code);

/*
 * SHA-256 of the encoding below: equal sets of entries (same order) give equal digests
 * whatever the structs' padding or the bytes after serial_hex's NUL hold, and whatever the
 * case or leading zeros of the hex. 0, or -1 on a bad entry or no memory.
 */
int	crl_entries_digest(const struct crl_entry *e, size_t n, unsigned char out[32]);
/* Encode n entries (framing above); *buf malloc'd. -1 on a bad entry or n > CRL_ENTRIES_MAX. */
int	crl_entries_encode(const struct crl_entry *e, size_t n, unsigned char **buf,
	    size_t *len);
/*
 * Decode the framing; *out (malloc'd, caller frees; NULL when *n == 0) gets the entries with
 * serial_hex in uppercase without leading zeros. Rejects truncation, trailing bytes, a zero-length
 * or non-minimal serial, a reason out of range, a negative time and more than CRL_ENTRIES_MAX
 * entries, before allocating for them.
 */
int	crl_entries_decode(const unsigned char *buf, size_t len, struct crl_entry **out,
	    size_t *n, char *err, size_t errlen);

#endif
