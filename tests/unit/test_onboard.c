/*
 * test_onboard: the pure parts of enroll/agent/onboard.c: the state file (round trip, atomic
 * write, refusals), the back-off schedule and its jitter bounds, DHCP env file decoding and
 * candidate ordering (DHCP before mDNS, duplicates, normalisation), the renewal time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "enroll/agent/onboard.h"

static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_onboard.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

/* Option 143 data of the given URIs as hex (RFC 8572 §8.3: uint16 length, URI). */
static void
sztp_hex(char *out, size_t outlen, const char *const *uris, size_t n)
{
	size_t i, j, off = 0;

	for (i = 0; i < n; i++) {
		off += (size_t)snprintf(out + off, outlen - off, "%04zx", strlen(uris[i]));
		for (j = 0; uris[i][j] != '\0'; j++)
			off += (size_t)snprintf(out + off, outlen - off, "%02x",
			    (unsigned char)uris[i][j]);
	}
}

static void
hex_str(char *out, size_t outlen, const char *s)
{
	size_t j, off = strlen(out);

	for (j = 0; s[j] != '\0'; j++)
		off += (size_t)snprintf(out + off, outlen - off, "%02x", (unsigned char)s[j]);
}

/* ---- state file ---------------------------------------------------------------------- */

static void
test_state_roundtrip(void **state)
{
	struct onboard_record a, b;
	char err[256], path[256];
	struct stat st;

	(void)state;
	onboard_record_init(&a);
	a.state = ONBOARD_ENROLL;
	a.started_at = 1700000000;
	a.bound_at_ms = 1700000000123LL;
	a.renew_due = 1800000000;
	a.rounds = 7;
	snprintf(a.registrar, sizeof(a.registrar), "https://10.9.0.1:8443");
	snprintf(a.source, sizeof(a.source), "mdns");
	snprintf(a.domain, sizeof(a.domain), "example.test");
	snprintf(a.device_serial, sizeof(a.device_serial), "LK0001");
	snprintf(a.ldevid_serial, sizeof(a.ldevid_serial), "ABCDEF");
	snprintf(a.not_after, sizeof(a.not_after), "2027-01-01T00:00:00Z");
	snprintf(a.ca_hint, sizeof(a.ca_hint), "sha256:%064d", 0);
	snprintf(a.last_error, sizeof(a.last_error), "quote \" and \\ and newline\n kept");
	snprintf(a.deploy_hook, sizeof(a.deploy_hook), "systemctl reload 'x y' && echo \"$X\"");
	assert_int_equal(discover_candidate_add(&a.disc, "https://r1.test", DISCOVER_SRC_DHCP,
	    "dhcp-eth0.env"), 1);
	assert_int_equal(discover_candidate_add(&a.disc, "https://r2.test:9443",
	    DISCOVER_SRC_MDNS, "reg \"x\""), 1);
	snprintf(a.disc.posture[0], sizeof(a.disc.posture[0]), "https://p.test/report");
	a.disc.nposture = 1;

	assert_int_equal(onboard_record_write(tmpdir, &a, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, ONBOARD_FILE_STATE);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/%s.tmp", tmpdir, ONBOARD_FILE_STATE);
	assert_int_equal(access(path, F_OK), -1);	/* no temporary file left */

	assert_int_equal(onboard_record_read(tmpdir, &b, err, sizeof(err)), 1);
	assert_int_equal(b.state, ONBOARD_ENROLL);
	assert_int_equal(b.started_at, a.started_at);
	assert_int_equal(b.bound_at_ms, a.bound_at_ms);
	assert_int_equal(b.renew_due, a.renew_due);
	assert_int_equal(b.rounds, 7);
	assert_string_equal(b.registrar, a.registrar);
	assert_string_equal(b.source, "mdns");
	assert_string_equal(b.domain, "example.test");
	assert_string_equal(b.device_serial, "LK0001");
	assert_string_equal(b.ldevid_serial, "ABCDEF");
	assert_string_equal(b.not_after, a.not_after);
	assert_string_equal(b.ca_hint, a.ca_hint);
	assert_string_equal(b.latch, "not configured");
	assert_string_equal(b.last_error, a.last_error);
	assert_string_equal(b.deploy_hook, a.deploy_hook);	/* hook.h: kept as given */
	assert_int_equal(b.disc.ncand, 2);
	assert_string_equal(b.disc.cand[0].url, "https://r1.test");
	assert_int_equal(b.disc.cand[0].source, DISCOVER_SRC_DHCP);
	assert_string_equal(b.disc.cand[1].url, "https://r2.test:9443");
	assert_int_equal(b.disc.cand[1].source, DISCOVER_SRC_MDNS);
	assert_string_equal(b.disc.cand[1].origin, "reg \"x\"");
	assert_int_equal(b.disc.nposture, 1);
	assert_string_equal(b.disc.posture[0], "https://p.test/report");

	/* Every state survives the trip. */
	for (a.state = ONBOARD_DISCOVER; a.state <= ONBOARD_BOUND; a.state++) {
		assert_int_equal(onboard_record_write(tmpdir, &a, err, sizeof(err)), 0);
		assert_int_equal(onboard_record_read(tmpdir, &b, err, sizeof(err)), 1);
		assert_int_equal(b.state, a.state);
	}
}

static void
test_state_missing_and_bad(void **state)
{
	static const struct {
		const char	*text;
		int		 want;
	} cases[] = {
		{ "{\"version\":1,\"state\":\"voucher\"}", 1 },
		{ "{\"version\":2,\"state\":\"voucher\"}", -1 },	/* unknown version */
		{ "{\"version\":1,\"state\":\"flying\"}", -1 },	/* unknown state */
		{ "{\"version\":1}", -1 },
		{ "[1,2]", -1 },
		{ "{\"version\":1,\"state\":\"bound\"", -1 },	/* truncated */
		{ "", -1 },
		{ "{\"version\":1,\"version\":1,\"state\":\"bound\"}", -1 },	/* duplicate */
	};
	struct onboard_record r;
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(onboard_record_read(tmpdir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.state, ONBOARD_DISCOVER);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(ONBOARD_FILE_STATE, cases[i].text);
		err[0] = '\0';
		assert_int_equal(onboard_record_read(tmpdir, &r, err, sizeof(err)),
		    cases[i].want);
		if (cases[i].want == -1)
			assert_true(err[0] != '\0');
	}
}

static void
test_state_names(void **state)
{
	enum onboard_state s, back;

	(void)state;
	for (s = ONBOARD_DISCOVER; s <= ONBOARD_BOUND; s++) {
		assert_int_equal(onboard_state_parse(onboard_state_name(s), &back), 0);
		assert_int_equal(back, s);
	}
	assert_string_equal(onboard_state_name(ONBOARD_VOUCHER), "voucher");
	assert_int_equal(onboard_state_parse("BOUND", &back), -1);
	assert_int_equal(onboard_state_parse(NULL, &back), -1);
}

/* ---- back-off -------------------------------------------------------------------------- */

static void
test_backoff_schedule(void **state)
{
	static const uint32_t rnds[] = { 0, 1, 12345, 0x7fffffffu, 0xffffffffu };
	static const struct {
		uint64_t	base, max;
	} cfg[] = {
		{ 1000, 3600000 },	/* RFC 8995 §4.1: up to an hour */
		{ 1000, 2000 },		/* what the tests use */
		{ 1000, 1000 },
		{ 500, 60000 },
	};
	uint64_t ceiling, v;
	unsigned a;
	size_t c, i;

	(void)state;
	for (c = 0; c < sizeof(cfg) / sizeof(cfg[0]); c++) {
		ceiling = cfg[c].base;
		for (a = 0; a < 40; a++) {
			for (i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
				v = onboard_backoff_ms(a, cfg[c].base, cfg[c].max, rnds[i]);
				assert_true(v >= ceiling / 2);
				assert_true(v <= ceiling);
			}
			/* rnd 0 gives the bottom of the range */
			assert_int_equal(onboard_backoff_ms(a, cfg[c].base, cfg[c].max, 0),
			    ceiling / 2);
			ceiling = ceiling * 2 > cfg[c].max ? cfg[c].max : ceiling * 2;
		}
	}
	/* The doubling itself: with rnd = ceiling - half the top is hit exactly. */
	assert_int_equal(onboard_backoff_ms(0, 1000, 3600000, 500), 1000);
	assert_int_equal(onboard_backoff_ms(1, 1000, 3600000, 1000), 2000);
	assert_int_equal(onboard_backoff_ms(2, 1000, 3600000, 2000), 4000);
	assert_int_equal(onboard_backoff_ms(11, 1000, 3600000, 0), 1024000);
	assert_int_equal(onboard_backoff_ms(12, 1000, 3600000, 1800000), 3600000);
	assert_int_equal(onboard_backoff_ms(1000, 1000, 3600000, 1800000), 3600000);
	/* a bound below the base is the base */
	assert_int_equal(onboard_backoff_ms(5, 1000, 10, 500), 1000);
}

static void
test_backoff_jitter_spreads(void **state)
{
	uint64_t lo = UINT64_MAX, hi = 0, v;
	uint32_t r = 2463534242u;
	int i;

	(void)state;
	/* 1000 draws from a xorshift: the spread covers most of [ceiling/2, ceiling]. */
	for (i = 0; i < 1000; i++) {
		r ^= r << 13;
		r ^= r >> 17;
		r ^= r << 5;
		v = onboard_backoff_ms(3, 1000, 3600000, r);
		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
	}
	assert_true(lo >= 4000 && lo < 4200);
	assert_true(hi <= 8000 && hi > 7800);
}

/* ---- discovery -------------------------------------------------------------------------- */

static void
test_dhcp_env_and_order(void **state)
{
	static const char *const uris[] = {
		"https://10.9.0.1:8443", "https://reg.example.test/.well-known/est/",
		"https://10.9.0.1:8443/"	/* same as the first after normalising */
	};
	char text[4096], hex[1024] = "", vend[1024] = "", path[256], err[256];
	struct discovery d;
	const char *post = "https://posture.test/r", *fp =
	    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	(void)state;
	sztp_hex(hex, sizeof(hex), uris, 3);
	/* RFC 3925 §4: enterprise 32473 = 00007ed9, data-len, then code(1) len(1) data. */
	snprintf(vend, sizeof(vend), "00007ed9%02zx01%02zx", 2 + strlen(post) + 2 + strlen(fp),
	    strlen(post));
	hex_str(vend, sizeof(vend), post);
	snprintf(vend + strlen(vend), sizeof(vend) - strlen(vend), "03%02zx", strlen(fp));
	hex_str(vend, sizeof(vend), fp);
	snprintf(text, sizeof(text), "LATCHKEY_DHCP_FAMILY=4\nLATCHKEY_DHCP_IFACE=eth0\n"
	    "LATCHKEY_DHCP_SERVER=10.9.0.1\nLATCHKEY_DHCP_SZTP=%s\nLATCHKEY_DHCP_VENDOR=%s\n",
	    hex, vend);
	write_file("dhcp-eth0.env", text);
	snprintf(path, sizeof(path), "%s/dhcp-eth0.env", tmpdir);

	memset(&d, 0, sizeof(d));
	assert_int_equal(discover_dhcp_env_add(&d, path, err, sizeof(err)), 0);
	assert_int_equal(d.ncand, 2);
	assert_string_equal(d.cand[0].url, "https://10.9.0.1:8443");
	assert_string_equal(d.cand[1].url, "https://reg.example.test");
	assert_int_equal(d.cand[0].source, DISCOVER_SRC_DHCP);
	assert_string_equal(d.cand[0].origin, "dhcp-eth0.env");
	assert_int_equal(d.nposture, 1);
	assert_string_equal(d.posture[0], post);
	assert_string_equal(d.ca_hint, fp);

	/* mDNS answers come after DHCP's, and one DHCP gave already is not repeated. */
	assert_int_equal(discover_candidate_add(&d, "https://10.9.0.1:8443/.well-known/est",
	    DISCOVER_SRC_MDNS, "x"), 0);
	assert_int_equal(discover_candidate_add(&d, "https://10.9.0.2:8443", DISCOVER_SRC_MDNS,
	    "y"), 1);
	assert_int_equal(d.ncand, 3);
	assert_int_equal(d.cand[2].source, DISCOVER_SRC_MDNS);
	assert_int_equal(d.cand[0].source, DISCOVER_SRC_DHCP);
	assert_int_equal(d.cand[1].source, DISCOVER_SRC_DHCP);

	/* The same file twice adds nothing. */
	assert_int_equal(discover_dhcp_env_add(&d, path, err, sizeof(err)), 0);
	assert_int_equal(d.ncand, 3);
	assert_int_equal(d.nposture, 1);
}

static void
test_dhcp_env_v6_and_bad(void **state)
{
	static const char *const one[] = { "https://[fd00::1]:8443" };
	static const struct {
		const char	*body;	/* after FAMILY */
		int		 want;
	} bad[] = {
		{ "LATCHKEY_DHCP_SZTP=0017zz\n", -1 },		/* not hex */
		{ "LATCHKEY_DHCP_SZTP=00ff6874\n", -1 },		/* truncated entry */
		{ "LATCHKEY_DHCP_SZTP=0007687474703a2f2f\n", -1 },	/* "http://" scheme */
		{ "LATCHKEY_DHCP_VENDOR=00007ed9\n", -1 },		/* v4: no data-len */
		{ "LATCHKEY_DHCP_IFACE=eth0\n", 0 },			/* no option at all */
	};
	char text[2048], hex[512] = "", vend[512], path[256], err[256];
	struct discovery d;
	size_t i;

	(void)state;
	sztp_hex(hex, sizeof(hex), one, 1);
	/* RFC 8415 §21.17: enterprise, then code(2) len(2) data. */
	snprintf(vend, sizeof(vend), "00007ed90002%04zx", strlen("https://u.test"));
	hex_str(vend, sizeof(vend), "https://u.test");
	snprintf(text, sizeof(text), "LATCHKEY_DHCP_FAMILY=6\nLATCHKEY_DHCP_SZTP=%s\n"
	    "LATCHKEY_DHCP_VENDOR=%s\n", hex, vend);
	write_file("dhcp6-eth0.env", text);
	snprintf(path, sizeof(path), "%s/dhcp6-eth0.env", tmpdir);
	memset(&d, 0, sizeof(d));
	assert_int_equal(discover_dhcp_env_add(&d, path, err, sizeof(err)), 0);
	assert_int_equal(d.ncand, 1);
	assert_string_equal(d.cand[0].url, "https://[fd00::1]:8443");
	assert_int_equal(d.nupdate, 1);
	assert_string_equal(d.update[0], "https://u.test");

	snprintf(path, sizeof(path), "%s/bad.env", tmpdir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "LATCHKEY_DHCP_FAMILY=4\n%s", bad[i].body);
		write_file("bad.env", text);
		memset(&d, 0, sizeof(d));
		assert_int_equal(discover_dhcp_env_add(&d, path, err, sizeof(err)),
		    bad[i].want);
		assert_int_equal(d.ncand, 0);
	}
	snprintf(path, sizeof(path), "%s/absent.env", tmpdir);
	assert_int_equal(discover_dhcp_env_add(&d, path, err, sizeof(err)), -1);
}

static void
test_candidate_limits(void **state)
{
	struct discovery d;
	char url[64];
	int i;

	(void)state;
	memset(&d, 0, sizeof(d));
	for (i = 0; i < DISCOVER_CAND_MAX + 5; i++) {
		snprintf(url, sizeof(url), "https://r%d.test", i);
		discover_candidate_add(&d, url, DISCOVER_SRC_DHCP, "");
	}
	assert_int_equal(d.ncand, DISCOVER_CAND_MAX);
	assert_string_equal(d.cand[0].url, "https://r0.test");
	assert_int_equal(discover_candidate_add(&d, "", DISCOVER_SRC_DHCP, ""), 0);
	assert_int_equal(discover_candidate_add(&d, NULL, DISCOVER_SRC_DHCP, ""), 0);
}

/* ---- renewal ------------------------------------------------------------------------------ */

static void
test_renew_due(void **state)
{
	static const struct {
		int64_t	nb, na, due;
	} cases[] = {
		{ 0, 300, 200 },
		{ 1000, 1000 + 365 * 86400, 1000 + 365 * 86400 / 3 * 2 },
		{ 100, 100, 100 },	/* no lifetime: due at once */
		{ 100, 50, 100 },	/* nonsense: due at once */
		{ 1700000000, 1700000003, 1700000002 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(onboard_renew_due(cases[i].nb, cases[i].na), cases[i].due);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_missing_and_bad, setup, teardown),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_backoff_schedule),
		cmocka_unit_test(test_backoff_jitter_spreads),
		cmocka_unit_test_setup_teardown(test_dhcp_env_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcp_env_v6_and_bad, setup, teardown),
		cmocka_unit_test(test_candidate_limits),
		cmocka_unit_test(test_renew_due),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
