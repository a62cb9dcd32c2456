/*
 * revoked_db: the Kea hook's read-only view of the registry (the only file of the hook that
 * wraps SQLite). It runs the same query as registry_revoked_netids_foreach() in
 * enroll/store/registry.c: the network identifiers of devices with a revoked binding and no
 * active one. The hook never writes and never runs this per packet: revoked.c calls it
 * when the registry files changed.
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

/*
 * A revoked_loader_fn: arg is the registry's path (const char *). Opens it read-only (never
 * creating it), waits at most 1 s for a lock, adds every identifier to b, closes it.
 * A row the builder refuses (malformed) is skipped, not fatal. -1 with err when the file
 * cannot be opened or has no netids table (schema older than 3).
 */
int	revoked_db_load(void *path, struct revoked_builder *b, char *err, size_t errlen);

#endif
