/* Unit tests for enroll/latchkeyd/est.c: routing, media types, csrattrs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "enroll/latchkeyd/est.h"

static const struct {
	const char	*path;
	int		 rc;
	enum est_op	 op;
	const char	*label;
} routes[] = {
	{ "/.well-known/est/cacerts", 0, EST_OP_CACERTS, "" },
	{ "/.well-known/est/csrattrs", 0, EST_OP_CSRATTRS, "" },
	{ "/.well-known/est/simpleenroll", 0, EST_OP_SIMPLEENROLL, "" },
	{ "/.well-known/est/simplereenroll", 0, EST_OP_SIMPLEREENROLL, "" },
	{ "/.well-known/est/lab1/simpleenroll", 0, EST_OP_SIMPLEENROLL, "lab1" },
	{ "/.well-known/est/a.b_c-9/cacerts", 0, EST_OP_CACERTS, "a.b_c-9" },
	{ "/.well-known/est/", -1, 0, "" },
	{ "/.well-known/est", -1, 0, "" },
	{ "/.well-known/est/cacerts/", -1, 0, "" },
	{ "/.well-known/est/serverkeygen", -1, 0, "" },
	{ "/.well-known/est/lab/x/cacerts", -1, 0, "" },
	{ "/.well-known/est//cacerts", -1, 0, "" },
	{ "/.well-known/est/la%20b/cacerts", -1, 0, "" },
	{ "/.well-known/est/cacerts/cacerts", -1, 0, "" },
	{ "/.well-known/esT/cacerts", -1, 0, "" },
	{ "/cacerts", -1, 0, "" },
	{ "/.well-known/latchkey/status", 0, LK_OP_STATUS, "" },
	{ "/.well-known/latchkey/crl", 0, LK_OP_CRL, "" },
	{ "/.well-known/latchkey/crl/", -1, 0, "" },
	{ "/.well-known/latchkey/crl/0aF9", 0, LK_OP_CRL, "0aF9" },
	{ "/.well-known/latchkey/crl/0g", -1, 0, "" },
	{ "/.well-known/latchkey/crl/00/", -1, 0, "" },
	{ "/.well-known/latchkey/crl/../status", -1, 0, "" },
	{ "/.well-known/latchkey/ocsp/", -1, 0, "" },
	{ "/.well-known/latchkey/lab/status", -1, 0, "" },
	{ "/.well-known/latchkey/", -1, 0, "" },
	{ "", -1, 0, "" },
	{ "/.well-known/est/0123456789012345678901234567890123456789012345678901234567890123/cacerts",
	  0, EST_OP_CACERTS, "0123456789012345678901234567890123456789012345678901234567890123" },
	{ "/.well-known/est/01234567890123456789012345678901234567890123456789012345678901234/cacerts",
	  -1, 0, "" },
};

static void
test_route_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		enum est_op op = 0;
		char label[EST_LABEL_MAX + 1];
		int rc = est_route(routes[i].path, &op, label);

		if (rc != routes[i].rc)
			fail_msg("route %s: rc %d, want %d", routes[i].path, rc, routes[i].rc);
		if (rc == 0) {
			assert_int_equal(op, routes[i].op);
			assert_string_equal(label, routes[i].label);
		}
	}
}

static void
test_methods(void **state)
{
	(void)state;
	assert_string_equal(est_op_method(EST_OP_CACERTS), "GET");
	assert_string_equal(est_op_method(EST_OP_CSRATTRS), "GET");
	assert_string_equal(est_op_method(EST_OP_SIMPLEENROLL), "POST");
	assert_string_equal(est_op_method(EST_OP_SIMPLEREENROLL), "POST");
	assert_string_equal(est_op_name(EST_OP_SIMPLEREENROLL), "simplereenroll");
}

static const struct {
	const char	*header;
	const char	*want;
	int		 match;
} types[] = {
	{ "application/pkcs10", EST_CT_PKCS10, 1 },
	{ "Application/PKCS10", EST_CT_PKCS10, 1 },
	{ "application/pkcs10; charset=binary", EST_CT_PKCS10, 1 },
	{ "  application/pkcs10 ;x=y", EST_CT_PKCS10, 1 },
	{ "application/pkcs10x", EST_CT_PKCS10, 0 },
	{ "application/pkcs", EST_CT_PKCS10, 0 },
	{ "text/plain", EST_CT_PKCS10, 0 },
	{ "", EST_CT_PKCS10, 0 },
	{ NULL, EST_CT_PKCS10, 0 },
	{ "application/pkcs7-mime; smime-type=certs-only", EST_CT_CERTS, 1 },
	{ "application/pkcs7-mime", EST_CT_CERTS, 1 },
};

static void
test_media_types(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (est_media_type_is(types[i].header, types[i].want) != types[i].match)
			fail_msg("media type '%s' vs '%s': want %d",
			    types[i].header ? types[i].header : "(null)", types[i].want,
			    types[i].match);
}

/* The csrattrs answer decodes as a SEQUENCE whose first element is challengePassword. */
static void
test_csrattrs(void **state)
{
	size_t len;
	const unsigned char *der = est_csrattrs_der(&len), *p;
	long plen;
	int tag, xclass;
	ASN1_OBJECT *obj;

	(void)state;
	p = der;
	assert_int_equal(ASN1_get_object(&p, &plen, &tag, &xclass, (long)len) & 0x80, 0);
	assert_int_equal(tag, V_ASN1_SEQUENCE);
	assert_int_equal((size_t)plen + 2, len);
	obj = d2i_ASN1_OBJECT(NULL, &p, plen);
	assert_non_null(obj);
	assert_int_equal(OBJ_obj2nid(obj), NID_pkcs9_challengePassword);
	ASN1_OBJECT_free(obj);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_table),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_media_types),
		cmocka_unit_test(test_csrattrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
