/*
 * Unit tests for certs/crl.c: the CRL read back field by field with OpenSSL, its signature for
 * each CA key type, a foreign tool (the openssl command) accepting it, a 100,000-entry CRL, the
 * reason names and the signer framing (round trip and a table of malformed inputs).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/crl.h"
#include "certs/labpki.h"
#include "certs/pki.h"
#include "tests/unit/testutil.h"

#define T0	1767225600LL	/* 2026-01-01T00:00:00Z */

/* A domain CA of key_type in a fresh temporary directory. */
static struct tu_ca *
ca_make(const char *key_type)
{
	struct tu_ca *ca = calloc(1, sizeof(*ca));

	assert_non_null(ca);
	tu_ca_init(ca, "test_crl", key_type);
	return ca;
}

static void
ca_free(struct tu_ca *ca)
{
	if (ca == NULL)
		return;
	tu_ca_clear(ca);
	free(ca);
}

static int
group_setup(void **state)
{
	*state = ca_make(NULL);
	return 0;
}

static int
group_teardown(void **state)
{
	ca_free(*state);
	return 0;
}

static int64_t
asn1_time_epoch(const ASN1_TIME *t)
{
	struct tm	tm;

	assert_non_null(t);
	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return (int64_t)timegm(&tm);
}

static void
serial_hex(const ASN1_INTEGER *ai, char *out, size_t outlen)
{
	BIGNUM	*bn = ASN1_INTEGER_to_BN(ai, NULL);
	char	*hex;

	assert_non_null(bn);
	hex = BN_bn2hex(bn);
	assert_non_null(hex);
	snprintf(out, outlen, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
}

/* -1 when the entry has no reasonCode extension. */
static int
revoked_reason(X509_REVOKED *rev)
{
	ASN1_ENUMERATED	*e;
	int		 crit = 0;
	long		 v;

	e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	if (e == NULL) {
		assert_int_equal(crit, -1);	/* absent, not unparsable */
		return -1;
	}
	v = ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return (int)v;
}

static X509_CRL *
crl_parse(const unsigned char *der, size_t len)
{
	const unsigned char	*p = der;
	X509_CRL		*crl;

	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_ptr_equal(p, der + len);		/* nothing after the CRL */
	return crl;
}

static void
test_crl_fields(void **state)
{
	struct tu_ca		*ca = *state;
	/* out of order, mixed case, a leading zero, every kind of reason */
	static const struct crl_entry in[] = {
		{ "7F00AA", T0 - 300, CRL_RC_KEY_COMPROMISE },
		{ "00ab", T0 - 200, CRL_RC_NONE },
		{ "80", T0 - 100, CRL_RC_AA_COMPROMISE },
		{ "1", T0 - 50, CRL_RC_UNSPECIFIED },
		{ "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", T0 - 10, CRL_RC_CESSATION },
		{ "2", 2556144000LL /* 2051-01-01 */, CRL_RC_SUPERSEDED },
	};
	/* expected order: by numeric value */
	static const struct {
		const char	*hex;
		int64_t		 t;
		int		 reason;
	} want[] = {
		{ "01", T0 - 50, 0 },
		{ "02", 2556144000LL, 4 },
		{ "80", T0 - 100, 10 },
		{ "AB", T0 - 200, -1 },
		{ "7F00AA", T0 - 300, 1 },
		{ "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", T0 - 10, 5 },
	};
	STACK_OF(X509_REVOKED)	*revs;
	X509_REVOKED		*rev;
	X509_CRL		*crl;
	ASN1_INTEGER		*num;
	AUTHORITY_KEYID		*akid;
	const ASN1_OCTET_STRING	*ski;
	unsigned char		*der = NULL;
	size_t			 len, i;
	char			 err[256], hex[80];

	assert_int_equal(crl_build(ca->cert, ca->key, in, sizeof(in) / sizeof(in[0]), 42, T0, 24,
	    &der, &len, err, sizeof(err)), 0);
	crl = crl_parse(der, len);
	assert_int_equal(X509_CRL_verify(crl, ca->key), 1);
	assert_int_equal(X509_CRL_get_version(crl), 1);		/* v2 */
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca->cert)),
	    0);
	assert_int_equal(X509_CRL_get_signature_nid(crl), NID_ecdsa_with_SHA256);
	assert_true(asn1_time_epoch(X509_CRL_get0_lastUpdate(crl)) == T0);
	assert_true(asn1_time_epoch(X509_CRL_get0_nextUpdate(crl)) == T0 + 24 * 3600);
	assert_int_equal(ASN1_STRING_type(X509_CRL_get0_lastUpdate(crl)), V_ASN1_UTCTIME);

	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_non_null(num);
	assert_int_equal(ASN1_INTEGER_get(num), 42);
	ASN1_INTEGER_free(num);
	akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	ski = X509_get0_subject_key_id(ca->cert);
	assert_non_null(ski);
	assert_non_null(akid->keyid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, ski), 0);
	assert_null(akid->issuer);
	AUTHORITY_KEYID_free(akid);
	assert_int_equal(X509_CRL_get_ext_count(crl), 2);

	revs = X509_CRL_get_REVOKED(crl);
	assert_non_null(revs);
	assert_int_equal(sk_X509_REVOKED_num(revs), sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		rev = sk_X509_REVOKED_value(revs, (int)i);
		serial_hex(X509_REVOKED_get0_serialNumber(rev), hex, sizeof(hex));
		assert_string_equal(hex, want[i].hex);
		assert_true(asn1_time_epoch(X509_REVOKED_get0_revocationDate(rev)) == want[i].t);
		assert_int_equal(revoked_reason(rev), want[i].reason);
		assert_int_equal(X509_REVOKED_get_ext_count(rev), want[i].reason == -1 ? 0 : 1);
	}
	/* RFC 5280 §5.1.2.4: from 2050 on, GeneralizedTime */
	rev = sk_X509_REVOKED_value(revs, 1);
	assert_int_equal(ASN1_STRING_type(X509_REVOKED_get0_revocationDate(rev)),
	    V_ASN1_GENERALIZEDTIME);
	rev = sk_X509_REVOKED_value(revs, 0);
	assert_int_equal(ASN1_STRING_type(X509_REVOKED_get0_revocationDate(rev)),
	    V_ASN1_UTCTIME);
	X509_CRL_free(crl);
	free(der);
}

/* An LDevID's own chain check fails once its serial is on the CRL, and passes before. */
static X509 *
ldevid_make(struct tu_ca *ca)
{
	struct ca_profile	 prof;
	EVP_PKEY		*k;
	unsigned char		*spki = NULL;
	const unsigned char	*p;
	X509			*leaf;
	char			 err[256];
	int			 n;

	memset(&prof, 0, sizeof(prof));
	prof.lifetime_days = 30;
	k = pki_key_new(NULL, err, sizeof(err));
	assert_non_null(k);
	n = i2d_PUBKEY(k, &spki);
	assert_true(n > 0);
	leaf = ca_issue_ldevid(ca->cert, ca->key, &prof, spki, (size_t)n, "LK0123ABCDEF", NULL,
	    0, err, sizeof(err));
	if (leaf == NULL)
		fail_msg("ca_issue_ldevid: %s", err);
	OPENSSL_free(spki);
	/* as a device would hold it: from DER (the in-memory key is not decoded yet) */
	spki = NULL;
	n = i2d_X509(leaf, &spki);
	assert_true(n > 0);
	X509_free(leaf);
	p = spki;
	leaf = d2i_X509(NULL, &p, n);
	assert_non_null(leaf);
	OPENSSL_free(spki);
	EVP_PKEY_free(k);
	return leaf;
}

/* X509_verify_cert with CRL checking; returns the verify error (X509_V_OK on success). */
static int
chain_check(struct tu_ca *ca, X509 *leaf, const unsigned char *der, size_t len)
{
	X509_STORE	*store;
	X509_STORE_CTX	*ctx;
	X509_CRL	*crl;
	int		 rc;

	crl = crl_parse(der, len);
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca->cert), 1);
	assert_int_equal(X509_STORE_add_crl(store, crl), 1);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_CRL_free(crl);
	return rc;
}

static void
test_crl_revokes_ldevid(void **state)
{
	struct tu_ca		*ca = *state;
	struct crl_entry	 e[2];
	X509_REVOKED		*rev = NULL;
	X509_CRL		*crl;
	X509			*leaf;
	unsigned char		*der = NULL;
	size_t			 len;
	char			 err[256];
	int			 rc;

	leaf = ldevid_make(ca);
	memset(e, 0, sizeof(e));
	snprintf(e[0].serial_hex, sizeof(e[0].serial_hex), "1234");
	e[0].revoked_at = T0;
	e[0].reason = CRL_RC_NONE;

	/* not listed: the chain verifies with the CRL consulted */
	assert_int_equal(crl_build(ca->cert, ca->key, e, 1, 1, time(NULL) - 60, 24, &der, &len,
	    err, sizeof(err)), 0);
	rc = chain_check(ca, leaf, der, len);
	if (rc != X509_V_OK)
		fail_msg("unrevoked: %s", X509_verify_cert_error_string(rc));
	free(der);

	/* listed */
	assert_int_equal(pki_cert_serial_hex(leaf, e[1].serial_hex, sizeof(e[1].serial_hex)),
	    0);
	e[1].revoked_at = time(NULL) - 30;
	e[1].reason = CRL_RC_KEY_COMPROMISE;
	assert_int_equal(crl_build(ca->cert, ca->key, e, 2, 2, time(NULL) - 60, 24, &der, &len,
	    err, sizeof(err)), 0);
	crl = crl_parse(der, len);
	assert_int_equal(X509_CRL_get0_by_cert(crl, &rev, leaf), 1);
	assert_non_null(rev);
	assert_int_equal(revoked_reason(rev), CRL_RC_KEY_COMPROMISE);
	X509_CRL_free(crl);
	assert_int_equal(chain_check(ca, leaf, der, len), X509_V_ERR_CERT_REVOKED);
	X509_free(leaf);
	free(der);
}

static void
test_crl_empty(void **state)
{
	struct tu_ca	*ca = *state;
	X509_CRL	*crl;
	unsigned char	*der = NULL;
	size_t		 len;
	char		 err[256];

	assert_int_equal(crl_build(ca->cert, ca->key, NULL, 0, 0, T0, 1, &der, &len, err,
	    sizeof(err)), 0);
	crl = crl_parse(der, len);
	assert_int_equal(X509_CRL_verify(crl, ca->key), 1);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) > 0, 0);
	assert_true(asn1_time_epoch(X509_CRL_get0_nextUpdate(crl)) == T0 + 3600);
	X509_CRL_free(crl);
	free(der);
}

/* Each CA key type gets the signature algorithm the header promises. */
static void
test_crl_key_types(void **state)
{
	static const struct {
		const char	*type;
		int		 sig_nid;
	} cases[] = {
		{ "p384", NID_ecdsa_with_SHA384 },
		{ "ed25519", NID_ED25519 },
		{ "rsa2048", NID_sha256WithRSAEncryption },
	};
	struct crl_entry	 e = { "0102030405", T0 - 1, CRL_RC_SUPERSEDED };
	struct tu_ca		*ca;
	X509_CRL		*crl;
	unsigned char		*der;
	size_t			 len, i;
	char			 err[256];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ca = ca_make(cases[i].type);
		der = NULL;
		if (crl_build(ca->cert, ca->key, &e, 1, 7, T0, 24, &der, &len, err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].type, err);
		crl = crl_parse(der, len);
		assert_int_equal(X509_CRL_verify(crl, ca->key), 1);
		assert_int_equal(X509_CRL_get_signature_nid(crl), cases[i].sig_nid);
		X509_CRL_free(crl);
		free(der);
		ca_free(ca);
	}
}

static void
test_crl_bad_input(void **state)
{
	static const struct {
		const char	*what;
		struct crl_entry e[2];
		size_t		 n;
		unsigned	 hours;
		int64_t		 this_update;
		const char	*errpart;
	} cases[] = {
		{ "not hex", { { "12G4", T0, 1 } }, 1, 24, T0, "bad serial" },
		{ "empty serial", { { "", T0, 1 } }, 1, 24, T0, "bad serial" },
		{ "serial too long", { { "111111111111111111111111111111111111111111111111111111111111"
		    "111", T0, 1 } }, 1, 24, T0, "bad serial" },	/* 63 digits */
		{ "reason 7", { { "01", T0, 7 } }, 1, 24, T0, "reason" },
		{ "reason 11", { { "01", T0, 11 } }, 1, 24, T0, "reason" },
		{ "reason -2", { { "01", T0, -2 } }, 1, 24, T0, "reason" },
		{ "negative time", { { "01", -1, 1 } }, 1, 24, T0, "time" },
		{ "duplicate", { { "0AB", T0, 1 }, { "ab", T0, 2 } }, 2, 24, T0, "twice" },
		{ "zero hours", { { "01", T0, 1 } }, 1, 0, T0, "hours" },
		{ "hours too far", { { "01", T0, 1 } }, 1, 87601, T0, "hours" },
		{ "year 10000", { { "01", T0, 1 } }, 1, 24, 253402300799LL, "range" },
	};
	struct tu_ca	*ca = *state, *other;
	unsigned char	*der;
	size_t		 len, i;
	char		 err[256];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = (unsigned char *)"x";
		err[0] = '\0';
		if (crl_build(ca->cert, ca->key, cases[i].e, cases[i].n, 1, cases[i].this_update,
		    cases[i].hours, &der, &len, err, sizeof(err)) != -1)
			fail_msg("case %s: accepted", cases[i].what);
		assert_null(der);
		if (strstr(err, cases[i].errpart) == NULL)
			fail_msg("case %s: error \"%s\" lacks \"%s\"", cases[i].what, err,
			    cases[i].errpart);
	}
	/* a key that is not the CA's */
	other = ca_make(NULL);
	assert_int_equal(crl_build(ca->cert, other->key, NULL, 0, 1, T0, 24, &der, &len, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "does not match"));
	ca_free(other);
	assert_int_equal(crl_build(ca->cert, ca->key, NULL, 0, 1, T0, 24, NULL, &len, err,
	    sizeof(err)), -1);
}

/* 100,000 entries: built once in (much) less than a second; timing printed, not asserted. */
static void
test_crl_large(void **state)
{
	struct tu_ca		*ca = *state;
	struct crl_entry	*e;
	struct timespec		 a, b;
	X509_REVOKED		*rev = NULL;
	ASN1_INTEGER		*ai;
	BIGNUM			*bn;
	X509_CRL		*crl;
	unsigned char		*der = NULL, *enc = NULL;
	size_t			 n = 100000, len, elen, i, dn;
	struct crl_entry	*dec = NULL;
	double			 ms, ems;
	char			 err[256];

	e = calloc(n, sizeof(*e));
	assert_non_null(e);
	for (i = 0; i < n; i++) {
		/* 128-bit-ish serials in a scrambled order */
		snprintf(e[i].serial_hex, sizeof(e[i].serial_hex), "%08zX5A5A5A5A%016llX",
		    (i * 2654435761u) % 4294967291u, (unsigned long long)i);
		e[i].revoked_at = T0 - (int64_t)i;
		e[i].reason = (int)(i % 11) == 7 ? CRL_RC_NONE : (int)(i % 11);
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(crl_build(ca->cert, ca->key, e, n, 99, T0, 24, &der, &len, err,
	    sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(crl_entries_encode(e, n, &enc, &elen), 0);
	assert_int_equal(crl_entries_decode(enc, elen, &dec, &dn, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ems = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	print_message("crl_build: %zu entries in %.1f ms (%zu bytes of DER); framing "
	    "%zu bytes, encode+decode %.1f ms\n", n, ms, len, elen, ems);
	assert_int_equal(dn, n);

	crl = crl_parse(der, len);
	assert_int_equal(X509_CRL_verify(crl, ca->key), 1);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), (int)n);
	bn = NULL;
	assert_true(BN_hex2bn(&bn, e[4711].serial_hex) > 0);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	assert_non_null(ai);
	assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, ai), 1);
	assert_true(asn1_time_epoch(X509_REVOKED_get0_revocationDate(rev)) == T0 - 4711);
	assert_int_equal(revoked_reason(rev), 4711 % 11);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	X509_CRL_free(crl);
	free(der);
	free(enc);
	free(dec);
	free(e);
}

/* The openssl command line accepts the CRL: parses, verifies against the CA, lists entries. */
static void
test_crl_openssl_cli(void **state)
{
	struct tu_ca		*ca = *state;
	static const struct crl_entry e[] = {
		{ "0DEADBEEF", T0 - 3600, CRL_RC_KEY_COMPROMISE },
		{ "42", T0 - 60, CRL_RC_NONE },
	};
	unsigned char		*der = NULL;
	size_t			 len;
	char			 err[256], path[LABPKI_PATH + 16], out[LABPKI_PATH + 16];
	char			 cmd[3 * LABPKI_PATH + 128];
	int			 rc;

	assert_int_equal(crl_build(ca->cert, ca->key, e, 2, 5, T0, 48, &der, &len, err,
	    sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/domain.crl", ca->dir);
	snprintf(out, sizeof(out), "%s/crl.txt", ca->dir);
	assert_int_equal(pki_file_write(path, der, len, 0644, 1, err, sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "openssl crl -inform DER -in '%s' -noout -text -CAfile '%s' "
	    ">'%s' 2>&1", path, ca->cert_path, out);
	rc = system(cmd);
	if (rc != 0 || !tu_file_contains(out, "verify OK"))
		fail_msg("openssl crl: rc %d, output in %s", rc, out);
	assert_true(tu_file_contains(out, "Serial Number: DEADBEEF"));
	assert_true(tu_file_contains(out, "Serial Number: 42"));
	assert_true(tu_file_contains(out, "Key Compromise"));
	assert_true(tu_file_contains(out, "X509v3 CRL Number"));
	assert_true(tu_file_contains(out, "Next Update: Jan  3 00:00:00 2026 GMT"));
	free(der);
}

static void
test_crl_reason_names(void **state)
{
	static const struct {
		const char	*name;
		int		 code;
	} cases[] = {
		{ "unspecified", 0 }, { "keyCompromise", 1 }, { "cACompromise", 2 },
		{ "affiliationChanged", 3 }, { "superseded", 4 }, { "cessationOfOperation", 5 },
		{ "certificateHold", 6 }, { "removeFromCRL", 8 }, { "privilegeWithdrawn", 9 },
		{ "aACompromise", 10 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(crl_reason_from_name(cases[i].name), cases[i].code);
		assert_string_equal(crl_reason_name(cases[i].code), cases[i].name);
	}
	assert_int_equal(crl_reason_from_name("KEYCOMPROMISE"), 1);
	assert_int_equal(crl_reason_from_name("compromised"), -1);
	assert_int_equal(crl_reason_from_name(""), -1);
	assert_int_equal(crl_reason_from_name(NULL), -1);
	assert_null(crl_reason_name(7));
	assert_null(crl_reason_name(-1));
	assert_null(crl_reason_name(11));
}

/*
 * The CRL change check (registrar.c crl_refresh) digests the revoked set: equal sets must
 * give equal digests whatever the structs' padding and the bytes after a serial's NUL hold
 * (they come uninitialized from realloc), and any change of a field must change it.
 */
static void
test_crl_entries_digest(void **state)
{
	static const struct {
		const char	*what;
		const char	*serial;
		int64_t		 at;
		int		 reason;
		int		 same;	/* digest equals the base set's */
	} rows[] = {
		{ "the same entry", "01AB", 1700000000, CRL_RC_KEY_COMPROMISE, 1 },
		{ "lower-case hex", "01ab", 1700000000, CRL_RC_KEY_COMPROMISE, 1 },
		{ "leading zeros", "0001AB", 1700000000, CRL_RC_KEY_COMPROMISE, 1 },
		{ "another serial", "01AC", 1700000000, CRL_RC_KEY_COMPROMISE, 0 },
		{ "another time", "01AB", 1700000001, CRL_RC_KEY_COMPROMISE, 0 },
		{ "another reason", "01AB", 1700000000, CRL_RC_SUPERSEDED, 0 },
		{ "no reason", "01AB", 1700000000, CRL_RC_NONE, 0 },
	};
	struct crl_entry base[2], e[2];
	unsigned char d0[32], d1[32];
	size_t i;

	(void)state;
	memset(base, 0x00, sizeof(base));
	snprintf(base[0].serial_hex, sizeof(base[0].serial_hex), "01AB");
	base[0].revoked_at = 1700000000;
	base[0].reason = CRL_RC_KEY_COMPROMISE;
	snprintf(base[1].serial_hex, sizeof(base[1].serial_hex), "7F");
	base[1].revoked_at = 1600000000;
	base[1].reason = CRL_RC_NONE;
	assert_int_equal(crl_entries_digest(base, 2, d0), 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* Everything the fields do not cover is garbage, and different garbage. */
		memset(e, (int)(0xA5 + i), sizeof(e));
		snprintf(e[0].serial_hex, sizeof(e[0].serial_hex), "%s", rows[i].serial);
		e[0].revoked_at = rows[i].at;
		e[0].reason = rows[i].reason;
		snprintf(e[1].serial_hex, sizeof(e[1].serial_hex), "7F");
		e[1].revoked_at = 1600000000;
		e[1].reason = CRL_RC_NONE;
		assert_int_equal(crl_entries_digest(e, 2, d1), 0);
		if ((memcmp(d0, d1, sizeof(d0)) == 0) != rows[i].same)
			fail_msg("%s: digest %s the base set's", rows[i].what,
			    rows[i].same ? "differs from" : "equals");
	}
	assert_int_equal(crl_entries_digest(base, 1, d1), 0);
	assert_memory_not_equal(d0, d1, sizeof(d0));
	snprintf(e[0].serial_hex, sizeof(e[0].serial_hex), "XYZ");
	assert_int_equal(crl_entries_digest(e, 1, d1), -1);
}

static void
test_crl_framing_roundtrip(void **state)
{
	static const struct crl_entry in[] = {
		{ "1", 0, CRL_RC_NONE },
		{ "00", 1, CRL_RC_UNSPECIFIED },
		{ "00ab", T0, CRL_RC_AA_COMPROMISE },
		{ "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 253402300799LL,
		    CRL_RC_CERTIFICATE_HOLD },
	};
	static const char *norm[] = { "1", "0", "AB",
	    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" };
	struct crl_entry	*out = NULL, bad;
	unsigned char		*buf = NULL;
	size_t			 len, n, i;
	char			 err[256];

	(void)state;
	assert_int_equal(crl_entries_encode(in, 4, &buf, &len), 0);
	/* 4 + (1+1+8+1) * 3 + (1+31+8+1) */
	assert_int_equal(len, 4 + 11 * 3 + 41);
	assert_int_equal(crl_entries_decode(buf, len, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		assert_string_equal(out[i].serial_hex, norm[i]);
		assert_true(out[i].revoked_at == in[i].revoked_at);
		assert_int_equal(out[i].reason, in[i].reason);
	}
	free(out);
	free(buf);

	assert_int_equal(crl_entries_encode(NULL, 0, &buf, &len), 0);
	assert_int_equal(len, 4);
	assert_int_equal(crl_entries_decode(buf, len, &out, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(out);
	free(buf);

	memset(&bad, 0, sizeof(bad));
	snprintf(bad.serial_hex, sizeof(bad.serial_hex), "xyz");
	assert_int_equal(crl_entries_encode(&bad, 1, &buf, &len), -1);
	assert_null(buf);
	snprintf(bad.serial_hex, sizeof(bad.serial_hex), "01");
	bad.reason = 7;
	assert_int_equal(crl_entries_encode(&bad, 1, &buf, &len), -1);
	assert_int_equal(crl_entries_encode(&bad, CRL_ENTRIES_MAX + 1, &buf, &len), -1);
}

static void
test_crl_framing_malformed(void **state)
{
	static const struct {
		const char		*what;
		const unsigned char	*b;
		size_t			 len;
	} cases[] = {
#define C(w, s) { w, (const unsigned char *)s, sizeof(s) - 1 }
		{ "empty", (const unsigned char *)"", 0 },
		C("short header",
		    "\x00\x00\x00"),
		C("count 1, nothing",
		    "\x00\x00\x00\x01"),
		C("count 1, serial length only",
		    "\x00\x00\x00\x01\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00"),
		C("zero serial length",
		    "\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		C("serial length 32",
		    "\x00\x00\x00\x01\x20\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
		    "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
		    "\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		C("leading zero octet",
		    "\x00\x00\x00\x01\x02\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
		C("truncated time",
		    "\x00\x00\x00\x01\x01\x42\x00\x00\x00\x00\x00\x00\x00\x01"),
		C("reason 7",
		    "\x00\x00\x00\x01\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00\x07"),
		C("reason 11",
		    "\x00\x00\x00\x01\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00\x0b"),
		C("reason -2",
		    "\x00\x00\x00\x01\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00\xfe"),
		C("negative time",
		    "\x00\x00\x00\x01\x01\x42\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
		C("year 10000",
		    "\x00\x00\x00\x01\x01\x42\x00\x00\x00\x3a\xff\xf4\x41\x80\x01"),
		C("trailing byte",
		    "\x00\x00\x00\x01\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00"),
		C("count above 1,000,000",
		    "\x00\x0f\x42\x41\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
		C("count larger than the buffer",
		    "\xff\xff\xff\xff\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
		C("count 2, one entry",
		    "\x00\x00\x00\x02\x01\x42\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01"
		    "\x43\x00\x00\x00\x00\x00\x00\x00"),
#undef C
	};
	struct crl_entry	*out;
	size_t			 n, i;
	char			 err[256];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = (struct crl_entry *)&n;
		n = 99;
		err[0] = '\0';
		if (crl_entries_decode(cases[i].b, cases[i].len, &out, &n, err, sizeof(err)) != -1)
			fail_msg("case \"%s\": accepted", cases[i].what);
		assert_null(out);
		assert_int_equal(n, 0);
		if (err[0] == '\0')
			fail_msg("case \"%s\": no error text", cases[i].what);
	}
	/* the one valid neighbour of those cases */
	{
		static const unsigned char ok[] = { 0, 0, 0, 1, 1, 0x42, 0, 0, 0, 0, 0x69, 0x55,
		    0x3a, 0x80, 0xff };
		assert_int_equal(crl_entries_decode(ok, sizeof(ok), &out, &n, err, sizeof(err)),
		    0);
		assert_int_equal(n, 1);
		assert_string_equal(out[0].serial_hex, "42");
		assert_true(out[0].revoked_at == 0x69553a80LL);
		assert_int_equal(out[0].reason, CRL_RC_NONE);
		free(out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crl_fields),
		cmocka_unit_test(test_crl_revokes_ldevid),
		cmocka_unit_test(test_crl_empty),
		cmocka_unit_test(test_crl_key_types),
		cmocka_unit_test(test_crl_bad_input),
		cmocka_unit_test(test_crl_large),
		cmocka_unit_test(test_crl_openssl_cli),
		cmocka_unit_test(test_crl_reason_names),
		cmocka_unit_test(test_crl_entries_digest),
		cmocka_unit_test(test_crl_framing_roundtrip),
		cmocka_unit_test(test_crl_framing_malformed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
