/* onboard: zero-touch onboarding state machine; see onboard.h. */
#include "enroll/agent/onboard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "enroll/agent/agent.h"
#include "enroll/common/err.h"
#include "enroll/common/voucher.h"


static const char *const state_names[] = {
	"discover", "voucher", "enroll", "latch", "bound"
};

/* One run's context: options, the record, the deadline. */
struct onboard_ctx {
	const struct onboard_opts	*o;
	struct onboard_record		*rec;
	struct timespec			 start;
	char				 voucher_path[AGENT_PATH_MAX];
	char				 pinned_path[AGENT_PATH_MAX];
	int				 voucher_seen;	/* this attempt stored a voucher */
	int				 persist_failed;
	char				 persist_err[256];
};

const char *
onboard_state_name(enum onboard_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[s];
}

int
onboard_state_parse(const char *s, enum onboard_state *out)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (s != NULL && strcmp(s, state_names[i]) == 0) {
			*out = (enum onboard_state)i;
			return 0;
		}
	}
	return -1;
}

void
onboard_record_init(struct onboard_record *r)
{
	memset(r, 0, sizeof(*r));
	r->state = ONBOARD_DISCOVER;
	snprintf(r->latch, sizeof(r->latch), "not configured");
}

/* ---- state file ---------------------------------------------------------------------- */

static json_t *
onboard_strlist_json(char list[][DISCOVER_URL_MAX], size_t n)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(a, json_string(list[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
onboard_record_json(const struct onboard_record *r)
{
	const struct discovery *d = &r->disc;
	json_t *j, *cands, *c;
	size_t i;

	if ((cands = json_array()) == NULL)
		return NULL;
	for (i = 0; i < d->ncand; i++) {
		c = json_pack("{s:s, s:s, s:s}", "url", d->cand[i].url, "source",
		    discover_source_name(d->cand[i].source), "origin", d->cand[i].origin);
		if (c == NULL || json_array_append_new(cands, c) != 0) {
			json_decref(cands);
			return NULL;
		}
	}
	j = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
	    " s:s, s:s, s:s, s:s, s:o, s:o?, s:o?}",
	    "version", 1,
	    "state", onboard_state_name(r->state),
	    "started_at", (json_int_t)r->started_at,
	    "updated_at", (json_int_t)r->updated_at,
	    "bound_at_ms", (json_int_t)r->bound_at_ms,
	    "renewed_at", (json_int_t)r->renewed_at,
	    "renew_due", (json_int_t)r->renew_due,
	    "rounds", (json_int_t)r->rounds,
	    "registrar", r->registrar,
	    "source", r->source,
	    "domain", r->domain,
	    "device_serial", r->device_serial,
	    "ldevid_serial", r->ldevid_serial,
	    "not_after", r->not_after,
	    "domain_ca_fingerprint", r->domain_ca_fp,
	    "pinned_domain_cert", r->pinned_fp,
	    "ca_hint", r->ca_hint,
	    "latch", r->latch,
	    "last_error", r->last_error,
	    "candidates", cands,
	    "posture", onboard_strlist_json((char (*)[DISCOVER_URL_MAX])d->posture, d->nposture),
	    "update", onboard_strlist_json((char (*)[DISCOVER_URL_MAX])d->update, d->nupdate));
	/* json_pack took cands, also on failure */
	if (j != NULL && r->deploy_hook[0] != '\0' && json_object_set_new(j, "deploy_hook",
	    json_string(r->deploy_hook)) != 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int
onboard_record_write(const char *dir, const struct onboard_record *r, char *err,
    size_t errlen)
{
	char path[AGENT_PATH_MAX], tmp[AGENT_PATH_MAX + 8];
	char *text = NULL;
	json_t *j = NULL;
	size_t len, off = 0;
	ssize_t w;
	int fd = -1, dfd = -1, rc = -1;

	if (snprintf(path, sizeof(path), "%s/%s", dir, ONBOARD_FILE_STATE) >=
	    (int)sizeof(path) || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return errf(err, errlen, "state directory path too long");
	if ((j = onboard_record_json(r)) == NULL ||
	    (text = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) == NULL) {
		errf(err, errlen, "out of memory");
		goto err;
	}
	len = strlen(text);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto err;
	}
	while (off < len) {
		if ((w = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			errf(err, errlen, "%s: %s", tmp, strerror(errno));
			goto err;
		}
		off += (size_t)w;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) == -1) {
		errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto err;
	}
	if (close(fd) == -1) {
		fd = -1;
		errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto err;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		goto err;
	}
	/* The rename itself must survive a power cut. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
err:
	if (fd != -1) {
		close(fd);
		(void)unlink(tmp);
	}
	free(text);
	json_decref(j);
	return rc;
}

static void
onboard_jcopy(char *dst, size_t len, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(dst, len, "%s", s != NULL ? s : "");
}

static int64_t
onboard_jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void
onboard_jlist(char list[][DISCOVER_URL_MAX], size_t *n, json_t *a)
{
	size_t i;
	json_t *v;

	*n = 0;
	json_array_foreach(a, i, v) {
		if (*n >= DISCOVER_URIS_MAX)
			break;
		if (json_is_string(v) && strlen(json_string_value(v)) < DISCOVER_URL_MAX)
			snprintf(list[(*n)++], DISCOVER_URL_MAX, "%s", json_string_value(v));
	}
}

int
onboard_record_read(const char *dir, struct onboard_record *r, char *err, size_t errlen)
{
	char path[AGENT_PATH_MAX];
	struct stat st;
	json_error_t je;
	json_t *j, *a, *c;
	size_t i;
	int rc = -1;

	onboard_record_init(r);
	if (snprintf(path, sizeof(path), "%s/%s", dir, ONBOARD_FILE_STATE) >=
	    (int)sizeof(path))
		return errf(err, errlen, "state directory path too long");
	if (stat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (st.st_size > ONBOARD_STATE_MAX)
		return errf(err, errlen, "%s: larger than %d bytes", path,
		    ONBOARD_STATE_MAX);
	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return errf(err, errlen, "%s: line %d: %s", path, je.line, je.text);
	if (!json_is_object(j) || onboard_jint(j, "version") != 1 ||
	    onboard_state_parse(json_string_value(json_object_get(j, "state")),
	    &r->state) == -1) {
		errf(err, errlen, "%s: not a version 1 onboarding state", path);
		goto out;
	}
	r->started_at = onboard_jint(j, "started_at");
	r->updated_at = onboard_jint(j, "updated_at");
	r->bound_at_ms = onboard_jint(j, "bound_at_ms");
	r->renewed_at = onboard_jint(j, "renewed_at");
	r->renew_due = onboard_jint(j, "renew_due");
	r->rounds = (unsigned)onboard_jint(j, "rounds");
	onboard_jcopy(r->registrar, sizeof(r->registrar), j, "registrar");
	onboard_jcopy(r->source, sizeof(r->source), j, "source");
	onboard_jcopy(r->domain, sizeof(r->domain), j, "domain");
	onboard_jcopy(r->device_serial, sizeof(r->device_serial), j, "device_serial");
	onboard_jcopy(r->ldevid_serial, sizeof(r->ldevid_serial), j, "ldevid_serial");
	onboard_jcopy(r->not_after, sizeof(r->not_after), j, "not_after");
	onboard_jcopy(r->domain_ca_fp, sizeof(r->domain_ca_fp), j, "domain_ca_fingerprint");
	onboard_jcopy(r->pinned_fp, sizeof(r->pinned_fp), j, "pinned_domain_cert");
	onboard_jcopy(r->ca_hint, sizeof(r->ca_hint), j, "ca_hint");
	onboard_jcopy(r->latch, sizeof(r->latch), j, "latch");
	onboard_jcopy(r->last_error, sizeof(r->last_error), j, "last_error");
	onboard_jcopy(r->deploy_hook, sizeof(r->deploy_hook), j, "deploy_hook");
	a = json_object_get(j, "candidates");
	json_array_foreach(a, i, c) {
		const char *url = json_string_value(json_object_get(c, "url"));
		const char *src = json_string_value(json_object_get(c, "source"));
		const char *org = json_string_value(json_object_get(c, "origin"));

		if (url != NULL)
			discover_candidate_add(&r->disc, url, src != NULL &&
			    strcmp(src, "mdns") == 0 ? DISCOVER_SRC_MDNS : DISCOVER_SRC_DHCP,
			    org != NULL ? org : "");
	}
	onboard_jlist(r->disc.posture, &r->disc.nposture, json_object_get(j, "posture"));
	onboard_jlist(r->disc.update, &r->disc.nupdate, json_object_get(j, "update"));
	snprintf(r->disc.ca_hint, sizeof(r->disc.ca_hint), "%s", r->ca_hint);
	snprintf(r->disc.domain, sizeof(r->disc.domain), "%s", r->domain);
	rc = 1;
out:
	json_decref(j);
	return rc;
}

/* ---- pure helpers ------------------------------------------------------------------- */

uint64_t
onboard_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms, uint32_t rnd)
{
	uint64_t ceiling = base_ms, half;
	unsigned i;

	if (base_ms == 0)
		base_ms = ceiling = 1;
	if (max_ms < base_ms)
		max_ms = base_ms;
	/* RFC 8995 §4.1: double after each failed round, up to the bound. */
	for (i = 0; i < attempt && ceiling < max_ms; i++)
		ceiling *= 2;
	if (ceiling > max_ms)
		ceiling = max_ms;
	/* Jitter: anywhere in the upper half, so a fleet spreads out. */
	half = ceiling / 2;
	return half + (uint64_t)rnd % (ceiling - half + 1);
}

int64_t
onboard_renew_due(int64_t not_before, int64_t not_after)
{
	if (not_after <= not_before)
		return not_before;
	return not_before + (not_after - not_before) * 2 / 3;
}

/* DISCOVER: one round of discover.h with the run's sources and progress callback. */
static void
onboard_discover(const struct onboard_opts *o, struct discovery *d)
{
	struct discover_opts dopt = {
		.dhcp_env = o->dhcp_env, .n_dhcp_env = o->n_dhcp_env,
		.dhcp_glob = o->dhcp_glob, .no_mdns = o->no_mdns,
		.mdns_timeout_ms = o->mdns_timeout_ms,
		.progress = o->progress, .progress_arg = o->progress_arg,
	};

	discover_run(&dopt, d);
}

/* ---- the run -------------------------------------------------------------------------- */

static int64_t
onboard_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
onboard_elapsed(const struct onboard_ctx *c)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - c->start.tv_sec) + (t.tv_nsec - c->start.tv_nsec) / 1e9;
}

/* Seconds left of --timeout; a large number when there is none. */
static double
onboard_remaining(const struct onboard_ctx *c)
{
	if (c->o->timeout_s == 0)
		return 1e12;
	return (double)c->o->timeout_s - onboard_elapsed(c);
}

static void
onboard_sleep_ms(uint64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
onboard_persist(struct onboard_ctx *c, enum onboard_state s, char *err, size_t errlen)
{
	c->rec->state = s;
	c->rec->updated_at = (int64_t)time(NULL);
	return onboard_record_write(c->o->state_dir, c->rec, err, errlen);
}

static int
onboard_path(char *out, size_t outlen, const char *dir, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/*
 * The agent's progress, forwarded; and the VOUCHER -> ENROLL step: the agent writes the
 * accepted voucher right before it says so, so the first line after the file appeared
 * moves the state on (persisted before the agent continues with the enrollment).
 */
static void
onboard_agent_progress(void *arg, int level, const char *line)
{
	struct onboard_ctx *c = arg;

	if (c->o->progress != NULL)
		c->o->progress(c->o->progress_arg, level, line);
	if (c->voucher_seen || c->rec->state != ONBOARD_VOUCHER ||
	    access(c->voucher_path, F_OK) == -1)
		return;
	c->voucher_seen = 1;
	if (onboard_persist(c, ONBOARD_ENROLL, c->persist_err, sizeof(c->persist_err)) == -1)
		c->persist_failed = 1;
	else
		agent_progress(c->o->progress, c->o->progress_arg, AGENT_DEBUG, "state: enroll (voucher stored)");
	if (c->o->pause_after_voucher_s > 0) {
		agent_progress(c->o->progress, c->o->progress_arg, AGENT_INFO, "testing: pausing %u s after the voucher",
		    c->o->pause_after_voucher_s);
		onboard_sleep_ms((uint64_t)c->o->pause_after_voucher_s * 1000);
	}
}

static int
onboard_asn1_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Subject CN of the first certificate in path ("" when none). */
static void
onboard_cert_cn(const char *path, char *out, size_t outlen)
{
	X509 *x;
	char why[128];
	size_t n, sl = strlen(" Domain CA");

	out[0] = '\0';
	if ((x = pki_cert_read(path, why, sizeof(why))) == NULL)
		return;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
	    (int)outlen) < 0)
		out[0] = '\0';
	X509_free(x);
	/* latchkeyctl init names it "<domain> Domain CA": keep the domain. */
	n = strlen(out);
	if (n > sl && strcmp(out + n - sl, " Domain CA") == 0)
		out[n - sl] = '\0';
}

/* notBefore + 2/3 of the lifetime of the LDevID in dir (0 when unreadable). */
static int64_t
onboard_cert_due(const char *dir)
{
	char path[AGENT_PATH_MAX], why[128];
	int64_t nb, na, due = 0;
	X509 *x;

	if (onboard_path(path, sizeof(path), dir, AGENT_FILE_CERT) == -1 ||
	    (x = pki_cert_read(path, why, sizeof(why))) == NULL)
		return 0;
	if (onboard_asn1_time(X509_get0_notBefore(x), &nb) == 0 &&
	    onboard_asn1_time(X509_get0_notAfter(x), &na) == 0)
		due = onboard_renew_due(nb, na);
	X509_free(x);
	return due;
}

/*
 * The stored voucher (ENROLL on resume): verified again against the MASA anchors and our
 * serial (RFC 8995 §5.6.1; the nonce it carries was checked when it was accepted), its
 * pinned-domain-cert written to c->pinned_path as the only trust anchor from now on.
 */
static int
onboard_voucher_pin(struct onboard_ctx *c, char *err, size_t errlen)
{
	STACK_OF(X509) *anchors = NULL, *certs = NULL;
	X509 *signer = NULL, *pinned = NULL;
	struct voucher v;
	unsigned char *der = NULL;
	char *content = NULL, why[512], fp[PKI_FP_LEN];
	size_t len = 0, clen = 0;
	struct stat st;
	FILE *f = NULL;
	int rc = -1;

	voucher_init(&v, VOUCHER_KIND_VOUCHER);
	if (stat(c->voucher_path, &st) == -1 || st.st_size <= 0 ||
	    st.st_size > VOUCHER_DER_MAX || (f = fopen(c->voucher_path, "rbe")) == NULL) {
		errf(err, errlen, "%s: no usable stored voucher", c->voucher_path);
		goto out;
	}
	if ((der = malloc((size_t)st.st_size)) == NULL ||
	    (len = fread(der, 1, (size_t)st.st_size, f)) != (size_t)st.st_size) {
		errf(err, errlen, "%s: cannot read", c->voucher_path);
		goto out;
	}
	if ((anchors = voucher_anchors_load(c->o->masa_anchor, why, sizeof(why))) == NULL) {
		errf(err, errlen, "MASA anchor: %s", why);
		goto out;
	}
	if (voucher_cms_open(der, len, anchors, &content, &clen, &signer, &certs, why,
	    sizeof(why)) != VOUCHER_OK ||
	    voucher_masa_signer_check(signer, why, sizeof(why)) != VOUCHER_OK ||
	    voucher_json_parse(content, clen, VOUCHER_KIND_VOUCHER, &v, why,
	    sizeof(why)) != VOUCHER_OK ||
	    voucher_check(&v, c->rec->device_serial, v.nonce[0] != '\0' ? v.nonce : NULL,
	    time(NULL), why, sizeof(why)) != VOUCHER_OK) {
		errf(err, errlen, "stored voucher: %s", why);
		goto out;
	}
	if ((pinned = voucher_cert_from_der(v.pinned_domain_cert, v.pinned_len)) == NULL) {
		errf(err, errlen, "stored voucher: pinned-domain-cert unreadable");
		goto out;
	}
	if (pki_certs_write(c->pinned_path, &pinned, 1, 1, why, sizeof(why)) == -1) {
		errf(err, errlen, "%s", why);
		goto out;
	}
	if (pki_cert_fingerprint(pinned, fp) == 0)
		snprintf(c->rec->pinned_fp, sizeof(c->rec->pinned_fp), "%s", fp);
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	voucher_clear(&v);
	X509_free(pinned);
	X509_free(signer);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(anchors, X509_free);
	free(content);
	free(der);
	return rc;
}

/* What a successful agent run leaves, into the record. */
static void
onboard_take_result(struct onboard_ctx *c, const struct agent_result *r)
{
	struct onboard_record *rec = c->rec;

	snprintf(rec->ldevid_serial, sizeof(rec->ldevid_serial), "%s", r->ldevid_serial);
	snprintf(rec->not_after, sizeof(rec->not_after), "%s", r->not_after);
	snprintf(rec->domain_ca_fp, sizeof(rec->domain_ca_fp), "%s", r->ca_fingerprint);
	if (r->pinned_fingerprint[0] != '\0')
		snprintf(rec->pinned_fp, sizeof(rec->pinned_fp), "%s", r->pinned_fingerprint);
	if (r->device_serial[0] != '\0')
		snprintf(rec->device_serial, sizeof(rec->device_serial), "%s",
		    r->device_serial);
	if (rec->domain[0] == '\0')
		onboard_cert_cn(r->ca_path, rec->domain, sizeof(rec->domain));
	rec->renew_due = onboard_cert_due(c->o->state_dir);
}

/* Fill the record from enrollment.json + ldevid.pem (crash after the agent's files). */
static int
onboard_take_files(struct onboard_ctx *c)
{
	char meta[AGENT_PATH_MAX], ca[AGENT_PATH_MAX];
	json_error_t je;
	json_t *m;
	struct onboard_record *rec = c->rec;

	if (onboard_path(meta, sizeof(meta), c->o->state_dir, AGENT_FILE_META) == -1 ||
	    onboard_path(ca, sizeof(ca), c->o->state_dir, AGENT_FILE_CA) == -1 ||
	    (m = json_load_file(meta, 0, &je)) == NULL)
		return -1;
	onboard_jcopy(rec->ldevid_serial, sizeof(rec->ldevid_serial), m, "ldevid_serial");
	onboard_jcopy(rec->not_after, sizeof(rec->not_after), m, "not_after");
	onboard_jcopy(rec->domain_ca_fp, sizeof(rec->domain_ca_fp), m,
	    "domain_ca_fingerprint");
	if (rec->registrar[0] == '\0')
		onboard_jcopy(rec->registrar, sizeof(rec->registrar), m, "server");
	json_decref(m);
	if (rec->domain[0] == '\0')
		onboard_cert_cn(ca, rec->domain, sizeof(rec->domain));
	rec->renew_due = onboard_cert_due(c->o->state_dir);
	return 0;
}

static int
onboard_mark_bound(struct onboard_ctx *c, char *err, size_t errlen)
{
	char path[AGENT_PATH_MAX], why[256];
	struct onboard_record *rec = c->rec;

	rec->bound_at_ms = onboard_now_ms();
	rec->last_error[0] = '\0';
	if (rec->ca_hint[0] != '\0' && rec->domain_ca_fp[0] != '\0' &&
	    strcasecmp(rec->ca_hint, rec->domain_ca_fp) != 0)
		agent_progress(c->o->progress, c->o->progress_arg, AGENT_INFO, "note: the CA fingerprint hint %s does not match "
		    "the domain CA %s (hints are never trusted)", rec->ca_hint,
		    rec->domain_ca_fp);
	if (onboard_persist(c, ONBOARD_BOUND, err, errlen) == -1)
		return -1;
	if (onboard_path(path, sizeof(path), c->o->state_dir, ONBOARD_FILE_BOUND) == -1 ||
	    pki_file_write(path, rec->ldevid_serial, strlen(rec->ldevid_serial), 0644, 1, why,
	    sizeof(why)) == -1)
		return errf(err, errlen, "bound marker: %s", why);
	return 0;
}

static void
onboard_agent_opts(struct onboard_ctx *c, struct agent_opts *a, const char *server)
{
	double left = onboard_remaining(c);
	int t = c->o->attempt_timeout_s ? (int)c->o->attempt_timeout_s : AGENT_TIMEOUT_DEFAULT;

	memset(a, 0, sizeof(*a));
	a->server = server;
	a->out_dir = c->o->state_dir;
	a->idevid_cert = c->o->idevid_cert;
	a->idevid_key = c->o->idevid_key;
	a->key_store = (enum agent_key_store)c->o->key_store;
	a->tpm_tcti = c->o->tpm_tcti;
	if (left < t)
		t = left < 1 ? 1 : (int)left;
	a->timeout = t;
	/* A registrar holding the device for an administrator's approval (HTTP 202) is
	 * asked again as it says, as long as --timeout allows (none: until decided). */
	a->wait = c->o->timeout_s == 0 ? -1 : left < 1 ? 1 : left > INT_MAX ? INT_MAX :
	    (int)left;
	a->chanbind = AGENT_CB_NORMAL;
	a->progress = onboard_agent_progress;
	a->progress_arg = c;
}

/* One enrollment attempt at url: the voucher path, or (resume) the stored pin. */
static int
onboard_attempt(struct onboard_ctx *c, const struct discover_candidate *cand, int use_pin,
    char *err, size_t errlen)
{
	struct agent_opts a;
	struct agent_result r;
	int rc;

	onboard_agent_opts(c, &a, cand->url);
	if (use_pin)
		a.ca_file = c->pinned_path;
	else
		a.masa_anchor = c->o->masa_anchor;
	snprintf(c->rec->registrar, sizeof(c->rec->registrar), "%s", cand->url);
	snprintf(c->rec->source, sizeof(c->rec->source), "%s",
	    discover_source_name(cand->source));
	if (onboard_persist(c, use_pin ? ONBOARD_ENROLL : ONBOARD_VOUCHER, err, errlen) == -1)
		return -1;
	agent_progress(c->o->progress, c->o->progress_arg, AGENT_INFO, "%s: trying registrar %s (from %s%s%s)",
	    use_pin ? "enroll" : "voucher", cand->url, discover_source_name(cand->source),
	    cand->origin[0] ? " " : "", cand->origin);
	if (!use_pin)
		(void)unlink(c->voucher_path);	/* a new attempt needs a new voucher */
	c->voucher_seen = 0;
	c->persist_failed = 0;
	rc = agent_enroll(&a, &r, err, errlen);
	if (c->persist_failed)
		return errf(err, errlen, "state file: %s", c->persist_err);
	if (rc == 0)
		onboard_take_result(c, &r);
	return rc == 0 ? 0 : 1;
}

static uint32_t
onboard_random(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)time(NULL) ^ (uint32_t)getpid() * 2654435761u;
	return v;
}

/* Take the state directory's lock: 0 taken, 1 busy, -1 error. fd stays open. */
static int
onboard_lock(const char *dir, int *fd, char *err, size_t errlen)
{
	char path[AGENT_PATH_MAX];

	if (onboard_path(path, sizeof(path), dir, ONBOARD_FILE_LOCK) == -1)
		return errf(err, errlen, "state directory path too long");
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return 1;
		return errf(err, errlen, "%s: %s", path, strerror(e));
	}
	return 0;
}

static int
onboard_mkdir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : errf(err, errlen, "%s: not a directory",
		    dir);
	if (errno != ENOENT || mkdir(dir, 0700) == -1)
		return errf(err, errlen, "%s: %s", dir, strerror(errno));
	return 0;
}

/* Inputs that no retry can fix: check them once, before anything else. */
static int
onboard_check_inputs(struct onboard_ctx *c, char *err, size_t errlen)
{
	STACK_OF(X509) *anchors;
	X509 *id;
	EVP_PKEY *key;
	char why[256];

	if ((id = pki_cert_read(c->o->idevid_cert, why, sizeof(why))) == NULL)
		return errf(err, errlen, "IDevID: %s", why);
	if (pki_name_serial(X509_get_subject_name(id), c->rec->device_serial,
	    sizeof(c->rec->device_serial)) == -1) {
		X509_free(id);
		return errf(err, errlen, "%s: subject has no serialNumber",
		    c->o->idevid_cert);
	}
	if ((key = agent_key_load(c->o->idevid_key, why, sizeof(why))) == NULL) {
		X509_free(id);
		return errf(err, errlen, "IDevID key: %s", why);
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(id), key) != 1) {
		EVP_PKEY_free(key);
		X509_free(id);
		return errf(err, errlen, "%s does not belong to %s", c->o->idevid_key,
		    c->o->idevid_cert);
	}
	EVP_PKEY_free(key);
	X509_free(id);
	if ((anchors = voucher_anchors_load(c->o->masa_anchor, why, sizeof(why))) == NULL)
		return errf(err, errlen, "MASA anchor: %s", why);
	sk_X509_pop_free(anchors, X509_free);
	return 0;
}

static int
onboard_ctx_init(struct onboard_ctx *c, const struct onboard_opts *o,
    struct onboard_record *rec, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->rec = rec;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	if (o->state_dir == NULL || *o->state_dir == '\0')
		return errf(err, errlen, "no state directory given");
	if (onboard_path(c->voucher_path, sizeof(c->voucher_path), o->state_dir,
	    ONBOARD_FILE_VOUCHER) == -1 || onboard_path(c->pinned_path,
	    sizeof(c->pinned_path), o->state_dir, ONBOARD_FILE_PINNED) == -1)
		return errf(err, errlen, "state directory path too long");
	return 0;
}

/* Load the record; an unreadable one is set aside and onboarding starts over. */
static int
onboard_load(struct onboard_ctx *c, char *err, size_t errlen)
{
	char why[512], path[AGENT_PATH_MAX], bad[AGENT_PATH_MAX + 8];
	int r;

	if ((r = onboard_record_read(c->o->state_dir, c->rec, why, sizeof(why))) == 1)
		return 1;
	if (r == 0)
		return 0;
	agent_progress(c->o->progress, c->o->progress_arg, AGENT_INFO, "state file unreadable (%s); starting over", why);
	if (onboard_path(path, sizeof(path), c->o->state_dir, ONBOARD_FILE_STATE) == -1)
		return errf(err, errlen, "state directory path too long");
	snprintf(bad, sizeof(bad), "%s.bad", path);
	(void)rename(path, bad);
	onboard_record_init(c->rec);
	return 0;
}

static int
onboard_exists(const char *dir, const char *name)
{
	char path[AGENT_PATH_MAX];

	return onboard_path(path, sizeof(path), dir, name) == 0 && access(path, F_OK) == 0;
}

/* --deploy-hook given: record it (persisted with the next write). 1 when it changed. */
static int
onboard_take_hook(struct onboard_ctx *c)
{
	if (c->o->deploy_hook == NULL || strcmp(c->rec->deploy_hook, c->o->deploy_hook) == 0)
		return 0;
	snprintf(c->rec->deploy_hook, sizeof(c->rec->deploy_hook), "%s", c->o->deploy_hook);
	agent_progress(c->o->progress, c->o->progress_arg, AGENT_INFO, c->rec->deploy_hook[0] ?
	    "deploy hook recorded: run after each renewal" : "deploy hook removed");
	return 1;
}

/*
 * Use the new LDevID once (agent_confirm): the registrar revokes the LDevIDs it supersedes.
 * A failure is progress only: they are revoked at the new LDevID's next use.
 */
static void
onboard_confirm(struct onboard_ctx *c, const char *ldevid_serial)
{
	struct agent_opts a;
	char sup[512], why[512];

	memset(&a, 0, sizeof(a));
	a.out_dir = c->o->state_dir;
	a.timeout = c->o->attempt_timeout_s ? (int)c->o->attempt_timeout_s :
	    AGENT_TIMEOUT_DEFAULT;
	a.progress = c->o->progress;
	a.progress_arg = c->o->progress_arg;
	if (agent_confirm(&a, ldevid_serial[0] ? ldevid_serial : NULL, sup, sizeof(sup), why,
	    sizeof(why)) == -1)
		agent_progress(c->o->progress, c->o->progress_arg, AGENT_INFO, "warning: new "
		    "LDevID not confirmed to the registrar: %s (the LDevIDs it replaces are "
		    "revoked at its next use)", why);
	else if (sup[0] != '\0')
		agent_progress(c->o->progress, c->o->progress_arg, AGENT_INFO, "registrar "
		    "revoked the superseded LDevID %s", sup);
}

int
onboard_run(const struct onboard_opts *o, struct onboard_record *rec, char *err,
    size_t errlen)
{
	struct onboard_ctx c;
	struct discover_candidate resume;
	char why[ONBOARD_ERR_MAX];
	unsigned failures = 0;
	uint64_t wait;
	size_t i;
	int lockfd = -1, rc = -1, r, had;

	onboard_record_init(rec);
	if (onboard_ctx_init(&c, o, rec, err, errlen) == -1)
		return -1;
	if (onboard_mkdir(o->state_dir, err, errlen) == -1)
		return -1;
	if ((r = onboard_lock(o->state_dir, &lockfd, err, errlen)) != 0)
		return r == 1 ? ONBOARD_RC_BUSY : -1;
	if ((had = onboard_load(&c, err, errlen)) == -1)
		goto out;
	if (rec->state == ONBOARD_BOUND && onboard_exists(o->state_dir, AGENT_FILE_CERT)) {
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "already bound to %s (LDevID %s valid until %s); "
		    "nothing to do", rec->registrar, rec->ldevid_serial, rec->not_after);
		if (onboard_take_hook(&c) && onboard_persist(&c, ONBOARD_BOUND, err,
		    errlen) == -1)
			goto out;
		rc = ONBOARD_RC_ALREADY;
		goto out;
	}
	if (rec->state == ONBOARD_BOUND) {
		char keep[sizeof(rec->deploy_hook)];

		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "state says bound but %s/%s is missing; starting "
		    "over", o->state_dir, AGENT_FILE_CERT);
		/* the deploy hook is configuration, not progress: it stays */
		memcpy(keep, rec->deploy_hook, sizeof(keep));
		onboard_record_init(rec);
		memcpy(rec->deploy_hook, keep, sizeof(keep));
	}
	(void)onboard_take_hook(&c);
	if (onboard_check_inputs(&c, err, errlen) == -1)
		goto out;
	if (rec->started_at == 0)
		rec->started_at = (int64_t)time(NULL);
	if (had)
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "resuming onboarding of %s at %s",
		    rec->device_serial, onboard_state_name(rec->state));
	else
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "onboarding %s: starting", rec->device_serial);
	/* Finish a key/certificate replacement a crash interrupted. */
	if (agent_recover(o->state_dir, why, sizeof(why)) == -1) {
		errf(err, errlen, "%s", why);
		goto out;
	}
	/* The agent finished but the state did not say so yet: just record it. */
	if (onboard_exists(o->state_dir, AGENT_FILE_CERT) &&
	    onboard_exists(o->state_dir, AGENT_FILE_META) &&
	    onboard_exists(o->state_dir, AGENT_FILE_KEY) && onboard_take_files(&c) == 0) {
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "the LDevID is already here (an earlier run ended "
		    "before recording it)");
		goto bound;
	}

	/* Resume at ENROLL: the stored voucher's pin, the recorded registrar, one try. */
	if (rec->state == ONBOARD_ENROLL && rec->registrar[0] != '\0') {
		if (onboard_voucher_pin(&c, why, sizeof(why)) == 0) {
			memset(&resume, 0, sizeof(resume));
			snprintf(resume.url, sizeof(resume.url), "%s", rec->registrar);
			resume.source = strcmp(rec->source, "mdns") == 0 ? DISCOVER_SRC_MDNS :
			    DISCOVER_SRC_DHCP;
			snprintf(resume.origin, sizeof(resume.origin), "state file");
			agent_progress(o->progress, o->progress_arg, AGENT_INFO, "voucher on file pins %s", rec->pinned_fp);
			if ((r = onboard_attempt(&c, &resume, 1, why, sizeof(why))) == -1) {
				errf(err, errlen, "%s", why);
				goto out;
			}
			if (r == 0)
				goto bound;
		}
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "enroll with the stored voucher failed: %s; "
		    "starting over with a new voucher", why);
		snprintf(rec->last_error, sizeof(rec->last_error), "%s", why);
	}

	for (;;) {
		/* DISCOVER: a fresh look every round (a lease may have come, a registrar
		 * may have appeared). */
		if (onboard_persist(&c, ONBOARD_DISCOVER, err, errlen) == -1)
			goto out;
		rec->rounds++;
		onboard_discover(o, &rec->disc);
		if (rec->disc.ca_hint[0] != '\0')
			snprintf(rec->ca_hint, sizeof(rec->ca_hint), "%s", rec->disc.ca_hint);
		if (rec->disc.domain[0] != '\0')
			snprintf(rec->domain, sizeof(rec->domain), "%s", rec->disc.domain);
		if (rec->disc.ncand == 0) {
			snprintf(rec->last_error, sizeof(rec->last_error), "no registrar found "
			    "(DHCP%s)", o->no_mdns ? "" : ", mDNS");
			agent_progress(o->progress, o->progress_arg, AGENT_INFO, "%s", rec->last_error);
		}
		/* VOUCHER (and ENROLL within the same agent call), candidate by candidate. */
		for (i = 0; i < rec->disc.ncand && onboard_remaining(&c) > 0; i++) {
			r = onboard_attempt(&c, &rec->disc.cand[i], 0, why, sizeof(why));
			if (r == -1) {
				errf(err, errlen, "%s", why);
				goto out;
			}
			if (r == 0)
				goto bound;
			snprintf(rec->last_error, sizeof(rec->last_error), "%.200s: %.300s",
			    rec->disc.cand[i].url, why);
			agent_progress(o->progress, o->progress_arg, AGENT_INFO, "failed: %s", rec->last_error);
		}
		if (onboard_persist(&c, rec->state, err, errlen) == -1)
			goto out;
		wait = onboard_backoff_ms(failures++, ONBOARD_BACKOFF_BASE_MS,
		    (uint64_t)(o->max_backoff_s ? o->max_backoff_s : ONBOARD_MAX_BACKOFF_DEFAULT)
		    * 1000, onboard_random());
		if (o->timeout_s != 0 && (double)wait / 1000 >= onboard_remaining(&c)) {
			errf(err, errlen, "not bound after %u s (%s); a new run resumes",
			    o->timeout_s, rec->last_error[0] ? rec->last_error : "no answer");
			rc = ONBOARD_RC_TIMEOUT;
			goto out;
		}
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "round %u failed; next round in %.1f s", rec->rounds,
		    (double)wait / 1000);
		onboard_sleep_ms(wait);
	}

bound:
	if (onboard_mark_bound(&c, err, errlen) == -1)
		goto out;
	agent_progress(o->progress, o->progress_arg, AGENT_INFO, "bound to %s (domain %s): LDevID %s valid until %s",
	    rec->registrar, rec->domain[0] ? rec->domain : "?", rec->ldevid_serial,
	    rec->not_after);
	/* A resumed onboarding may have enrolled twice: the older LDevID goes now. */
	onboard_confirm(&c, rec->ldevid_serial);
	rc = ONBOARD_RC_BOUND;
out:
	if (lockfd != -1)
		close(lockfd);
	return rc;
}

/* ---- renewal -------------------------------------------------------------------------- */

int
onboard_renew(const struct onboard_opts *o, int force, struct onboard_record *rec,
    int64_t *due, char *err, size_t errlen)
{
	struct onboard_ctx c;
	struct agent_opts a;
	struct agent_result r;
	struct hook_result hr;
	char path[AGENT_PATH_MAX], why[ONBOARD_ERR_MAX], desc[64];
	int64_t nb, na;
	unsigned failures = 0;
	uint64_t wait;
	X509 *x = NULL;
	int lockfd = -1, rc = -1, l;

	onboard_record_init(rec);
	*due = 0;
	if (onboard_ctx_init(&c, o, rec, err, errlen) == -1)
		return -1;
	if ((l = onboard_lock(o->state_dir, &lockfd, err, errlen)) != 0)
		return l == 1 ? ONBOARD_RC_BUSY : -1;
	if ((l = onboard_record_read(o->state_dir, rec, err, errlen)) <= 0) {
		if (l == 0)
			errf(err, errlen, "%s: not onboarded yet (no %s)", o->state_dir,
			    ONBOARD_FILE_STATE);
		goto out;
	}
	if (rec->state != ONBOARD_BOUND) {
		errf(err, errlen, "not bound yet (state %s): run latchkey onboard first",
		    onboard_state_name(rec->state));
		goto out;
	}
	if (onboard_path(path, sizeof(path), o->state_dir, AGENT_FILE_CERT) == -1 ||
	    (x = pki_cert_read(path, why, sizeof(why))) == NULL) {
		errf(err, errlen, "LDevID: %s", why);
		goto out;
	}
	if (onboard_asn1_time(X509_get0_notBefore(x), &nb) == -1 ||
	    onboard_asn1_time(X509_get0_notAfter(x), &na) == -1) {
		errf(err, errlen, "%s: unreadable validity", path);
		goto out;
	}
	*due = onboard_renew_due(nb, na);
	if (onboard_take_hook(&c) && onboard_persist(&c, ONBOARD_BOUND, err, errlen) == -1)
		goto out;
	if (!force && (int64_t)time(NULL) < *due) {
		rc = ONBOARD_RC_NOT_DUE;
		goto out;
	}
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.out_dir = o->state_dir;
		a.key_store = (enum agent_key_store)o->key_store;
		a.tpm_tcti = o->tpm_tcti;
		a.timeout = o->attempt_timeout_s ? (int)o->attempt_timeout_s :
		    AGENT_TIMEOUT_DEFAULT;
		a.progress = o->progress;
		a.progress_arg = o->progress_arg;
		if (agent_reenroll(&a, &r, why, sizeof(why)) == 0)
			break;
		snprintf(rec->last_error, sizeof(rec->last_error), "renew: %.480s", why);
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "%s", rec->last_error);
		wait = onboard_backoff_ms(failures++, ONBOARD_BACKOFF_BASE_MS,
		    (uint64_t)(o->max_backoff_s ? o->max_backoff_s : ONBOARD_MAX_BACKOFF_DEFAULT)
		    * 1000, onboard_random());
		if (o->timeout_s != 0 && (double)wait / 1000 >= onboard_remaining(&c)) {
			(void)onboard_persist(&c, ONBOARD_BOUND, why, sizeof(why));
			errf(err, errlen, "not renewed within %u s: %s", o->timeout_s,
			    rec->last_error);
			rc = ONBOARD_RC_TIMEOUT;
			goto out;
		}
		onboard_sleep_ms(wait);
	}
	onboard_take_result(&c, &r);
	rec->renewed_at = (int64_t)time(NULL);
	rec->last_error[0] = '\0';
	if (onboard_persist(&c, ONBOARD_BOUND, err, errlen) == -1)
		goto out;
	rc = ONBOARD_RC_RENEWED;
	if (rec->deploy_hook[0] != '\0') {
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "running the deploy hook");
		l = hook_run_renewed(rec->deploy_hook, o->state_dir, &r, o->hook_timeout_s, &hr,
		    why, sizeof(why));
		if (l == -1) {
			errf(err, errlen, "deploy hook not run: %s", why);
			rc = ONBOARD_RC_HOOK_FAILED;
		} else if (l == 1) {
			errf(err, errlen, "deploy hook failed: %s", hook_describe(&hr,
			    o->hook_timeout_s, desc, sizeof(desc)));
			rc = ONBOARD_RC_HOOK_FAILED;
		} else
			agent_progress(o->progress, o->progress_arg, AGENT_INFO, "deploy hook %s "
			    "(%.1f s)", hook_describe(&hr, o->hook_timeout_s, desc, sizeof(desc)),
			    hr.secs);
	}
	onboard_confirm(&c, r.ldevid_serial);
out:
	X509_free(x);
	if (lockfd != -1)
		close(lockfd);
	return rc;
}
