/*
 * bench_enroll: enrollment throughput, the number the enrollment issue asks for.
 *
 *   bench_enroll ceiling SECONDS THREADS CERT KEY CA_CERT CA_KEY
 *	the same cryptographic work as one enrollment, in-process, no HTTP, no DB: a full TLS 1.3
 *	handshake with mutual P-256 certificates over memory BIOs (both sides), the client's CSR
 *	with the channel binding, the server's CSR check, and the LDevID issue and signature.
 *   bench_enroll load HOST PORT SECONDS THREADS CA_FILE DEVLIST
 *	THREADS clients, each in a loop for SECONDS: a new TCP + TLS connection with a device
 *	IDevID, a CSR bound to that connection, POST simpleenroll, read the answer. DEVLIST has
 *	lines "serial cert key"; client i uses device i mod n.
 * Both print one line: "enrollments N seconds S rate R p50_ms A p99_ms B errors E".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
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
#include "enroll/b64.h"
#include "enroll/chanbind.h"

#define MAXLAT	2000000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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
	int		 port;
	const char	*cafile;
	pthread_mutex_t	 mu;
	double		*lat;
	size_t		 nlat;
	unsigned long	 errors;
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
	SSL_CTX *cctx = client_ctx(d, NULL);
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

static int
write_all(SSL *ssl, const char *buf, size_t n)
{
	while (n > 0) {
		int w = SSL_write(ssl, buf, (int)n);
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
load_once(struct shared *sh, SSL_CTX *cctx, const struct dev *d, EVP_PKEY *newkey)
{
	struct sockaddr_in sa;
	SSL *ssl = NULL;
	int fd, len, rc = -1, one = 1;
	unsigned char *der = NULL;
	char *b64 = NULL, req[8192], resp[16384];
	size_t blen, got = 0;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)sh->port);
	inet_pton(AF_INET, sh->host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	ssl = SSL_new(cctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		goto out;
	if (make_csr(ssl, d, newkey, &der, &len))
		goto out;
	if ((b64 = b64_encode(der, (size_t)len, 64, &blen)) == NULL)
		goto out;
	snprintf(req, sizeof(req), "POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
	    "Host: %s:%d\r\nContent-Type: application/pkcs10\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", sh->host, sh->port, blen);
	if (write_all(ssl, req, strlen(req)) || write_all(ssl, b64, blen))
		goto out;
	for (;;) {
		int r = SSL_read(ssl, resp + got, (int)(sizeof(resp) - 1 - got));
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got >= sizeof(resp) - 1)
			break;
	}
	resp[got] = '\0';
	if (strncmp(resp, "HTTP/1.1 200", 12) == 0)
		rc = 0;
	else if (sh->errors < 3)
		fprintf(stderr, "bench: %.100s\n", resp);
out:
	free(b64);
	OPENSSL_free(der);
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
	return rc;
}

static void *
load_worker(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	const struct dev *d = &sh->devs[w->id % sh->ndevs];
	SSL_CTX *cctx = client_ctx(d, sh->cafile);
	EVP_PKEY *k = pki_key_new("p256", NULL, 0);

	while (now() < sh->deadline) {
		double t0 = now();
		int ok = load_once(sh, cctx, d, k) == 0;
		record(sh, now() - t0, ok);
	}
	EVP_PKEY_free(k);
	SSL_CTX_free(cctx);
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

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: bench_enroll ceiling SECONDS THREADS CERT KEY CA_CERT CA_KEY\n"
	    "       bench_enroll load HOST PORT SECONDS THREADS CA_FILE DEVLIST\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct shared sh;
	struct worker *w;
	double secs, t0, elapsed;
	int threads, i, ceiling;
	char err[256];

	if (argc != 8)
		usage();
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
		/* The server side: the CA's own certificate stands in for the TLS one. */
		sh.sctx = SSL_CTX_new(TLS_server_method());
		SSL_CTX_set_min_proto_version(sh.sctx, TLS1_3_VERSION);
		SSL_CTX_use_certificate(sh.sctx, sh.ca_cert);
		SSL_CTX_use_PrivateKey(sh.sctx, sh.ca_key);
		SSL_CTX_set_verify(sh.sctx, SSL_VERIFY_PEER, accept_all);
		SSL_CTX_set_session_cache_mode(sh.sctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(sh.sctx, 0);
	} else if (strcmp(argv[1], "load") == 0) {
		FILE *f;
		char s[128], c[1024], k[1024];

		sh.host = argv[2];
		sh.port = atoi(argv[3]);
		secs = atof(argv[4]);
		threads = atoi(argv[5]);
		sh.cafile = argv[6];
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
	w = calloc((size_t)threads, sizeof(*w));
	t0 = now();
	sh.deadline = t0 + secs;
	for (i = 0; i < threads; i++) {
		w[i].sh = &sh;
		w[i].id = i;
		pthread_create(&w[i].t, NULL, ceiling ? ceiling_worker : load_worker, &w[i]);
	}
	for (i = 0; i < threads; i++)
		pthread_join(w[i].t, NULL);
	elapsed = now() - t0;
	qsort(sh.lat, sh.nlat, sizeof(double), cmpd);
	printf("enrollments %zu seconds %.2f rate %.1f p50_ms %.2f p99_ms %.2f errors %lu\n",
	    sh.nlat, elapsed, sh.nlat / elapsed,
	    sh.nlat ? sh.lat[sh.nlat / 2] * 1e3 : 0.0,
	    sh.nlat ? sh.lat[(size_t)(sh.nlat * 0.99)] * 1e3 : 0.0, sh.errors);
	return 0;
}
