/*
 * fuzz_posture: libFuzzer target for the posture report's parsers (enroll/common/posture.c,
 * issue #20): the report JSON a device sends (inside its CMS, POST
 * /.well-known/latchkey/posture), the dpkg status file and the inventory command's output
 * the agent reads, and the signed form (posture_verify on arbitrary DER). A report that
 * parses must encode and parse back to the same inventory; a refusal must say why; the
 * diff of any two inventories is built.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/posture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_inventory(const struct posture_inventory *a, const struct posture_inventory *b)
{
	size_t i;

	if (a->npkgs != b->npkgs || a->nfiles != b->nfiles)
		abort();
	for (i = 0; i < a->npkgs; i++)
		if (strcmp(a->pkgs[i].name, b->pkgs[i].name) != 0 ||
		    strcmp(a->pkgs[i].version, b->pkgs[i].version) != 0 ||
		    strcmp(a->pkgs[i].arch, b->pkgs[i].arch) != 0)
			abort();
	for (i = 0; i < a->nfiles; i++)
		if (strcmp(a->files[i].path, b->files[i].path) != 0 ||
		    strcmp(a->files[i].sha256, b->files[i].sha256) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct posture_report r, back;
	struct posture_inventory d, l;
	unsigned char *content = NULL;
	size_t len, clen;
	char err[512], *json;
	json_t *diff;
	int n;

	/* the report */
	err[0] = '\0';
	if (posture_report_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		if ((json = posture_report_encode(&r, &len, err, sizeof(err))) == NULL)
			abort();
		if (posture_report_parse(json, len, &back, err, sizeof(err)) != 0)
			abort();
		same_inventory(&r.inv, &back.inv);
		if (strcmp(r.serial, back.serial) != 0 || r.time != back.time)
			abort();
		posture_report_free(&back);
		free(json);
	} else if (err[0] == '\0')
		abort();
	/* the agent's readers */
	posture_inventory_init(&d);
	posture_inventory_init(&l);
	err[0] = '\0';
	if ((n = posture_dpkg_parse((const char *)data, size, &d, err, sizeof(err))) == -1 &&
	    err[0] == '\0')
		abort();
	if (n >= 0 && (size_t)n != d.npkgs)
		abort();
	err[0] = '\0';
	if ((n = posture_lines_parse((const char *)data, size, &l, err, sizeof(err))) == -1 &&
	    err[0] == '\0')
		abort();
	if ((diff = posture_diff(&d, &l)) == NULL)
		abort();
	json_decref(diff);
	if ((diff = posture_diff(&r.inv, &d)) == NULL)
		abort();
	json_decref(diff);
	posture_inventory_free(&d);
	posture_inventory_free(&l);
	posture_report_free(&r);
	/* the signed form: never accepted without a signer to compare with */
	err[0] = '\0';
	if (posture_verify(data, size, NULL, &content, &clen, err, sizeof(err)) == 0)
		abort();
	if (err[0] == '\0')
		abort();
	free(content);
	return 0;
}
