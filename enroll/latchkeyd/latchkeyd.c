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
#include <systemd/sd-daemon.h>

#include "certs/keyref.h"
#include "certs/pki.h"
#include "certs/signer.h"

#include "enroll/common/err.h"

#include "enroll/common/version.h"
#include "enroll/latchkeyd/brski.h"
#include "enroll/latchkeyd/latchkeyd.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/masa.h"
#include "enroll/latchkeyd/registrar.h"
#include "enroll/latchkeyd/stats.h"
#include "enroll/store/registry.h"

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
"to the configuration file; a keyword that is not repeatable may be given once; see\n"
"latchkeyd.conf(5)):\n"
"  listen = ADDR:PORT            address to serve on (default 127.0.0.1:8443)\n"
"  admin-listen = [ADDR:]PORT    plain HTTP /healthz and /metrics (default none; a bare\n"
"                                PORT is on 127.0.0.1); not the listen port\n"
"  http-listen = ADDR:PORT       plain HTTP for the CRL and OCSP only (default none)\n"
"  expiry-warn-days = N          warn N days before the TLS certificate, the domain CA\n"
"                                or the CRL signer expire (default 30, 1 to 3650)\n"
"  domain = NAME                 owner domain name (required)\n"
"  ca-cert, ca-key = FILE        domain CA; the key is read only by the signer process\n"
"                                ca-key may be an RFC 7512 URI instead, the key in a\n"
"                                PKCS#11 token: pkcs11:token=T;object=O?pin-source=\n"
"                                FILE&module-path=SO (PIN file mode 0600, root only;\n"
"                                no pin-value); a wrong PIN, a missing token or key\n"
"                                is a start-up error, never a fall-back to a file\n"
"  previous-ca-cert, previous-ca-key = FILE\n"
"                                the domain CA before a rollover (latchkeyctl\n"
"                                ca-rollover): signs only the CRL and OCSP of its LDevIDs\n"
"  rollover-certs = FILE         NewWithOld and OldWithNew, served by cacerts\n"
"  tls-cert, tls-key = FILE      registrar TLS certificate (chain) and key\n"
"  registry = FILE|URI           SQLite registry (latchkeyctl init creates it), or a\n"
"                                PostgreSQL one: postgresql://... or \"host=... dbname=...\"\n"
"  manufacturer-ca = FILE        IDevID trust anchor; repeat for several manufacturers\n"
"  manufacturer-crl = FILE       a manufacturer's CRL (PEM or DER); repeatable\n"
"  auto-accept = FILE|sha256:HEX  lab policy: enroll valid IDevIDs that chain to this\n"
"                                anchor (certificate file or its fingerprint) without a\n"
"                                claim; logged and audited as such\n"
"  pending = yes|no              an unclaimed device with a valid IDevID gets 202 with\n"
"                                Retry-After and waits for latchkeyctl approve or deny\n"
"                                (RFC 7030 4.2.3) instead of 403 (default no)\n"
"  pending-retry-after = SECONDS Retry-After of that 202 (default 30, 1 to 3600)\n"
"  channel-binding = required|optional   RFC 7030 3.5 binding in the CSR (default required)\n"
"  ldevid-lifetime-days = N      LDevID lifetime (default 365)\n"
"  crl-url, ocsp-url = URL       written into issued LDevIDs (default none)\n"
"  crl-file = FILE|none          the CRL, kept current by latchkeyd (default crl.der beside\n"
"                                the registry); also served at /.well-known/latchkey/crl\n"
"  audit-checkpoint-file = FILE|none   where signed audit checkpoints are appended\n"
"                                (default audit-checkpoints.log beside the registry)\n"
"  pid-file = FILE               the parent's pid, once it serves; removed at the stop\n"
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
"  posture-policy = FILE         serve POST /.well-known/latchkey/posture: signed posture\n"
"                                reports judged by this JSON policy (default: off)\n"
"  update-dir = DIR              serve signed update manifests and payloads from DIR at\n"
"                                /.well-known/latchkey/update/<path> and take decision\n"
"                                reports at /.well-known/latchkey/update-report (audited),\n"
"                                both to devices with an active LDevID only (default none)\n"
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
"                                signing certificate and key (masa-key: or a pkcs11:\n"
"                                URI, as ca-key)\n"
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
"see also: latchkeyd.conf(5), latchkeyctl(8), latchkey(8); standards: RFC 7030,\n"
"RFC 8995, RFC 8366, RFC 5280, RFC 6960, RFC 9266, RFC 5929, RFC 5660, RFC 6762, RFC 6763,\n"
"IEEE 802.1AR.\n");
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
 * Not started as root (nothing switches users): this process must be able to write the
 * registry and create files beside it, else every enrollment would fail with 500 (SQLite
 * opens a read-only file read-only, silently).
 */
/*
 * A PostgreSQL registry is no file: this process (the workers' user, when it switches)
 * must be able to log in and use it, which only connecting says.
 */
static int
pg_check(const struct config *cfg, const char *who, char *err, size_t errlen)
{
	struct registry *reg;
	char e[512];

	if ((reg = registry_open(cfg->registry, cfg->registry_sync_full ? 0 : REGISTRY_FAST,
	    e, sizeof(e))) == NULL) {
		errf(err, errlen, "%s: registry: %s%s%s", cfg->file, who, *who ? ": " : "", e);
		return -1;
	}
	registry_close(reg);
	return 0;
}

static int
self_check(const struct config *cfg, char *err, size_t errlen)
{
	char buf[CONFIG_PATH], dir[CONFIG_PATH];

	if (cfg->role != CONFIG_ROLE_REGISTRAR)
		return 0;
	if (registry_is_pg(cfg->registry))
		return pg_check(cfg, "", err, errlen);
	if (faccessat(AT_FDCWD, cfg->registry, R_OK | W_OK, AT_EACCESS) == -1) {
		errf(err, errlen, "%s: registry %.200s: cannot read and write it (%s)",
		    cfg->file, cfg->registry, strerror(errno));
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", cfg->registry);
	snprintf(dir, sizeof(dir), "%s", dirname(buf));
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == -1) {
		errf(err, errlen, "%s: the directory %.200s of the registry: cannot create "
		    "files in it (%s); SQLite needs to (its journal)", cfg->file, dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * What the workers' user will need and must not have, asked of the kernel as that user:
 * it must not read the CA key (only root, or signer-user, may), and must read and write the
 * registry (or the MASA database) and create files beside it (WAL, SHM, the CRL file). A
 * missing MASA database is created here, owned by the user, since the MASA creates it.
 * Worker 0 with latch = yes keeps root (see worker.c) and is not the model here.
 */
static int
key_readable(const struct config *cfg, const char *kw, const char *key, char *err,
    size_t errlen)
{
	int fd;

	if (key[0] == '\0' || (fd = open(key, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	close(fd);
	errf(err, errlen, "%s: %s %.200s is readable by user %s, the workers' user: only "
	    "root (or signer-user) may read it: chown root:root %.200s; chmod 0600 %.200s",
	    cfg->file, kw, key, cfg->user, key, key);
	return 1;
}

/*
 * A pkcs11: key's pin-source must be closed to the workers' user as the key file would be
 * (keyref itself refuses a PIN file that group or others may read). 1 (err set) when the
 * user can read it.
 */
static int
pin_readable(const struct config *cfg, const char *kw, const char *ref, char *err,
    size_t errlen)
{
	struct keyref_uri u;
	char e[64];
	int rc;

	if (!keyref_is_pkcs11(ref) || keyref_uri_parse(ref, &u, e, sizeof(e)) == -1)
		return 0;
	rc = u.pin_source[0] != '\0' &&
	    faccessat(AT_FDCWD, u.pin_source, R_OK, AT_EACCESS) == 0;
	if (rc)
		errf(err, errlen, "%s: %s: pin-source %.200s is readable by user %s, the "
		    "workers' user: only root may read it: chown root:root %.200s; chmod 0600 "
		    "%.200s", cfg->file, kw, u.pin_source, cfg->user, u.pin_source,
		    u.pin_source);
	keyref_uri_clear(&u);
	return rc;
}

static int
privsep_check(const struct config *cfg, char *err, size_t errlen)
{
	const char *db = cfg->role == CONFIG_ROLE_MASA ? cfg->masa_db : cfg->registry;
	struct stat sb;
	int fd, rc = -1;

	if (!cfg->drop)
		return self_check(cfg, err, errlen);
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
	    (key_readable(cfg, "ca-key", cfg->ca_key, err, errlen) ||
	    key_readable(cfg, "previous-ca-key", cfg->prev_ca_key, err, errlen) ||
	    pin_readable(cfg, "ca-key", cfg->ca_key, err, errlen) ||
	    pin_readable(cfg, "previous-ca-key", cfg->prev_ca_key, err, errlen)))
		goto out;
	if (cfg->role == CONFIG_ROLE_MASA &&
	    pin_readable(cfg, "masa-key", cfg->masa_key, err, errlen))
		goto out;
	if (cfg->role == CONFIG_ROLE_REGISTRAR && registry_is_pg(db)) {
		char who[96];

		snprintf(who, sizeof(who), "as user %s", cfg->user);
		if (pg_check(cfg, who, err, errlen) == -1 || (cfg->crl_file[0] != '\0' &&
		    privsep_dir(cfg, "crl-file", cfg->crl_file, err, errlen) == -1))
			goto out;
	} else if ((fd = open(db, O_RDWR | O_CLOEXEC)) == -1) {
		errf(err, errlen, "%s: %s %.200s: user %s cannot read and write it (%s): "
		    "chown %s:%s %.200s%s", cfg->file, cfg->role == CONFIG_ROLE_MASA ?
		    "masa-db" : "registry", db, cfg->user, strerror(errno), cfg->user,
		    cfg->user, db, cfg->role == CONFIG_ROLE_MASA ? "" : " (latchkeyctl init "
		    "does, run as root)");
		goto out;
	} else {
		close(fd);
		if (cfg->role == CONFIG_ROLE_REGISTRAR && (privsep_dir(cfg, "the registry", db,
		    err, errlen) == -1 || (cfg->crl_file[0] != '\0' && privsep_dir(cfg,
		    "crl-file", cfg->crl_file, err, errlen) == -1)))
			goto out;
	}
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
listen_socket(const char *addr, unsigned portnum, const char *what, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", portnum);
	if ((rc = getaddrinfo(addr, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s %.200s: %s", what, addr, gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, 1024) == -1) {
		snprintf(err, errlen, "%s: cannot listen on %.200s port %u: %s%s", what, addr,
		    portnum, strerror(errno), errno == EADDRINUSE ? " (another process has "
		    "it: ss -ltnp shows which)" : "");
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
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

static int ready_wfd = -1;	/* daemonizing: the foreground process waits on it */

/* A child of the parent: a worker (slot >= 0) or the admin process (slot -1). */
static pid_t
child_spawn(struct daemon *d, int slot, int fd, int admin_fd, const sigset_t *oldmask)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* a child never outlives the parent, even one killed with SIGKILL */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			exit(1);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_IGN);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		if (ready_wfd != -1)
			close(ready_wfd);
		if (slot < 0) {
			close(fd);
			if (d->http_fd != -1)
				close(d->http_fd);
			exit(admin_run(&d->cfg, admin_fd));
		}
		if (admin_fd != -1)
			close(admin_fd);
		d->worker = (unsigned)slot;
		if (stats != NULL)
			atomic_store(&stats->slot[slot].pid, (int32_t)getpid());
		exit(worker_run(d, fd));
	}
	if (pid == -1)
		log_warn("fork");
	else if (slot >= 0 && stats != NULL)
		atomic_store(&stats->slot[slot].pid, (int32_t)pid);
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
#define READY_MAX_MS		30000	/* workers have this long to check in healthy */
#define TICK_MS			100	/* the loop's wake-up while something is awaited */
#define ADMIN_RETRY_MS		5000	/* an admin process that died at once: again then */

/* The back-off before the fails-th replacement in a row (1, 2, ...). */
static int64_t
restart_delay(unsigned fails)
{
	int64_t ms = RESTART_MIN_MS;

	while (fails-- > 1 && ms < RESTART_MAX_MS)
		ms *= 2;
	return ms < RESTART_MAX_MS ? ms : RESTART_MAX_MS;
}

/* Whether every worker slot in use checked in since since_ms (its worker serves). */
static int
workers_up(unsigned n, int64_t since_ms)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (atomic_load(&stats->slot[i].beat_ms) < since_ms ||
		    atomic_load(&stats->slot[i].pid) <= 0)
			return 0;
	return 1;
}

/* Whether any worker checked in within the last STATS_STALE_MS * 2: the watchdog. */
static int
workers_alive(unsigned n)
{
	int64_t now = stats_mono_ms();
	unsigned i;

	for (i = 0; i < n; i++)
		if (now - atomic_load(&stats->slot[i].beat_ms) < STATS_STALE_MS * 2)
			return 1;
	return 0;
}

static unsigned
workers_count(const struct config *cfg)
{
	long cpus;

	if (cfg->workers > 0)
		return cfg->workers > STATS_SLOTS ? STATS_SLOTS : cfg->workers;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus < 1 ? 1 : cpus > 16 ? 16 : (unsigned)cpus;
}

/*
 * Everything a worker will load, loaded once here and freed: what `latchkeyd -n` checks and
 * what a reload checks before it replaces anything. The signer started here reads the CA
 * key as this process (root or the invoking user) and ends at once.
 */
static int
engines_check(const struct config *cfg, char *err, size_t errlen)
{
	struct registrar *reg;
	struct brski *brski;
	struct masa *masa;

	if (cfg->role == CONFIG_ROLE_MASA) {
		if ((masa = masa_new(cfg, err, errlen)) == NULL)
			return -1;
		masa_free(masa);
		return 0;
	}
	/*
	 * The signer switches to signer-user as a worker's does, and signs once as that user
	 * (certs/signer.c): a CA key in a PKCS#11 token that user cannot use fails here.
	 */
	worker_signer_configure(cfg, 0);
	reg = registrar_new(cfg, err, errlen);
	signer_configure(NULL);
	if (reg == NULL)
		return -1;
	if ((brski = brski_new(cfg, reg, err, errlen)) == NULL) {
		registrar_free(reg);
		return -1;
	}
	brski_free(brski);
	registrar_free(reg);
	return 0;
}

/*
 * Reload (SIGHUP): read the configuration file again and check it as -n does (users and
 * files, the TLS certificate and key, the anchors, CRLs and the CA); on any error keep the
 * running configuration and say why. The listening sockets stay: a changed listen or
 * admin-listen needs a restart (warned). On success *d holds the new configuration and
 * TLS context; the caller replaces the workers.
 */
static void	expiry_check(const struct config *);

static int
reload_config(struct daemon *d, const char *conf)
{
	struct config nc;
	SSL_CTX *ctx;
	char err[512];

	memset(&nc, 0, sizeof(nc));
	if (config_load(&nc, conf, err, sizeof(err)) == -1 ||
	    privsep_users(&nc, err, sizeof(err)) == -1 ||
	    privsep_check(&nc, err, sizeof(err)) == -1)
		goto bad;
	if (nc.role != d->cfg.role) {
		snprintf(err, sizeof(err), "role changed: restart latchkeyd for that");
		goto bad;
	}
	if (strcmp(nc.listen_addr, d->cfg.listen_addr) != 0 ||
	    nc.listen_port != d->cfg.listen_port) {
		log_warnx("warning: reload: listen changed to %s port %u: that takes a "
		    "restart; still listening on %s port %u", nc.listen_addr, nc.listen_port,
		    d->cfg.listen_addr, d->cfg.listen_port);
		snprintf(nc.listen_addr, sizeof(nc.listen_addr), "%s", d->cfg.listen_addr);
		nc.listen_port = d->cfg.listen_port;
	}
	if (strcmp(nc.http_addr, d->cfg.http_addr) != 0 || nc.http_port != d->cfg.http_port) {
		log_warnx("warning: reload: http-listen changed: that takes a restart; the "
		    "plain HTTP listener stays where it was");
		snprintf(nc.http_addr, sizeof(nc.http_addr), "%s", d->cfg.http_addr);
		nc.http_port = d->cfg.http_port;
	}
	if (strcmp(nc.admin_addr, d->cfg.admin_addr) != 0 ||
	    nc.admin_port != d->cfg.admin_port) {
		log_warnx("warning: reload: admin-listen changed: that takes a restart; the "
		    "admin listener stays where it was");
		snprintf(nc.admin_addr, sizeof(nc.admin_addr), "%s", d->cfg.admin_addr);
		nc.admin_port = d->cfg.admin_port;
	}
	if (registrar_cert_check(&nc, err, sizeof(err)) == -1)
		log_warnx("warning: %s", err);
	if ((ctx = frontend_tls_setup(&nc, err, sizeof(err))) == NULL)
		goto bad;
	if (engines_check(&nc, err, sizeof(err)) == -1) {
		SSL_CTX_free(ctx);
		goto bad;
	}
	SSL_CTX_free(d->ctx);
	d->ctx = ctx;
	d->cfg = nc;
	expiry_check(&d->cfg);
	return 0;
bad:
	log_warnx("reload refused, the running configuration stays: %s", err);
	return -1;
}

/* pid-file: this process's pid, written to a temporary file and renamed over path. */
static void
pid_file_write(const char *path)
{
	char tmp[CONFIG_PATH + 8], buf[32];
	int fd, n, ok;

	if (path[0] == '\0')
		return;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644)) == -1) {
		log_warn("pid-file %s", tmp);
		return;
	}
	ok = write(fd, buf, (size_t)n) == n;
	if (close(fd) == -1)
		ok = 0;
	if (!ok || rename(tmp, path) == -1) {
		log_warn("pid-file %s", path);
		unlink(tmp);
	}
}

static void
notify(const char *state)
{
	sd_notify(0, state);
}

/* The parent's processes: the current workers, the ones a reload retires, the admin. */
struct procs {
	pid_t		 pid[STATS_SLOTS];
	int64_t		 started[STATS_SLOTS];
	int64_t		 due[STATS_SLOTS];	/* > 0: start slot i then */
	unsigned	 fails[STATS_SLOTS];
	unsigned	 n;
	pid_t		 old[STATS_SLOTS * 4];	/* retiring after a reload */
	unsigned	 nold;
	int		 old_signalled;		/* SIGUSR2 sent to them */
	int64_t		 reload_at;		/* when the new generation was started */
	pid_t		 admin, admin_old;
	int64_t		 admin_started, admin_due;	/* due > 0: start it then */
};

static void
signal_all(struct procs *p, int sig)
{
	unsigned i;

	for (i = 0; i < p->n; i++)
		if (p->pid[i] > 0)
			kill(p->pid[i], sig);
	for (i = 0; i < p->nold; i++)
		if (p->old[i] > 0)
			kill(p->old[i], sig);
	if (p->admin > 0)
		kill(p->admin, SIGTERM);
	if (p->admin_old > 0)
		kill(p->admin_old, SIGTERM);
}

/*
 * Pre-forked workers share the listening socket (one event loop per core: OpenSSL 3.0 scales
 * far better across processes than across threads). The parent holds no key and no registry;
 * it restarts a worker that dies (one whose signer was lost after a back-off, above), reloads
 * on SIGHUP and stops them all on SIGTERM/SIGINT. It tells systemd (sd_notify) when the
 * workers serve (READY), reloads (RELOADING, then READY), stops (STOPPING), and that it is
 * alive (WATCHDOG, while a worker checks in); ready_fd (daemonizing: the waiting
 * foreground process) gets one byte once the workers serve.
 */
static int
supervise(struct daemon *d, const char *conf, int fd, int admin_fd, int ready_fd)
{
	struct procs p;
	struct timespec ts;
	sigset_t set, old;
	unsigned i, j, alive, n;
	int sig, stopping = 0, failed = 0, status, ready = 0, hup = 0;
	int64_t now, next, lived, start_ms = stats_mono_ms(), wd_next = 0;
	uint64_t wd_usec = 0;
	pid_t pid;

	memset(&p, 0, sizeof(p));
	ready_wfd = ready_fd;
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	p.n = n = workers_count(&d->cfg);
	atomic_store(&stats->nworkers, n);
	for (i = 0; i < n; i++) {
		if ((p.pid[i] = child_spawn(d, (int)i, fd, admin_fd, &old)) == -1)
			fatalx("cannot start workers");
		p.started[i] = stats_mono_ms();
	}
	if (admin_fd != -1 && (p.admin = child_spawn(d, -1, fd, admin_fd, &old)) == -1)
		fatalx("cannot start the admin process");
	p.admin_started = stats_mono_ms();
	for (;;) {
		now = stats_mono_ms();
		/* ready: every worker checked in once (or READY_MAX_MS passed: say so) */
		if (!ready && !stopping && (workers_up(p.n, start_ms) ||
		    now - start_ms > READY_MAX_MS)) {
			ready = 1;
			if (!workers_up(p.n, start_ms))
				log_warnx("warning: not every worker checked in within %d s; "
				    "serving with those that did", READY_MAX_MS / 1000);
			log_info("ready: %u worker%s serving", p.n, p.n == 1 ? "" : "s");
			pid_file_write(d->cfg.pid_file);
			notify("READY=1\nSTATUS=serving");
			atomic_store(&stats->ready, 1);
			if (ready_fd != -1) {
				stats_detach_stdio();
				if (write(ready_fd, "R", 1) != 1)
					log_warn("telling the foreground process we are ready");
				close(ready_fd);
				ready_fd = ready_wfd = -1;
			}
		}
		/* a reload: the old workers retire once the new ones serve */
		if (p.nold > 0 && !p.old_signalled && (workers_up(p.n, p.reload_at) ||
		    now - p.reload_at > READY_MAX_MS)) {
			for (i = 0; i < p.nold; i++)
				if (p.old[i] > 0)
					kill(p.old[i], SIGUSR2);
			if (p.admin_old > 0)
				kill(p.admin_old, SIGTERM);
			p.old_signalled = 1;
			log_info("reloaded: %u new worker%s serve; the previous ones answer what "
			    "they have in flight and exit", p.n, p.n == 1 ? "" : "s");
			notify("READY=1\nSTATUS=serving");
		}
		if (wd_usec > 0 && now >= wd_next) {
			if (!ready || workers_alive(p.n))
				notify("WATCHDOG=1");
			wd_next = now + (int64_t)(wd_usec / 2000);
		}
		next = wd_usec > 0 ? wd_next : 0;
		if (!ready || (p.nold > 0 && !p.old_signalled))
			next = next == 0 || now + TICK_MS < next ? now + TICK_MS : next;
		for (i = 0; i < p.n; i++)
			if (!stopping && p.pid[i] <= 0 && p.due[i] > 0 &&
			    (next == 0 || p.due[i] < next))
				next = p.due[i];
		if (!stopping && p.admin_due > 0 && (next == 0 || p.admin_due < next))
			next = p.admin_due;
		if (next == 0) {
			if (sigwait(&set, &sig) != 0)
				continue;
		} else {
			next = next > now ? next - now : 0;
			ts.tv_sec = next / 1000;
			ts.tv_nsec = (long)(next % 1000) * 1000000;
			if ((sig = sigtimedwait(&set, NULL, &ts)) == -1) {
				if (errno != EAGAIN && errno != EINTR)
					continue;
				sig = 0;	/* a timer is due */
			}
		}
		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			log_info("received signal %d, stopping %u workers", sig, p.n);
			notify("STOPPING=1");
			stopping = 1;
			signal_all(&p, SIGTERM);
		} else if (sig == SIGTERM || sig == SIGINT)
			signal_all(&p, SIGTERM);	/* again: the workers stop at once */
		if (sig == SIGHUP && !stopping) {
			if (hup)
				log_info("received SIGHUP: a reload is already due");
			else if (p.nold > 0 && !p.old_signalled)
				log_info("received SIGHUP: reloading once the previous reload's "
				    "workers serve");
			hup = 1;
		}
		/* a reload, unless the previous one's workers are still starting */
		if (hup && !stopping && !(p.nold > 0 && !p.old_signalled)) {
			hup = 0;
			sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%lld",
			    (long long)stats_mono_us());
			log_info("reloading %s", conf);
			if (reload_config(d, conf) == -1) {
				atomic_fetch_add(&stats->reload_failures, 1);
				atomic_store(&stats->reload_ok, 0);
				notify("READY=1\nSTATUS=serving (the last reload was refused)");
			} else {
				/* the current workers retire once their successors serve */
				for (i = 0; i < p.n; i++)
					if (p.pid[i] > 0 && p.nold < sizeof(p.old) / sizeof(p.old[0]))
						p.old[p.nold++] = p.pid[i];
					else if (p.pid[i] > 0)
						kill(p.pid[i], SIGUSR2);
				p.admin_old = p.admin;
				p.admin = 0;
				p.old_signalled = 0;
				p.reload_at = stats_mono_ms();
				memset(p.pid, 0, sizeof(p.pid));
				memset(p.due, 0, sizeof(p.due));
				memset(p.fails, 0, sizeof(p.fails));
				p.n = workers_count(&d->cfg);
				atomic_store(&stats->nworkers, p.n);
				for (i = 0; i < p.n; i++) {
					p.started[i] = p.reload_at;
					if ((p.pid[i] = child_spawn(d, (int)i, fd, admin_fd,
					    &old)) == -1)
						p.due[i] = p.reload_at + RESTART_FORK_MS;
				}
				if (admin_fd != -1) {
					p.admin_due = 0;
					p.admin_started = p.reload_at;
					p.admin = child_spawn(d, -1, fd, admin_fd, &old);
				}
				atomic_fetch_add(&stats->reloads, 1);
				atomic_store(&stats->reload_ok, 1);
				atomic_store(&stats->reload_time, (int64_t)time(NULL));
			}
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			int32_t dp = pid;

			/* the duties' holder is gone: the next worker 0 takes them */
			atomic_compare_exchange_strong(&stats->duty_pid, &dp, 0);
			if (pid == p.admin || pid == p.admin_old) {
				if (pid == p.admin_old) {
					p.admin_old = 0;
					continue;
				}
				p.admin = 0;
				if (!stopping) {
					/* one that dies at once is retried every ADMIN_RETRY_MS */
					now = stats_mono_ms();
					p.admin_due = now + (now - p.admin_started < 2000 ?
					    ADMIN_RETRY_MS : 0);
					log_warnx("the admin process %d exited (status %d), restarting "
					    "it%s", (int)pid, status, p.admin_due > now ? " in 5 s" : "");
				}
				continue;
			}
			for (j = 0; j < p.nold && p.old[j] != pid; j++)
				;
			if (j < p.nold) {
				p.old[j] = p.old[--p.nold];
				continue;
			}
			for (i = 0; i < p.n && p.pid[i] != pid; i++)
				;
			if (i == p.n)
				continue;	/* not ours */
			p.pid[i] = 0;
			atomic_store(&stats->slot[i].pid, 0);
			if (stopping)
				continue;
			now = stats_mono_ms();
			lived = now - p.started[i];
			if (WIFEXITED(status) && WEXITSTATUS(status) == REGISTRAR_EXIT_SIGNER_LOST) {
				p.fails[i] = lived < RESTART_RESET_MS ? p.fails[i] + 1 : 1;
				p.due[i] = now + restart_delay(p.fails[i]);
				atomic_fetch_add(&stats->signer_restarts, 1);
				log_warnx("worker %d lost its signer process; a new worker and signer "
				    "start in %lld ms", (int)pid, (long long)(p.due[i] - now));
				continue;
			}
			if (lived < 2000 && ready) {
				/* after a reload, say: keep what serves, retry with a back-off */
				p.fails[i] = p.fails[i] + 1;
				p.due[i] = now + restart_delay(p.fails[i] + 4);
				atomic_fetch_add(&stats->worker_restarts, 1);
				log_warnx("worker %d exited right after starting (status %d); "
				    "starting another in %lld ms", (int)pid, status,
				    (long long)(p.due[i] - now));
				continue;
			}
			if (lived < 2000) {
				log_warnx("worker %d exited right after starting (status %d); "
				    "stopping", (int)pid, status);
				notify("STOPPING=1");
				stopping = failed = 1;
				signal_all(&p, SIGTERM);
				continue;
			}
			log_warnx("worker %d exited (status %d), restarting", (int)pid, status);
			atomic_fetch_add(&stats->worker_restarts, 1);
			p.fails[i] = 0;
			p.due[i] = now;
		}
		if (!stopping && p.admin_due > 0 && p.admin_due <= stats_mono_ms()) {
			p.admin_due = 0;
			p.admin_started = stats_mono_ms();
			if ((p.admin = child_spawn(d, -1, fd, admin_fd, &old)) == -1)
				p.admin_due = p.admin_started + ADMIN_RETRY_MS;
		}
		for (i = 0, now = stats_mono_ms(); i < p.n && !stopping; i++) {
			if (p.pid[i] > 0 || p.due[i] == 0 || p.due[i] > now)
				continue;
			p.due[i] = 0;
			p.started[i] = now;
			if ((p.pid[i] = child_spawn(d, (int)i, fd, admin_fd, &old)) == -1)
				p.due[i] = now + RESTART_FORK_MS;
			else if (p.fails[i] > 0)
				log_info("worker %d replaces worker slot %u", (int)p.pid[i], i);
		}
		for (i = 0, alive = p.nold + (p.admin > 0) + (p.admin_old > 0); i < p.n; i++)
			alive += p.pid[i] > 0;
		if (stopping && alive == 0)
			break;
	}
	if (ready_fd != -1)
		close(ready_fd);	/* never ready: the foreground process exits 1 */
	if (ready && d->cfg.pid_file[0] != '\0' && unlink(d->cfg.pid_file) == -1 &&
	    errno != ENOENT)
		log_warn("pid-file %s", d->cfg.pid_file);
	log_info("stopped");
	return failed;
}

/*
 * Warn (at start and on each reload) when the registrar's TLS certificate or the domain CA
 * (the MASA's signing certificate in that role) expires within expiry-warn-days, or
 * already has: /metrics says the same (latchkeyd_certificate_expiry_warning).
 */
static void
expiry_check(const struct config *cfg)
{
	const char *what[2] = { "tls-cert", cfg->role == CONFIG_ROLE_MASA ? "masa-cert" :
	    "ca-cert" };
	const char *path[2] = { cfg->tls_cert, cfg->role == CONFIG_ROLE_MASA ?
	    cfg->masa_cert : cfg->ca_cert };
	char err[256];
	X509 *x;
	int i, days, secs;

	for (i = 0; i < 2; i++) {
		if (path[i][0] == '\0' || (x = pki_cert_read(path[i], err, sizeof(err))) == NULL)
			continue;
		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) == 1) {
			if (days < 0 || secs < 0)
				log_warnx("warning: %s %s has expired", what[i], path[i]);
			else if ((unsigned)days < cfg->expiry_warn_days)
				log_warnx("warning: %s %s expires in %d days (expiry-warn-days %u)%s",
				    what[i], path[i], days, cfg->expiry_warn_days, i == 0 &&
				    cfg->role == CONFIG_ROLE_REGISTRAR ? "; renew it: latchkeyctl "
				    "init --reissue-registrar-cert, then reload" : "");
		}
		X509_free(x);
	}
}

/* Whether start-up is over: the workers served once (log.c stops copying to stderr). */
static int
started_up(void)
{
	return stats != NULL && atomic_load(&stats->ready);
}

/*
 * Daemonizing (no -d): the foreground process waits until the workers serve, then exits
 * 0; when the daemon stops first (a worker could not start: why was printed on standard
 * error), it exits 1. Returns the pipe's write end, held by the daemon's parent only.
 */
static int
daemonize(void)
{
	ssize_t r;
	pid_t pid;
	int p[2];
	char c;

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		do
			r = read(p[0], &c, 1);
		while (r == -1 && errno == EINTR);
		if (r == 1)
			_exit(0);
		fprintf(stderr, "latchkeyd: not started (see the messages above)\n");
		_exit(1);
	}
	close(p[0]);
	if (setsid() == -1)
		fatal("setsid");
	if (chdir("/") == -1)
		fatal("chdir /");
	return p[1];
}

int
main(int argc, char *argv[])
{
	struct daemon d;
	const char *conf = NULL;
	char err[512], absconf[CONFIG_PATH], *abs;
	int ch, debug = 0, verbose = 0, check = 0, fd, admin_fd = -1, ready_fd = -1, rc;

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
	/* Until the workers serve, every message also goes to standard error. */
	log_init(debug || check, verbose, "latchkeyd");
	if (!debug && !check)
		log_early_stderr(started_up);
	/* a reload reads it again after the daemon's chdir("/") */
	if ((abs = realpath(conf, NULL)) == NULL)
		fatal("%s", conf);
	if (strlen(abs) >= sizeof(absconf))
		fatalx("%s: path too long", abs);
	strcpy(absconf, abs);
	free(abs);
	conf = absconf;
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
	expiry_check(&d.cfg);
	signal(SIGPIPE, SIG_IGN);
	if (check) {
		if (engines_check(&d.cfg, err, sizeof(err)) == -1)
			fatalx("%s", err);
		SSL_CTX_free(d.ctx);
		fprintf(stderr, "latchkeyd: configuration OK: %s\n", conf);
		return 0;
	}
	if (stats_map() == NULL)
		fatal("cannot map the shared statistics segment");
	if ((fd = listen_socket(d.cfg.listen_addr, d.cfg.listen_port, "listen", err,
	    sizeof(err))) == -1)
		fatalx("%s", err);
	if (d.cfg.admin_port != 0 && (admin_fd = listen_socket(d.cfg.admin_addr,
	    d.cfg.admin_port, "admin-listen", err, sizeof(err))) == -1)
		fatalx("%s", err);
	d.http_fd = -1;
	if (d.cfg.http_port != 0 && d.cfg.role == CONFIG_ROLE_REGISTRAR &&
	    (d.http_fd = listen_socket(d.cfg.http_addr, d.cfg.http_port, "http-listen", err,
	    sizeof(err))) == -1)
		fatalx("%s", err);
	raise_fd_limit();
	if (!debug) {
		ready_fd = daemonize();
		atomic_store(&stats->daemonized, 1);
	}
	atomic_store(&stats->start_time, (int64_t)time(NULL));
	atomic_store(&stats->reload_time, (int64_t)time(NULL));
	atomic_store(&stats->reload_ok, 1);
	log_info("serving %s for domain %s on %s port %u (%u worker%s)%s%s%s",
	    d.cfg.role == CONFIG_ROLE_MASA ? "the MASA (BRSKI vouchers)" : "EST and BRSKI",
	    d.cfg.domain, d.cfg.listen_addr, d.cfg.listen_port, workers_count(&d.cfg),
	    workers_count(&d.cfg) == 1 ? "" : "s", admin_fd != -1 ? "; /healthz and "
	    "/metrics on " : "", admin_fd != -1 ? d.cfg.admin_addr : "",
	    admin_fd != -1 ? " (admin-listen)" : "");
	rc = supervise(&d, conf, fd, admin_fd, ready_fd);
	SSL_CTX_free(d.ctx);
	close(fd);
	if (admin_fd != -1)
		close(admin_fd);
	if (d.http_fd != -1)
		close(d.http_fd);
	return rc;
}
