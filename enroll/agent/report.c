/* report: see report.h. */
#include "enroll/agent/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "enroll/agent/agent.h"
#include "enroll/agent/discover.h"
#include "enroll/agent/onboard.h"
#include "enroll/common/err.h"

/* Read all of f (at most POSTURE_INPUT_MAX); *len. NULL with err. */
static char *
report_slurp(FILE *f, const char *what, size_t *len, char *err, size_t errlen)
{
	char *buf;
	size_t n;

	*len = 0;
	if ((buf = malloc(POSTURE_INPUT_MAX + 1)) == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	while ((n = fread(buf + *len, 1, POSTURE_INPUT_MAX + 1 - *len, f)) > 0)
		*len += n;
	if (ferror(f)) {
		errf(err, errlen, "%s: read error", what);
		free(buf);
		return NULL;
	}
	if (*len > POSTURE_INPUT_MAX) {
		errf(err, errlen, "%s: larger than %d octets", what, POSTURE_INPUT_MAX);
		free(buf);
		return NULL;
	}
	buf[*len] = '\0';
	return buf;
}

int
report_collect(const struct report_opts *o, struct posture_inventory *inv, char *err,
    size_t errlen)
{
	const char *path = o->dpkg_status ? o->dpkg_status : REPORT_DPKG_STATUS;
	char *buf = NULL, why[512];
	size_t len, i;
	FILE *f;
	int n, st;

	if (o->command != NULL) {
		if ((f = popen(o->command, "re")) == NULL)
			return errf(err, errlen, "inventory command: %s", strerror(errno));
		buf = report_slurp(f, "inventory command output", &len, err, errlen);
		st = pclose(f);
		if (buf == NULL)
			return -1;
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			free(buf);
			return errf(err, errlen, "inventory command failed (%s %d): %.200s",
			    st != -1 && WIFEXITED(st) ? "exit status" : "signal",
			    st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
			    o->command);
		}
		n = posture_lines_parse(buf, len, inv, why, sizeof(why));
	} else {
		if ((f = fopen(path, "re")) == NULL)
			return errf(err, errlen, "dpkg status %s: %s", path, strerror(errno));
		buf = report_slurp(f, path, &len, err, errlen);
		fclose(f);
		if (buf == NULL)
			return -1;
		n = posture_dpkg_parse(buf, len, inv, why, sizeof(why));
	}
	free(buf);
	if (n == -1)
		return errf(err, errlen, "%s", why);
	for (i = 0; i < o->n_hash_files; i++)
		if (posture_file_hash(inv, o->hash_files[i], err, errlen) == -1)
			return -1;
	agent_progress(o->progress, o->progress_arg, AGENT_DEBUG,
	    "inventory: %zu packages from %s, %zu files hashed", inv->npkgs,
	    o->command ? "the inventory command" : path, inv->nfiles);
	return 0;
}

/* One discovery round; 1 with url and source set when it named a posture server. */
static int
report_discover(const struct report_opts *o, int mdns, char *url, size_t urllen,
    char *source)
{
	struct discover_opts d;
	struct discovery *disc;
	int found = 0;

	if ((disc = calloc(1, sizeof(*disc))) == NULL)
		return 0;
	memset(&d, 0, sizeof(d));
	d.dhcp_env = o->dhcp_env;
	d.n_dhcp_env = o->n_dhcp_env;
	d.dhcp_glob = o->dhcp_glob;
	d.no_mdns = !mdns;
	d.mdns_timeout_ms = o->mdns_timeout_ms;
	d.progress = o->progress;
	d.progress_arg = o->progress_arg;
	discover_run(&d, disc);
	if (disc->nposture > 0 && strlen(disc->posture[0]) < urllen) {
		snprintf(url, urllen, "%s", disc->posture[0]);
		/* the round with mDNS runs only after DHCP alone named no posture server */
		snprintf(source, 16, "%s", mdns ? "mdns" : "dhcp");
		found = 1;
	}
	free(disc);
	return found;
}

int
report_url(const struct report_opts *o, char *url, size_t urllen, char *source, char *err,
    size_t errlen)
{
	struct onboard_record *rec;
	char why[512];
	int rc;

	if (o->url != NULL && *o->url != '\0') {
		if (strlen(o->url) >= urllen)
			return errf(err, errlen, "posture URL too long");
		snprintf(url, urllen, "%s", o->url);
		snprintf(source, 16, "given");
		return 0;
	}
	if ((rec = malloc(sizeof(*rec))) == NULL)
		return errf(err, errlen, "out of memory");
	rc = onboard_record_read(o->state_dir, rec, why, sizeof(why));
	if (rc == 1 && rec->disc.nposture > 0 && strlen(rec->disc.posture[0]) < urllen) {
		snprintf(url, urllen, "%s", rec->disc.posture[0]);
		snprintf(source, 16, "onboard");
		free(rec);
		return 0;
	}
	free(rec);
	if (rc == -1)
		return errf(err, errlen, "%s", why);
	if (!o->no_discover) {
		agent_progress(o->progress, o->progress_arg, AGENT_DEBUG, "no posture server "
		    "recorded: discovering (DHCP%s)", o->no_mdns ? "" : ", then mDNS");
		if (report_discover(o, 0, url, urllen, source) ||
		    (!o->no_mdns && report_discover(o, 1, url, urllen, source)))
			return 0;
	}
	return errf(err, errlen, "no posture server known: none recorded in %s/%s, %s and "
	    "no --posture-url given", o->state_dir, ONBOARD_FILE_STATE, o->no_discover ?
	    "no discovery asked" : o->no_mdns ? "none in the DHCP options" :
	    "none in the DHCP options or over mDNS");
}

/* Split https://host[:port][/path] into origin and path (REPORT_PATH_DEFAULT when none). */
static int
report_split(const char *url, char *origin, size_t olen, char *path, size_t plen, char *err,
    size_t errlen)
{
	const char *p;

	if (strncasecmp(url, "https://", 8) != 0)
		return errf(err, errlen, "posture URL must start with https://: %.200s", url);
	p = url + 8 + strcspn(url + 8, "/");
	if ((size_t)(p - url) >= olen)
		return errf(err, errlen, "posture URL too long");
	memcpy(origin, url, (size_t)(p - url));
	origin[p - url] = '\0';
	if (*p == '\0' || strcmp(p, "/") == 0)
		p = REPORT_PATH_DEFAULT;
	if (strlen(p) >= plen)
		return errf(err, errlen, "posture URL too long");
	snprintf(path, plen, "%s", p);
	return 0;
}

int
report_send(const struct report_opts *o, const struct posture_inventory *inv,
    struct report_result *res, char *err, size_t errlen)
{
	struct posture_report rep;
	struct agent_opts ao;
	char cert[4200], key[4200], origin[REPORT_URL_MAX], path[REPORT_URL_MAX], why[256];
	char *json = NULL, line[300];
	unsigned char *der = NULL;
	size_t jlen = 0, derlen = 0, alen = 0, n;
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *pkey = NULL;
	json_t *ans = NULL, *c;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&rep, 0, sizeof(rep));
	if (report_url(o, res->url, sizeof(res->url), res->source, err, errlen) == -1 ||
	    report_split(res->url, origin, sizeof(origin), path, sizeof(path), err,
	    errlen) == -1)
		return -1;
	if (snprintf(cert, sizeof(cert), "%s/%s", o->state_dir, AGENT_FILE_CERT) >=
	    (int)sizeof(cert) ||
	    snprintf(key, sizeof(key), "%s/%s", o->state_dir, AGENT_FILE_KEY) >=
	    (int)sizeof(key))
		return errf(err, errlen, "state directory path too long");
	/* the LDevID and its key (file, TPM or token: the agent's one key dispatch) */
	if ((chain = pki_certs_read(cert, why, sizeof(why))) == NULL) {
		errf(err, errlen, "LDevID %s: %s", cert, why);
		goto out;
	}
	leaf = sk_X509_shift(chain);
	if ((pkey = agent_key_load(key, why, sizeof(why))) == NULL) {
		errf(err, errlen, "LDevID key %s: %s", key, why);
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(leaf), pkey) != 1) {
		errf(err, errlen, "LDevID key %s does not belong to %s", key, cert);
		goto out;
	}
	rep.version = 1;
	if (pki_name_serial(X509_get_subject_name(leaf), rep.serial, sizeof(rep.serial)) == -1 ||
	    pki_cert_serial_hex(leaf, rep.ldevid_serial, sizeof(rep.ldevid_serial)) == -1) {
		errf(err, errlen, "LDevID %s: no subject serialNumber or serial", cert);
		goto out;
	}
	rep.time = (int64_t)time(NULL);
	if (posture_nonce(rep.nonce) == -1) {
		errf(err, errlen, "random number generator failed");
		goto out;
	}
	rep.inv = *inv;		/* borrowed: not freed here */
	json = posture_report_encode(&rep, &jlen, err, errlen);
	memset(&rep.inv, 0, sizeof(rep.inv));
	if (json == NULL)
		goto out;
	if (posture_sign((const unsigned char *)json, jlen, leaf, pkey, chain, &der, &derlen,
	    err, errlen) == -1)
		goto out;
	res->npkgs = inv->npkgs;
	res->nfiles = inv->nfiles;
	memset(&ao, 0, sizeof(ao));
	ao.server = origin;
	ao.out_dir = o->state_dir;
	ao.ldevid_key = pkey;
	ao.timeout = o->timeout;
	ao.progress = o->progress;
	ao.progress_arg = o->progress_arg;
	agent_progress(o->progress, o->progress_arg, AGENT_DEBUG,
	    "posture report: %zu octets JSON, %zu octets signed, to %s%s", jlen, derlen,
	    origin, path);
	if (agent_ldevid_post(&ao, path, POSTURE_CT, der, derlen, &res->status, &res->answer,
	    &alen, err, errlen) == -1)
		goto out;
	if (res->status != 200) {
		n = strcspn(res->answer, "\r\n");
		snprintf(line, sizeof(line), "%.*s", (int)(n < 256 ? n : 256), res->answer);
		if (res->status == 413)	/* say what to change, on the server */
			errf(err, errlen, "posture server %s refused the report: HTTP 413: "
			    "the signed report (%zu octets, %zu packages) is larger than its "
			    "max-body", origin, derlen, inv->npkgs);
		else
			errf(err, errlen, "posture server %s refused the report: HTTP %ld%s%s",
			    origin, res->status, line[0] ? ": " : "", line);
		goto out;
	}
	if ((ans = json_loadb(res->answer, alen, 0, NULL)) == NULL ||
	    !json_is_boolean(c = json_object_get(ans, "compliant"))) {
		errf(err, errlen, "posture server %s: the answer has no verdict", origin);
		goto out;
	}
	res->compliant = json_is_true(c);
	rc = 0;
out:
	json_decref(ans);
	free(json);
	free(der);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(pkey);
	return rc;
}
