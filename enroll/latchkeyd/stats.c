/* stats: see stats.h. */
#include "enroll/latchkeyd/stats.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "enroll/common/version.h"
#include "enroll/store/db.h"

struct stats_shm *stats;
struct stats_slot *stats_me;

/* Upper bounds of the latency buckets, in microseconds (Prometheus "le" in seconds). */
static const uint64_t lat_le_us[STATS_LAT_N] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000
};

static const char *const op_names[STATS_OP_N] = { "simpleenroll", "simplereenroll" };

static const char *const reason_names[STATS_R_N] = {
	"bad-request", "no-client-certificate", "idevid-invalid", "not-claimed", "pending",
	"not-admitted", "ldevid-invalid", "revoked", "channel-binding", "serial-mismatch",
	"forbidden", "media-type", "signer", "registry", "internal", "other"
};

struct stats_shm *
stats_map(void)
{
	void *p = mmap(NULL, sizeof(struct stats_shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, sizeof(struct stats_shm));
	stats = p;
	return stats;
}

int64_t
stats_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
stats_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
reason_of(int status)
{
	switch (status) {
	case 400:
	case 413:
		return STATS_R_BAD_REQUEST;
	case 401:
		return STATS_R_NO_CLIENT_CERT;
	case 403:
		return STATS_R_FORBIDDEN;
	case 415:
		return STATS_R_MEDIA_TYPE;
	case 503:
		return STATS_R_SIGNER;
	default:
		return status >= 500 ? STATS_R_INTERNAL : STATS_R_OTHER;
	}
}

void
stats_enroll(enum stats_op op, int status, int reason, int64_t start_us)
{
	struct stats_slot *m = stats_me;
	uint64_t us;
	size_t i;

	if (m == NULL || op >= STATS_OP_N)
		return;
	if (status == 200)
		atomic_fetch_add(&m->enrolled[op], 1);
	else {
		if (reason < 0 || reason >= STATS_R_N)
			reason = reason_of(status);
		atomic_fetch_add(&m->refused[op][reason], 1);
	}
	if (start_us <= 0)
		return;
	us = (uint64_t)(stats_mono_us() - start_us);
	for (i = 0; i < STATS_LAT_N && us > lat_le_us[i]; i++)
		;
	atomic_fetch_add(&m->lat[i], 1);
	atomic_fetch_add(&m->lat_count, 1);
	atomic_fetch_add(&m->lat_sum_us, us);
}

void
stats_batch(size_t n)
{
	struct stats_slot *m = stats_me;
	size_t i, le = 1;

	if (m == NULL || n == 0)
		return;
	for (i = 0; i < STATS_BATCH_N && n > le; i++)
		le *= 2;
	atomic_fetch_add(&m->batch[i], 1);
	atomic_fetch_add(&m->batch_count, 1);
	atomic_fetch_add(&m->batch_sum, n);
}

void
stats_beat(int health, const char *why)
{
	struct stats_slot *m = stats_me;

	static uint64_t rtt_told;
	uint64_t rtt;

	if (m == NULL)
		return;
	/* this process's round trips since the last beat (a retiring worker's too) */
	rtt = db_round_trips();
	atomic_fetch_add(&m->db_round_trips, rtt - rtt_told);
	rtt_told = rtt;
	if (atomic_load(&m->pid) != (int32_t)getpid())
		return;	/* a retiring worker: its successor owns the slot's health */
	if (health != STATS_H_ALL)
		snprintf(m->why, sizeof(m->why), "%s", why != NULL ? why : "");
	atomic_store(&m->health, health);
	atomic_store(&m->beat_ms, stats_mono_ms());
}

void
stats_detach_stdio(void)
{
	static int done;
	int fd;

	if (done || stats == NULL || !atomic_load(&stats->daemonized) ||
	    !atomic_load(&stats->ready))
		return;
	done = 1;
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

int
stats_healthy(const struct stats_shm *s, char *why, size_t whylen)
{
	uint32_t i, n = atomic_load(&s->nworkers);
	int64_t now = stats_mono_ms(), beat;
	int32_t pid, h;

	if (n == 0) {
		snprintf(why, whylen, "no workers");
		return 0;
	}
	for (i = 0; i < n && i < STATS_SLOTS; i++) {
		const struct stats_slot *m = &s->slot[i];

		pid = atomic_load(&m->pid);
		beat = atomic_load(&m->beat_ms);
		h = atomic_load(&m->health);
		if (pid <= 0) {
			snprintf(why, whylen, "worker %u is restarting", i);
			return 0;
		}
		if (beat == 0) {
			snprintf(why, whylen, "worker %u (pid %d) is starting", i, (int)pid);
			return 0;
		}
		if (now - beat > STATS_STALE_MS) {
			snprintf(why, whylen, "worker %u (pid %d) has not checked in for %lld ms "
			    "(its signer or registry is stuck)", i, (int)pid,
			    (long long)(now - beat));
			return 0;
		}
		if ((h & STATS_H_ALL) != STATS_H_ALL) {
			snprintf(why, whylen, "worker %u (pid %d): %.*s", i, (int)pid,
			    (int)sizeof(m->why), m->why);
			return 0;
		}
	}
	snprintf(why, whylen, "ok: %u worker%s, registry writable, signers answering", n,
	    n == 1 ? "" : "s");
	return 1;
}

/* A growing text buffer; on allocation failure it stays failed and the result is NULL. */
struct text {
	char	*p;
	size_t	 len, cap;
	int	 bad;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *np;

	if (t->bad)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->bad = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		if ((np = realloc(t->p, t->cap * 2 + (size_t)n)) == NULL) {
			t->bad = 1;
			return;
		}
		t->p = np;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

static void
head(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The sum over every slot of the counter at offset off of struct stats_slot. */
static uint64_t
sum_at(const struct stats_shm *s, size_t off)
{
	const _Atomic uint64_t *c;
	uint64_t sum = 0;
	size_t k;

	for (k = 0; k < STATS_SLOTS; k++) {
		c = (const _Atomic uint64_t *)(const void *)((const char *)&s->slot[k] + off);
		sum += atomic_load(c);
	}
	return sum;
}

#define AT(field)		offsetof(struct stats_slot, field)
#define AT_I(field, i)		(AT(field) + (i) * sizeof(_Atomic uint64_t))

char *
stats_prometheus(const struct stats_shm *s, const struct stats_files *f, size_t *len)
{
	struct text t = { NULL, 0, 8192, 0 };
	char why[256];
	uint64_t cum, v;
	int64_t conns = 0, now = (int64_t)time(NULL);
	uint32_t k, n = atomic_load(&s->nworkers);
	size_t i, j, le;

	if ((t.p = malloc(t.cap)) == NULL)
		return NULL;
	t.p[0] = '\0';
	head(&t, "latchkeyd_build_info", "gauge", "The running latchkeyd's version.");
	put(&t, "latchkeyd_build_info{version=\"%s\"} 1\n", LATCHKEY_VERSION);
	head(&t, "latchkeyd_up", "gauge",
	    "1 when every worker can enroll (registry writable, signer answering), as /healthz.");
	put(&t, "latchkeyd_up %d\n", stats_healthy(s, why, sizeof(why)));
	head(&t, "latchkeyd_workers", "gauge", "Worker processes configured.");
	put(&t, "latchkeyd_workers %u\n", n);
	head(&t, "latchkeyd_start_time_seconds", "gauge", "When latchkeyd started (Unix time).");
	put(&t, "latchkeyd_start_time_seconds %" PRId64 "\n", atomic_load(&s->start_time));

	head(&t, "latchkeyd_enrollments_total", "counter",
	    "Certificates issued and answered, by EST operation.");
	for (i = 0; i < STATS_OP_N; i++)
		put(&t, "latchkeyd_enrollments_total{op=\"%s\"} %" PRIu64 "\n", op_names[i],
		    sum_at(s, AT_I(enrolled, i)));
	head(&t, "latchkeyd_enrollment_refusals_total", "counter",
	    "Enrollment requests answered without a certificate, by operation and reason.");
	for (i = 0; i < STATS_OP_N; i++)
		for (j = 0; j < STATS_R_N; j++)
			put(&t, "latchkeyd_enrollment_refusals_total{op=\"%s\",reason=\"%s\"} %"
			    PRIu64 "\n", op_names[i], reason_names[j],
			    sum_at(s, AT_I(refused, i * STATS_R_N + j)));
	head(&t, "latchkeyd_enrollment_duration_seconds", "histogram",
	    "From a complete enrollment request to its answer (after the commit).");
	for (i = 0, cum = 0; i <= STATS_LAT_N; i++) {
		cum += sum_at(s, AT_I(lat, i));
		if (i < STATS_LAT_N)
			put(&t, "latchkeyd_enrollment_duration_seconds_bucket{le=\"%g\"} %" PRIu64
			    "\n", (double)lat_le_us[i] / 1e6, cum);
		else
			put(&t, "latchkeyd_enrollment_duration_seconds_bucket{le=\"+Inf\"} %"
			    PRIu64 "\n", cum);
	}
	put(&t, "latchkeyd_enrollment_duration_seconds_sum %.6f\n",
	    (double)sum_at(s, AT(lat_sum_us)) / 1e6);
	put(&t, "latchkeyd_enrollment_duration_seconds_count %" PRIu64 "\n",
	    sum_at(s, AT(lat_count)));
	head(&t, "latchkeyd_commit_batch_size", "histogram",
	    "Enrollments made durable per group commit (one transaction, one sync).");
	for (i = 0, cum = 0, le = 1; i <= STATS_BATCH_N; i++, le *= 2) {
		cum += sum_at(s, AT_I(batch, i));
		if (i < STATS_BATCH_N)
			put(&t, "latchkeyd_commit_batch_size_bucket{le=\"%zu\"} %" PRIu64 "\n",
			    le, cum);
		else
			put(&t, "latchkeyd_commit_batch_size_bucket{le=\"+Inf\"} %" PRIu64 "\n",
			    cum);
	}
	put(&t, "latchkeyd_commit_batch_size_sum %" PRIu64 "\n", sum_at(s, AT(batch_sum)));
	put(&t, "latchkeyd_commit_batch_size_count %" PRIu64 "\n", sum_at(s, AT(batch_count)));

	head(&t, "latchkeyd_voucher_requests_total", "counter",
	    "BRSKI voucher requests from pledges (RFC 8995 5.2).");
	put(&t, "latchkeyd_voucher_requests_total %" PRIu64 "\n", sum_at(s, AT(voucher_requests)));
	head(&t, "latchkeyd_voucher_request_errors_total", "counter",
	    "Voucher requests answered without a voucher.");
	put(&t, "latchkeyd_voucher_request_errors_total %" PRIu64 "\n",
	    sum_at(s, AT(voucher_errors)));
	head(&t, "latchkeyd_masa_errors_total", "counter",
	    "Voucher requests the MASA did not answer or refused (502, 503).");
	put(&t, "latchkeyd_masa_errors_total %" PRIu64 "\n", sum_at(s, AT(masa_errors)));
	head(&t, "latchkeyd_registry_round_trips_total", "counter",
	    "Network round trips to a PostgreSQL registry (a statement, a prepare, a pipeline "
	    "each count one; a batch of enrollments costs two). 0 with SQLite.");
	put(&t, "latchkeyd_registry_round_trips_total %" PRIu64 "\n",
	    sum_at(s, AT(db_round_trips)));
	head(&t, "latchkeyd_ocsp_requests_total", "counter", "OCSP requests (RFC 6960).");
	put(&t, "latchkeyd_ocsp_requests_total %" PRIu64 "\n", sum_at(s, AT(ocsp_requests)));
	head(&t, "latchkeyd_posture_reports_total", "counter", "Posture reports by result: "
	    "judged compliant or noncompliant by posture-policy, or refused (revoked LDevID, "
	    "another signer, bad report).");
	put(&t, "latchkeyd_posture_reports_total{result=\"compliant\"} %" PRIu64 "\n",
	    sum_at(s, AT(posture_compliant)));
	put(&t, "latchkeyd_posture_reports_total{result=\"noncompliant\"} %" PRIu64 "\n",
	    sum_at(s, AT(posture_noncompliant)));
	put(&t, "latchkeyd_posture_reports_total{result=\"refused\"} %" PRIu64 "\n",
	    sum_at(s, AT(posture_refused)));
	head(&t, "latchkeyd_http_requests_total", "counter", "HTTP requests, all paths.");
	put(&t, "latchkeyd_http_requests_total %" PRIu64 "\n", sum_at(s, AT(requests)));
	for (k = 0; k < STATS_SLOTS; k++)
		conns += atomic_load(&s->slot[k].conns);
	head(&t, "latchkeyd_open_connections", "gauge", "Client connections open now.");
	put(&t, "latchkeyd_open_connections %" PRId64 "\n", conns < 0 ? 0 : conns);

	head(&t, "latchkeyd_signer_restarts_total", "counter",
	    "Workers replaced because their signer (the CA key holder) was lost.");
	put(&t, "latchkeyd_signer_restarts_total %" PRIu64 "\n",
	    atomic_load(&s->signer_restarts));
	head(&t, "latchkeyd_worker_restarts_total", "counter",
	    "Workers restarted after they exited for another reason.");
	put(&t, "latchkeyd_worker_restarts_total %" PRIu64 "\n",
	    atomic_load(&s->worker_restarts));
	head(&t, "latchkeyd_reloads_total", "counter", "Reloads (SIGHUP), by result.");
	v = atomic_load(&s->reload_failures);
	put(&t, "latchkeyd_reloads_total{result=\"ok\"} %" PRIu64 "\n",
	    atomic_load(&s->reloads));
	put(&t, "latchkeyd_reloads_total{result=\"failed\"} %" PRIu64 "\n", v);
	head(&t, "latchkeyd_config_last_reload_successful", "gauge",
	    "0 when the last reload was refused and the previous configuration still runs.");
	put(&t, "latchkeyd_config_last_reload_successful %d\n", atomic_load(&s->reload_ok));
	head(&t, "latchkeyd_config_last_reload_time_seconds", "gauge",
	    "When the running configuration was loaded (Unix time).");
	put(&t, "latchkeyd_config_last_reload_time_seconds %" PRId64 "\n",
	    atomic_load(&s->reload_time));

	head(&t, "latchkeyd_certificate_expiry_time_seconds", "gauge",
	    "notAfter of the registrar's TLS certificate and of the domain CA (Unix time).");
	if (f->tls_not_after > 0)
		put(&t, "latchkeyd_certificate_expiry_time_seconds{certificate=\"tls\"} %" PRId64
		    "\n", f->tls_not_after);
	if (f->ca_not_after > 0)
		put(&t, "latchkeyd_certificate_expiry_time_seconds{certificate=\"ca\"} %" PRId64
		    "\n", f->ca_not_after);
	head(&t, "latchkeyd_certificate_expiry_warning", "gauge",
	    "1 when the certificate expires within expiry-warn-days.");
	if (f->tls_not_after > 0)
		put(&t, "latchkeyd_certificate_expiry_warning{certificate=\"tls\"} %d\n",
		    f->tls_not_after - now < (int64_t)f->expiry_warn_days * 86400);
	if (f->ca_not_after > 0)
		put(&t, "latchkeyd_certificate_expiry_warning{certificate=\"ca\"} %d\n",
		    f->ca_not_after - now < (int64_t)f->expiry_warn_days * 86400);
	if (f->have_crl) {
		head(&t, "latchkeyd_crl_bytes", "gauge", "Size of the published CRL (DER).");
		put(&t, "latchkeyd_crl_bytes %" PRId64 "\n", f->crl_bytes);
		head(&t, "latchkeyd_crl_entries", "gauge", "Revoked certificates in the CRL.");
		put(&t, "latchkeyd_crl_entries %" PRId64 "\n", f->crl_entries);
		head(&t, "latchkeyd_crl_age_seconds", "gauge",
		    "Seconds since the CRL's thisUpdate.");
		put(&t, "latchkeyd_crl_age_seconds %" PRId64 "\n", now - f->crl_this_update);
		head(&t, "latchkeyd_crl_next_update_time_seconds", "gauge",
		    "The CRL's nextUpdate (Unix time).");
		put(&t, "latchkeyd_crl_next_update_time_seconds %" PRId64 "\n",
		    f->crl_next_update);
	}
	if (t.bad) {
		free(t.p);
		return NULL;
	}
	*len = t.len;
	return t.p;
}
