/*
 * db: the registry's SQL driver, one small interface over two engines: SQLite (a file, the
 * embedded default) and PostgreSQL (libpq). The registry's logic (registry.c: admission,
 * the audit chain, group commit, migrations) is written once against it; no SQLite or
 * libpq type leaves db.c.
 *
 * SQL is written once, in the common dialect of both, with numbered parameters ?1..?N
 * (PostgreSQL gets $1..$N). Parameters bound but not named in the SQL are ignored; ones
 * named but not bound are NULL. Where the dialects differ (DDL, PRAGMAs) the caller picks
 * the text by db_kind().
 *
 * What differs underneath, and how:
 *   db_begin: a write transaction that serializes writers, so the audit chain's last hash
 *     is read under the lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN, then
 *     pg_advisory_xact_lock(DB_PG_WRITE_LOCK), held to COMMIT/ROLLBACK, read committed:
 *     each statement after the lock sees every earlier writer's commit). Lock waits give up
 *     after 5 s on both (SQLite's busy handler, PostgreSQL's lock_timeout).
 *   db_schema_version: PRAGMA user_version; PostgreSQL: registry_meta.schema_version
 *     (0 when the table does not exist yet).
 *   db_data_version: PRAGMA data_version (changes when another connection committed);
 *     PostgreSQL: the count of DB_PG_CHANNEL_CHANGED notifications this connection has
 *     received (the registry's writes NOTIFY it at commit, by triggers; registry.h,
 *     registry_data_version, says which; the connection LISTENs from its first
 *     db_data_version on, so connections that never ask are not woken by every commit),
 *     plus the connection's generation: it changes on any such write after the first
 *     call, this connection's too, and on a reconnect (a cache may refresh once more than
 *     needed, never once less).
 *   Results from PostgreSQL come as text (integers parsed, bytea decoded from hex);
 *     blobs go to it as binary parameters.
 */
#ifndef LATCHKEY_DB_H
#define LATCHKEY_DB_H

#include <stddef.h>
#include <stdint.h>

enum db_kind {
	DB_SQLITE,
	DB_PG,
};

/* db_step() */
#define DB_DONE		0
#define DB_ROW		1
#define DB_ERROR	(-1)

/* db_open() flags: the same bits as registry_open()'s */
#define DB_CREATE	0x01	/* SQLite: create the file (mode 0600) if missing */
#define DB_RDONLY	0x02	/* PostgreSQL: default_transaction_read_only */
#define DB_FAST		0x04	/* synchronous = NORMAL; PostgreSQL: synchronous_commit = off */

#define DB_PG_WRITE_LOCK	0x6c6b7265676973LL	/* "lkregis": the writers' advisory lock */
#define DB_PG_CHANNEL_CHANGED	"latchkey_changed"	/* NOTIFY at a write's commit */

struct db;
struct db_stmt;

/*
 * Whether target names a PostgreSQL database: a libpq URI (postgresql://, postgres://) or
 * a conninfo string (keyword=value ..., recognised by its '='). Anything else is an
 * SQLite file.
 */
int	db_target_is_pg(const char *target);
/*
 * target named without its password, for messages: the SQLite path as it is, a PostgreSQL
 * target as the URI postgresql://user@host:port/dbname (a Unix socket's directory as
 * postgresql://user@/dbname?host=/dir&port=N). Writes buf (len bytes) and returns it.
 */
const char *db_target_name(const char *target, char *buf, size_t len);

/*
 * Connect. SQLite: target must be a regular file (created 0600 with DB_CREATE); WAL,
 * foreign keys, a 5 s busy wait. PostgreSQL: libpq's message when the server is
 * unreachable or refuses the login. err starts "registry: NAME: " where NAME is
 * db_name() (never a password). NULL with err.
 */
struct db	*db_open(const char *target, int flags, char *err, size_t errlen);
int		 db_close(struct db *db);	/* NULL safe; -1 when SQLite's close failed */
enum db_kind	 db_kind(const struct db *db);
/* The target for messages: the file, or postgresql://user@host:port/dbname. */
const char	*db_name(const struct db *db);
/* The last error's message (one line). */
const char	*db_errmsg(struct db *db);
/* Whether the last error was a unique or primary key violation. */
int		 db_unique_violation(struct db *db);
/* Opened read-only (DB_RDONLY, or SQLite could only open it so). */
int		 db_readonly(struct db *db);
/* PostgreSQL: the connection's socket (for LISTEN/NOTIFY); SQLite: -1. */
int		 db_socket(struct db *db);

/* Run sql (no parameters; several statements allowed). 0, or -1 (db_errmsg). */
int	db_exec(struct db *db, const char *sql);
/* Transactions (0, or -1 with db_errmsg); db_rollback only when one is open. */
int	db_begin(struct db *db);
int	db_commit(struct db *db);
void	db_rollback(struct db *db);
int	db_in_transaction(struct db *db);
/* Rows changed by the last INSERT, UPDATE or DELETE. */
int64_t	db_changes(struct db *db);

int	db_schema_version(struct db *db, int *version);
/* Inside the migration's transaction. */
int	db_set_schema_version(struct db *db, int version);
int	db_data_version(struct db *db, int64_t *version);

/*
 * Statements. db_prepare: 0, or -1 (db_errmsg). db_reset makes one ready to run again
 * and clears its bindings. Text and blob bindings are not copied: they must stay valid
 * until the statement is reset or finalized.
 */
int	db_prepare(struct db *db, const char *sql, struct db_stmt **st);
void	db_finalize(struct db_stmt *st);	/* NULL safe */
void	db_reset(struct db_stmt *st);
void	db_bind_int64(struct db_stmt *st, int idx, int64_t v);
void	db_bind_text(struct db_stmt *st, int idx, const char *s);	/* NULL binds NULL */
void	db_bind_blob(struct db_stmt *st, int idx, const void *p, size_t len);
/* DB_ROW (a row is there), DB_DONE or DB_ERROR (db_errmsg). */
int	db_step(struct db_stmt *st);
/* Columns of the current row: NULL reads as 0, NULL text, NULL blob with *len 0. */
int64_t		 db_column_int64(struct db_stmt *st, int col);
const char	*db_column_text(struct db_stmt *st, int col);
const void	*db_column_blob(struct db_stmt *st, int col, size_t *len);

/*
 * PostgreSQL pipeline (libpq's pipeline mode): a write transaction's statements sent
 * together, so a batch costs one network round trip rather than one per statement.
 *   db_pipeline_begin: enter pipeline mode and queue BEGIN and the writers' lock (as
 *     db_begin). cb is called for every statement queued with db_pipeline_send, in order.
 *   db_pipeline_send: queue st with its current bindings; they are copied out at once, so
 *     st may be bound again for the next one. Every DB_PIPE_SYNC statements the queue is
 *     sent and its results read (so neither side's socket buffer fills up).
 *   db_pipeline_end: send the rest, read every result, leave pipeline mode. The
 *     transaction stays open: db_commit or db_rollback next.
 * cb(arg, i, st, rc): the i-th statement sent (from 0); rc DB_ROW (st's first row is
 * readable through db_column_*, db_step moves on), DB_DONE (no row), or DB_ERROR (it
 * failed, or an earlier one did and the server skipped it). The result is dropped when
 * cb returns. db_pipeline_send and db_pipeline_end return 0 while every statement so far
 * succeeded, else -1 (db_errmsg: the first error); after -1 only db_pipeline_end and
 * then db_rollback. SQLite: db_pipeline_begin returns -1 (not supported).
 */
#define DB_PIPE_SYNC	32
typedef void db_pipeline_cb(void *arg, size_t i, struct db_stmt *st, int rc);
int	db_pipeline_begin(struct db *db, db_pipeline_cb *cb, void *arg);
/*
 * db_pipeline_read: the same for reads: pipeline mode with no BEGIN and no lock, each sync's
 * statements one implicit transaction; after db_pipeline_end nothing is open.
 */
int	db_pipeline_read(struct db *db, db_pipeline_cb *cb, void *arg);
int	db_pipeline_send(struct db_stmt *st);
int	db_pipeline_end(struct db *db);

/*
 * Network round trips to PostgreSQL made by this process so far, on every connection
 * (a statement, a prepare, a pipeline's sync each count one). SQLite makes none.
 */
uint64_t db_round_trips(void);

/*
 * SQLite's online backup: every page of src into dst in one step (one read transaction),
 * retried while busy for 5 s at most. 0, or -1 with err. PostgreSQL: not supported.
 */
int	db_sqlite_backup(struct db *src, struct db *dst, char *err, size_t errlen);

#endif
