/*
 * revoked_db: the Kea hook's read-only view of the registry (the only file of the hook that
 * wraps SQLite and libpq). It runs the same query as registry_revoked_netids_foreach() in
 * enroll/store/registry.c: the network identifiers of devices with a revoked binding and no
 * active one. The hook never writes and never runs this per packet: revoked.c calls it
 * when the registry changed.
 *
 * The registry is an SQLite file (the hook watches its files) or a PostgreSQL database (the
 * same rule as registry_open(): a postgresql:// or postgres:// URI, or a conninfo string
 * with '='), whose changes the hook learns by LISTEN on REVOKED_DB_CHANNEL (the registry's
 * triggers NOTIFY at each commit that can change a snapshot: registry.h).
 */
#ifndef LATCHKEY_REVOKED_DB_H
#define LATCHKEY_REVOKED_DB_H

#include <stddef.h>

#include "dhcp-hook/revoked.h"

/* The query, shared with enroll/store/registry.c's registry_revoked_netids_foreach() by value
 * (kept identical; tests/unit/test_revoked.c checks both against one registry). */
#define REVOKED_DB_QUERY \
	"SELECT n.kind, n.value FROM netids n " \
	"WHERE EXISTS (SELECT 1 FROM bindings b WHERE b.serial = n.serial " \
	"AND b.state = 'revoked') " \
	"AND NOT EXISTS (SELECT 1 FROM bindings b WHERE b.serial = n.serial " \
	"AND b.state = 'active') " \
	"ORDER BY n.kind, n.value"

/* The identifiers of devices whose latest posture verdict is noncompliant (issue #20):
 * enroll/store/registry.h's REGISTRY_NONCOMPLIANT_QUERY by value (test_revoked checks). */
#define NONCOMPLIANT_DB_QUERY \
	"SELECT n.kind, n.value FROM netids n " \
	"WHERE EXISTS (SELECT 1 FROM posture p WHERE p.serial = n.serial " \
	"AND p.compliant = 0) " \
	"ORDER BY n.kind, n.value"

/* registry.h's REGISTRY_PG_CHANNEL_REVOKED, by value (tests/unit/test_revoked_pg.c checks). */
#define REVOKED_DB_CHANNEL		"latchkey_revoked"
#define REVOKED_DB_CONNECT_TIMEOUT	"5"	/* seconds, unless the conninfo says otherwise */
#define REVOKED_DB_REFRESH_MS		30000	/* PostgreSQL: reload this often regardless */

/* Whether target names a PostgreSQL registry (db_target_is_pg()'s rule). */
int	revoked_db_is_pg(const char *target);

/*
 * The target for messages, never with a password: an SQLite path as it is, PostgreSQL as
 * postgresql://user@host:port/dbname. Into buf (size len); returns buf.
 */
const char	*revoked_db_name(const char *target, char *buf, size_t len);

/*
 * A revoked_loader_fn: arg is the registry's target (const char *). SQLite: opens the file
 * read-only (never creating it), waits at most 1 s for a lock. PostgreSQL: connects
 * (connect_timeout REVOKED_DB_CONNECT_TIMEOUT, a read-only session), runs the query,
 * disconnects. Adds every identifier to b. A row the builder refuses (malformed) is
 * skipped, not fatal. -1 with err when the registry cannot be opened or reached or has no
 * netids table (schema older than 3); err names it by revoked_db_name().
 */
int	revoked_db_load(void *target, struct revoked_builder *b, char *err, size_t errlen);
/*
 * The same for the noncompliant class (NONCOMPLIANT_DB_QUERY): its own snapshot and
 * watcher, fed by the same change signals (schema v11's posture table is watched like
 * netids and bindings: the SQLite files, PostgreSQL's NOTIFY on REVOKED_DB_CHANNEL).
 * A registry without the posture table (schema older than 11, not migrated yet) has
 * nobody noncompliant: an empty set, not an error (the revoked class still works with
 * it, and the migration's write makes the watcher load again).
 */
int	revoked_db_load_noncompliant(void *target, struct revoked_builder *b, char *err,
	    size_t errlen);

/*
 * PostgreSQL change source for revoked_watch_new_source(): one connection of its own that
 * LISTENs on REVOKED_DB_CHANNEL. revoked_db_listen_new() copies conninfo and does not
 * connect yet (NULL when out of memory). revoked_db_listen_wait() is a revoked_wait_fn
 * (arg: the listener): without a connection it connects and LISTENs, and returns 1 (a
 * change may have been missed meanwhile); else it waits at most timeout_ms with poll() on
 * the socket and returns 1 when one or more notifications arrived (all consumed: a burst is
 * one change), 0 when none. -1 with err when connecting or the connection failed (it is
 * dropped; the next call connects again).
 */
struct revoked_db_listen;
struct revoked_db_listen	*revoked_db_listen_new(const char *conninfo);
void				 revoked_db_listen_free(struct revoked_db_listen *l);
int	revoked_db_listen_wait(void *l, int timeout_ms, char *err, size_t errlen);

#endif
