/* b64: see b64.h. Base64 of RFC 4648 §4 (standard alphabet, '=' padding). */
#include "enroll/common/b64.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of an alphabet character, -1 for anything else. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
b64_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
b64_seterr(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

char *
b64_encode(const unsigned char *in, size_t n, size_t wrap, size_t *outlen)
{
	size_t enc, total, i, o = 0, col = 0;
	char *out, quad[4];
	unsigned int v;
	int k, nq;

	if (n > (SIZE_MAX - 1) / 4 * 3 - 2)
		return NULL;
	enc = (n + 2) / 3 * 4;
	total = enc + 1;
	if (wrap > 0 && enc > 0) {
		/* One "\n" after every full line and one after a final partial line. */
		size_t lines = (enc + wrap - 1) / wrap;

		if (lines > (SIZE_MAX - total) / 2)
			return NULL;
		total += lines;
	}
	if ((out = malloc(total)) == NULL)
		return NULL;
	for (i = 0; i < n; i += 3) {
		v = (unsigned int)in[i] << 16;
		nq = 2;
		if (i + 1 < n) {
			v |= (unsigned int)in[i + 1] << 8;
			nq = 3;
		}
		if (i + 2 < n) {
			v |= in[i + 2];
			nq = 4;
		}
		quad[0] = b64_alphabet[(v >> 18) & 0x3f];
		quad[1] = b64_alphabet[(v >> 12) & 0x3f];
		quad[2] = nq > 2 ? b64_alphabet[(v >> 6) & 0x3f] : '=';
		quad[3] = nq > 3 ? b64_alphabet[v & 0x3f] : '=';
		for (k = 0; k < 4; k++) {
			out[o++] = quad[k];
			if (wrap > 0 && ++col == wrap) {
				out[o++] = '\n';
				col = 0;
			}
		}
	}
	if (wrap > 0 && col > 0) {
		out[o++] = '\n';
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

/*
 * Decoding is strict about everything but whitespace and missing padding (RFC 4648 §3.3:
 * non-alphabet characters are rejected; §3.5: the unused bits of the last quantum must be
 * zero, so every byte string has exactly one accepted encoding apart from whitespace and
 * padding).
 */
unsigned char *
b64_decode(const char *in, size_t n, size_t *outlen, char *err, size_t errlen)
{
	unsigned char *out = NULL;
	size_t i, npad = 0, o = 0;
	unsigned int acc = 0;
	int v, q = 0;

	if (in == NULL && n > 0) {
		b64_seterr(err, errlen, "base64: no input");
		return NULL;
	}
	/* Upper bound on the output: 3 bytes per 4 characters, rounded up. */
	if ((out = malloc(n / 4 * 3 + 3)) == NULL) {
		b64_seterr(err, errlen, "base64: out of memory");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (b64_is_space(c))
			continue;
		if (c == '=') {
			npad++;
			continue;
		}
		if (npad > 0) {
			b64_seterr(err, errlen, "base64: data after '=' padding");
			goto err;
		}
		if ((v = b64_value(c)) < 0) {
			b64_seterr(err, errlen, "base64: invalid character");
			goto err;
		}
		acc = (acc << 6) | (unsigned int)v;
		if (++q == 4) {
			out[o++] = (acc >> 16) & 0xff;
			out[o++] = (acc >> 8) & 0xff;
			out[o++] = acc & 0xff;
			acc = 0;
			q = 0;
		}
	}
	/* Final quantum: 0, 2 or 3 significant characters; 1 is never a valid length. */
	switch (q) {
	case 0:
		if (npad != 0) {
			b64_seterr(err, errlen, "base64: unexpected '=' padding");
			goto err;
		}
		break;
	case 2:
		if (npad != 0 && npad != 2) {
			b64_seterr(err, errlen, "base64: wrong amount of '=' padding");
			goto err;
		}
		if (acc & 0xf) {
			b64_seterr(err, errlen, "base64: non-zero bits in final quantum");
			goto err;
		}
		out[o++] = (acc >> 4) & 0xff;
		break;
	case 3:
		if (npad != 0 && npad != 1) {
			b64_seterr(err, errlen, "base64: wrong amount of '=' padding");
			goto err;
		}
		if (acc & 0x3) {
			b64_seterr(err, errlen, "base64: non-zero bits in final quantum");
			goto err;
		}
		out[o++] = (acc >> 10) & 0xff;
		out[o++] = (acc >> 2) & 0xff;
		break;
	default:
		b64_seterr(err, errlen, "base64: truncated input (bad length)");
		goto err;
	}
	if (outlen != NULL)
		*outlen = o;
	return out;
err:
	free(out);
	return NULL;
}
