/*
 * Unit tests for certs/ca.c: the LDevID profile, field by field, and the key rule; who is a
 * registrar (id-kp-cmcRA: never in an LDevID, always in the registrar certificate of
 * `latchkeyctl init` and of its --reissue-registrar-cert upgrade) with pki_cert_has_eku().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>
#include <unistd.h>

#include "certs/ca.h"
#include "certs/labpki.h"
#include "certs/p7.h"
#include "certs/pki.h"
#include "tests/unit/testutil.h"

#define CRL_URL		"http://ca.example.test/domain.crl"
#define OCSP_URL	"http://ocsp.example.test/"
#define DEV_SERIAL	"LK0123ABCDEF"

/* HardwareModuleName { 1.3.6.1.4.1.32473.1.1, "LK0123ABCDEF" } (RFC 4108 §5). */
static const unsigned char hwmodule[] = {
	0x30, 0x1a,
	0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xfd, 0x59, 0x01, 0x01,
	0x04, 0x0c, 'L', 'K', '0', '1', '2', '3', 'A', 'B', 'C', 'D', 'E', 'F',
};

/* A self-signed CA with SKI, like domainca_create() makes, built here so the test stands alone. */
static X509 *
make_ca(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL :
	    EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
	static const struct {
		int nid;
		const char *val;
	} exts[] = {
		{ NID_basic_constraints, "critical,CA:TRUE,pathlen:0" },
		{ NID_key_usage, "critical,keyCertSign,cRLSign" },
		{ NID_subject_key_identifier, "hash" },
	};
	size_t i;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(pki_serial_random(x), 0);
	assert_int_equal(X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName,
	    MBSTRING_ASC, (const unsigned char *)"test Domain CA", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].val);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, key, md) > 0);
	return x;
}

/* Keys pki_key_new() does not make on purpose (weak ones) come from here. */
static EVP_PKEY *
make_key(const char *type)
{
	EVP_PKEY *k;

	if (strcmp(type, "rsa1024") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	else if (strcmp(type, "secp256k1") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	else
		k = pki_key_new(type, NULL, 0);
	assert_non_null(k);
	return k;
}

static size_t
spki_of(EVP_PKEY *k, unsigned char **der)
{
	int n;

	*der = NULL;
	n = i2d_PUBKEY(k, der);
	assert_true(n > 0);
	return (size_t)n;
}

struct fixture {
	EVP_PKEY	*ca_key;
	X509		*ca;
	struct ca_profile prof;
};

static int
setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.ca_key = make_key("p256");
	f.ca = make_ca(f.ca_key);
	f.prof.lifetime_days = 90;
	snprintf(f.prof.crl_url, sizeof(f.prof.crl_url), "%s", CRL_URL);
	snprintf(f.prof.ocsp_url, sizeof(f.prof.ocsp_url), "%s", OCSP_URL);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	X509_free(f->ca);
	EVP_PKEY_free(f->ca_key);
	return 0;
}

static long
secs_between(const ASN1_TIME *from, const ASN1_TIME *to)
{
	int days, secs;

	assert_int_equal(ASN1_TIME_diff(&days, &secs, from, to), 1);
	return (long)days * 86400 + secs;
}

static const char *
uri_of(const GENERAL_NAME *gn)
{
	assert_int_equal(gn->type, GEN_URI);
	return (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
}

static void
check_entry(X509_NAME *nm, int idx, int nid, int type, const char *want)
{
	X509_NAME_ENTRY *ne = X509_NAME_get_entry(nm, idx);
	const ASN1_STRING *s;

	assert_non_null(ne);
	assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne)), nid);
	s = X509_NAME_ENTRY_get_data(ne);
	assert_int_equal(ASN1_STRING_type(s), type);
	assert_int_equal(ASN1_STRING_length(s), strlen(want));
	assert_memory_equal(ASN1_STRING_get0_data(s), want, strlen(want));
}

static void
test_profile_p256(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *dev = make_key("p256"), *pk;
	unsigned char *spki, *der = NULL, *hw = NULL, *back = NULL, md[EVP_MAX_MD_SIZE];
	const unsigned char *p;
	size_t spki_len, hwlen;
	X509 *c, *c2, *rt;
	X509_NAME *subj;
	BIGNUM *bn;
	ASN1_TIME *now_t;
	BASIC_CONSTRAINTS *bc;
	CRL_DIST_POINTS *cdp;
	AUTHORITY_INFO_ACCESS *aia;
	ACCESS_DESCRIPTION *ad;
	DIST_POINT *dp;
	GENERAL_NAMES *san;
	const ASN1_OCTET_STRING *ski, *aki;
	const ASN1_BIT_STRING *bits;
	unsigned int mdlen;
	char err[256] = "";
	long d;
	int n, crit;

	spki_len = spki_of(dev, &spki);
	c = ca_issue_ldevid(f->ca, f->ca_key, &f->prof, spki, spki_len, DEV_SERIAL, hwmodule,
	    sizeof(hwmodule), err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(err, "");

	/* version 3 */
	assert_int_equal(X509_get_version(c), X509_VERSION_3);

	/* serial: positive, about 128 bits, fresh each time */
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
	assert_non_null(bn);
	assert_false(BN_is_negative(bn));
	assert_true(BN_num_bits(bn) >= 120 && BN_num_bits(bn) <= 128);
	BN_free(bn);
	c2 = ca_issue_ldevid(f->ca, f->ca_key, &f->prof, spki, spki_len, DEV_SERIAL, hwmodule,
	    sizeof(hwmodule), err, sizeof(err));
	assert_non_null(c2);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(c),
	    X509_get0_serialNumber(c2)), 0);
	X509_free(c2);

	/* issuer */
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(f->ca)), 0);

	/* validity: notBefore = now - 5 min, notAfter = now + 90 days */
	now_t = ASN1_TIME_set(NULL, time(NULL));
	assert_non_null(now_t);
	d = secs_between(X509_get0_notBefore(c), now_t);
	assert_true(d >= 300 && d <= 305);
	d = secs_between(now_t, X509_get0_notAfter(c));
	assert_true(d >= 90L * 86400 - 5 && d <= 90L * 86400);
	ASN1_TIME_free(now_t);

	/* subject: serialNumber (PrintableString) then CN */
	subj = X509_get_subject_name(c);
	assert_int_equal(X509_NAME_entry_count(subj), 2);
	check_entry(subj, 0, NID_serialNumber, V_ASN1_PRINTABLESTRING, DEV_SERIAL);
	check_entry(subj, 1, NID_commonName, V_ASN1_UTF8STRING, DEV_SERIAL);

	/* SAN: exactly one otherName hardwareModuleName, bytes as given */
	san = X509_get_ext_d2i(c, NID_subject_alt_name, &crit, NULL);
	assert_non_null(san);
	assert_int_equal(crit, 0);
	assert_int_equal(sk_GENERAL_NAME_num(san), 1);
	assert_int_equal(sk_GENERAL_NAME_value(san, 0)->type, GEN_OTHERNAME);
	GENERAL_NAMES_free(san);
	assert_int_equal(pki_cert_hwmodule(c, &hw, &hwlen), 0);
	assert_int_equal(hwlen, sizeof(hwmodule));
	assert_memory_equal(hw, hwmodule, hwlen);
	OPENSSL_free(hw);

	/* basicConstraints CA:FALSE critical */
	bc = X509_get_ext_d2i(c, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_int_equal(bc->ca, 0);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);

	/* KU digitalSignature only, critical; EKU clientAuth + serverAuth */
	assert_int_equal(X509_get_key_usage(c), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(c,
	    X509_get_ext_by_NID(c, NID_key_usage, -1))), 1);
	assert_int_equal(X509_get_extended_key_usage(c), XKU_SSL_CLIENT | XKU_SSL_SERVER);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(c,
	    X509_get_ext_by_NID(c, NID_ext_key_usage, -1))), 0);

	/* SKI = SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 (1)); AKI = CA SKI */
	ski = X509_get0_subject_key_id(c);
	assert_non_null(ski);
	bits = X509_get0_pubkey_bitstr(c);
	assert_int_equal(EVP_Digest(bits->data, bits->length, md, &mdlen, EVP_sha1(), NULL), 1);
	assert_int_equal(ASN1_STRING_length(ski), mdlen);
	assert_memory_equal(ASN1_STRING_get0_data(ski), md, mdlen);
	aki = X509_get0_authority_key_id(c);
	assert_non_null(aki);
	assert_int_equal(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(f->ca)), 0);

	/* CRL DP and AIA OCSP */
	cdp = X509_get_ext_d2i(c, NID_crl_distribution_points, NULL, NULL);
	assert_non_null(cdp);
	assert_int_equal(sk_DIST_POINT_num(cdp), 1);
	dp = sk_DIST_POINT_value(cdp, 0);
	assert_int_equal(dp->distpoint->type, 0);
	assert_string_equal(uri_of(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0)),
	    CRL_URL);
	CRL_DIST_POINTS_free(cdp);
	aia = X509_get_ext_d2i(c, NID_info_access, NULL, NULL);
	assert_non_null(aia);
	assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 1);
	ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
	assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_OCSP);
	assert_string_equal(uri_of(ad->location), OCSP_URL);
	AUTHORITY_INFO_ACCESS_free(aia);

	/* signature: ECDSA-SHA256 by the CA key */
	assert_int_equal(X509_get_signature_nid(c), NID_ecdsa_with_SHA256);
	assert_int_equal(X509_verify(c, X509_get0_pubkey(f->ca)), 1);

	/* the key in the certificate is the input key, bit for bit */
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c), &back);
	assert_int_equal(n, spki_len);
	assert_memory_equal(back, spki, spki_len);
	OPENSSL_free(back);
	n = i2d_X509(c, &der);
	assert_true(n > 0);
	p = der;
	rt = d2i_X509(NULL, &p, n);
	assert_non_null(rt);
	pk = X509_get0_pubkey(rt);
	assert_non_null(pk);
	assert_int_equal(EVP_PKEY_eq(pk, dev), 1);
	assert_int_equal(X509_verify(rt, X509_get0_pubkey(f->ca)), 1);
	X509_free(rt);
	OPENSSL_free(der);

	X509_free(c);
	OPENSSL_free(spki);
	EVP_PKEY_free(dev);
}

/* Without URLs or hardwareModuleName those extensions are absent; default lifetime 365 d. */
static void
test_profile_minimal(void **state)
{
	struct fixture *f = *state;
	struct ca_profile prof;
	EVP_PKEY *dev = make_key("p256");
	unsigned char *spki;
	size_t spki_len;
	ASN1_TIME *now_t;
	X509 *c;
	long d;

	memset(&prof, 0, sizeof(prof));
	spki_len = spki_of(dev, &spki);
	c = ca_issue_ldevid(f->ca, f->ca_key, &prof, spki, spki_len, "dev_1", NULL, 0, NULL, 0);
	assert_non_null(c);
	assert_int_equal(X509_get_ext_by_NID(c, NID_subject_alt_name, -1), -1);
	assert_int_equal(X509_get_ext_by_NID(c, NID_crl_distribution_points, -1), -1);
	assert_int_equal(X509_get_ext_by_NID(c, NID_info_access, -1), -1);
	assert_int_equal(X509_get_ext_count(c), 5);	/* BC, KU, EKU, SKI, AKI */
	/* '_' is not PrintableString: serialNumber falls back to UTF8String */
	check_entry(X509_get_subject_name(c), 0, NID_serialNumber, V_ASN1_UTF8STRING, "dev_1");
	now_t = ASN1_TIME_set(NULL, time(NULL));
	d = secs_between(now_t, X509_get0_notAfter(c));
	assert_true(d >= 365L * 86400 - 5 && d <= 365L * 86400);
	ASN1_TIME_free(now_t);
	X509_free(c);
	OPENSSL_free(spki);
	EVP_PKEY_free(dev);
}

/* The key rule, as a table: allowed subject keys and the ones refused. */
static void
test_subject_keys(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char	*type;
		int		 ok;
		const char	*desc;
	} cases[] = {
		{ "p256", 1, "P-256" },
		{ "p384", 1, "P-384" },
		{ "ed25519", 1, "Ed25519" },
		{ "rsa2048", 1, "RSA-2048" },
		{ "rsa1024", 0, "RSA-1024" },
		{ "secp256k1", 0, "secp256k1" },
	};
	size_t i, spki_len;
	unsigned char *spki, *back;
	const unsigned char *p;
	char err[256], desc[32];
	X509_PUBKEY *xpk;
	EVP_PKEY *k;
	X509 *c;
	int n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = make_key(cases[i].type);
		spki_len = spki_of(k, &spki);
		err[0] = '\0';
		c = ca_issue_ldevid(f->ca, f->ca_key, &f->prof, spki, spki_len, DEV_SERIAL,
		    NULL, 0, err, sizeof(err));
		p = spki;
		xpk = d2i_X509_PUBKEY(NULL, &p, (long)spki_len);
		assert_non_null(xpk);
		if (cases[i].ok) {
			assert_non_null(c);
			back = NULL;
			n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c), &back);
			assert_int_equal(n, spki_len);
			assert_memory_equal(back, spki, spki_len);
			OPENSSL_free(back);
			assert_int_equal(X509_verify(c, f->ca_key), 1);
			assert_int_equal(ca_key_allowed(xpk, desc, sizeof(desc), NULL, 0), 0);
			assert_string_equal(desc, cases[i].desc);
		} else {
			assert_null(c);
			assert_non_null(strstr(err, "not allowed"));
			assert_int_equal(ca_key_allowed(xpk, desc, sizeof(desc), NULL, 0), -1);
		}
		X509_PUBKEY_free(xpk);
		X509_free(c);
		OPENSSL_free(spki);
		EVP_PKEY_free(k);
	}
}

/* CA key types choose the signature algorithm (ca.h). */
static void
test_ca_key_types(void **state)
{
	static const struct {
		const char	*type;
		int		 sig_nid;
	} cases[] = {
		{ "p256", NID_ecdsa_with_SHA256 },
		{ "p384", NID_ecdsa_with_SHA384 },
		{ "ed25519", NID_ED25519 },
	};
	struct fixture *f = *state;
	EVP_PKEY *cak, *dev = make_key("p256");
	unsigned char *spki;
	size_t i, spki_len;
	X509 *ca, *c;

	spki_len = spki_of(dev, &spki);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cak = make_key(cases[i].type);
		ca = make_ca(cak);
		c = ca_issue_ldevid(ca, cak, &f->prof, spki, spki_len, DEV_SERIAL, hwmodule,
		    sizeof(hwmodule), NULL, 0);
		assert_non_null(c);
		assert_int_equal(X509_get_signature_nid(c), cases[i].sig_nid);
		assert_int_equal(X509_verify(c, cak), 1);
		assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c),
		    X509_get0_subject_key_id(ca)), 0);
		X509_free(c);
		X509_free(ca);
		EVP_PKEY_free(cak);
	}
	OPENSSL_free(spki);
	EVP_PKEY_free(dev);
}

/* Bad inputs are refused with a message, never signed. */
static void
test_bad_inputs(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *dev = make_key("p256");
	unsigned char *spki, *spki2, badhw[sizeof(hwmodule)];
	unsigned char garbage[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	size_t spki_len;
	struct ca_profile longlife;
	char serial64[65], err[256];
	X509 *c;

	spki_len = spki_of(dev, &spki);
	spki2 = malloc(spki_len + 1);
	assert_non_null(spki2);
	memcpy(spki2, spki, spki_len);
	spki2[spki_len] = 0;
	memset(serial64, 'A', 64);
	serial64[64] = '\0';
	memcpy(badhw, hwmodule, sizeof(badhw));
	badhw[1]++;	/* outer length one too long */
	longlife = f->prof;
	longlife.lifetime_days = 100000;

	const struct {
		const char		*name;
		const char		*serial;
		const unsigned char	*spki;
		size_t			 spki_len;
		const unsigned char	*hw;
		size_t			 hw_len;
		const struct ca_profile	*prof;
	} cases[] = {
		{ "empty serial", "", spki, spki_len, NULL, 0, &f->prof },
		{ "64-char serial", serial64, spki, spki_len, NULL, 0, &f->prof },
		{ "control char", "LK\n01", spki, spki_len, NULL, 0, &f->prof },
		{ "non-ASCII", "LK\xc3\xa9", spki, spki_len, NULL, 0, &f->prof },
		{ "NULL serial", NULL, spki, spki_len, NULL, 0, &f->prof },
		{ "garbage spki", DEV_SERIAL, garbage, sizeof(garbage), NULL, 0, &f->prof },
		{ "trailing byte", DEV_SERIAL, spki2, spki_len + 1, NULL, 0, &f->prof },
		{ "truncated spki", DEV_SERIAL, spki, spki_len - 1, NULL, 0, &f->prof },
		{ "empty spki", DEV_SERIAL, spki, 0, NULL, 0, &f->prof },
		{ "bad hwmodule", DEV_SERIAL, spki, spki_len, badhw, sizeof(badhw), &f->prof },
		{ "short hwmodule", DEV_SERIAL, spki, spki_len, hwmodule, 5, &f->prof },
		{ "lifetime", DEV_SERIAL, spki, spki_len, NULL, 0, &longlife },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		c = ca_issue_ldevid(f->ca, f->ca_key, cases[i].prof, cases[i].spki,
		    cases[i].spki_len, cases[i].serial, cases[i].hw, cases[i].hw_len, err,
		    sizeof(err));
		if (c != NULL)
			fail_msg("case '%s' was accepted", cases[i].name);
		if (err[0] == '\0')
			fail_msg("case '%s' has no error text", cases[i].name);
	}
	free(spki2);
	OPENSSL_free(spki);
	EVP_PKEY_free(dev);
}

/* Not a hard limit (machines vary, sanitizers are slow); prints the number for the record. */
static void
test_speed(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *dev = make_key("p256");
	unsigned char *spki;
	size_t spki_len;
	struct timespec a, b;
	X509 *c;
	int i, n = 200;
	double us;

	spki_len = spki_of(dev, &spki);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		c = ca_issue_ldevid(f->ca, f->ca_key, &f->prof, spki, spki_len, DEV_SERIAL,
		    hwmodule, sizeof(hwmodule), NULL, 0);
		assert_non_null(c);
		X509_free(c);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n;
	/* a figure for people, never a timed assertion (benchmarks live in make bench) */
	print_message("ca_issue_ldevid: %.1f us per certificate (incl. ECDSA signing)\n", us);
	OPENSSL_free(spki);
	EVP_PKEY_free(dev);
}

/*
 * p7 (no test file of its own yet): the certs-only response of an issued LDevID plus the CA,
 * and what the decoder refuses.
 */
static void
test_p7_certs_only(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *dev = make_key("p256");
	unsigned char *spki, *der, *der2 = NULL, *buf;
	size_t spki_len, len;
	STACK_OF(X509) *got;
	X509 *c, *certs[2];
	PKCS7 *p7;
	char err[256];
	int n;

	spki_len = spki_of(dev, &spki);
	c = ca_issue_ldevid(f->ca, f->ca_key, &f->prof, spki, spki_len, DEV_SERIAL, NULL, 0,
	    NULL, 0);
	assert_non_null(c);
	certs[0] = c;
	certs[1] = f->ca;
	assert_int_equal(p7_certs_encode(certs, 2, &der, &len, err, sizeof(err)), 0);

	/* RFC 7030 §4.2.3: SignedData, no signers, detached id-data content */
	{
		const unsigned char *p = der;

		p7 = d2i_PKCS7(NULL, &p, (long)len);
		assert_non_null(p7);
		assert_ptr_equal(p, der + len);
		assert_true(PKCS7_type_is_signed(p7));
		assert_int_equal(sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)), 0);
		assert_true(PKCS7_type_is_data(p7->d.sign->contents));
		assert_null(p7->d.sign->contents->d.data);
		PKCS7_free(p7);
	}

	got = p7_certs_decode(der, len, err, sizeof(err));
	assert_non_null(got);
	assert_int_equal(sk_X509_num(got), 2);
	n = i2d_X509(sk_X509_value(got, 0), &der2);
	assert_true(n > 0);
	{
		unsigned char *orig = NULL;
		int m = i2d_X509(c, &orig);

		assert_int_equal(m, n);
		assert_memory_equal(orig, der2, n);
		OPENSSL_free(orig);
	}
	OPENSSL_free(der2);
	assert_int_equal(X509_cmp(sk_X509_value(got, 1), f->ca), 0);
	sk_X509_pop_free(got, X509_free);

	/* refusals */
	buf = malloc(len + 1);
	assert_non_null(buf);
	memcpy(buf, der, len);
	buf[len] = 0;
	err[0] = '\0';
	assert_null(p7_certs_decode(buf, len + 1, err, sizeof(err)));	/* trailing byte */
	assert_true(err[0] != '\0');
	assert_null(p7_certs_decode(buf, len - 3, err, sizeof(err)));	/* truncated */
	assert_null(p7_certs_decode(buf, 0, err, sizeof(err)));
	memset(buf, 0x42, len);
	assert_null(p7_certs_decode(buf, len, err, sizeof(err)));	/* garbage */
	free(buf);
	assert_int_equal(p7_certs_encode(certs, 0, &buf, &len, err, sizeof(err)), -1);
	free(der);

	/* a SignedData without certificates, and a non-SignedData */
	{
		PKCS7 *empty = PKCS7_new(), *data = PKCS7_new();
		unsigned char *e = NULL;
		int el;

		assert_int_equal(PKCS7_set_type(empty, NID_pkcs7_signed), 1);
		assert_int_equal(PKCS7_content_new(empty, NID_pkcs7_data), 1);
		el = i2d_PKCS7(empty, &e);
		assert_true(el > 0);
		err[0] = '\0';
		assert_null(p7_certs_decode(e, (size_t)el, err, sizeof(err)));
		assert_non_null(strstr(err, "no certificates"));
		OPENSSL_free(e);
		e = NULL;
		assert_int_equal(PKCS7_set_type(data, NID_pkcs7_data), 1);
		el = i2d_PKCS7(data, &e);
		assert_true(el > 0);
		assert_null(p7_certs_decode(e, (size_t)el, err, sizeof(err)));
		assert_non_null(strstr(err, "not a SignedData"));
		OPENSSL_free(e);
		PKCS7_free(empty);
		PKCS7_free(data);
	}
	X509_free(c);
	OPENSSL_free(spki);
	EVP_PKEY_free(dev);
}

/* A copy of cert under the domain CA ca/key with its extendedKeyUsage replaced by ekus. */
static X509 *
with_eku(X509 *cert, X509 *ca, EVP_PKEY *key, const char *const *ekus, size_t n)
{
	X509 *x = X509_dup(cert);
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int idx;
	size_t i;

	assert_non_null(x);
	while ((idx = X509_get_ext_by_NID(x, NID_ext_key_usage, -1)) >= 0)
		X509_EXTENSION_free(X509_delete_ext(x, idx));
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	for (i = 0; i < n; i++) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, ekus[i]);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/*
 * Who is a registrar (DESIGN.md "Trust model"): pki_cert_has_eku() over a table of
 * certificates, each made the way latchkey makes it, and the purposes they must (not) name.
 */
static void
test_registrar_eku(void **state)
{
	struct fixture *f = *state;
	enum { LDEVID, LDEVID_MIN, REGISTRAR, CA_CERT, OLD_REG, TWICE, ANY, NCERTS };
	static const char *const old_ekus[] = { "serverAuth,clientAuth" };
	static const char *const twice_ekus[] = { "cmcRA", "cmcRA" };
	static const char *const any_ekus[] = { "anyExtendedKeyUsage" };
	static const struct {
		const char	*what;
		int		 cert;
		int		 nid;
		int		 want;
	} rows[] = {
		{ "LDevID: clientAuth", LDEVID, NID_client_auth, 1 },
		{ "LDevID: serverAuth", LDEVID, NID_server_auth, 1 },
		{ "LDevID: never cmcRA", LDEVID, NID_cmcRA, 0 },
		{ "minimal LDevID: never cmcRA", LDEVID_MIN, NID_cmcRA, 0 },
		{ "registrar (init): serverAuth", REGISTRAR, NID_server_auth, 1 },
		{ "registrar (init): clientAuth, a client of the MASA", REGISTRAR,
		    NID_client_auth, 1 },
		{ "registrar (init): cmcRA", REGISTRAR, NID_cmcRA, 1 },
		{ "registrar (init): not codeSigning", REGISTRAR, NID_code_sign, 0 },
		{ "CA without EKU: no cmcRA", CA_CERT, NID_cmcRA, 0 },
		{ "older init's registrar: no cmcRA", OLD_REG, NID_cmcRA, 0 },
		{ "older init's registrar: serverAuth", OLD_REG, NID_server_auth, 1 },
		{ "EKU extension twice: error", TWICE, NID_cmcRA, -1 },
		{ "anyExtendedKeyUsage is not cmcRA", ANY, NID_cmcRA, 0 },
	};
	struct tu_ca ca;
	struct ca_profile prof;
	EVP_PKEY *dev = make_key("p256");
	unsigned char *spki, *der = NULL;
	const unsigned char *p;
	size_t spki_len, i;
	char err[256], path[LABPKI_PATH + 16];
	X509 *c[NCERTS], *raw;
	int n;

	tu_ca_init(&ca, "test_ca_eku", NULL);
	spki_len = spki_of(dev, &spki);
	memset(&prof, 0, sizeof(prof));
	/* LDevIDs: d2i the DER, as ca.h says (the in-memory object's key was never decoded). */
	raw = ca_issue_ldevid(f->ca, f->ca_key, &f->prof, spki, spki_len, DEV_SERIAL,
	    hwmodule, sizeof(hwmodule), err, sizeof(err));
	assert_non_null(raw);
	n = i2d_X509(raw, &der);
	assert_true(n > 0);
	p = der;
	assert_non_null(c[LDEVID] = d2i_X509(NULL, &p, n));
	OPENSSL_free(der);
	der = NULL;
	X509_free(raw);
	c[LDEVID_MIN] = ca_issue_ldevid(f->ca, f->ca_key, &prof, spki, spki_len, "dev1",
	    NULL, 0, err, sizeof(err));
	assert_non_null(c[LDEVID_MIN]);
	snprintf(path, sizeof(path), "%s/registrar.pem", ca.dir);
	assert_non_null(c[REGISTRAR] = pki_cert_read(path, err, sizeof(err)));
	assert_non_null(c[CA_CERT] = X509_dup(ca.cert));
	c[OLD_REG] = with_eku(c[REGISTRAR], ca.cert, ca.key, old_ekus, 1);
	c[TWICE] = with_eku(c[REGISTRAR], ca.cert, ca.key, twice_ekus, 2);
	c[ANY] = with_eku(c[REGISTRAR], ca.cert, ca.key, any_ekus, 1);

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		n = pki_cert_has_eku(c[rows[i].cert], rows[i].nid);
		if (n != rows[i].want)
			fail_msg("%s: pki_cert_has_eku %d, want %d", rows[i].what, n,
			    rows[i].want);
	}
	assert_int_equal(pki_cert_has_eku(NULL, NID_cmcRA), -1);
	assert_string_equal(OBJ_nid2sn(NID_cmcRA), "cmcRA");
	{
		char txt[64];

		OBJ_obj2txt(txt, sizeof(txt), OBJ_nid2obj(NID_cmcRA), 1);
		assert_string_equal(txt, PKI_OID_CMC_RA);
	}

	for (i = 0; i < NCERTS; i++)
		X509_free(c[i]);
	OPENSSL_free(spki);
	EVP_PKEY_free(dev);
	tu_ca_clear(&ca);
}

/*
 * The upgrade (latchkeyd(8), UPGRADING): a registrar.pem made by an older init lacks cmcRA;
 * domainca_reissue_registrar() issues one with it, keeping subject, subjectAltName and key,
 * and keeps the old one as registrar.pem.old. A registrar.pem from another CA is refused.
 */
static void
test_registrar_reissue(void **state)
{
	static const char *const old_ekus[] = { "serverAuth,clientAuth" };
	struct domainca_files files;
	struct tu_ca ca, other;
	char err[256], old[LABPKI_PATH + 16], path[LABPKI_PATH + 16];
	X509 *orig, *older, *now, *kept, *alien;
	int i1, i2;

	(void)state;
	tu_ca_init(&ca, "test_ca_reissue", NULL);
	snprintf(path, sizeof(path), "%s/registrar.pem", ca.dir);
	assert_non_null(orig = pki_cert_read(path, err, sizeof(err)));
	older = with_eku(orig, ca.cert, ca.key, old_ekus, 1);
	assert_int_equal(pki_certs_write(path, &older, 1, 1, err, sizeof(err)), 0);
	assert_int_equal(pki_cert_has_eku(older, NID_cmcRA), 0);

	assert_int_equal(domainca_reissue_registrar(ca.dir, &files, old, sizeof(old), err,
	    sizeof(err)), 0);
	assert_non_null(strstr(files.tls_cert, "/registrar.pem"));
	assert_non_null(strstr(old, "/registrar.pem.old"));
	assert_non_null(now = pki_cert_read(files.tls_cert, err, sizeof(err)));
	assert_non_null(kept = pki_cert_read(old, err, sizeof(err)));
	assert_int_equal(X509_cmp(kept, older), 0);
	assert_int_equal(pki_cert_has_eku(now, NID_cmcRA), 1);
	assert_int_equal(pki_cert_has_eku(now, NID_server_auth), 1);
	assert_int_equal(pki_cert_has_eku(now, NID_client_auth), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(now),
	    X509_get_subject_name(orig)), 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(now), X509_get0_pubkey(orig)), 1);
	assert_int_equal(X509_verify(now, X509_get0_pubkey(ca.cert)), 1);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(now),
	    X509_get0_serialNumber(orig)), 0);
	i1 = X509_get_ext_by_NID(now, NID_subject_alt_name, -1);
	i2 = X509_get_ext_by_NID(orig, NID_subject_alt_name, -1);
	assert_true(i1 >= 0 && i2 >= 0);
	assert_int_equal(ASN1_STRING_cmp(X509_EXTENSION_get_data(X509_get_ext(now, i1)),
	    X509_EXTENSION_get_data(X509_get_ext(orig, i2))), 0);

	/* A registrar.pem issued by another domain CA: refused, nothing written. */
	tu_ca_init(&other, "test_ca_reissue2", NULL);
	snprintf(path, sizeof(path), "%s/registrar.pem", other.dir);
	assert_non_null(alien = pki_cert_read(path, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/registrar.pem", ca.dir);
	assert_int_equal(pki_certs_write(path, &alien, 1, 1, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/registrar.key", other.dir);
	{
		char dst[LABPKI_PATH + 16];
		EVP_PKEY *k;

		assert_non_null(k = pki_key_read(path, err, sizeof(err)));
		snprintf(dst, sizeof(dst), "%s/registrar.key", ca.dir);
		assert_int_equal(pki_key_write(dst, k, 1, err, sizeof(err)), 0);
		EVP_PKEY_free(k);
	}
	err[0] = '\0';
	assert_int_equal(domainca_reissue_registrar(ca.dir, &files, old, sizeof(old), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "was not issued by"));
	assert_string_equal(old, "");
	/* A directory without a domain: a clear error. */
	assert_int_equal(domainca_reissue_registrar("/nonexistent-latchkey", &files, old,
	    sizeof(old), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent-latchkey"));

	X509_free(alien);
	X509_free(kept);
	X509_free(now);
	X509_free(older);
	X509_free(orig);
	tu_ca_clear(&other);
	tu_ca_clear(&ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_p256),
		cmocka_unit_test(test_profile_minimal),
		cmocka_unit_test(test_subject_keys),
		cmocka_unit_test(test_ca_key_types),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_p7_certs_only),
		cmocka_unit_test(test_registrar_eku),
		cmocka_unit_test(test_registrar_reissue),
		cmocka_unit_test(test_speed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
