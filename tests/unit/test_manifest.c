/* Unit tests for enroll/common/manifest.c: the update manifest's parser and Debian version order. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/manifest.h"

#define H64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define GOOD "\"manifest-version\":1,\"package\":\"fw-core\",\"version\":\"1:2.0-3\"," \
	"\"sha256\":\"" H64 "\",\"size\":10,\"not-before\":\"2026-01-01T00:00:00Z\"," \
	"\"expires\":1900000000,\"targets\":[\"sensor\"],\"url\":\"p/fw.bin\""

static void
test_version_cmp(void **state)
{
	static const struct {
		const char *a, *b;
		int want;
	} cases[] = {
		{ "1.0", "1.0", 0 },
		{ "1.0", "1.1", -1 },
		{ "1.10", "1.9", 1 },
		{ "1.0~rc1", "1.0", -1 },	/* ~ before the end */
		{ "1.0~rc1", "1.0~rc2", -1 },
		{ "1.0~~", "1.0~", -1 },
		{ "1:0.1", "9.9", 1 },		/* epoch first */
		{ "0:1.0", "1.0", 0 },
		{ "1.0-1", "1.0-2", -1 },
		{ "1.0-10", "1.0-9", 1 },
		{ "1.0", "1.0-0", 0 },		/* absent revision is "" = "0" */
		{ "1.0a", "1.0", 1 },
		{ "1.0a", "1.0+", -1 },		/* letters before other characters */
		{ "1.0.0", "1.0", 1 },
		{ "001.2", "1.2", 0 },
		{ "2.0-1+deb12u1", "2.0-1", 1 },
		{ "1.2-3-4", "1.2-3-5", -1 },	/* the last '-' starts the revision */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = manifest_version_cmp(cases[i].a, cases[i].b);
		int rev = manifest_version_cmp(cases[i].b, cases[i].a);

		if (got != cases[i].want || rev != -cases[i].want)
			fail_msg("case %zu: %s vs %s gave %d/%d, want %d", i, cases[i].a,
			    cases[i].b, got, rev, cases[i].want);
	}
}

static void
test_version_valid(void **state)
{
	static const struct {
		const char *v;
		int want;
	} cases[] = {
		{ "1.0", 1 }, { "1:1.0-1", 1 }, { "1.0~rc1+dfsg-2~bpo1", 1 }, { "0", 1 },
		{ "", 0 }, { "a1.0", 0 }, { ":1.0", 0 }, { "x:1.0", 0 }, { "1.0-", 0 },
		{ "1.0_1", 0 }, { "1.0-a:b", 0 }, { "1 0", 0 }, { "1.0-1-", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (manifest_version_valid(cases[i].v) != cases[i].want)
			fail_msg("case %zu (\"%s\"): want %d", i, cases[i].v, cases[i].want);
}

static void
test_parse(void **state)
{
	static const struct {
		const char	*json;
		const char	*want;	/* NULL: accepted; else a substring of the error */
	} cases[] = {
		{ "{" GOOD "}", NULL },
		{ "{" GOOD ",\"x-note\":\"ignored\"}", NULL },
		{ "{" GOOD ",\"critical\":1}", "unknown member" },
		{ "{" GOOD ",\"size\":11}", "not JSON" },		/* duplicate */
		{ "[1]", "not a JSON object" },
		{ "{\"manifest-version\":1}", "missing" },
		{ "{\"manifest-version\":2,\"package\":\"fw-core\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":10,\"not-before\":0,\"expires\":1,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "manifest-version" },
		{ "{\"manifest-version\":1,\"package\":\"Fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":10,\"not-before\":0,\"expires\":1,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "package" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"v1\","
		  "\"sha256\":\"" H64 "\",\"size\":10,\"not-before\":0,\"expires\":1,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "Debian version" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"00\",\"size\":10,\"not-before\":0,\"expires\":1,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "sha256" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":0,\"not-before\":0,\"expires\":1,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "size" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":2000000000,\"not-before\":0,\"expires\":1,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "size" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":5,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "not-before" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":\"yesterday\",\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"f\"}", "RFC 3339" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[],\"url\":\"f\"}", "targets" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":\"0171-01-01T00:00:00Z\","
		  "\"expires\":5,\"targets\":[\"s\"],\"url\":\"f\"}", "RFC 3339" },	/* < 1970 */
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"a b\"],\"url\":\"f\"}", "device class" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"../etc/passwd\"}", "url" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"/abs\"}", "url" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"a//b\"}", "url" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\".hidden\"}", "url" },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"a/b/c/d\"}", "url" },	/* 4 deep */
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"a/b/fw...bin\"}", NULL },
		{ "{\"manifest-version\":1,\"package\":\"fw\",\"version\":\"1\","
		  "\"sha256\":\"" H64 "\",\"size\":1,\"not-before\":0,\"expires\":5,"
		  "\"targets\":[\"s\"],\"url\":\"a\\u0000b\"}", "not JSON" },
	};
	struct manifest m, m2;
	char err[256], *js;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = manifest_parse(cases[i].json, strlen(cases[i].json), &m, err,
		    sizeof(err));

		if (cases[i].want == NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err);
			continue;
		}
		if (rc != -1)
			fail_msg("case %zu accepted", i);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: error \"%s\" does not name \"%s\"", i, err,
			    cases[i].want);
	}
	/* the good one's fields, and its JSON parses back to the same */
	assert_int_equal(manifest_parse("{" GOOD "}", strlen("{" GOOD "}"), &m, err,
	    sizeof(err)), 0);
	assert_string_equal(m.package, "fw-core");
	assert_string_equal(m.version, "1:2.0-3");
	assert_int_equal(m.size, 10);
	assert_int_equal(m.not_before, 1767225600);
	assert_int_equal(m.expires, 1900000000);
	assert_int_equal(m.sha256[31], 0xff);
	assert_true(manifest_targets(&m, "sensor"));
	assert_false(manifest_targets(&m, "gateway"));
	assert_non_null(js = manifest_json(&m));
	assert_int_equal(manifest_parse(js, strlen(js), &m2, err, sizeof(err)), 0);
	assert_memory_equal(&m, &m2, sizeof(m));
	free(js);
	/* oversize input is refused before parsing */
	{
		char *big = calloc(1, MANIFEST_MAX + 2);

		assert_non_null(big);
		memset(big, ' ', MANIFEST_MAX + 1);
		assert_int_equal(manifest_parse(big, MANIFEST_MAX + 1, &m, err, sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "more than"));
		free(big);
	}
}

static void
test_report(void **state)
{
	static const struct {
		const char	*json;
		const char	*want;	/* NULL: accepted */
	} cases[] = {
		{ "{\"package\":\"fw\",\"version\":\"1.0\",\"decision\":\"installed\","
		  "\"reason\":\"ok\"}", NULL },
		{ "{\"package\":\"\",\"version\":\"\",\"decision\":\"refused\","
		  "\"reason\":\"unsigned manifest\"}", NULL },
		{ "{\"package\":\"fw\",\"version\":\"1.0\",\"decision\":\"maybe\","
		  "\"reason\":\"x\"}", "decision" },
		{ "{\"package\":\"FW\",\"version\":\"1.0\",\"decision\":\"error\","
		  "\"reason\":\"x\"}", "package" },
		{ "{\"package\":\"fw\",\"version\":\"x\",\"decision\":\"error\","
		  "\"reason\":\"x\"}", "version" },
		{ "{\"package\":\"fw\",\"version\":\"1\",\"decision\":\"error\","
		  "\"reason\":\"two\\nlines\"}", "one line" },
		{ "{\"package\":\"fw\",\"version\":\"1\",\"decision\":\"error\","
		  "\"reason\":\"x\",\"extra\":1}", "unknown member" },
		{ "{\"package\":\"fw\",\"decision\":\"error\",\"reason\":\"x\"}", "version" },
	};
	struct manifest_report r;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = manifest_report_parse(cases[i].json, strlen(cases[i].json), &r, err,
		    sizeof(err));

		if (cases[i].want == NULL && rc != 0)
			fail_msg("case %zu refused: %s", i, err);
		if (cases[i].want != NULL && (rc != -1 || strstr(err, cases[i].want) == NULL))
			fail_msg("case %zu: rc %d, \"%s\" does not name \"%s\"", i, rc,
			    rc ? err : "", cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_cmp),
		cmocka_unit_test(test_version_valid),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
