/*
 * test_charon_id: the device's default remote identity for `latchkey latch`
 * (charon_registrar_id(), enroll/latch/charon.h). Only a certificate under the domain CA
 * that carries id-kp-cmcRA names the registrar; its subject becomes strongSwan's DN text.
 * One table over certificates made here: init's registrar, an LDevID, another domain's
 * registrar, subjects charon's DN syntax can and cannot carry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/pki.h"
#include "enroll/latch/charon.h"
#include "tests/unit/testutil.h"

/* One certificate under ca: subject from "ATTR=VALUE" pairs (set > 0 joins the previous
 * RDN), EKU from ekus ("serverAuth,cmcRA"; NULL none). */
struct rdn {
	const char	*attr, *value;
	int		 same_set;
};

static X509 *
make_cert(const struct tu_ca *ca, const struct rdn *rdns, size_t n, const char *ekus)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *c = X509_new();
	X509_NAME *nm;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	size_t i;

	assert_non_null(key);
	assert_non_null(c);
	assert_int_equal(X509_set_version(c, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(c), (long)(rand() & 0x7fffffff) + 2);
	X509_gmtime_adj(X509_getm_notBefore(c), -60);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	nm = X509_get_subject_name(c);
	for (i = 0; i < n; i++)
		assert_int_equal(X509_NAME_add_entry_by_txt(nm, rdns[i].attr, MBSTRING_ASC,
		    (const unsigned char *)rdns[i].value, -1, -1, rdns[i].same_set ? -1 : 0),
		    1);
	assert_int_equal(X509_set_issuer_name(c, X509_get_subject_name(ca->cert)), 1);
	assert_int_equal(X509_set_pubkey(c, key), 1);
	X509V3_set_ctx(&v3, ca->cert, c, NULL, NULL, 0);
	if (ekus != NULL) {
		assert_non_null(ext = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage,
		    ekus));
		assert_int_equal(X509_add_ext(c, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(c, ca->key, EVP_sha256()) > 0);
	EVP_PKEY_free(key);
	return c;
}

static unsigned char *
der_of(X509 *c, size_t *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(c, &der);

	assert_true(n > 0);
	*len = (size_t)n;
	return der;
}

static void
test_registrar_id(void **state)
{
	static const struct rdn cn[] = { { "CN", "registrar.example.test", 0 } };
	static const struct rdn full[] = {
		{ "C", "DE", 0 }, { "O", "Example", 0 }, { "OU", "Net", 0 },
		{ "CN", "registrar.example.test", 0 },
	};
	static const struct rdn comma[] = { { "CN", "registrar, example", 0 } };
	static const struct rdn multi[] = {
		{ "CN", "registrar", 0 }, { "O", "Example", 1 },
	};
	static const struct rdn title[] = { { "title", "registrar", 0 } };
	static const struct rdn ldevid[] = {
		{ "serialNumber", "LK0123ABCDEF", 0 }, { "CN", "LK0123ABCDEF", 0 },
	};
	enum { INIT, PLAIN, FULL, COMMA, MULTI, TITLE, LDEVID, OTHER_CA, NOT_DER, NCERTS };
	static const struct {
		const char	*what;
		int		 cert;
		int		 rc;
		const char	*want;	/* the DN (rc 0) or a part of the error (rc -1) */
	} rows[] = {
		{ "init's registrar", INIT, 0, "CN=" },
		{ "a registrar named by CN", PLAIN, 0, "CN=registrar.example.test" },
		{ "RDNs in certificate order", FULL, 0,
		    "C=DE, O=Example, OU=Net, CN=registrar.example.test" },
		{ "a ',' in a value", COMMA, -1, "give --remote-id" },
		{ "a multi-valued RDN", MULTI, -1, "multi-valued" },
		{ "an attribute charon is not told about", TITLE, -1, "give --remote-id" },
		{ "an LDevID (no cmcRA)", LDEVID, -1, "lacks id-kp-cmcRA" },
		{ "a registrar of another domain CA", OTHER_CA, -1, "does not verify" },
		{ "not DER", NOT_DER, -1, "not DER" },
	};
	struct tu_ca ca, other;
	X509 *c[NCERTS] = { NULL };
	unsigned char *der;
	char out[CHARON_ID_MAX], err[256], path[LABPKI_PATH + 16];
	size_t i, len;
	int rc;

	(void)state;
	tu_ca_init(&ca, "test_charon_id", NULL);
	tu_ca_init(&other, "test_charon_id_other", NULL);
	snprintf(path, sizeof(path), "%s/registrar.pem", ca.dir);
	assert_non_null(c[INIT] = pki_cert_read(path, err, sizeof(err)));
	c[PLAIN] = make_cert(&ca, cn, 1, "serverAuth,clientAuth,cmcRA");
	c[FULL] = make_cert(&ca, full, 4, "serverAuth,cmcRA");
	c[COMMA] = make_cert(&ca, comma, 1, "serverAuth,cmcRA");
	c[MULTI] = make_cert(&ca, multi, 2, "serverAuth,cmcRA");
	c[TITLE] = make_cert(&ca, title, 1, "serverAuth,cmcRA");
	c[LDEVID] = make_cert(&ca, ldevid, 2, "serverAuth,clientAuth");
	c[OTHER_CA] = make_cert(&other, cn, 1, "serverAuth,clientAuth,cmcRA");

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].cert == NOT_DER) {
			der = (unsigned char *)strdup("-----BEGIN CERTIFICATE-----");
			assert_non_null(der);
			len = strlen((char *)der);
		} else
			der = der_of(c[rows[i].cert], &len);
		err[0] = '\0';
		rc = charon_registrar_id(der, len, ca.cert_path, out, sizeof(out), err,
		    sizeof(err));
		if (rows[i].cert == NOT_DER)
			free(der);
		else
			OPENSSL_free(der);
		if (rc != rows[i].rc)
			fail_msg("%s: rc %d, want %d (%s)", rows[i].what, rc, rows[i].rc, err);
		if (rc == 0 && rows[i].cert == INIT) {
			if (strncmp(out, rows[i].want, 3) != 0 || strchr(out, '\n') != NULL)
				fail_msg("%s: \"%s\"", rows[i].what, out);
		} else if (rc == 0 && strcmp(out, rows[i].want) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", rows[i].what, out, rows[i].want);
		else if (rc == -1 && (strstr(err, rows[i].want) == NULL || out[0] != '\0'))
			fail_msg("%s: error \"%s\" lacks \"%s\" (out \"%s\")", rows[i].what, err,
			    rows[i].want, out);
	}
	for (i = 0; i < NCERTS; i++)
		X509_free(c[i]);
	tu_ca_clear(&other);
	tu_ca_clear(&ca);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registrar_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
