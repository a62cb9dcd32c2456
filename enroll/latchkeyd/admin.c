/*
 * admin: latchkeyd's admin listener (admin-listen), a process of its own beside the
 * workers: plain HTTP on a loopback port, off the EST port, answering
 *
 *   GET /healthz   200 "ok ..." when every worker can enroll (registry writable, signer
 *                  answering, event loop turning: stats_healthy), else 503 with the first
 *                  failed check; HEAD alike
 *   GET /metrics   the Prometheus text format (0.0.4) of the shared counters (stats.h)
 *                  and of what the files say: certificate expiry, the CRL's size and age
 *
 * It holds no key and no registry connection: it reads the shared segment, the TLS and CA
 * certificates (at start; a reload starts a new admin process) and the published CRL file
 * (at each scrape). Started as root it runs as the workers' user. Requests are small and
 * bounded (headers 4 KiB, no body), and a slow client is dropped after 5 s.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "enroll/latchkeyd/latchkeyd.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/stats.h"

#define ADMIN_CRL_MAX	(64u << 20)

static struct stats_files files;
static const struct config *admin_cfg;

static int64_t
asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static int64_t
cert_not_after(const char *path)
{
	char err[256];
	X509 *x;
	int64_t t;

	if (path[0] == '\0' || (x = pki_cert_read(path, err, sizeof(err))) == NULL)
		return 0;
	t = asn1_time_unix(X509_get0_notAfter(x));
	X509_free(x);
	return t;
}

/*
 * The published CRL (DER): its size, entries and dates. Parsed again only when the file
 * changed (latchkeyd replaces it by rename: another inode), not on every scrape.
 */
static void
crl_read(struct stats_files *f)
{
	static dev_t seen_dev;
	static ino_t seen_ino;
	static struct timespec seen_mtime;
	const char *path = admin_cfg->crl_file;
	const unsigned char *p;
	unsigned char *buf = NULL;
	X509_CRL *crl = NULL;
	struct stat sb;
	FILE *fp = NULL;

	if (path[0] == '\0' || (fp = fopen(path, "rb")) == NULL) {
		f->have_crl = 0;
		return;
	}
	if (fstat(fileno(fp), &sb) == -1)
		goto out;
	if (f->have_crl && sb.st_dev == seen_dev && sb.st_ino == seen_ino &&
	    sb.st_mtim.tv_sec == seen_mtime.tv_sec && sb.st_mtim.tv_nsec == seen_mtime.tv_nsec)
		goto out;	/* unchanged */
	f->have_crl = 0;
	if (sb.st_size <= 0 || sb.st_size > ADMIN_CRL_MAX ||
	    (buf = malloc((size_t)sb.st_size)) == NULL ||
	    fread(buf, 1, (size_t)sb.st_size, fp) != (size_t)sb.st_size)
		goto out;
	p = buf;
	if ((crl = d2i_X509_CRL(NULL, &p, sb.st_size)) == NULL)
		goto out;
	f->have_crl = 1;
	f->crl_bytes = sb.st_size;
	f->crl_entries = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
	if (f->crl_entries < 0)
		f->crl_entries = 0;
	f->crl_this_update = asn1_time_unix(X509_CRL_get0_lastUpdate(crl));
	f->crl_next_update = asn1_time_unix(X509_CRL_get0_nextUpdate(crl));
	seen_dev = sb.st_dev;
	seen_ino = sb.st_ino;
	seen_mtime = sb.st_mtim;
out:
	X509_CRL_free(crl);
	free(buf);
	fclose(fp);
}

static void
reply(struct evhttp_request *req, int status, const char *ctype, const char *body,
    size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	evhttp_send_reply(req, status, NULL, NULL);
}

static void
admin_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char why[320], line[352];
	size_t len;
	char *text;
	int ok;

	(void)arg;
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply(req, 405, "text/plain; charset=utf-8", "method not allowed\n", 19);
		return;
	}
	if (path != NULL && strcmp(path, "/healthz") == 0) {
		ok = stats_healthy(stats, why, sizeof(why));
		len = (size_t)snprintf(line, sizeof(line), "%s\n", why);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		reply(req, ok ? 200 : 503, "text/plain; charset=utf-8", line, len);
		return;
	}
	if (path != NULL && strcmp(path, "/metrics") == 0) {
		crl_read(&files);
		if ((text = stats_prometheus(stats, &files, &len)) == NULL) {
			reply(req, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
			return;
		}
		reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
		free(text);
		return;
	}
	reply(req, 404, "text/plain; charset=utf-8", "not found: /healthz, /metrics\n", 30);
}

/* Daemonized: leave the terminal once the daemon is ready (stats_detach_stdio). */
static void
admin_tick(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	stats_detach_stdio();
}

static void
admin_stop(evutil_socket_t sig, short ev, void *arg)
{
	(void)sig;
	(void)ev;
	event_base_loopexit(arg, NULL);
}

int
admin_run(const struct config *cfg, int fd)
{
	struct event_base *base;
	struct evhttp *http;
	struct event *sigterm, *sigint, *tick;
	struct timeval tv = { 0, 250000 };

	admin_cfg = cfg;
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	files.tls_not_after = cert_not_after(cfg->tls_cert);
	files.ca_not_after = cert_not_after(cfg->role == CONFIG_ROLE_MASA ? cfg->masa_cert :
	    cfg->ca_cert);
	files.expiry_warn_days = cfg->expiry_warn_days;
	if (cfg->drop) {
		if (setgroups(0, NULL) == -1 || setresgid(cfg->gid, cfg->gid, cfg->gid) == -1 ||
		    setresuid(cfg->uid, cfg->uid, cfg->uid) == -1)
			fatal("admin: cannot switch to user %s", cfg->user);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			return 1;
	}
	if ((base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL)
		fatalx("admin: libevent initialisation failed");
	evhttp_set_gencb(http, admin_request, NULL);
	evhttp_set_max_headers_size(http, 4096);
	evhttp_set_max_body_size(http, 1024);	/* none expected: 405 */
	evhttp_set_timeout(http, 5);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	if (evhttp_accept_socket_with_handle(http, fd) == NULL)
		fatalx("admin: cannot accept on the admin socket");
	sigterm = evsignal_new(base, SIGTERM, admin_stop, base);
	sigint = evsignal_new(base, SIGINT, admin_stop, base);
	tick = event_new(base, -1, EV_PERSIST, admin_tick, NULL);
	if (sigterm == NULL || sigint == NULL || tick == NULL || event_add(sigterm, NULL) ||
	    event_add(sigint, NULL) || event_add(tick, &tv))
		fatalx("admin: cannot install signal handlers");
	log_debug("admin: serving /healthz and /metrics on %s port %u", cfg->admin_addr,
	    cfg->admin_port);
	event_base_dispatch(base);
	event_free(sigterm);
	event_free(sigint);
	event_free(tick);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
