/*
 * ocsp: the domain CA's OCSP responder pieces (RFC 6960), split like the CA itself.
 *
 * Network side (unprivileged, no key): ocsp_request_parse() reads an OCSPRequest (POST body,
 * or the DER that ocsp_get_path_decode() recovers from a GET URL, RFC 6960 Appendix A.1) with
 * its own bounded DER reader into a struct ocsp_query; ocsp_query_matches_ca() says whether a
 * CertID names our CA; the caller looks each serial up and fills one struct ocsp_status per
 * CertID. Requests that fail to parse get ocsp_error_response(OCSP_RSP_MALFORMED).
 *
 * Signer side (holds the CA key): ocsp_response_build() signs a BasicOCSPResponse.
 *
 * Between them, a compact framing (integers big-endian; serial = magnitude octets, no leading
 * zero octet, 1..OCSP_SERIAL_BYTES_MAX):
 *
 *   query  = u8 nids (1..8) | nids * certid | u8 nonce_len (0..128) | nonce
 *   certid = u8 hash (OCSP_HASH_*) | u8 params_null (0/1) | u8 hash_len | name_hash |
 *            key_hash | u8 serial_len | serial
 *   status = u8 n (1..8) | n * ( u8 status | i64 revoked_at | i8 reason )
 *
 * The decoders check every length before copying, reject trailing bytes and any value the
 * builder would refuse; revoked_at and reason are 0 and -1 unless status is revoked.
 *
 * Buffers returned through unsigned char ** are malloc'd; the caller frees them with free().
 * Failing functions return -1 and write one line into err (errlen bytes, may be NULL/0).
 */
#ifndef LATCHKEY_OCSP_H
#define LATCHKEY_OCSP_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#define OCSP_IDS_MAX		8	/* CertIDs answered per request */
#define OCSP_NONCE_MAX		128	/* RFC 9654 (obsoletes RFC 8954) §2.1: 1..128 octets */
#define OCSP_HASH_LEN_MAX	64
#define OCSP_SERIAL_BYTES_MAX	31	/* magnitude; 62 hex digits */
#define OCSP_REQUEST_MAX	16384	/* largest OCSPRequest DER we parse */
/* base64 of OCSP_REQUEST_MAX bytes with every character %-escaped */
#define OCSP_GET_PATH_MAX	(3 * 4 * ((OCSP_REQUEST_MAX + 2) / 3))

/* CertID hashAlgorithm */
#define OCSP_HASH_SHA1		1
#define OCSP_HASH_SHA256	2
#define OCSP_HASH_SHA384	3
#define OCSP_HASH_SHA512	4

/* CertStatus (RFC 6960 §4.2.1) */
#define OCSP_CERT_GOOD		0
#define OCSP_CERT_REVOKED	1
#define OCSP_CERT_UNKNOWN	2

/* OCSPResponseStatus for ocsp_error_response() (RFC 6960 §4.2.1); 4 is not used. */
#define OCSP_RSP_MALFORMED	1	/* malformedRequest */
#define OCSP_RSP_INTERNAL	2	/* internalError */
#define OCSP_RSP_TRY_LATER	3	/* tryLater */
#define OCSP_RSP_SIG_REQUIRED	5	/* sigRequired */
#define OCSP_RSP_UNAUTHORIZED	6	/* unauthorized */

struct ocsp_certid {
	int		hash;			/* OCSP_HASH_* */
	int		params_null;		/* hashAlgorithm parameters: 1 NULL, 0 absent */
	size_t		hash_len;		/* of both hashes: the digest's length */
	unsigned char	name_hash[OCSP_HASH_LEN_MAX];	/* issuerNameHash */
	unsigned char	key_hash[OCSP_HASH_LEN_MAX];	/* issuerKeyHash */
	char		serial_hex[64];		/* uppercase, no leading zeros */
};

struct ocsp_query {
	size_t			nids;			/* 1..OCSP_IDS_MAX */
	struct ocsp_certid	ids[OCSP_IDS_MAX];	/* in request order */
	size_t			nonce_len;		/* 0 = no nonce extension */
	unsigned char		nonce[OCSP_NONCE_MAX];	/* the Nonce OCTET STRING's value */
};

struct ocsp_status {
	int	status;		/* OCSP_CERT_* */
	int64_t	revoked_at;	/* revoked: seconds since the epoch */
	int	reason;		/* revoked: CRL_RC_* code (certs/crl.h) or -1 for none */
};

/*
 * Parse a DER OCSPRequest (RFC 6960 §4.1.1) of at most OCSP_REQUEST_MAX bytes: strict DER
 * (definite, minimal lengths), version v1, 1..OCSP_IDS_MAX Requests whose CertIDs use SHA-1,
 * SHA-256, SHA-384 or SHA-512 with hashes of that length and a non-negative serial; the
 * requestExtensions' nonce (RFC 9654: an OCTET STRING of 1..128 octets) is kept, other
 * non-critical extensions, requestorName, singleRequestExtensions and optionalSignature are
 * skipped (the signature is not checked). A critical extension we do not know, a second
 * nonce, or anything else rejects the request (answer malformedRequest). 0 ok, -1 and err.
 */
int	ocsp_request_parse(const unsigned char *der, size_t len, struct ocsp_query *q,
	    char *err, size_t errlen);

/*
 * Whether q->ids[idx] names ca as its issuer: issuerNameHash = hash of the DER of ca's subject
 * and issuerKeyHash = hash of its subjectPublicKey BIT STRING value, with the CertID's own hash
 * algorithm (RFC 6960 §4.1.1). 1 yes, 0 no, -1 bad arguments or digest failure.
 */
int	ocsp_query_matches_ca(const struct ocsp_query *q, size_t idx, X509 *ca);

/*
 * RFC 6960 Appendix A.1 GET: the path component after the responder's prefix, i.e.
 * url-encoding(base64(DER)). Undoes %XX escapes ('+' stays '+'), then base64 (RFC 4648 §4,
 * padding optional, no whitespace). *der (malloc'd) is at most OCSP_REQUEST_MAX bytes.
 */
int	ocsp_get_path_decode(const char *path_component, unsigned char **der, size_t *len,
	    char *err, size_t errlen);

/*
 * Sign the answer to q with the CA (RFC 6960 §4.2.1): an OCSPResponse "successful" carrying
 * a BasicOCSPResponse with responderID byKey (SHA-1 of the CA's public key), producedAt now,
 * one SingleResponse per CertID of q in order with certStatus st[i] (revoked: revocationTime
 * and, unless reason is -1, revocationReason), thisUpdate = this_update, nextUpdate =
 * this_update + next_update_hours (omitted when 0; at most 87600), the nonce echoed when q has
 * one, and the CA certificate in certs. Signature as for the CRL (certs/crl.h).
 */
int	ocsp_response_build(X509 *ca_cert, EVP_PKEY *ca_key, const struct ocsp_query *q,
	    const struct ocsp_status *st, int64_t this_update, unsigned next_update_hours,
	    unsigned char **der, size_t *len, char *err, size_t errlen);

/* An unsigned OCSPResponse with status OCSP_RSP_* and no responseBytes. 0 ok, -1 bad status. */
int	ocsp_error_response(int status, unsigned char **der, size_t *len);

/* The framings above. Encoders return -1 on a value the decoder would refuse. */
int	ocsp_query_encode(const struct ocsp_query *q, unsigned char **buf, size_t *len);
int	ocsp_query_decode(const unsigned char *buf, size_t len, struct ocsp_query *q, char *err,
	    size_t errlen);
int	ocsp_status_encode(const struct ocsp_status *st, size_t n, unsigned char **buf,
	    size_t *len);
int	ocsp_status_decode(const unsigned char *buf, size_t len,
	    struct ocsp_status st[OCSP_IDS_MAX], size_t *n, char *err, size_t errlen);

#endif
