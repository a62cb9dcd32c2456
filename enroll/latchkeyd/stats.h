/*
 * stats: what latchkeyd's processes know about themselves, in one shared memory segment
 * that the parent maps before it forks (so every worker and the admin process share it),
 * and its readings: the health verdict behind /healthz and the Prometheus text behind
 * /metrics (admin.c serves both).
 *
 * A slot per worker index holds that worker's counters and health. Counters are atomic
 * and only grow; a slot outlives the worker that filled it (a replaced worker, or the
 * retiring one of a reload, adds to the same slot), so a counter never goes back. Health
 * is written only by the worker whose pid the parent set in the slot:
 *
 *   beat_ms     CLOCK_MONOTONIC ms of the worker's last health check (every
 *               STATS_BEAT_MS); older than STATS_STALE_MS: its event loop is stuck
 *   health      STATS_H_REGISTRY (the registry is writable), STATS_H_SIGNER (the signer
 *               answered a ping); both needed to enroll
 *   why         the failed check's text, for /healthz
 *
 * The parent's own counters (restarts, reloads) and the worker 0 duties' owner
 * (duty_pid: the one process that publishes the CRL, keeps latches and announces over
 * mDNS; a reload hands it over) live beside the slots.
 */
#ifndef LATCHKEY_STATS_H
#define LATCHKEY_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STATS_SLOTS		64		/* = the workers limit (config.c) */
#define STATS_BEAT_MS		250
#define STATS_STALE_MS		1000
#define STATS_H_REGISTRY	1
#define STATS_H_SIGNER		2
#define STATS_H_ALL		(STATS_H_REGISTRY | STATS_H_SIGNER)

/* Enrollment operations counted. */
enum stats_op { STATS_OP_ENROLL, STATS_OP_REENROLL, STATS_OP_N };

/* Why an enrollment was not answered with a certificate (a bounded label set). */
enum stats_reason {
	STATS_R_BAD_REQUEST,		/* 400: body, CSR */
	STATS_R_NO_CLIENT_CERT,		/* 401 */
	STATS_R_IDEVID_INVALID,		/* IDevID does not verify */
	STATS_R_NOT_CLAIMED,		/* no claim, no auto-accept */
	STATS_R_PENDING,		/* 202: held for an administrator (pending = yes) */
	STATS_R_NOT_ADMITTED,		/* revoked binding, another IDevID, wrong
					 * manufacturer, denied by an administrator */
	STATS_R_LDEVID_INVALID,		/* reenroll: not a valid LDevID of this domain */
	STATS_R_REVOKED,		/* reenroll: binding revoked */
	STATS_R_CHANNEL_BINDING,	/* RFC 7030 3.5 */
	STATS_R_SERIAL_MISMATCH,	/* CSR serialNumber is not the certificate's */
	STATS_R_FORBIDDEN,		/* any other 403 */
	STATS_R_MEDIA_TYPE,		/* 415 */
	STATS_R_SIGNER,			/* the CA is restarting (503) or failed */
	STATS_R_REGISTRY,		/* registry unavailable (500 at the commit or before) */
	STATS_R_INTERNAL,		/* other 5xx */
	STATS_R_OTHER,
	STATS_R_N
};

#define STATS_LAT_N	13	/* latency buckets (s): see stats.c; +Inf implied */
#define STATS_BATCH_N	9	/* group-commit batch sizes: 1 2 4 ... 256; +Inf */

struct stats_slot {
	_Atomic int32_t		pid;		/* the worker that owns health (parent sets) */
	_Atomic int64_t		beat_ms;
	_Atomic int32_t		health;
	char			why[192];	/* written by the owner only */
	_Atomic uint64_t	enrolled[STATS_OP_N];
	_Atomic uint64_t	refused[STATS_OP_N][STATS_R_N];
	_Atomic uint64_t	voucher_requests, voucher_errors, masa_errors;
	_Atomic uint64_t	ocsp_requests, crl_requests, requests;
	_Atomic uint64_t	lat[STATS_LAT_N + 1];	/* per bucket, not cumulative */
	_Atomic uint64_t	lat_count, lat_sum_us;
	_Atomic uint64_t	batch[STATS_BATCH_N + 1];
	_Atomic uint64_t	batch_count, batch_sum;
	_Atomic int64_t		conns;		/* open connections (a gauge) */
	_Atomic uint64_t	db_round_trips;	/* to a PostgreSQL registry (db.h) */
	/* posture reports (issue #20): judged compliant / noncompliant, refused (4xx) */
	_Atomic uint64_t	posture_compliant, posture_noncompliant, posture_refused;
};

struct stats_shm {
	_Atomic uint32_t	nworkers;	/* slots in use */
	_Atomic int32_t		duty_pid;	/* holder of the worker 0 duties, 0: none */
	_Atomic uint64_t	signer_restarts, worker_restarts;
	_Atomic uint64_t	reloads, reload_failures;
	_Atomic int64_t		start_time, reload_time;	/* Unix time */
	_Atomic int32_t		reload_ok;	/* the last reload succeeded */
	_Atomic int32_t		ready;		/* the workers served once: start-up is over */
	_Atomic int32_t		daemonized;	/* with ready: children leave the terminal */
	struct stats_slot	slot[STATS_SLOTS];
};

/* The segment: mapped by the parent before any fork (NULL on failure), then inherited. */
extern struct stats_shm *stats;
struct stats_shm *stats_map(void);
/* This process's slot (a worker sets it at start); NULL elsewhere: the count calls below
 * then do nothing. */
extern struct stats_slot *stats_me;

int64_t	stats_mono_ms(void);
/* A reply of status to an enrollment (op), started at start_us (stats_mono_us()); reason
 * for a refusal, or -1 to derive it from status. */
void	stats_enroll(enum stats_op op, int status, int reason, int64_t start_us);
int64_t	stats_mono_us(void);
void	stats_batch(size_t n);
/* The worker's health check result; why "" when healthy. */
void	stats_beat(int health, const char *why);

/*
 * Daemonized and ready: point this process's standard input, output and error at
 * /dev/null (once; the foreground shell waits for every holder of its terminal).
 */
void	stats_detach_stdio(void);

/*
 * The verdict over the first nworkers slots: 1 healthy, else 0 with why (the first failed
 * check, naming the worker).
 */
int	stats_healthy(const struct stats_shm *s, char *why, size_t whylen);

/* Things the admin process reads from files, not from the segment. */
struct stats_files {
	int64_t		tls_not_after, ca_not_after;	/* 0: unknown */
	int		have_crl;
	int64_t		crl_bytes, crl_entries, crl_this_update, crl_next_update;
	unsigned	expiry_warn_days;
};
/* The Prometheus text exposition (format 0.0.4) of s and f; malloc'd, or NULL. */
char	*stats_prometheus(const struct stats_shm *s, const struct stats_files *f,
	    size_t *len);

#endif
