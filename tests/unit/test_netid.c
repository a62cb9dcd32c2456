/* Unit tests for enroll/common/netid.c: the network identifier report's parsing and building. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enroll/agent/netinfo.h"
#include "enroll/common/netid.h"

static void
test_add(void **state)
{
	static const struct {
		const char	*kind, *text;
		const char	*want;		/* normalised value, or NULL: refused */
	} cases[] = {
		{ "mac", "02:AA:bb:cc:dd:01", "02aabbccdd01" },
		{ "mac", "02-aa-bb-cc-dd-01", "02aabbccdd01" },
		{ "mac", "02aabbccdd01", "02aabbccdd01" },
		{ "mac", "2:aa:b:cc:dd:1", "02aa0bccdd01" },	/* dhclient's one digit */
		{ "mac", "02:aa:bb:cc:dd", NULL },		/* 5 octets */
		{ "mac", "02:aa:bb:cc:dd:01:", NULL },		/* trailing separator */
		{ "mac", "02aa:bbccdd01", NULL },		/* mixed */
		{ "mac", "02aabbccdd0", NULL },			/* odd */
		{ "mac", "", NULL },
		{ "client-id", "01:02:aa:bb:cc:dd:01", "0102aabbccdd01" },
		{ "client-id", "ff", NULL },			/* 1 octet */
		{ "duid", "00:03:00:01:02:aa:bb:cc:dd:01", "0003000102aabbccdd01" },
		{ "duid", "zz00", NULL },
		{ "serial", "0102", NULL },
	};
	struct netid_list l;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&l, 0, sizeof(l));
		int rc = netid_add(&l, cases[i].kind, cases[i].text, err, sizeof(err));
		if (cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("case %zu accepted", i);
			continue;
		}
		if (rc != 0)
			fail_msg("case %zu refused: %s", i, err);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.v[0].value, cases[i].want);
		/* duplicates are ignored */
		assert_int_equal(netid_add(&l, cases[i].kind, cases[i].want, err, sizeof(err)), 0);
		assert_int_equal(l.n, 1);
	}
	/* the 256th client-id octet is one too many */
	{
		char big[2 * 256 + 1];
		memset(&l, 0, sizeof(l));
		memset(big, 'a', sizeof(big) - 1);
		big[2 * 256] = '\0';
		assert_int_equal(netid_add(&l, "client-id", big, err, sizeof(err)), -1);
		big[2 * 255] = '\0';
		assert_int_equal(netid_add(&l, "client-id", big, err, sizeof(err)), 0);
	}
}

static void
test_parse_roundtrip(void **state)
{
	static const struct {
		const char	*body;
		const char	*err;	/* substring, or NULL: accepted */
		size_t		 n;
	} cases[] = {
		{ "{\"mac\":[\"02:aa:bb:cc:dd:01\"],\"duid\":[\"000100010203\"]}", NULL, 2 },
		{ "{}", NULL, 0 },
		{ "{\"client-id\":[\"0102aabbccdd01\",\"0102aabbccdd01\"]}", NULL, 1 },
		{ "[]", "JSON object", 0 },
		{ "{\"mac\":\"02aabbccdd01\"}", "list of strings", 0 },
		{ "{\"mac\":[1]}", "item 1 is not a string", 0 },
		{ "{\"ip\":[\"0a000001\"]}", "unknown member \"ip\"", 0 },
		{ "{\"mac\":[\"02aabb\"]}", "\"mac\" item 1: mac must be 6 octets", 0 },
		{ "{\"mac\":[\"02aabbccdd01\"],\"mac\":[]}", "not JSON", 0 },
		{ "{", "not JSON", 0 },
		{ "", "empty body", 0 },
	};
	struct netid_list l, l2;
	char err[256], *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = netid_parse(cases[i].body, strlen(cases[i].body), &l, err, sizeof(err));
		if (cases[i].err == NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, err);
			assert_int_equal(l.n, cases[i].n);
			/* what the agent would send parses back to the same list */
			assert_non_null(s = netid_json(&l));
			assert_int_equal(netid_parse(s, strlen(s), &l2, err, sizeof(err)), 0);
			assert_int_equal(l2.n, l.n);
			for (size_t k = 0; k < l.n; k++) {
				assert_string_equal(l2.v[k].kind, l.v[k].kind);
				assert_string_equal(l2.v[k].value, l.v[k].value);
			}
			free(s);
		} else {
			assert_int_equal(rc, -1);
			if (strstr(err, cases[i].err) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].err);
			assert_int_equal(l.n, 0);
		}
	}
	/* Oversized bodies are refused before parsing. */
	s = calloc(1, NETID_BODY_MAX + 2);
	assert_non_null(s);
	memset(s, ' ', NETID_BODY_MAX + 1);
	assert_int_equal(netid_parse(s, NETID_BODY_MAX + 1, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	free(s);
}

static void
test_env_and_iface(void **state)
{
	char dir[] = "/tmp/test_netid.XXXXXX", path[64], err[256];
	struct netid_list l;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dhcp-eth0.env", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("LATCHKEY_DHCP_FAMILY=4\nLATCHKEY_DHCP_IFACE=eth0\n"
	    "LATCHKEY_DHCP_CLIENT_ID=0102aabbccdd01\nLATCHKEY_DHCP_DUID=\n"
	    "LATCHKEY_DHCP_SZTP=0017\n", f);
	fclose(f);
	memset(&l, 0, sizeof(l));
	assert_int_equal(netinfo_add_env(&l, path, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].kind, "client-id");
	assert_non_null(f = fopen(path, "w"));
	fputs("LATCHKEY_DHCP_DUID=zz\n", f);
	fclose(f);
	assert_int_equal(netinfo_add_env(&l, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "duid"));
	unlink(path);
	assert_int_equal(netinfo_add_env(&l, path, err, sizeof(err)), -1);

	/* What the contrib scripts write: an RFC 4361 client-id (ff, IAID, DUID) and its DUID
	 * as plain hex (udhcpc, dhcpcd, dhclient after normalising); dhclient's own form
	 * ("0:1:..." one-digit octets) is accepted as well and stored as plain hex. */
	snprintf(path, sizeof(path), "%s/dhcp-eth0.env", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("LATCHKEY_DHCP_FAMILY=4\nLATCHKEY_DHCP_IFACE=eth0\n"
	    "LATCHKEY_DHCP_CLIENT_ID=ff5a7769d00001000132a928c0fa685a7769d0\n"
	    "LATCHKEY_DHCP_DUID=0001000132a928c0fa685a7769d0\n", f);
	fclose(f);
	memset(&l, 0, sizeof(l));
	assert_int_equal(netinfo_add_env(&l, path, err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].kind, "client-id");
	assert_string_equal(l.v[0].value, "ff5a7769d00001000132a928c0fa685a7769d0");
	assert_string_equal(l.v[1].kind, "duid");
	assert_string_equal(l.v[1].value, "0001000132a928c0fa685a7769d0");
	assert_non_null(f = fopen(path, "w"));
	fputs("LATCHKEY_DHCP_FAMILY=6\nLATCHKEY_DHCP_DUID=0:1:0:1:32:a9:28:c0:fa:68:5a:77:69:d0\n",
	    f);
	fclose(f);
	memset(&l, 0, sizeof(l));
	assert_int_equal(netinfo_add_env(&l, path, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].kind, "duid");
	assert_string_equal(l.v[0].value, "0001000132a928c0fa685a7769d0");
	unlink(path);
	rmdir(dir);

	/* lo has an all-zero 6-octet address; names with '/' are refused. */
	memset(&l, 0, sizeof(l));
	if (access("/sys/class/net/lo/address", R_OK) == 0) {
		assert_int_equal(netinfo_add_iface(&l, "lo", err, sizeof(err)), 0);
		assert_string_equal(l.v[0].value, "000000000000");
	}
	assert_int_equal(netinfo_add_iface(&l, "../lo", err, sizeof(err)), -1);
	assert_int_equal(netinfo_add_iface(&l, "nosuchif0", err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_parse_roundtrip),
		cmocka_unit_test(test_env_and_iface),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
