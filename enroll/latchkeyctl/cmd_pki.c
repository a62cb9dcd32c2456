/*
 * cmd_pki: the commands that write key material. lab-pki makes a lab manufacturer PKI
 * (certs/labpki.h); init makes an owner domain: its CA, the registrar's TLS certificate,
 * a copy of the manufacturer CA, an empty registry and a latchkeyd configuration.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "certs/keyref.h"
#include "certs/labpki.h"
#include "certs/pki.h"
#include "certs/tpmkey.h"
#include "enroll/common/err.h"
#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/registry.h"

#define CTL_MAX_DEVICES		10000
#define CTL_MAX_CA_FILE		(1024 * 1024)

/* mkdir -p: create dir and its missing parents (mode 0755). */
static int
mkdir_p(const char *dir)
{
	char p[PATH_MAX], *s;

	if ((size_t)snprintf(p, sizeof(p), "%s", dir) >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	if (mkdir(p, 0755) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * Split "ADDR:PORT" or "[V6ADDR]:PORT" into host and port (1-65535). An IPv6 address must
 * be bracketed.
 */
static int
parse_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *h, *colon;
	size_t hl;
	unsigned char a6[16];
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || strchr(s, ':') != colon)
			return -1;
		h = s;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (s[0] == '[' && inet_pton(AF_INET6, host, a6) != 1)
		return -1;
	if (s[0] != '[' && strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != hl)
		return -1;
	if (!isdigit((unsigned char)colon[1]))
		return -1;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (unsigned)p;
	return 0;
}

static int
domain_valid(const char *d)
{
	size_t n = strlen(d), i;

	if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)d[i]) && d[i] != '.' && d[i] != '-')
			return 0;
	return 1;
}

/* One file written, as lab-pki and init list them: a label, then its absolute path. */
static void
print_file(const char *label, const char *path)
{
	char b[PATH_MAX];

	printf("%-25s %s\n", label, ctl_abs_path(path, b, sizeof(b)));
}

/*
 * init run as root: hand the registry to latchkeyd's workers' user (latchkeyd(8),
 * PRIVILEGES; the default user of a configuration init writes), and a directory init made to
 * its group, mode 1770: the workers create the registry's -wal and -shm files and the CRL
 * there, while the sticky bit keeps them from replacing root's files (the CA key stays
 * root's, 0600: the signer reads it as root before it drops). The TLS key becomes group
 * latchkey's, 0640: every worker holds it in memory anyway (the parent's SSL_CTX), and
 * reads the file again for its TLS client connections to the MASA (libcurl). Warnings
 * only: latchkeyd's start-up check says what is still missing.
 */
#define INIT_SERVICE_USER	"latchkey"

static void
init_ownership(const char *dir, int made, const char *db, const char *tls_key)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	struct passwd *pw;
	char p[PATH_MAX];
	size_t i;

	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(INIT_SERVICE_USER)) == NULL) {
		ctl_warnx("init: warning: no user %s: latchkeyd started as root runs its workers "
		    "as %s; create it (useradd --system --no-create-home --shell "
		    "/usr/sbin/nologin %s), then chown %s: %s", INIT_SERVICE_USER,
		    INIT_SERVICE_USER, INIT_SERVICE_USER, INIT_SERVICE_USER, db);
		return;
	}
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", db, sfx[i]);
		if (chown(p, pw->pw_uid, pw->pw_gid) == -1 && (i == 0 || errno != ENOENT))
			ctl_warnx("init: warning: chown %s %s: %s", INIT_SERVICE_USER, p,
			    strerror(errno));
	}
	if (chown(tls_key, 0, pw->pw_gid) == -1 || chmod(tls_key, 0640) == -1)
		ctl_warnx("init: warning: %s: %s", tls_key, strerror(errno));
	if (!made) {
		ctl_warnx("init: note: %s existed: the workers (user %s) need to create files "
		    "in it: chgrp %s %s; chmod 1770 %s", dir, INIT_SERVICE_USER,
		    INIT_SERVICE_USER, dir, dir);
		return;
	}
	if (chown(dir, 0, pw->pw_gid) == -1 || chmod(dir, 01770) == -1)
		ctl_warnx("init: warning: %s: %s", dir, strerror(errno));
}

/* The --san values of one command, checked (labpki_san_check). */
struct san_list {
	const char	*v[LABPKI_SAN_MAX];
	size_t		 n;
};

/* Add s to l; CTL_EXIT_USAGE after printing the error when s is no name or l is full. */
static int
san_add(struct san_list *l, const char *cmd, const char *s)
{
	char err[400];

	if (labpki_san_check(s, err, sizeof(err)) == -1)
		return ctl_usage("%s: --san %s", cmd, err);
	if (l->n == LABPKI_SAN_MAX)
		return ctl_usage("%s: at most %d --san", cmd, LABPKI_SAN_MAX);
	l->v[l->n++] = s;
	return 0;
}

/* names[0..n) joined by ", " into buf, each after "IP:" or "DNS:" when typed is set. */
static const char *
san_join(char names[][LABPKI_SAN_LEN], size_t n, int typed, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s%s", i > 0 ? ", " : "",
		    !typed ? "" : labpki_san_is_ip(names[i]) ? "IP:" : "DNS:", names[i]);
	return buf;
}

/*
 * The subjectAltName of the certificate just written to path: a text line after label, or
 * (j != NULL) a JSON array of the names set as j[key]. A warning when it cannot be read.
 */
static void
san_show(const char *label, const char *path, json_t *j, const char *key)
{
	char names[LABPKI_SAN_MAX][LABPKI_SAN_LEN], err[512], buf[LABPKI_SAN_MAX * 64];
	json_t *a;
	size_t n, i;

	if (labpki_cert_san(path, names, LABPKI_SAN_MAX, &n, err, sizeof(err)) == -1) {
		ctl_warnx("warning: %s", err);
		return;
	}
	if (j == NULL) {
		printf("%-25s %s\n", label, san_join(names, n, 1, buf, sizeof(buf)));
		return;
	}
	if ((a = json_array()) == NULL)
		return;
	for (i = 0; i < n; i++)
		json_array_append_new(a, ctl_jstr(names[i]));
	json_object_set_new(j, key, a);
}

/*
 * lab-pki's progress on stderr: on a terminal one line rewritten in place (about 200
 * updates in all, for LAB_PROGRESS_TTY_MIN devices or more); elsewhere (a log) one line
 * every LAB_PROGRESS_EVERY devices and one at the end, so only long runs write any.
 */
#define LAB_PROGRESS_TTY_MIN	50
#define LAB_PROGRESS_EVERY	1000

static void
labpki_progress(void *arg, size_t done, size_t total)
{
	const int *tty = arg;
	size_t step = total / 200 > 0 ? total / 200 : 1;

	if (*tty) {
		if (total < LAB_PROGRESS_TTY_MIN || (done % step != 0 && done != total))
			return;
		fprintf(stderr, "\rlatchkeyctl: lab-pki: %zu/%zu devices", done, total);
		if (done == total)
			fputc('\n', stderr);
	} else if (done % LAB_PROGRESS_EVERY == 0 ||
	    (done == total && total >= LAB_PROGRESS_EVERY))
		fprintf(stderr, "latchkeyctl: lab-pki: %zu/%zu devices\n", done, total);
}

/* lab-pki's JSON: the whole lab, the devices added by this run and the MASA TLS names. */
static int
labpki_json(const struct labpki_result *res)
{
	json_t *j, *devs, *added;
	size_t i;

	devs = json_array();
	added = json_array();
	for (i = 0; i < res->ndevices && devs != NULL && added != NULL; i++) {
		json_array_append_new(devs, json_pack("{s:o, s:o, s:o, s:o}",
		    "serial", ctl_jstr(res->devices[i].serial),
		    "cert", ctl_jpath(res->devices[i].cert),
		    "key", ctl_jpath(res->devices[i].key),
		    "masa_anchor", ctl_jpath(res->devices[i].masa_anchor)));
		if (i >= res->ndevices - res->nadded)
			json_array_append_new(added, ctl_jstr(res->devices[i].serial));
	}
	j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o*, s:o*}",
	    "manufacturer_ca", ctl_jpath(res->manufacturer_ca),
	    "manufacturer_ca_key", ctl_jpath(res->manufacturer_ca_key),
	    "manufacturer_ica", ctl_jpath(res->manufacturer_ica),
	    "manufacturer_ica_key", ctl_jpath(res->manufacturer_ica_key),
	    "masa_cert", ctl_jpath(res->masa_cert),
	    "masa_key", ctl_jpath(res->masa_key),
	    "masa_ca", ctl_jpath(res->masa_ca),
	    "masa_ca_key", ctl_jpath(res->masa_ca_key),
	    "masa_tls_cert", ctl_jpath(res->masa_tls_cert),
	    "masa_tls_key", ctl_jpath(res->masa_tls_key),
	    "serials", ctl_jpath(res->serials),
	    "devices", devs,
	    "added", added);
	if (j != NULL && access(res->masa_tls_cert, F_OK) == 0)
		san_show(NULL, res->masa_tls_cert, j, "masa_tls_san");
	return ctl_json_print(j);
}

/* lab-pki's text: every file written by this run. */
static void
labpki_print(const struct labpki_result *res, int created)
{
	char b[PATH_MAX];
	size_t i;

	if (created) {
		print_file("manufacturer CA", res->manufacturer_ca);
		print_file("manufacturer CA key", res->manufacturer_ca_key);
		print_file("IDevID issuing CA", res->manufacturer_ica);
		print_file("IDevID issuing CA key", res->manufacturer_ica_key);
		print_file("MASA CA", res->masa_ca);
		print_file("MASA CA key", res->masa_ca_key);
		print_file("MASA certificate", res->masa_cert);
		print_file("MASA key", res->masa_key);
	}
	if (res->masa_tls_made) {
		print_file("MASA TLS certificate", res->masa_tls_cert);
		print_file("MASA TLS key", res->masa_tls_key);
		san_show("MASA TLS names", res->masa_tls_cert, NULL, NULL);
	}
	for (i = res->ndevices - res->nadded; i < res->ndevices; i++) {
		printf("device %-12s IDevID %s\n", res->devices[i].serial,
		    ctl_abs_path(res->devices[i].cert, b, sizeof(b)));
		printf("device %-12s key    %s\n", res->devices[i].serial,
		    ctl_abs_path(res->devices[i].key, b, sizeof(b)));
		printf("device %-12s anchor %s\n", res->devices[i].serial,
		    ctl_abs_path(res->devices[i].masa_anchor, b, sizeof(b)));
	}
	print_file("device serials", res->serials);
}

/*
 * --ca-key / --masa-key: a pkcs11: URI (certs/keyref.h) naming where the key is generated.
 * Its PIN must come from pin-source: the URI is written into latchkeyd.conf (or printed),
 * and latchkeyd refuses a pin-value there. 0, or the usage exit status.
 */
static int
key_ref_check(const char *cmd, const char *opt, const char *v)
{
	struct keyref_uri u;
	char err[256];
	int pinv;

	if (!keyref_is_pkcs11(v))
		return ctl_usage("%s: %s takes a pkcs11: URI (RFC 7512), e.g. "
		    "pkcs11:token=T;object=O?pin-source=/etc/latchkey/pin", cmd, opt);
	if (keyref_uri_parse(v, &u, err, sizeof(err)) == -1)
		return ctl_usage("%s: %s: %s", cmd, opt, err);
	pinv = u.has_pin_value;
	keyref_uri_clear(&u);
	if (pinv)
		return ctl_usage("%s: %s: give the PIN as pin-source=FILE, not pin-value (the "
		    "URI is written to files and printed)", cmd, opt);
	return 0;
}

/* A count for --devices (1..max) or --add (0..max): -1 when s is none. */
static long
count_parse(const char *s, unsigned long min, unsigned long max)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || !isdigit((unsigned char)*s) || n < min || n > max)
		return -1;
	return (long)n;
}

/*
 * lab-pki: a lab manufacturer PKI with N devices, or (--add) N more devices for the lab in
 * DIR (certs/labpki.h).
 */
int
cmd_labpki(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "devices", required_argument, NULL, 'n' },
		{ "add", required_argument, NULL, 'a' },
		{ "masa-url", required_argument, NULL, 'm' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "san", required_argument, NULL, 'S' },
		{ "masa-key", required_argument, NULL, 'K' },
		{ "tpm", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct labpki_result res;
	struct labpki_opts o;
	struct san_list san;
	const char *out = NULL, *tcti = NULL;
	char err[512], p[PATH_MAX];
	long n = -1, add = -1;
	int ch, quiet = 0, tty, r;

	memset(&o, 0, sizeof(o));
	memset(&san, 0, sizeof(san));
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "o:n:m:k:q", lo)) != -1) {
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 'n':
			if ((n = count_parse(optarg, 1, CTL_MAX_DEVICES)) == -1)
				return ctl_usage("lab-pki: --devices must be 1 to %d",
				    CTL_MAX_DEVICES);
			break;
		case 'a':
			if ((add = count_parse(optarg, 0, CTL_MAX_DEVICES)) == -1)
				return ctl_usage("lab-pki: --add must be 0 to %d",
				    CTL_MAX_DEVICES);
			break;
		case 'm':
			o.masa_url = optarg;
			break;
		case 'k':
			o.key_type = optarg;
			break;
		case 'S':
			if ((r = san_add(&san, "lab-pki", optarg)) != 0)
				return r;
			break;
		case 'K':
			if ((r = key_ref_check("lab-pki", "--masa-key", optarg)) != 0)
				return r;
			o.masa_key_ref = optarg;
			break;
		case 'T':
			tcti = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("lab-pki: unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return ctl_usage("lab-pki: --out DIR is required");
	if (n != -1 && add != -1)
		return ctl_usage("lab-pki: --devices makes a new lab, --add extends one: not both");
	if (add != -1 && o.masa_key_ref != NULL)
		return ctl_usage("lab-pki: --masa-key goes with a new lab, not --add");
	o.ndevices = add != -1 ? (unsigned)add : n != -1 ? (unsigned)n : 1;
	if (tcti != NULL) {
		if (o.key_type != NULL && strcmp(o.key_type, "p256") != 0)
			return ctl_usage("lab-pki: --tpm makes P-256 device keys only");
		/* the TPM first: an unreachable one is a start-up error */
		if (tpmkey_open(tcti, err, sizeof(err)) == -1) {
			ctl_warnx("lab-pki: %s", err);
			return 1;
		}
		o.tpm_keys = 1;
	}
	o.masa_san = san.v;
	o.nmasa_san = san.n;
	tty = isatty(STDERR_FILENO);
	if (!quiet) {
		o.progress = labpki_progress;
		o.progress_arg = &tty;
	}

	memset(&res, 0, sizeof(res));
	if (add != -1) {
		if (labpki_add(out, &o, &res, err, sizeof(err)) == -1) {
			ctl_warnx("lab-pki: %s", err);
			return 1;
		}
	} else {
		snprintf(p, sizeof(p), "%s/manufacturer-ca.key", out);
		if (access(p, F_OK) == 0) {
			ctl_warnx("lab-pki: %s exists: there is a lab in %s already; refusing to "
			    "overwrite its key (--add N adds devices to it)", p, out);
			return 1;
		}
		if (mkdir_p(out) == -1) {
			ctl_warnx("lab-pki: %s: mkdir: %s", out, strerror(errno));
			return 1;
		}
		if (labpki_create_opts(out, &o, &res, err, sizeof(err)) == -1) {
			ctl_warnx("lab-pki: %s", err);
			labpki_result_free(&res);
			return 1;
		}
	}
	if (ctl->json)
		r = labpki_json(&res);
	else {
		if (!quiet)
			labpki_print(&res, add == -1);
		r = 0;
	}
	labpki_result_free(&res);
	tpmkey_close();
	return r;
}

/* The names and addresses of this host (labpki_san_local) as one text line. */
static const char *
local_names(char *buf, size_t len)
{
	char local[4][LABPKI_SAN_LEN];

	return san_join(local, labpki_san_local(local, 4), 0, buf, len);
}

/*
 * init --reissue-registrar-cert --dir DIR [--san NAME]...: the upgrade of a domain made by
 * an older init, whose registrar certificate lacks id-kp-cmcRA (RFC 8995 §5.5), which
 * pledges and the MASA now require (latchkeyd -n fails without it and a start warns;
 * latchkeyd(8)). A new DIR/registrar.pem with the same subject and key, under the domain CA
 * in DIR; the old one is kept as registrar.pem.old. latchkeyd reads it on restart. Its
 * subjectAltName: the --san names and registrar.DOMAIN; without --san the old one, where an
 * unspecified address (an older init given --listen 0.0.0.0) gives way to this host's names.
 */
/*
 * --reload PIDFILE: SIGHUP to the latchkeyd whose pid-file it is (latchkeyd.conf(5)), after
 * checking that the process is a latchkeyd: a stale file must not signal another program.
 */
static int
reload_latchkeyd(const char *pidfile, char *err, size_t errlen)
{
	char buf[32], comm[64], p[64], *end;
	FILE *f;
	long pid;

	if ((f = fopen(pidfile, "r")) == NULL)
		return errf(err, errlen, "--reload %s: %s", pidfile, strerror(errno));
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || pid <= 1)
		return errf(err, errlen, "--reload %s: no process ID in it", pidfile);
	snprintf(p, sizeof(p), "/proc/%ld/comm", pid);
	if ((f = fopen(p, "r")) == NULL)
		return errf(err, errlen, "--reload %s: process %ld is not running (a stale "
		    "pid-file?)", pidfile, pid);
	if (fgets(comm, sizeof(comm), f) == NULL)
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "latchkeyd") != 0)
		return errf(err, errlen, "--reload %s: process %ld is %s, not latchkeyd",
		    pidfile, pid, comm);
	if (kill((pid_t)pid, SIGHUP) == -1)
		return errf(err, errlen, "--reload: SIGHUP to latchkeyd %ld: %s", pid,
		    strerror(errno));
	return (int)pid;
}

static int
init_reissue(struct ctl *ctl, const char *dir, const struct san_list *san,
    const char *reload, const char *ca_key_ref)
{
	struct domainca_files files;
	char err[512], old[PATH_MAX], p[PATH_MAX], buf[512];
	char cur[LABPKI_SAN_MAX][LABPKI_SAN_LEN], local[4][LABPKI_SAN_LEN];
	const char *names[LABPKI_SAN_MAX + 4];
	size_t ncur = 0, nn = 0, nl, i;
	int wild = 0, pid = 0, rc = 0;
	json_t *j;

	for (i = 0; i < san->n; i++)
		names[nn++] = san->v[i];
	snprintf(p, sizeof(p), "%s/registrar.pem", dir);
	if (san->n == 0 &&
	    labpki_cert_san(p, cur, LABPKI_SAN_MAX, &ncur, err, sizeof(err)) == 0) {
		for (i = 0; i < ncur; i++)
			if (labpki_san_unspecified(cur[i]))
				wild = 1;
			else
				names[nn++] = cur[i];
		if (wild) {
			nl = labpki_san_local(local, 4);
			for (i = 0; i < nl; i++)
				names[nn++] = local[i];
		}
	}
	if (domainca_reissue_registrar_ref(dir, names, san->n > 0 || wild ? nn : 0, ca_key_ref,
	    &files, old, sizeof(old), err, sizeof(err)) == -1) {
		ctl_warnx("init: %s", err);
		return 1;
	}
	if (wild)
		ctl_warnx("init: note: %s named the unspecified address (a wildcard --listen), "
		    "which names no host: the new certificate names %s instead; give --san "
		    "with the names and addresses devices connect to", old,
		    local_names(buf, sizeof(buf)));
	/* the certificate is in place whatever the reload's fate: the files are shown */
	if (reload != NULL && (pid = reload_latchkeyd(reload, err, sizeof(err))) == -1)
		ctl_warnx("init: the certificate is written, but %s; reload latchkeyd "
		    "yourself (systemctl reload latchkeyd, or SIGHUP)", err);
	if (ctl->json) {
		j = json_pack("{s:o, s:o}", "tls_cert", ctl_jpath(files.tls_cert),
		    "old_tls_cert", ctl_jpath(old));
		if (j != NULL)
			san_show(NULL, files.tls_cert, j, "tls_san");
		if (j != NULL && pid > 0)
			json_object_set_new(j, "reloaded_pid", json_integer(pid));
		rc = ctl_json_print(j);
	} else {
		print_file("registrar TLS certificate", files.tls_cert);
		print_file("previous registrar TLS certificate", old);
		san_show("registrar TLS names", files.tls_cert, NULL, NULL);
		if (pid > 0)
			printf("latchkeyd (pid %d) reloads: it serves the new certificate once "
			    "its new workers do\n", pid);
	}
	return pid == -1 ? 1 : rc;
}

/*
 * init: the owner domain's CA and registrar TLS certificate (domainca_create), a copy of
 * the manufacturer CA, an empty registry and a latchkeyd configuration, all in DIR.
 * Refuses to overwrite any of them. With --reissue-registrar-cert: init_reissue() above.
 */
int
cmd_init(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "dir", required_argument, NULL, 'C' },
		{ "manufacturer-ca", required_argument, NULL, 'm' },
		{ "listen", required_argument, NULL, 'l' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "reissue-registrar-cert", no_argument, NULL, 'R' },
		{ "reload", required_argument, NULL, 'r' },
		{ "san", required_argument, NULL, 'S' },
		{ "ca-key", required_argument, NULL, 'K' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char *const outputs[] = {
		"domain-ca.pem", "domain-ca.key", "registrar.pem", "registrar.key",
		"manufacturer-ca.pem", "registry.db", "latchkeyd.conf",
	};
	static const char default_listen[] = CTL_DEFAULT_LISTEN;
	const char *domain = NULL, *dir = NULL, *mca = NULL, *listen = default_listen;
	const char *key_type = NULL, *reload = NULL, *ca_key_ref = NULL;
	char host[256], err[512], p[PATH_MAX], mca_out[PATH_MAX], db[PATH_MAX], conf[PATH_MAX];
	char actor[300], *details = NULL, urlhost[LABPKI_SAN_LEN + 2], names_text[512];
	char local[4][LABPKI_SAN_LEN];
	const char *names[LABPKI_SAN_MAX + 5];
	struct domainca_files files;
	struct san_list san;
	STACK_OF(X509) *certs = NULL;
	struct registry *reg = NULL;
	unsigned char *buf = NULL;
	char *cfg = NULL;
	size_t len = 0, i, nn = 0, nl = 0;
	unsigned port;
	json_t *j, *dj = NULL;
	int ch, n, rc = 1, reissue = 0, made, wild;

	memset(&san, 0, sizeof(san));
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'd':
			domain = optarg;
			break;
		case 'C':
			dir = optarg;
			break;
		case 'm':
			mca = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'k':
			key_type = optarg;
			break;
		case 'R':
			reissue = 1;
			break;
		case 'r':
			reload = optarg;
			break;
		case 'S':
			if ((n = san_add(&san, "init", optarg)) != 0)
				return n;
			break;
		case 'K':
			if ((n = key_ref_check("init", "--ca-key", optarg)) != 0)
				return n;
			ca_key_ref = optarg;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("init: unexpected argument '%s'", argv[optind]);
	if (reissue) {
		if (dir == NULL || domain != NULL || mca != NULL || key_type != NULL ||
		    listen != default_listen)
			return ctl_usage("init: --reissue-registrar-cert takes --dir DIR, "
			    "--san, --ca-key and --reload only");
		return init_reissue(ctl, dir, &san, reload, ca_key_ref);
	}
	if (reload != NULL) {
		return ctl_usage("init: --reload goes with --reissue-registrar-cert");
	}
	if (domain == NULL || dir == NULL || mca == NULL)
		return ctl_usage("init: --domain, --dir and --manufacturer-ca are required");
	if (!domain_valid(domain))
		return ctl_usage("init: --domain '%s' is not a DNS name", domain);
	if (parse_listen(listen, host, sizeof(host), &port) == -1)
		return ctl_usage("init: --listen '%s' is not ADDR:PORT or [V6ADDR]:PORT", listen);
	if (!(wild = labpki_san_unspecified(host)) && labpki_san_check(host, err,
	    sizeof(err)) == -1)
		return ctl_usage("init: --listen %s", err);

	/*
	 * The registrar certificate's names: the --listen host unless it is a wildcard, then
	 * every --san (and registrar.DOMAIN, added by domainca_create_san). Without --san:
	 * localhost as well, or for a wildcard this host's names. The CRL and OCSP URLs of
	 * latchkeyd.conf need one host devices reach: the --listen host, else the first
	 * --san, else this host's name.
	 */
	if (!wild)
		names[nn++] = host;
	for (i = 0; i < san.n; i++)
		names[nn++] = san.v[i];
	if (san.n == 0 && !wild)
		names[nn++] = "localhost";
	if (san.n == 0 && wild) {
		nl = labpki_san_local(local, 4);
		for (i = 0; i < nl; i++)
			names[nn++] = local[i];
	}
	snprintf(urlhost, sizeof(urlhost), "%s", !wild ? host : san.n > 0 ? san.v[0] :
	    nl > 3 ? local[3] : "localhost");
	if (labpki_san_is_ip(urlhost) && strchr(urlhost, ':') != NULL && urlhost[0] != '[')
		snprintf(urlhost, sizeof(urlhost), "[%s]", !wild ? host : san.v[0]);

	/* Refuse before writing anything, so a second init leaves the first intact. */
	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, outputs[i]) >= sizeof(p)) {
			ctl_warnx("init: %s: path too long", dir);
			return 1;
		}
		if (access(p, F_OK) == 0) {
			ctl_warnx("init: %s exists; refusing to overwrite", p);
			return 1;
		}
	}
	snprintf(mca_out, sizeof(mca_out), "%s/manufacturer-ca.pem", dir);
	snprintf(db, sizeof(db), "%s/registry.db", dir);
	snprintf(conf, sizeof(conf), "%s/latchkeyd.conf", dir);

	/* The manufacturer CA must be readable PEM certificates. */
	if ((certs = pki_certs_read(mca, err, sizeof(err))) == NULL) {
		ctl_warnx("init: manufacturer CA: %s", err);
		goto out;
	}
	if ((buf = pki_file_read(mca, CTL_MAX_CA_FILE, &len, err, sizeof(err))) == NULL) {
		ctl_warnx("init: manufacturer CA: %s", err);
		goto out;
	}
	made = access(dir, F_OK) == -1;
	if (mkdir_p(dir) == -1) {
		ctl_warnx("init: %s: mkdir: %s", dir, strerror(errno));
		goto out;
	}

	memset(&files, 0, sizeof(files));
	if (domainca_create_ref(dir, domain, names, nn, key_type, ca_key_ref, &files, err,
	    sizeof(err)) == -1) {
		ctl_warnx("init: %s", err);
		goto out;
	}
	if (pki_file_write(mca_out, buf, len, 0644, 0, err, sizeof(err)) == -1) {
		ctl_warnx("init: %s", err);
		goto out;
	}
	if ((reg = registry_open(db, REGISTRY_CREATE, err, sizeof(err))) == NULL) {
		ctl_warnx("init: %s", err);
		goto out;
	}
	ctl_actor(actor, sizeof(actor));
	dj = json_pack("{s:s}", "listen", listen);
	details = dj != NULL ? json_dumps(dj, JSON_COMPACT) : NULL;
	if (registry_audit(reg, actor, "init", domain, NULL, details, err, sizeof(err)) == -1) {
		ctl_warnx("init: %s", err);
		goto out;
	}
	init_ownership(dir, made, db, files.tls_key);
	if (ca_key_ref != NULL && geteuid() == 0)
		ctl_warnx("init: note: the domain CA key is in a PKCS#11 token: latchkeyd's "
		    "signer-user (default latchkey-signer) signs with it after its privilege "
		    "drop and must be able to use the token (SoftHSM2: chown -R latchkey-signer "
		    "its token directory); latchkeyd -n checks that");
	if (wild && san.n == 0)
		ctl_warnx("init: note: --listen %s is a wildcard address, which names no host: "
		    "the registrar certificate names %s and registrar.%s, and the CRL and OCSP "
		    "URLs use %s; give --san with the names and addresses devices connect to",
		    listen, local_names(names_text, sizeof(names_text)), domain, urlhost);

	n = asprintf(&cfg,
	    "# latchkeyd configuration written by latchkeyctl init; see latchkeyd(8)\n"
	    "listen = %s\n"
	    "domain = %s\n"
	    "ca-cert = domain-ca.pem\n"
	    "ca-key = %s\n"
	    "tls-cert = registrar.pem\n"
	    "tls-key = registrar.key\n"
	    "registry = registry.db\n"
	    "manufacturer-ca = manufacturer-ca.pem\n"
	    "channel-binding = required\n"
	    "ldevid-lifetime-days = 365\n"
	    "crl-url = https://%s:%u/.well-known/latchkey/crl\n"
	    "ocsp-url = https://%s:%u/.well-known/latchkey/ocsp\n",
	    listen, domain, ca_key_ref != NULL ? ca_key_ref : "domain-ca.key", urlhost, port,
	    urlhost, port);
	if (n < 0) {
		cfg = NULL;
		ctl_warnx("init: out of memory");
		goto out;
	}
	if (pki_file_write(conf, cfg, (size_t)n, 0644, 0, err, sizeof(err)) == -1) {
		ctl_warnx("init: %s", err);
		goto out;
	}

	if (ctl->json) {
		j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		    "domain_ca", ctl_jpath(files.ca_cert),
		    "domain_ca_key", ctl_jpath(files.ca_key),
		    "tls_cert", ctl_jpath(files.tls_cert),
		    "tls_key", ctl_jpath(files.tls_key),
		    "registry", ctl_jpath(db),
		    "config", ctl_jpath(conf),
		    "manufacturer_ca", ctl_jpath(mca_out));
		if (j != NULL)
			san_show(NULL, files.tls_cert, j, "tls_san");
		rc = ctl_json_print(j);
		goto out;
	}
	print_file("domain CA", files.ca_cert);
	print_file("domain CA key", files.ca_key);
	print_file("registrar TLS certificate", files.tls_cert);
	print_file("registrar TLS key", files.tls_key);
	san_show("registrar TLS names", files.tls_cert, NULL, NULL);
	print_file("manufacturer CA", mca_out);
	print_file("registry", db);
	print_file("latchkeyd configuration", conf);
	rc = 0;
out:
	registry_close(reg);
	sk_X509_pop_free(certs, X509_free);
	json_decref(dj);
	free(details);
	free(buf);
	free(cfg);
	return rc;
}

/* Count one CA's live LDevIDs in the registry at path: 0 and *n, or -1 with err. */
static int
rollover_live(const char *db, const char *kid, int64_t *n, char *err, size_t errlen)
{
	struct registry *reg;
	int rc;

	if ((reg = registry_open(db, REGISTRY_RDONLY, err, errlen)) == NULL)
		return -1;
	rc = registry_ca_live(reg, kid, (int64_t)time(NULL), n, err, errlen);
	registry_close(reg);
	return rc;
}

/*
 * latchkeyd.conf gets previous-ca-cert, previous-ca-key and rollover-certs unless it names
 * them already (an earlier rollover: the same files). Appended, the rest left as it is.
 * 1 changed, 0 nothing to do, -1 with err.
 */
static int
rollover_conf(const char *conf, const struct domainca_rollover *ro, char *err,
    size_t errlen)
{
	char line[1024], *k;
	int has = 0, nl = 1;
	FILE *f;

	if ((f = fopen(conf, "r+")) == NULL)
		return errf(err, errlen, "%s: %s", conf, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		nl = strchr(line, '\n') != NULL;
		for (k = line; *k == ' ' || *k == '\t'; k++)
			;
		if (strncmp(k, "previous-ca-cert", 16) == 0 && strchr(" \t=", k[16]) != NULL)
			has = 1;
	}
	/* absolute paths: the configuration need not live beside the CA (/etc/latchkey) */
	if (!has && (fseek(f, 0, SEEK_END) == -1 || (!nl && fputc('\n', f) == EOF) ||
	    fprintf(f, "# latchkeyctl ca-rollover: the previous domain CA signs the CRL and "
	    "OCSP for its\n# LDevIDs until they expire; cacerts serves both CAs and the link "
	    "certificates\nprevious-ca-cert = %s\nprevious-ca-key = %s\n"
	    "rollover-certs = %s\n", ro->prev_cert, ro->prev_key, ro->links) < 0 ||
	    fflush(f) == EOF || fsync(fileno(f)) == -1)) {
		errf(err, errlen, "%s: %s", conf, strerror(errno));
		fclose(f);
		return -1;
	}
	if (fclose(f) == EOF)
		return errf(err, errlen, "%s: %s", conf, strerror(errno));
	return !has;
}

/*
 * ca-rollover --dir DIR [--config FILE] [--force] [--reload PIDFILE]: a new domain CA
 * key and certificate (domainca_rollover, RFC 7030 §4.1.3). Refuses while LDevIDs of an
 * earlier previous CA are still valid (they would stop verifying) unless --force. Marks the
 * registry's certificates of before with the outgoing CA's key identifier, so that each
 * CA's CRL lists its own, and audits the rollover.
 */
int
cmd_ca_rollover(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'C' },
		{ "config", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "reload", required_argument, NULL, 'r' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct domainca_rollover ro;
	const char *dir = NULL, *conf = NULL, *reload = NULL, *db;
	char err[512], confbuf[PATH_MAX], dbbuf[PATH_MAX], actor[300], when[32];
	char *details = NULL;
	struct registry *reg = NULL;
	X509 *prev = NULL;
	int64_t live = 0, marked = 0;
	json_t *j, *dj = NULL;
	int ch, force = 0, pid = 0, changed, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'C':
			dir = optarg;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'r':
			reload = optarg;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("ca-rollover: unexpected argument '%s'", argv[optind]);
	if (dir == NULL)
		return ctl_usage("ca-rollover: --dir DIR is required (the directory of "
		    "domain-ca.pem, as init made it)");
	if (conf == NULL) {
		snprintf(confbuf, sizeof(confbuf), "%s/latchkeyd.conf", dir);
		conf = confbuf;
	}
	/* init's layout: the registry in DIR, unless --db (or LATCHKEY_DB) names another */
	snprintf(dbbuf, sizeof(dbbuf), "%s/registry.db", dir);
	db = strcmp(ctl->db, CTL_DEFAULT_DB) == 0 && access(dbbuf, F_OK) == 0 ? dbbuf : ctl->db;
	if (access(conf, R_OK | W_OK) == -1) {
		ctl_warnx("ca-rollover: %s: %s (give --config, latchkeyd's configuration)", conf,
		    strerror(errno));
		return 1;
	}
	if (domainca_rollover_paths(dir, &ro, err, sizeof(err)) == -1) {
		ctl_warnx("ca-rollover: %s", err);
		return 1;
	}
	if (access(ro.ca_key, F_OK) == -1 && errno == ENOENT) {
		ctl_warnx("ca-rollover: %s: not there; a domain CA key in a PKCS#11 token "
		    "(ca-key = pkcs11:... in %s) is not rolled over by ca-rollover yet", ro.ca_key,
		    conf);
		return 1;
	}
	/* An earlier rollover's CA is dropped now: only when nothing of it is still valid. */
	if (access(ro.prev_cert, F_OK) == 0) {
		char kid[132];

		if ((prev = pki_cert_read(ro.prev_cert, err, sizeof(err))) == NULL ||
		    pki_cert_kid(prev, kid, sizeof(kid)) == -1) {
			ctl_warnx("ca-rollover: %s: %s", ro.prev_cert, prev == NULL ? err :
			    "no key identifier");
			goto out;
		}
		if (rollover_live(db, kid, &live, err, sizeof(err)) == -1) {
			ctl_warnx("ca-rollover: %s", err);
			goto out;
		}
		if (live > 0 && !force) {
			ctl_warnx("ca-rollover: %" PRId64 " LDevID%s of the previous domain CA "
			    "(%s, key id %s) %s neither expired nor revoked; a new rollover "
			    "drops that CA and %s would stop verifying. Wait until they "
			    "renew (latchkey reenroll) or expire, or give --force", live,
			    live == 1 ? "" : "s", ro.prev_cert, kid, live == 1 ? "is" : "are",
			    live == 1 ? "it" : "they");
			goto out;
		}
	}
	if ((reg = registry_open(db, 0, err, sizeof(err))) == NULL) {
		ctl_warnx("ca-rollover: %s", err);
		goto out;
	}
	if (domainca_rollover(dir, &ro, err, sizeof(err)) == -1) {
		ctl_warnx("ca-rollover: %s", err);
		goto out;
	}
	if (registry_ca_mark(reg, ro.old_kid, &marked, err, sizeof(err)) == -1) {
		ctl_warnx("ca-rollover: the new CA is written, but marking the certificates "
		    "of the previous one failed: %s; run ca-rollover's mark again with "
		    "latchkeyd stopped", err);
		goto out;
	}
	if ((changed = rollover_conf(conf, &ro, err, sizeof(err))) == -1) {
		ctl_warnx("ca-rollover: the new CA is written, but %s: add previous-ca-cert = "
		    "%s, previous-ca-key = %s and rollover-certs = %s yourself", err,
		    ro.prev_cert, ro.prev_key, ro.links);
		goto out;
	}
	ctl_actor(actor, sizeof(actor));
	dj = json_pack("{s:s, s:s, s:I, s:I}", "previous_kid", ro.old_kid, "new_kid",
	    ro.new_kid, "marked", (json_int_t)marked, "dropped_live", (json_int_t)live);
	details = dj != NULL ? json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (registry_audit(reg, actor, "ca-rollover", ro.new_kid, NULL, details, err,
	    sizeof(err)) == -1) {
		ctl_warnx("ca-rollover: %s", err);
		goto out;
	}
	if (reload != NULL && (pid = reload_latchkeyd(reload, err, sizeof(err))) == -1)
		ctl_warnx("ca-rollover: the new CA is written, but %s; reload latchkeyd "
		    "yourself (systemctl reload latchkeyd, or SIGHUP)", err);
	ctl_time(ro.old_not_after, when, sizeof(when));
	if (ctl->json) {
		j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:s, s:s, s:I, s:b}",
		    "ca_cert", ctl_jpath(ro.ca_cert), "ca_key", ctl_jpath(ro.ca_key),
		    "previous_ca_cert", ctl_jpath(ro.prev_cert),
		    "previous_ca_key", ctl_jpath(ro.prev_key),
		    "rollover_certs", ctl_jpath(ro.links), "new_kid", ro.new_kid,
		    "previous_kid", ro.old_kid, "previous_expires", when,
		    "marked", (json_int_t)marked, "config_changed", changed);
		if (j != NULL && pid > 0)
			json_object_set_new(j, "reloaded_pid", json_integer(pid));
		rc = ctl_json_print(j);
	} else {
		print_file("domain CA (new)", ro.ca_cert);
		print_file("domain CA key (new)", ro.ca_key);
		print_file("previous domain CA", ro.prev_cert);
		print_file("previous domain CA key", ro.prev_key);
		print_file("NewWithOld, OldWithNew", ro.links);
		printf("new CA key id %s; previous %s, valid until %s\n", ro.new_kid, ro.old_kid,
		    when);
		printf("%" PRId64 " certificate%s recorded as the previous CA's\n", marked,
		    marked == 1 ? "" : "s");
		printf("%s: %s\n", conf, changed ? "previous-ca-cert, previous-ca-key and "
		    "rollover-certs added" : "names the previous CA already");
		if (pid > 0)
			printf("latchkeyd (pid %d) reloads: new LDevIDs come from the new CA "
			    "once its new workers serve\n", pid);
		else if (reload == NULL)
			printf("reload latchkeyd (systemctl reload latchkeyd, or SIGHUP) for "
			    "the new CA to issue\n");
		rc = 0;
	}
	if (pid == -1)
		rc = 1;
out:
	free(details);
	json_decref(dj);
	X509_free(prev);
	registry_close(reg);
	return rc;
}
