/*
 * test_txt: the DNS-SD TXT record codec (mdns/txt.c), RFC 6763 §6.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mdns/txt.h"

#define BOOL_ATTR	((const char *)1)	/* expected value marker: boolean attribute */

struct kv_expect {
	const char	*key;		/* looked up with txt_get() */
	const char	*val;		/* NULL: absent; BOOL_ATTR: boolean; else the value */
};

struct parse_case {
	const char	*name;
	const uint8_t	*rdata;
	size_t		 len;
	int		 ok;		/* 1: txt_parse() succeeds */
	size_t		 count;
	struct kv_expect kv[6];
};

#define RD(s)	(const uint8_t *)(s), sizeof(s) - 1

static uint8_t long_ok[256];	/* 255-byte string "k=vvv...v" */
static uint8_t long_trunc[256];	/* claims 255, only 254 follow */

static const struct parse_case parse_cases[] = {
	{ "normal", RD("\x09txtvers=1\x10rt=est-tls,brski\x07pri=100"), 1, 3, {
		{ "txtvers", "1" }, { "rt", "est-tls,brski" }, { "pri", "100" },
		{ "PRI", "100" }, { "path", NULL } } },
	{ "boolean", RD("\x04" "flag\x03" "a=b"), 1, 2, {
		{ "flag", BOOL_ATTR }, { "a", "b" } } },
	{ "empty value", RD("\x05path=\x02x="), 1, 2, {
		{ "path", "" }, { "x", "" } } },
	{ "duplicate key first wins, any case", RD("\x05Key=1\x05kEY=2\x03KEY"), 1, 1, {
		{ "key", "1" }, { "KEY", "1" } } },
	{ "boolean first, later value ignored", RD("\x01z\x03z=1"), 1, 1, {
		{ "z", BOOL_ATTR } } },
	{ "leading '=' ignored", RD("\x03=ab\x01=\x03" "a=b"), 1, 1, {
		{ "a", "b" }, { "", NULL } } },
	{ "zero-length strings ignored", RD("\x00\x03" "a=b\x00\x00"), 1, 1, {
		{ "a", "b" } } },
	{ "empty record (one zero byte)", RD("\x00"), 1, 0, { { "a", NULL } } },
	{ "no rdata at all", (const uint8_t *)"", 0, 1, 0, { { "a", NULL } } },
	{ "value keeps '=' and binary", RD("\x07k=a=b\x00\xff\x03j=\x01"), 1, 2, {
		{ "j", "\x01" } } },	/* "k" checked in test_parse_binary_and_long */
	{ "control byte in key ignored", RD("\x04\x01k=v\x03q=r"), 1, 1, {
		{ "\x01k", NULL }, { "q", "r" } } },
	{ "non-ASCII key ignored", RD("\x04\xc3\xa9=v\x03q=r"), 1, 1, { { "q", "r" } } },
	{ "key longer than 9 accepted", RD("\x0dverylongkey=1"), 1, 1, {
		{ "verylongkey", "1" } } },
	{ "truncated length byte", RD("\x03" "a=b\x05" "abc"), 0, 0, { { NULL, NULL } } },
	{ "length byte with nothing after", RD("\x03" "a=b\x01"), 0, 0, { { NULL, NULL } } },
	{ "255-byte string", long_ok, sizeof(long_ok), 1, 1, { { NULL, NULL } } },
	{ "255 claimed, 254 present", long_trunc, sizeof(long_trunc) - 1, 0, 0,
	    { { NULL, NULL } } },
};

static int
setup_long(void **state)
{
	(void)state;
	long_ok[0] = 255;
	long_ok[1] = 'k';
	long_ok[2] = '=';
	memset(long_ok + 3, 'v', sizeof(long_ok) - 3);
	memcpy(long_trunc, long_ok, sizeof(long_trunc));
	return 0;
}

static void
check_kv(const struct txt *t, const struct kv_expect *kv, const char *name)
{
	const uint8_t *val;
	size_t vlen;
	int found;

	val = (const uint8_t *)"sentinel";
	vlen = 12345;
	found = txt_get(t, kv->key, &val, &vlen);
	if (kv->val == NULL) {
		if (found)
			fail_msg("%s: key \"%s\" should be absent", name, kv->key);
		return;
	}
	if (!found)
		fail_msg("%s: key \"%s\" missing", name, kv->key);
	if (kv->val == BOOL_ATTR) {
		assert_null(val);
		assert_int_equal(vlen, 0);
		return;
	}
	assert_non_null(val);
	assert_int_equal(vlen, strlen(kv->val));
	assert_memory_equal(val, kv->val, vlen);
	assert_int_equal(val[vlen], '\0');
}

static void
test_parse_table(void **state)
{
	const struct parse_case *c;
	struct txt *t;
	char err[256];
	size_t i, j;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		c = &parse_cases[i];
		t = (struct txt *)0x1;
		err[0] = '\0';
		rc = txt_parse(c->rdata, c->len, &t, err, sizeof(err));
		if (!c->ok) {
			if (rc != -1)
				fail_msg("%s: parse should fail", c->name);
			assert_null(t);
			assert_non_null(strstr(err, "truncated"));
			continue;
		}
		if (rc != 0)
			fail_msg("%s: parse failed: %s", c->name, err);
		if (txt_count(t) != c->count)
			fail_msg("%s: count %zu, want %zu", c->name, txt_count(t), c->count);
		for (j = 0; j < 6 && c->kv[j].key != NULL; j++)
			check_kv(t, &c->kv[j], c->name);
		txt_free(t);
	}
}

/* Values with '=' and NUL inside, and the 255-byte string, checked byte for byte. */
static void
test_parse_binary_and_long(void **state)
{
	static const uint8_t rd[] = "\x07k=a=b\x00\xff";
	struct txt *t;
	const uint8_t *val;
	const char *key;
	size_t vlen;

	(void)state;
	assert_int_equal(txt_parse(rd, sizeof(rd) - 1, &t, NULL, 0), 0);
	assert_int_equal(txt_get(t, "K", &val, &vlen), 1);
	assert_int_equal(vlen, 5);
	assert_memory_equal(val, "a=b\x00\xff", 5);
	assert_int_equal(txt_get_at(t, 0, &key, NULL, NULL), 1);
	assert_string_equal(key, "k");
	assert_int_equal(txt_get_at(t, 1, &key, NULL, NULL), 0);
	txt_free(t);

	assert_int_equal(txt_parse(long_ok, sizeof(long_ok), &t, NULL, 0), 0);
	assert_int_equal(txt_get(t, "k", &val, &vlen), 1);
	assert_int_equal(vlen, 253);
	assert_memory_equal(val, long_ok + 3, 253);
	txt_free(t);
}

static void
test_encode_roundtrip(void **state)
{
	static const uint8_t want[] = "\x09txtvers=1\x10rt=est-tls,brski\x15path=/.well-known/est"
	    "\x07pri=100\x10" "dom=example.test\x04" "flag\x06" "empty=";
	static const uint8_t bin[] = { 0, '=', 0xff, 'x' };
	struct txt_builder *b;
	struct txt *t;
	uint8_t *rd = NULL;
	const uint8_t *val;
	const char *key;
	size_t len, vlen;
	char err[128];

	(void)state;
	assert_non_null(b = txt_builder_new());
	assert_int_equal(txt_add(b, TXT_KEY_TXTVERS, TXT_TXTVERS, err, sizeof(err)), 0);
	assert_int_equal(txt_add(b, TXT_KEY_RT, "est-tls,brski", err, sizeof(err)), 0);
	assert_int_equal(txt_add(b, TXT_KEY_PATH, TXT_DEFAULT_PATH, err, sizeof(err)), 0);
	assert_int_equal(txt_add(b, TXT_KEY_PRI, "100", err, sizeof(err)), 0);
	assert_int_equal(txt_add(b, TXT_KEY_DOM, "example.test", err, sizeof(err)), 0);
	assert_int_equal(txt_add(b, "flag", NULL, err, sizeof(err)), 0);
	assert_int_equal(txt_add(b, "empty", "", err, sizeof(err)), 0);
	assert_int_equal(txt_encode(b, &rd, &len, err, sizeof(err)), 0);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(rd, want, len);

	assert_int_equal(txt_parse(rd, len, &t, err, sizeof(err)), 0);
	assert_int_equal(txt_count(t), 7);
	assert_int_equal(txt_get_at(t, 1, &key, &val, &vlen), 1);
	assert_string_equal(key, "rt");
	assert_int_equal(vlen, 13);
	assert_memory_equal(val, "est-tls,brski", 13);
	assert_int_equal(txt_get(t, "flag", &val, &vlen), 1);
	assert_null(val);
	assert_int_equal(txt_get(t, "empty", &val, &vlen), 1);
	assert_non_null(val);
	assert_int_equal(vlen, 0);
	txt_free(t);
	free(rd);
	txt_builder_free(b);

	/* Binary value via txt_add_bytes. */
	assert_non_null(b = txt_builder_new());
	assert_int_equal(txt_add_bytes(b, "b", bin, sizeof(bin), err, sizeof(err)), 0);
	assert_int_equal(txt_encode(b, &rd, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 1 + 2 + sizeof(bin));
	assert_int_equal(txt_parse(rd, len, &t, err, sizeof(err)), 0);
	assert_int_equal(txt_get(t, "B", &val, &vlen), 1);
	assert_int_equal(vlen, sizeof(bin));
	assert_memory_equal(val, bin, sizeof(bin));
	txt_free(t);
	free(rd);
	txt_builder_free(b);

	/* Empty builder: one zero byte (RFC 6763 §6.1), which parses as an empty set. */
	assert_non_null(b = txt_builder_new());
	assert_int_equal(txt_encode(b, &rd, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 1);
	assert_int_equal(rd[0], 0);
	assert_int_equal(txt_parse(rd, len, &t, err, sizeof(err)), 0);
	assert_int_equal(txt_count(t), 0);
	txt_free(t);
	free(rd);
	txt_builder_free(b);
}

struct bad_key {
	const char	*name;
	const char	*key;
};

static const struct bad_key bad_keys[] = {
	{ "empty", "" },
	{ "contains '='", "a=b" },
	{ "control byte", "a\tb" },
	{ "DEL", "a\x7f" },
	{ "non-ASCII", "\xc3\xa9" },
	{ "newline", "k\n" },
};

static void
test_invalid_keys(void **state)
{
	struct txt_builder *b;
	uint8_t *rd;
	size_t i, len;
	char err[128];

	(void)state;
	assert_non_null(b = txt_builder_new());
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		err[0] = '\0';
		if (txt_add(b, bad_keys[i].key, "v", err, sizeof(err)) != -1)
			fail_msg("key %s accepted", bad_keys[i].name);
		assert_non_null(strstr(err, "invalid key"));
	}
	assert_int_equal(txt_add(b, NULL, "v", err, sizeof(err)), -1);
	/* Duplicate, case-insensitively: the parser would drop it. */
	assert_int_equal(txt_add(b, "Pri", "1", err, sizeof(err)), 0);
	assert_int_equal(txt_add(b, "pRI", "2", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "duplicate"));
	/* Nothing but the one good attribute went in. */
	assert_int_equal(txt_encode(b, &rd, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(rd, "\x05Pri=1", 6);
	free(rd);
	txt_builder_free(b);
}

static void
test_too_long(void **state)
{
	struct txt_builder *b;
	char key[300], val[300], err[128];
	uint8_t *rd;
	size_t len, i;

	(void)state;
	assert_non_null(b = txt_builder_new());
	/* "k=" + 253 bytes = 255: fits exactly. */
	memset(val, 'v', 253);
	val[253] = '\0';
	assert_int_equal(txt_add(b, "k", val, err, sizeof(err)), 0);
	/* One more byte does not. */
	val[253] = 'v';
	val[254] = '\0';
	assert_int_equal(txt_add(b, "j", val, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 255"));
	assert_int_equal(txt_add_bytes(b, "j", (const uint8_t *)val, 254, err, sizeof(err)),
	    -1);
	/* Value much longer than 255 (bounded strnlen). */
	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	assert_int_equal(txt_add(b, "j", val, err, sizeof(err)), -1);
	/* A 255-byte boolean key fits, 256 does not. */
	memset(key, 'a', 255);
	key[255] = '\0';
	assert_int_equal(txt_add(b, key, NULL, err, sizeof(err)), 0);
	memset(key, 'b', 256);
	key[256] = '\0';
	assert_int_equal(txt_add(b, key, NULL, err, sizeof(err)), -1);
	/* A 255-byte key with an empty value is 256 bytes. */
	memset(key, 'c', 255);
	key[255] = '\0';
	assert_int_equal(txt_add(b, key, "", err, sizeof(err)), -1);
	assert_int_equal(txt_encode(b, &rd, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 512);
	assert_int_equal(rd[0], 255);
	assert_int_equal(rd[256], 255);
	free(rd);
	txt_builder_free(b);

	/* The whole record is bounded by TXT_RDATA_MAX: 300 attributes of 256 bytes. */
	assert_non_null(b = txt_builder_new());
	memset(val, 'v', 240);
	val[240] = '\0';
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_int_equal(txt_add(b, key, val, err, sizeof(err)), 0);
	}
	rd = (uint8_t *)0x1;
	assert_int_equal(txt_encode(b, &rd, &len, err, sizeof(err)), -1);
	assert_null(rd);
	assert_non_null(strstr(err, "65535"));
	txt_builder_free(b);
}

struct strings_case {
	const char	*name;
	const char	*in[5];
	size_t		 n;
	int		 ok;
	size_t		 count;
	struct kv_expect kv[4];
};

static const struct strings_case strings_cases[] = {
	{ "avahi list", { "txtvers=1", "Dom=example.test", "brski", "path=" }, 4, 1, 4, {
		{ "dom", "example.test" }, { "BRSKI", BOOL_ATTR }, { "path", "" },
		{ "pri", NULL } } },
	{ "rules as parse", { "", "=x", "a=1", "A=2", "b\x01=3" }, 5, 1, 1, {
		{ "a", "1" }, { "=x", NULL } } },
	{ "NULL entry", { "a=1", NULL }, 2, 0, 0, { { NULL, NULL } } },
	{ "empty list", { NULL }, 0, 1, 0, { { "a", NULL } } },
};

static void
test_from_strings(void **state)
{
	const struct strings_case *c;
	char longstr[300], err[128];
	const char *one[1];
	struct txt *t;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(strings_cases) / sizeof(strings_cases[0]); i++) {
		c = &strings_cases[i];
		t = NULL;
		if (txt_from_strings(c->in, c->n, &t, err, sizeof(err)) != (c->ok ? 0 : -1))
			fail_msg("%s: unexpected result (%s)", c->name, err);
		if (!c->ok) {
			assert_null(t);
			continue;
		}
		assert_int_equal(txt_count(t), c->count);
		for (j = 0; j < 4 && c->kv[j].key != NULL; j++)
			check_kv(t, &c->kv[j], c->name);
		txt_free(t);
	}
	memset(longstr, 'x', sizeof(longstr) - 1);
	longstr[sizeof(longstr) - 1] = '\0';
	one[0] = longstr;
	assert_int_equal(txt_from_strings(one, 1, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 255"));
	longstr[255] = '\0';
	assert_int_equal(txt_from_strings(one, 1, &t, err, sizeof(err)), 0);
	assert_int_equal(txt_get(t, longstr, NULL, NULL), 1);
	txt_free(t);
}

static void
test_null_safe(void **state)
{
	(void)state;
	txt_free(NULL);
	txt_builder_free(NULL);
	assert_int_equal(txt_count(NULL), 0);
	assert_int_equal(txt_get(NULL, "a", NULL, NULL), 0);
	assert_int_equal(txt_get_at(NULL, 0, NULL, NULL, NULL), 0);
	assert_int_equal(txt_parse(NULL, 3, NULL, NULL, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_binary_and_long),
		cmocka_unit_test(test_encode_roundtrip),
		cmocka_unit_test(test_invalid_keys),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_from_strings),
		cmocka_unit_test(test_null_safe),
	};

	return cmocka_run_group_tests(tests, setup_long, NULL);
}
