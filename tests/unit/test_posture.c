/*
 * Unit tests for enroll/common/posture.c and postpolicy.c (issue #20): Debian version
 * order, the dpkg status and command-output readers, the report codec, its CMS wrapper,
 * policy parsing and evaluation, the diff. Table-driven.
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

#include "enroll/common/postpolicy.h"
#include "enroll/common/posture.h"
#include "tests/unit/testutil.h"

static void
test_version_cmp(void **state)
{
	/* dpkg --compare-versions A lt B holds for each pair (and the reverse is gt) */
	static const struct {
		const char *a, *b;
		int want;	/* sign of cmp(a, b) */
	} cases[] = {
		{ "1.0", "1.0", 0 },
		{ "1.0", "1.1", -1 },
		{ "1.9", "1.10", -1 },		/* digits compare numerically */
		{ "1.01", "1.1", 0 },		/* leading zeros */
		{ "1.0~rc1", "1.0", -1 },	/* '~' sorts before the end */
		{ "1.0~rc1", "1.0~rc2", -1 },
		{ "1.0~~", "1.0~", -1 },
		{ "1.0", "1.0+b1", -1 },	/* '+' after the end */
		{ "1.0a", "1.0+", -1 },		/* letters before non-letters */
		{ "1.0a", "1.0b", -1 },
		{ "1.0-1", "1.0-2", -1 },	/* revisions */
		{ "1.0-1", "1.0-1.1", -1 },
		{ "1.0", "1.0-0", 0 },		/* no revision = "" vs "0": equal (dpkg) */
		{ "1:0.9", "2.0", 1 },		/* the epoch wins */
		{ "0:2.0", "2.0", 0 },
		{ "2:1.0", "10:0.1", -1 },
		{ "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", -1 },
		{ "3.0.11-1~deb12u2", "3.0.11-1", -1 },
		{ "1.1.1n-0+deb11u5", "3.0.11-1~deb12u1", -1 },
		{ "2.36-9+deb12u4", "2.36-9", 1 },
		{ "1:9.2p1-2", "1:9.2p1-2+deb12u3", -1 },
		{ "7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1 },
		{ "1.2.3-a-b", "1.2.3-a-c", -1 },	/* upstream may hold '-' */
	};
	size_t i;
	int c, r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = postpolicy_version_cmp(cases[i].a, cases[i].b);
		r = postpolicy_version_cmp(cases[i].b, cases[i].a);
		if ((c > 0) - (c < 0) != cases[i].want || (r > 0) - (r < 0) != -cases[i].want)
			fail_msg("case %zu: cmp(%s, %s) = %d, reverse %d, want %d", i,
			    cases[i].a, cases[i].b, c, r, cases[i].want);
	}
}

static void
test_version_ok(void **state)
{
	static const struct {
		const char *v;
		int ok;
	} cases[] = {
		{ "1.0", 1 }, { "1:2.3-4", 1 }, { "3.0.11-1~deb12u1", 1 }, { "2.0+dfsg-1", 1 },
		{ "", 0 }, { "a1.0", 0 }, { ":1.0", 0 }, { "x:1.0", 0 }, { "1.0-", 0 },
		{ "1.0 2", 0 }, { "1.0-a_b", 0 }, { "1234567890:1", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (postpolicy_version_ok(cases[i].v) != cases[i].ok)
			fail_msg("case %zu (%s): want %d", i, cases[i].v, cases[i].ok);
}

static const char status_text[] =
	"Package: libc6\n"
	"Status: install ok installed\n"
	"Architecture: amd64\n"
	"Multi-Arch: same\n"
	"Version: 2.36-9+deb12u4\n"
	"Description: GNU C Library\n"
	" continuation: Package: fake\n"
	"\n"
	"Package: libc6\n"
	"Status: install ok installed\n"
	"Architecture: i386\n"
	"Version: 2.36-9+deb12u4\n"
	"\n"
	"Package: telnetd\n"
	"Status: deinstall ok config-files\n"
	"Version: 0.17-44\n"
	"\n"
	"Package: openssl\r\n"
	"Status: install ok installed\r\n"
	"Version: 3.0.11-1~deb12u2\r\n"
	"Architecture: amd64\r\n";

static void
test_dpkg_parse(void **state)
{
	static const struct {
		const char *text;
		int want;		/* packages, or -1 */
		const char *err;	/* part of the error */
	} bad[] = {
		{ "Package: x\nStatus: install ok installed\n\n", -1, "no Version" },
		{ "Version: 1\nStatus: install ok installed\n\n", -1, "no Package" },
		{ "Package: a b\nStatus: install ok installed\nVersion: 1\n", -1, "package name" },
		{ "Package: a\nStatus: install ok installed\nVersion: 1 2\n", -1, "version" },
		{ "Package: a\nStatus: install ok installed\nVersion: 1\n\n"
		  "Package: a\nStatus: install ok installed\nVersion: 2\n", -1, "twice" },
		{ "Package: a\nStatus: half-installed\nVersion: 1\n", 0, NULL },
		{ "Package: a\nStatus: install ok half-installed\nVersion: 1\n", 0, NULL },
		{ "Package: a\nStatus: install ok unpacked\nVersion: 1\n", 0, NULL },
		{ "Package: a\nStatus: purge ok not-installed\nVersion: 1\n", 0, NULL },
		/* held, or selected for removal and not yet removed: installed */
		{ "Package: a\nStatus: hold ok installed\nVersion: 1\n", 1, NULL },
		{ "Package: a\nStatus: deinstall ok installed\nVersion: 1\n", 1, NULL },
		{ "Package: a\nStatus: install reinstreq installed\nVersion: 1\n", 1, NULL },
		{ "Package: a\nStatus: installed\nVersion: 1\n", 0, NULL },
		{ "", 0, NULL },
		{ "\n\n\n", 0, NULL },
	};
	struct posture_inventory inv;
	const struct posture_pkg *p;
	char err[256];
	size_t i;
	int n;

	(void)state;
	posture_inventory_init(&inv);
	n = posture_dpkg_parse(status_text, strlen(status_text), &inv, err, sizeof(err));
	if (n != 3)
		fail_msg("status: %d packages (%s)", n, err);
	assert_string_equal(inv.pkgs[0].name, "libc6");
	assert_string_equal(inv.pkgs[0].arch, "amd64");
	assert_string_equal(inv.pkgs[1].arch, "i386");
	assert_non_null(p = posture_pkg_find(&inv, "openssl", NULL));
	assert_string_equal(p->version, "3.0.11-1~deb12u2");
	assert_string_equal(p->arch, "amd64");
	assert_null(posture_pkg_find(&inv, "telnetd", NULL));
	assert_null(posture_pkg_find(&inv, "fake", NULL));
	posture_inventory_free(&inv);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		posture_inventory_init(&inv);
		err[0] = '\0';
		n = posture_dpkg_parse(bad[i].text, strlen(bad[i].text), &inv, err, sizeof(err));
		if (n != bad[i].want || (bad[i].err != NULL && strstr(err, bad[i].err) == NULL))
			fail_msg("bad case %zu: %d, \"%s\"", i, n, err);
		posture_inventory_free(&inv);
	}
}

static void
test_lines_parse(void **state)
{
	static const struct {
		const char *text;
		int want;
		const char *err;
	} cases[] = {
		{ "openssl 3.0.13-1 amd64\nlibc6\t2.36-9\n\n# comment\n  \n", 2, NULL },
		{ "bash 5.2.15-2+b2 amd64\r\nzlib1g 1:1.2.13 amd64", 2, NULL },
		{ "openssl\n", -1, "line 1: expected NAME VERSION" },
		{ "a 1\nb 1 amd64 extra\n", -1, "line 2" },
		{ "a 1 AMD64\n", -1, "architecture" },
		{ "a 1\na 2\n", -1, "twice" },
	};
	struct posture_inventory inv;
	char err[256];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		posture_inventory_init(&inv);
		err[0] = '\0';
		n = posture_lines_parse(cases[i].text, strlen(cases[i].text), &inv, err,
		    sizeof(err));
		if (n != cases[i].want || (cases[i].err != NULL && strstr(err, cases[i].err) == NULL))
			fail_msg("case %zu: %d, \"%s\"", i, n, err);
		posture_inventory_free(&inv);
	}
}

static const char *const hash_a =
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void
report_fill(struct posture_report *r)
{
	char err[256];

	memset(r, 0, sizeof(*r));
	r->version = 1;
	strcpy(r->serial, "LK0001");
	strcpy(r->ldevid_serial, "5A0F");
	r->time = 1796665679;
	strcpy(r->nonce, "00112233445566778899aabbccddeeff");
	assert_int_equal(posture_pkg_add(&r->inv, "openssl", "3.0.11-1", "amd64", err,
	    sizeof(err)), 0);
	assert_int_equal(posture_pkg_add(&r->inv, "bash", "5.2.15-2+b2", "amd64", err,
	    sizeof(err)), 0);
	assert_int_equal(posture_file_add(&r->inv, "/etc/ssh/sshd_config", hash_a, err,
	    sizeof(err)), 0);
}

static void
test_report_codec(void **state)
{
	static const struct {
		const char *json;
		const char *err;
	} bad[] = {
		{ "[]", "not a JSON object" },
		{ "{\"report-version\":2}", "report-version" },
		{ "{\"report-version\":1,\"serial\":\"a\",\"ldevid-serial\":\"b\","
		  "\"nonce\":\"00\",\"time\":1,\"software\":[]}", "nonce" },
		{ "{\"report-version\":1,\"serial\":\"a\",\"ldevid-serial\":\"b\","
		  "\"nonce\":\"00112233445566778899aabbccddeeff\",\"time\":-1,\"software\":[]}",
		  "time" },
		{ "{\"report-version\":1,\"serial\":\"a\",\"ldevid-serial\":\"b\","
		  "\"nonce\":\"00112233445566778899aabbccddeeff\",\"time\":1,\"software\":[1]}",
		  "software entry 1 is not an object" },
		{ "{\"report-version\":1,\"serial\":\"a\",\"ldevid-serial\":\"b\","
		  "\"nonce\":\"00112233445566778899aabbccddeeff\",\"time\":1,\"software\":"
		  "[{\"software-name\":\"a\"}]}", "software-version" },
		{ "{\"report-version\":1,\"serial\":\"a\",\"ldevid-serial\":\"b\","
		  "\"nonce\":\"00112233445566778899aabbccddeeff\",\"time\":1,\"software\":[],"
		  "\"file\":[{\"fs-name\":\"/x\",\"hash\":[2,\"00\"]}]}", "sha-256" },
		{ "{\"report-version\":1,\"serial\":\"a\",\"ldevid-serial\":\"b\","
		  "\"nonce\":\"00112233445566778899aabbccddeeff\",\"time\":1,\"software\":[],"
		  "\"file\":[{\"fs-name\":\"rel\",\"hash\":[1,\"0123456789abcdef0123456789abcdef"
		  "0123456789abcdef0123456789abcdef\"]}]}", "absolute path" },
		{ "{\"report-version\":1,\"report-version\":1}", "not JSON" },
		{ "{", "not JSON" },
	};
	struct posture_report r, back;
	char *json, err[256];
	size_t len, i;

	(void)state;
	report_fill(&r);
	assert_non_null(json = posture_report_encode(&r, &len, err, sizeof(err)));
	/* CoSWID names (RFC 9393) on the wire */
	assert_non_null(strstr(json, "\"software-name\":\"bash\""));
	assert_non_null(strstr(json, "\"software-version\":\"3.0.11-1\""));
	assert_non_null(strstr(json, "\"tag-id\":\"dpkg:openssl:amd64\""));
	assert_non_null(strstr(json, "\"fs-name\":\"/etc/ssh/sshd_config\""));
	assert_non_null(strstr(json, "\"hash\":[1,\""));
	if (posture_report_parse(json, len, &back, err, sizeof(err)) != 0)
		fail_msg("round trip: %s", err);
	assert_string_equal(back.serial, "LK0001");
	assert_string_equal(back.ldevid_serial, "5A0F");
	assert_int_equal(back.time, 1796665679);
	assert_int_equal(back.inv.npkgs, 2);
	assert_string_equal(back.inv.pkgs[0].name, "bash");	/* sorted */
	assert_int_equal(back.inv.nfiles, 1);
	assert_string_equal(back.inv.files[0].sha256, hash_a);
	posture_report_free(&back);
	free(json);
	posture_report_free(&r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (posture_report_parse(bad[i].json, strlen(bad[i].json), &back, err,
		    sizeof(err)) != -1 || strstr(err, bad[i].err) == NULL)
			fail_msg("bad case %zu: \"%s\"", i, err);
		posture_report_free(&back);
	}
}

static void
test_cms(void **state)
{
	struct tu_ca a, b;
	unsigned char *der = NULL, *content = NULL;
	size_t derlen, clen;
	char err[256];
	static const char msg[] = "{\"report-version\":1}";

	(void)state;
	tu_ca_init(&a, "lk-posture-a", NULL);
	tu_ca_init(&b, "lk-posture-b", NULL);
	assert_int_equal(posture_sign((const unsigned char *)msg, strlen(msg), a.cert, a.key,
	    NULL, &der, &derlen, err, sizeof(err)), 0);
	if (posture_verify(der, derlen, a.cert, &content, &clen, err, sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(clen, strlen(msg));
	assert_memory_equal(content, msg, clen);
	free(content);
	/* the signer must be the expected certificate */
	assert_int_equal(posture_verify(der, derlen, b.cert, &content, &clen, err,
	    sizeof(err)), -2);
	assert_non_null(strstr(err, "signer is not the LDevID"));
	/* a flipped octet in the signature (the last octets of the DER) */
	der[derlen - 3] ^= 0x01;
	assert_int_equal(posture_verify(der, derlen, a.cert, &content, &clen, err,
	    sizeof(err)), -2);
	/* truncated, trailing garbage */
	assert_int_equal(posture_verify(der, derlen - 1, a.cert, &content, &clen, err,
	    sizeof(err)), -1);
	assert_int_equal(posture_verify(der, 0, a.cert, &content, &clen, err, sizeof(err)),
	    -1);
	free(der);
	tu_ca_clear(&a);
	tu_ca_clear(&b);
}

static void
test_policy_parse(void **state)
{
	static const struct {
		const char *json;
		const char *err;	/* NULL: accepted */
		size_t rules;
	} cases[] = {
		{ "{}", NULL, 0 },
		{ "{\"required\":[\"a\",{\"name\":\"b\",\"min-version\":\"1:2.0-1\"}],"
		  "\"forbidden\":[\"c\",{\"name\":\"d\",\"max-version\":\"1.0\"}],"
		  "\"files\":[{\"fs-name\":\"/etc/x\",\"sha256\":\"0123456789abcdef0123456789"
		  "abcdef0123456789abcdef0123456789abcdef\"}]}", NULL, 5 },
		{ "[]", "not a JSON object", 0 },
		{ "{\"allowed\":[]}", "unknown member \"allowed\"", 0 },
		{ "{\"required\":\"a\"}", "\"required\" is not a list", 0 },
		{ "{\"required\":[1]}", "required rule 1", 0 },
		{ "{\"required\":[{\"name\":\"a\",\"max-version\":\"1\"}]}", "unknown member", 0 },
		{ "{\"required\":[{\"name\":\"a\",\"min-version\":\"x\"}]}", "not a Debian version",
		  0 },
		{ "{\"forbidden\":[\"bad name\"]}", "forbidden rule 1", 0 },
		{ "{\"files\":[{\"fs-name\":\"/x\",\"sha256\":\"00\"}]}", "files rule 1", 0 },
		{ "{\"files\":[{\"fs-name\":\"/x\"}]}", "files rule 1", 0 },
	};
	struct postpolicy *p;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		p = postpolicy_parse(cases[i].json, strlen(cases[i].json), err, sizeof(err));
		if (cases[i].err == NULL) {
			if (p == NULL)
				fail_msg("case %zu refused: %s", i, err);
			assert_int_equal(postpolicy_rules(p), cases[i].rules);
		} else if (p != NULL || strstr(err, cases[i].err) == NULL)
			fail_msg("case %zu: \"%s\"", i, err);
		postpolicy_free(p);
	}
}

static void
test_policy_eval(void **state)
{
	static const char policy[] =
	    "{\"required\":[\"openssh-server\",{\"name\":\"openssl\","
	    "\"min-version\":\"3.0.11-1~deb12u1\"}],"
	    "\"forbidden\":[\"telnetd\",{\"name\":\"sudo\",\"max-version\":\"1.9.13p3-1\"}],"
	    "\"files\":[{\"fs-name\":\"/etc/ssh/sshd_config\",\"sha256\":"
	    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}";
	static const char *const other =
	    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
	static const struct {
		const char *lines;	/* NAME VERSION ARCH lines */
		const char *hash;	/* sshd_config's, NULL: not reported */
		int compliant;
		const char *reasons;	/* joined by '|' */
	} cases[] = {
		{ "openssh-server 1:9.2p1-2 amd64\nopenssl 3.0.11-1~deb12u1 amd64\n", NULL, 0,
		  "file /etc/ssh/sshd_config not reported" },
		{ "openssh-server 1:9.2p1-2 amd64\nopenssl 3.0.11-1~deb12u1 amd64\n", "A", 1, "" },
		{ "openssh-server 1:9.2p1-2 amd64\nopenssl 3.0.11-1~deb12u1 amd64\n", "B", 0,
		  "file /etc/ssh/sshd_config hash differs (sha256 ffffffffffffffff..., expected "
		  "0123456789abcdef...)" },
		{ "openssl 3.0.11-1 amd64\n", "A", 0,
		  "required package openssh-server missing" },
		{ "openssh-server 1 amd64\nopenssl 1.1.1n-0+deb11u5 amd64\n", "A", 0,
		  "package openssl 1.1.1n-0+deb11u5 older than the minimum 3.0.11-1~deb12u1" },
		/* every architecture installed must meet the minimum */
		{ "openssh-server 1 amd64\nopenssl 3.0.13-1 amd64\nopenssl 3.0.2-1 i386\n", "A", 0,
		  "package openssl 3.0.2-1 older than the minimum 3.0.11-1~deb12u1" },
		{ "openssh-server 1 amd64\nopenssl 3.0.13-1 amd64\ntelnetd 0.17-44 amd64\n", "A",
		  0, "forbidden package telnetd 0.17-44 installed" },
		/* a forbidden range: at most max-version */
		{ "openssh-server 1 amd64\nopenssl 3.0.13-1 amd64\nsudo 1.9.13p3-1 amd64\n", "A", 0,
		  "forbidden package sudo 1.9.13p3-1 installed (at most 1.9.13p3-1 is forbidden)" },
		{ "openssh-server 1 amd64\nopenssl 3.0.13-1 amd64\nsudo 1.9.13p3-1+deb12u1 amd64\n",
		  "A", 1, "" },
		{ "telnetd 1 amd64\n", NULL, 0,
		  "required package openssh-server missing|required package openssl missing|"
		  "forbidden package telnetd 1 installed|file /etc/ssh/sshd_config not reported" },
	};
	struct postpolicy *p;
	struct posture_inventory inv;
	json_t *reasons;
	char err[256], joined[1024];
	size_t i, k, n;
	int v;

	(void)state;
	assert_non_null(p = postpolicy_parse(policy, strlen(policy), err, sizeof(err)));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		posture_inventory_init(&inv);
		assert_true(posture_lines_parse(cases[i].lines, strlen(cases[i].lines), &inv, err,
		    sizeof(err)) > 0);
		if (cases[i].hash != NULL)
			assert_int_equal(posture_file_add(&inv, "/etc/ssh/sshd_config",
			    cases[i].hash[0] == 'A' ? hash_a : other, err, sizeof(err)), 0);
		v = postpolicy_eval(p, &inv, &reasons);
		joined[0] = '\0';
		for (k = 0, n = 0; k < json_array_size(reasons); k++)
			n += (size_t)snprintf(joined + n, sizeof(joined) - n, "%s%s", k ? "|" : "",
			    json_string_value(json_array_get(reasons, k)));
		if (v != cases[i].compliant || strcmp(joined, cases[i].reasons) != 0)
			fail_msg("case %zu: %d \"%s\", want %d \"%s\"", i, v, joined,
			    cases[i].compliant, cases[i].reasons);
		json_decref(reasons);
		posture_inventory_free(&inv);
	}
	postpolicy_free(p);
}

static void
test_diff(void **state)
{
	static const char *const a = "a 1 amd64\nb 1 amd64\nc 1 amd64\n";
	static const char *const b = "b 2 amd64\nc 1 amd64\nd 1 amd64\n";
	struct posture_inventory x, y;
	json_t *d;
	char err[256], *s;

	(void)state;
	posture_inventory_init(&x);
	posture_inventory_init(&y);
	assert_int_equal(posture_lines_parse(a, strlen(a), &x, err, sizeof(err)), 3);
	assert_int_equal(posture_lines_parse(b, strlen(b), &y, err, sizeof(err)), 3);
	assert_int_equal(posture_file_add(&x, "/f", hash_a, err, sizeof(err)), 0);
	assert_int_equal(posture_file_add(&y, "/g", hash_a, err, sizeof(err)), 0);
	assert_non_null(d = posture_diff(&x, &y));
	assert_non_null(s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS));
	assert_string_equal(s,
	    "{\"added\":[{\"architecture\":\"amd64\",\"name\":\"d\",\"version\":\"1\"}],"
	    "\"changed\":[{\"architecture\":\"amd64\",\"from\":\"1\",\"name\":\"b\",\"to\":\"2\"}],"
	    "\"files\":[{\"from\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	    "abcdef\",\"fs-name\":\"/f\",\"to\":null},{\"from\":null,\"fs-name\":\"/g\",\"to\":\"0123456789abcdef012345"
	    "6789abcdef0123456789abcdef0123456789abcdef\"}],"
	    "\"removed\":[{\"architecture\":\"amd64\",\"name\":\"a\",\"version\":\"1\"}]}");
	free(s);
	json_decref(d);
	/* nothing changed: empty lists */
	assert_non_null(d = posture_diff(&x, &x));
	assert_non_null(s = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS));
	assert_string_equal(s, "{\"added\":[],\"changed\":[],\"files\":[],\"removed\":[]}");
	free(s);
	json_decref(d);
	posture_inventory_free(&x);
	posture_inventory_free(&y);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_cmp),
		cmocka_unit_test(test_version_ok),
		cmocka_unit_test(test_dpkg_parse),
		cmocka_unit_test(test_lines_parse),
		cmocka_unit_test(test_report_codec),
		cmocka_unit_test(test_cms),
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_policy_eval),
		cmocka_unit_test(test_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
