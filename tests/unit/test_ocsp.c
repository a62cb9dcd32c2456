/*
 * Unit tests for certs/ocsp.c: requests made with OpenSSL's OCSP API parsed by our reader,
 * responses checked with OpenSSL's verifier (signature, status, reason, times, nonce), the
 * openssl command line reading our responses, a table of malformed requests, the GET form,
 * error responses and both framings (round trip and malformed tables).
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
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/crl.h"
#include "certs/labpki.h"
#include "certs/ocsp.h"
#include "certs/pki.h"
#include "tests/unit/testutil.h"

#define T0	1767225600LL	/* 2026-01-01T00:00:00Z */

struct ca {
	struct tu_ca	 tu;
	X509		*leaf[3];
};

struct fx {
	struct ca	*ca;
	struct ca	*other;		/* a second, unrelated domain CA */
};

/* An LDevID of ca, as a device holds it (decoded from DER). */
static X509 *
ldevid_make(X509 *cacert, EVP_PKEY *cakey, const char *serial)
{
	struct ca_profile	 prof;
	EVP_PKEY		*k;
	unsigned char		*der = NULL;
	const unsigned char	*p;
	X509			*leaf;
	char			 err[256];
	int			 n;

	memset(&prof, 0, sizeof(prof));
	prof.lifetime_days = 30;
	k = pki_key_new(NULL, err, sizeof(err));
	assert_non_null(k);
	n = i2d_PUBKEY(k, &der);
	assert_true(n > 0);
	leaf = ca_issue_ldevid(cacert, cakey, &prof, der, (size_t)n, serial, NULL, 0, err,
	    sizeof(err));
	if (leaf == NULL)
		fail_msg("ca_issue_ldevid: %s", err);
	OPENSSL_free(der);
	der = NULL;
	n = i2d_X509(leaf, &der);
	assert_true(n > 0);
	X509_free(leaf);
	p = der;
	leaf = d2i_X509(NULL, &p, n);
	assert_non_null(leaf);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	return leaf;
}

static struct ca *
ca_make(const char *key_type)
{
	struct ca *ca = calloc(1, sizeof(*ca));
	size_t i;

	assert_non_null(ca);
	tu_ca_init(&ca->tu, "test_ocsp", key_type);
	for (i = 0; i < 3; i++)
		ca->leaf[i] = ldevid_make(ca->tu.cert, ca->tu.key, "LK0123ABCDEF");
	return ca;
}

static void
ca_free(struct ca *ca)
{
	size_t	i;

	if (ca == NULL)
		return;
	for (i = 0; i < 3; i++)
		X509_free(ca->leaf[i]);
	tu_ca_clear(&ca->tu);
	free(ca);
}

static int
group_setup(void **state)
{
	struct fx	*fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fx->ca = ca_make(NULL);
	fx->other = ca_make(NULL);
	*state = fx;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fx	*fx = *state;

	ca_free(fx->ca);
	ca_free(fx->other);
	free(fx);
	return 0;
}

/* A request for certs[i] issued by issuers[i] (SHA-1 CertIDs unless md), nonce of nonce_len. */
static OCSP_REQUEST *
req_make(X509 *const *certs, X509 *const *issuers, size_t n, const EVP_MD *md, int nonce_len)
{
	OCSP_REQUEST	*req = OCSP_REQUEST_new();
	OCSP_CERTID	*id;
	size_t		 i;

	assert_non_null(req);
	for (i = 0; i < n; i++) {
		id = OCSP_cert_to_id(md, certs[i], issuers[i]);
		assert_non_null(id);
		assert_non_null(OCSP_request_add0_id(req, id));
	}
	if (nonce_len > 0)
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, nonce_len), 1);
	return req;
}

static unsigned char *
req_der(OCSP_REQUEST *req, size_t *len)
{
	unsigned char	*der = NULL;
	int		 n;

	n = i2d_OCSP_REQUEST(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	return der;
}

/* The nonce value the request carries (inside the extension's OCTET STRING). */
static const unsigned char *
req_nonce(OCSP_REQUEST *req, size_t *len)
{
	X509_EXTENSION		*ext;
	ASN1_OCTET_STRING	*v;
	int			 idx;

	idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	assert_true(idx >= 0);
	ext = OCSP_REQUEST_get_ext(req, idx);
	v = X509_EXTENSION_get_data(ext);
	assert_true(v->length >= 2 && v->data[0] == 0x04 && v->data[1] == v->length - 2);
	*len = (size_t)v->length - 2;
	return v->data + 2;
}

static void
test_ocsp_parse_request(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[2] = { fx->ca->leaf[0], fx->other->leaf[1] };
	X509			*issuers[2] = { fx->ca->tu.cert, fx->other->tu.cert };
	struct ocsp_query	 q;
	OCSP_REQUEST		*req;
	unsigned char		*der;
	const unsigned char	*nonce;
	size_t			 len, nlen;
	char			 err[256], hex[64];

	req = req_make(certs, issuers, 2, NULL, 32);
	der = req_der(req, &len);
	if (ocsp_request_parse(der, len, &q, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	assert_int_equal(q.nids, 2);
	assert_int_equal(q.ids[0].hash, OCSP_HASH_SHA1);
	assert_int_equal(q.ids[0].params_null, 1);
	assert_int_equal(q.ids[0].hash_len, 20);
	assert_int_equal(pki_cert_serial_hex(fx->ca->leaf[0], hex, sizeof(hex)), 0);
	assert_string_equal(q.ids[0].serial_hex, hex);
	assert_int_equal(pki_cert_serial_hex(fx->other->leaf[1], hex, sizeof(hex)), 0);
	assert_string_equal(q.ids[1].serial_hex, hex);
	nonce = req_nonce(req, &nlen);
	assert_int_equal(q.nonce_len, 32);
	assert_int_equal(nlen, 32);
	assert_memory_equal(q.nonce, nonce, 32);
	/* issuer hashes: the first CertID is ours, the second is not */
	assert_int_equal(ocsp_query_matches_ca(&q, 0, fx->ca->tu.cert), 1);
	assert_int_equal(ocsp_query_matches_ca(&q, 1, fx->ca->tu.cert), 0);
	assert_int_equal(ocsp_query_matches_ca(&q, 1, fx->other->tu.cert), 1);
	assert_int_equal(ocsp_query_matches_ca(&q, 2, fx->ca->tu.cert), -1);
	assert_int_equal(ocsp_query_matches_ca(NULL, 0, fx->ca->tu.cert), -1);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);

	/* SHA-256 CertIDs (and no nonce) */
	req = req_make(certs, issuers, 1, EVP_sha256(), 0);
	der = req_der(req, &len);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	assert_int_equal(q.ids[0].hash, OCSP_HASH_SHA256);
	assert_int_equal(q.ids[0].hash_len, 32);
	assert_int_equal(q.nonce_len, 0);
	assert_int_equal(ocsp_query_matches_ca(&q, 0, fx->ca->tu.cert), 1);
	assert_int_equal(ocsp_query_matches_ca(&q, 0, fx->other->tu.cert), 0);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

/* A signed request with a requestorName parses; the signature is skipped, not checked. */
static void
test_ocsp_parse_signed_request(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[1] = { fx->ca->leaf[0] };
	X509			*issuers[1] = { fx->ca->tu.cert };
	struct ocsp_query	 q;
	OCSP_REQUEST		*req;
	unsigned char		*der;
	size_t			 len;
	char			 err[256];

	req = req_make(certs, issuers, 1, NULL, 16);
	assert_int_equal(OCSP_request_sign(req, fx->other->tu.cert, fx->other->tu.key, EVP_sha256(),
	    NULL, 0), 1);
	der = req_der(req, &len);
	if (ocsp_request_parse(der, len, &q, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	assert_int_equal(q.nids, 1);
	assert_int_equal(q.nonce_len, 16);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

/* Build, then verify with OpenSSL exactly as an OCSP client would. */
static OCSP_BASICRESP *
resp_check(X509 *cacert, const unsigned char *der, size_t len, int mixed)
{
	const unsigned char	*p = der;
	OCSP_RESPONSE		*resp;
	OCSP_BASICRESP		*bs;
	X509_STORE		*store;
	STACK_OF(X509)		*none;

	resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	assert_non_null(resp);
	assert_ptr_equal(p, der + len);
	assert_int_equal(OCSP_response_status(resp), OCSP_RESPONSE_STATUS_SUCCESSFUL);
	bs = OCSP_response_get1_basic(resp);
	assert_non_null(bs);
	OCSP_RESPONSE_free(resp);
	store = X509_STORE_new();
	assert_non_null(store);
	assert_int_equal(X509_STORE_add_cert(store, cacert), 1);
	/*
	 * The signer is found among the response's certs, by key id. OpenSSL accepts a response
	 * that also covers another issuer's CertIDs (answered "unknown") only from a responder
	 * the client trusts explicitly (OCSP_TRUSTOTHER below), so those are checked only so.
	 */
	if (!mixed)
		assert_int_equal(OCSP_basic_verify(bs, NULL, store, 0), 1);
	/* and also when the client has only its trusted CA and the response's certs are ignored */
	none = sk_X509_new_null();
	assert_non_null(none);
	assert_int_equal(sk_X509_push(none, cacert), 1);
	assert_int_equal(OCSP_basic_verify(bs, none, store, OCSP_NOINTERN | OCSP_TRUSTOTHER), 1);
	sk_X509_free(none);
	X509_STORE_free(store);
	return bs;
}

static void
test_ocsp_response_statuses(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[4] = { fx->ca->leaf[0], fx->ca->leaf[1], fx->ca->leaf[2],
	    fx->other->leaf[0] };
	X509			*issuers[4] = { fx->ca->tu.cert, fx->ca->tu.cert,
	    fx->ca->tu.cert, fx->other->tu.cert };
	struct ocsp_status	 st[4] = {
		{ OCSP_CERT_GOOD, 0, -1 },
		{ OCSP_CERT_REVOKED, T0 - 3600, CRL_RC_KEY_COMPROMISE },
		{ OCSP_CERT_REVOKED, T0 - 7200, CRL_RC_NONE },
		{ OCSP_CERT_UNKNOWN, 0, -1 },
	};
	static const int	 want_status[4] = { V_OCSP_CERTSTATUS_GOOD,
	    V_OCSP_CERTSTATUS_REVOKED, V_OCSP_CERTSTATUS_REVOKED, V_OCSP_CERTSTATUS_UNKNOWN };
	static const int	 want_reason[4] = { -1, OCSP_REVOKED_STATUS_KEYCOMPROMISE,
	    OCSP_REVOKED_STATUS_NOSTATUS, -1 };
	struct ocsp_query	 q;
	OCSP_REQUEST		*req;
	OCSP_BASICRESP		*bs;
	OCSP_CERTID		*id;
	ASN1_GENERALIZEDTIME	*rev, *thisupd, *nextupd;
	const ASN1_OCTET_STRING	*keyid;
	const X509_NAME		*name;
	unsigned char		*der, *rder = NULL;
	size_t			 len, rlen, i;
	int64_t			 now = (int64_t)time(NULL) - 60;
	char			 err[256];
	int			 status, reason;

	req = req_make(certs, issuers, 4, NULL, 32);
	der = req_der(req, &len);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	assert_int_equal(ocsp_query_matches_ca(&q, 3, fx->ca->tu.cert), 0);
	if (ocsp_response_build(fx->ca->tu.cert, fx->ca->tu.key, &q, st, now, 24, &rder, &rlen, err,
	    sizeof(err)) != 0)
		fail_msg("build: %s", err);
	bs = resp_check(fx->ca->tu.cert, rder, rlen, 1);

	assert_int_equal(OCSP_check_nonce(req, bs), 1);
	assert_int_equal(OCSP_resp_get0_id(bs, &keyid, &name), 1);
	assert_non_null(keyid);
	assert_null(name);
	assert_int_equal(sk_X509_num(OCSP_resp_get0_certs(bs)), 1);
	assert_int_equal(X509_cmp(sk_X509_value(OCSP_resp_get0_certs(bs), 0), fx->ca->tu.cert), 0);
	assert_int_equal(OBJ_obj2nid(OCSP_resp_get0_tbs_sigalg(bs)->algorithm),
	    NID_ecdsa_with_SHA256);
	assert_int_equal(OCSP_resp_count(bs), 4);
	for (i = 0; i < 4; i++) {
		id = OCSP_cert_to_id(NULL, certs[i], issuers[i]);
		assert_non_null(id);
		rev = thisupd = nextupd = NULL;
		if (OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd) != 1)
			fail_msg("CertID %zu not in the response", i);
		assert_int_equal(status, want_status[i]);
		if (status == V_OCSP_CERTSTATUS_REVOKED) {
			assert_int_equal(reason, want_reason[i]);
			assert_non_null(rev);
			assert_int_equal(ASN1_TIME_cmp_time_t(rev, (time_t)st[i].revoked_at), 0);
		}
		assert_int_equal(ASN1_TIME_cmp_time_t(thisupd, (time_t)now), 0);
		assert_int_equal(ASN1_TIME_cmp_time_t(nextupd, (time_t)(now + 24 * 3600)), 0);
		/* RFC 6960 §4.2.2.1: GeneralizedTime */
		assert_int_equal(ASN1_STRING_type(thisupd), V_ASN1_GENERALIZEDTIME);
		assert_int_equal(OCSP_check_validity(thisupd, nextupd, 300, -1), 1);
		OCSP_CERTID_free(id);
	}
	/* producedAt is now */
	assert_true(ASN1_TIME_cmp_time_t(OCSP_resp_get0_produced_at(bs), time(NULL) - 120) > 0);
	assert_true(ASN1_TIME_cmp_time_t(OCSP_resp_get0_produced_at(bs), time(NULL) + 120) < 0);
	OCSP_BASICRESP_free(bs);
	free(rder);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

/* No nonce in, no nonce out; nextUpdate omitted when asked; SHA-256 CertID echoed. */
static void
test_ocsp_response_plain(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[1] = { fx->ca->leaf[0] };
	X509			*issuers[1] = { fx->ca->tu.cert };
	struct ocsp_status	 st = { OCSP_CERT_GOOD, 0, -1 };
	struct ocsp_query	 q;
	OCSP_REQUEST		*req;
	OCSP_BASICRESP		*bs;
	OCSP_CERTID		*id;
	ASN1_GENERALIZEDTIME	*rev, *thisupd, *nextupd;
	unsigned char		*der, *rder = NULL;
	size_t			 len, rlen;
	char			 err[256];
	int			 status, reason;

	req = req_make(certs, issuers, 1, EVP_sha256(), 0);
	der = req_der(req, &len);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	assert_int_equal(ocsp_response_build(fx->ca->tu.cert, fx->ca->tu.key, &q, &st, T0, 0, &rder,
	    &rlen, err, sizeof(err)), 0);
	bs = resp_check(fx->ca->tu.cert, rder, rlen, 0);
	assert_int_equal(OCSP_check_nonce(req, bs), 2);		/* absent in both */
	id = OCSP_cert_to_id(EVP_sha256(), certs[0], issuers[0]);
	rev = thisupd = nextupd = NULL;
	assert_int_equal(OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd,
	    &nextupd), 1);
	assert_int_equal(status, V_OCSP_CERTSTATUS_GOOD);
	assert_null(nextupd);
	assert_int_equal(ASN1_TIME_cmp_time_t(thisupd, (time_t)T0), 0);
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	free(rder);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void
test_ocsp_response_bad_input(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[1] = { fx->ca->leaf[0] };
	X509			*issuers[1] = { fx->ca->tu.cert };
	static const struct {
		const char		*what;
		struct ocsp_status	 st;
		unsigned		 hours;
	} cases[] = {
		{ "status 3", { 3, 0, -1 }, 24 },
		{ "status -1", { -1, 0, -1 }, 24 },
		{ "reason 7", { OCSP_CERT_REVOKED, T0, 7 }, 24 },
		{ "reason 11", { OCSP_CERT_REVOKED, T0, 11 }, 24 },
		{ "negative time", { OCSP_CERT_REVOKED, -5, 1 }, 24 },
		{ "hours too far", { OCSP_CERT_GOOD, 0, -1 }, 87601 },
	};
	struct ocsp_status	 good = { OCSP_CERT_GOOD, 0, -1 };
	struct ocsp_query	 q, bad;
	OCSP_REQUEST		*req;
	unsigned char		*der, *rder;
	size_t			 len, rlen, i;
	char			 err[256];

	req = req_make(certs, issuers, 1, NULL, 0);
	der = req_der(req, &len);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rder = (unsigned char *)"x";
		if (ocsp_response_build(fx->ca->tu.cert, fx->ca->tu.key, &q, &cases[i].st, T0,
		    cases[i].hours, &rder, &rlen, err, sizeof(err)) != -1)
			fail_msg("case %s: accepted", cases[i].what);
		assert_null(rder);
	}
	assert_int_equal(ocsp_response_build(fx->ca->tu.cert, fx->other->tu.key, &q, &good, T0, 24,
	    &rder, &rlen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not match"));
	bad = q;
	bad.nids = 0;
	assert_int_equal(ocsp_response_build(fx->ca->tu.cert, fx->ca->tu.key, &bad, &good, T0, 24,
	    &rder, &rlen, err, sizeof(err)), -1);
	bad = q;
	bad.ids[0].hash_len = 32;	/* SHA-1 with a SHA-256-sized hash */
	assert_int_equal(ocsp_response_build(fx->ca->tu.cert, fx->ca->tu.key, &bad, &good, T0, 24,
	    &rder, &rlen, err, sizeof(err)), -1);
	bad = q;
	snprintf(bad.ids[0].serial_hex, sizeof(bad.ids[0].serial_hex), "XYZ");
	assert_int_equal(ocsp_response_build(fx->ca->tu.cert, fx->ca->tu.key, &bad, &good, T0, 24,
	    &rder, &rlen, err, sizeof(err)), -1);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void
test_ocsp_key_types(void **state)
{
	static const struct {
		const char	*type;
		int		 sig_nid;
	} cases[] = {
		{ "p384", NID_ecdsa_with_SHA384 },
		{ "ed25519", NID_ED25519 },
		{ "rsa2048", NID_sha256WithRSAEncryption },
	};
	struct ocsp_status	 st = { OCSP_CERT_REVOKED, T0, CRL_RC_SUPERSEDED };
	struct ocsp_query	 q;
	struct ca		*ca;
	OCSP_REQUEST		*req;
	OCSP_BASICRESP		*bs;
	unsigned char		*der, *rder;
	size_t			 len, rlen, i;
	char			 err[256];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ca = ca_make(cases[i].type);
		req = req_make(&ca->leaf[0], &ca->tu.cert, 1, NULL, 20);
		der = req_der(req, &len);
		assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
		assert_int_equal(ocsp_query_matches_ca(&q, 0, ca->tu.cert), 1);
		rder = NULL;
		if (ocsp_response_build(ca->tu.cert, ca->tu.key, &q, &st, T0, 24, &rder, &rlen, err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].type, err);
		bs = resp_check(ca->tu.cert, rder, rlen, 0);
		assert_int_equal(OBJ_obj2nid(OCSP_resp_get0_tbs_sigalg(bs)->algorithm),
		    cases[i].sig_nid);
		assert_int_equal(OCSP_check_nonce(req, bs), 1);
		OCSP_BASICRESP_free(bs);
		free(rder);
		OPENSSL_free(der);
		OCSP_REQUEST_free(req);
		ca_free(ca);
	}
}

/* Replace the request's extensions with ext (may be NULL), optionally twice. */
static unsigned char *
req_with_ext(struct fx *fx, X509_EXTENSION *ext, int times, size_t *len)
{
	X509			*certs[1] = { fx->ca->leaf[0] };
	X509			*issuers[1] = { fx->ca->tu.cert };
	OCSP_REQUEST		*req;
	unsigned char		*der;
	int			 i;

	req = req_make(certs, issuers, 1, NULL, 0);
	for (i = 0; i < times; i++)
		assert_int_equal(OCSP_REQUEST_add_ext(req, ext, -1), 1);
	der = req_der(req, len);
	OCSP_REQUEST_free(req);
	return der;
}

static X509_EXTENSION *
ext_make(int nid, const char *oid, int crit, const unsigned char *val, size_t vlen)
{
	ASN1_OCTET_STRING	*os = ASN1_OCTET_STRING_new();
	X509_EXTENSION		*ext;
	ASN1_OBJECT		*obj;

	assert_non_null(os);
	assert_int_equal(ASN1_OCTET_STRING_set(os, val, (int)vlen), 1);
	obj = nid != NID_undef ? OBJ_nid2obj(nid) : OBJ_txt2obj(oid, 1);
	assert_non_null(obj);
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, crit, os);
	assert_non_null(ext);
	ASN1_OBJECT_free(obj);
	ASN1_OCTET_STRING_free(os);
	return ext;
}

struct mal {
	const char	*what;
	unsigned char	*der;
	size_t		 len;
	int		 owned;		/* OPENSSL_free */
};

static void
mal_add(struct mal *m, size_t *n, const char *what, unsigned char *der, size_t len, int owned)
{
	m[*n].what = what;
	m[*n].der = der;
	m[*n].len = len;
	m[*n].owned = owned;
	(*n)++;
}

/* Every one of these must be refused with an error line and an emptied query. */
static void
test_ocsp_malformed_requests(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[9], *issuers[9];
	struct ocsp_query	 q;
	struct mal		 m[40];
	OCSP_REQUEST		*req;
	X509_EXTENSION		*ext;
	OCSP_CERTID		*id;
	ASN1_INTEGER		*neg;
	unsigned char		*good, *der, nonce[200];
	size_t			 glen, len, n = 0, i;
	char			 err[256];
	/* hand-made: SEQUENCE { SEQUENCE { [0] { INTEGER 1 } SEQUENCE {} } } (version v2) */
	static unsigned char	 v2[] = { 0x30, 0x09, 0x30, 0x07, 0xa0, 0x03, 0x02, 0x01, 0x01,
	    0x30, 0x00 };
	/* no CertIDs */
	static unsigned char	 empty_list[] = { 0x30, 0x04, 0x30, 0x02, 0x30, 0x00 };
	/* indefinite length */
	static unsigned char	 indef[] = { 0x30, 0x80, 0x30, 0x02, 0x30, 0x00, 0x00, 0x00 };
	/* long-form length where the short form fits */
	static unsigned char	 longlen[] = { 0x30, 0x81, 0x04, 0x30, 0x02, 0x30, 0x00 };
	static unsigned char	 garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	for (i = 0; i < 9; i++) {
		certs[i] = fx->ca->leaf[i % 3];
		issuers[i] = fx->ca->tu.cert;
	}
	req = req_make(certs, issuers, 1, NULL, 32);
	good = req_der(req, &glen);
	OCSP_REQUEST_free(req);
	assert_int_equal(ocsp_request_parse(good, glen, &q, err, sizeof(err)), 0);

	mal_add(m, &n, "empty", good, 0, 0);
	mal_add(m, &n, "one byte short", good, glen - 1, 0);
	mal_add(m, &n, "half", good, glen / 2, 0);
	mal_add(m, &n, "garbage", garbage, sizeof(garbage) - 1, 0);
	mal_add(m, &n, "version v2", v2, sizeof(v2), 0);
	mal_add(m, &n, "no CertIDs", empty_list, sizeof(empty_list), 0);
	mal_add(m, &n, "indefinite length", indef, sizeof(indef), 0);
	mal_add(m, &n, "non-minimal length", longlen, sizeof(longlen), 0);
	der = malloc(glen + 1);
	assert_non_null(der);
	memcpy(der, good, glen);
	der[glen] = 0;
	mal_add(m, &n, "trailing byte", der, glen + 1, 2);
	der = malloc(OCSP_REQUEST_MAX + 1);
	assert_non_null(der);
	memset(der, 0, OCSP_REQUEST_MAX + 1);
	mal_add(m, &n, "too large", der, OCSP_REQUEST_MAX + 1, 2);

	req = req_make(certs, issuers, 9, NULL, 0);
	der = req_der(req, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "9 CertIDs", der, len, 1);
	OCSP_REQUEST_free(req);
	req = req_make(certs, issuers, 1, NULL, 129);
	der = req_der(req, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "nonce of 129 octets", der, len, 1);
	OCSP_REQUEST_free(req);
	req = req_make(certs, issuers, 1, EVP_md5(), 0);
	der = req_der(req, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "MD5 CertID", der, len, 1);
	OCSP_REQUEST_free(req);

	/* a negative serial number */
	neg = ASN1_INTEGER_new();
	assert_non_null(neg);
	assert_int_equal(ASN1_INTEGER_set(neg, -5), 1);
	id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(fx->ca->tu.cert),
	    X509_get0_pubkey_bitstr(fx->ca->tu.cert), neg);
	assert_non_null(id);
	req = OCSP_REQUEST_new();
	assert_non_null(OCSP_request_add0_id(req, id));
	der = req_der(req, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "negative serial", der, len, 1);
	OCSP_REQUEST_free(req);
	ASN1_INTEGER_free(neg);

	/* nonce: empty, not an OCTET STRING, 129 octets by hand, twice; critical unknown */
	ext = ext_make(NID_id_pkix_OCSP_Nonce, NULL, 0, (const unsigned char *)"\x04\x00", 2);
	der = req_with_ext(fx, ext, 1, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "empty nonce", der, len, 1);
	X509_EXTENSION_free(ext);
	ext = ext_make(NID_id_pkix_OCSP_Nonce, NULL, 0, (const unsigned char *)"abcdefgh", 8);
	der = req_with_ext(fx, ext, 1, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "raw nonce", der, len, 1);
	X509_EXTENSION_free(ext);
	memset(nonce, 0x5a, sizeof(nonce));
	nonce[0] = 0x04;
	nonce[1] = 0x81;
	nonce[2] = 129;
	ext = ext_make(NID_id_pkix_OCSP_Nonce, NULL, 0, nonce, 3 + 129);
	der = req_with_ext(fx, ext, 1, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "nonce 129 by hand", der, len, 1);
	X509_EXTENSION_free(ext);
	ext = ext_make(NID_id_pkix_OCSP_Nonce, NULL, 0, (const unsigned char *)"\x04\x01\x01", 3);
	der = req_with_ext(fx, ext, 2, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "two nonces", der, len, 1);
	X509_EXTENSION_free(ext);
	ext = ext_make(NID_undef, "1.3.6.1.4.1.32473.9.9", 1, (const unsigned char *)"\x05\x00",
	    2);
	der = req_with_ext(fx, ext, 1, &len);	/* len is set by the call: evaluate it first */
	mal_add(m, &n, "unknown critical extension", der, len, 1);
	X509_EXTENSION_free(ext);

	for (i = 0; i < n; i++) {
		memset(&q, 0x55, sizeof(q));
		err[0] = '\0';
		if (ocsp_request_parse(m[i].der, m[i].len, &q, err, sizeof(err)) != -1)
			fail_msg("case \"%s\": accepted", m[i].what);
		if (err[0] == '\0')
			fail_msg("case \"%s\": no error text", m[i].what);
		assert_int_equal(q.nids, 0);
		assert_int_equal(q.nonce_len, 0);
	}
	/* neighbours that are fine: 8 CertIDs, a 128-octet nonce, a non-critical unknown ext */
	req = req_make(certs, issuers, 8, NULL, 128);
	der = req_der(req, &len);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	assert_int_equal(q.nids, 8);
	assert_int_equal(q.nonce_len, 128);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	ext = ext_make(NID_undef, "1.3.6.1.4.1.32473.9.9", 0, (const unsigned char *)"\x05\x00",
	    2);
	der = req_with_ext(fx, ext, 1, &len);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);

	for (i = 0; i < n; i++) {
		if (m[i].owned == 1)
			OPENSSL_free(m[i].der);
		else if (m[i].owned == 2)
			free(m[i].der);
	}
	OPENSSL_free(good);
}

static char *
url_escape(const char *s)
{
	char	*o = malloc(strlen(s) * 3 + 1), *p = o;

	assert_non_null(o);
	for (; *s != '\0'; s++) {
		if (*s == '+' || *s == '/' || *s == '=')
			p += sprintf(p, "%%%02X", (unsigned char)*s);
		else
			*p++ = *s;
	}
	*p = '\0';
	return o;
}

static void
test_ocsp_get_path(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[1] = { fx->ca->leaf[0] };
	X509			*issuers[1] = { fx->ca->tu.cert };
	static const char	*bad[] = { "", "%", "MA%", "MA%2", "MA%zz", "MEU!", "M", "MEUw=",
	    "====", "ME=U", "ME U", "MEUw\n" };
	struct ocsp_query	 q;
	OCSP_REQUEST		*req;
	unsigned char		*der, *out;
	char			*b64, *esc, *big, err[256];
	size_t			 len, olen, i;
	int			 n;

	req = req_make(certs, issuers, 1, NULL, 16);
	der = req_der(req, &len);
	OCSP_REQUEST_free(req);
	b64 = malloc(len * 2 + 4);
	assert_non_null(b64);
	n = EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
	assert_true(n > 0);
	esc = url_escape(b64);

	/* escaped (what RFC 6960 A.1 asks), unescaped, unpadded */
	assert_int_equal(ocsp_get_path_decode(esc, &out, &olen, err, sizeof(err)), 0);
	assert_int_equal(olen, len);
	assert_memory_equal(out, der, len);
	assert_int_equal(ocsp_request_parse(out, olen, &q, err, sizeof(err)), 0);
	free(out);
	assert_int_equal(ocsp_get_path_decode(b64, &out, &olen, err, sizeof(err)), 0);
	assert_int_equal(olen, len);
	assert_memory_equal(out, der, len);
	free(out);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	assert_int_equal(ocsp_get_path_decode(b64, &out, &olen, err, sizeof(err)), 0);
	assert_int_equal(olen, len);
	assert_memory_equal(out, der, len);
	free(out);
	/* the small known vector of RFC 4648 §10 */
	assert_int_equal(ocsp_get_path_decode("Zm9vYmE%3D", &out, &olen, err, sizeof(err)), 0);
	assert_int_equal(olen, 5);
	assert_memory_equal(out, "fooba", 5);
	free(out);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		out = (unsigned char *)"x";
		err[0] = '\0';
		if (ocsp_get_path_decode(bad[i], &out, &olen, err, sizeof(err)) != -1)
			fail_msg("\"%s\": accepted", bad[i]);
		assert_null(out);
		assert_true(err[0] != '\0');
	}
	big = malloc(OCSP_GET_PATH_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', OCSP_GET_PATH_MAX + 1);
	big[OCSP_GET_PATH_MAX + 1] = '\0';
	assert_int_equal(ocsp_get_path_decode(big, &out, &olen, err, sizeof(err)), -1);
	/* within the path limit but more than OCSP_REQUEST_MAX bytes once decoded */
	big[4 * (OCSP_REQUEST_MAX / 3 + 1)] = '\0';
	assert_int_equal(ocsp_get_path_decode(big, &out, &olen, err, sizeof(err)), -1);
	free(big);
	free(esc);
	free(b64);
	OPENSSL_free(der);
}

static void
test_ocsp_error_response(void **state)
{
	static const int	 ok[] = { OCSP_RSP_MALFORMED, OCSP_RSP_INTERNAL,
	    OCSP_RSP_TRY_LATER, OCSP_RSP_SIG_REQUIRED, OCSP_RSP_UNAUTHORIZED };
	static const int	 bad[] = { 0, 4, 7, -1, 256 };
	const unsigned char	*p;
	OCSP_RESPONSE		*resp;
	unsigned char		*der;
	size_t			 len, i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(ocsp_error_response(ok[i], &der, &len), 0);
		p = der;
		resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
		assert_non_null(resp);
		assert_ptr_equal(p, der + len);
		assert_int_equal(OCSP_response_status(resp), ok[i]);
		assert_null(OCSP_response_get1_basic(resp));
		OCSP_RESPONSE_free(resp);
		free(der);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		der = (unsigned char *)"x";
		assert_int_equal(ocsp_error_response(bad[i], &der, &len), -1);
		assert_null(der);
	}
}

static void
query_equal(const struct ocsp_query *a, const struct ocsp_query *b)
{
	size_t	i;

	assert_int_equal(a->nids, b->nids);
	for (i = 0; i < a->nids; i++) {
		assert_int_equal(a->ids[i].hash, b->ids[i].hash);
		assert_int_equal(a->ids[i].params_null, b->ids[i].params_null);
		assert_int_equal(a->ids[i].hash_len, b->ids[i].hash_len);
		assert_memory_equal(a->ids[i].name_hash, b->ids[i].name_hash, a->ids[i].hash_len);
		assert_memory_equal(a->ids[i].key_hash, b->ids[i].key_hash, a->ids[i].hash_len);
		assert_string_equal(a->ids[i].serial_hex, b->ids[i].serial_hex);
	}
	assert_int_equal(a->nonce_len, b->nonce_len);
	assert_memory_equal(a->nonce, b->nonce, a->nonce_len);
}

static void
test_ocsp_framing_roundtrip(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[8], *issuers[8];
	struct ocsp_status	 st[3] = {
		{ OCSP_CERT_GOOD, 0, -1 },
		{ OCSP_CERT_REVOKED, T0, CRL_RC_AA_COMPROMISE },
		{ OCSP_CERT_UNKNOWN, 0, -1 },
	}, got[OCSP_IDS_MAX], sloppy = { OCSP_CERT_GOOD, 12345, 4 };
	struct ocsp_query	 q, q2;
	OCSP_REQUEST		*req;
	unsigned char		*der, *buf;
	size_t			 len, blen, n, i;
	char			 err[256];

	for (i = 0; i < 8; i++) {
		certs[i] = fx->ca->leaf[i % 3];
		issuers[i] = fx->ca->tu.cert;
	}
	req = req_make(certs, issuers, 8, EVP_sha512(), 128);
	der = req_der(req, &len);
	OCSP_REQUEST_free(req);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	assert_int_equal(ocsp_query_encode(&q, &buf, &blen), 0);
	assert_int_equal(ocsp_query_decode(buf, blen, &q2, err, sizeof(err)), 0);
	query_equal(&q, &q2);
	free(buf);
	OPENSSL_free(der);
	/* absent parameters and a nonce-less query */
	q.nids = 1;
	q.ids[0].params_null = 0;
	q.nonce_len = 0;
	assert_int_equal(ocsp_query_encode(&q, &buf, &blen), 0);
	assert_int_equal(ocsp_query_decode(buf, blen, &q2, err, sizeof(err)), 0);
	query_equal(&q, &q2);
	free(buf);
	q.ids[0].params_null = 2;
	assert_int_equal(ocsp_query_encode(&q, &buf, &blen), -1);
	q.ids[0].params_null = 0;
	q.nids = 9;
	assert_int_equal(ocsp_query_encode(&q, &buf, &blen), -1);

	assert_int_equal(ocsp_status_encode(st, 3, &buf, &blen), 0);
	assert_int_equal(blen, 31);
	assert_int_equal(ocsp_status_decode(buf, blen, got, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(got[i].status, st[i].status);
		assert_true(got[i].revoked_at == st[i].revoked_at);
		assert_int_equal(got[i].reason, st[i].reason);
	}
	free(buf);
	/* unused fields of a good status are sent as 0 / -1 */
	assert_int_equal(ocsp_status_encode(&sloppy, 1, &buf, &blen), 0);
	assert_int_equal(ocsp_status_decode(buf, blen, got, &n, err, sizeof(err)), 0);
	assert_true(got[0].revoked_at == 0);
	assert_int_equal(got[0].reason, -1);
	free(buf);
	assert_int_equal(ocsp_status_encode(st, 0, &buf, &blen), -1);
	assert_int_equal(ocsp_status_encode(st, 9, &buf, &blen), -1);
}

static void
test_ocsp_framing_malformed(void **state)
{
#define C(w, s) { w, (const unsigned char *)s, sizeof(s) - 1 }
	/* one valid SHA-1 CertID body: hash 1, params 1, len 20, hashes, serial 0x42 */
#define H20 "\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11"
#define ID1 "\x01\x01\x14" H20 H20 "\x01\x42"
	static const struct {
		const char		*what;
		const unsigned char	*b;
		size_t			 len;
	} qcases[] = {
		{ "empty", (const unsigned char *)"", 0 },
		C("zero CertIDs", "\x00\x00"),
		C("nine CertIDs", "\x09" ID1 ID1 ID1 ID1 ID1 ID1 ID1 ID1 ID1 "\x00"),
		C("hash 5", "\x01\x05\x01\x14" H20 H20 "\x01\x42\x00"),
		C("hash length 32 for SHA-1", "\x01\x01\x01\x20" H20 H20 "\x01\x42\x00"),
		C("params 2", "\x01\x01\x02\x14" H20 H20 "\x01\x42\x00"),
		C("hashes cut", "\x01\x01\x01\x14" H20),
		C("serial length 0", "\x01\x01\x01\x14" H20 H20 "\x00\x00"),
		C("serial length 32", "\x01\x01\x01\x14" H20 H20 "\x20" H20 "\x01\x01\x01\x01\x01"
		    "\x01\x01\x01\x01\x01\x01\x01\x00"),
		C("serial leading zero", "\x01\x01\x01\x14" H20 H20 "\x02\x00\x42\x00"),
		C("serial cut", "\x01\x01\x01\x14" H20 H20 "\x03\x42"),
		C("serial length, then the end", "\x01\x01\x01\x14" H20 H20 "\x02"),
		C("no nonce length", "\x01" ID1),
		C("nonce 129", "\x01" ID1 "\x81"),
		C("nonce cut", "\x01" ID1 "\x04\x01\x02\x03"),
		C("trailing byte", "\x01" ID1 "\x00\x00"),
	}, scases[] = {
		{ "empty", (const unsigned char *)"", 0 },
		C("zero entries", "\x00"),
		C("nine entries", "\x09"),
		C("short", "\x01\x00\x00\x00\x00\x00\x00\x00\x00\xff\x00"),
		C("cut", "\x01\x00\x00\x00\x00\x00\x00\x00\x00"),
		C("status 3", "\x01\x03\x00\x00\x00\x00\x00\x00\x00\x00\xff"),
		C("good with a time", "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\xff"),
		C("good with a reason", "\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
		C("revoked reason 7", "\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\x07"),
		C("revoked reason -2", "\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\xfe"),
		C("revoked negative time", "\x01\x01\xff\x00\x00\x00\x00\x00\x00\x01\x01"),
	};
#undef C
	struct ocsp_query	 q;
	struct ocsp_status	 st[OCSP_IDS_MAX];
	size_t			 i, n;
	char			 err[256];

	(void)state;
	/* the valid neighbours first, so the tables test one fault each */
	assert_int_equal(ocsp_query_decode((const unsigned char *)"\x01" ID1 "\x00",
	    sizeof("\x01" ID1 "\x00") - 1, &q, err, sizeof(err)), 0);
	assert_string_equal(q.ids[0].serial_hex, "42");
	assert_int_equal(ocsp_status_decode((const unsigned char *)
	    "\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\xff", 11, st, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st[0].reason, -1);
	for (i = 0; i < sizeof(qcases) / sizeof(qcases[0]); i++) {
		err[0] = '\0';
		memset(&q, 0x55, sizeof(q));
		if (ocsp_query_decode(qcases[i].b, qcases[i].len, &q, err, sizeof(err)) != -1)
			fail_msg("query \"%s\": accepted", qcases[i].what);
		assert_true(err[0] != '\0');
		assert_int_equal(q.nids, 0);
	}
	for (i = 0; i < sizeof(scases) / sizeof(scases[0]); i++) {
		err[0] = '\0';
		n = 99;
		if (ocsp_status_decode(scases[i].b, scases[i].len, st, &n, err, sizeof(err)) != -1)
			fail_msg("status \"%s\": accepted", scases[i].what);
		assert_true(err[0] != '\0');
		assert_int_equal(n, 0);
	}
#undef ID1
#undef H20
}

static void
write_pem(const char *path, X509 *x)
{
	char	err[256];

	if (pki_certs_write(path, &x, 1, 1, err, sizeof(err)) != 0)
		fail_msg("%s: %s", path, err);
}

/* The openssl command reads our response, verifies it against the CA and the nonce. */
static void
test_ocsp_openssl_cli(void **state)
{
	struct fx		*fx = *state;
	X509			*certs[2] = { fx->ca->leaf[0], fx->ca->leaf[1] };
	X509			*issuers[2] = { fx->ca->tu.cert, fx->ca->tu.cert };
	struct ocsp_status	 st[2] = {
		{ OCSP_CERT_GOOD, 0, -1 },
		{ OCSP_CERT_REVOKED, T0, CRL_RC_CESSATION },
	};
	struct ocsp_query	 q;
	OCSP_REQUEST		*req;
	unsigned char		*der, *rder = NULL;
	size_t			 len, rlen;
	char			 err[256], reqf[128], respf[128], leaf0[128], leaf1[128], out[128];
	char			 cmd[2 * LABPKI_PATH + 1024];
	int			 rc;

	req = req_make(certs, issuers, 2, NULL, 32);
	der = req_der(req, &len);
	OCSP_REQUEST_free(req);
	assert_int_equal(ocsp_request_parse(der, len, &q, err, sizeof(err)), 0);
	assert_int_equal(ocsp_response_build(fx->ca->tu.cert, fx->ca->tu.key, &q, st,
	    (int64_t)time(NULL) - 60, 24, &rder, &rlen, err, sizeof(err)), 0);
	snprintf(reqf, sizeof(reqf), "%s/req.der", fx->ca->tu.dir);
	snprintf(respf, sizeof(respf), "%s/resp.der", fx->ca->tu.dir);
	snprintf(leaf0, sizeof(leaf0), "%s/leaf0.pem", fx->ca->tu.dir);
	snprintf(leaf1, sizeof(leaf1), "%s/leaf1.pem", fx->ca->tu.dir);
	snprintf(out, sizeof(out), "%s/ocsp.txt", fx->ca->tu.dir);
	assert_int_equal(pki_file_write(reqf, der, len, 0644, 1, err, sizeof(err)), 0);
	assert_int_equal(pki_file_write(respf, rder, rlen, 0644, 1, err, sizeof(err)), 0);
	write_pem(leaf0, fx->ca->leaf[0]);
	write_pem(leaf1, fx->ca->leaf[1]);
	/* 1: our request and response: signature, chain and the nonce echo */
	snprintf(cmd, sizeof(cmd), "openssl ocsp -respin '%s' -reqin '%s' -CAfile '%s' "
	    "-resp_text >'%s' 2>&1", respf, reqf, fx->ca->tu.cert_path, out);
	rc = system(cmd);
	if (rc != 0 || !tu_file_contains(out, "Response verify OK"))
		fail_msg("openssl ocsp -reqin: rc %d, see %s", rc, out);
	assert_false(tu_file_contains(out, "Nonce Verify error"));
	assert_false(tu_file_contains(out, "WARNING: no nonce"));
	assert_true(tu_file_contains(out, "Cert Status: good"));
	assert_true(tu_file_contains(out, "Cert Status: revoked"));
	assert_true(tu_file_contains(out, "Revocation Reason: cessationOfOperation (0x5)"));
	assert_true(tu_file_contains(out, "Responder Id: "));
	assert_true(tu_file_contains(out, "OCSP Nonce"));
	/* 2: the status per certificate, as the tool matches CertIDs itself (-cert builds its own
	 * request, so its nonce cannot be ours: -no_nonce) */
	snprintf(cmd, sizeof(cmd), "openssl ocsp -respin '%s' -CAfile '%s' -issuer '%s' "
	    "-cert '%s' -cert '%s' -no_nonce >'%s' 2>&1", respf, fx->ca->tu.cert_path,
	    fx->ca->tu.cert_path, leaf0, leaf1, out);
	rc = system(cmd);
	if (rc != 0 || !tu_file_contains(out, "Response verify OK"))
		fail_msg("openssl ocsp -cert: rc %d, see %s", rc, out);
	assert_true(tu_file_contains(out, "leaf0.pem: good"));
	assert_true(tu_file_contains(out, "leaf1.pem: revoked"));
	assert_true(tu_file_contains(out, "Reason: cessationOfOperation"));
	free(rder);
	OPENSSL_free(der);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ocsp_parse_request),
		cmocka_unit_test(test_ocsp_parse_signed_request),
		cmocka_unit_test(test_ocsp_response_statuses),
		cmocka_unit_test(test_ocsp_response_plain),
		cmocka_unit_test(test_ocsp_response_bad_input),
		cmocka_unit_test(test_ocsp_key_types),
		cmocka_unit_test(test_ocsp_malformed_requests),
		cmocka_unit_test(test_ocsp_get_path),
		cmocka_unit_test(test_ocsp_error_response),
		cmocka_unit_test(test_ocsp_framing_roundtrip),
		cmocka_unit_test(test_ocsp_framing_malformed),
		cmocka_unit_test(test_ocsp_openssl_cli),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
