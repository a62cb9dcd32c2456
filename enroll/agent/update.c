/* update: verified updates on the device (update.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certs/codesign.h"
#include "certs/pki.h"
#include "enroll/agent/agent.h"
#include "enroll/agent/onboard.h"
#include "enroll/agent/update.h"
#include "enroll/common/voucher.h"

#define UPDATE_REPORT_SUFFIX	"/.well-known/latchkey/update-report"
#define UPDATE_STATE_MAX	4096

const char *
update_decision_name(enum update_decision d)
{
	switch (d) {
	case UPDATE_INSTALLED: return "installed";
	case UPDATE_CURRENT: return "current";
	case UPDATE_REFUSED: return "refused";
	default: return "error";
	}
}

static void
progress(const struct update_opts *o, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (o->progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->progress(o->progress_arg, line);
}

static enum update_decision
decide(struct update_result *res, enum update_decision d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	res->decision = d;
	return d;
}

/* A fetch's sink: memory up to max, or a file descriptor up to max, hashing as it goes. */
struct sink {
	unsigned char	*buf;
	size_t		 len, max;
	int		 fd;		/* -1: memory */
	EVP_MD_CTX	*md;
	int		 over;
};

static size_t
sink_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t k = sz * n, off = 0;
	unsigned char *nb;
	ssize_t w;

	if (k > s->max - s->len) {	/* endless data: stop at the limit */
		s->over = 1;
		return 0;
	}
	if (s->fd == -1) {
		if ((nb = realloc(s->buf, s->len + k + 1)) == NULL)
			return 0;
		s->buf = nb;
		memcpy(s->buf + s->len, p, k);
		s->buf[s->len + k] = '\0';
	} else {
		while (off < k) {
			if ((w = write(s->fd, p + off, k - off)) == -1 && errno == EINTR)
				continue;
			if (w <= 0)
				return 0;
			off += (size_t)w;
		}
		if (s->md != NULL && EVP_DigestUpdate(s->md, p, k) != 1)
			return 0;
	}
	s->len += k;
	return k;
}

/* The client identity for one fetch: the LDevID chain file and its key (agent_key_load). */
struct fetch_id {
	const char	*cert;
	EVP_PKEY	*key;
};

/* libcurl reads key files only: a TPM or token key goes in through the SSL_CTX. */
static CURLcode
fetch_sslctx_cb(CURL *curl, void *sslctx, void *arg)
{
	const struct fetch_id *id = arg;
	SSL_CTX *ctx = sslctx;

	(void)curl;
	if (SSL_CTX_use_certificate_chain_file(ctx, id->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, id->key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

/*
 * GET (body NULL) or POST url into s. TLS against ca, with id (the LDevID, loaded once
 * per run by agent_key_load(): a file, TPM or token key) as the client identity unless it
 * is NULL. Returns the HTTP status, or -1 with err (transport, or over the limit).
 */
static long
fetch_ct(const char *url, const char *ca, const struct fetch_id *id, const void *body,
    size_t blen, const char *ctype, unsigned timeout_s, struct sink *s, char *err,
    size_t errlen)
{
	char ct[96];

	char ebuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	long status = -1;
	CURL *c;
	CURLcode rc;

	if ((c = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "latchkey-agent/1");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->max);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_CAPATH, (char *)NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (id != NULL) {
		curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, fetch_sslctx_cb);
		curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, id);
	}
	if (body != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		hdr = curl_slist_append(hdr, ct);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_FILESIZE_EXCEEDED)	/* announced by Content-Length: not read */
		s->over = 1;
	if (s->over)
		snprintf(err, errlen, "more than %zu octets", s->max);
	else if (rc != CURLE_OK)
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return status;
}

static long
fetch(const char *url, const char *ca, const struct fetch_id *id, unsigned timeout_s,
    struct sink *s, char *err, size_t errlen)
{
	return fetch_ct(url, ca, id, NULL, 0, NULL, timeout_s, s, err, errlen);
}

/* The package's state file: version and not-before last installed. 0, 1 none, -1 bad. */
static int
state_read(const char *path, char *version, size_t vlen, int64_t *not_before)
{
	char buf[UPDATE_STATE_MAX + 1];
	json_t *j, *v, *nb;
	size_t n;
	FILE *f;
	int rc = -1;

	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? 1 : -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n >= sizeof(buf) - 1)
		return -1;
	if ((j = json_loadb(buf, n, 0, NULL)) == NULL)
		return -1;
	v = json_object_get(j, "version");
	nb = json_object_get(j, "not-before");
	if (json_is_string(v) && manifest_version_valid(json_string_value(v)) &&
	    json_is_integer(nb)) {
		snprintf(version, vlen, "%s", json_string_value(v));
		*not_before = json_integer_value(nb);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* Append one decision to the device's audit log (JSON line, 0600). */
static void
audit_append(const char *path, const struct update_opts *o, const struct update_result *res,
    time_t now, int reported)
{
	json_t *j;
	char *line, when[32];
	int fd;

	if (voucher_time_format((int64_t)now, when, sizeof(when)) == -1)
		when[0] = '\0';
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "at", when, "package",
	    o->package, "version", res->version, "installed-before", res->installed,
	    "decision", update_decision_name(res->decision), "reason", res->reason, "server",
	    res->url, "signer", res->signer, "reported", reported);
	if (j == NULL || (line = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return;
	}
	json_decref(j);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) != -1) {
		if (write(fd, line, strlen(line)) >= 0 && write(fd, "\n", 1) == 1)
			fsync(fd);
		close(fd);
	}
	free(line);
}

/* Run the install command with the payload; 0 installed, -1 with err. */
static int
install(const struct update_opts *o, const char *payload, const char *version, char *err,
    size_t errlen)
{
	pid_t pid, w;
	int st = 0, i;

	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "install command: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);

		if (fd != -1) {
			dup2(fd, 0);
			close(fd);
		}
		dup2(2, 1);	/* stdout may carry our JSON */
		setpgid(0, 0);
		setenv("LATCHKEY_UPDATE_PACKAGE", o->package, 1);
		setenv("LATCHKEY_UPDATE_VERSION", version, 1);
		setenv("LATCHKEY_UPDATE_PAYLOAD", payload, 1);
		execl("/bin/sh", "sh", "-c", o->install_cmd, "sh", payload, (char *)NULL);
		_exit(127);
	}
	/* bounded: 10 ms steps up to UPDATE_INSTALL_TIMEOUT */
	for (i = 0; i < UPDATE_INSTALL_TIMEOUT * 100; i++) {
		if ((w = waitpid(pid, &st, WNOHANG)) == pid)
			break;
		if (w == -1 && errno != EINTR) {
			snprintf(err, errlen, "install command: wait: %s", strerror(errno));
			return -1;
		}
		usleep(10000);
	}
	if (i == UPDATE_INSTALL_TIMEOUT * 100) {
		kill(-pid, SIGKILL);
		waitpid(pid, &st, 0);
		snprintf(err, errlen, "install command timed out after %d s (killed)",
		    UPDATE_INSTALL_TIMEOUT);
		return -1;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		snprintf(err, errlen, "install command exited %d", WEXITSTATUS(st));
	else
		snprintf(err, errlen, "install command killed by signal %d", WTERMSIG(st));
	return -1;
}

/* The origin (scheme://host[:port]) of url into out. */
static int
url_origin(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://"), *e;

	if (p == NULL)
		return -1;
	e = strchr(p + 3, '/');
	if (e == NULL)
		e = url + strlen(url);
	if ((size_t)(e - url) >= outlen)
		return -1;
	memcpy(out, url, (size_t)(e - url));
	out[e - url] = '\0';
	return 0;
}

static void
report(const struct update_opts *o, EVP_PKEY *key, struct update_result *res, unsigned tmo)
{
	struct manifest_report r;
	struct agent_opts ao;
	char origin[512], err[256], *body, *answer = NULL;
	size_t alen;
	long st = 0;

	memset(&r, 0, sizeof(r));
	if (res->url[0] == '\0' || url_origin(res->url, origin, sizeof(origin)) == -1)
		return;
	snprintf(r.package, sizeof(r.package), "%s", manifest_package_valid(o->package) ?
	    o->package : "");
	snprintf(r.version, sizeof(r.version), "%s", res->version);
	snprintf(r.decision, sizeof(r.decision), "%s", res->decision == UPDATE_CURRENT ?
	    "installed" : update_decision_name(res->decision));
	snprintf(r.reason, sizeof(r.reason), "%s", res->reason);
	if ((body = manifest_report_json(&r)) == NULL)
		return;
	/* the agent's LDevID POST (as the posture report's): mutual TLS, the domain CA */
	memset(&ao, 0, sizeof(ao));
	ao.out_dir = o->state_dir;
	ao.server = origin;
	ao.timeout = (int)tmo;
	ao.ldevid_key = key;
	if (agent_ldevid_post(&ao, UPDATE_REPORT_SUFFIX, "application/json", body, strlen(body),
	    &st, &answer, &alen, err, sizeof(err)) == -1)
		st = -1;
	res->reported = st == 204;
	if (st != 204)
		progress(o, "report to %s%s not delivered: %s", origin, UPDATE_REPORT_SUFFIX,
		    st == -1 ? err : "refused by the server");
	free(answer);
	free(body);
}

enum update_decision
update_run(const struct update_opts *o, struct update_result *res)
{
	char ca[4096], cert[4096], key[4096], dir[3072], spath[4096], ppath[4096];
	char apath[4096], cpath[4096], url[2048], err[512], crlurl[CODESIGN_URL_MAX];
	char ocspurl[CODESIGN_URL_MAX];
	char hex[65], *content = NULL, *sj = NULL;
	struct onboard_record *rec = NULL;
	struct sink ms = { .fd = -1, .max = CODESIGN_CMS_MAX };
	struct sink cs = { .fd = -1, .max = CODESIGN_CRL_MAX };
	struct sink ps = { .fd = -1 };
	STACK_OF(X509) *anchors = NULL, *certs = NULL;
	X509 *signer = NULL;
	struct fetch_id lid = { cert, NULL };
	struct manifest m;
	unsigned char md[32];
	unsigned mdlen = 0, tmo = o->timeout_s ? o->timeout_s : UPDATE_TIMEOUT_DEFAULT;
	time_t now = o->now ? o->now : time(NULL);
	int64_t last_nb = 0;
	size_t clen;
	long st;
	int r, crl_cached = 0, no_crl;

	memset(res, 0, sizeof(*res));
	res->decision = UPDATE_ERROR;
	if (o->state_dir == NULL || strlen(o->state_dir) > 2048)
		return decide(res, UPDATE_ERROR, "state directory name too long");
	if (o->package == NULL || !manifest_package_valid(o->package))
		return decide(res, UPDATE_ERROR, "invalid package name");
	snprintf(ca, sizeof(ca), "%s/%s", o->state_dir, AGENT_FILE_CA);
	snprintf(cert, sizeof(cert), "%s/%s", o->state_dir, AGENT_FILE_CERT);
	snprintf(key, sizeof(key), "%s/%s", o->state_dir, AGENT_FILE_KEY);
	snprintf(dir, sizeof(dir), "%s/%s", o->state_dir, UPDATE_SUBDIR);
	snprintf(apath, sizeof(apath), "%s/%s", dir, UPDATE_FILE_AUDIT);
	snprintf(cpath, sizeof(cpath), "%s/%s", dir, UPDATE_FILE_CRL);
	snprintf(spath, sizeof(spath), "%s/%s.json", dir, o->package);
	snprintf(ppath, sizeof(ppath), "%s/%s.payload", dir, o->package);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		decide(res, UPDATE_ERROR, "%s: %s", dir, strerror(errno));
		return res->decision;	/* nowhere to audit */
	}
	/* 1. the server */
	if (o->url != NULL) {
		snprintf(res->url, sizeof(res->url), "%s", o->url);
		snprintf(res->source, sizeof(res->source), "option");
	} else {
		if ((rec = calloc(1, sizeof(*rec))) == NULL) {
			decide(res, UPDATE_ERROR, "out of memory");
			goto out;
		}
		r = onboard_record_read(o->state_dir, rec, err, sizeof(err));
		if (r != 1) {
			decide(res, UPDATE_ERROR, "no update server: no --update-url and %s",
			    r == 0 ? "no onboard.json in the state directory" : err);
			goto out;
		}
		if (rec->disc.nupdate == 0) {
			decide(res, UPDATE_ERROR, "no update server: discovery found none (DHCP "
			    "vendor option, mDNS _latchkey-update._tcp) and no --update-url");
			goto out;
		}
		if ((size_t)snprintf(res->url, sizeof(res->url), "%s", rec->disc.update[0]) >=
		    sizeof(res->url)) {
			decide(res, UPDATE_ERROR, "discovered update URL too long");
			goto out;
		}
		snprintf(res->source, sizeof(res->source), "onboard.json");
	}
	while (strlen(res->url) > 0 && res->url[strlen(res->url) - 1] == '/')
		res->url[strlen(res->url) - 1] = '\0';
	if ((anchors = pki_certs_read(ca, err, sizeof(err))) == NULL) {
		decide(res, UPDATE_ERROR, "domain CA: %s", err);
		goto out;
	}
	r = state_read(spath, res->installed, sizeof(res->installed), &last_nb);
	if (r == -1) {
		decide(res, UPDATE_ERROR, "%s: unreadable package state", spath);
		goto out;
	}
	if ((lid.key = agent_key_load(key, err, sizeof(err))) == NULL) {
		decide(res, UPDATE_ERROR, "LDevID key: %s", err);
		goto out;
	}
	/* 2. the signed manifest */
	snprintf(url, sizeof(url), "%s/%s/manifest.cms", res->url, o->package);
	progress(o, "fetching %s", url);
	if ((st = fetch(url, ca, &lid, tmo, &ms, err, sizeof(err))) != 200) {
		if (st == -1 && strstr(err, "more than") != NULL)
			decide(res, UPDATE_REFUSED, "manifest refused: %s", err);
		else
			decide(res, UPDATE_ERROR, "manifest %s: %s", url, st == -1 ? err :
			    st == 404 ? "not found (404)" : "HTTP error");
		goto out;
	}
	if (codesign_open(ms.buf, ms.len, MANIFEST_MAX, &content, &clen, &signer, &certs, err,
	    sizeof(err)) == -1) {
		decide(res, UPDATE_REFUSED, "%s", err);
		goto out;
	}
	X509_NAME_oneline(X509_get_subject_name(signer), res->signer, sizeof(res->signer));
	if (codesign_crl_url(signer, crlurl, sizeof(crlurl), err, sizeof(err)) == -1) {
		decide(res, UPDATE_REFUSED, "%s", err);
		goto out;
	}
	progress(o, "signer %s; CRL %s", res->signer, crlurl);
	if ((st = fetch(crlurl, ca, NULL, tmo, &cs, err, sizeof(err))) == 200) {
		pki_file_write(cpath, cs.buf, cs.len, 0600, 1, NULL, 0);
	} else {
		/* fail closed: only a cached CRL that is still current may stand in */
		free(cs.buf);
		cs.buf = NULL;
		cs.len = 0;
		progress(o, "CRL %s unreachable (%s); trying the cached one", crlurl,
		    st == -1 ? err : "HTTP error");
		if ((cs.buf = pki_file_read(cpath, CODESIGN_CRL_MAX, &cs.len, err,
		    sizeof(err))) != NULL)
			crl_cached = 1;
	}
	if (o->now == 0)	/* the checks below at the time of the answers */
		now = time(NULL);
	r = codesign_check_signer(signer, certs, anchors, cs.buf, cs.len, now, err, sizeof(err));
	/* refused for want of a current CRL (none fetched), not for what a CRL said */
	no_crl = r == -1 && (crl_cached || cs.len == 0) && strstr(err, "revoked") == NULL;
	if (no_crl && codesign_ocsp_url(signer, ocspurl, sizeof(ocspurl)) == 0) {
		/* no current CRL to be had: the signer's OCSP responder (RFC 6960) */
		unsigned char *req = NULL;
		size_t rlen = 0;
		struct sink os = { .fd = -1, .max = CODESIGN_CRL_MAX };

		progress(o, "no current CRL; asking the OCSP responder %s", ocspurl);
		if (codesign_ocsp_request(signer, anchors, &req, &rlen, err, sizeof(err)) == 0) {
			st = fetch_ct(ocspurl, ca, NULL, req, rlen,
			    "application/ocsp-request", tmo, &os, err, sizeof(err));
			if (st == 200)
				r = codesign_ocsp_check(signer, certs, anchors, os.buf, os.len, now,
				    err, sizeof(err));
			else
				snprintf(err, sizeof(err), "manifest refused: OCSP %.400s: %s",
				    ocspurl, st == -1 ? "unreachable" : "HTTP error");
		}
		free(req);
		free(os.buf);
		if (r == -1 && strstr(err, "revoked") != NULL) {
			decide(res, UPDATE_REFUSED, "%s", err);
			goto out;
		}
		if (r == -1) {
			decide(res, UPDATE_ERROR, "%s: neither the CRL %s nor OCSP could be had "
			    "(fail closed)", err, crlurl);
			goto out;
		}
	}
	if (r == -1) {
		/*
		 * Fail closed either way. A signer found revoked, or a CRL we did fetch that
		 * does not hold, is a verdict on this update (refused); no CRL to be had is an
		 * error that a later run may not have (the network, the server).
		 */
		if (no_crl)
			decide(res, UPDATE_ERROR, "%s: the CRL %s could not be fetched and no "
			    "current one is cached (fail closed)", err, crlurl);
		else
			decide(res, UPDATE_REFUSED, "%s", err);
		goto out;
	}
	if (manifest_parse(content, clen, &m, err, sizeof(err)) == -1) {
		decide(res, UPDATE_REFUSED, "manifest refused: %s", err);
		goto out;
	}
	snprintf(res->version, sizeof(res->version), "%s", m.version);
	if (strcmp(m.package, o->package) != 0) {
		decide(res, UPDATE_REFUSED, "manifest refused: it is for package %s, not %s "
		    "(mix-and-match)", m.package, o->package);
		goto out;
	}
	if ((int64_t)now < m.not_before) {
		decide(res, UPDATE_REFUSED, "manifest refused: not valid before %lld",
		    (long long)m.not_before);
		goto out;
	}
	if ((int64_t)now >= m.expires) {
		char when[32] = "";

		voucher_time_format(m.expires, when, sizeof(when));
		decide(res, UPDATE_REFUSED, "manifest refused: expired at %s", when);
		goto out;
	}
	if (!manifest_targets(&m, o->device_class)) {
		decide(res, UPDATE_REFUSED, "manifest refused: device class %s is not among its "
		    "targets", o->device_class);
		goto out;
	}
	if (res->installed[0] != '\0') {
		r = manifest_version_cmp(m.version, res->installed);
		if (r < 0) {
			decide(res, UPDATE_REFUSED, "manifest refused: version %s is older than "
			    "the installed %s (downgrade)", m.version, res->installed);
			goto out;
		}
		if (r == 0) {
			decide(res, UPDATE_CURRENT, "%s %s is already installed", o->package,
			    m.version);
			goto out;
		}
		if (m.not_before < last_nb) {
			decide(res, UPDATE_REFUSED, "manifest refused: issued before the manifest "
			    "of the installed version (rollback)");
			goto out;
		}
	}
	/* 3. the payload, at most m.size octets, hashed as it arrives */
	snprintf(url, sizeof(url), "%s/%s/%s", res->url, o->package, m.url);
	unlink(ppath);
	if ((ps.fd = open(ppath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1 ||
	    (ps.md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ps.md, EVP_sha256(), NULL) != 1) {
		decide(res, UPDATE_ERROR, "%s: %s", ppath, strerror(errno));
		goto out;
	}
	ps.max = (size_t)m.size;
	progress(o, "fetching %s (%llu octets)", url, (unsigned long long)m.size);
	st = fetch(url, ca, &lid, tmo, &ps, err, sizeof(err));
	if (st == -1 && ps.over) {
		decide(res, UPDATE_REFUSED, "payload refused: more than the manifest's %llu "
		    "octets", (unsigned long long)m.size);
		goto out;
	}
	if (st != 200) {
		decide(res, UPDATE_ERROR, "payload %s: %s", url, st == -1 ? err :
		    st == 404 ? "not found (404)" : "HTTP error");
		goto out;
	}
	if (ps.len != m.size) {
		decide(res, UPDATE_REFUSED, "payload refused: %zu octets, the manifest says %llu",
		    ps.len, (unsigned long long)m.size);
		goto out;
	}
	if (EVP_DigestFinal_ex(ps.md, md, &mdlen) != 1 || mdlen != 32 ||
	    memcmp(md, m.sha256, 32) != 0) {
		decide(res, UPDATE_REFUSED, "payload refused: SHA-256 does not match the "
		    "manifest (tampered payload)");
		goto out;
	}
	if (fsync(ps.fd) == -1 || close(ps.fd) == -1) {
		ps.fd = -1;
		decide(res, UPDATE_ERROR, "%s: %s", ppath, strerror(errno));
		goto out;
	}
	ps.fd = -1;
	/* 4. install, then advance the state */
	progress(o, "installing %s %s", o->package, m.version);
	if (install(o, ppath, m.version, err, sizeof(err)) == -1) {
		decide(res, UPDATE_ERROR, "%s", err);
		goto out;
	}
	pki_hex_encode(m.sha256, 32, hex);
	{
		json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:I}", "package", m.package,
		    "version", m.version, "not-before", (json_int_t)m.not_before, "sha256",
		    hex, "installed_at", (json_int_t)now);

		sj = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
	}
	if (sj == NULL || pki_file_write(spath, sj, strlen(sj), 0600, 1, err,
	    sizeof(err)) == -1) {
		decide(res, UPDATE_ERROR, "installed, but the package state was not written: "
		    "%s", sj == NULL ? "out of memory" : err);
		goto out;
	}
	decide(res, UPDATE_INSTALLED, "%s %s installed (was %s)", o->package, m.version,
	    res->installed[0] ? res->installed : "none");
out:
	if (ps.fd != -1)
		close(ps.fd);
	unlink(ppath);		/* installed (the command took it) or refused: never kept */
	if (!o->no_report)
		report(o, lid.key, res, tmo);
	audit_append(apath, o, res, now, res->reported);
	EVP_MD_CTX_free(ps.md);
	free(ms.buf);
	free(cs.buf);
	free(content);
	free(sj);
	free(rec);
	X509_free(signer);
	EVP_PKEY_free(lid.key);
	sk_X509_pop_free(certs, X509_free);
	sk_X509_pop_free(anchors, X509_free);
	return res->decision;
}
