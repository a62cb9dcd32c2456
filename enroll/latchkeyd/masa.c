/* masa: see masa.h. */
#include "enroll/latchkeyd/masa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/idevid.h"
#include "certs/keyref.h"
#include "certs/pki.h"
#include "enroll/common/b64.h"
#include "enroll/latchkeyd/brski.h"
#include "enroll/latchkeyd/est.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/unauth.h"
#include "enroll/store/masadb.h"
#include "enroll/common/voucher.h"

struct masa {
	struct config		 cfg;
	struct idevid_store	*idevids;	/* manufacturer anchors: pledges' signers */
	X509			*cert;		/* voucher signing */
	EVP_PKEY		*key;
	STACK_OF(X509)		*chain;		/* rest of masa-cert's file */
	struct masadb		*db;
	struct unauth_stats	 unauth;	/* refusals before the sender is known */
};

/* One registrar voucher-request, checked as far as the sender and the content go. */
struct masa_req {
	struct voucher	 vr;
	X509		*registrar;	/* signer == TLS client certificate */
	STACK_OF(X509)	*certs;		/* of the CMS */
	char		 registrar_fp[PKI_FP_LEN];
	/* the authorized domain CA the registrar chains to */
	X509		*domain_ca;
	char		 domain_fp[PKI_FP_LEN];
	int		 nsales;
	int		 authed;	/* registrar or pledge authenticated: audit */
};

struct masa *
masa_new(const struct config *cfg, char *err, size_t errlen)
{
	struct masa *m;
	STACK_OF(X509) *all = NULL;
	size_t i;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->cfg = *cfg;
	unauth_init(&m->unauth);
	if ((m->idevids = idevid_store_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	for (i = 0; i < cfg->n_manufacturer_ca; i++)
		if (idevid_store_add_anchor(m->idevids, cfg->manufacturer_ca[i], err, errlen))
			goto err;
	for (i = 0; i < cfg->n_manufacturer_crl; i++)
		if (idevid_store_add_crl(m->idevids, cfg->manufacturer_crl[i], err, errlen))
			goto err;
	if ((all = pki_certs_read(cfg->masa_cert, err, errlen)) == NULL ||
	    (m->key = keyref_load(cfg->masa_key, err, errlen)) == NULL) {
		if (all != NULL && keyref_is_pkcs11(cfg->masa_key) && errlen > 0) {
			char e[512];

			snprintf(e, sizeof(e), "masa-key %s", err);
			snprintf(err, errlen, "%s", e);
		}
		goto err;
	}
	m->cert = sk_X509_shift(all);
	m->chain = all;
	all = NULL;
	if (EVP_PKEY_eq(X509_get0_pubkey(m->cert), m->key) != 1) {
		char what[512];

		keyref_display(cfg->masa_key, what, sizeof(what));
		snprintf(err, errlen, "%.200s does not belong to %.200s", what, cfg->masa_cert);
		goto err;
	}
	if ((m->db = masadb_open(cfg->masa_db, MASADB_CREATE, err, errlen)) == NULL)
		goto err;
	ERR_clear_error();
	return m;
err:
	sk_X509_pop_free(all, X509_free);
	masa_free(m);
	ERR_clear_error();
	return NULL;
}

int
masa_key_probe(struct masa *m, char *err, size_t errlen)
{
	return keyref_probe(m->key, m->cfg.masa_key, "masa-key ", m->cfg.user, err, errlen);
}

void
masa_free(struct masa *m)
{
	if (m == NULL)
		return;
	idevid_store_free(m->idevids);
	X509_free(m->cert);
	EVP_PKEY_free(m->key);
	sk_X509_pop_free(m->chain, X509_free);
	masadb_close(m->db);
	free(m);
}

const struct unauth_stats *
masa_unauth(const struct masa *m)
{
	return &m->unauth;
}

static void
masa_req_clear(struct masa_req *q)
{
	voucher_clear(&q->vr);
	X509_free(q->registrar);
	X509_free(q->domain_ca);
	sk_X509_pop_free(q->certs, X509_free);
	memset(q, 0, sizeof(*q));
}

/*
 * Refuse: log, audit in the MASA database, reply. With kind >= 0 the sender is not
 * authenticated: nothing permanent (DESIGN.md, Trust model), a count, and a log line at
 * most once a second.
 */
static void
masa_refuse(struct masa *m, const struct registrar_peer *peer, const char *action,
    int kind, const char *serial, const char *fp, int status, const char *reason,
    struct registrar_reply *out)
{
	json_t *dj;
	char *details = NULL, err[256];

	if (kind >= 0) {
		unauth_refused(&m->unauth, (enum unauth_kind)kind, "masa", action, peer->addr,
		    reason);
		registrar_reply_text(out, status, "%s", reason);
		return;
	}
	log_warnx("masa: refused %s for %s from %s: %s", action, serial ? serial : "?",
	    peer->addr ? peer->addr : "?", reason);
	dj = json_pack("{s:s, s:s, s:i}", "peer", peer->addr ? peer->addr : "",
	    "registrar", fp ? fp : "", "status", status);
	if (dj != NULL)
		details = json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS);
	if (masadb_audit(m->db, "masa", action, serial ? serial : "", reason, details, err,
	    sizeof(err)))
		log_warnx("masa: audit: %s", err);
	free(details);
	json_decref(dj);
	registrar_reply_text(out, status, "%s", reason);
}

/* Who is refused: audited (-1) once authenticated, else counted as UNAUTH_UNKNOWN. */
#define MASA_WHO(q)	((q)->authed ? -1 : (int)UNAUTH_UNKNOWN)

struct sales_match {
	struct masa_req	*q;
	X509		*cert;		/* the registrar: the TLS client certificate */
	char		 why[256];
};

/* Sales record callback: does the registrar chain to this authorized domain CA? */
static int
sales_cb(const unsigned char *der, size_t len, const char *fp, void *arg)
{
	struct sales_match *sm = arg;
	X509 *ca;

	sm->q->nsales++;
	if ((ca = voucher_cert_from_der(der, len)) == NULL)
		return 0;
	if (voucher_registrar_check(ca, sm->cert, sm->q->certs, sm->why, sizeof(sm->why)) ==
	    0) {
		sm->q->domain_ca = ca;
		snprintf(sm->q->domain_fp, sizeof(sm->q->domain_fp), "%s", fp);
		return 1;
	}
	X509_free(ca);
	return 0;
}

/*
 * RFC 8995 §5.5: open and check a registrar voucher-request. On failure the reply is set
 * (and audited, when the sender is authenticated) and -1 returned.
 *
 * Who sent it decides whether a refusal is audited. The registrar is authenticated when its
 * TLS client certificate chains to a domain CA sold the serial it names (so the sales
 * records are read first), the pledge when its prior-signed-voucher-request verifies under
 * manufacturer-ca. Refusals before either write nothing permanent.
 */
static int
masa_req_open(struct masa *m, const char *action, const char *ctype,
    const unsigned char *body, size_t len, const struct registrar_peer *peer,
    struct masa_req *q, struct registrar_reply *out)
{
	struct voucher pv;
	struct idevid_info info;
	struct sales_match sm;
	enum idevid_status ist;
	X509 *psigner = NULL;
	STACK_OF(X509) *pcerts = NULL;
	unsigned char *rder = NULL;
	size_t rlen = 0, jlen, plen;
	char *json = NULL, *pjson = NULL, err[256], reason[512], dberr[256];
	int rc = -1, r;

	memset(q, 0, sizeof(*q));
	memset(&info, 0, sizeof(info));
	voucher_init(&q->vr, VOUCHER_KIND_REQUEST);
	voucher_init(&pv, VOUCHER_KIND_REQUEST);
	if (!est_media_type_is(ctype, VOUCHER_CT)) {
		registrar_reply_text(out, 415, "expected Content-Type %s", VOUCHER_CT);
		goto out;
	}
	if (peer->cert == NULL) {
		masa_refuse(m, peer, action, UNAUTH_NO_CERT, NULL, NULL, 401, "a registrar TLS "
		    "client certificate is required", out);
		goto out;
	}
	pki_cert_fingerprint(peer->cert, q->registrar_fp);
	if (voucher_cms_open(body, len, NULL, &json, &jlen, &q->registrar, &q->certs, err,
	    sizeof(err)) != VOUCHER_OK) {
		masa_refuse(m, peer, action, MASA_WHO(q), NULL, q->registrar_fp, 400, err, out);
		goto out;
	}
	if (voucher_json_parse(json, jlen, VOUCHER_KIND_REQUEST, &q->vr, err, sizeof(err)) !=
	    VOUCHER_OK) {
		masa_refuse(m, peer, action, MASA_WHO(q), NULL, q->registrar_fp, 400, err, out);
		goto out;
	}
	/* Sales records: an authorized domain CA that the registrar chains to. */
	memset(&sm, 0, sizeof(sm));
	sm.q = q;
	sm.cert = peer->cert;
	if ((r = masadb_sales_foreach(m->db, q->vr.serial, sales_cb, &sm, dberr,
	    sizeof(dberr))) < 0) {
		log_warnx("masa: %s", dberr);
		registrar_reply_text(out, 500, "MASA database unavailable");
		goto out;
	}
	q->authed = q->domain_ca != NULL;
	/* RFC 8995 §5.5.4: the voucher-request comes from the registrar we talk to. */
	if (q->registrar == NULL || X509_cmp(q->registrar, peer->cert) != 0) {
		masa_refuse(m, peer, action, MASA_WHO(q), q->vr.serial, q->registrar_fp, 403,
		    "voucher-request signed by a different key than the TLS client certificate",
		    out);
		goto out;
	}
	/*
	 * Who is a registrar (DESIGN.md "Trust model"; RFC 8995 §5.5, RFC 7030 §3.6.1): its
	 * certificate, the TLS client's and (the same, above) the request's signer, carries
	 * id-kp-cmcRA. An LDevID of the same domain does not, and gets no voucher.
	 */
	if (pki_cert_has_eku(peer->cert, NID_cmcRA) != 1) {
		masa_refuse(m, peer, action, MASA_WHO(q), q->vr.serial, q->registrar_fp, 403,
		    "the registrar's certificate lacks id-kp-cmcRA: not a registrar", out);
		goto out;
	}
	/* RFC 8995 §5.5.5: the pledge's own request, signed by its IDevID. */
	if (q->vr.prior_signed == NULL) {
		if (q->vr.nonce[0] != '\0') {
			masa_refuse(m, peer, action, MASA_WHO(q), q->vr.serial, q->registrar_fp,
			    400, "prior-signed-voucher-request missing", out);
			goto out;
		}
	} else {
		if (voucher_cms_open(q->vr.prior_signed, q->vr.prior_len, NULL, &pjson, &plen,
		    &psigner, &pcerts, err, sizeof(err)) != VOUCHER_OK ||
		    voucher_json_parse(pjson, plen, VOUCHER_KIND_REQUEST, &pv, err,
		    sizeof(err)) != VOUCHER_OK) {
			snprintf(reason, sizeof(reason), "prior-signed-voucher-request: %s", err);
			masa_refuse(m, peer, action, MASA_WHO(q), q->vr.serial, q->registrar_fp,
			    400, reason, out);
			goto out;
		}
		ist = psigner == NULL ? IDEVID_UNKNOWN_ISSUER : idevid_verify(m->idevids,
		    psigner, pcerts, &info, err, sizeof(err));
		if (ist != IDEVID_OK) {
			snprintf(reason, sizeof(reason), "prior-signed-voucher-request is not "
			    "signed by one of our IDevIDs: %s", psigner ? err : "no signer");
			masa_refuse(m, peer, action, MASA_WHO(q), q->vr.serial, q->registrar_fp,
			    403, reason, out);
			goto out;
		}
		q->authed = 1;	/* one of our pledges signed it */
		if (strcmp(info.serial, q->vr.serial) != 0 || strcmp(pv.serial,
		    q->vr.serial) != 0) {
			masa_refuse(m, peer, action, -1, q->vr.serial, q->registrar_fp, 403,
			    "serial-number differs from the pledge's", out);
			goto out;
		}
		if (strcmp(pv.nonce, q->vr.nonce) != 0) {
			masa_refuse(m, peer, action, -1, q->vr.serial, q->registrar_fp, 403,
			    "nonce differs from the pledge's", out);
			goto out;
		}
		/* RFC 8995 §5.5: the pledge names the registrar it is in proximity of. */
		if (pv.proximity_cert == NULL) {
			masa_refuse(m, peer, action, -1, q->vr.serial, q->registrar_fp, 403,
			    "the pledge's voucher-request has no proximity-registrar-cert", out);
			goto out;
		}
		if (voucher_cert_der(q->registrar, &rder, &rlen) == -1 ||
		    rlen != pv.proximity_len || memcmp(rder, pv.proximity_cert, rlen) != 0) {
			masa_refuse(m, peer, action, -1, q->vr.serial, q->registrar_fp, 403,
			    "the pledge's proximity-registrar-cert is not this registrar", out);
			goto out;
		}
	}
	if (q->domain_ca == NULL) {
		if (q->nsales == 0)
			snprintf(reason, sizeof(reason), "no sales record: no domain is "
			    "authorized for serial %s", q->vr.serial);
		else
			snprintf(reason, sizeof(reason), "domain not authorized: the registrar "
			    "is not under a domain CA authorized for serial %s", q->vr.serial);
		masa_refuse(m, peer, action, MASA_WHO(q), q->vr.serial, q->registrar_fp, 403,
		    reason, out);
		goto out;
	}
	rc = 0;
out:
	idevid_info_free(&info);
	voucher_clear(&pv);
	X509_free(psigner);
	sk_X509_pop_free(pcerts, X509_free);
	free(rder);
	free(json);
	free(pjson);
	return rc;
}

static void
masa_requestvoucher(struct masa *m, const char *ctype, const unsigned char *body,
    size_t len, const struct registrar_peer *peer, struct registrar_reply *out)
{
	struct masa_req q;
	struct voucher v;
	struct masadb_voucher rec;
	unsigned char *der = NULL, *ski = NULL;
	size_t derlen = 0, skilen = 0;
	char *json = NULL, *domain_id = NULL, *details = NULL, err[256];
	int r, lk;
	json_t *dj = NULL;
	int64_t now = time(NULL);

	voucher_init(&v, VOUCHER_KIND_VOUCHER);
	if (masa_req_open(m, "voucher-refused", ctype, body, len, peer, &q, out) == -1)
		goto out;
	/* RFC 8366 §5.3 */
	v.created_on = now;
	v.assertion = VOUCHER_ASSERT_LOGGED;
	snprintf(v.serial, sizeof(v.serial), "%s", q.vr.serial);
	snprintf(v.nonce, sizeof(v.nonce), "%s", q.vr.nonce);
	v.revocation_checks = 0;
	if (q.vr.nonce[0] == '\0')	/* nonceless: never perpetual (RFC 8995 §7.2) */
		v.expires_on = now + (int64_t)MASA_NONCELESS_DAYS * 86400;
	if (voucher_set_bytes(&v.idevid_issuer, &v.idevid_issuer_len, q.vr.idevid_issuer,
	    q.vr.idevid_issuer_len) == -1 ||
	    voucher_cert_der(q.domain_ca, &v.pinned_domain_cert, &v.pinned_len) == -1) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	if ((json = voucher_json_build(&v, err, sizeof(err))) == NULL) {
		log_warnx("masa: signing a voucher for %s: %s", v.serial, err);
		registrar_reply_text(out, 500, "cannot sign the voucher");
		goto out;
	}
	lk = keyref_lock(m->key);	/* a key in a token: one process at a time */
	r = voucher_cms_sign(json, strlen(json), m->cert, m->key, m->chain, &der, &derlen, err,
	    sizeof(err));
	keyref_unlock(lk);
	if (r == -1) {
		log_warnx("masa: signing a voucher for %s: %s", v.serial, err);
		registrar_reply_text(out, 500, "cannot sign the voucher");
		goto out;
	}
	if (voucher_cert_ski(q.domain_ca, &ski, &skilen) == 0)
		domain_id = b64_encode(ski, skilen, 0, NULL);
	memset(&rec, 0, sizeof(rec));
	rec.serial = v.serial;
	rec.domain_ca_fp = q.domain_fp;
	rec.domain_id = domain_id;
	rec.registrar_fp = q.registrar_fp;
	rec.nonce = v.nonce[0] ? v.nonce : NULL;
	rec.assertion = voucher_assertion_name(v.assertion);
	rec.issued_at = now;
	rec.expires_on = v.expires_on;
	rec.der = der;
	rec.len = derlen;
	dj = json_pack("{s:s, s:s, s:s, s:b}", "peer", peer->addr ? peer->addr : "",
	    "registrar", q.registrar_fp, "pinned_domain_cert", q.domain_fp, "nonceless",
	    v.nonce[0] == '\0');
	details = dj != NULL ? json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	/* Logged before it is handed out: the "logged" assertion. */
	if (masadb_voucher_add(m->db, &rec, details, err, sizeof(err)) == -1) {
		log_warnx("masa: %s", err);
		registrar_reply_text(out, 500, "MASA database unavailable; no voucher issued");
		goto out;
	}
	log_info("masa: voucher for %s issued to %s (domain CA %s)", v.serial, peer->addr,
	    q.domain_fp);
	brski_reply_body(out, 200, VOUCHER_CT, der, derlen);
out:
	masa_req_clear(&q);
	voucher_clear(&v);
	json_decref(dj);
	free(details);
	free(domain_id);
	free(ski);
	free(der);
	free(json);
}

struct log_acc {
	json_t	*events;
	int	 failed;
};

static int
log_cb(const struct masadb_voucher *v, void *arg)
{
	struct log_acc *a = arg;
	char when[32] = "";
	json_t *e;

	voucher_time_format(v->issued_at, when, sizeof(when));
	/* RFC 8995 §5.8.1 event */
	e = json_pack("{s:s, s:s, s:s?, s:s, s:i}", "date", when, "domainID",
	    v->domain_id ? v->domain_id : "", "nonce", v->nonce, "assertion",
	    v->assertion ? v->assertion : "", "truncated", 0);
	if (e == NULL || json_array_append_new(a->events, e) != 0) {
		a->failed = 1;
		return 1;
	}
	return 0;
}

static void
masa_requestauditlog(struct masa *m, const char *ctype, const unsigned char *body,
    size_t len, const struct registrar_peer *peer, struct registrar_reply *out)
{
	struct masa_req q;
	struct log_acc acc;
	json_t *root = NULL, *dj = NULL;
	char *s = NULL, *details = NULL, err[256];

	memset(&acc, 0, sizeof(acc));
	if (masa_req_open(m, "auditlog-refused", ctype, body, len, peer, &q, out) == -1)
		goto out;
	if ((acc.events = json_array()) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	if (masadb_voucher_foreach(m->db, q.vr.serial, log_cb, &acc, err, sizeof(err)) < 0 ||
	    acc.failed) {
		log_warnx("masa: audit log of %s: %s", q.vr.serial, acc.failed ?
		    "out of memory" : err);
		registrar_reply_text(out, 500, "MASA database unavailable");
		goto out;
	}
	root = json_pack("{s:s, s:O, s:{}}", "version", "1", "events", acc.events,
	    "truncation");
	if (root == NULL || (s = json_dumps(root, JSON_COMPACT)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	if ((dj = json_pack("{s:s, s:s}", "peer", peer->addr ? peer->addr : "", "registrar",
	    q.registrar_fp)) != NULL)
		details = json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS);
	if (masadb_audit(m->db, "masa", "auditlog", q.vr.serial, NULL, details, err,
	    sizeof(err)) == -1)
		log_warnx("masa: audit: %s", err);
	brski_reply_body(out, 200, "application/json", s, strlen(s));
out:
	masa_req_clear(&q);
	json_decref(acc.events);
	json_decref(root);
	json_decref(dj);
	free(details);
	free(s);
}

void
masa_handle(struct masa *m, const char *path, int is_post, const char *content_type,
    const unsigned char *body, size_t len, const struct registrar_peer *peer,
    struct registrar_reply *out)
{
	const char *op;

	memset(out, 0, sizeof(*out));
	if (strncmp(path, BRSKI_WELL_KNOWN, strlen(BRSKI_WELL_KNOWN)) != 0) {
		registrar_reply_text(out, 404, "not found (this is a MASA)");
		return;
	}
	op = path + strlen(BRSKI_WELL_KNOWN);
	if (strcmp(op, "requestvoucher") != 0 && strcmp(op, "requestauditlog") != 0) {
		registrar_reply_text(out, 404, "not found");
		return;
	}
	if (!is_post) {
		registrar_reply_text(out, 405, "method not allowed: use POST");
		return;
	}
	if (op[7] == 'v')
		masa_requestvoucher(m, content_type, body, len, peer, out);
	else
		masa_requestauditlog(m, content_type, body, len, peer, out);
}
