/*
 * test_supersede: registry_cert_supersede() (enroll/store/registry.c), the revocation of the
 * older LDevIDs of a binding at the first use of a newer one. One table: each case enrolls
 * certificates, may rearrange or revoke some, presents one, and names what must end up
 * revoked (reason superseded, one audit entry each) and what must not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enroll/store/registry.h"
#include "tests/unit/testutil.h"

#define NCERT	4

static int
setup(void **state)
{
	return tu_reg_setup(state, "test_supersede");
}

static int
teardown(void **state)
{
	return tu_reg_teardown(state);
}

/* Certificate i of a case: serial "C0".."C3" of device LK01 ("D0".. of LK02 when other). */
static const char *const cert_serials[NCERT] = { "C0", "C1", "C2", "C3" };
static const char *const other_serials[NCERT] = { "D0", "D1", "D2", "D3" };

static void
enroll(struct tu_reg *fx, const char *serial, const char *cert_serial, int initial)
{
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct registry_enrollment e;

	memset(&e, 0, sizeof(e));
	e.device_serial = serial;
	e.domain = "example.test";
	e.idevid_fp = initial ? "sha256:00112233" : NULL;
	e.authorized_by = "claim:admin:alice";
	e.cert_serial = cert_serial;
	e.not_before = 1700000000;
	e.not_after = 1700000000 + 365 * 86400;
	e.cert_der = der;
	e.cert_len = sizeof(der);
	e.actor = "device:x";
	e.action = initial ? "enroll" : "reenroll";
	if (registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)) != 0)
		fail_msg("enroll %s %s: %s", serial, cert_serial, fx->err);
}

struct sup_case {
	const char	*name;
	int		 ncerts;	/* C0..C(n-1) of LK01, in this order */
	int		 other;		/* LK02 gets D0, D1 as well */
	const char	*sql;		/* run before presenting (NULL: none) */
	int		 revoke_binding;	/* revoke LK01's binding before presenting */
	int		 present;	/* index of the certificate presented */
	int		 twice;		/* present it a second time (must revoke nothing) */
	size_t		 max;		/* revoked[] room */
	int		 want_rc;
	const char	*want_revoked;	/* superseded after, in issue order ("C0,C1") */
	const char	*want_first;	/* revoked[0] (NULL: not checked) */
};

static const struct sup_case cases[] = {
	{ "the newer of two revokes the older", 2, 0, NULL, 0, 1, 0, 4, 1, "C0", "C0" },
	{ "the older of two revokes nothing", 2, 0, NULL, 0, 0, 0, 4, 0, "", NULL },
	{ "the middle one spares the newest", 3, 0, NULL, 0, 1, 0, 4, 1, "C0", "C0" },
	{ "the newest of four revokes three", 4, 0, NULL, 0, 3, 0, 4, 3, "C0,C1,C2", "C0" },
	{ "more than max: all revoked, the first reported", 4, 0, NULL, 0, 3, 0, 1, 3,
	    "C0,C1,C2", "C0" },
	{ "a second use revokes nothing more", 2, 0, NULL, 0, 1, 1, 4, 1, "C0", "C0" },
	{ "issued_at decides before insertion order", 2, 0,
	    "UPDATE certificates SET issued_at = issued_at + 10 WHERE cert_serial = 'C0'",
	    0, 0, 0, 4, 1, "C1", "C1" },
	{ "same second: insertion order", 2, 0,
	    "UPDATE certificates SET issued_at = 1700000000", 0, 1, 0, 4, 1, "C0", "C0" },
	{ "an already revoked older one is left as it is", 3, 0,
	    "UPDATE certificates SET revoked_at = 5, reason = 'keyCompromise' "
	    "WHERE cert_serial = 'C0'", 0, 2, 0, 4, 1, "C1", "C1" },
	{ "a revoked certificate presented revokes nothing", 2, 0,
	    "UPDATE certificates SET revoked_at = 5, reason = 'keyCompromise' "
	    "WHERE cert_serial = 'C1'", 0, 1, 0, 4, 0, "", NULL },
	{ "a revoked binding: nothing", 2, 0, NULL, 1, 1, 0, 4, 0, "", NULL },
	{ "another device's certificates are never touched", 2, 1, NULL, 0, 1, 0, 4, 1, "C0",
	    "C0" },
	{ "a certificate without a binding row: nothing", 2, 0,
	    "UPDATE certificates SET binding_id = 999 "
	    "WHERE cert_serial = 'C1'", 0, 1, 0, 4, 0, "", NULL },
};

/* The superseded certificates of LK01 in issue order, "C0,C1". */
static void
superseded_list(struct tu_reg *fx, char *out, size_t outlen)
{
	/* rowid: SQLite's, or the PostgreSQL schema's column of that name */
	tu_raw_text(fx, fx->pg ?
	    "SELECT string_agg(cert_serial, ',' ORDER BY issued_at, rowid) FROM certificates "
	    "WHERE device_serial = 'LK01' AND reason = 'superseded' AND revoked_at > 0" :
	    "SELECT group_concat(cert_serial, ',') FROM (SELECT cert_serial FROM certificates "
	    "WHERE device_serial = 'LK01' AND reason = 'superseded' AND revoked_at > 0 "
	    "ORDER BY issued_at, rowid)", out, outlen);
}

static void
test_supersede_table(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_cert rev[4];
	char got[64], q[256];
	const struct sup_case *c;
	int64_t audits, d_unrevoked;
	size_t i;
	int k, rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		tu_reg_wipe(fx);
		if ((fx->reg = registry_open(fx->path, REGISTRY_CREATE | REGISTRY_FAST, fx->err,
		    sizeof(fx->err))) == NULL)
			fail_msg("%s: registry_open: %s", c->name, fx->err);
		assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err,
		    sizeof(fx->err)), 0);
		for (k = 0; k < c->ncerts; k++)
			enroll(fx, "LK01", cert_serials[k], k == 0);
		if (c->other) {
			assert_int_equal(registry_claim(fx->reg, "LK02", "admin:t", fx->err,
			    sizeof(fx->err)), 0);
			enroll(fx, "LK02", other_serials[0], 1);
			enroll(fx, "LK02", other_serials[1], 0);
			/* LK02's newer one is used: its own older one goes, LK01's stay. */
			assert_int_equal(registry_cert_supersede(fx->reg, other_serials[1],
			    "device:LK02", NULL, 0, fx->err, sizeof(fx->err)), 1);
		}
		/*
		 * PostgreSQL enforces the foreign key (a raw SQLite connection does not): the
		 * case without a binding row needs it off, as a superuser may.
		 */
		if (c->sql != NULL && fx->pg) {
			snprintf(q, sizeof(q), "SET session_replication_role = replica; %s",
			    c->sql);
			tu_raw_exec(fx, q);
		} else if (c->sql != NULL)
			tu_raw_exec(fx, c->sql);
		if (c->revoke_binding)
			assert_int_equal(registry_binding_revoke(fx->reg, "LK01", "keyCompromise",
			    "admin:t", NULL, fx->err, sizeof(fx->err)), 0);
		memset(rev, 0, sizeof(rev));
		rc = registry_cert_supersede(fx->reg, cert_serials[c->present], "device:LK01",
		    rev, c->max, fx->err, sizeof(fx->err));
		if (rc != c->want_rc)
			fail_msg("%s: returned %d (%s), want %d", c->name, rc, rc == -1 ? fx->err :
			    "", c->want_rc);
		if (c->twice && (rc = registry_cert_supersede(fx->reg, cert_serials[c->present],
		    "device:LK01", NULL, 0, fx->err, sizeof(fx->err))) != 0)
			fail_msg("%s: second use returned %d", c->name, rc);
		superseded_list(fx, got, sizeof(got));
		if (c->other) {	/* LK02: D0 superseded by D1 alone, D1 untouched */
			d_unrevoked = tu_raw_int(fx, "SELECT count(*) FROM certificates WHERE "
			    "device_serial = 'LK02' AND coalesce(revoked_at, 0) = 0 AND "
			    "cert_serial = 'D1'") * 10 + tu_raw_int(fx, "SELECT count(*) FROM "
			    "certificates WHERE cert_serial = 'D0' AND reason = 'superseded'");
			if (d_unrevoked != 11)
				fail_msg("%s: LK02's certificates touched by LK01's", c->name);
		}
		if (strcmp(got, c->want_revoked) != 0)
			fail_msg("%s: superseded \"%s\", want \"%s\"", c->name, got,
			    c->want_revoked);
		if (c->want_first != NULL && strcmp(rev[0].cert_serial, c->want_first) != 0)
			fail_msg("%s: revoked[0] is \"%s\", want \"%s\"", c->name,
			    rev[0].cert_serial, c->want_first);
		if (c->want_first != NULL && (strcmp(rev[0].reason, "superseded") != 0 ||
		    rev[0].revoked_at == 0))
			fail_msg("%s: revoked[0] not marked revoked/superseded", c->name);
		/* the presented one is never revoked by its own use, nor the binding */
		snprintf(q, sizeof(q), "SELECT count(*) FROM certificates WHERE cert_serial = "
		    "'%s' AND reason = 'superseded'", cert_serials[c->present]);
		if (tu_raw_int(fx, q) != 0)
			fail_msg("%s: the presented certificate was superseded", c->name);
		if (!c->revoke_binding && tu_raw_int(fx, "SELECT count(*) FROM bindings "
		    "WHERE serial = 'LK01' AND state = 'active'") != 1)
			fail_msg("%s: LK01's binding is no longer active", c->name);
		/* one audit entry per revoked certificate (LK02's included), chain intact */
		audits = tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = "
		    "'ldevid-superseded' AND reason = 'superseded'");
		if (audits != c->want_rc + c->other)
			fail_msg("%s: %lld audit entries, want %d", c->name, (long long)audits,
			    c->want_rc + c->other);
		if (c->want_rc > 0) {
			snprintf(q, sizeof(q), "SELECT count(*) FROM audit WHERE action = "
			    "'ldevid-superseded' AND subject = 'LK01' AND details LIKE "
			    "'%%\"cert_serial\":\"%s\"%%' AND details LIKE "
			    "'%%\"superseded_by\":\"%s\"%%'", c->want_first,
			    cert_serials[c->present]);
			if (tu_raw_int(fx, q) != 1)
				fail_msg("%s: no audit entry naming %s and %s", c->name,
				    c->want_first, cert_serials[c->present]);
		}
		{
			int64_t bad = 0;

			if (registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)) != 0)
				fail_msg("%s: audit chain broken at %lld", c->name,
				    (long long)bad);
		}
	}
}

/* The revoked set's stamp (what the CRL's change check reads) moves with a supersession. */
static void
test_supersede_stamp(void **state)
{
	struct tu_reg *fx = *state;
	int64_t n0, t0, n1, t1;

	assert_non_null(fx->reg = registry_open(fx->path, REGISTRY_CREATE | REGISTRY_FAST,
	    fx->err, sizeof(fx->err)));
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	enroll(fx, "LK01", "AA01", 1);
	enroll(fx, "LK01", "aa02", 0);
	assert_int_equal(registry_revoked_stamp(fx->reg, &n0, &t0, fx->err, sizeof(fx->err)),
	    0);
	/* lower-case hex is the same serial */
	assert_int_equal(registry_cert_supersede(fx->reg, "aa02", "device:LK01", NULL, 0,
	    fx->err, sizeof(fx->err)), 1);
	assert_int_equal(registry_revoked_stamp(fx->reg, &n1, &t1, fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(n1, n0 + 1);
	assert_true(t1 > 0);
	assert_int_equal(registry_cert_supersede(fx->reg, "not hex", "device:LK01", NULL, 0,
	    fx->err, sizeof(fx->err)), -1);
	assert_int_equal(registry_cert_supersede(fx->reg, "FFFF", "device:LK01", NULL, 0,
	    fx->err, sizeof(fx->err)), 0);
}

/* A read-only registry refuses, and writes nothing. */
static void
test_supersede_rdonly(void **state)
{
	struct tu_reg *fx = *state;
	struct registry *ro;

	assert_non_null(fx->reg = registry_open(fx->path, REGISTRY_CREATE | REGISTRY_FAST,
	    fx->err, sizeof(fx->err)));
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	enroll(fx, "LK01", "B1", 1);
	enroll(fx, "LK01", "B2", 0);
	assert_non_null(ro = registry_open(fx->path, REGISTRY_RDONLY, fx->err,
	    sizeof(fx->err)));
	assert_int_equal(registry_cert_supersede(ro, "B2", "device:LK01", NULL, 0, fx->err,
	    sizeof(fx->err)), -1);
	registry_close(ro);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM certificates WHERE "
	    "revoked_at > 0"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_supersede_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supersede_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supersede_rdonly, setup, teardown),
	};

	return cmocka_run_group_tests_name(tu_pg() != NULL ? "supersession on PostgreSQL" :
	    "supersession on SQLite", tests, NULL, NULL);
}
