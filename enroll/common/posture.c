/* posture: see posture.h. */
#include "enroll/common/posture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "certs/p7.h"
#include "enroll/common/err.h"

void
posture_inventory_init(struct posture_inventory *inv)
{
	memset(inv, 0, sizeof(*inv));
}

void
posture_inventory_free(struct posture_inventory *inv)
{
	free(inv->pkgs);
	posture_inventory_init(inv);
}

static int
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '.' || c == '-' || c == '_';
}

static int
arch_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* 1..max-1 octets, each accepted by ok (or printable without space when ok is NULL). */
static int
str_ok(const char *s, size_t min, size_t max, int (*ok)(char))
{
	size_t n = strlen(s), i;

	if (n < min || n >= max)
		return 0;
	for (i = 0; i < n; i++) {
		if (ok != NULL ? !ok(s[i]) :
		    ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f))
			return 0;
	}
	return 1;
}

static int
pkg_cmp(const char *name, const char *arch, const struct posture_pkg *p)
{
	int c = strcmp(name, p->name);

	return c != 0 ? c : strcmp(arch, p->arch);
}

/* Index of (name, arch) or where it would go; *found set. */
static size_t
pkg_search(const struct posture_inventory *inv, const char *name, const char *arch,
    int *found)
{
	size_t lo = 0, hi = inv->npkgs, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = pkg_cmp(name, arch, &inv->pkgs[mid]);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int
posture_pkg_add(struct posture_inventory *inv, const char *name, const char *version,
    const char *arch, char *err, size_t errlen)
{
	struct posture_pkg *np;
	size_t at, cap;
	int found;

	if (arch == NULL)
		arch = "";
	if (!str_ok(name, 1, POSTURE_NAME_MAX, name_char))
		return errf(err, errlen, "package name \"%.64s\" is empty, too long or has "
		    "characters outside [A-Za-z0-9+._-]", name);
	if (!str_ok(version, 1, POSTURE_VERSION_MAX, NULL))
		return errf(err, errlen, "package %s: version is empty, too long or has "
		    "spaces or control characters", name);
	if (!str_ok(arch, 0, POSTURE_ARCH_MAX, arch_char))
		return errf(err, errlen, "package %s: architecture \"%.32s\" is too long or "
		    "has characters outside [a-z0-9_-]", name, arch);
	at = pkg_search(inv, name, arch, &found);
	if (found)
		return errf(err, errlen, "package %s%s%s listed twice", name, *arch ? ":" : "",
		    arch);
	if (inv->npkgs >= POSTURE_PKGS_MAX)
		return errf(err, errlen, "more than %d packages", POSTURE_PKGS_MAX);
	if (inv->npkgs == inv->cap) {
		cap = inv->cap ? inv->cap * 2 : 64;
		if ((np = realloc(inv->pkgs, cap * sizeof(*np))) == NULL)
			return errf(err, errlen, "out of memory");
		inv->pkgs = np;
		inv->cap = cap;
	}
	memmove(&inv->pkgs[at + 1], &inv->pkgs[at], (inv->npkgs - at) * sizeof(*np));
	np = &inv->pkgs[at];
	memset(np, 0, sizeof(*np));
	memcpy(np->name, name, strlen(name));
	memcpy(np->version, version, strlen(version));
	memcpy(np->arch, arch, strlen(arch));
	inv->npkgs++;
	return 0;
}

const struct posture_pkg *
posture_pkg_find(const struct posture_inventory *inv, const char *name, const char *arch)
{
	size_t at;
	int found;

	if (arch != NULL) {
		at = pkg_search(inv, name, arch, &found);
		return found ? &inv->pkgs[at] : NULL;
	}
	at = pkg_search(inv, name, "", &found);	/* "" sorts first among its name */
	if (at < inv->npkgs && strcmp(inv->pkgs[at].name, name) == 0)
		return &inv->pkgs[at];
	return NULL;
}

static int
hex_ok(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
posture_file_add(struct posture_inventory *inv, const char *path, const char *sha256,
    char *err, size_t errlen)
{
	struct posture_file *f;
	size_t i;

	if (path[0] != '/' || !str_ok(path, 2, POSTURE_PATH_MAX, NULL) ||
	    strstr(path, "/../") != NULL || strstr(path, "/./") != NULL)
		return errf(err, errlen, "file \"%.64s\": not an absolute path without spaces, "
		    "control characters or dot segments, shorter than %d octets", path,
		    POSTURE_PATH_MAX);
	if (!hex_ok(sha256, 64))
		return errf(err, errlen, "file %.200s: hash is not 64 lower-case hex digits",
		    path);
	for (i = 0; i < inv->nfiles; i++)
		if (strcmp(inv->files[i].path, path) == 0)
			return errf(err, errlen, "file %.200s listed twice", path);
	if (inv->nfiles >= POSTURE_FILES_MAX)
		return errf(err, errlen, "more than %d files", POSTURE_FILES_MAX);
	f = &inv->files[inv->nfiles++];
	memcpy(f->path, path, strlen(path) + 1);
	memcpy(f->sha256, sha256, 65);
	return 0;
}

int
posture_file_hash(struct posture_inventory *inv, const char *path, char *err, size_t errlen)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char buf[65536], md[32];
	char hex[65];
	EVP_MD_CTX *ctx = NULL;
	unsigned mdlen = 0;
	ssize_t n;
	int fd, rc = -1;
	size_t i;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errf(err, errlen, "file %.200s: %s", path, strerror(errno));
	if ((ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		errf(err, errlen, "file %.200s: SHA-256 unavailable", path);
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			errf(err, errlen, "file %.200s: %s", path, strerror(errno));
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			errf(err, errlen, "file %.200s: SHA-256 failed", path);
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
		errf(err, errlen, "file %.200s: SHA-256 failed", path);
		goto out;
	}
	for (i = 0; i < 32; i++) {
		hex[2 * i] = hexd[md[i] >> 4];
		hex[2 * i + 1] = hexd[md[i] & 0xf];
	}
	hex[64] = '\0';
	rc = posture_file_add(inv, path, hex, err, errlen);
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return rc;
}

/* ---- dpkg status and command output ------------------------------------------------ */

/* The value of "Field: value" when line (n octets) is that field, trimmed, into out. */
static int
field_get(const char *line, size_t n, const char *field, char *out, size_t outlen)
{
	size_t fl = strlen(field), vs, ve;

	if (n <= fl || strncasecmp(line, field, fl) != 0 || line[fl] != ':')
		return 0;
	vs = fl + 1;
	while (vs < n && (line[vs] == ' ' || line[vs] == '\t'))
		vs++;
	ve = n;
	while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t' || line[ve - 1] == '\r'))
		ve--;
	if (ve - vs >= outlen)
		ve = vs + outlen - 1;	/* too long: truncated, then refused by pkg_add */
	memcpy(out, line + vs, ve - vs);
	out[ve - vs] = '\0';
	/* a NUL inside would hide the rest: make it fail the character checks */
	if (strlen(out) != ve - vs)
		out[0] = '\0';
	return 1;
}

struct stanza {
	char	name[POSTURE_NAME_MAX + 1];
	char	version[POSTURE_VERSION_MAX + 1];
	char	arch[POSTURE_ARCH_MAX + 1];
	char	status[64];
	int	any;
	size_t	line;
};

/*
 * Is a Status value "want flag status" (deb-control(5), dpkg-query(1)) an installed
 * package? Its third word is "installed", whatever the selection (install, hold, or
 * deinstall not yet carried out) and the flag (ok, reinstreq).
 */
static int
status_installed(const char *st)
{
	const char *p = st;
	int w;

	for (w = 0; w < 2; w++) {
		p += strcspn(p, " ");
		if (*p != ' ')
			return 0;
		p += strspn(p, " ");
	}
	return strcmp(p, "installed") == 0;
}

static int
stanza_end(struct stanza *s, struct posture_inventory *inv, int *count, char *err,
    size_t errlen)
{
	char why[256];

	if (!s->any)
		return 0;
	if (status_installed(s->status)) {
		if (s->name[0] == '\0' || s->version[0] == '\0')
			return errf(err, errlen, "dpkg status: the installed package ending at "
			    "line %zu has no %s", s->line, s->name[0] ? "Version" : "Package");
		if (posture_pkg_add(inv, s->name, s->version, s->arch, why, sizeof(why)) == -1)
			return errf(err, errlen, "dpkg status line %zu: %s", s->line, why);
		(*count)++;
	}
	memset(s, 0, sizeof(*s));
	return 0;
}

int
posture_dpkg_parse(const char *text, size_t len, struct posture_inventory *inv, char *err,
    size_t errlen)
{
	struct stanza s;
	const char *p = text, *end = text + len, *nl;
	size_t n, lineno = 0;
	int count = 0;

	memset(&s, 0, sizeof(s));
	if (len > POSTURE_INPUT_MAX)
		return errf(err, errlen, "dpkg status larger than %d octets", POSTURE_INPUT_MAX);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		if (n == 0 || (n == 1 && p[0] == '\r')) {
			s.line = lineno - 1;
			if (stanza_end(&s, inv, &count, err, errlen) == -1)
				return -1;
		} else if (p[0] != ' ' && p[0] != '\t') {
			s.any = 1;
			if (!field_get(p, n, "Package", s.name, sizeof(s.name)) &&
			    !field_get(p, n, "Version", s.version, sizeof(s.version)) &&
			    !field_get(p, n, "Architecture", s.arch, sizeof(s.arch)))
				field_get(p, n, "Status", s.status, sizeof(s.status));
		}
		p += n + (nl != NULL);
	}
	s.line = lineno;
	if (stanza_end(&s, inv, &count, err, errlen) == -1)
		return -1;
	return count;
}

int
posture_lines_parse(const char *text, size_t len, struct posture_inventory *inv, char *err,
    size_t errlen)
{
	char line[POSTURE_NAME_MAX + POSTURE_VERSION_MAX + POSTURE_ARCH_MAX + 8];
	char *f[4], *save = NULL, *t, why[256];
	const char *p = text, *end = text + len, *nl, *ls;
	size_t n, lineno = 0;
	int count = 0, nf;

	if (len > POSTURE_INPUT_MAX)
		return errf(err, errlen, "inventory output larger than %d octets",
		    POSTURE_INPUT_MAX);
	while (p < end) {
		ls = p;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		p += n + (nl != NULL);
		lineno++;
		if (n > 0 && ls[n - 1] == '\r')
			n--;
		if (n >= sizeof(line))
			return errf(err, errlen, "inventory line %zu: longer than %zu octets",
			    lineno, sizeof(line) - 1);
		memcpy(line, ls, n);
		line[n] = '\0';
		if (memchr(line, '\0', n) != NULL && strlen(line) != n)
			return errf(err, errlen, "inventory line %zu: NUL octet", lineno);
		t = line;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t == '\0' || *t == '#')
			continue;
		nf = 0;
		for (t = strtok_r(t, " \t", &save); t != NULL && nf < 4;
		    t = strtok_r(NULL, " \t", &save))
			f[nf++] = t;
		if (nf < 2 || nf > 3)
			return errf(err, errlen, "inventory line %zu: expected NAME VERSION "
			    "[ARCH]", lineno);
		if (posture_pkg_add(inv, f[0], f[1], nf == 3 ? f[2] : "", why,
		    sizeof(why)) == -1)
			return errf(err, errlen, "inventory line %zu: %s", lineno, why);
		count++;
	}
	return count;
}

/* ---- JSON -------------------------------------------------------------------------- */

json_t *
posture_inventory_json(const struct posture_inventory *inv)
{
	json_t *j, *sw, *files, *e;
	char tag[POSTURE_NAME_MAX + POSTURE_ARCH_MAX + 8];
	size_t i;

	j = json_object();
	sw = json_array();
	files = json_array();
	if (j == NULL || sw == NULL || files == NULL)
		goto oom;
	for (i = 0; i < inv->npkgs; i++) {
		const struct posture_pkg *p = &inv->pkgs[i];

		snprintf(tag, sizeof(tag), "dpkg:%s:%s", p->name, p->arch);
		e = json_pack("{s:s, s:s, s:s, s:s, s:s}", "tag-id", tag, "software-name",
		    p->name, "software-version", p->version, "version-scheme", "alphanumeric",
		    "architecture", p->arch);
		if (json_array_append_new(sw, e) == -1)
			goto oom;
	}
	for (i = 0; i < inv->nfiles; i++) {
		e = json_pack("{s:s, s:[i, s]}", "fs-name", inv->files[i].path, "hash",
		    POSTURE_HASH_ALG_SHA256, inv->files[i].sha256);
		if (json_array_append_new(files, e) == -1)
			goto oom;
	}
	if (json_object_set_new(j, "software", sw) == -1) {
		sw = NULL;
		goto oom;
	}
	sw = NULL;
	if (json_object_set_new(j, "file", files) == -1) {
		files = NULL;
		goto oom;
	}
	return j;
oom:
	json_decref(j);
	json_decref(sw);
	json_decref(files);
	return NULL;
}

char *
posture_report_encode(const struct posture_report *r, size_t *len, char *err, size_t errlen)
{
	json_t *j;
	char *s;

	if ((j = posture_inventory_json(&r->inv)) == NULL ||
	    json_object_set_new(j, "report-version", json_integer(1)) == -1 ||
	    json_object_set_new(j, "serial", json_string(r->serial)) == -1 ||
	    json_object_set_new(j, "ldevid-serial", json_string(r->ldevid_serial)) == -1 ||
	    json_object_set_new(j, "time", json_integer(r->time)) == -1 ||
	    json_object_set_new(j, "nonce", json_string(r->nonce)) == -1) {
		json_decref(j);
		errf(err, errlen, "posture report: out of memory (or a string not UTF-8)");
		return NULL;
	}
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (s == NULL) {
		errf(err, errlen, "posture report: out of memory");
		return NULL;
	}
	*len = strlen(s);
	if (*len > POSTURE_JSON_MAX) {
		free(s);
		errf(err, errlen, "posture report larger than %d octets", POSTURE_JSON_MAX);
		return NULL;
	}
	return s;
}

/* A string member of o into out (outlen incl. NUL); 0, or -1 with err. */
static int
jstr(json_t *o, const char *key, char *out, size_t outlen, const char *what, char *err,
    size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return errf(err, errlen, "%s: \"%s\" missing or not a string", what, key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= outlen || strlen(s) != n)
		return errf(err, errlen, "%s: \"%s\" too long or has a NUL", what, key);
	memcpy(out, s, n + 1);
	return 0;
}

int
posture_report_parse(const char *json, size_t len, struct posture_report *r, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *j = NULL, *v, *e, *h;
	char name[POSTURE_NAME_MAX], version[POSTURE_VERSION_MAX], arch[POSTURE_ARCH_MAX];
	char path[POSTURE_PATH_MAX], hash[65], what[64], why[256];
	size_t i;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (len > POSTURE_JSON_MAX)
		return errf(err, errlen, "posture report larger than %d octets",
		    POSTURE_JSON_MAX);
	if ((j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return errf(err, errlen, "posture report: not JSON: %.80s (line %d)", je.text,
		    je.line);
	if (!json_is_object(j)) {
		errf(err, errlen, "posture report: not a JSON object");
		goto out;
	}
	v = json_object_get(j, "report-version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		errf(err, errlen, "posture report: \"report-version\" is not 1");
		goto out;
	}
	r->version = 1;
	if (jstr(j, "serial", r->serial, sizeof(r->serial), "posture report", err,
	    errlen) == -1 ||
	    jstr(j, "ldevid-serial", r->ldevid_serial, sizeof(r->ldevid_serial),
	    "posture report", err, errlen) == -1 ||
	    jstr(j, "nonce", r->nonce, sizeof(r->nonce), "posture report", err, errlen) == -1)
		goto out;
	if (!str_ok(r->serial, 1, sizeof(r->serial), NULL) ||
	    !str_ok(r->ldevid_serial, 1, sizeof(r->ldevid_serial), NULL) ||
	    !hex_ok(r->nonce, POSTURE_NONCE_HEX)) {
		errf(err, errlen, "posture report: bad serial, ldevid-serial or nonce");
		goto out;
	}
	v = json_object_get(j, "time");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		errf(err, errlen, "posture report: \"time\" is not a non-negative integer");
		goto out;
	}
	r->time = json_integer_value(v);
	v = json_object_get(j, "software");
	if (!json_is_array(v) || json_array_size(v) > POSTURE_PKGS_MAX) {
		errf(err, errlen, "posture report: \"software\" missing, not a list or longer "
		    "than %d", POSTURE_PKGS_MAX);
		goto out;
	}
	json_array_foreach(v, i, e) {
		snprintf(what, sizeof(what), "software entry %zu", i + 1);
		if (!json_is_object(e)) {
			errf(err, errlen, "posture report: %s is not an object", what);
			goto out;
		}
		if (jstr(e, "software-name", name, sizeof(name), what, err, errlen) == -1 ||
		    jstr(e, "software-version", version, sizeof(version), what, err,
		    errlen) == -1)
			goto out;
		arch[0] = '\0';
		if (json_object_get(e, "architecture") != NULL &&
		    jstr(e, "architecture", arch, sizeof(arch), what, err, errlen) == -1)
			goto out;
		if (posture_pkg_add(&r->inv, name, version, arch, why, sizeof(why)) == -1) {
			errf(err, errlen, "posture report: %s", why);
			goto out;
		}
	}
	v = json_object_get(j, "file");
	if (v != NULL && (!json_is_array(v) || json_array_size(v) > POSTURE_FILES_MAX)) {
		errf(err, errlen, "posture report: \"file\" not a list or longer than %d",
		    POSTURE_FILES_MAX);
		goto out;
	}
	json_array_foreach(v, i, e) {
		snprintf(what, sizeof(what), "file entry %zu", i + 1);
		if (!json_is_object(e) ||
		    jstr(e, "fs-name", path, sizeof(path), what, err, errlen) == -1)
			goto bad_file;
		h = json_object_get(e, "hash");
		if (!json_is_array(h) || json_array_size(h) != 2 ||
		    !json_is_integer(json_array_get(h, 0)) ||
		    json_integer_value(json_array_get(h, 0)) != POSTURE_HASH_ALG_SHA256 ||
		    !json_is_string(json_array_get(h, 1)) ||
		    json_string_length(json_array_get(h, 1)) != 64) {
			errf(err, errlen, "posture report: %s: \"hash\" is not [1, \"<64 hex "
			    "digits>\"] (sha-256)", what);
			goto out;
		}
		memcpy(hash, json_string_value(json_array_get(h, 1)), 65);
		if (posture_file_add(&r->inv, path, hash, why, sizeof(why)) == -1) {
			errf(err, errlen, "posture report: %s", why);
			goto out;
		}
		continue;
bad_file:
		if (!json_is_object(e))
			errf(err, errlen, "posture report: %s is not an object", what);
		goto out;
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}

void
posture_report_free(struct posture_report *r)
{
	posture_inventory_free(&r->inv);
}

/* ---- CMS --------------------------------------------------------------------------- */

static const char *
ossl_why(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	return buf;
}

int
posture_sign(const unsigned char *content, size_t len, X509 *cert, EVP_PKEY *key,
    STACK_OF(X509) *chain, unsigned char **der, size_t *derlen, char *err, size_t errlen)
{
	char why[256];

	*der = NULL;
	if (len > POSTURE_JSON_MAX)
		return errf(err, errlen, "posture report too large to sign");
	/* RFC 5652 §5: SignedData, encapsulated id-data, the signer's certificate included */
	if (p7_sign_data(content, len, cert, key, chain, der, derlen, why, sizeof(why)) == -1)
		return errf(err, errlen, "posture report: %s", why);
	return 0;
}

int
posture_verify(const unsigned char *der, size_t len, X509 *expect, unsigned char **content,
    size_t *clen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *signers = NULL;
	const unsigned char *p = der;
	BIO *out = NULL;
	BUF_MEM *bm = NULL;
	char why[160];
	int rc = -1;

	*content = NULL;
	ERR_clear_error();
	if (len == 0 || len > POSTURE_CMS_MAX)
		return errf(err, errlen, "signed report empty or larger than %d octets",
		    POSTURE_CMS_MAX);
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL || p != der + len) {
		errf(err, errlen, "signed report is not one DER CMS ContentInfo");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		errf(err, errlen, "signed report is not CMS SignedData");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
		errf(err, errlen, "signed report's content type is not id-data");
		goto out;
	}
	if (CMS_is_detached(cms) || CMS_get0_content(cms) == NULL ||
	    *CMS_get0_content(cms) == NULL) {
		errf(err, errlen, "signed report has no encapsulated content");
		goto out;
	}
	if ((sis = CMS_get0_SignerInfos(cms)) == NULL || sk_CMS_SignerInfo_num(sis) != 1) {
		errf(err, errlen, "signed report must have exactly one signer");
		goto out;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	/* The chain was verified by TLS; here the signer must be that very certificate. */
	if (CMS_verify(cms, NULL, NULL, NULL, out, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		errf(err, errlen, "signed report: CMS signature does not verify: %s",
		    ossl_why(why, sizeof(why)));
		rc = -2;
		goto out;
	}
	if ((signers = CMS_get0_signers(cms)) == NULL || sk_X509_num(signers) != 1 ||
	    X509_cmp(sk_X509_value(signers, 0), expect) != 0) {
		errf(err, errlen, "signed report: the signer is not the LDevID of this TLS "
		    "session");
		rc = -2;
		goto out;
	}
	BIO_get_mem_ptr(out, &bm);
	if (bm == NULL || bm->length == 0 || bm->length > POSTURE_JSON_MAX) {
		errf(err, errlen, "signed report: content empty or larger than %d octets",
		    POSTURE_JSON_MAX);
		goto out;
	}
	if ((*content = malloc(bm->length + 1)) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(*content, bm->data, bm->length);
	(*content)[bm->length] = '\0';
	*clen = bm->length;
	rc = 0;
out:
	sk_X509_free(signers);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return rc;
}

/* ---- diff -------------------------------------------------------------------------- */

static int
push_pkg(json_t *a, const struct posture_pkg *p)
{
	return json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "name", p->name,
	    "version", p->version, "architecture", p->arch));
}

json_t *
posture_diff(const struct posture_inventory *old, const struct posture_inventory *new)
{
	json_t *j, *add, *rem, *chg, *files;
	const struct posture_file *of, *nf;
	size_t i = 0, k = 0, a, b;
	int c;

	j = json_pack("{s:[], s:[], s:[], s:[]}", "added", "removed", "changed", "files");
	if (j == NULL)
		return NULL;
	add = json_object_get(j, "added");
	rem = json_object_get(j, "removed");
	chg = json_object_get(j, "changed");
	files = json_object_get(j, "files");
	while (i < old->npkgs || k < new->npkgs) {
		if (i == old->npkgs)
			c = 1;
		else if (k == new->npkgs)
			c = -1;
		else
			c = pkg_cmp(old->pkgs[i].name, old->pkgs[i].arch, &new->pkgs[k]);
		if (c < 0) {
			if (push_pkg(rem, &old->pkgs[i++]) == -1)
				goto oom;
		} else if (c > 0) {
			if (push_pkg(add, &new->pkgs[k++]) == -1)
				goto oom;
		} else {
			if (strcmp(old->pkgs[i].version, new->pkgs[k].version) != 0 &&
			    json_array_append_new(chg, json_pack("{s:s, s:s, s:s, s:s}", "name",
			    new->pkgs[k].name, "architecture", new->pkgs[k].arch, "from",
			    old->pkgs[i].version, "to", new->pkgs[k].version)) == -1)
				goto oom;
			i++;
			k++;
		}
	}
	/* files: every path of either report whose hash differs or that one lacks */
	for (a = 0; a < old->nfiles + new->nfiles; a++) {
		of = nf = NULL;
		if (a < old->nfiles) {
			of = &old->files[a];
			for (b = 0; b < new->nfiles && nf == NULL; b++)
				if (strcmp(new->files[b].path, of->path) == 0)
					nf = &new->files[b];
		} else {
			nf = &new->files[a - old->nfiles];
			for (b = 0; b < old->nfiles; b++)
				if (strcmp(old->files[b].path, nf->path) == 0)
					break;
			if (b < old->nfiles)
				continue;	/* seen from the old side */
		}
		if (of != NULL && nf != NULL && strcmp(of->sha256, nf->sha256) == 0)
			continue;
		if (json_array_append_new(files, json_pack("{s:s, s:s?, s:s?}", "fs-name",
		    of != NULL ? of->path : nf->path, "from", of != NULL ? of->sha256 : NULL,
		    "to", nf != NULL ? nf->sha256 : NULL)) == -1)
			goto oom;
	}
	return j;
oom:
	json_decref(j);
	return NULL;
}

int
posture_nonce(char out[POSTURE_NONCE_HEX + 1])
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char r[POSTURE_NONCE_HEX / 2];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	for (i = 0; i < sizeof(r); i++) {
		out[2 * i] = hexd[r[i] >> 4];
		out[2 * i + 1] = hexd[r[i] & 0xf];
	}
	out[POSTURE_NONCE_HEX] = '\0';
	return 0;
}
