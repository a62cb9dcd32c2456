/* netid: see netid.h. */
#include "enroll/common/netid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "certs/pki.h"
#include "enroll/common/err.h"

static const struct {
	const char	*kind;
	size_t		 min, max;	/* octets */
} netid_kinds[] = {
	{ "mac", 6, 6 },
	{ "client-id", 2, 255 },
	{ "duid", 2, 130 },
};
#define NKINDS	(sizeof(netid_kinds) / sizeof(netid_kinds[0]))

/* Text to lower-case hex in out (NETID_VALUE_MAX); *octets = count. 0 or -1. */
static int
netid_norm(const char *text, char *out, size_t *octets)
{
	static const char digits[] = "0123456789abcdef";
	const char *p = text;
	size_t n = 0;
	int sep = 0, hi, lo;

	if (strchr(text, ':') != NULL)
		sep = ':';
	else if (strchr(text, '-') != NULL)
		sep = '-';
	while (*p != '\0') {
		if (n >= (NETID_VALUE_MAX - 1) / 2)
			return -1;
		if ((hi = pki_hexval((unsigned char)p[0])) < 0)
			return -1;
		if (sep != 0) {
			/* one or two digits per octet, then a separator or the end */
			if (p[1] != '\0' && p[1] != sep) {
				if ((lo = pki_hexval((unsigned char)p[1])) < 0)
					return -1;
				hi = hi << 4 | lo;
				p++;
			}
			p++;
			if (*p == sep) {
				if (p[1] == '\0')
					return -1;
				p++;
			} else if (*p != '\0')
				return -1;
		} else {
			if ((lo = pki_hexval((unsigned char)p[1])) < 0)
				return -1;
			hi = hi << 4 | lo;
			p += 2;
		}
		out[2 * n] = digits[hi >> 4];
		out[2 * n + 1] = digits[hi & 15];
		n++;
	}
	out[2 * n] = '\0';
	*octets = n;
	return n > 0 ? 0 : -1;
}

int
netid_add(struct netid_list *l, const char *kind, const char *text, char *err, size_t errlen)
{
	char v[NETID_VALUE_MAX];
	size_t i, k, n;

	for (k = 0; k < NKINDS; k++)
		if (kind != NULL && strcmp(kind, netid_kinds[k].kind) == 0)
			break;
	if (k == NKINDS)
		return errf(err, errlen, "unknown identifier kind \"%.32s\"",
		    kind != NULL ? kind : "");
	if (text == NULL || netid_norm(text, v, &n) == -1)
		return errf(err, errlen, "%s: not hex octets", netid_kinds[k].kind);
	if (n < netid_kinds[k].min || n > netid_kinds[k].max) {
		if (netid_kinds[k].min == netid_kinds[k].max)
			return errf(err, errlen, "%s must be %zu octets, not %zu",
			    netid_kinds[k].kind, netid_kinds[k].min, n);
		return errf(err, errlen, "%s must be %zu..%zu octets, not %zu",
		    netid_kinds[k].kind, netid_kinds[k].min, netid_kinds[k].max, n);
	}
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].kind, netid_kinds[k].kind) == 0 &&
		    strcmp(l->v[i].value, v) == 0)
			return 0;
	if (l->n >= NETID_MAX)
		return errf(err, errlen, "more than %d identifiers", NETID_MAX);
	snprintf(l->v[l->n].kind, sizeof(l->v[l->n].kind), "%s", netid_kinds[k].kind);
	snprintf(l->v[l->n].value, sizeof(l->v[l->n].value), "%s", v);
	l->n++;
	return 0;
}

char *
netid_json(const struct netid_list *l)
{
	json_t *j, *a;
	char *s = NULL;
	size_t i, k;

	if ((j = json_object()) == NULL)
		return NULL;
	for (k = 0; k < NKINDS; k++) {
		a = NULL;
		for (i = 0; i < l->n; i++) {
			if (strcmp(l->v[i].kind, netid_kinds[k].kind) != 0)
				continue;
			if (a == NULL && (json_object_set_new(j, netid_kinds[k].kind,
			    a = json_array()) == -1 || a == NULL))
				goto out;
			if (json_array_append_new(a, json_string(l->v[i].value)) == -1)
				goto out;
		}
	}
	s = json_dumps(j, JSON_COMPACT);
out:
	json_decref(j);
	return s;
}

int
netid_parse(const char *body, size_t len, struct netid_list *l, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j, *a, *item;
	const char *key;
	size_t i, k;
	char why[128];
	int rc = -1;

	memset(l, 0, sizeof(*l));
	if (body == NULL || len == 0)
		return errf(err, errlen, "empty body");
	if (len > NETID_BODY_MAX)
		return errf(err, errlen, "body larger than %d bytes", NETID_BODY_MAX);
	if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return errf(err, errlen, "not JSON: line %d: %.80s", je.line, je.text);
	if (!json_is_object(j)) {
		errf(err, errlen, "body must be a JSON object");
		goto out;
	}
	json_object_foreach(j, key, a) {
		for (k = 0; k < NKINDS; k++)
			if (strcmp(key, netid_kinds[k].kind) == 0)
				break;
		if (k == NKINDS) {
			errf(err, errlen, "unknown member \"%.32s\" (mac, client-id, duid)",
			    key);
			goto out;
		}
		if (!json_is_array(a)) {
			errf(err, errlen, "\"%s\" must be a list of strings", key);
			goto out;
		}
		json_array_foreach(a, i, item) {
			if (!json_is_string(item)) {
				errf(err, errlen, "\"%s\" item %zu is not a string", key, i + 1);
				goto out;
			}
			if (netid_add(l, key, json_string_value(item), why, sizeof(why)) == -1) {
				errf(err, errlen, "\"%s\" item %zu: %s", key, i + 1, why);
				goto out;
			}
		}
	}
	rc = 0;
out:
	if (rc == -1)
		memset(l, 0, sizeof(*l));
	json_decref(j);
	return rc;
}
