/*
 * worker: one latchkeyd worker process (see latchkeyd.h): its engines (the registrar with
 * its signer and registry connection, and BRSKI; or the MASA), its event loop, and on
 * worker 0 the duties done once per daemon: the CRL file, the latches of revoked devices
 * and the mDNS announcements.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "certs/pki.h"
#include "certs/signer.h"
#include "enroll/latch/latchmgr.h"
#include "enroll/latchkeyd/brski.h"
#include "enroll/latchkeyd/latchkeyd.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/masa.h"
#include "enroll/latchkeyd/registrar.h"
#include "enroll/latchkeyd/stats.h"
#include "mdns/announce.h"
#include "mdns/txt.h"

static void
latch_log(void *arg, const char *line)
{
	(void)arg;
	log_info("latch: %s", line);
}

/* libevent's own messages, through our log and never more than a few a second. */
static void
libevent_log(int severity, const char *msg)
{
	static time_t last;
	static int n;
	time_t now = time(NULL);

	if (now != last) {
		last = now;
		n = 0;
	}
	if (++n > 5)
		return;
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

/* A latch binds: only a device whose binding is not revoked may hold one. */
static int
latch_admit(void *arg, const char *serial)
{
	struct daemon *d = arg;

	return registrar_binding_revoked(d->reg, serial) != 1;
}

/* Worker 0, latch = yes: the registrar side of RFC 5660 latches over charon's VICI. */
static void
latch_start(struct daemon *d)
{
	struct latchmgr_conf lc;
	char err[256] = "";

	memset(&lc, 0, sizeof(lc));
	lc.vici_uri = d->cfg.vici_socket[0] != '\0' ? d->cfg.vici_socket : NULL;
	lc.cert_file = d->cfg.tls_cert;
	lc.key_file = d->cfg.tls_key;
	lc.ca_file = d->cfg.ca_cert;
	lc.ca_file2 = d->cfg.prev_ca_cert[0] != '\0' ? d->cfg.prev_ca_cert : NULL;
	lc.local_addr = d->cfg.latch_local[0] != '\0' ? d->cfg.latch_local : NULL;
	lc.local_ts = d->cfg.latch_local_ts[0] != '\0' ? d->cfg.latch_local_ts : NULL;
	lc.remote_ts = d->cfg.latch_remote_ts[0] != '\0' ? d->cfg.latch_remote_ts : NULL;
	lc.tunnel = d->cfg.latch_tunnel;
	lc.disposition = (enum latch_disposition)d->cfg.latch_disposition;
	lc.state_file = d->cfg.latch_state[0] != '\0' ? d->cfg.latch_state : NULL;
	lc.control_path = d->cfg.latch_control[0] != '\0' ? d->cfg.latch_control : NULL;
	/* charon gets the domain CRL: a revoked LDevID fails IKE_AUTH (needs crl-file). */
	lc.crl_file = d->cfg.crl_file[0] != '\0' ? d->cfg.crl_file : NULL;
	lc.crl_file2 = d->cfg.prev_crl_file[0] != '\0' ? d->cfg.prev_crl_file : NULL;
	if ((d->latch = latchmgr_new(&lc, d->base, err, sizeof(err))) == NULL)
		fatalx("latch: %s", err);
	latchmgr_set_log(d->latch, latch_log, d);
	latchmgr_set_admit(d->latch, latch_admit, d);
	if (latchmgr_connected(d->latch))
		log_info("latch: manager connected to charon");
	else
		log_warnx("latch: charon not reachable yet%s%s (retrying)", err[0] ? ": " : "",
		    err);
}

/* A revocation closes the device's latches and terminates its SAs (RFC 5660 CLOSED). */
static void
latch_revocations(struct daemon *d)
{
	char *s, err[256];
	json_t *arr, *o;
	const char *serial, *state;
	size_t i;

	/* The CRL file changed: charon refuses the revoked LDevIDs from now on. */
	if (latchmgr_reload_crl(d->latch, err, sizeof(err)) == -1)
		log_warnx("latch: %s", err);
	if ((s = latchmgr_state_json(d->latch, NULL)) == NULL)
		return;
	arr = json_loads(s, 0, NULL);
	free(s);
	json_array_foreach(arr, i, o) {
		serial = json_string_value(json_object_get(o, "serial"));
		state = json_string_value(json_object_get(o, "state"));
		if (serial == NULL || serial[0] == '\0' || state == NULL ||
		    strcmp(state, "CLOSED") == 0 || registrar_binding_revoked(d->reg, serial) != 1)
			continue;
		if (latchmgr_close_device(d->latch, serial, err, sizeof(err)) < 0)
			log_warnx("latch: closing %s: %s", serial, err);
		else
			log_info("latch: %s revoked: latch closed, SAs terminated", serial);
	}
	json_decref(arr);
}

/*
 * Worker 0, every 250 ms: keep the CRL file current and close the latches of revoked
 * devices. Only another connection can revoke, so this costs one PRAGMA when nothing changed.
 */
static void
on_crl_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	char err[256];
	int rc;

	(void)fd;
	(void)ev;
	if ((rc = registrar_crl_publish(d->reg, d->cfg.crl_file, d->cfg.prev_crl_file, err,
	    sizeof(err))) == -1)
		log_warnx("CRL %s: %s", d->cfg.crl_file, err);
	else if (rc == 1) {
		if (d->cfg.crl_file[0] != '\0')
			log_debug("CRL written to %s", d->cfg.crl_file);
		if (d->latch != NULL)
			latch_revocations(d);
	}
}

/*
 * Worker 0, every second and at a clean stop: sign the audit chain's head when it moved
 * (registrar_checkpoint: every REGISTRAR_CKPT_ENTRIES entries or REGISTRAR_CKPT_SECS).
 */
static void
on_ckpt_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	char err[512];

	(void)fd;
	if (registrar_checkpoint(d->reg, d->cfg.audit_ckpt_file, ev == 0, err,
	    sizeof(err)) == -1)
		log_warnx("audit checkpoint: %s", err);
}

/*
 * The signer's lifecycle (registrar.h): once this worker's signer is lost, the worker stops
 * accepting (the backlog waits for the new worker, or other workers take it), answers for
 * SIGNER_GRACE_MS what is in flight (needing the signer: 500 at once), drains the group
 * commit and exits with REGISTRAR_EXIT_SIGNER_LOST; the parent starts a fresh worker.
 */
#define SIGNER_GRACE_MS		500
#define SIGNER_POLL_MS		1000	/* without a pidfd */

static int signer_gone;			/* this worker is being replaced */

static void
on_signer_check(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	struct timeval grace = { 0, SIGNER_GRACE_MS * 1000 };

	(void)fd;
	(void)ev;
	if (signer_gone || !registrar_signer_lost(d->reg))
		return;
	signer_gone = 1;
	log_warnx("the signer process (CA key holder) is gone: this worker stops accepting, "
	    "answers what is in flight and exits so that the parent replaces it");
	if (d->listener != NULL)
		evconnlistener_disable(d->listener);
	event_base_loopexit(d->base, &grace);
}

/* Watch signer i (0: the domain CA's, 1: the previous CA's after a rollover): its pidfd
 * (readable when it exits, including after a stall kill), or a poll of its state. */
static struct event *
signer_watch(struct daemon *d, size_t i)
{
	struct timeval tv = { 0, SIGNER_POLL_MS * 1000 };
	struct event *ev;
	int fd = registrar_signer_fd(d->reg, i);

	if (fd != -1)
		ev = event_new(d->base, fd, EV_READ, on_signer_check, d);
	else
		ev = event_new(d->base, -1, EV_PERSIST, on_signer_check, d);
	if (ev == NULL || event_add(ev, fd != -1 ? NULL : &tv) == -1)
		fatalx("cannot watch the signer process");
	return ev;
}

/*
 * The duties done once per daemon (see latchkeyd.h), by the worker holding
 * stats->duty_pid: worker 0, and across a reload the old worker 0 until it retires. A new
 * worker 0 waits for the old one to give them up (a second latch manager or mDNS
 * announcer beside the first would fight it).
 */
static struct event *ckpt_ev, *duty_wait_ev;
static int duties_held;

static void latch_start(struct daemon *d);
static struct mdns_announce *mdns_start(struct daemon *d);

static void
duties_start(struct daemon *d)
{
	duties_held = 1;
	if (d->reg != NULL && d->cfg.latch)
		latch_start(d);
	if (d->reg != NULL && (d->cfg.crl_file[0] != '\0' || d->latch)) {
		struct timeval tv = { 0, 250000 };

		if ((d->crl_timer = event_new(d->base, -1, EV_PERSIST, on_crl_timer, d)) == NULL ||
		    event_add(d->crl_timer, &tv) == -1)
			fatalx("cannot start the CRL timer");
		on_crl_timer(-1, 0, d);
	}
	if (d->reg != NULL) {
		struct timeval tv = { 1, 0 };

		if ((ckpt_ev = event_new(d->base, -1, EV_PERSIST, on_ckpt_timer, d)) == NULL ||
		    event_add(ckpt_ev, &tv) == -1)
			fatalx("cannot start the audit checkpoint timer");
	}
	if (d->cfg.mdns && d->cfg.role == CONFIG_ROLE_REGISTRAR)
		d->mdns = mdns_start(d);
}

/* Give the duties up: withdraw the mDNS services, sign the final audit head, end the
 * latch manager; then let the next worker 0 take them. */
static void
duties_stop(struct daemon *d, int final_ckpt)
{
	int32_t me = (int32_t)getpid();

	if (!duties_held)
		return;
	duties_held = 0;
	mdns_announce_free(d->mdns);	/* withdraws: goodbyes (RFC 6762 §10.1) */
	d->mdns = NULL;
	if (ckpt_ev != NULL) {
		if (final_ckpt)
			on_ckpt_timer(-1, 0, d);	/* a clean stop: the final head */
		event_free(ckpt_ev);
		ckpt_ev = NULL;
	}
	if (d->crl_timer != NULL)
		event_free(d->crl_timer);
	d->crl_timer = NULL;
	latchmgr_free(d->latch);
	d->latch = NULL;
	if (stats != NULL)
		atomic_compare_exchange_strong(&stats->duty_pid, &me, 0);
}

/* Take the duties once nobody holds them (every 100 ms until then). */
static void
on_duty_wait(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	int32_t none = 0;

	(void)fd;
	(void)ev;
	if (stats != NULL && !atomic_compare_exchange_strong(&stats->duty_pid, &none,
	    (int32_t)getpid())) {
		if (duty_wait_ev == NULL) {
			struct timeval tv = { 0, 100000 };

			log_info("worker 0 waits for the previous worker 0 to hand over its "
			    "duties (pid %d)", (int)none);
			if ((duty_wait_ev = event_new(d->base, -1, EV_PERSIST, on_duty_wait,
			    d)) == NULL || event_add(duty_wait_ev, &tv) == -1)
				fatalx("cannot start the duty timer");
		}
		return;
	}
	if (duty_wait_ev != NULL) {
		event_free(duty_wait_ev);
		duty_wait_ev = NULL;
	}
	duties_start(d);
}

/*
 * Health (stats.h): every STATS_BEAT_MS the registry's writability and a signer ping, into
 * this worker's slot. A signer that stalls is lost by the ping and the worker replaced.
 */
static int last_health = STATS_H_ALL;

static void
on_beat(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	char why[192] = "";
	int h = STATS_H_ALL;

	(void)fd;
	(void)ev;
	if (d->reg != NULL && signer_gone) {
		h = STATS_H_REGISTRY;
		snprintf(why, sizeof(why), "its signer (the CA key holder) was lost; the "
		    "worker is being replaced");
	} else if (d->reg != NULL)
		h = registrar_health(d->reg, why, sizeof(why));
	if (h != last_health) {	/* changes only: every 250 ms would flood the log */
		if (h != STATS_H_ALL)
			log_warnx("health check failed: %s", why);
		else
			log_info("health check passes again");
		last_health = h;
	}
	stats_beat(h, why);
	stats_detach_stdio();
}

/*
 * Stopping (SIGTERM, SIGINT) or replaced by a reload (SIGUSR2): give the duties up, stop
 * accepting (the listening socket stays open in the parent and the other workers, so
 * nothing is refused), answer what is in flight with "Connection: close", and end once no
 * connection is left or the grace is over: RETIRE_STOP_MS when stopping, the longest a
 * request may take when replaced. A second SIGTERM or SIGINT ends at once.
 */
#define RETIRE_STOP_MS		2000
#define RETIRE_CHECK_MS		50

static struct event *retire_ev;
static int64_t retire_deadline;

static void
on_retire_check(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)ev;
	if (frontend_idle(d) || stats_mono_ms() >= retire_deadline)
		event_base_loopexit(d->base, NULL);
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, RETIRE_CHECK_MS * 1000 };
	int64_t grace;

	(void)ev;
	if (retire_ev != NULL) {
		if (sig != SIGUSR2) {
			log_info("received signal %d again, stopping now", (int)sig);
			event_base_loopexit(d->base, NULL);
		}
		return;
	}
	grace = sig == SIGUSR2 ? (int64_t)(d->cfg.idle_timeout * 2 + d->cfg.masa_timeout) *
	    1000 : RETIRE_STOP_MS;
	log_info("%s: answering what is in flight (at most %lld ms)", sig == SIGUSR2 ?
	    "replaced by a reload" : "stopping", (long long)grace);
	retire_deadline = stats_mono_ms() + grace;
	/* replaced: hand the duties over now; stopping: after the last commit (the final
	 * audit checkpoint then covers it) */
	if (sig == SIGUSR2)
		duties_stop(d, !signer_gone);
	frontend_retire(d);
	if ((retire_ev = event_new(d->base, -1, EV_PERSIST, on_retire_check, d)) == NULL ||
	    event_add(retire_ev, &tv) == -1)
		event_base_loopexit(d->base, NULL);
	else
		on_retire_check(-1, 0, d);
}

/* The announcer's state changes, logged here (library code does not log). */
static void
mdns_status(void *arg, enum mdns_announce_state st, const char *msg)
{
	(void)arg;
	switch (st) {
	case MDNS_ANNOUNCE_ERROR:
	case MDNS_ANNOUNCE_DISCONNECTED:
		log_warnx("mdns: %s", msg);
		break;
	case MDNS_ANNOUNCE_ESTABLISHED:
	case MDNS_ANNOUNCE_COLLISION:
		log_info("mdns: %s", msg);
		break;
	default:
		log_debug("mdns: %s", msg);
		break;
	}
}

/*
 * Announce the registrar over mDNS: _brski-registrar._tcp and, as its own join proxy on this
 * link, _brski-proxy._tcp (RFC 8995 §4.1, §4.2), plus the configured posture and update
 * servers, with TXT txtvers, rt, path, pri, dom, cafp (mdns/txt.h). Announced over the IP
 * version the registrar listens on; not in the MASA role (it is no registrar). Only a bad configuration is fatal; a missing
 * avahi-daemon is waited for (and a restarted one re-registered) by the announcer.
 */
static struct mdns_announce *
mdns_start(struct daemon *d)
{
	struct mdns_service s[4];
	struct mdns_announce *a;
	struct in6_addr a6;
	struct in_addr a4;
	X509 *ca;
	char name[MDNS_NAME_MAX + 1], fp[PKI_FP_LEN], err[512];
	char paths[2][CONFIG_URL];
	int family = AF_UNSPEC;
	size_t i, n = 0;

	if (d->cfg.mdns_name[0] != '\0')
		snprintf(name, sizeof(name), "%s", d->cfg.mdns_name);
	else
		snprintf(name, sizeof(name), "latchkey registrar %.44s", d->cfg.domain);
	if ((ca = pki_cert_read(d->cfg.ca_cert, err, sizeof(err))) == NULL ||
	    pki_cert_fingerprint(ca, fp) == -1)
		fatalx("mdns: cannot fingerprint the domain CA %s", d->cfg.ca_cert);
	X509_free(ca);
	if (inet_pton(AF_INET, d->cfg.listen_addr, &a4) == 1) {
		family = AF_INET;
		if ((ntohl(a4.s_addr) >> 24) == 127)
			log_warnx("mdns: listening on loopback %s: devices cannot reach it",
			    d->cfg.listen_addr);
	} else if (inet_pton(AF_INET6, d->cfg.listen_addr, &a6) == 1 &&
	    !IN6_IS_ADDR_UNSPECIFIED(&a6))
		family = AF_INET6;
	memset(s, 0, sizeof(s));
	for (i = 0; i < 2; i++) {
		s[n].type = i == 0 ? MDNS_TYPE_REGISTRAR : MDNS_TYPE_PROXY;
		s[n].port = d->cfg.listen_port;
		s[n].family = family;
		/* RFC 8995 §5: voucher requests are served in the registrar role. */
		s[n].rt = d->brski != NULL ? TXT_RT_EST_TLS "," TXT_RT_BRSKI : TXT_RT_EST_TLS;
		s[n].path = TXT_DEFAULT_PATH;
		s[n].pri = TXT_DEFAULT_PRI;
		s[n].dom = d->cfg.domain;
		s[n].cafp = fp;
		n++;
	}
	for (i = 0; i < 2; i++) {
		const char *url = i == 0 ? d->cfg.posture_url : d->cfg.update_url;

		if (url[0] == '\0')
			continue;
		s[n].type = i == 0 ? MDNS_TYPE_POSTURE : MDNS_TYPE_UPDATE;
		s[n].family = AF_UNSPEC;
		s[n].pri = -1;
		s[n].dom = d->cfg.domain;
		s[n].cafp = fp;
		if (mdns_service_set_url(&s[n], url, paths[i], sizeof(paths[i]), err,
		    sizeof(err)) == -1)
			fatalx("mdns: %s", err);
		n++;
	}
	if ((a = mdns_announce_new(d->base, name, s, n, mdns_status, d, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	return a;
}

/* Worker 0 with latch = yes keeps root: charon's VICI socket, the TLS key it hands charon
 * on every reconnect, and the TCP resets of a broken latch all need it. */
static int
worker_keeps_root(const struct daemon *d)
{
	return !d->cfg.drop || (d->worker == 0 && d->cfg.latch &&
	    d->cfg.role == CONFIG_ROLE_REGISTRAR);
}

void
worker_signer_configure(const struct config *cfg, uid_t owner_uid)
{
	struct signer_conf sc;

	memset(&sc, 0, sizeof(sc));
	sc.drop = cfg->signer_drop;
	sc.uid = cfg->signer_uid;
	sc.gid = cfg->signer_gid;
	sc.owner_uid = owner_uid;
	snprintf(sc.user, sizeof(sc.user), "%s", cfg->signer_user);
	sc.crl_max_hours = cfg->crl_max_validity;
	sc.ocsp_max_hours = cfg->ocsp_max_validity;
	signer_configure(&sc);
}

/*
 * Switch to the workers' user for good (latchkeyd(8), PRIVILEGES): after the signer was
 * forked (it read the CA key as root), the registry or MASA database opened and the TLS key
 * loaded (the parent's SSL_CTX); before any thread and any request. No supplementary
 * groups, gid then uid; then root must be out of reach and the CA key unreadable.
 */
static void
worker_privdrop(struct daemon *d)
{
	uid_t ru, eu, su, uid = d->cfg.uid;
	gid_t rg, eg, sg, gid = d->cfg.gid;
	int fd;

	if (worker_keeps_root(d)) {
		if (d->cfg.drop)
			log_warnx("latch = yes: worker 0 keeps root for charon (its VICI socket, "
			    "the TLS key, TCP resets); the other workers run as %s",
			    d->cfg.user);
		return;
	}
	if (setgroups(0, NULL) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		fatal("cannot switch to user %s", d->cfg.user);
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid ||
	    getgroups(0, NULL) != 0)
		fatalx("user %s: credentials not as set", d->cfg.user);
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1)
		fatalx("user %s could regain root", d->cfg.user);
	/* a change of credentials clears the parent-death signal: set it again */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		exit(1);
	if (d->reg != NULL && (fd = open(d->cfg.ca_key, O_RDONLY | O_CLOEXEC)) != -1) {
		close(fd);
		fatalx("the CA key %s is readable by user %s, the workers' user", d->cfg.ca_key,
		    d->cfg.user);
	}
	log_debug("worker %u runs as %s (uid %u, gid %u)", d->worker, d->cfg.user,
	    (unsigned)uid, (unsigned)gid);
}

/* One worker: its own engines and event loop, until SIGTERM or SIGINT. */
int
worker_run(struct daemon *d, int fd)
{
	struct event *sigterm = NULL, *sigint = NULL, *sigusr2 = NULL, *signer_ev = NULL;
	struct event *prev_signer_ev = NULL;
	struct event *beat_ev = NULL;
	struct event_config *evcfg;
	struct timeval beat = { 0, STATS_BEAT_MS * 1000 };
	char err[512];

	signal(SIGHUP, SIG_IGN);	/* the parent's: reload */
	if (stats != NULL)
		stats_me = &stats->slot[d->worker];

	if (d->cfg.role == CONFIG_ROLE_MASA) {
		if ((d->masa = masa_new(&d->cfg, err, sizeof(err))) == NULL)
			fatalx("%s", err);
	} else {
		worker_signer_configure(&d->cfg, worker_keeps_root(d) ? 0 : d->cfg.uid);
		if ((d->reg = registrar_new(&d->cfg, err, sizeof(err))) == NULL)
			fatalx("%s", err);
		if ((d->brski = brski_new(&d->cfg, d->reg, err, sizeof(err))) == NULL)
			fatalx("%s", err);
	}
	worker_privdrop(d);
	/* the MASA's workers hold its key themselves: it must sign as this user too */
	if (d->masa != NULL && masa_key_probe(d->masa, err, sizeof(err)) == -1)
		fatalx("%s", err);
	event_set_log_callback(libevent_log);
	/*
	 * The epoll changelist folds the changes one loop pass makes to a descriptor into one
	 * epoll_ctl: a TLS connection's read/write toggling cost ten calls per enrollment, now
	 * about half. (Its caveat, descriptors shared through dup(), does not arise here.)
	 */
	if ((evcfg = event_config_new()) == NULL ||
	    event_config_set_flag(evcfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) != 0 ||
	    (d->base = event_base_new_with_config(evcfg)) == NULL)
		fatalx("libevent initialisation failed");
	event_config_free(evcfg);
	frontend_start(d, fd);
	if (d->reg != NULL)
		signer_ev = signer_watch(d, 0);
	if (d->reg != NULL && d->cfg.prev_ca_cert[0] != '\0')
		prev_signer_ev = signer_watch(d, 1);
	sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
	sigint = evsignal_new(d->base, SIGINT, on_signal, d);
	sigusr2 = evsignal_new(d->base, SIGUSR2, on_signal, d);
	if (sigterm == NULL || sigint == NULL || sigusr2 == NULL || event_add(sigterm, NULL) ||
	    event_add(sigint, NULL) || event_add(sigusr2, NULL))
		fatalx("cannot install signal handlers");
	if ((beat_ev = event_new(d->base, -1, EV_PERSIST, on_beat, d)) == NULL ||
	    event_add(beat_ev, &beat) == -1)
		fatalx("cannot start the health check");
	on_beat(-1, 0, d);
	if (d->worker == 0)
		on_duty_wait(-1, 0, d);

	event_base_dispatch(d->base);
	frontend_drain(d);
	duties_stop(d, !signer_gone);

	event_free(sigterm);
	event_free(sigint);
	event_free(sigusr2);
	event_free(beat_ev);
	if (retire_ev != NULL)
		event_free(retire_ev);
	if (duty_wait_ev != NULL)
		event_free(duty_wait_ev);
	if (signer_ev != NULL)
		event_free(signer_ev);
	if (prev_signer_ev != NULL)
		event_free(prev_signer_ev);
	frontend_stop(d);
	event_base_free(d->base);
	brski_free(d->brski);		/* borrows the registrar's IDevID store */
	registrar_free(d->reg);
	masa_free(d->masa);
	SSL_CTX_free(d->ctx);
	log_info("worker stopped after %lu requests; %lu enrollments in %lu commits%s",
	    d->requests, d->committed, d->commits, signer_gone ? " (signer lost)" : "");
	return signer_gone ? REGISTRAR_EXIT_SIGNER_LOST : 0;
}
