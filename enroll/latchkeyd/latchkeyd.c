/*
 * latchkeyd: the latchkey registrar, the parent process (see latchkeyd.h). It reads the
 * configuration, checks it (-n), makes the listening socket, and pre-forks the workers
 * (worker.c) that serve HTTPS (frontend.c) and decide every request in their engines
 * (registrar.c, brski.c, masa.c); the CA key lives only in each worker's signer process
 * (certs/signer.c). The parent holds no key and no registry connection.
 */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libgen.h>
#include <openssl/ssl.h>

#include "certs/pki.h"

#include "enroll/common/err.h"

#include "enroll/common/version.h"
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
"       latchkeyd --help | --version\n"
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
"  -h, --help  this help\n"
"  --version   print the version and exit\n"
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
"  masa-ca = FILE                anchors for the MASA's TLS certificate and vouchers, for\n"
"                                every manufacturer (default: for each device only the\n"
"                                manufacturer-ca file its IDevID chains to); repeatable\n"
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
"  user = NAME                   started as root: the workers' user (default latchkey);\n"
"                                root only when set so, with a warning\n"
"  signer-user = NAME            started as root: the signers' user (default\n"
"                                latchkey-signer)\n"
"  crl-max-validity = HOURS      the signer signs no CRL valid longer (default 48)\n"
"  ocsp-max-validity = HOURS     nor OCSP response (default 24)\n"
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

/*
 * Privileges (latchkeyd(8), PRIVILEGES). Started as root, the parent binds and reads the TLS
 * key; each worker forks its signer, which reads the CA key as root and switches to
 * signer-user, then the worker switches to user. Not started as root, nothing switches.
 */
#define DEFAULT_USER		"latchkey"
#define DEFAULT_SIGNER_USER	"latchkey-signer"

static int
privsep_user(const char *conf, const char *keyword, char *name, const char *def, int *drop,
    uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	struct passwd *pw;

	if (name[0] == '\0')
		strcpy(name, def);	/* both defaults fit */
	if (strcmp(name, "root") == 0) {
		log_warnx("warning: %s = root in %s: the %s run as root", keyword, conf,
		    keyword[0] == 'u' ? "workers, which could then read the CA key," :
		    "signers");
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		errf(err, errlen, "%s: %s = %s: no such user%s%s; create it: useradd --system "
		    "--no-create-home --shell /usr/sbin/nologin %s (contrib/install-deps.sh "
		    "does), or name another one", conf, keyword, name, errno ? ": " : "",
		    errno ? strerror(errno) : "", name);
		return -1;
	}
	if (pw->pw_uid == 0) {
		errf(err, errlen, "%s: %s = %s: uid 0; set %s = root to run as root", conf,
		    keyword, name, keyword);
		return -1;
	}
	*drop = 1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Resolve user and signer-user into cfg (drop, uid, gid, signer_*). */
static int
privsep_users(struct config *cfg, char *err, size_t errlen)
{
	if (geteuid() != 0) {
		if (cfg->user[0] != '\0' || cfg->signer_user[0] != '\0')
			log_warnx("not started as root: user and signer-user are ignored");
		else
			log_debug("not started as root: workers and signers keep uid %u",
			    (unsigned)geteuid());
		return 0;
	}
	if (privsep_user(cfg->file, "user", cfg->user, DEFAULT_USER, &cfg->drop, &cfg->uid,
	    &cfg->gid, err, errlen) == -1 ||
	    privsep_user(cfg->file, "signer-user", cfg->signer_user, DEFAULT_SIGNER_USER,
	    &cfg->signer_drop, &cfg->signer_uid, &cfg->signer_gid, err, errlen) == -1)
		return -1;
	if (cfg->drop && cfg->signer_drop && cfg->uid == cfg->signer_uid) {
		errf(err, errlen, "%s: user and signer-user are the same user (%s, uid %u): "
		    "the signer's user must be its own", cfg->file, cfg->user,
		    (unsigned)cfg->uid);
		return -1;
	}
	return 0;
}

/*
 * Run as the workers' user for a moment (effective ids only, no supplementary groups), to
 * ask the kernel what a worker will be able to do; back to root after. Single-threaded.
 */
static gid_t	saved_groups[256];
static int	nsaved_groups = -1;

static void
as_user(const struct config *cfg)
{
	if ((nsaved_groups = getgroups(256, saved_groups)) == -1 || setgroups(0, NULL) == -1 ||
	    setegid(cfg->gid) == -1 || seteuid(cfg->uid) == -1)
		fatal("cannot switch to user %s for the start-up checks", cfg->user);
}

static void
as_root(void)
{
	if (seteuid(0) == -1 || setegid(0) == -1 ||
	    setgroups(nsaved_groups > 0 ? (size_t)nsaved_groups : 0, saved_groups) == -1)
		fatal("cannot return to root after the start-up checks");
}

/* A directory the workers' user must create and remove files in. */
static int
privsep_dir(const struct config *cfg, const char *what, const char *path, char *err,
    size_t errlen)
{
	char buf[CONFIG_PATH], dir[CONFIG_PATH];

	snprintf(buf, sizeof(buf), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(buf));
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0)
		return 0;
	errf(err, errlen, "%s: the directory %.200s of %s: user %s cannot create files in "
	    "it (%s); make it its group's: chgrp %s %.200s; chmod 1770 %.200s "
	    "(latchkeyctl init does, run as root)", cfg->file, dir, what, cfg->user,
	    strerror(errno), cfg->user, dir, dir);
	return -1;
}

/*
 * What the workers' user will need and must not have, asked of the kernel as that user:
 * it must not read the CA key (only root, or signer-user, may), and must read and write the
 * registry (or the MASA database) and create files beside it (WAL, SHM, the CRL file). A
 * missing MASA database is created here, owned by the user, since the MASA creates it.
 * Worker 0 with latch = yes keeps root (see worker.c) and is not the model here.
 */
static int
privsep_check(const struct config *cfg, char *err, size_t errlen)
{
	const char *db = cfg->role == CONFIG_ROLE_MASA ? cfg->masa_db : cfg->registry;
	struct stat sb;
	int fd, rc = -1;

	if (!cfg->drop)
		return 0;
	if (cfg->role == CONFIG_ROLE_MASA && lstat(db, &sb) == -1 && errno == ENOENT) {
		if ((fd = open(db, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600)) == -1 || fchown(fd, cfg->uid, cfg->gid) == -1) {
			errf(err, errlen, "%s: masa-db %.200s: %s", cfg->file, db,
			    strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		close(fd);
		log_info("created %s for user %s", db, cfg->user);
	}
	as_user(cfg);
	if (cfg->role == CONFIG_ROLE_REGISTRAR &&
	    (fd = open(cfg->ca_key, O_RDONLY | O_CLOEXEC)) != -1) {
		close(fd);
		errf(err, errlen, "%s: ca-key %.200s is readable by user %s, the workers' "
		    "user: only root (or signer-user) may read it: chown root:root %.200s; "
		    "chmod 0600 %.200s", cfg->file, cfg->ca_key, cfg->user, cfg->ca_key,
		    cfg->ca_key);
		goto out;
	}
	if ((fd = open(db, O_RDWR | O_CLOEXEC)) == -1) {
		errf(err, errlen, "%s: %s %.200s: user %s cannot read and write it (%s): "
		    "chown %s:%s %.200s%s", cfg->file, cfg->role == CONFIG_ROLE_MASA ?
		    "masa-db" : "registry", db, cfg->user, strerror(errno), cfg->user,
		    cfg->user, db, cfg->role == CONFIG_ROLE_MASA ? "" : " (latchkeyctl init "
		    "does, run as root)");
		goto out;
	}
	close(fd);
	if (cfg->role == CONFIG_ROLE_REGISTRAR && (privsep_dir(cfg, "the registry", db, err,
	    errlen) == -1 || (cfg->crl_file[0] != '\0' && privsep_dir(cfg, "crl-file",
	    cfg->crl_file, err, errlen) == -1)))
		goto out;
	/* held in every worker's memory anyway; libcurl reads the file again (BRSKI) */
	if (cfg->role == CONFIG_ROLE_REGISTRAR &&
	    faccessat(AT_FDCWD, cfg->tls_key, R_OK, AT_EACCESS) == -1)
		log_warnx("warning: tls-key %s: user %s cannot read it (%s): voucher requests "
		    "to the MASA, which the workers make with it, will fail: chgrp %s %s; "
		    "chmod 0640 %s (latchkeyctl init does, run as root)", cfg->tls_key,
		    cfg->user, strerror(errno), cfg->user, cfg->tls_key, cfg->tls_key);
	rc = 0;
out:
	as_root();
	return rc;
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

	static const struct option lo[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};

	while ((ch = getopt_long(argc, argv, "df:hnv", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			debug = 1;
			break;
		case 'f':
			conf = optarg;
			break;
		case 'h':
			usage(stdout, 0);
		case 'V':
			printf("latchkeyd %s\n", LATCHKEY_VERSION);
			return 0;
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
	if (privsep_users(&d.cfg, err, sizeof(err)) == -1 ||
	    privsep_check(&d.cfg, err, sizeof(err)) == -1)
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
