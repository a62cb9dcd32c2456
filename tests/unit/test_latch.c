/*
 * test_latch: the RFC 5660 connection latch state machine (enroll/latch/latch.c). One table row
 * per (state, event, same peer?, DPD breaks?) — every event in every state — then scenarios
 * through latch_handle() and the channel binding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "enroll/latch/latch.h"
#include "enroll/latch/charon.h"
#include "enroll/latch/vici.h"

enum { L = LATCH_LARVAL, E = LATCH_ESTABLISHED, B = LATCH_BROKEN, C = LATCH_CLOSED };
enum { A_NONE = LATCH_ACT_NONE, A_BOUND = LATCH_ACT_BOUND, A_BREAK = LATCH_ACT_BREAK,
	A_CLOSE = LATCH_ACT_CLOSE, A_REJ = LATCH_ACT_REJECT };

struct trans {
	int	from;
	int	ev;
	int	same;
	int	dpd;
	int	to;
	int	act;
};

/* Every (state, event) with same = 0/1 and dpd = 0/1: 4 x 9 x 2 x 2 = 144 rows. */
static const struct trans table[] = {
	/* LARVAL: an acceptable peer latches, another is rejected; nothing else moves. */
	{ L, LATCH_EV_SA_UP, 1, 0, E, A_BOUND },
	{ L, LATCH_EV_SA_UP, 1, 1, E, A_BOUND },
	{ L, LATCH_EV_SA_UP, 0, 0, L, A_REJ },
	{ L, LATCH_EV_SA_UP, 0, 1, L, A_REJ },
	{ L, LATCH_EV_REKEY, 1, 0, E, A_BOUND },
	{ L, LATCH_EV_REKEY, 1, 1, E, A_BOUND },
	{ L, LATCH_EV_REKEY, 0, 0, L, A_REJ },
	{ L, LATCH_EV_REKEY, 0, 1, L, A_REJ },
	{ L, LATCH_EV_SA_DOWN, 0, 0, L, A_NONE },
	{ L, LATCH_EV_SA_DOWN, 1, 1, L, A_NONE },
	{ L, LATCH_EV_SA_DOWN, 1, 0, L, A_NONE },
	{ L, LATCH_EV_SA_DOWN, 0, 1, L, A_NONE },
	{ L, LATCH_EV_INITIAL_CONTACT, 0, 0, L, A_NONE },
	{ L, LATCH_EV_INITIAL_CONTACT, 1, 1, L, A_NONE },
	{ L, LATCH_EV_INITIAL_CONTACT, 1, 0, L, A_NONE },
	{ L, LATCH_EV_INITIAL_CONTACT, 0, 1, L, A_NONE },
	{ L, LATCH_EV_DPD_TIMEOUT, 0, 0, L, A_NONE },
	{ L, LATCH_EV_DPD_TIMEOUT, 1, 1, L, A_NONE },
	{ L, LATCH_EV_DPD_TIMEOUT, 1, 0, L, A_NONE },
	{ L, LATCH_EV_DPD_TIMEOUT, 0, 1, L, A_NONE },
	/* ESTABLISHED: same peer (SA up, rekey) keeps it; a different peer breaks it. */
	{ E, LATCH_EV_SA_UP, 1, 0, E, A_NONE },
	{ E, LATCH_EV_SA_UP, 1, 1, E, A_NONE },
	{ E, LATCH_EV_SA_UP, 0, 0, B, A_BREAK },
	{ E, LATCH_EV_SA_UP, 0, 1, B, A_BREAK },
	{ E, LATCH_EV_REKEY, 1, 0, E, A_NONE },
	{ E, LATCH_EV_REKEY, 1, 1, E, A_NONE },
	{ E, LATCH_EV_REKEY, 0, 0, B, A_BREAK },
	{ E, LATCH_EV_REKEY, 0, 1, B, A_BREAK },
	{ E, LATCH_EV_SA_DOWN, 1, 0, E, A_NONE },
	{ E, LATCH_EV_SA_DOWN, 1, 1, E, A_NONE },
	{ E, LATCH_EV_SA_DOWN, 0, 0, E, A_NONE },
	{ E, LATCH_EV_SA_DOWN, 0, 1, E, A_NONE },
	{ E, LATCH_EV_INITIAL_CONTACT, 1, 0, B, A_BREAK },
	{ E, LATCH_EV_INITIAL_CONTACT, 1, 1, B, A_BREAK },
	{ E, LATCH_EV_INITIAL_CONTACT, 0, 0, B, A_BREAK },
	{ E, LATCH_EV_INITIAL_CONTACT, 0, 1, B, A_BREAK },
	{ E, LATCH_EV_DPD_TIMEOUT, 1, 0, E, A_NONE },
	{ E, LATCH_EV_DPD_TIMEOUT, 0, 0, E, A_NONE },
	{ E, LATCH_EV_DPD_TIMEOUT, 1, 1, B, A_BREAK },
	{ E, LATCH_EV_DPD_TIMEOUT, 0, 1, B, A_BREAK },
	/* BROKEN: only an SA (or rekey) with the latched identity repairs it. */
	{ B, LATCH_EV_SA_UP, 1, 0, E, A_BOUND },
	{ B, LATCH_EV_SA_UP, 1, 1, E, A_BOUND },
	{ B, LATCH_EV_SA_UP, 0, 0, B, A_NONE },
	{ B, LATCH_EV_SA_UP, 0, 1, B, A_NONE },
	{ B, LATCH_EV_REKEY, 1, 0, E, A_BOUND },
	{ B, LATCH_EV_REKEY, 1, 1, E, A_BOUND },
	{ B, LATCH_EV_REKEY, 0, 0, B, A_NONE },
	{ B, LATCH_EV_REKEY, 0, 1, B, A_NONE },
	{ B, LATCH_EV_SA_DOWN, 1, 0, B, A_NONE },
	{ B, LATCH_EV_SA_DOWN, 0, 1, B, A_NONE },
	{ B, LATCH_EV_SA_DOWN, 1, 1, B, A_NONE },
	{ B, LATCH_EV_SA_DOWN, 0, 0, B, A_NONE },
	{ B, LATCH_EV_INITIAL_CONTACT, 1, 0, B, A_NONE },
	{ B, LATCH_EV_INITIAL_CONTACT, 0, 1, B, A_NONE },
	{ B, LATCH_EV_INITIAL_CONTACT, 1, 1, B, A_NONE },
	{ B, LATCH_EV_INITIAL_CONTACT, 0, 0, B, A_NONE },
	{ B, LATCH_EV_DPD_TIMEOUT, 1, 0, B, A_NONE },
	{ B, LATCH_EV_DPD_TIMEOUT, 0, 1, B, A_NONE },
	{ B, LATCH_EV_DPD_TIMEOUT, 1, 1, B, A_NONE },
	{ B, LATCH_EV_DPD_TIMEOUT, 0, 0, B, A_NONE },
	/* CLOSED is terminal. */
	{ C, LATCH_EV_SA_UP, 1, 0, C, A_NONE },
	{ C, LATCH_EV_SA_UP, 0, 1, C, A_NONE },
	{ C, LATCH_EV_SA_UP, 1, 1, C, A_NONE },
	{ C, LATCH_EV_SA_UP, 0, 0, C, A_NONE },
	{ C, LATCH_EV_REKEY, 1, 0, C, A_NONE },
	{ C, LATCH_EV_REKEY, 0, 1, C, A_NONE },
	{ C, LATCH_EV_REKEY, 1, 1, C, A_NONE },
	{ C, LATCH_EV_REKEY, 0, 0, C, A_NONE },
	{ C, LATCH_EV_SA_DOWN, 1, 0, C, A_NONE },
	{ C, LATCH_EV_SA_DOWN, 0, 1, C, A_NONE },
	{ C, LATCH_EV_SA_DOWN, 1, 1, C, A_NONE },
	{ C, LATCH_EV_SA_DOWN, 0, 0, C, A_NONE },
	{ C, LATCH_EV_INITIAL_CONTACT, 1, 0, C, A_NONE },
	{ C, LATCH_EV_INITIAL_CONTACT, 0, 1, C, A_NONE },
	{ C, LATCH_EV_INITIAL_CONTACT, 1, 1, C, A_NONE },
	{ C, LATCH_EV_INITIAL_CONTACT, 0, 0, C, A_NONE },
	{ C, LATCH_EV_DPD_TIMEOUT, 1, 0, C, A_NONE },
	{ C, LATCH_EV_DPD_TIMEOUT, 0, 1, C, A_NONE },
	{ C, LATCH_EV_DPD_TIMEOUT, 1, 1, C, A_NONE },
	{ C, LATCH_EV_DPD_TIMEOUT, 0, 0, C, A_NONE },
	{ C, LATCH_EV_ADMIN_CLOSE, 1, 0, C, A_NONE },
	{ C, LATCH_EV_ADMIN_CLOSE, 0, 1, C, A_NONE },
	{ C, LATCH_EV_ADMIN_CLOSE, 1, 1, C, A_NONE },
	{ C, LATCH_EV_ADMIN_CLOSE, 0, 0, C, A_NONE },
	{ C, LATCH_EV_CONN_END, 1, 0, C, A_NONE },
	{ C, LATCH_EV_CONN_END, 0, 1, C, A_NONE },
	{ C, LATCH_EV_CONN_END, 1, 1, C, A_NONE },
	{ C, LATCH_EV_CONN_END, 0, 0, C, A_NONE },
	/* Admin close and connection end close every live state, whatever the peer. */
	{ L, LATCH_EV_ADMIN_CLOSE, 0, 0, C, A_CLOSE },
	{ L, LATCH_EV_ADMIN_CLOSE, 1, 1, C, A_CLOSE },
	{ L, LATCH_EV_ADMIN_CLOSE, 1, 0, C, A_CLOSE },
	{ L, LATCH_EV_ADMIN_CLOSE, 0, 1, C, A_CLOSE },
	{ L, LATCH_EV_CONN_END, 0, 0, C, A_CLOSE },
	{ L, LATCH_EV_CONN_END, 1, 1, C, A_CLOSE },
	{ L, LATCH_EV_CONN_END, 1, 0, C, A_CLOSE },
	{ L, LATCH_EV_CONN_END, 0, 1, C, A_CLOSE },
	{ E, LATCH_EV_ADMIN_CLOSE, 0, 0, C, A_CLOSE },
	{ E, LATCH_EV_ADMIN_CLOSE, 1, 1, C, A_CLOSE },
	{ E, LATCH_EV_ADMIN_CLOSE, 1, 0, C, A_CLOSE },
	{ E, LATCH_EV_ADMIN_CLOSE, 0, 1, C, A_CLOSE },
	{ E, LATCH_EV_CONN_END, 0, 0, C, A_CLOSE },
	{ E, LATCH_EV_CONN_END, 1, 1, C, A_CLOSE },
	{ E, LATCH_EV_CONN_END, 1, 0, C, A_CLOSE },
	{ E, LATCH_EV_CONN_END, 0, 1, C, A_CLOSE },
	{ B, LATCH_EV_ADMIN_CLOSE, 0, 0, C, A_CLOSE },
	{ B, LATCH_EV_ADMIN_CLOSE, 1, 1, C, A_CLOSE },
	{ B, LATCH_EV_ADMIN_CLOSE, 1, 0, C, A_CLOSE },
	{ B, LATCH_EV_ADMIN_CLOSE, 0, 1, C, A_CLOSE },
	{ B, LATCH_EV_CONN_END, 0, 0, C, A_CLOSE },
	{ B, LATCH_EV_CONN_END, 1, 1, C, A_CLOSE },
	{ B, LATCH_EV_CONN_END, 1, 0, C, A_CLOSE },
	{ B, LATCH_EV_CONN_END, 0, 1, C, A_CLOSE },
	/* The initiator's IKE SA deleted by the peer (e.g. revocation): CLOSED from any live
	 * state, whatever the peer (item 13 (d)). */
	{ L, LATCH_EV_PEER_DELETE, 0, 0, C, A_CLOSE },
	{ L, LATCH_EV_PEER_DELETE, 1, 1, C, A_CLOSE },
	{ L, LATCH_EV_PEER_DELETE, 1, 0, C, A_CLOSE },
	{ L, LATCH_EV_PEER_DELETE, 0, 1, C, A_CLOSE },
	{ E, LATCH_EV_PEER_DELETE, 0, 0, C, A_CLOSE },
	{ E, LATCH_EV_PEER_DELETE, 1, 1, C, A_CLOSE },
	{ E, LATCH_EV_PEER_DELETE, 1, 0, C, A_CLOSE },
	{ E, LATCH_EV_PEER_DELETE, 0, 1, C, A_CLOSE },
	{ B, LATCH_EV_PEER_DELETE, 0, 0, C, A_CLOSE },
	{ B, LATCH_EV_PEER_DELETE, 1, 1, C, A_CLOSE },
	{ B, LATCH_EV_PEER_DELETE, 1, 0, C, A_CLOSE },
	{ B, LATCH_EV_PEER_DELETE, 0, 1, C, A_CLOSE },
	{ C, LATCH_EV_PEER_DELETE, 0, 0, C, A_NONE },
	{ C, LATCH_EV_PEER_DELETE, 1, 1, C, A_NONE },
	{ C, LATCH_EV_PEER_DELETE, 1, 0, C, A_NONE },
	{ C, LATCH_EV_PEER_DELETE, 0, 1, C, A_NONE },
	/* The initiator's IKE SA gone without a DELETE: ESTABLISHED breaks, nothing else. */
	{ L, LATCH_EV_SA_LOST, 0, 0, L, A_NONE },
	{ L, LATCH_EV_SA_LOST, 1, 1, L, A_NONE },
	{ L, LATCH_EV_SA_LOST, 1, 0, L, A_NONE },
	{ L, LATCH_EV_SA_LOST, 0, 1, L, A_NONE },
	{ E, LATCH_EV_SA_LOST, 0, 0, B, A_BREAK },
	{ E, LATCH_EV_SA_LOST, 1, 1, B, A_BREAK },
	{ E, LATCH_EV_SA_LOST, 1, 0, B, A_BREAK },
	{ E, LATCH_EV_SA_LOST, 0, 1, B, A_BREAK },
	{ B, LATCH_EV_SA_LOST, 0, 0, B, A_NONE },
	{ B, LATCH_EV_SA_LOST, 1, 1, B, A_NONE },
	{ B, LATCH_EV_SA_LOST, 1, 0, B, A_NONE },
	{ B, LATCH_EV_SA_LOST, 0, 1, B, A_NONE },
	{ C, LATCH_EV_SA_LOST, 0, 0, C, A_NONE },
	{ C, LATCH_EV_SA_LOST, 1, 1, C, A_NONE },
	{ C, LATCH_EV_SA_LOST, 1, 0, C, A_NONE },
	{ C, LATCH_EV_SA_LOST, 0, 1, C, A_NONE },
};

#define NTABLE	(sizeof(table) / sizeof(table[0]))

static void
test_transition_table(void **state)
{
	size_t i;
	int act;

	(void)state;
	for (i = 0; i < NTABLE; i++) {
		const struct trans *t = &table[i];
		enum latch_state to;

		act = -1;
		to = latch_next_state(t->from, t->ev, t->same, t->dpd, &act);
		if ((int)to != t->to || act != t->act)
			fail_msg("row %zu: %s + %s (same=%d dpd=%d): got %s/%d, want %s/%d", i,
			    latch_state_name(t->from), latch_event_name(t->ev), t->same, t->dpd,
			    latch_state_name(to), act, latch_state_name(t->to), t->act);
	}
}

/* The table is complete: every state x event x same x dpd appears exactly once. */
static void
test_table_complete(void **state)
{
	int seen[LATCH_STATE_COUNT][LATCH_EVENT_COUNT][2][2];
	size_t i;
	int s, e, a, b;

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < NTABLE; i++)
		seen[table[i].from][table[i].ev][table[i].same][table[i].dpd]++;
	for (s = 0; s < LATCH_STATE_COUNT; s++)
		for (e = 0; e < LATCH_EVENT_COUNT; e++)
			for (a = 0; a < 2; a++)
				for (b = 0; b < 2; b++)
					if (seen[s][e][a][b] != 1)
						fail_msg("%s + %s same=%d dpd=%d: %d rows",
						    latch_state_name(s), latch_event_name(e), a, b,
						    seen[s][e][a][b]);
}

static void
test_out_of_range(void **state)
{
	int act = -1;

	(void)state;
	assert_int_equal(latch_next_state(LATCH_ESTABLISHED, LATCH_EVENT_COUNT, 0, 0, &act), E);
	assert_int_equal(act, A_NONE);
	assert_int_equal(latch_next_state(LATCH_STATE_COUNT, LATCH_EV_SA_UP, 1, 0, &act),
	    LATCH_STATE_COUNT);
	assert_string_equal(latch_state_name(LATCH_STATE_COUNT), "UNKNOWN");
	assert_string_equal(latch_event_name(LATCH_EVENT_COUNT), "unknown");
}

static void
peer_set(struct latch_peer *p, const char *id, int fprbyte)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	if (fprbyte >= 0) {
		memset(p->fpr, fprbyte, sizeof(p->fpr));
		p->has_fpr = 1;
	}
}

static struct latch *
mk(const char *expect, int dpd, const unsigned char *lfpr)
{
	struct latch_params p;
	struct latch *l;

	memset(&p, 0, sizeof(p));
	p.peer_addr = "10.0.0.2";
	p.local_addr = "10.0.0.1";
	p.expect_id = expect;
	p.dpd_breaks = dpd;
	p.local_fpr = lfpr;
	l = latch_new(&p, NULL, 0);
	assert_non_null(l);
	return l;
}

/* Rekeys keep the latch; a second identity on the same address breaks it; the first
 * identity coming back repairs it; admin close is final. */
static void
test_scenario_rekey_conflict(void **state)
{
	struct latch_peer dev, imp;
	struct latch *l;

	(void)state;
	peer_set(&dev, "C=XX, serialNumber=dev1, CN=dev1", 0x11);
	peer_set(&imp, "C=XX, serialNumber=dev2, CN=dev2", 0x22);
	l = mk(NULL, 0, NULL);
	assert_int_equal(latch_check(l), LATCH_ELARVAL);
	assert_null(latch_bound_peer(l));
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &dev), LATCH_ACT_BOUND);
	assert_int_equal(latch_check(l), 0);
	assert_string_equal(latch_bound_peer(l)->id, dev.id);
	assert_int_equal(latch_handle(l, LATCH_EV_REKEY, &dev), LATCH_ACT_NONE);
	assert_int_equal(latch_handle(l, LATCH_EV_REKEY, &dev), LATCH_ACT_NONE);
	assert_int_equal(latch_rekeys(l), 2);
	assert_int_equal(latch_state(l), LATCH_ESTABLISHED);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &imp), LATCH_ACT_BREAK);
	assert_int_equal(latch_check(l), LATCH_EBROKEN);
	assert_non_null(strstr(latch_reason(l), "different peer"));
	/* The latch stays bound to the first identity. */
	assert_string_equal(latch_bound_peer(l)->id, dev.id);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &imp), LATCH_ACT_NONE);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &dev), LATCH_ACT_BOUND);
	assert_int_equal(latch_state(l), LATCH_ESTABLISHED);
	assert_string_equal(latch_reason(l), "");
	assert_int_equal(latch_handle(l, LATCH_EV_ADMIN_CLOSE, NULL), LATCH_ACT_CLOSE);
	assert_int_equal(latch_check(l), LATCH_ECLOSED);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &dev), LATCH_ACT_NONE);
	assert_int_equal(latch_state(l), LATCH_CLOSED);
	latch_free(l);
}

/* Same name, different certificate: a different peer. Missing fingerprints do not matter. */
static void
test_scenario_same_name_other_cert(void **state)
{
	struct latch_peer a, b, nofpr;
	struct latch *l;

	(void)state;
	peer_set(&a, "CN=dev1", 0x11);
	peer_set(&b, "CN=dev1", 0x12);
	peer_set(&nofpr, "CN=dev1", -1);
	l = mk(NULL, 0, NULL);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &a), LATCH_ACT_BOUND);
	assert_int_equal(latch_handle(l, LATCH_EV_REKEY, &nofpr), LATCH_ACT_NONE);
	assert_int_equal(latch_handle(l, LATCH_EV_REKEY, &b), LATCH_ACT_BREAK);
	latch_free(l);
}

static void
test_scenario_expect_and_null_peer(void **state)
{
	struct latch_peer dev, imp;
	struct latch *l;

	(void)state;
	peer_set(&dev, "CN=registrar", -1);
	peer_set(&imp, "CN=other", -1);
	l = mk("CN=registrar", 0, NULL);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &imp), LATCH_ACT_REJECT);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, NULL), LATCH_ACT_REJECT);
	assert_int_equal(latch_state(l), LATCH_LARVAL);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &dev), LATCH_ACT_BOUND);
	/* An SA event without identity cannot confirm the latch: it is a conflict. */
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, NULL), LATCH_ACT_BREAK);
	latch_free(l);
	assert_int_equal(latch_handle(NULL, LATCH_EV_SA_UP, &dev), LATCH_ACT_NONE);
	latch_free(NULL);
}

static void
test_scenario_dpd_and_reboot(void **state)
{
	struct latch_peer dev;
	struct latch *l;

	(void)state;
	peer_set(&dev, "CN=dev1", -1);
	l = mk(NULL, 0, NULL);
	latch_handle(l, LATCH_EV_SA_UP, &dev);
	assert_int_equal(latch_handle(l, LATCH_EV_DPD_TIMEOUT, NULL), LATCH_ACT_NONE);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_DOWN, NULL), LATCH_ACT_NONE);
	assert_int_equal(latch_state(l), LATCH_ESTABLISHED);
	assert_int_equal(latch_handle(l, LATCH_EV_INITIAL_CONTACT, NULL), LATCH_ACT_BREAK);
	assert_non_null(strstr(latch_reason(l), "INITIAL_CONTACT"));
	latch_free(l);
	l = mk(NULL, 1, NULL);
	latch_handle(l, LATCH_EV_SA_UP, &dev);
	assert_int_equal(latch_handle(l, LATCH_EV_DPD_TIMEOUT, NULL), LATCH_ACT_BREAK);
	assert_non_null(strstr(latch_reason(l), "dead peer"));
	latch_free(l);
}

/* Item 13 (d): the device's latch follows its SA: deleted -> CLOSED, lost -> BROKEN. */
static void
test_scenario_peer_delete_and_lost(void **state)
{
	struct latch_peer reg;
	struct latch *l;

	(void)state;
	peer_set(&reg, "CN=registrar", -1);
	l = mk("CN=registrar", 0, NULL);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &reg), LATCH_ACT_BOUND);
	assert_int_equal(latch_handle(l, LATCH_EV_PEER_DELETE, NULL), LATCH_ACT_CLOSE);
	assert_int_equal(latch_check(l), LATCH_ECLOSED);
	assert_string_equal(latch_reason(l), "IKE SA deleted by the peer");
	assert_string_equal(latch_event_name(LATCH_EV_PEER_DELETE), "peer-delete");
	latch_free(l);
	l = mk("CN=registrar", 0, NULL);
	latch_handle(l, LATCH_EV_SA_UP, &reg);
	assert_int_equal(latch_handle(l, LATCH_EV_SA_LOST, NULL), LATCH_ACT_BREAK);
	assert_int_equal(latch_check(l), LATCH_EBROKEN);
	assert_non_null(strstr(latch_reason(l), "without a DELETE"));
	assert_string_equal(latch_event_name(LATCH_EV_SA_LOST), "sa-lost");
	/* The registrar coming back repairs it. */
	assert_int_equal(latch_handle(l, LATCH_EV_SA_UP, &reg), LATCH_ACT_BOUND);
	latch_free(l);
}

static void
test_params(void **state)
{
	struct latch_params p;
	enum latch_disposition d;
	char err[128], longaddr[100];

	(void)state;
	memset(&p, 0, sizeof(p));
	err[0] = '\0';
	assert_null(latch_new(&p, err, sizeof(err)));
	assert_non_null(strstr(err, "peer address"));
	assert_null(latch_new(NULL, NULL, 0));
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	p.peer_addr = longaddr;
	assert_null(latch_new(&p, err, sizeof(err)));
	p.peer_addr = "::1";
	p.disposition = (enum latch_disposition)7;
	assert_null(latch_new(&p, err, sizeof(err)));
	assert_int_equal(latch_disposition_parse("reset", &d), 0);
	assert_int_equal(d, LATCH_DISP_RESET);
	assert_int_equal(latch_disposition_parse("wait", &d), 0);
	assert_int_equal(d, LATCH_DISP_WAIT);
	assert_int_equal(latch_disposition_parse("unreachable", &d), 0);
	assert_int_equal(d, LATCH_DISP_UNREACH);
	assert_int_equal(latch_disposition_parse("Reset", &d), -1);
	assert_int_equal(latch_disposition_parse(NULL, &d), -1);
	assert_string_equal(latch_disposition_name(LATCH_DISP_UNREACH), "unreachable");
}

/* Both ends compute the same binding; rekeys do not change it; other certs do. */
static void
test_channel_binding(void **state)
{
	unsigned char fa[LATCH_FPR_LEN], fb[LATCH_FPR_LEN], cb1[LATCH_CB_LEN];
	unsigned char cb2[LATCH_CB_LEN], cb3[LATCH_CB_LEN];
	struct latch_peer pa, pb, pc;
	struct latch *la, *lb;

	(void)state;
	memset(fa, 0xaa, sizeof(fa));
	memset(fb, 0x0b, sizeof(fb));
	peer_set(&pa, "CN=a", 0xaa);
	peer_set(&pb, "CN=b", 0x0b);
	peer_set(&pc, "CN=b", -1);
	la = mk(NULL, 0, fa);		/* a's view: peer b */
	lb = mk(NULL, 0, fb);		/* b's view: peer a */
	assert_int_equal(latch_channel_binding(la, cb1), -1);	/* not latched yet */
	latch_handle(la, LATCH_EV_SA_UP, &pb);
	latch_handle(lb, LATCH_EV_SA_UP, &pa);
	assert_int_equal(latch_channel_binding(la, cb1), 0);
	assert_int_equal(latch_channel_binding(lb, cb2), 0);
	assert_memory_equal(cb1, cb2, LATCH_CB_LEN);
	latch_handle(la, LATCH_EV_REKEY, &pb);
	latch_handle(la, LATCH_EV_REKEY, &pc);
	assert_int_equal(latch_channel_binding(la, cb3), 0);
	assert_memory_equal(cb1, cb3, LATCH_CB_LEN);
	assert_int_equal(latch_channel_binding_fprs(fa, fa, cb3), 0);
	assert_memory_not_equal(cb1, cb3, LATCH_CB_LEN);
	latch_free(la);
	latch_free(lb);
	/* No local fingerprint: no binding. */
	la = mk(NULL, 0, NULL);
	latch_handle(la, LATCH_EV_SA_UP, &pb);
	assert_int_equal(latch_channel_binding(la, cb1), -1);
	latch_free(la);
}

/* The strongSwan driver's mapping of VICI SA events onto latch events (charon.c). */
static struct vici_node *
ev_tree(const char *kind)
{
	struct vici_node *n;
	struct vici_buf *b = vici_buf_new();
	const unsigned char *d;
	size_t len;
	int rekey = strcmp(kind, "ike-rekey") == 0, crekey = strcmp(kind, "child-rekey") == 0;

	if (strcmp(kind, "ike-updown-up") == 0 || strcmp(kind, "child-updown-up") == 0)
		vici_add_kvstr(b, "up", "yes");
	vici_begin_section(b, "latchkey");
	if (rekey) {
		vici_begin_section(b, "old");
		vici_add_kvstr(b, "remote-host", "10.0.0.9");
		vici_add_kvstr(b, "remote-id", "CN=old");
		vici_end_section(b);
		vici_begin_section(b, "new");
	}
	vici_add_kvstr(b, "uniqueid", "7");
	vici_add_kvstr(b, "state", "ESTABLISHED");
	vici_add_kvstr(b, "remote-host", "10.201.0.2");
	vici_add_kvstr(b, "remote-id", "serialNumber=D1, CN=D1");
	vici_begin_section(b, "child-sas");
	vici_begin_section(b, "latchkey-child-3");
	if (crekey)
		vici_begin_section(b, "new");
	vici_begin_list(b, "remote-ts");
	vici_add_itemstr(b, "10.99.0.2/32");
	vici_end_list(b);
	if (crekey)
		vici_end_section(b);
	vici_end_section(b);
	vici_end_section(b);
	if (rekey)
		vici_end_section(b);
	vici_end_section(b);
	assert_null(vici_buf_error(b));
	d = vici_buf_data(b, &len);
	n = vici_msg_parse(d, len, NULL, 0);
	assert_non_null(n);
	vici_buf_free(b);
	return n;
}

static void
test_map_events(void **state)
{
	static const struct {
		const char	*kind;		/* tree shape */
		const char	*event;		/* VICI event name */
		int		 ok;
		int		 ev;
	} cases[] = {
		{ "ike-updown-up", "ike-updown", 1, LATCH_EV_SA_UP },
		{ "ike-updown-down", "ike-updown", 1, LATCH_EV_SA_DOWN },
		{ "child-updown-up", "child-updown", 1, LATCH_EV_SA_UP },
		{ "child-updown-down", "child-updown", 1, LATCH_EV_SA_DOWN },
		{ "ike-rekey", "ike-rekey", 1, LATCH_EV_REKEY },
		{ "child-rekey", "child-rekey", 1, LATCH_EV_REKEY },
		{ "ike-updown-up", "log", 0, 0 },
		{ "ike-rekey", "ike-updown", 0, 0 },	/* no remote-host at top level */
	};
	struct charon_sa_event sev;
	struct vici_node *n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = ev_tree(cases[i].kind);
		if (charon_map_event(cases[i].event, n, &sev) != cases[i].ok)
			fail_msg("case %zu (%s as %s): ok != %d", i, cases[i].kind,
			    cases[i].event, cases[i].ok);
		if (cases[i].ok) {
			assert_int_equal(sev.ev, cases[i].ev);
			assert_string_equal(sev.ike_name, "latchkey");
			assert_string_equal(sev.remote_host, "10.201.0.2");
			assert_string_equal(sev.remote_id, "serialNumber=D1, CN=D1");
			assert_int_equal(sev.uniqueid, 7);
			assert_int_equal(sev.nts, 1);
			assert_string_equal(sev.remote_ts[0], "10.99.0.2/32");
			assert_string_equal(sev.ike_state, "ESTABLISHED");
			assert_int_equal(sev.child, strncmp(cases[i].event, "child-", 6) == 0);
			/* Only an IKE SA down while still ESTABLISHED is "dropped". */
			assert_int_equal(charon_down_dropped(&sev),
			    strcmp(cases[i].kind, "ike-updown-down") == 0);
		}
		vici_node_free(n);
	}
	assert_int_equal(charon_map_event("ike-updown", NULL, &sev), 0);
}

/*
 * Item 13 (c): peer reboot inference from the VICI events charon raises when it acts on
 * INITIAL_CONTACT (old IKE SA dropped while ESTABLISHED, new SA of the same identity up).
 */
static struct charon_sa_event
sev_make(enum latch_event ev, int child, const char *state, const char *id)
{
	struct charon_sa_event e;

	memset(&e, 0, sizeof(e));
	e.ev = ev;
	e.child = child;
	snprintf(e.ike_state, sizeof(e.ike_state), "%s", state);
	snprintf(e.remote_id, sizeof(e.remote_id), "%s", id);
	return e;
}

static void
test_reboot_inference(void **state)
{
	static const char D1[] = "serialNumber=D1, CN=D1", D2[] = "serialNumber=D2, CN=D2";
	static const struct {
		int		 ev, child;
		const char	*state, *id;
		long long	 at;
		int		 want;		/* charon_reboot_feed() */
	} rows[] = {
		/* INITIAL_CONTACT: old SA dropped ESTABLISHED, new SA of D1 up: a reboot. */
		{ LATCH_EV_SA_DOWN, 0, "ESTABLISHED", D1, 1000, 0 },
		{ LATCH_EV_SA_UP, 1, "ESTABLISHED", D1, 1001, 0 },	/* child: ignored */
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D2, 1002, 0 },	/* other identity */
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D1, 1003, 1 },
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D1, 1004, 0 },	/* consumed */
		/* A DELETE exchange (DELETING) is no reboot. */
		{ LATCH_EV_SA_DOWN, 0, "DELETING", D1, 2000, 0 },
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D1, 2001, 0 },
		/* A CHILD SA down is no reboot. */
		{ LATCH_EV_SA_DOWN, 1, "ESTABLISHED", D1, 3000, 0 },
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D1, 3001, 0 },
		/* Dropped (timeout) and back long after: no reboot. */
		{ LATCH_EV_SA_DOWN, 0, "ESTABLISHED", D1, 4000, 0 },
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D1, 4000 + CHARON_REBOOT_MS + 1, 0 },
		/* REKEYING counts as established; the window's edge is inclusive. */
		{ LATCH_EV_SA_DOWN, 0, "REKEYING", D1, 20000, 0 },
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D1, 20000 + CHARON_REBOOT_MS, 1 },
		/* A rekey is not an SA up. */
		{ LATCH_EV_SA_DOWN, 0, "ESTABLISHED", D1, 30000, 0 },
		{ LATCH_EV_REKEY, 0, "ESTABLISHED", D1, 30001, 0 },
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", D1, 30002, 1 },
		/* No identity: nothing is inferred. */
		{ LATCH_EV_SA_DOWN, 0, "ESTABLISHED", "", 40000, 0 },
		{ LATCH_EV_SA_UP, 0, "ESTABLISHED", "", 40001, 0 },
	};
	struct charon_reboot rb;
	struct charon_sa_event e;
	size_t i;

	(void)state;
	memset(&rb, 0, sizeof(rb));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		e = sev_make(rows[i].ev, rows[i].child, rows[i].state, rows[i].id);
		if (charon_reboot_feed(&rb, &e, rows[i].at) != rows[i].want)
			fail_msg("row %zu: want %d", i, rows[i].want);
	}
	e = sev_make(LATCH_EV_SA_DOWN, 0, "DELETING", D1);
	assert_int_equal(charon_down_dropped(&e), 0);
	assert_int_equal(charon_down_dropped(NULL), 0);
	assert_int_equal(charon_reboot_feed(NULL, &e, 0), 0);
}

/* Item 13 (b): which SAs belong to a revoked device's identity. */
static void
test_identity_match(void **state)
{
	static const struct {
		const char	*id, *serial;
		int		 want;
	} rows[] = {
		{ "serialNumber=LK1, CN=LK1", "LK1", 1 },
		{ "C=XX, SN=LK1, CN=x", "LK1", 1 },
		{ "serialNumber=LK12, CN=LK1", "LK1", 0 },	/* prefix only */
		{ "serialNumber=LK, CN=LK1", "LK1", 0 },
		{ "CN=LK1", "LK1", 0 },				/* CN is not the serial */
		{ "CN=registrar.example.test", "LK1", 0 },
		{ "serialNumber=LK1", "", 0 },
		{ "", "LK1", 0 },
		{ "O=a, serialNumber=LK1", "LK1", 1 },
	};
	const char *ids[] = { "serialNumber=LK9, CN=LK9" };
	struct vici_node *n;
	struct vici_buf *b;
	const unsigned char *d;
	unsigned long uid = 0;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (charon_id_has_serial(rows[i].id, rows[i].serial) != rows[i].want)
			fail_msg("row %zu (%s / %s): want %d", i, rows[i].id, rows[i].serial,
			    rows[i].want);
	assert_int_equal(charon_id_has_serial(NULL, "x"), 0);
	/* list-sa events: { conn = { uniqueid, remote-id, ... } } */
	b = vici_buf_new();
	vici_begin_section(b, "latchkey-registrar");
	vici_add_kvstr(b, "uniqueid", "12");
	vici_add_kvstr(b, "remote-id", "serialNumber=LK1, CN=LK1");
	vici_end_section(b);
	d = vici_buf_data(b, &len);
	n = vici_msg_parse(d, len, NULL, 0);
	assert_non_null(n);
	assert_int_equal(charon_sa_match(n, "latchkey-registrar", ids, 1, "LK1", &uid), 1);
	assert_int_equal(uid, 12);
	assert_int_equal(charon_sa_match(n, "latchkey-registrar", ids, 1, "LK2", &uid), 0);
	assert_int_equal(charon_sa_match(n, "other", ids, 1, "LK1", &uid), 0);
	ids[0] = "serialNumber=LK1, CN=LK1";
	assert_int_equal(charon_sa_match(n, "latchkey-registrar", ids, 1, NULL, &uid), 1);
	vici_node_free(n);
	vici_buf_free(b);
	/* No uniqueid: never matched (nothing to terminate). */
	b = vici_buf_new();
	vici_begin_section(b, "latchkey-registrar");
	vici_add_kvstr(b, "remote-id", "serialNumber=LK1, CN=LK1");
	vici_end_section(b);
	d = vici_buf_data(b, &len);
	n = vici_msg_parse(d, len, NULL, 0);
	assert_int_equal(charon_sa_match(n, "latchkey-registrar", ids, 1, "LK1", &uid), 0);
	vici_node_free(n);
	vici_buf_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_scenario_rekey_conflict),
		cmocka_unit_test(test_scenario_same_name_other_cert),
		cmocka_unit_test(test_scenario_expect_and_null_peer),
		cmocka_unit_test(test_scenario_dpd_and_reboot),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_channel_binding),
		cmocka_unit_test(test_map_events),
		cmocka_unit_test(test_scenario_peer_delete_and_lost),
		cmocka_unit_test(test_reboot_inference),
		cmocka_unit_test(test_identity_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
