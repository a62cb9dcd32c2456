/* netid: see netid.h. */
#include "enroll/netid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "certs/idevid.h"
#include "certs/pki.h"
#include "enroll/log.h"

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
	if (l->n >= REGISTRY_NETID_MAX)
		return errf(err, errlen, "more than %d identifiers", REGISTRY_NETID_MAX);
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

/* Read at most cap - 1 bytes of path into buf, NUL-terminated. */
static int
read_small(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return errf(err, errlen, "%s: %s", path, strerror(errno));
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return 0;
}

int
netid_from_iface(struct netid_list *l, const char *ifname, char *err, size_t errlen)
{
	char path[128], buf[64], why[128];
	size_t n;

	if (ifname == NULL || *ifname == '\0' || strlen(ifname) > 15 ||
	    strchr(ifname, '/') != NULL || strcmp(ifname, ".") == 0 ||
	    strcmp(ifname, "..") == 0)
		return errf(err, errlen, "bad interface name \"%.32s\"",
		    ifname != NULL ? ifname : "");
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	if (read_small(path, buf, sizeof(buf), err, errlen) == -1)
		return -1;
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (netid_add(l, "mac", buf, why, sizeof(why)) == -1)
		return errf(err, errlen, "%s: %s (not an Ethernet interface?)", ifname,
		    why);
	return 0;
}

int
netid_from_env(struct netid_list *l, const char *path, char *err, size_t errlen)
{
	static const struct {
		const char *key, *kind;
	} keys[] = {
		{ "LATCHKEY_DHCP_CLIENT_ID=", "client-id" },
		{ "LATCHKEY_DHCP_DUID=", "duid" },
	};
	char *buf, *line, *save = NULL, why[128];
	size_t i;
	int rc = -1;

	if ((buf = malloc(NETID_ENV_MAX)) == NULL)
		return errf(err, errlen, "out of memory");
	if (read_small(path, buf, NETID_ENV_MAX, err, errlen) == -1)
		goto out;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t kl = strlen(keys[i].key);
			if (strncmp(line, keys[i].key, kl) != 0 || line[kl] == '\0')
				continue;
			if (netid_add(l, keys[i].kind, line + kl, why, sizeof(why)) == -1) {
				errf(err, errlen, "%s: %s", path, why);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

/* ---- the registrar's handler ----------------------------------------------------- */

void
netid_handle(struct idevid_store *ldevids, struct registry *reg, const char *domain,
    const char *content_type, const unsigned char *body, size_t len,
    const struct registrar_peer *peer, struct registrar_reply *out)
{
	struct idevid_info info;
	struct registry_cert c;
	struct registry_binding b;
	struct registry_netid ids[REGISTRY_NETID_MAX];
	struct netid_list *l = NULL;
	char err[256], actor[96];
	size_t i;
	int found;

	memset(out, 0, sizeof(*out));
	memset(&info, 0, sizeof(info));
	if (peer->cert == NULL) {
		registrar_reply_text(out, 401, "a client certificate (LDevID) is required");
		return;
	}
	/* The same checks as simplereenroll: a valid LDevID of this domain, in the registry,
	 * not revoked, belonging to the device's active binding. */
	if (idevid_verify(ldevids, peer->cert, peer->chain, &info, err, sizeof(err)) !=
	    IDEVID_OK) {
		registrar_reply_text(out, 403,
		    "client certificate is not a valid LDevID of domain %s", domain);
		goto out;
	}
	found = registry_cert_get(reg, info.cert_serial, &c, err, sizeof(err));
	if (found == 1)
		found = registry_binding_get(reg, info.serial, &b, err, sizeof(err));
	if (found < 0) {
		log_warnx("registry: %s", err);
		registrar_reply_text(out, 500, "registry unavailable");
		goto out;
	}
	if (found == 0 || strcmp(c.device_serial, info.serial) != 0) {
		registrar_reply_text(out, 403,
		    "LDevID %s is not in the registry", info.cert_serial);
		goto out;
	}
	if (b.id != c.binding_id || strcmp(b.state, "active") != 0 || c.revoked_at != 0) {
		registrar_reply_text(out, 403, "binding of %s revoked: %s", info.serial,
		    b.reason[0] ? b.reason : c.reason[0] ? c.reason : "unspecified");
		goto out;
	}
	if (!est_media_type_is(content_type, "application/json")) {
		registrar_reply_text(out, 415, "expected Content-Type application/json");
		goto out;
	}
	if ((l = malloc(sizeof(*l))) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	if (netid_parse((const char *)body, len, l, err, sizeof(err)) == -1) {
		registrar_reply_text(out, 400, "%s", err);
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		ids[i].kind = l->v[i].kind;
		ids[i].value = l->v[i].value;
	}
	snprintf(actor, sizeof(actor), "device:%.64s", info.serial);
	if (registry_netid_report(reg, info.serial, ids, l->n, actor, err, sizeof(err)) ==
	    -1) {
		log_warnx("registry: %s", err);
		registrar_reply_text(out, 500, "registry unavailable");
		goto out;
	}
	log_info("%s reported %zu network identifier%s from %s", info.serial, l->n,
	    l->n == 1 ? "" : "s", peer->addr ? peer->addr : "?");
	out->status = 204;
out:
	free(l);
	idevid_info_free(&info);
}
