/* discover: see discover.h. */
#include "enroll/agent/discover.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dhcp-hook/dhcpopt.h"
#include "enroll/agent/agent.h"
#include "enroll/agent/netinfo.h"
#include "enroll/common/err.h"
#include "mdns/browse.h"
#include "mdns/txt.h"

#define DISCOVER_EST_SUFFIX	"/.well-known/est"

const char *
discover_source_name(enum discover_source s)
{
	return s == DISCOVER_SRC_MDNS ? "mdns" : "dhcp";
}

int
discover_candidate_add(struct discovery *d, const char *url,
    enum discover_source source, const char *origin)
{
	char norm[DISCOVER_URL_MAX];
	size_t n, sl = strlen(DISCOVER_EST_SUFFIX), i;

	if (url == NULL || (n = strlen(url)) == 0 || n >= sizeof(norm))
		return 0;
	memcpy(norm, url, n + 1);
	while (n > 8 && norm[n - 1] == '/')
		norm[--n] = '\0';
	if (n > sl + 8 && strcasecmp(norm + n - sl, DISCOVER_EST_SUFFIX) == 0) {
		n -= sl;
		norm[n] = '\0';
	}
	while (n > 8 && norm[n - 1] == '/')
		norm[--n] = '\0';
	for (i = 0; i < d->ncand; i++)
		if (strcasecmp(d->cand[i].url, norm) == 0)
			return 0;
	if (d->ncand >= DISCOVER_CAND_MAX)
		return 0;
	snprintf(d->cand[d->ncand].url, sizeof(d->cand[d->ncand].url), "%s", norm);
	d->cand[d->ncand].source = source;
	snprintf(d->cand[d->ncand].origin, sizeof(d->cand[d->ncand].origin), "%s",
	    origin != NULL ? origin : "");
	d->ncand++;
	return 1;
}

static void
discover_uri_add(char list[][DISCOVER_URL_MAX], size_t *n, const char *uri)
{
	size_t i;

	if (strlen(uri) >= DISCOVER_URL_MAX || *n >= DISCOVER_URIS_MAX)
		return;
	for (i = 0; i < *n; i++)
		if (strcmp(list[i], uri) == 0)
			return;
	snprintf(list[(*n)++], DISCOVER_URL_MAX, "%s", uri);
}

/* ---- DHCP env files ----------------------------------------------------------------- */

/* Decode one hex value into a malloc'd buffer. */
static int
discover_hex(const char *hex, uint8_t **out, size_t *len, char *err, size_t errlen)
{
	size_t cap = strlen(hex) / 2 + 1;

	if ((*out = malloc(cap)) == NULL)
		return errf(err, errlen, "out of memory");
	if (dhcpopt_hex_decode(hex, *out, cap, len, err, errlen) == -1) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
discover_dhcp_env_add(struct discovery *d, const char *path, char *err, size_t errlen)
{
	const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	struct dhcpopt_list uris = { NULL, 0 };
	struct dhcpopt_vendor *v = NULL;
	struct netinfo_env e;
	uint8_t *buf = NULL;
	size_t len, i;
	char why[256];
	int rc = -1;

	if (netinfo_env_read(path, &e, err, errlen) == -1)
		return -1;
	/* RFC 8572 §8.3: the bootstrap-server-list, in the server's order. */
	if (e.sztp != NULL) {
		if (discover_hex(e.sztp, &buf, &len, why, sizeof(why)) == -1 ||
		    dhcpopt_sztp_decode(buf, len, &uris, why, sizeof(why)) == -1) {
			errf(err, errlen, "%s: option %d: %s", path, e.family == 6 ?
			    DHCPOPT_V6_SZTP_REDIRECT : DHCPOPT_V4_SZTP_REDIRECT, why);
			goto out;
		}
		for (i = 0; i < uris.n; i++)
			discover_candidate_add(d, uris.v[i], DISCOVER_SRC_DHCP, base);
		free(buf);
		buf = NULL;
	}
	if (e.vendor != NULL) {
		int r;

		if (discover_hex(e.vendor, &buf, &len, why, sizeof(why)) == -1) {
			errf(err, errlen, "%s: vendor option: %s", path, why);
			goto out;
		}
		r = e.family == 6 ?
		    dhcpopt_vendor6_decode(buf, len, DHCPOPT_ENTERPRISE_DEFAULT, &v, why,
		    sizeof(why)) :
		    dhcpopt_vendor4_decode(buf, len, DHCPOPT_ENTERPRISE_DEFAULT, &v, why,
		    sizeof(why));
		if (r == -1) {
			errf(err, errlen, "%s: option %d: %s", path, e.family == 6 ?
			    DHCPOPT_V6_VENDOR_OPTS : DHCPOPT_V4_VIVSO, why);
			goto out;
		}
		if (v != NULL) {
			for (i = 0; i < v->posture.n; i++)
				discover_uri_add(d->posture, &d->nposture, v->posture.v[i]);
			for (i = 0; i < v->update.n; i++)
				discover_uri_add(d->update, &d->nupdate, v->update.v[i]);
			if (v->ca_fingerprint != NULL && d->ca_hint[0] == '\0')
				snprintf(d->ca_hint, sizeof(d->ca_hint), "%s",
				    v->ca_fingerprint);
		}
	}
	rc = 0;
out:
	netinfo_env_clear(&e);
	dhcpopt_list_free(&uris);
	dhcpopt_vendor_free(v);
	free(buf);
	return rc;
}

/* ---- one round -------------------------------------------------------------------------- */

/* "https://ADDR:PORT" of an mDNS result's URL (its path is the EST prefix). */
static void
discover_url_origin(const char *url, char *out, size_t outlen)
{
	size_t n = strlen(url);
	const char *p;

	if (strncasecmp(url, "https://", 8) == 0 && (p = strchr(url + 8, '/')) != NULL)
		n = (size_t)(p - url);
	snprintf(out, outlen, "%.*s", (int)n, url);
}

static void
discover_mdns(const struct discover_opts *o, struct discovery *d)
{
	static const char *const types[] = {
		MDNS_TYPE_REGISTRAR, MDNS_TYPE_PROXY, MDNS_TYPE_POSTURE, MDNS_TYPE_UPDATE
	};
	struct mdns_result *r = NULL;
	char why[256], origin[DISCOVER_URL_MAX];
	const uint8_t *val;
	size_t n = 0, i, vlen;
	unsigned ms = o->mdns_timeout_ms ? o->mdns_timeout_ms : DISCOVER_MDNS_TIMEOUT_DEFAULT;

	if (mdns_browse_run(types, 4, ms, 0, &r, &n, why, sizeof(why)) == -1) {
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "mDNS: %s", why);
		return;
	}
	for (i = 0; i < n; i++) {
		if (r[i].type_rank >= 2) {
			discover_uri_add(r[i].type_rank == 2 ? d->posture : d->update,
			    r[i].type_rank == 2 ? &d->nposture : &d->nupdate, r[i].url);
			continue;
		}
		discover_url_origin(r[i].url, origin, sizeof(origin));
		if (discover_candidate_add(d, origin, DISCOVER_SRC_MDNS, r[i].name))
			agent_progress(o->progress, o->progress_arg, AGENT_DEBUG, "mDNS: %s \"%s\" at %s", r[i].type,
			    r[i].name, origin);
		if (d->domain[0] == '\0' && txt_get(r[i].txt, "dom", &val, &vlen) == 1 &&
		    val != NULL && vlen < sizeof(d->domain) && memchr(val, '\0', vlen) == NULL)
			snprintf(d->domain, sizeof(d->domain), "%.*s", (int)vlen,
			    (const char *)val);
		if (d->ca_hint[0] == '\0' && txt_get(r[i].txt, "cafp", &val, &vlen) == 1 &&
		    val != NULL && dhcpopt_fingerprint_check((const char *)val, vlen, NULL,
		    0) == 0)
			snprintf(d->ca_hint, sizeof(d->ca_hint), "%.*s", (int)vlen,
			    (const char *)val);
	}
	mdns_results_free(r, n);
}

void
discover_run(const struct discover_opts *o, struct discovery *d)
{
	char why[512];
	glob_t g;
	size_t i;

	memset(d, 0, sizeof(*d));
	if (o->n_dhcp_env > 0) {
		for (i = 0; i < o->n_dhcp_env; i++) {
			if (access(o->dhcp_env[i], F_OK) == -1) {
				agent_progress(o->progress, o->progress_arg, AGENT_DEBUG, "DHCP: %s: not there (yet)",
				    o->dhcp_env[i]);
				continue;
			}
			if (discover_dhcp_env_add(d, o->dhcp_env[i], why, sizeof(why)) == -1)
				agent_progress(o->progress, o->progress_arg, AGENT_INFO, "DHCP: ignoring %s", why);
		}
	} else if (glob(o->dhcp_glob != NULL ? o->dhcp_glob : DISCOVER_DHCP_GLOB_DEFAULT, 0,
	    NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++)
			if (discover_dhcp_env_add(d, g.gl_pathv[i], why, sizeof(why)) == -1)
				agent_progress(o->progress, o->progress_arg, AGENT_INFO, "DHCP: ignoring %s", why);
		globfree(&g);
	}
	if (d->ncand > 0) {
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "DHCP: %zu registrar URI%s (RFC 8572 option), first "
		    "%s", d->ncand, d->ncand == 1 ? "" : "s", d->cand[0].url);
		return;
	}
	if (o->no_mdns)
		return;
	discover_mdns(o, d);
	if (d->ncand > 0)
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "mDNS: %zu registrar candidate%s, first %s",
		    d->ncand, d->ncand == 1 ? "" : "s", d->cand[0].url);
}

