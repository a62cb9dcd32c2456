/*
 * latchmgr: the registrar's latch manager (for latchkeyd, and `latchkey latch --respond`).
 * It runs charon (charon.h) in responder mode inside a libevent loop: loads the
 * registrar's connection into charon, keeps one latch per device peer, applies the
 * disposition on BROKEN, reconnects to charon when it restarts, and
 *  - writes the state of every latch to a JSON file after each change (state_file), which
 *    `latchkeyctl show` and `latchkey status` read with statefile.h;
 *  - gives charon the domain CRL (crl_file) so that a revoked LDevID fails IKE_AUTH;
 *  - optionally listens on a unix control socket (control_path, mode 0600) for one-line
 *    requests: "close SERIAL" (revocation: latch CLOSED, SAs terminated, RSTs sent) and
 *    "show [SERIAL]"; the answer is one line of JSON.
 */
#ifndef LATCHKEY_LATCHMGR_H
#define LATCHKEY_LATCHMGR_H

#include <stddef.h>

#include "enroll/latch/latch.h"

struct event_base;

struct latchmgr_conf {
	const char	*vici_uri;	/* NULL = charon's default socket */
	const char	*name;		/* charon connection name; NULL = "latchkey-registrar" */
	const char	*cert_file;	/* the registrar's certificate (domain CA issued), PEM */
	const char	*key_file;	/* its key, PEM */
	const char	*ca_file;	/* the domain CA, PEM */
	const char	*ca_file2;	/* the previous domain CA after a rollover; NULL = none */
	const char	*local_addr;	/* outer address to accept IKE on; NULL = any */
	const char	*local_ts;	/* tunnel mode (test bed): our inner selector */
	const char	*remote_ts;	/* tunnel mode: the peers' inner selectors */
	int		 tunnel;
	enum latch_disposition disposition;	/* default reset */
	const char	*state_file;	/* NULL = none */
	const char	*control_path;	/* NULL = none */
	const char	*crl_file;	/* the domain CRL (latchkeyd's crl-file), loaded into
					   charon on connect and whenever it changes; NULL = none */
	const char	*crl_file2;	/* the previous domain CA's CRL, likewise */
};

struct latchmgr;

/* Called on every latch transition with a one-line description (for the daemon's log). */
typedef void	 latchmgr_log_cb(void *arg, const char *line);

/*
 * Create the manager on base. Connects to charon at once; if charon is not there yet, err
 * says why and the manager retries every 2 s (the result is still non-NULL). Returns NULL
 * only on bad configuration or when the control socket cannot be bound.
 */
struct latchmgr	*latchmgr_new(const struct latchmgr_conf *conf, struct event_base *base,
		    char *err, size_t errlen);
void		 latchmgr_free(struct latchmgr *m);
void		 latchmgr_set_log(struct latchmgr *m, latchmgr_log_cb *cb, void *arg);
/*
 * Admission of each latch as it binds: cb(arg, serial) returns 0 for a device that must not
 * hold a latch (its binding revoked), which is then closed as latchmgr_close_device() does,
 * right after (from the event loop). charon refuses a revoked LDevID itself through the
 * CRL; this covers what its CRL cannot: charon keeps one CRL per issuer name, and after a
 * domain CA rollover (same subject, two keys) the two CAs' CRLs share it.
 */
typedef int	 latchmgr_admit_cb(void *arg, const char *serial);
void		 latchmgr_set_admit(struct latchmgr *m, latchmgr_admit_cb *cb, void *arg);
/* 1 while connected to charon with the connection loaded. */
int		 latchmgr_connected(const struct latchmgr *m);

/*
 * Revocation: close every latch of the device with this serial (RFC 5660 ADMIN_CLOSE),
 * terminate its IKE SAs and refuse to latch it again. Returns the number of latches closed
 * (0 if it had none), -1 on error.
 */
int		 latchmgr_close_device(struct latchmgr *m, const char *serial, char *err,
		    size_t errlen);

/*
 * Load the CRL file into charon now (after a revocation, before closing the device's
 * latches: a revoked device that comes back then fails IKE_AUTH in charon). 0, or -1 with
 * err (not connected counts as 0: the next connect loads it).
 */
int		 latchmgr_reload_crl(struct latchmgr *m, char *err, size_t errlen);

/* JSON array of the latches (of one serial, or all when serial is NULL); caller frees. */
char		*latchmgr_state_json(const struct latchmgr *m, const char *serial);

#endif
