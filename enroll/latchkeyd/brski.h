/*
 * brski: the registrar side of BRSKI (RFC 8995 §5) inside latchkeyd. latchkeyd.c routes
 * every path under /.well-known/brski/ here (or to masa.c in the MASA role):
 *   POST requestvoucher   the pledge's voucher-request (CMS, signed with its IDevID, the
 *                         same certificate as its TLS client certificate); the registrar
 *                         checks the IDevID and the domain's claim (pending = yes: an
 *                         unclaimed pledge waits for an administrator, 202 with
 *                         Retry-After, registrar_hold_pending()), signs its own
 *                         voucher-request (RFC 8995 §5.5: the pledge's as
 *                         prior-signed-voucher-request) with its TLS key, relays it to the
 *                         device's MASA (id-pe-masa-url of the IDevID, else masa-url) over
 *                         libcurl, stores and audits the voucher and answers with it.
 *                         MASA unreachable: 503 with Retry-After (masa-retry-after).
 *   POST voucher_status   the pledge's voucher status telemetry (RFC 8995 §5.7), JSON
 *   POST enrollstatus     the pledge's enrollment status telemetry (RFC 8995 §5.9.4), JSON
 * The MASA request is synchronous (bounded by masa-timeout); each worker process has its
 * own state. Nothing here touches the CA key. Refusals to a pledge whose IDevID verified are
 * audited; refusals before that (no client certificate, one that does not verify) write
 * nothing permanent: they are counted (brski_unauth()) and logged at most once a second.
 * The pledge never sees why the MASA could not be reached ("MASA unreachable"): the log
 * and the audit details do.
 */
#ifndef LATCHKEY_BRSKI_H
#define LATCHKEY_BRSKI_H

#include <stddef.h>

#include "enroll/latchkeyd/config.h"
#include "enroll/latchkeyd/registrar.h"

#define BRSKI_WELL_KNOWN	"/.well-known/brski/"
#define BRSKI_STATUS_MAX	8192	/* largest status telemetry body */

struct brski;

/*
 * Load the MASA anchors and the registrar's TLS identity, open the registry. reg, borrowed
 * (it must outlive the brski), checks pledges' IDevIDs (registrar_idevids()) and holds the
 * approvals a voucher request from an unclaimed pledge joins (pending = yes:
 * registrar_hold_pending(): 202 with Retry-After while it waits, 403 once denied, and no
 * MASA request meanwhile). NULL with err.
 */
struct brski *brski_new(const struct config *cfg, struct registrar *reg, char *err,
	    size_t errlen);
void	brski_free(struct brski *b);

/* Counters of refusals to unauthenticated requests, this worker's (unauth.h). */
struct unauth_stats;
const struct unauth_stats *brski_unauth(const struct brski *b);

/*
 * Answer one request whose path starts with BRSKI_WELL_KNOWN. Never fails: errors become
 * 4xx/5xx replies. *retry_after is set (seconds, else 0) when the reply is a 503 that the
 * HTTP layer must send with a Retry-After header; a 202 (pending) carries its own in
 * out->retry_after.
 */
void	brski_handle(struct brski *b, const char *path, int is_post, const char *content_type,
	    const unsigned char *body, size_t len, const struct registrar_peer *peer,
	    struct registrar_reply *out, unsigned *retry_after);

/* Status telemetry a pledge posts (RFC 8995 §5.7 voucher_status, §5.9.4 enrollstatus). */
struct brski_status {
	int	 ok;		/* "status" */
	char	 reason[256];	/* "reason", printable ASCII ('?' for the rest), may be "" */
	char	*context;	/* "reason-context" as compact JSON, or NULL */
};
/*
 * Parse a telemetry body (at most BRSKI_STATUS_MAX bytes of JSON with a boolean "status",
 * an optional string "reason" and any "reason-context"). 0, or -1 with the reason in err;
 * brski_status_free() after either.
 */
int	brski_status_parse(const unsigned char *body, size_t len, struct brski_status *st,
	    char *err, size_t errlen);
void	brski_status_free(struct brski_status *st);

/* A reply with a copy of body (len bytes) and the given Content-Type. */
void	brski_reply_body(struct registrar_reply *out, int status, const char *ctype,
	    const void *body, size_t len);

#endif
