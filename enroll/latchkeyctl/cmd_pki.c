/*
 * cmd_pki: the commands that write key material. lab-pki makes a lab manufacturer PKI
 * (certs/labpki.h); init makes an owner domain: its CA, the registrar's TLS certificate,
 * a copy of the manufacturer CA, an empty registry and a latchkeyd configuration.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "certs/labpki.h"
#include "certs/pki.h"
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

/* Read a whole small file (at most max bytes). Returns malloc'd buffer or NULL (and err). */
static unsigned char *
read_small_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	struct stat sb;
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto err;
	}
	if ((size_t)sb.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		goto err;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto err;
	}
	while ((r = read(fd, buf + n, max + 1 - n)) > 0 && n + (size_t)r <= max)
		n += (size_t)r;
	if (r == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto err;
	}
	if (r > 0) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		goto err;
	}
	close(fd);
	*len = n;
	return buf;
err:
	free(buf);
	close(fd);
	return NULL;
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

/* lab-pki: a lab manufacturer PKI with N devices (certs/labpki.h). */
int
cmd_labpki(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "devices", required_argument, NULL, 'n' },
		{ "masa-url", required_argument, NULL, 'm' },
		{ "key-type", required_argument, NULL, 'k' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct labpki_result res;
	const char *out = NULL, *masa_url = NULL, *key_type = NULL;
	char err[512], b[PATH_MAX], *end;
	unsigned long n = 1;
	json_t *j = NULL, *devs;
	size_t i;
	int ch;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "o:n:m:k:", lo)) != -1) {
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 'n':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || !isdigit((unsigned char)*optarg) ||
			    n < 1 || n > CTL_MAX_DEVICES)
				return ctl_usage("lab-pki: --devices must be 1 to %d",
				    CTL_MAX_DEVICES);
			break;
		case 'm':
			masa_url = optarg;
			break;
		case 'k':
			key_type = optarg;
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

	if (mkdir_p(out) == -1) {
		ctl_warnx("lab-pki: %s: mkdir: %s", out, strerror(errno));
		return 1;
	}
	memset(&res, 0, sizeof(res));
	if (labpki_create(out, (unsigned)n, masa_url, key_type, &res, err, sizeof(err)) == -1) {
		ctl_warnx("lab-pki: %s", err);
		labpki_result_free(&res);
		return 1;
	}
	if (ctl->json) {
		if ((devs = json_array()) != NULL)
			for (i = 0; i < res.ndevices; i++)
				json_array_append_new(devs, json_pack("{s:o, s:o, s:o, s:o}",
				    "serial", ctl_jstr(res.devices[i].serial),
				    "cert", ctl_jpath(res.devices[i].cert),
				    "key", ctl_jpath(res.devices[i].key),
				    "masa_anchor", ctl_jpath(res.devices[i].masa_anchor)));
		j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o*}",
		    "manufacturer_ca", ctl_jpath(res.manufacturer_ca),
		    "manufacturer_ca_key", ctl_jpath(res.manufacturer_ca_key),
		    "manufacturer_ica", ctl_jpath(res.manufacturer_ica),
		    "manufacturer_ica_key", ctl_jpath(res.manufacturer_ica_key),
		    "masa_cert", ctl_jpath(res.masa_cert),
		    "masa_key", ctl_jpath(res.masa_key),
		    "masa_ca", ctl_jpath(res.masa_ca),
		    "masa_ca_key", ctl_jpath(res.masa_ca_key),
		    "devices", devs);
		labpki_result_free(&res);
		return ctl_json_print(j);
	}
	print_file("manufacturer CA", res.manufacturer_ca);
	print_file("manufacturer CA key", res.manufacturer_ca_key);
	print_file("IDevID issuing CA", res.manufacturer_ica);
	print_file("IDevID issuing CA key", res.manufacturer_ica_key);
	print_file("MASA CA", res.masa_ca);
	print_file("MASA CA key", res.masa_ca_key);
	print_file("MASA certificate", res.masa_cert);
	print_file("MASA key", res.masa_key);
	for (i = 0; i < res.ndevices; i++) {
		printf("device %-12s IDevID %s\n", res.devices[i].serial,
		    ctl_abs_path(res.devices[i].cert, b, sizeof(b)));
		printf("device %-12s key    %s\n", res.devices[i].serial,
		    ctl_abs_path(res.devices[i].key, b, sizeof(b)));
		printf("device %-12s anchor %s\n", res.devices[i].serial,
		    ctl_abs_path(res.devices[i].masa_anchor, b, sizeof(b)));
	}
	labpki_result_free(&res);
	return 0;
}

/*
 * init --reissue-registrar-cert --dir DIR: the upgrade of a domain made by an older init,
 * whose registrar certificate lacks id-kp-cmcRA (RFC 8995 §5.5), which pledges and the MASA
 * now require (latchkeyd -n fails without it and a start warns; latchkeyd(8)). A new
 * DIR/registrar.pem with the same subject, subjectAltName and key, under the domain CA in
 * DIR; the old one is kept as registrar.pem.old. latchkeyd reads it on restart.
 */
static int
init_reissue(struct ctl *ctl, const char *dir)
{
	struct domainca_files files;
	char err[512], old[PATH_MAX];
	json_t *j;

	if (domainca_reissue_registrar(dir, &files, old, sizeof(old), err, sizeof(err)) ==
	    -1) {
		ctl_warnx("init: %s", err);
		return 1;
	}
	if (ctl->json) {
		j = json_pack("{s:o, s:o}", "tls_cert", ctl_jpath(files.tls_cert),
		    "old_tls_cert", ctl_jpath(old));
		return ctl_json_print(j);
	}
	print_file("registrar TLS certificate", files.tls_cert);
	print_file("previous registrar TLS certificate", old);
	return 0;
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
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char *const outputs[] = {
		"domain-ca.pem", "domain-ca.key", "registrar.pem", "registrar.key",
		"manufacturer-ca.pem", "registry.db", "latchkeyd.conf",
	};
	const char *domain = NULL, *dir = NULL, *mca = NULL, *listen = CTL_DEFAULT_LISTEN;
	const char *key_type = NULL;
	char host[256], err[512], p[PATH_MAX], mca_out[PATH_MAX], db[PATH_MAX], conf[PATH_MAX];
	char actor[300], *details = NULL;
	struct domainca_files files;
	STACK_OF(X509) *certs = NULL;
	struct registry *reg = NULL;
	unsigned char *buf = NULL;
	char *cfg = NULL;
	size_t len = 0, i;
	unsigned port;
	json_t *j, *dj = NULL;
	int ch, n, rc = 1, reissue = 0, made;

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
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("init: unexpected argument '%s'", argv[optind]);
	if (reissue) {
		if (dir == NULL || domain != NULL || mca != NULL || key_type != NULL)
			return ctl_usage("init: --reissue-registrar-cert takes --dir DIR only");
		return init_reissue(ctl, dir);
	}
	if (domain == NULL || dir == NULL || mca == NULL)
		return ctl_usage("init: --domain, --dir and --manufacturer-ca are required");
	if (!domain_valid(domain))
		return ctl_usage("init: --domain '%s' is not a DNS name", domain);
	if (parse_listen(listen, host, sizeof(host), &port) == -1)
		return ctl_usage("init: --listen '%s' is not ADDR:PORT or [V6ADDR]:PORT", listen);

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
	if ((buf = read_small_file(mca, CTL_MAX_CA_FILE, &len, err, sizeof(err))) == NULL) {
		ctl_warnx("init: manufacturer CA: %s", err);
		goto out;
	}
	made = access(dir, F_OK) == -1;
	if (mkdir_p(dir) == -1) {
		ctl_warnx("init: %s: mkdir: %s", dir, strerror(errno));
		goto out;
	}

	memset(&files, 0, sizeof(files));
	if (domainca_create(dir, domain, host, key_type, &files, err, sizeof(err)) == -1) {
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

	n = asprintf(&cfg,
	    "# latchkeyd configuration written by latchkeyctl init; see latchkeyd(8)\n"
	    "listen = %s\n"
	    "domain = %s\n"
	    "ca-cert = domain-ca.pem\n"
	    "ca-key = domain-ca.key\n"
	    "tls-cert = registrar.pem\n"
	    "tls-key = registrar.key\n"
	    "registry = registry.db\n"
	    "manufacturer-ca = manufacturer-ca.pem\n"
	    "channel-binding = required\n"
	    "ldevid-lifetime-days = 365\n"
	    "crl-url = https://%s/.well-known/latchkey/crl\n"
	    "ocsp-url = https://%s/.well-known/latchkey/ocsp\n",
	    listen, domain, listen, listen);
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
		rc = ctl_json_print(j);
		goto out;
	}
	print_file("domain CA", files.ca_cert);
	print_file("domain CA key", files.ca_key);
	print_file("registrar TLS certificate", files.tls_cert);
	print_file("registrar TLS key", files.tls_key);
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
