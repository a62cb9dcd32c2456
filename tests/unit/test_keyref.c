/*
 * test_keyref: RFC 7512 PKCS#11 URIs as certs/keyref.h reads them (one table of cases),
 * the display form that masks pin-value, the pin-source file rules, and that no error text
 * ever carries the PIN. The token itself (SoftHSM2) is tests/integration/test_pkcs11_ca.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "certs/keyref.h"

#define PIN	"s3cr3t-PIN-4711"

struct uri_case {
	const char	*name;
	const char	*uri;
	const char	*err;		/* NULL: parses; else a substring of the error */
	const char	*token, *object;
	const char	*id;		/* the id bytes, as a C string (no NUL in these) */
	const char	*pin_source, *pin_value, *module;
};

/* A URI that must be refused, and a part of the reason. */
#define BAD(n, u, e)	{ .name = (n), .uri = (u), .err = (e) }

static const struct uri_case uri_cases[] = {
	{ "token and object", "pkcs11:token=lk;object=ca", NULL, "lk", "ca", "", "", NULL, "" },
	{ "scheme case-insensitive", "PKCS11:token=lk;object=ca", NULL, "lk", "ca", "", "",
	    NULL, "" },
	{ "type=private", "pkcs11:token=lk;object=ca;type=private", NULL, "lk", "ca", "", "",
	    NULL, "" },
	{ "id only", "pkcs11:token=lk;id=%01%02%FF", NULL, "lk", "", "\x01\x02\xff", "", NULL,
	    "" },
	{ "percent-encoded labels (RFC 7512 §2.3)", "pkcs11:token=My%20Token;object=CA%3bkey",
	    NULL, "My Token", "CA;key", "", "", NULL, "" },
	{ "lower-case hex escapes", "pkcs11:token=a%2fb;object=c", NULL, "a/b", "c", "", "",
	    NULL, "" },
	{ "pin-source path", "pkcs11:token=lk;object=ca?pin-source=/etc/lk/pin", NULL, "lk",
	    "ca", "", "/etc/lk/pin", NULL, "" },
	{ "pin-source file: URI", "pkcs11:token=lk;object=ca?pin-source=file:///etc/lk/pin",
	    NULL, "lk", "ca", "", "/etc/lk/pin", NULL, "" },
	{ "pin-value and module-path", "pkcs11:token=lk;object=ca?pin-value=" PIN
	    "&module-path=/usr/lib/softhsm/libsofthsm2.so", NULL, "lk", "ca", "", "", PIN,
	    "/usr/lib/softhsm/libsofthsm2.so" },
	{ "encoded pin-value", "pkcs11:token=lk;object=ca?pin-value=a%26b", NULL, "lk", "ca", "",
	    "", "a&b", "" },
	BAD("not pkcs11", "file:/etc/key.pem", "not a pkcs11: URI"),
	BAD("no token", "pkcs11:object=ca", "token= is required"),
	BAD("no object nor id", "pkcs11:token=lk", "object= or id= is required"),
	BAD("empty", "pkcs11:", "token= is required"),
	BAD("unknown path attribute", "pkcs11:token=lk;object=ca;serial=42",
	    "unsupported attribute \"serial\""),
	BAD("unknown query attribute", "pkcs11:token=lk;object=ca?module-name=softhsm2",
	    "unsupported attribute \"module-name\""),
	BAD("vendor attribute", "pkcs11:token=lk;object=ca;x-foo=1", "unsupported attribute"),
	BAD("query attribute in the path", "pkcs11:token=lk;object=ca;pin-source=/p",
	    "belongs in the query"),
	BAD("path attribute in the query", "pkcs11:token=lk?object=ca", "belongs in the path"),
	BAD("attribute twice", "pkcs11:token=lk;object=ca;object=cb", "object given twice"),
	BAD("no '='", "pkcs11:token=lk;object", "without '='"),
	BAD("empty attribute", "pkcs11:token=lk;;object=ca", "empty attribute"),
	BAD("trailing ';'", "pkcs11:token=lk;object=ca;", "empty attribute"),
	BAD("empty value", "pkcs11:token=;object=ca", "token is empty"),
	BAD("bad escape", "pkcs11:token=l%zk;object=ca", "bad percent-encoding"),
	BAD("short escape", "pkcs11:token=lk;object=ca%4", "bad percent-encoding"),
	BAD("NUL byte in a label", "pkcs11:token=l%00k;object=ca", "NUL byte"),
	BAD("type=public", "pkcs11:token=lk;object=ca;type=public", "only type=private"),
	BAD("relative pin-source", "pkcs11:token=lk;object=ca?pin-source=pin",
	    "absolute path"),
	BAD("pin-source with pin-value", "pkcs11:token=lk;object=ca?pin-source=/p&pin-value="
	    PIN, "not both"),
	BAD("bad pin-value escape", "pkcs11:token=lk;object=ca?pin-value=" PIN "%G1",
	    "pin-value: bad percent-encoding"),
	BAD("pin-value too long", "pkcs11:token=lk;object=ca?pin-value="
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789",
	    "too long"),
	BAD("label too long", "pkcs11:object=ca;token="
	    "0123456789012345678901234567890123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789012345678901234567890123456789",
	    "too long"),
};

static void
test_uri_parse(void **state)
{
	struct keyref_uri u;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(uri_cases) / sizeof(uri_cases[0]); i++) {
		const struct uri_case *c = &uri_cases[i];
		int r;

		err[0] = '\0';
		r = keyref_uri_parse(c->uri, &u, err, sizeof(err));
		if (c->err != NULL) {
			if (r != -1)
				fail_msg("%s: parsed, expected an error", c->name);
			if (strstr(err, c->err) == NULL)
				fail_msg("%s: error \"%s\", expected \"%s\"", c->name, err, c->err);
			if (strstr(err, PIN) != NULL)
				fail_msg("%s: the error shows the PIN", c->name);
			continue;
		}
		if (r != 0)
			fail_msg("%s: %s", c->name, err);
		if (strcmp(u.token, c->token) != 0 || strcmp(u.object, c->object) != 0)
			fail_msg("%s: token \"%s\" object \"%s\"", c->name, u.token, u.object);
		if (u.id_len != strlen(c->id) || memcmp(u.id, c->id, u.id_len) != 0)
			fail_msg("%s: id of %zu bytes", c->name, u.id_len);
		if (strcmp(u.pin_source, c->pin_source) != 0)
			fail_msg("%s: pin-source \"%s\"", c->name, u.pin_source);
		if ((c->pin_value != NULL) != (u.has_pin_value != 0) ||
		    (c->pin_value != NULL && strcmp(u.pin_value, c->pin_value) != 0))
			fail_msg("%s: pin-value wrong", c->name);
		if (strcmp(u.module_path, c->module) != 0)
			fail_msg("%s: module-path \"%s\"", c->name, u.module_path);
		keyref_uri_clear(&u);
		if (u.pin_value[0] != '\0')
			fail_msg("%s: keyref_uri_clear left the PIN", c->name);
	}
}

static void
test_is_pkcs11(void **state)
{
	(void)state;
	assert_true(keyref_is_pkcs11("pkcs11:token=a;object=b"));
	assert_true(keyref_is_pkcs11("Pkcs11:token=a"));
	assert_false(keyref_is_pkcs11("/etc/latchkey/domain-ca.key"));
	assert_false(keyref_is_pkcs11("domain-ca.key"));
	assert_false(keyref_is_pkcs11("pkcs11"));
	assert_false(keyref_is_pkcs11(NULL));
}

static void
test_display_masks_pin(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "pkcs11:token=lk;object=ca?pin-value=" PIN,
		    "pkcs11:token=lk;object=ca?pin-value=***" },
		{ "pkcs11:token=lk;object=ca?pin-value=" PIN "&module-path=/m.so",
		    "pkcs11:token=lk;object=ca?pin-value=***&module-path=/m.so" },
		{ "pkcs11:token=lk;object=ca?module-path=/m.so&pin-value=" PIN,
		    "pkcs11:token=lk;object=ca?module-path=/m.so&pin-value=***" },
		{ "pkcs11:token=lk;object=ca?pin-source=/p", "pkcs11:token=lk;object=ca?pin-source=/p" },
		{ "/etc/latchkey/domain-ca.key", "/etc/latchkey/domain-ca.key" },
	};
	char out[256], tiny[20];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		keyref_display(cases[i].in, out, sizeof(out));
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: \"%s\"", i, out);
	}
	/* truncation never lets a part of the PIN through */
	for (i = 1; i < sizeof(tiny); i++) {
		keyref_display("pkcs11:token=l;object=c?pin-value=" PIN, tiny, i);
		assert_null(strstr(tiny, "s3"));
		assert_true(strlen(tiny) < i);
	}
}

/* A PIN file: the PIN never in the error, a loose mode refused, a missing file named. */
static void
test_pin_source_rules(void **state)
{
	char dir[] = "/tmp/lk-keyref.XXXXXX", pin[64], uri[256], err[512];
	EVP_PKEY *k;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(pin, sizeof(pin), "%s/pin", dir);
	assert_non_null(f = fopen(pin, "w"));
	fprintf(f, "%s\n", PIN);
	fclose(f);
	snprintf(uri, sizeof(uri), "pkcs11:token=lk;object=ca?pin-source=%s&module-path=%s/none.so",
	    pin, dir);

	assert_int_equal(chmod(pin, 0644), 0);
	assert_null(k = keyref_load(uri, err, sizeof(err)));
	if (strstr(err, "mode 0644") == NULL || strstr(err, "chmod 0600") == NULL)
		fail_msg("loose PIN file: \"%s\"", err);
	assert_null(strstr(err, PIN));

	assert_int_equal(chmod(pin, 0640), 0);
	assert_null(k = keyref_load(uri, err, sizeof(err)));
	assert_non_null(strstr(err, "mode 0640"));

	/* 0600: the PIN is read, then the missing module is the error, without the PIN */
	assert_int_equal(chmod(pin, 0600), 0);
	assert_null(k = keyref_load(uri, err, sizeof(err)));
	if (strstr(err, "cannot load PKCS#11 module") == NULL)
		fail_msg("missing module: \"%s\"", err);
	assert_null(strstr(err, PIN));

	assert_int_equal(unlink(pin), 0);
	assert_null(k = keyref_load(uri, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(rmdir(dir), 0);
}

/* Every failing load or generation with a pin-value: the error shows the URI masked. */
static void
test_errors_never_show_pin(void **state)
{
	static const char *const uris[] = {
		"pkcs11:token=lk;object=ca?pin-value=" PIN "&module-path=/nonexistent/m.so",
		"pkcs11:token=lk;object=ca?pin-value=" PIN "&module-path=/etc/hostname",
		"pkcs11:token=lk?pin-value=" PIN,
		"pkcs11:token=lk;object=ca;bogus=1?pin-value=" PIN,
	};
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		err[0] = '\0';
		assert_null(keyref_load(uris[i], err, sizeof(err)));
		assert_true(err[0] != '\0');
		if (strstr(err, PIN) != NULL)
			fail_msg("load %zu: the PIN in \"%s\"", i, err);
		err[0] = '\0';
		assert_null(keyref_generate(uris[i], NULL, err, sizeof(err)));
		assert_true(err[0] != '\0');
		if (strstr(err, PIN) != NULL)
			fail_msg("generate %zu: the PIN in \"%s\"", i, err);
	}
	assert_null(keyref_generate(uris[0], "rsa2048", err, sizeof(err)));
	assert_non_null(strstr(err, "only p256"));
	assert_null(strstr(err, PIN));
}

/* A file reference is pki_key_read(); a PEM key that is not there is named. */
static void
test_file_reference(void **state)
{
	char err[256];

	(void)state;
	assert_null(keyref_load("/nonexistent/domain-ca.key", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/domain-ca.key"));
	assert_int_equal(keyref_lock(NULL), -1);
	keyref_unlock(-1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_parse),
		cmocka_unit_test(test_is_pkcs11),
		cmocka_unit_test(test_display_masks_pin),
		cmocka_unit_test(test_pin_source_rules),
		cmocka_unit_test(test_errors_never_show_pin),
		cmocka_unit_test(test_file_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
