/*
 * latchkeyd: the latchkey registrar, the parent process (see latchkeyd.h). It reads the
 * configuration, checks it (-n), makes the listening socket, and pre-forks the workers
 * (worker.c) that serve HTTPS (frontend.c) and decide every request in their engines
 * (registrar.c, brski.c, masa.c); the CA key lives only in each worker's signer process
 * (certs/signer.c). The parent holds no key and no registry connection.
 */
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libgen.h>
#include <openssl/ssl.h>

#include "certs/pki.h"

#include "enroll/latchkeyd/brski.h"
#include "enroll/latchkeyd/latchkeyd.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/masa.h"
#include "enroll/latchkeyd/registrar.h"

static void __attribute__((noreturn))
usage(FILE *f, int status)
{
	fprintf(f,
"usage: latchkeyd [-dnv] -f CONFIG\n"
"\n"
"latchkeyd is the latchkey registrar: it serves EST (RFC 7030) and BRSKI (RFC 8995) over\n"
"HTTPS, with CRL and OCSP (RFC 6960) for the LDevIDs it issued; with role = masa it is the\n"
"manufacturer's voucher service (MASA) instead. As registrar it serves EST under\n"
"/.well-known/est/ (cacerts, csrattrs, simpleenroll, simplereenroll, with an optional\n"
"label segment), authenticates devices by their IEEE 802.1AR IDevID, checks that the owner\n"
"domain has claimed them, issues LDevIDs from the domain CA and records every binding in\n"
"the registry before answering.\n"
"\n"
"options:\n"
"  -d          stay in the foreground and log to stderr (default: daemonize, syslog)\n"
"  -f CONFIG   configuration file (written by `latchkeyctl init`); keywords below\n"
"  -n          check the configuration, certificates and keys, then exit\n"
"  -v          verbose logging (repeat for more)\n"
"  -h          this help\n"
"\n"
"configuration keywords (\"keyword = value\", '#' comments, relative paths are relative\n"
"to the configuration file):\n"
"  listen = ADDR:PORT            address to serve on (default 127.0.0.1:8443)\n"
"  domain = NAME                 owner domain name (required)\n"
"  ca-cert, ca-key = FILE        domain CA; the key is read only by the signer process\n"
"  tls-cert, tls-key = FILE      registrar TLS certificate (chain) and key\n"
"  registry = FILE               SQLite registry (latchkeyctl init creates it)\n"
"  manufacturer-ca = FILE        IDevID trust anchor; repeat for several manufacturers\n"
"  manufacturer-crl = FILE       a manufacturer's CRL (PEM or DER); repeatable\n"
"  auto-accept = FILE|sha256:HEX  lab policy: enroll valid IDevIDs that chain to this\n"
"                                anchor (certificate file or its fingerprint) without a\n"
"                                claim; logged and audited as such\n"
"  channel-binding = required|optional   RFC 7030 3.5 binding in the CSR (default required)\n"
"  ldevid-lifetime-days = N      LDevID lifetime (default 365)\n"
"  crl-url, ocsp-url = URL       written into issued LDevIDs (default none)\n"
"  crl-file = FILE|none          the CRL, kept current by latchkeyd (default crl.der beside\n"
"                                the registry); also served at /.well-known/latchkey/crl\n"
"  max-body = BYTES              largest request body (default 65536; larger gets 413)\n"
"  idle-timeout = SECONDS        drop a client silent this long (default 10); a client\n"
"                                must also complete each request within twice this\n"
"  registry-sync = full|normal   full: every answered enrollment is synced to disk first,\n"
"                                in group commits (default); normal: faster, a power\n"
"                                loss may lose the last ones, never consistency\n"
"  mdns = yes|no                 announce _brski-registrar._tcp and _brski-proxy._tcp\n"
"                                over mDNS through avahi-daemon (default no)\n"
"  mdns-name = NAME              DNS-SD instance name (default \"latchkey registrar\n"
"                                DOMAIN\"); \"NAME #2\"... when the name is taken\n"
"  posture-url, update-url = URL with mdns: also announce _latchkey-posture._tcp or\n"
"                                _latchkey-update._tcp (port and path of URL, this host)\n"
"  role = registrar|masa         masa: serve the manufacturer's voucher service under\n"
"                                /.well-known/brski/ instead of EST (default registrar)\n"
"  masa-url = URL                the MASA of devices whose IDevID has no id-pe-masa-url\n"
"  masa-ca = FILE                anchors for the MASA's TLS certificate and vouchers\n"
"                                (default: the manufacturer-ca files); repeatable\n"
"  masa-retry-after = SECONDS    Retry-After of the 503 sent while the MASA is\n"
"                                unreachable (default 5)\n"
"  masa-timeout = SECONDS        limit of one MASA request (default 10, 1 to 300)\n"
"  masa-db, masa-cert, masa-key = FILE   role masa: sales records and the voucher\n"
"                                signing certificate and key\n"
"  latch = yes|no                RFC 5660 connection latching over strongSwan (default no);\n"
"                                a revoked device's latches close, its SAs end\n"
"  vici-socket = URI             charon's VICI socket (default unix:///var/run/charon.vici)\n"
"  latch-state = FILE            latch states for latchkeyctl show (default\n"
"                                latch-state.json beside the registry)\n"
"  latch-control = FILE          optional control socket: \"close SERIAL\", \"show\"\n"
"  latch-disposition = reset|wait|unreachable   on a broken latch (default reset)\n"
"  latch-local = ADDR            accept IKE only on ADDR (default any)\n"
"  latch-mode = transport|tunnel ESP mode (default transport; tunnel: test beds)\n"
"  latch-local-ts, latch-remote-ts = CIDR   tunnel mode traffic selectors\n"
"  workers = N                   worker processes sharing the socket (default 0: one per\n"
"                                CPU); each has its own signer and registry connection\n"
"\n"
"TLS: 1.3 preferred, 1.2 minimum, ECDHE only; a client certificate is requested and\n"
"checked by the registrar (IDevID for simpleenroll, LDevID for simplereenroll).\n"
"\n"
"exit status: 0 on a clean stop (SIGTERM/SIGINT) or a good -n check, 1 on errors,\n"
"2 on usage errors.\n"
"\n"
"see also: latchkeyctl(8), latchkey(8); standards: RFC 7030, RFC 8995, RFC 8366,\n"
"RFC 5280, RFC 6960, RFC 9266, RFC 5929, RFC 5660, RFC 6762, RFC 6763, IEEE 802.1AR.\n");
	exit(status);
}

/* Many idle or slow clients must not exhaust descriptors: take the hard limit. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit");
	}
}

/* The listening socket, made once by the parent and shared by every worker. */
static int
listen_socket(const struct config *cfg, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", cfg->listen_port);
	if ((rc = getaddrinfo(cfg->listen_addr, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen %.200s: %s", cfg->listen_addr, gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, 1024) == -1) {
		snprintf(err, errlen, "cannot listen on %.200s port %u: %s", cfg->listen_addr,
		    cfg->listen_port, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static pid_t
worker_spawn(struct daemon *d, int fd, const sigset_t *oldmask)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* a worker never outlives the parent, even one killed with SIGKILL */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			exit(1);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		exit(worker_run(d, fd));
	}
	if (pid == -1)
		log_warn("fork");
	return pid;
}

/*
 * A worker that exits with REGISTRAR_EXIT_SIGNER_LOST lost its signer (registrar.h) and asks
 * to be replaced: after a back-off that doubles from RESTART_MIN_MS for each such exit
 * within RESTART_RESET_MS of the worker's start, bounded by RESTART_MAX_MS. It is not the
 * crash loop below: a signer can be OOM-killed or stall at any time, and latchkeyd must
 * come back from it without an operator.
 */
#define RESTART_MIN_MS		100
#define RESTART_MAX_MS		5000
#define RESTART_RESET_MS	10000
#define RESTART_FORK_MS		1000	/* fork failed: try again */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The back-off before the fails-th replacement in a row (1, 2, ...). */
static int64_t
restart_delay(unsigned fails)
{
	int64_t ms = RESTART_MIN_MS;

	while (fails-- > 1 && ms < RESTART_MAX_MS)
		ms *= 2;
	return ms < RESTART_MAX_MS ? ms : RESTART_MAX_MS;
}

/*
 * Pre-forked workers share the listening socket (one event loop per core: OpenSSL 3.0 scales
 * far better across processes than across threads). The parent holds no key and no registry;
 * it restarts a worker that dies (one whose signer was lost after a back-off, above) and
 * stops them all on SIGTERM/SIGINT. One worker is supervised too, so that it can be replaced.
 */
static int
supervise(struct daemon *d, int fd, unsigned n)
{
	pid_t *pids = calloc(n, sizeof(*pids));
	int64_t *started = calloc(n, sizeof(*started));
	int64_t *due = calloc(n, sizeof(*due));	/* > 0: start slot i then */
	unsigned *fails = calloc(n, sizeof(*fails));
	struct timespec ts;
	sigset_t set, old;
	unsigned i, j, alive;
	int sig, stopping = 0, failed = 0, status;
	int64_t now, next, lived;
	pid_t pid;

	if (pids == NULL || started == NULL || due == NULL || fails == NULL)
		fatalx("out of memory");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (i = 0; i < n; i++) {
		d->worker = i;
		if ((pids[i] = worker_spawn(d, fd, &old)) == -1)
			fatalx("cannot start workers");
		started[i] = mono_ms();
	}
	for (;;) {
		for (i = 0, next = 0; i < n; i++)
			if (!stopping && pids[i] <= 0 && due[i] > 0 && (next == 0 || due[i] < next))
				next = due[i];
		if (next == 0) {
			if (sigwait(&set, &sig) != 0)
				continue;
		} else {
			now = mono_ms();
			next = next > now ? next - now : 0;
			ts.tv_sec = next / 1000;
			ts.tv_nsec = (long)(next % 1000) * 1000000;
			if ((sig = sigtimedwait(&set, NULL, &ts)) == -1) {
				if (errno != EAGAIN)
					continue;
				sig = 0;	/* a restart is due */
			}
		}
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("received signal %d, stopping %u workers", sig, n);
			stopping = 1;
			for (i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGTERM);
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (i = 0; i < n && pids[i] != pid; i++)
				;
			if (i == n)
				continue;	/* not a worker */
			pids[i] = 0;
			if (stopping)
				continue;
			now = mono_ms();
			lived = now - started[i];
			if (WIFEXITED(status) && WEXITSTATUS(status) == REGISTRAR_EXIT_SIGNER_LOST) {
				fails[i] = lived < RESTART_RESET_MS ? fails[i] + 1 : 1;
				due[i] = now + restart_delay(fails[i]);
				log_warnx("worker %d lost its signer process; a new worker and signer "
				    "start in %lld ms", (int)pid, (long long)(due[i] - now));
				continue;
			}
			if (lived < 2000) {
				log_warnx("worker %d exited right after starting (status %d); "
				    "stopping", (int)pid, status);
				stopping = failed = 1;
				for (j = 0; j < n; j++)
					if (pids[j] > 0)
						kill(pids[j], SIGTERM);
				continue;
			}
			log_warnx("worker %d exited (status %d), restarting", (int)pid, status);
			fails[i] = 0;
			due[i] = now;
		}
		for (i = 0, now = mono_ms(); i < n && !stopping; i++) {
			if (pids[i] > 0 || due[i] == 0 || due[i] > now)
				continue;
			d->worker = i;
			due[i] = 0;
			started[i] = now;
			if ((pids[i] = worker_spawn(d, fd, &old)) == -1)
				due[i] = now + RESTART_FORK_MS;
			else if (fails[i] > 0)
				log_info("worker %d replaces worker slot %u", (int)pids[i], i);
		}
		for (i = 0, alive = 0; i < n; i++)
			alive += pids[i] > 0;
		if (stopping && alive == 0)
			break;
	}
	free(pids);
	free(started);
	free(due);
	free(fails);
	log_info("stopped");
	return failed;
}

/*
 * Upgrade check (latchkeyd(8), UPGRADING): a registrar's TLS certificate must carry
 * id-kp-cmcRA, since pledges and the MASA refuse a registrar without it (RFC 8995 §5.5).
 * One made by an older `latchkeyctl init` lacks it. -n fails on it; a start warns (each
 * start, naming the command that re-issues it) but serves what still works meanwhile
 * (devices with an older latchkey, CRL and OCSP, latches). The check is the operator's
 * help, not a defence: pledges and the MASA decide who is a registrar.
 */
static int
registrar_cert_check(const struct config *cfg, char *err, size_t errlen)
{
	char why[256], dir[CONFIG_PATH];
	X509 *cert;
	int r;

	if (cfg->role == CONFIG_ROLE_MASA)
		return 0;
	if ((cert = pki_cert_read(cfg->tls_cert, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "tls-cert: %s", why);
		return -1;
	}
	r = pki_cert_has_eku(cert, NID_cmcRA);
	X509_free(cert);
	if (r == 1)
		return 0;
	snprintf(dir, sizeof(dir), "%s", cfg->tls_cert);
	snprintf(err, errlen, "tls-cert %.150s lacks id-kp-cmcRA (RFC 8995 5.5), which devices "
	    "and the MASA require of a registrar; re-issue it: latchkeyctl init "
	    "--reissue-registrar-cert --dir %.150s (see latchkeyd(8), UPGRADING)",
	    cfg->tls_cert, dirname(dir));
	return -1;
}

int
main(int argc, char *argv[])
{
	struct daemon d;
	const char *conf = NULL;
	char err[512];
	int ch, debug = 0, verbose = 0, check = 0, fd, rc;
	unsigned workers;

	while ((ch = getopt(argc, argv, "df:hnv")) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			conf = optarg;
			break;
		case 'h':
			usage(stdout, 0);
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc || conf == NULL) {
		fprintf(stderr, "latchkeyd: %s\n", conf == NULL ? "-f CONFIG is required" :
		    "unexpected arguments");
		usage(stderr, 2);
	}
	log_init(debug || check, verbose, "latchkeyd");
	memset(&d, 0, sizeof(d));
	if (config_load(&d.cfg, conf, err, sizeof(err)))
		fatalx("%s", err);
	if (registrar_cert_check(&d.cfg, err, sizeof(err)) == -1) {
		if (check)
			fatalx("%s", err);
		log_warnx("warning: %s", err);
	}
	if ((d.ctx = frontend_tls_setup(&d.cfg, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	signal(SIGPIPE, SIG_IGN);
	if (check) {
		if (d.cfg.role == CONFIG_ROLE_MASA) {
			if ((d.masa = masa_new(&d.cfg, err, sizeof(err))) == NULL)
				fatalx("%s", err);
			masa_free(d.masa);
		} else {
			if ((d.reg = registrar_new(&d.cfg, err, sizeof(err))) == NULL ||
			    (d.brski = brski_new(&d.cfg, registrar_idevids(d.reg), err,
			    sizeof(err))) == NULL)
				fatalx("%s", err);
			brski_free(d.brski);
			registrar_free(d.reg);
		}
		SSL_CTX_free(d.ctx);
		fprintf(stderr, "latchkeyd: configuration OK: %s\n", conf);
		return 0;
	}
	if ((fd = listen_socket(&d.cfg, err, sizeof(err))) == -1)
		fatalx("%s", err);
	raise_fd_limit();
	if (!debug && daemon(0, 0) == -1)
		fatal("daemon");
	workers = d.cfg.workers;
	if (workers == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		workers = cpus < 1 ? 1 : cpus > 16 ? 16 : (unsigned)cpus;
	}
	log_info("serving %s for domain %s on %s port %u (%u worker%s)",
	    d.cfg.role == CONFIG_ROLE_MASA ? "the MASA (BRSKI vouchers)" : "EST and BRSKI",
	    d.cfg.domain, d.cfg.listen_addr, d.cfg.listen_port, workers,
	    workers == 1 ? "" : "s");
	rc = supervise(&d, fd, workers);
	SSL_CTX_free(d.ctx);
	close(fd);
	return rc;
}
