/*
 * Unit tests for enroll/common/voucher.c: RFC 3339 times, voucher/voucher-request JSON, CMS
 * sign/open against MASA anchors, the pledge's checks (serial, nonce, expiry, nonceless
 * rule, assertion) and the registrar-under-pinned-domain-cert check. Two lab manufacturers
 * (one's MASA is not the device's anchor) and two domains are made with labpki.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/labpki.h"
#include "certs/pki.h"
#include "enroll/common/voucher.h"
#include "tests/unit/testutil.h"

struct fix {
	char			dir[64];
	struct labpki_result	a, b;		/* a: the device's manufacturer; b: another */
	struct domainca_files	d1, d2;		/* two owner domains */
	X509			*masa, *masa_b, *dom_ca, *dom2_ca, *reg, *reg2, *idevid;
	EVP_PKEY		*masa_key, *masa_b_key, *idevid_key;
	STACK_OF(X509)		*anchors;	/* device a's masa-anchor.pem */
	STACK_OF(X509)		*root;		/* a's manufacturer root (registrar's anchor) */
	STACK_OF(X509)		*masa_chain;	/* the rest of a's masa.pem */
	X509			*ica, *root_cert;
	EVP_PKEY		*ica_key, *root_key;
	char			serial[64];
};

static struct fix F;

static int
setup(void **state)
{
	char err[256], sub[128];

	(void)state;
	snprintf(F.dir, sizeof(F.dir), "/tmp/lk-voucher-XXXXXX");
	if (mkdtemp(F.dir) == NULL)
		return -1;
	snprintf(sub, sizeof(sub), "%s/a", F.dir);
	if (labpki_create(sub, 1, NULL, NULL, &F.a, err, sizeof(err)) == -1)
		goto fail;
	snprintf(sub, sizeof(sub), "%s/b", F.dir);
	if (labpki_create(sub, 1, NULL, NULL, &F.b, err, sizeof(err)) == -1)
		goto fail;
	snprintf(sub, sizeof(sub), "%s/d1", F.dir);
	if (domainca_create(sub, "one.test", "127.0.0.1", NULL, &F.d1, err, sizeof(err)) == -1)
		goto fail;
	snprintf(sub, sizeof(sub), "%s/d2", F.dir);
	if (domainca_create(sub, "two.test", "127.0.0.1", NULL, &F.d2, err, sizeof(err)) == -1)
		goto fail;
	if ((F.masa = pki_cert_read(F.a.masa_cert, err, sizeof(err))) == NULL ||
	    (F.masa_key = pki_key_read(F.a.masa_key, err, sizeof(err))) == NULL ||
	    (F.masa_b = pki_cert_read(F.b.masa_cert, err, sizeof(err))) == NULL ||
	    (F.masa_b_key = pki_key_read(F.b.masa_key, err, sizeof(err))) == NULL ||
	    (F.dom_ca = pki_cert_read(F.d1.ca_cert, err, sizeof(err))) == NULL ||
	    (F.dom2_ca = pki_cert_read(F.d2.ca_cert, err, sizeof(err))) == NULL ||
	    (F.reg = pki_cert_read(F.d1.tls_cert, err, sizeof(err))) == NULL ||
	    (F.reg2 = pki_cert_read(F.d2.tls_cert, err, sizeof(err))) == NULL ||
	    (F.idevid = pki_cert_read(F.a.devices[0].cert, err, sizeof(err))) == NULL ||
	    (F.idevid_key = pki_key_read(F.a.devices[0].key, err, sizeof(err))) == NULL ||
	    (F.anchors = voucher_anchors_load(F.a.devices[0].masa_anchor, err,
	    sizeof(err))) == NULL ||
	    (F.root = voucher_anchors_load(F.a.manufacturer_ca, err, sizeof(err))) == NULL ||
	    (F.masa_chain = pki_certs_read(F.a.masa_cert, err, sizeof(err))) == NULL ||
	    (F.ica = pki_cert_read(F.a.manufacturer_ica, err, sizeof(err))) == NULL ||
	    (F.ica_key = pki_key_read(F.a.manufacturer_ica_key, err, sizeof(err))) == NULL ||
	    (F.root_cert = pki_cert_read(F.a.manufacturer_ca, err, sizeof(err))) == NULL ||
	    (F.root_key = pki_key_read(F.a.manufacturer_ca_key, err, sizeof(err))) == NULL)
		goto fail;
	X509_free(sk_X509_shift(F.masa_chain));	/* the MASA certificate itself */
	snprintf(F.serial, sizeof(F.serial), "%s", F.a.devices[0].serial);
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", err);
	return -1;
}

static int
teardown(void **state)
{
	(void)state;
	X509_free(F.masa);
	X509_free(F.masa_b);
	X509_free(F.dom_ca);
	X509_free(F.dom2_ca);
	X509_free(F.reg);
	X509_free(F.reg2);
	X509_free(F.idevid);
	EVP_PKEY_free(F.masa_key);
	EVP_PKEY_free(F.masa_b_key);
	EVP_PKEY_free(F.idevid_key);
	sk_X509_pop_free(F.anchors, X509_free);
	sk_X509_pop_free(F.root, X509_free);
	sk_X509_pop_free(F.masa_chain, X509_free);
	X509_free(F.ica);
	X509_free(F.root_cert);
	EVP_PKEY_free(F.ica_key);
	EVP_PKEY_free(F.root_key);
	labpki_result_free(&F.a);
	labpki_result_free(&F.b);
	tu_rmtree(F.dir);
	return 0;
}

/* A good voucher for the device, pinned to domain 1, with nonce "N1". */
static void
good_voucher(struct voucher *v)
{
	unsigned char *der;
	size_t len;

	voucher_init(v, VOUCHER_KIND_VOUCHER);
	v->created_on = 1700000000;
	v->assertion = VOUCHER_ASSERT_LOGGED;
	snprintf(v->serial, sizeof(v->serial), "%s", F.serial);
	snprintf(v->nonce, sizeof(v->nonce), "N1");
	v->revocation_checks = 0;
	assert_int_equal(voucher_cert_der(F.dom_ca, &der, &len), 0);
	v->pinned_domain_cert = der;
	v->pinned_len = len;
	assert_int_equal(voucher_cert_aki(F.idevid, &v->idevid_issuer,
	    &v->idevid_issuer_len), 0);
}

/* Sign v with key/cert into DER. */
static unsigned char *
sign(const struct voucher *v, X509 *cert, EVP_PKEY *key, size_t *len)
{
	char err[256], *json;
	unsigned char *der = NULL;

	json = voucher_json_build(v, err, sizeof(err));
	assert_non_null(json);
	assert_int_equal(voucher_cms_sign(json, strlen(json), cert, key, NULL, &der, len, err,
	    sizeof(err)), 0);
	free(json);
	return der;
}

/* The same with chain (may be NULL) included in the CMS. */
static unsigned char *
sign_chain(const struct voucher *v, X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    size_t *len)
{
	char err[256], *json;
	unsigned char *der = NULL;

	json = voucher_json_build(v, err, sizeof(err));
	assert_non_null(json);
	assert_int_equal(voucher_cms_sign(json, strlen(json), cert, key, chain, &der, len,
	    err, sizeof(err)), 0);
	free(json);
	return der;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, val);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A would-be voucher signer made here, issued by issuer/ikey: subject serialNumber when
 * serial is not NULL (and then a hardwareModuleName too when hw), basicConstraints bc, KU
 * ku, EKU eku (NULL: none). *keyp receives its key.
 */
static X509 *
make_signer(const char *serial, int hw, const char *bc, const char *ku, const char *eku,
    X509 *issuer, EVP_PKEY *ikey, EVP_PKEY **keyp)
{
	EVP_PKEY *k = pki_key_new("p256", NULL, 0);
	X509 *x = X509_new();
	X509_NAME *nm;
	char err[256];

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(pki_serial_random(x), 0);
	nm = X509_get_subject_name(x);
	if (serial != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_serialNumber,
		    MBSTRING_ASC, (const unsigned char *)serial, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)"would-be MASA", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(issuer)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	add_ext(x, issuer, NID_basic_constraints, bc);
	add_ext(x, issuer, NID_key_usage, ku);
	if (eku != NULL)
		add_ext(x, issuer, NID_ext_key_usage, eku);
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (hw)
		assert_int_equal(pki_add_hwmodule_san(x, PKI_OID_LAB_HWTYPE,
		    serial != NULL ? serial : "LKHW00000001", err, sizeof(err)), 0);
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	*keyp = k;
	return x;
}

static void
test_time(void **state)
{
	static const struct {
		const char	*s;
		int		 ok;
		int64_t		 t;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 1, 0 },
		{ "2016-10-07T19:31:42Z", 1, 1475868702 },
		{ "2016-10-07T19:31:42.123Z", 1, 1475868702 },
		{ "2016-10-07T21:31:42+02:00", 1, 1475868702 },
		{ "2016-10-07T17:31:42-02:00", 1, 1475868702 },
		{ "2024-02-29T00:00:00Z", 1, 1709164800 },
		{ "2023-02-29T00:00:00Z", 0, 0 },
		{ "2016-13-07T19:31:42Z", 0, 0 },
		{ "2016-10-07 19:31:42Z", 0, 0 },
		{ "2016-10-07T19:31:42", 0, 0 },
		{ "2016-10-07T19:31:42Zjunk", 0, 0 },
		{ "2016-10-07T25:31:42Z", 0, 0 },
		{ "", 0, 0 },
	};
	char buf[32];
	int64_t t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = voucher_time_parse(cases[i].s, &t);

		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_int_equal(t, cases[i].t);
		} else
			assert_int_equal(rc, -1);
	}
	assert_int_equal(voucher_time_format(1475868702, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2016-10-07T19:31:42Z");
}

static void
test_json_roundtrip(void **state)
{
	struct voucher v, w, r, s;
	char err[256], *json;

	(void)state;
	good_voucher(&v);
	v.expires_on = 1800000000;
	json = voucher_json_build(&v, err, sizeof(err));
	assert_non_null(json);
	assert_non_null(strstr(json, "\"ietf-voucher:voucher\""));
	assert_non_null(strstr(json, "\"assertion\":\"logged\""));
	assert_non_null(strstr(json, "\"domain-cert-revocation-checks\":false"));
	assert_int_equal(voucher_json_parse(json, strlen(json), VOUCHER_KIND_VOUCHER, &w, err,
	    sizeof(err)), VOUCHER_OK);
	assert_string_equal(w.serial, F.serial);
	assert_string_equal(w.nonce, "N1");
	assert_int_equal(w.created_on, 1700000000);
	assert_int_equal(w.expires_on, 1800000000);
	assert_int_equal(w.assertion, VOUCHER_ASSERT_LOGGED);
	assert_int_equal(w.revocation_checks, 0);
	assert_int_equal(w.pinned_len, v.pinned_len);
	assert_memory_equal(w.pinned_domain_cert, v.pinned_domain_cert, v.pinned_len);
	assert_int_equal(w.idevid_issuer_len, v.idevid_issuer_len);
	/* A voucher is not a voucher-request. */
	assert_int_equal(voucher_json_parse(json, strlen(json), VOUCHER_KIND_REQUEST, &s, err,
	    sizeof(err)), VOUCHER_MALFORMED);
	voucher_clear(&s);
	free(json);

	voucher_init(&r, VOUCHER_KIND_REQUEST);
	r.created_on = 1700000000;
	r.assertion = VOUCHER_ASSERT_PROXIMITY;
	snprintf(r.serial, sizeof(r.serial), "%s", F.serial);
	snprintf(r.nonce, sizeof(r.nonce), "abc=");
	assert_int_equal(voucher_cert_der(F.reg, &r.proximity_cert, &r.proximity_len), 0);
	assert_int_equal(voucher_set_bytes(&r.prior_signed, &r.prior_len,
	    (const unsigned char *)"\x30\x00", 2), 0);
	json = voucher_json_build(&r, err, sizeof(err));
	assert_non_null(json);
	assert_non_null(strstr(json, "\"ietf-voucher-request:voucher\""));
	assert_int_equal(voucher_json_parse(json, strlen(json), VOUCHER_KIND_REQUEST, &s, err,
	    sizeof(err)), VOUCHER_OK);
	assert_int_equal(s.assertion, VOUCHER_ASSERT_PROXIMITY);
	assert_int_equal(s.proximity_len, r.proximity_len);
	assert_memory_equal(s.proximity_cert, r.proximity_cert, r.proximity_len);
	assert_int_equal(s.prior_len, 2);
	free(json);
	voucher_clear(&v);
	voucher_clear(&w);
	voucher_clear(&r);
	voucher_clear(&s);
}

static void
test_json_malformed(void **state)
{
	static const char *const cases[] = {
		"",
		"not json",
		"[]",
		"{}",
		"{\"ietf-voucher:voucher\": []}",
		"{\"ietf-voucher:voucher\": {}}",				/* no serial */
		"{\"ietf-voucher:voucher\": {\"serial-number\": 5}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"\"}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\", \"assertion\": \"x\"}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\", \"created-on\": \"yesterday\"}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\", \"pinned-domain-cert\": \"!!\"}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\", \"pinned-domain-cert\": \"\"}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\", \"nonce\": 1}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\", "
		    "\"domain-cert-revocation-checks\": \"no\"}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\", \"serial-number\": \"T\"}}",
		"{\"ietf-voucher:voucher\": {\"serial-number\": \"S\\u0000T\"}}",
	};
	struct voucher v;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(voucher_json_parse(cases[i], strlen(cases[i]),
		    VOUCHER_KIND_VOUCHER, &v, err, sizeof(err)), VOUCHER_MALFORMED);
		assert_true(err[0] != '\0');
		voucher_clear(&v);
	}
}

static void
test_cms(void **state)
{
	struct voucher v;
	STACK_OF(X509) *other, *certs = NULL;
	unsigned char *der;
	char err[256], *content = NULL;
	size_t len, clen;
	X509 *signer = NULL;

	(void)state;
	good_voucher(&v);
	der = sign(&v, F.masa, F.masa_key, &len);
	/* Verifies against the device's MASA anchor, content is the JSON. */
	assert_int_equal(voucher_cms_open(der, len, F.anchors, &content, &clen, &signer, &certs,
	    err, sizeof(err)), VOUCHER_OK);
	assert_non_null(strstr(content, F.serial));
	assert_int_equal(strlen(content), clen);
	assert_non_null(signer);
	assert_int_equal(X509_cmp(signer, F.masa), 0);
	assert_true(sk_X509_num(certs) >= 1);
	free(content);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	/* Not under another manufacturer's anchors. */
	other = voucher_anchors_load(F.b.manufacturer_ca, err, sizeof(err));
	assert_non_null(other);
	assert_int_equal(voucher_cms_open(der, len, other, &content, &clen, NULL, NULL, err,
	    sizeof(err)), VOUCHER_BAD_SIGNATURE);
	assert_null(content);
	sk_X509_pop_free(other, X509_free);
	/* Without anchors only the signature counts. */
	assert_int_equal(voucher_cms_open(der, len, NULL, &content, &clen, NULL, NULL, err,
	    sizeof(err)), VOUCHER_OK);
	free(content);
	/* Truncated, trailing garbage, empty. */
	assert_int_equal(voucher_cms_open(der, len - 1, F.anchors, &content, &clen, NULL, NULL,
	    err, sizeof(err)), VOUCHER_MALFORMED);
	assert_int_equal(voucher_cms_open(der, 0, F.anchors, &content, &clen, NULL, NULL,
	    err, sizeof(err)), VOUCHER_MALFORMED);
	free(der);
	voucher_clear(&v);
}

/* A flipped byte inside the signed JSON breaks the signature, never passes. */
static void
test_cms_tampered(void **state)
{
	struct voucher v;
	unsigned char *der;
	char err[256], *content = NULL, *hit;
	size_t len, clen;

	(void)state;
	good_voucher(&v);
	der = sign(&v, F.masa, F.masa_key, &len);
	hit = memmem(der, len, F.serial, strlen(F.serial));
	assert_non_null(hit);
	hit[0] ^= 1;
	assert_int_equal(voucher_cms_open(der, len, F.anchors, &content, &clen, NULL, NULL,
	    err, sizeof(err)), VOUCHER_BAD_SIGNATURE);
	assert_null(content);
	free(der);
	voucher_clear(&v);
}

/* SignedData of plain id-data is not a voucher. */
static void
test_cms_wrong_type(void **state)
{
	CMS_ContentInfo *cms;
	BIO *in;
	unsigned char *der = NULL;
	char err[256], *content = NULL;
	size_t clen;
	int n;

	(void)state;
	in = BIO_new_mem_buf("{}", 2);
	cms = CMS_sign(F.masa, F.masa_key, NULL, in, CMS_BINARY);
	assert_non_null(cms);
	n = i2d_CMS_ContentInfo(cms, &der);
	assert_true(n > 0);
	assert_int_equal(voucher_cms_open(der, (size_t)n, F.anchors, &content, &clen, NULL,
	    NULL, err, sizeof(err)), VOUCHER_MALFORMED);
	assert_non_null(strstr(err, "content type"));
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
}

static void
test_check(void **state)
{
	enum { NOW = 1750000000 };
	struct {
		const char		*name;
		const char		*serial;	/* expected */
		const char		*nonce;		/* expected; NULL = nonceless request */
		const char		*vnonce;	/* in the voucher */
		int64_t			 expires;
		enum voucher_assertion	 assertion;
		enum voucher_status	 want;
	} cases[] = {
		{ "good", NULL, "N1", "N1", 0, VOUCHER_ASSERT_LOGGED, VOUCHER_OK },
		{ "good, expiring later", NULL, "N1", "N1", NOW + 60, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_OK },
		{ "another serial", "LKOTHER", "N1", "N1", 0, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_WRONG_SERIAL },
		{ "wrong nonce", NULL, "N2", "N1", 0, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_WRONG_NONCE },
		{ "missing nonce", NULL, "N1", "", NOW + 60, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_NO_NONCE },
		{ "expired", NULL, "N1", "N1", NOW - 1, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_EXPIRED },
		{ "expires now", NULL, "N1", "N1", NOW, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_EXPIRED },
		{ "nonceless with expiry", NULL, NULL, "", NOW + 60, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_OK },
		{ "nonceless expired", NULL, NULL, "", NOW - 60, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_EXPIRED },
		{ "nonceless perpetual", NULL, NULL, "", 0, VOUCHER_ASSERT_LOGGED,
		    VOUCHER_PERPETUAL },
		{ "no assertion", NULL, "N1", "N1", 0, VOUCHER_ASSERT_NONE,
		    VOUCHER_BAD_ASSERTION },
	};
	struct voucher v;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		good_voucher(&v);
		snprintf(v.nonce, sizeof(v.nonce), "%s", cases[i].vnonce);
		v.expires_on = cases[i].expires;
		v.assertion = cases[i].assertion;
		err[0] = '\0';
		if (voucher_check(&v, cases[i].serial ? cases[i].serial : F.serial,
		    cases[i].nonce, NOW, err, sizeof(err)) != cases[i].want)
			fail_msg("case \"%s\": got a different status (%s)", cases[i].name, err);
		if (cases[i].want != VOUCHER_OK && err[0] == '\0')
			fail_msg("case \"%s\": no error text", cases[i].name);
		voucher_clear(&v);
	}
	/* No pinned-domain-cert. */
	good_voucher(&v);
	free(v.pinned_domain_cert);
	v.pinned_domain_cert = NULL;
	v.pinned_len = 0;
	assert_int_equal(voucher_check(&v, F.serial, "N1", NOW, err, sizeof(err)),
	    VOUCHER_MALFORMED);
	voucher_clear(&v);
}

static void
test_pledge_verify(void **state)
{
	struct voucher v, got;
	unsigned char *der;
	char err[256];
	size_t len;
	X509 *pinned = NULL;

	(void)state;
	good_voucher(&v);
	der = sign(&v, F.masa, F.masa_key, &len);
	assert_int_equal(voucher_pledge_verify(der, len, F.anchors, F.serial, "N1", time(NULL),
	    &pinned, &got, err, sizeof(err)), VOUCHER_OK);
	assert_non_null(pinned);
	assert_int_equal(X509_cmp(pinned, F.dom_ca), 0);
	assert_string_equal(got.serial, F.serial);
	X509_free(pinned);
	voucher_clear(&got);
	/* Wrong nonce through the whole path. */
	assert_int_equal(voucher_pledge_verify(der, len, F.anchors, F.serial, "N9", time(NULL),
	    &pinned, NULL, err, sizeof(err)), VOUCHER_WRONG_NONCE);
	assert_null(pinned);
	free(der);
	/* Signed by a key that is not under the device's MASA anchor. */
	der = sign(&v, F.masa_b, F.masa_b_key, &len);
	assert_int_equal(voucher_pledge_verify(der, len, F.anchors, F.serial, "N1", time(NULL),
	    &pinned, NULL, err, sizeof(err)), VOUCHER_BAD_SIGNATURE);
	assert_null(pinned);
	free(der);
	/* Signed by the device itself (a self-made voucher). */
	der = sign(&v, F.idevid, F.idevid_key, &len);
	assert_int_equal(voucher_pledge_verify(der, len, F.anchors, F.serial, "N1", time(NULL),
	    &pinned, NULL, err, sizeof(err)), VOUCHER_BAD_SIGNATURE);
	free(der);
	/* Malformed JSON inside a good signature. */
	{
		const char *bad = "{\"ietf-voucher:voucher\": {\"serial-number\": 1}}";

		assert_int_equal(voucher_cms_sign(bad, strlen(bad), F.masa, F.masa_key, NULL,
		    &der, &len, err, sizeof(err)), 0);
		assert_int_equal(voucher_pledge_verify(der, len, F.anchors, F.serial, "N1",
		    time(NULL), &pinned, NULL, err, sizeof(err)), VOUCHER_MALFORMED);
		free(der);
	}
	voucher_clear(&v);
}

/*
 * Who may sign a voucher (RFC 8995 §5.6.1, voucher.h): only the MASA. Another device's
 * IDevID without an EKU (802.1AR allows it, so the S/MIME purpose check does not stop it)
 * signs a voucher for this device pinning an attacker's domain: refused under the device's
 * masa-anchor.pem (a MASA-only CA) and, by the not-a-DevID rule, even under the whole
 * manufacturer root (the registrar's anchor, and older devices' masa-anchor.pem).
 */
static void
test_voucher_signer(void **state)
{
	enum { S_MASA, S_IDEVID_NO_EKU, S_IDEVID_LAB, S_HWMODULE_ONLY, S_EE_UNDER_ICA,
	    S_CA_TRUE, S_MASA_B };
	enum { A_DEVICE, A_ROOT };
	static const struct {
		const char		*name;
		int			 signer;
		int			 anchor;
		enum voucher_status	 want;
		const char		*want_err;
	} rows[] = {
		{ "MASA, device anchor", S_MASA, A_DEVICE, VOUCHER_OK, NULL },
		{ "MASA, manufacturer root", S_MASA, A_ROOT, VOUCHER_OK, NULL },
		{ "IDevID without EKU, device anchor", S_IDEVID_NO_EKU, A_DEVICE,
		    VOUCHER_BAD_SIGNATURE, "not under the trusted anchors" },
		{ "IDevID without EKU, manufacturer root", S_IDEVID_NO_EKU, A_ROOT,
		    VOUCHER_BAD_SIGNATURE, "serialNumber" },
		{ "lab IDevID (clientAuth), device anchor", S_IDEVID_LAB, A_DEVICE,
		    VOUCHER_BAD_SIGNATURE, NULL },
		{ "lab IDevID (clientAuth), manufacturer root", S_IDEVID_LAB, A_ROOT,
		    VOUCHER_BAD_SIGNATURE, NULL },
		{ "hardwareModuleName only, manufacturer root", S_HWMODULE_ONLY, A_ROOT,
		    VOUCHER_BAD_SIGNATURE, "hardwareModuleName" },
		{ "other end entity of the IDevID CA, device anchor", S_EE_UNDER_ICA, A_DEVICE,
		    VOUCHER_BAD_SIGNATURE, "not under the trusted anchors" },
		{ "CA:TRUE signer, manufacturer root", S_CA_TRUE, A_ROOT,
		    VOUCHER_BAD_SIGNATURE, "end entity" },
		{ "another manufacturer's MASA, device anchor", S_MASA_B, A_DEVICE,
		    VOUCHER_BAD_SIGNATURE, "not under the trusted anchors" },
	};
	struct voucher v;
	STACK_OF(X509) *ica_chain = sk_X509_new_null();
	X509 *signer, *pinned;
	EVP_PKEY *key;
	unsigned char *der;
	char err[256];
	size_t i, len;
	enum voucher_status got;

	(void)state;
	assert_non_null(ica_chain);
	assert_int_equal(sk_X509_push(ica_chain, F.ica), 1);
	/* The attacker's voucher: this device, pinned to domain 2. */
	good_voucher(&v);
	free(v.pinned_domain_cert);
	assert_int_equal(voucher_cert_der(F.dom2_ca, &v.pinned_domain_cert, &v.pinned_len), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		STACK_OF(X509) *chain = ica_chain;

		key = NULL;
		switch (rows[i].signer) {
		case S_MASA:
			signer = F.masa;
			key = F.masa_key;
			chain = F.masa_chain;
			X509_up_ref(signer);
			EVP_PKEY_up_ref(key);
			break;
		case S_MASA_B:
			signer = F.masa_b;
			key = F.masa_b_key;
			chain = NULL;
			X509_up_ref(signer);
			EVP_PKEY_up_ref(key);
			break;
		case S_IDEVID_NO_EKU:
			signer = make_signer("LKEVIL000001", 1, "critical,CA:FALSE",
			    "critical,digitalSignature", NULL, F.ica, F.ica_key, &key);
			break;
		case S_IDEVID_LAB:
			signer = F.idevid;
			key = F.idevid_key;
			X509_up_ref(signer);
			EVP_PKEY_up_ref(key);
			break;
		case S_HWMODULE_ONLY:
			signer = make_signer(NULL, 1, "critical,CA:FALSE",
			    "critical,digitalSignature", NULL, F.ica, F.ica_key, &key);
			break;
		case S_EE_UNDER_ICA:
			signer = make_signer(NULL, 0, "critical,CA:FALSE",
			    "critical,digitalSignature", NULL, F.ica, F.ica_key, &key);
			break;
		default:	/* S_CA_TRUE */
			signer = make_signer(NULL, 0, "critical,CA:TRUE",
			    "critical,digitalSignature,keyCertSign", NULL, F.root_cert,
			    F.root_key, &key);
			chain = NULL;
			break;
		}
		der = sign_chain(&v, signer, key, chain, &len);
		pinned = NULL;
		err[0] = '\0';
		got = voucher_pledge_verify(der, len, rows[i].anchor == A_DEVICE ? F.anchors :
		    F.root, F.serial, "N1", time(NULL), &pinned, NULL, err, sizeof(err));
		if (got != rows[i].want)
			fail_msg("row '%s': got %s (%s), want %s", rows[i].name,
			    voucher_status_name(got), err, voucher_status_name(rows[i].want));
		if (rows[i].want_err != NULL && strstr(err, rows[i].want_err) == NULL)
			fail_msg("row '%s': error '%s', want '%s'", rows[i].name, err,
			    rows[i].want_err);
		if (got == VOUCHER_OK)
			assert_int_equal(X509_cmp(pinned, F.dom2_ca), 0);
		else
			assert_null(pinned);
		X509_free(pinned);
		free(der);
		X509_free(signer);
		EVP_PKEY_free(key);
	}
	voucher_clear(&v);
	sk_X509_free(ica_chain);
}

static void
test_registrar_check(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(voucher_registrar_check(F.dom_ca, F.reg, NULL, err, sizeof(err)), 0);
	/* The pinned certificate may be the registrar's own. */
	assert_int_equal(voucher_registrar_check(F.reg, F.reg, NULL, err, sizeof(err)), 0);
	/* A registrar of another domain is not under the pinned domain CA. */
	assert_int_equal(voucher_registrar_check(F.dom_ca, F.reg2, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pinned-domain-cert"));
	assert_int_equal(voucher_registrar_check(F.dom2_ca, F.reg, NULL, err, sizeof(err)), -1);
	assert_int_equal(voucher_registrar_check(NULL, F.reg, NULL, err, sizeof(err)), -1);
}

static void
test_nonce(void **state)
{
	char a[VOUCHER_NONCE_MAX + 1], b[VOUCHER_NONCE_MAX + 1];

	(void)state;
	assert_int_equal(voucher_nonce_new(a), 0);
	assert_int_equal(voucher_nonce_new(b), 0);
	assert_int_equal(strlen(a), 24);	/* base64 of 16 bytes */
	assert_string_not_equal(a, b);
}

static void
test_aki_ski(void **state)
{
	unsigned char *aki, *ski;
	size_t alen, slen;
	X509 *ica;
	char err[256];

	(void)state;
	ica = pki_cert_read(F.a.manufacturer_ica, err, sizeof(err));
	assert_non_null(ica);
	assert_int_equal(voucher_cert_aki(F.idevid, &aki, &alen), 0);
	assert_int_equal(voucher_cert_ski(ica, &ski, &slen), 0);
	assert_int_equal(alen, slen);
	assert_memory_equal(aki, ski, alen);
	free(aki);
	free(ski);
	X509_free(ica);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_json_roundtrip),
		cmocka_unit_test(test_json_malformed),
		cmocka_unit_test(test_cms),
		cmocka_unit_test(test_cms_tampered),
		cmocka_unit_test(test_cms_wrong_type),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_pledge_verify),
		cmocka_unit_test(test_voucher_signer),
		cmocka_unit_test(test_registrar_check),
		cmocka_unit_test(test_nonce),
		cmocka_unit_test(test_aki_ski),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
