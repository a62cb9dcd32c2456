/*
 * fuzz_netid: libFuzzer target for the network identifiers a device reports after
 * enrolling (enroll/common/netid.c, POST /.well-known/latchkey/netid). Parses arbitrary input;
 * when it parses, the JSON made from the result must parse back to the same identifiers
 * (grouped by kind there, so compared as sets), and a refusal must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/netid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
has(const struct netid_list *l, const char *kind, const char *value)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].kind, kind) == 0 && strcmp(l->v[i].value, value) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct netid_list a, b;
	char err[256], *json;
	size_t i;

	err[0] = '\0';
	if (netid_parse((const char *)data, size, &a, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if ((json = netid_json(&a)) == NULL)
		abort();
	if (netid_parse(json, strlen(json), &b, err, sizeof(err)) == -1 || b.n != a.n)
		abort();
	for (i = 0; i < a.n; i++)
		if (!has(&b, a.v[i].kind, a.v[i].value) || !has(&a, b.v[i].kind, b.v[i].value))
			abort();
	free(json);
	return 0;
}
