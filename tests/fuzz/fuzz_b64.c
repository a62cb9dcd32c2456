/*
 * fuzz_b64: libFuzzer target for the base64 codec (enroll/b64.c). Decodes arbitrary input;
 * when it decodes, encodes the bytes again (unwrapped and wrapped at a size taken from the
 * input), decodes those and checks the bytes are the same. A failed decode must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_b64_again(const unsigned char *raw, size_t rawlen, size_t wrap)
{
	unsigned char *d;
	size_t len, dlen;
	char *s;

	if ((s = b64_encode(raw, rawlen, wrap, &len)) == NULL)
		abort();
	if (strlen(s) != len)
		abort();
	if (wrap == 0 && len + 1 != B64_ENCLEN(rawlen))
		abort();
	if ((d = b64_decode(s, len, &dlen, NULL, 0)) == NULL)
		abort();
	if (dlen != rawlen || (dlen > 0 && memcmp(d, raw, dlen) != 0))
		abort();
	free(d);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *raw;
	size_t rawlen;
	char err[128];

	err[0] = '\0';
	raw = b64_decode((const char *)data, size, &rawlen, err, sizeof(err));
	if (raw == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	/* Decoding never yields more than 3 bytes per 4 input characters. */
	if (rawlen > size / 4 * 3 + 2)
		abort();
	fuzz_b64_again(raw, rawlen, 0);
	fuzz_b64_again(raw, rawlen, size > 0 ? 1 + data[0] % 80 : 64);
	free(raw);
	return 0;
}
