/* codesign: update-signing certificates and signed manifests (codesign.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/codesign.h"
#include "certs/p7.h"
#include "certs/pki.h"

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

static int
url_ok(const char *u)
{
	return u != NULL && strlen(u) < CODESIGN_URL_MAX && (strncmp(u, "http://", 7) == 0 ||
	    strncmp(u, "https://", 8) == 0) && strpbrk(u, " ,\t\r\n") == NULL;
}

X509 *
codesign_issue(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *pub, const char *name,
    unsigned days, const char *crl_url, const char *ocsp_url, char *err, size_t errlen)
{
	X509 *x = NULL;
	X509_NAME *n = NULL;
	char buf[CODESIGN_URL_MAX + 32];

	if (name == NULL || name[0] == '\0' || strlen(name) > 64) {
		pki_errx(err, errlen, "update signer: a name of 1..64 characters is required");
		return NULL;
	}
	if (!url_ok(crl_url)) {
		pki_errx(err, errlen, "update signer: a CRL URL (http:// or https://) is required:"
		    " devices refuse a signer whose revocation they cannot check");
		return NULL;
	}
	if (ocsp_url != NULL && ocsp_url[0] != '\0' && !url_ok(ocsp_url)) {
		pki_errx(err, errlen, "update signer: bad OCSP URL");
		return NULL;
	}
	if (days < 1 || days > 3650) {
		pki_errx(err, errlen, "update signer: lifetime must be 1..3650 days");
		return NULL;
	}
	if (X509_check_private_key(ca_cert, ca_key) != 1) {
		pki_errx(err, errlen, "update signer: the CA key does not match the CA "
		    "certificate");
		return NULL;
	}
	if ((x = X509_new()) == NULL || X509_set_version(x, 2) != 1 || pki_serial_random(x) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -300) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400) == NULL ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) != 1 ||
	    X509_set_pubkey(x, pub) != 1 || (n = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1,
	    -1, 0) != 1 || X509_set_subject_name(x, n) != 1) {
		pki_err(err, errlen, "update signer: build certificate");
		goto err;
	}
	snprintf(buf, sizeof(buf), "URI:%s", crl_url);
	if (add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(x, ca_cert, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(x, ca_cert, NID_ext_key_usage, "codeSigning") ||
	    add_ext(x, ca_cert, NID_subject_key_identifier, "hash") ||
	    add_ext(x, ca_cert, NID_authority_key_identifier, "keyid:always") ||
	    add_ext(x, ca_cert, NID_crl_distribution_points, buf)) {
		pki_err(err, errlen, "update signer: extensions");
		goto err;
	}
	if (ocsp_url != NULL && ocsp_url[0] != '\0') {
		snprintf(buf, sizeof(buf), "OCSP;URI:%s", ocsp_url);
		if (add_ext(x, ca_cert, NID_info_access, buf)) {
			pki_err(err, errlen, "update signer: OCSP URL");
			goto err;
		}
	}
	if (X509_sign(x, ca_key, pki_sig_md(ca_key)) <= 0) {
		pki_err(err, errlen, "update signer: sign");
		goto err;
	}
	X509_NAME_free(n);
	return x;
err:
	X509_NAME_free(n);
	X509_free(x);
	return NULL;
}

int
codesign_sign(X509 *cert, EVP_PKEY *key, const unsigned char *data, size_t len,
    unsigned char **der, size_t *derlen, char *err, size_t errlen)
{
	char why[256];

	*der = NULL;
	if (X509_check_private_key(cert, key) != 1)
		return pki_errx(err, errlen, "sign: the key does not match the certificate");
	if (pki_cert_has_eku(cert, NID_code_sign) != 1)
		return pki_errx(err, errlen, "sign: the certificate is not an update-signing "
		    "certificate (no extendedKeyUsage codeSigning)");
	if (p7_sign_data(data, len, cert, key, NULL, der, derlen, why, sizeof(why)) == -1)
		return pki_errx(err, errlen, "sign: %s", why);
	return 0;
}

int
codesign_open(const unsigned char *der, size_t len, size_t maxcontent, char **content,
    size_t *clen, X509 **signer, STACK_OF(X509) **certs, char *err, size_t errlen)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *signers = NULL;
	BIO *out = NULL;
	BUF_MEM *bm;
	int ret = -1;

	*content = NULL;
	*signer = NULL;
	*certs = NULL;
	if (len > CODESIGN_CMS_MAX)
		return pki_errx(err, errlen, "unsigned or malformed manifest: %zu octets, more "
		    "than %d", len, CODESIGN_CMS_MAX);
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL || p != der + len)
		return pki_errx(err, errlen, "unsigned manifest: not a CMS SignedData (RFC 5652)");
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		pki_errx(err, errlen, "unsigned manifest: CMS content is not SignedData");
		goto err;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sis == NULL || sk_CMS_SignerInfo_num(sis) == 0) {
		pki_errx(err, errlen, "unsigned manifest: the SignedData has no signer");
		goto err;
	}
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		pki_errx(err, errlen, "manifest refused: %d signers, exactly one expected",
		    sk_CMS_SignerInfo_num(sis));
		goto err;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL)
		goto err;
	/* the signature only: the signer is judged by codesign_check_signer() */
	if (CMS_verify(cms, NULL, NULL, NULL, out, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY)
	    != 1) {
		pki_err(err, errlen, "manifest refused: bad signature");
		goto err;
	}
	if ((signers = CMS_get0_signers(cms)) == NULL || sk_X509_num(signers) != 1) {
		pki_errx(err, errlen, "manifest refused: the signer's certificate is not in it");
		goto err;
	}
	BIO_get_mem_ptr(out, &bm);
	if (bm->length == 0 || bm->length > maxcontent) {
		pki_errx(err, errlen, "manifest refused: content of %zu octets (1..%zu)",
		    bm->length, maxcontent);
		goto err;
	}
	if ((*content = malloc(bm->length + 1)) == NULL) {
		pki_errx(err, errlen, "out of memory");
		goto err;
	}
	memcpy(*content, bm->data, bm->length);
	(*content)[bm->length] = '\0';
	*clen = bm->length;
	*signer = sk_X509_value(signers, 0);
	X509_up_ref(*signer);
	*certs = CMS_get1_certs(cms);
	ret = 0;
err:
	sk_X509_free(signers);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return ret;
}

int
codesign_crl_url(X509 *cert, char *out, size_t outlen, char *err, size_t errlen)
{
	STACK_OF(DIST_POINT) *cdp;
	DIST_POINT *dp;
	GENERAL_NAME *gn;
	const char *u;
	int i, j, ret = -1;

	cdp = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	for (i = 0; ret == -1 && cdp != NULL && i < sk_DIST_POINT_num(cdp); i++) {
		dp = sk_DIST_POINT_value(cdp, i);
		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;
		for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); j++) {
			gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
			if (gn->type != GEN_URI)
				continue;
			u = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
			if ((size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier) !=
			    strlen(u) || !url_ok(u) || strlen(u) >= outlen)
				continue;
			snprintf(out, outlen, "%s", u);
			ret = 0;
			break;
		}
	}
	CRL_DIST_POINTS_free(cdp);
	if (ret == -1)
		pki_errx(err, errlen, "manifest refused: the signer certificate names no CRL "
		    "distribution point, so its revocation cannot be checked");
	return ret;
}

/*
 * A CRL whose thisUpdate is a little ahead of our clock (issued on request, or by a server
 * whose clock runs ahead) is still the CA's signed word: accepted when thisUpdate is within
 * CODESIGN_CRL_SKEW of now (checked before verification), everything else as OpenSSL says.
 */
static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CRL_NOT_YET_VALID)
		return 1;
	return ok;
}

/* A store of the anchors (the domain CAs this device trusts); NULL when out of memory. */
static X509_STORE *
anchor_store(STACK_OF(X509) *anchors)
{
	X509_STORE *store = X509_STORE_new();
	int i;

	for (i = 0; store != NULL && i < sk_X509_num(anchors); i++)
		if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1) {
			X509_STORE_free(store);
			store = NULL;
		}
	return store;
}

/* The chain to store's anchors at now, with the CRL when crls is not NULL, and the EKU. */
static int
chain_check(X509 *signer, STACK_OF(X509) *certs, X509_STORE *store,
    STACK_OF(X509_CRL) *crls, time_t now, char *err, size_t errlen)
{
	X509_STORE_CTX *ctx = NULL;
	int e, ret = -1;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, store, signer, certs) != 1) {
		pki_err(err, errlen, "check signer");
		goto err;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (crls != NULL) {
		X509_STORE_CTX_set0_crls(ctx, crls);
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK);
		X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	}
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		e = X509_STORE_CTX_get_error(ctx);
		if (e == X509_V_ERR_CERT_REVOKED)
			pki_errx(err, errlen, "manifest refused: the signer certificate is "
			    "revoked (domain CRL)");
		else if (e == X509_V_ERR_UNABLE_TO_GET_CRL || e == X509_V_ERR_CRL_HAS_EXPIRED ||
		    e == X509_V_ERR_CRL_NOT_YET_VALID || e == X509_V_ERR_CRL_SIGNATURE_FAILURE ||
		    e == X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER)
			pki_errx(err, errlen, "manifest refused: no current CRL of the domain CA "
			    "(%s)", X509_verify_cert_error_string(e));
		else
			pki_errx(err, errlen, "manifest refused: the signer does not chain to "
			    "this device's domain CA (%s)", X509_verify_cert_error_string(e));
		goto err;
	}
	if (pki_cert_has_eku(signer, NID_code_sign) != 1) {
		pki_errx(err, errlen, "manifest refused: the signer certificate is not an "
		    "update-signing certificate (no extendedKeyUsage codeSigning)");
		goto err;
	}
	ret = 0;
err:
	X509_STORE_CTX_free(ctx);
	return ret;
}

int
codesign_check_signer(X509 *signer, STACK_OF(X509) *certs, STACK_OF(X509) *anchors,
    const unsigned char *crl_der, size_t crl_len, time_t now, char *err, size_t errlen)
{
	const unsigned char *p = crl_der;
	X509_CRL *crl = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	X509_STORE *store;
	time_t later = now + CODESIGN_CRL_SKEW;
	int ret;

	if (crl_der == NULL || crl_len == 0 || crl_len > CODESIGN_CRL_MAX ||
	    (crl = d2i_X509_CRL(NULL, &p, (long)crl_len)) == NULL || p != crl_der + crl_len) {
		X509_CRL_free(crl);
		return pki_errx(err, errlen, "manifest refused: no readable CRL to check the "
		    "signer's revocation");
	}
	if (X509_cmp_time(X509_CRL_get0_lastUpdate(crl), &later) > 0) {
		X509_CRL_free(crl);
		return pki_errx(err, errlen, "manifest refused: the CRL is issued more than %d s "
		    "in the future", CODESIGN_CRL_SKEW);
	}
	if ((crls = sk_X509_CRL_new_null()) == NULL || !sk_X509_CRL_push(crls, crl)) {
		X509_CRL_free(crl);
		sk_X509_CRL_free(crls);
		return pki_err(err, errlen, "check signer");
	}
	if ((store = anchor_store(anchors)) == NULL)
		ret = pki_err(err, errlen, "check signer");
	else
		ret = chain_check(signer, certs, store, crls, now, err, errlen);
	X509_STORE_free(store);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return ret;
}

int
codesign_ocsp_url(X509 *cert, char *out, size_t outlen)
{
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(cert);
	const char *u;
	int i, ret = -1;

	for (i = 0; urls != NULL && i < sk_OPENSSL_STRING_num(urls); i++) {
		u = sk_OPENSSL_STRING_value(urls, i);
		if (url_ok(u) && strlen(u) < outlen) {
			snprintf(out, outlen, "%s", u);
			ret = 0;
			break;
		}
	}
	X509_email_free(urls);
	return ret;
}

static X509 *
issuer_of(X509 *cert, STACK_OF(X509) *anchors)
{
	int i;

	for (i = 0; i < sk_X509_num(anchors); i++)
		if (X509_check_issued(sk_X509_value(anchors, i), cert) == X509_V_OK)
			return sk_X509_value(anchors, i);
	return NULL;
}

int
codesign_ocsp_request(X509 *cert, STACK_OF(X509) *anchors, unsigned char **der, size_t *len,
    char *err, size_t errlen)
{
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;
	X509 *issuer;
	unsigned char *p = NULL;
	int n, ret = -1;

	*der = NULL;
	if ((issuer = issuer_of(cert, anchors)) == NULL)
		return pki_errx(err, errlen, "manifest refused: the signer does not chain to "
		    "this device's domain CA (no issuer for OCSP)");
	if ((req = OCSP_REQUEST_new()) == NULL ||
	    (id = OCSP_cert_to_id(NULL, cert, issuer)) == NULL ||
	    OCSP_request_add0_id(req, id) == NULL) {
		OCSP_CERTID_free(id);
		pki_err(err, errlen, "OCSP request");
		goto err;
	}
	if ((n = i2d_OCSP_REQUEST(req, &p)) <= 0 || (*der = malloc((size_t)n)) == NULL) {
		pki_err(err, errlen, "OCSP request");
		goto err;
	}
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
	ret = 0;
err:
	OPENSSL_free(p);
	OCSP_REQUEST_free(req);
	return ret;
}

int
codesign_ocsp_check(X509 *signer, STACK_OF(X509) *certs, STACK_OF(X509) *anchors,
    const unsigned char *der, size_t len, time_t now, char *err, size_t errlen)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *rsp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	X509_STORE *store = NULL;
	ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
	X509 *issuer;
	int st, reason, ret = -1;

	if (len == 0 || len > CODESIGN_CRL_MAX ||
	    (rsp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL || p != der + len) {
		pki_errx(err, errlen, "manifest refused: no readable OCSP answer");
		goto err;
	}
	if (OCSP_response_status(rsp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(rsp)) == NULL) {
		pki_errx(err, errlen, "manifest refused: the OCSP responder did not answer "
		    "(status %d)", OCSP_response_status(rsp));
		goto err;
	}
	if ((issuer = issuer_of(signer, anchors)) == NULL) {
		pki_errx(err, errlen, "manifest refused: the signer does not chain to this "
		    "device's domain CA");
		goto err;
	}
	if ((store = anchor_store(anchors)) == NULL)
		goto oom;
	/* the responder: the issuer itself, or a certificate it issued for OCSP signing */
	if (OCSP_basic_verify(bs, NULL, store, 0) != 1) {
		pki_err(err, errlen, "manifest refused: the OCSP answer is not the domain "
		    "CA's");
		goto err;
	}
	if ((id = OCSP_cert_to_id(NULL, signer, issuer)) == NULL)
		goto oom;
	if (OCSP_resp_find_status(bs, id, &st, &reason, &rev, &thisupd, &nextupd) != 1) {
		pki_errx(err, errlen, "manifest refused: the OCSP answer does not name the "
		    "signer");
		goto err;
	}
	if (OCSP_check_validity(thisupd, nextupd, CODESIGN_CRL_SKEW, -1) != 1) {
		pki_errx(err, errlen, "manifest refused: the OCSP answer is not current");
		goto err;
	}
	if (st == V_OCSP_CERTSTATUS_REVOKED) {
		pki_errx(err, errlen, "manifest refused: the signer certificate is revoked "
		    "(OCSP)");
		goto err;
	}
	if (st != V_OCSP_CERTSTATUS_GOOD) {
		pki_errx(err, errlen, "manifest refused: the OCSP responder does not know the "
		    "signer");
		goto err;
	}
	ret = chain_check(signer, certs, store, NULL, now, err, errlen);
	goto err;
oom:
	pki_err(err, errlen, "OCSP check");
err:
	OCSP_CERTID_free(id);
	X509_STORE_free(store);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(rsp);
	return ret;
}
