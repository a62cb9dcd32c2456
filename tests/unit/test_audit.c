/*
 * Unit tests for the audit log's tamper evidence (DESIGN.md "Trust model"): checkpoints of
 * the chain's head signed by the signer (certs/signer.c), kept in the registry
 * (enroll/store/registry.c) and exported, and what `latchkeyctl audit --verify` makes of
 * them (ctl_audit_check, enroll/latchkeyctl/cmd_revoke.c). Each case builds a registry with
 * a signed checkpoint, tampers with it the way a database writer could, and checks the
 * verdict: an unkeyed chain re-hashed after an edit or cut short still verifies on its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "certs/labpki.h"
#include "certs/pki.h"
#include "certs/signer.h"
#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/registry.h"
#include "tests/unit/testutil.h"

static struct {
	char			dir[64];
	struct domainca_files	dc;
	struct domainca_files	other;		/* a CA that signed nothing here */
	struct ca_profile	prof;
	struct signer		*signer;
} F;

static int
setup(void **state)
{
	char err[256], sub[128];

	snprintf(F.dir, sizeof(F.dir), "/tmp/lk-audit-XXXXXX");
	if (mkdtemp(F.dir) == NULL)
		return -1;
	snprintf(sub, sizeof(sub), "%s/reg", F.dir);
	if (domainca_create(sub, "example.test", "127.0.0.1", NULL, &F.dc, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "domainca_create: %s\n", err);
		return -1;
	}
	snprintf(sub, sizeof(sub), "%s/other", F.dir);
	if (domainca_create(sub, "example.test", "127.0.0.1", NULL, &F.other, err,
	    sizeof(err)) == -1)
		return -1;
	F.prof.lifetime_days = 30;
	if ((F.signer = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "signer_start: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	signer_free(F.signer);
	tu_rmtree(F.dir);
	return 0;
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/*
 * What a writer with the database and the documented hash format does after an edit: walk
 * the chain in id order and rewrite every prev_hash and hash so that it verifies again.
 */
static void
rehash(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL, *up = NULL;
	char prev[65] = "", hex[65], buf[4096];
	unsigned char md[32];
	unsigned int mdlen, i;
	const char *f[5];
	int k;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT id, at, actor, action, subject, "
	    "reason, details FROM audit ORDER BY id", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit SET prev_hash = ?1, hash = ?2 "
	    "WHERE id = ?3", -1, &up, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		for (k = 0; k < 5; k++) {
			f[k] = (const char *)sqlite3_column_text(st, 2 + k);
			if (f[k] == NULL)
				f[k] = "";
		}
		snprintf(buf, sizeof(buf), "%s\x1f%" PRId64 "\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s",
		    prev, (int64_t)sqlite3_column_int64(st, 1), f[0], f[1], f[2], f[3], f[4]);
		assert_int_equal(EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha256(), NULL),
		    1);
		for (i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		sqlite3_bind_text(up, 1, prev, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(up, 2, hex, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 3, sqlite3_column_int64(st, 0));
		assert_int_equal(sqlite3_step(up), SQLITE_DONE);
		sqlite3_reset(up);
		snprintf(prev, sizeof(prev), "%s", hex);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Sign the registry's head as latchkeyd does: registry row and exported line. */
static void
checkpoint(struct registry *reg, const char *file, char head_arg[128])
{
	struct signer_checkpoint cp;
	struct registry_checkpoint rc;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char head[REGISTRY_HASH_HEX], err[256], line[SIGNER_CKPT_LINE_MAX];
	int64_t seq;
	FILE *fp;
	int i, hi, lo;

	assert_int_equal(registry_audit_head(reg, &seq, head, err, sizeof(err)), 0);
	memset(&cp, 0, sizeof(cp));
	cp.seq = seq;
	snprintf(cp.domain, sizeof(cp.domain), "example.test");
	for (i = 0; i < 32; i++) {
		hi = pki_hexval(head[2 * i]);
		lo = pki_hexval(head[2 * i + 1]);
		cp.head[i] = (unsigned char)(hi << 4 | lo);
	}
	if (signer_checkpoint(F.signer, &cp, &sig, &siglen, err, sizeof(err)) == -1)
		fail_msg("signer_checkpoint: %s", err);
	assert_true(cp.at > 0);
	assert_int_equal(signer_checkpoint_verify(NULL, &cp, sig, siglen, err, sizeof(err)), -1);
	memset(&rc, 0, sizeof(rc));
	rc.seq = seq;
	snprintf(rc.head, sizeof(rc.head), "%s", head);
	rc.at = cp.at;
	snprintf(rc.domain, sizeof(rc.domain), "%s", cp.domain);
	memcpy(rc.sig, sig, siglen);
	rc.siglen = siglen;
	assert_int_equal(registry_checkpoint_add(reg, &rc, err, sizeof(err)), 0);
	assert_true(signer_checkpoint_format(&cp, sig, siglen, line, sizeof(line)) > 0);
	assert_non_null(fp = fopen(file, "a"));
	fprintf(fp, "Jan  1 00:00:00 host latchkeyd[1]: %s\n", line);
	fclose(fp);
	free(sig);
	snprintf(head_arg, 128, "%" PRId64 ":sha256:%s", seq, head);
}

/* A writer who edits the exported file too: the signature no longer matches. */
static void
forge_file(const char *file)
{
	char buf[8192], *at;
	size_t n;
	FILE *fp;

	assert_non_null(fp = fopen(file, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	assert_non_null(at = strstr(buf, " at="));
	at[4] = at[4] == '1' ? '2' : '1';
	assert_non_null(fp = fopen(file, "w"));
	fputs(buf, fp);
	fclose(fp);
}

static void
test_tamper_table(void **state)
{
	static const struct {
		const char	*name;
		const char	*sql;		/* the writer's edit, or NULL */
		int		 rehash;	/* then re-hash the chain */
		int		 head;		/* verify against the head noted at the checkpoint */
		int		 file;		/* verify against the exported file */
		int		 forge_file;	/* the writer edits the file as well */
		int		 other_ca;	/* verify with a CA that signed nothing */
		int		 want;		/* ctl_audit_check: 0 intact, 1 not */
		const char	*why;		/* substring of the reason */
		int64_t		 checkpoints;	/* verified, when intact */
	} cases[] = {
		{ "untouched", NULL, 0, 0, 0, 0, 0, 0, NULL, 1 },
		{ "untouched, with head and file", NULL, 0, 1, 1, 0, 0, 0, NULL, 2 },
		{ "newest rows deleted (the revocation)",
		    "DELETE FROM audit WHERE id > 4", 0, 0, 0, 0, 0, 1,
		    "truncated: a checkpoint covers entry 6 but the log ends at entry 4", 0 },
		{ "newest rows deleted, chain re-hashed",
		    "DELETE FROM audit WHERE id > 4", 1, 0, 0, 0, 0, 1, "truncated", 0 },
		{ "row edited, chain re-hashed",
		    "UPDATE audit SET reason = 'superseded' WHERE action = 'revoke'", 1, 0, 0, 0,
		    0, 1, "rewritten: entry 6 has hash", 0 },
		{ "row deleted in the middle, chain re-hashed",
		    "DELETE FROM audit WHERE id = 3", 1, 0, 0, 0, 0, 1, "rewritten", 0 },
		{ "row edited, not re-hashed",
		    "UPDATE audit SET reason = 'superseded' WHERE id = 2", 0, 0, 0, 0, 0, 1,
		    "broken at entry 2", 0 },
		{ "checkpoint signature forged",
		    "UPDATE audit_checkpoints SET sig = randomblob(72)", 0, 0, 0, 0, 0, 1,
		    "forged", 0 },
		{ "checkpoint moved to the rewritten head",
		    "UPDATE audit SET reason = 'superseded' WHERE action = 'revoke'", 1, 0, 0, 0,
		    0, 1, "forged", 0 },
		{ "signed by another CA", NULL, 0, 0, 0, 0, 1, 1, "forged", 0 },
		/* The registry alone cannot tell once its checkpoints went too ... */
		{ "truncated and checkpoints deleted: registry alone",
		    "DELETE FROM audit WHERE id > 4; DELETE FROM audit_checkpoints", 1, 0, 0, 0, 0,
		    0, NULL, 0 },
		/* ... what was exported can. */
		{ "truncated and checkpoints deleted: exported file",
		    "DELETE FROM audit WHERE id > 4; DELETE FROM audit_checkpoints", 1, 0, 1, 0, 0,
		    1, "truncated: a checkpoint covers entry 6 but the log ends at entry 4", 0 },
		{ "truncated and checkpoints deleted: noted head",
		    "DELETE FROM audit WHERE id > 4; DELETE FROM audit_checkpoints", 1, 1, 0, 0, 0,
		    1, "truncated", 0 },
		{ "rewritten and checkpoints deleted: exported file",
		    "UPDATE audit SET reason = 'superseded' WHERE action = 'revoke';"
		    "DELETE FROM audit_checkpoints", 1, 0, 1, 0, 0, 1, "rewritten", 0 },
		{ "exported file edited too", "DELETE FROM audit_checkpoints", 0, 0, 1, 1, 0, 1,
		    "forged", 0 },
	};
	static const char *const actions[] = { "claim", "enroll", "claim", "enroll",
	    "reenroll", "revoke" };
	struct ctl_audit_check chk;
	struct registry *reg;
	char db[160], file[160], err[512], head[128];
	size_t i, k;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(db, sizeof(db), "%s/case%zu.db", F.dir, i);
		snprintf(file, sizeof(file), "%s/case%zu.log", F.dir, i);
		reg = registry_open(db, REGISTRY_CREATE | REGISTRY_FAST, err, sizeof(err));
		if (reg == NULL)
			fail_msg("registry_open: %s", err);
		for (k = 0; k < sizeof(actions) / sizeof(actions[0]); k++)
			assert_int_equal(registry_audit(reg, "admin:t", actions[k], "LK01",
			    strcmp(actions[k], "revoke") == 0 ? "keyCompromise" : NULL, NULL, err,
			    sizeof(err)), 0);
		checkpoint(reg, file, head);
		registry_close(reg);

		if (cases[i].sql != NULL)
			raw_exec(db, cases[i].sql);
		if (cases[i].rehash)
			rehash(db);
		if (strstr(cases[i].name, "moved to the rewritten head") != NULL)
			raw_exec(db, "UPDATE audit_checkpoints SET head = (SELECT hash FROM audit "
			    "WHERE id = 6)");
		if (cases[i].forge_file)
			forge_file(file);

		reg = registry_open(db, REGISTRY_RDONLY, err, sizeof(err));
		if (reg == NULL)
			fail_msg("registry_open: %s", err);
		memset(&chk, 0, sizeof(chk));
		chk.ca_path = cases[i].other_ca ? F.other.ca_cert : F.dc.ca_cert;
		chk.head = cases[i].head ? head : NULL;
		chk.ckpt_file = cases[i].file ? file : NULL;
		err[0] = '\0';
		r = ctl_audit_check(reg, &chk, err, sizeof(err));
		registry_close(reg);
		if (r != cases[i].want)
			fail_msg("case '%s': %d, want %d (%s%s)", cases[i].name, r, cases[i].want,
			    chk.why, err);
		if (cases[i].why != NULL && strstr(chk.why, cases[i].why) == NULL)
			fail_msg("case '%s': reason '%s'", cases[i].name, chk.why);
		if (r == 0 && chk.checkpoints != cases[i].checkpoints)
			fail_msg("case '%s': %" PRId64 " checkpoints verified", cases[i].name,
			    chk.checkpoints);
		if (r == 0)
			assert_int_equal(chk.entries, cases[i].rehash || cases[i].sql ? 4 : 6);
	}
}

/* A --head that is not SEQ:sha256:HEX, or a CA that cannot be read: -1, not a verdict. */
static void
test_check_errors(void **state)
{
	static const char *const bad_heads[] = { "", "x", "6", "6:", "6:sha256:zz",
	    "-1:none", "6:sha256:00", "0:sha256:" };
	struct ctl_audit_check chk;
	struct registry *reg;
	char db[160], err[512], head[128], file[160];
	size_t i;

	snprintf(db, sizeof(db), "%s/errors.db", F.dir);
	snprintf(file, sizeof(file), "%s/errors.log", F.dir);
	reg = registry_open(db, REGISTRY_CREATE | REGISTRY_FAST, err, sizeof(err));
	assert_non_null(reg);
	assert_int_equal(registry_audit(reg, "admin:t", "claim", "LK01", NULL, NULL, err,
	    sizeof(err)), 0);
	checkpoint(reg, file, head);
	for (i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
		memset(&chk, 0, sizeof(chk));
		chk.ca_path = F.dc.ca_cert;
		chk.head = bad_heads[i];
		if (ctl_audit_check(reg, &chk, err, sizeof(err)) != -1)
			fail_msg("head '%s' accepted", bad_heads[i]);
	}
	memset(&chk, 0, sizeof(chk));
	chk.ca_path = "/nonexistent/domain-ca.pem";
	assert_int_equal(ctl_audit_check(reg, &chk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "checkpoint signatures"));
	/* upper-case hex and "0:none" are fine */
	memset(&chk, 0, sizeof(chk));
	chk.ca_path = F.dc.ca_cert;
	for (i = 0; head[i] != '\0'; i++)
		if (head[i] >= 'a' && head[i] <= 'f' && i > 9)
			head[i] = (char)(head[i] - 'a' + 'A');
	chk.head = head;
	assert_int_equal(ctl_audit_check(reg, &chk, err, sizeof(err)), 0);
	chk.head = "0:none";
	assert_int_equal(ctl_audit_check(reg, &chk, err, sizeof(err)), 0);
	registry_close(reg);
}

/* The exported line round-trips, and a parsed line verifies as the stored one does. */
static void
test_line_roundtrip(void **state)
{
	struct signer_checkpoint cp, back;
	unsigned char *sig = NULL, sig2[SIGNER_CKPT_SIG_MAX];
	size_t siglen = 0, siglen2 = 0;
	char err[256], line[SIGNER_CKPT_LINE_MAX];
	X509 *ca;

	memset(&cp, 0, sizeof(cp));
	cp.seq = 42;
	memset(cp.head, 0xa5, sizeof(cp.head));
	snprintf(cp.domain, sizeof(cp.domain), "lab domain 7");	/* spaces allowed */
	if (signer_checkpoint(F.signer, &cp, &sig, &siglen, err, sizeof(err)) == -1)
		fail_msg("signer_checkpoint: %s", err);
	assert_true(signer_checkpoint_format(&cp, sig, siglen, line, sizeof(line)) > 0);
	assert_non_null(strstr(line, "audit checkpoint seq=42 head=sha256:a5a5"));
	assert_int_equal(signer_checkpoint_parse(line, &back, sig2, &siglen2), 0);
	assert_int_equal(back.seq, 42);
	assert_int_equal(back.at, cp.at);
	assert_string_equal(back.domain, "lab domain 7");
	assert_memory_equal(back.head, cp.head, 32);
	assert_int_equal(siglen2, siglen);
	assert_memory_equal(sig2, sig, siglen);
	assert_non_null(ca = pki_cert_read(F.dc.ca_cert, err, sizeof(err)));
	assert_int_equal(signer_checkpoint_verify(ca, &back, sig2, siglen2, err, sizeof(err)),
	    0);
	back.seq = 43;
	assert_int_equal(signer_checkpoint_verify(ca, &back, sig2, siglen2, err, sizeof(err)),
	    -1);
	X509_free(ca);
	/* not lines of ours */
	assert_int_equal(signer_checkpoint_parse("audit checkpoint seq=1", &back, sig2,
	    &siglen2), -1);
	assert_int_equal(signer_checkpoint_parse("hello", &back, sig2, &siglen2), -1);
	free(sig);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tamper_table),
		cmocka_unit_test(test_check_errors),
		cmocka_unit_test(test_line_roundtrip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
