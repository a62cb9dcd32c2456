/* manifest: the update manifest's codec and Debian version order (manifest.h). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certs/pki.h"
#include "enroll/common/manifest.h"
#include "enroll/common/debver.h"
#include "enroll/common/err.h"
#include "enroll/common/voucher.h"

#define MANIFEST_TIME_MAX	INT64_C(253402300799)

static int
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > MANIFEST_NAME_MAX || !(islower((unsigned char)s[0]) ||
	    isdigit((unsigned char)s[0])))
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		    strchr(".+-", s[i]) != NULL))
			return 0;
	return 1;
}

int
manifest_package_valid(const char *s)
{
	return name_ok(s);
}

static int
class_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n > MANIFEST_CLASS_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || strchr("._-", s[i]) != NULL))
			return 0;
	return 1;
}

int
manifest_path_ok(const char *s, size_t max, size_t depth)
{
	size_t n = strlen(s), seg = 0, i, nseg = 0;

	if (n < 1 || n > max || s[0] == '/' || s[n - 1] == '/')
		return 0;
	for (i = 0; i <= n; i++) {
		if (s[i] == '/' || s[i] == '\0') {
			if (seg == 0 || ++nseg > depth)
				return 0;
			seg = 0;
			continue;
		}
		/* no ".", ".." or hidden names: what latchkeyd's update-dir serves */
		if (seg == 0 && s[i] == '.')
			return 0;
		if (!(isalnum((unsigned char)s[i]) || strchr("._+-", s[i]) != NULL))
			return 0;
		seg++;
	}
	return 1;
}

/* deb-version(7): epoch digits, upstream starting with a digit of [A-Za-z0-9.+~-] (':' only
 * with an epoch, '-' only with a revision), revision of [A-Za-z0-9.+~]. */
int
manifest_version_valid(const char *s)
{
	const char *up = s, *colon, *dash, *p;
	size_t n = strlen(s);

	if (n < 1 || n > MANIFEST_VERSION_MAX)
		return 0;
	if ((colon = strchr(s, ':')) != NULL) {
		if (colon == s || colon - s > 9)
			return 0;
		for (p = s; p < colon; p++)
			if (!isdigit((unsigned char)*p))
				return 0;
		up = colon + 1;
	}
	dash = strrchr(up, '-');
	if (dash != NULL) {
		if (dash[1] == '\0')
			return 0;
		for (p = dash + 1; *p != '\0'; p++)
			if (!(isalnum((unsigned char)*p) || strchr(".+~", *p) != NULL))
				return 0;
	}
	if (!isdigit((unsigned char)up[0]))
		return 0;
	for (p = up; *p != '\0' && p != dash; p++)
		if (!(isalnum((unsigned char)*p) || strchr(".+~-", *p) != NULL))
			return 0;
	return 1;
}

int
manifest_version_cmp(const char *a, const char *b)
{
	return debver_cmp(a, b);	/* -1, 0 or 1 */
}

int
manifest_targets(const struct manifest *m, const char *cls)
{
	size_t i;

	for (i = 0; cls != NULL && i < m->ntargets; i++)
		if (strcmp(m->targets[i], cls) == 0)
			return 1;
	return 0;
}

/* A time member: RFC 3339 text or non-negative Unix seconds. */
static int
time_get(json_t *v, const char *name, int64_t *out, char *err, size_t errlen)
{
	/* 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, what RFC 3339 can write back */
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= MANIFEST_TIME_MAX) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && json_string_length(v) <= 64 &&
	    voucher_time_parse(json_string_value(v), out) == 0 && *out >= 0 &&
	    *out <= MANIFEST_TIME_MAX)
		return 0;
	return errf(err, errlen, "manifest: %s is not an RFC 3339 time or Unix seconds", name);
}

static int
str_get(json_t *v, const char *name, char *out, size_t outsz, char *err, size_t errlen)
{
	if (!json_is_string(v) || json_string_length(v) >= outsz ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return errf(err, errlen, "manifest: %s must be a string of at most %zu "
		    "characters", name, outsz - 1);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int
manifest_parse(const char *json, size_t len, struct manifest *m, char *err, size_t errlen)
{
	static const char *const known[] = { "manifest-version", "package", "version",
	    "sha256", "size", "not-before", "expires", "targets", "url" };
	json_error_t je;
	json_t *root = NULL, *v;
	const char *key;
	char hex[65];
	size_t i, k;
	int hi, lo;

	memset(m, 0, sizeof(*m));
	if (len > MANIFEST_MAX)
		return errf(err, errlen, "manifest: %zu octets, more than %d", len, MANIFEST_MAX);
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		errf(err, errlen, "manifest: not JSON: %s", je.text);
		goto err;
	}
	if (!json_is_object(root)) {
		errf(err, errlen, "manifest: not a JSON object");
		goto err;
	}
	json_object_foreach(root, key, v) {
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strcmp(key, known[k]) == 0)
				break;
		if (k == sizeof(known) / sizeof(known[0]) && strncmp(key, "x-", 2) != 0) {
			errf(err, errlen, "manifest: unknown member \"%.64s\" (only \"x-\" "
			    "extensions may be ignored)", key);
			goto err;
		}
	}
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (json_object_get(root, known[k]) == NULL) {
			errf(err, errlen, "manifest: \"%s\" is missing", known[k]);
			goto err;
		}
	v = json_object_get(root, "manifest-version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		errf(err, errlen, "manifest: manifest-version must be 1");
		goto err;
	}
	if (str_get(json_object_get(root, "package"), "package", m->package,
	    sizeof(m->package), err, errlen) == -1)
		goto err;
	if (!name_ok(m->package)) {
		errf(err, errlen, "manifest: package \"%s\" is not a valid package name",
		    m->package);
		goto err;
	}
	if (str_get(json_object_get(root, "version"), "version", m->version,
	    sizeof(m->version), err, errlen) == -1)
		goto err;
	if (!manifest_version_valid(m->version)) {
		errf(err, errlen, "manifest: version \"%s\" is not a Debian version",
		    m->version);
		goto err;
	}
	if (str_get(json_object_get(root, "sha256"), "sha256", hex, sizeof(hex), err,
	    errlen) == -1)
		goto err;
	if (strlen(hex) != 64) {
		errf(err, errlen, "manifest: sha256 must be 64 hex digits");
		goto err;
	}
	for (i = 0; i < 32; i++) {
		hi = pki_hexval((unsigned char)hex[2 * i]);
		lo = pki_hexval((unsigned char)hex[2 * i + 1]);
		if (hi == -1 || lo == -1) {
			errf(err, errlen, "manifest: sha256 must be 64 hex digits");
			goto err;
		}
		m->sha256[i] = (unsigned char)(hi << 4 | lo);
	}
	v = json_object_get(root, "size");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > MANIFEST_PAYLOAD_MAX) {
		errf(err, errlen, "manifest: size must be 1..%llu octets",
		    (unsigned long long)MANIFEST_PAYLOAD_MAX);
		goto err;
	}
	m->size = (uint64_t)json_integer_value(v);
	if (time_get(json_object_get(root, "not-before"), "not-before", &m->not_before, err,
	    errlen) == -1 || time_get(json_object_get(root, "expires"), "expires",
	    &m->expires, err, errlen) == -1)
		goto err;
	if (m->not_before >= m->expires) {
		errf(err, errlen, "manifest: not-before is not before expires");
		goto err;
	}
	v = json_object_get(root, "targets");
	if (!json_is_array(v) || json_array_size(v) < 1 ||
	    json_array_size(v) > MANIFEST_TARGETS_MAX) {
		errf(err, errlen, "manifest: targets must be a list of 1..%d device classes",
		    MANIFEST_TARGETS_MAX);
		goto err;
	}
	for (i = 0; i < json_array_size(v); i++) {
		if (str_get(json_array_get(v, i), "a target", m->targets[i],
		    sizeof(m->targets[i]), err, errlen) == -1)
			goto err;
		if (!class_ok(m->targets[i])) {
			errf(err, errlen, "manifest: target \"%s\" is not a device class",
			    m->targets[i]);
			goto err;
		}
	}
	m->ntargets = i;
	if (str_get(json_object_get(root, "url"), "url", m->url, sizeof(m->url), err,
	    errlen) == -1)
		goto err;
	if (!manifest_path_ok(m->url, MANIFEST_URL_MAX, MANIFEST_URL_DEPTH)) {
		errf(err, errlen, "manifest: url must be a relative path of names that do not "
		    "start with \".\"");
		goto err;
	}
	json_decref(root);
	return 0;
err:
	json_decref(root);
	memset(m, 0, sizeof(*m));
	return -1;
}

char *
manifest_json(const struct manifest *m)
{
	json_t *o, *t;
	char hex[65], nb[32], ex[32], *s;
	size_t i;

	pki_hex_encode(m->sha256, 32, hex);
	if (voucher_time_format(m->not_before, nb, sizeof(nb)) == -1 ||
	    voucher_time_format(m->expires, ex, sizeof(ex)) == -1 ||
	    (t = json_array()) == NULL)
		return NULL;
	for (i = 0; i < m->ntargets; i++)
		json_array_append_new(t, json_string(m->targets[i]));
	o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:s}", "manifest-version", 1,
	    "package", m->package, "version", m->version, "sha256", hex, "size",
	    (json_int_t)m->size, "not-before", nb, "expires", ex, "targets", t, "url", m->url);
	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

int
manifest_report_parse(const char *json, size_t len, struct manifest_report *r, char *err,
    size_t errlen)
{
	static const char *const known[] = { "package", "version", "decision", "reason" };
	json_error_t je;
	json_t *root = NULL, *v;
	const char *key;
	size_t k, i;

	memset(r, 0, sizeof(*r));
	if (len > MANIFEST_REPORT_MAX)
		return errf(err, errlen, "report: %zu octets, more than %d", len,
		    MANIFEST_REPORT_MAX);
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		errf(err, errlen, "report: not JSON: %s", je.text);
		goto err;
	}
	if (!json_is_object(root)) {
		errf(err, errlen, "report: not a JSON object");
		goto err;
	}
	json_object_foreach(root, key, v) {
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strcmp(key, known[k]) == 0)
				break;
		if (k == sizeof(known) / sizeof(known[0])) {
			errf(err, errlen, "report: unknown member \"%.64s\"", key);
			goto err;
		}
	}
	if (str_get(json_object_get(root, "package"), "package", r->package,
	    sizeof(r->package), err, errlen) == -1 ||
	    str_get(json_object_get(root, "version"), "version", r->version,
	    sizeof(r->version), err, errlen) == -1 ||
	    str_get(json_object_get(root, "decision"), "decision", r->decision,
	    sizeof(r->decision), err, errlen) == -1 ||
	    str_get(json_object_get(root, "reason"), "reason", r->reason, sizeof(r->reason),
	    err, errlen) == -1)
		goto err;
	if (r->package[0] != '\0' && !name_ok(r->package)) {
		errf(err, errlen, "report: bad package name");
		goto err;
	}
	if (r->version[0] != '\0' && !manifest_version_valid(r->version)) {
		errf(err, errlen, "report: bad version");
		goto err;
	}
	if (strcmp(r->decision, "installed") != 0 && strcmp(r->decision, "refused") != 0 &&
	    strcmp(r->decision, "error") != 0) {
		errf(err, errlen, "report: decision must be installed, refused or error");
		goto err;
	}
	for (i = 0; r->reason[i] != '\0'; i++)
		if ((unsigned char)r->reason[i] < 0x20 || r->reason[i] == 0x7f) {
			errf(err, errlen, "report: reason must be one line of text");
			goto err;
		}
	json_decref(root);
	return 0;
err:
	json_decref(root);
	memset(r, 0, sizeof(*r));
	return -1;
}

char *
manifest_report_json(const struct manifest_report *r)
{
	json_t *o;
	char *s;

	if ((o = json_pack("{s:s, s:s, s:s, s:s}", "package", r->package, "version",
	    r->version, "decision", r->decision, "reason", r->reason)) == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}
