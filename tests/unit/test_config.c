/* Unit tests for enroll/latchkeyd/config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "enroll/latchkeyd/config.h"

static const char good[] =
    "# comment\n"
    "listen = [::1]:9443\n"
    "domain = example.test   # trailing comment\n"
    "ca-cert = domain-ca.pem\n"
    "ca-key = /abs/domain-ca.key\n"
    "tls-cert = registrar.pem\r\n"
    "tls-key = registrar.key\n"
    "\n"
    "registry = registry.db\n"
    "manufacturer-ca = m1.pem\n"
    "manufacturer-ca = m2.pem\n"
    "auto-accept = sha256:00ff\n"
    "auto-accept = lab/manufacturer-ca.pem\n"
    "channel-binding = optional\n"
    "ldevid-lifetime-days = 30\n"
    "crl-url = https://127.0.0.1:8443/crl\n"
    "max-body = 4096\n"
    "idle-timeout = 3\n"
    "registry-sync = normal\n";

static void
test_good(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse(&c, good, strlen(good), "t.conf", "/etc/lk", err,
	    sizeof(err)), 0);
	assert_string_equal(c.listen_addr, "::1");
	assert_int_equal(c.listen_port, 9443);
	assert_string_equal(c.domain, "example.test");
	assert_string_equal(c.ca_cert, "/etc/lk/domain-ca.pem");
	assert_string_equal(c.ca_key, "/abs/domain-ca.key");
	assert_string_equal(c.tls_cert, "/etc/lk/registrar.pem");
	assert_int_equal(c.n_manufacturer_ca, 2);
	assert_string_equal(c.manufacturer_ca[1], "/etc/lk/m2.pem");
	assert_int_equal(c.n_auto_accept, 2);
	assert_string_equal(c.auto_accept[0], "sha256:00ff");
	assert_string_equal(c.auto_accept[1], "/etc/lk/lab/manufacturer-ca.pem");
	assert_int_equal(c.channel_binding_required, 0);
	assert_int_equal(c.ldevid_lifetime_days, 30);
	assert_string_equal(c.crl_url, "https://127.0.0.1:8443/crl");
	assert_int_equal(c.max_body, 4096);
	assert_int_equal(c.idle_timeout, 3);
	assert_int_equal(c.registry_sync_full, 0);
}

static void
test_defaults(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.listen_addr, "127.0.0.1");
	assert_int_equal(c.listen_port, 8443);
	assert_int_equal(c.channel_binding_required, 1);
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(c.registry_sync_full, 1);
	/* privileges: "" = latchkey / latchkey-signer when started as root */
	assert_string_equal(c.user, "");
	assert_string_equal(c.signer_user, "");
	assert_int_equal(c.crl_max_validity, 48);
	assert_int_equal(c.ocsp_max_validity, 24);
	assert_int_equal(c.drop, 0);
	assert_int_equal(c.signer_drop, 0);
}

static void
test_privileges(void **state)
{
	static const char text[] = "user = _lk-work.1\nsigner-user = lksign\n"
	    "crl-max-validity = 72\nocsp-max-validity = 4\n";
	struct config c;
	char err[256] = "";

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse(&c, text, strlen(text), "t.conf", ".", err,
	    sizeof(err)), 0);
	assert_string_equal(c.user, "_lk-work.1");
	assert_string_equal(c.signer_user, "lksign");
	assert_int_equal(c.crl_max_validity, 72);
	assert_int_equal(c.ocsp_max_validity, 4);
	assert_int_equal(c.drop, 0);	/* resolved by latchkeyd at start, not here */
}

static const struct {
	const char	*text;
	const char	*err;	/* expected substring */
} bad[] = {
	{ "frobnicate = 1\n", "t.conf:1: frobnicate: unknown keyword" },
	{ "\n\nlisten = 127.0.0.1\n", "t.conf:3: listen: expected ADDR:PORT" },
	{ "listen = 127.0.0.1:0\n", "t.conf:1: listen:" },
	{ "listen = 127.0.0.1:70000\n", "t.conf:1: listen:" },
	{ "listen = ::1:80\n", "t.conf:1: listen:" },
	{ "domain\n", "t.conf:1: expected 'keyword = value'" },
	{ "domain =\n", "t.conf:1: domain: missing value" },
	{ "channel-binding = maybe\n", "t.conf:1: channel-binding: expected required or optional" },
	{ "ldevid-lifetime-days = 0\n", "t.conf:1: ldevid-lifetime-days:" },
	{ "ldevid-lifetime-days = -5\n", "t.conf:1: ldevid-lifetime-days:" },
	{ "ldevid-lifetime-days = 12x\n", "t.conf:1: ldevid-lifetime-days:" },
	{ "crl-url = ftp://x\n", "t.conf:1: crl-url: expected an http" },
	{ "max-body = 10\n", "t.conf:1: max-body:" },
	{ "registry-sync = sometimes\n", "t.conf:1: registry-sync:" },
	{ "\nuser = a b\n", "t.conf:2: user: not a user name" },
	{ "signer-user = x/y\n", "t.conf:1: signer-user: not a user name" },
	{ "user = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    "t.conf:1: user: user name too long" },
	{ "crl-max-validity = 23\n", "t.conf:1: crl-max-validity: expected hours, 24" },
	{ "crl-max-validity = 8761\n", "t.conf:1: crl-max-validity:" },
	{ "ocsp-max-validity = 0\n", "t.conf:1: ocsp-max-validity: expected hours, 1 to 8760" },
};

static void
test_bad_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c;
		char err[256] = "";

		config_defaults(&c);
		if (config_parse(&c, bad[i].text, strlen(bad[i].text), "t.conf", ".", err,
		    sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i].text);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("'%s': error '%s' lacks '%s'", bad[i].text, err, bad[i].err);
	}
}

static void
test_hostport(void **state)
{
	char host[64];
	unsigned port;

	(void)state;
	assert_int_equal(config_parse_hostport("10.0.0.1:443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 443);
	assert_int_equal(config_parse_hostport("[fe80::1]:1", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fe80::1");
	assert_int_equal(config_parse_hostport(":443", host, sizeof(host), &port), -1);
	assert_int_equal(config_parse_hostport("[::1]443", host, sizeof(host), &port), -1);
	assert_int_equal(config_parse_hostport("h:", host, sizeof(host), &port), -1);
}

static void
test_load_missing(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	assert_int_equal(config_load(&c, "/nonexistent/latchkeyd.conf", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/latchkeyd.conf"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_privileges),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_load_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
