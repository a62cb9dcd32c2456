/*
 * fuzz_postpolicy: libFuzzer target for the posture policy (enroll/common/postpolicy.c,
 * issue #20): the policy file and the Debian version comparison. A policy that parses is
 * evaluated against a fixed inventory (every reason a string; compliant exactly when there
 * is none); a refusal says why. The input's first line, split at a space, is compared as
 * two versions: the order must be antisymmetric and reflexive.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/postpolicy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char inv_text[] = "openssl 3.0.11-1~deb12u2 amd64\nlibc6 2.36-9 amd64\n"
	    "libc6 2.36-9 i386\ntelnetd 0.17-44\n";
	struct posture_inventory inv;
	struct postpolicy *p;
	json_t *reasons;
	char err[512], a[128], b[128], *sp;
	size_t i, n;
	int v, x, y;

	err[0] = '\0';
	if ((p = postpolicy_parse((const char *)data, size, err, sizeof(err))) != NULL) {
		posture_inventory_init(&inv);
		if (posture_lines_parse(inv_text, strlen(inv_text), &inv, err, sizeof(err)) != 4)
			abort();
		v = postpolicy_eval(p, &inv, &reasons);
		if (v == -1)
			abort();
		if ((v == 1) != (json_array_size(reasons) == 0))
			abort();
		for (i = 0; i < json_array_size(reasons); i++)
			if (!json_is_string(json_array_get(reasons, i)))
				abort();
		json_decref(reasons);
		posture_inventory_free(&inv);
		postpolicy_free(p);
	} else if (err[0] == '\0')
		abort();
	/* versions: "A B" on the first line */
	n = size < sizeof(a) - 1 ? size : sizeof(a) - 1;
	memcpy(a, data, n);
	a[n] = '\0';
	a[strcspn(a, "\n")] = '\0';
	if ((sp = strchr(a, ' ')) != NULL) {
		*sp = '\0';
		memcpy(b, sp + 1, strlen(sp + 1) + 1);
		x = postpolicy_version_cmp(a, b);
		y = postpolicy_version_cmp(b, a);
		if ((x > 0) != (y < 0) || (x == 0) != (y == 0))
			abort();
		if (postpolicy_version_cmp(a, a) != 0)
			abort();
		(void)postpolicy_version_ok(a);
	}
	return 0;
}
