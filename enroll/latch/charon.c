/*
 * charon: strongSwan (VICI) driver for RFC 5660 connection latches. See charon.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "enroll/latch/charon.h"
#include "enroll/common/err.h"

#define CHARON_FILE_MAX	(256 * 1024)
#define CHARON_MAX_CERTS	8
#define CHARON_CALL_MS	10000
#define CHARON_DENY_MAX	256

#ifndef SOCK_DESTROY
#define SOCK_DESTROY		21
#endif

struct charon_entry {
	struct latch	*latch;
	char		 peer_addr[64];
	char		 ts[CHARON_MAX_TS][64];
	int		 nts;
	unsigned long	 ike_uid;	/* IKE SA of the latched peer */
	unsigned	 resets;
	struct charon_reboot rb;	/* peer reboot inference */
};

struct charon {
	char			*s[16];		/* owned copies of conf strings */
	struct charon_conf	 conf;
	struct vici_conn	*cmd;
	struct vici_conn	*evc;
	struct charon_entry	*ents;
	size_t			 nents;
	unsigned char		 local_fpr[LATCH_FPR_LEN];
	int			 has_local_fpr;
	char			*deny[CHARON_DENY_MAX];	/* closed serials / ids */
	size_t			 ndeny;
	charon_cb		*cb;
	void			*cbarg;
	char			 evterr[256];	/* first error inside an event callback */
	/* list-certs collection */
	unsigned char		*certder;
	size_t			 certlen;
};

static void
lc_copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src != NULL ? src : "");
}

/* ------------------------------------------------------------------ setup */

struct charon *
charon_new(const struct charon_conf *conf, char *err, size_t errlen)
{
	struct charon *ctl;
	struct charon_conf *cc;
	const char **fields[14];
	const char **dst;
	size_t i;

	if (conf->cert_file == NULL || conf->key_file == NULL || conf->ca_file == NULL) {
		errf(err, errlen, "latch: certificate, key and CA files are required");
		return NULL;
	}
	if (conf->initiator && conf->peer_addr == NULL) {
		errf(err, errlen, "latch: the initiator needs a peer address");
		return NULL;
	}
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		errf(err, errlen, "latch: out of memory");
		return NULL;
	}
	ctl->conf = *conf;
	if (ctl->conf.vici_uri == NULL)
		ctl->conf.vici_uri = CHARON_DEFAULT_VICI;
	if (ctl->conf.name == NULL)
		ctl->conf.name = "latchkey";
	if (ctl->conf.ike_proposals == NULL)
		ctl->conf.ike_proposals = CHARON_IKE_PROPOSALS;
	if (ctl->conf.esp_proposals == NULL)
		ctl->conf.esp_proposals = CHARON_ESP_PROPOSALS;
	/* Duplicate every string so the caller's buffers may go away. */
	cc = &ctl->conf;
	fields[0] = &cc->vici_uri;
	fields[1] = &cc->name;
	fields[2] = &cc->local_addr;
	fields[3] = &cc->peer_addr;
	fields[4] = &cc->cert_file;
	fields[5] = &cc->key_file;
	fields[6] = &cc->ca_file;
	fields[7] = &cc->local_ts;
	fields[8] = &cc->remote_ts;
	fields[9] = &cc->remote_id;
	fields[10] = &cc->ike_proposals;
	fields[11] = &cc->esp_proposals;
	fields[12] = &cc->crl_file;
	fields[13] = &cc->ca_file2;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		dst = fields[i];
		if (*dst == NULL)
			continue;
		if ((ctl->s[i] = strdup(*dst)) == NULL) {
			errf(err, errlen, "latch: out of memory");
			charon_free(ctl);
			return NULL;
		}
		*dst = ctl->s[i];
	}
	if (strlen(ctl->conf.name) > 48) {
		errf(err, errlen, "latch: connection name too long");
		charon_free(ctl);
		return NULL;
	}
	return ctl;
}

void
charon_free(struct charon *ctl)
{
	size_t i;

	if (ctl == NULL)
		return;
	vici_close(ctl->cmd);
	vici_close(ctl->evc);
	for (i = 0; i < ctl->nents; i++)
		latch_free(ctl->ents[i].latch);
	free(ctl->ents);
	for (i = 0; i < ctl->ndeny; i++)
		free(ctl->deny[i]);
	for (i = 0; i < sizeof(ctl->s) / sizeof(ctl->s[0]); i++)
		free(ctl->s[i]);
	free(ctl->certder);
	free(ctl);
}

void
charon_set_cb(struct charon *ctl, charon_cb *cb, void *arg)
{
	ctl->cb = cb;
	ctl->cbarg = arg;
}

/* Read all certificates of a PEM file as DER. Returns the count (>= 1) or -1. */
static int
lc_read_certs(const char *path, unsigned char **der, size_t *len, int max, char *err,
    size_t errlen)
{
	FILE *f;
	X509 *x;
	int n = 0, l;

	if ((f = fopen(path, "r")) == NULL) {
		errf(err, errlen, "latch: %s: %s", path, strerror(errno));
		return -1;
	}
	while (n < max && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		der[n] = NULL;
		l = i2d_X509(x, &der[n]);
		X509_free(x);
		if (l <= 0) {
			errf(err, errlen, "latch: %s: cannot encode certificate", path);
			goto err;
		}
		len[n++] = (size_t)l;
	}
	fclose(f);
	if (n == 0) {
		errf(err, errlen, "latch: %s: no PEM certificate", path);
		return -1;
	}
	return n;
err:
	fclose(f);
	while (n-- > 0)
		OPENSSL_free(der[n]);
	return -1;
}

static int
lc_read_file(const char *path, unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		errf(err, errlen, "latch: %s: %s", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(CHARON_FILE_MAX)) == NULL) {
		errf(err, errlen, "latch: out of memory");
		goto err;
	}
	n = fread(buf, 1, CHARON_FILE_MAX, f);
	if (ferror(f) || n == 0 || n == CHARON_FILE_MAX) {
		errf(err, errlen, "latch: %s: empty, unreadable or larger than %d bytes", path,
		    CHARON_FILE_MAX);
		goto err;
	}
	fclose(f);
	*out = buf;
	*outlen = n;
	return 0;
err:
	free(buf);
	fclose(f);
	return -1;
}

/* Run cmd with req, check { success = yes }. Frees req. */
static int
lc_call_ok(struct charon *ctl, const char *cmd, struct vici_buf *req, int timeout_ms,
    char *err, size_t errlen)
{
	struct vici_node *resp;
	int rc;

	resp = vici_call(ctl->cmd, cmd, req, timeout_ms, err, errlen);
	vici_buf_free(req);
	if (resp == NULL)
		return -1;
	rc = vici_check_success(resp, cmd, err, errlen);
	vici_node_free(resp);
	return rc;
}

static int
lc_load_cert(struct charon *ctl, const unsigned char *der, size_t len, int ca, char *err,
    size_t errlen)
{
	struct vici_buf *b;

	if ((b = vici_buf_new()) == NULL) {
		errf(err, errlen, "latch: out of memory");
		return -1;
	}
	vici_add_kvstr(b, "type", "x509");
	vici_add_kvstr(b, "flag", ca ? "ca" : "none");
	vici_add_kv(b, "data", der, len);
	return lc_call_ok(ctl, "load-cert", b, CHARON_CALL_MS, err, errlen);
}

static void
lc_add_csv_list(struct vici_buf *b, const char *name, const char *csv)
{
	char tmp[512], *p, *tok, *save = NULL;

	vici_begin_list(b, name);
	lc_copy(tmp, sizeof(tmp), csv);
	for (p = tmp; (tok = strtok_r(p, ", ", &save)) != NULL; p = NULL)
		vici_add_itemstr(b, tok);
	vici_end_list(b);
}

static struct vici_buf *
lc_conn_msg(struct charon *ctl, const unsigned char *leaf, size_t leaflen,
    unsigned char **ca, size_t *calen, int nca)
{
	const struct charon_conf *c = &ctl->conf;
	struct vici_buf *b;
	char child[64];
	int i;

	if ((b = vici_buf_new()) == NULL)
		return NULL;
	snprintf(child, sizeof(child), "%s-child", c->name);
	vici_begin_section(b, c->name);
	vici_add_kvstr(b, "version", "2");
	if (c->local_addr != NULL)
		lc_add_csv_list(b, "local_addrs", c->local_addr);
	if (c->peer_addr != NULL)
		lc_add_csv_list(b, "remote_addrs", c->peer_addr);
	lc_add_csv_list(b, "proposals", c->ike_proposals);
	/*
	 * unique = replace: the initiator sends INITIAL_CONTACT when it holds no IKE SA with
	 * the peer (after a restart), and the responder acts on it by destroying the peer's old
	 * IKE SAs (charon_reboot_feed() sees that: a peer reboot breaks the latch); without
	 * INITIAL_CONTACT an older duplicate of the same identities is deleted. "never" would
	 * do neither: a rebooted peer's old SA would stay, unnoticed.
	 */
	vici_add_kvstr(b, "unique", "replace");
	if (c->tunnel)
		vici_add_kvstr(b, "encap", "yes");	/* kernel-libipsec: ESP in UDP 4500 */
	if (c->rekey_time > 0)
		vici_add_kvfmt(b, "rekey_time", "%d", c->rekey_time * 3);
	vici_begin_section(b, "local");
	vici_add_kvstr(b, "auth", "pubkey");
	vici_begin_list(b, "certs");
	vici_add_item(b, leaf, leaflen);
	vici_end_list(b);
	vici_end_section(b);
	vici_begin_section(b, "remote");
	vici_add_kvstr(b, "auth", "pubkey");
	if (c->remote_id != NULL)
		vici_add_kvstr(b, "id", c->remote_id);
	vici_begin_list(b, "cacerts");
	for (i = 0; i < nca; i++)
		vici_add_item(b, ca[i], calen[i]);
	vici_end_list(b);
	vici_end_section(b);
	vici_begin_section(b, "children");
	vici_begin_section(b, child);
	vici_add_kvstr(b, "mode", c->tunnel ? "tunnel" : "transport");
	if (c->local_ts != NULL)
		lc_add_csv_list(b, "local_ts", c->local_ts);
	if (c->remote_ts != NULL)
		lc_add_csv_list(b, "remote_ts", c->remote_ts);
	lc_add_csv_list(b, "esp_proposals", c->esp_proposals);
	if (c->rekey_time > 0)
		vici_add_kvfmt(b, "rekey_time", "%d", c->rekey_time);
	vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	return b;
}

static void lc_on_event(void *arg, const char *event, const struct vici_node *msg);

int
charon_start(struct charon *ctl, char *err, size_t errlen)
{
	static const char *const events[] = {
		"ike-updown", "ike-rekey", "child-updown", "child-rekey"
	};
	unsigned char *own[CHARON_MAX_CERTS], *ca[CHARON_MAX_CERTS], *key = NULL;
	size_t ownlen[CHARON_MAX_CERTS], calen[CHARON_MAX_CERTS], keylen = 0;
	unsigned int fl = 0;
	struct vici_buf *b;
	int nown = 0, nca = 0, i, rc = -1;

	if ((nown = lc_read_certs(ctl->conf.cert_file, own, ownlen, CHARON_MAX_CERTS, err,
	    errlen)) == -1)
		return -1;
	if ((nca = lc_read_certs(ctl->conf.ca_file, ca, calen, CHARON_MAX_CERTS, err,
	    errlen)) == -1)
		goto out;
	if (ctl->conf.ca_file2 != NULL && nca < CHARON_MAX_CERTS) {
		if ((i = lc_read_certs(ctl->conf.ca_file2, ca + nca, calen + nca,
		    CHARON_MAX_CERTS - nca, err, errlen)) == -1)
			goto out;
		nca += i;
	}
	if (lc_read_file(ctl->conf.key_file, &key, &keylen, err, errlen) == -1)
		goto out;
	if (EVP_Digest(own[0], ownlen[0], ctl->local_fpr, &fl, EVP_sha256(), NULL) == 1 &&
	    fl == LATCH_FPR_LEN)
		ctl->has_local_fpr = 1;
	if ((ctl->cmd = vici_connect(ctl->conf.vici_uri, err, errlen)) == NULL ||
	    (ctl->evc = vici_connect(ctl->conf.vici_uri, err, errlen)) == NULL)
		goto out;
	vici_set_event_cb(ctl->evc, lc_on_event, ctl);
	for (i = 0; i < (int)(sizeof(events) / sizeof(events[0])); i++)
		if (vici_register(ctl->evc, events[i], 1, CHARON_CALL_MS, err, errlen) == -1)
			goto out;
	/* Trust anchors and any intermediates of our own chain. */
	for (i = 0; i < nca; i++)
		if (lc_load_cert(ctl, ca[i], calen[i], 1, err, errlen) == -1)
			goto out;
	for (i = 1; i < nown; i++)
		if (lc_load_cert(ctl, own[i], ownlen[i], 1, err, errlen) == -1)
			goto out;
	if ((b = vici_buf_new()) == NULL) {
		errf(err, errlen, "latch: out of memory");
		goto out;
	}
	vici_add_kvstr(b, "type", "any");
	vici_add_kv(b, "data", key, keylen);
	rc = lc_call_ok(ctl, "load-key", b, CHARON_CALL_MS, err, errlen);
	if (rc == -1)
		goto out;
	rc = -1;
	if ((b = lc_conn_msg(ctl, own[0], ownlen[0], ca, calen, nca)) == NULL) {
		errf(err, errlen, "latch: out of memory");
		goto out;
	}
	if (vici_buf_error(b) != NULL) {
		errf(err, errlen, "latch: connection message: %s", vici_buf_error(b));
		vici_buf_free(b);
		goto out;
	}
	rc = lc_call_ok(ctl, "load-conn", b, CHARON_CALL_MS, err, errlen);
out:
	for (i = 0; i < nown; i++)
		OPENSSL_free(own[i]);
	for (i = 0; i < nca; i++)
		OPENSSL_free(ca[i]);
	if (key != NULL) {
		OPENSSL_cleanse(key, keylen);
		free(key);
	}
	return rc;
}

int
charon_unload(struct charon *ctl, char *err, size_t errlen)
{
	struct vici_buf *b;

	if (ctl->cmd == NULL)
		return 0;
	if ((b = vici_buf_new()) == NULL)
		return -1;
	vici_add_kvstr(b, "name", ctl->conf.name);
	return lc_call_ok(ctl, "unload-conn", b, CHARON_CALL_MS, err, errlen);
}

int
charon_fd(const struct charon *ctl)
{
	return ctl->evc != NULL ? vici_fd(ctl->evc) : -1;
}

/* ------------------------------------------------------------------ event mapping */

static const struct vici_node *
lc_first_section(const struct vici_node *n)
{
	for (n = n != NULL ? n->child : NULL; n != NULL; n = n->next)
		if (n->type == VICI_N_SECTION)
			return n;
	return NULL;
}

static void
lc_collect_ts(const struct vici_node *child, struct charon_sa_event *out)
{
	const struct vici_node *l, *it;
	const char *s;

	if ((l = vici_get(child, "remote-ts")) == NULL || l->type != VICI_N_LIST)
		return;
	for (it = l->child; it != NULL && out->nts < CHARON_MAX_TS; it = it->next) {
		if ((s = vici_node_str(it)) == NULL || strlen(s) >= sizeof(out->remote_ts[0]))
			continue;
		lc_copy(out->remote_ts[out->nts++], sizeof(out->remote_ts[0]), s);
	}
}

int
charon_map_event(const char *event, const struct vici_node *msg,
    struct charon_sa_event *out)
{
	const struct vici_node *ike, *sa, *children, *ch, *sub;
	const char *s, *up;
	int rekey = 0, child = 0;

	memset(out, 0, sizeof(*out));
	if (event == NULL || msg == NULL)
		return 0;
	if (strcmp(event, "ike-updown") == 0)
		;
	else if (strcmp(event, "child-updown") == 0)
		child = 1;
	else if (strcmp(event, "ike-rekey") == 0)
		rekey = 1;
	else if (strcmp(event, "child-rekey") == 0)
		rekey = child = 1;
	else
		return 0;
	if ((ike = lc_first_section(msg)) == NULL)
		return 0;
	sa = ike;
	if (rekey && !child) {
		/* ike-rekey: { name = { old = {...}, new = {...} } } */
		if ((sa = vici_get(ike, "new")) == NULL || sa->type != VICI_N_SECTION)
			return 0;
	}
	out->child = child;
	if ((s = vici_get_str(sa, "state")) != NULL && strlen(s) < sizeof(out->ike_state))
		lc_copy(out->ike_state, sizeof(out->ike_state), s);
	up = vici_get_str(msg, "up");
	out->ev = rekey ? LATCH_EV_REKEY :
	    (up != NULL && strcmp(up, "yes") == 0) ? LATCH_EV_SA_UP : LATCH_EV_SA_DOWN;
	if (strlen(ike->name) >= sizeof(out->ike_name))
		return 0;
	lc_copy(out->ike_name, sizeof(out->ike_name), ike->name);
	if ((s = vici_get_str(sa, "remote-host")) == NULL || strlen(s) >= sizeof(out->remote_host))
		return 0;
	lc_copy(out->remote_host, sizeof(out->remote_host), s);
	if ((s = vici_get_str(sa, "remote-id")) != NULL && strlen(s) < sizeof(out->remote_id))
		lc_copy(out->remote_id, sizeof(out->remote_id), s);
	if ((s = vici_get_str(sa, "uniqueid")) != NULL)
		out->uniqueid = strtoul(s, NULL, 10);
	if ((children = vici_get(sa, "child-sas")) != NULL) {
		for (ch = children->child; ch != NULL; ch = ch->next) {
			if (ch->type != VICI_N_SECTION)
				continue;
			sub = ch;
			if (rekey && child && (sub = vici_get(ch, "new")) == NULL)
				sub = ch;
			lc_collect_ts(sub, out);
		}
	}
	return 1;
}

int
charon_down_dropped(const struct charon_sa_event *sev)
{
	if (sev == NULL || sev->child || sev->ev != LATCH_EV_SA_DOWN)
		return 0;
	return strcmp(sev->ike_state, "ESTABLISHED") == 0 ||
	    strcmp(sev->ike_state, "REKEYING") == 0;
}

int
charon_reboot_feed(struct charon_reboot *r, const struct charon_sa_event *sev,
    long long now_ms)
{
	int same;

	if (r == NULL || sev == NULL || sev->child || sev->remote_id[0] == '\0')
		return 0;
	if (sev->ev == LATCH_EV_SA_DOWN) {
		if (charon_down_dropped(sev)) {
			lc_copy(r->id, sizeof(r->id), sev->remote_id);
			r->at_ms = now_ms;
		}
		return 0;
	}
	if (sev->ev != LATCH_EV_SA_UP || r->id[0] == '\0')
		return 0;
	same = strcmp(r->id, sev->remote_id) == 0;
	if (!same)
		return 0;		/* another identity: not this peer's reboot */
	r->id[0] = '\0';
	return now_ms >= r->at_ms && now_ms - r->at_ms <= CHARON_REBOOT_MS;
}

int
charon_id_has_serial(const char *id, const char *serial)
{
	const char *p, *v, *end;
	size_t n;

	if (id == NULL || serial == NULL || (n = strlen(serial)) == 0)
		return 0;
	for (p = id; *p != '\0'; p = end) {
		while (*p == ' ' || *p == ',')
			p++;
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		if (strncmp(p, "serialNumber=", 13) == 0)
			v = p + 13;
		else if (strncmp(p, "SN=", 3) == 0)
			v = p + 3;
		else
			continue;
		if ((size_t)(end - v) == n && strncmp(v, serial, n) == 0)
			return 1;
	}
	return 0;
}

int
charon_sa_match(const struct vici_node *msg, const char *conn, const char *const *ids,
    size_t nids, const char *serial, unsigned long *uid)
{
	const struct vici_node *ike;
	const char *rid, *u;
	char *end;
	unsigned long v;
	size_t i;

	if (msg == NULL || conn == NULL || (ike = lc_first_section(msg)) == NULL ||
	    ike->name == NULL || strcmp(ike->name, conn) != 0)
		return 0;
	if ((rid = vici_get_str(ike, "remote-id")) == NULL || rid[0] == '\0' ||
	    (u = vici_get_str(ike, "uniqueid")) == NULL)
		return 0;
	v = strtoul(u, &end, 10);
	if (end == u || *end != '\0' || v == 0)
		return 0;
	for (i = 0; i < nids; i++)
		if (ids[i] != NULL && strcmp(ids[i], rid) == 0)
			goto yes;
	if (serial != NULL && charon_id_has_serial(rid, serial))
		goto yes;
	return 0;
yes:
	if (uid != NULL)
		*uid = v;
	return 1;
}

long
charon_load_crl(struct charon *ctl, const char *path, char *err, size_t errlen)
{
	unsigned char *data = NULL;
	struct vici_buf *b;
	size_t len = 0;

	if (path == NULL || access(path, F_OK) == -1)
		return 0;
	if (ctl->cmd == NULL) {
		errf(err, errlen, "latch: not connected to charon");
		return -1;
	}
	if (lc_read_file(path, &data, &len, err, errlen) == -1)
		return -1;
	if (len > VICI_VALUE_MAX) {
		free(data);
		errf(err, errlen, "latch: CRL %s has %zu bytes; VICI carries at most %d: charon "
		    "cannot get it this way (revoked peers are then cut off only after IKE)",
		    path, len, VICI_VALUE_MAX);
		return -1;
	}
	if ((b = vici_buf_new()) == NULL) {
		free(data);
		errf(err, errlen, "latch: out of memory");
		return -1;
	}
	vici_add_kvstr(b, "type", "x509crl");
	vici_add_kv(b, "data", data, len);
	free(data);
	if (lc_call_ok(ctl, "load-cert", b, CHARON_CALL_MS, err, errlen) == -1)
		return -1;
	/*
	 * charon's credential manager caches every CRL it has verified, and the revocation
	 * plugin takes the first CRL that is still within nextUpdate: an older CRL from that
	 * cache would keep a newly revoked certificate good. Flush the cached CRLs; the new one
	 * (held by vici) is all that remains.
	 */
	if ((b = vici_buf_new()) == NULL) {
		errf(err, errlen, "latch: out of memory");
		return -1;
	}
	vici_add_kvstr(b, "type", "x509crl");
	if (lc_call_ok(ctl, "flush-certs", b, CHARON_CALL_MS, err, errlen) == -1)
		return -1;
	return (long)len;
}

/* ------------------------------------------------------------------ latches */

static struct charon_entry *
lc_find(struct charon *ctl, const char *addr)
{
	size_t i;

	for (i = 0; i < ctl->nents; i++)
		if (strcmp(ctl->ents[i].peer_addr, addr) == 0)
			return &ctl->ents[i];
	return NULL;
}

static struct charon_entry *
lc_entry(struct charon *ctl, const char *addr, char *err, size_t errlen)
{
	struct charon_entry *e, *ne;
	struct latch_params p;

	if ((e = lc_find(ctl, addr)) != NULL && latch_state(e->latch) != LATCH_CLOSED)
		return e;
	memset(&p, 0, sizeof(p));
	p.local_addr = ctl->conf.local_addr;
	p.peer_addr = addr;
	p.expect_id = ctl->conf.remote_id;
	p.local_fpr = ctl->has_local_fpr ? ctl->local_fpr : NULL;
	p.disposition = ctl->conf.disposition;
	p.dpd_breaks = ctl->conf.dpd_breaks;
	if (e != NULL) {
		/* A new connection after a closed one gets a new latch. */
		latch_free(e->latch);
		memset(e, 0, sizeof(*e));
		lc_copy(e->peer_addr, sizeof(e->peer_addr), addr);
		if ((e->latch = latch_new(&p, err, errlen)) == NULL)
			return NULL;
		return e;
	}
	if (ctl->nents >= CHARON_MAX_LATCHES) {
		errf(err, errlen, "latch: more than %d latches", CHARON_MAX_LATCHES);
		return NULL;
	}
	if ((ne = reallocarray(ctl->ents, ctl->nents + 1, sizeof(*ne))) == NULL) {
		errf(err, errlen, "latch: out of memory");
		return NULL;
	}
	ctl->ents = ne;
	e = &ctl->ents[ctl->nents];
	memset(e, 0, sizeof(*e));
	lc_copy(e->peer_addr, sizeof(e->peer_addr), addr);
	if ((e->latch = latch_new(&p, err, errlen)) == NULL)
		return NULL;
	ctl->nents++;
	return e;
}

static void
lc_on_cert(void *arg, const char *event, const struct vici_node *msg)
{
	struct charon *ctl = arg;
	const struct vici_node *d;
	const char *flag;

	if (strcmp(event, "list-cert") != 0 || ctl->certder != NULL)
		return;
	flag = vici_get_str(msg, "flag");
	if (flag != NULL && strcmp(flag, "NONE") != 0 && strcmp(flag, "none") != 0)
		return;
	if ((d = vici_get(msg, "data")) == NULL || d->type != VICI_N_KV || d->len == 0)
		return;
	if ((ctl->certder = malloc(d->len)) == NULL)
		return;
	memcpy(ctl->certder, d->value, d->len);
	ctl->certlen = d->len;
}

/*
 * The peer's identity: its IKE ID, and from the end-entity certificate charon holds for
 * that subject (list-certs; peer certificates are cached by charon) its SHA-256 and the
 * subject serialNumber. Without the certificate, the identity is the IKE ID alone.
 */
static void
lc_peer_identity(struct charon *ctl, const char *id, struct latch_peer *peer)
{
	const unsigned char *p;
	struct vici_node *resp;
	struct vici_buf *b;
	unsigned int fl = 0;
	X509 *x;

	memset(peer, 0, sizeof(*peer));
	lc_copy(peer->id, sizeof(peer->id), id);
	if (id[0] == '\0' || ctl->cmd == NULL || (b = vici_buf_new()) == NULL)
		return;
	vici_add_kvstr(b, "type", "X509");
	vici_add_kvstr(b, "subject", id);
	free(ctl->certder);
	ctl->certder = NULL;
	vici_set_event_cb(ctl->cmd, lc_on_cert, ctl);
	if (vici_register(ctl->cmd, "list-cert", 1, CHARON_CALL_MS, NULL, 0) == 0) {
		resp = vici_call(ctl->cmd, "list-certs", b, CHARON_CALL_MS, NULL, 0);
		vici_node_free(resp);
		(void)vici_register(ctl->cmd, "list-cert", 0, CHARON_CALL_MS, NULL, 0);
	}
	vici_set_event_cb(ctl->cmd, NULL, NULL);
	vici_buf_free(b);
	if (ctl->certder == NULL)
		return;
	if (EVP_Digest(ctl->certder, ctl->certlen, peer->fpr, &fl, EVP_sha256(), NULL) == 1 &&
	    fl == LATCH_FPR_LEN)
		peer->has_fpr = 1;
	p = ctl->certder;
	if ((x = d2i_X509(NULL, &p, (long)ctl->certlen)) != NULL) {
		if (pki_name_serial(X509_get_subject_name(x), peer->serial,
		    sizeof(peer->serial)) == -1)
			peer->serial[0] = '\0';
		X509_free(x);
	}
	free(ctl->certder);
	ctl->certder = NULL;
}

static int
lc_denied(const struct charon *ctl, const struct latch_peer *peer)
{
	size_t i;

	for (i = 0; i < ctl->ndeny; i++)
		if (strcmp(ctl->deny[i], peer->id) == 0 ||
		    (peer->serial[0] != '\0' && strcmp(ctl->deny[i], peer->serial) == 0))
			return 1;
	return 0;
}

static int
lc_terminate(struct charon *ctl, unsigned long uid, char *err, size_t errlen)
{
	struct vici_buf *b;

	if (uid == 0 || ctl->cmd == NULL)
		return 0;
	if ((b = vici_buf_new()) == NULL)
		return -1;
	vici_add_kvfmt(b, "ike-id", "%lu", uid);
	vici_add_kvstr(b, "force", "yes");	/* delete even if the peer is gone */
	vici_add_kvstr(b, "timeout", "-1");	/* do not wait for the peer's answer */
	return lc_call_ok(ctl, "terminate", b, CHARON_CALL_MS, err, errlen);
}

static void
lc_fill_info(const struct charon *ctl, const struct charon_entry *e,
    struct charon_info *o)
{
	const struct latch_peer *bp;
	int i;

	memset(o, 0, sizeof(*o));
	lc_copy(o->peer_addr, sizeof(o->peer_addr), e->peer_addr);
	if ((bp = latch_bound_peer(e->latch)) != NULL) {
		lc_copy(o->peer_id, sizeof(o->peer_id), bp->id);
		lc_copy(o->serial, sizeof(o->serial), bp->serial);
	}
	for (i = 0; i < e->nts && i < CHARON_MAX_TS; i++)
		lc_copy(o->remote_ts[i], sizeof(o->remote_ts[i]), e->ts[i]);
	o->state = latch_state(e->latch);
	o->disposition = latch_disposition(e->latch);
	o->rekeys = latch_rekeys(e->latch);
	o->resets = e->resets;
	lc_copy(o->reason, sizeof(o->reason), latch_reason(e->latch));
	o->has_cb = latch_channel_binding(e->latch, o->cb) == 0;
	(void)ctl;
}

/* Apply the action of a transition: dispositions, teardown, notification. */
static void
lc_act(struct charon *ctl, struct charon_entry *e, enum latch_action act)
{
	const char *addrs[CHARON_MAX_TS + 1];
	struct charon_info info;
	size_t n = 0;
	int i, r;

	if (act == LATCH_ACT_REJECT)
		return;
	if ((act == LATCH_ACT_BREAK && latch_disposition(e->latch) == LATCH_DISP_RESET) ||
	    act == LATCH_ACT_CLOSE) {
		/* RFC 5660 §5.5 (b): reset the latched connections. */
		addrs[n++] = e->peer_addr;
		for (i = 0; i < e->nts; i++)
			addrs[n++] = e->ts[i];
		r = charon_reset_tcp(addrs, n, ctl->evterr[0] == '\0' ? ctl->evterr : NULL,
		    sizeof(ctl->evterr));
		if (r > 0)
			e->resets += (unsigned)r;
	}
	if (act == LATCH_ACT_CLOSE)
		(void)lc_terminate(ctl, e->ike_uid, NULL, 0);
	if (ctl->cb != NULL) {
		lc_fill_info(ctl, e, &info);
		ctl->cb(ctl->cbarg, &info, act);
	}
}

/* Remember the peer's host selectors (for the reset disposition). Returns 1 if new. */
static int
lc_add_ts(struct charon_entry *e, const struct charon_sa_event *sev)
{
	int i, j, added = 0;

	for (i = 0; i < sev->nts; i++) {
		/* Only host selectors name a peer's own address. */
		if (strstr(sev->remote_ts[i], "/32") == NULL &&
		    strstr(sev->remote_ts[i], "/128") == NULL)
			continue;
		for (j = 0; j < e->nts; j++)
			if (strcmp(e->ts[j], sev->remote_ts[i]) == 0)
				break;
		if (j == e->nts && e->nts < CHARON_MAX_TS) {
			lc_copy(e->ts[e->nts++], sizeof(e->ts[0]), sev->remote_ts[i]);
			added = 1;
		}
	}
	return added;
}

static long long lc_now_ms(void);

/*
 * An SA went down. Responder: the latch outlives its SAs (a peer reboot is seen when the
 * new SA comes up, charon_reboot_feed()). Initiator: when the IKE SA that carries the latch
 * ends without a rekey, nothing carries it any more: deleted (a DELETE exchange: the
 * registrar revoked us, or an administrator) closes it, dropped without a DELETE
 * (retransmits timed out) breaks it; so `latchkey latch --hold` and --status report it.
 */
static void
lc_on_down(struct charon *ctl, struct charon_entry *e, const struct charon_sa_event *sev)
{
	enum latch_event ev = LATCH_EV_SA_DOWN;
	const struct latch_peer *bp;

	(void)charon_reboot_feed(&e->rb, sev, lc_now_ms());
	if (ctl->conf.initiator && !sev->child && sev->uniqueid != 0 &&
	    sev->uniqueid == e->ike_uid && (bp = latch_bound_peer(e->latch)) != NULL &&
	    strcmp(bp->id, sev->remote_id) == 0) {
		ev = charon_down_dropped(sev) ? LATCH_EV_SA_LOST : LATCH_EV_PEER_DELETE;
		e->ike_uid = 0;		/* gone: nothing to terminate */
	}
	lc_act(ctl, e, latch_handle(e->latch, ev, NULL));
}

static void
lc_on_event(void *arg, const char *event, const struct vici_node *msg)
{
	struct charon *ctl = arg;
	struct charon_sa_event sev;
	struct charon_entry *e;
	struct latch_peer peer;
	const struct latch_peer *bp;
	enum latch_action act;
	int news = 0, reboot;

	if (!charon_map_event(event, msg, &sev))
		return;
	if (strcmp(sev.ike_name, ctl->conf.name) != 0)
		return;			/* not our connection */
	if (sev.ev == LATCH_EV_SA_DOWN) {
		if ((e = lc_find(ctl, sev.remote_host)) == NULL)
			return;
		lc_on_down(ctl, e, &sev);
		return;
	}
	lc_peer_identity(ctl, sev.remote_id, &peer);
	if (lc_denied(ctl, &peer)) {
		/* A closed (revoked) peer does not latch again. */
		(void)lc_terminate(ctl, sev.uniqueid, NULL, 0);
		return;
	}
	if ((e = lc_entry(ctl, sev.remote_host, ctl->evterr[0] == '\0' ? ctl->evterr : NULL,
	    sizeof(ctl->evterr))) == NULL)
		return;
	reboot = charon_reboot_feed(&e->rb, &sev, lc_now_ms());
	if (reboot && latch_state(e->latch) == LATCH_ESTABLISHED &&
	    (bp = latch_bound_peer(e->latch)) != NULL && strcmp(bp->id, peer.id) == 0) {
		/* The peer rebooted (INITIAL_CONTACT): BROKEN, then latched to the new SA. */
		act = latch_handle(e->latch, LATCH_EV_INITIAL_CONTACT, NULL);
		lc_act(ctl, e, act);
	}
	act = latch_handle(e->latch, sev.ev, &peer);
	bp = latch_bound_peer(e->latch);
	if (bp != NULL && latch_state(e->latch) == LATCH_ESTABLISHED &&
	    strcmp(bp->id, peer.id) == 0) {
		e->ike_uid = sev.uniqueid;
		news = lc_add_ts(e, &sev);
		if (sev.ev == LATCH_EV_REKEY)
			news = 1;
	}
	/* Transitions, and (as LATCH_ACT_NONE) rekeys and new selectors, are reported. */
	if (act != LATCH_ACT_NONE || news)
		lc_act(ctl, e, act);
}

int
charon_process(struct charon *ctl, int timeout_ms, char *err, size_t errlen)
{
	if (ctl->evc == NULL) {
		errf(err, errlen, "latch: not started");
		return -1;
	}
	return vici_dispatch(ctl->evc, timeout_ms, err, errlen) < 0 ? -1 : 0;
}

static long long
lc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
charon_initiate(struct charon *ctl, int timeout_ms, char *err, size_t errlen)
{
	struct charon_entry *e;
	struct vici_buf *b;
	char child[64];
	long long deadline;
	int left;

	if (ctl->cmd == NULL || ctl->conf.peer_addr == NULL) {
		errf(err, errlen, "latch: not started or no peer");
		return -1;
	}
	deadline = lc_now_ms() + timeout_ms;
	if ((b = vici_buf_new()) == NULL)
		return -1;
	snprintf(child, sizeof(child), "%s-child", ctl->conf.name);
	vici_add_kvstr(b, "child", child);
	vici_add_kvstr(b, "ike", ctl->conf.name);
	vici_add_kvfmt(b, "timeout", "%d", timeout_ms);
	vici_add_kvstr(b, "init-limits", "no");
	if (lc_call_ok(ctl, "initiate", b, timeout_ms + 2000, err, errlen) == -1)
		return -1;
	for (;;) {
		e = lc_find(ctl, ctl->conf.peer_addr);
		if (e != NULL && latch_state(e->latch) == LATCH_ESTABLISHED)
			return 0;
		left = (int)(deadline - lc_now_ms());
		if (left <= 0)
			break;
		if (charon_process(ctl, left > 200 ? 200 : left, err, errlen) == -1)
			return -1;
	}
	errf(err, errlen, "latch: SA with %s is up but the latch did not reach ESTABLISHED "
	    "(peer identity not accepted?)", ctl->conf.peer_addr);
	return -1;
}

/* list-sas collection for charon_close_peer(). */
#define CHARON_TERM_MAX	64
struct lc_sas {
	const char	*conn;
	const char	*ids[CHARON_TERM_MAX];
	size_t		 nids;
	const char	*serial;
	unsigned long	 uid[CHARON_TERM_MAX];
	size_t		 n;
};

static void
lc_on_sa(void *arg, const char *event, const struct vici_node *msg)
{
	struct lc_sas *c = arg;
	unsigned long uid;

	if (strcmp(event, "list-sa") != 0 || c->n >= CHARON_TERM_MAX)
		return;
	if (charon_sa_match(msg, c->conn, c->ids, c->nids, c->serial, &uid))
		c->uid[c->n++] = uid;
}

/* Terminate every IKE SA of our connection with one of the identities (or the serial). */
static int
lc_terminate_identity(struct charon *ctl, struct lc_sas *c, char *err, size_t errlen)
{
	struct vici_node *resp;
	struct vici_buf *b;
	size_t i;
	int n = 0;

	if (ctl->cmd == NULL)
		return 0;
	if ((b = vici_buf_new()) == NULL) {
		errf(err, errlen, "latch: out of memory");
		return -1;
	}
	vici_add_kvstr(b, "ike", ctl->conf.name);
	vici_add_kvstr(b, "noblock", "yes");
	c->conn = ctl->conf.name;
	c->n = 0;
	vici_set_event_cb(ctl->cmd, lc_on_sa, c);
	if (vici_register(ctl->cmd, "list-sa", 1, CHARON_CALL_MS, err, errlen) == -1) {
		vici_set_event_cb(ctl->cmd, NULL, NULL);
		vici_buf_free(b);
		return -1;
	}
	resp = vici_call(ctl->cmd, "list-sas", b, CHARON_CALL_MS, err, errlen);
	(void)vici_register(ctl->cmd, "list-sa", 0, CHARON_CALL_MS, NULL, 0);
	vici_set_event_cb(ctl->cmd, NULL, NULL);
	vici_buf_free(b);
	if (resp == NULL)
		return -1;
	vici_node_free(resp);
	for (i = 0; i < c->n; i++)
		if (lc_terminate(ctl, c->uid[i], NULL, 0) == 0)
			n++;
	return n;
}

int
charon_close_peer(struct charon *ctl, const char *key, int *nsas, char *err, size_t errlen)
{
	const struct latch_peer *bp;
	struct charon_entry *e;
	enum latch_action act;
	struct lc_sas c;
	size_t i;
	int n = 0, t;

	if (nsas != NULL)
		*nsas = 0;
	if (key == NULL || key[0] == '\0') {
		errf(err, errlen, "latch: empty serial");
		return -1;
	}
	if (ctl->ndeny < CHARON_DENY_MAX) {
		for (i = 0; i < ctl->ndeny && strcmp(ctl->deny[i], key) != 0; i++)
			;
		if (i == ctl->ndeny && (ctl->deny[ctl->ndeny] = strdup(key)) != NULL)
			ctl->ndeny++;
	}
	/*
	 * Every IKE SA of that identity, found by remote identity (list-sas): the latch tracks
	 * one SA per address, but charon may hold more (an SA from before the peer restarted,
	 * one from another address). Done first, so that the count is of SAs charon had.
	 */
	memset(&c, 0, sizeof(c));
	c.ids[c.nids++] = key;
	c.serial = key;
	for (i = 0; i < ctl->nents && c.nids < CHARON_TERM_MAX; i++) {
		bp = latch_bound_peer(ctl->ents[i].latch);
		if (bp != NULL && (strcmp(bp->serial, key) == 0 || strcmp(bp->id, key) == 0))
			c.ids[c.nids++] = bp->id;
	}
	t = lc_terminate_identity(ctl, &c, err, errlen);
	for (i = 0; i < ctl->nents; i++) {
		e = &ctl->ents[i];
		bp = latch_bound_peer(e->latch);
		if (bp == NULL || (strcmp(bp->serial, key) != 0 && strcmp(bp->id, key) != 0))
			continue;
		if (latch_state(e->latch) == LATCH_CLOSED)
			continue;
		act = latch_handle(e->latch, LATCH_EV_ADMIN_CLOSE, NULL);
		lc_act(ctl, e, act);	/* terminates the latched SA if the sweep missed it */
		n++;
	}
	if (t < 0)
		return -1;
	if (nsas != NULL)
		*nsas = t;
	return n;
}

size_t
charon_count(const struct charon *ctl)
{
	return ctl->nents;
}

int
charon_info(const struct charon *ctl, size_t i, struct charon_info *out)
{
	if (i >= ctl->nents)
		return -1;
	lc_fill_info(ctl, &ctl->ents[i], out);
	return 0;
}

/* ------------------------------------------------------------------ TCP reset */

struct lc_addr {
	int		family;
	unsigned char	a[16];
};

static int
lc_parse_addr(const char *s, struct lc_addr *out)
{
	char tmp[64], *slash;

	lc_copy(tmp, sizeof(tmp), s);
	if ((slash = strchr(tmp, '/')) != NULL) {
		if (strcmp(slash, "/32") != 0 && strcmp(slash, "/128") != 0)
			return -1;
		*slash = '\0';
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, tmp, out->a) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, out->a) == 1)
		out->family = AF_INET6;
	else
		return -1;
	return 0;
}

static int
lc_addr_match(const struct lc_addr *set, size_t n, int family, const __be32 *dst)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i].family == family &&
		    memcmp(set[i].a, dst, family == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}

/* Send a sock_diag request for family; SOCK_DESTROY matches. Returns count or -1. */
static int
lc_reset_family(int fd, int family, const struct lc_addr *set, size_t n, char *err,
    size_t errlen)
{
	struct {
		struct nlmsghdr		nlh;
		struct inet_diag_req_v2	r;
	} req;
	struct inet_diag_sockid ids[256];
	union {
		char			buf[16384];
		struct nlmsghdr		align;
	} u;
	struct nlmsghdr *h;
	struct inet_diag_msg *m;
	size_t nids = 0, k;
	ssize_t len;
	int done = 0, count = 0;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = 1;
	req.r.sdiag_family = (unsigned char)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~(1U << 10);	/* everything but LISTEN */
	if (send(fd, &req, sizeof(req), 0) == -1) {
		errf(err, errlen, "latch: sock_diag: %s", strerror(errno));
		return -1;
	}
	while (!done) {
		if ((len = recv(fd, u.buf, sizeof(u.buf), 0)) <= 0) {
			errf(err, errlen, "latch: sock_diag recv: %s", strerror(errno));
			return -1;
		}
		for (h = &u.align; NLMSG_OK(h, (unsigned int)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				errf(err, errlen, "latch: sock_diag dump refused");
				return -1;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			m = NLMSG_DATA(h);
			if (lc_addr_match(set, n, family, m->id.idiag_dst) &&
			    nids < sizeof(ids) / sizeof(ids[0]))
				ids[nids++] = m->id;
		}
	}
	for (k = 0; k < nids; k++) {
		memset(&req, 0, sizeof(req));
		req.nlh.nlmsg_len = sizeof(req);
		req.nlh.nlmsg_type = SOCK_DESTROY;
		req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		req.nlh.nlmsg_seq = (unsigned)(2 + k);
		req.r.sdiag_family = (unsigned char)family;
		req.r.sdiag_protocol = IPPROTO_TCP;
		req.r.idiag_states = ~0U;
		req.r.id = ids[k];
		if (send(fd, &req, sizeof(req), 0) == -1)
			continue;
		if ((len = recv(fd, u.buf, sizeof(u.buf), 0)) <= 0)
			continue;
		h = &u.align;
		if (NLMSG_OK(h, (unsigned int)len) && h->nlmsg_type == NLMSG_ERROR &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) &&
		    ((struct nlmsgerr *)NLMSG_DATA(h))->error == 0)
			count++;
	}
	return count;
}

int
charon_reset_tcp(const char *const *addrs, size_t naddrs, char *err, size_t errlen)
{
	struct lc_addr set[CHARON_MAX_TS + 4];
	size_t n = 0, i;
	int fd, r4, r6;

	for (i = 0; i < naddrs && n < sizeof(set) / sizeof(set[0]); i++)
		if (addrs[i] != NULL && lc_parse_addr(addrs[i], &set[n]) == 0)
			n++;
	if (n == 0)
		return 0;
	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) == -1) {
		errf(err, errlen, "latch: netlink sock_diag: %s", strerror(errno));
		return -1;
	}
	r4 = lc_reset_family(fd, AF_INET, set, n, err, errlen);
	r6 = lc_reset_family(fd, AF_INET6, set, n, err, errlen);
	close(fd);
	if (r4 < 0 && r6 < 0)
		return -1;
	return (r4 > 0 ? r4 : 0) + (r6 > 0 ? r6 : 0);
}

/* ------------------------------------------------------------------ JSON */

char *
charon_info_json(const struct charon_info *info)
{
	json_t *o, *ts;
	char hex[2 * LATCH_CB_LEN + 1], *s;
	int i;

	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "peer", json_string(info->peer_addr));
	json_object_set_new(o, "state", json_string(latch_state_name(info->state)));
	json_object_set_new(o, "peer_id", json_string(info->peer_id));
	json_object_set_new(o, "serial", json_string(info->serial));
	json_object_set_new(o, "disposition",
	    json_string(latch_disposition_name(info->disposition)));
	json_object_set_new(o, "rekeys", json_integer(info->rekeys));
	json_object_set_new(o, "resets", json_integer(info->resets));
	json_object_set_new(o, "reason", json_string(info->reason));
	ts = json_array();
	for (i = 0; i < CHARON_MAX_TS && info->remote_ts[i][0] != '\0'; i++)
		json_array_append_new(ts, json_string(info->remote_ts[i]));
	json_object_set_new(o, "remote_ts", ts);
	if (info->has_cb) {
		for (i = 0; i < LATCH_CB_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", info->cb[i]);
		json_object_set_new(o, "channel_binding", json_string(hex));
	} else
		json_object_set_new(o, "channel_binding", json_null());
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* ------------------------------------------------------------ the registrar's identity */

/* strongSwan's names (libstrongswan identification.c) for the attributes we write. */
static const struct {
	int		 nid;
	const char	*name;
} lc_rdn_names[] = {
	{ NID_commonName, "CN" },
	{ NID_countryName, "C" },
	{ NID_localityName, "L" },
	{ NID_stateOrProvinceName, "ST" },
	{ NID_organizationName, "O" },
	{ NID_organizationalUnitName, "OU" },
	{ NID_domainComponent, "DC" },
	{ NID_serialNumber, "serialNumber" },
};

static int
lc_dn_string(const X509_NAME *nm, char *out, size_t outlen, char *err, size_t errlen)
{
	const X509_NAME_ENTRY *ne;
	const ASN1_STRING *v;
	const unsigned char *d;
	const char *name;
	size_t used = 0, j;
	int i, k, n, prev = -1, len;

	out[0] = '\0';
	if ((n = X509_NAME_entry_count(nm)) <= 0)
		return errf(err, errlen, "the registrar certificate has an empty subject");
	for (i = 0; i < n; i++) {
		ne = X509_NAME_get_entry(nm, i);
		if (X509_NAME_ENTRY_set(ne) == prev)
			return errf(err, errlen, "the registrar's subject has a multi-valued "
			    "RDN; give --remote-id");
		prev = X509_NAME_ENTRY_set(ne);
		k = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		name = NULL;
		for (j = 0; j < sizeof(lc_rdn_names) / sizeof(lc_rdn_names[0]); j++)
			if (lc_rdn_names[j].nid == k)
				name = lc_rdn_names[j].name;
		if (name == NULL)
			return errf(err, errlen, "the registrar's subject has an attribute "
			    "(%s) latchkey does not name for charon; give --remote-id",
			    k != NID_undef ? OBJ_nid2sn(k) : "unknown");
		v = X509_NAME_ENTRY_get_data(ne);
		d = ASN1_STRING_get0_data(v);
		len = ASN1_STRING_length(v);
		if (len <= 0 || d[0] == ' ' || d[len - 1] == ' ')
			goto bad;
		for (k = 0; k < len; k++)
			if (d[k] < 0x20 || d[k] > 0x7e || strchr(",/\"=+\\", d[k]) != NULL)
				goto bad;
		k = snprintf(out + used, outlen - used, "%s%s=%.*s", i > 0 ? ", " : "",
		    name, len, (const char *)d);
		if (k < 0 || (size_t)k >= outlen - used)
			return errf(err, errlen, "the registrar's subject is too long");
		used += (size_t)k;
	}
	return 0;
 bad:
	out[0] = '\0';
	return errf(err, errlen, "the registrar's subject has a value charon's DN syntax "
	    "cannot carry; give --remote-id");
}

int
charon_registrar_id(const unsigned char *der, size_t len, const char *ca_file, char *out,
    size_t outlen, char *err, size_t errlen)
{
	STACK_OF(X509) *cas = NULL;
	X509_STORE_CTX *sctx = NULL;
	X509_STORE *store = NULL;
	X509 *reg = NULL;
	const unsigned char *p = der;
	char why[256];
	int i, rc = -1;

	if (outlen > 0)
		out[0] = '\0';
	if (der == NULL || len == 0 || len > 65536 ||
	    (reg = d2i_X509(NULL, &p, (long)len)) == NULL || p != der + len) {
		errf(err, errlen, "the saved registrar certificate is not DER");
		goto out;
	}
	if ((cas = pki_certs_read(ca_file, why, sizeof(why))) == NULL) {
		errf(err, errlen, "%s", why);
		goto out;
	}
	if ((store = X509_STORE_new()) == NULL || (sctx = X509_STORE_CTX_new()) == NULL) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(cas); i++)
		if (!X509_STORE_add_cert(store, sk_X509_value(cas, i))) {
			errf(err, errlen, "%s: cannot use as a trust anchor", ca_file);
			goto out;
		}
	if (!X509_STORE_CTX_init(sctx, store, reg, NULL) || X509_verify_cert(sctx) != 1) {
		errf(err, errlen, "the saved registrar certificate does not verify under "
		    "%s: %s", ca_file, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(sctx)));
		goto out;
	}
	if (pki_cert_has_eku(reg, NID_cmcRA) != 1) {
		errf(err, errlen, "the saved registrar certificate lacks id-kp-cmcRA "
		    "(RFC 8995 5.5): not a registrar");
		goto out;
	}
	if (lc_dn_string(X509_get_subject_name(reg), out, outlen, err, errlen) == -1)
		goto out;
	rc = 0;
 out:
	if (rc == -1 && outlen > 0)
		out[0] = '\0';		/* never a partial DN */
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	sk_X509_pop_free(cas, X509_free);
	X509_free(reg);
	return rc;
}
