/* revoked_db: see revoked_db.h. */
#include "dhcp-hook/revoked_db.h"

#include <stdio.h>

#include <sqlite3.h>

#define REVOKED_DB_BUSY_MS	1000

int
revoked_db_load(void *arg, struct revoked_builder *b, char *err, size_t errlen)
{
	const char *path = arg;
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
	if (sqlite3_prepare_v2(db, REVOKED_DB_QUERY, -1, &st, NULL) != SQLITE_OK) {
		if (err != NULL)
			snprintf(err, errlen, "registry %s: %s (schema older than version 3?)",
			    path, sqlite3_errmsg(db));
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
