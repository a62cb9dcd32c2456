/*
 * Unit tests for certs/codesign.c: update-signing certificates, signing a manifest, and the
 * device's judgement of the signature and the signer (chain, EKU, CRL), as a table of cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "certs/codesign.h"
#include "certs/crl.h"
#include "certs/ocsp.h"
#include "certs/pki.h"
#include "tests/unit/testutil.h"

#define CRL_URL	"http://127.0.0.1:1/.well-known/latchkey/crl"
static const char body[] = "{\"manifest-version\":1}";

/* A CRL of ca listing serial (NULL: none), issued at t for hours. */
static unsigned char *
crl_of(struct tu_ca *ca, X509 *revoked, int64_t t, unsigned hours, size_t *len)
{
	struct crl_entry e;
	unsigned char *der = NULL;
	char err[256];

	memset(&e, 0, sizeof(e));
	if (revoked != NULL) {
		assert_int_equal(pki_cert_serial_hex(revoked, e.serial_hex,
		    sizeof(e.serial_hex)), 0);
		e.revoked_at = t;
		e.reason = CRL_RC_KEY_COMPROMISE;
	}
	if (crl_build(ca->cert, ca->key, &e, revoked != NULL, 1, t, hours, &der, len, err,
	    sizeof(err)) == -1)
		fail_msg("crl_build: %s", err);
	return der;
}

static void
test_codesign(void **state)
{
	struct tu_ca ca, other;
	EVP_PKEY *k, *ok;
	X509 *signer, *osigner;
	unsigned char *cms, *crl_good, *crl_rev, *crl_old, *crl_other, *crl_future;
	size_t cms_len, ng, nr, no, nx, nf;
	time_t now = time(NULL);
	char err[512], url[CODESIGN_URL_MAX];
	size_t i;

	(void)state;
	tu_ca_init(&ca, "lk-codesign", NULL);
	tu_ca_init(&other, "lk-codesign-other", NULL);
	assert_non_null(k = pki_key_new(NULL, err, sizeof(err)));
	assert_non_null(ok = pki_key_new(NULL, err, sizeof(err)));
	/* issuing: a CRL URL is required, the EKU is codeSigning only */
	assert_null(codesign_issue(ca.cert, ca.key, k, "update-signer:x", 30, NULL, NULL, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "CRL URL"));
	assert_non_null(signer = codesign_issue(ca.cert, ca.key, k, "update-signer:x", 30,
	    CRL_URL, NULL, err, sizeof(err)));
	assert_int_equal(pki_cert_has_eku(signer, NID_code_sign), 1);
	assert_int_equal(pki_cert_has_eku(signer, NID_server_auth), 0);
	assert_int_equal(pki_cert_has_eku(signer, NID_client_auth), 0);
	assert_int_equal(codesign_crl_url(signer, url, sizeof(url), err, sizeof(err)), 0);
	assert_string_equal(url, CRL_URL);
	assert_non_null(osigner = codesign_issue(other.cert, other.key, ok, "update-signer:o",
	    30, CRL_URL, NULL, err, sizeof(err)));
	/* signing needs a codeSigning certificate and its key */
	assert_int_equal(codesign_sign(ca.cert, ca.key, (const unsigned char *)body,
	    strlen(body), &cms, &cms_len, err, sizeof(err)), -1);
	assert_int_equal(codesign_sign(signer, ok, (const unsigned char *)body, strlen(body),
	    &cms, &cms_len, err, sizeof(err)), -1);
	crl_good = crl_of(&ca, NULL, now - 60, 24, &ng);
	crl_rev = crl_of(&ca, signer, now - 60, 24, &nr);
	crl_old = crl_of(&ca, NULL, now - 7200, 1, &no);	/* nextUpdate passed */
	crl_other = crl_of(&other, NULL, now - 60, 24, &nx);
	crl_future = crl_of(&ca, NULL, now + 3600, 24, &nf);	/* beyond the skew */
	{
		const struct {
			const char	*name;
			X509		*cert;
			EVP_PKEY	*key;
			int		 tamper;	/* flip a byte of the content */
			unsigned char	*crl;
			size_t		 crl_len;
			const char	*want;		/* NULL: accepted */
		} cases[] = {
			{ "good", signer, k, 0, crl_good, ng, NULL },
			{ "tampered content", signer, k, 1, crl_good, ng, "bad signature" },
			{ "revoked signer", signer, k, 0, crl_rev, nr, "revoked" },
			{ "expired CRL", signer, k, 0, crl_old, no, "no current CRL" },
			{ "CRL of another CA", signer, k, 0, crl_other, nx, "no current CRL" },
			{ "CRL from the future", signer, k, 0, crl_future, nf, "future" },
			{ "no CRL", signer, k, 0, NULL, 0, "no readable CRL" },
			{ "another domain", osigner, ok, 0, crl_good, ng, "does not chain" },
		};
		STACK_OF(X509) *anchors = sk_X509_new_null(), *certs;
		X509 *who;
		char *content;
		size_t clen;
		unsigned char *der;
		size_t dlen;
		int rc;

		assert_non_null(anchors);
		assert_true(sk_X509_push(anchors, ca.cert) > 0);
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			if (codesign_sign(cases[i].cert, cases[i].key, (const unsigned char *)body,
			    strlen(body), &der, &dlen, err, sizeof(err)) == -1)
				fail_msg("%s: sign: %s", cases[i].name, err);
			if (cases[i].tamper) {
				unsigned char *p = memmem(der, dlen, "manifest", 8);

				assert_non_null(p);
				p[0] ^= 0x20;
			}
			rc = codesign_open(der, dlen, 1024, &content, &clen, &who, &certs, err,
			    sizeof(err));
			if (rc == 0) {
				assert_int_equal(clen, strlen(body));
				assert_memory_equal(content, body, clen);
				rc = codesign_check_signer(who, certs, anchors, cases[i].crl,
				    cases[i].crl_len, now, err, sizeof(err));
				free(content);
				X509_free(who);
				sk_X509_pop_free(certs, X509_free);
			}
			free(der);
			if (cases[i].want == NULL && rc != 0)
				fail_msg("%s: refused: %s", cases[i].name, err);
			if (cases[i].want != NULL && (rc != -1 ||
			    strstr(err, cases[i].want) == NULL))
				fail_msg("%s: rc %d, error \"%s\" does not name \"%s\"",
				    cases[i].name, rc, err, cases[i].want);
		}
		sk_X509_free(anchors);
	}
	/* not CMS at all (a SignedData without signers: tests/integration/test_update.sh) */
	assert_int_equal(codesign_open((const unsigned char *)body, strlen(body), 1024,
	    &(char *){ NULL }, &(size_t){ 0 }, &(X509 *){ NULL }, &(STACK_OF(X509) *){ NULL },
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unsigned manifest"));
	free(crl_good);
	free(crl_rev);
	free(crl_old);
	free(crl_other);
	free(crl_future);
	X509_free(signer);
	X509_free(osigner);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ok);
	tu_ca_clear(&ca);
	tu_ca_clear(&other);
}

/* An OCSP answer to codesign_ocsp_request() for cert, signed by responder (ca or other). */
static unsigned char *
ocsp_answer(X509 *cert, STACK_OF(X509) *anchors, struct tu_ca *responder, int status,
    size_t *len)
{
	struct ocsp_query q;
	struct ocsp_status st = { status, 0, -1 };
	unsigned char *req, *der = NULL;
	size_t rlen;
	char err[256];

	if (status == OCSP_CERT_REVOKED) {
		st.revoked_at = time(NULL) - 10;
		st.reason = CRL_RC_KEY_COMPROMISE;
	}
	if (codesign_ocsp_request(cert, anchors, &req, &rlen, err, sizeof(err)) == -1 ||
	    ocsp_request_parse(req, rlen, &q, err, sizeof(err)) == -1 ||
	    ocsp_response_build(responder->cert, responder->key, &q, &st, time(NULL) - 5, 1,
	    &der, len, err, sizeof(err)) == -1)
		fail_msg("OCSP answer: %s", err);
	free(req);
	return der;
}

static void
test_ocsp(void **state)
{
	struct tu_ca ca, other;
	EVP_PKEY *k;
	X509 *signer;
	STACK_OF(X509) *anchors;
	unsigned char *der;
	size_t len, i;
	char err[512], url[CODESIGN_URL_MAX];
	const struct {
		const char	*name;
		int		 status;
		int		 foreign;	/* signed by another CA */
		const char	*want;
	} cases[] = {
		{ "good", OCSP_CERT_GOOD, 0, NULL },
		{ "revoked", OCSP_CERT_REVOKED, 0, "revoked (OCSP)" },
		{ "unknown", OCSP_CERT_UNKNOWN, 0, "does not know" },
		{ "another CA's answer", OCSP_CERT_GOOD, 1, "not the domain CA's" },
	};

	(void)state;
	tu_ca_init(&ca, "lk-codesign-ocsp", NULL);
	tu_ca_init(&other, "lk-codesign-ocsp2", NULL);
	assert_non_null(k = pki_key_new(NULL, err, sizeof(err)));
	assert_non_null(signer = codesign_issue(ca.cert, ca.key, k, "update-signer:o", 30,
	    CRL_URL, "http://127.0.0.1:1/ocsp", err, sizeof(err)));
	assert_int_equal(codesign_ocsp_url(signer, url, sizeof(url)), 0);
	assert_string_equal(url, "http://127.0.0.1:1/ocsp");
	assert_non_null(anchors = sk_X509_new_null());
	assert_true(sk_X509_push(anchors, ca.cert) > 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		der = ocsp_answer(signer, anchors, cases[i].foreign ? &other : &ca,
		    cases[i].status, &len);
		rc = codesign_ocsp_check(signer, NULL, anchors, der, len, time(NULL), err,
		    sizeof(err));
		free(der);
		if (cases[i].want == NULL && rc != 0)
			fail_msg("%s: refused: %s", cases[i].name, err);
		if (cases[i].want != NULL && (rc != -1 || strstr(err, cases[i].want) == NULL))
			fail_msg("%s: rc %d, \"%s\" does not name \"%s\"", cases[i].name, rc,
			    err, cases[i].want);
	}
	assert_int_equal(codesign_ocsp_check(signer, NULL, anchors,
	    (const unsigned char *)"junk", 4, time(NULL), err, sizeof(err)), -1);
	sk_X509_free(anchors);
	X509_free(signer);
	EVP_PKEY_free(k);
	tu_ca_clear(&ca);
	tu_ca_clear(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codesign),
		cmocka_unit_test(test_ocsp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
