/* brski: see brski.h. */
#include "enroll/latchkeyd/brski.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certs/idevid.h"
#include "certs/pki.h"
#include "enroll/latchkeyd/est.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/unauth.h"
#include "enroll/store/registry.h"
#include "enroll/common/voucher.h"

#define BRSKI_URL_MAX	(CONFIG_URL + 64)

struct brski {
	struct config		 cfg;
	struct idevid_store	*idevids;	/* borrowed from the registrar */
	STACK_OF(X509)		*masa_anchors;	/* masa-ca: MASA TLS and voucher signatures */
	/* Without masa-ca, each manufacturer's own file anchors its MASA: one stack per
	 * manufacturer-ca line, chosen by the anchor that verified the pledge's IDevID. */
	STACK_OF(X509)		*mfr_anchors[CONFIG_LIST];
	char			(*mfr_fps[CONFIG_LIST])[PKI_FP_LEN];	/* their fingerprints */
	size_t			 n_mfr;
	X509			*tls_cert;	/* signs our voucher-requests (RFC 8995 §5.5) */
	EVP_PKEY		*tls_key;
	STACK_OF(X509)		*sign_chain;	/* rest of tls-cert's file, then the domain CA */
	X509			*domain_ca;
	struct registry		*reg;
	struct registrar	*registrar;	/* borrowed: approvals (pending = yes) */
	struct unauth_stats	 unauth;	/* refusals before an IDevID verified */
};

void
brski_reply_body(struct registrar_reply *out, int status, const char *ctype,
    const void *body, size_t len)
{
	free(out->body);
	memset(out, 0, sizeof(*out));
	if (len > 0 && (out->body = malloc(len)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		return;
	}
	if (len > 0)
		memcpy(out->body, body, len);
	out->len = len;
	out->status = status;
	out->ctype = ctype;
}

static int
add_anchors(STACK_OF(X509) *to, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *certs;
	X509 *c;

	if ((certs = pki_certs_read(path, err, errlen)) == NULL)
		return -1;
	while ((c = sk_X509_shift(certs)) != NULL)
		if (!sk_X509_push(to, c)) {
			X509_free(c);
			sk_X509_pop_free(certs, X509_free);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	sk_X509_free(certs);
	return 0;
}

struct brski *
brski_new(const struct config *cfg, struct registrar *reg, char *err, size_t errlen)
{
	struct brski *b;
	STACK_OF(X509) *all = NULL;
	size_t i;
	int j;

	if ((b = calloc(1, sizeof(*b))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->cfg = *cfg;
	b->registrar = reg;
	b->idevids = registrar_idevids(reg);
	unauth_init(&b->unauth);
	if ((b->masa_anchors = sk_X509_new_null()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	for (i = 0; i < cfg->n_masa_ca; i++)
		if (add_anchors(b->masa_anchors, cfg->masa_ca[i], err, errlen))
			goto err;
	for (i = 0; i < cfg->n_manufacturer_ca && i < CONFIG_LIST; i++) {
		if ((b->mfr_anchors[i] = sk_X509_new_null()) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto err;
		}
		b->n_mfr = i + 1;
		if (add_anchors(b->mfr_anchors[i], cfg->manufacturer_ca[i], err, errlen))
			goto err;
		/* Fingerprinted once here, not for every voucher request. */
		if ((b->mfr_fps[i] = calloc((size_t)sk_X509_num(b->mfr_anchors[i]) + 1,
		    PKI_FP_LEN)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto err;
		}
		for (j = 0; j < sk_X509_num(b->mfr_anchors[i]); j++)
			if (pki_cert_fingerprint(sk_X509_value(b->mfr_anchors[i], j),
			    b->mfr_fps[i][j]) == -1) {
				snprintf(err, errlen, "%s: cannot fingerprint an anchor",
				    cfg->manufacturer_ca[i]);
				goto err;
			}
	}
	if ((all = pki_certs_read(cfg->tls_cert, err, errlen)) == NULL ||
	    (b->tls_key = pki_key_read(cfg->tls_key, err, errlen)) == NULL ||
	    (b->domain_ca = pki_cert_read(cfg->ca_cert, err, errlen)) == NULL)
		goto err;
	b->tls_cert = sk_X509_shift(all);
	b->sign_chain = all;
	all = NULL;
	if (!X509_up_ref(b->domain_ca) || !sk_X509_push(b->sign_chain, b->domain_ca)) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	if ((b->reg = registry_open(cfg->registry, cfg->registry_sync_full ? 0 :
	    REGISTRY_FAST, err, errlen)) == NULL)
		goto err;
	ERR_clear_error();
	return b;
err:
	sk_X509_pop_free(all, X509_free);
	brski_free(b);
	ERR_clear_error();
	return NULL;
}

void
brski_free(struct brski *b)
{
	size_t i;

	if (b == NULL)
		return;
	sk_X509_pop_free(b->masa_anchors, X509_free);
	for (i = 0; i < b->n_mfr; i++) {
		sk_X509_pop_free(b->mfr_anchors[i], X509_free);
		free(b->mfr_fps[i]);
	}
	X509_free(b->tls_cert);
	EVP_PKEY_free(b->tls_key);
	sk_X509_pop_free(b->sign_chain, X509_free);
	X509_free(b->domain_ca);
	registry_close(b->reg);
	free(b);
}

const struct unauth_stats *
brski_unauth(const struct brski *b)
{
	return &b->unauth;
}

/* Audit details of a refusal: {"peer": addr, "status": n}, built by jansson. */
static char *
refuse_details(const struct registrar_peer *peer, int status)
{
	json_t *dj;
	char *s;

	if ((dj = json_pack("{s:s, s:i}", "peer", peer->addr ? peer->addr : "", "status",
	    status)) == NULL)
		return NULL;
	s = json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(dj);
	return s;
}

/*
 * Log, audit and reply a refusal to an authenticated pledge (its IDevID verified). The
 * audit row carries details (JSON, NULL: peer and status only); the pledge sees reason.
 */
static void
brski_refuse_detail(struct brski *b, const struct registrar_peer *peer, const char *action,
    const char *serial, int status, const char *reason, const char *details,
    struct registrar_reply *out)
{
	char err[256], *dflt = NULL;

	log_warnx("brski: refused %s for %s from %s: %s", action, serial ? serial : "?",
	    peer->addr ? peer->addr : "?", reason);
	if (details == NULL)
		details = dflt = refuse_details(peer, status);
	if (registry_audit(b->reg, "registrar", action, serial ? serial : "", reason, details,
	    err, sizeof(err)))
		log_warnx("audit: %s", err);
	free(dflt);
	registrar_reply_text(out, status, "%s", reason);
}

static void
brski_refuse(struct brski *b, const struct registrar_peer *peer, const char *action,
    const char *serial, int status, const char *reason, struct registrar_reply *out)
{
	brski_refuse_detail(b, peer, action, serial, status, reason, NULL, out);
}

/*
 * Refuse a request whose sender is not authenticated: nothing permanent (DESIGN.md, Trust
 * model), a count, and a log line at most once a second.
 */
static void
brski_refuse_unauth(struct brski *b, const struct registrar_peer *peer, const char *action,
    enum unauth_kind kind, int status, const char *reason, struct registrar_reply *out)
{
	unauth_refused(&b->unauth, kind, "brski", action, peer->addr, reason);
	registrar_reply_text(out, status, "%s", reason);
}

/* The pledge's IDevID (the TLS client certificate). 0, or -1 with the reply set. */
static int
brski_auth(struct brski *b, const struct registrar_peer *peer, const char *action,
    struct idevid_info *info, struct registrar_reply *out)
{
	enum idevid_status st;
	char err[256];

	if (peer->cert == NULL) {
		brski_refuse_unauth(b, peer, action, UNAUTH_NO_CERT, 401, "an IDevID client "
		    "certificate is required", out);
		return -1;
	}
	st = idevid_verify(b->idevids, peer->cert, peer->chain, info, err, sizeof(err));
	if (st == IDEVID_INTERNAL) {
		log_warnx("brski: IDevID check of %s: %s", peer->addr, err);
		registrar_reply_text(out, 500, "internal error checking the client certificate");
		return -1;
	}
	if (st != IDEVID_OK) {
		brski_refuse_unauth(b, peer, action, UNAUTH_BAD_CERT, 403, err, out);
		return -1;
	}
	return 0;
}

/* ---- the MASA request ------------------------------------------------------------- */

struct brski_buf {
	unsigned char	*p;
	size_t		 len;
	int		 overflow;
};

static size_t
brski_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct brski_buf *buf = arg;
	size_t n = size * nmemb;
	unsigned char *np;

	if (size != 0 && n / size != nmemb)
		return 0;
	if (n > VOUCHER_DER_MAX - buf->len) {
		buf->overflow = 1;
		return 0;
	}
	if ((np = realloc(buf->p, buf->len + n + 1)) == NULL)
		return 0;
	buf->p = np;
	memcpy(buf->p + buf->len, ptr, n);
	buf->len += n;
	buf->p[buf->len] = '\0';
	return n;
}

/*
 * The anchors for the MASA of a device whose IDevID verified under the anchor with
 * fingerprint anchor_fp: masa-ca when configured (the operator's choice, for every
 * manufacturer), else only that manufacturer's own manufacturer-ca file, so that one
 * manufacturer's MASA can never vouch for another's devices. NULL when none matches.
 */
static STACK_OF(X509) *
brski_masa_anchors(struct brski *b, const char *anchor_fp)
{
	size_t i;
	int j;

	if (sk_X509_num(b->masa_anchors) > 0)
		return b->masa_anchors;
	for (i = 0; i < b->n_mfr; i++)
		for (j = 0; j < sk_X509_num(b->mfr_anchors[i]); j++)
			if (strcmp(b->mfr_fps[i][j], anchor_fp) == 0)
				return b->mfr_anchors[i];
	return NULL;
}

/* Only the MASA anchors of this device (arg) verify the MASA's TLS certificate. */
static CURLcode
brski_sslctx_cb(CURL *curl, void *sslctx, void *arg)
{
	STACK_OF(X509) *anchors = arg;
	X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
	int i;

	(void)curl;
	for (i = 0; i < sk_X509_num(anchors); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(anchors, i)) != 1) {
			ERR_clear_error();
			return CURLE_SSL_CERTPROBLEM;
		}
	return CURLE_OK;
}

/*
 * POST the registrar voucher-request to <masa>/.well-known/brski/requestvoucher with our
 * TLS certificate as client certificate. Returns 0 with *status and the body, or -1 (with
 * err) when the MASA could not be reached at all.
 */
static int
brski_masa_post(struct brski *b, STACK_OF(X509) *anchors, const char *masa,
    const unsigned char *req, size_t reqlen, long *status, struct brski_buf *resp, char *err,
    size_t errlen)
{
	char url[BRSKI_URL_MAX], curlerr[CURL_ERROR_SIZE];
	struct curl_slist *h = NULL;
	CURL *c = NULL;
	CURLcode cc;
	int rc = -1, o = 0;

	*status = 0;
	curlerr[0] = '\0';
	if ((size_t)snprintf(url, sizeof(url), "%s%srequestvoucher", masa, BRSKI_WELL_KNOWN) >=
	    sizeof(url)) {
		snprintf(err, errlen, "MASA URL too long");
		return -1;
	}
	if ((c = curl_easy_init()) == NULL ||
	    (h = curl_slist_append(NULL, "Content-Type: " VOUCHER_CT)) == NULL ||
	    curl_slist_append(h, "Accept: " VOUCHER_CT) == NULL ||
	    curl_slist_append(h, "Expect:") == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	o |= curl_easy_setopt(c, CURLOPT_URL, url);
	o |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	o |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curlerr);
	o |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	o |= curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	o |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	o |= curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)b->cfg.masa_timeout);
	o |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)b->cfg.masa_timeout);
	o |= curl_easy_setopt(c, CURLOPT_USERAGENT, "latchkeyd-registrar/1");
	o |= curl_easy_setopt(c, CURLOPT_POST, 1L);
	o |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)req);
	o |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)reqlen);
	o |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	o |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, brski_write_cb);
	o |= curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	o |= curl_easy_setopt(c, CURLOPT_SSLCERT, b->cfg.tls_cert);
	o |= curl_easy_setopt(c, CURLOPT_SSLKEY, b->cfg.tls_key);
	o |= curl_easy_setopt(c, CURLOPT_CAINFO, (char *)NULL);
	o |= curl_easy_setopt(c, CURLOPT_CAPATH, (char *)NULL);
	o |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	o |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	o |= curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, brski_sslctx_cb);
	o |= curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, anchors);
	if (o != 0) {
		snprintf(err, errlen, "libcurl lacks a needed feature");
		goto out;
	}
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		snprintf(err, errlen, "%s", resp->overflow ? "MASA answer too large" :
		    curlerr[0] ? curlerr : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	rc = 0;
out:
	curl_slist_free_all(h);
	if (c != NULL)
		curl_easy_cleanup(c);
	return rc;
}

/* The first line of a text body, printable ASCII only. */
static void
body_line(const struct brski_buf *buf, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < buf->len && buf->p[i] != '\n' && buf->p[i] != '\r' && o + 1 < outlen &&
	    o < 200; i++)
		out[o++] = (buf->p[i] >= ' ' && buf->p[i] < 0x7f) ? (char)buf->p[i] : '?';
	out[o] = '\0';
}

/* ---- requestvoucher (RFC 8995 §5.2, §5.3, §5.5) ---------------------------------- */

static void
brski_requestvoucher(struct brski *b, const char *ctype, const unsigned char *body,
    size_t len, const struct registrar_peer *peer, struct registrar_reply *out,
    unsigned *retry_after)
{
	struct idevid_info info;
	struct voucher pvr, rvr, v;
	struct registry_voucher rec;
	struct brski_buf resp;
	enum voucher_status vst;
	STACK_OF(X509) *anchors;
	X509 *signer = NULL, *pinned = NULL;
	unsigned char *our = NULL, *rder = NULL;
	size_t ourlen = 0, jlen, rderlen = 0;
	char *json = NULL, *rjson = NULL, err[256], reason[512], masa[CONFIG_URL];
	char line[256], *details = NULL, *mdetails = NULL;
	json_t *dj = NULL;
	long status;
	enum registry_verdict verdict;
	int r;

	memset(&info, 0, sizeof(info));
	memset(&resp, 0, sizeof(resp));
	voucher_init(&pvr, VOUCHER_KIND_REQUEST);
	voucher_init(&rvr, VOUCHER_KIND_REQUEST);
	voucher_init(&v, VOUCHER_KIND_VOUCHER);
	if (!est_media_type_is(ctype, VOUCHER_CT)) {
		registrar_reply_text(out, 415, "expected Content-Type %s", VOUCHER_CT);
		goto out;
	}
	if (brski_auth(b, peer, "voucher-refused", &info, out) == -1)
		goto out;
	/* Claimed, for this manufacturer, not bound to another IDevID, not revoked. */
	if (registry_admission(b->reg, info.serial, info.anchor_fp, info.fingerprint,
	    &verdict, reason, sizeof(reason), err, sizeof(err)) == -1) {
		log_warnx("registry: %s", err);
		registrar_reply_text(out, 500, "registry unavailable");
		goto out;
	}
	/* pending = yes: an unclaimed pledge waits for an administrator, as simpleenroll
	 * does; 202 with Retry-After (RFC 8995 §5.6), nothing is sent to the MASA. */
	if (registrar_hold_pending(b->registrar, peer, &info, "voucher-refused", &verdict,
	    reason, sizeof(reason), out))
		goto out;
	if (verdict != REGISTRY_CLAIMED) {
		if (verdict == REGISTRY_UNCLAIMED)
			snprintf(reason, sizeof(reason), "device %s is not claimed by domain "
			    "%.128s", info.serial, b->cfg.domain);
		brski_refuse(b, peer, "voucher-refused", info.serial, 403, reason, out);
		goto out;
	}
	if ((vst = voucher_cms_open(body, len, NULL, &json, &jlen, &signer, NULL, err,
	    sizeof(err))) != VOUCHER_OK) {
		brski_refuse(b, peer, "voucher-refused", info.serial, vst == VOUCHER_INTERNAL ?
		    500 : 400, err, out);
		goto out;
	}
	/* RFC 8995 §5.3: signed by the IDevID the pledge authenticated the TLS session with. */
	if (signer == NULL || X509_cmp(signer, peer->cert) != 0) {
		brski_refuse(b, peer, "voucher-refused", info.serial, 403, "voucher-request "
		    "signed by a different key than the TLS client certificate", out);
		goto out;
	}
	if (voucher_json_parse(json, jlen, VOUCHER_KIND_REQUEST, &pvr, err, sizeof(err)) !=
	    VOUCHER_OK) {
		brski_refuse(b, peer, "voucher-refused", info.serial, 400, err, out);
		goto out;
	}
	if (strcmp(pvr.serial, info.serial) != 0) {
		snprintf(reason, sizeof(reason), "voucher-request serial-number \"%.64s\" is "
		    "not the IDevID's \"%s\"", pvr.serial, info.serial);
		brski_refuse(b, peer, "voucher-refused", info.serial, 403, reason, out);
		goto out;
	}
	if (pvr.nonce[0] == '\0') {
		brski_refuse(b, peer, "voucher-refused", info.serial, 400, "voucher-request "
		    "has no nonce (RFC 8995 5.2)", out);
		goto out;
	}
	if (voucher_cert_der(b->tls_cert, &our, &ourlen) == -1) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	if (pvr.proximity_cert == NULL || pvr.proximity_len != ourlen ||
	    memcmp(pvr.proximity_cert, our, ourlen) != 0) {
		brski_refuse(b, peer, "voucher-refused", info.serial, 403, "proximity-"
		    "registrar-cert is not this registrar's certificate", out);
		goto out;
	}
	/* The MASA: id-pe-masa-url of the IDevID (RFC 8995 §2.3.2), else configured. */
	r = voucher_cert_masa_url(peer->cert, masa, sizeof(masa));
	if (r == -1) {
		brski_refuse(b, peer, "voucher-refused", info.serial, 400, "the IDevID's "
		    "id-pe-masa-url extension is malformed", out);
		goto out;
	}
	if (r == 1) {
		if (b->cfg.masa_url[0] == '\0') {
			brski_refuse(b, peer, "voucher-refused", info.serial, 500, "no MASA "
			    "known for this device (no id-pe-masa-url, no masa-url)", out);
			goto out;
		}
		snprintf(masa, sizeof(masa), "%s", b->cfg.masa_url);
	}
	if ((anchors = brski_masa_anchors(b, info.anchor_fp)) == NULL) {
		brski_refuse(b, peer, "voucher-refused", info.serial, 500, "no MASA trust "
		    "anchor for the manufacturer of this device", out);
		goto out;
	}
	/* RFC 8995 §5.5: our own request, the pledge's as prior-signed-voucher-request. */
	rvr.created_on = time(NULL);
	rvr.assertion = VOUCHER_ASSERT_PROXIMITY;
	snprintf(rvr.serial, sizeof(rvr.serial), "%s", info.serial);
	snprintf(rvr.nonce, sizeof(rvr.nonce), "%s", pvr.nonce);
	if (voucher_cert_aki(peer->cert, &rvr.idevid_issuer, &rvr.idevid_issuer_len) == -1)
		ERR_clear_error();	/* optional leaf */
	if (voucher_set_bytes(&rvr.prior_signed, &rvr.prior_len, body, len) == -1 ||
	    (rjson = voucher_json_build(&rvr, err, sizeof(err))) == NULL ||
	    voucher_cms_sign(rjson, strlen(rjson), b->tls_cert, b->tls_key, b->sign_chain,
	    &rder, &rderlen, err, sizeof(err)) == -1) {
		log_warnx("brski: building the registrar voucher-request: %s", err);
		registrar_reply_text(out, 500, "cannot build the registrar voucher-request");
		goto out;
	}
	if (brski_masa_post(b, anchors, masa, rder, rderlen, &status, &resp, err,
	    sizeof(err)) == -1 ||
	    status >= 500) {
		if (status >= 500) {
			body_line(&resp, line, sizeof(line));
			snprintf(err, sizeof(err), "HTTP %ld: %.200s", status, line);
		}
		/* The detail (libcurl's words, the MASA's) goes to the log and the audit
		 * details, not to the pledge. */
		log_warnx("brski: MASA %s for %s: %s", masa, info.serial, err);
		if ((dj = json_pack("{s:s, s:i, s:s, s:s}", "peer", peer->addr ? peer->addr :
		    "", "status", 503, "masa", masa, "error", err)) != NULL)
			mdetails = json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS);
		brski_refuse_detail(b, peer, "voucher-masa-unavailable", info.serial, 503,
		    "MASA unreachable; retry later", mdetails, out);
		*retry_after = b->cfg.masa_retry_after;
		goto out;
	}
	if (status != 200) {
		body_line(&resp, line, sizeof(line));
		snprintf(reason, sizeof(reason), "MASA refused the voucher: HTTP %ld: %s", status,
		    line);
		brski_refuse(b, peer, "voucher-refused", info.serial, status == 403 ? 403 : 502,
		    reason, out);
		goto out;
	}
	/* Check what we relay: signed under this device's MASA anchors, for this device and
	 * nonce, pinning our domain (RFC 8995 §5.6 lets the registrar verify it). */
	vst = voucher_pledge_verify(resp.p, resp.len, anchors, info.serial, pvr.nonce,
	    time(NULL), &pinned, &v, err, sizeof(err));
	if (vst != VOUCHER_OK) {
		snprintf(reason, sizeof(reason), "the MASA's voucher is not acceptable: %s", err);
		brski_refuse(b, peer, "voucher-refused", info.serial, 502, reason, out);
		goto out;
	}
	if (voucher_registrar_check(pinned, b->tls_cert, b->sign_chain, err, sizeof(err)) ==
	    -1) {
		snprintf(reason, sizeof(reason), "the MASA's voucher pins another domain: %s",
		    err);
		brski_refuse(b, peer, "voucher-refused", info.serial, 502, reason, out);
		goto out;
	}
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.serial, sizeof(rec.serial), "%s", info.serial);
	snprintf(rec.masa_url, sizeof(rec.masa_url), "%s", masa);
	snprintf(rec.nonce, sizeof(rec.nonce), "%s", v.nonce);
	snprintf(rec.assertion, sizeof(rec.assertion), "%s",
	    voucher_assertion_name(v.assertion) ? voucher_assertion_name(v.assertion) : "");
	rec.expires_on = v.expires_on;
	pki_cert_fingerprint(pinned, rec.pinned_fp);
	if ((dj = json_pack("{s:s, s:s, s:s, s:s}", "masa", masa, "pinned_domain_cert",
	    rec.pinned_fp, "assertion", rec.assertion, "peer", peer->addr ? peer->addr :
	    "")) == NULL || (details = json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	/* Durable before the pledge sees it. */
	if (registry_voucher_add(b->reg, &rec, resp.p, resp.len, "registrar", details, NULL,
	    err, sizeof(err)) == -1) {
		log_warnx("registry: voucher for %s: %s", info.serial, err);
		registrar_reply_text(out, 500, "registry unavailable");
		goto out;
	}
	log_info("brski: voucher for %s from %s relayed to %s", info.serial, masa, peer->addr);
	brski_reply_body(out, 200, VOUCHER_CT, resp.p, resp.len);
out:
	idevid_info_free(&info);
	voucher_clear(&pvr);
	voucher_clear(&rvr);
	voucher_clear(&v);
	X509_free(signer);
	X509_free(pinned);
	free(our);
	free(rder);
	free(json);
	free(rjson);
	free(resp.p);
	free(details);
	free(mdetails);
	json_decref(dj);
}

/* ---- status telemetry (RFC 8995 §5.7, §5.9.4) ------------------------------------- */

int
brski_status_parse(const unsigned char *body, size_t len, struct brski_status *st,
    char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *v, *rs, *ctx;
	const char *why = NULL;
	size_t i;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if (len > BRSKI_STATUS_MAX) {
		snprintf(err, errlen, "status larger than %d bytes", BRSKI_STATUS_MAX);
		return -1;
	}
	if ((root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je)) == NULL ||
	    !json_is_object(root) || (v = json_object_get(root, "status")) == NULL ||
	    !json_is_boolean(v)) {
		snprintf(err, errlen, "status telemetry must be a JSON object with a boolean "
		    "\"status\"");
		goto out;
	}
	if ((rs = json_object_get(root, "reason")) != NULL && !json_is_null(rs)) {
		if (!json_is_string(rs)) {
			snprintf(err, errlen, "\"reason\" must be a string");
			goto out;
		}
		why = json_string_value(rs);
	}
	st->ok = json_is_true(v);
	/* Keep the device's words printable and short. */
	snprintf(st->reason, sizeof(st->reason), "%s", why ? why : "");
	for (i = 0; st->reason[i] != '\0'; i++)
		if ((unsigned char)st->reason[i] < ' ' || (unsigned char)st->reason[i] >= 0x7f)
			st->reason[i] = '?';
	if ((ctx = json_object_get(root, "reason-context")) != NULL &&
	    (st->context = json_dumps(ctx, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static void
brski_status(struct brski *b, const char *kind, const char *ctype, const unsigned char *body,
    size_t len, const struct registrar_peer *peer, struct registrar_reply *out)
{
	struct idevid_info info;
	struct brski_status st;
	char err[256], action[32];
	int r;

	memset(&info, 0, sizeof(info));
	memset(&st, 0, sizeof(st));
	snprintf(action, sizeof(action), "%s-status-refused", kind);
	if (!est_media_type_is(ctype, "application/json")) {
		registrar_reply_text(out, 415, "expected Content-Type application/json");
		goto out;
	}
	if (brski_auth(b, peer, action, &info, out) == -1)
		goto out;
	if (len > BRSKI_STATUS_MAX) {
		registrar_reply_text(out, 413, "status larger than %d bytes", BRSKI_STATUS_MAX);
		goto out;
	}
	if (brski_status_parse(body, len, &st, err, sizeof(err)) == -1) {
		brski_refuse(b, peer, action, info.serial, 400, err, out);
		goto out;
	}
	r = registry_voucher_status(b->reg, info.serial, kind, st.ok,
	    st.reason[0] ? st.reason : NULL, "device", st.context, err, sizeof(err));
	if (r < 0) {
		log_warnx("registry: %s status of %s: %s", kind, info.serial, err);
		registrar_reply_text(out, 500, "registry unavailable");
		goto out;
	}
	log_info("brski: %s status of %s: %s%s%s", kind, info.serial, st.ok ?
	    "success" : "failure", st.reason[0] ? ": " : "", st.reason);
	registrar_reply_text(out, 200, "recorded");
out:
	brski_status_free(&st);
	idevid_info_free(&info);
}

void
brski_status_free(struct brski_status *st)
{
	free(st->context);
	st->context = NULL;
}

void
brski_handle(struct brski *b, const char *path, int is_post, const char *content_type,
    const unsigned char *body, size_t len, const struct registrar_peer *peer,
    struct registrar_reply *out, unsigned *retry_after)
{
	const char *op;

	memset(out, 0, sizeof(*out));
	*retry_after = 0;
	if (strncmp(path, BRSKI_WELL_KNOWN, strlen(BRSKI_WELL_KNOWN)) != 0) {
		registrar_reply_text(out, 404, "not found");
		return;
	}
	op = path + strlen(BRSKI_WELL_KNOWN);
	if (strcmp(op, "requestvoucher") != 0 && strcmp(op, "voucher_status") != 0 &&
	    strcmp(op, "enrollstatus") != 0) {
		registrar_reply_text(out, 404, "not found");
		return;
	}
	if (!is_post) {
		registrar_reply_text(out, 405, "method not allowed: use POST");
		return;
	}
	if (strcmp(op, "requestvoucher") == 0)
		brski_requestvoucher(b, content_type, body, len, peer, out, retry_after);
	else if (strcmp(op, "voucher_status") == 0)
		brski_status(b, "voucher", content_type, body, len, peer, out);
	else
		brski_status(b, "enroll", content_type, body, len, peer, out);
}
