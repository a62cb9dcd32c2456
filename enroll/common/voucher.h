/*
 * voucher: RFC 8366 vouchers and RFC 8995 voucher-requests. JSON (jansson) inside CMS
 * SignedData (OpenSSL CMS API) with eContentType id-ct-animaJSONVoucher
 * (1.2.840.113549.1.9.16.1.40, RFC 8366 §8.3), media type application/voucher-cms+json.
 *
 * JSON shapes:
 *   voucher          {"ietf-voucher:voucher": {created-on, expires-on, assertion,
 *                     serial-number, idevid-issuer, pinned-domain-cert,
 *                     domain-cert-revocation-checks, nonce, last-renewal-date}}
 *   voucher-request  {"ietf-voucher-request:voucher": {created-on, expires-on, assertion,
 *                     serial-number, idevid-issuer, nonce, proximity-registrar-cert,
 *                     prior-signed-voucher-request}}   (RFC 8995 §3)
 * Times are RFC 3339 date-and-time; binary leaves are base64 (RFC 4648 §4). The nonce is
 * kept as its JSON text (base64 of random bytes) and compared as such.
 *
 * Library rules: nothing logs or exits; -1/NULL (or a status) and one line in err.
 */
#ifndef LATCHKEY_VOUCHER_H
#define LATCHKEY_VOUCHER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/types.h>
#include <openssl/x509.h>

#define VOUCHER_CT		"application/voucher-cms+json"
#define VOUCHER_OID		"1.2.840.113549.1.9.16.1.40"	/* id-ct-animaJSONVoucher */
#define VOUCHER_DER_MAX		(64 * 1024)	/* largest CMS or JSON we parse */
#define VOUCHER_NONCE_MAX	128		/* nonce text, bytes */
#define VOUCHER_SERIAL_MAX	64
#define VOUCHER_NONCE_BYTES	16		/* random bytes in a nonce we make */

enum voucher_kind {
	VOUCHER_KIND_VOUCHER = 0,	/* ietf-voucher:voucher */
	VOUCHER_KIND_REQUEST		/* ietf-voucher-request:voucher */
};

/* RFC 8366 §5.3 assertion enumeration. */
enum voucher_assertion {
	VOUCHER_ASSERT_NONE = 0,	/* absent */
	VOUCHER_ASSERT_VERIFIED,
	VOUCHER_ASSERT_LOGGED,
	VOUCHER_ASSERT_PROXIMITY
};

/* One voucher or voucher-request. Absent times are 0, absent buffers NULL. */
struct voucher {
	enum voucher_kind	kind;
	int64_t			created_on;
	int64_t			expires_on;
	int64_t			last_renewal_date;
	enum voucher_assertion	assertion;
	char			serial[VOUCHER_SERIAL_MAX];
	char			nonce[VOUCHER_NONCE_MAX + 1];	/* "" = absent */
	int			revocation_checks;		/* -1 absent, 0, 1 */
	unsigned char		*idevid_issuer;		/* owned; voucher_clear() */
	size_t			idevid_issuer_len;
	unsigned char		*pinned_domain_cert;	/* DER, voucher only */
	size_t			pinned_len;
	unsigned char		*proximity_cert;	/* DER, request only */
	size_t			proximity_len;
	unsigned char		*prior_signed;		/* CMS DER, registrar request only */
	size_t			prior_len;
};

/* Outcome of voucher checks; every non-OK value comes with a line in err. */
enum voucher_status {
	VOUCHER_OK = 0,
	VOUCHER_MALFORMED,	/* bad CMS, bad JSON, missing or ill-typed leaf */
	VOUCHER_BAD_SIGNATURE,	/* signature invalid, signer not under the anchors, or
				 * (vouchers) signer not a MASA signing certificate */
	VOUCHER_WRONG_SERIAL,
	VOUCHER_WRONG_NONCE,
	VOUCHER_NO_NONCE,	/* a nonce was sent, the voucher has none */
	VOUCHER_EXPIRED,
	VOUCHER_PERPETUAL,	/* nonceless without expires-on: refused */
	VOUCHER_BAD_ASSERTION,
	VOUCHER_INTERNAL
};

const char *voucher_status_name(enum voucher_status st);
const char *voucher_assertion_name(enum voucher_assertion a);	/* NULL for NONE */

void	voucher_init(struct voucher *v, enum voucher_kind kind);
void	voucher_clear(struct voucher *v);	/* frees buffers, keeps kind; NULL safe */
/* Copy len bytes into one of v's buffers (replacing it). Returns 0 or -1. */
int	voucher_set_bytes(unsigned char **dst, size_t *dstlen, const unsigned char *src,
	    size_t len);

/* A fresh nonce: base64 of VOUCHER_NONCE_BYTES random bytes. */
int	voucher_nonce_new(char out[VOUCHER_NONCE_MAX + 1]);

/* RFC 3339 date-and-time <-> Unix seconds. Parsing accepts fractions and offsets. */
int	voucher_time_parse(const char *s, int64_t *out);
int	voucher_time_format(int64_t t, char *out, size_t outlen);	/* "...Z" */

/* JSON text (malloc'd, NUL-terminated) of v, or NULL with err. */
char	*voucher_json_build(const struct voucher *v, char *err, size_t errlen);
/*
 * Parse JSON of the given kind into v (voucher_init'ed by the call; voucher_clear() it
 * afterwards in every case). Unknown leaves are ignored; wrong types are errors.
 * Returns VOUCHER_OK or VOUCHER_MALFORMED.
 */
enum voucher_status voucher_json_parse(const char *json, size_t len, enum voucher_kind kind,
	    struct voucher *v, char *err, size_t errlen);

/*
 * CMS SignedData over json with eContentType id-ct-animaJSONVoucher, signed by key with
 * cert (certs in chain, may be NULL, are included too). *der is malloc'd.
 */
int	voucher_cms_sign(const char *json, size_t len, X509 *cert, EVP_PKEY *key,
	    STACK_OF(X509) *chain, unsigned char **der, size_t *derlen, char *err,
	    size_t errlen);

/*
 * Open a CMS SignedData (DER, at most VOUCHER_DER_MAX): exactly one signer, embedded
 * content of type id-ct-animaJSONVoucher, valid signature. With anchors (not NULL) the
 * signer must also chain to one of them (intermediates from the CMS), as `openssl cms
 * -verify -partial_chain` checks: every certificate in anchors is a trust anchor, self-signed
 * or not (RFC 5280 §6.1.1 (d)), and OpenSSL's S/MIME signing purpose applies (an EKU, when
 * present, must allow emailProtection); without anchors, only the signature is checked.
 * Who signed is not judged here (a voucher-request is signed by an IDevID or a registrar;
 * for a voucher see voucher_masa_signer_check()). On success *content is the malloc'd JSON
 * (NUL-terminated), *signer the signer's certificate (caller frees with X509_free; may be
 * NULL) and *certs (may be NULL) every certificate in the CMS (caller frees with
 * sk_X509_pop_free). Returns VOUCHER_OK, VOUCHER_MALFORMED,
 * VOUCHER_BAD_SIGNATURE or VOUCHER_INTERNAL.
 */
enum voucher_status voucher_cms_open(const unsigned char *der, size_t len,
	    STACK_OF(X509) *anchors, char **content, size_t *clen, X509 **signer,
	    STACK_OF(X509) **certs, char *err, size_t errlen);

/*
 * The pledge's checks of a voucher (RFC 8995 §5.6.1, RFC 8366 §5.3): assertion present
 * and known, serial-number equals serial, pinned-domain-cert present and parseable; when
 * nonce is not NULL the voucher must carry exactly that nonce; when nonce is NULL (a
 * nonceless request) the voucher must carry expires-on (a perpetual nonceless voucher is
 * refused). expires-on, when present, must be after now; created-on must not be after
 * expires-on.
 */
enum voucher_status voucher_check(const struct voucher *v, const char *serial,
	    const char *nonce, time_t now, char *err, size_t errlen);

/*
 * Who may sign a voucher (RFC 8995 §5.6.1, RFC 8366 §5.4: the MASA). The pledge's trust in
 * a voucher rests on two things:
 *  1. the anchors (masa-anchor.pem) name the MASA's signing identity only: a MASA CA that
 *     issues nothing but MASA signing certificates (latchkeyctl lab-pki writes one), or the
 *     MASA signing certificate itself. Never the manufacturer root that also issues the
 *     IDevIDs: under such a root any device could sign a voucher for any other.
 *  2. the signer must not be a device: voucher_masa_signer_check() refuses a signer whose
 *     subject has a serialNumber attribute or whose SAN has a hardwareModuleName (the marks
 *     of an 802.1AR DevID, which RFC 8995 §2.3.1 requires of every IDevID), and a CA
 *     (basicConstraints cA TRUE, or unreadable). This is what keeps IDevIDs out even where
 *     the anchor is a whole manufacturer root (the registrar's manufacturer-ca, devices
 *     provisioned before the MASA CA existed), whether or not they carry an EKU.
 * Returns VOUCHER_OK or VOUCHER_BAD_SIGNATURE (with err).
 */
enum voucher_status voucher_masa_signer_check(X509 *signer, char *err, size_t errlen);

/*
 * The whole pledge side in one call: open the CMS against anchors, check that the signer is
 * a MASA signing certificate (voucher_masa_signer_check()), parse the voucher and
 * voucher_check() it. On VOUCHER_OK *pinned (caller frees) is the pinned-domain-cert and
 * v (may be NULL) receives the parsed voucher (voucher_clear() it). The registrar uses it
 * too, on the voucher it relays (anchors: masa-ca, else manufacturer-ca).
 */
enum voucher_status voucher_pledge_verify(const unsigned char *der, size_t len,
	    STACK_OF(X509) *anchors, const char *serial, const char *nonce, time_t now,
	    X509 **pinned, struct voucher *v, char *err, size_t errlen);

/*
 * RFC 8995 §5.6.2: the registrar's TLS certificate (leaf, with the intermediates the
 * server sent in chain, may be NULL) must be the pinned-domain-cert itself or chain to it
 * (the pinned certificate is a trust anchor even when it is not self-signed). 0 or -1.
 */
int	voucher_registrar_check(X509 *pinned, X509 *leaf, STACK_OF(X509) *chain, char *err,
	    size_t errlen);

/* The keyIdentifier of cert's authorityKeyIdentifier (idevid-issuer, RFC 8366 §5.3). */
int	voucher_cert_aki(X509 *cert, unsigned char **out, size_t *outlen);
/* The keyIdentifier of cert's subjectKeyIdentifier (domainID, RFC 8995 §5.8.2). */
int	voucher_cert_ski(X509 *cert, unsigned char **out, size_t *outlen);
/* DER of cert (malloc'd). */
int	voucher_cert_der(X509 *cert, unsigned char **out, size_t *outlen);
X509	*voucher_cert_from_der(const unsigned char *der, size_t len);

/*
 * The MASA URI of an IDevID (id-pe-masa-url, RFC 8995 §2.3.2: IA5String), with
 * "https://" prepended when it has no scheme and no trailing '/'. 0 found, 1 absent,
 * -1 malformed or too long for out.
 */
int	voucher_cert_masa_url(X509 *cert, char *out, size_t outlen);

/* Certificates of a PEM file as a stack (caller frees), or NULL with err. */
STACK_OF(X509) *voucher_anchors_load(const char *path, char *err, size_t errlen);

#endif
