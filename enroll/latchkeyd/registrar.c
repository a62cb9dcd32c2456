/* registrar: see registrar.h. */
#include "enroll/latchkeyd/registrar.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/certder.h"
#include "certs/crl.h"
#include "certs/csr.h"
#include "certs/idevid.h"
#include "certs/keyref.h"
#include "certs/ocsp.h"
#include "certs/p7.h"
#include "certs/pki.h"
#include "certs/signer.h"
#include "enroll/common/b64.h"
#include "enroll/common/chanbind.h"
#include "enroll/latchkeyd/log.h"
#include "enroll/latchkeyd/stats.h"
#include "enroll/common/manifest.h"
#include "enroll/common/netid.h"
#include "enroll/common/posture.h"
#include "enroll/common/postpolicy.h"
#include "enroll/latchkeyd/update.h"
#include "enroll/store/registry.h"

#define REGISTRAR_BATCH_MAX	64	/* issued enrollments waiting for one commit */

/* An issued LDevID waiting for the group commit; everything owned here. */
struct pending {
	void		*tag;
	int		 reenroll;
	char		 serial[PKI_SERIAL_MAX];
	char		 idevid_fp[PKI_FP_LEN];
	char		 anchor_fp[PKI_FP_LEN];
	char		 authorized_by[160];
	char		 cert_serial[64];
	char		 addr[80];
	char		*details;
	unsigned char	*cert_der;
	size_t		 cert_len;
	int64_t		 not_before, not_after;
};

/*
 * A simpleenroll whose IDevID verified, waiting for its admission read (PostgreSQL): the
 * registry is asked for every one the event loop's pass parked, in one round trip, when
 * registrar_commit() runs at the pass's end; the rest of the enrollment follows then.
 * Everything owned here: the connection, and the client's certificate with it, may be gone.
 */
struct parked {
	void			*tag;
	struct idevid_info	 info;
	unsigned char		*body;
	size_t			 len;
	char			 addr[80];
	char			 chanbind[CHANBIND_B64MAX];	/* "": the connection had none */
};

/* Enrollments committed together: filled by the event loop, committed by the committer. */
struct batch {
	struct pending		 p[REGISTRAR_BATCH_MAX];
	struct registry_enrollment e[REGISTRAR_BATCH_MAX];
	size_t			 n;
};

/*
 * The committer thread: commits one batch at a time on its own registry connection, so the
 * event loop goes on with handshakes and signing while the sync runs, and whatever it
 * finishes meanwhile makes up the next batch.
 */
struct committer {
	pthread_t		 thr;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct registry		*reg;
	struct batch		*todo;		/* handed over; the committer's until done */
	int			 done;		/* todo is committed, its answers not yet sent */
	int			 stop;
	int			 efd;		/* eventfd, readable when done */
	char			 err[256];
};

/*
 * A domain CA. ca[0] is the current one and issues; a previous one (after latchkeyctl
 * ca-rollover, RFC 7030 §4.1.3) issues nothing, its signer refuses to, and signs the CRL
 * and OCSP answers for its LDevIDs until they expire. Each has its own CRL, listing the
 * certificates the registry records under its key identifier; the oldest CA held also
 * lists those recorded before schema v8 (no key identifier).
 */
#define REGISTRAR_NCA	2
struct domain_ca {
	X509			*cert;
	struct signer		*signer;
	char			 kid[REGISTRY_KID_HEX];	/* key identifier, lower-case hex */
	int			 legacy;
	/* Its CRL: rebuilt when the revoked set changes, at most once a second. */
	unsigned char		*crl_der;
	size_t			 crl_len;
	time_t			 crl_checked, crl_built;
	int64_t			 crl_version;	/* registry data_version seen */
	int64_t			 crl_count, crl_latest;	/* registry_revoked_stamp() of it */
	unsigned char		 crl_digest[32];
};

struct registrar {
	struct config		 cfg;
	struct idevid_store	*idevids;	/* manufacturer anchors + CRLs */
	struct idevid_store	*ldevids;	/* the domain CA(s), for simplereenroll */
	struct domain_ca	 ca[REGISTRAR_NCA];	/* [0] current, [1] previous */
	size_t			 nca;
	struct registry		*reg;
	char			 accept_fp[CONFIG_LIST * 4][PKI_FP_LEN];	/* auto-accept */
	size_t			 n_accept;
	char			*cacerts_b64;	/* precomputed cacerts answer */
	size_t			 cacerts_len;
	struct batch		 bufs[2];
	struct batch		*fill;		/* queued by registrar_handle() */
	struct batch		 solo;		/* one enrollment committed inline */
	struct committer	*com;		/* NULL: registrar_commit() commits inline */
	int			 park_reads;	/* PostgreSQL: admission reads wait for the pass */
	struct parked		 park[REGISTRAR_BATCH_MAX];
	size_t			 npark;
	/* The last audit checkpoint (registrar_checkpoint). */
	int			 ckpt_loaded;
	int64_t			 ckpt_seq;	/* 0: none yet */
	char			 ckpt_head[REGISTRY_HASH_HEX];
	time_t			 ckpt_time;
	int64_t			 ckpt_refused;	/* head seq warned about, not signed */
	struct postpolicy	*policy;	/* posture-policy; NULL: no posture endpoint */
};

#define CRL_NEXT_UPDATE_HOURS	24	/* rebuilt at half of it even without changes */
#define OCSP_NEXT_UPDATE_HOURS	1

static int load_auto_accept(struct registrar *r, char *err, size_t errlen);
static void admit_parked(struct registrar *r, registrar_done_fn *done, void *arg);

void
registrar_reply_text(struct registrar_reply *out, int status, const char *fmt, ...)
{
	va_list ap;
	char buf[512];
	int i, n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	/* One line whatever the peer put into names and serials: no control characters. */
	for (i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[n++] = '\n';
	free(out->body);
	out->status = status;
	out->ctype = NULL;
	out->b64 = 0;
	out->reason = 0;
	out->body = malloc((size_t)n);
	out->len = out->body != NULL ? (size_t)n : 0;
	if (out->body != NULL)
		memcpy(out->body, buf, (size_t)n);
}

/*
 * The registry cannot be read or written right now (a PostgreSQL restart, a lost
 * connection, SQLite busy past its wait): 503 with Retry-After, nothing was issued or
 * recorded, the client comes back (RFC 9110 §15.6.4).
 */
static void
registry_down(struct registrar_reply *out, const char *text)
{
	registrar_reply_text(out, 503, "%s", text);
	out->retry_after = REGISTRAR_RETRY_REGISTRY;
	out->reason = STATS_R_REGISTRY + 1;
}


void
registrar_reply_free(struct registrar_reply *rep)
{
	if (rep == NULL)
		return;
	free(rep->body);
	rep->body = NULL;
	rep->len = 0;
}

/* Load CA i (its certificate, key identifier and signer process: a fork). */
static int
ca_load(struct registrar *r, size_t i, const char *cert, const char *key, char *err,
    size_t errlen)
{
	struct domain_ca *ca = &r->ca[i];
	struct ca_profile prof;

	if ((ca->cert = pki_cert_read(cert, err, errlen)) == NULL)
		return -1;
	if (pki_cert_kid(ca->cert, ca->kid, sizeof(ca->kid)) == -1) {
		snprintf(err, errlen, "%.400s: no key identifier", cert);
		return -1;
	}
	ca->crl_version = -1;
	memset(&prof, 0, sizeof(prof));
	prof.lifetime_days = r->cfg.ldevid_lifetime_days;
	prof.retired = i > 0;
	/* After a rollover the plain crl-url keeps naming the previous CA's CRL, which its
	 * LDevIDs carry; the current CA's carry crl-url/<key id> (handle_crl). */
	if (r->cfg.crl_url[0] != '\0' && r->cfg.prev_ca_cert[0] != '\0' && i == 0) {
		if (snprintf(prof.crl_url, sizeof(prof.crl_url), "%s/%s", r->cfg.crl_url,
		    ca->kid) >= (int)sizeof(prof.crl_url)) {
			snprintf(err, errlen, "crl-url with the CA's key identifier appended "
			    "exceeds %zu bytes", sizeof(prof.crl_url) - 1);
			return -1;
		}
	} else
		snprintf(prof.crl_url, sizeof(prof.crl_url), "%s", r->cfg.crl_url);
	snprintf(prof.ocsp_url, sizeof(prof.ocsp_url), "%s", r->cfg.ocsp_url);
	/* The signer forks here and alone keeps the CA key. */
	if ((ca->signer = signer_start(cert, key, &prof, err, errlen)) == NULL) {
		if (keyref_is_pkcs11(key) && errlen > 0) {	/* name the keyword, as -n does */
			char e[512];

			snprintf(e, sizeof(e), "%s %s", i > 0 ? "previous-ca-key" : "ca-key", err);
			snprintf(err, errlen, "%s", e);
		}
		return -1;
	}
	r->nca = i + 1;
	return 0;
}

/* The cacerts answer: the current CA, the rollover certificates, the previous CA. */
static int
cacerts_make(struct registrar *r, char *err, size_t errlen)
{
	STACK_OF(X509) *roll = NULL;
	X509 *all[REGISTRAR_NCA + 8];
	unsigned char *der = NULL;
	size_t n = 0, derlen, i;
	int rc = -1;

	all[n++] = r->ca[0].cert;
	if (r->cfg.rollover_certs[0] != '\0') {
		if ((roll = pki_certs_read(r->cfg.rollover_certs, err, errlen)) == NULL)
			return -1;
		for (i = 0; i < (size_t)sk_X509_num(roll) && n < REGISTRAR_NCA + 6; i++)
			all[n++] = sk_X509_value(roll, (int)i);
	}
	for (i = 1; i < r->nca; i++)
		all[n++] = r->ca[i].cert;
	if (p7_certs_encode(all, n, &der, &derlen, err, errlen))
		goto out;
	if ((r->cacerts_b64 = b64_encode(der, derlen, 0, &r->cacerts_len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(der);
	sk_X509_pop_free(roll, X509_free);
	return rc;
}

struct registrar *
registrar_new(const struct config *cfg, char *err, size_t errlen)
{
	struct registrar *r;
	size_t i;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	r->fill = &r->bufs[0];
	if ((r->idevids = idevid_store_new()) == NULL ||
	    (r->ldevids = idevid_store_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	for (i = 0; i < cfg->n_manufacturer_ca; i++)
		if (idevid_store_add_anchor(r->idevids, cfg->manufacturer_ca[i], err, errlen))
			goto err;
	for (i = 0; i < cfg->n_manufacturer_crl; i++)
		if (idevid_store_add_crl(r->idevids, cfg->manufacturer_crl[i], err, errlen))
			goto err;
	if (idevid_store_add_anchor(r->ldevids, cfg->ca_cert, err, errlen))
		goto err;
	if (cfg->prev_ca_cert[0] != '\0' &&
	    idevid_store_add_anchor(r->ldevids, cfg->prev_ca_cert, err, errlen))
		goto err;
	if (load_auto_accept(r, err, errlen))
		goto err;
	if (ca_load(r, 0, cfg->ca_cert, cfg->ca_key, err, errlen) == -1 ||
	    (cfg->prev_ca_cert[0] != '\0' && ca_load(r, 1, cfg->prev_ca_cert,
	    cfg->prev_ca_key, err, errlen) == -1))
		goto err;
	if (r->nca > 1 && strcmp(r->ca[0].kid, r->ca[1].kid) == 0) {
		snprintf(err, errlen, "previous-ca-cert %.300s has the key of ca-cert",
		    cfg->prev_ca_cert);
		goto err;
	}
	r->ca[r->nca - 1].legacy = 1;
	if (cacerts_make(r, err, errlen) == -1)
		goto err;
	if ((r->reg = registry_open(cfg->registry,
	    cfg->registry_sync_full ? 0 : REGISTRY_FAST, err, errlen)) == NULL)
		goto err;
	r->park_reads = registry_is_pg(cfg->registry);
	if (cfg->posture_policy[0] != '\0' &&
	    (r->policy = postpolicy_load(cfg->posture_policy, err, errlen)) == NULL)
		goto err;
	return r;
err:
	registrar_free(r);
	return NULL;
}

static void
pending_free(struct pending *p)
{
	free(p->details);
	free(p->cert_der);
	p->details = NULL;
	p->cert_der = NULL;
}

static void committer_stop(struct registrar *r);

void
registrar_free(struct registrar *r)
{
	size_t i, b;

	if (r == NULL)
		return;
	committer_stop(r);
	for (b = 0; b < 2; b++)	/* the caller drains first; this only frees */
		for (i = 0; i < r->bufs[b].n; i++)
			pending_free(&r->bufs[b].p[i]);
	for (i = 0; i < r->npark; i++) {
		free(r->park[i].body);
		idevid_info_free(&r->park[i].info);
	}
	idevid_store_free(r->idevids);
	idevid_store_free(r->ldevids);
	for (i = 0; i < REGISTRAR_NCA; i++) {
		signer_free(r->ca[i].signer);
		X509_free(r->ca[i].cert);
		free(r->ca[i].crl_der);
	}
	registry_close(r->reg);
	postpolicy_free(r->policy);
	free(r->cacerts_b64);
	free(r);
}

struct idevid_store *
registrar_idevids(struct registrar *r)
{
	return r->idevids;
}

int
registrar_signer_lost(struct registrar *r)
{
	size_t i;

	for (i = 0; i < r->nca; i++)
		if (signer_lost(r->ca[i].signer))
			return 1;
	return 0;
}

int
registrar_signer_fd(struct registrar *r, size_t i)
{
	return i < r->nca ? signer_watch_fd(r->ca[i].signer) : -1;
}

/* Record a policy refusal in the audit log (as action) and the daemon log. */
static void
refuse_audit_as(struct registrar *r, const char *action, const struct registrar_peer *peer,
    const char *serial, const char *reason)
{
	json_t *dj;
	char err[256], *details = NULL;

	log_warnx("refused %s from %s: %s", serial, peer->addr ? peer->addr : "?", reason);
	if ((dj = json_pack("{s:s}", "peer", peer->addr ? peer->addr : "")) != NULL)
		details = json_dumps(dj, JSON_COMPACT);
	json_decref(dj);
	if (registry_audit(r->reg, "registrar", action, serial, reason, details, err,
	    sizeof(err)))
		log_warnx("audit: %s", err);
	free(details);
}

static void
refuse_audit(struct registrar *r, const struct registrar_peer *peer, const char *serial,
    const char *reason)
{
	refuse_audit_as(r, "enroll-refused", peer, serial, reason);
}

static int
auto_accepted(const struct registrar *r, const char *anchor_fp)
{
	size_t i;

	for (i = 0; i < r->n_accept; i++)
		if (strcmp(r->accept_fp[i], anchor_fp) == 0)
			return 1;
	return 0;
}

/* auto-accept entries: fingerprints as given, or every certificate of a file. */
static int
load_auto_accept(struct registrar *r, char *err, size_t errlen)
{
	unsigned char raw[32];
	STACK_OF(X509) *certs;
	size_t i;
	int j;

	for (i = 0; i < r->cfg.n_auto_accept; i++) {
		const char *v = r->cfg.auto_accept[i];

		if (strncasecmp(v, "sha256:", 7) == 0) {
			if (pki_fingerprint_parse(v, raw) != 0 ||
			    r->n_accept == sizeof(r->accept_fp) / sizeof(r->accept_fp[0])) {
				snprintf(err, errlen, "auto-accept %.100s: bad fingerprint", v);
				return -1;
			}
			pki_fingerprint_format(raw, r->accept_fp[r->n_accept++]);
			continue;
		}
		if ((certs = pki_certs_read(v, err, errlen)) == NULL)
			return -1;
		for (j = 0; j < sk_X509_num(certs); j++) {
			if (r->n_accept == sizeof(r->accept_fp) / sizeof(r->accept_fp[0]))
				break;
			pki_cert_fingerprint(sk_X509_value(certs, j), r->accept_fp[r->n_accept++]);
		}
		sk_X509_pop_free(certs, X509_free);
	}
	return 0;
}

/*
 * Who is asking: for simpleenroll the IDevID (chain, claim or auto-accept, revoked binding);
 * for simplereenroll a current LDevID of an active binding. On success fills serial,
 * authorized_by, idevid_fp and the hardwareModuleName to copy; else sets the reply.
 */
struct enroll_auth {
	char		 serial[PKI_SERIAL_MAX];
	char		 authorized_by[160];
	char		 idevid_fp[PKI_FP_LEN];
	char		 anchor_fp[PKI_FP_LEN];
	unsigned char	*hwmodule;
	size_t		 hwlen;
};

/* pending = yes: the approvals flow of simpleenroll and requestvoucher; see registrar.h. */
int
registrar_hold_pending(struct registrar *r, const struct registrar_peer *peer,
    const struct idevid_info *info, const char *action, enum registry_verdict *v,
    char *reason, size_t reasonlen, struct registrar_reply *out)
{
	struct registry_pending p;
	char err[256];
	int rc;

	if (*v != REGISTRY_UNCLAIMED || !r->cfg.pending || auto_accepted(r, info->anchor_fp))
		return 0;
	memset(&p, 0, sizeof(p));
	snprintf(p.serial, sizeof(p.serial), "%s", info->serial);
	snprintf(p.anchor_fp, sizeof(p.anchor_fp), "%s", info->anchor_fp);
	snprintf(p.anchor_name, sizeof(p.anchor_name), "%s", info->anchor);
	snprintf(p.idevid_fp, sizeof(p.idevid_fp), "%s", info->fingerprint);
	snprintf(p.peer, sizeof(p.peer), "%s", peer->addr ? peer->addr : "");
	rc = registry_pending_touch(r->reg, &p, "registrar", err, sizeof(err));
	if (rc == 3) {
		if (registry_admission(r->reg, info->serial, info->anchor_fp, info->fingerprint,
		    v, reason, reasonlen, err, sizeof(err)) == 0)
			return 0;
		rc = -1;
	}
	switch (rc) {
	case 0:
		log_info("%s from %s (manufacturer \"%s\") awaits an administrator's approval "
		    "(request %lld)", info->serial, peer->addr ? peer->addr : "?", info->anchor,
		    (long long)p.attempts);
		registrar_reply_text(out, 202, "device %s awaits approval by an administrator "
		    "of domain %.128s; nothing was issued, ask again after %u s", info->serial,
		    r->cfg.domain, r->cfg.pending_retry_after);
		out->retry_after = r->cfg.pending_retry_after;
		out->reason = STATS_R_PENDING + 1;
		return 1;
	case 1:
		snprintf(reason, reasonlen, "denied by an administrator%s%.128s",
		    p.reason[0] != '\0' ? ": " : "", p.reason);
		break;
	case 2:
		snprintf(reason, reasonlen, "device %s awaits approval with another IDevID",
		    info->serial);
		break;
	default:
		log_warnx("registry: %s", err);
		registry_down(out, "registry unavailable");
		return 1;
	}
	refuse_audit_as(r, action, peer, info->serial, reason);
	registrar_reply_text(out, 403, "%s", reason);
	out->reason = STATS_R_NOT_ADMITTED + 1;
	return 1;
}

/* The IDevID itself (path, profile, serial): 0 with info filled, else -1 with out set. */
static int
idevid_check(struct registrar *r, const struct registrar_peer *peer, struct idevid_info *info,
    struct registrar_reply *out)
{
	enum idevid_status st;
	char err[256];

	st = idevid_verify(r->idevids, peer->cert, peer->chain, info, err, sizeof(err));
	if (st == IDEVID_INTERNAL) {
		log_warnx("IDevID check of %s: %s", peer->addr, err);
		registrar_reply_text(out, 500, "internal error checking the client certificate");
		return -1;
	}
	if (st != IDEVID_OK) {
		log_warnx("refused %s from %s: %s", info->serial[0] ? info->serial : "(no serial)",
		    peer->addr, err);
		registrar_reply_text(out, 403, "%s", err);
		out->reason = STATS_R_IDEVID_INVALID + 1;
		return -1;
	}
	return 0;
}

/*
 * The registry's verdict v (reason: why it refuses) on a verified IDevID: 0 with a filled
 * in (the hardwareModuleName moved from info), else -1 with out set.
 * The trust model: a binding belongs to one (manufacturer anchor, IDevID), a claim may
 * name the manufacturer, and a revoked binding holds until an admin re-admits the device
 * (latchkeyctl readmit), against a claim and auto-accept alike.
 */
static int
idevid_admit(struct registrar *r, const struct registrar_peer *peer, struct idevid_info *info,
    enum registry_verdict v, char *reason, size_t reasonlen, struct enroll_auth *a,
    struct registrar_reply *out)
{
	snprintf(a->serial, sizeof(a->serial), "%s", info->serial);
	snprintf(a->idevid_fp, sizeof(a->idevid_fp), "%s", info->fingerprint);
	snprintf(a->anchor_fp, sizeof(a->anchor_fp), "%s", info->anchor_fp);
	if (registrar_hold_pending(r, peer, info, "enroll-refused", &v, reason, reasonlen, out))
		return -1;
	if (v == REGISTRY_CLAIMED) {
		snprintf(a->authorized_by, sizeof(a->authorized_by), "claim");
	} else if (v == REGISTRY_UNCLAIMED && auto_accepted(r, info->anchor_fp)) {
		snprintf(a->authorized_by, sizeof(a->authorized_by), "auto-accept:%.140s",
		    info->anchor);
		log_info("auto-accepting %s by lab policy for manufacturer \"%s\"", info->serial,
		    info->anchor);
	} else {
		if (v == REGISTRY_UNCLAIMED)
			snprintf(reason, reasonlen, "device %s is not claimed by domain %.128s",
			    info->serial, r->cfg.domain);
		refuse_audit(r, peer, info->serial, reason);
		registrar_reply_text(out, 403, "%s", reason);
		out->reason = (v == REGISTRY_UNCLAIMED ? STATS_R_NOT_CLAIMED :
		    STATS_R_NOT_ADMITTED) + 1;
		return -1;
	}
	a->hwmodule = info->hwmodule_der;
	a->hwlen = info->hwmodule_len;
	info->hwmodule_der = NULL;
	return 0;
}

static int
auth_idevid(struct registrar *r, const struct registrar_peer *peer, struct enroll_auth *a,
    struct registrar_reply *out)
{
	struct idevid_info info;
	enum registry_verdict v;
	char err[256], reason[512];
	int rc = -1;

	memset(&info, 0, sizeof(info));
	if (idevid_check(r, peer, &info, out) == -1)
		goto out;
	if (registry_admission(r->reg, info.serial, info.anchor_fp, info.fingerprint, &v,
	    reason, sizeof(reason), err, sizeof(err)) == -1) {
		log_warnx("registry: %s", err);
		registry_down(out, "registry unavailable");
		goto out;
	}
	rc = idevid_admit(r, peer, &info, v, reason, sizeof(reason), a, out);
out:
	idevid_info_free(&info);
	return rc;
}

/*
 * The one check behind every request a device makes with its LDevID (simplereenroll,
 * status, netid): the TLS client certificate is a valid LDevID of this domain, the
 * registry issued it to the device it names, and h->active says whether it belongs to the
 * device's active binding and is unrevoked (h->why says why not). Returns LDEVID_FOUND;
 * LDEVID_UNKNOWN (valid but not issued here: out is 403, h->why the reason) or
 * LDEVID_REFUSED (no or no valid certificate, registry error: out is set). The caller
 * frees h->info with idevid_info_free() whatever the result.
 */
enum ldevid_lookup { LDEVID_FOUND, LDEVID_UNKNOWN, LDEVID_REFUSED };

#define LDEVID_SUPERSEDED_MAX	8	/* superseded serials reported back (status) */

struct ldevid_holder {
	struct idevid_info	info;
	struct registry_cert	cert;
	struct registry_binding	binding;
	int			active;
	char			why[512];
	/* older LDevIDs of the binding this use revoked (ldevid_supersede) */
	struct registry_cert	superseded[LDEVID_SUPERSEDED_MAX];
	size_t			nsuperseded;
};

/*
 * An active LDevID was just used: the older unrevoked LDevIDs of its binding are revoked
 * with reason superseded (registry_cert_supersede; latchkeyd(8), Superseded LDevIDs). Those
 * issued after it never are: an old LDevID used while a newer one exists revokes nothing. A
 * registry failure is logged and the request goes on; the next use tries again. The CRL
 * is rebuilt at its next refresh (our own commit does not move data_version for us).
 */
static void
ldevid_supersede(struct registrar *r, struct ldevid_holder *h)
{
	char err[256], actor[96];
	size_t i;
	int n;

	snprintf(actor, sizeof(actor), "device:%.64s", h->info.serial);
	n = registry_cert_supersede(r->reg, h->info.cert_serial, actor, h->superseded,
	    LDEVID_SUPERSEDED_MAX, err, sizeof(err));
	if (n == -1) {
		log_warnx("registry: superseding the LDevIDs before %s of %s: %s",
		    h->info.cert_serial, h->info.serial, err);
		return;
	}
	if (n == 0)
		return;
	h->nsuperseded = (size_t)n < LDEVID_SUPERSEDED_MAX ? (size_t)n :
	    LDEVID_SUPERSEDED_MAX;
	for (i = 0; i < h->nsuperseded; i++)
		log_info("%s: LDevID %s superseded by %s (first use of the newer): revoked",
		    h->info.serial, h->superseded[i].cert_serial, h->info.cert_serial);
	if ((size_t)n > h->nsuperseded)
		log_info("%s: %zu more LDevIDs superseded by %s", h->info.serial,
		    (size_t)n - h->nsuperseded, h->info.cert_serial);
	for (i = 0; i < r->nca; i++) {
		r->ca[i].crl_checked = 0;
		r->ca[i].crl_version = -1;
	}
}

static enum ldevid_lookup
ldevid_holder_find(struct registrar *r, const struct registrar_peer *peer,
    struct ldevid_holder *h, struct registrar_reply *out)
{
	enum idevid_status st;
	char err[256];
	int found;

	memset(h, 0, sizeof(*h));
	if (peer->cert == NULL) {
		registrar_reply_text(out, 401, "a client certificate (LDevID) is required");
		return LDEVID_REFUSED;
	}
	st = idevid_verify(r->ldevids, peer->cert, peer->chain, &h->info, err, sizeof(err));
	if (st != IDEVID_OK) {
		log_warnx("refused %s: LDevID: %s", peer->addr ? peer->addr : "?", err);
		registrar_reply_text(out, st == IDEVID_INTERNAL ? 500 : 403,
		    "client certificate is not a valid LDevID of domain %s", r->cfg.domain);
		if (st != IDEVID_INTERNAL)
			out->reason = STATS_R_LDEVID_INVALID + 1;
		return LDEVID_REFUSED;
	}
	found = registry_cert_get(r->reg, h->info.cert_serial, &h->cert, err, sizeof(err));
	if (found < 0) {
		log_warnx("registry: %s", err);
		registry_down(out, "registry unavailable");
		return LDEVID_REFUSED;
	}
	if (found == 0 || strcmp(h->cert.device_serial, h->info.serial) != 0) {
		snprintf(h->why, sizeof(h->why), "LDevID %s is not in the registry",
		    h->info.cert_serial);
		registrar_reply_text(out, 403, "%s", h->why);
		out->reason = STATS_R_LDEVID_INVALID + 1;
		return LDEVID_UNKNOWN;
	}
	found = registry_binding_get(r->reg, h->info.serial, &h->binding, err, sizeof(err));
	if (found < 0) {
		log_warnx("registry: %s", err);
		registry_down(out, "registry unavailable");
		return LDEVID_REFUSED;
	}
	h->active = found == 1 && h->binding.id == h->cert.binding_id &&
	    strcmp(h->binding.state, "active") == 0 && h->cert.revoked_at == 0;
	if (!h->active)
		snprintf(h->why, sizeof(h->why), "binding of %s revoked: %s", h->info.serial,
		    found == 1 && h->binding.reason[0] ? h->binding.reason :
		    h->cert.reason[0] ? h->cert.reason : "unspecified");
	if (found == 0)	/* a certificate without a binding row: nothing can make it active */
		snprintf(h->binding.state, sizeof(h->binding.state), "revoked");
	if (h->active)
		ldevid_supersede(r, h);
	return LDEVID_FOUND;
}

/* ldevid_holder_find() for what only an active binding may ask: 0, or -1 answered in out
 * (403 with the reason when the binding is not active). */
static int
ldevid_holder_active(struct registrar *r, const struct registrar_peer *peer,
    struct ldevid_holder *h, struct registrar_reply *out)
{
	if (ldevid_holder_find(r, peer, h, out) != LDEVID_FOUND)
		return -1;
	if (!h->active) {
		registrar_reply_text(out, 403, "%s", h->why);
		return -1;
	}
	return 0;
}

static int
auth_ldevid(struct registrar *r, const struct registrar_peer *peer, struct enroll_auth *a,
    struct registrar_reply *out)
{
	struct ldevid_holder h;
	enum ldevid_lookup lk;
	int rc = -1;

	lk = ldevid_holder_find(r, peer, &h, out);
	if (lk == LDEVID_UNKNOWN) {
		refuse_audit(r, peer, h.info.serial, h.why);
		goto out;
	}
	if (lk != LDEVID_FOUND)
		goto out;
	snprintf(a->serial, sizeof(a->serial), "%s", h.info.serial);
	if (!h.active) {
		refuse_audit(r, peer, h.info.serial, h.why);
		registrar_reply_text(out, 403, "%s", h.why);
		out->reason = STATS_R_REVOKED + 1;
		goto out;
	}
	snprintf(a->authorized_by, sizeof(a->authorized_by), "ldevid:%s",
	    h.info.cert_serial);
	a->hwmodule = h.info.hwmodule_der;
	a->hwlen = h.info.hwmodule_len;
	h.info.hwmodule_der = NULL;
	rc = 0;
out:
	idevid_info_free(&h.info);
	return rc;
}

/* The answer to one issued enrollment once the commit is over: its LDevID, or why not. */
static void
pending_reply(struct registrar *r, const struct pending *p,
    const struct registry_enrollment *e, struct registrar_reply *out)
{
	struct registrar_peer peer;
	unsigned char *p7 = NULL;
	const unsigned char *cert = p->cert_der;
	size_t p7len;

	memset(out, 0, sizeof(*out));
	if (!e->committed) {
		if (e->refused) {
			/* Revoked, unclaimed or bound to another IDevID between the check and
			 * the commit (registry_admission() in the transaction): nothing issued. */
			memset(&peer, 0, sizeof(peer));
			peer.addr = p->addr;
			refuse_audit(r, &peer, p->serial, e->err);
			registrar_reply_text(out, 403, "%s while enrolling; nothing was issued",
			    strncmp(e->err, "registry: ", 10) == 0 ? e->err + 10 : e->err);
			out->reason = STATS_R_NOT_ADMITTED + 1;
		} else {
			log_warnx("registry: enrolling %s: %s", p->serial, e->err);
			registry_down(out, "registry unavailable; nothing was issued");
		}
		return;
	}
	if (certder_p7_certs(&cert, &p->cert_len, 1, &p7, &p7len) ||
	    (out->body = b64_encode(p7, p7len, 0, &out->len)) == NULL) {
		log_warnx("encoding the reply for %s failed", p->serial);
		registrar_reply_text(out, 500, "internal error");
		free(p7);
		return;
	}
	free(p7);
	out->status = 200;
	out->ctype = EST_CT_CERTS;
	out->b64 = 1;
	log_info("%s %s from %s: LDevID %s (binding %lld, %s)",
	    p->reenroll ? "reenrolled" : "enrolled", p->serial, p->addr, p->cert_serial,
	    (long long)e->binding_id, p->authorized_by);
}

/* The registry view of a batch's enrollments. */
static void
batch_prepare(struct registrar *r, struct batch *b)
{
	struct registry_enrollment *e = b->e;
	struct pending *p = b->p;
	size_t i;

	memset(e, 0, b->n * sizeof(e[0]));
	for (i = 0; i < b->n; i++) {
		e[i].device_serial = p[i].serial;
		e[i].domain = r->cfg.domain;
		e[i].idevid_fp = p[i].reenroll ? NULL : p[i].idevid_fp;
		e[i].anchor_fp = p[i].reenroll ? NULL : p[i].anchor_fp;
		e[i].authorized_by = p[i].authorized_by;
		e[i].require_claim = strcmp(p[i].authorized_by, "claim") == 0;
		e[i].cert_serial = p[i].cert_serial;
		e[i].not_before = p[i].not_before;
		e[i].not_after = p[i].not_after;
		e[i].cert_der = p[i].cert_der;
		e[i].ca_kid = r->ca[0].kid;
		e[i].cert_len = p[i].cert_len;
		e[i].actor = "registrar";
		e[i].action = p[i].reenroll ? "reenroll" : "enroll";
		e[i].details = p[i].details;
	}
}

/* After the commit: answer each enrollment of b through done(tag), or into *single. */
static void
batch_answer(struct registrar *r, struct batch *b, registrar_done_fn *done, void *arg,
    struct registrar_reply *single)
{
	struct registrar_reply rep;
	size_t i;

	for (i = 0; i < b->n; i++) {
		pending_reply(r, &b->p[i], &b->e[i], done != NULL ? &rep : single);
		if (done != NULL) {
			done(b->p[i].tag, &rep, arg);
			registrar_reply_free(&rep);
		}
		pending_free(&b->p[i]);
	}
	b->n = 0;
}

/* Commit b on reg in this thread, then answer it. */
static void
batch_commit_now(struct registrar *r, struct registry *reg, struct batch *b,
    registrar_done_fn *done, void *arg, struct registrar_reply *single)
{
	char err[256];

	batch_prepare(r, b);
	if (registry_enroll_commit_many(reg, b->e, b->n, err, sizeof(err)) == -1 && b->n > 1)
		log_warnx("registry: committing %zu enrollments: %s", b->n, err);
	batch_answer(r, b, done, arg, single);
}

static void *
committer_main(void *arg)
{
	struct registrar *r = arg;
	struct committer *c = r->com;
	struct batch *b;
	uint64_t one = 1;
	ssize_t w;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->stop && (c->todo == NULL || c->done))
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->todo == NULL || c->done)
			break;		/* stop, nothing left */
		b = c->todo;
		pthread_mutex_unlock(&c->mu);
		c->err[0] = '\0';
		if (registry_enroll_commit_many(c->reg, b->e, b->n, c->err, sizeof(c->err)) !=
		    -1)
			c->err[0] = '\0';
		pthread_mutex_lock(&c->mu);
		c->done = 1;
		/* Cannot fail: the counter is read back before it could overflow. */
		w = write(c->efd, &one, sizeof(one));
		(void)w;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
registrar_committer_start(struct registrar *r, char *err, size_t errlen)
{
	struct committer *c;
	int e;

	if (r->com != NULL)
		return r->com->efd;
	/*
	 * registry-sync = normal on SQLite: the commit writes the WAL and syncs nothing, some
	 * tens of microseconds, less than handing it to a thread and being woken for its
	 * answers (measured: 8 clients 6 % more enrollments/s, one client's p50 0.3 ms lower).
	 * It runs on the event loop's own connection, between two passes of the loop, so what
	 * the loop finished meanwhile still commits together. PostgreSQL's commit is a round
	 * trip to the server: it keeps the thread.
	 */
	if (!r->cfg.registry_sync_full && !registry_is_pg(r->cfg.registry))
		return REGISTRAR_COMMIT_INLINE;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "committer: out of memory");
		return -1;
	}
	c->efd = -1;
	if ((c->reg = registry_open(r->cfg.registry, r->cfg.registry_sync_full ? 0 :
	    REGISTRY_FAST, err, errlen)) == NULL)
		goto fail;
	if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "committer: eventfd: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	r->com = c;
	if ((e = pthread_create(&c->thr, NULL, committer_main, r)) != 0) {
		snprintf(err, errlen, "committer: pthread_create: %s", strerror(e));
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		r->com = NULL;
		goto fail;
	}
	return c->efd;
fail:
	if (c->efd != -1)
		close(c->efd);
	registry_close(c->reg);
	free(c);
	return -1;
}

/* Send the answers of a batch the committer finished; how many. */
static size_t
committer_reap(struct registrar *r, registrar_done_fn *done, void *arg)
{
	struct committer *c = r->com;
	struct batch *b = NULL;
	uint64_t v;
	size_t n;

	pthread_mutex_lock(&c->mu);
	if (c->done) {
		b = c->todo;
		c->todo = NULL;
		c->done = 0;
	}
	pthread_mutex_unlock(&c->mu);
	if (read(c->efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		log_warn("committer: eventfd");
	if (b == NULL)
		return 0;
	n = b->n;
	if (c->err[0] != '\0' && n > 1)
		log_warnx("registry: committing %zu enrollments: %s", n, c->err);
	batch_answer(r, b, done, arg, NULL);
	return n;
}

/* Hand the filled batch to an idle committer. */
static void
committer_hand(struct registrar *r)
{
	struct committer *c = r->com;
	struct batch *b = r->fill;

	if (b->n == 0)
		return;
	pthread_mutex_lock(&c->mu);
	if (c->todo == NULL) {
		batch_prepare(r, b);
		c->todo = b;
		r->fill = b == &r->bufs[0] ? &r->bufs[1] : &r->bufs[0];
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

static void
committer_stop(struct registrar *r)
{
	struct committer *c = r->com;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thr, NULL);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	close(c->efd);
	registry_close(c->reg);
	free(c);
	r->com = NULL;
}

size_t
registrar_commit(struct registrar *r, registrar_done_fn *done, void *arg)
{
	size_t n = 0;

	admit_parked(r, done, arg);

	if (r->com == NULL) {
		n = r->fill->n;
		if (n > 0)
			batch_commit_now(r, r->reg, r->fill, done, arg, NULL);
		return n;
	}
	n = committer_reap(r, done, arg);
	committer_hand(r);
	return n;
}

void
registrar_drain(struct registrar *r, registrar_done_fn *done, void *arg)
{
	struct committer *c = r->com;

	admit_parked(r, done, arg);
	if (c != NULL) {
		pthread_mutex_lock(&c->mu);
		while (c->todo != NULL && !c->done)
			pthread_cond_wait(&c->cv, &c->mu);
		pthread_mutex_unlock(&c->mu);
		committer_reap(r, done, arg);
	}
	if (r->fill->n > 0)
		batch_commit_now(r, r->reg, r->fill, done, arg, NULL);
}

size_t
registrar_pending(const struct registrar *r)
{
	/* park, fill and todo change only on the event loop's thread, the caller's */
	return r->npark + r->fill->n + (r->com != NULL && r->com->todo != NULL ?
	    r->com->todo->n : 0);
}

/*
 * The rest of an enrollment whose client the registry admitted (a): the CSR, checked
 * against the connection (peer's chanbind) and the certificate's serial, the LDevID signed,
 * then queued for the group commit (tag) or committed now. out is set unless queued.
 */
static void
enroll_issue(struct registrar *r, int reenroll, const unsigned char *body, size_t len,
    const struct registrar_peer *peer, void *tag, struct enroll_auth *a,
    struct registrar_reply *out)
{
	struct csr_info csr;
	struct pending *p;
	enum csr_status cs;
	unsigned char *der = NULL, *cert_der = NULL;
	size_t derlen, cert_len = 0;
	int64_t not_before = 0, not_after = 0;
	char err[256], reason[512], cert_serial[64];
	char *details = NULL;
	json_t *dj = NULL;

	memset(&csr, 0, sizeof(csr));
	if ((der = b64_decode((const char *)body, len, &derlen, err, sizeof(err))) == NULL) {
		log_warnx("refused %s from %s: body: %s", a->serial, peer->addr, err);
		registrar_reply_text(out, 400, "body is not base64: %s", err);
		goto out;
	}
	if ((cs = csr_check(der, derlen, &csr, err, sizeof(err))) != CSR_OK) {
		log_warnx("refused %s from %s: CSR: %s", a->serial, peer->addr, err);
		registrar_reply_text(out, cs == CSR_INTERNAL ? 500 : 400, "bad CSR: %s", err);
		goto out;
	}
	/* RFC 7030 §3.5: the CSR proves it was made for this TLS connection. */
	if (csr.has_challenge) {
		if (peer->chanbind == NULL ||
		    strlen(peer->chanbind) != strlen(csr.challenge) ||
		    CRYPTO_memcmp(peer->chanbind, csr.challenge, strlen(csr.challenge)) != 0) {
			snprintf(reason, sizeof(reason),
			    "channel binding in the CSR does not match this TLS connection");
			refuse_audit(r, peer, a->serial, reason);
			registrar_reply_text(out, 403, "%s", reason);
			out->reason = STATS_R_CHANNEL_BINDING + 1;
			goto out;
		}
	} else if (r->cfg.channel_binding_required) {
		snprintf(reason, sizeof(reason), "channel binding missing: the CSR's "
		    "challengePassword must carry this connection's binding (RFC 7030 3.5)");
		refuse_audit(r, peer, a->serial, reason);
		registrar_reply_text(out, 403, "%s", reason);
		out->reason = STATS_R_CHANNEL_BINDING + 1;
		goto out;
	}
	if (strcmp(csr.serial, a->serial) != 0) {
		snprintf(reason, sizeof(reason), "CSR subject serialNumber \"%.64s\" does not "
		    "match the certificate's serial \"%s\"", csr.serial, a->serial);
		refuse_audit(r, peer, a->serial, reason);
		registrar_reply_text(out, 403, "%s", reason);
		out->reason = STATS_R_SERIAL_MISMATCH + 1;
		goto out;
	}

	if (signer_issue(r->ca[0].signer, a->serial, csr.spki_der, csr.spki_len, a->hwmodule,
	    a->hwlen, &cert_der, &cert_len, err, sizeof(err))) {
		log_warnx("signer: %s: %s", a->serial, err);
		if (signer_lost(r->ca[0].signer)) {	/* nothing issued; the worker is replaced */
			registrar_reply_text(out, 503, "the CA is restarting; nothing was issued, "
			    "try again in a few seconds");
			out->retry_after = REGISTRAR_RETRY_SIGNER_LOST;
		} else
			registrar_reply_text(out, 500, "the CA could not issue the certificate");
		out->reason = STATS_R_SIGNER + 1;
		goto out;
	}
	/* Our own signer's output: read serial and dates without a full X509 parse. */
	if (certder_info(cert_der, cert_len, cert_serial, sizeof(cert_serial), &not_before,
	    &not_after)) {
		log_warnx("signer returned an unreadable certificate for %s", a->serial);
		registrar_reply_text(out, 500, "the CA could not issue the certificate");
		goto out;
	}

	dj = json_pack("{s:s, s:s, s:s, s:s, s:s}", "ldevid_serial", cert_serial, "key",
	    csr.key_desc, "peer", peer->addr ? peer->addr : "", "authorized_by", a->authorized_by,
	    "channel_binding", csr.has_challenge ? "verified" : "absent (policy optional)");
	details = dj != NULL ? json_dumps(dj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	/* Durable before the device hears of it: queued for the group commit, or now. */
	if (tag != NULL && r->fill->n < REGISTRAR_BATCH_MAX) {
		p = &r->fill->p[r->fill->n];
	} else {
		r->solo.n = 0;
		p = &r->solo.p[0];
	}
	memset(p, 0, sizeof(*p));
	p->tag = tag;
	p->reenroll = reenroll;
	snprintf(p->serial, sizeof(p->serial), "%s", a->serial);
	snprintf(p->idevid_fp, sizeof(p->idevid_fp), "%s", a->idevid_fp);
	snprintf(p->anchor_fp, sizeof(p->anchor_fp), "%s", a->anchor_fp);
	snprintf(p->authorized_by, sizeof(p->authorized_by), "%s", a->authorized_by);
	snprintf(p->cert_serial, sizeof(p->cert_serial), "%s", cert_serial);
	snprintf(p->addr, sizeof(p->addr), "%s", peer->addr ? peer->addr : "?");
	p->details = details;
	p->cert_der = cert_der;
	p->cert_len = cert_len;
	p->not_before = not_before;
	p->not_after = not_after;
	details = NULL;
	cert_der = NULL;
	if (p == &r->solo.p[0]) {
		r->solo.n = 1;
		batch_commit_now(r, r->reg, &r->solo, NULL, NULL, out);
	} else
		r->fill->n++;		/* out->status stays 0: answered by registrar_commit() */
out:
	free(details);
	json_decref(dj);
	free(cert_der);
	free(der);
	csr_info_free(&csr);
}

/* Park a simpleenroll for registrar_commit()'s admission read: 1 parked, 0 not (no room,
 * out of memory: go on now), -1 refused (its IDevID; out is set). */
static int
park(struct registrar *r, const unsigned char *body, size_t len,
    const struct registrar_peer *peer, void *tag, struct registrar_reply *out)
{
	struct parked *p;

	if (r->npark == REGISTRAR_BATCH_MAX)
		return 0;
	p = &r->park[r->npark];
	memset(p, 0, sizeof(*p));
	if (idevid_check(r, peer, &p->info, out) == -1) {
		idevid_info_free(&p->info);
		return -1;
	}
	if ((p->body = malloc(len > 0 ? len : 1)) == NULL) {
		idevid_info_free(&p->info);
		return 0;
	}
	memcpy(p->body, body, len);
	p->len = len;
	p->tag = tag;
	snprintf(p->addr, sizeof(p->addr), "%s", peer->addr != NULL ? peer->addr : "?");
	if (peer->chanbind != NULL)
		snprintf(p->chanbind, sizeof(p->chanbind), "%s", peer->chanbind);
	r->npark++;
	return 1;
}

/*
 * The parked enrollments' admission, read for all at once (one round trip on PostgreSQL),
 * then each goes on as handle_enroll would have: refused ones are answered through done
 * now, admitted ones signed and queued for the commit that follows.
 */
static void
admit_parked(struct registrar *r, registrar_done_fn *done, void *arg)
{
	struct registry_admit adm[REGISTRAR_BATCH_MAX];
	struct registrar_reply out;
	struct registrar_peer peer;
	struct enroll_auth a;
	struct parked *p;
	char err[256];
	size_t i, n = r->npark;
	int down;

	if (n == 0)
		return;
	r->npark = 0;
	for (i = 0; i < n; i++) {
		adm[i].serial = r->park[i].info.serial;
		adm[i].anchor_fp = r->park[i].info.anchor_fp;
		adm[i].idevid_fp = r->park[i].info.fingerprint;
	}
	if ((down = registry_admission_many(r->reg, adm, n, err, sizeof(err)) == -1))
		log_warnx("registry: %s", err);
	for (i = 0; i < n; i++) {
		p = &r->park[i];
		memset(&out, 0, sizeof(out));
		memset(&a, 0, sizeof(a));
		memset(&peer, 0, sizeof(peer));
		peer.addr = p->addr;
		peer.chanbind = p->chanbind[0] != '\0' ? p->chanbind : NULL;
		if (down)
			registry_down(&out, "registry unavailable");
		else if (idevid_admit(r, &peer, &p->info, adm[i].verdict, adm[i].reason,
		    sizeof(adm[i].reason), &a, &out) == 0)
			enroll_issue(r, 0, p->body, p->len, &peer, p->tag, &a, &out);
		if (out.status != 0 && done != NULL)
			done(p->tag, &out, arg);
		registrar_reply_free(&out);
		free(a.hwmodule);
		free(p->body);
		idevid_info_free(&p->info);
	}
}

static void
handle_enroll(struct registrar *r, int reenroll, const char *ctype,
    const unsigned char *body, size_t len, const struct registrar_peer *peer, void *tag,
    struct registrar_reply *out)
{
	struct enroll_auth a;

	memset(&a, 0, sizeof(a));
	if (!est_media_type_is(ctype, EST_CT_PKCS10)) {
		registrar_reply_text(out, 415, "expected Content-Type %s", EST_CT_PKCS10);
		return;
	}
	if (peer->cert == NULL) {
		log_warnx("refused %s from %s: no client certificate",
		    reenroll ? "reenroll" : "enroll", peer->addr);
		registrar_reply_text(out, 401, "a client certificate (%s) is required",
		    reenroll ? "LDevID" : "IDevID");
		return;
	}
	/* PostgreSQL: the registry is asked at the pass's end, for all parked together */
	if (!reenroll && tag != NULL && r->park_reads &&
	    park(r, body, len, peer, tag, out) != 0)
		return;		/* parked (out->status 0), or refused */
	if ((reenroll ? auth_ldevid : auth_idevid)(r, peer, &a, out) == 0)
		enroll_issue(r, reenroll, body, len, peer, tag, &a, out);
	free(a.hwmodule);
}

/* Revoked certificates, gathered for the CRL. */
struct crl_collect {
	const struct domain_ca	*ca;
	struct crl_entry	*e;
	size_t			 n, cap;
	int			 oom;
};

static int
collect_cert(const struct registry_cert *rc, void *arg)
{
	struct crl_collect *c = arg;
	struct crl_entry *ne;

	if (rc->revoked_at == 0)
		return 0;
	/* its own, and the unmarked ones of before schema v8 in the oldest CA's */
	if (rc->ca_kid[0] != '\0' ? strcmp(rc->ca_kid, c->ca->kid) != 0 : !c->ca->legacy)
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		if ((ne = realloc(c->e, c->cap * sizeof(*ne))) == NULL) {
			c->oom = 1;
			return 1;
		}
		c->e = ne;
	}
	snprintf(c->e[c->n].serial_hex, sizeof(c->e[c->n].serial_hex), "%s", rc->cert_serial);
	c->e[c->n].revoked_at = rc->revoked_at;
	c->e[c->n].reason = crl_reason_from_name(rc->reason);
	if (c->e[c->n].reason < 0)
		c->e[c->n].reason = CRL_RC_NONE;
	c->n++;
	return 0;
}

/*
 * Bring the CRL up to date: at most one registry scan a second; a new CRL is signed when the
 * revoked set changed or half of nextUpdate has passed. Returns 1 when a new CRL was made,
 * 0 when the current one stands, -1 with err.
 */
static int
crl_refresh(struct registrar *r, struct domain_ca *ca, char *err, size_t errlen)
{
	struct crl_collect c;
	unsigned char digest[32], *der = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	int64_t version, count, latest;
	int rc = -1;

	if (ca->crl_der != NULL && now == ca->crl_checked)
		return 0;
	/* Only another connection can revoke: nothing committed elsewhere, nothing new. */
	if (registry_data_version(r->reg, &version, err, errlen) == -1)
		return -1;
	if (ca->crl_der != NULL && version == ca->crl_version &&
	    now - ca->crl_built < CRL_NEXT_UPDATE_HOURS * 3600 / 2) {
		ca->crl_checked = now;
		return 0;
	}
	/* Most commits are enrollments: look at the revoked set's stamp before reading it. */
	if (registry_revoked_stamp(r->reg, &count, &latest, err, errlen) == -1)
		return -1;
	if (ca->crl_der != NULL && count == ca->crl_count && latest == ca->crl_latest &&
	    now - ca->crl_built < CRL_NEXT_UPDATE_HOURS * 3600 / 2) {
		ca->crl_version = version;
		ca->crl_checked = now;
		return 0;
	}
	memset(&c, 0, sizeof(c));
	c.ca = ca;
	if (registry_revoked_foreach(r->reg, collect_cert, &c, err, errlen) < 0)
		goto out;
	ca->crl_version = version;
	ca->crl_count = count;
	ca->crl_latest = latest;
	if (c.oom) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* The fields as encoded for the signer, never the structs (their padding and the
	 * bytes after the serial's NUL come uninitialized from realloc). */
	if (crl_entries_digest(c.e, c.n, digest) == -1) {
		snprintf(err, errlen, "cannot digest the revoked set");
		goto out;
	}
	ca->crl_checked = now;
	if (ca->crl_der != NULL && memcmp(digest, ca->crl_digest, sizeof(digest)) == 0 &&
	    now - ca->crl_built < CRL_NEXT_UPDATE_HOURS * 3600 / 2) {
		rc = 0;
		goto out;
	}
	/* crlNumber: milliseconds, monotonic enough across restarts and workers */
	if (signer_crl(ca->signer, c.e, c.n, (uint64_t)now * 1000 + (uint64_t)(clock() % 1000),
	    now, CRL_NEXT_UPDATE_HOURS, &der, &len, err, errlen) == -1)
		goto out;
	free(ca->crl_der);
	ca->crl_der = der;
	ca->crl_len = len;
	ca->crl_built = now;
	memcpy(ca->crl_digest, digest, sizeof(digest));
	rc = 1;
out:
	free(c.e);
	return rc;
}

int
registrar_crl_publish(struct registrar *r, const char *path, const char *prev_path,
    char *err, size_t errlen)
{
	const char *paths[REGISTRAR_NCA] = { path, prev_path };
	size_t i;
	int rc, ret = 0;

	for (i = 0; i < r->nca; i++) {
		if ((rc = crl_refresh(r, &r->ca[i], err, errlen)) == -1)
			return -1;
		if (rc == 1 && paths[i] != NULL && paths[i][0] != '\0') {
			if (pki_file_write(paths[i], r->ca[i].crl_der, r->ca[i].crl_len, 0644,
			    1, err, errlen) == -1)
				return -1;
			ret = 1;
		}
	}
	return ret;
}

/* hex (64 digits) to 32 bytes; -1 when not hex. */
static int
hex32(const char *hex, unsigned char out[32])
{
	int i, hi, lo;

	for (i = 0; i < 32; i++) {
		if ((hi = pki_hexval(hex[2 * i])) < 0 || (lo = pki_hexval(hex[2 * i + 1])) < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return hex[64] == '\0' ? 0 : -1;
}

/* The newest checkpoint line in the last 8 KiB of file into cp; 1 found, 0 none. */
static int
ckpt_file_last(const char *file, struct signer_checkpoint *cp)
{
	unsigned char sig[SIGNER_CKPT_SIG_MAX];
	char buf[8192 + 1], *line, *save = NULL;
	struct signer_checkpoint one;
	size_t siglen;
	off_t end;
	ssize_t n;
	int fd, found = 0;

	if (file == NULL || file[0] == '\0' ||
	    (fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	if ((end = lseek(fd, 0, SEEK_END)) == -1 ||
	    lseek(fd, end > 8192 ? end - 8192 : 0, SEEK_SET) == -1 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		close(fd);
		return 0;
	}
	close(fd);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n",
	    &save))
		if (signer_checkpoint_parse(line, &one, sig, &siglen) == 0) {
			*cp = one;
			found = 1;
		}
	return found;
}

/* Append line and a newline to file and make it durable. */
static int
ckpt_file_append(const char *file, const char *line, char *err, size_t errlen)
{
	char buf[SIGNER_CKPT_LINE_MAX + 1];
	int fd, n, rc = 0;

	n = snprintf(buf, sizeof(buf), "%s\n", line);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		snprintf(err, errlen, "%s: line too long", file);
		return -1;
	}
	if ((fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if (write(fd, buf, (size_t)n) != n || fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		rc = -1;
	}
	if (close(fd) == -1 && rc == 0) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* What the last checkpoint was, from the registry and the exported file (the newer). */
static int
ckpt_load(struct registrar *r, const char *file, char *err, size_t errlen)
{
	struct registry_checkpoint last;
	struct signer_checkpoint fc;
	int found;

	if ((found = registry_checkpoint_last(r->reg, &last, err, errlen)) == -1)
		return -1;
	if (found == 1) {
		r->ckpt_seq = last.seq;
		snprintf(r->ckpt_head, sizeof(r->ckpt_head), "%s", last.head);
		r->ckpt_time = (time_t)last.at;
	}
	/* The file outlives a writer who deleted the registry's rows: trust the newer. */
	if (ckpt_file_last(file, &fc) == 1 && fc.seq > r->ckpt_seq) {
		r->ckpt_seq = fc.seq;
		pki_hex_encode(fc.head, 32, r->ckpt_head);
		r->ckpt_time = (time_t)fc.at;
	}
	r->ckpt_loaded = 1;
	return 0;
}

int
registrar_checkpoint(struct registrar *r, const char *file, int force, char *err,
    size_t errlen)
{
	struct signer_checkpoint cp;
	struct registry_checkpoint rc;
	unsigned char *sig = NULL;
	char head[REGISTRY_HASH_HEX], why[256], line[SIGNER_CKPT_LINE_MAX], e2[256];
	size_t siglen = 0;
	int64_t seq, bad;
	time_t now = time(NULL);
	int v, ret = 1;

	if (registry_audit_head(r->reg, &seq, head, err, errlen) == -1)
		return -1;
	if (!r->ckpt_loaded && ckpt_load(r, file, err, errlen) == -1)
		return -1;
	if (seq == 0 || (seq == r->ckpt_seq && strcmp(head, r->ckpt_head) == 0) ||
	    seq == r->ckpt_refused)
		return 0;
	if (!force && seq - r->ckpt_seq < REGISTRAR_CKPT_ENTRIES &&
	    now - r->ckpt_time < REGISTRAR_CKPT_SECS)
		return 0;
	/* Never sign a head that does not extend what was signed before. */
	if (r->ckpt_seq > 0 && (v = registry_audit_verify_from(r->reg, r->ckpt_seq,
	    r->ckpt_head, &bad, why, sizeof(why), err, errlen)) != 0) {
		if (v == -1)
			return -1;
		r->ckpt_refused = seq;
		snprintf(err, errlen, "not signing the audit head (entry %lld): %s",
		    (long long)seq, why);
		return -1;
	}
	memset(&cp, 0, sizeof(cp));
	cp.seq = seq;
	snprintf(cp.domain, sizeof(cp.domain), "%s", r->cfg.domain);
	if (hex32(head, cp.head) == -1) {
		snprintf(err, errlen, "audit entry %lld: malformed hash", (long long)seq);
		return -1;
	}
	if (signer_checkpoint(r->ca[0].signer, &cp, &sig, &siglen, err, errlen) == -1)
		return -1;
	if (signer_checkpoint_format(&cp, sig, siglen, line, sizeof(line)) == -1) {
		free(sig);
		snprintf(err, errlen, "audit checkpoint does not fit a line");
		return -1;
	}
	/* Out of the database first: the log, then the file, then the registry. */
	log_info("%s", line);
	r->ckpt_seq = seq;
	snprintf(r->ckpt_head, sizeof(r->ckpt_head), "%s", head);
	r->ckpt_time = now;
	if (file != NULL && file[0] != '\0' &&
	    ckpt_file_append(file, line, err, errlen) == -1)
		ret = -1;
	memset(&rc, 0, sizeof(rc));
	rc.seq = seq;
	snprintf(rc.head, sizeof(rc.head), "%s", head);
	rc.at = cp.at;
	snprintf(rc.domain, sizeof(rc.domain), "%s", cp.domain);
	memcpy(rc.sig, sig, siglen);
	rc.siglen = siglen;
	free(sig);
	if (registry_checkpoint_add(r->reg, &rc, ret == -1 ? e2 : err,
	    ret == -1 ? sizeof(e2) : errlen) == -1)
		ret = -1;
	return ret;
}

int
registrar_health(struct registrar *r, char *why, size_t whylen)
{
	char err[256];
	size_t i;
	int h = 0;

	why[0] = '\0';
	if (registry_writable(r->reg, err, sizeof(err)) == 0)
		h |= STATS_H_REGISTRY;
	else
		snprintf(why, whylen, "%s", err);
	h |= STATS_H_SIGNER;
	for (i = 0; i < r->nca; i++)
		if (signer_ping(r->ca[i].signer, err, sizeof(err)) == -1) {
			h &= ~STATS_H_SIGNER;
			if (why[0] == '\0')
				snprintf(why, whylen, "the signer of the %s CA (key holder) does "
				    "not answer: %s", i == 0 ? "domain" : "previous domain", err);
		}
	return h;
}

int
registrar_binding_revoked(struct registrar *r, const char *serial)
{
	struct registry_binding b;
	char err[256];
	int found = registry_binding_get(r->reg, serial, &b, err, sizeof(err));

	if (found < 0)
		return -1;
	return found == 1 && strcmp(b.state, "revoked") == 0;
}

/*
 * GET /.well-known/latchkey/crl[/<key id>]: the CRL of the CA with that key identifier
 * (hex, either case); without one, of the oldest CA held, whose LDevIDs name the plain URL.
 */
static void
handle_crl(struct registrar *r, const char *kid, struct registrar_reply *out)
{
	struct domain_ca *ca = &r->ca[r->nca - 1];
	char err[256];
	size_t i;

	if (kid != NULL && kid[0] != '\0') {
		for (i = 0; i < r->nca && strcasecmp(kid, r->ca[i].kid) != 0; i++)
			;
		if (i == r->nca) {
			registrar_reply_text(out, 404, "no CA with key identifier %.64s here", kid);
			return;
		}
		ca = &r->ca[i];
	}
	if (crl_refresh(r, ca, err, sizeof(err)) == -1 && ca->crl_der == NULL) {
		log_warnx("CRL: %s", err);
		registrar_reply_text(out, 503, "the CRL cannot be made right now");
		return;
	}
	if ((out->body = malloc(ca->crl_len)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		return;
	}
	memcpy(out->body, ca->crl_der, ca->crl_len);
	out->len = ca->crl_len;
	out->status = 200;
	out->ctype = "application/pkix-crl";
}

void
registrar_ocsp(struct registrar *r, const unsigned char *der, size_t len,
    struct registrar_reply *out)
{
	struct ocsp_query q;
	struct ocsp_status st[OCSP_IDS_MAX];
	struct registry_cert c;
	struct domain_ca *ca = NULL;
	unsigned char *resp = NULL;
	size_t rlen = 0, i, k;
	char err[256];
	int bad = 0, found;

	memset(out, 0, sizeof(*out));
	memset(st, 0, sizeof(st));
	if (ocsp_request_parse(der, len, &q, err, sizeof(err)) == -1) {
		log_debug("OCSP: %s", err);
		bad = OCSP_RSP_MALFORMED;
		goto error;
	}
	for (i = 0; i < q.nids; i++) {
		/* RFC 6960 §2.3: we answer only for our own CAs, one per response (its
		 * signer signs it): every CertID must name the CA of the first */
		for (k = 0; ca == NULL && k < r->nca; k++)
			if (ocsp_query_matches_ca(&q, i, r->ca[k].cert) == 1)
				ca = &r->ca[k];
		if (ca == NULL || ocsp_query_matches_ca(&q, i, ca->cert) != 1) {
			bad = OCSP_RSP_UNAUTHORIZED;
			goto error;
		}
		found = registry_cert_get(r->reg, q.ids[i].serial_hex, &c, err, sizeof(err));
		if (found < 0) {
			log_warnx("OCSP: registry: %s", err);
			bad = OCSP_RSP_TRY_LATER;
			goto error;
		}
		st[i].revoked_at = 0;
		st[i].reason = -1;
		if (found == 0)
			st[i].status = OCSP_CERT_UNKNOWN;
		else if (c.revoked_at != 0) {
			st[i].status = OCSP_CERT_REVOKED;
			st[i].revoked_at = c.revoked_at;
			st[i].reason = crl_reason_from_name(c.reason);
		} else
			st[i].status = OCSP_CERT_GOOD;
	}
	if (signer_ocsp(ca->signer, &q, st, time(NULL), OCSP_NEXT_UPDATE_HOURS, &resp, &rlen,
	    err, sizeof(err)) == -1) {
		log_warnx("OCSP: signer: %s", err);
		/* RFC 6960 §2.3: a lost signer is being replaced, ask again later */
		bad = signer_lost(ca->signer) ? OCSP_RSP_TRY_LATER : OCSP_RSP_INTERNAL;
		goto error;
	}
	goto send;
error:
	if (ocsp_error_response(bad, &resp, &rlen) == -1) {
		registrar_reply_text(out, 500, "internal error");
		return;
	}
send:
	out->status = 200;	/* RFC 6960 A.1: errors travel inside the OCSPResponse */
	out->ctype = "application/ocsp-response";
	out->body = (char *)resp;
	out->len = rlen;
}

/*
 * GET /.well-known/latchkey/status: the binding state of the LDevID presented (a device
 * learns here that its binding was revoked, and why). Revoked LDevIDs still authenticate
 * for this question: the answer is about them.
 */
static void
handle_status(struct registrar *r, const struct registrar_peer *peer,
    struct registrar_reply *out)
{
	struct ldevid_holder h;
	const struct registry_cert *c = &h.cert;
	const struct registry_binding *b = &h.binding;
	const char *state;
	json_t *j = NULL, *sup;
	size_t i;

	if (ldevid_holder_find(r, peer, &h, out) != LDEVID_FOUND)
		goto out;
	/* a revoked certificate answers for its own binding even when a newer one exists */
	state = c->revoked_at != 0 ? "revoked" : b->state;
	j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:b}", "serial", h.info.serial,
	    "domain", r->cfg.domain, "state", state,
	    "reason", c->revoked_at != 0 ? c->reason : b->reason,
	    "revoked_at", (json_int_t)(c->revoked_at != 0 ? c->revoked_at : b->revoked_at),
	    "ldevid_serial", h.info.cert_serial, "ldevid_revoked", c->revoked_at != 0);
	/* the older LDevIDs this request superseded (ldevid_supersede): agent_confirm() */
	if (j != NULL && (sup = json_array()) != NULL) {
		for (i = 0; i < h.nsuperseded; i++)
			json_array_append_new(sup, json_string(h.superseded[i].cert_serial));
		json_object_set_new(j, "superseded", sup);
	}
	if (j == NULL || (out->body = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	out->len = strlen(out->body);
	out->status = 200;
	out->ctype = "application/json";
out:
	json_decref(j);
	idevid_info_free(&h.info);
}

/*
 * POST /.well-known/latchkey/netid (enroll/common/netid.h): a device with an LDevID of an
 * active binding reports its network identifiers; stored (audited) and answered 204.
 */
static void
handle_netid(struct registrar *r, const char *content_type, const unsigned char *body,
    size_t len, const struct registrar_peer *peer, struct registrar_reply *out)
{
	struct ldevid_holder h;
	struct registry_netid ids[NETID_MAX];
	struct netid_list *l = NULL;
	char err[256], actor[96], shown[128];
	const char *hex;
	int held[NETID_MAX], nheld;
	size_t i, k;

	if (ldevid_holder_active(r, peer, &h, out) == -1)
		goto out;
	if (!est_media_type_is(content_type, "application/json")) {
		registrar_reply_text(out, 415, "expected Content-Type application/json");
		goto out;
	}
	if ((l = malloc(sizeof(*l))) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	if (netid_parse((const char *)body, len, l, err, sizeof(err)) == -1) {
		registrar_reply_text(out, 400, "%s", err);
		goto out;
	}
	for (i = 0; i < l->n; i++) {
		ids[i].kind = l->v[i].kind;
		ids[i].value = l->v[i].value;
	}
	snprintf(actor, sizeof(actor), "device:%.64s", h.info.serial);
	if ((nheld = registry_netid_report_held(r->reg, h.info.serial, ids, l->n, actor, held,
	    err, sizeof(err))) == -1) {
		log_warnx("registry: %s", err);
		registry_down(out, "registry unavailable");
		goto out;
	}
	log_info("%s reported %zu network identifier%s from %s", h.info.serial, l->n,
	    l->n == 1 ? "" : "s", peer->addr ? peer->addr : "?");
	if (nheld > 0) {
		/* netid.h: another device's identifiers are refused, the rest recorded */
		for (i = 0; i < l->n && !held[i]; i++)
			;
		shown[0] = '\0';
		for (k = 0, hex = l->v[i].value; hex[0] != '\0' && hex[1] != '\0' &&
		    k + 4 < sizeof(shown); hex += 2)
			k += (size_t)snprintf(shown + k, sizeof(shown) - k, "%s%.2s",
			    k > 0 ? ":" : "", hex);
		log_warnx("%s reported %d network identifier%s held by another device, "
		    "first %s %s", h.info.serial, nheld, nheld == 1 ? "" : "s",
		    l->v[i].kind, shown);
		registrar_reply_text(out, 409, "%s %s%s is held by another device: not "
		    "recorded (%d of %zu refused, the others were recorded)", l->v[i].kind,
		    shown, hex[0] != '\0' ? "..." : "", nheld, l->n);
		goto out;
	}
	out->status = 204;
out:
	free(l);
	idevid_info_free(&h.info);
}

/*
 * POST /.well-known/latchkey/posture (issue #20; enroll/common/posture.h): a device with an
 * LDevID of an active binding sends its posture report, CMS-signed with that same LDevID.
 * A revoked or superseded LDevID is refused (403, the reason; audited "posture-refused"),
 * as is a report signed by another key or naming another device or LDevID. The policy
 * (posture-policy) judges the inventory; the report, its verdict and the reasons are
 * stored and audited (registry_posture_record), and the device's latest verdict feeds the
 * Kea hook's noncompliant class. Answer 200 JSON {"compliant": bool, "reasons": [...],
 * "serial", "ldevid_serial", "report": id}.
 */
static void
handle_posture(struct registrar *r, const char *content_type, const unsigned char *body,
    size_t len, const struct registrar_peer *peer, struct registrar_reply *out)
{
	struct ldevid_holder h;
	struct posture_report rep;
	enum ldevid_lookup lk;
	unsigned char *content = NULL;
	size_t clen = 0;
	json_t *reasons = NULL, *ans = NULL;
	char err[512], actor[96], why[600], *rs = NULL;
	int compliant, prev = -1, vr;
	int64_t id = 0;

	memset(&rep, 0, sizeof(rep));
	memset(&h, 0, sizeof(h));
	if (r->policy == NULL) {
		registrar_reply_text(out, 404, "no posture server here (posture-policy is not "
		    "configured)");
		return;
	}
	lk = ldevid_holder_find(r, peer, &h, out);
	if (lk == LDEVID_UNKNOWN)
		refuse_audit_as(r, "posture-refused", peer, h.info.serial, h.why);
	if (lk != LDEVID_FOUND)
		goto out;
	if (!h.active) {
		refuse_audit_as(r, "posture-refused", peer, h.info.serial, h.why);
		registrar_reply_text(out, 403, "%s", h.why);
		out->reason = STATS_R_REVOKED + 1;
		goto out;
	}
	if (!est_media_type_is(content_type, POSTURE_CT)) {
		registrar_reply_text(out, 415, "expected Content-Type " POSTURE_CT);
		goto out;
	}
	if ((vr = posture_verify(body, len, peer->cert, &content, &clen, err,
	    sizeof(err))) != 0) {
		if (vr == -2) {
			refuse_audit_as(r, "posture-refused", peer, h.info.serial, err);
			registrar_reply_text(out, 403, "%s", err);
			out->reason = STATS_R_FORBIDDEN + 1;
		} else
			registrar_reply_text(out, 400, "%s", err);
		goto out;
	}
	if (posture_report_parse((const char *)content, clen, &rep, err, sizeof(err)) == -1) {
		registrar_reply_text(out, 400, "%s", err);
		goto out;
	}
	if (strcmp(rep.serial, h.info.serial) != 0 ||
	    strcasecmp(rep.ldevid_serial, h.info.cert_serial) != 0) {
		snprintf(why, sizeof(why), "report names device %.64s with LDevID %.64s, the "
		    "certificate is %.64s's LDevID %.64s", rep.serial, rep.ldevid_serial,
		    h.info.serial, h.info.cert_serial);
		refuse_audit_as(r, "posture-refused", peer, h.info.serial, why);
		registrar_reply_text(out, 403, "%s", why);
		out->reason = STATS_R_SERIAL_MISMATCH + 1;
		goto out;
	}
	if ((compliant = postpolicy_eval(r->policy, &rep.inv, &reasons)) == -1 ||
	    (rs = json_dumps(reasons, JSON_COMPACT)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	snprintf(actor, sizeof(actor), "device:%.64s", h.info.serial);
	if (registry_posture_record(r->reg, h.info.serial, h.info.cert_serial, rep.time, body,
	    len, (const char *)content, compliant, rs, actor, &id, &prev, err,
	    sizeof(err)) == -1) {
		log_warnx("registry: %s", err);
		registry_down(out, "registry unavailable");
		goto out;
	}
	log_info("%s posture report %lld from %s: %s (%zu packages, %zu files)%s",
	    h.info.serial, (long long)id, peer->addr ? peer->addr : "?",
	    compliant ? "compliant" : "noncompliant", rep.inv.npkgs, rep.inv.nfiles,
	    !compliant && prev != 0 ? ", quarantined" :
	    compliant && prev == 0 ? ", released from quarantine" : "");
	if (!compliant && json_array_size(reasons) > 0)
		log_info("%s noncompliant: %s%s", h.info.serial,
		    json_string_value(json_array_get(reasons, 0)),
		    json_array_size(reasons) > 1 ? " (and more)" : "");
	ans = json_pack("{s:b, s:O, s:s, s:s, s:I}", "compliant", compliant, "reasons",
	    reasons, "serial", h.info.serial, "ldevid_serial", h.info.cert_serial, "report",
	    (json_int_t)id);
	if (ans == NULL || (out->body = json_dumps(ans, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	out->len = strlen(out->body);
	out->status = 200;
	out->ctype = "application/json";
	if (stats_me != NULL)
		atomic_fetch_add(compliant ? &stats_me->posture_compliant :
		    &stats_me->posture_noncompliant, 1);
out:
	if (stats_me != NULL && out->status >= 400 && out->status < 500)
		atomic_fetch_add(&stats_me->posture_refused, 1);
	json_decref(ans);
	json_decref(reasons);
	free(rs);
	free(content);
	posture_report_free(&rep);
	idevid_info_free(&h.info);
}

void
registrar_update(struct registrar *r, const char *rest, const char *content_type,
    const unsigned char *body, size_t len, const struct registrar_peer *peer,
    struct registrar_reply *out)
{
	struct ldevid_holder h;
	struct manifest_report rep;
	char err[512], actor[96], action[32], *details = NULL;
	unsigned char *buf = NULL;
	size_t blen = 0;
	int st;

	memset(out, 0, sizeof(*out));
	if (r->cfg.update_dir[0] == '\0') {
		registrar_reply_text(out, 404, "not found: no update-dir configured");
		return;
	}
	/* updates go to enrolled devices only: an LDevID of an active binding */
	if (ldevid_holder_active(r, peer, &h, out) == -1)
		goto out;
	if (rest != NULL) {
		st = update_file_read(r->cfg.update_dir, rest, &buf, &blen, err, sizeof(err));
		if (st != 200) {
			if (st == 500)
				log_warnx("update-dir %s: %s: %s", r->cfg.update_dir, rest, err);
			registrar_reply_text(out, st, "%s", err);
			goto out;
		}
		log_debug("%s fetched update/%s (%zu octets)", h.info.serial, rest, blen);
		out->status = 200;
		out->ctype = update_file_ctype(rest);
		out->body = (char *)buf;
		out->len = blen;
		goto out;
	}
	if (!est_media_type_is(content_type, "application/json")) {
		registrar_reply_text(out, 415, "expected Content-Type application/json");
		goto out;
	}
	if (manifest_report_parse((const char *)body, len, &rep, err, sizeof(err)) == -1) {
		registrar_reply_text(out, 400, "%s", err);
		goto out;
	}
	snprintf(actor, sizeof(actor), "device:%.64s", h.info.serial);
	snprintf(action, sizeof(action), "update-%s", rep.decision);
	if ((details = manifest_report_json(&rep)) == NULL) {
		registrar_reply_text(out, 500, "out of memory");
		goto out;
	}
	if (registry_audit(r->reg, actor, action, h.info.serial, rep.reason, details, err,
	    sizeof(err)) == -1) {
		log_warnx("registry: %s", err);
		registry_down(out, "registry unavailable");
		goto out;
	}
	log_info("%s update %s %s: %s: %s", h.info.serial, rep.package[0] ? rep.package : "-",
	    rep.version[0] ? rep.version : "-", rep.decision, rep.reason);
	out->status = 204;
out:
	free(details);
	idevid_info_free(&h.info);
}

void
registrar_handle(struct registrar *r, enum est_op op, const char *label,
    const char *content_type, const unsigned char *body, size_t len,
    const struct registrar_peer *peer, void *tag, struct registrar_reply *out)
{
	const unsigned char *der;
	size_t derlen;

	memset(out, 0, sizeof(*out));
	/* one CA serves every EST label for now; the CRL's label is a CA key identifier */
	switch (op) {
	case EST_OP_CACERTS:
		if ((out->body = malloc(r->cacerts_len)) == NULL) {
			registrar_reply_text(out, 500, "out of memory");
			return;
		}
		memcpy(out->body, r->cacerts_b64, r->cacerts_len);
		out->len = r->cacerts_len;
		out->status = 200;
		out->ctype = EST_CT_CERTS;
		out->b64 = 1;
		return;
	case EST_OP_CSRATTRS:
		der = est_csrattrs_der(&derlen);
		if ((out->body = b64_encode(der, derlen, 0, &out->len)) == NULL) {
			registrar_reply_text(out, 500, "out of memory");
			return;
		}
		out->status = 200;
		out->ctype = EST_CT_CSRATTRS;
		out->b64 = 1;
		return;
	case EST_OP_SIMPLEENROLL:
	case EST_OP_SIMPLEREENROLL:
		handle_enroll(r, op == EST_OP_SIMPLEREENROLL, content_type, body, len, peer, tag,
		    out);
		return;
	case LK_OP_STATUS:
		handle_status(r, peer, out);
		return;
	case LK_OP_CRL:
		handle_crl(r, label, out);
		return;
	case LK_OP_OCSP:
		if (!est_media_type_is(content_type, "application/ocsp-request")) {
			registrar_reply_text(out, 415,
			    "expected Content-Type application/ocsp-request");
			return;
		}
		registrar_ocsp(r, body, len, out);
		return;
	case LK_OP_NETID:
		handle_netid(r, content_type, body, len, peer, out);
		return;
	case LK_OP_POSTURE:
		handle_posture(r, content_type, body, len, peer, out);
		return;
	}
	registrar_reply_text(out, 404, "unknown EST operation");
}
