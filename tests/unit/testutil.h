/*
 * testutil: what several unit tests share: removing a temporary tree, and a domain CA made
 * by domainca_create in a temporary directory of its own.
 */
#ifndef LATCHKEY_TESTUTIL_H
#define LATCHKEY_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "certs/labpki.h"

/* Remove dir and everything below it (nftw, depth first, no links followed). */
int	tu_rmtree(const char *dir);
/* Whether the first 32 KiB of the file at path hold needle (0 when unreadable). */
int	tu_file_contains(const char *path, const char *needle);

struct tu_ca {
	char		 dir[64];
	X509		*cert;
	EVP_PKEY	*key;
	char		 cert_path[LABPKI_PATH];
};

/* A domain CA of key_type (NULL: P-256) in a fresh /tmp/<name>.XXXXXX; fails the test else. */
void	tu_ca_init(struct tu_ca *ca, const char *name, const char *key_type);
void	tu_ca_clear(struct tu_ca *ca);	/* frees it and removes its directory */

/*
 * A registry fixture for cmocka setup/teardown: tu_reg_setup makes a fresh
 * /tmp/<name>.XXXXXX and sets *state to a struct tu_reg whose path (registry.db inside it)
 * the test opens into reg; tu_reg_teardown closes reg and removes the directory.
 *
 * With LK_TEST_PG set (a libpq conninfo string without dbname, tests/pg.sh), the registry
 * is PostgreSQL instead: each case gets a database of its own (created in setup, dropped
 * in teardown), pg is 1 and path is the conninfo string naming it. tests/run.sh runs the
 * registry's tests both ways (test_registry and test_registry_pg).
 */
struct registry;
struct tu_reg {
	char		 dir[64];
	char		 path[256];
	char		 err[256];
	struct registry	*reg;
	int		 pg;
	char		 pgdb[64];
};
int	tu_reg_setup(void **state, const char *name);
int	tu_reg_teardown(void **state);
/* Close fx->reg and remove the registry (the file and its -wal and -shm, or every table of
 * the PostgreSQL database): the next registry_open with REGISTRY_CREATE starts afresh. */
void	tu_reg_wipe(struct tu_reg *fx);
/* The PostgreSQL server of this run (LK_TEST_PG), or NULL: the tests use SQLite. */
const char *tu_pg(void);
/*
 * Raw SQL on the fixture's registry, bypassing the module (its own connection: the file,
 * or the case's PostgreSQL database). tu_raw_int: the first column of the first row, -1
 * when there is none; tu_raw_text likewise into out ("" when none). Fail the test when
 * the SQL fails.
 */
int64_t	tu_raw_int(struct tu_reg *fx, const char *sql);
void	tu_raw_text(struct tu_reg *fx, const char *sql, char *out, size_t outlen);
void	tu_raw_exec(struct tu_reg *fx, const char *sql);

#endif
