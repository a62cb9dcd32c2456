/* voucher: see voucher.h. */
#include "enroll/common/voucher.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/pki.h"
#include "enroll/common/b64.h"
#include "enroll/common/err.h"

#define VOUCHER_KEY	"ietf-voucher:voucher"
#define VOUCHER_REQ_KEY	"ietf-voucher-request:voucher"

/* The last OpenSSL reason (or "unknown"); clears the queue. */
static const char *
ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		snprintf(buf, len, "%s", ERR_reason_error_string(e) ?
		    ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
	return buf;
}

const char *
voucher_status_name(enum voucher_status st)
{
	switch (st) {
	case VOUCHER_OK:		return "ok";
	case VOUCHER_MALFORMED:		return "malformed";
	case VOUCHER_BAD_SIGNATURE:	return "bad-signature";
	case VOUCHER_WRONG_SERIAL:	return "wrong-serial";
	case VOUCHER_WRONG_NONCE:	return "wrong-nonce";
	case VOUCHER_NO_NONCE:		return "no-nonce";
	case VOUCHER_EXPIRED:		return "expired";
	case VOUCHER_PERPETUAL:		return "perpetual-nonceless";
	case VOUCHER_BAD_ASSERTION:	return "bad-assertion";
	case VOUCHER_INTERNAL:		return "internal";
	}
	return "unknown";
}

const char *
voucher_assertion_name(enum voucher_assertion a)
{
	switch (a) {
	case VOUCHER_ASSERT_VERIFIED:	return "verified";
	case VOUCHER_ASSERT_LOGGED:	return "logged";
	case VOUCHER_ASSERT_PROXIMITY:	return "proximity";
	case VOUCHER_ASSERT_NONE:	break;
	}
	return NULL;
}

void
voucher_init(struct voucher *v, enum voucher_kind kind)
{
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	v->revocation_checks = -1;
}

void
voucher_clear(struct voucher *v)
{
	enum voucher_kind kind;

	if (v == NULL)
		return;
	kind = v->kind;
	free(v->idevid_issuer);
	free(v->pinned_domain_cert);
	free(v->proximity_cert);
	free(v->prior_signed);
	voucher_init(v, kind);
}

int
voucher_set_bytes(unsigned char **dst, size_t *dstlen, const unsigned char *src, size_t len)
{
	unsigned char *p = NULL;

	if (src != NULL && len > 0) {
		if ((p = malloc(len)) == NULL)
			return -1;
		memcpy(p, src, len);
	}
	free(*dst);
	*dst = p;
	*dstlen = p != NULL ? len : 0;
	return 0;
}

int
voucher_nonce_new(char out[VOUCHER_NONCE_MAX + 1])
{
	unsigned char raw[VOUCHER_NONCE_BYTES];
	char *s;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	if ((s = b64_encode(raw, sizeof(raw), 0, NULL)) == NULL)
		return -1;
	snprintf(out, VOUCHER_NONCE_MAX + 1, "%s", s);
	free(s);
	return 0;
}

/* ---- RFC 3339 date-and-time ------------------------------------------------------- */

static int
digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
voucher_time_parse(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *p;

	/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), RFC 3339 §5.6 */
	if (s == NULL || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) || s[13] != ':' ||
	    digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
		p += 6;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second: close enough for expiry checks */
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	    sign * (oh * 3600 + om * 60);
	return 0;
}

int
voucher_time_format(int64_t t, char *out, size_t outlen)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL)
		return -1;
	return strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ? -1 : 0;
}

/* ---- JSON -------------------------------------------------------------------------- */

static int
json_set_time(json_t *o, const char *k, int64_t t)
{
	char buf[32];

	if (t == 0)
		return 0;
	if (voucher_time_format(t, buf, sizeof(buf)) == -1)
		return -1;
	return json_object_set_new(o, k, json_string(buf));
}

static int
json_set_b64(json_t *o, const char *k, const unsigned char *p, size_t n)
{
	char *s;
	int rc;

	if (p == NULL || n == 0)
		return 0;
	if ((s = b64_encode(p, n, 0, NULL)) == NULL)
		return -1;
	rc = json_object_set_new(o, k, json_string(s));
	free(s);
	return rc;
}

char *
voucher_json_build(const struct voucher *v, char *err, size_t errlen)
{
	json_t *root = NULL, *o;
	const char *an;
	char *s = NULL;
	int rc = 0;

	if ((o = json_object()) == NULL || (root = json_object()) == NULL)
		goto oom;
	rc |= json_set_time(o, "created-on", v->created_on);
	rc |= json_set_time(o, "expires-on", v->expires_on);
	if ((an = voucher_assertion_name(v->assertion)) != NULL)
		rc |= json_object_set_new(o, "assertion", json_string(an));
	if (v->serial[0] != '\0')
		rc |= json_object_set_new(o, "serial-number", json_string(v->serial));
	rc |= json_set_b64(o, "idevid-issuer", v->idevid_issuer, v->idevid_issuer_len);
	if (v->nonce[0] != '\0')
		rc |= json_object_set_new(o, "nonce", json_string(v->nonce));
	if (v->kind == VOUCHER_KIND_VOUCHER) {
		rc |= json_set_b64(o, "pinned-domain-cert", v->pinned_domain_cert,
		    v->pinned_len);
		if (v->revocation_checks >= 0)
			rc |= json_object_set_new(o, "domain-cert-revocation-checks",
			    json_boolean(v->revocation_checks));
		rc |= json_set_time(o, "last-renewal-date", v->last_renewal_date);
	} else {
		rc |= json_set_b64(o, "proximity-registrar-cert", v->proximity_cert,
		    v->proximity_len);
		rc |= json_set_b64(o, "prior-signed-voucher-request", v->prior_signed,
		    v->prior_len);
	}
	if (rc != 0)
		goto oom;
	if (json_object_set_new(root, v->kind == VOUCHER_KIND_VOUCHER ? VOUCHER_KEY :
	    VOUCHER_REQ_KEY, o) != 0) {
		o = NULL;
		goto oom;
	}
	o = NULL;
	if ((s = json_dumps(root, JSON_COMPACT)) == NULL)
		goto oom;
	json_decref(root);
	return s;
oom:
	json_decref(o);
	json_decref(root);
	errf(err, errlen, "voucher: cannot build JSON (out of memory or bad time)");
	return NULL;
}

static int
get_str(json_t *o, const char *k, const char **out, char *err, size_t errlen)
{
	json_t *j = json_object_get(o, k);

	*out = NULL;
	if (j == NULL)
		return 0;
	if (!json_is_string(j))
		return errf(err, errlen, "voucher: %s: not a string", k);
	*out = json_string_value(j);
	if (strlen(*out) != json_string_length(j))
		return errf(err, errlen, "voucher: %s: NUL in string", k);
	return 0;
}

static int
get_time(json_t *o, const char *k, int64_t *out, char *err, size_t errlen)
{
	const char *s;

	*out = 0;
	if (get_str(o, k, &s, err, errlen) == -1)
		return -1;
	if (s != NULL && voucher_time_parse(s, out) == -1)
		return errf(err, errlen, "voucher: %s: not an RFC 3339 date-and-time", k);
	return 0;
}

static int
get_b64(json_t *o, const char *k, unsigned char **out, size_t *outlen, char *err,
    size_t errlen)
{
	const char *s;
	char why[128];

	*out = NULL;
	*outlen = 0;
	if (get_str(o, k, &s, err, errlen) == -1)
		return -1;
	if (s == NULL)
		return 0;
	if ((*out = b64_decode(s, strlen(s), outlen, why, sizeof(why))) == NULL)
		return errf(err, errlen, "voucher: %s: bad base64: %s", k, why);
	if (*outlen == 0) {
		free(*out);
		*out = NULL;
		return errf(err, errlen, "voucher: %s: empty", k);
	}
	return 0;
}

enum voucher_status
voucher_json_parse(const char *json, size_t len, enum voucher_kind kind, struct voucher *v,
    char *err, size_t errlen)
{
	const char *key = kind == VOUCHER_KIND_VOUCHER ? VOUCHER_KEY : VOUCHER_REQ_KEY;
	json_error_t je;
	json_t *root = NULL, *o, *j;
	const char *s;
	enum voucher_status st = VOUCHER_MALFORMED;

	voucher_init(v, kind);
	if (len > VOUCHER_DER_MAX) {
		errf(err, errlen, "voucher: JSON larger than %d bytes", VOUCHER_DER_MAX);
		goto out;
	}
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		errf(err, errlen, "voucher: bad JSON at line %d: %.100s", je.line, je.text);
		goto out;
	}
	if (!json_is_object(root) || (o = json_object_get(root, key)) == NULL ||
	    !json_is_object(o)) {
		errf(err, errlen, "voucher: no \"%s\" object", key);
		goto out;
	}
	if (get_time(o, "created-on", &v->created_on, err, errlen) == -1 ||
	    get_time(o, "expires-on", &v->expires_on, err, errlen) == -1 ||
	    get_time(o, "last-renewal-date", &v->last_renewal_date, err, errlen) == -1 ||
	    get_b64(o, "idevid-issuer", &v->idevid_issuer, &v->idevid_issuer_len, err,
	    errlen) == -1)
		goto out;
	if (get_str(o, "assertion", &s, err, errlen) == -1)
		goto out;
	if (s != NULL) {
		if (strcmp(s, "verified") == 0)
			v->assertion = VOUCHER_ASSERT_VERIFIED;
		else if (strcmp(s, "logged") == 0)
			v->assertion = VOUCHER_ASSERT_LOGGED;
		else if (strcmp(s, "proximity") == 0)
			v->assertion = VOUCHER_ASSERT_PROXIMITY;
		else {
			errf(err, errlen, "voucher: assertion \"%.40s\" unknown", s);
			goto out;
		}
	}
	if (get_str(o, "serial-number", &s, err, errlen) == -1)
		goto out;
	if (s != NULL) {
		if (*s == '\0' || strlen(s) >= sizeof(v->serial)) {
			errf(err, errlen, "voucher: serial-number empty or too long");
			goto out;
		}
		snprintf(v->serial, sizeof(v->serial), "%s", s);
	}
	if (get_str(o, "nonce", &s, err, errlen) == -1)
		goto out;
	if (s != NULL) {
		if (*s == '\0' || strlen(s) > VOUCHER_NONCE_MAX) {
			errf(err, errlen, "voucher: nonce empty or longer than %d bytes",
			    VOUCHER_NONCE_MAX);
			goto out;
		}
		snprintf(v->nonce, sizeof(v->nonce), "%s", s);
	}
	if (kind == VOUCHER_KIND_VOUCHER) {
		if (get_b64(o, "pinned-domain-cert", &v->pinned_domain_cert, &v->pinned_len,
		    err, errlen) == -1)
			goto out;
		if ((j = json_object_get(o, "domain-cert-revocation-checks")) != NULL) {
			if (!json_is_boolean(j)) {
				errf(err, errlen, "voucher: domain-cert-revocation-checks: not "
				    "a boolean");
				goto out;
			}
			v->revocation_checks = json_is_true(j);
		}
	} else {
		if (get_b64(o, "proximity-registrar-cert", &v->proximity_cert,
		    &v->proximity_len, err, errlen) == -1 ||
		    get_b64(o, "prior-signed-voucher-request", &v->prior_signed, &v->prior_len,
		    err, errlen) == -1)
			goto out;
	}
	if (v->serial[0] == '\0') {
		errf(err, errlen, "voucher: serial-number missing");
		goto out;
	}
	st = VOUCHER_OK;
out:
	json_decref(root);
	return st;
}

/* ---- CMS --------------------------------------------------------------------------- */

static ASN1_OBJECT *
voucher_oid(void)
{
	return OBJ_txt2obj(VOUCHER_OID, 1);
}

int
voucher_cms_sign(const char *json, size_t len, X509 *cert, EVP_PKEY *key,
    STACK_OF(X509) *chain, unsigned char **der, size_t *derlen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	ASN1_OBJECT *oid = NULL;
	BIO *in = NULL;
	unsigned char *p;
	char why[160];
	int n, rc = -1;

	*der = NULL;
	ERR_clear_error();
	if (len > VOUCHER_DER_MAX || len > INT32_MAX)
		return errf(err, errlen, "voucher: JSON too large to sign");
	if ((in = BIO_new_mem_buf(json, (int)len)) == NULL || (oid = voucher_oid()) == NULL) {
		errf(err, errlen, "voucher: out of memory");
		goto err;
	}
	/* RFC 8366 §5.4: SignedData, eContentType id-ct-animaJSONVoucher, signer cert
	 * included. CMS_PARTIAL so the content type can be set before the signature. */
	if ((cms = CMS_sign(cert, key, chain, NULL, CMS_BINARY | CMS_PARTIAL |
	    CMS_NOSMIMECAP)) == NULL ||
	    CMS_set1_eContentType(cms, oid) != 1 ||
	    CMS_final(cms, in, NULL, CMS_BINARY) != 1) {
		errf(err, errlen, "voucher: CMS signing failed: %s",
		    ossl_reason(why, sizeof(why)));
		goto err;
	}
	if ((n = i2d_CMS_ContentInfo(cms, NULL)) <= 0 || (*der = malloc((size_t)n)) == NULL) {
		errf(err, errlen, "voucher: CMS encoding failed");
		goto err;
	}
	p = *der;
	if (i2d_CMS_ContentInfo(cms, &p) != n) {
		errf(err, errlen, "voucher: CMS encoding failed");
		goto err;
	}
	*derlen = (size_t)n;
	rc = 0;
err:
	if (rc != 0) {
		free(*der);
		*der = NULL;
	}
	ASN1_OBJECT_free(oid);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	ERR_clear_error();
	return rc;
}

enum voucher_status
voucher_cms_open(const unsigned char *der, size_t len, STACK_OF(X509) *anchors,
    char **content, size_t *clen, X509 **signer, STACK_OF(X509) **certs, char *err,
    size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	const unsigned char *p = der;
	const ASN1_OBJECT *ct;
	ASN1_OBJECT *oid = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *signers = NULL, *all = NULL;
	X509_STORE *store = NULL;
	BIO *out = NULL;
	BUF_MEM *bm;
	char why[160];
	unsigned flags = CMS_BINARY;
	enum voucher_status st = VOUCHER_MALFORMED;
	int i;

	*content = NULL;
	*clen = 0;
	if (signer != NULL)
		*signer = NULL;
	if (certs != NULL)
		*certs = NULL;
	ERR_clear_error();
	if (der == NULL || len == 0 || len > VOUCHER_DER_MAX) {
		errf(err, errlen, "voucher: CMS empty or larger than %d bytes", VOUCHER_DER_MAX);
		goto out;
	}
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL || p != der + len) {
		errf(err, errlen, "voucher: not a DER CMS structure");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		errf(err, errlen, "voucher: CMS is not SignedData");
		goto out;
	}
	if ((oid = voucher_oid()) == NULL) {
		st = VOUCHER_INTERNAL;
		errf(err, errlen, "voucher: out of memory");
		goto out;
	}
	if ((ct = CMS_get0_eContentType(cms)) == NULL || OBJ_cmp(ct, oid) != 0) {
		errf(err, errlen, "voucher: CMS content type is not id-ct-animaJSONVoucher");
		goto out;
	}
	if (CMS_is_detached(cms) || CMS_get0_content(cms) == NULL ||
	    *CMS_get0_content(cms) == NULL) {
		errf(err, errlen, "voucher: CMS has no embedded content");
		goto out;
	}
	if ((sis = CMS_get0_SignerInfos(cms)) == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
		errf(err, errlen, "voucher: CMS must have exactly one signer");
		goto out;
	}
	if (anchors != NULL) {
		if ((store = X509_STORE_new()) == NULL) {
			st = VOUCHER_INTERNAL;
			goto out;
		}
		for (i = 0; i < sk_X509_num(anchors); i++)
			if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1) {
				st = VOUCHER_INTERNAL;
				errf(err, errlen, "voucher: cannot load the trust anchors");
				goto out;
			}
		/* RFC 5280 §6.1.1 (d): an anchor is what was configured, self-signed or
		 * not, so a MASA CA under the manufacturer root is an anchor on its own. */
		X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	} else
		flags |= CMS_NO_SIGNER_CERT_VERIFY;
	if ((out = BIO_new(BIO_s_mem())) == NULL) {
		st = VOUCHER_INTERNAL;
		goto out;
	}
	if (CMS_verify(cms, NULL, store, NULL, out, flags) != 1) {
		unsigned long e = ERR_peek_last_error();

		st = VOUCHER_BAD_SIGNATURE;
		if (anchors != NULL && ERR_GET_REASON(e) == CMS_R_CERTIFICATE_VERIFY_ERROR)
			errf(err, errlen, "voucher: signer is not under the trusted anchors");
		else if (ERR_GET_REASON(e) == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND)
			errf(err, errlen, "voucher: CMS does not carry the signer's certificate");
		else
			errf(err, errlen, "voucher: CMS signature does not verify: %s",
			    ossl_reason(why, sizeof(why)));
		goto out;
	}
	BIO_get_mem_ptr(out, &bm);
	if (bm == NULL || bm->length == 0 || bm->length > VOUCHER_DER_MAX) {
		errf(err, errlen, "voucher: CMS content empty or too large");
		goto out;
	}
	if ((*content = malloc(bm->length + 1)) == NULL) {
		st = VOUCHER_INTERNAL;
		goto out;
	}
	memcpy(*content, bm->data, bm->length);
	(*content)[bm->length] = '\0';
	*clen = bm->length;
	if (signer != NULL) {
		if ((signers = CMS_get0_signers(cms)) != NULL && sk_X509_num(signers) == 1) {
			*signer = sk_X509_value(signers, 0);
			X509_up_ref(*signer);
		}
	}
	if (certs != NULL) {
		*certs = all = CMS_get1_certs(cms);
		if (*certs == NULL)
			*certs = sk_X509_new_null();
	}
	st = VOUCHER_OK;
out:
	if (st != VOUCHER_OK) {
		free(*content);
		*content = NULL;
		*clen = 0;
		if (signer != NULL) {
			X509_free(*signer);
			*signer = NULL;
		}
		if (certs != NULL) {
			sk_X509_pop_free(*certs, X509_free);
			*certs = NULL;
		}
		if (st == VOUCHER_INTERNAL && err != NULL && err[0] == '\0')
			errf(err, errlen, "voucher: out of memory");
	}
	(void)all;
	sk_X509_free(signers);
	BIO_free(out);
	X509_STORE_free(store);
	ASN1_OBJECT_free(oid);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return st;
}

/* ---- checks ------------------------------------------------------------------------ */

enum voucher_status
voucher_masa_signer_check(X509 *signer, char *err, size_t errlen)
{
	BASIC_CONSTRAINTS *bc;
	unsigned char *hw = NULL;
	size_t hwlen;
	int crit = -1, ca, r;

	if (signer == NULL) {
		errf(err, errlen, "voucher: no signer certificate");
		return VOUCHER_BAD_SIGNATURE;
	}
	/* 802.1AR §8.6, RFC 8995 §2.3.1: a DevID names its device in the subject. */
	if (X509_NAME_get_index_by_NID(X509_get_subject_name(signer), NID_serialNumber,
	    -1) >= 0) {
		errf(err, errlen, "voucher: signer is a device certificate (subject "
		    "serialNumber), not the MASA");
		return VOUCHER_BAD_SIGNATURE;
	}
	if ((r = pki_cert_hwmodule(signer, &hw, &hwlen)) != 1) {
		OPENSSL_free(hw);
		ERR_clear_error();
		errf(err, errlen, "voucher: signer is a device certificate "
		    "(hardwareModuleName), not the MASA");
		return VOUCHER_BAD_SIGNATURE;
	}
	bc = X509_get_ext_d2i(signer, NID_basic_constraints, &crit, NULL);
	ca = bc != NULL && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	ERR_clear_error();
	if (ca || (bc == NULL && crit != -1)) {
		errf(err, errlen, "voucher: signer is not an end entity (basicConstraints), "
		    "not the MASA's signing certificate");
		return VOUCHER_BAD_SIGNATURE;
	}
	return VOUCHER_OK;
}

enum voucher_status
voucher_check(const struct voucher *v, const char *serial, const char *nonce, time_t now,
    char *err, size_t errlen)
{
	X509 *pin;

	if (v->kind != VOUCHER_KIND_VOUCHER) {
		errf(err, errlen, "voucher: a voucher-request, not a voucher");
		return VOUCHER_MALFORMED;
	}
	if (v->assertion == VOUCHER_ASSERT_NONE) {
		errf(err, errlen, "voucher: assertion missing");
		return VOUCHER_BAD_ASSERTION;
	}
	if (v->created_on == 0) {
		errf(err, errlen, "voucher: created-on missing");
		return VOUCHER_MALFORMED;
	}
	if (serial == NULL || strcmp(v->serial, serial) != 0) {
		errf(err, errlen, "voucher is for serial-number \"%.64s\", not this device (%.64s)",
		    v->serial, serial != NULL ? serial : "?");
		return VOUCHER_WRONG_SERIAL;
	}
	if (v->pinned_domain_cert == NULL) {
		errf(err, errlen, "voucher: pinned-domain-cert missing");
		return VOUCHER_MALFORMED;
	}
	if ((pin = voucher_cert_from_der(v->pinned_domain_cert, v->pinned_len)) == NULL) {
		errf(err, errlen, "voucher: pinned-domain-cert is not a DER certificate");
		return VOUCHER_MALFORMED;
	}
	X509_free(pin);
	/* RFC 8995 §5.6.1: the nonce of our request must come back unchanged. */
	if (nonce != NULL) {
		if (v->nonce[0] == '\0') {
			errf(err, errlen, "voucher has no nonce but the request carried one");
			return VOUCHER_NO_NONCE;
		}
		if (strcmp(v->nonce, nonce) != 0) {
			errf(err, errlen, "voucher nonce does not match the request's nonce");
			return VOUCHER_WRONG_NONCE;
		}
	} else if (v->expires_on == 0) {
		/* RFC 8366 §5.3 expires-on, RFC 8995 §7.2: a nonceless voucher must expire;
		 * a perpetual one is never accepted here. */
		errf(err, errlen, "nonceless voucher without expires-on (perpetual) refused");
		return VOUCHER_PERPETUAL;
	}
	if (v->expires_on != 0) {
		if (v->expires_on <= (int64_t)now) {
			char t[32] = "?";

			voucher_time_format(v->expires_on, t, sizeof(t));
			errf(err, errlen, "voucher expired at %s", t);
			return VOUCHER_EXPIRED;
		}
		if (v->created_on > v->expires_on) {
			errf(err, errlen, "voucher: created-on is after expires-on");
			return VOUCHER_MALFORMED;
		}
	}
	return VOUCHER_OK;
}

enum voucher_status
voucher_pledge_verify(const unsigned char *der, size_t len, STACK_OF(X509) *anchors,
    const char *serial, const char *nonce, time_t now, X509 **pinned, struct voucher *v,
    char *err, size_t errlen)
{
	struct voucher tmp;
	X509 *signer = NULL;
	char *json = NULL;
	size_t jlen;
	enum voucher_status st;

	*pinned = NULL;
	voucher_init(&tmp, VOUCHER_KIND_VOUCHER);
	if (anchors == NULL || sk_X509_num(anchors) == 0) {
		errf(err, errlen, "voucher: no MASA trust anchor");
		return VOUCHER_BAD_SIGNATURE;
	}
	if ((st = voucher_cms_open(der, len, anchors, &json, &jlen, &signer, NULL, err,
	    errlen)) != VOUCHER_OK)
		goto out;
	/* Only the MASA signs vouchers, not any certificate under the anchors. */
	if ((st = voucher_masa_signer_check(signer, err, errlen)) != VOUCHER_OK)
		goto out;
	if ((st = voucher_json_parse(json, jlen, VOUCHER_KIND_VOUCHER, &tmp, err, errlen)) !=
	    VOUCHER_OK)
		goto out;
	if ((st = voucher_check(&tmp, serial, nonce, now, err, errlen)) != VOUCHER_OK)
		goto out;
	if ((*pinned = voucher_cert_from_der(tmp.pinned_domain_cert, tmp.pinned_len)) ==
	    NULL) {
		st = VOUCHER_INTERNAL;
		errf(err, errlen, "voucher: out of memory");
		goto out;
	}
	if (v != NULL) {
		*v = tmp;
		voucher_init(&tmp, VOUCHER_KIND_VOUCHER);
	}
out:
	voucher_clear(&tmp);
	X509_free(signer);
	free(json);
	return st;
}

int
voucher_registrar_check(X509 *pinned, X509 *leaf, STACK_OF(X509) *chain, char *err,
    size_t errlen)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	int rc = -1;

	if (pinned == NULL || leaf == NULL)
		return errf(err, errlen, "no registrar certificate or no pinned domain "
		    "certificate");
	if (X509_cmp(pinned, leaf) == 0)
		return 0;
	if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_add_cert(store, pinned) != 1) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	/* The pinned certificate is the anchor even when it is an intermediate. */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) != 1) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		errf(err, errlen, "registrar certificate is not under the voucher's "
		    "pinned-domain-cert: %s",
		    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	rc = 0;
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return rc;
}

static int
octets_copy(const ASN1_OCTET_STRING *os, unsigned char **out, size_t *outlen)
{
	if (os == NULL || ASN1_STRING_length(os) <= 0)
		return -1;
	if ((*out = malloc((size_t)ASN1_STRING_length(os))) == NULL)
		return -1;
	memcpy(*out, ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os));
	*outlen = (size_t)ASN1_STRING_length(os);
	return 0;
}

int
voucher_cert_aki(X509 *cert, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	return octets_copy(X509_get0_authority_key_id(cert), out, outlen);
}

int
voucher_cert_ski(X509 *cert, unsigned char **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	return octets_copy(X509_get0_subject_key_id(cert), out, outlen);
}

int
voucher_cert_der(X509 *cert, unsigned char **out, size_t *outlen)
{
	unsigned char *p;
	int n;

	*out = NULL;
	*outlen = 0;
	if ((n = i2d_X509(cert, NULL)) <= 0 || (*out = malloc((size_t)n)) == NULL)
		return -1;
	p = *out;
	if (i2d_X509(cert, &p) != n) {
		free(*out);
		*out = NULL;
		return -1;
	}
	*outlen = (size_t)n;
	return 0;
}

X509 *
voucher_cert_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509 *c;

	if (der == NULL || len == 0 || len > VOUCHER_DER_MAX)
		return NULL;
	c = d2i_X509(NULL, &p, (long)len);
	if (c != NULL && p != der + len) {
		X509_free(c);
		c = NULL;
	}
	ERR_clear_error();
	return c;
}

STACK_OF(X509) *
voucher_anchors_load(const char *path, char *err, size_t errlen)
{
	return pki_certs_read(path, err, errlen);
}

int
voucher_cert_masa_url(X509 *cert, char *out, size_t outlen)
{
	ASN1_OBJECT *obj;
	X509_EXTENSION *ext;
	ASN1_OCTET_STRING *os;
	ASN1_IA5STRING *ia5 = NULL;
	const unsigned char *p;
	size_t n, i;
	int idx, rc = -1;

	if ((obj = OBJ_txt2obj(PKI_OID_MASA_URL, 1)) == NULL)
		return -1;
	idx = X509_get_ext_by_OBJ(cert, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0) {
		ERR_clear_error();
		return 1;
	}
	if ((ext = X509_get_ext(cert, idx)) == NULL || (os = X509_EXTENSION_get_data(ext)) ==
	    NULL)
		goto out;
	p = ASN1_STRING_get0_data(os);
	if ((ia5 = d2i_ASN1_IA5STRING(NULL, &p, ASN1_STRING_length(os))) == NULL ||
	    p != ASN1_STRING_get0_data(os) + ASN1_STRING_length(os))
		goto out;
	n = (size_t)ASN1_STRING_length(ia5);
	p = ASN1_STRING_get0_data(ia5);
	for (i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			goto out;
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n == 0)
		goto out;
	if (memmem(p, n, "://", 3) == NULL) {
		if ((size_t)snprintf(out, outlen, "https://%.*s", (int)n, (const char *)p) >=
		    outlen)
			goto out;
	} else if ((size_t)snprintf(out, outlen, "%.*s", (int)n, (const char *)p) >= outlen)
		goto out;
	rc = 0;
out:
	ASN1_IA5STRING_free(ia5);
	ERR_clear_error();
	return rc;
}
