/* postpolicy: see postpolicy.h. */
#include "enroll/common/postpolicy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/debver.h"
#include "enroll/common/err.h"

struct pkg_rule {
	char	name[POSTURE_NAME_MAX];
	char	version[POSTURE_VERSION_MAX];	/* min (required) / max (forbidden); "" none */
};

struct postpolicy {
	struct pkg_rule		*required, *forbidden;
	size_t			 nrequired, nforbidden;
	struct posture_file	*files;
	size_t			 nfiles;
};

/* ---- Debian versions (deb-version(7)) ---------------------------------------------- */

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int
postpolicy_version_cmp(const char *a, const char *b)
{
	return debver_cmp(a, b);
}

int
postpolicy_version_ok(const char *v)
{
	const char *colon = strchr(v, ':'), *p;
	struct debver s;
	size_t i;

	if (strlen(v) == 0 || strlen(v) >= POSTURE_VERSION_MAX)
		return 0;
	if (colon != NULL) {
		if (colon == v || colon - v > 9)
			return 0;
		for (p = v; p < colon; p++)
			if (!is_digit(*p))
				return 0;
	}
	debver_split(v, &s);
	if (s.upn == 0 || !is_digit((unsigned char)s.up[0]))
		return 0;
	for (i = 0; i < s.upn; i++)
		if (!is_digit(s.up[i]) && !is_alpha(s.up[i]) && strchr(".+~-:", s.up[i]) == NULL)
			return 0;
	if (s.revn == 0 && strrchr(colon ? colon + 1 : v, '-') != NULL)
		return 0;	/* "1.0-": an empty revision */
	for (i = 0; i < s.revn; i++)
		if (!is_digit(s.rev[i]) && !is_alpha(s.rev[i]) && strchr(".+~", s.rev[i]) == NULL)
			return 0;
	return 1;
}

/* ---- the policy file --------------------------------------------------------------- */

void
postpolicy_free(struct postpolicy *p)
{
	if (p == NULL)
		return;
	free(p->required);
	free(p->forbidden);
	free(p->files);
	free(p);
}

size_t
postpolicy_rules(const struct postpolicy *p)
{
	return p->nrequired + p->nforbidden + p->nfiles;
}

/* A package rule: "name" or {"name": .., vkey: ..}. */
static int
pkg_rule_parse(json_t *e, const char *list, size_t i, const char *vkey, struct pkg_rule *r,
    char *err, size_t errlen)
{
	struct posture_inventory probe;
	const char *name, *ver = "", *k;
	json_t *v;
	char why[256];
	int rc;

	if (json_is_string(e))
		name = json_string_value(e);
	else if (json_is_object(e)) {
		json_object_foreach(e, k, v) {
			if (strcmp(k, "name") != 0 && strcmp(k, vkey) != 0)
				return errf(err, errlen, "policy: %s rule %zu: unknown member "
				    "\"%.32s\" (name, %s)", list, i + 1, k, vkey);
		}
		if (!json_is_string(json_object_get(e, "name")))
			return errf(err, errlen, "policy: %s rule %zu: \"name\" missing or not "
			    "a string", list, i + 1);
		name = json_string_value(json_object_get(e, "name"));
		if ((v = json_object_get(e, vkey)) != NULL) {
			if (!json_is_string(v) || !postpolicy_version_ok(json_string_value(v)))
				return errf(err, errlen, "policy: %s rule %zu: \"%s\" is not a "
				    "Debian version", list, i + 1, vkey);
			ver = json_string_value(v);
		}
	} else
		return errf(err, errlen, "policy: %s rule %zu: neither a package name nor an "
		    "object", list, i + 1);
	/* the same name rule as a report's (posture_pkg_add) */
	posture_inventory_init(&probe);
	rc = posture_pkg_add(&probe, name, "0", "", why, sizeof(why));
	posture_inventory_free(&probe);
	if (rc == -1)
		return errf(err, errlen, "policy: %s rule %zu: %s", list, i + 1, why);
	memcpy(r->name, name, strlen(name) + 1);
	memcpy(r->version, ver, strlen(ver) + 1);
	return 0;
}

static int
pkg_rules_parse(json_t *a, const char *list, const char *vkey, struct pkg_rule **out,
    size_t *n, char *err, size_t errlen)
{
	json_t *e;
	size_t i;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > POSTPOLICY_RULES_MAX)
		return errf(err, errlen, "policy: \"%s\" is not a list of at most %d rules",
		    list, POSTPOLICY_RULES_MAX);
	if (json_array_size(a) == 0)
		return 0;
	if ((*out = calloc(json_array_size(a), sizeof(**out))) == NULL)
		return errf(err, errlen, "out of memory");
	json_array_foreach(a, i, e) {
		if (pkg_rule_parse(e, list, i, vkey, &(*out)[i], err, errlen) == -1)
			return -1;
		(*n)++;
	}
	return 0;
}

struct postpolicy *
postpolicy_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct posture_inventory probe;
	struct postpolicy *p = NULL;
	json_error_t je;
	json_t *j, *a, *e, *v;
	const char *k, *path, *hash;
	char why[256];
	size_t i;

	posture_inventory_init(&probe);
	if (len > POSTPOLICY_MAX) {
		errf(err, errlen, "policy larger than %d octets", POSTPOLICY_MAX);
		return NULL;
	}
	if ((j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		errf(err, errlen, "policy: not JSON: %.80s (line %d)", je.text, je.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		errf(err, errlen, "policy: not a JSON object");
		goto err;
	}
	json_object_foreach(j, k, v) {
		if (strcmp(k, "required") != 0 && strcmp(k, "forbidden") != 0 &&
		    strcmp(k, "files") != 0) {
			errf(err, errlen, "policy: unknown member \"%.32s\" (required, "
			    "forbidden, files)", k);
			goto err;
		}
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		errf(err, errlen, "out of memory");
		goto err;
	}
	if (pkg_rules_parse(json_object_get(j, "required"), "required", "min-version",
	    &p->required, &p->nrequired, err, errlen) == -1 ||
	    pkg_rules_parse(json_object_get(j, "forbidden"), "forbidden", "max-version",
	    &p->forbidden, &p->nforbidden, err, errlen) == -1)
		goto err;
	if ((a = json_object_get(j, "files")) != NULL) {
		if (!json_is_array(a) || json_array_size(a) > POSTURE_FILES_MAX) {
			errf(err, errlen, "policy: \"files\" is not a list of at most %d rules",
			    POSTURE_FILES_MAX);
			goto err;
		}
		json_array_foreach(a, i, e) {
			path = json_string_value(json_object_get(e, "fs-name"));
			hash = json_string_value(json_object_get(e, "sha256"));
			if (!json_is_object(e) || json_object_size(e) != 2 || path == NULL ||
			    hash == NULL) {
				errf(err, errlen, "policy: files rule %zu: expected {\"fs-name\": "
				    "PATH, \"sha256\": HEX}", i + 1);
				goto err;
			}
			if (posture_file_add(&probe, path, hash, why, sizeof(why)) == -1) {
				errf(err, errlen, "policy: files rule %zu: %s", i + 1, why);
				goto err;
			}
		}
		if (probe.nfiles > 0) {
			if ((p->files = malloc(probe.nfiles * sizeof(*p->files))) == NULL) {
				errf(err, errlen, "out of memory");
				goto err;
			}
			memcpy(p->files, probe.files, probe.nfiles * sizeof(*p->files));
			p->nfiles = probe.nfiles;
		}
	}
	json_decref(j);
	return p;
err:
	json_decref(j);
	postpolicy_free(p);
	return NULL;
}

struct postpolicy *
postpolicy_load(const char *path, char *err, size_t errlen)
{
	struct postpolicy *p;
	char *buf = NULL, why[256];
	size_t len = 0, n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		errf(err, errlen, "policy %s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(POSTPOLICY_MAX + 1)) == NULL) {
		fclose(f);
		errf(err, errlen, "out of memory");
		return NULL;
	}
	while ((n = fread(buf + len, 1, POSTPOLICY_MAX + 1 - len, f)) > 0)
		len += n;
	if (ferror(f)) {
		errf(err, errlen, "policy %s: read error", path);
		p = NULL;
	} else if ((p = postpolicy_parse(buf, len, why, sizeof(why))) == NULL)
		errf(err, errlen, "%s: %s", path, why);
	fclose(f);
	free(buf);
	return p;
}

/* ---- evaluation -------------------------------------------------------------------- */

static int
reason(json_t *a, const char *fmt, const char *s1, const char *s2, const char *s3)
{
	char line[512];

	snprintf(line, sizeof(line), fmt, s1, s2, s3);
	return json_array_append_new(a, json_string(line));
}

int
postpolicy_eval(const struct postpolicy *p, const struct posture_inventory *inv,
    json_t **reasons)
{
	const struct posture_pkg *pk;
	const struct pkg_rule *r;
	const struct posture_file *f;
	size_t i, k;
	json_t *a;
	int any;

	if ((*reasons = a = json_array()) == NULL)
		return -1;
	for (i = 0; i < p->nrequired; i++) {
		r = &p->required[i];
		if ((pk = posture_pkg_find(inv, r->name, NULL)) == NULL) {
			if (reason(a, "required package %s missing", r->name, "", "") == -1)
				goto oom;
			continue;
		}
		/* every architecture installed must meet the minimum */
		for (; pk < inv->pkgs + inv->npkgs && strcmp(pk->name, r->name) == 0; pk++)
			if (r->version[0] != '\0' &&
			    postpolicy_version_cmp(pk->version, r->version) < 0 &&
			    reason(a, "package %s %s older than the minimum %s", pk->name,
			    pk->version, r->version) == -1)
				goto oom;
	}
	for (i = 0; i < p->nforbidden; i++) {
		r = &p->forbidden[i];
		if ((pk = posture_pkg_find(inv, r->name, NULL)) == NULL)
			continue;
		for (; pk < inv->pkgs + inv->npkgs && strcmp(pk->name, r->name) == 0; pk++) {
			if (r->version[0] != '\0' &&
			    postpolicy_version_cmp(pk->version, r->version) > 0)
				continue;
			if (reason(a, r->version[0] ? "forbidden package %s %s installed (at "
			    "most %s is forbidden)" : "forbidden package %s %s installed%s",
			    pk->name, pk->version, r->version) == -1)
				goto oom;
		}
	}
	for (i = 0; i < p->nfiles; i++) {
		f = &p->files[i];
		for (k = 0, any = 0; k < inv->nfiles && !any; k++) {
			if (strcmp(inv->files[k].path, f->path) != 0)
				continue;
			any = 1;
			if (strcmp(inv->files[k].sha256, f->sha256) != 0 &&
			    reason(a, "file %s hash differs (sha256 %.16s..., expected "
			    "%.16s...)", f->path, inv->files[k].sha256, f->sha256) == -1)
				goto oom;
		}
		if (!any && reason(a, "file %s not reported%s%s", f->path, "", "") == -1)
			goto oom;
	}
	return json_array_size(a) == 0 ? 1 : 0;
oom:
	json_decref(a);
	*reasons = NULL;
	return -1;
}
