/*
 * latchkeyd's processes and their shared state, in the shape of OpenBSD's rad and relayd:
 *
 *   latchkeyd.c  the parent: configuration and -n check, the listening socket, pre-forked
 *                workers sharing it, restarts of a worker that dies, the stop on SIGTERM.
 *   worker.c     one worker: its engines, its event loop; on worker 0 the once-per-daemon
 *                duties (CRL file, latches of revoked devices, mDNS announcements).
 *   frontend.c   HTTPS: TLS, connections and their deadlines, routing, the answers.
 *   registrar.c  the EST engine (every enrollment decision); brski.c and masa.c the
 *                BRSKI registrar side and the MASA; est.c the routes; config.c; log.c.
 *
 * Each worker has its own signer process (certs/signer.h), the only holder of the CA key,
 * and its own registry connection. This is the only folder whose code logs (log.h).
 */
#ifndef LATCHKEY_LATCHKEYD_H
#define LATCHKEY_LATCHKEYD_H

#include <stddef.h>
#include <openssl/types.h>

#include "enroll/latchkeyd/config.h"

struct registrar;
struct brski;
struct masa;
struct event_base;
struct evhttp;
struct event;
struct evconnlistener;
struct mdns_announce;
struct latchmgr;

/* One worker's state (a copy of the parent's, filled in after the fork). */
struct daemon {
	struct config		 cfg;
	SSL_CTX			*ctx;
	struct registrar	*reg;
	struct brski		*brski;		/* BRSKI registrar side (brski.c) */
	struct masa		*masa;		/* role = masa: the MASA (masa.c) */
	struct event_base	*base;
	struct evhttp		*http;
	unsigned long		 requests;
	unsigned		 worker;	/* index; worker 0 publishes the CRL file */
	struct event		*crl_timer;
	struct mdns_announce	*mdns;	/* worker 0 announces */
	struct latchmgr		*latch;	/* worker 0 keeps the latches (latch = yes) */
	struct evconnlistener	*listener;
	int			 http_fd;	/* http-listen socket, -1 when none */
	struct evhttp		*plain;		/* plain HTTP: CRL and OCSP only */
	struct evconnlistener	*plain_listener;
	struct event		*plain_sweep;	/* its connections' deadlines */
	struct event		*accept_pause;	/* re-enables accepting after EMFILE */
	struct event		*commit_ev;	/* group commit of the issued enrollments */
	struct event		*committed_ev;	/* the committer finished a batch */
	unsigned long		 commits, committed;
};

/* frontend.c */

/*
 * The server TLS context for cfg: TLS 1.3 preferred, 1.2 minimum, ECDHE with AEAD only, a
 * client certificate requested (and checked by the engines, not in the handshake). NULL
 * with err.
 */
SSL_CTX	*frontend_tls_setup(const struct config *cfg, char *err, size_t errlen);
/* Serve HTTPS on the listening socket fd in d->base (and start the registrar's group
 * committer). Start-up only: fatal on failure. */
void	 frontend_start(struct daemon *d, int fd);
/* Stopping: stop accepting, answer the enrollments whose commit is under way (200 ms). */
void	 frontend_drain(struct daemon *d);
void	 frontend_stop(struct daemon *d);
/* Retiring (stop or reload): stop accepting; each answer from now on closes its
 * connection. frontend_idle() is 1 once no connection is open and nothing is queued. */
void	 frontend_retire(struct daemon *d);
int	 frontend_idle(struct daemon *d);

/* admin.c: serve /healthz and /metrics on fd (admin-listen) until SIGTERM. */
int	 admin_run(const struct config *cfg, int fd);

/* worker.c: run one worker until SIGTERM/SIGINT; returns its exit status. */
int	 worker_run(struct daemon *d, int fd);
/* What the signers started next run as and bound (certs/signer.h, Privileges): cfg's
 * signer-user and validity limits; owner_uid, the user that talks to them. */
void	 worker_signer_configure(const struct config *cfg, uid_t owner_uid);

#endif
