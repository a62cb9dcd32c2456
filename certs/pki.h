/*
 * pki: small X.509 and key helpers shared by the certs/ modules and the programs.
 * certs/ is latchkey's OpenSSL wrapper, so its headers name OpenSSL types; nothing outside
 * certs/ and the TLS code of enroll/ should need them.
 *
 * Every function that can fail returns NULL or -1 and writes one line into err (errlen bytes,
 * may be NULL/0), including OpenSSL's reason when it has one. Nothing here logs or exits.
 */
#ifndef LATCHKEY_PKI_H
#define LATCHKEY_PKI_H

#include <stddef.h>
#include <openssl/types.h>
#include <openssl/x509.h>

#define PKI_FP_LEN	(7 + 64 + 1)	/* "sha256:" + 64 hex + NUL */
#define PKI_SERIAL_MAX	64		/* device serial (subject serialNumber), bytes */

/* OIDs used across latchkey. */
#define PKI_OID_HWMODULENAME	"1.3.6.1.5.5.7.8.4"	/* id-on-hardwareModuleName, RFC 4108 */
#define PKI_OID_MASA_URL	"1.3.6.1.5.5.7.1.32"	/* id-pe-masa-url, RFC 8995 §2.3.2 */
#define PKI_OID_LAB_HWTYPE	"1.3.6.1.4.1.32473.1.1"	/* lab hwType under RFC 5612's doc PEN */
#define PKI_OID_CMC_RA		"1.3.6.1.5.5.7.3.28"	/* id-kp-cmcRA (NID_cmcRA), RFC 6402 §2.10 */

/* Key types: "p256" (default when NULL), "p384", "ed25519", "rsa2048", "rsa3072", "rsa4096". */
EVP_PKEY *pki_key_new(const char *type, char *err, size_t errlen);

/*
 * Write a private key as PKCS#8 PEM, mode 0600, atomically (temp file + fsync + rename).
 * Refuses (-1, "exists") when path exists and overwrite is 0.
 */
int	pki_key_write(const char *path, EVP_PKEY *key, int overwrite, char *err, size_t errlen);
/* Write n certificates as PEM (mode 0644), atomically; same overwrite rule. */
int	pki_certs_write(const char *path, X509 *const *certs, size_t n, int overwrite,
	    char *err, size_t errlen);
/* Write any buffer atomically with the given mode; same overwrite rule. */
int	pki_file_write(const char *path, const void *buf, size_t len, int mode, int overwrite,
	    char *err, size_t errlen);
/* A whole regular file of at most max octets (malloc'd, NUL-terminated, *len without the
 * NUL), or NULL with err ("<path>: cannot open: ...", "... not a regular file", "...
 * larger than N octets", a read error). */
unsigned char *pki_file_read(const char *path, size_t max, size_t *len, char *err,
	    size_t errlen);

EVP_PKEY *pki_key_read(const char *path, char *err, size_t errlen);
X509	*pki_cert_read(const char *path, char *err, size_t errlen);	/* first cert in file */
/* All certificates in a PEM file, in file order; NULL (and err) when none or unreadable. */
STACK_OF(X509) *pki_certs_read(const char *path, char *err, size_t errlen);

/* "sha256:<64 lowercase hex>" of the certificate's DER. */
int	pki_cert_fingerprint(X509 *cert, char out[PKI_FP_LEN]);
/*
 * A CA's key identifier in lower-case hex: its subjectKeyIdentifier, else the SHA-1 of its
 * public key (RFC 5280 §4.2.1.2 (1)); what the authorityKeyIdentifier of what it issued
 * holds. 0, or -1 when there is none or it does not fit outlen.
 */
int	pki_cert_kid(X509 *cert, char *out, size_t outlen);
/* Parse "sha256:HEX" (case-insensitive hex, ':' separators allowed) into 32 bytes. */
int	pki_fingerprint_parse(const char *s, unsigned char out[32]);
/* 32 bytes as "sha256:<64 lowercase hex>", the form pki_cert_fingerprint() writes. */
void	pki_fingerprint_format(const unsigned char raw[32], char out[PKI_FP_LEN]);
/* n bytes as lowercase hex into out (2n + 1 bytes, NUL-terminated). */
void	pki_hex_encode(const unsigned char *p, size_t n, char *out);

/* Set a random positive 128-bit serial number (RFC 5280 §4.1.2.2: ≤ 20 octets). */
int	pki_serial_random(X509 *cert);
/* Certificate serial magnitudes as CRLs, OCSP and the registry write them. */
#define PKI_SERIAL_BYTES_MAX	31	/* magnitude octets; 62 hex digits fit 64 bytes */
int	pki_hexval(int c);			/* 0..15, or -1 when c is not a hex digit */
/* Magnitude octets (n <= PKI_SERIAL_BYTES_MAX) to uppercase hex without leading zeros. */
void	pki_serial_to_hex(const unsigned char *mag, size_t n, char out[64]);
/*
 * Hex (either case, leading zeros allowed, NUL within 64 chars) to the magnitude without
 * leading zero octets; zero is one 0x00 octet. 0 ok, -1 bad.
 */
int	pki_serial_from_hex(const char hex[64], unsigned char out[PKI_SERIAL_BYTES_MAX],
	    size_t *olen);
/* Serial number as uppercase hex without leading zeros, e.g. "5A0F..." */
int	pki_cert_serial_hex(X509 *cert, char *out, size_t outlen);

/*
 * Does cert's extendedKeyUsage list the key purpose nid (e.g. NID_cmcRA, NID_server_auth)?
 * 1 yes; 0 no, also when the certificate has no extendedKeyUsage at all (which RFC 5280
 * §4.2.1.12 reads as "any purpose": callers asking for a role want it named); -1 when the
 * extension is there but cannot be decoded, or is there twice. anyExtendedKeyUsage does
 * not count as nid.
 */
int	pki_cert_has_eku(const X509 *cert, int nid);

/* The subject's serialNumber attribute (2.5.4.5) of a cert or CSR subject name. */
int	pki_name_serial(const X509_NAME *name, char *out, size_t outlen);

/*
 * The hardwareModuleName otherName from a certificate's SAN (RFC 4108 §5): on success *der
 * (caller frees with OPENSSL_free) is the DER of the HardwareModuleName SEQUENCE.
 * Returns 0 found, 1 absent, -1 error.
 */
int	pki_cert_hwmodule(X509 *cert, unsigned char **der, size_t *len);
/* Add a SAN with one otherName hardwareModuleName {hwtype_oid, hwserial} to cert. */
int	pki_add_hwmodule_san(X509 *cert, const char *hwtype_oid, const char *hwserial,
	    char *err, size_t errlen);

/* Last OpenSSL error reason appended after prefix into err; returns -1. */
/*
 * The digest a CA signs with (certificates, CRLs, OCSP answers, update signers): none for
 * EdDSA, SHA-384 for EC keys above 256 bits, else SHA-256.
 */
const EVP_MD *pki_sig_md(EVP_PKEY *key);
int	pki_err(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Our own error, without OpenSSL's reason (which may be stale); clears the queue; -1. */
int	pki_errx(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
