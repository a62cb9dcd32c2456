/*
 * frontend: latchkeyd's HTTPS side (see latchkeyd.h). TLS through bufferevent_openssl,
 * HTTP through libevent's evhttp; each request is routed to the engine that decides it
 * (registrar.c for EST and the latchkey endpoints, brski.c, masa.c) and its answer sent,
 * issued enrollments once their group commit is durable.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certs/ocsp.h"
#include "certs/pki.h"
#include "certs/tlsctx.h"
#include "enroll/common/chanbind.h"
#include "enroll/latchkeyd/brski.h"
#include "enroll/latchkeyd/est.h"
#include "enroll/latchkeyd/latchkeyd.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/masa.h"
#include "enroll/latchkeyd/registrar.h"
#include "enroll/latchkeyd/stats.h"
#include "enroll/latchkeyd/update.h"

#define MAX_HEADERS_SIZE	8192
#define OCSP_GET_PREFIX		LK_PREFIX "/ocsp/"

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

/*
 * After a domain CA rollover, the link certificate whose key issued our TLS certificate
 * goes into the chain we send: a client that trusts only the other CA then reaches it
 * (OldWithNew for the new CA, NewWithOld for the old; RFC 4210 §4.4). 0, or -1 with err.
 */
static int
tls_add_link(SSL_CTX *ctx, const struct config *cfg, char *err, size_t errlen)
{
	STACK_OF(X509) *links;
	const ASN1_OCTET_STRING *aki, *ski;
	X509 *leaf = SSL_CTX_get0_certificate(ctx), *l;
	int i, rc = 0;

	if (cfg->rollover_certs[0] == '\0' || leaf == NULL ||
	    (aki = X509_get0_authority_key_id(leaf)) == NULL)
		return 0;
	if ((links = pki_certs_read(cfg->rollover_certs, err, errlen)) == NULL)
		return -1;
	for (i = 0; i < sk_X509_num(links); i++) {
		l = sk_X509_value(links, i);
		if ((ski = X509_get0_subject_key_id(l)) != NULL &&
		    ASN1_OCTET_STRING_cmp(aki, ski) == 0 && SSL_CTX_add1_chain_cert(ctx, l) != 1) {
			snprintf(err, errlen, "%.400s: cannot add to the TLS chain",
			    cfg->rollover_certs);
			rc = -1;
		}
	}
	sk_X509_pop_free(links, X509_free);
	return rc;
}

SSL_CTX *
frontend_tls_setup(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	STACK_OF(X509_NAME) *names;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	char lerr[256];
	size_t i;
	int k;

	/*
	 * In the library context whose decoders are only those a client's certificates need
	 * (tlsctx.h: twice ~100 us less per enrollment with OpenSSL 3.0); in the default one
	 * if it cannot be had. Nothing is read from a file through it: the certificate chain
	 * and key are read in the default context and handed over as objects.
	 */
	if ((ctx = SSL_CTX_new_ex(tlsctx_libctx(lerr, sizeof(lerr)), NULL,
	    TLS_server_method())) == NULL)
		goto ossl;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * TLS 1.2: ECDHE with AEAD only; TLS 1.3 suites are all ephemeral. ChaCha20-Poly1305
	 * first, then AES-GCM, in both (the server's order decides): it is the faster AEAD on
	 * devices without AES instructions, most of the endpoints that enroll, and its state
	 * is the smaller one for each connection we hold (~0.3 KiB less than AES-GCM's). On
	 * this side a connection carries a few KiB, where the two cost the same.
	 */
	if (SSL_CTX_set_cipher_list(ctx,
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384") != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
	    "TLS_AES_256_GCM_SHA384") != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
		goto ossl;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION);
	/*
	 * An idle connection (between requests, or a client that connected and waits) keeps
	 * no record buffers: OpenSSL frees its 16 KiB read and write buffers while they are
	 * empty and takes them again for the next record.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if ((chain = pki_certs_read(cfg->tls_cert, lerr, sizeof(lerr))) == NULL ||
	    SSL_CTX_use_certificate(ctx, sk_X509_value(chain, 0)) != 1) {
		snprintf(err, errlen, "%.400s: cannot load the TLS certificate", cfg->tls_cert);
		goto fail;
	}
	for (k = 1; k < sk_X509_num(chain); k++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, k)) != 1) {
			snprintf(err, errlen, "%.400s: cannot load the TLS certificate chain",
			    cfg->tls_cert);
			goto fail;
		}
	if ((key = pki_key_read(cfg->tls_key, lerr, sizeof(lerr))) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%.200s: cannot load the TLS key or it does not match %.200s",
		    cfg->tls_key, cfg->tls_cert);
		goto fail;
	}
	sk_X509_pop_free(chain, X509_free);
	chain = NULL;
	EVP_PKEY_free(key);
	key = NULL;
	if (tls_add_link(ctx, cfg, err, errlen) == -1)
		goto fail;
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
	if (cfg->prev_ca_cert[0] != '\0')
		SSL_add_file_cert_subjects_to_stack(names, cfg->prev_ca_cert);
	SSL_CTX_set_client_CA_list(ctx, names);
	ERR_clear_error();
	return ctx;
ossl:
	snprintf(err, errlen, "TLS setup: %s", ERR_reason_error_string(ERR_get_error()));
fail:
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
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
	/*
	 * evhttp reads header lines as C strings: a NUL byte cuts a value short unseen, and
	 * one at the start of a line ends the header. So the bytes of each request's header
	 * are looked at as they arrive (hdr_watch) and such a request is answered 400
	 * (RFC 9110 §5.5).
	 */
	struct evbuffer_cb_entry *watch;
	int			 in_header;	/* arriving bytes belong to a header */
	int			 eol;		/* 0 in a line, 1 after LF, 2 after LF CR */
	int			 nul;		/* a NUL byte in this request's header */
};

static int conn_idx = -1;
static long conns_open;		/* this process's connections (retiring waits for 0) */

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
	conns_open--;
	if (stats_me != NULL)
		atomic_fetch_sub(&stats_me->conns, 1);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->watch != NULL && c->bev != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
	free(c);
}

/* Scan header bytes: note a NUL, stop at the empty line that ends the header. */
static void
hdr_scan(struct conn *c, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n && c->in_header; i++) {
		switch (p[i]) {
		case '\0':
			c->nul = 1;
			c->eol = 0;
			break;
		case '\n':
			if (c->eol != 0)
				c->in_header = 0;	/* "\n\n" or "\n\r\n" */
			else
				c->eol = 1;
			break;
		case '\r':
			c->eol = c->eol == 1 ? 2 : 0;
			break;
		default:
			c->eol = 0;
			break;
		}
	}
}

/* Scan len bytes of buf from off (clamped to what is there). */
static void
hdr_scan_buffer(struct conn *c, struct evbuffer *buf, size_t off, size_t len)
{
	struct evbuffer_iovec v[16];
	struct evbuffer_ptr pos;
	size_t have = evbuffer_get_length(buf);
	int i, k;

	if (off >= have)
		return;
	if (len > have - off)
		len = have - off;
	while (len > 0 && c->in_header) {
		size_t before = len;

		if (evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET) == -1 ||
		    (k = evbuffer_peek(buf, (ev_ssize_t)len, &pos, v, 16)) <= 0)
			return;
		if (k > 16)
			k = 16;
		for (i = 0; i < k && len > 0; i++) {
			size_t n = v[i].iov_len < len ? v[i].iov_len : len;

			hdr_scan(c, v[i].iov_base, n);
			off += n;
			len -= n;
		}
		if (len == before)
			return;
	}
}

/* The connection's input grew: scan what was added while a header is arriving. */
static void
hdr_watch(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;
	size_t have;

	if (info->n_added == 0 || !c->in_header)
		return;
	have = evbuffer_get_length(buf);
	hdr_scan_buffer(c, buf, have > info->n_added ? have - info->n_added : 0,
	    info->n_added);
}

/*
 * A request is complete (its body read): what is left in the input is the next request's
 * beginning. Returns whether the completed one had a NUL in its header.
 */
static int
hdr_next(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int nul = c->nul;

	c->in_header = 1;
	c->eol = 0;
	c->nul = 0;
	hdr_scan_buffer(c, in, 0, evbuffer_get_length(in));
	return nul;
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
	c->in_header = 1;
	conns_open++;
	if (stats_me != NULL)
		atomic_fetch_add(&stats_me->conns, 1);
	if ((c->watch = evbuffer_add_cb(bufferevent_get_input(bev), hdr_watch, c)) == NULL)
		fatalx("cannot set up a new connection: out of memory");
	conn_arm(d, c);
	return bev;
}

/*
 * evhttp is closing the connection: its answers are written, and its shutdown() and
 * close() come next. TLS asks each side to send close_notify before it closes (RFC 8446
 * 6.1); without it an OpenSSL 3 client reads "unexpected eof" after a complete answer.
 * Only after a finished handshake and with nothing left to write: a close_notify ahead of
 * unsent data would make a cut answer look complete. The cork puts it and the FIN in
 * one segment.
 */
static void
tls_close(struct evhttp_connection *evcon, void *arg)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
	evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
	int one = 1;

	(void)arg;
	if (ssl == NULL || fd == -1 || !SSL_is_init_finished(ssl) ||
	    (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) ||
	    evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

static int retiring;		/* stopping or replaced by a reload: close after each answer */

/* A reply body's memory, once the output buffer is done with it. */
static void
body_free(const void *data, size_t len, void *body)
{
	(void)data;
	(void)len;
	free(body);
}

static void
send_reply(struct evhttp_request *req, struct registrar_reply *rep)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) :
	    NULL;

	if (retiring)
		evhttp_add_header(h, "Connection", "close");

	evhttp_add_header(h, "Content-Type", rep->ctype != NULL ? rep->ctype :
	    "text/plain; charset=utf-8");
	if (rep->b64)
		evhttp_add_header(h, "Content-Transfer-Encoding", "base64");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (rep->retry_after > 0) {
		char ra[16];

		snprintf(ra, sizeof(ra), "%u", rep->retry_after);
		evhttp_add_header(h, "Retry-After", ra);
	}
	/* the body is handed over, not copied (an update file is up to 64 MiB) */
	if (rep->len > 0 && evbuffer_add_reference(out, rep->body, rep->len, body_free,
	    rep->body) == 0) {
		rep->body = NULL;
		rep->len = 0;
	} else if (rep->len > 0)
		evbuffer_add(out, rep->body, rep->len);
	evhttp_send_reply(req, rep->status, NULL, NULL);
	/*
	 * The header and the body are two pieces of the connection's output, and TLS makes
	 * each its own record and its own write: two segments, two reads at the client. An
	 * answer that fits one record goes as one (the copy is of a few KiB at most).
	 */
	if (bev != NULL && evbuffer_get_length(bufferevent_get_output(bev)) <= 16384)
		evbuffer_pullup(bufferevent_get_output(bev), -1);
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

/* 1 when the request's method is want ("GET" or "POST"); else answered 405 and 0. */
static int
method_is(struct evhttp_request *req, enum evhttp_cmd_type cmd, const char *want)
{
	int get = strcmp(want, "GET") == 0;

	if (cmd == (get ? EVHTTP_REQ_GET : EVHTTP_REQ_POST))
		return 1;
	send_error(req, 405, want, get ? "method not allowed: use GET" :
	    "method not allowed: use POST");
	return 0;
}

/* An enrollment on its way to the group commit: whom to answer, and what to count. */
struct enroll_tag {
	struct evhttp_request	*req;
	enum stats_op		 op;
	int64_t			 start_us;
};

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

/* The OCSP GET form (RFC 6960 A.1), LK_PREFIX "/ocsp/<url-encoded base64>": 1 when path
 * is one (and it was answered). */
static int
ocsp_get_route(struct daemon *d, struct evhttp_request *req, const char *path,
    enum evhttp_cmd_type cmd)
{
	if (path == NULL || cmd != EVHTTP_REQ_GET || strncmp(path, OCSP_GET_PREFIX,
	    sizeof(OCSP_GET_PREFIX) - 1) != 0)
		return 0;
	if (stats_me != NULL)
		atomic_fetch_add(&stats_me->ocsp_requests, 1);
	handle_ocsp_get(d, req, path + sizeof(OCSP_GET_PREFIX) - 1);
	return 1;
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
	int nul = 0;
	int64_t start_us;
	struct enroll_tag *tag = NULL;
	enum stats_op sop;
	int enroll;

	d->requests++;
	start_us = stats_mono_us();
	if (stats_me != NULL)
		atomic_fetch_add(&stats_me->requests, 1);
	if (ssl != NULL) {
		struct conn *c = SSL_get_ex_data(ssl, conn_idx);

		if (c != NULL) {
			nul = hdr_next(c);
			conn_arm(d, c);	/* a complete request: the next one gets a new deadline */
			if (!c->nodelay) {
				/*
				 * evhttp writes an answer larger than a record in pieces:
				 * without TCP_NODELAY Nagle and the peer's delayed ACK add
				 * ~40 ms to it. The first request is also when the
				 * connection is evhttp's, to be told of its close.
				 */
				int one = 1;
				evutil_socket_t s = bufferevent_getfd(c->bev);

				if (s != -1)
					setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c->nodelay = 1;
				evhttp_connection_set_closecb(evcon, tls_close, NULL);
			}
		}
	}
	evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(addr, sizeof(addr), "%s", host != NULL ? host : "?");
	/* Who asks: the address, and over TLS the client's certificate and chain, if any. */
	memset(&peer, 0, sizeof(peer));
	peer.addr = addr;
	if (ssl != NULL) {
		peer.cert = SSL_get0_peer_certificate(ssl);
		peer.chain = SSL_get_peer_cert_chain(ssl);
	}
	if (nul) {
		log_debug("%s: 400 NUL byte in the request header", addr);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		send_error(req, 400, NULL, "NUL byte in a request header (RFC 9110 5.5)");
		return;
	}
	/* BRSKI (RFC 8995) under /.well-known/brski/, and everything in the MASA role (brski) */
	if (path != NULL && (d->masa != NULL ||
	    strncmp(path, BRSKI_WELL_KNOWN, strlen(BRSKI_WELL_KNOWN)) == 0)) {
		unsigned retry = 0;
		char ra[16];

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
		if (stats_me != NULL && d->brski != NULL && strstr(path, "requestvoucher")) {
			atomic_fetch_add(&stats_me->voucher_requests, 1);
			if (rep.status != 200 && rep.status != 202)	/* 202: pending */
				atomic_fetch_add(&stats_me->voucher_errors, 1);
			if (rep.status == 502 || rep.status == 503 || rep.status == 504)
				atomic_fetch_add(&stats_me->masa_errors, 1);
		}
		send_reply(req, &rep);
		registrar_reply_free(&rep);
		return;
	}
	if (ocsp_get_route(d, req, path, cmd))
		return;
	/* the update-server role (update.h): mutual TLS with an LDevID */
	if (path != NULL && (strncmp(path, UPDATE_PREFIX, strlen(UPDATE_PREFIX)) == 0 ||
	    strcmp(path, UPDATE_REPORT_PATH) == 0)) {
		int get = strcmp(path, UPDATE_REPORT_PATH) != 0;

		if (!method_is(req, cmd, get ? "GET" : "POST"))
			return;
		in = evhttp_request_get_input_buffer(req);
		registrar_update(d->reg, get ? path + strlen(UPDATE_PREFIX) : NULL,
		    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"),
		    evbuffer_pullup(in, -1), evbuffer_get_length(in), &peer, &rep);
		log_debug("%s: %d %s", addr, rep.status, path);
		send_reply(req, &rep);
		registrar_reply_free(&rep);
		return;
	}
	if (path == NULL || est_route(path, &op, label) != 0) {
		log_debug("%s: 404 %s", addr, path != NULL ? path : "(bad URI)");
		send_error(req, 404, NULL, "not found");
		return;
	}
	if (!method_is(req, cmd, est_op_method(op)))
		return;
	/* Only an enrollment's CSR carries the binding (RFC 7030 §3.5). */
	if (ssl != NULL && (op == EST_OP_SIMPLEENROLL || op == EST_OP_SIMPLEREENROLL) &&
	    chanbind_b64(ssl, 1, cb) == 0)
		peer.chanbind = cb;
	in = evhttp_request_get_input_buffer(req);
	if (op == LK_OP_OCSP && stats_me != NULL)
		atomic_fetch_add(&stats_me->ocsp_requests, 1);
	enroll = op == EST_OP_SIMPLEENROLL || op == EST_OP_SIMPLEREENROLL;
	sop = op == EST_OP_SIMPLEENROLL ? STATS_OP_ENROLL : STATS_OP_REENROLL;
	/* without a tag (not an enrollment, or out of memory) it commits inline */
	if (enroll && (tag = malloc(sizeof(*tag))) != NULL) {
		tag->req = req;
		tag->op = sop;
		tag->start_us = start_us;
	}
	registrar_handle(d->reg, op, label,
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"),
	    evbuffer_pullup(in, -1), evbuffer_get_length(in), &peer, tag, &rep);
	if (enroll && rep.status != 0) {	/* answered now: commit_done() won't */
		stats_enroll(sop, rep.status, rep.reason - 1, start_us);
		free(tag);
	}
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

/*
 * http-listen: plain HTTP for relying parties that have no trust set up for our TLS: the
 * CRL (RFC 5280 4.2.1.13 distribution points are http URLs) and OCSP (RFC 6960 Appendix
 * A: POST, and GET with the base64 request in the path). Nothing else, and no client
 * identity: both answers are signed objects whose integrity does not rest on the transport.
 */
#define PLAIN_BODY_MAX	16384	/* an OCSP request: a few CertIDs */

/*
 * The plain port's connections get the same deadline as the TLS port's (conn_deadline):
 * evhttp's idle timeout restarts with every byte, so a client trickling its request would
 * hold a descriptor for ever. The listener is ours, so each accepted socket is noted with
 * its deadline and its socket cookie (SO_COOKIE: never reused, unlike the descriptor
 * number); a sweep every second shuts down those past their deadline, after checking the
 * cookie, so it can never touch a descriptor that was closed and reused meanwhile. A
 * complete request clears the entry; its answer closes the connection.
 */
struct plain_slot {
	uint64_t	cookie;		/* 0: none */
	int64_t		due_ms;
};
static struct plain_slot	*pslots;
static size_t			 npslots;
static struct daemon		*plain_daemon;

static void
plain_note(evutil_socket_t fd, int64_t due_ms)
{
	struct plain_slot *np;
	socklen_t cl = sizeof(uint64_t);
	uint64_t ck = 0;
	size_t n;

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_COOKIE, &ck, &cl) == -1 || ck == 0)
		return;
	if ((size_t)fd >= npslots) {
		n = (size_t)fd + 64;
		if ((np = reallocarray(pslots, n, sizeof(*np))) == NULL)
			return;		/* the idle timeout still applies */
		memset(np + npslots, 0, (n - npslots) * sizeof(*np));
		pslots = np;
		npslots = n;
	}
	pslots[fd].cookie = ck;
	pslots[fd].due_ms = due_ms;
}

static void
plain_clear(evutil_socket_t fd)
{
	if (fd >= 0 && (size_t)fd < npslots)
		pslots[fd].cookie = 0;
}

static void
on_plain_sweep(evutil_socket_t unused, short ev, void *arg)
{
	int64_t now = stats_mono_ms();
	socklen_t cl;
	uint64_t ck;
	size_t fd;

	(void)unused;
	(void)ev;
	(void)arg;
	for (fd = 0; fd < npslots; fd++) {
		if (pslots[fd].cookie == 0 || pslots[fd].due_ms > now)
			continue;
		cl = sizeof(ck);
		if (getsockopt((int)fd, SOL_SOCKET, SO_COOKIE, &ck, &cl) == 0 &&
		    ck == pslots[fd].cookie) {
			log_debug("http-listen: dropping a connection without a complete "
			    "request in time");
			shutdown((int)fd, SHUT_RDWR);	/* evhttp sees the end and frees it */
		}
		pslots[fd].cookie = 0;
	}
}

/*
 * A plain connection's first bytes: note its deadline (a connection that sends nothing is
 * ended by evhttp's idle timeout). The callback then removes itself; the evbuffer owns it,
 * so it cannot outlive the connection.
 */
static void
plain_first_bytes(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct bufferevent *bev = arg;
	struct daemon *d = plain_daemon;

	if (info->n_added == 0 || d == NULL)
		return;
	plain_note(bufferevent_getfd(bev), stats_mono_ms() + (int64_t)d->cfg.idle_timeout *
	    2000);
	evbuffer_remove_cb(buf, plain_first_bytes, arg);
}

static struct bufferevent *
plain_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev;

	(void)arg;
	/* evhttp falls back to its own bufferevent when this returns NULL */
	if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		return NULL;
	if (evbuffer_add_cb(bufferevent_get_input(bev), plain_first_bytes, bev) == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	return bev;
}

static void
plain_request(struct evhttp_request *req, void *arg)
{
	struct daemon *d = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct registrar_peer peer;
	struct registrar_reply rep;
	struct evbuffer *in;
	char label[EST_LABEL_MAX + 1];
	struct bufferevent *bev;
	enum est_op op;

	if (stats_me != NULL)
		atomic_fetch_add(&stats_me->requests, 1);
	/* complete: off the deadline; one request a connection */
	if ((bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req))) != NULL)
		plain_clear(bufferevent_getfd(bev));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
	if (ocsp_get_route(d, req, path, cmd))
		return;
	if (path == NULL || est_route(path, &op, label) != 0 ||
	    (op != LK_OP_CRL && op != LK_OP_OCSP)) {
		send_error(req, 404, NULL, "not found: this port serves only "
		    LK_PREFIX "/crl and " LK_PREFIX "/ocsp");
		return;
	}
	if ((op == LK_OP_CRL && cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) ||
	    (op == LK_OP_OCSP && cmd != EVHTTP_REQ_POST)) {
		send_error(req, 405, op == LK_OP_CRL ? "GET, HEAD" : "POST",
		    op == LK_OP_CRL ? "method not allowed: use GET" :
		    "method not allowed: POST, or GET " LK_PREFIX "/ocsp/<base64 request>");
		return;
	}
	if (op == LK_OP_OCSP && stats_me != NULL)
		atomic_fetch_add(&stats_me->ocsp_requests, 1);
	memset(&peer, 0, sizeof(peer));
	peer.addr = "http";
	in = evhttp_request_get_input_buffer(req);
	registrar_handle(d->reg, op, label,
	    evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"),
	    evbuffer_pullup(in, -1), evbuffer_get_length(in), &peer, NULL, &rep);
	send_reply(req, &rep);
	registrar_reply_free(&rep);
}

static void
commit_done(void *arg_tag, struct registrar_reply *rep, void *arg)
{
	struct enroll_tag *tag = arg_tag;

	(void)arg;
	log_debug("%d enrollment", rep->status);
	send_reply(tag->req, rep);
	stats_enroll(tag->op, rep->status, rep->reason - 1, tag->start_us);
	free(tag);
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
		stats_batch(n);
	}
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
	if (!retiring)
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

void
frontend_start(struct daemon *d, int fd)
{
	struct evhttp_bound_socket *bound;
	struct timeval sweep = { 1, 0 };
	char err[512];

	if (conn_idx == -1 &&
	    (conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_ex_free)) == -1)
		fatalx("SSL_get_ex_new_index failed");
	if ((d->http = evhttp_new(d->base)) == NULL)
		fatalx("libevent initialisation failed");
	accept_daemon = d;
	evhttp_set_bevcb(d->http, tls_bev, d);
	evhttp_set_gencb(d->http, handle_request, d);
	evhttp_set_max_headers_size(d->http, MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(d->http, (ev_ssize_t)d->cfg.max_body);
	/*
	 * A body over max-body is read to its end and thrown away before the 413 goes out:
	 * a client still sending it would otherwise meet a closed connection (EPIPE) and
	 * never see the answer. Bounded as every request is, by the connection's deadline.
	 */
	evhttp_set_flags(d->http, EVHTTP_SERVER_LINGERING_CLOSE);
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
	if (d->reg != NULL && d->http_fd != -1) {
		if ((d->plain = evhttp_new(d->base)) == NULL)
			fatalx("libevent initialisation failed");
		evhttp_set_gencb(d->plain, plain_request, d);
		evhttp_set_max_headers_size(d->plain, MAX_HEADERS_SIZE);
		evhttp_set_max_body_size(d->plain, PLAIN_BODY_MAX);
		evhttp_set_flags(d->plain, EVHTTP_SERVER_LINGERING_CLOSE);
		evhttp_set_timeout(d->plain, (int)d->cfg.idle_timeout);
		evhttp_set_allowed_methods(d->plain, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
		    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
		plain_daemon = d;
		evhttp_set_bevcb(d->plain, plain_bev, d);
		if ((bound = evhttp_accept_socket_with_handle(d->plain, d->http_fd)) == NULL)
			fatalx("cannot accept on the http-listen socket");
		d->plain_listener = evhttp_bound_socket_get_listener(bound);
		if ((d->plain_sweep = event_new(d->base, -1, EV_PERSIST, on_plain_sweep,
		    d)) == NULL || event_add(d->plain_sweep, &sweep) == -1)
			fatalx("libevent initialisation failed");
	}
	if (d->reg != NULL) {
		int efd = registrar_committer_start(d->reg, err, sizeof(err));

		if (efd == -1)
			fatalx("%s", err);
		if (efd != REGISTRAR_COMMIT_INLINE && ((d->committed_ev = event_new(d->base,
		    efd, EV_READ | EV_PERSIST, on_commit, d)) == NULL ||
		    event_add(d->committed_ev, NULL) == -1))
			fatalx("libevent initialisation failed");
	}
}

void
frontend_drain(struct daemon *d)
{
	struct timeval tv = { 0, 200000 };

	if (d->reg == NULL || registrar_pending(d->reg) == 0)
		return;
	/* Stopping with enrollments in the commit: no new connections, 200 ms to send. */
	evconnlistener_disable(d->listener);
	registrar_drain(d->reg, commit_done, d);
	event_base_loopexit(d->base, &tv);
	event_base_dispatch(d->base);
	registrar_drain(d->reg, commit_done, d);	/* durable, if not answered */
}

void
frontend_retire(struct daemon *d)
{
	retiring = 1;
	if (d->listener != NULL)
		evconnlistener_disable(d->listener);
	if (d->plain_listener != NULL)
		evconnlistener_disable(d->plain_listener);
}

int
frontend_idle(struct daemon *d)
{
	return conns_open <= 0 && (d->reg == NULL || registrar_pending(d->reg) == 0);
}

void
frontend_stop(struct daemon *d)
{
	if (d->accept_pause != NULL)
		event_free(d->accept_pause);
	if (d->commit_ev != NULL)
		event_free(d->commit_ev);
	if (d->committed_ev != NULL)
		event_free(d->committed_ev);
	d->accept_pause = d->commit_ev = d->committed_ev = NULL;
	if (d->http != NULL)
		evhttp_free(d->http);
	d->http = NULL;
	d->plain_listener = NULL;	/* evhttp's: freed with it */
	if (d->plain_sweep != NULL)
		event_free(d->plain_sweep);
	d->plain_sweep = NULL;
	if (d->plain != NULL)
		evhttp_free(d->plain);
	d->plain = NULL;
	free(pslots);
	pslots = NULL;
	npslots = 0;
	plain_daemon = NULL;
	accept_daemon = NULL;
}
