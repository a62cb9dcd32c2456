/*
 * latch: connection latching (RFC 5660) as a pure state machine.
 *
 * A latch binds a packet flow (here: the traffic between two addresses, or two traffic
 * selectors) to the *identity* of the IKEv2 peer that carried it, never to SPIs or keys,
 * so IKE and CHILD SA rekeys leave it alone. States and transitions (RFC 5660 §2.3):
 *
 *   LARVAL ──SA up (expected peer)──▶ ESTABLISHED ──conflicting SA / INITIAL_CONTACT /
 *                                          ▲         DPD (when configured) / SA lost──▶ BROKEN
 *                                          └──────SA up or rekey, same peer─────┘
 *   any state ──admin close / connection end / SA deleted by the peer──▶ CLOSED (terminal)
 *
 * Events carry the identity of the peer whose SA they concern. The caller (charon.c)
 * maps strongSwan's VICI events onto them. No I/O, no allocation beyond latch_new().
 */
#ifndef LATCHKEY_LATCH_H
#define LATCHKEY_LATCH_H

#include <stddef.h>
#include <stdint.h>

#define LATCH_ID_MAX		256	/* peer identity text (IKE ID, e.g. the cert DN) */
#define LATCH_SERIAL_MAX	64	/* device serial (subject serialNumber) */
#define LATCH_FPR_LEN		32	/* SHA-256 of a certificate's DER */
#define LATCH_CB_LEN		32	/* channel binding length */

/* Distinct error a latch-aware caller gets for a BROKEN latch (RFC 5660 §5.5). */
#define LATCH_EBROKEN		(-2)
/* Error for a CLOSED latch. */
#define LATCH_ECLOSED		(-3)
/* Not yet ESTABLISHED. */
#define LATCH_ELARVAL		(-4)

enum latch_state {
	LATCH_LARVAL = 0,
	LATCH_ESTABLISHED,
	LATCH_BROKEN,
	LATCH_CLOSED,
	LATCH_STATE_COUNT
};

enum latch_event {
	LATCH_EV_SA_UP = 0,		/* an IKE or CHILD SA to the peer address came up */
	LATCH_EV_REKEY,			/* an IKE or CHILD SA was rekeyed (new SPIs, same SA) */
	LATCH_EV_SA_DOWN,		/* an SA went away without replacement (no conflict) */
	LATCH_EV_INITIAL_CONTACT,	/* the peer rebooted (INITIAL_CONTACT, RFC 7296 §2.4) */
	LATCH_EV_DPD_TIMEOUT,		/* dead-peer detection gave up on the peer */
	LATCH_EV_ADMIN_CLOSE,		/* administrative close (e.g. revocation) */
	LATCH_EV_CONN_END,		/* the latched connection ended normally */
	LATCH_EV_PEER_DELETE,		/* the latched IKE SA was deleted (a DELETE exchange,
					   e.g. the registrar revoked us): nothing carries the
					   latch any more (initiator side) */
	LATCH_EV_SA_LOST,		/* the latched IKE SA vanished without a DELETE
					   (retransmits timed out): peer unreachable (initiator) */
	LATCH_EVENT_COUNT
};

/* What BROKEN does to the latched traffic (RFC 5660 §5.5). */
enum latch_disposition {
	LATCH_DISP_RESET = 0,	/* (b) reset: close with RST (default, single-path TCP) */
	LATCH_DISP_WAIT,	/* (a) wait for an SA with the same peer to return */
	LATCH_DISP_UNREACH	/* (c) behave as if the peer were unreachable */
};

/* What the caller must do after latch_handle(). */
enum latch_action {
	LATCH_ACT_NONE = 0,	/* nothing changed that needs work */
	LATCH_ACT_BOUND,	/* entered ESTABLISHED: notify latch-aware callers */
	LATCH_ACT_BREAK,	/* entered BROKEN: apply the disposition, notify with EBROKEN */
	LATCH_ACT_CLOSE,	/* entered CLOSED: tear down SAs and traffic of this latch */
	LATCH_ACT_REJECT	/* event ignored: identity not acceptable in LARVAL */
};

/* The identity of an IKE peer, as the latch sees it. */
struct latch_peer {
	char		id[LATCH_ID_MAX];	/* IKE identity text, required */
	char		serial[LATCH_SERIAL_MAX]; /* device serial if known, else "" */
	unsigned char	fpr[LATCH_FPR_LEN];	/* SHA-256 of the peer cert DER */
	int		has_fpr;
};

struct latch_params {
	const char	*local_addr;	/* our address (outer), text; may be NULL */
	const char	*peer_addr;	/* the peer's address (outer), text; required */
	const char	*expect_id;	/* LARVAL accepts only this IKE identity; NULL = any */
	const unsigned char *local_fpr;	/* SHA-256 of our certificate; NULL = unknown */
	enum latch_disposition disposition;
	int		dpd_breaks;	/* DPD timeout moves ESTABLISHED to BROKEN */
};

struct latch;

/* New latch in LARVAL. Returns NULL on allocation failure or missing peer_addr. */
struct latch	*latch_new(const struct latch_params *p, char *err, size_t errlen);
void		 latch_free(struct latch *l);

/*
 * Feed one event. peer is the identity of the SA's peer (required for SA_UP and REKEY,
 * ignored otherwise and may be NULL). Returns the action the caller must take; the new state
 * is latch_state(l). A peer whose id differs from the latched one is a conflict
 * (RFC 5660 §2.3): it breaks an ESTABLISHED latch. When both fingerprints are known they
 * must match too (a second certificate with the same name is a different peer).
 */
enum latch_action latch_handle(struct latch *l, enum latch_event ev,
		    const struct latch_peer *peer);

/* Pure transition function used by latch_handle (and the tests). */
enum latch_state latch_next_state(enum latch_state s, enum latch_event ev, int same_peer,
		    int dpd_breaks, int *action);

enum latch_state latch_state(const struct latch *l);
const char	*latch_state_name(enum latch_state s);
const char	*latch_event_name(enum latch_event ev);
const char	*latch_disposition_name(enum latch_disposition d);
/* Parse "reset", "wait", "unreachable". Returns 0 or -1. */
int		 latch_disposition_parse(const char *s, enum latch_disposition *out);
enum latch_disposition latch_disposition(const struct latch *l);
const char	*latch_peer_addr(const struct latch *l);
/* The latched peer (valid once ESTABLISHED, kept in BROKEN/CLOSED), or NULL. */
const struct latch_peer *latch_bound_peer(const struct latch *l);
/* Number of transitions so far and of rekeys survived (for status output). */
unsigned	 latch_rekeys(const struct latch *l);
/* Short reason for the last BROKEN/CLOSED transition ("" otherwise). */
const char	*latch_reason(const struct latch *l);

/*
 * For a latch-aware caller: 0 when ESTABLISHED, LATCH_EBROKEN, LATCH_ECLOSED or
 * LATCH_ELARVAL otherwise.
 */
int		 latch_check(const struct latch *l);

/*
 * Channel binding to the IPsec channel (RFC 5056 §2.1): SHA-256 over the label
 * "latchkey ipsec-latch v1" and the SHA-256 fingerprints of both peers' certificates in
 * ascending byte order, so both ends compute the same value and rekeys do not change it.
 * Needs both fingerprints and a latch that is or was ESTABLISHED. Returns 0 or -1.
 */
int		 latch_channel_binding(const struct latch *l, unsigned char out[LATCH_CB_LEN]);
/* The same computation from two fingerprints (for tests and the peer's side); 0 or -1. */
int		 latch_channel_binding_fprs(const unsigned char a[LATCH_FPR_LEN],
		    const unsigned char b[LATCH_FPR_LEN], unsigned char out[LATCH_CB_LEN]);

#endif
