/* revoked_db: see revoked_db.h. */
#include "dhcp-hook/revoked_db.h"
#include "enroll/store/db.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#define REVOKED_DB_BUSY_MS	1000

/* The registry's own rule and naming (enroll/store/db.h), so the hook and latchkeyd agree. */
int
revoked_db_is_pg(const char *target)
{
	return db_target_is_pg(target);
}

const char *
revoked_db_name(const char *target, char *buf, size_t len)
{
	return db_target_name(target, buf, len);
}

/* ---- SQLite ------------------------------------------------------------------------- */

static int
rdb_sqlite_load(const char *path, const char *query, struct revoked_builder *b, char *err,
    size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, ret = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		if (err != NULL)
			snprintf(err, errlen, "registry %s: %s", path,
			    db != NULL ? sqlite3_errmsg(db) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(db, REVOKED_DB_BUSY_MS);
	if (sqlite3_prepare_v2(db, query, -1, &st, NULL) != SQLITE_OK) {
		/* a registry older than schema v11 has no posture table: nobody is
		 * noncompliant yet (its migration changes the files: loaded again then) */
		if (strcmp(query, NONCOMPLIANT_DB_QUERY) == 0 &&
		    strstr(sqlite3_errmsg(db), "no such table: posture") != NULL) {
			ret = 0;
			goto out;
		}
		if (err != NULL)
			snprintf(err, errlen, "registry %s: %s (schema older than version %d?)",
			    path, sqlite3_errmsg(db), strcmp(query, REVOKED_DB_QUERY) == 0 ? 3 : 11);
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		const char *value = (const char *)sqlite3_column_text(st, 1);
		char why[128];

		/* The registrar validated what it stored; a bad row is skipped, not fatal. */
		if (revoked_builder_add_text(b, kind, value, why, sizeof(why)) == -2) {
			if (err != NULL)
				snprintf(err, errlen, "registry %s: %s", path, why);
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		if (err != NULL)
			snprintf(err, errlen, "registry %s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	ret = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

/* ---- PostgreSQL --------------------------------------------------------------------- */

/* libpq's notices would go to stderr: a library prints nothing. */
static void
rdb_pg_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* "registry NAME: what: libpq's message" on one line. */
static void
rdb_pg_err(const char *target, const char *what, PGconn *pg, const PGresult *res,
    char *err, size_t errlen)
{
	char name[256], msg[256];
	const char *m = res != NULL ? PQresultErrorMessage(res) : NULL;
	size_t i;

	if (err == NULL || errlen == 0)
		return;
	if ((m == NULL || *m == '\0') && pg != NULL)
		m = PQerrorMessage(pg);
	if (m == NULL || *m == '\0')
		m = "unknown error";
	for (i = 0; *m != '\0' && i + 1 < sizeof(msg); m++) {
		char ch = *m == '\n' || *m == '\r' || *m == '\t' ? ' ' : *m;

		if (ch == ' ' && (i == 0 || msg[i - 1] == ' '))
			continue;
		msg[i++] = ch;
	}
	while (i > 0 && msg[i - 1] == ' ')
		i--;
	msg[i] = '\0';
	snprintf(err, errlen, "registry %s: %s: %s", revoked_db_name(target, name, sizeof(name)),
	    what, msg);
}

/* One statement without parameters; 0, or -1 with err. */
static int
rdb_pg_exec(const char *target, PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	int ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		rdb_pg_err(target, "session", pg, res, err, errlen);
	PQclear(res);
	return ok ? 0 : -1;
}

/*
 * Connect to target, a read-only session; NULL with err. What comes before target are
 * defaults its URI or conninfo may override (expand_dbname).
 */
static PGconn *
rdb_pg_connect(const char *target, char *err, size_t errlen)
{
	static const char *const keys[] = { "connect_timeout", "fallback_application_name",
	    "dbname", NULL };
	const char *vals[] = { REVOKED_DB_CONNECT_TIMEOUT, "latchkey-kea-hook", target, NULL };
	PGconn *pg;

	if ((pg = PQconnectdbParams(keys, vals, 1)) == NULL) {
		rdb_pg_err(target, "cannot connect", NULL, NULL, err, errlen);
		return NULL;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		rdb_pg_err(target, "cannot connect", pg, NULL, err, errlen);
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, rdb_pg_notice, NULL);
	if (rdb_pg_exec(target, pg, "SET default_transaction_read_only = on; "
	    "SET client_min_messages = warning", err, errlen) == -1) {
		PQfinish(pg);
		return NULL;
	}
	return pg;
}

static int
rdb_pg_load(const char *target, const char *query, struct revoked_builder *b, char *err,
    size_t errlen)
{
	PGconn *pg;
	PGresult *res = NULL;
	int i, n, ret = -1;

	if ((pg = rdb_pg_connect(target, err, errlen)) == NULL)
		return -1;
	res = PQexec(pg, query);
	if (res != NULL && PQresultStatus(res) == PGRES_FATAL_ERROR &&
	    strcmp(query, NONCOMPLIANT_DB_QUERY) == 0 &&
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL &&
	    strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "42P01") == 0) {
		/* undefined_table: schema older than v11, nobody is noncompliant yet */
		ret = 0;
		goto out;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		rdb_pg_err(target, strcmp(query, REVOKED_DB_QUERY) == 0 ?
		    "the revoked identifiers (schema older than version 3?)" :
		    "the noncompliant identifiers (schema older than version 11?)", pg,
		    res, err, errlen);
		goto out;
	}
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		char why[128];

		/* The registrar validated what it stored; a bad row is skipped, not fatal. */
		if (revoked_builder_add_text(b, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    why, sizeof(why)) == -2) {
			if (err != NULL) {
				char name[256];

				snprintf(err, errlen, "registry %s: %s",
				    revoked_db_name(target, name, sizeof(name)), why);
			}
			goto out;
		}
	}
	ret = 0;
out:
	PQclear(res);
	PQfinish(pg);
	return ret;
}

int
revoked_db_load(void *arg, struct revoked_builder *b, char *err, size_t errlen)
{
	const char *target = arg;

	if (revoked_db_is_pg(target))
		return rdb_pg_load(target, REVOKED_DB_QUERY, b, err, errlen);
	return rdb_sqlite_load(target, REVOKED_DB_QUERY, b, err, errlen);
}

int
revoked_db_load_noncompliant(void *arg, struct revoked_builder *b, char *err, size_t errlen)
{
	const char *target = arg;

	if (revoked_db_is_pg(target))
		return rdb_pg_load(target, NONCOMPLIANT_DB_QUERY, b, err, errlen);
	return rdb_sqlite_load(target, NONCOMPLIANT_DB_QUERY, b, err, errlen);
}

/* ---- LISTEN ------------------------------------------------------------------------- */

struct revoked_db_listen {
	char	*target;
	PGconn	*pg;		/* NULL: not connected */
};

struct revoked_db_listen *
revoked_db_listen_new(const char *conninfo)
{
	struct revoked_db_listen *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->target = strdup(conninfo)) == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void
revoked_db_listen_free(struct revoked_db_listen *l)
{
	if (l == NULL)
		return;
	if (l->pg != NULL)
		PQfinish(l->pg);
	free(l->target);
	free(l);
}

/* Drop the connection after err was filled; -1. */
static int
rdb_listen_drop(struct revoked_db_listen *l)
{
	PQfinish(l->pg);
	l->pg = NULL;
	return -1;
}

int
revoked_db_listen_wait(void *arg, int timeout_ms, char *err, size_t errlen)
{
	struct revoked_db_listen *l = arg;
	struct pollfd pfd;
	PGnotify *nt;
	int rc, seen = 0;

	if (l->pg == NULL) {
		if ((l->pg = rdb_pg_connect(l->target, err, errlen)) == NULL)
			return -1;
		if (rdb_pg_exec(l->target, l->pg, "LISTEN " REVOKED_DB_CHANNEL, err,
		    errlen) == -1)
			return rdb_listen_drop(l);
		return 1;	/* whatever changed while we were not listening */
	}
	/* notifications already read with an earlier result */
	while ((nt = PQnotifies(l->pg)) != NULL) {
		PQfreemem(nt);
		seen = 1;
	}
	if (seen)
		return 1;
	pfd.fd = PQsocket(l->pg);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0) {
		rdb_pg_err(l->target, "connection lost", l->pg, NULL, err, errlen);
		return rdb_listen_drop(l);
	}
	rc = poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms);
	if (rc == -1 && errno != EINTR) {
		if (err != NULL)
			snprintf(err, errlen, "poll: %s", strerror(errno));
		return rdb_listen_drop(l);
	}
	if (rc <= 0)
		return 0;
	if (!PQconsumeInput(l->pg) || PQstatus(l->pg) != CONNECTION_OK) {
		rdb_pg_err(l->target, "connection lost", l->pg, NULL, err, errlen);
		return rdb_listen_drop(l);
	}
	while ((nt = PQnotifies(l->pg)) != NULL) {
		PQfreemem(nt);
		seen = 1;
	}
	return seen;
}
