/*
 * onboard: zero-touch onboarding on first boot (`latchkey onboard`), callable without the
 * CLI. A device that holds only its IDevID and its manufacturer's MASA anchor finds a
 * registrar, obtains a voucher (RFC 8995 §5), enrolls over EST (RFC 7030) and ends BOUND.
 *
 * The steps form a resumable state machine persisted in the state directory:
 *
 *	DISCOVER -> VOUCHER -> ENROLL -> (LATCH, when configured) -> BOUND
 *
 *   DISCOVER  candidates from the DHCP env files the contrib client scripts write (option
 *             143/136 URIs in order, RFC 8572 §8.3; the vendor option's posture/update URIs
 *             and registrar CA fingerprint hint), else from mDNS (_brski-registrar._tcp,
 *             _brski-proxy._tcp, RFC 8995 §4.1). DHCP wins when both answer.
 *   VOUCHER   agent_enroll() on the voucher path against each candidate in order: provisional
 *             TLS, voucher-request, voucher verified against the MASA anchor. The moment the
 *             agent has written the accepted voucher (ONBOARD_FILE_VOUCHER) the state moves
 *             to ENROLL, while the same agent call continues with the enrollment.
 *   ENROLL    (reached on resume) the stored voucher is verified again against the MASA
 *             anchor and the device serial; its pinned-domain-cert becomes the only trust
 *             anchor (ONBOARD_FILE_PINNED) for agent_enroll() with a CA file. If that fails
 *             the next round starts over from DISCOVER with a new voucher.
 *   LATCH     reserved for latching after enrollment; the run never enters it today
 *             (`latchkey latch` latches separately).
 *   BOUND     LDevID, key and domain CA are in the state directory (agent.h's files), the
 *             ONBOARD_FILE_BOUND marker exists. Running again does nothing.
 *
 * The state file (ONBOARD_FILE_STATE, JSON) is written atomically (temporary file, fsync,
 * rename, fsync of the directory) before the next step starts, so a crash or reboot
 * resumes where it stopped. A crash after the agent wrote the LDevID but before the state
 * said so is noticed on the next run (enrollment.json + ldevid.pem present) and ends BOUND.
 *
 * When every candidate of a round failed, the run waits onboard_backoff_ms() and starts a
 * new round with a fresh discovery: exponential back-off doubling from 1 s up to a bound
 * (RFC 8995 §4.1 doubles up to an hour), with jitter so that a fleet powered up together
 * does not retry in lock step.
 *
 * Library rules: nothing here prints or exits. Progress goes to the caller's callback
 * (agent.h's AGENT_INFO / AGENT_DEBUG levels); failures return -1 with one line in err.
 */
#ifndef LATCHKEY_ONBOARD_H
#define LATCHKEY_ONBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "enroll/agent/discover.h"
#include "enroll/agent/hook.h"

#define ONBOARD_STATE_DIR_DEFAULT	"/var/lib/latchkey"
#define ONBOARD_ETC_DIR			"/etc/latchkey"

/* Files in the state directory (besides agent.h's ldevid.*, domain-ca.pem, ...). */
#define ONBOARD_FILE_STATE	"onboard.json"
#define ONBOARD_FILE_BOUND	"bound"		/* marker for systemd's ConditionPathExists */
#define ONBOARD_FILE_LOCK	"onboard.lock"
#define ONBOARD_FILE_PINNED	"pinned-domain-cert.pem"
#define ONBOARD_FILE_VOUCHER	"voucher.cms"	/* = AGENT_FILE_VOUCHER */

#define ONBOARD_STATE_MAX	(64 * 1024)	/* larger state files are refused */
#define ONBOARD_ERR_MAX		512

#define ONBOARD_BACKOFF_BASE_MS		1000u
#define ONBOARD_MAX_BACKOFF_DEFAULT	3600u	/* s, RFC 8995 §4.1 */

enum onboard_state {
	ONBOARD_DISCOVER = 0,
	ONBOARD_VOUCHER,
	ONBOARD_ENROLL,
	ONBOARD_LATCH,
	ONBOARD_BOUND
};

/* The persisted record (ONBOARD_FILE_STATE). Strings are "" when unknown. */
struct onboard_record {
	enum onboard_state	 state;
	int64_t			 started_at;	/* first run, seconds since the epoch */
	int64_t			 updated_at;
	int64_t			 bound_at_ms;	/* ms since the epoch; 0 until BOUND */
	int64_t			 renewed_at;
	int64_t			 renew_due;	/* LDevID notBefore + 2/3 of its lifetime */
	unsigned		 rounds;	/* discovery rounds so far */
	char			 registrar[DISCOVER_URL_MAX];
	char			 source[8];	/* "dhcp" or "mdns" */
	char			 domain[256];
	char			 device_serial[64];
	char			 ldevid_serial[64];
	char			 not_after[32];
	char			 domain_ca_fp[80];
	char			 pinned_fp[80];
	char			 ca_hint[80];
	char			 latch[32];	/* "not configured" */
	char			 last_error[ONBOARD_ERR_MAX];
	char			 deploy_hook[HOOK_CMD_MAX];	/* run after each renewal;
							 * "" none (hook.h) */
	struct discovery disc;		/* the last discovery's result */
};

struct onboard_opts {
	const char		*state_dir;	/* required */
	const char		*idevid_cert;	/* required */
	const char		*idevid_key;	/* required */
	const char		*masa_anchor;	/* required */
	const char *const	*dhcp_env;	/* env files; n_dhcp_env == 0: dhcp_glob */
	size_t			 n_dhcp_env;
	const char		*dhcp_glob;	/* NULL: DISCOVER_DHCP_GLOB_DEFAULT */
	int			 no_mdns;
	unsigned		 mdns_timeout_ms;	/* 0: default */
	unsigned		 max_backoff_s;		/* 0: default; bound of the doubling */
	unsigned		 timeout_s;		/* whole run; 0 = until BOUND */
	unsigned		 attempt_timeout_s;	/* one agent exchange; 0: agent default */
	unsigned		 pause_after_voucher_s;	/* testing: sleep once the voucher is
							 * stored (to kill the agent there) */
	const char		*deploy_hook;	/* recorded in the state file as the command
						 * run after each renewal ("" forgets it);
						 * NULL: keep the recorded one */
	unsigned		 hook_timeout_s;	/* 0: HOOK_TIMEOUT_DEFAULT */
	int			 key_store;	/* enum agent_key_store (agent.h) */
	const char		*tpm_tcti;	/* the TPM of TPM keys (agent.h); NULL default */
	void			(*progress)(void *arg, int level, const char *line);
	void			*progress_arg;
};

/* onboard_run() / onboard_renew() results besides -1. */
#define ONBOARD_RC_BOUND	0	/* reached BOUND in this run */
#define ONBOARD_RC_ALREADY	1	/* was bound already; nothing done */
#define ONBOARD_RC_TIMEOUT	2	/* --timeout ran out; state kept for the next run */
#define ONBOARD_RC_BUSY		3	/* another run holds the state directory's lock */
#define ONBOARD_RC_NOT_DUE	4	/* renew: not yet due */
#define ONBOARD_RC_RENEWED	5	/* renew: re-enrolled */
#define ONBOARD_RC_HOOK_FAILED	6	/* renew: re-enrolled, but the deploy hook failed */

/* "discover", "voucher", "enroll", "latch", "bound"; and back (0, or -1 unknown). */
const char	*onboard_state_name(enum onboard_state s);
int		 onboard_state_parse(const char *s, enum onboard_state *out);

void	onboard_record_init(struct onboard_record *r);
/*
 * Write r as ONBOARD_FILE_STATE in dir: temporary file (0600), fsync, rename, fsync of the
 * directory. 0 or -1 with err.
 */
int	onboard_record_write(const char *dir, const struct onboard_record *r, char *err,
	    size_t errlen);
/* Read dir's state file into r (initialised first). 1 read, 0 no file, -1 with err
 * (unreadable, too large, not our JSON). */
int	onboard_record_read(const char *dir, struct onboard_record *r, char *err,
	    size_t errlen);

/*
 * Back-off before round attempt+1 after attempt (0-based) failed rounds: the ceiling is
 * base_ms doubled attempt times, capped at max_ms; the result is drawn from
 * [ceiling / 2, ceiling] with rnd (any 32-bit random value) so that devices spread out.
 * Pure.
 */
uint64_t onboard_backoff_ms(unsigned attempt, uint64_t base_ms, uint64_t max_ms,
	    uint32_t rnd);

/*
 * Renewal time of a certificate valid from not_before to not_after: two thirds of its
 * lifetime (DESIGN.md "After"). Pure.
 */
int64_t	onboard_renew_due(int64_t not_before, int64_t not_after);

/*
 * Run (or resume) the state machine until BOUND, the timeout, or a fatal error (a
 * missing or unreadable IDevID, key or MASA anchor; an unwritable state directory).
 * rec receives the final record. Returns ONBOARD_RC_BOUND, _ALREADY, _TIMEOUT, _BUSY or
 * -1 with err.
 */
int	onboard_run(const struct onboard_opts *o, struct onboard_record *rec, char *err,
	    size_t errlen);

/*
 * Renewal: if the LDevID in the state directory has passed two thirds of its lifetime (or
 * force), re-enroll with it (agent_reenroll(), retrying with back-off within o->timeout_s)
 * and record it; else set *due and return ONBOARD_RC_NOT_DUE. Needs a BOUND state.
 * After a renewal, still holding the state directory's lock: the recorded deploy hook
 * (hook_run_renewed(); a failure leaves the new LDevID in place and returns
 * ONBOARD_RC_HOOK_FAILED with err saying how), then one use of the new LDevID
 * (agent_confirm(): the registrar revokes the LDevIDs it supersedes; a failure is only
 * reported as progress). onboard_run() confirms the same way when it reaches BOUND.
 * Returns ONBOARD_RC_RENEWED, _HOOK_FAILED, _NOT_DUE, _TIMEOUT, _BUSY or -1 with err.
 */
int	onboard_renew(const struct onboard_opts *o, int force, struct onboard_record *rec,
	    int64_t *due, char *err, size_t errlen);

#endif
