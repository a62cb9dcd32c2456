/* Unit tests for enroll/store/registry.c: schema, claims, enrollments, revocation, audit chain. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "enroll/store/db.h"
#include "enroll/store/registry.h"
#include "tests/unit/testutil.h"

static int
setup(void **state)
{
	return tu_reg_setup(state, "test_registry");
}

static int
teardown(void **state)
{
	return tu_reg_teardown(state);
}

static struct registry *
open_rw(struct tu_reg *fx)
{
	struct registry *reg = registry_open(fx->path, REGISTRY_CREATE | REGISTRY_FAST, fx->err,
	    sizeof(fx->err));

	if (reg == NULL)
		fail_msg("registry_open: %s", fx->err);
	return reg;
}

/* One integer from a raw SQL query on an SQLite file (a backup copy). */
static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The query plan's detail lines of sql, joined with "; " (SQLite). */
static void
raw_plan(const char *path, const char *sql, char *out, size_t outlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char q[512];

	out[0] = '\0';
	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		snprintf(out + strlen(out), outlen - strlen(out), "%s; ",
		    (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The schema version as stored: PRAGMA user_version, or PostgreSQL's registry_meta. */
static int64_t
schema_version(struct tu_reg *fx)
{
	return tu_raw_int(fx, fx->pg ? "SELECT schema_version FROM registry_meta" :
	    "PRAGMA user_version");
}

static void
set_schema_version(struct tu_reg *fx, int v)
{
	char sql[96];

	snprintf(sql, sizeof(sql), fx->pg ? "UPDATE registry_meta SET schema_version = %d" :
	    "PRAGMA user_version = %d", v);
	tu_raw_exec(fx, sql);
}

/* How many of the schema's tables or indexes are called name (0 or 1). */
static int64_t
schema_has(struct tu_reg *fx, const char *name)
{
	char sql[160];

	snprintf(sql, sizeof(sql), fx->pg ? "SELECT (to_regclass('%s') IS NOT NULL)::int" :
	    "SELECT count(*) FROM sqlite_master WHERE name = '%s'", name);
	return tu_raw_int(fx, sql);
}

static void
fake_enrollment(struct registry_enrollment *e, const char *serial, const char *cert_serial,
    int initial)
{
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };

	memset(e, 0, sizeof(*e));
	e->device_serial = serial;
	e->domain = "example.test";
	e->idevid_fp = initial ? "sha256:00112233" : NULL;
	e->authorized_by = "claim:admin:alice";
	e->cert_serial = cert_serial;
	e->not_before = 1700000000;
	e->not_after = 1700000000 + 365 * 86400;
	e->cert_der = der;
	e->cert_len = sizeof(der);
	e->actor = "device:x";
	e->action = initial ? "enroll" : "reenroll";
	e->details = initial ? "{\"tls\":\"1.3\"}" : NULL;
}

/*
 * Posture (schema v11, issue #20): each report stored with its verdict, the latest two
 * read back newest first, the latest verdict in posture (what the Kea hook reads), every
 * evaluation audited with its reasons, the previous verdict returned.
 */
static void
test_posture(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_posture p[3];
	static const unsigned char cms[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	int64_t id1, id2;
	int prev;
	char txt[256];

	fx->reg = open_rw(fx);
	assert_int_equal(registry_posture_latest(fx->reg, "LKP", p, 2, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_posture_record(fx->reg, "LKP", "0A", 100, cms, sizeof(cms),
	    "{\"a\":1}", 0, "[\"forbidden package telnetd 1 installed\"]", "device:LKP", &id1,
	    &prev, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(prev, -1);
	assert_int_equal(tu_raw_int(fx, "SELECT compliant FROM posture WHERE serial = 'LKP'"),
	    0);
	assert_int_equal(registry_posture_record(fx->reg, "LKP", "0A", 200, cms, sizeof(cms),
	    "{\"a\":2}", 1, "[]", "device:LKP", &id2, &prev, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(prev, 0);
	assert_true(id2 > id1);
	assert_int_equal(tu_raw_int(fx, "SELECT compliant FROM posture WHERE serial = 'LKP'"),
	    1);
	assert_int_equal(tu_raw_int(fx, "SELECT report_id FROM posture WHERE serial = 'LKP'"),
	    id2);
	assert_int_equal(registry_posture_latest(fx->reg, "LKP", p, 3, fx->err,
	    sizeof(fx->err)), 2);
	assert_int_equal(p[0].id, id2);
	assert_int_equal(p[0].compliant, 1);
	assert_int_equal(p[0].report_time, 200);
	assert_string_equal(p[0].report, "{\"a\":2}");
	assert_string_equal(p[0].ldevid_serial, "0A");
	assert_int_equal(p[1].id, id1);
	assert_string_equal(p[1].reasons, "[\"forbidden package telnetd 1 installed\"]");
	registry_posture_free(&p[0]);
	registry_posture_free(&p[1]);
	/* audited: both evaluations, the reasons in the details */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = 'posture' "
	    "AND subject = 'LKP'"), 2);
	tu_raw_text(fx, "SELECT reason || ' ' || details FROM audit WHERE action = 'posture' "
	    "ORDER BY id LIMIT 1", txt, sizeof(txt));
	assert_non_null(strstr(txt, "noncompliant "));
	assert_non_null(strstr(txt, "telnetd"));
	assert_int_equal(registry_audit_verify(fx->reg, NULL, fx->err, sizeof(fx->err)), 0);
	/* bad arguments store nothing */
	assert_int_equal(registry_posture_record(fx->reg, "LKP", "0A", 1, cms, sizeof(cms),
	    "{}", 0, "not json", "device:LKP", NULL, NULL, fx->err, sizeof(fx->err)), -1);
	assert_int_equal(registry_posture_record(fx->reg, "", "0A", 1, cms, sizeof(cms),
	    "{}", 0, "[]", "device:LKP", NULL, NULL, fx->err, sizeof(fx->err)), -1);
	assert_int_equal(registry_posture_latest(fx->reg, "LKP", p, 9, fx->err,
	    sizeof(fx->err)), -1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM posture_reports"), 2);
}

static void
test_open_create_reopen(void **state)
{
	struct tu_reg *fx = *state;
	struct registry *reg;
	char junk[300];
	FILE *f;

	/*
	 * Missing file without REGISTRY_CREATE: fails and names the path. PostgreSQL: the
	 * database exists (the administrator made it), and read-only finds no schema in it.
	 */
	reg = registry_open(fx->path, fx->pg ? REGISTRY_RDONLY : 0, fx->err, sizeof(fx->err));
	assert_null(reg);
	assert_non_null(strstr(fx->err, fx->pg ? fx->pgdb : fx->path));

	reg = registry_open(fx->path, REGISTRY_CREATE, fx->err, sizeof(fx->err));
	assert_non_null(reg);
	registry_close(reg);
	assert_int_equal(schema_version(fx), 13);
	assert_int_equal(schema_has(fx, "bindings_one_active") +
	    schema_has(fx, "bindings_serial_state") + schema_has(fx, "certificates_binding") +
	    schema_has(fx, "certificates_revoked"), 4);

	/* Reopen read-write without CREATE, then read-only: same schema, no migration. */
	reg = registry_open(fx->path, 0, fx->err, sizeof(fx->err));
	assert_non_null(reg);
	assert_int_equal(registry_claim(reg, "LK01", "admin:t", fx->err, sizeof(fx->err)), 0);
	registry_close(reg);
	reg = registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
	assert_non_null(reg);
	assert_int_equal(registry_claim_exists(reg, "LK01", fx->err, sizeof(fx->err)), 1);
	registry_close(reg);
	assert_int_equal(schema_version(fx), 13);

	/* A newer schema is refused. */
	set_schema_version(fx, 99);
	reg = registry_open(fx->path, 0, fx->err, sizeof(fx->err));
	assert_null(reg);
	assert_non_null(strstr(fx->err, "newer"));
	set_schema_version(fx, 10);
	if (fx->pg) {
		/* an empty database gets the schema on a read-write open, CREATE or not */
		tu_reg_wipe(fx);
		assert_non_null(reg = registry_open(fx->path, 0, fx->err, sizeof(fx->err)));
		registry_close(reg);
		assert_int_equal(schema_version(fx), 13);
		return;		/* test_pg_open_errors has PostgreSQL's other errors */
	}

	/* A file that is not a database is refused with its path. */
	snprintf(junk, sizeof(junk), "%s.junk", fx->path);
	assert_non_null(f = fopen(junk, "w"));
	fputs("this is not a database, just text long enough to have a header..........\n", f);
	fclose(f);
	reg = registry_open(junk, 0, fx->err, sizeof(fx->err));
	assert_null(reg);
	assert_non_null(strstr(fx->err, junk));
}

static void
test_rdonly_missing(void **state)
{
	struct tu_reg *fx = *state;

	assert_null(registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, fx->pg ? fx->pgdb : fx->path));
	if (fx->pg)	/* and nothing was created */
		assert_int_equal(schema_has(fx, "registry_meta"), 0);
	else
		assert_int_equal(access(fx->path, F_OK), -1);
	assert_null(registry_open(fx->path, REGISTRY_RDONLY | REGISTRY_CREATE, fx->err,
	    sizeof(fx->err)));
	registry_close(NULL);
}

enum claim_op { OP_CLAIM, OP_UNCLAIM, OP_EXISTS };

static void
test_claims(void **state)
{
	static const struct {
		enum claim_op	op;
		const char	*serial;
		int		want;
	} steps[] = {
		{ OP_EXISTS, "LKA", 0 },
		{ OP_CLAIM, "LKA", 0 },
		{ OP_CLAIM, "LKA", 1 },		/* duplicate: 1, not an error */
		{ OP_EXISTS, "LKA", 1 },
		{ OP_EXISTS, "LKB", 0 },
		{ OP_UNCLAIM, "LKB", 1 },	/* nothing to unclaim */
		{ OP_CLAIM, "LKB", 0 },
		{ OP_UNCLAIM, "LKA", 0 },
		{ OP_EXISTS, "LKA", 0 },
		{ OP_EXISTS, "LKB", 1 },
		{ OP_CLAIM, "", -1 },
		{ OP_CLAIM, "0123456789012345678901234567890123456789012345678901234567890123",
		    -1 },			/* longer than a binding's serial field */
	};
	struct tu_reg *fx = *state;
	size_t i;
	int rc = 0;

	fx->reg = open_rw(fx);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		switch (steps[i].op) {
		case OP_CLAIM:
			rc = registry_claim(fx->reg, steps[i].serial, "admin:alice", fx->err,
			    sizeof(fx->err));
			break;
		case OP_UNCLAIM:
			rc = registry_unclaim(fx->reg, steps[i].serial, "admin:bob", fx->err,
			    sizeof(fx->err));
			break;
		case OP_EXISTS:
			rc = registry_claim_exists(fx->reg, steps[i].serial, fx->err,
			    sizeof(fx->err));
			break;
		}
		if (rc != steps[i].want)
			fail_msg("step %zu (%s): got %d want %d (%s)", i, steps[i].serial, rc,
			    steps[i].want, fx->err);
	}
	/* Only the effective claims/unclaims were audited: claim A, claim B, unclaim A. */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), 3);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE id = 3 AND "
	    "action = 'unclaim' AND actor = 'admin:bob' AND subject = 'LKA'"), 1);
}

static void
test_enroll_commit(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct registry_binding b;
	struct registry_cert c;
	int64_t bid1 = 0, bid2 = 0;
	int n = 0;

	fx->reg = open_rw(fx);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:alice", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_binding_get(fx->reg, "LK01", &b, fx->err, sizeof(fx->err)), 0);

	fake_enrollment(&e, "LK01", "0a1b2c", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid1, fx->err, sizeof(fx->err)),
	    0);
	assert_true(bid1 > 0);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings"), 1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM certificates"), 1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = 'enroll' "
	    "AND subject = 'LK01' AND details = '{\"tls\":\"1.3\"}'"), 1);

	/* A second commit for the same serial reuses the binding. */
	fake_enrollment(&e, "LK01", "0A1B2D", 0);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid2, fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(bid2, bid1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings"), 1);
	assert_int_equal(registry_cert_count(fx->reg, bid1, &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 2);

	assert_int_equal(registry_binding_get(fx->reg, "LK01", &b, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(b.id, bid1);
	assert_string_equal(b.serial, "LK01");
	assert_string_equal(b.domain, "example.test");
	assert_string_equal(b.idevid_fp, "sha256:00112233");
	assert_string_equal(b.authorized_by, "claim:admin:alice");
	assert_string_equal(b.state, "active");
	assert_true(b.created_at > 0);
	assert_int_equal(b.revoked_at, 0);

	/* Certificate serials are stored uppercase and found case-insensitively. */
	assert_int_equal(registry_cert_get(fx->reg, "0a1b2c", &c, fx->err, sizeof(fx->err)), 1);
	assert_string_equal(c.cert_serial, "0A1B2C");
	assert_int_equal(c.binding_id, bid1);
	assert_string_equal(c.device_serial, "LK01");
	assert_int_equal(c.not_before, 1700000000);
	assert_int_equal(c.not_after, 1700000000 + 365 * 86400);
	assert_int_equal(c.revoked_at, 0);
	assert_int_equal(registry_cert_get(fx->reg, "FFFF", &c, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_cert_get(fx->reg, "xyz", &c, fx->err, sizeof(fx->err)), -1);

	/* A duplicate certificate serial fails and rolls everything back (no audit row). */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), 3);
	fake_enrollment(&e, "LK02", "0A1B2C", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)),
	    -1);
	assert_non_null(strstr(fx->err, "0A1B2C"));
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), 3);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings"), 1);

	/* A re-enrollment never creates a binding. */
	fake_enrollment(&e, "LK03", "0C", 0);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)),
	    -1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings"), 1);
}

/*
 * Group commit: several enrollments in one transaction, each standing or failing alone
 * (a savepoint each): a duplicate certificate serial, a re-enrollment without a binding and
 * a device whose claim was withdrawn (revoked between its check and the commit) fail, the
 * others are committed, and the audit chain stays whole.
 */
static void
test_enroll_commit_many(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_enrollment e[6];
	int64_t bad = 0;
	size_t i;

	fx->reg = open_rw(fx);
	assert_int_equal(registry_claim(fx->reg, "LKG1", "admin:alice", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_claim(fx->reg, "LKG2", "admin:alice", fx->err,
	    sizeof(fx->err)), 0);
	fake_enrollment(&e[0], "LKG1", "A1", 1);
	fake_enrollment(&e[1], "LKG2", "A1", 1);	/* same certificate serial as e[0] */
	fake_enrollment(&e[2], "LKG2", "A2", 1);
	fake_enrollment(&e[3], "LKG3", "A3", 0);	/* reenroll, no binding */
	fake_enrollment(&e[4], "LKG4", "A4", 1);	/* claim withdrawn */
	fake_enrollment(&e[5], "LKG1", "A5", 0);	/* reenroll of e[0]'s fresh binding */
	for (i = 0; i < 6; i++)
		e[i].require_claim = e[i].idevid_fp != NULL;
	assert_int_equal(registry_enroll_commit_many(fx->reg, e, 6, fx->err, sizeof(fx->err)),
	    3);
	assert_true(e[0].committed && e[2].committed && e[5].committed);
	assert_false(e[1].committed || e[3].committed || e[4].committed);
	assert_non_null(strstr(e[1].err, "A1"));
	assert_false(e[1].refused);
	assert_true(e[3].refused);
	assert_non_null(strstr(e[3].err, "no active binding"));
	assert_true(e[4].refused);
	assert_non_null(strstr(e[4].err, "no longer claimed"));
	assert_int_equal(e[5].binding_id, e[0].binding_id);
	assert_true(e[2].binding_id != e[0].binding_id);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings"), 2);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM certificates"), 3);
	/* two claims, three enrollments: nothing of the failed ones */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), 5);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);

	/* none to do */
	assert_int_equal(registry_enroll_commit_many(fx->reg, e, 0, fx->err, sizeof(fx->err)),
	    0);
	/* all failing: nothing committed, not an error of the transaction */
	fake_enrollment(&e[0], "LKG9", "A1", 1);
	assert_int_equal(registry_enroll_commit_many(fx->reg, e, 1, fx->err, sizeof(fx->err)),
	    0);
	assert_false(e[0].committed);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), 5);
}

/*
 * The batch without an error in it, as the registrar sends it: refusals (no claim, a
 * revoked binding) stand alone, a reenrollment finds the binding an enrollment before it
 * in the same batch made, the audit chain links across a refused one and verifies (its
 * hash made by the server on PostgreSQL: details with non-ASCII text too). On PostgreSQL
 * a batch costs two round trips (the pipeline, COMMIT), and one more per DB_PIPE_SYNC
 * enrollments: never one per statement. SQLite makes none.
 */
static void
test_enroll_commit_batch(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_enrollment e[6], big[DB_PIPE_SYNC + 8];
	char serials[DB_PIPE_SYNC + 8][16], cs[DB_PIPE_SYNC + 8][16];
	int64_t bad = 0, bid = 0;
	uint64_t rt;
	size_t i;
	int pg = tu_pg() != NULL;

	fx->reg = open_rw(fx);
	assert_int_equal(registry_claim(fx->reg, "LKF1", "admin:alice", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_claim(fx->reg, "LKF2", "admin:alice", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_claim(fx->reg, "LKF5", "admin:alice", fx->err,
	    sizeof(fx->err)), 0);
	fake_enrollment(&e[0], "LKF5", "F0", 1);
	e[0].require_claim = 1;
	assert_int_equal(registry_enroll_commit(fx->reg, &e[0], NULL, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_binding_revoke(fx->reg, "LKF5", "keyCompromise", "admin:t",
	    &bid, fx->err, sizeof(fx->err)), 0);

	fake_enrollment(&e[0], "LKF1", "F1", 1);
	fake_enrollment(&e[1], "LKF4", "F2", 1);	/* never claimed */
	fake_enrollment(&e[2], "LKF1", "F3", 0);	/* reenroll of e[0]'s binding */
	fake_enrollment(&e[3], "LKF5", "F4", 1);	/* revoked */
	fake_enrollment(&e[4], "LKF2", "F5", 1);
	e[4].details = "{\"note\":\"caf\xc3\xa9 \xe2\x9c\x93\"}";
	fake_enrollment(&e[5], "LKF9", "F6", 0);	/* reenroll, no binding */
	for (i = 0; i < 6; i++)
		e[i].require_claim = 1;
	rt = db_round_trips();
	assert_int_equal(registry_enroll_commit_many(fx->reg, e, 6, fx->err, sizeof(fx->err)),
	    3);
	assert_int_equal(db_round_trips() - rt, pg ? 2 : 0);
	assert_true(e[0].committed && e[2].committed && e[4].committed);
	assert_true(e[1].refused && e[3].refused && e[5].refused);
	assert_non_null(strstr(e[1].err, "no longer claimed"));
	assert_non_null(strstr(e[3].err, "revoked: keyCompromise"));
	assert_non_null(strstr(e[5].err, "no longer claimed"));
	assert_int_equal(e[2].binding_id, e[0].binding_id);
	assert_true(e[4].binding_id > 0 && e[4].binding_id != e[0].binding_id);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM certificates"), 4);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);

	/* more than one pipeline's worth: still one transaction, few round trips */
	for (i = 0; i < DB_PIPE_SYNC + 8; i++) {
		snprintf(serials[i], sizeof(serials[i]), "LKB%zu", i);
		snprintf(cs[i], sizeof(cs[i]), "B%zu", 100 + i);
		assert_int_equal(registry_claim(fx->reg, serials[i], "admin:alice", fx->err,
		    sizeof(fx->err)), 0);
		fake_enrollment(&big[i], serials[i], cs[i], 1);
		big[i].require_claim = 1;
	}
	rt = db_round_trips();
	assert_int_equal(registry_enroll_commit_many(fx->reg, big, DB_PIPE_SYNC + 8, fx->err,
	    sizeof(fx->err)), DB_PIPE_SYNC + 8);
	assert_int_equal(db_round_trips() - rt, pg ? 3 : 0);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM certificates"),
	    4 + DB_PIPE_SYNC + 8);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
}

static int
count_binding_cb(const struct registry_binding *b, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int
stop_binding_cb(const struct registry_binding *b, void *arg)
{
	(*(int *)arg)++;
	return 7;
}

static int
count_cert_cb(const struct registry_cert *c, void *arg)
{
	if (c->revoked_at != 0)
		((int *)arg)[1]++;
	((int *)arg)[0]++;
	return 0;
}

static int
count_claim_cb(const char *serial, int64_t claimed_at, const char *actor, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_foreach_filters(void **state)
{
	static const struct {
		const char	*state, *serial;
		int64_t		since;
		int		want;
	} cases[] = {
		{ NULL, NULL, 0, 3 },
		{ "active", NULL, 0, 2 },
		{ "revoked", NULL, 0, 1 },
		{ NULL, "LK02", 0, 1 },
		{ "revoked", "LK02", 0, 1 },
		{ "active", "LK02", 0, 0 },
		{ NULL, "nope", 0, 0 },
		{ NULL, NULL, 1, 3 },
		{ NULL, NULL, INT64_C(4102444800), 0 },	/* 2100-01-01 */
	};
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct registry_filter f;
	char serial[16], cs[16];
	size_t i;
	int n, rc;

	fx->reg = open_rw(fx);
	for (i = 1; i <= 3; i++) {
		snprintf(serial, sizeof(serial), "LK%02zu", i);
		snprintf(cs, sizeof(cs), "%02zX", i);
		fake_enrollment(&e, serial, cs, 1);
		assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err,
		    sizeof(fx->err)), 0);
	}
	assert_int_equal(registry_binding_revoke(fx->reg, "LK02", "superseded", "admin:t",
	    NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_claim(fx->reg, "LK09", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&f, 0, sizeof(f));
		f.state = cases[i].state;
		f.serial = cases[i].serial;
		f.since = cases[i].since;
		n = 0;
		rc = registry_binding_foreach(fx->reg, &f, count_binding_cb, &n, fx->err,
		    sizeof(fx->err));
		assert_int_equal(rc, 0);
		if (n != cases[i].want)
			fail_msg("case %zu: %d bindings, want %d", i, n, cases[i].want);
	}
	n = 0;
	assert_int_equal(registry_binding_foreach(fx->reg, NULL, count_binding_cb, &n, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(registry_binding_foreach(fx->reg, NULL, stop_binding_cb, &n, fx->err,
	    sizeof(fx->err)), 7);
	assert_int_equal(n, 1);

	/* Claims listed: LK09 only (LK01 has an active binding). */
	n = 0;
	assert_int_equal(registry_claim_foreach(fx->reg, count_claim_cb, &n, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(n, 1);
}

struct audit_rows {
	int	n;
	char	actions[16][16];
};

static int
collect_audit_cb(const struct registry_audit_entry *a, void *arg)
{
	struct audit_rows *r = arg;

	if (r->n < 16)
		snprintf(r->actions[r->n], sizeof(r->actions[0]), "%s", a->action);
	r->n++;
	return 0;
}

static void
test_revoke(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct registry_binding b;
	struct registry_cert c;
	struct audit_rows rows;
	int64_t bid1 = 0, bid2 = 0, rbid = 0, cnt = -1, latest = -1;
	int counts[2] = { 0, 0 }, n;
	char plan[512];

	fx->reg = open_rw(fx);
	assert_int_equal(registry_binding_revoke(fx->reg, "LK01", "keyCompromise", "admin:t",
	    &rbid, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	fake_enrollment(&e, "LK01", "A1", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid1, fx->err, sizeof(fx->err)),
	    0);
	fake_enrollment(&e, "LK01", "A2", 0);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)), 0);

	/* The revoked set's stamp: enrollments leave it, a revocation moves it. */
	assert_int_equal(registry_revoked_stamp(fx->reg, &cnt, &latest, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(cnt, 0);
	assert_int_equal(latest, 0);
	assert_int_equal(registry_binding_revoke(fx->reg, "LK01", "keyCompromise", "admin:carol",
	    &rbid, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(rbid, bid1);
	assert_int_equal(registry_revoked_stamp(fx->reg, &cnt, &latest, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(cnt, 2);
	assert_true(latest > 0);
	/*
	 * and it, like the CRL's list, reads the revoked ones alone (an index, not a scan;
	 * SQLite's plan: PostgreSQL's planner scans a table this small whatever the index)
	 */
	if (!fx->pg) {
		raw_plan(fx->path, "SELECT count(*), max(revoked_at) FROM certificates "
		    "WHERE revoked_at > 0", plan, sizeof(plan));
		assert_non_null(strstr(plan, "certificates_revoked"));
		raw_plan(fx->path, "SELECT * FROM certificates WHERE revoked_at > 0", plan,
		    sizeof(plan));
		assert_non_null(strstr(plan, "certificates_revoked"));
	}
	assert_int_equal(registry_binding_get(fx->reg, "LK01", &b, fx->err, sizeof(fx->err)), 1);
	assert_string_equal(b.state, "revoked");
	assert_string_equal(b.reason, "keyCompromise");
	assert_string_equal(b.revoked_by, "admin:carol");
	assert_true(b.revoked_at > 0);
	assert_int_equal(registry_cert_foreach(fx->reg, bid1, count_cert_cb, counts, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(counts[0], 2);
	assert_int_equal(counts[1], 2);
	assert_int_equal(registry_cert_get(fx->reg, "A2", &c, fx->err, sizeof(fx->err)), 1);
	assert_string_equal(c.reason, "keyCompromise");
	assert_int_equal(registry_claim_exists(fx->reg, "LK01", fx->err, sizeof(fx->err)), 0);
	/* Revoked twice: nothing active any more. */
	assert_int_equal(registry_binding_revoke(fx->reg, "LK01", "keyCompromise", "admin:t",
	    NULL, fx->err, sizeof(fx->err)), 1);
	/* A re-enrollment with the revoked LDevID cannot resurrect the binding. */
	fake_enrollment(&e, "LK01", "A3", 0);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)),
	    -1);

	/* Claiming again does not re-admit it; re-admitted, it enrolls: a new binding, the
	 * history keeps the old one. */
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    2);
	assert_non_null(strstr(fx->err, "revoked: keyCompromise"));
	assert_int_equal(registry_readmit(fx->reg, "LK01", NULL, "repaired", "admin:t",
	    fx->err, sizeof(fx->err)), 0);
	fake_enrollment(&e, "LK01", "B1", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid2, fx->err, sizeof(fx->err)),
	    0);
	assert_true(bid2 != bid1);
	assert_int_equal(registry_binding_get(fx->reg, "LK01", &b, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(b.id, bid2);
	assert_string_equal(b.state, "active");
	n = 0;
	assert_int_equal(registry_binding_foreach(fx->reg, &(struct registry_filter){
	    .serial = "LK01" }, count_binding_cb, &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(registry_cert_count(fx->reg, bid2, &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 1);

	memset(&rows, 0, sizeof(rows));
	assert_int_equal(registry_audit_foreach(fx->reg, 0, collect_audit_cb, &rows, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(rows.n, 6);
	assert_string_equal(rows.actions[0], "claim");
	assert_string_equal(rows.actions[1], "enroll");
	assert_string_equal(rows.actions[2], "reenroll");
	assert_string_equal(rows.actions[3], "revoke");
	assert_string_equal(rows.actions[4], "readmit");
	assert_string_equal(rows.actions[5], "enroll");
}

/* Recompute one entry's hash independently of registry.c (the documented format). */
static void
expect_hash(const char *prev, const struct registry_audit_entry *a)
{
	char buf[1024], hex[65];
	unsigned char md[32];
	unsigned int mdlen = 0, i;

	snprintf(buf, sizeof(buf), "%s\x1f%" PRId64 "\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", prev,
	    a->at, a->actor ? a->actor : "", a->action ? a->action : "",
	    a->subject ? a->subject : "", a->reason ? a->reason : "",
	    a->details ? a->details : "");
	assert_int_equal(EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(a->hash, hex);
}

struct chain {
	char	prev[65];
	int	n;
};

static int
check_chain_cb(const struct registry_audit_entry *a, void *arg)
{
	struct chain *ch = arg;

	expect_hash(ch->prev, a);
	snprintf(ch->prev, sizeof(ch->prev), "%s", a->hash);
	ch->n++;
	return 0;
}

static void
test_audit_verify_tamper(void **state)
{
	struct tu_reg *fx = *state;
	struct chain ch;
	int64_t bad = -1;

	fx->reg = open_rw(fx);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_audit(fx->reg, "admin:t", "note", "LK01", NULL, NULL, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_audit(fx->reg, "admin:t", "note", "LK02", "why", "{\"a\":1}",
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_audit(fx->reg, "admin:t", "note", NULL, NULL, NULL, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_audit(fx->reg, NULL, "note", NULL, NULL, NULL, fx->err,
	    sizeof(fx->err)), -1);

	memset(&ch, 0, sizeof(ch));
	assert_int_equal(registry_audit_foreach(fx->reg, 0, check_chain_cb, &ch, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(ch.n, 3);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);

	tu_raw_exec(fx, "UPDATE audit SET reason = 'x' WHERE id = 2");
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(bad, 2);

	/* Restored, it verifies again; a deleted entry breaks the link of the next one. */
	tu_raw_exec(fx, "UPDATE audit SET reason = 'why' WHERE id = 2");
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
	tu_raw_exec(fx, "DELETE FROM audit WHERE id = 2");
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(bad, 3);
}

static void
test_rdonly_sees_writer(void **state)
{
	struct tu_reg *fx = *state;
	struct registry *ro;
	struct registry_enrollment e;
	int64_t bad = 0;

	fx->reg = open_rw(fx);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	ro = registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
	assert_non_null(ro);
	assert_int_equal(registry_claim_exists(ro, "LK01", fx->err, sizeof(fx->err)), 1);
	assert_int_equal(registry_binding_get(ro, "LK01", NULL, fx->err, sizeof(fx->err)), 0);

	fake_enrollment(&e, "LK01", "01", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_binding_get(ro, "LK01", NULL, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(registry_cert_get(ro, "01", NULL, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(registry_audit_verify(ro, &bad, fx->err, sizeof(fx->err)), 0);

	assert_int_equal(registry_claim(ro, "LK02", "admin:t", fx->err, sizeof(fx->err)), -1);
	assert_int_equal(registry_audit(ro, "admin:t", "note", NULL, NULL, NULL, fx->err,
	    sizeof(fx->err)), -1);
	registry_close(ro);
}

/* Several processes append at once; the chain must stay linear. */
static void
test_concurrent_writers(void **state)
{
	enum { NPROC = 3, NWRITES = 40 };
	struct tu_reg *fx = *state;
	pid_t pids[NPROC];
	int64_t bad = 0;
	int i, j, st;

	fx->reg = open_rw(fx);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct registry *r = registry_open(fx->path, REGISTRY_FAST, NULL, 0);
			char subj[32];
			int ok = r != NULL;

			for (j = 0; ok && j < NWRITES; j++) {
				snprintf(subj, sizeof(subj), "p%d-%d", i, j);
				ok = registry_audit(r, "test", "note", subj, NULL, NULL, NULL,
				    0) == 0;
			}
			registry_close(r);
			_exit(ok ? 0 : 1);
		}
	}
	for (i = 0; i < NPROC; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), NPROC * NWRITES);
	assert_int_equal(tu_raw_int(fx, "SELECT count(DISTINCT prev_hash) FROM audit"),
	    NPROC * NWRITES);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
}

/* ---- network identifiers (schema v3; kea) ------------------------------------------ */

struct netid_seen {
	char	v[8][80];
	int	n;
};

static int
collect_netid(const char *kind, const char *value, void *arg)
{
	struct netid_seen *s = arg;

	if (s->n >= 8)
		return 1;
	snprintf(s->v[s->n++], sizeof(s->v[0]), "%s=%s", kind, value);
	return 0;
}

static void
test_netids(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct netid_seen seen;
	int64_t bid;
	const struct registry_netid a[] = {
		{ "mac", "02aabbccdd01" },
		{ "client-id", "0102aabbccdd01" },
		{ "duid", "000300010211223344aa" },
	};
	const struct registry_netid b[] = { { "mac", "02aabbccdd02" } };
	const struct registry_netid stolen[] = { { "mac", "02aabbccdd01" } };
	const struct registry_netid mixed[] = {
		{ "client-id", "0102aabbccdd01" },	/* LKA's (revoked) */
		{ "mac", "02aabbccdd03" },		/* nobody's yet */
	};
	const struct registry_netid lkb_own[] = { { "mac", "02aabbccdd02" } };
	const struct registry_netid lkb_mac[] = { { "mac", "02aabbccdd03" } };
	const struct {
		const char			*serial;	/* reporter */
		const struct registry_netid	*ids;
		size_t				 n;
		int				 want;		/* how many refused */
		unsigned			 held_mask;	/* which (bit i: ids[i]) */
		const char			*owner;		/* of ids[0] after it */
	} takeover[] = {
		/* an active device reports a revoked device's MAC: refused, stays LKA's */
		{ "LKB", stolen, 1, 1, 0x1, "LKA" },
		/* one held, one new: the new one recorded */
		{ "LKB", mixed, 2, 1, 0x1, "LKA" },
		{ "LKB", lkb_mac, 1, 0, 0x0, "LKB" },
		/* the holder itself reporting again is fine */
		{ "LKB", lkb_own, 1, 0, 0x0, "LKB" },
		/* nor can a device plant another's identifier on itself */
		{ "LKC", lkb_own, 1, 1, 0x1, "LKB" },
	};
	char q[256];
	int rc;
	static const struct {
		const char	*kind, *value;
	} bad[] = {
		{ "mac", "02aabbccdd" },		/* 5 octets */
		{ "mac", "02:aa:bb:cc:dd:01" },		/* separators are not stored */
		{ "mac", "02AABBCCDD01" },		/* upper case */
		{ "client-id", "01" },			/* 1 octet */
		{ "duid", "0" },			/* odd */
		{ "serial", "0102" },			/* unknown kind */
		{ "duid", NULL },
	};
	size_t i;

	fx->reg = open_rw(fx);
	fake_enrollment(&e, "LKA", "0A", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid, fx->err, sizeof(fx->err)), 0);
	fake_enrollment(&e, "LKB", "0B", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid, fx->err, sizeof(fx->err)), 0);
	fake_enrollment(&e, "LKC", "0D", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid, fx->err, sizeof(fx->err)), 0);

	/* Bad values are refused and nothing is stored. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct registry_netid one = { bad[i].kind, bad[i].value };
		fx->err[0] = '\0';
		assert_int_equal(registry_netid_report(fx->reg, "LKA", &one, 1, "device:LKA",
		    fx->err, sizeof(fx->err)), -1);
		assert_non_null(strstr(fx->err, "network identifier 1"));
	}
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM netids"), 0);

	assert_int_equal(registry_netid_report(fx->reg, "LKA", a, 3, "device:LKA", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_netid_report(fx->reg, "LKB", b, 1, "device:LKB", fx->err,
	    sizeof(fx->err)), 0);
	/* Reporting again is idempotent. */
	assert_int_equal(registry_netid_report(fx->reg, "LKA", a, 3, "device:LKA", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM netids"), 4);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = 'netid' "
	    "AND subject = 'LKA' AND details LIKE '%02aabbccdd01%'"), 2);

	/* Nobody revoked: nothing listed. */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(registry_revoked_netids_foreach(fx->reg, collect_netid, &seen,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(seen.n, 0);

	/* LKA revoked: its three identifiers, ordered by kind then value. */
	assert_int_equal(registry_binding_revoke(fx->reg, "LKA", "stolen", "admin:t", NULL,
	    fx->err, sizeof(fx->err)), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(registry_revoked_netids_foreach(fx->reg, collect_netid, &seen,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.v[0], "client-id=0102aabbccdd01");
	assert_string_equal(seen.v[1], "duid=000300010211223344aa");
	assert_string_equal(seen.v[2], "mac=02aabbccdd01");

	/*
	 * An identifier is not moved by a report: another device's is refused (counted,
	 * audited as "netid-refused"), the rest of the report is recorded, and a revoked
	 * device's identifiers stay in the revoked set.
	 */
	for (i = 0; i < sizeof(takeover) / sizeof(takeover[0]); i++) {
		int held[REGISTRY_NETID_MAX];
		int64_t refused0 = tu_raw_int(fx, "SELECT count(*) FROM audit WHERE "
		    "action = 'netid-refused'");
		size_t k;

		memset(held, 0xff, sizeof(held));
		rc = registry_netid_report_held(fx->reg, takeover[i].serial, takeover[i].ids,
		    takeover[i].n, "device:x", held, fx->err, sizeof(fx->err));
		if (rc != takeover[i].want)
			fail_msg("takeover %zu: %d refused, want %d (%s)", i, rc,
			    takeover[i].want, fx->err);
		for (k = 0; k < takeover[i].n; k++)
			if (held[k] != (int)((takeover[i].held_mask >> k) & 1))
				fail_msg("takeover %zu: identifier %zu held %d", i, k, held[k]);
		if (tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = "
		    "'netid-refused'") - refused0 != (takeover[i].want > 0))
			fail_msg("takeover %zu: netid-refused audit entries", i);
		snprintf(q, sizeof(q), "SELECT count(*) FROM netids WHERE kind = '%s' AND "
		    "value = '%s' AND serial = '%s'", takeover[i].ids[0].kind,
		    takeover[i].ids[0].value, takeover[i].owner);
		if (tu_raw_int(fx, q) != 1)
			fail_msg("takeover %zu: %s=%s does not belong to %s", i,
			    takeover[i].ids[0].kind, takeover[i].ids[0].value,
			    takeover[i].owner);
	}
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(registry_revoked_netids_foreach(fx->reg, collect_netid, &seen,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.v[2], "mac=02aabbccdd01");
	/* the old name answers the same (how many were refused) */
	assert_int_equal(registry_netid_report(fx->reg, "LKB", stolen, 1, "device:LKB",
	    fx->err, sizeof(fx->err)), 1);

	/* Re-admitted and enrolled again (a new active binding): no longer listed. */
	assert_int_equal(registry_readmit(fx->reg, "LKA", NULL, "repaired", "admin:t", fx->err,
	    sizeof(fx->err)), 0);
	fake_enrollment(&e, "LKA", "0C", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid, fx->err, sizeof(fx->err)), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(registry_revoked_netids_foreach(fx->reg, collect_netid, &seen,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(seen.n, 0);

	/* The callback's non-zero stops the walk and is returned. */
	assert_int_equal(registry_binding_revoke(fx->reg, "LKB", "lost", "admin:t", NULL,
	    fx->err, sizeof(fx->err)), 0);
	memset(&seen, 0, sizeof(seen));
	seen.n = 8;
	assert_int_equal(registry_revoked_netids_foreach(fx->reg, collect_netid, &seen,
	    fx->err, sizeof(fx->err)), 1);

	/* Too many in one report; a read-only registry refuses. */
	{
		struct registry_netid many[REGISTRY_NETID_MAX + 1];
		struct registry *ro;
		for (i = 0; i < REGISTRY_NETID_MAX + 1; i++)
			many[i] = b[0];
		assert_int_equal(registry_netid_report(fx->reg, "LKB", many,
		    REGISTRY_NETID_MAX + 1, "device:LKB", fx->err, sizeof(fx->err)), -1);
		ro = registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
		assert_non_null(ro);
		assert_int_equal(registry_netid_report(ro, "LKB", b, 1, "device:LKB", fx->err,
		    sizeof(fx->err)), -1);
		assert_non_null(strstr(fx->err, "read-only"));
		registry_close(ro);
	}
	assert_int_equal(registry_audit_verify(fx->reg, &bid, fx->err, sizeof(fx->err)), 0);
}

/* ---- the trust model (schema v5) --------------------------------------------------- */

#define ANCHOR_A	"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ANCHOR_B	"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define FP_1		"sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define FP_2		"sha256:2222222222222222222222222222222222222222222222222222222222222222"

enum trust_op {
	T_ADMIT,	/* registry_admission(): want is the verdict */
	T_CLAIM,	/* registry_claim_for(anchor) */
	T_READMIT,	/* registry_readmit(anchor) */
	T_REVOKE,	/* registry_binding_revoke() */
	T_ENROLL,	/* a simpleenroll commit: want 0 committed, 1 refused */
	T_BINDING,	/* the active binding's IDevID and anchor are idevid and anchor */
};

/*
 * registry_admission_many() gives every one of a batch what registry_admission() gives it
 * alone (on PostgreSQL one pipeline, so each answer must land on its own question): the
 * questions are every (serial, anchor, IDevID) of test_trust_model's steps and an unknown
 * serial, in the registry's state at step.
 */
static void
admit_many_agrees(struct tu_reg *fx, size_t step)
{
	static const char *const q[][3] = {
		{ "S1", ANCHOR_A, FP_1 }, { "S1", ANCHOR_B, FP_2 }, { "S1", ANCHOR_A, FP_2 },
		{ "NOSUCH", ANCHOR_A, FP_1 }, { "S2", ANCHOR_A, FP_1 }, { "S3", ANCHOR_B, FP_2 },
		{ "S3", NULL, FP_2 }, { "S2", ANCHOR_B, FP_2 },
	};
	struct registry_admit a[sizeof(q) / sizeof(q[0])];
	enum registry_verdict v;
	char reason[512];
	size_t i, n = sizeof(q) / sizeof(q[0]);

	memset(a, 0, sizeof(a));
	for (i = 0; i < n; i++) {
		a[i].serial = q[i][0];
		a[i].anchor_fp = q[i][1];
		a[i].idevid_fp = q[i][2];
	}
	if (registry_admission_many(fx->reg, a, n, fx->err, sizeof(fx->err)) == -1)
		fail_msg("step %zu: admission_many: %s", step, fx->err);
	for (i = 0; i < n; i++) {
		if (registry_admission(fx->reg, q[i][0], q[i][1], q[i][2], &v, reason,
		    sizeof(reason), fx->err, sizeof(fx->err)) == -1)
			fail_msg("step %zu: %s", step, fx->err);
		if (!a[i].read || a[i].verdict != v || strcmp(a[i].reason, reason) != 0)
			fail_msg("step %zu, question %zu (%s): many %d %d \"%s\", one %d \"%s\"",
			    step, i, q[i][0], a[i].read, (int)a[i].verdict, a[i].reason, (int)v,
			    reason);
	}
}

/*
 * A binding belongs to one (manufacturer anchor, IDevID); a claim may name the
 * manufacturer; a revoked binding refuses claim, auto-accept and the commit itself until
 * re-admitted. want_text: in the reason (T_ADMIT), err (T_CLAIM, T_ENROLL). At each
 * T_ADMIT, registry_admission_many() agrees (admit_many_agrees).
 */
static void
test_trust_model(void **state)
{
	static const struct {
		enum trust_op	 op;
		const char	*serial, *anchor, *idevid;
		int		 require_claim;	/* T_ENROLL: claimed (1) or auto-accept (0) */
		int		 want;
		const char	*want_text;
	} steps[] = {
		{ T_ADMIT, "S1", ANCHOR_A, FP_1, 0, REGISTRY_UNCLAIMED, NULL },
		{ T_CLAIM, "S1", ANCHOR_A, NULL, 0, 0, NULL },
		{ T_ADMIT, "S1", ANCHOR_A, FP_1, 0, REGISTRY_CLAIMED, NULL },
		/* manufacturer B's IDevID with A's claimed serial */
		{ T_ADMIT, "S1", ANCHOR_B, FP_2, 0, REGISTRY_OTHER_MAKER,
		    "device S1 is claimed for another manufacturer" },
		{ T_ENROLL, "S1", ANCHOR_B, FP_2, 1, 1, "claimed for another manufacturer" },
		{ T_ENROLL, "S1", ANCHOR_A, FP_1, 1, 0, NULL },
		{ T_BINDING, "S1", ANCHOR_A, FP_1, 0, 1, NULL },
		/* bound: another IDevID is refused, by the check and in the commit */
		{ T_ADMIT, "S1", ANCHOR_A, FP_2, 0, REGISTRY_BOUND_ELSEWHERE,
		    "device S1 is bound to another IDevID" },
		{ T_ADMIT, "S1", ANCHOR_B, FP_2, 0, REGISTRY_BOUND_ELSEWHERE, NULL },
		{ T_ENROLL, "S1", ANCHOR_A, FP_2, 0, 1, "bound to another IDevID" },
		{ T_ENROLL, "S1", ANCHOR_A, FP_2, 1, 1, "bound to another IDevID" },
		{ T_ENROLL, "S1", ANCHOR_A, FP_1, 1, 0, NULL },	/* the bound one again */
		{ T_BINDING, "S1", ANCHOR_A, FP_1, 0, 1, NULL },
		/* revoked: refused everywhere, the claim too, until re-admitted */
		{ T_REVOKE, "S1", NULL, NULL, 0, 0, NULL },
		{ T_ADMIT, "S1", ANCHOR_A, FP_1, 0, REGISTRY_REVOKED,
		    "binding of S1 revoked: keyCompromise" },
		{ T_ENROLL, "S1", ANCHOR_A, FP_1, 0, 1, "revoked" },	/* auto-accept race */
		{ T_CLAIM, "S1", NULL, NULL, 0, 2, "does not re-admit" },
		{ T_CLAIM, "S1", ANCHOR_A, NULL, 0, 2, "does not re-admit" },
		{ T_ENROLL, "S1", ANCHOR_A, FP_1, 0, 1, "revoked" },
		{ T_READMIT, "S1", NULL, NULL, 0, 0, NULL },
		{ T_READMIT, "S1", NULL, NULL, 0, 1, NULL },		/* nothing holds it */
		{ T_ADMIT, "S1", ANCHOR_A, FP_1, 0, REGISTRY_CLAIMED, NULL },	/* claimed */
		{ T_ENROLL, "S1", ANCHOR_A, FP_1, 1, 0, NULL },
		{ T_BINDING, "S1", ANCHOR_A, FP_1, 0, 1, NULL },
		{ T_READMIT, "S1", NULL, NULL, 0, 1, NULL },		/* active */
		/* auto-accepted, revoked, re-admitted for another manufacturer */
		{ T_ENROLL, "S2", ANCHOR_A, FP_1, 0, 0, NULL },
		{ T_REVOKE, "S2", NULL, NULL, 0, 0, NULL },
		{ T_ENROLL, "S2", ANCHOR_A, FP_1, 0, 1, "revoked" },
		{ T_READMIT, "S2", ANCHOR_B, NULL, 0, 0, NULL },
		{ T_ADMIT, "S2", ANCHOR_A, FP_1, 0, REGISTRY_OTHER_MAKER, NULL },
		{ T_ENROLL, "S2", ANCHOR_B, FP_2, 1, 0, NULL },
		{ T_BINDING, "S2", ANCHOR_B, FP_2, 0, 1, NULL },
		/* claims: a bad fingerprint; the manufacturer is changed, never widened */
		{ T_CLAIM, "S3", "sha256:xyz", NULL, 0, -1, "sha256:<64 hex digits>" },
		{ T_CLAIM, "S3", ANCHOR_A, NULL, 0, 0, NULL },
		{ T_CLAIM, "S3", ANCHOR_A, NULL, 0, 1, NULL },
		{ T_CLAIM, "S3", NULL, NULL, 0, 1, NULL },
		{ T_ADMIT, "S3", ANCHOR_B, FP_2, 0, REGISTRY_OTHER_MAKER, NULL },
		{ T_CLAIM, "S3", ANCHOR_B, NULL, 0, 0, NULL },
		{ T_ADMIT, "S3", ANCHOR_B, FP_2, 0, REGISTRY_CLAIMED, NULL },
		{ T_ADMIT, "S3", NULL, FP_2, 0, REGISTRY_OTHER_MAKER, NULL },	/* unknown */
	};
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct registry_binding b;
	enum registry_verdict v;
	char reason[256], cs[16];
	const char *text;
	int64_t bad = 0;
	size_t i;
	int rc = 0;

	fx->reg = open_rw(fx);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fx->err[0] = reason[0] = '\0';
		text = fx->err;
		switch (steps[i].op) {
		case T_ADMIT:
			if (registry_admission(fx->reg, steps[i].serial, steps[i].anchor,
			    steps[i].idevid, &v, reason, sizeof(reason), fx->err,
			    sizeof(fx->err)) == -1)
				fail_msg("step %zu: %s", i, fx->err);
			rc = (int)v;
			text = reason;
			break;
		case T_CLAIM:
			rc = registry_claim_for(fx->reg, steps[i].serial, steps[i].anchor,
			    "admin:t", fx->err, sizeof(fx->err));
			break;
		case T_READMIT:
			rc = registry_readmit(fx->reg, steps[i].serial, steps[i].anchor,
			    "repaired", "admin:t", fx->err, sizeof(fx->err));
			break;
		case T_REVOKE:
			rc = registry_binding_revoke(fx->reg, steps[i].serial, "keyCompromise",
			    "admin:t", NULL, fx->err, sizeof(fx->err));
			break;
		case T_ENROLL:
			snprintf(cs, sizeof(cs), "%02zX", i);
			fake_enrollment(&e, steps[i].serial, cs, 1);
			e.idevid_fp = steps[i].idevid;
			e.anchor_fp = steps[i].anchor;
			e.require_claim = steps[i].require_claim;
			if (registry_enroll_commit_many(fx->reg, &e, 1, fx->err,
			    sizeof(fx->err)) == -1)
				fail_msg("step %zu: %s", i, fx->err);
			rc = e.committed ? 0 : e.refused ? 1 : -1;
			text = e.err;
			break;
		case T_BINDING:
			rc = registry_binding_get(fx->reg, steps[i].serial, &b, fx->err,
			    sizeof(fx->err));
			if (rc == 1 && (strcmp(b.state, "active") != 0 ||
			    strcmp(b.idevid_fp, steps[i].idevid) != 0 ||
			    strcmp(b.anchor_fp, steps[i].anchor) != 0))
				fail_msg("step %zu: binding %s %s %s", i, b.state, b.idevid_fp,
				    b.anchor_fp);
			break;
		}
		if (rc != steps[i].want)
			fail_msg("step %zu (%s): got %d want %d (%s)", i, steps[i].serial, rc,
			    steps[i].want, text);
		if (steps[i].want_text != NULL && strstr(text, steps[i].want_text) == NULL)
			fail_msg("step %zu: \"%s\" lacks \"%s\"", i, text, steps[i].want_text);
		if (steps[i].op == T_ADMIT)
			admit_many_agrees(fx, i);
	}
	/* The re-admissions are audited with their reason, and the chain holds. */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = "
	    "'readmit' AND reason = 'repaired' AND actor = 'admin:t'"), 2);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings WHERE serial = 'S1' "
	    "AND state = 'revoked' AND readmitted_at > 0 AND readmitted_by = 'admin:t'"), 1);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
}

/*
 * Two unreadmitted revocations of one serial (the code never leaves two, a registry edited
 * by hand may): the refusal names the latest one's reason, whichever sorts first, in the
 * single check, in the batch and in the commit.
 */
static void
test_admission_latest_revocation(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_admit a[2];
	struct registry_enrollment e;
	enum registry_verdict v;
	char reason[512];

	fx->reg = open_rw(fx);
	tu_raw_exec(fx, "INSERT INTO bindings (serial, domain, idevid_fp, authorized_by, state, "
	    "created_at, revoked_at, reason, anchor_fp) VALUES ('S9', 'd', '" FP_1 "', 'x', "
	    "'revoked', 1, 2, 'zeta', '" ANCHOR_A "')");
	tu_raw_exec(fx, "INSERT INTO bindings (serial, domain, idevid_fp, authorized_by, state, "
	    "created_at, revoked_at, reason, anchor_fp) VALUES ('S9', 'd', '" FP_1 "', 'x', "
	    "'revoked', 3, 4, 'alpha', '" ANCHOR_A "')");
	if (registry_admission(fx->reg, "S9", ANCHOR_A, FP_1, &v, reason, sizeof(reason),
	    fx->err, sizeof(fx->err)) == -1)
		fail_msg("%s", fx->err);
	assert_int_equal(v, REGISTRY_REVOKED);
	assert_string_equal(reason, "binding of S9 revoked: alpha");
	memset(a, 0, sizeof(a));
	a[0].serial = a[1].serial = "S9";
	a[0].anchor_fp = a[1].anchor_fp = ANCHOR_A;
	a[0].idevid_fp = a[1].idevid_fp = FP_1;
	assert_int_equal(registry_admission_many(fx->reg, a, 2, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(a[1].verdict, REGISTRY_REVOKED);
	assert_string_equal(a[1].reason, "binding of S9 revoked: alpha");
	fake_enrollment(&e, "S9", "E9", 1);
	e.idevid_fp = FP_1;
	e.anchor_fp = ANCHOR_A;
	assert_int_equal(registry_enroll_commit_many(fx->reg, &e, 1, fx->err,
	    sizeof(fx->err)), 0);
	assert_true(e.refused);
	assert_non_null(strstr(e.err, "revoked: alpha"));
}

/*
 * A registry of schema v4 (as the released code made it, from SQL) is upgraded on open:
 * a revoked binding that a later one followed counts as re-admitted then; one that nothing
 * followed still holds its serial, even if claimed again under the old rules.
 */
static void
test_migrate_v4(void **state)
{
	static const char v4_schema[] =
	    "CREATE TABLE claims (serial TEXT PRIMARY KEY NOT NULL, claimed_at INTEGER NOT NULL,"
	    "  actor TEXT NOT NULL);"
	    "CREATE TABLE bindings (id INTEGER PRIMARY KEY, serial TEXT NOT NULL,"
	    "  domain TEXT NOT NULL DEFAULT '', idevid_fp TEXT,"
	    "  authorized_by TEXT NOT NULL DEFAULT '',"
	    "  state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),"
	    "  created_at INTEGER NOT NULL, revoked_at INTEGER, reason TEXT, revoked_by TEXT);"
	    "CREATE UNIQUE INDEX bindings_one_active ON bindings(serial) WHERE state = 'active';"
	    "CREATE INDEX bindings_serial_state ON bindings(serial, state);"
	    "CREATE TABLE certificates (cert_serial TEXT PRIMARY KEY NOT NULL,"
	    "  binding_id INTEGER NOT NULL REFERENCES bindings(id), device_serial TEXT NOT NULL,"
	    "  not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
	    "  issued_at INTEGER NOT NULL, der BLOB NOT NULL, revoked_at INTEGER, reason TEXT);"
	    "CREATE INDEX certificates_binding ON certificates(binding_id);"
	    "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,"
	    "  actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT, reason TEXT,"
	    "  details TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
	    "CREATE TABLE vouchers (id INTEGER PRIMARY KEY, serial TEXT NOT NULL,"
	    "  masa_url TEXT NOT NULL DEFAULT '', nonce TEXT, assertion TEXT,"
	    "  created_at INTEGER NOT NULL, expires_on INTEGER, pinned_fp TEXT,"
	    "  der BLOB NOT NULL, voucher_status TEXT, voucher_reason TEXT,"
	    "  enroll_status TEXT, enroll_reason TEXT, status_at INTEGER);"
	    "CREATE INDEX vouchers_serial ON vouchers(serial, id);"
	    "CREATE TABLE netids (serial TEXT NOT NULL,"
	    "  kind TEXT NOT NULL CHECK (kind IN ('mac', 'client-id', 'duid')),"
	    "  value TEXT NOT NULL, reported_at INTEGER NOT NULL, PRIMARY KEY (kind, value));"
	    "CREATE INDEX netids_serial ON netids(serial);"
	    "CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at > 0;";
	/* PostgreSQL: a v8 registry made from the released code, back to what v4 was */
	static const char v4_schema_pg[] =
	    "DROP TABLE pending; DROP TABLE audit_checkpoints;"
	    "ALTER TABLE certificates DROP COLUMN ca_kid;"
	    "ALTER TABLE bindings DROP COLUMN anchor_fp, DROP COLUMN readmitted_at,"
	    "  DROP COLUMN readmitted_by, DROP COLUMN readmit_reason;"
	    "ALTER TABLE claims DROP COLUMN anchor_fp;";
	static const char v4_rows[] =
	    /* LKM1: revoked, claimed again and enrolled again (the old rules) */
	    "INSERT INTO bindings VALUES (1, 'LKM1', 'x', '" FP_1 "', 'claim', 'revoked', 100,"
	    "  150, 'superseded', 'admin:a');"
	    "INSERT INTO bindings VALUES (2, 'LKM1', 'x', '" FP_1 "', 'claim', 'active', 200,"
	    "  NULL, NULL, NULL);"
	    "INSERT INTO claims VALUES ('LKM1', 180, 'admin:a');"
	    /* LKM2: revoked, then claimed again, not yet enrolled */
	    "INSERT INTO bindings VALUES (3, 'LKM2', 'x', '" FP_2 "', 'claim', 'revoked', 100,"
	    "  160, 'keyCompromise', 'admin:a');"
	    "INSERT INTO claims VALUES ('LKM2', 190, 'admin:a');"
	    /* LKM3: active */
	    "INSERT INTO bindings VALUES (4, 'LKM3', 'x', '" FP_1 "', 'auto-accept:A', 'active',"
	    "  120, NULL, NULL, NULL);";
	struct tu_reg *fx = *state;
	struct registry_binding b;
	enum registry_verdict v;
	char reason[256];
	sqlite3 *db = NULL;

	if (fx->pg) {
		fx->reg = open_rw(fx);
		registry_close(fx->reg);
		fx->reg = NULL;
		tu_raw_exec(fx, v4_schema_pg);
	} else {
		assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, v4_schema, NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	tu_raw_exec(fx, v4_rows);
	set_schema_version(fx, 4);
	assert_int_equal(schema_version(fx), 4);

	/* read-only cannot migrate; read-write does, once */
	assert_null(registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "needs migration"));
	fx->reg = registry_open(fx->path, 0, fx->err, sizeof(fx->err));
	if (fx->reg == NULL)
		fail_msg("registry_open: %s", fx->err);
	assert_int_equal(schema_version(fx), 13);
	assert_int_equal(tu_raw_int(fx, "SELECT readmitted_at FROM bindings WHERE id = 1"),
	    200);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings WHERE id = 1 AND "
	    "readmitted_by = 'schema-v5'"), 1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM bindings WHERE "
	    "readmitted_at IS NOT NULL"), 1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM claims WHERE anchor_fp IS "
	    "NULL"), 2);

	assert_int_equal(registry_binding_get(fx->reg, "LKM1", &b, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(b.id, 2);
	assert_string_equal(b.anchor_fp, "");
	/* the re-enrolled device goes on; another IDevID does not */
	assert_int_equal(registry_admission(fx->reg, "LKM1", ANCHOR_A, FP_1, &v, reason,
	    sizeof(reason), fx->err, sizeof(fx->err)), 0);
	assert_int_equal(v, REGISTRY_CLAIMED);
	assert_int_equal(registry_admission(fx->reg, "LKM3", ANCHOR_A, FP_2, &v, reason,
	    sizeof(reason), fx->err, sizeof(fx->err)), 0);
	assert_int_equal(v, REGISTRY_BOUND_ELSEWHERE);
	/* the old claim of a revoked device does not re-admit it */
	assert_int_equal(registry_admission(fx->reg, "LKM2", ANCHOR_A, FP_2, &v, reason,
	    sizeof(reason), fx->err, sizeof(fx->err)), 0);
	assert_int_equal(v, REGISTRY_REVOKED);
	assert_non_null(strstr(reason, "keyCompromise"));
	assert_int_equal(registry_readmit(fx->reg, "LKM2", NULL, NULL, "admin:t", fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_admission(fx->reg, "LKM2", ANCHOR_A, FP_2, &v, reason,
	    sizeof(reason), fx->err, sizeof(fx->err)), 0);
	assert_int_equal(v, REGISTRY_CLAIMED);
	registry_close(fx->reg);
	fx->reg = registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
	assert_non_null(fx->reg);
}

/*
 * v5 -> v6: a registry of schema v5 with an audit log gets the checkpoints table; its
 * chain is untouched and still verifies, and checkpoints can be stored and read back.
 */
static void
test_migrate_v5(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_checkpoint cp, last;
	char head[REGISTRY_HASH_HEX];
	int64_t seq, bad;
	int i;

	fx->reg = open_rw(fx);
	for (i = 0; i < 3; i++)
		assert_int_equal(registry_audit(fx->reg, "admin:t", "note", "LK01", NULL, NULL,
		    fx->err, sizeof(fx->err)), 0);
	registry_close(fx->reg);
	fx->reg = NULL;
	/* What a v5 registry is: everything but the v6 and v7 tables. */
	tu_raw_exec(fx, "DROP TABLE audit_checkpoints; DROP TABLE pending; "
	    "ALTER TABLE certificates DROP COLUMN ca_kid;");
	set_schema_version(fx, 5);
	assert_int_equal(schema_has(fx, "audit_checkpoints"), 0);

	assert_null(registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "needs migration"));
	fx->reg = registry_open(fx->path, 0, fx->err, sizeof(fx->err));
	if (fx->reg == NULL)
		fail_msg("registry_open: %s", fx->err);
	assert_int_equal(schema_version(fx), 13);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), 3);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_checkpoint_last(fx->reg, &last, fx->err, sizeof(fx->err)), 0);

	assert_int_equal(registry_audit_head(fx->reg, &seq, head, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(seq, 3);
	memset(&cp, 0, sizeof(cp));
	cp.seq = seq;
	snprintf(cp.head, sizeof(cp.head), "%s", head);
	cp.at = 1700000000;
	snprintf(cp.domain, sizeof(cp.domain), "example.test");
	memset(cp.sig, 0xab, 70);
	cp.siglen = 70;
	assert_int_equal(registry_checkpoint_add(fx->reg, &cp, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_checkpoint_last(fx->reg, &last, fx->err, sizeof(fx->err)), 1);
	assert_int_equal(last.seq, 3);
	assert_string_equal(last.head, head);
	assert_int_equal(last.at, 1700000000);
	assert_string_equal(last.domain, "example.test");
	assert_int_equal(last.siglen, 70);
	assert_memory_equal(last.sig, cp.sig, 70);
	/* a checkpoint is no audit entry: the head did not move */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit"), 3);
	/* malformed ones are refused */
	cp.siglen = 0;
	assert_int_equal(registry_checkpoint_add(fx->reg, &cp, fx->err, sizeof(fx->err)), -1);
	cp.siglen = 70;
	cp.head[10] = '\0';
	assert_int_equal(registry_checkpoint_add(fx->reg, &cp, fx->err, sizeof(fx->err)), -1);
	registry_close(fx->reg);
	/* and read-only opens now */
	fx->reg = registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
	assert_non_null(fx->reg);
	assert_int_equal(registry_checkpoint_last(fx->reg, &last, fx->err, sizeof(fx->err)), 1);
}

/*
 * CA rollover: certificates recorded before v8 carry no CA key id until registry_ca_mark()
 * gives them the outgoing CA's; new ones carry theirs; registry_ca_live() counts a CA's
 * certificates that are neither revoked nor expired.
 */
static void
test_ca_kid(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct registry_cert c;
	int64_t n = -1;

	fx->reg = open_rw(fx);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	fake_enrollment(&e, "LK01", "A1", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)), 0);
	fake_enrollment(&e, "LK01", "A2", 0);
	e.not_after = 1000;	/* expired */
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_cert_get(fx->reg, "A1", &c, fx->err, sizeof(fx->err)), 1);
	assert_string_equal(c.ca_kid, "");

	assert_int_equal(registry_ca_mark(fx->reg, "0a0a", &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 2);
	fake_enrollment(&e, "LK01", "B1", 0);
	e.ca_kid = "0b0b";
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)), 0);
	/* marking again touches only unmarked rows: none */
	assert_int_equal(registry_ca_mark(fx->reg, "0c0c", &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(registry_cert_get(fx->reg, "A1", &c, fx->err, sizeof(fx->err)), 1);
	assert_string_equal(c.ca_kid, "0a0a");
	assert_int_equal(registry_cert_get(fx->reg, "B1", &c, fx->err, sizeof(fx->err)), 1);
	assert_string_equal(c.ca_kid, "0b0b");

	assert_int_equal(registry_ca_live(fx->reg, "0a0a", 1700000001, &n, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(n, 1);		/* A1; A2 expired */
	assert_int_equal(registry_binding_revoke(fx->reg, "LK01", "keyCompromise", "admin:t",
	    NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_ca_live(fx->reg, "0a0a", 1700000001, &n, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(registry_ca_live(fx->reg, "", 0, &n, fx->err, sizeof(fx->err)), -1);
}

/* registry_audit_holds / _verify_from: what truncation and rewrites look like. */
static void
test_audit_head_holds(void **state)
{
	struct tu_reg *fx = *state;
	char head[REGISTRY_HASH_HEX], h3[REGISTRY_HASH_HEX], why[256];
	int64_t seq, bad;
	int i;

	fx->reg = open_rw(fx);
	assert_int_equal(registry_audit_head(fx->reg, &seq, head, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(seq, 0);
	assert_string_equal(head, "");
	for (i = 0; i < 5; i++)
		assert_int_equal(registry_audit(fx->reg, "admin:t", "note", "LK01", NULL, NULL,
		    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_audit_head(fx->reg, &seq, head, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(seq, 5);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE id = 5 AND "
	    "hash = (SELECT hash FROM audit ORDER BY id DESC LIMIT 1)"), 1);
	assert_int_equal(registry_audit_holds(fx->reg, 5, head, why, sizeof(why), fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(registry_audit_verify_from(fx->reg, 5, head, &bad, why, sizeof(why),
	    fx->err, sizeof(fx->err)), 0);
	tu_raw_text(fx, "SELECT hash FROM audit WHERE id = 3", h3, sizeof(h3));
	assert_int_equal(strlen(h3), REGISTRY_HASH_HEX - 1);
	assert_int_equal(registry_audit_verify_from(fx->reg, 3, h3, &bad, why, sizeof(why),
	    fx->err, sizeof(fx->err)), 0);
	/* an edit after the checkpoint: the walk from it finds it */
	tu_raw_exec(fx, "UPDATE audit SET reason = 'x' WHERE id = 4");
	assert_int_equal(registry_audit_verify_from(fx->reg, 3, h3, &bad, why, sizeof(why),
	    fx->err, sizeof(fx->err)), 1);
	assert_int_equal(bad, 4);
	/* the newest rows deleted: truncated */
	tu_raw_exec(fx, "DELETE FROM audit WHERE id > 3");
	assert_int_equal(registry_audit_holds(fx->reg, 5, head, why, sizeof(why), fx->err,
	    sizeof(fx->err)), 1);
	assert_non_null(strstr(why, "truncated"));
	assert_non_null(strstr(why, "ends at entry 3"));
	/* a different hash at the checkpointed id: rewritten */
	assert_int_equal(registry_audit_holds(fx->reg, 3, head, why, sizeof(why), fx->err,
	    sizeof(fx->err)), 1);
	assert_non_null(strstr(why, "rewritten"));
	/* a hole below the head: rewritten (missing) */
	tu_raw_exec(fx, "DELETE FROM audit WHERE id = 2");
	assert_int_equal(registry_audit_holds(fx->reg, 2, h3, why, sizeof(why), fx->err,
	    sizeof(fx->err)), 1);
	assert_non_null(strstr(why, "missing"));
}

/*
 * registry_backup: a copy of an open registry with entries, taken while another connection
 * holds an uncommitted write, verifies, has the same audit head and only what was committed;
 * an existing file is refused unless REGISTRY_BACKUP_REPLACE; the registry itself never.
 */
static void
test_backup(void **state)
{
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct registry_backup_info bi;
	struct registry_cert cert;
	struct registry *copy;
	struct stat sb;
	sqlite3 *w = NULL;
	char bak[160], head[REGISTRY_HASH_HEX], chead[REGISTRY_HASH_HEX], leftover[200];
	int64_t seq, cseq, bad, id;
	FILE *ls;

	snprintf(bak, sizeof(bak), "%s/backup.db", fx->dir);
	fx->reg = open_rw(fx);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err,
	    sizeof(fx->err)), 0);
	fake_enrollment(&e, "LK01", "0A01", 1);
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &id, fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(registry_audit(fx->reg, "admin:t", "note", "LK01", NULL, NULL,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_audit_head(fx->reg, &seq, head, fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(seq, 3);
	if (fx->pg) {
		/* SQLite's backup API only: PostgreSQL has pg_dump */
		assert_int_equal(registry_backup(fx->reg, bak, 0, &bi, fx->err,
		    sizeof(fx->err)), -1);
		assert_non_null(strstr(fx->err, "pg_dump"));
		assert_int_equal(access(bak, F_OK), -1);
		return;
	}

	/* a writer in the middle of a transaction: not in the copy, and no wait for it */
	assert_int_equal(sqlite3_open_v2(fx->path, &w, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_exec(w, "BEGIN IMMEDIATE; INSERT INTO audit (at, actor, "
	    "action, prev_hash, hash) VALUES (1, 'x', 'x', 'x', 'x')", NULL, NULL, NULL),
	    SQLITE_OK);
	memset(&bi, 0xff, sizeof(bi));
	if (registry_backup(fx->reg, bak, 0, &bi, fx->err, sizeof(fx->err)) != 0)
		fail_msg("registry_backup: %s", fx->err);
	sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(w);
	assert_int_equal(bi.seq, seq);
	assert_string_equal(bi.head, head);
	assert_int_equal(bi.entries, 3);
	assert_int_equal(stat(bak, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* nothing left beside it: no temporary file, no -wal or -shm */
	snprintf(leftover, sizeof(leftover), "ls -A %s | grep -v '^registry\\.db' | "
	    "grep -vx backup.db", fx->dir);
	assert_non_null(ls = popen(leftover, "r"));
	assert_null(fgets(leftover, sizeof(leftover), ls));
	pclose(ls);

	/* the copy: intact, the same head, the enrollment in it */
	copy = registry_open(bak, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
	if (copy == NULL)
		fail_msg("registry_open(copy): %s", fx->err);
	assert_int_equal(registry_audit_verify(copy, &bad, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_audit_head(copy, &cseq, chead, fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(cseq, seq);
	assert_string_equal(chead, head);
	assert_int_equal(registry_cert_get(copy, "0A01", &cert, fx->err, sizeof(fx->err)),
	    1);
	assert_string_equal(cert.device_serial, "LK01");
	registry_close(copy);

	/* an existing file: refused (1) and left alone, unless REGISTRY_BACKUP_REPLACE */
	assert_int_equal(registry_audit(fx->reg, "admin:t", "note", "LK01", NULL, NULL,
	    fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_backup(fx->reg, bak, 0, &bi, fx->err, sizeof(fx->err)), 1);
	assert_non_null(strstr(fx->err, "exists"));
	assert_int_equal(raw_int(bak, "SELECT count(*) FROM audit"), 3);
	assert_int_equal(registry_backup(fx->reg, bak, REGISTRY_BACKUP_REPLACE, &bi, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(bi.entries, 4);
	assert_int_equal(raw_int(bak, "SELECT count(*) FROM audit"), 4);
	/* never over the registry itself */
	assert_int_equal(registry_backup(fx->reg, fx->path, REGISTRY_BACKUP_REPLACE, &bi,
	    fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "the registry itself"));
	unlink(bak);
}

/* ---- pending approvals (schema v7) ------------------------------------------------- */

enum pend_op {
	P_TOUCH,	/* registry_pending_touch(): want its result, and attempts / reason */
	P_APPROVE,	/* registry_pending_decide(REGISTRY_APPROVE) */
	P_DENY,		/* registry_pending_decide(REGISTRY_DENY, text as the reason) */
	P_CLAIM,	/* registry_claim_for(anchor) */
	P_ADMIT,	/* registry_admission(): want is the verdict */
	P_ROWS,		/* want: how many rows serial has */
};

/*
 * An authenticated, unclaimed device is recorded once per serial and counted; the first
 * IDevID holds the row; approve claims it for the row's manufacturer; deny refuses it with
 * a reason (for any IDevID) until approved or claimed; claimed, bound or revoked serials
 * are no longer pending. text: the row's reason (P_TOUCH), or in err (-1, 2).
 */
static void
test_pending(void **state)
{
	static const struct {
		enum pend_op	 op;
		const char	*serial, *anchor, *idevid;
		int		 want;
		int64_t		 attempts;	/* P_TOUCH: want the row's, when > 0 */
		const char	*text;
	} steps[] = {
		{ P_ROWS, "S1", NULL, NULL, 0, 0, NULL },
		{ P_TOUCH, "S1", ANCHOR_A, FP_1, 0, 1, NULL },
		{ P_TOUCH, "S1", ANCHOR_A, FP_1, 0, 2, NULL },
		{ P_ROWS, "S1", NULL, NULL, 1, 0, NULL },
		/* the first IDevID holds the row: another one, or another maker, is refused */
		{ P_TOUCH, "S1", ANCHOR_A, FP_2, 2, 2, NULL },
		{ P_TOUCH, "S1", ANCHOR_B, FP_1, 2, 2, NULL },
		{ P_ADMIT, "S1", ANCHOR_A, FP_1, REGISTRY_UNCLAIMED, 0, NULL },
		/* nothing to decide on */
		{ P_APPROVE, "S9", NULL, NULL, 1, 0, NULL },
		{ P_DENY, "S9", NULL, NULL, 1, 0, "no" },
		/* approve: a claim for the row's manufacturer, the row gone */
		{ P_APPROVE, "S1", NULL, NULL, 0, 0, NULL },
		{ P_ROWS, "S1", NULL, NULL, 0, 0, NULL },
		{ P_ADMIT, "S1", ANCHOR_A, FP_1, REGISTRY_CLAIMED, 0, NULL },
		{ P_ADMIT, "S1", ANCHOR_B, FP_2, REGISTRY_OTHER_MAKER, 0, NULL },
		{ P_TOUCH, "S1", ANCHOR_A, FP_1, 3, 0, NULL },
		{ P_ROWS, "S1", NULL, NULL, 0, 0, NULL },
		{ P_APPROVE, "S1", NULL, NULL, 1, 0, NULL },
		/* deny: refused with the reason, for any IDevID, the attempts still counted */
		{ P_TOUCH, "S2", ANCHOR_A, FP_1, 0, 1, NULL },
		{ P_DENY, "S2", NULL, NULL, 0, 0, "not ours" },
		{ P_TOUCH, "S2", ANCHOR_A, FP_1, 1, 2, "not ours" },
		{ P_TOUCH, "S2", ANCHOR_B, FP_2, 1, 3, "not ours" },
		{ P_DENY, "S2", NULL, NULL, 0, 0, "stolen" },	/* again: the new reason */
		{ P_TOUCH, "S2", ANCHOR_A, FP_1, 1, 4, "stolen" },
		{ P_ADMIT, "S2", ANCHOR_A, FP_1, REGISTRY_UNCLAIMED, 0, NULL },
		/* a denied device may be approved */
		{ P_APPROVE, "S2", NULL, NULL, 0, 0, NULL },
		{ P_ADMIT, "S2", ANCHOR_A, FP_1, REGISTRY_CLAIMED, 0, NULL },
		/* a claim removes a pending row, and lifts a denial */
		{ P_TOUCH, "S3", ANCHOR_B, FP_2, 0, 1, NULL },
		{ P_CLAIM, "S3", NULL, NULL, 0, 0, NULL },
		{ P_ROWS, "S3", NULL, NULL, 0, 0, NULL },
		{ P_TOUCH, "S4", ANCHOR_A, FP_1, 0, 1, NULL },
		{ P_DENY, "S4", NULL, NULL, 0, 0, NULL },	/* no reason */
		{ P_TOUCH, "S4", ANCHOR_A, FP_1, 1, 2, "" },
		{ P_CLAIM, "S4", ANCHOR_A, NULL, 0, 0, NULL },
		{ P_ROWS, "S4", NULL, NULL, 0, 0, NULL },
		{ P_CLAIM, "S4", ANCHOR_A, NULL, 1, 0, NULL },	/* nothing changes now */
		/* bad arguments */
		{ P_TOUCH, "S5", "sha256:xyz", FP_1, -1, 0, "sha256:<64 hex digits>" },
		{ P_TOUCH, "", ANCHOR_A, FP_1, -1, 0, "serial is empty" },
		{ P_TOUCH, "S5", ANCHOR_A, "", -1, 0, "IDevID fingerprint is empty" },
		{ P_APPROVE, "", NULL, NULL, -1, 0, "serial is empty" },
		{ P_ROWS, "S5", NULL, NULL, 0, 0, NULL },
	};
	struct tu_reg *fx = *state;
	struct registry_pending p;
	enum registry_verdict v;
	char q[160], reason[256];
	const char *text;
	int64_t bad = 0;
	size_t i;
	int rc = 0;

	fx->reg = open_rw(fx);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		fx->err[0] = '\0';
		text = fx->err;
		switch (steps[i].op) {
		case P_TOUCH:
			memset(&p, 0, sizeof(p));
			snprintf(p.serial, sizeof(p.serial), "%s", steps[i].serial);
			snprintf(p.anchor_fp, sizeof(p.anchor_fp), "%s", steps[i].anchor);
			snprintf(p.anchor_name, sizeof(p.anchor_name), "Maker %s",
			    steps[i].anchor + 7);
			snprintf(p.idevid_fp, sizeof(p.idevid_fp), "%s", steps[i].idevid);
			snprintf(p.peer, sizeof(p.peer), "192.0.2.%zu", i);
			rc = registry_pending_touch(fx->reg, &p, "registrar", fx->err,
			    sizeof(fx->err));
			if (rc >= 0 && rc <= 2 && steps[i].attempts > 0 &&
			    p.attempts != steps[i].attempts)
				fail_msg("step %zu: %" PRId64 " attempts, want %" PRId64, i,
				    p.attempts, steps[i].attempts);
			if (rc == 1)
				text = p.reason;
			if (rc == 1 && strcmp(p.reason, steps[i].text) != 0)
				fail_msg("step %zu: reason \"%s\", want \"%s\"", i, p.reason,
				    steps[i].text);
			break;
		case P_APPROVE:
		case P_DENY:
			rc = registry_pending_decide(fx->reg, steps[i].serial,
			    steps[i].op == P_APPROVE ? REGISTRY_APPROVE : REGISTRY_DENY,
			    "admin:t", steps[i].op == P_DENY ? steps[i].text : NULL, fx->err,
			    sizeof(fx->err));
			break;
		case P_CLAIM:
			rc = registry_claim_for(fx->reg, steps[i].serial, steps[i].anchor,
			    "admin:t", fx->err, sizeof(fx->err));
			break;
		case P_ADMIT:
			if (registry_admission(fx->reg, steps[i].serial, steps[i].anchor,
			    steps[i].idevid, &v, reason, sizeof(reason), fx->err,
			    sizeof(fx->err)) == -1)
				fail_msg("step %zu: %s", i, fx->err);
			rc = (int)v;
			break;
		case P_ROWS:
			snprintf(q, sizeof(q), "SELECT count(*) FROM pending WHERE serial = '%s'",
			    steps[i].serial);
			rc = (int)tu_raw_int(fx, q);
			break;
		}
		if (rc != steps[i].want)
			fail_msg("step %zu (%s): got %d want %d (%s)", i, steps[i].serial, rc,
			    steps[i].want, text);
		if (rc == -1 && steps[i].text != NULL && strstr(text, steps[i].text) == NULL)
			fail_msg("step %zu: \"%s\" lacks \"%s\"", i, text, steps[i].text);
	}
	/* What was audited, by whom; the chain holds. */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = "
	    "'pending' AND actor = 'registrar'"), 4);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = "
	    "'approve' AND actor = 'admin:t' AND details LIKE '%\"manufacturer\":\"" ANCHOR_A
	    "\"%'"), 2);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = 'deny' "
	    "AND actor = 'admin:t'"), 3);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = 'deny' "
	    "AND subject = 'S2' AND reason = 'stolen'"), 1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = "
	    "'pending-cleared'"), 2);
	/* an approval is a quiet claim: the approve entry is its record */
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM audit WHERE action = 'claim' "
	    "AND subject IN ('S1', 'S2')"), 0);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
}

/* The rows as listed, oldest first, with what the registrar recorded. */
struct pend_rows {
	struct registry_pending	p[4];
	size_t			n;
};

static int
pend_row_cb(const struct registry_pending *p, void *arg)
{
	struct pend_rows *r = arg;

	if (r->n < 4)
		r->p[r->n] = *p;
	r->n++;
	return 0;
}

static void
test_pending_list(void **state)
{
	static const char *const serials[] = { "L1", "L2", "L3" };
	struct tu_reg *fx = *state;
	struct registry_enrollment e;
	struct registry_pending p;
	struct pend_rows rows;
	char longer[sizeof(p.reason) + 1];
	size_t i;

	fx->reg = open_rw(fx);
	for (i = 0; i < 3; i++) {
		memset(&p, 0, sizeof(p));
		snprintf(p.serial, sizeof(p.serial), "%s", serials[i]);
		snprintf(p.anchor_fp, sizeof(p.anchor_fp), "%s", ANCHOR_B);
		snprintf(p.anchor_name, sizeof(p.anchor_name), "Maker B");
		snprintf(p.idevid_fp, sizeof(p.idevid_fp), "%s", FP_2);
		snprintf(p.peer, sizeof(p.peer), "2001:db8::%zu", i);
		assert_int_equal(registry_pending_touch(fx->reg, &p, "registrar", fx->err,
		    sizeof(fx->err)), 0);
	}
	/* L3 first */
	tu_raw_exec(fx, "UPDATE pending SET first_seen = 100 - CAST(substr(serial, 2) AS INTEGER)");
	assert_int_equal(registry_pending_decide(fx->reg, "L2", REGISTRY_DENY, "admin:t",
	    "returned", fx->err, sizeof(fx->err)), 0);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(registry_pending_list(fx->reg, pend_row_cb, &rows, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(rows.n, 3);
	assert_string_equal(rows.p[0].serial, "L3");
	assert_string_equal(rows.p[1].serial, "L2");
	assert_string_equal(rows.p[1].state, "denied");
	assert_string_equal(rows.p[1].reason, "returned");
	assert_string_equal(rows.p[1].decided_by, "admin:t");
	assert_true(rows.p[1].decided_at > 0);
	assert_string_equal(rows.p[2].serial, "L1");
	assert_string_equal(rows.p[2].state, "pending");
	assert_string_equal(rows.p[2].anchor_fp, ANCHOR_B);
	assert_string_equal(rows.p[2].anchor_name, "Maker B");
	assert_string_equal(rows.p[2].idevid_fp, FP_2);
	assert_string_equal(rows.p[2].peer, "2001:db8::0");
	assert_int_equal(rows.p[2].attempts, 1);
	assert_int_equal(rows.p[2].decided_at, 0);
	assert_true(rows.p[2].last_seen >= rows.p[2].first_seen);
	/* a reason too long for the row is refused, the row unchanged */
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(registry_pending_decide(fx->reg, "L1", REGISTRY_DENY, "admin:t",
	    longer, fx->err, sizeof(fx->err)), -1);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM pending WHERE state = "
	    "'denied'"), 1);
	/* approving a revoked device is refused: readmit re-admits */
	fake_enrollment(&e, "L1", "A1", 1);
	e.anchor_fp = ANCHOR_B;
	assert_int_equal(registry_enroll_commit(fx->reg, &e, NULL, fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(registry_binding_revoke(fx->reg, "L1", "keyCompromise", "admin:t",
	    NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_pending_decide(fx->reg, "L1", REGISTRY_APPROVE, "admin:t",
	    NULL, fx->err, sizeof(fx->err)), 2);
	assert_non_null(strstr(fx->err, "does not re-admit"));
	/* nor is it pending any longer: not unclaimed */
	memset(&p, 0, sizeof(p));
	snprintf(p.serial, sizeof(p.serial), "L1");
	snprintf(p.anchor_fp, sizeof(p.anchor_fp), "%s", ANCHOR_B);
	snprintf(p.idevid_fp, sizeof(p.idevid_fp), "%s", FP_2);
	assert_int_equal(registry_pending_touch(fx->reg, &p, "registrar", fx->err,
	    sizeof(fx->err)), 3);
	/* read-only: listed, never touched */
	registry_close(fx->reg);
	fx->reg = registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
	assert_non_null(fx->reg);
	rows.n = 0;
	assert_int_equal(registry_pending_list(fx->reg, pend_row_cb, &rows, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(rows.n, 3);
	assert_int_equal(registry_pending_touch(fx->reg, &p, "registrar", fx->err,
	    sizeof(fx->err)), -1);
	assert_int_equal(registry_pending_decide(fx->reg, "L3", REGISTRY_APPROVE, "admin:t",
	    NULL, fx->err, sizeof(fx->err)), -1);
}

/* The data version of fx->reg once it moved from v (at most 5 s), else v. */
static int64_t
pg_version_after(struct tu_reg *fx, int64_t v)
{
	int64_t now = v;
	int i;

	for (i = 0; i < 500 && now == v; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		assert_int_equal(registry_data_version(fx->reg, &now, fx->err, sizeof(fx->err)),
		    0);
		if (now == v)
			nanosleep(&ts, NULL);
	}
	return now;
}

/*
 * PostgreSQL, schema v13: what an enrollment inserts notifies nobody (no CRL shows it), a
 * revocation does. Each notification counts one, and they arrive in commit order: after a
 * claim committed behind the enrollment, the version moved by exactly the claim's one.
 */
static void
pg_enroll_quiet(struct tu_reg *fx, struct registry *other)
{
	struct registry_enrollment e;
	int64_t va, vb, vc;

	fake_enrollment(&e, "LK01", "0C", 1);
	assert_int_equal(registry_data_version(fx->reg, &va, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_enroll_commit(other, &e, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_claim(other, "LK02", "admin:t", fx->err, sizeof(fx->err)), 0);
	vb = pg_version_after(fx, va);
	assert_int_equal(vb - va, 1);
	assert_int_equal(registry_binding_revoke(other, "LK01", "keyCompromise", "admin:t", NULL,
	    fx->err, sizeof(fx->err)), 0);
	vc = pg_version_after(fx, vb);
	assert_true(vc != vb);
}

/*
 * registry_data_version: another connection's commit moves it (the caches in latchkeyd
 * rely on that), a read does not; on PostgreSQL an enrollment's own inserts do not
 * (pg_enroll_quiet).
 */
static void
test_data_version(void **state)
{
	struct tu_reg *fx = *state;
	struct registry *other;
	int64_t v0 = -1, v1 = -1, v2 = -1;

	fx->reg = open_rw(fx);
	assert_non_null(other = registry_open(fx->path, REGISTRY_FAST, fx->err,
	    sizeof(fx->err)));
	assert_int_equal(registry_data_version(fx->reg, &v0, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_claim_exists(other, "LK01", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_data_version(fx->reg, &v1, fx->err, sizeof(fx->err)), 0);
	assert_true(v1 == v0);
	assert_int_equal(registry_claim(other, "LK01", "admin:t", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_data_version(fx->reg, &v2, fx->err, sizeof(fx->err)), 0);
	assert_true(v2 != v1);
	/* a single-statement write outside a transaction too */
	assert_int_equal(registry_ca_mark(other, "ab01", &v0, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_data_version(fx->reg, &v0, fx->err, sizeof(fx->err)), 0);
	if (fx->pg)	/* SQLite: a statement that changed no row commits nothing */
		assert_true(v0 != v2);
	if (fx->pg)
		pg_enroll_quiet(fx, other);
	registry_close(other);
}

/*
 * PostgreSQL's open errors: an unreachable server, a login refused, a database that is not
 * there; libpq's message, and never the password of the URI.
 */
static void
test_pg_open_errors(void **state)
{
	struct tu_reg *fx = *state;
	char dir[200], uri[512];

	if (!fx->pg)
		skip();
	assert_int_equal(sscanf(tu_pg(), "host=%199s", dir), 1);
	assert_true(registry_is_pg(fx->path));
	assert_true(registry_is_pg("postgresql://db.example/latchkey"));
	assert_true(registry_is_pg("postgres://db.example/latchkey"));
	assert_false(registry_is_pg("/var/lib/latchkey/registry.db"));

	/* no server there */
	assert_null(registry_open("host=/nonexistent-lk-test dbname=x connect_timeout=5",
	    REGISTRY_CREATE, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "cannot connect"));
	assert_non_null(strstr(fx->err, "nonexistent-lk-test"));
	/* a login the server refuses, with a password that must not show */
	snprintf(uri, sizeof(uri), "postgresql://nobody_lk:sekret@/%s?host=%s", fx->pgdb, dir);
	assert_null(registry_open(uri, REGISTRY_CREATE, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "cannot connect"));
	assert_non_null(strstr(fx->err, "nobody_lk"));
	assert_null(strstr(fx->err, "sekret"));
	/* no such database */
	snprintf(uri, sizeof(uri), "postgresql://postgres:sekret@/nodb_lk?host=%s", dir);
	assert_null(registry_open(uri, REGISTRY_CREATE, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "nodb_lk"));
	assert_null(strstr(fx->err, "sekret"));
	/* the URI form of the case's own database works */
	snprintf(uri, sizeof(uri), "postgresql://postgres:sekret@/%s?host=%s", fx->pgdb, dir);
	if ((fx->reg = registry_open(uri, REGISTRY_CREATE, fx->err, sizeof(fx->err))) == NULL)
		fail_msg("registry_open(%s): %s", uri, fx->err);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	/* a read-only session cannot write, even past the module's own check */
	registry_close(fx->reg);
	fx->reg = registry_open(fx->path, REGISTRY_RDONLY, fx->err, sizeof(fx->err));
	assert_non_null(fx->reg);
	assert_int_equal(registry_claim_exists(fx->reg, "LK01", fx->err, sizeof(fx->err)), 1);
	assert_int_equal(registry_writable(fx->reg, fx->err, sizeof(fx->err)), -1);
}

/*
 * PostgreSQL restarted (here: this connection's backend terminated) between two calls: the
 * next write transaction and the next read run on a new connection.
 */
/* CASE: the other connections alone, whatever order the planner picks */
#define TERMINATE_OTHERS \
	"SELECT sum(CASE WHEN pid <> pg_backend_pid() THEN " \
	"pg_terminate_backend(pid)::int ELSE 0 END) FROM pg_stat_activity " \
	"WHERE datname = current_database()"

static void
test_pg_reconnect(void **state)
{
	struct tu_reg *fx = *state;
	int64_t bad = -1;

	if (!fx->pg)
		skip();
	fx->reg = open_rw(fx);
	assert_int_equal(registry_claim(fx->reg, "LK01", "admin:t", fx->err, sizeof(fx->err)),
	    0);
	assert_int_equal(tu_raw_int(fx, TERMINATE_OTHERS), 1);
	if (registry_claim(fx->reg, "LK02", "admin:t", fx->err, sizeof(fx->err)) != 0)
		fail_msg("claim after the backend went: %s", fx->err);
	assert_int_equal(tu_raw_int(fx, TERMINATE_OTHERS), 1);
	assert_int_equal(registry_claim_exists(fx->reg, "LK01", fx->err, sizeof(fx->err)), 1);
	assert_int_equal(registry_audit_verify(fx->reg, &bad, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(tu_raw_int(fx, "SELECT count(*) FROM claims"), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_create_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdonly_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_commit_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enroll_commit_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreach_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_verify_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdonly_sees_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_netids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posture, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admission_latest_revocation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v5, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_head_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ca_kid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pg_reconnect, setup, teardown),
	};

	/* LK_TEST_PG set (tests/pg.sh, run.sh's test_registry_pg): the same on PostgreSQL */
	return cmocka_run_group_tests_name(tu_pg() != NULL ? "registry on PostgreSQL" :
	    "registry on SQLite", tests, NULL, NULL);
}
