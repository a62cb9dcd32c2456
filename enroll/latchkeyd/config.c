/* config: see config.h. */
#include "enroll/latchkeyd/config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certs/keyref.h"
#include "enroll/common/err.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/store/registry.h"

#define CONFIG_FILE_MAX	(1024 * 1024)

/*
 * Every keyword config_apply() takes, in the order of config.h. A KW_LIST keyword may
 * repeat; a KW_ONCE keyword given twice is an error. One { "name", KW_... } per line:
 * tests/integration/test_docs.sh reads the names from here and checks that
 * latchkeyd.conf(5) and latchkeyd --help document each.
 */
#define KW_ONCE	0
#define KW_LIST	1
static const struct {
	const char	*name;
	int		 list;
} keywords[] = {
	{ "listen",			KW_ONCE },
	{ "admin-listen",		KW_ONCE },
	{ "http-listen",		KW_ONCE },
	{ "expiry-warn-days",		KW_ONCE },
	{ "domain",			KW_ONCE },
	{ "ca-cert",			KW_ONCE },
	{ "ca-key",			KW_ONCE },
	{ "previous-ca-cert",		KW_ONCE },
	{ "previous-ca-key",		KW_ONCE },
	{ "rollover-certs",		KW_ONCE },
	{ "tls-cert",			KW_ONCE },
	{ "tls-key",			KW_ONCE },
	{ "registry",			KW_ONCE },
	{ "manufacturer-ca",		KW_LIST },
	{ "manufacturer-crl",		KW_LIST },
	{ "auto-accept",		KW_LIST },
	{ "pending",			KW_ONCE },
	{ "pending-retry-after",	KW_ONCE },
	{ "channel-binding",		KW_ONCE },
	{ "ldevid-lifetime-days",	KW_ONCE },
	{ "crl-url",			KW_ONCE },
	{ "ocsp-url",			KW_ONCE },
	{ "crl-file",			KW_ONCE },
	{ "audit-checkpoint-file",	KW_ONCE },
	{ "pid-file",			KW_ONCE },
	{ "max-body",			KW_ONCE },
	{ "idle-timeout",		KW_ONCE },
	{ "registry-sync",		KW_ONCE },
	{ "workers",			KW_ONCE },
	{ "latch",			KW_ONCE },
	{ "vici-socket",		KW_ONCE },
	{ "latch-state",		KW_ONCE },
	{ "latch-control",		KW_ONCE },
	{ "latch-disposition",		KW_ONCE },
	{ "latch-local",		KW_ONCE },
	{ "latch-mode",			KW_ONCE },
	{ "latch-local-ts",		KW_ONCE },
	{ "latch-remote-ts",		KW_ONCE },
	{ "mdns",			KW_ONCE },
	{ "mdns-name",			KW_ONCE },
	{ "posture-url",		KW_ONCE },
	{ "update-url",			KW_ONCE },
	{ "posture-policy",		KW_ONCE },
	{ "update-dir",			KW_ONCE },
	{ "user",			KW_ONCE },
	{ "signer-user",		KW_ONCE },
	{ "crl-max-validity",		KW_ONCE },
	{ "ocsp-max-validity",		KW_ONCE },
	{ "role",			KW_ONCE },
	{ "masa-url",			KW_ONCE },
	{ "masa-ca",			KW_LIST },
	{ "masa-retry-after",		KW_ONCE },
	{ "masa-timeout",		KW_ONCE },
	{ "masa-db",			KW_ONCE },
	{ "masa-cert",			KW_ONCE },
	{ "masa-key",			KW_ONCE },
};
#define NKEYWORDS	(sizeof(keywords) / sizeof(keywords[0]))

const char *
config_keyword(size_t i, int *list)
{
	if (i >= NKEYWORDS)
		return NULL;
	if (list != NULL)
		*list = keywords[i].list;
	return keywords[i].name;
}

/* The index of keyword k in keywords[], or -1. */
static int
keyword_index(const char *k)
{
	size_t i;

	for (i = 0; i < NKEYWORDS; i++)
		if (strcmp(k, keywords[i].name) == 0)
			return (int)i;
	return -1;
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->listen_addr, "127.0.0.1");
	c->listen_port = 8443;
	c->expiry_warn_days = 30;
	c->channel_binding_required = 1;
	c->ldevid_lifetime_days = 365;
	c->max_body = 65536;
	c->idle_timeout = 10;
	c->registry_sync_full = 1;
	c->pending_retry_after = 30;
	c->masa_retry_after = 5;	/* brski */
	c->masa_timeout = 10;
	c->crl_max_validity = 48;
	c->ocsp_max_validity = 24;
}

int
config_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon, *h = s;
	size_t hl;
	char *end;
	unsigned long p;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || p == 0 || p > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (unsigned)p;
	return 0;
}

static int
set_path(char *dst, const char *dir, const char *v)
{
	int n;

	if (v[0] == '/' || dir == NULL || dir[0] == '\0')
		n = snprintf(dst, CONFIG_PATH, "%s", v);
	else
		n = snprintf(dst, CONFIG_PATH, "%s/%s", dir, v);
	return (n < 0 || n >= CONFIG_PATH) ? -1 : 0;
}

/*
 * A key keyword's value (ca-key, previous-ca-key, masa-key): a file path (resolved like
 * every path), or an RFC 7512 pkcs11: URI kept as it is (certs/keyref.h). A URI's PIN comes
 * from its pin-source file only: a pin-value would sit in this file and in the memory of
 * every process that read it, the workers included. NULL, or the reason (static buffer).
 */
static const char *
set_key(char *dst, const char *dir, const char *v)
{
	static char why[300];
	struct keyref_uri u;
	char e[256];

	if (!keyref_is_pkcs11(v))
		return set_path(dst, dir, v) ? "path too long" : NULL;
	if (keyref_uri_parse(v, &u, e, sizeof(e)) == -1) {
		snprintf(why, sizeof(why), "%s", e);
		return why;
	}
	if (u.has_pin_value) {
		keyref_uri_clear(&u);
		return "pkcs11 URI: pin-value puts the PIN in the configuration: use "
		    "pin-source=/path/of/a/file (mode 0600, readable by root alone)";
	}
	keyref_uri_clear(&u);
	if (strlen(v) >= CONFIG_PATH)
		return "pkcs11 URI too long";
	strcpy(dst, v);
	return NULL;
}

static int
set_uint(unsigned long *out, const char *v, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

/* BRSKI and MASA keywords (brski); NULL on success or the reason text. */
static const char *
config_apply_brski(struct config *c, const char *k, const char *v, const char *dir)
{
	unsigned long n;

	if (strcmp(k, "role") == 0) {
		if (strcmp(v, "registrar") == 0)
			c->role = CONFIG_ROLE_REGISTRAR;
		else if (strcmp(v, "masa") == 0)
			c->role = CONFIG_ROLE_MASA;
		else
			return "expected registrar or masa";
	} else if (strcmp(k, "masa-url") == 0) {
		if (strlen(v) >= CONFIG_URL)
			return "URL too long";
		if (strncmp(v, "https://", 8) != 0)
			return "expected an https:// URL";
		strcpy(c->masa_url, v);
	} else if (strcmp(k, "masa-ca") == 0) {
		if (c->n_masa_ca == CONFIG_LIST)
			return "too many masa-ca lines";
		if (set_path(c->masa_ca[c->n_masa_ca], dir, v))
			return "path too long";
		c->n_masa_ca++;
	} else if (strcmp(k, "masa-retry-after") == 0) {
		if (set_uint(&n, v, 1, 3600))
			return "expected seconds, 1 to 3600";
		c->masa_retry_after = (unsigned)n;
	} else if (strcmp(k, "masa-timeout") == 0) {
		if (set_uint(&n, v, 1, 300))
			return "expected seconds, 1 to 300";
		c->masa_timeout = (unsigned)n;
	} else if (strcmp(k, "masa-db") == 0) {
		return set_path(c->masa_db, dir, v) ? "path too long" : NULL;
	} else if (strcmp(k, "masa-cert") == 0) {
		return set_path(c->masa_cert, dir, v) ? "path too long" : NULL;
	} else if (strcmp(k, "masa-key") == 0) {
		return set_key(c->masa_key, dir, v);
	} else
		return "unknown keyword";
	return NULL;
}

/* Apply one keyword; returns NULL on success or the reason text. */
static const char *
config_apply(struct config *c, const char *k, const char *v, const char *dir)
{
	static const struct {
		const char *name;
		size_t off;
	} paths[] = {
		{ "ca-cert", offsetof(struct config, ca_cert) },
		{ "previous-ca-cert", offsetof(struct config, prev_ca_cert) },
		{ "rollover-certs", offsetof(struct config, rollover_certs) },
		{ "tls-cert", offsetof(struct config, tls_cert) },
		{ "tls-key", offsetof(struct config, tls_key) },
		{ "registry", offsetof(struct config, registry) },
	};
	unsigned long n;
	size_t i;

	/* A PostgreSQL registry (URI or conninfo) is no file: never resolved against dir. */
	if (strcmp(k, "registry") == 0 && registry_is_pg(v)) {
		if (strlen(v) >= sizeof(c->registry))
			return "registry too long";
		strcpy(c->registry, v);
		return NULL;
	}
	if (strcmp(k, "ca-key") == 0)
		return set_key(c->ca_key, dir, v);
	if (strcmp(k, "previous-ca-key") == 0)
		return set_key(c->prev_ca_key, dir, v);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(k, paths[i].name) == 0)
			return set_path((char *)c + paths[i].off, dir, v) ? "path too long" : NULL;
	if (strcmp(k, "listen") == 0) {
		if (config_parse_hostport(v, c->listen_addr, sizeof(c->listen_addr),
		    &c->listen_port))
			return "expected ADDR:PORT or [V6ADDR]:PORT";
	} else if (strcmp(k, "admin-listen") == 0) {
		/* a bare port is on the loopback address */
		if (strspn(v, "0123456789") == strlen(v)) {
			if (set_uint(&n, v, 1, 65535))
				return "expected a port, 1 to 65535";
			strcpy(c->admin_addr, "127.0.0.1");
			c->admin_port = (unsigned)n;
		} else if (config_parse_hostport(v, c->admin_addr, sizeof(c->admin_addr),
		    &c->admin_port))
			return "expected PORT, ADDR:PORT or [V6ADDR]:PORT";
	} else if (strcmp(k, "http-listen") == 0) {
		if (config_parse_hostport(v, c->http_addr, sizeof(c->http_addr), &c->http_port))
			return "expected ADDR:PORT or [V6ADDR]:PORT";
	} else if (strcmp(k, "expiry-warn-days") == 0) {
		if (set_uint(&n, v, 1, 3650))
			return "expected a number of days, 1 to 3650";
		c->expiry_warn_days = (unsigned)n;
	} else if (strcmp(k, "domain") == 0) {
		if (strlen(v) >= sizeof(c->domain))
			return "domain name too long";
		strcpy(c->domain, v);
	} else if (strcmp(k, "manufacturer-ca") == 0) {
		if (c->n_manufacturer_ca == CONFIG_LIST)
			return "too many manufacturer-ca lines";
		if (set_path(c->manufacturer_ca[c->n_manufacturer_ca], dir, v))
			return "path too long";
		c->n_manufacturer_ca++;
	} else if (strcmp(k, "manufacturer-crl") == 0) {
		if (c->n_manufacturer_crl == CONFIG_LIST)
			return "too many manufacturer-crl lines";
		if (set_path(c->manufacturer_crl[c->n_manufacturer_crl], dir, v))
			return "path too long";
		c->n_manufacturer_crl++;
	} else if (strcmp(k, "auto-accept") == 0) {
		if (c->n_auto_accept == CONFIG_LIST)
			return "too many auto-accept lines";
		/* a fingerprint as is, else a certificate file (resolved like every path) */
		if (strncasecmp(v, "sha256:", 7) == 0) {
			if (strlen(v) >= sizeof(c->auto_accept[0]))
				return "fingerprint too long";
			strcpy(c->auto_accept[c->n_auto_accept++], v);
		} else if (set_path(c->auto_accept[c->n_auto_accept++], dir, v))
			return "path too long";
	} else if (strcmp(k, "pending") == 0) {
		if (strcmp(v, "yes") == 0)
			c->pending = 1;
		else if (strcmp(v, "no") == 0)
			c->pending = 0;
		else
			return "expected yes or no";
	} else if (strcmp(k, "pending-retry-after") == 0) {
		if (set_uint(&n, v, 1, 3600))
			return "expected seconds, 1 to 3600";
		c->pending_retry_after = (unsigned)n;
	} else if (strcmp(k, "channel-binding") == 0) {
		if (strcmp(v, "required") == 0)
			c->channel_binding_required = 1;
		else if (strcmp(v, "optional") == 0)
			c->channel_binding_required = 0;
		else
			return "expected required or optional";
	} else if (strcmp(k, "ldevid-lifetime-days") == 0) {
		if (set_uint(&n, v, 1, 3650))
			return "expected a number of days, 1 to 3650";
		c->ldevid_lifetime_days = (unsigned)n;
	} else if (strcmp(k, "crl-url") == 0 || strcmp(k, "ocsp-url") == 0) {
		char *dst = k[0] == 'c' ? c->crl_url : c->ocsp_url;
		if (strlen(v) >= CONFIG_URL)
			return "URL too long";
		if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
			return "expected an http:// or https:// URL";
		strcpy(dst, v);
	} else if (strcmp(k, "pid-file") == 0) {
		if (set_path(c->pid_file, dir, v))
			return "path too long";
	} else if (strcmp(k, "crl-file") == 0) {
		if (strcmp(v, "none") == 0)
			strcpy(c->crl_file, "none");
		else if (set_path(c->crl_file, dir, v))
			return "path too long";
	} else if (strcmp(k, "update-dir") == 0) {
		struct stat st;

		if (set_path(c->update_dir, dir, v))
			return "path too long";
		if (stat(c->update_dir, &st) == -1 || !S_ISDIR(st.st_mode))
			return "not a directory";
	} else if (strcmp(k, "audit-checkpoint-file") == 0) {
		if (strcmp(v, "none") == 0)
			strcpy(c->audit_ckpt_file, "none");
		else if (set_path(c->audit_ckpt_file, dir, v))
			return "path too long";
	} else if (strcmp(k, "max-body") == 0) {
		if (set_uint(&n, v, 1024, 16 * 1024 * 1024))
			return "expected bytes, 1024 to 16777216";
		c->max_body = n;
	} else if (strcmp(k, "idle-timeout") == 0) {
		if (set_uint(&n, v, 1, 3600))
			return "expected seconds, 1 to 3600";
		c->idle_timeout = (unsigned)n;
	} else if (strcmp(k, "latch") == 0) {
		if (strcmp(v, "yes") == 0)
			c->latch = 1;
		else if (strcmp(v, "no") == 0)
			c->latch = 0;
		else
			return "expected yes or no";
	} else if (strcmp(k, "vici-socket") == 0) {
		if (strlen(v) >= sizeof(c->vici_socket))
			return "URI too long";
		strcpy(c->vici_socket, v);
	} else if (strcmp(k, "latch-state") == 0 || strcmp(k, "latch-control") == 0) {
		if (set_path(k[6] == 's' ? c->latch_state : c->latch_control, dir, v))
			return "path too long";
	} else if (strcmp(k, "latch-disposition") == 0) {
		if (strcmp(v, "reset") == 0)
			c->latch_disposition = 0;
		else if (strcmp(v, "wait") == 0)
			c->latch_disposition = 1;
		else if (strcmp(v, "unreachable") == 0)
			c->latch_disposition = 2;
		else
			return "expected reset, wait or unreachable";
	} else if (strcmp(k, "latch-mode") == 0) {
		if (strcmp(v, "tunnel") == 0)
			c->latch_tunnel = 1;
		else if (strcmp(v, "transport") == 0)
			c->latch_tunnel = 0;
		else
			return "expected transport or tunnel";
	} else if (strcmp(k, "latch-local") == 0 || strcmp(k, "latch-local-ts") == 0 ||
	    strcmp(k, "latch-remote-ts") == 0) {
		char *dst = strcmp(k, "latch-local") == 0 ? c->latch_local :
		    k[6] == 'l' ? c->latch_local_ts : c->latch_remote_ts;
		if (strlen(v) >= sizeof(c->latch_local))
			return "value too long";
		strcpy(dst, v);
	} else if (strcmp(k, "workers") == 0) {
		if (set_uint(&n, v, 0, 64))
			return "expected a number of processes, 0 (one per CPU) to 64";
		c->workers = (unsigned)n;
	} else if (strcmp(k, "registry-sync") == 0) {
		if (strcmp(v, "full") == 0)
			c->registry_sync_full = 1;
		else if (strcmp(v, "normal") == 0)
			c->registry_sync_full = 0;
		else
			return "expected full or normal";
	} else if (strcmp(k, "role") == 0 || strncmp(k, "masa-", 5) == 0) {
		return config_apply_brski(c, k, v, dir);
	} else if (strcmp(k, "mdns") == 0) {
		if (strcmp(v, "yes") == 0)
			c->mdns = 1;
		else if (strcmp(v, "no") == 0)
			c->mdns = 0;
		else
			return "expected yes or no";
	} else if (strcmp(k, "mdns-name") == 0) {
		if (strlen(v) >= sizeof(c->mdns_name))
			return "name too long (63 bytes at most)";
		strcpy(c->mdns_name, v);
	} else if (strcmp(k, "user") == 0 || strcmp(k, "signer-user") == 0) {
		char *dst = k[0] == 'u' ? c->user : c->signer_user;

		if (strlen(v) >= sizeof(c->user))
			return "user name too long";
		for (i = 0; v[i] != '\0'; i++)
			if (!isalnum((unsigned char)v[i]) && strchr("._-", v[i]) == NULL)
				return "not a user name";
		strcpy(dst, v);
	} else if (strcmp(k, "crl-max-validity") == 0) {
		if (set_uint(&n, v, 24, 8760))
			return "expected hours, 24 (the CRL's own validity) to 8760";
		c->crl_max_validity = (unsigned)n;
	} else if (strcmp(k, "ocsp-max-validity") == 0) {
		if (set_uint(&n, v, 1, 8760))
			return "expected hours, 1 to 8760";
		c->ocsp_max_validity = (unsigned)n;
	} else if (strcmp(k, "posture-policy") == 0) {
		if (set_path(c->posture_policy, dir, v))
			return "path too long";
	} else if (strcmp(k, "posture-url") == 0 || strcmp(k, "update-url") == 0) {
		char *dst = k[0] == 'p' ? c->posture_url : c->update_url;
		if (strlen(v) >= CONFIG_URL)
			return "URL too long";
		if (strncmp(v, "https://", 8) != 0)
			return "expected an https:// URL";
		strcpy(dst, v);
	} else
		return "unknown keyword";
	return NULL;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * The family of host when it is a literal address (else AF_UNSPEC), its bytes in bin (16
 * bytes), and in *any whether it is a wildcard (0.0.0.0, ::), which takes its port on every
 * address.
 */
static int
addr_literal(const char *host, unsigned char *bin, int *any)
{
	static const unsigned char zero[16];

	memset(bin, 0, 16);
	*any = 0;
	if (inet_pton(AF_INET, host, bin) == 1) {
		*any = memcmp(bin, zero, 4) == 0;
		return AF_INET;
	}
	if (inet_pton(AF_INET6, host, bin) == 1) {
		*any = memcmp(bin, zero, 16) == 0;
		return AF_INET6;
	}
	return AF_UNSPEC;
}

/* Whether two listeners would take the same socket: one port, one or a wildcard address. */
static int
listen_clash(const char *a, unsigned aport, const char *b, unsigned bport)
{
	unsigned char ba[16], bb[16];
	int fa, fb, anya, anyb;

	if (aport == 0 || bport == 0 || aport != bport)
		return 0;
	fa = addr_literal(a, ba, &anya);
	fb = addr_literal(b, bb, &anyb);
	if (anya || anyb)
		return 1;
	if (fa != AF_UNSPEC && fa == fb)
		return memcmp(ba, bb, sizeof(ba)) == 0;
	return strcasecmp(a, b) == 0;
}

/*
 * admin-listen and http-listen each need a socket of their own. Errors name the line of the
 * later keyword and that of the listener it collides with (0: listen's default).
 */
static int
config_check_listeners(const struct config *c, const char *name, size_t l_listen,
    size_t l_admin, size_t l_http, char *err, size_t errlen)
{
	char at[32];

	if (l_listen != 0)
		snprintf(at, sizeof(at), "line %zu", l_listen);
	else
		snprintf(at, sizeof(at), "the default");
	if (listen_clash(c->admin_addr, c->admin_port, c->listen_addr, c->listen_port))
		return errf(err, errlen, "%s:%zu: admin-listen: port %u on %s is taken by "
		    "listen (%s)", name, l_admin, c->admin_port, c->admin_addr, at);
	if (listen_clash(c->http_addr, c->http_port, c->listen_addr, c->listen_port))
		return errf(err, errlen, "%s:%zu: http-listen: port %u on %s is taken by "
		    "listen (%s)", name, l_http, c->http_port, c->http_addr, at);
	if (listen_clash(c->http_addr, c->http_port, c->admin_addr, c->admin_port)) {
		if (l_http > l_admin)
			return errf(err, errlen, "%s:%zu: http-listen: port %u on %s is taken "
			    "by admin-listen (line %zu)", name, l_http, c->http_port,
			    c->http_addr, l_admin);
		return errf(err, errlen, "%s:%zu: admin-listen: port %u on %s is taken by "
		    "http-listen (line %zu)", name, l_admin, c->admin_port, c->admin_addr,
		    l_http);
	}
	return 0;
}

int
config_parse(struct config *c, const char *text, size_t len, const char *name,
    const char *dir, char *err, size_t errlen)
{
	char line[2048];
	size_t pos = 0, lineno = 0;
	size_t first[NKEYWORDS];	/* line where each keyword was first set, 0 = not */

	memset(first, 0, sizeof(first));
	while (pos < len) {
		size_t start = pos, l;
		char *k, *v, *eq, *hash;
		const char *why;
		int kw;

		while (pos < len && text[pos] != '\n')
			pos++;
		l = pos - start;
		pos++;		/* skip '\n' */
		lineno++;
		if (l >= sizeof(line))
			return errf(err, errlen, "%s:%zu: line too long", name, lineno);
		memcpy(line, text + start, l);
		line[l] = '\0';
		if (memchr(line, '\0', l) != NULL)
			return errf(err, errlen, "%s:%zu: NUL byte in line", name, lineno);
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		k = trim(line);
		if (*k == '\0')
			continue;
		if ((eq = strchr(k, '=')) == NULL)
			return errf(err, errlen, "%s:%zu: expected 'keyword = value'", name,
			    lineno);
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if ((kw = keyword_index(k)) == -1)
			return errf(err, errlen, "%s:%zu: %s: unknown keyword", name, lineno, k);
		if (*v == '\0')
			return errf(err, errlen, "%s:%zu: %s: missing value", name, lineno, k);
		if (first[kw] != 0 && !keywords[kw].list)
			return errf(err, errlen, "%s:%zu: %s is already set on line %zu", name,
			    lineno, k, first[kw]);
		if (first[kw] == 0)
			first[kw] = lineno;
		if ((why = config_apply(c, k, v, dir)) != NULL)
			return errf(err, errlen, "%s:%zu: %s: %s", name, lineno, k, why);
	}
	return config_check_listeners(c, name, first[keyword_index("listen")],
	    first[keyword_index("admin-listen")], first[keyword_index("http-listen")], err,
	    errlen);
}

/*
 * With http-listen, crl-url and ocsp-url default to that listener (RFC 5280 4.2.1.13 and
 * RFC 6960 want http URLs: a relying party needs no trust set up to fetch them). A
 * wildcard address is no URL devices could use: then both must be set.
 */
static int
config_http_urls(struct config *c, const char *path, char *err, size_t errlen)
{
	char host[sizeof(c->http_addr) + 2];
	struct in6_addr a6;
	struct in_addr a4;

	if ((inet_pton(AF_INET, c->http_addr, &a4) == 1 && a4.s_addr == htonl(INADDR_ANY)) ||
	    (inet_pton(AF_INET6, c->http_addr, &a6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&a6)) ||
	    c->http_addr[0] == '\0')
		return errf(err, errlen, "%s: http-listen on the wildcard address %s: set "
		    "crl-url and ocsp-url to http URLs with the name devices reach it by",
		    path, c->http_addr[0] != '\0' ? c->http_addr : "(any)");
	if (strchr(c->http_addr, ':') != NULL)
		snprintf(host, sizeof(host), "[%s]", c->http_addr);
	else
		snprintf(host, sizeof(host), "%s", c->http_addr);
	if (c->crl_url[0] == '\0')
		snprintf(c->crl_url, sizeof(c->crl_url), "http://%s:%u/.well-known/latchkey/crl",
		    host, c->http_port);
	if (c->ocsp_url[0] == '\0')
		snprintf(c->ocsp_url, sizeof(c->ocsp_url),
		    "http://%s:%u/.well-known/latchkey/ocsp", host, c->http_port);
	return 0;
}

/*
 * A default file named name in the registry's directory, or in the configuration's (dir)
 * when the registry is a PostgreSQL database.
 */
static void
beside_registry(const struct config *c, const char *dir, const char *name, char *out,
    size_t outlen)
{
	const char *slash = strrchr(c->registry, '/');
	int dl = slash != NULL ? (int)(slash - c->registry) : 1;

	if (registry_is_pg(c->registry))
		snprintf(out, outlen, "%s/%s", dir, name);
	else
		snprintf(out, outlen, "%.*s/%s", dl, slash != NULL ? c->registry : ".", name);
}

int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	char dir[CONFIG_PATH], *slash, *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc = -1;

	config_defaults(c);
	if (strlen(path) >= sizeof(c->file))
		return errf(err, errlen, "%s: path too long", path);
	strcpy(c->file, path);
	strcpy(dir, path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if ((f = fopen(path, "r")) == NULL)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		errf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (len > CONFIG_FILE_MAX) {
		errf(err, errlen, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
		goto out;
	}
	if (config_parse(c, buf, len, path, dir, err, errlen))
		goto out;
	if (c->role == CONFIG_ROLE_MASA) {	/* brski: the MASA has no domain CA */
		if (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0')
			errf(err, errlen, "%s: tls-cert and tls-key: required", path);
		else if (c->masa_cert[0] == '\0' || c->masa_key[0] == '\0')
			errf(err, errlen, "%s: masa-cert and masa-key: required (role masa)", path);
		else if (c->masa_db[0] == '\0')
			errf(err, errlen, "%s: masa-db: required (role masa)", path);
		else if (c->n_manufacturer_ca == 0)
			errf(err, errlen, "%s: manufacturer-ca: at least one required", path);
		else
			rc = 0;
		goto out;
	}
	if (c->domain[0] == '\0')
		errf(err, errlen, "%s: domain: required", path);
	else if (c->ca_cert[0] == '\0' || c->ca_key[0] == '\0')
		errf(err, errlen, "%s: ca-cert and ca-key: required", path);
	else if ((c->prev_ca_cert[0] == '\0') != (c->prev_ca_key[0] == '\0'))
		errf(err, errlen, "%s: previous-ca-cert and previous-ca-key: give both or "
		    "neither", path);
	else if (c->rollover_certs[0] != '\0' && c->prev_ca_cert[0] == '\0')
		errf(err, errlen, "%s: rollover-certs: needs previous-ca-cert and "
		    "previous-ca-key", path);
	else if (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0')
		errf(err, errlen, "%s: tls-cert and tls-key: required", path);
	else if (c->registry[0] == '\0')
		errf(err, errlen, "%s: registry: required", path);
	else if (c->n_manufacturer_ca == 0)
		errf(err, errlen, "%s: manufacturer-ca: at least one required", path);
	else
		rc = 0;
	if (rc == 0 && c->http_port != 0 && (c->crl_url[0] == '\0' || c->ocsp_url[0] == '\0') &&
	    config_http_urls(c, path, err, errlen) == -1)
		rc = -1;
	if (rc == 0 && c->crl_file[0] == '\0')
		beside_registry(c, dir, "crl.der", c->crl_file, sizeof(c->crl_file));
	else if (rc == 0 && strcmp(c->crl_file, "none") == 0)
		c->crl_file[0] = '\0';
	if (rc == 0 && c->crl_file[0] != '\0' && c->prev_ca_cert[0] != '\0') {
		/* the previous CA's CRL beside it: crl.der -> crl-previous.der */
		size_t fl = strlen(c->crl_file);

		if (fl > 4 && strcmp(c->crl_file + fl - 4, ".der") == 0)
			fl -= 4;
		if (snprintf(c->prev_crl_file, sizeof(c->prev_crl_file), "%.*s-previous.der",
		    (int)fl, c->crl_file) >= (int)sizeof(c->prev_crl_file)) {
			errf(err, errlen, "%s: crl-file: path too long", path);
			rc = -1;
		}
	}
	if (rc == 0 && c->audit_ckpt_file[0] == '\0')
		beside_registry(c, dir, "audit-checkpoints.log", c->audit_ckpt_file,
		    sizeof(c->audit_ckpt_file));
	else if (rc == 0 && strcmp(c->audit_ckpt_file, "none") == 0)
		c->audit_ckpt_file[0] = '\0';
	if (rc == 0 && c->latch && c->latch_state[0] == '\0')
		beside_registry(c, dir, "latch-state.json", c->latch_state,
		    sizeof(c->latch_state));
out:
	free(buf);
	fclose(f);
	return rc;
}
