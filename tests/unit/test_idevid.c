/*
 * Unit tests for certs/idevid.c: two lab manufacturers (labpki_create), leaves made here for
 * the failure cases, CRLs signed here, and an LDevID checked against a domain CA.
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

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/idevid.h"
#include "certs/labpki.h"
#include "certs/pki.h"
#include "tests/unit/testutil.h"

struct fix {
	char			dir[64];
	char			path[LABPKI_PATH];
	struct labpki_result	a, b;	/* two manufacturers; b is never given a CRL */
	X509			*a_ica;
	EVP_PKEY		*a_ica_key;
};

static struct fix F;

static const char *
tmp_path(const char *name)
{
	snprintf(F.path, sizeof(F.path), "%s/%s", F.dir, name);
	return F.path;
}

static int
setup(void **state)
{
	char err[256], sub[128];

	snprintf(F.dir, sizeof(F.dir), "/tmp/lk-idevid-XXXXXX");
	if (mkdtemp(F.dir) == NULL)
		return -1;
	snprintf(sub, sizeof(sub), "%s/a", F.dir);
	if (labpki_create(sub, 2, NULL, NULL, &F.a, err, sizeof(err)) == -1) {
		fprintf(stderr, "labpki a: %s\n", err);
		return -1;
	}
	snprintf(sub, sizeof(sub), "%s/b", F.dir);
	if (labpki_create(sub, 1, NULL, NULL, &F.b, err, sizeof(err)) == -1) {
		fprintf(stderr, "labpki b: %s\n", err);
		return -1;
	}
	F.a_ica = pki_cert_read(F.a.manufacturer_ica, err, sizeof(err));
	F.a_ica_key = pki_key_read(F.a.manufacturer_ica_key, err, sizeof(err));
	return F.a_ica != NULL && F.a_ica_key != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	X509_free(F.a_ica);
	EVP_PKEY_free(F.a_ica_key);
	labpki_result_free(&F.a);
	labpki_result_free(&F.b);
	tu_rmtree(F.dir);
	return 0;
}

/* First certificate of the file as the leaf, the rest as the untrusted chain. */
static X509 *
load_leaf(const char *path, STACK_OF(X509) **chain)
{
	STACK_OF(X509) *all = pki_certs_read(path, NULL, 0);

	assert_non_null(all);
	assert_true(sk_X509_num(all) >= 2);
	*chain = all;
	return sk_X509_shift(all);
}

static void
free_leaf(X509 *leaf, STACK_OF(X509) *chain)
{
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
}

static struct idevid_store *
store_with(const char *anchor1, const char *anchor2, const char *crl)
{
	struct idevid_store *st = idevid_store_new();
	char err[256];

	assert_non_null(st);
	if (anchor1 != NULL && idevid_store_add_anchor(st, anchor1, err, sizeof(err)) == -1)
		fail_msg("anchor %s: %s", anchor1, err);
	if (anchor2 != NULL && idevid_store_add_anchor(st, anchor2, err, sizeof(err)) == -1)
		fail_msg("anchor %s: %s", anchor2, err);
	if (crl != NULL && idevid_store_add_crl(st, crl, err, sizeof(err)) == -1)
		fail_msg("crl %s: %s", crl, err);
	return st;
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
 * A leaf issued by manufacturer a's ICA with the given subject serial and validity, and the
 * given basicConstraints, keyUsage and extendedKeyUsage (OpenSSL extension syntax; NULL: the
 * extension is absent).
 */
static X509 *
make_leaf_ext(const char *serial, long nb_secs, long na_secs, const char *bc, const char *ku,
    const char *eku)
{
	EVP_PKEY *k = pki_key_new("p256", NULL, 0);
	X509 *x = X509_new();
	X509_NAME *nm;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(pki_serial_random(x), 0);
	nm = X509_get_subject_name(x);
	if (serial != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_serialNumber, MBSTRING_ASC,
		    (const unsigned char *)serial, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)"test device", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(F.a_ica)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), nb_secs));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), na_secs));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	add_ext(x, F.a_ica, NID_subject_key_identifier, "hash");
	add_ext(x, F.a_ica, NID_authority_key_identifier, "keyid:always");
	if (bc != NULL)
		add_ext(x, F.a_ica, NID_basic_constraints, bc);
	if (ku != NULL)
		add_ext(x, F.a_ica, NID_key_usage, ku);
	if (eku != NULL)
		add_ext(x, F.a_ica, NID_ext_key_usage, eku);
	assert_true(X509_sign(x, F.a_ica_key, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

/* The usual test leaf: no basicConstraints, KU digitalSignature, no EKU. */
static X509 *
make_leaf(const char *serial, long nb_secs, long na_secs)
{
	return make_leaf_ext(serial, nb_secs, na_secs, NULL, "critical,digitalSignature",
	    NULL);
}

/* A CRL from a's ICA revoking `revoked` (may be NULL), written PEM or DER to path. */
static void
write_crl(const char *path, X509 *revoked, int der, long next_update_secs)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *rv;
	ASN1_TIME *t = ASN1_TIME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	FILE *f;

	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(F.a_ica)), 1);
	assert_non_null(X509_gmtime_adj(t, -3600));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_non_null(X509_gmtime_adj(t, next_update_secs));
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	if (revoked != NULL) {
		rv = X509_REVOKED_new();
		assert_non_null(rv);
		assert_int_equal(X509_REVOKED_set_serialNumber(rv,
		    (ASN1_INTEGER *)X509_get0_serialNumber(revoked)), 1);
		assert_non_null(X509_gmtime_adj(t, -60));
		assert_int_equal(X509_REVOKED_set_revocationDate(rv, t), 1);
		assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	}
	ASN1_TIME_free(t);
	/* RFC 5280 §5.2.1: AKI, so a same-named CA of another manufacturer is not confused. */
	X509V3_set_ctx(&v3, F.a_ica, NULL, NULL, crl, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
	assert_non_null(ext);
	assert_int_equal(X509_CRL_add_ext(crl, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, F.a_ica_key, EVP_sha256()) > 0);
	f = fopen(path, "wb");
	assert_non_null(f);
	if (der)
		assert_int_equal(i2d_X509_CRL_fp(f, crl), 1);
	else
		assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	fclose(f);
	X509_CRL_free(crl);
}

static void
test_good_chain(void **state)
{
	struct idevid_store *st = store_with(F.a.manufacturer_ca, NULL, NULL);
	struct idevid_info info;
	STACK_OF(X509) *chain;
	X509 *leaf = load_leaf(F.a.devices[0].cert, &chain);
	char err[256] = "", fp[PKI_FP_LEN], hex[64];
	unsigned char *hw;
	size_t hwlen;

	assert_int_equal(idevid_verify(st, leaf, chain, &info, err, sizeof(err)), IDEVID_OK);
	assert_string_equal(info.serial, F.a.devices[0].serial);
	assert_int_equal(pki_cert_fingerprint(leaf, fp), 0);
	assert_string_equal(info.fingerprint, fp);
	assert_string_equal(info.anchor, "Latchkey Lab Manufacturer Root CA");
	assert_int_equal(pki_cert_serial_hex(leaf, hex, sizeof(hex)), 0);
	assert_string_equal(info.cert_serial, hex);
	assert_int_equal(pki_cert_hwmodule(leaf, &hw, &hwlen), 0);
	assert_non_null(info.hwmodule_der);
	assert_int_equal(info.hwmodule_len, hwlen);
	assert_memory_equal(info.hwmodule_der, hw, hwlen);
	OPENSSL_free(hw);
	idevid_info_free(&info);
	assert_null(info.hwmodule_der);
	idevid_info_free(NULL);

	/* info may be NULL */
	assert_int_equal(idevid_verify(st, leaf, chain, NULL, NULL, 0), IDEVID_OK);
	free_leaf(leaf, chain);
	idevid_store_free(st);
	idevid_store_free(NULL);
}

static void
test_unknown_issuer(void **state)
{
	struct idevid_store *st = store_with(F.a.manufacturer_ca, NULL, NULL);
	struct idevid_info info;
	STACK_OF(X509) *chain;
	X509 *leaf = load_leaf(F.b.devices[0].cert, &chain);
	char err[256] = "";

	assert_int_equal(idevid_verify(st, leaf, chain, &info, err, sizeof(err)),
	    IDEVID_UNKNOWN_ISSUER);
	assert_non_null(strstr(err, "unknown manufacturer: issuer CN="));
	assert_string_equal(info.serial, F.b.devices[0].serial);	/* for the log */
	assert_null(info.hwmodule_der);
	idevid_info_free(&info);
	free_leaf(leaf, chain);

	/* a's own device without its issuing CA cannot chain either */
	leaf = load_leaf(F.a.devices[0].cert, &chain);
	assert_int_equal(idevid_verify(st, leaf, NULL, &info, err, sizeof(err)),
	    IDEVID_UNKNOWN_ISSUER);
	assert_non_null(strstr(err, "Latchkey Lab Manufacturer IDevID CA"));
	idevid_info_free(&info);
	free_leaf(leaf, chain);

	/* an empty store trusts nobody */
	idevid_store_free(st);
	st = idevid_store_new();
	leaf = load_leaf(F.a.devices[0].cert, &chain);
	assert_int_equal(idevid_verify(st, leaf, chain, &info, err, sizeof(err)),
	    IDEVID_UNKNOWN_ISSUER);
	idevid_info_free(&info);
	free_leaf(leaf, chain);
	idevid_store_free(st);
}

static void
test_two_anchors(void **state)
{
	struct idevid_store *st = store_with(F.a.manufacturer_ca, F.b.manufacturer_ca, NULL);
	const struct labpki_device *devs[] = { &F.a.devices[0], &F.a.devices[1], &F.b.devices[0] };
	struct idevid_info info;
	STACK_OF(X509) *chain;
	X509 *leaf;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		leaf = load_leaf(devs[i]->cert, &chain);
		if (idevid_verify(st, leaf, chain, &info, err, sizeof(err)) != IDEVID_OK)
			fail_msg("device %s: %s", devs[i]->serial, err);
		assert_string_equal(info.serial, devs[i]->serial);
		idevid_info_free(&info);
		free_leaf(leaf, chain);
	}
	idevid_store_free(st);

	/* a configured issuing CA is an anchor by itself (RFC 5280 §6.1.1 (d)) */
	st = store_with(F.a.manufacturer_ica, NULL, NULL);
	leaf = load_leaf(F.a.devices[1].cert, &chain);
	if (idevid_verify(st, leaf, NULL, &info, err, sizeof(err)) != IDEVID_OK)
		fail_msg("ICA as anchor: %s", err);
	assert_string_equal(info.anchor, "Latchkey Lab Manufacturer IDevID CA");
	idevid_info_free(&info);
	free_leaf(leaf, chain);
	idevid_store_free(st);
}

/*
 * Leaves made here: validity, subject and the 802.1AR end-entity profile (basicConstraints,
 * keyUsage, extendedKeyUsage), as a table. The first row also puts a's ICA into the store's
 * cache, so the later rows go through the cached path too.
 */
static void
test_leaf_table(void **state)
{
#define DS	"critical,digitalSignature"
	static const struct {
		const char		*name;
		const char		*serial;
		long			 nb, na;
		const char		*bc, *ku, *eku;
		enum idevid_status	 want;
		const char		*want_err;
	} cases[] = {
		{ "valid", "LKTEST000001", -3600, 86400, NULL, DS, NULL, IDEVID_OK, NULL },
		{ "expired", "LKTEST000002", -2 * 86400, -86400, NULL, DS, NULL, IDEVID_EXPIRED,
		    "IDevID expired" },
		{ "not yet valid", "LKTEST000003", 86400, 2 * 86400, NULL, DS, NULL,
		    IDEVID_EXPIRED, "IDevID not yet valid" },
		{ "no serialNumber", NULL, -3600, 86400, NULL, DS, NULL, IDEVID_NO_SERIAL,
		    "serialNumber" },
		{ "CA:FALSE, no EKU", "LKTEST000004", -3600, 86400, "critical,CA:FALSE", DS,
		    NULL, IDEVID_OK, NULL },
		{ "CA:TRUE leaf", "LKTEST000005", -3600, 86400, "critical,CA:TRUE", DS, NULL,
		    IDEVID_BAD_PROFILE, "CA:TRUE" },
		{ "CA:TRUE leaf, not critical", "LKTEST000006", -3600, 86400, "CA:TRUE", DS,
		    NULL, IDEVID_BAD_PROFILE, "CA:TRUE" },
		{ "CA:TRUE with keyCertSign", "LKTEST000007", -3600, 86400,
		    "critical,CA:TRUE,pathlen:0", "critical,digitalSignature,keyCertSign", NULL,
		    IDEVID_BAD_PROFILE, "CA:TRUE" },
		{ "keyUsage without digitalSignature", "LKTEST000008", -3600, 86400, NULL,
		    "critical,keyEncipherment", NULL, IDEVID_BAD_PROFILE, "digitalSignature" },
		{ "keyUsage keyCertSign only", "LKTEST000009", -3600, 86400, NULL,
		    "critical,keyCertSign", NULL, IDEVID_BAD_PROFILE, "digitalSignature" },
		{ "no keyUsage", "LKTEST000010", -3600, 86400, NULL, NULL, NULL, IDEVID_OK,
		    NULL },
		{ "keyUsage digitalSignature+keyEncipherment", "LKTEST000011", -3600, 86400,
		    NULL, "critical,digitalSignature,keyEncipherment", NULL, IDEVID_OK, NULL },
		{ "EKU without clientAuth", "LKTEST000012", -3600, 86400, NULL, DS,
		    "serverAuth", IDEVID_BAD_PROFILE, "clientAuth" },
		{ "EKU emailProtection only", "LKTEST000013", -3600, 86400, NULL, DS,
		    "emailProtection", IDEVID_BAD_PROFILE, "clientAuth" },
		{ "EKU clientAuth", "LKTEST000014", -3600, 86400, "critical,CA:FALSE", DS,
		    "clientAuth", IDEVID_OK, NULL },
		{ "EKU serverAuth+clientAuth", "LKTEST000015", -3600, 86400, NULL, DS,
		    "serverAuth,clientAuth", IDEVID_OK, NULL },
	};
#undef DS
	struct idevid_store *st = store_with(F.a.manufacturer_ca, NULL, NULL);
	STACK_OF(X509) *chain = sk_X509_new_null();
	struct idevid_info info;
	enum idevid_status got;
	char err[256];
	X509 *leaf;
	size_t i;

	assert_int_equal(sk_X509_push(chain, F.a_ica), 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		leaf = make_leaf_ext(cases[i].serial, cases[i].nb, cases[i].na, cases[i].bc,
		    cases[i].ku, cases[i].eku);
		err[0] = '\0';
		if ((got = idevid_verify(st, leaf, chain, &info, err, sizeof(err))) !=
		    cases[i].want)
			fail_msg("case '%s': got %d '%s', want %d", cases[i].name, (int)got,
			    err, (int)cases[i].want);
		if (cases[i].want_err != NULL && strstr(err, cases[i].want_err) == NULL)
			fail_msg("case '%s': error '%s'", cases[i].name, err);
		if (cases[i].want == IDEVID_OK)
			assert_string_equal(info.serial, cases[i].serial);
		idevid_info_free(&info);
		X509_free(leaf);
	}
	sk_X509_free(chain);
	idevid_store_free(st);
}

static void
test_revoked(void **state)
{
	struct idevid_store *st;
	struct idevid_info info;
	STACK_OF(X509) *chain0, *chain1, *chainb;
	X509 *leaf0 = load_leaf(F.a.devices[0].cert, &chain0);
	X509 *leaf1 = load_leaf(F.a.devices[1].cert, &chain1);
	X509 *leafb = load_leaf(F.b.devices[0].cert, &chainb);
	char err[256], pem[LABPKI_PATH], der[LABPKI_PATH], stale[LABPKI_PATH];
	const char *files[2];
	size_t i;

	snprintf(pem, sizeof(pem), "%s", tmp_path("a.crl.pem"));
	write_crl(pem, leaf0, 0, 86400);
	snprintf(der, sizeof(der), "%s", tmp_path("a.crl.der"));
	write_crl(der, leaf0, 1, 86400);
	files[0] = pem;
	files[1] = der;
	for (i = 0; i < 2; i++) {
		st = store_with(F.a.manufacturer_ca, F.b.manufacturer_ca, files[i]);
		err[0] = '\0';
		assert_int_equal(idevid_verify(st, leaf0, chain0, &info, err, sizeof(err)),
		    IDEVID_REVOKED);
		assert_string_equal(err, "IDevID revoked by manufacturer CRL");
		assert_string_equal(info.serial, F.a.devices[0].serial);
		idevid_info_free(&info);
		/* the other device of the same manufacturer is fine */
		assert_int_equal(idevid_verify(st, leaf1, chain1, NULL, err, sizeof(err)),
		    IDEVID_OK);
		/* manufacturer b has no CRL configured (and same-named CAs): not an error */
		if (idevid_verify(st, leafb, chainb, NULL, err, sizeof(err)) != IDEVID_OK)
			fail_msg("manufacturer b with a's CRL loaded: %s", err);
		idevid_store_free(st);
	}

	/* a CRL past its nextUpdate fails closed, as an internal (configuration) problem */
	snprintf(stale, sizeof(stale), "%s", tmp_path("stale.crl.pem"));
	write_crl(stale, NULL, 0, -60);
	st = store_with(F.a.manufacturer_ca, NULL, stale);
	assert_int_equal(idevid_verify(st, leaf1, chain1, NULL, err, sizeof(err)),
	    IDEVID_INTERNAL);
	assert_non_null(strstr(err, "CRL"));
	idevid_store_free(st);

	free_leaf(leaf0, chain0);
	free_leaf(leaf1, chain1);
	free_leaf(leafb, chainb);
}

/*
 * The issuing-CA cache: a second device of the same issuer is checked against the remembered
 * CA and gets the same verdict and anchor as the full path; revoked, expired and same-named
 * foreign devices are still refused with their exact reason; new anchors forget the cache.
 */
static void
test_cache(void **state)
{
	char crl[LABPKI_PATH], err[256], anchor[256], anchor_fp[PKI_FP_LEN];
	struct idevid_store *st;
	struct idevid_info info;
	STACK_OF(X509) *chain0, *chain1, *chainb, *ica = sk_X509_new_null();
	X509 *leaf0 = load_leaf(F.a.devices[0].cert, &chain0);
	X509 *leaf1 = load_leaf(F.a.devices[1].cert, &chain1);
	X509 *leafb = load_leaf(F.b.devices[0].cert, &chainb);
	X509 *old;
	size_t cached;
	unsigned long hits;

	snprintf(crl, sizeof(crl), "%s", tmp_path("cache.crl.pem"));
	write_crl(crl, leaf0, 0, 86400);
	st = store_with(F.a.manufacturer_ca, F.b.manufacturer_ca, crl);
	assert_int_equal(idevid_verify(st, leaf1, chain1, &info, err, sizeof(err)), IDEVID_OK);
	snprintf(anchor, sizeof(anchor), "%s", info.anchor);
	snprintf(anchor_fp, sizeof(anchor_fp), "%s", info.anchor_fp);
	idevid_info_free(&info);
	idevid_store_stats(st, &cached, &hits);
	assert_int_equal(cached, 1);
	assert_int_equal(hits, 0);

	assert_int_equal(idevid_verify(st, leaf1, chain1, &info, err, sizeof(err)), IDEVID_OK);
	idevid_store_stats(st, &cached, &hits);
	assert_int_equal(hits, 1);
	assert_string_equal(info.anchor, anchor);
	assert_string_equal(info.anchor_fp, anchor_fp);
	assert_string_equal(info.serial, F.a.devices[1].serial);
	assert_non_null(info.hwmodule_der);
	idevid_info_free(&info);

	/* revoked by the issuing CA's CRL: refused, with the full path's reason */
	assert_int_equal(idevid_verify(st, leaf0, chain0, NULL, err, sizeof(err)),
	    IDEVID_REVOKED);
	assert_string_equal(err, "IDevID revoked by manufacturer CRL");
	/* expired, issued by the cached CA */
	old = make_leaf("LKTEST000009", -2 * 86400, -86400);
	assert_int_equal(sk_X509_push(ica, F.a_ica), 1);
	assert_int_equal(idevid_verify(st, old, ica, NULL, err, sizeof(err)), IDEVID_EXPIRED);
	assert_string_equal(err, "IDevID expired");
	X509_free(old);
	/* the same-named issuing CA of manufacturer b (another key) is not the cached one */
	idevid_store_stats(st, &cached, &hits);
	assert_int_equal(hits, 1);
	idevid_store_free(st);

	st = store_with(F.a.manufacturer_ca, NULL, NULL);
	assert_int_equal(idevid_verify(st, leaf1, chain1, NULL, err, sizeof(err)), IDEVID_OK);
	assert_int_equal(idevid_verify(st, leafb, chainb, NULL, err, sizeof(err)),
	    IDEVID_UNKNOWN_ISSUER);
	assert_non_null(strstr(err, "unknown manufacturer"));
	/* the same verdict as without the cache: a device that leaves out its CA is refused */
	assert_int_equal(idevid_verify(st, leaf1, NULL, NULL, err, sizeof(err)),
	    IDEVID_UNKNOWN_ISSUER);
	assert_int_equal(idevid_verify(st, leaf1, chain1, NULL, err, sizeof(err)), IDEVID_OK);
	idevid_store_stats(st, &cached, &hits);
	assert_int_equal(cached, 1);
	assert_int_equal(hits, 1);
	/* a new anchor forgets what was verified under the old set */
	if (idevid_store_add_anchor(st, F.b.manufacturer_ca, err, sizeof(err)) == -1)
		fail_msg("anchor: %s", err);
	idevid_store_stats(st, &cached, &hits);
	assert_int_equal(cached, 0);
	idevid_store_free(st);

	sk_X509_free(ica);
	free_leaf(leaf0, chain0);
	free_leaf(leaf1, chain1);
	free_leaf(leafb, chainb);
}

static void
test_store_errors(void **state)
{
	struct idevid_store *st = idevid_store_new();
	char err[256];
	FILE *f;

	err[0] = '\0';
	assert_int_equal(idevid_store_add_anchor(st, tmp_path("missing.pem"), err, sizeof(err)),
	    -1);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(idevid_store_add_crl(st, tmp_path("missing.crl"), err, sizeof(err)),
	    -1);
	assert_true(err[0] != '\0');
	f = fopen(tmp_path("junk.crl"), "w");
	assert_non_null(f);
	fputs("not a CRL at all\n", f);
	fclose(f);
	err[0] = '\0';
	assert_int_equal(idevid_store_add_crl(st, tmp_path("junk.crl"), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no CRL"));
	f = fopen(tmp_path("junk.der"), "w");
	assert_non_null(f);
	fputs("\x30\x03\x02\x01\x01", f);
	fclose(f);
	assert_int_equal(idevid_store_add_crl(st, tmp_path("junk.der"), err, sizeof(err)), -1);
	/* a certificate file is not a CRL */
	assert_int_equal(idevid_store_add_crl(st, F.a.manufacturer_ca, err, sizeof(err)), -1);
	idevid_store_free(st);
}

/* simplereenroll: an LDevID from ca_issue_ldevid verifies against the domain CA. */
static void
test_ldevid(void **state)
{
	struct domainca_files dc;
	struct ca_profile prof;
	struct idevid_store *st;
	struct idevid_info info;
	EVP_PKEY *cak, *dev = pki_key_new("p256", NULL, 0);
	unsigned char *spki = NULL, *hw, *der = NULL;
	const unsigned char *p;
	size_t hwlen;
	X509 *ca, *ld, *idev, *issued;
	STACK_OF(X509) *chain;
	char err[256], sub[128];
	int n;

	snprintf(sub, sizeof(sub), "%s/domain", F.dir);
	if (domainca_create(sub, "example.test", "127.0.0.1", NULL, &dc, err, sizeof(err)) == -1)
		fail_msg("domainca_create: %s", err);
	ca = pki_cert_read(dc.ca_cert, NULL, 0);
	cak = pki_key_read(dc.ca_key, NULL, 0);
	assert_non_null(ca);
	assert_non_null(cak);
	idev = load_leaf(F.a.devices[0].cert, &chain);
	assert_int_equal(pki_cert_hwmodule(idev, &hw, &hwlen), 0);
	memset(&prof, 0, sizeof(prof));
	n = i2d_PUBKEY(dev, &spki);
	assert_true(n > 0);
	issued = ca_issue_ldevid(ca, cak, &prof, spki, (size_t)n, F.a.devices[0].serial, hw,
	    hwlen, err, sizeof(err));
	assert_non_null(issued);
	/* as the registrar sees it: DER from the signer (ca.h) */
	n = i2d_X509(issued, &der);
	assert_true(n > 0);
	p = der;
	ld = d2i_X509(NULL, &p, n);
	assert_non_null(ld);
	X509_free(issued);
	OPENSSL_free(der);
	st = store_with(dc.ca_cert, NULL, NULL);
	if (idevid_verify(st, ld, NULL, &info, err, sizeof(err)) != IDEVID_OK)
		fail_msg("LDevID: %s", err);
	assert_string_equal(info.serial, F.a.devices[0].serial);
	assert_string_equal(info.anchor, "example.test Domain CA");
	assert_int_equal(info.hwmodule_len, hwlen);
	assert_memory_equal(info.hwmodule_der, hw, hwlen);
	idevid_info_free(&info);
	/* and the IDevID does not verify against the domain CA */
	assert_int_equal(idevid_verify(st, idev, chain, NULL, err, sizeof(err)),
	    IDEVID_UNKNOWN_ISSUER);
	idevid_store_free(st);
	X509_free(ld);
	free_leaf(idev, chain);
	OPENSSL_free(hw);
	OPENSSL_free(spki);
	X509_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(dev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_chain),
		cmocka_unit_test(test_unknown_issuer),
		cmocka_unit_test(test_two_anchors),
		cmocka_unit_test(test_leaf_table),
		cmocka_unit_test(test_revoked),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_store_errors),
		cmocka_unit_test(test_ldevid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
