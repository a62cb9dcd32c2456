/*
 * Unit tests for dhcp-hook/revoked.c (the Kea hook's snapshot of revoked identifiers and its
 * watcher) and dhcp-hook/revoked_db.c (its registry reader), against a real registry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dhcp-hook/revoked.h"
#include "dhcp-hook/revoked_db.h"
#include "enroll/store/registry.h"
#include "tests/unit/testutil.h"

/* ---- snapshot: building and lookups --------------------------------------------- */

static const uint8_t mac1[] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01 };
static const uint8_t mac2[] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x02 };
static const uint8_t cid1[] = { 0x01, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01 };
static const uint8_t cid_short[] = { 0x00, 0x07 };
static const uint8_t duid1[] = { 0x00, 0x03, 0x00, 0x01, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01 };

/* Loader over a table: "kind hex" pairs. */
struct table {
	const char	*const *rows;	/* kind, hex, kind, hex, ..., NULL */
	int		 fail;
	int		 calls;
};

static int
table_loader(void *arg, struct revoked_builder *b, char *err, size_t errlen)
{
	struct table *t = arg;
	size_t i;
	int rc;

	t->calls++;
	if (t->fail) {
		snprintf(err, errlen, "table says no");
		return -1;
	}
	for (i = 0; t->rows != NULL && t->rows[i] != NULL; i += 2)
		if ((rc = revoked_builder_add_text(b, t->rows[i], t->rows[i + 1], err,
		    errlen)) != 0)
			return -1;
	return 0;
}

static void
test_lookup(void **state)
{
	static const char *const rows[] = {
		"mac", "02aabbccdd01",
		"client-id", "0102AABBCCDD01",	/* upper case accepted */
		"duid", "000300010211223344aa",
		"duid", "000300010211223344aa",	/* duplicate, kept once */
		"client-id", "0007",
		"duid", "0003000102aabbccdd01",
		NULL
	};
	static const struct {
		enum revoked_kind	 kind;
		const uint8_t		*id;
		size_t			 len;
		int			 want;
	} cases[] = {
		{ REVOKED_MAC, mac1, sizeof(mac1), 1 },
		{ REVOKED_MAC, mac2, sizeof(mac2), 0 },
		{ REVOKED_CLIENT_ID, mac1, sizeof(mac1), 0 },	/* same bytes, other kind */
		{ REVOKED_CLIENT_ID, cid1, sizeof(cid1), 1 },
		{ REVOKED_CLIENT_ID, cid1, sizeof(cid1) - 1, 0 },	/* prefix */
		{ REVOKED_CLIENT_ID, cid_short, sizeof(cid_short), 1 },
		{ REVOKED_DUID, duid1, sizeof(duid1), 1 },
		{ REVOKED_DUID, cid1, sizeof(cid1), 0 },
		{ REVOKED_DUID, duid1, 0, 0 },
	};
	struct table t = { rows, 0, 0 };
	struct revoked_set *s;
	char err[256];
	size_t i;

	(void)state;
	s = revoked_set_load(table_loader, &t, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(revoked_set_count(s), 5);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (revoked_set_contains(s, cases[i].kind, cases[i].id, cases[i].len) !=
		    cases[i].want)
			fail_msg("case %zu: want %d", i, cases[i].want);
	}
	/* A held reference keeps it alive past the first release. */
	revoked_set_hold(s);
	revoked_set_release(s);
	assert_int_equal(revoked_set_contains(s, REVOKED_MAC, mac1, sizeof(mac1)), 1);
	revoked_set_release(s);
	revoked_set_release(NULL);
	assert_int_equal(revoked_set_contains(NULL, REVOKED_MAC, mac1, sizeof(mac1)), 0);
}

static void
test_builder_refuses(void **state)
{
	static const struct {
		const char	*kind, *hex;
		const char	*msg;
	} cases[] = {
		{ "mac", "02aabbccdd", "mac must be 6 octets, not 5" },
		{ "mac", "02aabbccdd0102", "mac must be 6 octets, not 7" },
		{ "client-id", "01", "client-id must be 2..255 octets, not 1" },
		{ "duid", "", "duid must be 2..130 octets, not 0" },
		{ "duid", "0x0102", "duid: not hex" },
		{ "duid", "012", "duid: bad hex length 3" },
		{ "serial", "0102", "unknown identifier kind \"serial\"" },
		{ NULL, "0102", "unknown identifier kind \"\"" },
	};
	static const char *const one[] = { NULL, NULL, NULL };
	char buf[2 * 131 + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *rows[] = { cases[i].kind ? cases[i].kind : "", cases[i].hex, NULL };
		struct table t = { rows, 0, 0 };
		char err[256] = "";

		if (cases[i].kind == NULL)
			rows[0] = "";
		assert_null(revoked_set_load(table_loader, &t, err, sizeof(err)));
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err,
			    cases[i].msg);
	}
	/* The longest DUID passes, one more octet does not. */
	memset(buf, 'a', 2 * 130);
	buf[2 * 130] = '\0';
	{
		const char *rows[] = { "duid", buf, NULL };
		struct table t = { rows, 0, 0 };
		struct revoked_set *s = revoked_set_load(table_loader, &t, NULL, 0);
		assert_non_null(s);
		assert_int_equal(revoked_set_count(s), 1);
		revoked_set_release(s);
		memset(buf, 'a', 2 * 131);
		buf[2 * 131] = '\0';
		assert_null(revoked_set_load(table_loader, &t, NULL, 0));
	}
	/* An empty loader gives an empty set; a failing one NULL with its message. */
	{
		struct table t = { one, 0, 0 };
		struct revoked_set *s = revoked_set_load(table_loader, &t, NULL, 0);
		char err[64];
		assert_non_null(s);
		assert_int_equal(revoked_set_count(s), 0);
		assert_int_equal(revoked_set_contains(s, REVOKED_MAC, mac1, 6), 0);
		revoked_set_release(s);
		t.fail = 1;
		assert_null(revoked_set_load(table_loader, &t, err, sizeof(err)));
		assert_string_equal(err, "table says no");
	}
	assert_int_equal(revoked_kind_parse("client-id"), REVOKED_CLIENT_ID);
	assert_string_equal(revoked_kind_name(REVOKED_DUID), "duid");
	assert_null(revoked_kind_name(0));
}

/* Many random MACs: every one found, no neighbour found. */
static void
test_many(void **state)
{
	enum { N = 20000 };
	char (*hex)[13];
	const char **rows;
	struct table t;
	struct revoked_set *s;
	uint8_t m[6];
	size_t i, j;

	(void)state;
	hex = calloc(N, sizeof(*hex));
	rows = calloc(2 * N + 1, sizeof(*rows));
	assert_non_null(hex);
	assert_non_null(rows);
	srand(7);
	for (i = 0; i < N; i++) {
		/* even last octet: odd ones are never in the set */
		snprintf(hex[i], sizeof(hex[i]), "%02x%02x%02x%02x%02x%02x", rand() & 0xff,
		    rand() & 0xff, rand() & 0xff, rand() & 0xff, rand() & 0xff,
		    (rand() & 0xfe));
		rows[2 * i] = "mac";
		rows[2 * i + 1] = hex[i];
	}
	t.rows = rows;
	t.fail = 0;
	s = revoked_set_load(table_loader, &t, NULL, 0);
	assert_non_null(s);
	assert_true(revoked_set_count(s) > N - 10);
	for (i = 0; i < N; i++) {
		for (j = 0; j < 6; j++) {
			unsigned v;
			sscanf(hex[i] + 2 * j, "%2x", &v);
			m[j] = (uint8_t)v;
		}
		assert_int_equal(revoked_set_contains(s, REVOKED_MAC, m, 6), 1);
		m[5] |= 1;
		assert_int_equal(revoked_set_contains(s, REVOKED_MAC, m, 6), 0);
	}
	revoked_set_release(s);
	free(hex);
	free(rows);
}

/* ---- the watcher ------------------------------------------------------------------ */

struct wfx {
	char	dir[64];
	char	file[128];
	char	db[128];
};

static int
wsetup(void **state)
{
	struct wfx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_revoked.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->file, sizeof(fx->file), "%s/ids.txt", fx->dir);
	snprintf(fx->db, sizeof(fx->db), "%s/registry.db", fx->dir);
	*state = fx;
	return 0;
}

static int
wteardown(void **state)
{
	struct wfx *fx = *state;
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[160];
	size_t i;

	unlink(fx->file);
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", fx->db, sfx[i]);
		unlink(p);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Loader over a text file of "kind hex" lines. */
static int
file_loader(void *arg, struct revoked_builder *b, char *err, size_t errlen)
{
	const char *path = arg;
	char kind[32], hex[600];
	FILE *f;
	int rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open", path);
		return -1;
	}
	while (rc == 0 && fscanf(f, "%31s %599s", kind, hex) == 2)
		if (strcmp(kind, "fail") == 0) {
			snprintf(err, errlen, "asked to fail");
			rc = -1;
		} else if (revoked_builder_add_text(b, kind, hex, err, errlen) != 0)
			rc = -1;
	fclose(f);
	return rc;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
watch_has(struct revoked_watch *w, const uint8_t *mac)
{
	struct revoked_set *s = revoked_watch_acquire(w);
	int rc = revoked_set_contains(s, REVOKED_MAC, mac, 6);

	revoked_set_release(s);
	return rc;
}

static void
test_watch_poll(void **state)
{
	struct wfx *fx = *state;
	const char *files[] = { fx->file };
	struct revoked_watch *w;
	struct revoked_set *held;
	char err[256];
	int64_t t = 1000;

	w = revoked_watch_new(files, 1, file_loader, fx->file, 250, NULL, NULL, err,
	    sizeof(err));
	assert_non_null(w);
	/* Missing file: the load fails, the empty snapshot stays. */
	assert_int_equal(revoked_watch_poll(w, t, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open"));
	assert_int_equal(watch_has(w, mac1), 0);

	/* Within the interval nothing is checked, even though the file appeared. */
	write_file(fx->file, "mac 02aabbccdd01\n");
	assert_int_equal(revoked_watch_poll(w, t + 100, 0, err, sizeof(err)), 0);
	assert_int_equal(watch_has(w, mac1), 0);
	/* After it: loaded. */
	t += 250;
	assert_int_equal(revoked_watch_poll(w, t, 0, err, sizeof(err)), 1);
	assert_int_equal(watch_has(w, mac1), 1);
	/* No change, no reload. */
	t += 300;
	assert_int_equal(revoked_watch_poll(w, t, 0, err, sizeof(err)), 0);

	/* A reader holding the old snapshot keeps it across a swap. */
	held = revoked_watch_acquire(w);
	write_file(fx->file, "mac 02aabbccdd02\n");	/* size same, mtime differs */
	{
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	write_file(fx->file, "mac 02aabbccdd02\n");
	t += 300;
	assert_int_equal(revoked_watch_poll(w, t, 0, err, sizeof(err)), 1);
	assert_int_equal(watch_has(w, mac1), 0);
	assert_int_equal(watch_has(w, mac2), 1);
	assert_int_equal(revoked_set_contains(held, REVOKED_MAC, mac1, 6), 1);
	revoked_set_release(held);

	/* A failed reload keeps the last good snapshot, and is retried without a change. */
	write_file(fx->file, "mac 02aabbccdd01\nfail x\n");
	t += 300;
	assert_int_equal(revoked_watch_poll(w, t, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "asked to fail");
	assert_int_equal(watch_has(w, mac2), 1);
	t += 300;
	assert_int_equal(revoked_watch_poll(w, t, 0, err, sizeof(err)), -1);
	write_file(fx->file, "mac 02aabbccdd01\n");
	t += 300;
	assert_int_equal(revoked_watch_poll(w, t, 0, err, sizeof(err)), 1);
	assert_int_equal(watch_has(w, mac1), 1);
	/* force reloads regardless. */
	assert_int_equal(revoked_watch_poll(w, t, 1, err, sizeof(err)), 1);
	revoked_watch_free(w);
	revoked_watch_free(NULL);
	assert_null(revoked_watch_new(files, 0, file_loader, NULL, 0, NULL, NULL, err,
	    sizeof(err)));
}

struct notes {
	int	reloads, failures;
	size_t	last_count;
};

static void
note(void *arg, const struct revoked_event *ev)
{
	struct notes *n = arg;

	n->reloads += ev->reloaded;
	n->failures += ev->failed;
	n->last_count = ev->count;
}

/*
 * End to end with a real registry and the thread: a device's identifiers appear in the
 * hook's snapshot within a second of its revocation, and the hook's reader agrees with
 * registry_revoked_netids_foreach().
 */
static int
count_cb(const char *kind, const char *value, void *arg)
{
	(void)kind;
	(void)value;
	(*(size_t *)arg)++;
	return 0;
}

static void
test_watch_registry(void **state)
{
	struct wfx *fx = *state;
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	const struct registry_netid ids[] = {
		{ "mac", "02aabbccdd01" }, { "client-id", "0102aabbccdd01" },
		{ "duid", "0003000102aabbccdd01" },
	};
	struct registry_enrollment e;
	struct registry *reg;
	struct revoked_watch *w;
	struct revoked_set *s;
	struct notes notes = { 0, 0, 0 };
	char wal[160], err[256];
	const char *files[2];
	int64_t bid, t0, waited;
	size_t n = 0;

	reg = registry_open(fx->db, REGISTRY_CREATE | REGISTRY_FAST, err, sizeof(err));
	assert_non_null(reg);
	memset(&e, 0, sizeof(e));
	e.device_serial = "LKW1";
	e.domain = "example.test";
	e.idevid_fp = "sha256:00";
	e.authorized_by = "claim:t";
	e.cert_serial = "0A";
	e.not_before = 1;
	e.not_after = 2;
	e.cert_der = der;
	e.cert_len = sizeof(der);
	e.actor = "device:LKW1";
	e.action = "enroll";
	assert_int_equal(registry_enroll_commit(reg, &e, &bid, err, sizeof(err)), 0);
	assert_int_equal(registry_netid_report(reg, "LKW1", ids, 3, "device:LKW1", err,
	    sizeof(err)), 0);

	snprintf(wal, sizeof(wal), "%s-wal", fx->db);
	files[0] = fx->db;
	files[1] = wal;
	w = revoked_watch_new(files, 2, revoked_db_load, fx->db, 50, note, &notes, err,
	    sizeof(err));
	assert_non_null(w);
	assert_int_equal(revoked_watch_poll(w, revoked_now_ms(), 1, err, sizeof(err)), 1);
	assert_int_equal(watch_has(w, mac1), 0);
	/* The empty -wal the read itself may create is not a change. */
	assert_int_equal(revoked_watch_poll(w, revoked_now_ms() + 60, 0, err, sizeof(err)),
	    0);
	assert_int_equal(revoked_watch_start(w, err, sizeof(err)), 0);
	assert_int_equal(revoked_watch_start(w, err, sizeof(err)), -1);

	assert_int_equal(registry_binding_revoke(reg, "LKW1", "stolen", "admin:t", NULL, err,
	    sizeof(err)), 0);
	t0 = revoked_now_ms();
	while (!watch_has(w, mac1) && revoked_now_ms() - t0 < 2000) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	waited = revoked_now_ms() - t0;
	assert_int_equal(watch_has(w, mac1), 1);
	assert_true(waited < 1000);
	s = revoked_watch_acquire(w);
	assert_int_equal(revoked_set_count(s), 3);
	assert_int_equal(revoked_set_contains(s, REVOKED_CLIENT_ID, cid1, sizeof(cid1)), 1);
	assert_int_equal(revoked_set_contains(s, REVOKED_DUID, duid1, sizeof(duid1)), 1);
	revoked_set_release(s);
	assert_int_equal(registry_revoked_netids_foreach(reg, count_cb, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	revoked_watch_stop(w);
	assert_true(notes.reloads >= 1);
	assert_int_equal(notes.last_count, 3);
	revoked_watch_free(w);
	registry_close(reg);

	/* A file that is not a registry: the reader fails with the path. */
	write_file(fx->file, "not a database at all, long enough for a header.............\n");
	{
		const char *rows_path = fx->file;
		struct revoked_set *bad = revoked_set_load(revoked_db_load, (void *)rows_path, err,
		    sizeof(err));
		assert_null(bad);
		assert_non_null(strstr(err, fx->file));
	}
}

/* ---- a change source instead of files (no database) ----------------------------- */

struct fake_source {
	int	next;		/* what the next wait returns */
	int	waits;
	int	macs;		/* the loader adds mac1 (1) or mac1 and mac2 (2) */
	int	loads;
};

static int
fake_wait(void *arg, int timeout_ms, char *err, size_t errlen)
{
	struct fake_source *f = arg;

	(void)timeout_ms;
	f->waits++;
	if (f->next == -1)
		snprintf(err, errlen, "source down");
	return f->next;
}

static int
fake_load(void *arg, struct revoked_builder *b, char *err, size_t errlen)
{
	struct fake_source *f = arg;

	f->loads++;
	if (revoked_builder_add(b, REVOKED_MAC, mac1, 6, err, errlen) != 0)
		return -1;
	if (f->macs == 2 && revoked_builder_add(b, REVOKED_MAC, mac2, 6, err, errlen) != 0)
		return -1;
	return 0;
}

/* Table: what the source says, what the loader holds, how old the last load is; what
 * revoked_watch_poll() returns and whether the loader ran. */
static void
test_watch_source(void **state)
{
	static const struct {
		const char	*name;
		int		 source, macs, sleep_ms;
		int		 want, loads;
	} cases[] = {
		{ "no change, refresh not due", 0, 1, 0, 0, 0 },
		{ "a change reported", 1, 2, 0, 1, 1 },
		{ "source failed", -1, 2, 0, -1, 0 },
		{ "refresh due, same content: kept, not reported", 0, 2, 60, 0, 1 },
		{ "refresh due, content changed", 0, 1, 60, 1, 1 },
	};
	struct fake_source f = { 0, 0, 1, 0 };
	struct revoked_watch *w;
	char err[128];
	size_t i;
	int rc;

	(void)state;
	w = revoked_watch_new_source(fake_wait, &f, fake_load, &f, 10, 50, NULL, NULL, err,
	    sizeof(err));
	assert_non_null(w);
	assert_null(revoked_watch_new_source(NULL, &f, fake_load, &f, 10, 50, NULL, NULL, err,
	    sizeof(err)));
	assert_int_equal(revoked_watch_poll(w, revoked_now_ms(), 1, err, sizeof(err)), 1);
	assert_int_equal(f.waits, 0);	/* force: no wait */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct timespec ts = { 0, (long)cases[i].sleep_ms * 1000000L };
		int loads = f.loads;

		nanosleep(&ts, NULL);
		f.next = cases[i].source;
		f.macs = cases[i].macs;
		rc = revoked_watch_poll(w, revoked_now_ms() + 1000 * (int64_t)(i + 1), 0, err,
		    sizeof(err));
		if (rc != cases[i].want || f.loads - loads != cases[i].loads)
			fail_msg("%s: poll %d (want %d), %d loads (want %d)", cases[i].name, rc,
			    cases[i].want, f.loads - loads, cases[i].loads);
		if (watch_has(w, mac2) != (cases[i].want == 1 ? cases[i].macs == 2 :
		    watch_has(w, mac2)))
			fail_msg("%s: snapshot not the loader's", cases[i].name);
	}
	assert_int_equal(watch_has(w, mac2), 0);
	revoked_watch_free(w);
}

/* ---- PostgreSQL: the loader, LISTEN/NOTIFY, reconnects (unit/test_revoked_pg) ------- */

/* A loader error names the registry without its password and says what failed. */
static void
test_pg_errors(void **state)
{
	static const char target[] =
	    "host=/nonexistent-latchkey-dir port=5499 user=kea dbname=reg password=hunter2";
	struct revoked_db_listen *l;
	struct revoked_set *s;
	char err[512], name[256];

	(void)state;
	assert_int_equal(revoked_db_is_pg(target), 1);
	assert_int_equal(revoked_db_is_pg("postgresql://h/db"), 1);
	assert_int_equal(revoked_db_is_pg("postgres://h/db"), 1);
	assert_int_equal(revoked_db_is_pg("/var/lib/latchkey/registry.db"), 0);
	assert_string_equal(revoked_db_name(target, name, sizeof(name)),
	    "postgresql://kea@/reg?host=/nonexistent-latchkey-dir&port=5499");
	assert_string_equal(revoked_db_name("postgresql://kea:pw@db.test:5433/reg", name,
	    sizeof(name)), "postgresql://kea@db.test:5433/reg");

	s = revoked_set_load(revoked_db_load, (void *)target, err, sizeof(err));
	assert_null(s);
	print_message("loader error: %s\n", err);
	assert_non_null(strstr(err, "registry postgresql://kea@/reg?host="));
	assert_non_null(strstr(err, "cannot connect"));
	assert_null(strstr(err, "hunter2"));
	assert_null(strchr(err, '\n'));

	assert_non_null(l = revoked_db_listen_new(target));
	assert_int_equal(revoked_db_listen_wait(l, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot connect"));
	assert_null(strstr(err, "hunter2"));
	revoked_db_listen_free(l);
	revoked_db_listen_free(NULL);
	/* the hook and the registry name one channel */
	assert_string_equal(REVOKED_DB_CHANNEL, REGISTRY_PG_CHANNEL_REVOKED);
}

struct pgnotes {
	atomic_int	reloads, failures;
};

static void
pgnote(void *arg, const struct revoked_event *ev)
{
	struct pgnotes *n = arg;

	atomic_fetch_add(&n->reloads, ev->reloaded);
	atomic_fetch_add(&n->failures, ev->failed);
}

/* Wait (at most limit_ms) until the watcher has mac in its snapshot; the time waited. */
static int64_t
pg_wait_for(struct revoked_watch *w, const uint8_t *mac, int64_t limit_ms)
{
	int64_t t0 = revoked_now_ms();

	while (!watch_has(w, mac) && revoked_now_ms() - t0 < limit_ms) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return revoked_now_ms() - t0;
}

static void
pg_enroll(struct registry *reg, const char *serial, const char *cert_serial,
    const char *mac)
{
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct registry_netid id = { "mac", mac };
	struct registry_enrollment e;
	char err[256];
	int64_t bid;

	memset(&e, 0, sizeof(e));
	e.device_serial = serial;
	e.domain = "example.test";
	e.idevid_fp = "sha256:00";
	e.authorized_by = "claim:t";
	e.cert_serial = cert_serial;
	e.not_before = 1;
	e.not_after = 2;
	e.cert_der = der;
	e.cert_len = sizeof(der);
	e.actor = "device:t";
	e.action = "enroll";
	if (registry_enroll_commit(reg, &e, &bid, err, sizeof(err)) != 0)
		fail_msg("enroll %s: %s", serial, err);
	if (registry_netid_report(reg, serial, &id, 1, "device:t", err, sizeof(err)) != 0)
		fail_msg("netid %s: %s", serial, err);
}

/*
 * A revocation committed on a PostgreSQL registry reaches a watcher over LISTEN within a
 * second (asserted under 5 s for slow machines; the refresh is 30 s, so only the NOTIFY can
 * have brought it); after the listener's connection is killed the watcher reconnects and
 * reloads what it missed.
 */
static void
test_pg_notify(void **state)
{
	struct tu_reg *fx = *state;
	struct pgnotes notes;
	struct revoked_db_listen *l;
	struct revoked_watch *w;
	struct registry *reg;
	char err[256];
	int64_t waited;
	int i;

	if (!fx->pg)
		skip();	/* SQLite run: see unit/test_revoked_pg */
	atomic_init(&notes.reloads, 0);
	atomic_init(&notes.failures, 0);
	reg = registry_open(fx->path, REGISTRY_CREATE, err, sizeof(err));
	if (reg == NULL)
		fail_msg("registry_open: %s", err);
	fx->reg = reg;
	pg_enroll(reg, "LKP1", "0B", "02aabbccdd01");
	pg_enroll(reg, "LKP2", "0C", "02aabbccdd02");

	assert_non_null(l = revoked_db_listen_new(fx->path));
	w = revoked_watch_new_source(revoked_db_listen_wait, l, revoked_db_load, fx->path, 250,
	    0, pgnote, &notes, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(revoked_watch_poll(w, revoked_now_ms(), 1, err, sizeof(err)), 1);
	assert_int_equal(watch_has(w, mac1), 0);
	assert_int_equal(revoked_watch_start(w, err, sizeof(err)), 0);
	/* the thread's first round connects, LISTENs and loads */
	for (i = 0; i < 500 && atomic_load(&notes.reloads) < 1; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	assert_true(atomic_load(&notes.reloads) >= 1);

	assert_int_equal(registry_binding_revoke(reg, "LKP1", "stolen", "admin:t", NULL, err,
	    sizeof(err)), 0);
	waited = pg_wait_for(w, mac1, 5000);
	print_message("NOTIFY to reload: %lld ms\n", (long long)waited);
	assert_int_equal(watch_has(w, mac1), 1);
	assert_true(waited < 5000);
	assert_int_equal(watch_has(w, mac2), 0);

	/* The server drops the listener's connection; a change meanwhile is not lost. */
	tu_raw_exec(fx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = 'latchkey-kea-hook'");
	assert_int_equal(registry_binding_revoke(reg, "LKP2", "lost", "admin:t", NULL, err,
	    sizeof(err)), 0);
	waited = pg_wait_for(w, mac2, 15000);
	print_message("reconnect and reload: %lld ms\n", (long long)waited);
	assert_int_equal(watch_has(w, mac2), 1);
	assert_int_equal(watch_has(w, mac1), 1);
	revoked_watch_free(w);
	revoked_db_listen_free(l);
}

/*
 * The noncompliant class (issue #20), on either backend: the hook's loader finds the
 * identifiers of a device whose latest posture verdict is noncompliant, and no more once
 * it reports compliant; it agrees with registry_noncompliant_netids_foreach() and runs the
 * same query. PostgreSQL: a posture verdict wakes the hook's LISTEN.
 */
static void
test_noncompliant(void **state)
{
	struct tu_reg *fx = *state;
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	const struct registry_netid ids[] = { { "mac", "02aabbccdd01" } };
	struct registry_enrollment e;
	struct revoked_db_listen *l = NULL;
	struct revoked_set *s;
	int64_t bid, t0;
	size_t n = 0;
	int rc;

	assert_string_equal(NONCOMPLIANT_DB_QUERY, REGISTRY_NONCOMPLIANT_QUERY);
	/* a registry older than v11 (no posture table): nobody noncompliant, no error */
	fx->reg = registry_open(fx->path, REGISTRY_CREATE | REGISTRY_FAST, fx->err,
	    sizeof(fx->err));
	assert_non_null(fx->reg);
	registry_close(fx->reg);
	fx->reg = NULL;
	tu_raw_exec(fx, "DROP TABLE posture");
	s = revoked_set_load(revoked_db_load_noncompliant, fx->path, fx->err, sizeof(fx->err));
	if (s == NULL)
		fail_msg("no posture table: %s", fx->err);
	assert_int_equal(revoked_set_count(s), 0);
	revoked_set_release(s);
	tu_raw_exec(fx, fx->pg ? "UPDATE registry_meta SET schema_version = 10" :
	    "PRAGMA user_version = 10");
	fx->reg = registry_open(fx->path, REGISTRY_CREATE | REGISTRY_FAST, fx->err,
	    sizeof(fx->err));
	assert_non_null(fx->reg);
	memset(&e, 0, sizeof(e));
	e.device_serial = "LKN1";
	e.domain = "example.test";
	e.idevid_fp = "sha256:00";
	e.authorized_by = "claim:t";
	e.cert_serial = "0A";
	e.not_before = 1;
	e.not_after = 2;
	e.cert_der = der;
	e.cert_len = sizeof(der);
	e.actor = "device:LKN1";
	e.action = "enroll";
	assert_int_equal(registry_enroll_commit(fx->reg, &e, &bid, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(registry_netid_report(fx->reg, "LKN1", ids, 1, "device:LKN1", fx->err,
	    sizeof(fx->err)), 0);
	s = revoked_set_load(revoked_db_load_noncompliant, fx->path, fx->err, sizeof(fx->err));
	assert_non_null(s);
	assert_int_equal(revoked_set_count(s), 0);
	revoked_set_release(s);
	if (fx->pg) {
		assert_non_null(l = revoked_db_listen_new(fx->path));
		assert_int_equal(revoked_db_listen_wait(l, 0, fx->err, sizeof(fx->err)), 1);
		while (revoked_db_listen_wait(l, 0, fx->err, sizeof(fx->err)) == 1)
			;
	}
	assert_int_equal(registry_posture_record(fx->reg, "LKN1", "0A", 1, der, sizeof(der),
	    "{}", 0, "[\"x\"]", "device:LKN1", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	if (fx->pg) {
		t0 = revoked_now_ms();
		do
			rc = revoked_db_listen_wait(l, 100, fx->err, sizeof(fx->err));
		while (rc == 0 && revoked_now_ms() - t0 < 5000);
		assert_int_equal(rc, 1);
	}
	s = revoked_set_load(revoked_db_load_noncompliant, fx->path, fx->err, sizeof(fx->err));
	assert_non_null(s);
	assert_int_equal(revoked_set_count(s), 1);
	assert_int_equal(revoked_set_contains(s, REVOKED_MAC, mac1, sizeof(mac1)), 1);
	revoked_set_release(s);
	assert_int_equal(registry_noncompliant_netids_foreach(fx->reg, count_cb, &n, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(n, 1);
	/* the revoked class is another matter: the device is not revoked */
	s = revoked_set_load(revoked_db_load, fx->path, fx->err, sizeof(fx->err));
	assert_int_equal(revoked_set_count(s), 0);
	revoked_set_release(s);
	assert_int_equal(registry_posture_record(fx->reg, "LKN1", "0A", 2, der, sizeof(der),
	    "{}", 1, "[]", "device:LKN1", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	s = revoked_set_load(revoked_db_load_noncompliant, fx->path, fx->err, sizeof(fx->err));
	assert_non_null(s);
	assert_int_equal(revoked_set_count(s), 0);
	revoked_set_release(s);
	revoked_db_listen_free(l);
}

/* 1 when the hook's channel was notified within within_ms, 0 when it stayed quiet. */
static int
pg_notified(struct revoked_db_listen *l, int within_ms)
{
	char err[256];
	int64_t t0 = revoked_now_ms();
	int rc;

	do
		rc = revoked_db_listen_wait(l, 50, err, sizeof(err));
	while (rc == 0 && revoked_now_ms() - t0 < within_ms);
	if (rc == -1)
		fail_msg("LISTEN: %s", err);
	return rc;
}

/*
 * PostgreSQL (schema v12): the hook's channel carries the writes that can change one of
 * its snapshots and no other. Enrollments (a new device, a device enrolling again, each a
 * group commit whose statement inserts into bindings), netid reports of devices in no
 * snapshot and unchanged posture verdicts stay quiet: under enrollment load, each Kea
 * server used to reload both snapshots at every registrar commit. A revocation, a
 * readmission, the new binding of a readmitted device, a verdict that changes and a new
 * netid of a noncompliant device each notify.
 */
static void
test_pg_notify_only_changes(void **state)
{
	struct tu_reg *fx = *state;
	static const unsigned char der[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	const struct registry_netid more = { "mac", "02aabbccdd13" };
	struct revoked_db_listen *l;
	struct registry *reg;
	char err[256];

	if (!fx->pg)
		skip();	/* SQLite run: see unit/test_revoked_pg */
	reg = registry_open(fx->path, REGISTRY_CREATE, err, sizeof(err));
	if (reg == NULL)
		fail_msg("registry_open: %s", err);
	fx->reg = reg;
	pg_enroll(reg, "LKQ1", "1A", "02aabbccdd11");
	assert_non_null(l = revoked_db_listen_new(fx->path));
	assert_int_equal(revoked_db_listen_wait(l, 0, err, sizeof(err)), 1);	/* connects */
	while (pg_notified(l, 200) == 1)
		;

	pg_enroll(reg, "LKQ2", "1B", "02aabbccdd12");	/* a new device: binding, netid */
	assert_int_equal(pg_notified(l, 500), 0);
	pg_enroll(reg, "LKQ1", "1C", "02aabbccdd11");	/* again: no binding, same netid */
	assert_int_equal(pg_notified(l, 500), 0);
	assert_int_equal(registry_posture_record(reg, "LKQ1", "1C", 1, der, sizeof(der), "{}", 1,
	    "[]", "device:LKQ1", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(pg_notified(l, 500), 0);	/* compliant, as nobody knew otherwise */

	assert_int_equal(registry_binding_revoke(reg, "LKQ1", "stolen", "admin:t", NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(pg_notified(l, 5000), 1);
	assert_int_equal(registry_readmit(reg, "LKQ1", NULL, "found", "admin:t", err,
	    sizeof(err)), 0);
	assert_int_equal(pg_notified(l, 5000), 1);
	pg_enroll(reg, "LKQ1", "1D", "02aabbccdd11");	/* its new binding: leaves the set */
	assert_int_equal(pg_notified(l, 5000), 1);

	assert_int_equal(registry_posture_record(reg, "LKQ2", "1B", 1, der, sizeof(der), "{}", 0,
	    "[\"x\"]", "device:LKQ2", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(pg_notified(l, 5000), 1);
	assert_int_equal(registry_posture_record(reg, "LKQ2", "1B", 2, der, sizeof(der), "{}", 0,
	    "[\"x\"]", "device:LKQ2", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(pg_notified(l, 500), 0);	/* still noncompliant */
	assert_int_equal(registry_netid_report(reg, "LKQ2", &more, 1, "device:LKQ2", err,
	    sizeof(err)), 0);
	assert_int_equal(pg_notified(l, 5000), 1);	/* a new identifier to quarantine */
	assert_int_equal(registry_posture_record(reg, "LKQ2", "1B", 3, der, sizeof(der), "{}", 1,
	    "[]", "device:LKQ2", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(pg_notified(l, 5000), 1);
	revoked_db_listen_free(l);
}

static int
pgsetup(void **state)
{
	return tu_reg_setup(state, "revoked_pg");
}

static int
pgteardown(void **state)
{
	return tu_reg_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_builder_refuses),
		cmocka_unit_test(test_many),
		cmocka_unit_test_setup_teardown(test_watch_poll, wsetup, wteardown),
		cmocka_unit_test_setup_teardown(test_watch_registry, wsetup, wteardown),
		cmocka_unit_test(test_watch_source),
		cmocka_unit_test(test_pg_errors),
		cmocka_unit_test_setup_teardown(test_pg_notify, pgsetup, pgteardown),
		cmocka_unit_test_setup_teardown(test_noncompliant, pgsetup, pgteardown),
		cmocka_unit_test_setup_teardown(test_pg_notify_only_changes, pgsetup, pgteardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
