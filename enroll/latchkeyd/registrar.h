/*
 * registrar: the EST engine of latchkeyd (the "engine" in OpenBSD daemon terms). It decides
 * every enrollment: IDevID or LDevID authentication, claim and binding policy, CSR checks,
 * channel binding, issuance through the signer process, and the durable registry write that
 * precedes every answer. It knows nothing of HTTP framing or sockets: latchkeyd.c hands it a
 * routed request and the TLS facts of the connection, and sends back what it returns.
 */
#ifndef LATCHKEY_REGISTRAR_H
#define LATCHKEY_REGISTRAR_H

#include <stddef.h>
#include <openssl/types.h>
#include <openssl/x509.h>

#include "enroll/latchkeyd/config.h"
#include "enroll/latchkeyd/est.h"
#include "enroll/store/registry.h"

struct registrar;
struct idevid_store;
struct idevid_info;

/* What the TLS layer knows about the peer. cert/chain may be NULL (no client certificate). */
struct registrar_peer {
	X509		*cert;
	STACK_OF(X509)	*chain;		/* untrusted intermediates as sent, without the leaf */
	const char	*chanbind;	/* base64 binding of this connection, NULL if unknown */
	const char	*addr;		/* peer address text, for logs */
};

struct registrar_reply {
	int		status;		/* HTTP status */
	const char	*ctype;		/* Content-Type; NULL for text/plain errors */
	int		b64;		/* body is base64 (Content-Transfer-Encoding) */
	char		*body;		/* malloc'd, registrar_reply_free() */
	size_t		len;
	unsigned	retry_after;	/* > 0: seconds, sent as Retry-After (with 503) */
	int		reason;		/* a refusal's STATS_R_* + 1 (stats.h); 0: by status */
};

/*
 * Load the trust anchors, CRLs and certificates named by cfg, start the signer process (fork:
 * call before creating threads or event bases), open the registry. NULL with err on failure.
 */
struct registrar *registrar_new(const struct config *cfg, char *err, size_t errlen);
void	registrar_free(struct registrar *r);

/*
 * The signer's lifecycle. registrar_new() starts the signer once, before any thread; it is
 * never restarted inside the registrar (certs/signer.h, Lifecycle: that would mean fork() in
 * a threaded process and a process that may read the CA key). When it dies or stalls (no
 * answer within SIGNER_TIMEOUT_MS: killed), every request that needs it fails at once and
 * nothing is issued or recorded: an enrollment gets 503 with Retry-After
 * (REGISTRAR_RETRY_SIGNER_LOST s: "the CA is restarting"), OCSP an
 * OCSPResponse tryLater, the CRL the last one made. Enrollments already issued still commit
 * and are answered only after their commit, as always. registrar_signer_lost() is then 1
 * and registrar_signer_fd() readable; the owner (a latchkeyd worker, worker.c) stops
 * accepting, answers what is in flight, drains the commit and exits with
 * REGISTRAR_EXIT_SIGNER_LOST, and the parent (latchkeyd.c) starts a fresh worker, with a
 * fresh registrar and signer, after a bounded back-off. latchkeyd itself keeps running.
 */
#define REGISTRAR_EXIT_SIGNER_LOST	3	/* a worker's exit status: replace me */
#define REGISTRAR_RETRY_SIGNER_LOST	2	/* s, Retry-After while a worker is replaced */
#define REGISTRAR_RETRY_REGISTRY	2	/* s, Retry-After of a 503 when the registry cannot
						   be read or written (nothing was issued) */
int	registrar_signer_lost(struct registrar *r);	/* 1 lost, 0 serving */
/*
 * Readable once the signer process of CA i has exited (-1 without pidfd: poll the above;
 * -1 too when there is no CA i). CA 0 is the current domain CA, CA 1 the previous one
 * after a rollover (previous-ca-cert), which has a signer of its own.
 */
int	registrar_signer_fd(struct registrar *r, size_t i);

/* The manufacturer trust anchors and CRLs (IDevID checks); owned by r, lives as long as r. */
struct idevid_store *registrar_idevids(struct registrar *r);

/*
 * Approvals (pending = yes), shared by simpleenroll and BRSKI requestvoucher (brski.c).
 * info is a device whose IDevID verified and *v its registry_admission() verdict. When
 * nothing admits it (*v REGISTRY_UNCLAIMED, no auto-accept for its manufacturer) it waits
 * for an administrator (latchkeyctl approve or deny): the request is recorded
 * (registry_pending_touch(), the row latchkeyctl pending lists) and out is set to 202 with
 * Retry-After pending-retry-after (RFC 7030 §4.2.3, RFC 8995 §5.6); nothing is issued and
 * no MASA is asked, the device asks again later. A denied device, or another IDevID under a
 * serial already pending, gets 403 with the reason, audited as action ("enroll-refused",
 * "voucher-refused"); a registry failure 500. Returns 1 with out set; 0 when the device is
 * not held (pending = no, *v not REGISTRY_UNCLAIMED, auto-accepted, or claimed meanwhile:
 * *v and reason, reasonlen bytes, are then asked again) and the caller decides.
 */
int	registrar_hold_pending(struct registrar *r, const struct registrar_peer *peer,
	    const struct idevid_info *info, const char *action, enum registry_verdict *v,
	    char *reason, size_t reasonlen, struct registrar_reply *out);

/*
 * Answer one routed EST request. Never fails: errors become 4xx/5xx replies. An issued
 * LDevID is answered only once its binding, certificate and audit entry are durable. With
 * tag NULL that commit happens before this returns. With a tag the enrollment is queued
 * (group commit): out->status is 0, there is nothing to send yet, and registrar_commit()
 * answers it together with the others queued. On PostgreSQL a tagged simpleenroll whose
 * IDevID verified is queued before its admission read instead: registrar_commit() reads
 * the admission of all those queued in one round trip, answers the refused ones and
 * issues the others, then commits.
 */
void	registrar_handle(struct registrar *r, enum est_op op, const char *label,
	    const char *content_type, const unsigned char *body, size_t len,
	    const struct registrar_peer *peer, void *tag, struct registrar_reply *out);
/*
 * Commit every queued enrollment in one transaction (one sync), then call done(tag, reply,
 * arg) for each in the order they were queued; the reply is freed after done returns. Each
 * enrollment stands or fails on its own. Returns how many were answered from the commit
 * (those waiting for their admission read are answered through done too when refused, and
 * not counted).
 */
typedef void registrar_done_fn(void *tag, struct registrar_reply *rep, void *arg);
size_t	registrar_commit(struct registrar *r, registrar_done_fn *done, void *arg);
size_t	registrar_pending(const struct registrar *r);	/* queued, not yet answered */
/*
 * Commit on a thread of its own (call after registrar_new, which forks): registrar_commit()
 * then hands the queued batch over and returns at once, and the returned descriptor becomes
 * readable when a batch is durable; call registrar_commit() again then to answer it (and
 * hand over the next). Returns the descriptor, or -1 with err. With registry-sync = normal
 * on SQLite no thread is started and REGISTRAR_COMMIT_INLINE is returned: such a commit
 * syncs nothing, so registrar_commit() commits in the caller's thread.
 */
#define REGISTRAR_COMMIT_INLINE	(-2)
int	registrar_committer_start(struct registrar *r, char *err, size_t errlen);
/* Commit and answer everything queued, waiting for the committer: before registrar_free. */
void	registrar_drain(struct registrar *r, registrar_done_fn *done, void *arg);
void	registrar_reply_free(struct registrar_reply *rep);
/* Set a text/plain reply "<formatted line>\n" (any earlier body is freed). */
void	registrar_reply_text(struct registrar_reply *out, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/*
 * The update-server role (update.h): rest is the path after UPDATE_PREFIX of a GET, or
 * NULL for a POST of a decision report to UPDATE_REPORT_PATH. 404 without update-dir.
 */
void	registrar_update(struct registrar *r, const char *rest, const char *content_type,
	    const unsigned char *body, size_t len, const struct registrar_peer *peer,
	    struct registrar_reply *out);
/* An OCSP request's DER (POST body or decoded GET path, RFC 6960 A.1) to its answer. */
void	registrar_ocsp(struct registrar *r, const unsigned char *der, size_t len,
	    struct registrar_reply *out);
/*
 * Refresh the CRLs and write each that changed atomically (DER, 0644): the current CA's to
 * path, the previous CA's (after a rollover) to prev_path; NULL or "" writes none. Call
 * periodically from one worker. 1 one was written, 0 unchanged, -1 with err.
 */
int	registrar_crl_publish(struct registrar *r, const char *path, const char *prev_path,
	    char *err, size_t errlen);
/*
 * Audit checkpoints (DESIGN.md "Trust model"; the signed text in certs/signer.h): when the
 * audit chain's head moved since the last checkpoint and force is set, or
 * REGISTRAR_CKPT_ENTRIES entries were added, or REGISTRAR_CKPT_SECS passed since the last
 * checkpoint, check that the chain still extends the last checkpoint (the registry's, or the
 * file's if newer), have the signer sign the head, log "audit checkpoint seq=N
 * head=sha256:HEX at=T sig=B64 domain=D", append that line to file (unless NULL or "";
 * O_APPEND, fsync'd) and store the checkpoint in the registry. A head that does not extend
 * the last checkpoint is never signed (warned once per head). Call from one worker, often:
 * one indexed lookup when nothing changed. 1 made, 0 nothing to do, -1 with err.
 */
#define REGISTRAR_CKPT_ENTRIES	256
#define REGISTRAR_CKPT_SECS	10
int	registrar_checkpoint(struct registrar *r, const char *file, int force, char *err,
	    size_t errlen);
/*
 * The health check behind /healthz, on the worker's event loop every STATS_BEAT_MS: the
 * registry is writable (registry_writable) and the signer answers a ping (which, when it
 * stalls or died, loses it: the worker is then replaced, registrar.h above). Returns
 * STATS_H_* bits; why says what failed.
 */
int	registrar_health(struct registrar *r, char *why, size_t whylen);
/* 1 when serial's binding is revoked (and none is active), 0 otherwise, -1 on error. */
int	registrar_binding_revoked(struct registrar *r, const char *serial);

#endif
