/*
 * csr: checks on PKCS#10 requests (RFC 2986) received over EST (RFC 7030 §4.2.1).
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "certs/ca.h"
#include "certs/csr.h"
#include "certs/pki.h"

#define CSR_DER_MAX	(64 * 1024)	/* far above any CSR with an allowed key */

static enum csr_status
csr_fail(enum csr_status st, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum csr_status
csr_fail(enum csr_status st, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return st;
}

/*
 * The library context requests are parsed in: only the null provider, so d2i leaves the
 * public key undecoded (OpenSSL 3.0 would run every provider decoder for it, ~90 us) and
 * ca_key_decode() builds it. Nothing is fetched from it: the signature is verified in the
 * default context. Made once, kept for the process lifetime.
 */
static OSSL_LIB_CTX *parse_ctx;
static pthread_once_t parse_once = PTHREAD_ONCE_INIT;

static void
parse_init(void)
{
	if ((parse_ctx = OSSL_LIB_CTX_new()) != NULL &&
	    OSSL_PROVIDER_load(parse_ctx, "null") == NULL) {
		OSSL_LIB_CTX_free(parse_ctx);
		parse_ctx = NULL;
	}
}

/* NULL (the default context, decoders and all) if the null provider cannot be had. */
static OSSL_LIB_CTX *
parse_libctx(void)
{
	pthread_once(&parse_once, parse_init);
	return parse_ctx;
}

/*
 * challengePassword (RFC 2985 §5.4.1): SINGLE VALUE, a DirectoryString (or, as many clients
 * send, an IA5String); converted to UTF-8 into out. Absent: *has = 0 and CSR_OK.
 */
static enum csr_status
get_challenge(X509_REQ *req, char *out, size_t outlen, int *has, char *err, size_t errlen)
{
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *t;
	unsigned char *utf8 = NULL;
	int idx, n;

	*has = 0;
	out[0] = '\0';
	if ((idx = X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, -1)) < 0)
		return CSR_OK;
	if (X509_REQ_get_attr_by_NID(req, NID_pkcs9_challengePassword, idx) >= 0)
		return csr_fail(CSR_BAD_DER, err, errlen, "CSR has two challengePassword attributes");
	attr = X509_REQ_get_attr(req, idx);
	if (attr == NULL || X509_ATTRIBUTE_count(attr) != 1 ||
	    (t = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL)
		return csr_fail(CSR_BAD_DER, err, errlen,
		    "challengePassword must have exactly one value");
	switch (t->type) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_IA5STRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_UNIVERSALSTRING:
	case V_ASN1_T61STRING:
		break;
	default:
		return csr_fail(CSR_BAD_DER, err, errlen,
		    "challengePassword has an unsupported string type %d", t->type);
	}
	if ((n = ASN1_STRING_to_UTF8(&utf8, t->value.asn1_string)) < 0)
		return csr_fail(CSR_BAD_DER, err, errlen,
		    "challengePassword does not convert to UTF-8");
	if ((size_t)n >= outlen || memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		return csr_fail(CSR_BAD_DER, err, errlen,
		    "challengePassword is longer than %zu bytes or holds a NUL", outlen - 1);
	}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
	OPENSSL_free(utf8);
	*has = 1;
	return CSR_OK;
}

enum csr_status
csr_check(const unsigned char *der, size_t len, struct csr_info *info, char *err,
    size_t errlen)
{
	X509_REQ *req = NULL;
	X509_PUBKEY *xpk;
	const X509_NAME *subj;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p;
	unsigned char *spki = NULL;
	enum csr_status st;
	int n;

	if (info == NULL)
		return csr_fail(CSR_INTERNAL, err, errlen, "csr_check: no info");
	memset(info, 0, sizeof(*info));
	if (der == NULL || len == 0 || len > CSR_DER_MAX)
		return csr_fail(CSR_BAD_DER, err, errlen, "CSR is empty or larger than %d bytes",
		    CSR_DER_MAX);
	p = der;
	if ((req = (X509_REQ *)ASN1_item_d2i_ex(NULL, &p, (long)len, ASN1_ITEM_rptr(X509_REQ),
	    parse_libctx(), NULL)) == NULL) {
		st = csr_fail(CSR_BAD_DER, err, errlen, "not a DER PKCS#10 request");
		goto err;
	}
	if (p != der + len) {
		st = csr_fail(CSR_BAD_DER, err, errlen, "%zu bytes of trailing data after the CSR",
		    (size_t)(der + len - p));
		goto err;
	}
	/* RFC 2986 §4.1: version is 0 (v1). */
	if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
		st = csr_fail(CSR_BAD_DER, err, errlen, "unsupported CSR version %ld",
		    X509_REQ_get_version(req));
		goto err;
	}
	/* The key rule first: a disallowed key is WEAK_KEY whether or not we could verify. */
	xpk = X509_REQ_get_X509_PUBKEY(req);
	pkey = ca_key_decode(xpk);
	if (ca_key_check(xpk, pkey, info->key_desc, sizeof(info->key_desc), err, errlen) == -1) {
		ERR_clear_error();
		st = CSR_WEAK_KEY;
		goto err;
	}
	/* Proof of possession (RFC 7030 §3.4 / RFC 2986 §3), in the default library context. */
	if (X509_REQ_verify_ex(req, pkey, NULL, NULL) != 1) {
		st = csr_fail(CSR_BAD_SIGNATURE, err, errlen,
		    "CSR self-signature does not verify");
		goto err;
	}
	subj = X509_REQ_get_subject_name(req);
	if (X509_NAME_get_index_by_NID(subj, NID_serialNumber, -1) >= 0 &&
	    pki_name_serial(subj, info->serial, sizeof(info->serial)) == -1) {
		st = csr_fail(CSR_BAD_DER, err, errlen,
		    "subject serialNumber is empty, too long or not text");
		goto err;
	}
	if ((st = get_challenge(req, info->challenge, sizeof(info->challenge),
	    &info->has_challenge, err, errlen)) != CSR_OK)
		goto err;
	if ((n = i2d_X509_PUBKEY(xpk, &spki)) <= 0) {
		st = csr_fail(CSR_INTERNAL, err, errlen, "cannot encode the CSR public key");
		goto err;
	}
	info->spki_der = spki;
	info->spki_len = (size_t)n;
	EVP_PKEY_free(pkey);
	X509_REQ_free(req);
	return CSR_OK;
err:
	EVP_PKEY_free(pkey);
	X509_REQ_free(req);
	csr_info_free(info);
	return st;
}

void
csr_info_free(struct csr_info *info)
{
	if (info == NULL)
		return;
	OPENSSL_free(info->spki_der);
	OPENSSL_cleanse(info->challenge, sizeof(info->challenge));
	memset(info, 0, sizeof(*info));
}
