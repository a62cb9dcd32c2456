/* Unit tests for enroll/latchkeyd/config.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
	/* issue #16: no admin or plain-HTTP listener unless configured */
	assert_int_equal(c.admin_port, 0);
	assert_int_equal(c.http_port, 0);
	assert_int_equal(c.expiry_warn_days, 30);
}

/* admin-listen, http-listen, expiry-warn-days; list keywords repeat. */
static const struct {
	const char	*name;
	const char	*text;
	const char	*admin_addr, *http_addr;
	unsigned	 admin_port, http_port, warn_days;
} listeners[] = {
	{ "bare admin port is loopback", "admin-listen = 9100\n",
	    "127.0.0.1", "", 9100, 0, 30 },
	{ "admin on v6, http on v4", "admin-listen = [::1]:9101\nhttp-listen = 0.0.0.0:8080\n"
	    "expiry-warn-days = 7\n", "::1", "0.0.0.0", 9101, 8080, 7 },
	{ "listen's port on another address", "listen = 127.0.0.1:8443\n"
	    "admin-listen = 127.0.0.2:8443\nhttp-listen = [::1]:8443\n",
	    "127.0.0.2", "::1", 8443, 8443, 30 },
	{ "bare admin port beside a v6 listen", "listen = [::1]:8443\nadmin-listen = 8443\n"
	    "expiry-warn-days = 3650\n", "127.0.0.1", "", 8443, 0, 3650 },
};

static void
test_listeners(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
		struct config c;
		char err[256] = "";

		config_defaults(&c);
		if (config_parse(&c, listeners[i].text, strlen(listeners[i].text), "t.conf",
		    ".", err, sizeof(err)) != 0)
			fail_msg("%s: refused: %s", listeners[i].name, err);
		if (strcmp(c.admin_addr, listeners[i].admin_addr) != 0 ||
		    strcmp(c.http_addr, listeners[i].http_addr) != 0 ||
		    c.admin_port != listeners[i].admin_port ||
		    c.http_port != listeners[i].http_port ||
		    c.expiry_warn_days != listeners[i].warn_days)
			fail_msg("%s: admin %s:%u http %s:%u warn %u", listeners[i].name,
			    c.admin_addr, c.admin_port, c.http_addr, c.http_port,
			    c.expiry_warn_days);
	}
}

static void
test_lists_repeat(void **state)
{
	static const char text[] =
	    "manufacturer-ca = m1.pem\nmanufacturer-crl = c1.crl\nauto-accept = sha256:01\n"
	    "masa-ca = a1.pem\nmanufacturer-ca = m2.pem\nmanufacturer-crl = c2.crl\n"
	    "auto-accept = sha256:02\nmasa-ca = a2.pem\nmanufacturer-ca = m3.pem\n";
	struct config c;
	char err[256] = "";

	(void)state;
	config_defaults(&c);
	if (config_parse(&c, text, strlen(text), "t.conf", "/d", err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(c.n_manufacturer_ca, 3);
	assert_int_equal(c.n_manufacturer_crl, 2);
	assert_int_equal(c.n_auto_accept, 2);
	assert_int_equal(c.n_masa_ca, 2);
	assert_string_equal(c.masa_ca[1], "/d/a2.pem");
}

/* The keyword table and config_apply() agree; exactly the (list) keywords of config.h repeat. */
static void
test_keyword_table(void **state)
{
	const char *k;
	size_t i, j, nlist = 0;
	int list;

	(void)state;
	for (i = 0; (k = config_keyword(i, &list)) != NULL; i++) {
		struct config c;
		char text[128], err[256] = "";

		snprintf(text, sizeof(text), "%s = \x01\n", k);
		config_defaults(&c);
		if (config_parse(&c, text, strlen(text), "t.conf", ".", err, sizeof(err)) != 0 &&
		    strstr(err, "unknown keyword") != NULL)
			fail_msg("%s: in the table, unknown to config_apply: %s", k, err);
		for (j = 0; j < i; j++)
			if (strcmp(k, config_keyword(j, NULL)) == 0)
				fail_msg("%s: twice in the table", k);
		if (list) {
			nlist++;
			if (strcmp(k, "manufacturer-ca") != 0 &&
			    strcmp(k, "manufacturer-crl") != 0 &&
			    strcmp(k, "auto-accept") != 0 && strcmp(k, "masa-ca") != 0)
				fail_msg("%s: a list keyword, not in config.h", k);
		}
	}
	assert_int_equal(nlist, 4);
	assert_true(i > 40);
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
	/* a keyword that is not a list may be given once (issue #16) */
	{ "listen = 127.0.0.1:1\n# two\n\nlisten = 127.0.0.1:2\n",
	    "t.conf:4: listen is already set on line 1" },
	{ "domain = a.test\nchannel-binding = required\nchannel-binding = optional\n",
	    "t.conf:3: channel-binding is already set on line 2" },
	{ "workers = 1\nworkers = 1\n", "t.conf:2: workers is already set on line 1" },
	{ "masa-timeout = 3\nmasa-ca = a.pem\nmasa-timeout = 4\n",
	    "t.conf:3: masa-timeout is already set on line 1" },
	{ "crl-file = none\ncrl-file = none\n", "t.conf:2: crl-file is already set on line 1" },
	{ "expiry-warn-days = 5\nexpiry-warn-days = 6\n",
	    "t.conf:2: expiry-warn-days is already set on line 1" },
	{ "admin-listen = 9000\nadmin-listen = 9001\n",
	    "t.conf:2: admin-listen is already set on line 1" },
	/* admin-listen, http-listen, expiry-warn-days */
	{ "admin-listen = 0\n", "t.conf:1: admin-listen: expected a port, 1 to 65535" },
	{ "admin-listen = 65536\n", "t.conf:1: admin-listen: expected a port" },
	{ "admin-listen = 127.0.0.1:\n", "t.conf:1: admin-listen: expected PORT, ADDR:PORT" },
	{ "admin-listen = ::1:9000\n", "t.conf:1: admin-listen: expected PORT, ADDR:PORT" },
	{ "admin-listen = 8443\n",
	    "t.conf:1: admin-listen: port 8443 on 127.0.0.1 is taken by listen (the default)" },
	{ "listen = [::1]:9443\n\nadmin-listen = [0::1]:9443\n",
	    "t.conf:3: admin-listen: port 9443 on 0::1 is taken by listen (line 1)" },
	{ "admin-listen = 0.0.0.0:9443\nlisten = 10.0.0.1:9443\n",
	    "t.conf:1: admin-listen: port 9443 on 0.0.0.0 is taken by listen (line 2)" },
	{ "http-listen = 8080\n", "t.conf:1: http-listen: expected ADDR:PORT" },
	{ "listen = [::]:8443\nhttp-listen = 10.0.0.1:8443\n",
	    "t.conf:2: http-listen: port 8443 on 10.0.0.1 is taken by listen (line 1)" },
	{ "admin-listen = 9000\nhttp-listen = 127.0.0.1:9000\n",
	    "t.conf:2: http-listen: port 9000 on 127.0.0.1 is taken by admin-listen (line 1)" },
	{ "http-listen = 127.0.0.1:9000\nadmin-listen = 9000\n",
	    "t.conf:2: admin-listen: port 9000 on 127.0.0.1 is taken by http-listen (line 1)" },
	{ "expiry-warn-days = 0\n",
	    "t.conf:1: expiry-warn-days: expected a number of days, 1 to 3650" },
	{ "expiry-warn-days = 3651\n", "t.conf:1: expiry-warn-days:" },
	/* approvals (issue #17) */
	{ "pending = maybe\n", "t.conf:1: pending: expected yes or no" },
	{ "pending = yes\npending = no\n", "t.conf:2: pending is already set on line 1" },
	{ "pending-retry-after = 0\n",
	    "t.conf:1: pending-retry-after: expected seconds, 1 to 3600" },
	{ "pending-retry-after = 3601\n", "t.conf:1: pending-retry-after:" },
	/* verified updates (issue #20) */
	{ "update-dir = /nonexistent/latchkey-updates\n", "t.conf:1: update-dir: not a directory" },
	{ "update-dir = /tmp\nupdate-dir = /tmp\n", "t.conf:2: update-dir is already set on line 1" },
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

/* Approvals (issue #17): off by default, Retry-After 30 s. */
static void
test_pending(void **state)
{
	static const char text[] = "pending = yes\npending-retry-after = 3600\n";
	struct config c;
	char err[256] = "";

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.pending, 0);
	assert_int_equal(c.pending_retry_after, 30);
	assert_int_equal(config_parse(&c, text, strlen(text), "t.conf", ".", err,
	    sizeof(err)), 0);
	assert_int_equal(c.pending, 1);
	assert_int_equal(c.pending_retry_after, 3600);
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

/*
 * registry = a PostgreSQL URI or conninfo string: taken as is (never resolved against the
 * configuration's directory), and the files that default to "beside the registry" go
 * beside the configuration file instead. A file name still resolves as before.
 */
static void
test_registry_pg(void **state)
{
	static const struct {
		const char	*value;
		const char	*registry;	/* NULL: dir/value */
		const char	*crl;		/* the default crl-file: dir/crl */
	} cases[] = {
		{ "postgresql://lk@db.example:5432/latchkey?sslmode=require",
		    "postgresql://lk@db.example:5432/latchkey?sslmode=require", "crl.der" },
		{ "postgres://lk@db.example/latchkey", "postgres://lk@db.example/latchkey",
		    "crl.der" },
		{ "host=/run/postgresql dbname=latchkey user=lk",
		    "host=/run/postgresql dbname=latchkey user=lk", "crl.der" },
		{ "data/registry.db", NULL, "data/crl.der" },
	};
	char dir[] = "/tmp/test_config.XXXXXX", path[64], want[128];
	struct config c;
	char err[256];
	size_t i;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/latchkeyd.conf", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(f = fopen(path, "w"));
		fprintf(f, "domain = example.test\nca-cert = ca.pem\nca-key = ca.key\n"
		    "tls-cert = tls.pem\ntls-key = tls.key\nmanufacturer-ca = m.pem\n"
		    "registry = %s\n", cases[i].value);
		fclose(f);
		if (config_load(&c, path, err, sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].value, err);
		snprintf(want, sizeof(want), "%s/%s", dir, cases[i].value);
		assert_string_equal(c.registry, cases[i].registry != NULL ?
		    cases[i].registry : want);
		snprintf(want, sizeof(want), "%s/%s", dir, cases[i].crl);
		assert_string_equal(c.crl_file, want);
	}
	unlink(path);
	rmdir(dir);
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

/* config_load of text written to a temporary file: its return; c and err filled. */
static int
load_text(struct config *c, const char *text, char *err, size_t errlen)
{
	char path[] = "/tmp/lk-config-XXXXXX";
	int fd, rc;
	FILE *f;

	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		fail_msg("mkstemp");
	fputs(text, f);
	fclose(f);
	rc = config_load(c, path, err, errlen);
	unlink(path);
	return rc;
}

/* The rollover keywords: both previous-ca-* or neither; the previous CA's CRL file. */
static void
test_rollover(void **state)
{
	static const char base[] =
	    "domain = example.test\nca-cert = /r/ca.pem\nca-key = /r/ca.key\n"
	    "tls-cert = /r/t.pem\ntls-key = /r/t.key\nregistry = /r/registry.db\n"
	    "manufacturer-ca = /r/m.pem\n";
	struct config c;
	char text[1024], err[256];

	(void)state;
	snprintf(text, sizeof(text), "%sprevious-ca-cert = /r/prev.pem\n"
	    "previous-ca-key = /r/prev.key\nrollover-certs = /r/links.pem\n", base);
	if (load_text(&c, text, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.prev_ca_cert, "/r/prev.pem");
	assert_string_equal(c.prev_ca_key, "/r/prev.key");
	assert_string_equal(c.rollover_certs, "/r/links.pem");
	assert_string_equal(c.crl_file, "/r/crl.der");
	assert_string_equal(c.prev_crl_file, "/r/crl-previous.der");

	snprintf(text, sizeof(text), "%scrl-file = /c/revoked\nprevious-ca-cert = /r/p.pem\n"
	    "previous-ca-key = /r/p.key\n", base);
	assert_int_equal(load_text(&c, text, err, sizeof(err)), 0);
	assert_string_equal(c.prev_crl_file, "/c/revoked-previous.der");

	/* without a previous CA: no second CRL file */
	assert_int_equal(load_text(&c, base, err, sizeof(err)), 0);
	assert_string_equal(c.prev_crl_file, "");

	snprintf(text, sizeof(text), "%sprevious-ca-cert = /r/prev.pem\n", base);
	assert_int_equal(load_text(&c, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "give both or neither"));
	snprintf(text, sizeof(text), "%srollover-certs = /r/links.pem\n", base);
	assert_int_equal(load_text(&c, text, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "rollover-certs: needs previous-ca-cert"));
}

/*
 * Key keywords take an RFC 7512 pkcs11: URI as it is (never a path under the config's
 * directory); a bad URI or a pin-value is refused, the PIN not repeated.
 */
static void
test_key_uri(void **state)
{
	static const char base[] =
	    "domain = example.test\nca-cert = ca.pem\n"
	    "tls-cert = /r/t.pem\ntls-key = /r/t.key\nregistry = /r/registry.db\n"
	    "manufacturer-ca = /r/m.pem\n";
	static const char uri[] = "pkcs11:token=lk;object=ca?pin-source=/etc/lk/pin"
	    "&module-path=/usr/lib/softhsm/libsofthsm2.so";
	struct config c;
	char text[2048], err[512];

	(void)state;
	config_defaults(&c);
	snprintf(text, sizeof(text), "%sca-key = %s\nprevious-ca-cert = p.pem\n"
	    "previous-ca-key = pkcs11:token=lk;object=old?pin-source=/etc/lk/pin\n", base, uri);
	if (config_parse(&c, text, strlen(text), "t.conf", "/etc/lk", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.ca_key, uri);
	assert_string_equal(c.ca_cert, "/etc/lk/ca.pem");
	assert_string_equal(c.prev_ca_key, "pkcs11:token=lk;object=old?pin-source=/etc/lk/pin");

	config_defaults(&c);
	snprintf(text, sizeof(text), "role = masa\nlisten = 127.0.0.1:9443\ntls-cert = /r/t.pem\n"
	    "tls-key = /r/t.key\nmasa-cert = m.pem\nmasa-key = %s\nmasa-db = m.db\n"
	    "manufacturer-ca = /r/m.pem\n", uri);
	if (config_parse(&c, text, strlen(text), "t.conf", "/etc/lk", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.masa_key, uri);

	config_defaults(&c);
	snprintf(text, sizeof(text), "%sca-key = pkcs11:token=lk;object=ca?pin-value=s3cr3t\n",
	    base);
	assert_int_equal(config_parse(&c, text, strlen(text), "t.conf", "/etc/lk", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "pin-value puts the PIN in the configuration"));
	assert_null(strstr(err, "s3cr3t"));

	config_defaults(&c);
	snprintf(text, sizeof(text), "%sca-key = pkcs11:token=lk;object=ca;serial=1\n", base);
	assert_int_equal(config_parse(&c, text, strlen(text), "t.conf", "/etc/lk", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "ca-key: pkcs11 URI: unsupported attribute \"serial\""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_privileges),
		cmocka_unit_test(test_listeners),
		cmocka_unit_test(test_lists_repeat),
		cmocka_unit_test(test_keyword_table),
		cmocka_unit_test(test_bad_table),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_rollover),
		cmocka_unit_test(test_registry_pg),
		cmocka_unit_test(test_key_uri),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
