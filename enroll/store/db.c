/*
 * db: the registry's SQL driver over SQLite and PostgreSQL (libpq). See db.h.
 */
#include "enroll/common/err.h"
#include "enroll/store/db.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#define DB_BUSY_MS	5000
#define DB_MAXPARAM	16

/* PostgreSQL type OIDs of the parameters we send (pg_type.h). */
#define PG_BYTEA	17
#define PG_INT8		20
#define PG_TEXT		25

/* db_round_trips(): every connection's, this process's */
static _Atomic uint64_t db_rtt;
#define RTT()	atomic_fetch_add_explicit(&db_rtt, 1, memory_order_relaxed)

/* What a pipeline sent and has not read yet, in order (db_pipeline_*). */
enum pq_kind { PQ_VERB, PQ_PREP, PQ_QUERY };
struct pq_item {
	enum pq_kind	 kind;
	struct db_stmt	*st;	/* PQ_PREP, PQ_QUERY */
	size_t		 i;	/* PQ_QUERY: its number for the callback */
};

struct db {
	enum db_kind	 kind;
	int		 flags;
	char		 name[512];
	char		 errmsg[512];
	/* SQLite */
	sqlite3		*sq;
	sqlite3_stmt	*sq_begin, *sq_commit, *sq_rollback;
	/* PostgreSQL */
	PGconn		*pg;
	unsigned	 gen;		/* connection generation: a reset drops prepared
					   statements */
	unsigned	 nprep;		/* names of server-side prepared statements */
	int		 in_tx;		/* between db_begin and db_commit/db_rollback */
	int64_t		 notes;		/* change notifications received (db_data_version) */
	unsigned	 listen_gen;	/* the connection generation that LISTENs; 0: none */
	int64_t		 changes;
	int		 unique_violation;
	/* a pipeline (db_pipeline_*): the queue, the callback, statements sent so far */
	struct pq_item	*pq;
	size_t		 npq, pqcap, nsent;
	db_pipeline_cb	*pcb;
	void		*parg;
	int		 pfailed;
};

struct db_stmt {
	struct db	*db;
	/* SQLite */
	sqlite3_stmt	*sq;
	/* PostgreSQL: the SQL with $N, its parameters, the result and the row in it */
	char		*sql;
	int		 nparam;
	const char	*val[DB_MAXPARAM];
	int		 len[DB_MAXPARAM];
	int		 fmt[DB_MAXPARAM];
	unsigned int	 type[DB_MAXPARAM];
	char		 num[DB_MAXPARAM][24];
	PGresult	*res;
	int		 row;
	unsigned char	*blob;		/* the last db_column_blob(), decoded */
	/*
	 * A statement run again is prepared on the server (its parse and plan once), under
	 * name, for the parameter types of that run; a run with other types (a NULL text
	 * where an integer was) or on a new connection goes unnamed, or prepares anew.
	 */
	unsigned	 nexec;
	char		 name[16];
	unsigned	 prep_gen;	/* db->gen it was prepared in; 0: not prepared */
	unsigned int	 prep_type[DB_MAXPARAM];
};

int
db_target_is_pg(const char *target)
{
	if (target == NULL)
		return 0;
	return strncmp(target, "postgresql://", 13) == 0 ||
	    strncmp(target, "postgres://", 11) == 0 || strchr(target, '=') != NULL;
}

enum db_kind
db_kind(const struct db *db)
{
	return db->kind;
}

const char *
db_name(const struct db *db)
{
	return db->name;
}

const char *
db_errmsg(struct db *db)
{
	if (db->kind == DB_SQLITE)
		return sqlite3_errmsg(db->sq);
	return db->errmsg;
}

int
db_unique_violation(struct db *db)
{
	if (db->kind == DB_SQLITE)
		return sqlite3_extended_errcode(db->sq) == SQLITE_CONSTRAINT_PRIMARYKEY ||
		    sqlite3_extended_errcode(db->sq) == SQLITE_CONSTRAINT_UNIQUE;
	return db->unique_violation;
}

int
db_readonly(struct db *db)
{
	if (db->kind == DB_SQLITE)
		return sqlite3_db_readonly(db->sq, "main") != 0;
	return (db->flags & DB_RDONLY) != 0;
}

int
db_socket(struct db *db)
{
	return db->kind == DB_PG ? PQsocket(db->pg) : -1;
}

/* ---- SQLite ------------------------------------------------------------------------ */

/*
 * Another process holds the write lock (another worker's commit, latchkeyctl): retry every
 * 50 µs for the first millisecond, then every millisecond, up to DB_BUSY_MS in all.
 * SQLite's own handler sleeps 1, 2, 5, 10 ms... while a commit takes well under one, and
 * the waiting worker's event loop stands still meanwhile.
 */
static int
sq_busy(void *arg, int n)
{
	struct timespec ts = { 0, n < 20 ? 50000 : 1000000 };

	(void)arg;
	if (n >= 20 + DB_BUSY_MS)
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

static int
sq_open(struct db *db, const char *path, int flags, char *err, size_t errlen)
{
	struct stat sb;
	char sql[64];
	int oflags;

	if (stat(path, &sb) == -1) {
		int fd;

		if (errno != ENOENT || !(flags & DB_CREATE)) {
			errf(err, errlen, "registry: %s: %s", path, strerror(errno));
			return -1;
		}
		/*
		 * Readable by its owner only (SQLite would make it 0644); SQLite gives the
		 * -wal and -shm files the database's mode, and its owner when run as root.
		 */
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600)) == -1 && errno != EEXIST) {
			errf(err, errlen, "registry: %s: %s", path, strerror(errno));
			return -1;
		}
		if (fd != -1)
			close(fd);
	} else if (!S_ISREG(sb.st_mode)) {
		errf(err, errlen, "registry: %s: not a regular file", path);
		return -1;
	}
	oflags = SQLITE_OPEN_NOMUTEX;
	if (flags & DB_RDONLY)
		oflags |= SQLITE_OPEN_READONLY;
	else
		oflags |= SQLITE_OPEN_READWRITE | ((flags & DB_CREATE) ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db->sq, oflags, NULL) != SQLITE_OK) {
		errf(err, errlen, "registry: %s: %s", path,
		    db->sq != NULL ? sqlite3_errmsg(db->sq) : "out of memory");
		return -1;
	}
	sqlite3_extended_result_codes(db->sq, 1);
	sqlite3_busy_handler(db->sq, sq_busy, NULL);
	if (sqlite3_exec(db->sq, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	if (!(flags & DB_RDONLY)) {
		if (sqlite3_exec(db->sq, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) !=
		    SQLITE_OK)
			goto dberr;
		snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s",
		    (flags & DB_FAST) ? "NORMAL" : "FULL");
		if (sqlite3_exec(db->sq, sql, NULL, NULL, NULL) != SQLITE_OK)
			goto dberr;
	}
	return 0;
dberr:
	errf(err, errlen, "registry: %s: %s", path, sqlite3_errmsg(db->sq));
	return -1;
}

/* One of the cached transaction verbs. */
static int
sq_verb(struct db *db, sqlite3_stmt **st, const char *sql)
{
	int rc;

	if (*st == NULL && sqlite3_prepare_v3(db->sq, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(*st);
	sqlite3_reset(*st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int
sq_int_pragma(struct db *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int
db_sqlite_backup(struct db *src, struct db *dst, char *err, size_t errlen)
{
	struct timespec ts = { 0, 10000000 };
	sqlite3_backup *bk;
	int rc = SQLITE_ERROR, tries;

	if (src->kind != DB_SQLITE || dst->kind != DB_SQLITE) {
		errf(err, errlen, "registry: %s: backup of a PostgreSQL registry: use pg_dump",
		    src->name);
		return -1;
	}
	if ((bk = sqlite3_backup_init(dst->sq, "main", src->sq, "main")) == NULL) {
		errf(err, errlen, "registry: backup %s: %s", src->name, sqlite3_errmsg(dst->sq));
		return -1;
	}
	/*
	 * Every page in one step: one read transaction, so a consistent snapshot even while
	 * latchkeyd commits (WAL readers never wait for writers). A lock held elsewhere that
	 * makes the step busy (a WAL recovery) is retried, for 5 s at most.
	 */
	for (tries = 0; tries < 500; tries++) {
		rc = sqlite3_backup_step(bk, -1) & 0xff;
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		nanosleep(&ts, NULL);
	}
	if ((sqlite3_backup_finish(bk) & 0xff) != SQLITE_OK || rc != SQLITE_DONE) {
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
			errf(err, errlen, "registry: %s: the registry stayed locked for 5 s",
			    src->name);
		else
			errf(err, errlen, "registry: copy %s: %s", src->name,
			    sqlite3_errmsg(dst->sq));
		return -1;
	}
	return 0;
}

/* ---- PostgreSQL -------------------------------------------------------------------- */

/* libpq's notices (NOTICE, WARNING) would go to stderr: a library prints nothing. */
static void
pg_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* db->errmsg = libpq's message, on one line. */
static void
pg_seterr(struct db *db, const PGresult *res)
{
	const char *m = res != NULL ? PQresultErrorMessage(res) : "";
	const char *state;
	size_t i;

	if (m == NULL || *m == '\0')
		m = PQerrorMessage(db->pg);
	if (m == NULL || *m == '\0')
		m = "unknown error";
	/* one line: newlines, tabs and runs of blanks become one space */
	for (i = 0; *m != '\0' && i + 1 < sizeof(db->errmsg); m++) {
		char ch = *m == '\n' || *m == '\r' || *m == '\t' ? ' ' : *m;

		if (ch == ' ' && (i == 0 || db->errmsg[i - 1] == ' '))
			continue;
		db->errmsg[i++] = ch;
	}
	while (i > 0 && db->errmsg[i - 1] == ' ')
		i--;
	db->errmsg[i] = '\0';
	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	db->unique_violation = state != NULL && strcmp(state, "23505") == 0;
}

const char *
db_target_name(const char *target, char *buf, size_t len)
{
	PQconninfoOption *opts, *o;
	const char *host = "", *port = "", *dbname = "", *user = "";

	if (!db_target_is_pg(target)) {
		snprintf(buf, len, "%s", target != NULL ? target : "");
		return buf;
	}
	if ((opts = PQconninfoParse(target, NULL)) == NULL) {
		snprintf(buf, len, "postgresql database");
		return buf;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
	}
	if (*host == '/')
		snprintf(buf, len, "postgresql://%s%s/%s?host=%s%s%s", user,
		    *user != '\0' ? "@" : "", dbname, host, *port != '\0' ? "&port=" : "", port);
	else
		snprintf(buf, len, "postgresql://%s%s%s%s%s/%s", user, *user != '\0' ? "@" : "",
		    host, *port != '\0' ? ":" : "", port, dbname);
	PQconninfoFree(opts);
	return buf;
}

/* One statement without parameters; 0, or -1 with db->errmsg. */
static int
pg_exec(struct db *db, const char *sql)
{
	PGresult *res;
	int ok;

	RTT();
	res = PQexec(db->pg, sql);
	ok = res != NULL && (PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK);
	if (!ok)
		pg_seterr(db, res);
	PQclear(res);
	return ok ? 0 : -1;
}

/* The session's settings, on connecting and after a reconnect. */
static int
pg_session(struct db *db)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SET client_min_messages = warning; "
	    "SET lock_timeout = %d; SET synchronous_commit = %s; "
	    "SET default_transaction_read_only = %s", DB_BUSY_MS,
	    (db->flags & DB_FAST) ? "off" : "on", (db->flags & DB_RDONLY) ? "on" : "off");
	return pg_exec(db, sql);
}

static int
pg_open(struct db *db, const char *target, char *err, size_t errlen)
{
	/*
	 * target expanded as a URI or conninfo string (expand_dbname); what comes before it
	 * are defaults it may override: no endless wait for a host that does not answer.
	 */
	static const char *const keys[] = { "connect_timeout", "fallback_application_name",
	    "dbname", NULL };
	const char *vals[] = { "10", "latchkey", target, NULL };

	db_target_name(target, db->name, sizeof(db->name));
	if ((db->pg = PQconnectdbParams(keys, vals, 1)) == NULL) {
		errf(err, errlen, "registry: %s: out of memory", db->name);
		return -1;
	}
	if (PQstatus(db->pg) != CONNECTION_OK) {
		pg_seterr(db, NULL);
		errf(err, errlen, "registry: %s: cannot connect: %s", db->name, db->errmsg);
		return -1;
	}
	PQsetNoticeProcessor(db->pg, pg_notice, NULL);
	db->gen = 1;
	if (pg_session(db) == -1) {
		errf(err, errlen, "registry: %s: %s", db->name, db->errmsg);
		return -1;
	}
	return 0;
}

/*
 * A lost connection (the server restarted) is made again before a statement, when no
 * transaction was open on it: nothing is lost but the session, which is set up again.
 * Inside a transaction it is not: every statement fails until the caller rolls back (a
 * new connection would run the rest of the transaction outside it).
 */
static int
pg_alive(struct db *db)
{
	if (PQstatus(db->pg) == CONNECTION_OK)
		return 0;
	if (db->in_tx) {
		snprintf(db->errmsg, sizeof(db->errmsg), "connection lost in a transaction");
		return -1;
	}
	PQreset(db->pg);
	db->gen++;		/* the server forgot our prepared statements */
	if (PQstatus(db->pg) != CONNECTION_OK) {
		pg_seterr(db, NULL);
		return -1;
	}
	return pg_session(db);
}

/*
 * ?N becomes $N outside quoted text; *nparam is the highest N. NULL when out of memory
 * or a parameter is not numbered.
 */
static char *
pg_sql(const char *sql, int *nparam)
{
	char *out, *o;
	const char *s;
	char quote = 0;
	long n;

	*nparam = 0;
	if ((out = malloc(strlen(sql) + 1)) == NULL)
		return NULL;
	for (s = sql, o = out; *s != '\0'; s++) {
		if (quote != 0) {
			if (*s == quote)
				quote = 0;
		} else if (*s == '\'' || *s == '"')
			quote = *s;
		else if (*s == '?') {
			if (s[1] < '0' || s[1] > '9') {
				free(out);
				return NULL;
			}
			n = strtol(s + 1, NULL, 10);
			if (n > *nparam)
				*nparam = n > DB_MAXPARAM ? DB_MAXPARAM + 1 : (int)n;
			*o++ = '$';
			continue;
		}
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void
pg_clear(struct db_stmt *st)
{
	PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	PQfreemem(st->blob);
	st->blob = NULL;
}

/* Run st: prepared on the server when it runs again with the same parameter types. */
static PGresult *
pg_run(struct db_stmt *st)
{
	struct db *db = st->db;
	PGresult *r;

	RTT();
	if (st->prep_gen == db->gen && st->prep_gen != 0 &&
	    memcmp(st->prep_type, st->type, sizeof(st->type[0]) * (size_t)st->nparam) == 0)
		return PQexecPrepared(db->pg, st->name, st->nparam, st->val, st->len, st->fmt, 0);
	if (st->nexec++ == 0 || db->gen == 0)
		return PQexecParams(db->pg, st->sql, st->nparam, st->type, st->val, st->len,
		    st->fmt, 0);
	snprintf(st->name, sizeof(st->name), "lk%u", ++db->nprep);
	RTT();
	if ((r = PQprepare(db->pg, st->name, st->sql, st->nparam, st->type)) == NULL ||
	    PQresultStatus(r) != PGRES_COMMAND_OK) {
		PQclear(r);
		st->prep_gen = 0;	/* not this time: as a one-off */
		return PQexecParams(db->pg, st->sql, st->nparam, st->type, st->val, st->len,
		    st->fmt, 0);
	}
	PQclear(r);
	st->prep_gen = db->gen;
	memcpy(st->prep_type, st->type, sizeof(st->type[0]) * (size_t)st->nparam);
	return PQexecPrepared(db->pg, st->name, st->nparam, st->val, st->len, st->fmt, 0);
}

static int
pg_step(struct db_stmt *st)
{
	struct db *db = st->db;
	ExecStatusType s;

	if (st->res != NULL) {
		if (st->row + 1 < PQntuples(st->res)) {
			st->row++;
			return DB_ROW;
		}
		st->row = PQntuples(st->res);
		return DB_DONE;
	}
	if (pg_alive(db) == -1)
		return DB_ERROR;
	st->res = pg_run(st);
	s = st->res != NULL ? PQresultStatus(st->res) : PGRES_FATAL_ERROR;
	/*
	 * The connection turned out lost (the server restarted since the last statement):
	 * a read outside a transaction is run once more on a new one. A write is not: it
	 * may have been done.
	 */
	if (s == PGRES_FATAL_ERROR && !db->in_tx && PQstatus(db->pg) == CONNECTION_BAD &&
	    strncmp(st->sql, "SELECT", 6) == 0 && pg_alive(db) == 0) {
		PQclear(st->res);
		st->res = pg_run(st);
		s = st->res != NULL ? PQresultStatus(st->res) : PGRES_FATAL_ERROR;
	}
	if (s == PGRES_COMMAND_OK) {
		db->changes = strtoll(PQcmdTuples(st->res), NULL, 10);
		st->row = 0;
		return DB_DONE;
	}
	if (s != PGRES_TUPLES_OK) {
		pg_seterr(db, st->res);
		PQclear(st->res);
		st->res = NULL;
		return DB_ERROR;
	}
	/* INSERT/UPDATE/DELETE ... RETURNING (a SELECT's count is no change: as SQLite) */
	if (strncmp(PQcmdStatus(st->res), "SELECT", 6) != 0)
		db->changes = strtoll(PQcmdTuples(st->res), NULL, 10);
	if (PQntuples(st->res) == 0)
		return DB_DONE;
	st->row = 0;
	return DB_ROW;
}

/* ---- PostgreSQL pipeline (db.h) ---------------------------------------------------- */

static int
pq_push(struct db *db, enum pq_kind kind, struct db_stmt *st, size_t i)
{
	struct pq_item *n;
	size_t cap;

	if (db->npq == db->pqcap) {
		cap = db->pqcap == 0 ? 2 * DB_PIPE_SYNC + 4 : 2 * db->pqcap;
		if ((n = realloc(db->pq, cap * sizeof(*n))) == NULL) {
			snprintf(db->errmsg, sizeof(db->errmsg), "out of memory");
			return -1;
		}
		db->pq = n;
		db->pqcap = cap;
	}
	db->pq[db->npq].kind = kind;
	db->pq[db->npq].st = st;
	db->pq[db->npq].i = i;
	db->npq++;
	return 0;
}

/* The first error of a pipeline is the one kept (the rest were skipped for it). */
static void
pq_fail(struct db *db, const PGresult *res)
{
	if (!db->pfailed) {
		if (res != NULL && PQresultStatus(res) == PGRES_PIPELINE_ABORTED)
			snprintf(db->errmsg, sizeof(db->errmsg), "pipeline aborted");
		else
			pg_seterr(db, res);
	}
	db->pfailed = 1;
}

/* One queued item's result (then libpq's NULL that ends it). */
static void
pq_read_one(struct db *db, const struct pq_item *it)
{
	struct db_stmt *st = it->st;
	PGresult *res, *extra;
	ExecStatusType s;
	int rc;

	res = PQgetResult(db->pg);
	s = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (res != NULL)
		while ((extra = PQgetResult(db->pg)) != NULL)
			PQclear(extra);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		pq_fail(db, res);
	switch (it->kind) {
	case PQ_VERB:
		PQclear(res);
		return;
	case PQ_PREP:
		if (s != PGRES_COMMAND_OK)
			st->prep_gen = 0;	/* not prepared after all */
		PQclear(res);
		return;
	case PQ_QUERY:
		break;
	}
	rc = DB_ERROR;
	pg_clear(st);
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		if (strncmp(PQcmdStatus(res), "SELECT", 6) != 0)
			db->changes = strtoll(PQcmdTuples(res), NULL, 10);
		rc = s == PGRES_TUPLES_OK && PQntuples(res) > 0 ? DB_ROW : DB_DONE;
		st->res = res;
		st->row = 0;
		res = NULL;
	}
	PQclear(res);
	db->pcb(db->parg, it->i, st, rc);
	pg_clear(st);
}

/* Send what is queued with a sync and read every result up to the sync's. */
static int
pq_sync(struct db *db)
{
	PGresult *res;
	size_t k;

	if (db->npq == 0)
		return db->pfailed ? -1 : 0;
	RTT();
	if (PQpipelineSync(db->pg) != 1)
		pq_fail(db, NULL);
	for (k = 0; k < db->npq; k++)
		pq_read_one(db, &db->pq[k]);
	db->npq = 0;
	/* the sync's own result; a lost connection has none */
	if ((res = PQgetResult(db->pg)) == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
		pq_fail(db, res);
	PQclear(res);
	return db->pfailed ? -1 : 0;
}

/* Pipeline mode on db for cb, nothing queued yet: 0, or -1 (db_errmsg). */
int
db_pipeline_read(struct db *db, db_pipeline_cb *cb, void *arg)
{
	if (db->kind != DB_PG) {
		snprintf(db->errmsg, sizeof(db->errmsg), "pipeline: PostgreSQL only");
		return -1;
	}
	if (db->in_tx) {
		snprintf(db->errmsg, sizeof(db->errmsg), "pipeline: a transaction is open");
		return -1;
	}
	if (pg_alive(db) == -1)
		return -1;
	if (PQenterPipelineMode(db->pg) != 1) {
		pg_seterr(db, NULL);
		return -1;
	}
	db->pcb = cb;
	db->parg = arg;
	db->pfailed = 0;
	db->npq = 0;
	db->nsent = 0;
	return 0;
}

int
db_pipeline_begin(struct db *db, db_pipeline_cb *cb, void *arg)
{
	char sql[96];

	if (db_pipeline_read(db, cb, arg) == -1)	/* then BEGIN and the lock */
		return -1;
	db->in_tx = 1;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%lld)",
	    (long long)DB_PG_WRITE_LOCK);
	if (PQsendQueryParams(db->pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) != 1 ||
	    pq_push(db, PQ_VERB, NULL, 0) == -1 ||
	    PQsendQueryParams(db->pg, sql, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
	    pq_push(db, PQ_VERB, NULL, 0) == -1) {
		pq_fail(db, NULL);
		return -1;
	}
	return 0;
}

int
db_pipeline_send(struct db_stmt *st)
{
	struct db *db = st->db;
	int ok;

	if (db->pfailed)
		return -1;
	/* as pg_run: prepared on the server once it runs again with the same types */
	if (st->prep_gen == db->gen && st->prep_gen != 0 &&
	    memcmp(st->prep_type, st->type, sizeof(st->type[0]) * (size_t)st->nparam) == 0)
		ok = PQsendQueryPrepared(db->pg, st->name, st->nparam, st->val, st->len,
		    st->fmt, 0);
	else if (st->nexec++ == 0)
		ok = PQsendQueryParams(db->pg, st->sql, st->nparam, st->type, st->val, st->len,
		    st->fmt, 0);
	else {
		snprintf(st->name, sizeof(st->name), "lk%u", ++db->nprep);
		st->prep_gen = db->gen;
		memcpy(st->prep_type, st->type, sizeof(st->type[0]) * (size_t)st->nparam);
		ok = PQsendPrepare(db->pg, st->name, st->sql, st->nparam, st->type) == 1 &&
		    pq_push(db, PQ_PREP, st, 0) == 0 &&
		    PQsendQueryPrepared(db->pg, st->name, st->nparam, st->val, st->len,
		    st->fmt, 0) == 1;
	}
	if (!ok || pq_push(db, PQ_QUERY, st, db->nsent++) == -1) {
		pq_fail(db, NULL);
		return -1;
	}
	pg_clear(st);
	if (db->nsent % DB_PIPE_SYNC == 0)
		return pq_sync(db);
	return 0;
}

int
db_pipeline_end(struct db *db)
{
	int rc;

	if (db->kind != DB_PG)
		return -1;
	rc = pq_sync(db);
	if (PQpipelineStatus(db->pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(db->pg) != 1)
		pq_fail(db, NULL);	/* the connection was lost: the next use resets it */
	db->pcb = NULL;
	db->parg = NULL;
	return rc == -1 || db->pfailed ? -1 : 0;
}

uint64_t
db_round_trips(void)
{
	return atomic_load_explicit(&db_rtt, memory_order_relaxed);
}

/* ---- both ------------------------------------------------------------------------- */

struct db *
db_open(const char *target, int flags, char *err, size_t errlen)
{
	struct db *db;

	if (target == NULL || *target == '\0') {
		errf(err, errlen, "registry: no database path");
		return NULL;
	}
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		errf(err, errlen, "registry: out of memory");
		return NULL;
	}
	db->flags = flags;
	if (db_target_is_pg(target)) {
		db->kind = DB_PG;
		if (pg_open(db, target, err, errlen) == -1)
			goto err;
		return db;
	}
	db->kind = DB_SQLITE;
	if (strlen(target) >= sizeof(db->name)) {
		errf(err, errlen, "registry: database path too long");
		goto err;
	}
	snprintf(db->name, sizeof(db->name), "%s", target);
	if (sq_open(db, target, flags, err, errlen) == -1)
		goto err;
	return db;
err:
	db_close(db);
	return NULL;
}

int
db_close(struct db *db)
{
	int rc = 0;

	if (db == NULL)
		return 0;
	if (db->kind == DB_SQLITE) {
		sqlite3_finalize(db->sq_begin);
		sqlite3_finalize(db->sq_commit);
		sqlite3_finalize(db->sq_rollback);
		if (sqlite3_close(db->sq) != SQLITE_OK)
			rc = -1;
	} else if (db->pg != NULL)
		PQfinish(db->pg);
	free(db->pq);
	free(db);
	return rc;
}

int
db_exec(struct db *db, const char *sql)
{
	if (db->kind == DB_SQLITE)
		return sqlite3_exec(db->sq, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	if (pg_alive(db) == -1)
		return -1;
	return pg_exec(db, sql);
}

int
db_begin(struct db *db)
{
	char sql[128];

	if (db->kind == DB_SQLITE)
		return sq_verb(db, &db->sq_begin, "BEGIN IMMEDIATE");
	if (pg_alive(db) == -1)
		return -1;
	snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%lld)",
	    (long long)DB_PG_WRITE_LOCK);
	/* a connection found lost here is made again: nothing was done on it yet */
	if (pg_exec(db, sql) == -1 && (PQstatus(db->pg) != CONNECTION_BAD ||
	    pg_alive(db) == -1 || pg_exec(db, sql) == -1)) {
		db->in_tx = 1;
		db_rollback(db);
		return -1;
	}
	db->in_tx = 1;
	return 0;
}

int
db_commit(struct db *db)
{
	if (db->kind == DB_SQLITE)
		return sq_verb(db, &db->sq_commit, "COMMIT");
	/*
	 * COMMIT of a failed transaction answers ROLLBACK without an error, and outside one
	 * (the connection was lost and made again) a warning: refuse both.
	 */
	if (!db->in_tx || PQtransactionStatus(db->pg) != PQTRANS_INTRANS) {
		snprintf(db->errmsg, sizeof(db->errmsg), "commit of a failed transaction");
		return -1;
	}
	if (pg_exec(db, "COMMIT") == -1)
		return -1;
	db->in_tx = 0;
	return 0;
}

void
db_rollback(struct db *db)
{
	char keep[sizeof(db->errmsg)];

	if (!db_in_transaction(db))
		return;
	if (db->kind == DB_SQLITE) {
		sq_verb(db, &db->sq_rollback, "ROLLBACK");
		return;
	}
	/* keeps the first error's message */
	memcpy(keep, db->errmsg, sizeof(keep));
	if (PQstatus(db->pg) == CONNECTION_OK)
		pg_exec(db, "ROLLBACK");
	memcpy(db->errmsg, keep, sizeof(keep));
	db->in_tx = 0;
}

int
db_in_transaction(struct db *db)
{
	PGTransactionStatusType s;

	if (db->kind == DB_SQLITE)
		return !sqlite3_get_autocommit(db->sq);
	s = PQtransactionStatus(db->pg);
	return db->in_tx || s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

int64_t
db_changes(struct db *db)
{
	if (db->kind == DB_SQLITE)
		return sqlite3_changes(db->sq);
	return db->changes;
}

/* One integer from a one-row query (PostgreSQL). */
static int
pg_int(struct db *db, const char *sql, int64_t *v)
{
	PGresult *res;
	int ok;

	if (pg_alive(db) == -1)
		return -1;
	RTT();
	res = PQexec(db->pg, sql);
	ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    PQnfields(res) >= 1;
	if (ok)
		*v = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else
		pg_seterr(db, res);
	PQclear(res);
	return ok ? 0 : -1;
}

int
db_schema_version(struct db *db, int *version)
{
	int64_t v = 0;

	if (db->kind == DB_SQLITE) {
		if (sq_int_pragma(db, "PRAGMA user_version", &v) == -1)
			return -1;
	} else {
		if (pg_int(db, "SELECT (to_regclass('registry_meta') IS NOT NULL)::int", &v) == -1)
			return -1;
		if (v != 0 && pg_int(db, "SELECT schema_version FROM registry_meta", &v) == -1)
			return -1;
	}
	*version = (int)v;
	return 0;
}

int
db_set_schema_version(struct db *db, int version)
{
	char sql[96];

	if (db->kind == DB_SQLITE)
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	else
		snprintf(sql, sizeof(sql), "UPDATE registry_meta SET schema_version = %d",
		    version);
	return db_exec(db, sql);
}

int
db_data_version(struct db *db, int64_t *version)
{
	if (db->kind == DB_SQLITE)
		return sq_int_pragma(db, "PRAGMA data_version", version);
	/*
	 * Notifications of other connections' commits (and ours): an empty query makes the
	 * server deliver what is pending, then they are counted; no table is read. A new
	 * connection (gen) may have missed some: it counts as a change.
	 */
	{
		PGnotify *n;

		if (pg_alive(db) == -1)
			return -1;
		/*
		 * Only a connection asked for its data version LISTENs (from then on): the
		 * others, the committers among them, are not woken at every commit.
		 */
		if (db->listen_gen != db->gen) {
			if (pg_exec(db, "LISTEN " DB_PG_CHANNEL_CHANGED) == -1)
				return -1;
			db->listen_gen = db->gen;
		}
		RTT();
		PQclear(PQexec(db->pg, ""));
		while ((n = PQnotifies(db->pg)) != NULL) {
			db->notes++;
			PQfreemem(n);
		}
		*version = db->notes + (int64_t)db->gen;
		return 0;
	}
}

int
db_prepare(struct db *db, const char *sql, struct db_stmt **stp)
{
	struct db_stmt *st;

	*stp = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(db->errmsg, sizeof(db->errmsg), "out of memory");
		return -1;
	}
	st->db = db;
	st->row = -1;
	if (db->kind == DB_SQLITE) {
		if (sqlite3_prepare_v3(db->sq, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->sq,
		    NULL) != SQLITE_OK) {
			free(st);
			return -1;
		}
	} else if ((st->sql = pg_sql(sql, &st->nparam)) == NULL ||
	    st->nparam > DB_MAXPARAM) {
		snprintf(db->errmsg, sizeof(db->errmsg), "%s", st->sql == NULL ?
		    "out of memory or an unnumbered parameter" : "too many parameters");
		free(st->sql);
		free(st);
		return -1;
	}
	*stp = st;
	return 0;
}

void
db_finalize(struct db_stmt *st)
{
	if (st == NULL)
		return;
	if (st->db->kind == DB_SQLITE)
		sqlite3_finalize(st->sq);
	else {
		pg_clear(st);
		/* a statement prepared on this connection: the server forgets it too */
		if (st->prep_gen != 0 && st->prep_gen == st->db->gen &&
		    PQstatus(st->db->pg) == CONNECTION_OK) {
			char q[32];

			snprintf(q, sizeof(q), "DEALLOCATE %s", st->name);
			RTT();
			PQclear(PQexec(st->db->pg, q));
		}
		free(st->sql);
	}
	free(st);
}

void
db_reset(struct db_stmt *st)
{
	if (st->db->kind == DB_SQLITE) {
		sqlite3_reset(st->sq);
		sqlite3_clear_bindings(st->sq);
		return;
	}
	pg_clear(st);
	memset(st->val, 0, sizeof(st->val));
	memset(st->len, 0, sizeof(st->len));
	memset(st->fmt, 0, sizeof(st->fmt));
	memset(st->type, 0, sizeof(st->type));
}

/* The PostgreSQL parameter idx (1-based), or -1 when the SQL does not name it. */
static int
pg_param(struct db_stmt *st, int idx)
{
	if (idx < 1 || idx > st->nparam)
		return -1;
	/* a new binding starts a new execution */
	pg_clear(st);
	return idx - 1;
}

void
db_bind_int64(struct db_stmt *st, int idx, int64_t v)
{
	int i;

	if (st->db->kind == DB_SQLITE) {
		sqlite3_bind_int64(st->sq, idx, v);
		return;
	}
	if ((i = pg_param(st, idx)) == -1)
		return;
	snprintf(st->num[i], sizeof(st->num[i]), "%" PRId64, v);
	st->val[i] = st->num[i];
	st->len[i] = 0;
	st->fmt[i] = 0;
	st->type[i] = PG_INT8;
}

void
db_bind_text(struct db_stmt *st, int idx, const char *s)
{
	int i;

	if (st->db->kind == DB_SQLITE) {
		if (s == NULL)
			sqlite3_bind_null(st->sq, idx);
		else
			sqlite3_bind_text(st->sq, idx, s, -1, SQLITE_STATIC);
		return;
	}
	if ((i = pg_param(st, idx)) == -1)
		return;
	st->val[i] = s;
	st->len[i] = 0;
	st->fmt[i] = 0;
	/* a text NULL too ("?1 IS NULL OR col = ?1" needs a type); unbound ones have none */
	st->type[i] = PG_TEXT;
}

void
db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len)
{
	int i;

	if (st->db->kind == DB_SQLITE) {
		sqlite3_bind_blob(st->sq, idx, p, (int)len, SQLITE_STATIC);
		return;
	}
	if ((i = pg_param(st, idx)) == -1)
		return;
	st->val[i] = p;
	st->len[i] = (int)len;
	st->fmt[i] = 1;
	st->type[i] = PG_BYTEA;
}

int
db_step(struct db_stmt *st)
{
	int rc;

	if (st->db->kind == DB_PG)
		return pg_step(st);
	rc = sqlite3_step(st->sq);
	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE)
		return DB_DONE;
	return DB_ERROR;
}

/* The current row's value at col, or NULL (SQL NULL, or no row). */
static const char *
pg_value(struct db_stmt *st, int col)
{
	if (st->res == NULL || st->row < 0 || st->row >= PQntuples(st->res) || col < 0 ||
	    col >= PQnfields(st->res) || PQgetisnull(st->res, st->row, col))
		return NULL;
	return PQgetvalue(st->res, st->row, col);
}

int64_t
db_column_int64(struct db_stmt *st, int col)
{
	const char *v;

	if (st->db->kind == DB_SQLITE)
		return sqlite3_column_int64(st->sq, col);
	if ((v = pg_value(st, col)) == NULL)
		return 0;
	if (*v == 't')		/* a boolean */
		return 1;
	return strtoll(v, NULL, 10);
}

const char *
db_column_text(struct db_stmt *st, int col)
{
	if (st->db->kind == DB_SQLITE)
		return (const char *)sqlite3_column_text(st->sq, col);
	return pg_value(st, col);
}

const void *
db_column_blob(struct db_stmt *st, int col, size_t *len)
{
	const char *v;
	size_t n;

	*len = 0;
	if (st->db->kind == DB_SQLITE) {
		const void *p = sqlite3_column_blob(st->sq, col);

		*len = (size_t)sqlite3_column_bytes(st->sq, col);
		return p;
	}
	if ((v = pg_value(st, col)) == NULL)
		return NULL;
	PQfreemem(st->blob);
	/* bytea in text results: hex ("\x...", bytea_output's default since 9.0) */
	if ((st->blob = PQunescapeBytea((const unsigned char *)v, &n)) == NULL)
		return NULL;
	*len = n;
	return st->blob;
}
