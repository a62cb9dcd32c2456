/*
 * agent: see agent.h. The EST client (RFC 7030) over libcurl (OpenSSL backend) and OpenSSL.
 */
#include "enroll/agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/p7.h"
#include "certs/pki.h"
#include "certs/keyref.h"
#include "certs/tpmkey.h"
#include "enroll/common/b64.h"
#include "enroll/common/chanbind.h"
#include "enroll/common/err.h"
#include "enroll/common/voucher.h"	/* brski */

#define EST_WELL_KNOWN		"/.well-known/est"
#define LK_WELL_KNOWN_NETID	"/.well-known/latchkey/netid"	/* kea: enroll/common/netid.h */
#define AGENT_URL_MAX		1024
#define AGENT_META_MAX		(64 * 1024)
#define AGENT_RETRY_DEFAULT	5	/* seconds, a 202 without a usable Retry-After */
#define AGENT_CSR_WRAP		0	/* CSR body: base64, no line breaks (RFC 8951 §3, RFC 4648 §3.1) */
#define AGENT_ERRLINE_MAX	200	/* bytes of a server's error text we repeat */

/* A response body, bounded by AGENT_RESPONSE_MAX. */
struct agent_buf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
	int		 overflow;
};

/*
 * One EST session: one easy handle, hence one TLS connection reused for every request.
 * The prereq callback runs on the live connection before each request is sent and records
 * that connection's channel binding.
 */
struct agent_est {
	CURL			*curl;
	const struct agent_opts	*o;
	char			 server[AGENT_URL_MAX];	/* no '/' at the end */
	char			 base[AGENT_URL_MAX + 128]; /* + /.well-known/est[/label] */
	char			 curlerr[CURL_ERROR_SIZE];
	struct agent_buf	 body;
	struct curl_slist	*post_hdrs;
	struct timespec		 deadline;		/* CLOCK_MONOTONIC */
	int			 nreq;			/* requests completed */
	int			 nconn;			/* TLS connections made */
	/* --trust-fingerprint: the pinned registrar leaf */
	int			 pinned;
	unsigned char		 pin[32];
	int			 pin_failed;
	char			 seen_fp[PKI_FP_LEN];
	X509			*peer;			/* the pinned leaf, matched */
	/* the current connection, refreshed before every request */
	int			 cb_ok;
	char			 cb[CHANBIND_B64MAX];
	char			 tls_version[16];
	char			 cb_type[16];
	/* while POSTing a CSR: the binding it carries, checked against the connection */
	const char		*expect_cb;
	int			 cb_mismatch;
	/* BRSKI voucher path (brski) */
	int			 voucher;	/* provisional TLS until a voucher pins */
	STACK_OF(X509)		*peer_chain;	/* what the registrar sent, leaf first */
	X509			*voucher_pin;	/* pinned-domain-cert, once accepted */
	int			 voucher_refused;
	struct curl_slist	*req_hdrs;	/* replaces post_hdrs for one request */
	/* every mode: the peer's certificate lacks id-kp-cmcRA (agent_peer_is_ra) */
	int			 not_ra;
	char			 not_ra_fp[PKI_FP_LEN];
	/* the enrollment ended on a 202: still pending (agent_pending_wait) */
	int			 pending;
	/* the TLS client identity, set on every SSL_CTX by agent_sslctx_cb */
	char			 tls_cert[AGENT_PATH_MAX];
	EVP_PKEY		*tls_key;		/* agent_key_load(): file or TPM */
};

int
agent_tpm_prepare(const struct agent_opts *o, char *err, size_t errlen)
{
	char key[AGENT_PATH_MAX];
	int need = 0;

	if (o->key_store == AGENT_KEYSTORE_TPM)
		need = 1;
	else if (o->idevid_key != NULL && tpmkey_ref_kind(o->idevid_key) != TPMKEY_NONE)
		need = 1;
	else if (o->out_dir != NULL && *o->out_dir != '\0' &&
	    snprintf(key, sizeof(key), "%s/%s", o->out_dir, AGENT_FILE_KEY) <
	    (int)sizeof(key) && tpmkey_ref_kind(key) == TPMKEY_FILE)
		need = 1;
	if (!need)
		return 0;
	if (tpmkey_open(o->tpm_tcti, err, errlen) == -1)
		return -1;
	return 1;
}

/*
 * The key-loading dispatch: every private key the agent uses (IDevID, LDevID, for TLS,
 * CSR, voucher-request and recovery checks) comes through here: a TPM key (TSS2 file or
 * persistent handle), a key in a PKCS#11 token (RFC 7512 URI, certs/keyref.h), or a PEM
 * file.
 */
EVP_PKEY *
agent_key_load(const char *ref, char *err, size_t errlen)
{
	if (ref == NULL) {
		errf(err, errlen, "no key given");
		return NULL;
	}
	if (keyref_is_pkcs11(ref))
		return keyref_load(ref, err, errlen);
	if (tpmkey_ref_kind(ref) != TPMKEY_NONE ||
	    strncmp(ref, TPMKEY_HANDLE_PREFIX, strlen(TPMKEY_HANDLE_PREFIX)) == 0)
		return tpmkey_load(ref, err, errlen);
	return pki_key_read(ref, err, errlen);
}

const char *
agent_key_store_name(const char *ref)
{
	return tpmkey_ref_kind(ref) != TPMKEY_NONE ? "tpm" : "file";
}

int
agent_key_store_parse(const char *name)
{
	if (strcmp(name, "tpm") == 0)
		return AGENT_KEYSTORE_TPM;
	if (strcmp(name, "file") == 0)
		return AGENT_KEYSTORE_FILE;
	return -1;
}

int
agent_global_init(void)
{
	const curl_version_info_data *vi;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	/* The SSL_CTX callback and the SSL* for channel binding need the OpenSSL backend. */
	vi = curl_version_info(CURLVERSION_NOW);
	if (vi == NULL || vi->ssl_version == NULL ||
	    strncasecmp(vi->ssl_version, "OpenSSL", 7) != 0) {
		curl_global_cleanup();
		return -1;
	}
	return 0;
}

void
agent_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- small helpers ---------------------------------------------------------------- */

static int
agent_path(char *out, const char *dir, const char *name, const char *suffix, char *err,
    size_t errlen)
{
	if ((size_t)snprintf(out, AGENT_PATH_MAX, "%s/%s%s", dir, name, suffix) >=
	    AGENT_PATH_MAX)
		return errf(err, errlen, "%s: path too long", dir);
	return 0;
}

static int
agent_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void
agent_fsync_dir(const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The last OpenSSL error's reason into buf (or "unknown error"); clears the queue. */
static const char *
agent_ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static double
agent_remaining(const struct agent_est *e)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(e->deadline.tv_sec - now.tv_sec) +
	    (double)(e->deadline.tv_nsec - now.tv_nsec) / 1e9;
}

/* "YYYY-MM-DDTHH:MM:SSZ" of an ASN1_TIME (or of now when t is NULL). */
static int
agent_time_iso(const ASN1_TIME *t, char *out, size_t outlen)
{
	struct tm tm;
	time_t now;

	if (t != NULL) {
		if (ASN1_TIME_to_tm(t, &tm) != 1)
			return -1;
	} else {
		now = time(NULL);
		if (gmtime_r(&now, &tm) == NULL)
			return -1;
	}
	return strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 ? -1 : 0;
}

/*
 * The server URL: https only (EST is always over TLS, RFC 7030 §3.2), no user info, query
 * or fragment, no control characters; trailing '/' removed.
 */
static int
agent_server_check(const char *url, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *p, *host;
	size_t n, hostlen;

	if (url == NULL || *url == '\0')
		return errf(err, errlen, "no server URL given");
	if (strncasecmp(url, "https://", 8) != 0)
		return errf(err, errlen, "server URL must start with https://: %.200s", url);
	host = url + 8;
	hostlen = strcspn(host, "/");
	if (hostlen == 0)
		return errf(err, errlen, "server URL has no host: %.200s", url);
	if (memchr(host, '@', hostlen) != NULL)
		return errf(err, errlen, "server URL must not carry user information");
	for (p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '?' ||
		    *p == '#')
			return errf(err, errlen, "server URL must not contain spaces, "
			    "control characters, '?' or '#'");
	}
	n = strlen(url);
	while (n > 8 && url[n - 1] == '/')
		n--;
	if (n >= outlen)
		return errf(err, errlen, "server URL too long");
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

/* RFC 7030 §3.2.2: the label is one path segment; we allow 1..64 of [A-Za-z0-9._-]. */
static int
agent_label_check(const char *label, char *err, size_t errlen)
{
	size_t n = strlen(label);
	const char *p;

	if (n == 0 || n > AGENT_LABEL_MAX || strcmp(label, ".") == 0 || strcmp(label, "..") == 0)
		return errf(err, errlen, "bad label \"%.64s\": 1 to %d of A-Z a-z 0-9 . _ -",
		    label, AGENT_LABEL_MAX);
	for (p = label; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return errf(err, errlen, "bad label \"%.64s\": 1 to %d of "
			    "A-Z a-z 0-9 . _ -", label, AGENT_LABEL_MAX);
	}
	return 0;
}

/* The first line of a response body, printable ASCII only, for an error message. */
static void
agent_body_line(const struct agent_buf *b, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < b->len && b->p[i] != '\n' && b->p[i] != '\r'; i++) {
		if (o + 1 >= outlen || o >= AGENT_ERRLINE_MAX)
			break;
		out[o++] = (b->p[i] >= ' ' && b->p[i] < 0x7f) ? (char)b->p[i] : '?';
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static int
agent_http_err(struct agent_est *e, const char *what, long status, char *err, size_t errlen)
{
	char line[AGENT_ERRLINE_MAX + 1];

	agent_body_line(&e->body, line, sizeof(line));
	if (line[0] == '\0')
		return errf(err, errlen, "%s: HTTP %ld", what, status);
	return errf(err, errlen, "%s: HTTP %ld: %s", what, status, line);
}

/* ---- libcurl callbacks ------------------------------------------------------------ */

/* Collect the body; more than AGENT_RESPONSE_MAX aborts the transfer. */
static size_t
agent_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct agent_buf *b = arg;
	size_t n = size * nmemb, ncap;
	unsigned char *np;

	if (size != 0 && n / size != nmemb)
		return 0;
	if (n > AGENT_RESPONSE_MAX - b->len) {
		b->overflow = 1;
		return 0;
	}
	if (b->len + n > b->cap) {
		ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + n)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return 0;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	return n;
}

/*
 * Who is a registrar (DESIGN.md "Trust model", RFC 8995 §5.5, RFC 7030 §3.6.1): its
 * certificate carries id-kp-cmcRA; an LDevID of the domain does not. Checked of the TLS
 * peer in every mode (provisional and after the voucher, pinned, CA file) before any
 * request is sent on the connection. 1 registrar, 0 not (e->not_ra set).
 */
static int
agent_peer_is_ra(struct agent_est *e, X509 *leaf)
{
	if (pki_cert_has_eku(leaf, NID_cmcRA) == 1)
		return 1;
	e->not_ra = 1;
	if (pki_cert_fingerprint(leaf, e->not_ra_fp) != 0)
		snprintf(e->not_ra_fp, sizeof(e->not_ra_fp), "?");
	return 0;
}

/*
 * Runs on the established connection just before a request is sent: record the TLS
 * version and this connection's channel binding; while a CSR is being POSTed, refuse to
 * send it over a connection other than the one whose binding it carries (RFC 7030 §3.5).
 */
static int
agent_prereq_cb(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct agent_est *e = arg;
	struct curl_tlssessioninfo *tsi = NULL;
	X509 *leaf;
	SSL *ssl;

	e->cb_ok = 0;
	e->tls_version[0] = '\0';
	snprintf(e->cb_type, sizeof(e->cb_type), "none");
	if (curl_easy_getinfo(e->curl, CURLINFO_TLS_SSL_PTR, &tsi) == CURLE_OK &&
	    tsi != NULL && tsi->backend == CURLSSLBACKEND_OPENSSL && tsi->internals != NULL) {
		ssl = tsi->internals;
		/* CA-file mode: OpenSSL and libcurl verified chain and host; a registrar? */
		if (!e->voucher && !e->pinned) {
			if ((leaf = SSL_get0_peer_certificate(ssl)) == NULL ||
			    !agent_peer_is_ra(e, leaf) || !X509_up_ref(leaf)) {
				e->not_ra = 1;
				return CURL_PREREQFUNC_ABORT;
			}
			X509_free(e->peer);
			e->peer = leaf;
		}
		snprintf(e->tls_version, sizeof(e->tls_version), "%s", SSL_get_version(ssl));
		if (chanbind_b64(ssl, 0, e->cb) == 0) {
			e->cb_ok = 1;
			snprintf(e->cb_type, sizeof(e->cb_type), "%s", chanbind_type(ssl));
		}
	}
	if (e->expect_cb != NULL && (!e->cb_ok || strcmp(e->cb, e->expect_cb) != 0)) {
		e->cb_mismatch = 1;
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}

/*
 * --trust-fingerprint: replaces OpenSSL's chain verification. The chain is accepted iff the
 * depth-0 certificate's SHA-256 equals the operator's pin; nothing else about the chain is
 * trusted at this point (the registrar's issuer must then appear in cacerts).
 */
static int
agent_pin_verify_cb(X509_STORE_CTX *sctx, void *arg)
{
	struct agent_est *e = arg;
	unsigned char got[32];
	X509 *leaf;

	leaf = X509_STORE_CTX_get0_cert(sctx);
	if (leaf == NULL || pki_cert_fingerprint(leaf, e->seen_fp) != 0 ||
	    pki_fingerprint_parse(e->seen_fp, got) != 0 ||
	    CRYPTO_memcmp(got, e->pin, sizeof(got)) != 0) {
		e->pin_failed = 1;
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (!agent_peer_is_ra(e, leaf)) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	if (!X509_up_ref(leaf)) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_OUT_OF_MEM);
		return 0;
	}
	X509_free(e->peer);
	e->peer = leaf;
	X509_STORE_CTX_set_error(sctx, X509_V_OK);
	return 1;
}


/*
 * Voucher path (brski), replaces OpenSSL's chain verification. Before a voucher is
 * accepted the registrar is provisional (RFC 8995 §5.1): any registrar certificate (one
 * with id-kp-cmcRA, RFC 8995 §5.5) is accepted and recorded; it becomes the voucher
 * request's proximity-registrar-cert. Afterwards a connection is accepted only when its
 * certificate is a registrar's and is, or chains to, the voucher's pinned-domain-cert
 * (RFC 8995 §5.6.2).
 */
static int
agent_voucher_verify_cb(X509_STORE_CTX *sctx, void *arg)
{
	struct agent_est *e = arg;
	STACK_OF(X509) *sent;
	X509 *leaf = X509_STORE_CTX_get0_cert(sctx);

	if (leaf == NULL || !agent_peer_is_ra(e, leaf) || !X509_up_ref(leaf)) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	X509_free(e->peer);
	e->peer = leaf;
	sk_X509_pop_free(e->peer_chain, X509_free);
	sent = X509_STORE_CTX_get0_untrusted(sctx);
	e->peer_chain = sent != NULL ? X509_chain_up_ref(sent) : NULL;
	if (e->voucher_pin != NULL && voucher_registrar_check(e->voucher_pin, leaf,
	    e->peer_chain, NULL, 0) == -1) {
		e->voucher_refused = 1;
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	X509_STORE_CTX_set_error(sctx, X509_V_OK);
	return 1;
}

/*
 * Every new SSL_CTX: the client identity (certificate chain file + the key agent_key_load()
 * gave, which may live in a TPM: libcurl can only read key files itself), then the
 * registrar's verification: the pin, the voucher path's, or OpenSSL's against the CA file.
 */
static CURLcode
agent_sslctx_cb(CURL *curl, void *sslctx, void *arg)
{
	struct agent_est *e = arg;
	SSL_CTX *ctx = sslctx;

	if (e->tls_key != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, e->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, e->tls_key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1))
		return CURLE_SSL_CERTPROBLEM;
	if (e->pinned)
		SSL_CTX_set_cert_verify_callback(ctx, agent_pin_verify_cb, arg);
	else if (e->voucher)
		SSL_CTX_set_cert_verify_callback(ctx, agent_voucher_verify_cb, arg);
	return CURLE_OK;
}

/* ---- the EST session ---------------------------------------------------------------- */

static void
agent_est_close(struct agent_est *e)
{
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	e->curl = NULL;
	curl_slist_free_all(e->post_hdrs);
	e->post_hdrs = NULL;
	free(e->body.p);
	memset(&e->body, 0, sizeof(e->body));
	X509_free(e->peer);
	e->peer = NULL;
	sk_X509_pop_free(e->peer_chain, X509_free);	/* brski */
	e->peer_chain = NULL;
	X509_free(e->voucher_pin);
	e->voucher_pin = NULL;
	EVP_PKEY_free(e->tls_key);
	e->tls_key = NULL;
	OPENSSL_cleanse(e->cb, sizeof(e->cb));
}

/*
 * Set up the handle: TLS >= 1.2, HTTP/1.1, https only, no proxy, client certificate, and
 * either CA-file verification (peer + host) or the fingerprint pin. No I/O yet. key is the
 * client key (agent_key_load()), which the handle takes over: freed with it, or here when
 * this fails.
 */
static int
agent_est_open(struct agent_est *e, const struct agent_opts *o, const char *server,
    const char *label, const char *cert, EVP_PKEY *key, const char *ca_file,
    const char *pin, char *err, size_t errlen)
{
	CURL *c;
	int rc = 0;
	int timeout = o->timeout > 0 ? o->timeout : AGENT_TIMEOUT_DEFAULT;

	memset(e, 0, sizeof(*e));
	e->o = o;
	e->tls_key = key;
	e->voucher = ca_file == NULL && pin == NULL;	/* brski: voucher path */
	clock_gettime(CLOCK_MONOTONIC, &e->deadline);
	e->deadline.tv_sec += timeout;
	if (agent_server_check(server, e->server, sizeof(e->server), err, errlen) == -1)
		goto err;
	if (label != NULL && *label != '\0') {
		if (agent_label_check(label, err, errlen) == -1)
			goto err;
		snprintf(e->base, sizeof(e->base), "%s%s/%s", e->server, EST_WELL_KNOWN, label);
	} else
		snprintf(e->base, sizeof(e->base), "%s%s", e->server, EST_WELL_KNOWN);
	if (pin != NULL) {
		if (pki_fingerprint_parse(pin, e->pin) != 0) {
			errf(err, errlen, "bad fingerprint \"%.100s\": expected sha256: and 64 "
			    "hex digits", pin);
			goto err;
		}
		e->pinned = 1;
	}
	if (snprintf(e->tls_cert, sizeof(e->tls_cert), "%s", cert) >= (int)sizeof(e->tls_cert)) {
		errf(err, errlen, "%s: path too long", cert);
		goto err;
	}
	if ((e->curl = c = curl_easy_init()) == NULL) {
		errf(err, errlen, "libcurl: cannot create a handle");
		goto err;
	}

	/* RFC 7030 §4.2.1: the CSR is base64 of DER, Content-Transfer-Encoding base64. */
	if ((e->post_hdrs = curl_slist_append(NULL, "Content-Type: application/pkcs10")) ==
	    NULL ||
	    curl_slist_append(e->post_hdrs, "Content-Transfer-Encoding: base64") == NULL ||
	    curl_slist_append(e->post_hdrs, "Accept: application/pkcs7-mime") == NULL ||
	    curl_slist_append(e->post_hdrs, "Expect:") == NULL) {
		errf(err, errlen, "out of memory");
		goto err;
	}

	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, e->curlerr);
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	rc |= curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	rc |= curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	rc |= curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "latchkey-agent/1");
	rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, agent_write_cb);
	rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, &e->body);
	rc |= curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, agent_prereq_cb);
	rc |= curl_easy_setopt(c, CURLOPT_PREREQDATA, e);
	rc |= curl_easy_setopt(c, CURLOPT_VERBOSE, o->curl_verbose ? 1L : 0L);
	/* The client certificate (leaf + chain, all sent) and key: agent_sslctx_cb. */
	rc |= curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, agent_sslctx_cb);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, e);
	/* Only the anchor we name: never the system's CA directory. */
	rc |= curl_easy_setopt(c, CURLOPT_CAPATH, (char *)NULL);
	rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	if (e->pinned) {
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, (char *)NULL);
		rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	} else if (e->voucher) {
		/* brski: provisional until the voucher; the callback records and checks */
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, (char *)NULL);
		rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
		rc |= curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	} else {
		rc |= curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
		rc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	if (rc != 0) {
		errf(err, errlen, "libcurl lacks a needed feature (OpenSSL backend, "
		    "libcurl >= 7.85 required)");
		goto err;
	}
	return 0;
err:
	agent_est_close(e);
	return -1;
}

/*
 * One request on the session's connection: GET when body is NULL, else POST of the CSR.
 * Returns 0 with the HTTP status (any) in *status, -1 on transport failure. Every request
 * after the first must reuse the first connection (CURLINFO_NUM_CONNECTS == 0) unless
 * allow_reconnect says a new connection is expected and handled by the caller.
 */
static int
agent_est_request(struct agent_est *e, const char *op, const char *body, size_t len,
    int allow_reconnect, long *status, char *err, size_t errlen)
{
	char url[sizeof(e->base) + 32];
	double left;
	long nconn = 0;
	CURLcode cc;
	int rc = 0;

	*status = 0;
	if (op[0] == '/')	/* brski: an absolute path, e.g. /.well-known/brski/... */
		snprintf(url, sizeof(url), "%s%s", e->server, op);
	else
		snprintf(url, sizeof(url), "%s/%s", e->base, op);
	e->voucher_refused = 0;
	e->body.len = 0;
	e->body.overflow = 0;
	e->curlerr[0] = '\0';
	e->pin_failed = 0;
	e->cb_mismatch = 0;
	e->not_ra = 0;
	if ((left = agent_remaining(e)) < 0.05)
		return errf(err, errlen, "%s: timed out", op);

	rc |= curl_easy_setopt(e->curl, CURLOPT_URL, url);
	rc |= curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)(left * 1000.0));
	if (body != NULL) {
		rc |= curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
		rc |= curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		rc |= curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		rc |= curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->req_hdrs != NULL ?
		    e->req_hdrs : e->post_hdrs);
	} else {
		rc |= curl_easy_setopt(e->curl, CURLOPT_HTTPGET, 1L);
		rc |= curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	}
	if (rc != 0)
		return errf(err, errlen, "%s: libcurl option rejected", op);

	cc = curl_easy_perform(e->curl);
	if (cc != CURLE_OK) {
		if (e->pin_failed)
			return errf(err, errlen, "registrar certificate %s does not match the "
			    "pinned fingerprint", e->seen_fp);
		if (e->not_ra)
			return errf(err, errlen, "%s: the server's certificate %s lacks "
			    "id-kp-cmcRA (RFC 8995 5.5): not a registrar, refused", e->server,
			    e->not_ra_fp[0] ? e->not_ra_fp : "?");
		if (e->voucher_refused)
			return errf(err, errlen, "registrar certificate is not under the "
			    "voucher's pinned domain certificate");
		if (e->cb_mismatch)
			return errf(err, errlen, "connection not reused, channel binding "
			    "impossible");
		if (e->body.overflow)
			return errf(err, errlen, "%s: response larger than %d bytes", op,
			    AGENT_RESPONSE_MAX);
		if (cc == CURLE_OPERATION_TIMEDOUT)
			return errf(err, errlen, "%s: timed out", op);
		if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE)
			return errf(err, errlen, "cannot verify the registrar: %s",
			    e->curlerr[0] ? e->curlerr : curl_easy_strerror(cc));
		return errf(err, errlen, "%s: %s", op,
		    e->curlerr[0] ? e->curlerr : curl_easy_strerror(cc));
	}
	if (curl_easy_getinfo(e->curl, CURLINFO_NUM_CONNECTS, &nconn) != CURLE_OK)
		return errf(err, errlen, "%s: libcurl: no connection count", op);
	e->nconn += (int)nconn;
	if (e->nreq > 0 && nconn != 0 && !allow_reconnect)
		return errf(err, errlen, "connection not reused, channel binding impossible");
	e->nreq++;
	if (curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, status) != CURLE_OK)
		return errf(err, errlen, "%s: no HTTP status", op);
	agent_progress(e->o->progress, e->o->progress_arg, AGENT_DEBUG, "%s %s: HTTP %ld, %zu bytes", body ? "POST" : "GET", url,
	    *status, e->body.len);
	return 0;
}

/* Decode a base64 certs-only PKCS#7 body (RFC 7030 §4.1.3, §4.2.3). */
static STACK_OF(X509) *
agent_body_certs(struct agent_est *e, const char *what, char *err, size_t errlen)
{
	STACK_OF(X509) *certs = NULL;
	unsigned char *der;
	const char *ct = NULL;
	size_t derlen;
	char why[256];

	if ((der = b64_decode((const char *)e->body.p, e->body.len, &derlen, why,
	    sizeof(why))) != NULL) {
		certs = p7_certs_decode(der, derlen, why, sizeof(why));
		free(der);
	}
	if (certs == NULL) {
		/* Name a wrong media type: it usually means the URL is not an EST server. */
		if (curl_easy_getinfo(e->curl, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK ||
		    ct == NULL || strncasecmp(ct, "application/pkcs7-mime", 22) == 0)
			errf(err, errlen, "%s: bad answer: %s", what, why);
		else
			errf(err, errlen, "%s: bad answer (Content-Type %.60s): %s", what,
			    ct, why);
	}
	return certs;
}

/* RFC 7030 §4.1: the domain CA certificates. */
static STACK_OF(X509) *
agent_get_cacerts(struct agent_est *e, char *err, size_t errlen)
{
	long status;

	if (agent_est_request(e, "cacerts", NULL, 0, 0, &status, err, errlen) == -1)
		return NULL;
	if (status != 200) {
		agent_http_err(e, "cacerts failed", status, err, errlen);
		return NULL;
	}
	return agent_body_certs(e, "cacerts", err, errlen);
}

/* RFC 7030 §4.5: informational only; 204/404 mean the server has none. */
static int
agent_get_csrattrs(struct agent_est *e, char *err, size_t errlen)
{
	long status;

	if (agent_est_request(e, "csrattrs", NULL, 0, 0, &status, err, errlen) == -1)
		return -1;
	if (status == 200)
		agent_progress(e->o->progress, e->o->progress_arg, AGENT_DEBUG, "csrattrs: %zu bytes (informational)", e->body.len);
	else if (status == 204 || status == 404)
		agent_progress(e->o->progress, e->o->progress_arg, AGENT_DEBUG, "csrattrs: none (HTTP %ld)", status);
	else
		agent_progress(e->o->progress, e->o->progress_arg, AGENT_DEBUG, "csrattrs: HTTP %ld, ignored", status);
	return 0;
}

/* ---- CSR ------------------------------------------------------------------------- */

/*
 * PKCS#10 (RFC 2986) for key: subject serialNumber=<serial>, CN=<serial>; when challenge is
 * set, a challengePassword attribute (PKCS#9, 1.2.840.113549.1.9.7) holding it as a
 * PrintableString (the base64 alphabet and '=' are PrintableString characters). Signed with
 * SHA-256, or pure EdDSA for Ed25519/Ed448. *der is malloc'd.
 */
static int
agent_csr_build(EVP_PKEY *key, const char *serial, const char *challenge,
    unsigned char **der, size_t *derlen, char *err, size_t errlen)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	const EVP_MD *md;
	unsigned char *p;
	char why[160];
	int n, rc = -1;

	*der = NULL;
	ERR_clear_error();
	if ((req = X509_REQ_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1)) {
		errf(err, errlen, "CSR: out of memory");
		goto err;
	}
	if (!X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_ASC,
	    (const unsigned char *)serial, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)serial, -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, name)) {
		errf(err, errlen, "CSR: subject: %s",
		    agent_ossl_reason(why, sizeof(why)));
		goto err;
	}
	if (!X509_REQ_set_pubkey(req, key)) {
		errf(err, errlen, "CSR: public key: %s",
		    agent_ossl_reason(why, sizeof(why)));
		goto err;
	}
	/* RFC 7030 §3.5: the channel binding goes into challengePassword. */
	if (challenge != NULL && !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	    V_ASN1_PRINTABLESTRING, (const unsigned char *)challenge, (int)strlen(challenge))) {
		errf(err, errlen, "CSR: challengePassword: %s",
		    agent_ossl_reason(why, sizeof(why)));
		goto err;
	}
	md = (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 || EVP_PKEY_get_id(key) ==
	    EVP_PKEY_ED448) ? NULL : EVP_sha256();
	if (X509_REQ_sign(req, key, md) <= 0) {
		errf(err, errlen, "CSR: signing: %s",
		    agent_ossl_reason(why, sizeof(why)));
		goto err;
	}
	if ((n = i2d_X509_REQ(req, NULL)) <= 0 || (*der = malloc((size_t)n)) == NULL) {
		errf(err, errlen, "CSR: encoding failed");
		goto err;
	}
	p = *der;
	if (i2d_X509_REQ(req, &p) != n) {
		errf(err, errlen, "CSR: encoding failed");
		goto err;
	}
	*derlen = (size_t)n;
	rc = 0;
err:
	if (rc != 0) {
		free(*der);
		*der = NULL;
	}
	X509_NAME_free(name);
	X509_REQ_free(req);
	ERR_clear_error();
	return rc;
}

/* ---- enrollment request ------------------------------------------------------------- */

static void
agent_sleep(double secs)
{
	struct timespec ts;

	if (secs <= 0)
		return;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * A 202 to the CSR (RFC 7030 §4.2.3) or to the voucher-request (RFC 8995 §5.6): the
 * registrar holds the request until an administrator decides. o->wait 0: fail at once.
 * Else wait Retry-After (retry, clamped to [1, max]; AGENT_RETRY_DEFAULT when absent) when
 * that fits in what is left of o->wait since the first 202 (*wait_end, set when attempt is
 * 1; o->wait < 0: no bound), then give the exchange a fresh --timeout. 0 to ask again; -1
 * with err and e->pending set.
 */
static int
agent_pending_wait(struct agent_est *e, const char *serial, curl_off_t retry,
    curl_off_t max, int attempt, struct timespec *wait_end, char *err, size_t errlen)
{
	const struct agent_opts *o = e->o;
	char line[AGENT_ERRLINE_MAX + 1];
	struct timespec now;
	double left;

	e->pending = 1;
	if (retry <= 0)
		retry = AGENT_RETRY_DEFAULT;
	if (retry > max)
		retry = max;
	agent_body_line(&e->body, line, sizeof(line));
	if (o->wait == 0)
		return errf(err, errlen, "enrollment pending: %s holds %s for an "
		    "administrator's approval (HTTP 202%s%s); run again after %ld s, or wait "
		    "with --wait SECONDS", e->server, serial, line[0] ? ": " : "", line,
		    (long)retry);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (attempt == 1) {
		*wait_end = now;
		wait_end->tv_sec += o->wait > 0 ? o->wait : 0;
	}
	left = (double)(wait_end->tv_sec - now.tv_sec) +
	    (double)(wait_end->tv_nsec - now.tv_nsec) / 1e9;
	if (o->wait > 0 && (double)retry > left)
		return errf(err, errlen, "enrollment still pending after %d attempt%s in --wait "
		    "%d s: %s holds %s for an administrator's approval (HTTP 202, Retry-After "
		    "%ld s); run again later", attempt, attempt == 1 ? "" : "s", o->wait,
		    e->server, serial, (long)retry);
	agent_progress(o->progress, o->progress_arg, AGENT_INFO, "waiting for an "
	    "administrator to approve %s at %s; retrying in %ld s (attempt %d)", serial,
	    e->server, (long)retry, attempt + 1);
	agent_sleep((double)retry);
	/* The wait is not the exchange's: what follows has the whole --timeout again. */
	clock_gettime(CLOCK_MONOTONIC, &e->deadline);
	e->deadline.tv_sec += o->timeout > 0 ? o->timeout : AGENT_TIMEOUT_DEFAULT;
	e->pending = 0;
	return 0;
}

/*
 * Open a new connection (fresh: the old one is closed, a cache of one connection) or
 * confirm the current one, with a cheap GET; the callbacks record the new connection's
 * peer and binding. 0, or -1 with err.
 */
static int
agent_reconnect(struct agent_est *e, int fresh, char *err, size_t errlen)
{
	long status;
	int rc;

	if (fresh && (curl_easy_setopt(e->curl, CURLOPT_MAXCONNECTS, 1L) != CURLE_OK ||
	    curl_easy_setopt(e->curl, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK))
		return errf(err, errlen, "libcurl option rejected");
	rc = agent_est_request(e, "csrattrs", NULL, 0, 1, &status, err, errlen);
	if (fresh)
		(void)curl_easy_setopt(e->curl, CURLOPT_FRESH_CONNECT, 0L);
	return rc;
}

/*
 * POST the CSR (simpleenroll or simplereenroll) and return the certificates of the 200
 * answer. A 503 with Retry-After is retried within the deadline: a cheap GET first
 * re-establishes the connection if the server closed it, and the CSR is rebuilt with that
 * connection's binding. A 202 is retried as agent_pending_wait() says, on a new
 * connection (the old one would idle out meanwhile; channel binding is per connection).
 */
static STACK_OF(X509) *
agent_post_csr(struct agent_est *e, int reenroll, EVP_PKEY *key, const char *serial,
    char *err, size_t errlen)
{
	const char *op = reenroll ? "simplereenroll" : "simpleenroll";
	const struct agent_opts *o = e->o;
	unsigned char *der = NULL, zeros[32];
	char expect[CHANBIND_B64MAX], *body = NULL, *bad = NULL;
	const char *challenge;
	curl_off_t retry;
	size_t derlen, blen;
	long status;
	double wait;
	struct timespec wait_end = { 0, 0 };
	int attempt = 0, npend = 0, fresh;
	STACK_OF(X509) *certs = NULL;

	for (;;) {
		challenge = NULL;
		e->expect_cb = NULL;
		if (o->chanbind == AGENT_CB_NORMAL) {
			if (!e->cb_ok) {
				errf(err, errlen, "cannot read the TLS channel binding of "
				    "this connection");
				goto err;
			}
			memcpy(expect, e->cb, sizeof(expect));
			challenge = expect;
		} else if (o->chanbind == AGENT_CB_BAD) {
			memset(zeros, 0, sizeof(zeros));
			free(bad);
			if ((bad = b64_encode(zeros, sizeof(zeros), 0, NULL)) == NULL) {
				errf(err, errlen, "out of memory");
				goto err;
			}
			challenge = bad;
		}
		if (agent_csr_build(key, serial, challenge, &der, &derlen, err, errlen) == -1)
			goto err;
		free(body);
		body = b64_encode(der, derlen, AGENT_CSR_WRAP, &blen);
		free(der);
		der = NULL;
		if (body == NULL) {
			errf(err, errlen, "out of memory");
			goto err;
		}
		agent_progress(o->progress, o->progress_arg, AGENT_DEBUG, "CSR: %zu bytes DER, subject serialNumber=%s, %s",
		    derlen, serial, o->chanbind == AGENT_CB_NORMAL ? "channel binding included" :
		    o->chanbind == AGENT_CB_NONE ? "NO channel binding (testing)" :
		    "WRONG channel binding (testing)");
		/* The prereq callback aborts unless the CSR goes out on the bound connection. */
		if (o->chanbind == AGENT_CB_NORMAL)
			e->expect_cb = expect;
		if (agent_est_request(e, op, body, blen, 0, &status, err, errlen) == -1)
			goto err;
		e->expect_cb = NULL;
		attempt++;
		if (status == 200)
			break;
		retry = 0;
		if (curl_easy_getinfo(e->curl, CURLINFO_RETRY_AFTER, &retry) != CURLE_OK)
			retry = 0;
		if (status == 202) {
			/* pending (RFC 7030 §4.2.3): an administrator decides */
			/* counted apart: a 503 before the first 202 must not skip setting
			 * wait_end (agent_pending_wait, attempt 1) */
			if (agent_pending_wait(e, serial, retry, AGENT_PENDING_RETRY_MAX, ++npend,
			    &wait_end, err, errlen) == -1)
				goto err;
			fresh = 1;
		} else if (status == 503 && retry > 0) {
			/* the registrar is briefly unable to issue (RFC 9110 §15.6.4), nothing
			 * was issued */
			wait = (double)retry;
			if (wait + 1.0 > agent_remaining(e)) {
				errf(err, errlen, "registrar says it cannot issue now (HTTP 503, "
				    "Retry-After %ld s), more than the time left (--timeout)",
				    (long)retry);
				goto err;
			}
			agent_progress(o->progress, o->progress_arg, AGENT_INFO, "registrar "
			    "cannot issue now (HTTP 503); retrying in %ld s", (long)retry);
			agent_sleep(wait);
			fresh = 0;
		} else {
			agent_http_err(e, reenroll ? "re-enrollment refused" :
			    "enrollment refused", status, err, errlen);
			goto err;
		}
		/* Re-establish (or confirm) the connection, refreshing its binding; after a
		 * 202 a new one. */
		if (agent_reconnect(e, fresh, err, errlen) == -1)
			goto err;
	}
	if ((certs = agent_body_certs(e, op, err, errlen)) == NULL)
		goto err;
err:
	e->expect_cb = NULL;
	OPENSSL_cleanse(expect, sizeof(expect));
	free(der);
	free(body);
	free(bad);
	return certs;
}

/* ---- checking the answer ------------------------------------------------------------ */

/* The certificate in certs whose public key is ours, or NULL. */
static X509 *
agent_find_ldevid(STACK_OF(X509) *certs, EVP_PKEY *key)
{
	X509 *c;
	int i;

	for (i = 0; i < sk_X509_num(certs); i++) {
		c = sk_X509_value(certs, i);
		if (EVP_PKEY_eq(X509_get0_pubkey(c), key) == 1)
			return c;
	}
	ERR_clear_error();
	return NULL;
}

static int
agent_is_self_signed(X509 *c)
{
	return (X509_get_extension_flags(c) & EXFLAG_SS) != 0;
}

/*
 * The LDevID must chain to a self-signed CA from cacerts (X509_verify_cert; other
 * certificates of the answer or of cacerts may be intermediates). On success *anchor is
 * the trust anchor reached (caller frees).
 */
static int
agent_verify_ldevid(X509 *ldevid, STACK_OF(X509) *answer, STACK_OF(X509) *cacerts,
    X509 **anchor, char *err, size_t errlen)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL, *chain;
	X509 *c;
	int i, rc = -1;

	*anchor = NULL;
	if ((store = X509_STORE_new()) == NULL || (ctx = X509_STORE_CTX_new()) == NULL ||
	    (untrusted = sk_X509_new_null()) == NULL) {
		errf(err, errlen, "out of memory");
		goto err;
	}
	for (i = 0; i < sk_X509_num(cacerts); i++) {
		c = sk_X509_value(cacerts, i);
		if (agent_is_self_signed(c) ? !X509_STORE_add_cert(store, c) :
		    !sk_X509_push(untrusted, c)) {
			errf(err, errlen, "out of memory");
			goto err;
		}
	}
	for (i = 0; i < sk_X509_num(answer); i++) {
		c = sk_X509_value(answer, i);
		if (c != ldevid && !agent_is_self_signed(c) && !sk_X509_push(untrusted, c)) {
			errf(err, errlen, "out of memory");
			goto err;
		}
	}
	if (!X509_STORE_CTX_init(ctx, store, ldevid, untrusted)) {
		errf(err, errlen, "out of memory");
		goto err;
	}
	if (X509_verify_cert(ctx) != 1) {
		errf(err, errlen, "the new LDevID does not chain to the domain CA from "
		    "cacerts: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto err;
	}
	chain = X509_STORE_CTX_get0_chain(ctx);
	c = sk_X509_value(chain, sk_X509_num(chain) - 1);
	if (c == NULL || !X509_up_ref(c)) {
		errf(err, errlen, "verified chain is empty");
		goto err;
	}
	*anchor = c;
	rc = 0;
err:
	ERR_clear_error();
	sk_X509_free(untrusted);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* --trust-fingerprint: cacerts must hold the CA that issued the pinned registrar cert. */
static int
agent_check_pinned_issuer(X509 *peer, STACK_OF(X509) *cacerts, char *err, size_t errlen)
{
	X509 *ca;
	EVP_PKEY *pub;
	int i;

	if (peer == NULL)
		return errf(err, errlen, "no registrar certificate recorded");
	for (i = 0; i < sk_X509_num(cacerts); i++) {
		ca = sk_X509_value(cacerts, i);
		if (X509_check_issued(ca, peer) != X509_V_OK)
			continue;
		if ((pub = X509_get0_pubkey(ca)) != NULL && X509_verify(peer, pub) == 1) {
			ERR_clear_error();
			return 0;
		}
	}
	ERR_clear_error();
	return errf(err, errlen, "cacerts does not contain the CA that issued the "
	    "pinned registrar certificate");
}

/* ---- files ------------------------------------------------------------------------ */

static int
agent_key_matches(X509 *cert, const char *keypath)
{
	EVP_PKEY *k;
	int ok;

	if ((k = agent_key_load(keypath, NULL, 0)) == NULL)
		return 0;
	ok = EVP_PKEY_eq(X509_get0_pubkey(cert), k) == 1;
	EVP_PKEY_free(k);
	ERR_clear_error();
	return ok;
}

int
agent_recover(const char *dir, char *err, size_t errlen)
{
	char key[AGENT_PATH_MAX], keynew[AGENT_PATH_MAX];
	char crt[AGENT_PATH_MAX], crtnew[AGENT_PATH_MAX];
	X509 *c = NULL;
	int rc = 0;

	if (agent_path(key, dir, AGENT_FILE_KEY, "", err, errlen) == -1 ||
	    agent_path(keynew, dir, AGENT_FILE_KEY, ".new", err, errlen) == -1 ||
	    agent_path(crt, dir, AGENT_FILE_CERT, "", err, errlen) == -1 ||
	    agent_path(crtnew, dir, AGENT_FILE_CERT, ".new", err, errlen) == -1)
		return -1;
	if (agent_exists(crtnew)) {
		rc = 1;
		c = pki_cert_read(crtnew, NULL, 0);
		ERR_clear_error();
		if (c != NULL && agent_exists(keynew) && agent_key_matches(c, keynew)) {
			/* Both staged: finish in the normal order, key first. */
			if (rename(keynew, key) == -1 || rename(crtnew, crt) == -1) {
				rc = errf(err, errlen, "%s: completing replacement: %s", dir,
				    strerror(errno));
				goto out;
			}
		} else if (c != NULL && agent_exists(key) && agent_key_matches(c, key)) {
			/* Crashed between the renames: the key is already in place. */
			if (rename(crtnew, crt) == -1) {
				rc = errf(err, errlen, "%s: completing replacement: %s", dir,
				    strerror(errno));
				goto out;
			}
			(void)unlink(keynew);
		} else {
			(void)unlink(crtnew);
			(void)unlink(keynew);
		}
	} else if (agent_exists(keynew)) {
		rc = 1;
		(void)unlink(keynew);
	}
	if (rc == 1)
		agent_fsync_dir(dir);
out:
	X509_free(c);
	return rc;
}

/*
 * Write domain-ca.pem, then stage key and certificate (.new, each written atomically by
 * pki_*_write) and move them into place key first, then enrollment.json.
 */
static int
agent_write_files(const char *dir, EVP_PKEY *key, X509 *ldevid, STACK_OF(X509) *answer,
    STACK_OF(X509) *cacerts, const char *meta, struct agent_result *res, char *err,
    size_t errlen)
{
	char keynew[AGENT_PATH_MAX], crtnew[AGENT_PATH_MAX];
	X509 **arr = NULL;
	size_t n = 0;
	int i, nmax, rc = -1;

	nmax = sk_X509_num(answer) > sk_X509_num(cacerts) ? sk_X509_num(answer) :
	    sk_X509_num(cacerts);
	if ((arr = calloc((size_t)nmax + 1, sizeof(*arr))) == NULL)
		return errf(err, errlen, "out of memory");
	if (agent_path(keynew, dir, AGENT_FILE_KEY, ".new", err, errlen) == -1 ||
	    agent_path(crtnew, dir, AGENT_FILE_CERT, ".new", err, errlen) == -1)
		goto err;

	for (i = 0; i < sk_X509_num(cacerts); i++)
		arr[n++] = sk_X509_value(cacerts, i);
	if (pki_certs_write(res->ca_path, arr, n, 1, err, errlen) == -1)
		goto err;

	/* ldevid.pem: the LDevID then any intermediate CA, so it can serve as a TLS chain. */
	n = 0;
	arr[n++] = ldevid;
	for (i = 0; i < sk_X509_num(answer); i++) {
		X509 *c = sk_X509_value(answer, i);

		if (c != ldevid && !agent_is_self_signed(c))
			arr[n++] = c;
	}
	if ((tpmkey_is_tpm(key) ? tpmkey_write(keynew, key, 1, err, errlen) :
	    pki_key_write(keynew, key, 1, err, errlen)) == -1)
		goto err;
	if (pki_certs_write(crtnew, arr, n, 1, err, errlen) == -1) {
		(void)unlink(keynew);
		goto err;
	}
	if (rename(keynew, res->key_path) == -1) {
		errf(err, errlen, "%s: %s", res->key_path, strerror(errno));
		(void)unlink(keynew);
		(void)unlink(crtnew);
		goto err;
	}
	if (rename(crtnew, res->cert_path) == -1) {
		errf(err, errlen, "%s: %s (run again to complete)", res->cert_path,
		    strerror(errno));
		goto err;
	}
	agent_fsync_dir(dir);
	if (pki_file_write(res->meta_path, meta, strlen(meta), 0644, 1, err, errlen) == -1)
		goto err;
	rc = 0;
err:
	free(arr);
	return rc;
}

/* enrollment.json: what a later reenroll (and people) need to know. */
static char *
agent_meta_json(const char *server, const char *label, const struct agent_result *res,
    const char *key_type, int reenroll, X509 *registrar)
{
	unsigned char *der = NULL;
	char now[32], *reg = NULL;
	json_t *j;
	char *s;
	int dlen;

	if (agent_time_iso(NULL, now, sizeof(now)) == -1)
		return NULL;
	/*
	 * "registrar_cert": the registrar's TLS certificate (base64 DER) as this enrollment
	 * accepted it; `latchkey latch` accepts only its subject as the IKE peer (latchkey(8)).
	 */
	if (registrar != NULL && (dlen = i2d_X509(registrar, &der)) > 0) {
		reg = b64_encode(der, (size_t)dlen, 0, NULL);
		OPENSSL_free(der);
		if (reg == NULL)
			return NULL;
	}
	j = json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?}",
	    "server", server,
	    "label", (label != NULL && *label != '\0') ? label : NULL,
	    "device_serial", res->device_serial,
	    "ldevid_serial", res->ldevid_serial,
	    "not_after", res->not_after,
	    "domain_ca_fingerprint", res->ca_fingerprint,
	    "key_type", key_type,
	    "key_store", res->key_store[0] ? res->key_store : "file",
	    "operation", reenroll ? "reenroll" : "enroll",
	    "time", now,
	    "registrar_cert", reg);
	free(reg);
	if (j == NULL)
		return NULL;
	s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (s != NULL) {
		/* A trailing newline for people who cat it. */
		size_t n = strlen(s);
		char *t = realloc(s, n + 2);

		if (t == NULL) {
			free(s);
			return NULL;
		}
		t[n] = '\n';
		t[n + 1] = '\0';
		s = t;
	}
	return s;
}

/* Server, label and key type from a previous enrollment.json. */
static int
agent_meta_read(const char *path, char *server, size_t slen, char *label, size_t llen,
    char *ktype, size_t klen, char *err, size_t errlen)
{
	struct stat st;
	json_error_t je;
	json_t *j, *v;
	int rc = -1;

	server[0] = label[0] = ktype[0] = '\0';
	if (stat(path, &st) == -1)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size > AGENT_META_MAX)
		return errf(err, errlen, "%s: not a regular file or too large", path);
	if ((j = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL)
		return errf(err, errlen, "%s:%d: %s", path, je.line, je.text);
	if ((v = json_object_get(j, "server")) != NULL && json_is_string(v))
		snprintf(server, slen, "%s", json_string_value(v));
	if ((v = json_object_get(j, "label")) != NULL && json_is_string(v))
		snprintf(label, llen, "%s", json_string_value(v));
	if ((v = json_object_get(j, "key_type")) != NULL && json_is_string(v))
		snprintf(ktype, klen, "%s", json_string_value(v));
	rc = 0;
	json_decref(j);
	return rc;
}

/* ---- BRSKI voucher path (RFC 8995 §5; brski) ---------------------------------------- */

/* POST a JSON or CMS body to an absolute path on the session's connection. */
static int
agent_brski_post(struct agent_est *e, const char *path, const char *ctype, const void *body,
    size_t len, long *status, char *err, size_t errlen)
{
	char h1[128], h2[128];
	int rc;

	snprintf(h1, sizeof(h1), "Content-Type: %s", ctype);
	snprintf(h2, sizeof(h2), "Accept: %s", strcmp(ctype, VOUCHER_CT) == 0 ? VOUCHER_CT :
	    "*/*");
	if ((e->req_hdrs = curl_slist_append(NULL, h1)) == NULL ||
	    curl_slist_append(e->req_hdrs, h2) == NULL ||
	    curl_slist_append(e->req_hdrs, "Expect:") == NULL) {
		curl_slist_free_all(e->req_hdrs);
		e->req_hdrs = NULL;
		return errf(err, errlen, "out of memory");
	}
	rc = agent_est_request(e, path, body, len, 1, status, err, errlen);
	curl_slist_free_all(e->req_hdrs);
	e->req_hdrs = NULL;
	return rc;
}

/*
 * Status telemetry (RFC 8995 §5.7 voucher_status, §5.9.4 enrollstatus), best effort: a
 * failure is reported as progress, never as the result.
 */
static void
agent_brski_status(struct agent_est *e, const char *op, int ok, const char *reason)
{
	char path[64], why[256];
	json_t *j;
	char *s;
	long status = 0;

	j = json_pack("{s:s, s:b, s:s*, s:{}}", "version", "1", "status", ok, "reason", reason,
	    "reason-context");
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return;
	}
	json_decref(j);
	snprintf(path, sizeof(path), "/.well-known/brski/%s", op);
	if (agent_brski_post(e, path, "application/json", s, strlen(s), &status, why,
	    sizeof(why)) == -1)
		agent_progress(e->o->progress, e->o->progress_arg, AGENT_DEBUG, "%s not delivered: %s", op, why);
	else
		agent_progress(e->o->progress, e->o->progress_arg, AGENT_DEBUG, "%s (%s) sent: HTTP %ld", op, ok ? "success" :
		    "failure", status);
	free(s);
}

/* The pledge's voucher-request (RFC 8995 §5.2), CMS-signed with the IDevID key. */
static unsigned char *
agent_voucher_request(struct agent_est *e, X509 *idcert, EVP_PKEY *idkey,
    STACK_OF(X509) *idchain, const char *serial, const char *nonce, size_t *len,
    char *err, size_t errlen)
{
	struct voucher vr;
	unsigned char *der = NULL;
	char *json = NULL;

	voucher_init(&vr, VOUCHER_KIND_REQUEST);
	vr.created_on = time(NULL);
	vr.assertion = VOUCHER_ASSERT_PROXIMITY;
	snprintf(vr.serial, sizeof(vr.serial), "%s", serial);
	snprintf(vr.nonce, sizeof(vr.nonce), "%s", nonce);
	if (e->peer == NULL || voucher_cert_der(e->peer, &vr.proximity_cert,
	    &vr.proximity_len) == -1) {
		errf(err, errlen, "no registrar certificate recorded");
		goto out;
	}
	if ((json = voucher_json_build(&vr, err, errlen)) == NULL)
		goto out;
	if (voucher_cms_sign(json, strlen(json), idcert, idkey, idchain, &der, len, err,
	    errlen) == -1)
		der = NULL;
out:
	free(json);
	voucher_clear(&vr);
	return der;
}

/*
 * Obtain and verify a voucher over the provisional connection; on success e->voucher_pin
 * is the pinned domain certificate and the voucher is written to out_dir/voucher.cms.
 */
static int
agent_voucher_obtain(struct agent_est *e, const struct agent_opts *o,
    struct agent_result *res, char *err, size_t errlen)
{
	STACK_OF(X509) *anchors = NULL, *idcerts = NULL;
	X509 *idcert = NULL, *pinned = NULL, *asked = NULL;
	EVP_PKEY *idkey;
	struct voucher v;
	unsigned char *req = NULL;
	char nonce[VOUCHER_NONCE_MAX + 1], why[512], fp[PKI_FP_LEN];
	curl_off_t retry;
	double wait, backoff = 1;
	struct timespec wait_end = { 0, 0 };
	size_t reqlen = 0;
	long status;
	int attempts = 0, held = 0, rc = -1;
	enum voucher_status vst;

	voucher_init(&v, VOUCHER_KIND_VOUCHER);
	if ((anchors = voucher_anchors_load(o->masa_anchor, why, sizeof(why))) == NULL) {
		errf(err, errlen, "MASA anchor: %s", why);
		goto out;
	}
	/* the voucher path is the first enrollment's: the connection's key is the IDevID's */
	if ((idcerts = pki_certs_read(o->idevid_cert, why, sizeof(why))) == NULL) {
		errf(err, errlen, "%s", why);
		goto out;
	}
	idkey = e->tls_key;
	idcert = sk_X509_shift(idcerts);
	/* Open the TLS connection provisionally: any cheap request does. */
	if (agent_est_request(e, "csrattrs", NULL, 0, 0, &status, err, errlen) == -1)
		goto out;
	if (e->peer != NULL && pki_cert_fingerprint(e->peer, fp) == 0)
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "provisional TLS to %s (registrar certificate %s, not "
		    "yet trusted)", e->server, fp);
	for (;;) {
		if (req == NULL) {
			if (voucher_nonce_new(nonce) == -1) {
				errf(err, errlen, "no randomness for the nonce");
				goto out;
			}
			if ((req = agent_voucher_request(e, idcert, idkey, idcerts,
			    res->device_serial, nonce, &reqlen, err, errlen)) == NULL)
				goto out;
		}
		attempts++;
		if (agent_brski_post(e, "/.well-known/brski/requestvoucher", VOUCHER_CT, req,
		    reqlen, &status, err, errlen) == -1)
			goto out;
		if (status == 200)
			break;
		retry = 0;
		if (curl_easy_getinfo(e->curl, CURLINFO_RETRY_AFTER, &retry) != CURLE_OK ||
		    retry < 0)
			retry = 0;
		if (status == 202) {
			/*
			 * Held for an administrator's approval (RFC 8995 §5.6): wait Retry-After,
			 * at most AGENT_VOUCHER_RETRY_MAX, and send the same voucher-request
			 * again (same nonce: §5.6 forbids signing a new one) on a new connection.
			 * Only when that connection shows another registrar certificate is a new
			 * request signed, naming it as proximity-registrar-cert.
			 */
			if (agent_pending_wait(e, res->device_serial, retry,
			    AGENT_VOUCHER_RETRY_MAX, ++held, &wait_end, err, errlen) == -1)
				goto out;
			X509_free(asked);
			if ((asked = e->peer) != NULL && !X509_up_ref(asked))
				asked = NULL;
			if (agent_reconnect(e, 1, err, errlen) == -1)
				goto out;
			if (asked == NULL || e->peer == NULL || X509_cmp(asked, e->peer) != 0) {
				agent_progress(o->progress, o->progress_arg, AGENT_DEBUG,
				    "registrar certificate changed: a new voucher-request");
				free(req);
				req = NULL;
			} else
				agent_progress(o->progress, o->progress_arg, AGENT_DEBUG,
				    "the same voucher-request again (nonce %s)", nonce);
			continue;
		}
		if (status != 503) {
			agent_http_err(e, "voucher request refused", status, err, errlen);
			goto out;
		}
		/* The registrar cannot reach the MASA: back off, doubling up to a bound; the
		 * next request is a new one. */
		free(req);
		req = NULL;
		wait = (double)retry > backoff ? (double)retry : backoff;
		if (wait > AGENT_BACKOFF_MAX)
			wait = AGENT_BACKOFF_MAX;
		if (wait + 1.0 > agent_remaining(e)) {
			agent_http_err(e, "registrar cannot obtain a voucher", status, why,
			    sizeof(why));
			errf(err, errlen, "%s; gave up after %d attempt%s (--timeout)", why,
			    attempts, attempts == 1 ? "" : "s");
			goto out;
		}
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "voucher not available yet (HTTP 503, MASA "
		    "unreachable); retrying in %.0f s", wait);
		agent_sleep(wait);
		backoff = backoff * 2 > AGENT_BACKOFF_MAX ? AGENT_BACKOFF_MAX : backoff * 2;
	}
	/* RFC 8995 §5.6.1: MASA signature, serial, nonce, expiry, assertion. */
	vst = voucher_pledge_verify(e->body.p, e->body.len, anchors, res->device_serial, nonce,
	    time(NULL), &pinned, &v, why, sizeof(why));
	if (vst != VOUCHER_OK) {
		agent_brski_status(e, "voucher_status", 0, why);
		errf(err, errlen, "voucher rejected: %s", why);
		goto out;
	}
	/* RFC 8995 §5.6.2: the provisional registrar must be under the pinned domain cert. */
	if (voucher_registrar_check(pinned, e->peer, e->peer_chain, why, sizeof(why)) == -1) {
		agent_brski_status(e, "voucher_status", 0, why);
		errf(err, errlen, "voucher rejected: %s", why);
		goto out;
	}
	e->voucher_pin = pinned;
	pinned = NULL;
	pki_cert_fingerprint(e->voucher_pin, res->pinned_fingerprint);
	if (agent_path(res->voucher_path, o->out_dir, AGENT_FILE_VOUCHER, "", err, errlen) ==
	    -1 || pki_file_write(res->voucher_path, e->body.p, e->body.len, 0644, 1, err,
	    errlen) == -1) {
		res->voucher_path[0] = '\0';
		goto out;
	}
	agent_progress(o->progress, o->progress_arg, AGENT_INFO, "voucher accepted (assertion %s, serial %s); trusting only "
	    "the pinned domain certificate %s from now on",
	    voucher_assertion_name(v.assertion) ? voucher_assertion_name(v.assertion) : "?",
	    v.serial, res->pinned_fingerprint);
	agent_brski_status(e, "voucher_status", 1, NULL);
	rc = 0;
out:
	voucher_clear(&v);
	free(req);
	X509_free(pinned);
	X509_free(asked);
	X509_free(idcert);
	sk_X509_pop_free(idcerts, X509_free);
	sk_X509_pop_free(anchors, X509_free);
	return rc;
}

/* Voucher path: the LDevID's anchor must be the pinned domain certificate, or cacerts
 * must hold it. */
static int
agent_voucher_check_ca(X509 *pin, X509 *anchor, STACK_OF(X509) *cacerts, char *err,
    size_t errlen)
{
	int i;

	if (X509_cmp(pin, anchor) == 0)
		return 0;
	for (i = 0; i < sk_X509_num(cacerts); i++)
		if (X509_cmp(pin, sk_X509_value(cacerts, i)) == 0)
			return 0;
	return errf(err, errlen, "cacerts does not hold the voucher's pinned domain "
	    "certificate");
}

/* ---- the whole exchange ------------------------------------------------------------ */

static int
agent_run(const struct agent_opts *o, int reenroll, struct agent_result *res, char *err,
    size_t errlen)
{
	struct agent_est e;
	struct stat st;
	char server[AGENT_URL_MAX], label[AGENT_LABEL_MAX + 1], ktype[32];
	char client_cert[AGENT_PATH_MAX], client_key[AGENT_PATH_MAX];
	char why[256], *meta = NULL;
	const char *ca_file = NULL, *pin = NULL, *key_type;
	STACK_OF(X509) *cacerts = NULL, *answer = NULL;
	X509 *idcert = NULL, *ldevid, *anchor = NULL;
	EVP_PKEY *idkey = NULL, *key = NULL;
	unsigned char pinbuf[32];
	int rc = -1, e_open = 0, made_dir = 0, opened;
	enum agent_key_store store = o->key_store;

	memset(res, 0, sizeof(*res));
	memset(&e, 0, sizeof(e));
	server[0] = label[0] = ktype[0] = '\0';
	if (o->out_dir == NULL || *o->out_dir == '\0')
		return errf(err, errlen, "no output directory given");
	if (agent_path(res->key_path, o->out_dir, AGENT_FILE_KEY, "", err, errlen) == -1 ||
	    agent_path(res->cert_path, o->out_dir, AGENT_FILE_CERT, "", err, errlen) == -1 ||
	    agent_path(res->ca_path, o->out_dir, AGENT_FILE_CA, "", err, errlen) == -1 ||
	    agent_path(res->meta_path, o->out_dir, AGENT_FILE_META, "", err, errlen) == -1)
		return -1;

	if (!reenroll) {
		if (o->server == NULL || o->idevid_cert == NULL || o->idevid_key == NULL)
			return errf(err, errlen, "enroll needs a server URL, an IDevID "
			    "certificate and its key");
		if (o->ca_file != NULL && o->trust_fp != NULL)
			return errf(err, errlen, "enroll needs exactly one of a CA file or "
			    "a pinned registrar fingerprint");
		if (o->ca_file == NULL && o->trust_fp == NULL && o->masa_anchor == NULL)
			return errf(err, errlen, "enroll needs a CA file, a pinned "
			    "registrar fingerprint or a MASA anchor (voucher)");
		/* Check what can be checked before anything is created. */
		if (agent_server_check(o->server, server, sizeof(server), err, errlen) == -1 ||
		    (o->label != NULL && agent_label_check(o->label, err, errlen) == -1))
			return -1;
		if (o->trust_fp != NULL && pki_fingerprint_parse(o->trust_fp, pinbuf) != 0)
			return errf(err, errlen, "bad fingerprint \"%.100s\": expected "
			    "sha256: and 64 hex digits", o->trust_fp);
		if (stat(o->out_dir, &st) == -1) {
			if (errno != ENOENT || mkdir(o->out_dir, 0700) == -1)
				return errf(err, errlen, "%s: %s", o->out_dir,
				    strerror(errno));
			made_dir = 1;
		} else if (!S_ISDIR(st.st_mode))
			return errf(err, errlen, "%s: not a directory", o->out_dir);
		if (agent_recover(o->out_dir, err, errlen) == -1)
			return -1;
		if (agent_exists(res->cert_path) && !o->force)
			return errf(err, errlen, "%s already exists (use reenroll to renew, "
			    "or --force to enroll again)", res->cert_path);
		snprintf(server, sizeof(server), "%s", o->server);
		if (o->label != NULL)
			snprintf(label, sizeof(label), "%s", o->label);
		snprintf(client_cert, sizeof(client_cert), "%s", o->idevid_cert);
		snprintf(client_key, sizeof(client_key), "%s", o->idevid_key);
		ca_file = o->ca_file;
		pin = o->trust_fp;
		key_type = o->key_type != NULL ? o->key_type : "p256";
	} else {
		if (stat(o->out_dir, &st) == -1 || !S_ISDIR(st.st_mode))
			return errf(err, errlen, "%s: no such directory (enroll first)",
			    o->out_dir);
		if (agent_recover(o->out_dir, err, errlen) == -1)
			return -1;
		if (!agent_exists(res->cert_path) || !agent_exists(res->key_path) ||
		    !agent_exists(res->ca_path))
			return errf(err, errlen, "%s: no %s, %s and %s here (enroll first)",
			    o->out_dir, AGENT_FILE_CERT, AGENT_FILE_KEY, AGENT_FILE_CA);
		if (agent_exists(res->meta_path) && agent_meta_read(res->meta_path, server,
		    sizeof(server), label, sizeof(label), ktype, sizeof(ktype), err,
		    errlen) == -1)
			return -1;
		if (o->server != NULL)
			snprintf(server, sizeof(server), "%s", o->server);
		if (o->label != NULL)
			snprintf(label, sizeof(label), "%s", o->label);
		if (server[0] == '\0')
			return errf(err, errlen, "no server URL: %s has none, give --server",
			    res->meta_path);
		snprintf(client_cert, sizeof(client_cert), "%s", res->cert_path);
		snprintf(client_key, sizeof(client_key), "%s", res->key_path);
		ca_file = res->ca_path;
		key_type = o->key_type != NULL ? o->key_type : ktype[0] ? ktype : "p256";
		/* the new key stays where the current one is unless asked otherwise */
		if (store == AGENT_KEYSTORE_DEFAULT && tpmkey_ref_kind(res->key_path) ==
		    TPMKEY_FILE)
			store = AGENT_KEYSTORE_TPM;
	}
	if (store == AGENT_KEYSTORE_DEFAULT)
		store = AGENT_KEYSTORE_FILE;
	if (store == AGENT_KEYSTORE_TPM) {
		if (strcmp(key_type, "p256") != 0) {
			errf(err, errlen, "the TPM key store makes P-256 keys only, not %s",
			    key_type);
			goto err;
		}
		if (tpmkey_tcti() == NULL) {
			errf(err, errlen, "the TPM key store needs a TPM, and none is open "
			    "(agent_tpm_prepare)");
			goto err;
		}
	}
	snprintf(res->key_store, sizeof(res->key_store), "%s",
	    store == AGENT_KEYSTORE_TPM ? "tpm" : "file");

	/* The client identity: readable, key matches, subject carries the device serial. */
	if ((idcert = pki_cert_read(client_cert, why, sizeof(why))) == NULL) {
		errf(err, errlen, "%s", why);
		goto err;
	}
	if ((idkey = agent_key_load(client_key, why, sizeof(why))) == NULL) {
		errf(err, errlen, "%s", why);
		goto err;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(idcert), idkey) != 1) {
		errf(err, errlen, "%s does not belong to %s", client_key, client_cert);
		goto err;
	}
	if (pki_name_serial(X509_get_subject_name(idcert), res->device_serial,
	    sizeof(res->device_serial)) == -1) {
		errf(err, errlen, "%s: subject has no serialNumber (not an 802.1AR "
		    "DevID?)", client_cert);
		goto err;
	}
	/* reenroll: the LDevID being replaced, for the deploy hook (hook.h) */
	if (reenroll && pki_cert_serial_hex(idcert, res->old_ldevid_serial,
	    sizeof(res->old_ldevid_serial)) == -1)
		res->old_ldevid_serial[0] = '\0';

	/* the key checked above serves the connection: loaded once (a TPM load, a login) */
	opened = agent_est_open(&e, o, server, label, client_cert, idkey, ca_file, pin, err,
	    errlen) == 0;
	idkey = NULL;		/* the handle's now, even when opening failed */
	if (!opened)
		goto err;
	e_open = 1;
	snprintf(res->server, sizeof(res->server), "%s", e.server);
	/* brski: no CA and no pin: a voucher decides whom to trust (RFC 8995 §5). */
	if (e.voucher && agent_voucher_obtain(&e, o, res, err, errlen) == -1) {
		res->pending = e.pending;
		goto err;
	}

	/* a) cacerts: also the first contact, which authenticates the registrar. */
	cacerts = agent_get_cacerts(&e, err, errlen);
	if (e.nreq > 0 || e.nconn > 0) {
		snprintf(res->tls_version, sizeof(res->tls_version), "%s", e.tls_version);
		snprintf(res->chanbind_type, sizeof(res->chanbind_type), "%s", e.cb_type);
		agent_progress(o->progress, o->progress_arg, AGENT_INFO, "connected to %s (%s, %s channel binding)", e.server,
		    e.tls_version[0] ? e.tls_version : "TLS", e.cb_type);
		if (e.pinned && e.peer != NULL) {
			char fp[PKI_FP_LEN];

			if (pki_cert_fingerprint(e.peer, fp) == 0)
				agent_progress(o->progress, o->progress_arg, AGENT_INFO, "trusting registrar by operator-pinned "
				    "fingerprint %s", fp);
		}
	}
	if (cacerts == NULL)
		goto err;
	res->nca = (size_t)sk_X509_num(cacerts);
	agent_progress(o->progress, o->progress_arg, AGENT_INFO, "got %zu CA certificate%s from cacerts", res->nca,
	    res->nca == 1 ? "" : "s");
	if (e.pinned && agent_check_pinned_issuer(e.peer, cacerts, err, errlen) == -1)
		goto err;

	/* b) csrattrs, informational. */
	if (agent_get_csrattrs(&e, err, errlen) == -1)
		goto err;

	/* c) the new key, d) the request. */
	if (store == AGENT_KEYSTORE_TPM)
		key = tpmkey_new_p256(why, sizeof(why));
	else
		key = pki_key_new(key_type, why, sizeof(why));
	if (key == NULL) {
		errf(err, errlen, "%s", why);
		goto err;
	}
	agent_progress(o->progress, o->progress_arg, AGENT_DEBUG, "generated the new key (%s, %s)", key_type,
	    store == AGENT_KEYSTORE_TPM ? "inside the TPM" : "in memory");
	if ((answer = agent_post_csr(&e, reenroll, key, res->device_serial, err, errlen)) ==
	    NULL) {
		res->pending = e.pending;
		goto err;
	}
	if ((ldevid = agent_find_ldevid(answer, key)) == NULL) {
		errf(err, errlen, "the registrar's answer holds no certificate for our key");
		goto err;
	}
	if (agent_verify_ldevid(ldevid, answer, cacerts, &anchor, err, errlen) == -1)
		goto err;
	if (e.voucher_pin != NULL && agent_voucher_check_ca(e.voucher_pin, anchor, cacerts,
	    err, errlen) == -1)		/* brski */
		goto err;
	if (pki_cert_serial_hex(ldevid, res->ldevid_serial, sizeof(res->ldevid_serial)) == -1 ||
	    agent_time_iso(X509_get0_notAfter(ldevid), res->not_after,
	    sizeof(res->not_after)) == -1 ||
	    pki_cert_fingerprint(anchor, res->ca_fingerprint) == -1) {
		errf(err, errlen, "cannot read the new LDevID");
		goto err;
	}

	/* e) files. */
	if ((meta = agent_meta_json(e.server, label, res, key_type, reenroll, e.peer)) ==
	    NULL) {
		errf(err, errlen, "out of memory");
		goto err;
	}
	if (agent_write_files(o->out_dir, key, ldevid, answer, cacerts, meta, res, err,
	    errlen) == -1)
		goto err;
	rc = 0;
err:
	/* brski: enroll status telemetry once a voucher was accepted (RFC 8995 §5.9.4). */
	if (e_open && e.voucher_pin != NULL) {
		char why2[256];

		snprintf(why2, sizeof(why2), "%s", rc == 0 ? "" : err != NULL ? err : "failed");
		agent_brski_status(&e, "enrollstatus", rc == 0, rc == 0 ? NULL : why2);
	}
	if (e_open)
		agent_est_close(&e);
	free(meta);
	X509_free(anchor);
	sk_X509_pop_free(answer, X509_free);
	sk_X509_pop_free(cacerts, X509_free);
	EVP_PKEY_free(key);
	EVP_PKEY_free(idkey);
	X509_free(idcert);
	ERR_clear_error();
	/* A directory this failed run created holds nothing useful: remove it if empty. */
	if (rc != 0 && made_dir)
		(void)rmdir(o->out_dir);
	return rc;
}

int
agent_enroll(const struct agent_opts *o, struct agent_result *res, char *err, size_t errlen)
{
	return agent_run(o, 0, res, err, errlen);
}

int
agent_reenroll(const struct agent_opts *o, struct agent_result *res, char *err,
    size_t errlen)
{
	return agent_run(o, 1, res, err, errlen);
}

/* ---- confirmation: the first use of a new LDevID ------------------------------------ */

int
agent_confirm_check(const unsigned char *body, size_t len, const char *ldevid_serial,
    char *superseded, size_t slen, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j, *a, *v;
	const char *state, *ser, *reason;
	size_t i, off = 0;
	int rc = -1;

	if (superseded != NULL && slen > 0)
		superseded[0] = '\0';
	if ((j = json_loadb((const char *)body, len, 0, &je)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		return errf(err, errlen, "status: the registrar's answer is not JSON");
	}
	state = json_string_value(json_object_get(j, "state"));
	ser = json_string_value(json_object_get(j, "ldevid_serial"));
	reason = json_string_value(json_object_get(j, "reason"));
	if (ldevid_serial != NULL && (ser == NULL || strcasecmp(ser, ldevid_serial) != 0)) {
		errf(err, errlen, "status: the registrar saw LDevID %.64s, not %.64s",
		    ser != NULL ? ser : "?", ldevid_serial);
		goto out;
	}
	if (state == NULL || strcmp(state, "active") != 0 ||
	    json_is_true(json_object_get(j, "ldevid_revoked"))) {
		errf(err, errlen, "status: the registrar says LDevID %.64s is %.32s%s%.128s",
		    ser != NULL ? ser : "?", state != NULL ? state : "unknown",
		    reason != NULL && *reason != '\0' ? ": " : "", reason != NULL ? reason : "");
		goto out;
	}
	a = json_object_get(j, "superseded");
	json_array_foreach(a, i, v) {
		if (superseded == NULL || !json_is_string(v) || off >= slen)
			continue;
		off += (size_t)snprintf(superseded + off, slen - off, "%s%s", off > 0 ? "," : "",
		    json_string_value(v));	/* truncated at slen - 1, NUL-terminated */
	}
	rc = 0;
out:
	json_decref(j);
	return rc;
}


/*
 * A connection to the registrar of o->out_dir's LDevID (its meta file names the server, or
 * o->server), authenticated by that LDevID, the registrar verified against the domain CA
 * it holds, as for reenroll.
 */
static int
agent_ldevid_open(struct agent_est *e, const struct agent_opts *o, char *err, size_t errlen)
{
	char server[AGENT_URL_MAX], label[AGENT_LABEL_MAX + 1], ktype[32];
	char cert[AGENT_PATH_MAX], key[AGENT_PATH_MAX], ca[AGENT_PATH_MAX], meta[AGENT_PATH_MAX];
	EVP_PKEY *k;

	if (o->out_dir == NULL || *o->out_dir == '\0')
		return errf(err, errlen, "no output directory given");
	if (agent_path(cert, o->out_dir, AGENT_FILE_CERT, "", err, errlen) == -1 ||
	    agent_path(key, o->out_dir, AGENT_FILE_KEY, "", err, errlen) == -1 ||
	    agent_path(ca, o->out_dir, AGENT_FILE_CA, "", err, errlen) == -1 ||
	    agent_path(meta, o->out_dir, AGENT_FILE_META, "", err, errlen) == -1)
		return -1;
	if (agent_meta_read(meta, server, sizeof(server), label, sizeof(label), ktype,
	    sizeof(ktype), err, errlen) == -1)
		return -1;
	if (o->server != NULL)
		snprintf(server, sizeof(server), "%s", o->server);
	if (server[0] == '\0')
		return errf(err, errlen, "no server URL in %s", meta);
	if (o->ldevid_key != NULL && EVP_PKEY_up_ref(o->ldevid_key) == 1)
		k = o->ldevid_key;
	else if ((k = agent_key_load(key, err, errlen)) == NULL)
		return -1;
	return agent_est_open(e, o, server, NULL, cert, k, ca, NULL, err, errlen);
}
int
agent_confirm(const struct agent_opts *o, const char *ldevid_serial, char *superseded,
    size_t slen, char *err, size_t errlen)
{
	struct agent_est e;
	long status = 0;
	int rc = -1;

	if (superseded != NULL && slen > 0)
		superseded[0] = '\0';
	if (agent_ldevid_open(&e, o, err, errlen) == -1)
		return -1;
	if (agent_est_request(&e, AGENT_STATUS_PATH, NULL, 0, 0, &status, err,
	    errlen) == -1)
		goto out;
	if (status != 200) {
		agent_http_err(&e, "status", status, err, errlen);
		goto out;
	}
	if (agent_confirm_check(e.body.p, e.body.len, ldevid_serial, superseded, slen, err,
	    errlen) == -1)
		goto out;
	agent_progress(o->progress, o->progress_arg, AGENT_DEBUG,
	    "registrar confirmed LDevID %s as active", ldevid_serial ? ldevid_serial : "");
	rc = 0;
out:
	agent_est_close(&e);
	return rc;
}

/* ---- network identifiers (kea) ----------------------------------------------------- */

int
agent_report_netids(const struct agent_opts *o, const char *body, size_t len, char *err,
    size_t errlen)
{
	struct agent_est e;
	long status = 0;
	int rc = -1;

	if (agent_ldevid_open(&e, o, err, errlen) == -1)
		return -1;
	if (agent_brski_post(&e, LK_WELL_KNOWN_NETID, "application/json", body, len, &status,
	    err, errlen) == -1)
		goto out;
	if (status != 204 && status != 200) {
		agent_http_err(&e, "netid", status, err, errlen);
		goto out;
	}
	agent_progress(o->progress, o->progress_arg, AGENT_DEBUG, "network identifiers reported: HTTP %ld", status);
	rc = 0;
out:
	agent_est_close(&e);
	return rc;
}

/* ---- any POST with the LDevID (posture, issue #20) ---------------------------------- */

/* agent_ldevid_post() and agent_ldevid_get(): a POST of body, or a GET when body is NULL. */
static int
agent_ldevid_exchange(const struct agent_opts *o, const char *path, const char *ctype,
    const void *body, size_t len, long *status, char **answer, size_t *alen, char *err,
    size_t errlen)
{
	struct agent_est e;
	int rc = -1;

	*answer = NULL;
	*alen = 0;
	if (path == NULL || path[0] != '/')
		return errf(err, errlen, "request path must start with '/'");
	if (agent_ldevid_open(&e, o, err, errlen) == -1)
		return -1;
	if (body != NULL ? agent_brski_post(&e, path, ctype, body, len, status, err,
	    errlen) == -1 : agent_est_request(&e, path, NULL, 0, 1, status, err, errlen) == -1)
		goto out;
	if ((*answer = malloc(e.body.len + 1)) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if (e.body.len > 0)
		memcpy(*answer, e.body.p, e.body.len);
	(*answer)[e.body.len] = '\0';
	*alen = e.body.len;
	rc = 0;
out:
	agent_est_close(&e);
	return rc;
}

int
agent_ldevid_post(const struct agent_opts *o, const char *path, const char *ctype,
    const void *body, size_t len, long *status, char **answer, size_t *alen, char *err,
    size_t errlen)
{
	return agent_ldevid_exchange(o, path, ctype, body != NULL ? body : "", len, status,
	    answer, alen, err, errlen);
}

int
agent_ldevid_get(const struct agent_opts *o, const char *path, long *status, char **answer,
    size_t *alen, char *err, size_t errlen)
{
	return agent_ldevid_exchange(o, path, NULL, NULL, 0, status, answer, alen, err, errlen);
}

void
agent_progress(void (*fn)(void *arg, int level, const char *line), void *arg, int level,
    const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(arg, level, line);
}
