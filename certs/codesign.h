/*
 * codesign: update-signing certificates and the CMS SignedData (RFC 5652) around an update
 * manifest (enroll/common/manifest.h). Three roles:
 *
 *  - the domain CA's administrator issues an update-signing certificate
 *    (codesign_issue(): CA:FALSE, KU digitalSignature, EKU id-kp-codeSigning only, the
 *    domain's CRL distribution point and OCSP URL), recorded in the registry so that a
 *    revocation puts it on the domain CRL like any LDevID;
 *  - the publisher signs a manifest (codesign_sign(): content embedded, the signer
 *    certificate included, DER);
 *  - the device opens it (codesign_open(): exactly one signer, valid signature) and judges
 *    the signer (codesign_check_signer(): chains to the domain CA, EKU codeSigning, not
 *    revoked on a current CRL that the domain CA signed, valid at now).
 *
 * Functions return 0, or -1 with one line in err naming what was refused.
 */
#ifndef LATCHKEY_CODESIGN_H
#define LATCHKEY_CODESIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <openssl/types.h>
#include <openssl/x509.h>

#define CODESIGN_CMS_MAX	(64 * 1024)	/* a signed manifest, DER */
#define CODESIGN_CRL_MAX	(16u << 20)	/* a CRL we fetch */
#define CODESIGN_URL_MAX	512
#define CODESIGN_CRL_SKEW	300	/* s a CRL's thisUpdate may be ahead of now */

/*
 * An update-signing certificate for pub, subject CN=name, valid days from now - 5 min,
 * signed by ca_key (ECDSA SHA-256/384 by the CA's curve, Ed25519 pure). crl_url is required
 * (a device refuses a signer whose revocation it cannot check); ocsp_url may be NULL.
 */
X509	*codesign_issue(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *pub, const char *name,
	    unsigned days, const char *crl_url, const char *ocsp_url, char *err,
	    size_t errlen);
/* CMS SignedData (DER, *der malloc'd) over data, content embedded, cert included. */
int	codesign_sign(X509 *cert, EVP_PKEY *key, const unsigned char *data, size_t len,
	    unsigned char **der, size_t *derlen, char *err, size_t errlen);
/*
 * Open a signed manifest: DER of at most CODESIGN_CMS_MAX, a SignedData with embedded
 * content and exactly one signer whose certificate is in it; the signature must verify.
 * *content (malloc'd, NUL-terminated, at most maxcontent octets), *signer (X509_free) and
 * *certs (every certificate carried, sk_X509_pop_free) on success.
 */
int	codesign_open(const unsigned char *der, size_t len, size_t maxcontent, char **content,
	    size_t *clen, X509 **signer, STACK_OF(X509) **certs, char *err, size_t errlen);
/* The signer certificate's first http(s) CRL distribution point URL. */
int	codesign_crl_url(X509 *cert, char *out, size_t outlen, char *err, size_t errlen);
/*
 * Judge the signer at time now: chains to one of anchors (the device's domain-ca.pem, the
 * only trust anchors; intermediates from certs), extendedKeyUsage names id-kp-codeSigning, and the CRL
 * (DER, crl_len octets) is the domain CA's, current at now (its thisUpdate may be up to
 * CODESIGN_CRL_SKEW ahead: clocks differ, and a CRL may be issued on request), and does not list any
 * the signer (RFC 5280 §6.3). "revoked" appears in err when it is revoked.
 */
int	codesign_check_signer(X509 *signer, STACK_OF(X509) *certs, STACK_OF(X509) *anchors,
	    const unsigned char *crl_der, size_t crl_len, time_t now, char *err,
	    size_t errlen);

/*
 * OCSP (RFC 6960), for when the CRL cannot be fetched. codesign_ocsp_url(): the signer's
 * authorityInfoAccess OCSP URL (0, or -1 when none). codesign_ocsp_request(): a DER
 * OCSPRequest (SHA-1 CertID, no nonce) for cert, whose issuer must be one of anchors.
 * codesign_ocsp_check(): the response (DER) must be successful, signed by that issuer (or a
 * responder it authorized), hold cert's status "good", with thisUpdate at most
 * CODESIGN_CRL_SKEW ahead of the clock and nextUpdate not passed; then the chain and EKU
 * are judged as by codesign_check_signer() without a CRL. "revoked" appears in err when the
 * responder says so.
 */
int	codesign_ocsp_url(X509 *cert, char *out, size_t outlen);
int	codesign_ocsp_request(X509 *cert, STACK_OF(X509) *anchors, unsigned char **der,
	    size_t *len, char *err, size_t errlen);
int	codesign_ocsp_check(X509 *signer, STACK_OF(X509) *certs, STACK_OF(X509) *anchors,
	    const unsigned char *der, size_t len, time_t now, char *err, size_t errlen);

#endif
