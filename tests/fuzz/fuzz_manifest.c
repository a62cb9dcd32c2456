/*
 * fuzz_manifest: libFuzzer target for the update manifest (enroll/common/manifest.c), the
 * JSON a device reads after checking its CMS signature, and the device's decision report
 * (manifest_report_parse, what latchkeyd reads). Parses arbitrary input; when it
 * parses, every field must keep its rules, the JSON made from it must parse back to the same
 * manifest, and a refusal must say why. The version order is exercised too: a version equals
 * itself and the order is antisymmetric against a fixed one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct manifest a, b;
	static struct manifest_report ra, rb;
	char err[256], *json;

	/* the device's decision report, the server's other parser */
	err[0] = '\0';
	if (manifest_report_parse((const char *)data, size, &ra, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
	} else {
		if ((json = manifest_report_json(&ra)) == NULL ||
		    manifest_report_parse(json, strlen(json), &rb, err, sizeof(err)) == -1 ||
		    memcmp(&ra, &rb, sizeof(ra)) != 0)
			abort();
		free(json);
	}
	err[0] = '\0';
	if (manifest_parse((const char *)data, size, &a, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (!manifest_version_valid(a.version) || a.size == 0 ||
	    a.size > MANIFEST_PAYLOAD_MAX || a.not_before >= a.expires || a.ntargets == 0 ||
	    a.url[0] == '.' || a.url[0] == '/' || strstr(a.url, "/.") != NULL)
		abort();
	if (manifest_version_cmp(a.version, a.version) != 0 ||
	    manifest_version_cmp(a.version, "1.0~rc1-1") !=
	    -manifest_version_cmp("1.0~rc1-1", a.version))
		abort();
	if ((json = manifest_json(&a)) == NULL)
		abort();
	if (manifest_parse(json, strlen(json), &b, err, sizeof(err)) == -1 ||
	    memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	free(json);
	return 0;
}
