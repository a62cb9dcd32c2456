/*
 * fuzz_txt: libFuzzer target for the TXT record codec (mdns/txt.c). Parses arbitrary bytes;
 * when they parse, rebuilds the set with the builder, encodes it, parses that again and
 * checks both sets hold the same attributes in the same order (keys, booleans, values).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mdns/txt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_txt_same(const struct txt *a, const struct txt *b)
{
	const uint8_t *av, *bv;
	const char *ak, *bk;
	size_t alen, blen, i;

	if (txt_count(a) != txt_count(b))
		abort();
	for (i = 0; i < txt_count(a); i++) {
		if (!txt_get_at(a, i, &ak, &av, &alen) || !txt_get_at(b, i, &bk, &bv, &blen))
			abort();
		if (strcmp(ak, bk) != 0 || (av == NULL) != (bv == NULL) || alen != blen)
			abort();
		if (av != NULL && alen > 0 && memcmp(av, bv, alen) != 0)
			abort();
		/* Lookup by key finds this entry (first occurrence wins, keys are unique). */
		if (txt_get(a, ak, &bv, &blen) != 1 || bv != av || blen != alen)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct txt *t = NULL, *t2 = NULL;
	struct txt_builder *b = NULL;
	const uint8_t *val;
	const char *key;
	uint8_t *rd = NULL;
	size_t i, vlen, len;
	char err[128];

	if (txt_parse(data, size, &t, err, sizeof(err)) == -1) {
		if (t != NULL || strlen(err) == 0)
			abort();
		return 0;
	}
	if ((b = txt_builder_new()) == NULL)
		goto out;
	for (i = 0; i < txt_count(t); i++) {
		if (!txt_get_at(t, i, &key, &val, &vlen))
			abort();
		/* Everything the parser kept must be acceptable to the builder. */
		if (txt_add_bytes(b, key, val, vlen, err, sizeof(err)) == -1)
			abort();
	}
	if (txt_encode(b, &rd, &len, err, sizeof(err)) == -1) {
		/* Only possible when the input itself was over the RDLENGTH limit. */
		if (size <= TXT_RDATA_MAX)
			abort();
		goto out;
	}
	if (len > size && !(len == 1 && txt_count(t) == 0))
		abort();		/* re-encoding never grows a record */
	if (txt_parse(rd, len, &t2, err, sizeof(err)) == -1)
		abort();
	fuzz_txt_same(t, t2);
out:
	free(rd);
	txt_free(t2);
	txt_builder_free(b);
	txt_free(t);
	return 0;
}
