/* testutil: see testutil.h. */
#define _XOPEN_SOURCE_EXTENDED 1
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "certs/pki.h"
#include "enroll/store/registry.h"
#include "tests/unit/testutil.h"

const char *
tu_pg(void)
{
	const char *s = getenv("LK_TEST_PG");

	return s != NULL && *s != '\0' ? s : NULL;
}

/* NOTICEs (DROP ... CASCADE) would clutter the test's output. */
static void
pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* A connection to database dbname of the LK_TEST_PG server; fails the test else. */
static PGconn *
pg_connect(const char *dbname)
{
	char ci[512];
	PGconn *c;

	snprintf(ci, sizeof(ci), "%s dbname=%s", tu_pg(), dbname);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("PostgreSQL (%s): %s", ci, PQerrorMessage(c));
	PQsetNoticeProcessor(c, pg_quiet, NULL);
	return c;
}

/* sql on the server's postgres database (CREATE/DROP DATABASE); 0 or -1. */
static int
pg_admin(const char *sql)
{
	PGconn *c = pg_connect("postgres");
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		print_error("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

int
tu_reg_setup(void **state, const char *name)
{
	struct tu_reg *fx = calloc(1, sizeof(*fx));
	static unsigned int n;
	char sql[128];

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/%s.XXXXXX", name);
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/registry.db", fx->dir);
	if (tu_pg() != NULL) {
		/* A database of this case's own: the cases never see each other. */
		fx->pg = 1;
		snprintf(fx->pgdb, sizeof(fx->pgdb), "lk_%ld_%u", (long)getpid(), ++n);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fx->pgdb);
		if (pg_admin(sql) == -1) {
			tu_rmtree(fx->dir);
			free(fx);
			return -1;
		}
		snprintf(fx->path, sizeof(fx->path), "%s dbname=%s", tu_pg(), fx->pgdb);
	}
	*state = fx;
	return 0;
}

int
tu_reg_teardown(void **state)
{
	struct tu_reg *fx = *state;
	char sql[128];
	int rc = 0;

	registry_close(fx->reg);
	if (fx->pg) {
		/* FORCE: a connection a failed case left open does not keep it */
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", fx->pgdb);
		rc = pg_admin(sql);
	}
	tu_rmtree(fx->dir);
	free(fx);
	return rc;
}

void
tu_reg_wipe(struct tu_reg *fx)
{
	char q[sizeof(fx->path) + 8];

	registry_close(fx->reg);
	fx->reg = NULL;
	if (fx->pg) {
		tu_raw_exec(fx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
		return;
	}
	unlink(fx->path);
	snprintf(q, sizeof(q), "%s-wal", fx->path);
	unlink(q);
	snprintf(q, sizeof(q), "%s-shm", fx->path);
	unlink(q);
}

static PGresult *
pg_raw(struct tu_reg *fx, const char *sql, PGconn **c)
{
	PGresult *r;

	*c = pg_connect(fx->pgdb);
	r = PQexec(*c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(*c);
		fail_msg("raw SQL %s: %s", sql, msg);
	}
	return r;
}

int64_t
tu_raw_int(struct tu_reg *fx, const char *sql)
{
	int64_t v = -1;
	char buf[64];

	/* the first column of the first row as text (tu_raw_text), read as a number */
	tu_raw_text(fx, sql, buf, sizeof(buf));
	if (buf[0] != '\0')
		v = buf[0] == 't' ? 1 : buf[0] == 'f' ? 0 : strtoll(buf, NULL, 10);
	return v;
}

void
tu_raw_text(struct tu_reg *fx, const char *sql, char *out, size_t outlen)
{
	out[0] = '\0';
	if (fx->pg) {
		PGconn *c;
		PGresult *r = pg_raw(fx, sql, &c);

		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
			snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL),
		    SQLITE_OK);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			fail_msg("raw SQL %s: %s", sql, sqlite3_errmsg(db));
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
			snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

void
tu_raw_exec(struct tu_reg *fx, const char *sql)
{
	if (fx->pg) {
		PGconn *c;

		PQclear(pg_raw(fx, sql, &c));
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;

		assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READWRITE, NULL),
		    SQLITE_OK);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			fail_msg("raw SQL %s: %s", sql, sqlite3_errmsg(db));
		sqlite3_close(db);
	}
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
tu_rmtree(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
tu_file_contains(const char *path, const char *needle)
{
	char	buf[32768];
	size_t	n;
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

void
tu_ca_init(struct tu_ca *ca, const char *name, const char *key_type)
{
	struct domainca_files f;
	char err[256];

	memset(ca, 0, sizeof(*ca));
	snprintf(ca->dir, sizeof(ca->dir), "/tmp/%s.XXXXXX", name);
	assert_non_null(mkdtemp(ca->dir));
	if (domainca_create(ca->dir, "example.test", "127.0.0.1", key_type, &f, err,
	    sizeof(err)) != 0)
		fail_msg("domainca_create %s: %s", key_type ? key_type : "p256", err);
	ca->cert = pki_cert_read(f.ca_cert, err, sizeof(err));
	ca->key = pki_key_read(f.ca_key, err, sizeof(err));
	assert_non_null(ca->cert);
	assert_non_null(ca->key);
	snprintf(ca->cert_path, sizeof(ca->cert_path), "%s", f.ca_cert);
}

void
tu_ca_clear(struct tu_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	ca->cert = NULL;
	ca->key = NULL;
	if (ca->dir[0] != '\0')
		tu_rmtree(ca->dir);
	ca->dir[0] = '\0';
}
