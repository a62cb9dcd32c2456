/* masadb: see masadb.h. */
#include "enroll/store/masadb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "enroll/common/err.h"

#define MASADB_BUSY_MS	5000

struct masadb {
	sqlite3	*db;
	int	 flags;
	char	 path[1024];
};

static const char masadb_schema[] =
	"CREATE TABLE IF NOT EXISTS sales ("
	"  serial TEXT NOT NULL,"
	"  domain_ca_fp TEXT NOT NULL,"
	"  domain_ca_der BLOB NOT NULL,"
	"  authorized_at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  PRIMARY KEY (serial, domain_ca_fp));"
	"CREATE TABLE IF NOT EXISTS vouchers ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  domain_ca_fp TEXT NOT NULL,"
	"  domain_id TEXT,"
	"  registrar_fp TEXT,"
	"  nonce TEXT,"
	"  assertion TEXT,"
	"  issued_at INTEGER NOT NULL,"
	"  expires_on INTEGER,"
	"  der BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS vouchers_serial ON vouchers(serial, id);"
	"CREATE TABLE IF NOT EXISTS audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  subject TEXT,"
	"  reason TEXT,"
	"  details TEXT);"
	"PRAGMA user_version = 1;";

static int
mdberr(struct masadb *db, char *err, size_t errlen, const char *what)
{
	return errf(err, errlen, "masa db: %s: %s", what, sqlite3_errmsg(db->db));
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

struct masadb *
masadb_open(const char *path, int flags, char *err, size_t errlen)
{
	struct masadb *db;
	sqlite3_stmt *st = NULL;
	int version = 0, oflags;

	if ((db = calloc(1, sizeof(*db))) == NULL) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	db->flags = flags;
	snprintf(db->path, sizeof(db->path), "%s", path);
	if (flags & MASADB_CREATE) {
		/* Readable by its owner only (SQLite would make it 0644; -wal, -shm follow). */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd != -1)
			close(fd);
		else if (errno != EEXIST) {
			errf(err, errlen, "masa db: %s: %s", path, strerror(errno));
			free(db);
			return NULL;
		}
	}
	oflags = (flags & MASADB_RDONLY) ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | ((flags & MASADB_CREATE) ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		errf(err, errlen, "masa db: %s: %s", path,
		    db->db != NULL ? sqlite3_errmsg(db->db) : "out of memory");
		goto err;
	}
	sqlite3_busy_timeout(db->db, MASADB_BUSY_MS);
	if (!(flags & MASADB_RDONLY) && (sqlite3_exec(db->db, "PRAGMA journal_mode = WAL",
	    NULL, NULL, NULL) != SQLITE_OK || sqlite3_exec(db->db,
	    "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)) {
		mdberr(db, err, errlen, path);
		goto err;
	}
	if (sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		mdberr(db, err, errlen, path);
		goto err;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > 1) {
		errf(err, errlen, "masa db: %s: schema version %d is newer than this program's",
		    path, version);
		goto err;
	}
	if (version == 0) {
		if (!(flags & MASADB_CREATE)) {
			errf(err, errlen, "masa db: %s: not a MASA database (no schema)", path);
			goto err;
		}
		if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db->db, masadb_schema, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			mdberr(db, err, errlen, "creating the schema");
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			goto err;
		}
	}
	return db;
err:
	sqlite3_finalize(st);
	masadb_close(db);
	return NULL;
}

void
masadb_close(struct masadb *db)
{
	if (db == NULL)
		return;
	sqlite3_close_v2(db->db);
	free(db);
}

static int
audit_insert(struct masadb *db, int64_t at, const char *actor, const char *action,
    const char *subject, const char *reason, const char *details, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db->db, "INSERT INTO audit (at, actor, action, subject, reason, "
	    "details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL) != SQLITE_OK) {
		mdberr(db, err, errlen, "prepare audit");
		return -1;
	}
	sqlite3_bind_int64(st, 1, at);
	bind_text(st, 2, actor);
	bind_text(st, 3, action);
	bind_text(st, 4, subject);
	bind_text(st, 5, reason);
	bind_text(st, 6, details);
	if (sqlite3_step(st) != SQLITE_DONE)
		mdberr(db, err, errlen, "audit");
	else
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

int
masadb_audit(struct masadb *db, const char *actor, const char *action, const char *subject,
    const char *reason, const char *details, char *err, size_t errlen)
{
	if (actor == NULL || action == NULL)
		return errf(err, errlen, "masa db: audit needs actor and action");
	return audit_insert(db, time(NULL), actor, action, subject, reason, details, err,
	    errlen);
}

int
masadb_authorize(struct masadb *db, const char *serial, const unsigned char *ca_der,
    size_t ca_len, const char *ca_fp, const char *actor, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t now = time(NULL);
	int rc = -1, changed;

	if (serial == NULL || *serial == '\0' || strlen(serial) >= 64 || ca_fp == NULL ||
	    ca_der == NULL || ca_len == 0 || ca_len > 65536 || actor == NULL)
		return errf(err, errlen, "masa db: authorize needs a serial (< 64 bytes), a "
		    "domain CA and an actor");
	if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return mdberr(db, err, errlen, "begin");
	if (sqlite3_prepare_v2(db->db, "INSERT OR IGNORE INTO sales (serial, domain_ca_fp, "
	    "domain_ca_der, authorized_at, actor) VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st,
	    NULL) != SQLITE_OK) {
		mdberr(db, err, errlen, "prepare sales insert");
		goto out;
	}
	bind_text(st, 1, serial);
	bind_text(st, 2, ca_fp);
	sqlite3_bind_blob(st, 3, ca_der, (int)ca_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, now);
	bind_text(st, 5, actor);
	if (sqlite3_step(st) != SQLITE_DONE) {
		mdberr(db, err, errlen, "insert sales record");
		goto out;
	}
	changed = sqlite3_changes(db->db);
	if (changed > 0) {
		/* details are JSON, built by jansson like every other audit row's */
		json_t *dj = json_pack("{s:s}", "domain_ca", ca_fp);
		char *details = dj != NULL ? json_dumps(dj, JSON_COMPACT) : NULL;
		int arc;

		json_decref(dj);
		if (details == NULL) {
			errf(err, errlen, "out of memory");
			goto out;
		}
		arc = audit_insert(db, now, actor, "authorize", serial, NULL, details, err,
		    errlen);
		free(details);
		if (arc == -1)
			goto out;
	}
	if (sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		mdberr(db, err, errlen, "commit");
		goto out;
	}
	rc = changed > 0 ? 0 : 1;
out:
	sqlite3_finalize(st);
	if (rc == -1)
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
masadb_sales_foreach(struct masadb *db, const char *serial,
    int (*cb)(const unsigned char *der, size_t len, const char *fp, void *arg), void *arg,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, s;

	if (sqlite3_prepare_v2(db->db, "SELECT domain_ca_der, domain_ca_fp FROM sales WHERE "
	    "serial = ?1 ORDER BY authorized_at", -1, &st, NULL) != SQLITE_OK)
		return mdberr(db, err, errlen, "prepare sales query");
	bind_text(st, 1, serial);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		const void *der = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);

		if (der == NULL || n <= 0)
			continue;
		if ((rc = cb(der, (size_t)n, (const char *)sqlite3_column_text(st, 1), arg)) !=
		    0)
			break;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = mdberr(db, err, errlen, "sales query");
	sqlite3_finalize(st);
	return rc;
}

int
masadb_voucher_add(struct masadb *db, const struct masadb_voucher *v, const char *details,
    char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (v->serial == NULL || v->domain_ca_fp == NULL || v->der == NULL || v->len == 0 ||
	    v->len > 65536)
		return errf(err, errlen, "masa db: incomplete voucher record");
	if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return mdberr(db, err, errlen, "begin");
	if (sqlite3_prepare_v2(db->db, "INSERT INTO vouchers (serial, domain_ca_fp, domain_id, "
	    "registrar_fp, nonce, assertion, issued_at, expires_on, der) VALUES (?1, ?2, ?3, "
	    "?4, ?5, ?6, ?7, ?8, ?9)", -1, &st, NULL) != SQLITE_OK) {
		mdberr(db, err, errlen, "prepare voucher insert");
		goto out;
	}
	bind_text(st, 1, v->serial);
	bind_text(st, 2, v->domain_ca_fp);
	bind_text(st, 3, v->domain_id);
	bind_text(st, 4, v->registrar_fp);
	bind_text(st, 5, v->nonce);
	bind_text(st, 6, v->assertion);
	sqlite3_bind_int64(st, 7, v->issued_at);
	if (v->expires_on != 0)
		sqlite3_bind_int64(st, 8, v->expires_on);
	sqlite3_bind_blob(st, 9, v->der, (int)v->len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		mdberr(db, err, errlen, "insert voucher");
		goto out;
	}
	if (audit_insert(db, v->issued_at, "masa", "voucher-issued", v->serial, NULL, details,
	    err, errlen) == -1)
		goto out;
	if (sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		mdberr(db, err, errlen, "commit");
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	if (rc == -1)
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int
masadb_voucher_foreach(struct masadb *db, const char *serial,
    int (*cb)(const struct masadb_voucher *v, void *arg), void *arg, char *err,
    size_t errlen)
{
	struct masadb_voucher v;
	sqlite3_stmt *st = NULL;
	int rc = 0, s;

	if (sqlite3_prepare_v2(db->db, "SELECT serial, domain_ca_fp, domain_id, registrar_fp, "
	    "nonce, assertion, issued_at, expires_on FROM vouchers WHERE serial = ?1 "
	    "ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return mdberr(db, err, errlen, "prepare voucher query");
	bind_text(st, 1, serial);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&v, 0, sizeof(v));
		v.serial = (const char *)sqlite3_column_text(st, 0);
		v.domain_ca_fp = (const char *)sqlite3_column_text(st, 1);
		v.domain_id = (const char *)sqlite3_column_text(st, 2);
		v.registrar_fp = (const char *)sqlite3_column_text(st, 3);
		v.nonce = (const char *)sqlite3_column_text(st, 4);
		v.assertion = (const char *)sqlite3_column_text(st, 5);
		v.issued_at = sqlite3_column_int64(st, 6);
		v.expires_on = sqlite3_column_int64(st, 7);
		if ((rc = cb(&v, arg)) != 0)
			break;
	}
	if (s != SQLITE_ROW && s != SQLITE_DONE)
		rc = mdberr(db, err, errlen, "voucher query");
	sqlite3_finalize(st);
	return rc;
}
