/*
 * bench_enroll: enrollment throughput, the number the enrollment issue asks for.
 *
 *   bench_enroll ceiling SECONDS THREADS CERT KEY CA_CERT CA_KEY TLS_CERT TLS_KEY
 *	the same cryptographic work as one enrollment, in-process, no HTTP, no DB: a full TLS 1.3
 *	handshake with mutual P-256 certificates over memory BIOs (both sides; the server uses
 *	TLS_CERT, which the client checks against CA_CERT as every real client must), the
 *	client's CSR with the channel binding, the server's CSR check, and the LDevID issue and
 *	signature by CA_KEY.
 *   bench_enroll load HOST PORT[,PORT...] SECONDS CLIENTS CA_FILE DEVLIST [MAX]
 *	CLIENTS concurrent clients, each in a loop for SECONDS (or until MAX enrollments
 *	have been started, when given): a new TCP + TLS connection with a
 *	device IDevID, a CSR bound to that connection, POST simpleenroll, read the answer.
 *	DEVLIST has lines "serial cert key"; client i uses device i mod n and, with several
 *	ports (one registrar each, up to 8), port i mod their number. The clients are
 *	non-blocking connections spread over one epoll thread per core.
 * Both print one line: "enrollments N seconds S rate R p50_ms A p99_ms B cpu_ms C retry503 T
 * errors E", C being this process's CPU time (user + system, every thread) per enrollment
 * and T of the E errors 503 answers with a Retry-After (the server asked to come back).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certs/ca.h"
#include "certs/csr.h"
#include "certs/pki.h"
#include "enroll/common/b64.h"
#include "enroll/common/chanbind.h"

#define MAXLAT	2000000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time (user + system) of this process, all its threads, so far. */
static double
cpu_secs(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	    ru.ru_stime.tv_usec / 1e6;
}

struct dev {
	char		 serial[64];
	X509		*cert;
	STACK_OF(X509)	*chain;
	EVP_PKEY	*key;
};

struct shared {
	double		 deadline;
	SSL_CTX		*sctx;		/* ceiling: server side */
	X509		*ca_cert;
	EVP_PKEY	*ca_key;
	struct ca_profile prof;
	struct dev	*devs;
	size_t		 ndevs;
	const char	*host;
	int		 ports[8];
	int		 nports;
	const char	*cafile;
	pthread_mutex_t	 mu;
	double		*lat;
	size_t		 nlat;
	unsigned long	 errors;
	unsigned long	 retry503;	/* errors that were 503 with Retry-After */
	unsigned long	 max, started;	/* load: at most max enrollments (0: no bound) */
};

struct worker {
	struct shared	*sh;
	int		 id;
	pthread_t	 t;
};

static void
record(struct shared *sh, double secs, int ok)
{
	pthread_mutex_lock(&sh->mu);
	if (!ok)
		sh->errors++;
	else if (sh->nlat < MAXLAT)
		sh->lat[sh->nlat++] = secs;
	pthread_mutex_unlock(&sh->mu);
}

/* CSR for dev with the channel binding of ssl (client side); DER in *der. */
static int
make_csr(SSL *ssl, const struct dev *d, EVP_PKEY *key, unsigned char **der, int *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	char cb[CHANBIND_B64MAX];
	int rc = -1;

	if (req == NULL || n == NULL || chanbind_b64(ssl, 0, cb))
		goto out;
	X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC,
	    (const unsigned char *)d->serial, -1, -1, 0);
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)d->serial, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_REQ_set_pubkey(req, key);
	X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword, MBSTRING_ASC,
	    (const unsigned char *)cb, -1);
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	*der = NULL;
	if ((*len = i2d_X509_REQ(req, der)) <= 0)
		goto out;
	rc = 0;
out:
	X509_NAME_free(n);
	X509_REQ_free(req);
	return rc;
}

static SSL_CTX *
client_ctx(const struct dev *d, const char *cafile)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	int i;

	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_use_certificate(c, d->cert);
	for (i = 0; i < sk_X509_num(d->chain); i++)
		SSL_CTX_add1_chain_cert(c, sk_X509_value(d->chain, i));
	SSL_CTX_use_PrivateKey(c, d->key);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	if (cafile != NULL) {
		SSL_CTX_load_verify_locations(c, cafile, NULL);
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	}
	return c;
}

static int
accept_all(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

/* One in-process enrollment's cryptography. */
static int
ceiling_once(struct shared *sh, SSL_CTX *cctx, const struct dev *d, EVP_PKEY *newkey)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(sh->sctx);
	BIO *cb, *sb;
	unsigned char *der = NULL;
	int len, i, cdone = 0, sdone = 0, rc = -1;
	struct csr_info info;
	char err[256];
	X509 *cert = NULL;

	memset(&info, 0, sizeof(info));
	BIO_new_bio_pair(&cb, 65536, &sb, 65536);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 20 && !(cdone && sdone); i++) {
		if (!cdone && SSL_do_handshake(c) == 1)
			cdone = 1;
		if (!sdone && SSL_do_handshake(s) == 1)
			sdone = 1;
	}
	if (!cdone || !sdone)
		goto out;
	if (make_csr(c, d, newkey, &der, &len))
		goto out;
	if (csr_check(der, (size_t)len, &info, err, sizeof(err)) != CSR_OK)
		goto out;
	cert = ca_issue_ldevid(sh->ca_cert, sh->ca_key, &sh->prof, info.spki_der,
	    info.spki_len, info.serial, NULL, 0, err, sizeof(err));
	if (cert == NULL)
		goto out;
	rc = 0;
out:
	X509_free(cert);
	csr_info_free(&info);
	OPENSSL_free(der);
	SSL_free(c);
	SSL_free(s);
	return rc;
}

static void *
ceiling_worker(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	const struct dev *d = &sh->devs[w->id % sh->ndevs];
	SSL_CTX *cctx = client_ctx(d, sh->cafile);
	EVP_PKEY *k = pki_key_new("p256", NULL, 0);

	while (now() < sh->deadline) {
		double t0 = now();
		int ok = ceiling_once(sh, cctx, d, k) == 0;
		record(sh, now() - t0, ok);
	}
	EVP_PKEY_free(k);
	SSL_CTX_free(cctx);
	return NULL;
}

/*
 * The load side is event driven, like a load generator should be: a thread per core (at
 * most as many as clients), each with its share of the clients as non-blocking
 * connections on one epoll loop. 64 blocking threads would measure the kernel switching
 * between them more than latchkeyd.
 */
enum cstate { C_CONNECT, C_HANDSHAKE, C_WRITE, C_READ };

struct client {
	struct shared	*sh;
	const struct dev *d;
	int		 port;
	SSL_CTX		*cctx;
	EVP_PKEY	*newkey;
	SSL		*ssl;
	int		 fd;
	enum cstate	 st;
	double		 t0;
	char		*out;		/* request, then the base64 CSR */
	size_t		 outlen, outoff;
	char		 resp[512];	/* the status line and the headers we look at */
	size_t		 got;
};

static void
client_close(struct client *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);	/* one close_notify attempt, non-blocking */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
}

/* Start a new enrollment on c: a non-blocking connect. 0, or -1 when it failed at once. */
static int
client_start(struct client *c, int ep)
{
	struct sockaddr_in sa;
	struct epoll_event ev;
	int one = 1;

	c->t0 = now();
	c->got = 0;
	c->outoff = 0;
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)c->port);
	inet_pton(AF_INET, c->sh->host, &sa.sin_addr);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS)
		return -1;
	c->st = C_CONNECT;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLOUT;
	ev.data.ptr = c;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Wait for what SSL asked for. */
static int
client_want(struct client *c, int ep, int r)
{
	struct epoll_event ev;
	int e = SSL_get_error(c->ssl, r);

	memset(&ev, 0, sizeof(ev));
	ev.data.ptr = c;
	if (e == SSL_ERROR_WANT_READ)
		ev.events = EPOLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		ev.events = EPOLLOUT;
	else
		return -1;
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* The handshake is done: the CSR bound to this connection and the whole request. */
static int
client_request(struct client *c)
{
	unsigned char *der = NULL;
	char *b64 = NULL, head[512];
	size_t blen;
	int len, n, rc = -1;

	if (make_csr(c->ssl, c->d, c->newkey, &der, &len) ||
	    (b64 = b64_encode(der, (size_t)len, 64, &blen)) == NULL)
		goto out;
	n = snprintf(head, sizeof(head), "POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
	    "Host: %s:%d\r\nContent-Type: application/pkcs10\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", c->sh->host, c->port, blen);
	if ((c->out = malloc((size_t)n + blen)) == NULL)
		goto out;
	memcpy(c->out, head, (size_t)n);
	memcpy(c->out + n, b64, blen);
	c->outlen = (size_t)n + blen;
	rc = 0;
out:
	free(b64);
	OPENSSL_free(der);
	return rc;
}

/* Advance c as far as it goes; 1 when the enrollment is over (ok in *ok), 0 to wait. */
static int
client_step(struct client *c, int ep, int *ok)
{
	int r, err = 0;
	socklen_t elen = sizeof(err);

	*ok = 0;
	switch (c->st) {
	case C_CONNECT:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err != 0)
			return 1;
		if ((c->ssl = SSL_new(c->cctx)) == NULL)
			return 1;
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_connect_state(c->ssl);
		c->st = C_HANDSHAKE;
		/* FALLTHROUGH */
	case C_HANDSHAKE:
		if ((r = SSL_do_handshake(c->ssl)) != 1)
			return client_want(c, ep, r) == 0 ? 0 : 1;
		if (client_request(c))
			return 1;
		c->st = C_WRITE;
		/* FALLTHROUGH */
	case C_WRITE:
		while (c->outoff < c->outlen) {
			if ((r = SSL_write(c->ssl, c->out + c->outoff,
			    (int)(c->outlen - c->outoff))) <= 0)
				return client_want(c, ep, r) == 0 ? 0 : 1;
			c->outoff += (size_t)r;
		}
		c->st = C_READ;
		/* FALLTHROUGH */
	case C_READ:
		for (;;) {
			char buf[16384];

			if ((r = SSL_read(c->ssl, buf, sizeof(buf))) <= 0) {
				if (client_want(c, ep, r) == 0)
					return 0;
				break;	/* the server closed: the answer is complete */
			}
			if (c->got < sizeof(c->resp) - 1) {
				size_t k = (size_t)r < sizeof(c->resp) - 1 - c->got ? (size_t)r :
				    sizeof(c->resp) - 1 - c->got;

				memcpy(c->resp + c->got, buf, k);
				c->got += k;
			}
		}
		c->resp[c->got] = '\0';
		*ok = strncmp(c->resp, "HTTP/1.1 200", 12) == 0;
		if (strncmp(c->resp, "HTTP/1.1 503", 12) == 0 &&
		    strcasestr(c->resp, "\r\nRetry-After: ") != NULL) {
			pthread_mutex_lock(&c->sh->mu);
			c->sh->retry503++;
			pthread_mutex_unlock(&c->sh->mu);
		}
		if (!*ok && c->sh->errors < 3)
			fprintf(stderr, "bench: %.400s\n", c->resp);
		return 1;
	}
	return 1;
}

struct loader {
	struct shared	*sh;
	int		 first, n;	/* its clients: devices first .. first + n - 1 */
	pthread_t	 t;
};

/* One more enrollment may start: before the deadline and, with a bound, under it. */
static int
may_start(struct shared *sh)
{
	int ok;

	if (now() >= sh->deadline)
		return 0;
	if (sh->max == 0)
		return 1;
	pthread_mutex_lock(&sh->mu);
	ok = sh->started < sh->max;
	if (ok)
		sh->started++;
	pthread_mutex_unlock(&sh->mu);
	return ok;
}

static void *
load_worker(void *arg)
{
	struct loader *l = arg;
	struct shared *sh = l->sh;
	struct client *cl = calloc((size_t)l->n, sizeof(*cl));
	struct epoll_event evs[64];
	int ep = epoll_create1(0), i, k, n, ok, active = 0;

	for (i = 0; i < l->n; i++) {
		cl[i].sh = sh;
		cl[i].d = &sh->devs[(l->first + i) % sh->ndevs];
		cl[i].port = sh->ports[(l->first + i) % sh->nports];
		cl[i].cctx = client_ctx(cl[i].d, sh->cafile);
		cl[i].newkey = pki_key_new("p256", NULL, 0);
		cl[i].fd = -1;
		if (!may_start(sh))
			continue;
		if (client_start(&cl[i], ep) == 0)
			active++;
		else {
			client_close(&cl[i]);
			record(sh, 0, 0);
		}
	}
	while (active > 0) {
		int ms = (int)((sh->deadline - now()) * 1000) + 10000;	/* stragglers: 10 s */

		if ((n = epoll_wait(ep, evs, 64, ms > 0 ? ms : 0)) <= 0)
			break;
		for (k = 0; k < n; k++) {
			struct client *c = evs[k].data.ptr;

			if (!client_step(c, ep, &ok))
				continue;
			record(sh, now() - c->t0, ok);
			client_close(c);
			active--;
			/* the next enrollment of this client, until the deadline or the bound */
			while (may_start(sh)) {
				if (client_start(c, ep) == 0) {
					active++;
					break;
				}
				client_close(c);
				record(sh, 0, 0);
			}
		}
	}
	for (i = 0; i < l->n; i++) {
		client_close(&cl[i]);
		EVP_PKEY_free(cl[i].newkey);
		SSL_CTX_free(cl[i].cctx);
	}
	close(ep);
	free(cl);
	return NULL;
}

static int
cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
load_dev(struct dev *d, const char *serial, const char *cert, const char *key)
{
	char err[256];

	snprintf(d->serial, sizeof(d->serial), "%s", serial);
	if ((d->chain = pki_certs_read(cert, err, sizeof(err))) == NULL ||
	    (d->key = pki_key_read(key, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench: %s\n", err);
		return -1;
	}
	d->cert = sk_X509_shift(d->chain);
	return 0;
}

/* PORT[,PORT...]: 1 to 8 TCP ports; -1 on anything else. */
static int
parse_ports(const char *arg, struct shared *sh)
{
	const char *p = arg;
	char *end;
	long v;

	for (sh->nports = 0; sh->nports < 8; p = end + 1) {
		v = strtol(p, &end, 10);
		if (end == p || v < 1 || v > 65535 || (*end != ',' && *end != '\0'))
			return -1;
		sh->ports[sh->nports++] = (int)v;
		if (*end == '\0')
			return 0;
	}
	return -1;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bench_enroll ceiling SECONDS THREADS CERT KEY CA_CERT CA_KEY "
	    "TLS_CERT TLS_KEY\n"
	    "       bench_enroll load HOST PORT[,PORT...] SECONDS CLIENTS CA_FILE DEVLIST [MAX]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct shared sh;
	struct worker *w;
	double secs, t0, cpu0, elapsed;
	int threads, i, ceiling;
	char err[256];

	if (argc < 2 || (strcmp(argv[1], "ceiling") == 0 ? argc != 10 : argc != 8 && argc != 9))
		usage();
	/* a server that dies under load must show as errors, not kill the client */
	signal(SIGPIPE, SIG_IGN);
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.mu, NULL);
	sh.lat = calloc(MAXLAT, sizeof(double));
	ceiling = strcmp(argv[1], "ceiling") == 0;
	if (ceiling) {
		secs = atof(argv[2]);
		threads = atoi(argv[3]);
		sh.devs = calloc(1, sizeof(*sh.devs));
		sh.ndevs = 1;
		if (load_dev(&sh.devs[0], "", argv[4], argv[5]))
			return 1;
		pki_name_serial(X509_get_subject_name(sh.devs[0].cert), sh.devs[0].serial,
		    sizeof(sh.devs[0].serial));
		if ((sh.ca_cert = pki_cert_read(argv[6], err, sizeof(err))) == NULL ||
		    (sh.ca_key = pki_key_read(argv[7], err, sizeof(err))) == NULL) {
			fprintf(stderr, "bench: %s\n", err);
			return 1;
		}
		sh.prof.lifetime_days = 365;
		sh.cafile = argv[6];
		sh.sctx = SSL_CTX_new(TLS_server_method());
		SSL_CTX_set_min_proto_version(sh.sctx, TLS1_3_VERSION);
		if (SSL_CTX_use_certificate_chain_file(sh.sctx, argv[8]) != 1 ||
		    SSL_CTX_use_PrivateKey_file(sh.sctx, argv[9], SSL_FILETYPE_PEM) != 1) {
			fprintf(stderr, "bench: %s, %s: cannot load the TLS certificate\n", argv[8],
			    argv[9]);
			return 1;
		}
		SSL_CTX_set_verify(sh.sctx, SSL_VERIFY_PEER, accept_all);
		SSL_CTX_set_session_cache_mode(sh.sctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(sh.sctx, 0);
	} else if (strcmp(argv[1], "load") == 0) {
		FILE *f;
		char s[128], c[1024], k[1024];

		sh.host = argv[2];
		if (parse_ports(argv[3], &sh) == -1)
			usage();
		secs = atof(argv[4]);
		threads = atoi(argv[5]);
		sh.cafile = argv[6];
		sh.max = argc == 9 ? strtoul(argv[8], NULL, 10) : 0;
		if ((f = fopen(argv[7], "r")) == NULL) {
			perror(argv[7]);
			return 1;
		}
		sh.devs = calloc(4096, sizeof(*sh.devs));
		while (sh.ndevs < 4096 && fscanf(f, "%127s %1023s %1023s", s, c, k) == 3)
			if (load_dev(&sh.devs[sh.ndevs++], s, c, k))
				return 1;
		fclose(f);
		if (sh.ndevs == 0)
			return 1;
	} else
		usage();
	if (threads < 1 || threads > 1024 || secs <= 0 || secs > 600)
		usage();
	t0 = now();
	cpu0 = cpu_secs();
	sh.deadline = t0 + secs;
	if (ceiling) {
		w = calloc((size_t)threads, sizeof(*w));
		for (i = 0; i < threads; i++) {
			w[i].sh = &sh;
			w[i].id = i;
			pthread_create(&w[i].t, NULL, ceiling_worker, &w[i]);
		}
		for (i = 0; i < threads; i++)
			pthread_join(w[i].t, NULL);
		free(w);
	} else {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		int nl = cpus < 1 ? 1 : cpus > threads ? threads : (int)cpus;
		struct loader *l = calloc((size_t)nl, sizeof(*l));

		for (i = 0; i < nl; i++) {
			l[i].sh = &sh;
			l[i].first = threads * i / nl;
			l[i].n = threads * (i + 1) / nl - l[i].first;
			pthread_create(&l[i].t, NULL, load_worker, &l[i]);
		}
		for (i = 0; i < nl; i++)
			pthread_join(l[i].t, NULL);
		free(l);
	}
	elapsed = now() - t0;
	qsort(sh.lat, sh.nlat, sizeof(double), cmpd);
	printf("enrollments %zu seconds %.2f rate %.1f p50_ms %.2f p99_ms %.2f cpu_ms %.3f "
	    "retry503 %lu errors %lu\n", sh.nlat, elapsed, sh.nlat / elapsed,
	    sh.nlat ? sh.lat[sh.nlat / 2] * 1e3 : 0.0,
	    sh.nlat ? sh.lat[(size_t)(sh.nlat * 0.99)] * 1e3 : 0.0,
	    sh.nlat ? (cpu_secs() - cpu0) * 1e3 / (double)sh.nlat : 0.0, sh.retry503, sh.errors);
	/* the line is the result: out before anything at exit (a sanitizer's leak report
	 * ends the process without flushing stdio) */
	fflush(stdout);
	return 0;
}
