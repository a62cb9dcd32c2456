/*
 * latchkeyctl: latchkey's admin CLI. Lab PKI, a new owner domain (init), claims, bindings,
 * revocation and the audit log. See latchkeyctl(8) and DESIGN.md "Command lines".
 *
 * Exit status: 0 success, 1 failure, 2 usage error. Every error is one line on stderr,
 * prefixed "latchkeyctl: ". Data goes to stdout, as text or (--json) one JSON object.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "certs/labpki.h"
#include "certs/pki.h"
#include "enroll/latchkeyctl/ctl_crl.h"
#include "enroll/latch/statefile.h"
#include "enroll/store/registry.h"
#include "enroll/store/masadb.h"	/* brski */

#define CTL_DEFAULT_DB		"/var/lib/latchkey/registry.db"
#define CTL_DEFAULT_LISTEN	"127.0.0.1:8443"
#define CTL_MAX_DEVICES		10000
#define CTL_MAX_CA_FILE		(1024 * 1024)
#define CTL_SERIAL_MAX		64
#define CTL_LINE_MAX		1024

#define EXIT_USAGE		2

struct ctl {
	const char	*db;
	int		 json;
	int		 verbose;
};

struct ctl_cmd {
	const char	*name;
	int		(*fn)(struct ctl *, int, char **);
	const char	*help;
};

static const struct ctl_cmd *cmd_find(const char *name);
static void	help_full(FILE *fp);

static void __attribute__((format(printf, 1, 2)))
warnx_ctl(const char *fmt, ...)
{
	va_list ap;

	fputs("latchkeyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: one line, then exit status 2. */
static int __attribute__((format(printf, 1, 2)))
usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("latchkeyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* Text from the registry for a terminal: control characters become '?'. */
static const char *
safe(const char *s, char *buf, size_t len)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return "-";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/* "YYYY-MM-DDTHH:MM:SSZ" (ISO 8601, UTC), or "-" for 0. */
static const char *
iso_time(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

/* Unix seconds, YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SSZ. -1 when unparseable. */
static int
parse_since(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	long long v;
	time_t t;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		*out = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL)
		return -1;
	if (*end != '\0') {
		end = strptime(end, "T%H:%M:%SZ", &tm);
		if (end == NULL || *end != '\0')
			return -1;
	}
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

/* Absolute form of path (which exists: it was just written). */
static const char *
abs_path(const char *path, char *buf, size_t len)
{
	char cwd[PATH_MAX], *r;

	if ((r = realpath(path, NULL)) != NULL) {
		snprintf(buf, len, "%s", r);
		free(r);
	} else if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(buf, len, "%s", path);
	else if ((size_t)snprintf(buf, len, "%s/%s", cwd, path) >= len)
		snprintf(buf, len, "%s", path);
	return buf;
}

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

/* The actor recorded in the audit log: "admin:<login name>" or "admin:uid<N>". */
static void
ctl_actor(char *buf, size_t len)
{
	char login[256];
	struct passwd *pw;

	if (getlogin_r(login, sizeof(login)) == 0 && login[0] != '\0')
		snprintf(buf, len, "admin:%s", login);
	else if ((pw = getpwuid(geteuid())) != NULL && pw->pw_name != NULL)
		snprintf(buf, len, "admin:%s", pw->pw_name);
	else
		snprintf(buf, len, "admin:uid%lu", (unsigned long)geteuid());
}

/* A JSON string for s (NULL -> null); bytes that are not UTF-8 become '?'. */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *copy;
	size_t i;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return json_null();
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j != NULL ? j : json_null();
}

static json_t *
jpath(const char *path)
{
	char buf[PATH_MAX];

	return jstr(abs_path(path, buf, sizeof(buf)));
}

static json_t *
jtime(int64_t t)
{
	char buf[32];

	return t == 0 ? json_null() : jstr(iso_time(t, buf, sizeof(buf)));
}

static int
json_print(json_t *j)
{
	int rc;

	if (j == NULL) {
		warnx_ctl("out of memory building JSON output");
		return 1;
	}
	rc = json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(j);
	if (rc != 0 || fflush(stdout) != 0) {
		warnx_ctl("writing output: %s", strerror(errno));
		return 1;
	}
	return 0;
}

/* A device serial as it appears in an IDevID's subject serialNumber (PrintableString). */
static int
serial_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= CTL_SERIAL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("'()+,-./:=?", s[i]) == NULL)
			return 0;
	return 1;
}

static struct registry *
ctl_open(struct ctl *ctl, int flags)
{
	struct registry *reg;
	char err[512];

	if ((reg = registry_open(ctl->db, flags, err, sizeof(err))) == NULL)
		warnx_ctl("%s", err);
	return reg;
}

/*
 * getopt_long over a subcommand's argv (argv[0] is the command). Options every command
 * takes: --db, --json, -v, -h/--help. Returns the option character, -1 at the end, or '?'
 * after printing a usage error.
 */
#define COMMON_LONGOPTS \
	{ "db", required_argument, NULL, 'D' }, \
	{ "json", no_argument, NULL, 'j' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

static int
ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts,
    const struct option *longopts)
{
	char opts[64];
	int ch;

	snprintf(opts, sizeof(opts), ":%svh", shortopts);
	for (;;) {
		ch = getopt_long(argc, argv, opts, longopts, NULL);
		switch (ch) {
		case 'D':
			ctl->db = optarg;
			continue;
		case 'j':
			ctl->json = 1;
			continue;
		case 'v':
			ctl->verbose++;
			continue;
		case ':':
			usage_err("%s: option %s needs an argument", argv[0], argv[optind - 1]);
			return '?';
		case '?':
			if (optopt != 0)
				usage_err("%s: unknown option -%c; see 'latchkeyctl %s --help'",
				    argv[0], optopt, argv[0]);
			else
				usage_err("%s: unknown option %s; see 'latchkeyctl %s --help'",
				    argv[0], argv[optind - 1], argv[0]);
			return '?';
		default:
			return ch;
		}
	}
}

/*
 * Reset getopt before parsing a subcommand's argv. glibc keeps the first call's ordering
 * mode ('+' for the global options) unless optind is 0, which re-initialises it; the
 * subcommands need permutation so that "revoke SERIAL --reason R" works.
 */
static void
ctl_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

static int
cmd_help_of(const char *name)
{
	const struct ctl_cmd *c = cmd_find(name);

	fputs(c->help, stdout);
	return 0;
}

/* lab-pki: a lab manufacturer PKI with N devices (certs/labpki.h). */
static int
cmd_labpki(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "devices", required_argument, NULL, 'n' },
		{ "masa-url", required_argument, NULL, 'm' },
		{ "key-type", required_argument, NULL, 'k' },
		COMMON_LONGOPTS,
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
				return usage_err("lab-pki: --devices must be 1 to %d",
				    CTL_MAX_DEVICES);
			break;
		case 'm':
			masa_url = optarg;
			break;
		case 'k':
			key_type = optarg;
			break;
		case 'h':
			return cmd_help_of("lab-pki");
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_err("lab-pki: unexpected argument '%s'", argv[optind]);
	if (out == NULL)
		return usage_err("lab-pki: --out DIR is required");

	if (mkdir_p(out) == -1) {
		warnx_ctl("lab-pki: %s: mkdir: %s", out, strerror(errno));
		return 1;
	}
	memset(&res, 0, sizeof(res));
	if (labpki_create(out, (unsigned)n, masa_url, key_type, &res, err, sizeof(err)) == -1) {
		warnx_ctl("lab-pki: %s", err);
		labpki_result_free(&res);
		return 1;
	}
	if (ctl->json) {
		if ((devs = json_array()) != NULL)
			for (i = 0; i < res.ndevices; i++)
				json_array_append_new(devs, json_pack("{s:o, s:o, s:o, s:o}",
				    "serial", jstr(res.devices[i].serial),
				    "cert", jpath(res.devices[i].cert),
				    "key", jpath(res.devices[i].key),
				    "masa_anchor", jpath(res.devices[i].masa_anchor)));
		j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o*}",
		    "manufacturer_ca", jpath(res.manufacturer_ca),
		    "manufacturer_ca_key", jpath(res.manufacturer_ca_key),
		    "manufacturer_ica", jpath(res.manufacturer_ica),
		    "manufacturer_ica_key", jpath(res.manufacturer_ica_key),
		    "masa_cert", jpath(res.masa_cert),
		    "masa_key", jpath(res.masa_key),
		    "devices", devs);
		labpki_result_free(&res);
		return json_print(j);
	}
	printf("manufacturer CA           %s\n", abs_path(res.manufacturer_ca, b, sizeof(b)));
	printf("manufacturer CA key       %s\n", abs_path(res.manufacturer_ca_key, b, sizeof(b)));
	printf("IDevID issuing CA         %s\n", abs_path(res.manufacturer_ica, b, sizeof(b)));
	printf("IDevID issuing CA key     %s\n", abs_path(res.manufacturer_ica_key, b,
	    sizeof(b)));
	printf("MASA certificate          %s\n", abs_path(res.masa_cert, b, sizeof(b)));
	printf("MASA key                  %s\n", abs_path(res.masa_key, b, sizeof(b)));
	for (i = 0; i < res.ndevices; i++) {
		printf("device %-12s IDevID %s\n", res.devices[i].serial,
		    abs_path(res.devices[i].cert, b, sizeof(b)));
		printf("device %-12s key    %s\n", res.devices[i].serial,
		    abs_path(res.devices[i].key, b, sizeof(b)));
		printf("device %-12s anchor %s\n", res.devices[i].serial,
		    abs_path(res.devices[i].masa_anchor, b, sizeof(b)));
	}
	labpki_result_free(&res);
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

/*
 * init: the owner domain's CA and registrar TLS certificate (domainca_create), a copy of
 * the manufacturer CA, an empty registry and a latchkeyd configuration, all in DIR.
 * Refuses to overwrite any of them.
 */
static int
cmd_init(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "dir", required_argument, NULL, 'C' },
		{ "manufacturer-ca", required_argument, NULL, 'm' },
		{ "listen", required_argument, NULL, 'l' },
		{ "key-type", required_argument, NULL, 'k' },
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	static const char *const outputs[] = {
		"domain-ca.pem", "domain-ca.key", "registrar.pem", "registrar.key",
		"manufacturer-ca.pem", "registry.db", "latchkeyd.conf",
	};
	const char *domain = NULL, *dir = NULL, *mca = NULL, *listen = CTL_DEFAULT_LISTEN;
	const char *key_type = NULL;
	char host[256], err[512], p[PATH_MAX], mca_out[PATH_MAX], db[PATH_MAX], conf[PATH_MAX];
	char actor[300], b[PATH_MAX], *details = NULL;
	struct domainca_files files;
	STACK_OF(X509) *certs = NULL;
	struct registry *reg = NULL;
	unsigned char *buf = NULL;
	char *cfg = NULL;
	size_t len = 0, i;
	unsigned port;
	json_t *j, *dj = NULL;
	int ch, n, rc = 1;

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
		case 'h':
			return cmd_help_of("init");
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_err("init: unexpected argument '%s'", argv[optind]);
	if (domain == NULL || dir == NULL || mca == NULL)
		return usage_err("init: --domain, --dir and --manufacturer-ca are required");
	if (!domain_valid(domain))
		return usage_err("init: --domain '%s' is not a DNS name", domain);
	if (parse_listen(listen, host, sizeof(host), &port) == -1)
		return usage_err("init: --listen '%s' is not ADDR:PORT or [V6ADDR]:PORT", listen);

	/* Refuse before writing anything, so a second init leaves the first intact. */
	for (i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, outputs[i]) >= sizeof(p)) {
			warnx_ctl("init: %s: path too long", dir);
			return 1;
		}
		if (access(p, F_OK) == 0) {
			warnx_ctl("init: %s exists; refusing to overwrite", p);
			return 1;
		}
	}
	snprintf(mca_out, sizeof(mca_out), "%s/manufacturer-ca.pem", dir);
	snprintf(db, sizeof(db), "%s/registry.db", dir);
	snprintf(conf, sizeof(conf), "%s/latchkeyd.conf", dir);

	/* The manufacturer CA must be readable PEM certificates. */
	if ((certs = pki_certs_read(mca, err, sizeof(err))) == NULL) {
		warnx_ctl("init: manufacturer CA: %s", err);
		goto out;
	}
	if ((buf = read_small_file(mca, CTL_MAX_CA_FILE, &len, err, sizeof(err))) == NULL) {
		warnx_ctl("init: manufacturer CA: %s", err);
		goto out;
	}
	if (mkdir_p(dir) == -1) {
		warnx_ctl("init: %s: mkdir: %s", dir, strerror(errno));
		goto out;
	}

	memset(&files, 0, sizeof(files));
	if (domainca_create(dir, domain, host, key_type, &files, err, sizeof(err)) == -1) {
		warnx_ctl("init: %s", err);
		goto out;
	}
	if (pki_file_write(mca_out, buf, len, 0644, 0, err, sizeof(err)) == -1) {
		warnx_ctl("init: %s", err);
		goto out;
	}
	if ((reg = registry_open(db, REGISTRY_CREATE, err, sizeof(err))) == NULL) {
		warnx_ctl("init: %s", err);
		goto out;
	}
	ctl_actor(actor, sizeof(actor));
	dj = json_pack("{s:s}", "listen", listen);
	details = dj != NULL ? json_dumps(dj, JSON_COMPACT) : NULL;
	if (registry_audit(reg, actor, "init", domain, NULL, details, err, sizeof(err)) == -1) {
		warnx_ctl("init: %s", err);
		goto out;
	}

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
		warnx_ctl("init: out of memory");
		goto out;
	}
	if (pki_file_write(conf, cfg, (size_t)n, 0644, 0, err, sizeof(err)) == -1) {
		warnx_ctl("init: %s", err);
		goto out;
	}

	if (ctl->json) {
		j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		    "domain_ca", jpath(files.ca_cert),
		    "domain_ca_key", jpath(files.ca_key),
		    "tls_cert", jpath(files.tls_cert),
		    "tls_key", jpath(files.tls_key),
		    "registry", jpath(db),
		    "config", jpath(conf),
		    "manufacturer_ca", jpath(mca_out));
		rc = json_print(j);
		goto out;
	}
	printf("domain CA                 %s\n", abs_path(files.ca_cert, b, sizeof(b)));
	printf("domain CA key             %s\n", abs_path(files.ca_key, b, sizeof(b)));
	printf("registrar TLS certificate %s\n", abs_path(files.tls_cert, b, sizeof(b)));
	printf("registrar TLS key         %s\n", abs_path(files.tls_key, b, sizeof(b)));
	printf("manufacturer CA           %s\n", abs_path(mca_out, b, sizeof(b)));
	printf("registry                  %s\n", abs_path(db, b, sizeof(b)));
	printf("latchkeyd configuration   %s\n", abs_path(conf, b, sizeof(b)));
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

/* Serials from a file: one per line; '#' starts a comment; blank lines are skipped. */
static int
read_serial_file(const char *path, char ***list, size_t *n)
{
	char line[CTL_LINE_MAX + 2], *s, *e, **nl;
	unsigned lineno = 0;
	FILE *fp;
	int rc = -1;

	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "r")) == NULL) {
		warnx_ctl("claim: %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			warnx_ctl("claim: %s:%u: line too long", path, lineno);
			goto out;
		}
		if ((s = strchr(line, '#')) != NULL)
			*s = '\0';
		for (s = line; isspace((unsigned char)*s); s++)
			;
		for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
			;
		*e = '\0';
		if (*s == '\0')
			continue;
		if (!serial_valid(s)) {
			warnx_ctl("claim: %s:%u: invalid serial '%.64s'", path, lineno, s);
			goto out;
		}
		if ((nl = reallocarray(*list, *n + 1, sizeof(**list))) == NULL ||
		    (nl[*n] = strdup(s)) == NULL) {
			if (nl != NULL)
				*list = nl;
			warnx_ctl("claim: out of memory");
			goto out;
		}
		*list = nl;
		(*n)++;
	}
	if (ferror(fp)) {
		warnx_ctl("claim: %s: read error", path);
		goto out;
	}
	rc = 0;
out:
	if (fp != stdin)
		fclose(fp);
	return rc;
}

/* claim / unclaim: one line per serial; failures are reported and make the exit 1. */
static int
cmd_claim_common(struct ctl *ctl, int argc, char **argv, int unclaim)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd = unclaim ? "unclaim" : "claim", *file = NULL;
	char **list = NULL, actor[300], err[512];
	struct registry *reg = NULL;
	json_t *j = NULL, *done = NULL, *noop = NULL;
	size_t n = 0, i;
	int ch, r, rc = 1, failed = 0;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, unclaim ? "" : "f:", lo)) != -1) {
		switch (ch) {
		case 'f':
			if (unclaim)
				return usage_err("unclaim: unknown option --file");
			file = optarg;
			break;
		case 'h':
			return cmd_help_of(cmd);
		default:
			return EXIT_USAGE;
		}
	}
	for (i = (size_t)optind; i < (size_t)argc; i++)
		if (!serial_valid(argv[i]))
			return usage_err("%s: invalid serial '%.64s'", cmd, argv[i]);
	if (file == NULL && optind >= argc)
		return usage_err("%s: no serial given", cmd);
	if (file != NULL && read_serial_file(file, &list, &n) == -1)
		goto out;
	if ((reg = ctl_open(ctl, 0)) == NULL)
		goto out;
	ctl_actor(actor, sizeof(actor));
	if (ctl->json && ((j = json_object()) == NULL || (done = json_array()) == NULL ||
	    (noop = json_array()) == NULL)) {
		warnx_ctl("out of memory");
		goto out;
	}

	for (i = 0; i < (size_t)(argc - optind) + n; i++) {
		const char *s = i < (size_t)(argc - optind) ? argv[optind + i] :
		    list[i - (size_t)(argc - optind)];

		r = unclaim ? registry_unclaim(reg, s, actor, err, sizeof(err)) :
		    registry_claim(reg, s, actor, err, sizeof(err));
		if (r == -1) {
			warnx_ctl("%s %s: %s", cmd, s, err);
			failed = 1;
			continue;
		}
		if (ctl->json)
			json_array_append_new(r == 0 ? done : noop, jstr(s));
		else if (unclaim)
			printf("%s %s\n", r == 0 ? "unclaimed" : "not claimed", s);
		else
			printf("%s %s\n", r == 0 ? "claimed" : "already claimed", s);
	}
	if (ctl->json) {
		json_object_set_new(j, unclaim ? "unclaimed" : "claimed", done);
		json_object_set_new(j, unclaim ? "not_claimed" : "already_claimed", noop);
		done = noop = NULL;
		if (json_print(j) != 0)
			failed = 1;
		j = NULL;
	}
	rc = failed;
out:
	json_decref(j);
	json_decref(done);
	json_decref(noop);
	registry_close(reg);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return rc;
}

static int
cmd_claim(struct ctl *ctl, int argc, char **argv)
{
	return cmd_claim_common(ctl, argc, argv, 0);
}

static int
cmd_unclaim(struct ctl *ctl, int argc, char **argv)
{
	return cmd_claim_common(ctl, argc, argv, 1);
}

struct list_ctx {
	struct ctl	*ctl;
	struct registry	*reg;
	json_t		*arr;
	const char	*serial;
	int64_t		 since;
	int		 count;
	char		 err[512];
};

static json_t *
binding_json(const struct registry_binding *b, int ncerts)
{
	json_t *j;

	j = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o}",
	    "id", (json_int_t)b->id,
	    "serial", jstr(b->serial),
	    "state", jstr(b->state),
	    "domain", jstr(b->domain),
	    "idevid_fp", b->idevid_fp[0] ? jstr(b->idevid_fp) : json_null(),
	    "authorized_by", jstr(b->authorized_by),
	    "created_at", (json_int_t)b->created_at,
	    "created", jtime(b->created_at));
	if (j == NULL)
		return NULL;
	if (b->revoked_at != 0) {
		json_object_set_new(j, "revoked_at", json_integer(b->revoked_at));
		json_object_set_new(j, "revoked", jtime(b->revoked_at));
		json_object_set_new(j, "reason", jstr(b->reason));
		json_object_set_new(j, "revoked_by", jstr(b->revoked_by));
	}
	if (ncerts >= 0)
		json_object_set_new(j, "certificates", json_integer(ncerts));
	return j;
}

static int
list_binding_cb(const struct registry_binding *b, void *arg)
{
	struct list_ctx *lc = arg;
	char t[32], s1[80], s2[160];
	int n = 0;

	if (registry_cert_count(lc->reg, b->id, &n, lc->err, sizeof(lc->err)) == -1)
		return -1;
	if (lc->ctl->json) {
		json_array_append_new(lc->arr, binding_json(b, n));
	} else {
		if (lc->count == 0)
			printf("%-20s %-8s %-20s %-32s %5s\n", "SERIAL", "STATE", "CREATED",
			    "AUTHORIZED-BY", "CERTS");
		printf("%-20s %-8s %-20s %-32s %5d\n", safe(b->serial, s1, sizeof(s1)),
		    b->state, iso_time(b->created_at, t, sizeof(t)),
		    safe(b->authorized_by, s2, sizeof(s2)), n);
	}
	lc->count++;
	return 0;
}

static int
list_claim_cb(const char *serial, int64_t claimed_at, const char *actor, void *arg)
{
	struct list_ctx *lc = arg;
	char t[32], s1[80], s2[160];

	if (lc->serial != NULL && strcmp(serial, lc->serial) != 0)
		return 0;
	if (claimed_at < lc->since)
		return 0;
	if (lc->ctl->json) {
		json_array_append_new(lc->arr, json_pack("{s:o, s:I, s:o, s:o}",
		    "serial", jstr(serial), "claimed_at", (json_int_t)claimed_at,
		    "claimed", jtime(claimed_at), "actor", jstr(actor)));
	} else {
		if (lc->count == 0)
			printf("\npending claims:\n%-20s %-20s %s\n", "SERIAL", "CLAIMED",
			    "BY");
		printf("%-20s %-20s %s\n", safe(serial, s1, sizeof(s1)),
		    iso_time(claimed_at, t, sizeof(t)), safe(actor, s2, sizeof(s2)));
	}
	lc->count++;
	return 0;
}

static int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "state", required_argument, NULL, 's' },
		{ "serial", required_argument, NULL, 'S' },
		{ "since", required_argument, NULL, 't' },
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry_filter f;
	struct registry *reg = NULL;
	struct list_ctx lc;
	json_t *j = NULL, *bind = NULL, *claims = NULL;
	int ch, nbind, rc = 1;

	memset(&f, 0, sizeof(f));
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 's':
			if (strcmp(optarg, "active") != 0 && strcmp(optarg, "revoked") != 0)
				return usage_err("list: --state must be active or revoked");
			f.state = optarg;
			break;
		case 'S':
			f.serial = optarg;
			break;
		case 't':
			if (parse_since(optarg, &f.since) == -1)
				return usage_err("list: --since '%s' is not UNIXTIME or YYYY-MM-DD",
				    optarg);
			break;
		case 'h':
			return cmd_help_of("list");
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_err("list: unexpected argument '%s'", argv[optind]);
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;

	memset(&lc, 0, sizeof(lc));
	lc.ctl = ctl;
	lc.reg = reg;
	lc.serial = f.serial;
	lc.since = f.since;
	if (ctl->json && ((bind = lc.arr = json_array()) == NULL ||
	    (claims = json_array()) == NULL)) {
		warnx_ctl("out of memory");
		goto out;
	}
	if (registry_binding_foreach(reg, &f, list_binding_cb, &lc, lc.err, sizeof(lc.err))) {
		warnx_ctl("list: %s", lc.err);
		goto out;
	}
	nbind = lc.count;
	if (!ctl->json && nbind == 0)
		printf("no bindings\n");
	/* Pending claims are neither active nor revoked: only listed without --state. */
	lc.count = 0;
	lc.arr = claims;
	if (f.state == NULL && registry_claim_foreach(reg, list_claim_cb, &lc, lc.err,
	    sizeof(lc.err))) {
		warnx_ctl("list: %s", lc.err);
		goto out;
	}
	if (ctl->json) {
		j = json_pack("{s:o, s:o}", "bindings", bind, "claims", claims);
		bind = claims = NULL;
		rc = json_print(j);
		goto out;
	}
	rc = 0;
out:
	json_decref(bind);
	json_decref(claims);
	registry_close(reg);
	return rc;
}

struct show_ctx {
	struct ctl	*ctl;
	struct registry	*reg;
	const char	*serial;
	json_t		*arr;		/* bindings or audit entries (JSON) */
	json_t		*certs;
	int		 count;
	int		 quiet;		/* only count audit entries */
	char		 err[512];
};

static int
show_cert_cb(const struct registry_cert *c, void *arg)
{
	struct show_ctx *sc = arg;
	char t1[32], t2[32], t3[32], s1[160];

	if (sc->ctl->json) {
		json_t *j = json_pack("{s:o, s:I, s:o, s:I, s:o, s:o}",
		    "serial", jstr(c->cert_serial),
		    "not_before_at", (json_int_t)c->not_before, "not_before", jtime(c->not_before),
		    "not_after_at", (json_int_t)c->not_after, "not_after", jtime(c->not_after),
		    "issued", jtime(c->issued_at));

		if (j != NULL && c->revoked_at != 0) {
			json_object_set_new(j, "revoked", jtime(c->revoked_at));
			json_object_set_new(j, "reason", jstr(c->reason));
		}
		if (j != NULL)
			json_object_set_new(j, "revoked_at", c->revoked_at != 0 ?
			    json_integer(c->revoked_at) : json_null());
		json_array_append_new(sc->certs, j);
		return 0;
	}
	printf("  certificate %s\n    valid %s to %s, issued %s\n", c->cert_serial,
	    iso_time(c->not_before, t1, sizeof(t1)), iso_time(c->not_after, t2, sizeof(t2)),
	    iso_time(c->issued_at, t3, sizeof(t3)));
	if (c->revoked_at != 0)
		printf("    revoked %s (%s)\n", iso_time(c->revoked_at, t1, sizeof(t1)),
		    safe(c->reason, s1, sizeof(s1)));
	return 0;
}

static int
show_binding_cb(const struct registry_binding *b, void *arg)
{
	struct show_ctx *sc = arg;
	char t[32], s1[300], s2[160];
	json_t *j;

	sc->count++;
	if (sc->ctl->json) {
		if ((j = binding_json(b, -1)) == NULL || (sc->certs = json_array()) == NULL) {
			json_decref(j);
			snprintf(sc->err, sizeof(sc->err), "out of memory");
			return -1;
		}
		json_object_set_new(j, "certificates", sc->certs);
		json_array_append_new(sc->arr, j);
	} else {
		printf("binding %" PRId64 ": %s, created %s, domain %s\n", b->id, b->state,
		    iso_time(b->created_at, t, sizeof(t)), safe(b->domain, s1, sizeof(s1)));
		printf("  authorized by %s\n", safe(b->authorized_by, s2, sizeof(s2)));
		if (b->idevid_fp[0] != '\0')
			printf("  IDevID %s\n", safe(b->idevid_fp, s2, sizeof(s2)));
		if (b->revoked_at != 0)
			printf("  revoked %s by %s: %s\n", iso_time(b->revoked_at, t, sizeof(t)),
			    safe(b->revoked_by, s1, sizeof(s1)), safe(b->reason, s2, sizeof(s2)));
	}
	if (registry_cert_foreach(sc->reg, b->id, show_cert_cb, sc, sc->err,
	    sizeof(sc->err)) != 0)
		return -1;
	return 0;
}

static json_t *
audit_json(const struct registry_audit_entry *a, int with_hash)
{
	json_t *j = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)a->id, "at", (json_int_t)a->at, "time", jtime(a->at),
	    "actor", jstr(a->actor), "action", jstr(a->action), "subject", jstr(a->subject),
	    "reason", jstr(a->reason), "details", jstr(a->details));

	if (j != NULL && with_hash)
		json_object_set_new(j, "hash", jstr(a->hash));
	return j;
}

static void
audit_print(const struct registry_audit_entry *a, int verbose, const char *indent)
{
	char t[32], s1[300], s2[100], s3[100], s4[300], s5[1024];

	printf("%s%-6" PRId64 " %s %-16s %-10s %s", indent, a->id, iso_time(a->at, t, sizeof(t)),
	    safe(a->actor, s1, sizeof(s1)), safe(a->action, s2, sizeof(s2)),
	    safe(a->subject, s3, sizeof(s3)));
	if (a->reason != NULL && *a->reason != '\0')
		printf(" reason=%s", safe(a->reason, s4, sizeof(s4)));
	if (a->details != NULL && *a->details != '\0')
		printf(" %s", safe(a->details, s5, sizeof(s5)));
	if (verbose)
		printf(" hash=%s", a->hash != NULL ? a->hash : "-");
	putchar('\n');
}

static int
show_audit_cb(const struct registry_audit_entry *a, void *arg)
{
	struct show_ctx *sc = arg;

	if (a->subject == NULL || strcmp(a->subject, sc->serial) != 0)
		return 0;
	if (sc->quiet)
		sc->count++;
	else if (sc->ctl->json)
		json_array_append_new(sc->arr, audit_json(a, sc->ctl->verbose));
	else {
		if (sc->count == 0)
			printf("audit:\n");
		audit_print(a, sc->ctl->verbose, "  ");
	}
	if (!sc->quiet)
		sc->count++;
	return 0;
}

/* latchkeyd's default latch-state file: latch-state.json beside the registry. */
static int
latch_state_path(const char *db, char *out, size_t outlen)
{
	const char *slash = strrchr(db, '/');
	int n = snprintf(out, outlen, "%.*s/latch-state.json", slash ? (int)(slash - db) : 1,
	    slash ? db : ".");

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int
cmd_show(struct ctl *ctl, int argc, char **argv)
{
	char statefile[4096], latch[512] = "none";
	static const struct option lo[] = {
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry_filter f;
	struct registry *reg = NULL;
	struct show_ctx sc;
	json_t *bindings = NULL, *audit = NULL;
	const char *serial;
	char err[512], s1[80];
	int ch, claimed, known, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'h':
			return cmd_help_of("show");
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return usage_err("show: exactly one SERIAL expected");
	serial = argv[optind];
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	if ((claimed = registry_claim_exists(reg, serial, err, sizeof(err))) == -1) {
		warnx_ctl("show: %s", err);
		goto out;
	}

	memset(&sc, 0, sizeof(sc));
	sc.ctl = ctl;
	sc.reg = reg;
	sc.serial = serial;
	/* Known at all? A claim, a binding or an audit entry about it. */
	if ((known = registry_binding_get(reg, serial, NULL, err, sizeof(err))) == -1) {
		warnx_ctl("show: %s", err);
		goto out;
	}
	if (!known && !claimed) {
		sc.quiet = 1;
		if (registry_audit_foreach(reg, 0, show_audit_cb, &sc, sc.err,
		    sizeof(sc.err))) {
			warnx_ctl("show: %s", sc.err);
			goto out;
		}
		if (sc.count == 0) {
			warnx_ctl("unknown serial %s", safe(serial, s1, sizeof(s1)));
			goto out;
		}
		sc.quiet = 0;
		sc.count = 0;
	}
	if (ctl->json && ((bindings = json_array()) == NULL || (audit = json_array()) == NULL)) {
		warnx_ctl("out of memory");
		goto out;
	}
	if (!ctl->json)
		printf("serial %s%s\n", safe(serial, s1, sizeof(s1)),
		    claimed ? " (claimed)" : "");
	memset(&f, 0, sizeof(f));
	f.serial = serial;
	sc.arr = bindings;
	if (registry_binding_foreach(reg, &f, show_binding_cb, &sc, sc.err, sizeof(sc.err))) {
		warnx_ctl("show: %s", sc.err);
		goto out;
	}
	sc.count = 0;
	sc.arr = audit;
	if (registry_audit_foreach(reg, 0, show_audit_cb, &sc, sc.err, sizeof(sc.err))) {
		warnx_ctl("show: %s", sc.err);
		goto out;
	}
	/* latchkeyd (latch = yes) writes its latches beside the registry */
	if (latch_state_path(ctl->db, statefile, sizeof(statefile)) == 0 &&
	    latch_statefile_read(statefile, serial, latch, sizeof(latch), sc.err,
	    sizeof(sc.err)) != 0)
		snprintf(latch, sizeof(latch), "none");
	if (ctl->json) {
		rc = json_print(json_pack("{s:o, s:b, s:o, s:o, s:s}", "serial", jstr(serial),
		    "claimed", claimed, "bindings", bindings, "audit", audit, "latch", latch));
		bindings = audit = NULL;
		goto out;
	}
	printf("latch      %s\n", latch);
	rc = 0;
out:
	json_decref(bindings);
	json_decref(audit);
	registry_close(reg);
	return rc;
}

/* CRLReason names, RFC 5280 §5.3.1 (value 7 is unused). */
static const char *const crl_reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", "certificateHold", "removeFromCRL", "privilegeWithdrawn",
	"aACompromise",
};

static int
cmd_revoke(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry *reg = NULL;
	const char *reason = NULL, *serial;
	char actor[300], err[512], valid[512] = "";
	int64_t bid = 0;
	size_t i;
	int ch, r, ok = 0, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "r:", lo)) != -1) {
		switch (ch) {
		case 'r':
			reason = optarg;
			break;
		case 'h':
			return cmd_help_of("revoke");
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return usage_err("revoke: exactly one SERIAL expected");
	serial = argv[optind];
	if (reason == NULL)
		return usage_err("revoke: --reason R is required");
	for (i = 0; i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++) {
		if (strcmp(reason, crl_reasons[i]) == 0)
			ok = 1;
		snprintf(valid + strlen(valid), sizeof(valid) - strlen(valid), "%s%s",
		    i ? ", " : "", crl_reasons[i]);
	}
	if (!ok)
		return usage_err("revoke: unknown reason '%.64s'; valid reasons: %s", reason,
		    valid);
	if ((reg = ctl_open(ctl, 0)) == NULL)
		return 1;
	ctl_actor(actor, sizeof(actor));
	r = registry_binding_revoke(reg, serial, reason, actor, &bid, err, sizeof(err));
	if (r == -1)
		warnx_ctl("revoke %s: %s", serial, err);
	else if (r == 1)
		warnx_ctl("revoke: serial %s has no active binding", serial);
	else if (ctl->json)
		rc = json_print(json_pack("{s:o, s:I, s:o, s:o}", "serial", jstr(serial),
		    "binding", (json_int_t)bid, "reason", jstr(reason), "actor", jstr(actor)));
	else {
		printf("revoked %s (binding %" PRId64 ", reason %s)\n", serial, bid, reason);
		rc = 0;
	}
	registry_close(reg);
	return rc;
}

struct audit_ctx {
	struct ctl	*ctl;
	json_t		*arr;
	int64_t		 n;
};

static int
audit_count_cb(const struct registry_audit_entry *a, void *arg)
{
	((struct audit_ctx *)arg)->n++;
	return 0;
}

static int
audit_list_cb(const struct registry_audit_entry *a, void *arg)
{
	struct audit_ctx *ac = arg;

	if (ac->ctl->json)
		json_array_append_new(ac->arr, audit_json(a, 1));
	else
		audit_print(a, ac->ctl->verbose, "");
	ac->n++;
	return 0;
}

static int
cmd_audit(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "since", required_argument, NULL, 't' },
		{ "verify", no_argument, NULL, 'V' },
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry *reg = NULL;
	struct audit_ctx ac;
	int64_t since = 0, bad = 0;
	char err[512];
	int ch, verify = 0, r, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 't':
			if (parse_since(optarg, &since) == -1)
				return usage_err("audit: --since '%s' is not UNIXTIME or "
				    "YYYY-MM-DD", optarg);
			break;
		case 'V':
			verify = 1;
			break;
		case 'h':
			return cmd_help_of("audit");
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_err("audit: unexpected argument '%s'", argv[optind]);
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	memset(&ac, 0, sizeof(ac));
	ac.ctl = ctl;

	if (verify) {
		if ((r = registry_audit_verify(reg, &bad, err, sizeof(err))) == -1) {
			warnx_ctl("audit: %s", err);
			goto out;
		}
		if (r == 0 && registry_audit_foreach(reg, 0, audit_count_cb, &ac, err,
		    sizeof(err)) != 0) {
			warnx_ctl("audit: %s", err);
			goto out;
		}
		if (ctl->json) {
			if (r == 0)
				rc = json_print(json_pack("{s:b, s:I}", "intact", 1, "entries",
				    (json_int_t)ac.n));
			else if (json_print(json_pack("{s:b, s:I}", "intact", 0, "bad_id",
			    (json_int_t)bad)) == 0)
				rc = 1;
		} else if (r == 0) {
			printf("audit log intact (%" PRId64 " entries)\n", ac.n);
			rc = 0;
		} else
			printf("audit log broken at entry %" PRId64 "\n", bad);
		goto out;
	}

	if (ctl->json && (ac.arr = json_array()) == NULL) {
		warnx_ctl("out of memory");
		goto out;
	}
	if (registry_audit_foreach(reg, since, audit_list_cb, &ac, err, sizeof(err)) != 0) {
		warnx_ctl("audit: %s", err);
		goto out;
	}
	if (ctl->json) {
		rc = json_print(json_pack("{s:o}", "entries", ac.arr));
		ac.arr = NULL;
	} else
		rc = 0;
out:
	json_decref(ac.arr);
	registry_close(reg);
	return rc;
}

static int
cmd_help(struct ctl *ctl, int argc, char **argv)
{
	const struct ctl_cmd *c;

	if (argc < 2) {
		help_full(stdout);
		return 0;
	}
	if (argc > 2)
		return usage_err("help: one COMMAND at most");
	if ((c = cmd_find(argv[1])) == NULL)
		return usage_err("help: unknown command '%s'", argv[1]);
	fputs(c->help, stdout);
	return 0;
}

static const char help_head[] =
"NAME\n"
"     latchkeyctl - administer a latchkey owner domain and its device registry\n"
"\n"
"SYNOPSIS\n"
"     latchkeyctl [--db PATH] [--json] [-v] COMMAND [ARGS...]\n"
"     latchkeyctl lab-pki --out DIR [--devices N] [--masa-url URL] [--key-type T]\n"
"     latchkeyctl init --domain NAME --dir DIR --manufacturer-ca FILE\n"
"                      [--listen ADDR:PORT] [--key-type T]\n"
"     latchkeyctl claim SERIAL... | --file F\n"
"     latchkeyctl unclaim SERIAL...\n"
"     latchkeyctl list [--state active|revoked] [--serial S] [--since TIME]\n"
"     latchkeyctl show SERIAL\n"
"     latchkeyctl revoke SERIAL --reason R\n"
"     latchkeyctl audit [--since TIME] [--verify]\n"
"     latchkeyctl help [COMMAND]\n"
"\n"
"GLOBAL OPTIONS\n"
"     Given before COMMAND (also accepted after it).\n"
"     --db PATH    the registry (default $LATCHKEY_DB, else\n"
"                  " CTL_DEFAULT_DB ")\n"
"     --json       print data as one JSON object instead of text\n"
"     -v           more detail (audit hashes)\n"
"     -h, --help   this text; 'latchkeyctl COMMAND --help' for one command\n"
"\n"
"COMMANDS\n";

static const char help_tail[] =
"\n"
"EXIT STATUS\n"
"     0 success, 1 failure, 2 usage error. Errors are one line on standard error,\n"
"     prefixed \"latchkeyctl: \".\n"
"\n"
"ENVIRONMENT\n"
"     LATCHKEY_DB   the registry when --db is not given\n"
"\n"
"FILES\n"
"     " CTL_DEFAULT_DB "\n"
"          the default registry (SQLite, WAL mode)\n"
"     DIR/latchkeyd.conf\n"
"          written by init; see latchkeyd(8)\n"
"\n"
"SEE ALSO\n"
"     latchkeyctl(8), latchkeyd(8), latchkey(8)\n";

/* ---- masa (brski): the MASA's sales records ------------------------------------- */

#define CTL_DEFAULT_MASA_DB	"/var/lib/latchkey/masa.db"

/*
 * masa authorize (--serial S ... | --file F) --domain-ca FILE [--masa-db PATH]: record that
 * the owner domain whose CA is FILE may obtain vouchers for these serials (RFC 8995 §5.5.4
 * sales integration). The first certificate of FILE is the domain CA that vouchers pin.
 */
static int
cmd_masa(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "serial", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' },
		{ "domain-ca", required_argument, NULL, 'c' },
		{ "masa-db", required_argument, NULL, 'm' },
		COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *ca_file = NULL, *dbpath;
	char **list = NULL, **serials = NULL, actor[300], err[512], fp[PKI_FP_LEN];
	struct masadb *db = NULL;
	unsigned char *der = NULL, *p;
	X509 *ca = NULL;
	json_t *j = NULL, *done = NULL, *noop = NULL;
	size_t n = 0, ns = 0, i;
	int ch, r, len, rc = 1, failed = 0;

	dbpath = getenv("LATCHKEY_MASA_DB") != NULL && *getenv("LATCHKEY_MASA_DB") != '\0' ?
	    getenv("LATCHKEY_MASA_DB") : CTL_DEFAULT_MASA_DB;
	if (argc < 2 || strcmp(argv[1], "authorize") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
			return cmd_help_of("masa");
		return usage_err("masa: expected 'masa authorize --serial S --domain-ca FILE'");
	}
	if ((serials = calloc((size_t)argc, sizeof(*serials))) == NULL) {
		warnx_ctl("out of memory");
		return 1;
	}
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc - 1, argv + 1, "s:f:c:m:", lo)) != -1) {
		switch (ch) {
		case 's':
			if (!serial_valid(optarg)) {
				rc = usage_err("masa authorize: invalid serial '%.64s'", optarg);
				goto out;
			}
			serials[ns++] = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'c':
			ca_file = optarg;
			break;
		case 'm':
			dbpath = optarg;
			break;
		case 'h':
			rc = cmd_help_of("masa");
			goto out;
		default:
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (optind < argc - 1) {
		rc = usage_err("masa authorize: unexpected argument '%s'", argv[1 + optind]);
		goto out;
	}
	if (ca_file == NULL) {
		rc = usage_err("masa authorize: --domain-ca FILE is required");
		goto out;
	}
	if (ns == 0 && file == NULL) {
		rc = usage_err("masa authorize: no serial given (--serial S or --file F)");
		goto out;
	}
	if (file != NULL && read_serial_file(file, &list, &n) == -1)
		goto out;
	if ((ca = pki_cert_read(ca_file, err, sizeof(err))) == NULL) {
		warnx_ctl("%s", err);
		goto out;
	}
	if ((len = i2d_X509(ca, NULL)) <= 0 || (der = malloc((size_t)len)) == NULL) {
		warnx_ctl("%s: cannot encode the certificate", ca_file);
		goto out;
	}
	p = der;
	i2d_X509(ca, &p);
	pki_cert_fingerprint(ca, fp);
	if ((db = masadb_open(dbpath, MASADB_CREATE, err, sizeof(err))) == NULL) {
		warnx_ctl("%s", err);
		goto out;
	}
	ctl_actor(actor, sizeof(actor));
	if (ctl->json && ((j = json_object()) == NULL || (done = json_array()) == NULL ||
	    (noop = json_array()) == NULL)) {
		warnx_ctl("out of memory");
		goto out;
	}
	for (i = 0; i < ns + n; i++) {
		const char *sn = i < ns ? serials[i] : list[i - ns];

		r = masadb_authorize(db, sn, der, (size_t)len, fp, actor, err, sizeof(err));
		if (r == -1) {
			warnx_ctl("masa authorize %s: %s", sn, err);
			failed = 1;
			continue;
		}
		if (ctl->json)
			json_array_append_new(r == 0 ? done : noop, jstr(sn));
		else
			printf("%s %s for domain CA %s\n", r == 0 ? "authorized" :
			    "already authorized", sn, fp);
	}
	if (ctl->json) {
		json_object_set_new(j, "authorized", done);
		json_object_set_new(j, "already_authorized", noop);
		json_object_set_new(j, "domain_ca", jstr(fp));
		json_object_set_new(j, "masa_db", jstr(dbpath));
		done = noop = NULL;
		if (json_print(j) != 0)
			failed = 1;
		j = NULL;
	}
	rc = failed;
out:
	json_decref(j);
	json_decref(done);
	json_decref(noop);
	masadb_close(db);
	X509_free(ca);
	free(der);
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	free(serials);
	return rc;
}

static int
cmd_crl(struct ctl *ctl, int argc, char **argv)
{
	return ctl_crl_main(ctl->db, ctl->json, argc, argv);
}

static const struct ctl_cmd ctl_cmds[] = {
	{ "lab-pki", cmd_labpki,
"     lab-pki --out DIR [--devices N] [--masa-url URL] [--key-type T]\n"
"          Create a lab manufacturer PKI in DIR (created if missing): manufacturer\n"
"          root CA, IDevID issuing CA, MASA certificate, and N devices (default 1,\n"
"          at most 10000) under DIR/devices/SERIAL/ with idevid.pem, idevid.key and\n"
"          masa-anchor.pem. --masa-url puts the MASA URL extension (RFC 8995) in the\n"
"          IDevIDs (default: none). --key-type is p256 (default), p384, ed25519,\n"
"          rsa2048, rsa3072 or rsa4096. Never overwrites a key. Prints every file\n"
"          written (absolute paths).\n" },
	{ "init", cmd_init,
"     init --domain NAME --dir DIR --manufacturer-ca FILE [--listen ADDR:PORT]\n"
"          [--key-type T]\n"
"          Create an owner domain in DIR: domain-ca.pem/.key, the registrar's TLS\n"
"          certificate registrar.pem/.key (SAN: the --listen host), a copy of the\n"
"          manufacturer CA as manufacturer-ca.pem, an empty registry.db and a\n"
"          ready-to-run latchkeyd.conf. --listen is ADDR:PORT or [V6ADDR]:PORT\n"
"          (default " CTL_DEFAULT_LISTEN "). Refuses to overwrite any of these files.\n" },
	{ "crl", cmd_crl, CTL_CRL_HELP },
	{ "claim", cmd_claim,
"     claim SERIAL... | --file F\n"
"          Claim devices for this domain, so that they may enroll. With --file, one\n"
"          serial per line ('#' comments and blank lines ignored; '-' is standard\n"
"          input). Prints \"claimed S\" or \"already claimed S\" for each serial.\n" },
	{ "unclaim", cmd_unclaim,
"     unclaim SERIAL...\n"
"          Withdraw claims. Prints \"unclaimed S\" or \"not claimed S\". An existing\n"
"          binding is not affected; use revoke.\n" },
	{ "list", cmd_list,
"     list [--state active|revoked] [--serial S] [--since TIME]\n"
"          Bindings (serial, state, creation time in UTC, authorization, number of\n"
"          certificates) and pending claims (claims with no active binding; not\n"
"          shown with --state). TIME is Unix seconds, YYYY-MM-DD or\n"
"          YYYY-MM-DDTHH:MM:SSZ (UTC).\n"
"          --json: {\"bindings\":[...],\"claims\":[...]}.\n" },
	{ "show", cmd_show,
"     show SERIAL\n"
"          Every binding of SERIAL with its certificates (serial, validity,\n"
"          revocation) and its audit history. Fails with \"unknown serial S\" when\n"
"          the registry knows nothing of SERIAL.\n" },
	{ "revoke", cmd_revoke,
"     revoke SERIAL --reason R\n"
"          Revoke the active binding of SERIAL and all its certificates, and remove\n"
"          its claim. R is an RFC 5280 CRLReason name: unspecified, keyCompromise,\n"
"          cACompromise, affiliationChanged, superseded, cessationOfOperation,\n"
"          certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise.\n" },
	{ "audit", cmd_audit,
"     audit [--since TIME] [--verify]\n"
"          Print the audit log (entries at or after TIME). --verify recomputes the\n"
"          hash chain: \"audit log intact (N entries)\" and exit 0, or \"audit log\n"
"          broken at entry ID\" and exit 1.\n" },
	{ "masa", cmd_masa,
"     masa authorize (--serial S ... | --file F) --domain-ca FILE [--masa-db PATH]\n"
"          MASA sales records (RFC 8995): the owner domain whose CA certificate is\n"
"          FILE may obtain vouchers for these serials (--file: one serial a line).\n"
"          PATH is the MASA role's masa-db (default $LATCHKEY_MASA_DB or\n"
"          " CTL_DEFAULT_MASA_DB "); created when missing. Audited there.\n" },
	{ "help", cmd_help,
"     help [COMMAND]\n"
"          This text, or the text of one command.\n" },
};

static const struct ctl_cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (strcmp(ctl_cmds[i].name, name) == 0)
			return &ctl_cmds[i];
	return NULL;
}

static void
help_full(FILE *fp)
{
	size_t i;

	fputs(help_head, fp);
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (i > 0)
			fputc('\n', fp);
		fputs(ctl_cmds[i].help, fp);
	}
	fputs(help_tail, fp);
}

int
main(int argc, char *argv[])
{
	static const struct option lo[] = {
		{ "db", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct ctl ctl;
	const struct ctl_cmd *c;
	int ch;

	memset(&ctl, 0, sizeof(ctl));
	ctl.db = getenv("LATCHKEY_DB") != NULL && *getenv("LATCHKEY_DB") != '\0' ?
	    getenv("LATCHKEY_DB") : CTL_DEFAULT_DB;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'D':
			ctl.db = optarg;
			break;
		case 'j':
			ctl.json = 1;
			break;
		case 'v':
			ctl.verbose++;
			break;
		case 'h':
			help_full(stdout);
			return 0;
		case ':':
			return usage_err("option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return usage_err("unknown option -%c; see 'latchkeyctl --help'",
				    optopt);
			return usage_err("unknown option %s; see 'latchkeyctl --help'",
			    argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_err("no command given; see 'latchkeyctl --help'");
	if ((c = cmd_find(argv[optind])) == NULL)
		return usage_err("unknown command '%s'; see 'latchkeyctl --help'", argv[optind]);
	return c->fn(&ctl, argc - optind, argv + optind);
}
