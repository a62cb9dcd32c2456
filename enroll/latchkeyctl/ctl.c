/* ctl: what latchkeyctl's commands share; see ctl.h. */
#include "enroll/latchkeyctl/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certs/keyref.h"
#include "certs/pki.h"
#include "enroll/common/voucher.h"
#include "enroll/store/registry.h"

#define CTL_LINE_MAX	1024	/* a line of a serials file */

static void
ctl_vwarnx(const char *fmt, va_list ap)
{
	fputs("latchkeyctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vwarnx(fmt, ap);
	va_end(ap);
}

int
ctl_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vwarnx(fmt, ap);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

int
ctl_help(const struct ctl *ctl)
{
	fputs(ctl->help, stdout);
	return 0;
}

const char *
ctl_getenv(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : dflt;
}

void
ctl_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

int
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
			ctl_usage("%s: option %s needs an argument", argv[0], argv[optind - 1]);
			return '?';
		case '?':
			if (optopt != 0)
				ctl_usage("%s: unknown option -%c; see 'latchkeyctl %s --help'",
				    argv[0], optopt, argv[0]);
			else
				ctl_usage("%s: unknown option %s; see 'latchkeyctl %s --help'",
				    argv[0], argv[optind - 1], argv[0]);
			return '?';
		default:
			return ch;
		}
	}
}

struct registry *
ctl_open(struct ctl *ctl, int flags)
{
	struct registry *reg;
	char err[512];

	if ((reg = registry_open(ctl->db, flags, err, sizeof(err))) == NULL)
		ctl_warnx("%s", err);
	return reg;
}

int
ctl_db_path(const char *db, const char *name, char *out, size_t outlen)
{
	/* a PostgreSQL registry has no folder: the current directory */
	const char *slash = registry_is_pg(db) ? NULL : strrchr(db, '/');
	int n = snprintf(out, outlen, "%.*s/%s", slash ? (int)(slash - db) : 1,
	    slash ? db : ".", name);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

void
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

const char *
ctl_safe(const char *s, char *buf, size_t len)
{
	size_t i;

	if (s == NULL || *s == '\0')
		return "-";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

const char *
ctl_time(int64_t t, char *buf, size_t len)
{
	if (t == 0 || voucher_time_format(t, buf, len) == -1)
		snprintf(buf, len, "-");
	return buf;
}

int
ctl_time_parse(const char *s, int64_t *out)
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

const char *
ctl_abs_path(const char *path, char *buf, size_t len)
{
	char cwd[PATH_MAX], *r;

	if (keyref_is_pkcs11(path))	/* a key in a token: its URI, no file */
		snprintf(buf, len, "%s", path);
	else if ((r = realpath(path, NULL)) != NULL) {
		snprintf(buf, len, "%s", r);
		free(r);
	} else if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(buf, len, "%s", path);
	else if ((size_t)snprintf(buf, len, "%s/%s", cwd, path) >= len)
		snprintf(buf, len, "%s", path);
	return buf;
}

int
ctl_serial_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n >= PKI_SERIAL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("'()+,-./:=?", s[i]) == NULL)
			return 0;
	return 1;
}

int
ctl_serials_read(const char *path, char ***list, size_t *n)
{
	char line[CTL_LINE_MAX + 2], *s, *e, **nl;
	unsigned lineno = 0;
	FILE *fp;
	int rc = -1;

	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "r")) == NULL) {
		ctl_warnx("claim: %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			ctl_warnx("claim: %s:%u: line too long", path, lineno);
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
		if (!ctl_serial_valid(s)) {
			ctl_warnx("claim: %s:%u: invalid serial '%.64s'", path, lineno, s);
			goto out;
		}
		if ((nl = reallocarray(*list, *n + 1, sizeof(**list))) == NULL ||
		    (nl[*n] = strdup(s)) == NULL) {
			if (nl != NULL)
				*list = nl;
			ctl_warnx("claim: out of memory");
			goto out;
		}
		*list = nl;
		(*n)++;
	}
	if (ferror(fp)) {
		ctl_warnx("claim: %s: read error", path);
		goto out;
	}
	rc = 0;
out:
	if (fp != stdin)
		fclose(fp);
	return rc;
}

void
ctl_serials_free(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

json_t *
ctl_jstr(const char *s)
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

json_t *
ctl_jpath(const char *path)
{
	char buf[PATH_MAX];

	return ctl_jstr(ctl_abs_path(path, buf, sizeof(buf)));
}

json_t *
ctl_jtime(int64_t t)
{
	char buf[32];

	return t == 0 ? json_null() : ctl_jstr(ctl_time(t, buf, sizeof(buf)));
}

int
ctl_json_print(json_t *j)
{
	int rc;

	if (j == NULL) {
		ctl_warnx("out of memory building JSON output");
		return 1;
	}
	rc = json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(j);
	if (rc != 0 || fflush(stdout) != 0) {
		ctl_warnx("writing output: %s", strerror(errno));
		return 1;
	}
	return 0;
}

json_t *
ctl_audit_json(const struct registry_audit_entry *a, int with_hash)
{
	json_t *j = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "id", (json_int_t)a->id, "at", (json_int_t)a->at, "time", ctl_jtime(a->at),
	    "actor", ctl_jstr(a->actor), "action", ctl_jstr(a->action),
	    "subject", ctl_jstr(a->subject), "reason", ctl_jstr(a->reason),
	    "details", ctl_jstr(a->details));

	if (j != NULL && with_hash)
		json_object_set_new(j, "hash", ctl_jstr(a->hash));
	return j;
}

void
ctl_audit_print(const struct registry_audit_entry *a, int verbose, const char *indent)
{
	char t[32], s1[300], s2[100], s3[100], s4[300], s5[1024];

	printf("%s%-6" PRId64 " %s %-16s %-10s %s", indent, a->id, ctl_time(a->at, t, sizeof(t)),
	    ctl_safe(a->actor, s1, sizeof(s1)), ctl_safe(a->action, s2, sizeof(s2)),
	    ctl_safe(a->subject, s3, sizeof(s3)));
	if (a->reason != NULL && *a->reason != '\0')
		printf(" reason=%s", ctl_safe(a->reason, s4, sizeof(s4)));
	if (a->details != NULL && *a->details != '\0')
		printf(" %s", ctl_safe(a->details, s5, sizeof(s5)));
	if (verbose)
		printf(" hash=%s", a->hash != NULL ? a->hash : "-");
	putchar('\n');
}
