/*
 * test_dhcpopt: latchkey's DHCP option codec (dhcp-hook/dhcpopt.c): RFC 8572 §8.3 SZTP
 * redirect option, RFC 3925 / RFC 8415 §21.17 vendor options, hook parameter values and the
 * per-packet decision. Expected bytes are written out by hand from the RFC layouts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dhcp-hook/dhcpopt.h"

#define B(s)	(const uint8_t *)(s), sizeof(s) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define FP	"sha256:abababababababababababababababababababababababababababababababab"
#define FP_UP	"SHA256:ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"

/* ---------------------------------------------------------------------------------- */
/* RFC 8572 §8.3: {uint16 uri-length, URI}... */

struct sztp_case {
	const char	*name;
	const char	*uris[3];
	const uint8_t	*want;
	size_t		 wantlen;
};

static const struct sztp_case sztp_cases[] = {
	{ "one URI", { "https://a.test" }, B("\x00\x0e" "https://a.test") },
	{ "two URIs, order kept", { "https://sztp1.example.com",
	    "https://sztp2.example.com:8443" },
	    B("\x00\x19" "https://sztp1.example.com" "\x00\x1e" "https://sztp2.example.com:8443") },
	{ "IPv6 literal", { "https://[2001:db8::1]:8443/x" },
	    B("\x00\x1c" "https://[2001:db8::1]:8443/x") },
};

static size_t
count_uris(const char *const *u, size_t max)
{
	size_t n = 0;

	while (n < max && u[n] != NULL)
		n++;
	return n;
}

static void
test_sztp_encode_bytes(void **state)
{
	const struct sztp_case *c;
	struct dhcpopt_list l;
	uint8_t buf[256];
	size_t i, j, n, len;
	char err[160];

	(void)state;
	for (i = 0; i < NELEM(sztp_cases); i++) {
		c = &sztp_cases[i];
		n = count_uris(c->uris, 3);
		assert_int_equal(dhcpopt_sztp_size(c->uris, n), c->wantlen);
		if (dhcpopt_sztp_encode(c->uris, n, buf, sizeof(buf), &len, err,
		    sizeof(err)) != 0)
			fail_msg("%s: encode failed: %s", c->name, err);
		assert_int_equal(len, c->wantlen);
		assert_memory_equal(buf, c->want, len);
		/* Round trip through the decoder. */
		if (dhcpopt_sztp_decode(buf, len, &l, err, sizeof(err)) != 0)
			fail_msg("%s: decode failed: %s", c->name, err);
		assert_int_equal(l.n, n);
		for (j = 0; j < n; j++)
			assert_string_equal(l.v[j], c->uris[j]);
		dhcpopt_list_free(&l);
		/* A buffer one octet short is refused. */
		assert_int_equal(dhcpopt_sztp_encode(c->uris, n, buf, c->wantlen - 1, &len,
		    err, sizeof(err)), -1);
	}
}

struct bad_case {
	const char	*name;
	const uint8_t	*data;
	size_t		 len;
	const char	*errpart;
};

static const struct bad_case sztp_bad[] = {
	{ "empty", (const uint8_t *)"", 0, "empty" },
	{ "one octet", B("\x00"), "uri-length truncated" },
	{ "zero-length URI", B("\x00\x00"), "zero-length" },
	{ "zero-length URI after a good one", B("\x00\x0e" "https://a.test" "\x00\x00"),
	    "entry 2: zero-length" },
	{ "URI truncated", B("\x00\x0e" "https://a.tes"), "truncated" },
	{ "length runs far past the end", B("\xff\xff" "https://a.test"), "truncated" },
	{ "trailing octet", B("\x00\x0e" "https://a.test" "\x00"), "entry 2: uri-length" },
	{ "control octet", B("\x00\x0e" "https://a\x01test"), "non-printable" },
	{ "space", B("\x00\x0e" "https://a test"), "space" },
	{ "high octet", B("\x00\x0e" "https://a\xc3test"), "non-printable" },
	{ "NUL inside", B("\x00\x0e" "https://a\x00test"), "non-printable" },
	{ "http scheme", B("\x00\x0d" "http://a.test"), "https" },
	{ "no scheme", B("\x00\x06" "a.test"), "https" },
	{ "no host", B("\x00\x09" "https:///"), "no host" },
	{ "scheme only", B("\x00\x08" "https://"), "no host" },
};

static void
test_sztp_decode_rejects(void **state)
{
	struct dhcpopt_list l;
	char err[160];
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(sztp_bad); i++) {
		l.v = (char **)0x1;
		l.n = 99;
		err[0] = '\0';
		if (dhcpopt_sztp_decode(sztp_bad[i].data, sztp_bad[i].len, &l, err,
		    sizeof(err)) != -1)
			fail_msg("%s: decode should fail", sztp_bad[i].name);
		assert_null(l.v);
		assert_int_equal(l.n, 0);
		if (strstr(err, sztp_bad[i].errpart) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", sztp_bad[i].name, err,
			    sztp_bad[i].errpart);
	}
}

/* Scheme is case-insensitive (RFC 3986 §3.1); too many entries are refused. */
static void
test_sztp_decode_limits(void **state)
{
	uint8_t buf[(DHCPOPT_LIST_MAX + 1) * 16];
	struct dhcpopt_list l;
	char err[160];
	size_t i, off = 0;

	(void)state;
	assert_int_equal(dhcpopt_sztp_decode(B("\x00\x0e" "HTTPS://a.test"), &l, err,
	    sizeof(err)), 0);
	assert_string_equal(l.v[0], "HTTPS://a.test");
	dhcpopt_list_free(&l);
	for (i = 0; i < DHCPOPT_LIST_MAX + 1; i++) {
		memcpy(buf + off, "\x00\x0e" "https://a.test", 16);
		off += 16;
	}
	assert_int_equal(dhcpopt_sztp_decode(buf, off - 16, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, DHCPOPT_LIST_MAX);
	dhcpopt_list_free(&l);
	assert_int_equal(dhcpopt_sztp_decode(buf, off, &l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
}

/* ---------------------------------------------------------------------------------- */
/* Vendor options: RFC 3925 §4 (v4, option 125) and RFC 8415 §21.17 (v6, option 17). */

static char *posture_v[] = { "https://p.test" };
static char *update_v[] = { "https://u.test", "https://u2.test" };
static const struct dhcpopt_list posture1 = { posture_v, 1 };
static const struct dhcpopt_list update1 = { update_v, 1 };
static const struct dhcpopt_list update2 = { update_v, 2 };
static const struct dhcpopt_list none = { NULL, 0 };

struct vendor_case {
	const char			*name;
	uint32_t			 enterprise;
	const struct dhcpopt_list	*posture, *update;
	const char			*fp;
	const uint8_t			*v4;
	size_t				 v4len;
	const uint8_t			*v6;
	size_t				 v6len;
};

static const struct vendor_case vendor_cases[] = {
	{ "posture + update + fingerprint", 32473, &posture1, &update1, FP,
	    /* enterprise 32473 = 0x00007ed9, data-len 2+14 + 2+14 + 2+71 = 105 = 0x69 */
	    B("\x00\x00\x7e\xd9\x69"
	      "\x01\x0e" "https://p.test"
	      "\x02\x0e" "https://u.test"
	      "\x03\x47" FP),
	    B("\x00\x00\x7e\xd9"
	      "\x00\x01\x00\x0e" "https://p.test"
	      "\x00\x02\x00\x0e" "https://u.test"
	      "\x00\x03\x00\x47" FP) },
	{ "two update URIs, order kept", 0x01020304, &none, &update2, NULL,
	    B("\x01\x02\x03\x04\x21"
	      "\x02\x0e" "https://u.test"
	      "\x02\x0f" "https://u2.test"),
	    B("\x01\x02\x03\x04"
	      "\x00\x02\x00\x0e" "https://u.test"
	      "\x00\x02\x00\x0f" "https://u2.test") },
	{ "fingerprint only", 32473, &none, &none, FP,
	    B("\x00\x00\x7e\xd9\x49" "\x03\x47" FP),
	    B("\x00\x00\x7e\xd9" "\x00\x03\x00\x47" FP) },
};

static void
check_vendor(const struct dhcpopt_vendor *v, const struct vendor_case *c)
{
	size_t i;

	assert_non_null(v);
	assert_int_equal(v->enterprise, c->enterprise);
	assert_int_equal(v->posture.n, c->posture->n);
	for (i = 0; i < c->posture->n; i++)
		assert_string_equal(v->posture.v[i], c->posture->v[i]);
	assert_int_equal(v->update.n, c->update->n);
	for (i = 0; i < c->update->n; i++)
		assert_string_equal(v->update.v[i], c->update->v[i]);
	if (c->fp == NULL)
		assert_null(v->ca_fingerprint);
	else
		assert_string_equal(v->ca_fingerprint, c->fp);
}

static void
test_vendor_encode_bytes(void **state)
{
	const struct vendor_case *c;
	struct dhcpopt_vendor *v;
	uint8_t buf[512];
	size_t i, len;
	char err[160];

	(void)state;
	for (i = 0; i < NELEM(vendor_cases); i++) {
		c = &vendor_cases[i];
		assert_int_equal(dhcpopt_vendor4_size(c->posture, c->update, c->fp), c->v4len);
		if (dhcpopt_vendor4_encode(c->enterprise, c->posture, c->update, c->fp, buf,
		    sizeof(buf), &len, err, sizeof(err)) != 0)
			fail_msg("%s: v4 encode: %s", c->name, err);
		assert_int_equal(len, c->v4len);
		assert_memory_equal(buf, c->v4, len);
		assert_int_equal(dhcpopt_vendor4_decode(buf, len, c->enterprise, &v, err,
		    sizeof(err)), 1);
		check_vendor(v, c);
		dhcpopt_vendor_free(v);

		assert_int_equal(dhcpopt_vendor6_size(c->posture, c->update, c->fp), c->v6len);
		if (dhcpopt_vendor6_encode(c->enterprise, c->posture, c->update, c->fp, buf,
		    sizeof(buf), &len, err, sizeof(err)) != 0)
			fail_msg("%s: v6 encode: %s", c->name, err);
		assert_int_equal(len, c->v6len);
		assert_memory_equal(buf, c->v6, len);
		assert_int_equal(dhcpopt_vendor6_decode(buf, len, c->enterprise, &v, err,
		    sizeof(err)), 1);
		check_vendor(v, c);
		dhcpopt_vendor_free(v);

		/* Another enterprise number: well formed, nothing for us. */
		v = (struct dhcpopt_vendor *)0x1;
		assert_int_equal(dhcpopt_vendor6_decode(buf, len, c->enterprise + 1, &v, err,
		    sizeof(err)), 0);
		assert_null(v);
	}
}

/* A sub-option of 256 octets cannot be written in DHCPv4 (1-octet length). */
static void
test_vendor_encode_limits(void **state)
{
	char uri[300], *p = uri;
	struct dhcpopt_list l = { &p, 1 };
	uint8_t buf[1024];
	size_t len;
	char err[160];

	(void)state;
	memset(uri, 'a', sizeof(uri));
	memcpy(uri, "https://", 8);
	uri[256] = '\0';
	assert_int_equal(dhcpopt_vendor4_encode(1, &l, &none, NULL, buf, sizeof(buf), &len,
	    err, sizeof(err)), -1);
	assert_int_equal(dhcpopt_vendor6_encode(1, &l, &none, NULL, buf, sizeof(buf), &len,
	    err, sizeof(err)), 0);
	assert_int_equal(len, 4 + 4 + 256);
	assert_int_equal(dhcpopt_vendor6_encode(1, &l, &none, NULL, buf, len - 1, &len, err,
	    sizeof(err)), -1);
}

/* RFC 3925 §4: several enterprise blocks; ours may come after others and twice. */
static void
test_vendor4_decode_blocks(void **state)
{
	static const uint8_t data[] =
	    "\x00\x00\x00\x09\x03" "\x01\x01\x00"		/* Cisco (9): skipped */
	    "\x00\x00\x7e\xd9\x10" "\x01\x0e" "https://p.test"
	    "\x00\x00\x0d\xe9\x00"				/* empty block of 3561 */
	    "\x00\x00\x7e\xd9\x13" "\x09\x01" "z" "\x02\x0e" "https://u.test"; /* code 9 ignored */
	struct dhcpopt_vendor *v;
	char err[160];

	(void)state;
	assert_int_equal(dhcpopt_vendor4_decode(data, sizeof(data) - 1, 32473, &v, err,
	    sizeof(err)), 1);
	assert_int_equal(v->posture.n, 1);
	assert_string_equal(v->posture.v[0], "https://p.test");
	assert_int_equal(v->update.n, 1);
	assert_string_equal(v->update.v[0], "https://u.test");
	assert_null(v->ca_fingerprint);
	dhcpopt_vendor_free(v);
	v = (struct dhcpopt_vendor *)0x1;
	assert_int_equal(dhcpopt_vendor4_decode(data, sizeof(data) - 1, 4491, &v, err,
	    sizeof(err)), 0);
	assert_null(v);
}

static const struct bad_case vendor4_bad[] = {
	{ "empty", (const uint8_t *)"", 0, "empty" },
	{ "block header truncated", B("\x00\x00\x7e\xd9"), "truncated" },
	{ "data-len past the end", B("\x00\x00\x7e\xd9\x05\x01\x01"), "truncated" },
	{ "other enterprise truncated", B("\x00\x00\x00\x09\x05\x01"), "truncated" },
	{ "sub-option header truncated", B("\x00\x00\x7e\xd9\x01\x01"), "header truncated" },
	{ "sub-option data truncated", B("\x00\x00\x7e\xd9\x03\x01\x05" "a"), "truncated" },
	{ "bad posture URI", B("\x00\x00\x7e\xd9\x0f\x01\x0d" "http://p.test"), "https" },
	{ "empty update URI", B("\x00\x00\x7e\xd9\x02\x02\x00"), "empty URI" },
	{ "short fingerprint", B("\x00\x00\x7e\xd9\x0a\x03\x08" "sha256:a"), "fingerprint" },
	{ "fingerprint twice", B("\x00\x00\x7e\xd9\x92" "\x03\x47" FP "\x03\x47" FP),
	    "repeated" },
};

static const struct bad_case vendor6_bad[] = {
	{ "empty", (const uint8_t *)"", 0, "enterprise" },
	{ "three octets", B("\x00\x00\x7e"), "enterprise" },
	{ "sub-option header truncated", B("\x00\x00\x7e\xd9\x00\x01\x00"), "header" },
	{ "sub-option data truncated", B("\x00\x00\x7e\xd9\x00\x01\x00\x0f" "https://p.test"),
	    "truncated" },
	{ "non-hex fingerprint", B("\x00\x00\x7e\xd9\x00\x03\x00\x47"
	    "sha256:zbababababababababababababababababababababababababababababababab"),
	    "non-hex" },
};

static void
run_vendor_bad(const struct bad_case *cases, size_t n, int v6)
{
	struct dhcpopt_vendor *v;
	char err[160];
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		v = (struct dhcpopt_vendor *)0x1;
		err[0] = '\0';
		rc = v6 ? dhcpopt_vendor6_decode(cases[i].data, cases[i].len, 32473, &v, err,
		    sizeof(err)) : dhcpopt_vendor4_decode(cases[i].data, cases[i].len, 32473,
		    &v, err, sizeof(err));
		if (rc != -1)
			fail_msg("v%d %s: decode should fail (rc %d)", v6 ? 6 : 4,
			    cases[i].name, rc);
		assert_null(v);
		if (strstr(err, cases[i].errpart) == NULL)
			fail_msg("v%d %s: error \"%s\" lacks \"%s\"", v6 ? 6 : 4, cases[i].name,
			    err, cases[i].errpart);
	}
}

static void
test_vendor_decode_rejects(void **state)
{
	(void)state;
	run_vendor_bad(vendor4_bad, NELEM(vendor4_bad), 0);
	run_vendor_bad(vendor6_bad, NELEM(vendor6_bad), 1);
}

/* ---------------------------------------------------------------------------------- */
/* Hex as DHCP client scripts hand it over. */

struct hex_case {
	const char	*in;
	const uint8_t	*want;		/* NULL: must fail */
	size_t		 wantlen;
};

static const struct hex_case hex_cases[] = {
	{ "001a6874", B("\x00\x1a\x68\x74") },
	{ "00:1a:68:74", B("\x00\x1a\x68\x74") },
	{ "0:1a:68:7", B("\x00\x1a\x68\x07") },		/* dhclient's %x */
	{ " 0A0b\n", B("\x0a\x0b") },
	{ "ff", B("\xff") },
	{ "", NULL, 0 },
	{ "   ", NULL, 0 },
	{ "0", NULL, 0 },
	{ "001", NULL, 0 },
	{ "0g", NULL, 0 },
	{ "00:", NULL, 0 },
	{ ":00", NULL, 0 },
	{ "00::1a", NULL, 0 },
	{ "abc:1", NULL, 0 },
	{ "00 1a", NULL, 0 },
	{ "0011223344", NULL, 0 },	/* 5 octets, buffer of 4 */
};

static void
test_hex_decode(void **state)
{
	uint8_t buf[4];
	size_t i, len;
	char err[160];
	int rc;

	(void)state;
	for (i = 0; i < NELEM(hex_cases); i++) {
		rc = dhcpopt_hex_decode(hex_cases[i].in, buf, sizeof(buf), &len, err,
		    sizeof(err));
		if (hex_cases[i].want == NULL) {
			if (rc != -1)
				fail_msg("\"%s\" should be refused", hex_cases[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", hex_cases[i].in, err);
		assert_int_equal(len, hex_cases[i].wantlen);
		assert_memory_equal(buf, hex_cases[i].want, len);
	}
}

/* ---------------------------------------------------------------------------------- */
/* Hook parameter values and the finished configuration. */

static struct dhcpopt_config *
config_with(const char *reg1, const char *reg2)
{
	struct dhcpopt_config *c;
	char err[160];

	c = dhcpopt_config_new();
	assert_non_null(c);
	if (reg1 != NULL && dhcpopt_config_add_uri(c, DHCPOPT_REGISTRAR, reg1, err,
	    sizeof(err)) != 0)
		fail_msg("add %s: %s", reg1, err);
	if (reg2 != NULL && dhcpopt_config_add_uri(c, DHCPOPT_REGISTRAR, reg2, err,
	    sizeof(err)) != 0)
		fail_msg("add %s: %s", reg2, err);
	return c;
}

static void
test_config_values(void **state)
{
	static const struct {
		const char	*uri;
		const char	*errpart;
	} bad_uris[] = {
		{ "http://r.test", "https" },
		{ "https://r.test/a b", "space" },
		{ "https://r.test/\t", "non-printable" },
		{ "", "empty" },
		{ "https://", "no host" },
		{ "https://r.test", "twice" },		/* already added below */
	};
	static const char *bad_classes[] = { "", " x", "x ", "a\nb", "caf\xc3\xa9" };
	struct dhcpopt_config *c;
	char err[160], longuri[DHCPOPT_URI_MAX + 2];
	size_t i;

	(void)state;
	c = config_with("https://r.test", NULL);
	for (i = 0; i < NELEM(bad_uris); i++) {
		err[0] = '\0';
		assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_POSTURE, "https://r.test",
		    err, sizeof(err)), i == 0 ? 0 : -1);	/* first add works, then twice */
		assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_REGISTRAR, bad_uris[i].uri,
		    err, sizeof(err)), -1);
		if (strstr(err, bad_uris[i].errpart) == NULL)
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", bad_uris[i].uri, err,
			    bad_uris[i].errpart);
	}
	/* URI length: DHCPOPT_URI_MAX accepted, one more refused. */
	memset(longuri, 'a', sizeof(longuri));
	memcpy(longuri, "https://", 8);
	longuri[DHCPOPT_URI_MAX] = '\0';
	assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_UPDATE, longuri, err,
	    sizeof(err)), 0);
	longuri[DHCPOPT_URI_MAX] = 'a';
	longuri[DHCPOPT_URI_MAX + 1] = '\0';
	assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_UPDATE, longuri, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "longer"));

	assert_int_equal(dhcpopt_config_enterprise(c), 32473);
	assert_int_equal(dhcpopt_config_set_enterprise(c, 0, err, sizeof(err)), -1);
	assert_int_equal(dhcpopt_config_set_enterprise(c, -5, err, sizeof(err)), -1);
	assert_int_equal(dhcpopt_config_set_enterprise(c, 4294967296LL, err, sizeof(err)),
	    -1);
	assert_int_equal(dhcpopt_config_set_enterprise(c, 4294967295LL, err, sizeof(err)),
	    0);
	assert_int_equal(dhcpopt_config_enterprise(c), 4294967295u);

	assert_null(dhcpopt_config_fingerprint(c));
	assert_int_equal(dhcpopt_config_set_fingerprint(c, "sha256:abcd", err, sizeof(err)),
	    -1);
	assert_int_equal(dhcpopt_config_set_fingerprint(c, "md5:" FP, err, sizeof(err)), -1);
	assert_int_equal(dhcpopt_config_set_fingerprint(c, FP_UP, err, sizeof(err)), 0);
	assert_string_equal(dhcpopt_config_fingerprint(c), FP);	/* stored lower-case */

	assert_null(dhcpopt_config_registry(c));
	assert_int_equal(dhcpopt_config_set_registry(c, "reg/registry.db", err, sizeof(err)),
	    -1);
	assert_int_equal(dhcpopt_config_set_registry(c, "", err, sizeof(err)), -1);
	assert_int_equal(dhcpopt_config_set_registry(c, "/var/lib/latchkey/registry.db", err,
	    sizeof(err)), 0);
	assert_string_equal(dhcpopt_config_registry(c), "/var/lib/latchkey/registry.db");

	assert_string_equal(dhcpopt_config_revoked_class(c), "latchkey-revoked");
	assert_null(dhcpopt_config_only_class(c));
	for (i = 0; i < NELEM(bad_classes); i++) {
		assert_int_equal(dhcpopt_config_set_revoked_class(c, bad_classes[i], err,
		    sizeof(err)), -1);
		assert_int_equal(dhcpopt_config_set_only_class(c, bad_classes[i], err,
		    sizeof(err)), -1);
	}
	assert_string_equal(dhcpopt_config_revoked_class(c), "latchkey-revoked");
	assert_int_equal(dhcpopt_config_set_only_class(c, "VENDOR_CLASS_latchkey", err,
	    sizeof(err)), 0);
	assert_string_equal(dhcpopt_config_only_class(c), "VENDOR_CLASS_latchkey");
	assert_int_equal(dhcpopt_config_set_only_class(c, NULL, err, sizeof(err)), 0);
	assert_null(dhcpopt_config_only_class(c));
	dhcpopt_config_free(c);
	dhcpopt_config_free(NULL);
}

/* The finished configuration holds exactly what the encoders give. */
static void
test_config_finish_encodes(void **state)
{
	struct dhcpopt_config *c;
	const uint8_t *d;
	char err[160], warn[256];
	size_t len;

	(void)state;
	c = config_with("https://sztp1.example.com", "https://sztp2.example.com:8443");
	assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err, sizeof(err)), 0);
	assert_string_equal(warn, "");
	d = dhcpopt_config_encoded(c, DHCPOPT_ENC_V4_SZTP, &len);
	assert_int_equal(len, sztp_cases[1].wantlen);
	assert_memory_equal(d, sztp_cases[1].want, len);
	d = dhcpopt_config_encoded(c, DHCPOPT_ENC_V6_SZTP, &len);
	assert_memory_equal(d, sztp_cases[1].want, len);
	/* No vendor content: no vendor options. */
	dhcpopt_config_encoded(c, DHCPOPT_ENC_V4_VENDOR, &len);
	assert_int_equal(len, 0);
	dhcpopt_config_encoded(c, DHCPOPT_ENC_V6_VENDOR, &len);
	assert_int_equal(len, 0);

	assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_POSTURE, "https://p.test", err,
	    sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_UPDATE, "https://u.test", err,
	    sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_set_fingerprint(c, FP, err, sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err, sizeof(err)), 0);
	d = dhcpopt_config_encoded(c, DHCPOPT_ENC_V4_VENDOR, &len);
	assert_int_equal(len, vendor_cases[0].v4len);
	assert_memory_equal(d, vendor_cases[0].v4, len);
	d = dhcpopt_config_encoded(c, DHCPOPT_ENC_V6_VENDOR, &len);
	assert_int_equal(len, vendor_cases[0].v6len);
	assert_memory_equal(d, vendor_cases[0].v6, len);
	dhcpopt_config_free(c);
}

/* Size policy: over 255 octets refused, together over DHCPOPT_V4_TOTAL_WARN warned. */
static void
test_config_finish_sizes(void **state)
{
	struct dhcpopt_config *c;
	char err[256], warn[256], uri[64];
	int i;

	(void)state;
	c = dhcpopt_config_new();
	assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "registrar-uris"));
	dhcpopt_config_free(c);

	/* 5 registrar URIs of 50 octets: 5 * 52 = 260 > 255. With 4: 208, fine. */
	c = dhcpopt_config_new();
	for (i = 0; i < 5; i++) {
		snprintf(uri, sizeof(uri), "https://registrar-%d.example.test/%017d", i, 0);
		assert_int_equal(strlen(uri), 50);
		if (i == 4)
			assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err,
			    sizeof(err)), 0);
		assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_REGISTRAR, uri, err,
		    sizeof(err)), 0);
	}
	assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "option 143 would carry 260 octets"));
	dhcpopt_config_free(c);

	/* Vendor: 4 posture + 1 update URI of 50: 5 + 5 * 52 = 265 > 255. */
	c = config_with("https://r.test", NULL);
	for (i = 0; i < 5; i++) {
		snprintf(uri, sizeof(uri), "https://service-%d.example.test/%019d", i, 0);
		assert_int_equal(dhcpopt_config_add_uri(c, i == 4 ? DHCPOPT_UPDATE :
		    DHCPOPT_POSTURE, uri, err, sizeof(err)), 0);
	}
	assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "option 125 would carry 265 octets"));
	dhcpopt_config_free(c);

	/* Each option fits, together 2+208 + 2+161 = 373 > 256: warning only. */
	c = dhcpopt_config_new();
	for (i = 0; i < 4; i++) {
		snprintf(uri, sizeof(uri), "https://registrar-%d.example.test/%017d", i, 0);
		assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_REGISTRAR, uri, err,
		    sizeof(err)), 0);
	}
	for (i = 0; i < 3; i++) {
		snprintf(uri, sizeof(uri), "https://service-%d.example.test/%019d", i, 0);
		assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_POSTURE, uri, err,
		    sizeof(err)), 0);
	}
	assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err, sizeof(err)), 0);
	assert_non_null(strstr(warn, "373 octets"));
	dhcpopt_config_free(c);
}

/* ---------------------------------------------------------------------------------- */
/* Per-packet decision. */

struct select_case {
	const char		*name;
	int			 only;		/* configure only-class */
	struct dhcpopt_pkt	 p;
	unsigned		 want;
};

#define S	DHCPOPT_ADD_SZTP
#define V	DHCPOPT_ADD_VENDOR
#define T	DHCPOPT_TRIMMED
/* The configuration below: option 143 of 2+25 + 2+30 = 59 octets (61 with code and len),
 * option 125 of 5 + 2+30 + 2+29 = 68 (70). A 576-octet message leaves 548 for DHCP:
 * resp_len (236 header + options) + 5 (cookie, END) + what we add. */
static const struct select_case select_cases[] = {
	{ "v4 ACK, room", 0, { 4, 1, 0, 0, 0, 0, 300, 0 }, S | V },
	{ "v4 not an answer", 0, { 4, 0, 0, 0, 0, 0, 300, 0 }, 0 },
	{ "v4 revoked", 0, { 4, 1, 0, 1, 0, 0, 300, 0 }, 0 },
	{ "v4 only-class, not member", 1, { 4, 1, 0, 0, 0, 0, 300, 0 }, 0 },
	{ "v4 only-class, member", 1, { 4, 1, 1, 0, 0, 0, 300, 0 }, S | V },
	{ "v4 only-class, member but revoked", 1, { 4, 1, 1, 1, 0, 0, 300, 0 }, 0 },
	{ "v4 143 already there", 0, { 4, 1, 0, 0, 1, 0, 300, 0 }, V },
	{ "v4 both already there", 0, { 4, 1, 0, 0, 1, 1, 300, 0 }, 0 },
	/* 548 - 5 - 61 - 70 = 412: exactly fits both. */
	{ "v4 exactly full", 0, { 4, 1, 0, 0, 0, 0, 412, 0 }, S | V },
	{ "v4 one octet over: vendor left out", 0, { 4, 1, 0, 0, 0, 0, 413, 0 }, S | T },
	{ "v4 option 57 = 1500 makes room", 0, { 4, 1, 0, 0, 0, 0, 413, 1500 }, S | V },
	{ "v4 option 57 below 576 counts as 576", 0, { 4, 1, 0, 0, 0, 0, 413, 300 }, S | T },
	{ "v4 143 there, vendor does not fit", 0, { 4, 1, 0, 0, 1, 0, 474, 0 }, T },
	{ "v4 143 there, vendor just fits", 0, { 4, 1, 0, 0, 1, 0, 473, 0 }, V },
	{ "v4 room for 143 only", 0, { 4, 1, 0, 0, 0, 0, 482, 0 }, S | T },
	{ "v4 no room at all", 0, { 4, 1, 0, 0, 0, 0, 483, 0 }, T },
	{ "v6 REPLY", 0, { 6, 1, 0, 0, 0, 0, 0, 0 }, S | V },
	{ "v6 ours already there", 0, { 6, 1, 0, 0, 0, 1, 0, 0 }, S },
	{ "v6 revoked", 0, { 6, 1, 0, 1, 0, 0, 0, 0 }, 0 },
	{ "v6 only-class, not member", 1, { 6, 1, 0, 0, 0, 0, 0, 0 }, 0 },
	{ "v6 not an answer", 0, { 6, 0, 0, 0, 0, 0, 0, 0 }, 0 },
};

static void
test_select(void **state)
{
	struct dhcpopt_config *c, *only;
	const struct select_case *sc;
	char err[160], warn[160];
	size_t i, len;
	unsigned got;

	(void)state;
	c = config_with("https://sztp1.example.com", "https://sztp2.example.com:8443");
	assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_POSTURE,
	    "https://posture.example.test/r", err, sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_add_uri(c, DHCPOPT_UPDATE,
	    "https://update.example.test/u", err, sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_finish(c, warn, sizeof(warn), err, sizeof(err)), 0);
	dhcpopt_config_encoded(c, DHCPOPT_ENC_V4_SZTP, &len);
	assert_int_equal(len, 59);
	dhcpopt_config_encoded(c, DHCPOPT_ENC_V4_VENDOR, &len);
	assert_int_equal(len, 68);
	only = config_with("https://sztp1.example.com", "https://sztp2.example.com:8443");
	assert_int_equal(dhcpopt_config_add_uri(only, DHCPOPT_POSTURE,
	    "https://posture.example.test/r", err, sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_add_uri(only, DHCPOPT_UPDATE,
	    "https://update.example.test/u", err, sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_set_only_class(only, "latchkey-agents", err,
	    sizeof(err)), 0);
	assert_int_equal(dhcpopt_config_finish(only, warn, sizeof(warn), err, sizeof(err)),
	    0);
	for (i = 0; i < NELEM(select_cases); i++) {
		sc = &select_cases[i];
		got = dhcpopt_select(sc->only ? only : c, &sc->p);
		if (got != sc->want)
			fail_msg("%s: got 0x%x, want 0x%x", sc->name, got, sc->want);
	}
	dhcpopt_config_free(only);
	dhcpopt_config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sztp_encode_bytes),
		cmocka_unit_test(test_sztp_decode_rejects),
		cmocka_unit_test(test_sztp_decode_limits),
		cmocka_unit_test(test_vendor_encode_bytes),
		cmocka_unit_test(test_vendor_encode_limits),
		cmocka_unit_test(test_vendor4_decode_blocks),
		cmocka_unit_test(test_vendor_decode_rejects),
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_config_finish_encodes),
		cmocka_unit_test(test_config_finish_sizes),
		cmocka_unit_test(test_select),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
