/*
 * test_b64: base64 codec (enroll/b64.c), RFC 4648 §4 as EST uses it (RFC 7030 §4).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "enroll/common/b64.h"

struct vector {
	const char	*raw;
	const char	*enc;
};

/* RFC 4648 §10. */
static const struct vector rfc_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_rfc4648_encode(void **state)
{
	size_t i, len;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		const struct vector *v = &rfc_vectors[i];

		s = b64_encode((const unsigned char *)v->raw, strlen(v->raw), 0, &len);
		assert_non_null(s);
		assert_string_equal(s, v->enc);
		assert_int_equal(len, strlen(v->enc));
		assert_true(len + 1 <= B64_ENCLEN(strlen(v->raw)));
		free(s);
	}
}

static void
test_rfc4648_decode(void **state)
{
	unsigned char *d;
	size_t i, len;
	char err[128];

	(void)state;
	for (i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		const struct vector *v = &rfc_vectors[i];

		err[0] = '\0';
		d = b64_decode(v->enc, strlen(v->enc), &len, err, sizeof(err));
		assert_non_null(d);
		assert_int_equal(len, strlen(v->raw));
		if (len > 0)
			assert_memory_equal(d, v->raw, len);
		assert_string_equal(err, "");
		free(d);
	}
}

struct dec_case {
	const char	*name;
	const char	*in;
	int		 ok;		/* decode succeeds */
	const char	*out;		/* expected bytes when ok */
	size_t		 outlen;
	const char	*errpart;	/* substring of err when !ok */
};

#define OUT(s)	(s), sizeof(s) - 1

static const struct dec_case dec_cases[] = {
	/* Whitespace anywhere (RFC 7030 §4: lines of any length, CRLF or LF). */
	{ "CRLF wrapped", "Zm9v\r\nYmFy\r\n", 1, OUT("foobar"), NULL },
	{ "LF wrapped", "Zm9vYg\n==\n", 1, OUT("foob"), NULL },
	{ "odd line lengths", "Z\r\nm9vY\r\nmE\r\n=", 1, OUT("fooba"), NULL },
	{ "spaces and tabs", " Zm 9v\tYm Fy ", 1, OUT("foobar"), NULL },
	{ "only whitespace", "\r\n \t\n", 1, OUT(""), NULL },
	{ "whitespace inside padding", "Zg=\r\n=", 1, OUT("f"), NULL },
	/* Unpadded but of valid length: accepted. */
	{ "unpadded 2", "Zg", 1, OUT("f"), NULL },
	{ "unpadded 3", "Zm8", 1, OUT("fo"), NULL },
	{ "unpadded wrapped", "Zm9v\nYmE", 1, OUT("fooba"), NULL },
	{ "all alphabet", "+/+/", 1, OUT("\xfb\xff\xbf"), NULL },
	{ "binary", "AP8A", 1, OUT("\x00\xff\x00"), NULL },
	/* Bad characters. */
	{ "url-safe '-'", "Zm9-", 0, NULL, 0, "invalid character" },
	{ "url-safe '_'", "Zm9_", 0, NULL, 0, "invalid character" },
	{ "NUL byte", "Zm\0v", 0, NULL, 0, "invalid character" },
	{ "high byte", "Zm9\xc3", 0, NULL, 0, "invalid character" },
	{ "vertical tab", "Zm9v\vYmFy", 0, NULL, 0, "invalid character" },
	{ "dot", "Zm9v.", 0, NULL, 0, "invalid character" },
	/* Bad lengths and padding. */
	{ "one char", "Z", 0, NULL, 0, "length" },
	{ "five chars", "Zm9vY", 0, NULL, 0, "length" },
	{ "one char padded", "Z===", 0, NULL, 0, "length" },
	{ "short padding", "Zg=", 0, NULL, 0, "padding" },
	{ "too much padding", "Zm8==", 0, NULL, 0, "padding" },
	{ "padding only", "====", 0, NULL, 0, "padding" },
	{ "padding on full quantum", "Zm9v=", 0, NULL, 0, "padding" },
	{ "data after padding", "Zg==Zg==", 0, NULL, 0, "after" },
	{ "padding in the middle", "Zm=9v", 0, NULL, 0, "after" },
	/* RFC 4648 §3.5: non-zero unused bits rejected. */
	{ "non-canonical 2", "Zh==", 0, NULL, 0, "non-zero" },
	{ "non-canonical 3", "Zm9=", 0, NULL, 0, "non-zero" },
};

static void
test_decode_table(void **state)
{
	unsigned char *d;
	size_t i, len, inlen;
	char err[128];

	(void)state;
	for (i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		const struct dec_case *c = &dec_cases[i];

		/* "NUL byte" has an embedded NUL: its length is fixed at 4. */
		inlen = strcmp(c->name, "NUL byte") == 0 ? 4 : strlen(c->in);
		err[0] = '\0';
		len = 12345;
		d = b64_decode(c->in, inlen, &len, err, sizeof(err));
		if (c->ok) {
			if (d == NULL)
				fail_msg("%s: unexpected failure: %s", c->name, err);
			assert_int_equal(len, c->outlen);
			if (len > 0)
				assert_memory_equal(d, c->out, len);
			free(d);
		} else {
			if (d != NULL)
				fail_msg("%s: decoded but should fail", c->name);
			if (strstr(err, c->errpart) == NULL)
				fail_msg("%s: err \"%s\" lacks \"%s\"", c->name, err, c->errpart);
		}
	}
}

static void
test_decode_null_err(void **state)
{
	size_t len;

	(void)state;
	/* err may be NULL. */
	assert_null(b64_decode("Z", 1, &len, NULL, 0));
	assert_null(b64_decode("!!!!", 4, &len, NULL, 0));
}

struct wrap_case {
	const char	*raw;
	size_t		 wrap;
	const char	*enc;
};

static const struct wrap_case wrap_cases[] = {
	{ "foobar", 4, "Zm9v\nYmFy\n" },
	{ "foobar", 5, "Zm9vY\nmFy\n" },
	{ "foob", 64, "Zm9vYg==\n" },
	{ "f", 1, "Z\ng\n=\n=\n" },
	{ "", 64, "" },
};

static void
test_encode_wrap(void **state)
{
	unsigned char *d;
	size_t i, len, dlen;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(wrap_cases) / sizeof(wrap_cases[0]); i++) {
		const struct wrap_case *c = &wrap_cases[i];

		s = b64_encode((const unsigned char *)c->raw, strlen(c->raw), c->wrap, &len);
		assert_non_null(s);
		assert_string_equal(s, c->enc);
		assert_int_equal(len, strlen(c->enc));
		/* Wrapped output decodes to the input again. */
		d = b64_decode(s, len, &dlen, NULL, 0);
		assert_non_null(d);
		assert_int_equal(dlen, strlen(c->raw));
		if (dlen > 0)
			assert_memory_equal(d, c->raw, dlen);
		free(d);
		free(s);
	}
}

/* Every length 0..300 of every byte value pattern round-trips, wrapped at 64 or not. */
static void
test_roundtrip_lengths(void **state)
{
	unsigned char buf[300], *d;
	size_t n, len, dlen, line;
	int w;
	char *s, *p;

	(void)state;
	for (n = 0; n < sizeof(buf); n++)
		buf[n] = (unsigned char)(n * 97 + 13);
	for (n = 0; n <= sizeof(buf); n++) {
		for (w = 0; w < 2; w++) {
			s = b64_encode(buf, n, w ? 64 : 0, &len);
			assert_non_null(s);
			assert_int_equal(strlen(s), len);
			if (!w)
				assert_int_equal(len + 1, B64_ENCLEN(n));
			else {
				/* No line longer than 64 characters. */
				for (p = s, line = 0; *p != '\0'; p++) {
					if (*p == '\r' || *p == '\n')
						line = 0;
					else
						assert_true(++line <= 64);
				}
			}
			d = b64_decode(s, len, &dlen, NULL, 0);
			assert_non_null(d);
			assert_int_equal(dlen, n);
			if (n > 0)
				assert_memory_equal(d, buf, n);
			free(d);
			free(s);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_encode),
		cmocka_unit_test(test_rfc4648_decode),
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_decode_null_err),
		cmocka_unit_test(test_encode_wrap),
		cmocka_unit_test(test_roundtrip_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
