/* statefile: see statefile.h. */
#include "enroll/latch/statefile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "enroll/common/err.h"

int
latch_statefile_read(const char *state_file, const char *serial, char *out, size_t outlen,
    char *err, size_t errlen)
{
	json_error_t je;
	json_t *arr, *o;
	size_t i, used = 0;
	const char *st, *peer, *ser;
	int n;

	if ((arr = json_load_file(state_file, 0, &je)) == NULL) {
		if (access(state_file, F_OK) == -1 && errno == ENOENT) {
			snprintf(out, outlen, "none");
			return 0;
		}
		errf(err, errlen, "latch state %s: %s", state_file, je.text);
		return -1;
	}
	if (!json_is_array(arr)) {
		json_decref(arr);
		errf(err, errlen, "latch state %s: not a JSON array", state_file);
		return -1;
	}
	out[0] = '\0';
	json_array_foreach(arr, i, o) {
		st = json_string_value(json_object_get(o, "state"));
		peer = json_string_value(json_object_get(o, "peer"));
		ser = json_string_value(json_object_get(o, "serial"));
		if (st == NULL || peer == NULL || ser == NULL ||
		    (serial != NULL && strcmp(ser, serial) != 0))
			continue;
		n = snprintf(out + used, outlen - used, "%s%s peer %s", used ? ", " : "", st,
		    peer);
		if (n < 0 || (size_t)n >= outlen - used)
			break;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(out, outlen, "none");
	json_decref(arr);
	return 0;
}
