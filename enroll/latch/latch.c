/*
 * latch: RFC 5660 connection latch state machine. See latch.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "enroll/latch/latch.h"

struct latch {
	enum latch_state	 state;
	enum latch_disposition	 disp;
	int			 dpd_breaks;
	char			 local_addr[64];
	char			 peer_addr[64];
	char			 expect_id[LATCH_ID_MAX];
	int			 has_expect;
	unsigned char		 local_fpr[LATCH_FPR_LEN];
	int			 has_local_fpr;
	struct latch_peer	 peer;		/* bound identity */
	int			 bound;
	unsigned		 rekeys;
	char			 reason[128];
};

static const char *const state_names[LATCH_STATE_COUNT] = {
	"LARVAL", "ESTABLISHED", "BROKEN", "CLOSED"
};

static const char *const event_names[LATCH_EVENT_COUNT] = {
	"sa-up", "rekey", "sa-down", "initial-contact", "dpd-timeout", "admin-close",
	"conn-end", "peer-delete", "sa-lost"
};

static const char *const disp_names[] = { "reset", "wait", "unreachable" };

static void
latch_seterr(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

struct latch *
latch_new(const struct latch_params *p, char *err, size_t errlen)
{
	struct latch *l;

	if (p == NULL || p->peer_addr == NULL || p->peer_addr[0] == '\0') {
		latch_seterr(err, errlen, "latch: peer address required");
		return NULL;
	}
	if (strlen(p->peer_addr) >= sizeof(l->peer_addr) ||
	    (p->local_addr != NULL && strlen(p->local_addr) >= sizeof(l->local_addr)) ||
	    (p->expect_id != NULL && strlen(p->expect_id) >= sizeof(l->expect_id))) {
		latch_seterr(err, errlen, "latch: address or identity too long");
		return NULL;
	}
	if (p->disposition > LATCH_DISP_UNREACH) {
		latch_seterr(err, errlen, "latch: bad disposition");
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		latch_seterr(err, errlen, "latch: out of memory");
		return NULL;
	}
	l->state = LATCH_LARVAL;
	l->disp = p->disposition;
	l->dpd_breaks = p->dpd_breaks != 0;
	snprintf(l->peer_addr, sizeof(l->peer_addr), "%s", p->peer_addr);
	if (p->local_addr != NULL)
		snprintf(l->local_addr, sizeof(l->local_addr), "%s", p->local_addr);
	if (p->expect_id != NULL && p->expect_id[0] != '\0') {
		snprintf(l->expect_id, sizeof(l->expect_id), "%s", p->expect_id);
		l->has_expect = 1;
	}
	if (p->local_fpr != NULL) {
		memcpy(l->local_fpr, p->local_fpr, LATCH_FPR_LEN);
		l->has_local_fpr = 1;
	}
	return l;
}

void
latch_free(struct latch *l)
{
	free(l);
}

/*
 * The transition table (RFC 5660 §2.3). same_peer: the event's peer is the latched one
 * (in LARVAL: an acceptable one). *action gets the enum latch_action to report.
 */
enum latch_state
latch_next_state(enum latch_state s, enum latch_event ev, int same_peer, int dpd_breaks,
    int *action)
{
	int act = LATCH_ACT_NONE;
	enum latch_state n = s;

	if (s == LATCH_CLOSED || s >= LATCH_STATE_COUNT || ev >= LATCH_EVENT_COUNT)
		goto out;		/* terminal, or nonsense: nothing moves */
	switch (ev) {
	case LATCH_EV_ADMIN_CLOSE:
	case LATCH_EV_CONN_END:
	case LATCH_EV_PEER_DELETE:
		n = LATCH_CLOSED;
		act = LATCH_ACT_CLOSE;
		goto out;
	case LATCH_EV_SA_UP:
	case LATCH_EV_REKEY:
		if (same_peer) {
			n = LATCH_ESTABLISHED;
			if (s != LATCH_ESTABLISHED)
				act = LATCH_ACT_BOUND;
		} else if (s == LATCH_LARVAL) {
			act = LATCH_ACT_REJECT;
		} else if (s == LATCH_ESTABLISHED) {
			/* §2.3: an SA for the same flow to a different peer ID. */
			n = LATCH_BROKEN;
			act = LATCH_ACT_BREAK;
		}
		goto out;
	case LATCH_EV_SA_DOWN:
		/* The latch outlives its SAs: it binds to the peer, not to an SA. */
		goto out;
	case LATCH_EV_INITIAL_CONTACT:
		if (s == LATCH_ESTABLISHED) {
			n = LATCH_BROKEN;
			act = LATCH_ACT_BREAK;
		}
		goto out;
	case LATCH_EV_SA_LOST:
		if (s == LATCH_ESTABLISHED) {
			n = LATCH_BROKEN;
			act = LATCH_ACT_BREAK;
		}
		goto out;
	case LATCH_EV_DPD_TIMEOUT:
		if (s == LATCH_ESTABLISHED && dpd_breaks) {
			n = LATCH_BROKEN;
			act = LATCH_ACT_BREAK;
		}
		goto out;
	default:
		goto out;
	}
out:
	if (action != NULL)
		*action = act;
	return n;
}

static int
latch_peer_same(const struct latch *l, const struct latch_peer *p)
{
	if (p == NULL || p->id[0] == '\0')
		return 0;
	if (!l->bound)
		return !l->has_expect || strcmp(l->expect_id, p->id) == 0;
	if (strcmp(l->peer.id, p->id) != 0)
		return 0;
	if (l->peer.has_fpr && p->has_fpr &&
	    memcmp(l->peer.fpr, p->fpr, LATCH_FPR_LEN) != 0)
		return 0;
	return 1;
}

enum latch_action
latch_handle(struct latch *l, enum latch_event ev, const struct latch_peer *peer)
{
	enum latch_state old;
	int act, same = 0;

	if (l == NULL)
		return LATCH_ACT_NONE;
	old = l->state;
	if (ev == LATCH_EV_SA_UP || ev == LATCH_EV_REKEY)
		same = latch_peer_same(l, peer);
	l->state = latch_next_state(old, ev, same, l->dpd_breaks, &act);
	if (l->state == LATCH_ESTABLISHED && same) {
		if (!l->bound) {
			l->peer = *peer;
			l->peer.id[sizeof(l->peer.id) - 1] = '\0';
			l->peer.serial[sizeof(l->peer.serial) - 1] = '\0';
			l->bound = 1;
		} else if (!l->peer.has_fpr && peer->has_fpr) {
			memcpy(l->peer.fpr, peer->fpr, LATCH_FPR_LEN);
			l->peer.has_fpr = 1;
		}
		if (ev == LATCH_EV_REKEY)
			l->rekeys++;
		if (old != LATCH_ESTABLISHED)
			l->reason[0] = '\0';
	}
	if (act == LATCH_ACT_BREAK) {
		if (ev == LATCH_EV_INITIAL_CONTACT)
			snprintf(l->reason, sizeof(l->reason), "peer rebooted (INITIAL_CONTACT)");
		else if (ev == LATCH_EV_DPD_TIMEOUT)
			snprintf(l->reason, sizeof(l->reason), "dead peer detection timeout");
		else if (ev == LATCH_EV_SA_LOST)
			snprintf(l->reason, sizeof(l->reason),
			    "IKE SA lost without a DELETE (peer unreachable)");
		else
			snprintf(l->reason, sizeof(l->reason),
			    "SA from a different peer identity for %s", l->peer_addr);
	} else if (act == LATCH_ACT_CLOSE) {
		snprintf(l->reason, sizeof(l->reason), "%s",
		    ev == LATCH_EV_ADMIN_CLOSE ? "closed by administrator" :
		    ev == LATCH_EV_PEER_DELETE ? "IKE SA deleted by the peer" :
		    "connection ended");
	}
	return (enum latch_action)act;
}

enum latch_state
latch_state(const struct latch *l)
{
	return l != NULL ? l->state : LATCH_CLOSED;
}

const char *
latch_state_name(enum latch_state s)
{
	return s < LATCH_STATE_COUNT ? state_names[s] : "UNKNOWN";
}

const char *
latch_event_name(enum latch_event ev)
{
	return ev < LATCH_EVENT_COUNT ? event_names[ev] : "unknown";
}

const char *
latch_disposition_name(enum latch_disposition d)
{
	return d <= LATCH_DISP_UNREACH ? disp_names[d] : "unknown";
}

int
latch_disposition_parse(const char *s, enum latch_disposition *out)
{
	size_t i;

	for (i = 0; s != NULL && i < sizeof(disp_names) / sizeof(disp_names[0]); i++) {
		if (strcmp(s, disp_names[i]) == 0) {
			*out = (enum latch_disposition)i;
			return 0;
		}
	}
	return -1;
}

enum latch_disposition
latch_disposition(const struct latch *l)
{
	return l->disp;
}

const char *
latch_peer_addr(const struct latch *l)
{
	return l->peer_addr;
}

const struct latch_peer *
latch_bound_peer(const struct latch *l)
{
	return l != NULL && l->bound ? &l->peer : NULL;
}

unsigned
latch_rekeys(const struct latch *l)
{
	return l->rekeys;
}

const char *
latch_reason(const struct latch *l)
{
	return l->reason;
}

int
latch_check(const struct latch *l)
{
	switch (latch_state(l)) {
	case LATCH_ESTABLISHED:
		return 0;
	case LATCH_BROKEN:
		return LATCH_EBROKEN;
	case LATCH_LARVAL:
		return LATCH_ELARVAL;
	default:
		return LATCH_ECLOSED;
	}
}

int
latch_channel_binding_fprs(const unsigned char a[LATCH_FPR_LEN],
    const unsigned char b[LATCH_FPR_LEN], unsigned char out[LATCH_CB_LEN])
{
	static const char label[] = "latchkey ipsec-latch v1";
	unsigned char buf[sizeof(label) + 2 * LATCH_FPR_LEN];
	const unsigned char *lo = a, *hi = b;
	unsigned int n = 0;

	if (memcmp(a, b, LATCH_FPR_LEN) > 0) {
		lo = b;
		hi = a;
	}
	memcpy(buf, label, sizeof(label));	/* with its NUL as separator */
	memcpy(buf + sizeof(label), lo, LATCH_FPR_LEN);
	memcpy(buf + sizeof(label) + LATCH_FPR_LEN, hi, LATCH_FPR_LEN);
	if (EVP_Digest(buf, sizeof(buf), out, &n, EVP_sha256(), NULL) != 1 ||
	    n != LATCH_CB_LEN)
		return -1;
	return 0;
}

int
latch_channel_binding(const struct latch *l, unsigned char out[LATCH_CB_LEN])
{
	if (l == NULL || !l->bound || !l->has_local_fpr || !l->peer.has_fpr)
		return -1;
	return latch_channel_binding_fprs(l->local_fpr, l->peer.fpr, out);
}
