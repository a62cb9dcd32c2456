/*
 * latchkeyd: the latchkey registrar. EST (RFC 7030) over HTTPS with libevent's evhttp on
 * bufferevent_openssl; every decision is made by the registrar engine (registrar.c), the CA
 * key lives only in the signer process (certs/signer.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs/ocsp.h"
#include "certs/pki.h"
#include "enroll/common/chanbind.h"
#include "enroll/latchkeyd/config.h"
#include "enroll/latchkeyd/est.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latch/latchmgr.h"
#include "enroll/latchkeyd/registrar.h"
#include "mdns/announce.h"
#include "mdns/txt.h"
#include "enroll/latchkeyd/brski.h"	/* brski */
#include "enroll/latchkeyd/masa.h"	/* brski */

#define MAX_HEADERS_SIZE	8192
#define OCSP_GET_PREFIX		LK_PREFIX "/ocsp/"

struct daemon {
	struct config		 cfg;
	SSL_CTX			*ctx;
	struct registrar	*reg;
	struct brski		*brski;		/* BRSKI registrar side (brski.c) */
	struct masa		*masa;		/* role = masa: the MASA (masa.c) */
	struct event_base	*base;
	struct evhttp		*http;
	unsigned long		 requests;
	unsigned		 worker;	/* index; worker 0 publishes the CRL file */
	struct event		*crl_timer;
	struct mdns_announce	*mdns;	/* worker 0 announces */
	struct latchmgr		*latch;	/* worker 0 keeps the latches (latch = yes) */
	struct evconnlistener	*listener;
	struct event		*accept_pause;	/* re-enables accepting after EMFILE */
	struct event		*commit_ev;	/* group commit of the issued enrollments */
	struct event		*committed_ev;	/* the committer finished a batch */
	unsigned long		 commits, committed;
};

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

/*
 * No path validation in the handshake: the registrar engine validates the client certificate
 * against its own anchors (manufacturers for enroll, the domain CA for reenroll) and answers
 * 401/403 with the reason. TLS itself still checks the CertificateVerify signature, the proof
 * that the client holds the certificate's key. Validating here too cost one ECDSA
 * verification and a chain build per enrollment, for a verdict nobody read.
 */
static int
verify_in_registrar(X509_STORE_CTX *x, void *arg)
{
	(void)x;
	(void)arg;
	return 1;
}

static SSL_CTX *
tls_setup(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	STACK_OF(X509_NAME) *names;
	size_t i;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto ossl;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* TLS 1.2: ECDHE with AEAD only; TLS 1.3 suites are all ephemeral. */
	if (SSL_CTX_set_cipher_list(ctx,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305") != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
		goto ossl;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		snprintf(err, errlen, "%.400s: cannot load the TLS certificate", cfg->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%.200s: cannot load the TLS key or it does not match %.200s",
		    cfg->tls_key, cfg->tls_cert);
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, NULL);
	SSL_CTX_set_cert_verify_callback(ctx, verify_in_registrar, NULL);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"latchkeyd", 9);
	/*
	 * No resumption: a device enrolls once per connection, and with OpenSSL 3.0 every
	 * session ticket re-encodes and re-decodes the client's certificates (a third of the
	 * server's CPU in the enrollment benchmark).
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	/* Tell clients which issuers we take (manufacturers, and our CA for reenroll). */
	if ((names = sk_X509_NAME_new_null()) == NULL)
		goto ossl;
	for (i = 0; i < cfg->n_manufacturer_ca; i++)
		SSL_add_file_cert_subjects_to_stack(names, cfg->manufacturer_ca[i]);
	SSL_add_file_cert_subjects_to_stack(names, cfg->ca_cert);
	SSL_CTX_set_client_CA_list(ctx, names);
	ERR_clear_error();
	return ctx;
ossl:
	snprintf(err, errlen, "TLS setup: %s", ERR_reason_error_string(ERR_get_error()));
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

/*
 * Per connection: a deadline for the next complete request. evhttp's idle-timeout restarts
 * with every byte, so a client trickling a ClientHello or a request would hold its
 * connection for ever (slowloris); this one does not move until a request is complete.
 * It lives in the SSL's ex_data, so it ends with the connection whoever frees it.
 */
struct conn {
	struct bufferevent	*bev;
	struct event		*deadline;
	int			 nodelay;	/* TCP_NODELAY set */
};

static int conn_idx = -1;

static void
conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct conn *c = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (c == NULL)
		return;
	if (c->deadline != NULL)
		event_free(c->deadline);
	free(c);
}

static void
conn_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct conn *c = arg;
	evutil_socket_t s = bufferevent_getfd(c->bev);

	(void)fd;
	(void)ev;
	log_debug("dropping a connection without a complete request in time");
	/* evhttp sees the end of the stream and frees the connection itself */
	if (s != -1)
		shutdown(s, SHUT_RDWR);
}

static void
conn_arm(struct daemon *d, struct conn *c)
{
	struct timeval tv = { (time_t)d->cfg.idle_timeout * 2, 0 };

	evtimer_add(c->deadline, &tv);
}

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct daemon *d = arg;
	struct bufferevent *bev;
	struct conn *c;
	SSL *ssl;

	/*
	 * evhttp falls back to a plaintext socket when this returns NULL: never let it.
	 * These fail only when memory is exhausted; the supervisor restarts the worker.
	 */
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->deadline = evtimer_new(base, conn_deadline, c)) == NULL ||
	    (ssl = SSL_new(d->ctx)) == NULL)
		fatalx("cannot set up TLS for a new connection: out of memory");
	if (SSL_set_ex_data(ssl, conn_idx, c) != 1) {
		event_free(c->deadline);
		free(c);
		fatalx("cannot set up TLS for a new connection: out of memory");
	}
	if ((bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("cannot set up TLS for a new connection: out of memory");
	c->bev = bev;
	conn_arm(d, c);
	return bev;
}

static void
send_reply(struct evhttp_request *req, struct registrar_reply *rep)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	evhttp_add_header(h, "Content-Type", rep->ctype != NULL ? rep->ctype :
	    "text/plain; charset=utf-8");
	if (rep->b64)
		evhttp_add_header(h, "Content-Transfer-Encoding", "base64");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (rep->len > 0)
		evbuffer_add(out, rep->body, rep->len);
	evhttp_send_reply(req, rep->status, NULL, NULL);
}

static void
send_error(struct evhttp_request *req, int status, const char *allow, const char *msg)
{
	struct registrar_reply rep;
	size_t n = strlen(msg);

	memset(&rep, 0, sizeof(rep));
	rep.status = status;
	if ((rep.body = malloc(n + 1)) != NULL) {
		memcpy(rep.body, msg, n);
		rep.body[n] = '\n';
		rep.len = n + 1;
	}
	if (allow != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	send_reply(req, &rep);
	free(rep.body);
}

static void
handle_ocsp_get(struct daemon *d, struct evhttp_request *req, const char *b64)
{
	struct registrar_reply rep;
	unsigned char *der = NULL;
	size_t len = 0;
	char err[128];

	if (ocsp_get_path_decode(b64, &der, &len, err, sizeof(err)) == -1) {
		memset(&rep, 0, sizeof(rep));
		rep.status = 200;
		rep.ctype = "application/ocsp-response";
		if (ocsp_error_response(OCSP_RSP_MALFORMED, (unsigned char **)&rep.body,
		    &rep.len) == -1) {
			send_error(req, 500, NULL, "internal error");
			return;
		}
	} else
		registrar_ocsp(d->reg, der, len, &rep);
	free(der);
	send_reply(req, &rep);
	registrar_reply_free(&rep);
}

static void
handle_request(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct registrar_peer peer;
	struct registrar_reply rep;
	struct evbuffer *in;
	char label[EST_LABEL_MAX + 1], cb[CHANBIND_B64MAX], addr[80];
	char *host = NULL;
	ev_uint16_t port = 0;
	enum est_op op;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *want;

	d->requests++;
	if (ssl != NULL) {
		struct conn *c = SSL_get_ex_data(ssl, conn_idx);

		if (c != NULL) {
			conn_arm(d, c);	/* a complete request: the next one gets a new deadline */
			if (!c->nodelay) {
				/*
				 * evhttp writes headers and body apart: without TCP_NODELAY
				 * Nagle and the peer's delayed ACK add ~40 ms to every answer.
				 */
				int one = 1;
				evutil_socket_t s = bufferevent_getfd(c->bev);

				if (s != -1)
					setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c->nodelay = 1;
			}
		}
	}
	evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(addr, sizeof(addr), "%s", host != NULL ? host : "?");
	/* BRSKI (RFC 8995) under /.well-known/brski/, and everything in the MASA role (brski) */
	if (path != NULL && (d->masa != NULL ||
	    strncmp(path, BRSKI_WELL_KNOWN, strlen(BRSKI_WELL_KNOWN)) == 0)) {
		unsigned retry = 0;
		char ra[16];

		memset(&peer, 0, sizeof(peer));
		peer.addr = addr;
		if (ssl != NULL) {
			peer.cert = SSL_get0_peer_certificate(ssl);
			peer.chain = SSL_get_peer_cert_chain(ssl);
		}
		in = evhttp_request_get_input_buffer(req);
		if (d->masa != NULL)
			masa_handle(d->masa, path, cmd == EVHTTP_REQ_POST,
			    evhttp_find_header(evhttp_request_get_input_headers(req),
			    "Content-Type"), evbuffer_pullup(in, -1), evbuffer_get_length(in),
			    &peer, &rep);
		else
			brski_handle(d->brski, path, cmd == EVHTTP_REQ_POST,
			    evhttp_find_header(evhttp_request_get_input_headers(req),
			    "Content-Type"), evbuffer_pullup(in, -1), evbuffer_get_length(in),
			    &peer, &rep, &retry);
		if (retry > 0) {
			snprintf(ra, sizeof(ra), "%u", retry);
			evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
			    ra);
		}
		log_debug("%s: %d %s", addr, rep.status, path);
		send_reply(req, &rep);
		registrar_reply_free(&rep);
		return;
	}
	/* OCSP GET form (RFC 6960 A.1): /.well-known/latchkey/ocsp/<url-encoded base64> */
	if (path != NULL && cmd == EVHTTP_REQ_GET && strncmp(path, OCSP_GET_PREFIX,
	    sizeof(OCSP_GET_PREFIX) - 1) == 0) {
		handle_ocsp_get(d, req, path + sizeof(OCSP_GET_PREFIX) - 1);
		return;
	}
	if (path == NULL || est_route(path, &op, label) != 0) {
		log_debug("%s: 404 %s", addr, path != NULL ? path : "(bad URI)");
		send_error(req, 404, NULL, "not found");
		return;
	}
	want = est_op_method(op);
	if (!((cmd == EVHTTP_REQ_GET && strcmp(want, "GET") == 0) ||
	    (cmd == EVHTTP_REQ_POST && strcmp(want, "POST") == 0))) {
		send_error(req, 405, want, strcmp(want, "GET") == 0 ?
		    "method not allowed: use GET" : "method not allowed: use POST");
		return;
	}
	memset(&peer, 0, sizeof(peer));
	peer.addr = addr;
	if (ssl != NULL) {
		peer.cert = SSL_get0_peer_certificate(ssl);
		peer.chain = SSL_get_peer_cert_chain(ssl);
		/* Only an enrollment's CSR carries the binding (RFC 7030 §3.5). */
		if ((op == EST_OP_SIMPLEENROLL || op == EST_OP_SIMPLEREENROLL) &&
		    chanbind_b64(ssl, 1, cb) == 0)
			peer.chanbind = cb;
	}
	in = evhttp_request_get_input_buffer(req);
	registrar_handle(d->reg, op, label,
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"),
	    evbuffer_pullup(in, -1), evbuffer_get_length(in), &peer, req, &rep);
	if (rep.status == 0) {
		/*
		 * Issued, waiting for the group commit: it runs once this pass of the event
		 * loop has handled what else is ready, so every enrollment finished meanwhile
		 * shares one transaction and one sync. If the client goes away before that,
		 * evhttp keeps the request for us and frees it when we answer.
		 */
		event_active(d->commit_ev, 0, 0);
		return;
	}
	log_debug("%s: %d %s%s%s", addr, rep.status, label, label[0] ? "/" : "",
	    est_op_name(op));
	send_reply(req, &rep);
	registrar_reply_free(&rep);
}

static void
commit_done(void *tag, struct registrar_reply *rep, void *arg)
{
	(void)arg;
	log_debug("%d enrollment", rep->status);
	send_reply(tag, rep);
}

static void
on_commit(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	size_t n;

	(void)fd;
	(void)ev;
	if ((n = registrar_commit(d->reg, commit_done, d)) > 0) {
		d->commits++;
		d->committed += n;
	}
}

static void
latch_log(void *arg, const char *line)
{
	(void)arg;
	log_info("latch: %s", line);
}

/*
 * Out of descriptors (EMFILE/ENFILE), accept() fails at once and the listener would spin at
 * full CPU; stop accepting for 100 ms instead. The clients wait in the backlog and the
 * per-request deadline frees descriptors held by slow ones.
 */
static struct daemon *accept_daemon;

static void
on_accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)ev;
	evconnlistener_enable(d->listener);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct daemon *d = accept_daemon;
	struct timeval tv = { 0, 100000 };
	static time_t last;
	int e = EVUTIL_SOCKET_ERROR();

	(void)arg;
	if (d == NULL)
		return;
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		if (time(NULL) != last) {
			last = time(NULL);
			log_warnx("accept: %s; pausing new connections", strerror(e));
		}
		evconnlistener_disable(l);
		evtimer_add(d->accept_pause, &tv);
	} else
		log_debug("accept: %s", strerror(e));
}

/* libevent's own messages, through our log and never more than a few a second. */
static void
libevent_log(int severity, const char *msg)
{
	static time_t last;
	static int n;
	time_t now = time(NULL);

	if (now != last) {
		last = now;
		n = 0;
	}
	if (++n > 5)
		return;
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

/* Worker 0, latch = yes: the registrar side of RFC 5660 latches over charon's VICI. */
static void
latch_start(struct daemon *d)
{
	struct latchmgr_conf lc;
	char err[256] = "";

	memset(&lc, 0, sizeof(lc));
	lc.vici_uri = d->cfg.vici_socket[0] != '\0' ? d->cfg.vici_socket : NULL;
	lc.cert_file = d->cfg.tls_cert;
	lc.key_file = d->cfg.tls_key;
	lc.ca_file = d->cfg.ca_cert;
	lc.local_addr = d->cfg.latch_local[0] != '\0' ? d->cfg.latch_local : NULL;
	lc.local_ts = d->cfg.latch_local_ts[0] != '\0' ? d->cfg.latch_local_ts : NULL;
	lc.remote_ts = d->cfg.latch_remote_ts[0] != '\0' ? d->cfg.latch_remote_ts : NULL;
	lc.tunnel = d->cfg.latch_tunnel;
	lc.disposition = (enum latch_disposition)d->cfg.latch_disposition;
	lc.state_file = d->cfg.latch_state[0] != '\0' ? d->cfg.latch_state : NULL;
	lc.control_path = d->cfg.latch_control[0] != '\0' ? d->cfg.latch_control : NULL;
	if ((d->latch = latchmgr_new(&lc, d->base, err, sizeof(err))) == NULL)
		fatalx("latch: %s", err);
	latchmgr_set_log(d->latch, latch_log, d);
	if (latchmgr_connected(d->latch))
		log_info("latch: manager connected to charon");
	else
		log_warnx("latch: charon not reachable yet%s%s (retrying)", err[0] ? ": " : "",
		    err);
}

/* A revocation closes the device's latches and terminates its SAs (RFC 5660 CLOSED). */
static void
latch_revocations(struct daemon *d)
{
	char *s, err[256];
	json_t *arr, *o;
	const char *serial, *state;
	size_t i;

	if ((s = latchmgr_state_json(d->latch, NULL)) == NULL)
		return;
	arr = json_loads(s, 0, NULL);
	free(s);
	json_array_foreach(arr, i, o) {
		serial = json_string_value(json_object_get(o, "serial"));
		state = json_string_value(json_object_get(o, "state"));
		if (serial == NULL || serial[0] == '\0' || state == NULL ||
		    strcmp(state, "CLOSED") == 0 || registrar_binding_revoked(d->reg, serial) != 1)
			continue;
		if (latchmgr_close_device(d->latch, serial, err, sizeof(err)) < 0)
			log_warnx("latch: closing %s: %s", serial, err);
		else
			log_info("latch: %s revoked: latch closed, SAs terminated", serial);
	}
	json_decref(arr);
}

/*
 * Worker 0, every 250 ms: keep the CRL file current and close the latches of revoked
 * devices. Only another connection can revoke, so this costs one PRAGMA when nothing changed.
 */
static void
on_crl_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	char err[256];
	int rc;

	(void)fd;
	(void)ev;
	if ((rc = registrar_crl_publish(d->reg, d->cfg.crl_file, err, sizeof(err))) == -1)
		log_warnx("CRL %s: %s", d->cfg.crl_file, err);
	else if (rc == 1) {
		if (d->cfg.crl_file[0] != '\0')
			log_debug("CRL written to %s", d->cfg.crl_file);
		if (d->latch != NULL)
			latch_revocations(d);
	}
}

static void
on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct daemon *d = arg;

	(void)ev;
	log_info("received signal %d, stopping", (int)sig);
	event_base_loopexit(d->base, NULL);
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

/* The announcer's state changes, logged here (library code does not log). */
static void
mdns_status(void *arg, enum mdns_announce_state st, const char *msg)
{
	(void)arg;
	switch (st) {
	case MDNS_ANNOUNCE_ERROR:
	case MDNS_ANNOUNCE_DISCONNECTED:
		log_warnx("mdns: %s", msg);
		break;
	case MDNS_ANNOUNCE_ESTABLISHED:
	case MDNS_ANNOUNCE_COLLISION:
		log_info("mdns: %s", msg);
		break;
	default:
		log_debug("mdns: %s", msg);
		break;
	}
}

/*
 * Announce the registrar over mDNS: _brski-registrar._tcp and, as its own join proxy on this
 * link, _brski-proxy._tcp (RFC 8995 §4.1, §4.2), plus the configured posture and update
 * servers, with TXT txtvers, rt, path, pri, dom, cafp (mdns/txt.h). Announced over the IP
 * version the registrar listens on; not in the MASA role (it is no registrar). Only a bad configuration is fatal; a missing
 * avahi-daemon is waited for (and a restarted one re-registered) by the announcer.
 */
static struct mdns_announce *
mdns_start(struct daemon *d)
{
	struct mdns_service s[4];
	struct mdns_announce *a;
	struct in6_addr a6;
	struct in_addr a4;
	X509 *ca;
	char name[MDNS_NAME_MAX + 1], fp[PKI_FP_LEN], err[512];
	char paths[2][CONFIG_URL];
	int family = AF_UNSPEC;
	size_t i, n = 0;

	if (d->cfg.mdns_name[0] != '\0')
		snprintf(name, sizeof(name), "%s", d->cfg.mdns_name);
	else
		snprintf(name, sizeof(name), "latchkey registrar %.44s", d->cfg.domain);
	if ((ca = pki_cert_read(d->cfg.ca_cert, err, sizeof(err))) == NULL ||
	    pki_cert_fingerprint(ca, fp) == -1)
		fatalx("mdns: cannot fingerprint the domain CA %s", d->cfg.ca_cert);
	X509_free(ca);
	if (inet_pton(AF_INET, d->cfg.listen_addr, &a4) == 1) {
		family = AF_INET;
		if ((ntohl(a4.s_addr) >> 24) == 127)
			log_warnx("mdns: listening on loopback %s: devices cannot reach it",
			    d->cfg.listen_addr);
	} else if (inet_pton(AF_INET6, d->cfg.listen_addr, &a6) == 1 &&
	    !IN6_IS_ADDR_UNSPECIFIED(&a6))
		family = AF_INET6;
	memset(s, 0, sizeof(s));
	for (i = 0; i < 2; i++) {
		s[n].type = i == 0 ? MDNS_TYPE_REGISTRAR : MDNS_TYPE_PROXY;
		s[n].port = d->cfg.listen_port;
		s[n].family = family;
		/* RFC 8995 §5: voucher requests are served in the registrar role. */
		s[n].rt = d->brski != NULL ? TXT_RT_EST_TLS "," TXT_RT_BRSKI : TXT_RT_EST_TLS;
		s[n].path = TXT_DEFAULT_PATH;
		s[n].pri = TXT_DEFAULT_PRI;
		s[n].dom = d->cfg.domain;
		s[n].cafp = fp;
		n++;
	}
	for (i = 0; i < 2; i++) {
		const char *url = i == 0 ? d->cfg.posture_url : d->cfg.update_url;

		if (url[0] == '\0')
			continue;
		s[n].type = i == 0 ? MDNS_TYPE_POSTURE : MDNS_TYPE_UPDATE;
		s[n].family = AF_UNSPEC;
		s[n].pri = -1;
		s[n].dom = d->cfg.domain;
		s[n].cafp = fp;
		if (mdns_service_set_url(&s[n], url, paths[i], sizeof(paths[i]), err,
		    sizeof(err)) == -1)
			fatalx("mdns: %s", err);
		n++;
	}
	if ((a = mdns_announce_new(d->base, name, s, n, mdns_status, d, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	return a;
}

/* One worker: its own registrar (signer, registry connection) and event loop. */
static int
worker_run(struct daemon *d, int fd)
{
	struct event *sigterm = NULL, *sigint = NULL;
	struct evhttp_bound_socket *bound;
	char err[512];

	if (conn_idx == -1 &&
	    (conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ex_free)) == -1)
		fatalx("SSL_get_ex_new_index failed");
	if (d->cfg.role == CONFIG_ROLE_MASA) {		/* brski */
		if ((d->masa = masa_new(&d->cfg, err, sizeof(err))) == NULL)
			fatalx("%s", err);
	} else {
		if ((d->reg = registrar_new(&d->cfg, err, sizeof(err))) == NULL)
			fatalx("%s", err);
		if ((d->brski = brski_new(&d->cfg, registrar_idevids(d->reg), err,
		    sizeof(err))) == NULL)	/* brski */
			fatalx("%s", err);
	}
	event_set_log_callback(libevent_log);
	if ((d->base = event_base_new()) == NULL || (d->http = evhttp_new(d->base)) == NULL)
		fatalx("libevent initialisation failed");
	accept_daemon = d;
	evhttp_set_bevcb(d->http, tls_bev, d);
	evhttp_set_gencb(d->http, handle_request, d);
	evhttp_set_max_headers_size(d->http, MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(d->http, (ev_ssize_t)d->cfg.max_body);
	evhttp_set_timeout(d->http, (int)d->cfg.idle_timeout);
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	if ((bound = evhttp_accept_socket_with_handle(d->http, fd)) == NULL)
		fatalx("cannot accept on the listening socket");
	d->listener = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(d->listener, on_accept_error);
	if ((d->accept_pause = evtimer_new(d->base, on_accept_resume, d)) == NULL ||
	    (d->commit_ev = event_new(d->base, -1, 0, on_commit, d)) == NULL)
		fatalx("libevent initialisation failed");
	if (d->reg != NULL) {
		int efd = registrar_committer_start(d->reg, err, sizeof(err));

		if (efd == -1)
			fatalx("%s", err);
		if ((d->committed_ev = event_new(d->base, efd, EV_READ | EV_PERSIST, on_commit,
		    d)) == NULL || event_add(d->committed_ev, NULL) == -1)
			fatalx("libevent initialisation failed");
	}
	if (d->worker == 0 && d->reg != NULL && d->cfg.latch)
		latch_start(d);
	if (d->worker == 0 && d->reg != NULL && (d->cfg.crl_file[0] != '\0' || d->latch)) {
		struct timeval tv = { 0, 250000 };

		if ((d->crl_timer = event_new(d->base, -1, EV_PERSIST, on_crl_timer, d)) == NULL ||
		    event_add(d->crl_timer, &tv) == -1)
			fatalx("cannot start the CRL timer");
		on_crl_timer(-1, 0, d);
	}
	sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
	sigint = evsignal_new(d->base, SIGINT, on_signal, d);
	if (sigterm == NULL || sigint == NULL || event_add(sigterm, NULL) ||
	    event_add(sigint, NULL))
		fatalx("cannot install signal handlers");
	if (d->cfg.mdns && d->worker == 0 && d->cfg.role == CONFIG_ROLE_REGISTRAR)
		d->mdns = mdns_start(d);

	event_base_dispatch(d->base);
	if (d->reg != NULL && registrar_pending(d->reg) > 0) {
		struct timeval tv = { 0, 200000 };

		/* Stopping with enrollments in the commit: no new connections, 200 ms to send. */
		evconnlistener_disable(d->listener);
		registrar_drain(d->reg, commit_done, d);
		event_base_loopexit(d->base, &tv);
		event_base_dispatch(d->base);
		registrar_drain(d->reg, commit_done, d);	/* durable, if not answered */
	}

	mdns_announce_free(d->mdns);	/* withdraws: goodbyes (RFC 6762 §10.1) */
	event_free(sigterm);
	event_free(sigint);
	if (d->crl_timer != NULL)
		event_free(d->crl_timer);
	latchmgr_free(d->latch);
	if (d->accept_pause != NULL)
		event_free(d->accept_pause);
	if (d->commit_ev != NULL)
		event_free(d->commit_ev);
	if (d->committed_ev != NULL)
		event_free(d->committed_ev);
	evhttp_free(d->http);
	event_base_free(d->base);
	brski_free(d->brski);		/* borrows the registrar's IDevID store */
	registrar_free(d->reg);
	masa_free(d->masa);
	SSL_CTX_free(d->ctx);
	log_info("worker stopped after %lu requests; %lu enrollments in %lu commits",
	    d->requests, d->committed, d->commits);
	return 0;
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
 * Pre-forked workers share the listening socket (one event loop per core: OpenSSL 3.0 scales
 * far better across processes than across threads). The parent holds no key and no registry;
 * it restarts a worker that dies and stops them all on SIGTERM/SIGINT.
 */
static int
supervise(struct daemon *d, int fd, unsigned n)
{
	pid_t *pids = calloc(n, sizeof(*pids));
	time_t *started = calloc(n, sizeof(*started));
	sigset_t set, old;
	unsigned i, alive;
	int sig, stopping = 0, failed = 0, status;
	pid_t pid;

	if (pids == NULL || started == NULL)
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
		started[i] = time(NULL);
	}
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
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
			if (time(NULL) - started[i] < 2) {
				log_warnx("worker %d exited right after starting (status %d); "
				    "stopping", (int)pid, status);
				stopping = failed = 1;
				for (i = 0; i < n; i++)
					if (pids[i] > 0)
						kill(pids[i], SIGTERM);
				continue;
			}
			log_warnx("worker %d exited (status %d), restarting", (int)pid, status);
			d->worker = i;
			pids[i] = worker_spawn(d, fd, &old);
			started[i] = time(NULL);
		}
		for (i = 0, alive = 0; i < n; i++)
			alive += pids[i] > 0;
		if (stopping && alive == 0)
			break;
	}
	free(pids);
	free(started);
	log_info("stopped");
	return failed;
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
	if ((d.ctx = tls_setup(&d.cfg, err, sizeof(err))) == NULL)
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
	if (workers == 1)
		return worker_run(&d, fd);
	rc = supervise(&d, fd, workers);
	SSL_CTX_free(d.ctx);
	close(fd);
	return rc;
}
