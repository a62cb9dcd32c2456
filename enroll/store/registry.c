/*
 * registry: claims, bindings, issued certificates and the hash-chained audit log in one
 * SQLite file (WAL) or one PostgreSQL database, through db.h (the SQL is written once, for
 * both). See registry.h for the schema and the contract of each function.
 *
 * Every write that changes more than one row, or that appends to the audit chain, runs in
 * one write transaction (db_begin: BEGIN IMMEDIATE, or PostgreSQL's writers' advisory
 * lock): the write lock is taken before the last audit hash is read, so several processes
 * (latchkeyd, latchkeyctl) appending at once never fork the chain.
 */
#include "enroll/common/err.h"
#include "enroll/store/db.h"
#include "enroll/store/registry.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Statements cached in struct registry (the hot path and the savepoint verbs). */
enum reg_stmt {
	ST_CLAIM_EXISTS,
	ST_BINDING_GET,
	ST_BINDING_ACTIVE,
	ST_BINDING_INSERT,
	ST_CERT_INSERT,
	ST_CERT_GET,
	ST_AUDIT_LAST,
	ST_AUDIT_INSERT,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_ADMISSION,
	ST_AUDIT_HEAD,
	ST_ENROLL_PG,
	ST_COUNT
};

#define BINDING_COLS \
	"id, serial, domain, idevid_fp, authorized_by, state, created_at, revoked_at, " \
	"reason, revoked_by, anchor_fp, readmitted_at, readmitted_by, readmit_reason"
#define CERT_COLS \
	"cert_serial, binding_id, device_serial, not_before, not_after, issued_at, " \
	"revoked_at, reason, ca_kid"

/*
 * ST_ADMISSION's six columns on PostgreSQL in one pass: the device's bindings read once
 * through their serial index and folded by aggregates, where ST_ADMISSION's six subqueries
 * are six plans that the executor sets up again at each execution. The same values:
 * counts are 0 and the rest NULL when nothing matches, and "why" is the latest
 * unreadmitted revocation's. extra: more columns.
 */
#define ADMISSION_PG(extra) \
	"SELECT count(b.id) FILTER (WHERE b.state = 'active') AS n_active, " \
	"max(coalesce(b.idevid_fp, '')) FILTER (WHERE b.state = 'active') AS bound_fp, " \
	"count(b.id) FILTER (WHERE b.state = 'revoked' AND b.readmitted_at IS NULL) " \
	"  AS n_revoked, " \
	"(array_agg(coalesce(b.reason, '') ORDER BY b.id DESC) FILTER (WHERE " \
	"  b.state = 'revoked' AND b.readmitted_at IS NULL))[1] AS why, " \
	"cl.n AS n_claims, cl.fp AS claim_fp" extra " " \
	"FROM (SELECT count(*) AS n, max(coalesce(anchor_fp, '')) AS fp FROM claims " \
	"  WHERE serial = ?1) cl LEFT JOIN bindings b ON b.serial = ?1 GROUP BY cl.n, cl.fp"

static const char *const reg_stmt_sql[ST_COUNT] = {
	[ST_CLAIM_EXISTS] = "SELECT 1 FROM claims WHERE serial = ?1",
	[ST_BINDING_GET] = "SELECT " BINDING_COLS " FROM bindings WHERE serial = ?1 "
	    "ORDER BY (state = 'active') DESC, id DESC LIMIT 1",
	[ST_BINDING_ACTIVE] = "SELECT id FROM bindings WHERE serial = ?1 AND state = 'active'",
	[ST_BINDING_INSERT] = "INSERT INTO bindings (serial, domain, idevid_fp, authorized_by, "
	    "state, created_at, anchor_fp) VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6) "
	    "RETURNING id",
	[ST_CERT_INSERT] = "INSERT INTO certificates (cert_serial, binding_id, device_serial, "
	    "not_before, not_after, issued_at, der, ca_kid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_CERT_GET] = "SELECT " CERT_COLS " FROM certificates WHERE cert_serial = ?1",
	[ST_AUDIT_LAST] = "SELECT hash FROM audit ORDER BY id DESC LIMIT 1",
	[ST_AUDIT_HEAD] = "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
	[ST_AUDIT_INSERT] = "INSERT INTO audit (at, actor, action, subject, reason, details, "
	    "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_SAVEPOINT] = "SAVEPOINT one",
	[ST_RELEASE] = "RELEASE one",
	[ST_ROLLBACK_TO] = "ROLLBACK TO one",
	/* registry_admission(): what holds serial ?1, in one statement */
	[ST_ADMISSION] = "SELECT "
	    "(SELECT count(*) FROM bindings WHERE serial = ?1 AND state = 'active'), "
	    "(SELECT coalesce(idevid_fp, '') FROM bindings WHERE serial = ?1 "
	    "  AND state = 'active'), "
	    "(SELECT count(*) FROM bindings WHERE serial = ?1 AND state = 'revoked' "
	    "  AND readmitted_at IS NULL), "
	    "(SELECT coalesce(reason, '') FROM bindings WHERE serial = ?1 AND state = 'revoked' "
	    "  AND readmitted_at IS NULL ORDER BY id DESC LIMIT 1), "
	    "(SELECT count(*) FROM claims WHERE serial = ?1), "
	    "(SELECT coalesce(anchor_fp, '') FROM claims WHERE serial = ?1)",
	/*
	 * PostgreSQL's group commit (enroll_fast): one enrollment in one statement, sent in a
	 * pipeline with the batch's others. It reads ST_ADMISSION's six columns and, only when
	 * they admit the device (enroll_one's rules, which the caller applies again to the
	 * columns returned: any disagreement and the batch is redone one statement at a
	 * time), writes the binding if there is none, the certificate and the audit entry,
	 * chained to the last one and hashed as audit_hash() does. Returns the six columns,
	 * then the binding id, prev_hash and hash (NULL when nothing was written).
	 * ?1 device serial ?2 domain ?3 IDevID fingerprint (NULL: a reenroll) ?4 authorized
	 * by ?5 now ?6 anchor ?7 certificate serial ?8 not before ?9 not after ?10 DER ?11 CA
	 * key id ?12 actor ?13 action ?14 details ?15 require claim.
	 */
	[ST_ENROLL_PG] = "WITH adm AS (" ADMISSION_PG(", max(b.id) FILTER (WHERE "
	    "b.state = 'active') AS bid") "), "
	    "ok AS (SELECT bid FROM adm WHERE (?15 = 0 OR n_claims > 0) AND CASE "
	    "  WHEN ?3::text IS NULL THEN bid IS NOT NULL "
	    "  ELSE (CASE WHEN n_active > 0 THEN lower(bound_fp) = lower(?3) "
	    "    ELSE n_revoked = 0 END) "
	    "    AND (claim_fp IS NULL OR claim_fp = '' OR lower(claim_fp) = lower(?6)) END), "
	    "nb AS (INSERT INTO bindings (serial, domain, idevid_fp, authorized_by, state, "
	    "  created_at, anchor_fp) SELECT ?1, ?2, ?3, ?4, 'active', ?5, ?6 FROM ok "
	    "  WHERE ok.bid IS NULL RETURNING id), "
	    "c AS (INSERT INTO certificates (cert_serial, binding_id, device_serial, not_before, "
	    "  not_after, issued_at, der, ca_kid) SELECT ?7, coalesce((SELECT id FROM nb), ok.bid), "
	    "  ?1, ?8, ?9, ?5, ?10, ?11 FROM ok RETURNING binding_id), "
	    /* read once: inlined, each use of h would look the head up again */
	    "prev AS MATERIALIZED (SELECT coalesce((SELECT hash FROM audit ORDER BY id DESC "
	    "  LIMIT 1), '') AS h), "
	    "a AS (INSERT INTO audit (at, actor, action, subject, reason, details, prev_hash, hash) "
	    "  SELECT ?5, ?12, ?13, ?1, NULL, ?14, prev.h, encode(sha256(convert_to(concat_ws("
	    "  chr(31), prev.h, ?5::text, ?12, ?13, ?1, '', coalesce(?14, '')), "
	    "  pg_client_encoding())), 'hex') FROM prev WHERE EXISTS (SELECT 1 FROM c) "
	    "  RETURNING prev_hash, hash) "
	    "SELECT n_active, bound_fp, n_revoked, why, n_claims, claim_fp, "
	    "(SELECT binding_id FROM c), (SELECT prev_hash FROM a), (SELECT hash FROM a) FROM adm",
};

/* A statement's text on PostgreSQL where it differs: the same columns, another plan. */
static const char *const reg_stmt_sql_pg[ST_COUNT] = {
	[ST_ADMISSION] = ADMISSION_PG(""),
};

/*
 * PostgreSQL: every table's writes bump registry_meta.data_version (db_data_version), by a
 * statement-level trigger that each CREATE TABLE below adds for its table.
 */
#define PG_TOUCH(t) \
	"CREATE TRIGGER " t "_touch AFTER INSERT OR UPDATE OR DELETE ON " t \
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_touch();"

/*
 * Schema migrations, applied in order; migration i brings the schema version from i to
 * i + 1 (SQLite: PRAGMA user_version; PostgreSQL: registry_meta.schema_version). Never edit
 * a released entry: append a new one. sql runs on both engines unless pg is set: then sql
 * is SQLite's and pg PostgreSQL's, the same schema in its dialect (INTEGER is BIGINT,
 * INTEGER PRIMARY KEY an identity column, BLOB is BYTEA, and every new table gets its
 * PG_TOUCH). Both columns move together: a migration is one entry.
 */
static const struct reg_migration {
	const char	*sql;
	const char	*pg;
} reg_migrations[] = {
	/* v1 */
	{ "CREATE TABLE claims ("
	"  serial TEXT PRIMARY KEY NOT NULL,"
	"  claimed_at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL);"
	"CREATE TABLE bindings ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  domain TEXT NOT NULL DEFAULT '',"
	"  idevid_fp TEXT,"
	"  authorized_by TEXT NOT NULL DEFAULT '',"
	"  state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),"
	"  created_at INTEGER NOT NULL,"
	"  revoked_at INTEGER,"
	"  reason TEXT,"
	"  revoked_by TEXT);"
	"CREATE UNIQUE INDEX bindings_one_active ON bindings(serial) WHERE state = 'active';"
	"CREATE INDEX bindings_serial_state ON bindings(serial, state);"
	"CREATE TABLE certificates ("
	"  cert_serial TEXT PRIMARY KEY NOT NULL,"
	"  binding_id INTEGER NOT NULL REFERENCES bindings(id),"
	"  device_serial TEXT NOT NULL,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  issued_at INTEGER NOT NULL,"
	"  der BLOB NOT NULL,"
	"  revoked_at INTEGER,"
	"  reason TEXT);"
	"CREATE INDEX certificates_binding ON certificates(binding_id);"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  subject TEXT,"
	"  reason TEXT,"
	"  details TEXT,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL);",
	/*
	 * PostgreSQL: registry_meta holds what SQLite keeps in its header (schema version,
	 * data version); certificates.rowid stands for SQLite's implicit rowid (insertion
	 * order, which supersession compares).
	 */
	"CREATE TABLE registry_meta ("
	"  one INTEGER PRIMARY KEY CHECK (one = 1),"
	"  schema_version INTEGER NOT NULL,"
	"  data_version BIGINT NOT NULL);"
	"INSERT INTO registry_meta VALUES (1, 0, 0);"
	"CREATE FUNCTION registry_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
	"  UPDATE registry_meta SET data_version = data_version + 1; RETURN NULL; END $$;"
	"CREATE TABLE claims ("
	"  serial TEXT PRIMARY KEY NOT NULL,"
	"  claimed_at BIGINT NOT NULL,"
	"  actor TEXT NOT NULL);"
	PG_TOUCH("claims")
	"CREATE TABLE bindings ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  domain TEXT NOT NULL DEFAULT '',"
	"  idevid_fp TEXT,"
	"  authorized_by TEXT NOT NULL DEFAULT '',"
	"  state TEXT NOT NULL CHECK (state IN ('active', 'revoked')),"
	"  created_at BIGINT NOT NULL,"
	"  revoked_at BIGINT,"
	"  reason TEXT,"
	"  revoked_by TEXT);"
	PG_TOUCH("bindings")
	"CREATE UNIQUE INDEX bindings_one_active ON bindings(serial) WHERE state = 'active';"
	"CREATE INDEX bindings_serial_state ON bindings(serial, state);"
	"CREATE TABLE certificates ("
	"  cert_serial TEXT PRIMARY KEY NOT NULL,"
	"  rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,"
	"  binding_id BIGINT NOT NULL REFERENCES bindings(id),"
	"  device_serial TEXT NOT NULL,"
	"  not_before BIGINT NOT NULL,"
	"  not_after BIGINT NOT NULL,"
	"  issued_at BIGINT NOT NULL,"
	"  der BYTEA NOT NULL,"
	"  revoked_at BIGINT,"
	"  reason TEXT);"
	PG_TOUCH("certificates")
	"CREATE INDEX certificates_binding ON certificates(binding_id);"
	"CREATE TABLE audit ("
	"  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  subject TEXT,"
	"  reason TEXT,"
	"  details TEXT,"
	"  prev_hash TEXT NOT NULL,"
	"  hash TEXT NOT NULL);"
	PG_TOUCH("audit") },
	/* v2 (brski): BRSKI vouchers relayed to devices and their status telemetry
	 * (RFC 8995 §5.7, §5.9.4). */
	{ "CREATE TABLE vouchers ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  masa_url TEXT NOT NULL DEFAULT '',"
	"  nonce TEXT,"
	"  assertion TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  expires_on INTEGER,"
	"  pinned_fp TEXT,"
	"  der BLOB NOT NULL,"
	"  voucher_status TEXT,"
	"  voucher_reason TEXT,"
	"  enroll_status TEXT,"
	"  enroll_reason TEXT,"
	"  status_at INTEGER);"
	"CREATE INDEX vouchers_serial ON vouchers(serial, id);",
	"CREATE TABLE vouchers ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  masa_url TEXT NOT NULL DEFAULT '',"
	"  nonce TEXT,"
	"  assertion TEXT,"
	"  created_at BIGINT NOT NULL,"
	"  expires_on BIGINT,"
	"  pinned_fp TEXT,"
	"  der BYTEA NOT NULL,"
	"  voucher_status TEXT,"
	"  voucher_reason TEXT,"
	"  enroll_status TEXT,"
	"  enroll_reason TEXT,"
	"  status_at BIGINT);"
	PG_TOUCH("vouchers")
	"CREATE INDEX vouchers_serial ON vouchers(serial, id);" },
	/* v3 (kea): network identifiers devices report after enrollment, so the Kea hook can
	 * put revoked devices into its class. One row per identifier: the last reporter wins. */
	{ "CREATE TABLE netids ("
	"  serial TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('mac', 'client-id', 'duid')),"
	"  value TEXT NOT NULL,"	/* lower-case hex, no separators */
	"  reported_at INTEGER NOT NULL,"
	"  PRIMARY KEY (kind, value));"
	"CREATE INDEX netids_serial ON netids(serial);",
	"CREATE TABLE netids ("
	"  serial TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('mac', 'client-id', 'duid')),"
	"  value TEXT NOT NULL,"
	"  reported_at BIGINT NOT NULL,"
	"  PRIMARY KEY (kind, value));"
	PG_TOUCH("netids")
	"CREATE INDEX netids_serial ON netids(serial);" },
	/* v4: the revoked certificates alone (CRL, its change check), not a scan of all. */
	{ "CREATE INDEX certificates_revoked ON certificates(revoked_at) WHERE revoked_at > 0;",
	    NULL },
#define V5_READMITTED \
	"UPDATE bindings SET readmitted_at = (SELECT min(n.created_at) FROM bindings n " \
	"  WHERE n.serial = bindings.serial AND n.id > bindings.id), " \
	"  readmitted_by = 'schema-v5', readmit_reason = 'enrolled again before schema v5' " \
	"WHERE state = 'revoked' AND EXISTS (SELECT 1 FROM bindings n " \
	"  WHERE n.serial = bindings.serial AND n.id > bindings.id);"
	/* v5 (trust model): a binding belongs to one (manufacturer anchor, IDevID); a claim
	 * may name the manufacturer; a revoked binding holds its serial until an admin
	 * re-admits it. A revoked binding that a later one followed was re-admitted by the
	 * claim of the time: recorded as such, so the devices enrolled again keep working. */
	{ "ALTER TABLE bindings ADD COLUMN anchor_fp TEXT;"
	"ALTER TABLE bindings ADD COLUMN readmitted_at INTEGER;"
	"ALTER TABLE bindings ADD COLUMN readmitted_by TEXT;"
	"ALTER TABLE bindings ADD COLUMN readmit_reason TEXT;"
	"ALTER TABLE claims ADD COLUMN anchor_fp TEXT;"
	V5_READMITTED,
	"ALTER TABLE bindings ADD COLUMN anchor_fp TEXT;"
	"ALTER TABLE bindings ADD COLUMN readmitted_at BIGINT;"
	"ALTER TABLE bindings ADD COLUMN readmitted_by TEXT;"
	"ALTER TABLE bindings ADD COLUMN readmit_reason TEXT;"
	"ALTER TABLE claims ADD COLUMN anchor_fp TEXT;"
	V5_READMITTED },
	/* v6 (trust model): signed checkpoints of the audit chain's head (registry.h). */
	{ "CREATE TABLE audit_checkpoints ("
	"  id INTEGER PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  head TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  sig BLOB NOT NULL);",
	"CREATE TABLE audit_checkpoints ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  seq BIGINT NOT NULL,"
	"  head TEXT NOT NULL,"
	"  at BIGINT NOT NULL,"
	"  domain TEXT NOT NULL,"
	"  sig BYTEA NOT NULL);"
	PG_TOUCH("audit_checkpoints") },
	/* v7 (approvals): authenticated devices nothing admits, waiting for an administrator
	 * (latchkeyd's pending = yes; registry.h, Pending approvals). */
	{ "CREATE TABLE pending ("
	"  serial TEXT PRIMARY KEY NOT NULL,"
	"  anchor_fp TEXT NOT NULL,"
	"  anchor_name TEXT NOT NULL DEFAULT '',"
	"  idevid_fp TEXT NOT NULL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL,"
	"  peer TEXT NOT NULL DEFAULT '',"
	"  attempts INTEGER NOT NULL DEFAULT 1,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'denied')),"
	"  decided_at INTEGER,"
	"  decided_by TEXT,"
	"  reason TEXT);",
	"CREATE TABLE pending ("
	"  serial TEXT PRIMARY KEY NOT NULL,"
	"  anchor_fp TEXT NOT NULL,"
	"  anchor_name TEXT NOT NULL DEFAULT '',"
	"  idevid_fp TEXT NOT NULL,"
	"  first_seen BIGINT NOT NULL,"
	"  last_seen BIGINT NOT NULL,"
	"  peer TEXT NOT NULL DEFAULT '',"
	"  attempts BIGINT NOT NULL DEFAULT 1,"
	"  state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'denied')),"
	"  decided_at BIGINT,"
	"  decided_by TEXT,"
	"  reason TEXT);"
	PG_TOUCH("pending") },
	/* v8 (CA rollover): which domain CA issued a certificate (the key identifier, lower-case
	 * hex), so each CA's CRL lists its own; NULL for those issued before, which
	 * latchkeyctl ca-rollover marks as the outgoing CA's. */
	{ "ALTER TABLE certificates ADD COLUMN ca_kid TEXT;", NULL },
	/* v9 (Kea on its own host): PostgreSQL tells listeners on REGISTRY_PG_CHANNEL_REVOKED
	 * that bindings or netids changed (what the Kea hook's revoked snapshot is made of);
	 * a statement-level trigger, delivered at commit, so nobody sees an uncommitted state.
	 * SQLite has no such thing (the hook watches its files): a no-op there. Replayable
	 * (a registry downgraded by hand in the tests migrates again). */
	{ "SELECT 1;",
	"CREATE OR REPLACE FUNCTION registry_notify_revoked() RETURNS trigger "
	"LANGUAGE plpgsql AS $$ "
	"BEGIN PERFORM pg_notify('" REGISTRY_PG_CHANNEL_REVOKED "', ''); RETURN NULL; END $$;"
	"DROP TRIGGER IF EXISTS bindings_notify ON bindings;"
	"DROP TRIGGER IF EXISTS netids_notify ON netids;"
	"CREATE TRIGGER bindings_notify AFTER INSERT OR UPDATE OR DELETE ON bindings"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_notify_revoked();"
	"CREATE TRIGGER netids_notify AFTER INSERT OR UPDATE OR DELETE ON netids"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_notify_revoked();" },
	/* v10 (several registrars): every table's writes tell listeners on
	 * REGISTRY_PG_CHANNEL_CHANGED, at commit, instead of bumping registry_meta.data_version
	 * (a row every writer had to update): registry_data_version() counts notifications,
	 * and no cache polls a table. registry_meta.data_version stays, unused. SQLite: a
	 * no-op (PRAGMA data_version). */
	{ "SELECT 1;",
	"CREATE OR REPLACE FUNCTION registry_touch() RETURNS trigger LANGUAGE plpgsql AS $$ "
	"BEGIN PERFORM pg_notify('" DB_PG_CHANNEL_CHANGED "', ''); RETURN NULL; END $$;" },
	/* v11 (posture, issue #20): every signed report with its verdict, and each device's
	 * latest verdict, which the Kea hook's noncompliant class reads (so PostgreSQL's
	 * posture writes also NOTIFY the hook's channel, as v9 does for bindings). Replayable,
	 * as v9 (a registry downgraded by hand in the tests migrates again). */
	{ "CREATE TABLE IF NOT EXISTS posture_reports ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  ldevid_serial TEXT NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  report_time INTEGER NOT NULL,"
	"  cms BLOB NOT NULL,"
	"  report TEXT NOT NULL,"
	"  compliant INTEGER NOT NULL,"
	"  reasons TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS posture_reports_serial ON posture_reports(serial, id);"
	"CREATE TABLE IF NOT EXISTS posture ("
	"  serial TEXT PRIMARY KEY NOT NULL,"
	"  report_id INTEGER NOT NULL,"
	"  compliant INTEGER NOT NULL,"
	"  evaluated_at INTEGER NOT NULL);",
	"CREATE TABLE IF NOT EXISTS posture_reports ("
	"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	"  serial TEXT NOT NULL,"
	"  ldevid_serial TEXT NOT NULL,"
	"  received_at BIGINT NOT NULL,"
	"  report_time BIGINT NOT NULL,"
	"  cms BYTEA NOT NULL,"
	"  report TEXT NOT NULL,"
	"  compliant BIGINT NOT NULL,"
	"  reasons TEXT NOT NULL);"
	"DROP TRIGGER IF EXISTS posture_reports_touch ON posture_reports;"
	PG_TOUCH("posture_reports")
	"CREATE INDEX IF NOT EXISTS posture_reports_serial ON posture_reports(serial, id);"
	"CREATE TABLE IF NOT EXISTS posture ("
	"  serial TEXT PRIMARY KEY NOT NULL,"
	"  report_id BIGINT NOT NULL,"
	"  compliant BIGINT NOT NULL,"
	"  evaluated_at BIGINT NOT NULL);"
	"DROP TRIGGER IF EXISTS posture_touch ON posture;"
	"DROP TRIGGER IF EXISTS posture_notify ON posture;"
	PG_TOUCH("posture")
	"CREATE TRIGGER posture_notify AFTER INSERT OR UPDATE OR DELETE ON posture"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_notify_revoked();" },
	/*
	 * v12 (#18, the hook under enrollment load): the hook's channel only for writes that
	 * can change one of its snapshots (REVOKED_DB_QUERY, NONCOMPLIANT_DB_QUERY). v9 and
	 * v11 notified at every statement on bindings, netids or posture, and every group
	 * commit runs an INSERT on bindings (of no row when the binding exists): each Kea
	 * server reloaded both snapshots at every commit of every registrar. Now:
	 *   bindings INSERT, per row: a binding not active, or one for a device with a
	 *	revoked binding (it leaves the revoked set); UPDATE and DELETE (revoke, readmit,
	 *	an administrator's edit): every statement, as before;
	 *   netids INSERT, per row: the device is in a snapshot (revoked with no active
	 *	binding, or noncompliant); UPDATE, per row: the row moved (a report only
	 *	refreshes reported_at) and its old or new device is in one; DELETE: every
	 *	statement;
	 *   posture INSERT, per row: noncompliant; UPDATE, per row: the verdict changed (or a
	 *	noncompliant row moved); DELETE: every statement.
	 * Replayable, as v9 (a registry downgraded by hand in the tests migrates again).
	 */
	{ "SELECT 1;",
	"CREATE OR REPLACE FUNCTION registry_hook_member(s TEXT) RETURNS boolean "
	"LANGUAGE sql STABLE AS $$ SELECT "
	"(EXISTS (SELECT 1 FROM bindings WHERE serial = s AND state = 'revoked') "
	"AND NOT EXISTS (SELECT 1 FROM bindings WHERE serial = s AND state = 'active')) "
	"OR EXISTS (SELECT 1 FROM posture WHERE serial = s AND compliant = 0) $$;"
	"CREATE OR REPLACE FUNCTION registry_notify_binding_insert() RETURNS trigger "
	"LANGUAGE plpgsql AS $$ BEGIN "
	"IF NEW.state <> 'active' OR EXISTS (SELECT 1 FROM bindings "
	"  WHERE serial = NEW.serial AND state = 'revoked') THEN "
	"  PERFORM pg_notify('" REGISTRY_PG_CHANNEL_REVOKED "', ''); END IF; "
	"RETURN NULL; END $$;"
	"CREATE OR REPLACE FUNCTION registry_notify_netid() RETURNS trigger "
	"LANGUAGE plpgsql AS $$ BEGIN "
	"IF (TG_OP = 'INSERT' AND registry_hook_member(NEW.serial)) OR (TG_OP = 'UPDATE' "
	"  AND (OLD.serial, OLD.kind, OLD.value) IS DISTINCT FROM (NEW.serial, NEW.kind, "
	"  NEW.value) AND (registry_hook_member(OLD.serial) OR "
	"  registry_hook_member(NEW.serial))) THEN "
	"  PERFORM pg_notify('" REGISTRY_PG_CHANNEL_REVOKED "', ''); END IF; "
	"RETURN NULL; END $$;"
	"DROP TRIGGER IF EXISTS bindings_notify ON bindings;"
	"DROP TRIGGER IF EXISTS bindings_notify_insert ON bindings;"
	"CREATE TRIGGER bindings_notify AFTER UPDATE OR DELETE ON bindings"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_notify_revoked();"
	"CREATE TRIGGER bindings_notify_insert AFTER INSERT ON bindings"
	" FOR EACH ROW EXECUTE FUNCTION registry_notify_binding_insert();"
	"DROP TRIGGER IF EXISTS netids_notify ON netids;"
	"DROP TRIGGER IF EXISTS netids_notify_row ON netids;"
	"CREATE TRIGGER netids_notify AFTER DELETE ON netids"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_notify_revoked();"
	"CREATE TRIGGER netids_notify_row AFTER INSERT OR UPDATE ON netids"
	" FOR EACH ROW EXECUTE FUNCTION registry_notify_netid();"
	"DROP TRIGGER IF EXISTS posture_notify ON posture;"
	"DROP TRIGGER IF EXISTS posture_notify_insert ON posture;"
	"DROP TRIGGER IF EXISTS posture_notify_update ON posture;"
	"CREATE TRIGGER posture_notify AFTER DELETE ON posture"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_notify_revoked();"
	"CREATE TRIGGER posture_notify_insert AFTER INSERT ON posture FOR EACH ROW"
	" WHEN (NEW.compliant = 0) EXECUTE FUNCTION registry_notify_revoked();"
	"CREATE TRIGGER posture_notify_update AFTER UPDATE ON posture FOR EACH ROW"
	" WHEN (OLD.compliant IS DISTINCT FROM NEW.compliant OR (NEW.compliant = 0 AND"
	" OLD.serial IS DISTINCT FROM NEW.serial)) EXECUTE FUNCTION registry_notify_revoked();" },
	/*
	 * v13 (#18): an enrollment's own inserts no longer notify REGISTRY_PG_CHANNEL_CHANGED.
	 * Its one reader is the CRL refresh (registry_data_version), and a new binding, a
	 * new unrevoked certificate or an audit entry changes no CRL; every worker of every
	 * registrar LISTENs, so each group commit woke them all and cost the server ~12 % of
	 * its CPU per enrollment. bindings and audit: UPDATE and DELETE only; certificates:
	 * UPDATE and DELETE, and an INSERT of a certificate already revoked (per row). Every
	 * other table, and every other write, notifies as before. Replayable.
	 */
	{ "SELECT 1;",
	"DROP TRIGGER IF EXISTS bindings_touch ON bindings;"
	"CREATE TRIGGER bindings_touch AFTER UPDATE OR DELETE ON bindings"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_touch();"
	"DROP TRIGGER IF EXISTS audit_touch ON audit;"
	"CREATE TRIGGER audit_touch AFTER UPDATE OR DELETE ON audit"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_touch();"
	"DROP TRIGGER IF EXISTS certificates_touch ON certificates;"
	"DROP TRIGGER IF EXISTS certificates_touch_revoked ON certificates;"
	"CREATE TRIGGER certificates_touch AFTER UPDATE OR DELETE ON certificates"
	" FOR EACH STATEMENT EXECUTE FUNCTION registry_touch();"
	"CREATE TRIGGER certificates_touch_revoked AFTER INSERT ON certificates FOR EACH ROW"
	" WHEN (NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION registry_touch();" },
};
#define REG_SCHEMA_VERSION ((int)(sizeof(reg_migrations) / sizeof(reg_migrations[0])))

struct registry {
	struct db	*db;
	int		 flags;
	struct db_stmt	*st[ST_COUNT];
	char		 path[4096];
};

int
registry_is_pg(const char *path)
{
	return db_target_is_pg(path);
}

int
registry_writable(struct registry *reg, char *err, size_t errlen)
{
	char dir[sizeof(reg->path)], *slash;

	if (db_readonly(reg->db)) {
		errf(err, errlen, "registry %s is open read-only", reg->path);
		return -1;
	}
	/* PostgreSQL: the server decides, per statement; nothing to look at here. */
	if (db_kind(reg->db) == DB_PG)
		return 0;
	if (faccessat(AT_FDCWD, reg->path, W_OK, AT_EACCESS) == -1) {
		errf(err, errlen, "registry %s is not writable: %s", reg->path, strerror(errno));
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", reg->path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == -1) {
		errf(err, errlen, "the registry's directory %s is not writable: %s", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* err = "registry: <what>: <database's message>" */
static void
reg_dberr(struct registry *reg, char *err, size_t errlen, const char *what)
{
	errf(err, errlen, "registry: %s: %s", what, db_errmsg(reg->db));
}

static void
copy_str(char *dst, size_t dstlen, const char *src)
{
	snprintf(dst, dstlen, "%s", src != NULL ? src : "");
}

static void
copy_col(struct db_stmt *st, int col, char *dst, size_t dstlen)
{
	copy_str(dst, dstlen, db_column_text(st, col));
}

/* Reject a missing or oversized string argument (it would not round-trip). */
static int
check_arg(const char *name, const char *s, size_t max, char *err, size_t errlen)
{
	if (s == NULL || *s == '\0') {
		errf(err, errlen, "registry: %s is empty", name);
		return -1;
	}
	if (strlen(s) >= max) {
		errf(err, errlen, "registry: %s longer than %zu bytes", name, max - 1);
		return -1;
	}
	return 0;
}

/* The cached statement idx, prepared on first use and reset before it is returned. */
static struct db_stmt *
reg_stmt(struct registry *reg, enum reg_stmt idx, char *err, size_t errlen)
{
	struct db_stmt *st = reg->st[idx];
	const char *sql = reg_stmt_sql[idx];

	if (st == NULL) {
		if (db_kind(reg->db) == DB_PG && reg_stmt_sql_pg[idx] != NULL)
			sql = reg_stmt_sql_pg[idx];
		if (db_prepare(reg->db, sql, &st) != 0) {
			reg_dberr(reg, err, errlen, "prepare");
			return NULL;
		}
		reg->st[idx] = st;
	}
	db_reset(st);
	return st;
}

/* Run a one-row-or-none statement to completion; DB_DONE and DB_ROW are fine. */
static int
reg_exec_stmt(struct registry *reg, struct db_stmt *st, const char *what, char *err,
    size_t errlen)
{
	int rc = db_step(st);

	if (rc != DB_DONE && rc != DB_ROW) {
		reg_dberr(reg, err, errlen, what);
		db_reset(st);
		return -1;
	}
	db_reset(st);
	return 0;
}

static int
reg_begin(struct registry *reg, char *err, size_t errlen)
{
	if (db_begin(reg->db) == -1) {
		reg_dberr(reg, err, errlen, "begin transaction");
		return -1;
	}
	return 0;
}

static int
reg_commit(struct registry *reg, char *err, size_t errlen)
{
	if (db_commit(reg->db) == -1) {
		reg_dberr(reg, err, errlen, "commit");
		return -1;
	}
	return 0;
}

/* Roll back if a transaction is open; keeps the first error message. */
static void
reg_rollback(struct registry *reg)
{
	db_rollback(reg->db);
}

static int
reg_writable(struct registry *reg, char *err, size_t errlen)
{
	if (reg->flags & REGISTRY_RDONLY) {
		errf(err, errlen, "registry: %s: opened read-only", reg->path);
		return -1;
	}
	return 0;
}

static int
reg_user_version(struct registry *reg, int *version, char *err, size_t errlen)
{
	if (db_schema_version(reg->db, version) == -1) {
		errf(err, errlen, "registry: %s: %s", reg->path, db_errmsg(reg->db));
		return -1;
	}
	return 0;
}

/* Apply the migrations after version, each in its own transaction with its version. */
static int
reg_migrate(struct registry *reg, int version, char *err, size_t errlen)
{
	const struct reg_migration *m;
	int v;

	for (v = version; v < REG_SCHEMA_VERSION; v++) {
		if (db_begin(reg->db) == -1)
			goto err;
		/* Another process may have migrated while we waited for the lock. */
		if (reg_user_version(reg, &version, err, errlen) == -1) {
			reg_rollback(reg);
			return -1;
		}
		if (version > v) {
			db_commit(reg->db);
			v = version - 1;
			continue;
		}
		m = &reg_migrations[v];
		if (db_exec(reg->db, db_kind(reg->db) == DB_PG && m->pg != NULL ? m->pg :
		    m->sql) == -1 || db_set_schema_version(reg->db, v + 1) == -1 ||
		    db_commit(reg->db) == -1)
			goto err;
	}
	return 0;
err:
	errf(err, errlen, "registry: %s: schema migration to version %d: %s", reg->path,
	    v + 1, db_errmsg(reg->db));
	reg_rollback(reg);
	return -1;
}

struct registry *
registry_open(const char *path, int flags, char *err, size_t errlen)
{
	struct registry *reg = NULL;
	int version;

	if (path == NULL || *path == '\0') {
		errf(err, errlen, "registry: no database path");
		return NULL;
	}
	if ((flags & REGISTRY_RDONLY) && (flags & REGISTRY_CREATE)) {
		errf(err, errlen, "registry: %s: cannot create a read-only registry",
		    db_target_is_pg(path) ? "postgresql" : path);
		return NULL;
	}
	if ((reg = calloc(1, sizeof(*reg))) == NULL) {
		errf(err, errlen, "registry: out of memory");
		return NULL;
	}
	reg->flags = flags;
	if (strlen(path) >= sizeof(reg->path)) {
		errf(err, errlen, "registry: database path too long");
		goto err;
	}
	if ((reg->db = db_open(path, flags, err, errlen)) == NULL)
		goto err;
	/* From here on, messages name db_name(): a PostgreSQL password stays out of them. */
	copy_str(reg->path, sizeof(reg->path), db_name(reg->db));

	if (reg_user_version(reg, &version, err, errlen) == -1)
		goto err;
	if (version > REG_SCHEMA_VERSION) {
		errf(err, errlen, "registry: %s: schema version %d is newer than this "
		    "program's %d", reg->path, version, REG_SCHEMA_VERSION);
		goto err;
	}
	/*
	 * PostgreSQL: the database is the administrator's to create (createdb), so a typo
	 * cannot make a new registry; an empty one gets the schema on a read-write open.
	 */
	if (db_kind(reg->db) == DB_PG && !(flags & REGISTRY_RDONLY))
		flags |= REGISTRY_CREATE;
	if (version == 0 && !(flags & REGISTRY_CREATE)) {
		errf(err, errlen, "registry: %s: not a latchkey registry (no schema)", reg->path);
		goto err;
	}
	if (version < REG_SCHEMA_VERSION) {
		if (flags & REGISTRY_RDONLY) {
			errf(err, errlen, "registry: %s: schema version %d needs migration to "
			    "%d; open it read-write once", reg->path, version,
			    REG_SCHEMA_VERSION);
			goto err;
		}
		if (reg_migrate(reg, version, err, errlen) == -1)
			goto err;
	}
	return reg;
err:
	registry_close(reg);
	return NULL;
}

void
registry_close(struct registry *reg)
{
	int i;

	if (reg == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		db_finalize(reg->st[i]);
	db_close(reg->db);
	free(reg);
}

/*
 * hex SHA-256 over prev_hash 0x1f at 0x1f actor 0x1f action 0x1f subject 0x1f reason 0x1f
 * details, NULL fields hashed as empty strings. out has REGISTRY_HASH_HEX bytes.
 */
static int
audit_hash(const char *prev, int64_t at, const char *actor, const char *action,
    const char *subject, const char *reason, const char *details, char *out)
{
	static const char hexd[] = "0123456789abcdef";
	const char *fields[7];
	char atbuf[32];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	int ok = 1;

	snprintf(atbuf, sizeof(atbuf), "%" PRId64, at);
	fields[0] = prev;
	fields[1] = atbuf;
	fields[2] = actor;
	fields[3] = action;
	fields[4] = subject;
	fields[5] = reason;
	fields[6] = details;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		ok = 0;
	for (i = 0; ok && i < 7; i++) {
		const char *f = fields[i] != NULL ? fields[i] : "";

		if (i > 0 && EVP_DigestUpdate(ctx, "\x1f", 1) != 1)
			ok = 0;
		if (ok && EVP_DigestUpdate(ctx, f, strlen(f)) != 1)
			ok = 0;
	}
	if (ok && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		ok = 0;
	EVP_MD_CTX_free(ctx);
	if (!ok || mdlen != 32)
		return -1;
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hexd[md[i] >> 4];
		out[2 * i + 1] = hexd[md[i] & 0xf];
	}
	out[2 * mdlen] = '\0';
	return 0;
}

static void
bind_text(struct db_stmt *st, int idx, const char *s)
{
	db_bind_text(st, idx, s);
}

/* Append one audit row; the caller holds the write transaction (BEGIN IMMEDIATE). */
static int
audit_append_locked(struct registry *reg, int64_t at, const char *actor, const char *action,
    const char *subject, const char *reason, const char *details, char *err, size_t errlen)
{
	struct db_stmt *st;
	char prev[REGISTRY_HASH_HEX], hash[REGISTRY_HASH_HEX];
	int rc;

	if ((st = reg_stmt(reg, ST_AUDIT_LAST, err, errlen)) == NULL)
		return -1;
	rc = db_step(st);
	if (rc == DB_ROW)
		copy_col(st, 0, prev, sizeof(prev));
	else if (rc == DB_DONE)
		prev[0] = '\0';
	else {
		reg_dberr(reg, err, errlen, "read last audit entry");
		db_reset(st);
		return -1;
	}
	db_reset(st);

	if (audit_hash(prev, at, actor, action, subject, reason, details, hash) == -1) {
		errf(err, errlen, "registry: audit hash: SHA-256 failed");
		return -1;
	}
	if ((st = reg_stmt(reg, ST_AUDIT_INSERT, err, errlen)) == NULL)
		return -1;
	db_bind_int64(st, 1, at);
	bind_text(st, 2, actor);
	bind_text(st, 3, action);
	bind_text(st, 4, subject);
	bind_text(st, 5, reason);
	bind_text(st, 6, details);
	bind_text(st, 7, prev);
	bind_text(st, 8, hash);
	return reg_exec_stmt(reg, st, "append audit entry", err, errlen);
}

int
registry_audit(struct registry *reg, const char *actor, const char *action,
    const char *subject, const char *reason, const char *details, char *err, size_t errlen)
{
	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("audit actor", actor, 1024, err, errlen) == -1 ||
	    check_arg("audit action", action, 64, err, errlen) == -1)
		return -1;
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if (audit_append_locked(reg, time(NULL), actor, action, subject, reason, details, err,
	    errlen) == -1 || reg_commit(reg, err, errlen) == -1) {
		reg_rollback(reg);
		return -1;
	}
	return 0;
}

/*
 * The verdict on serial from ST_ADMISSION's six columns at st's current row (and why, in
 * reason, when it refuses).
 */
static enum registry_verdict
admission_decide(struct db_stmt *st, const char *serial, const char *anchor_fp,
    const char *idevid_fp, char *reason, size_t reasonlen)
{
	const char *bound_fp, *why, *claim_fp;

	bound_fp = db_column_text(st, 1);
	why = db_column_text(st, 3);
	claim_fp = db_column_text(st, 5);
	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	if ((int)db_column_int64(st, 0) > 0) {
		if (idevid_fp != NULL && strcasecmp(bound_fp != NULL ? bound_fp : "",
		    idevid_fp) != 0) {
			errf(reason, reasonlen, "device %s is bound to another IDevID", serial);
			return REGISTRY_BOUND_ELSEWHERE;
		}
	} else if ((int)db_column_int64(st, 2) > 0) {
		errf(reason, reasonlen, "binding of %s revoked: %s", serial,
		    why != NULL && *why != '\0' ? why : "unspecified");
		return REGISTRY_REVOKED;
	}
	if ((int)db_column_int64(st, 4) == 0)
		return REGISTRY_UNCLAIMED;
	if (claim_fp != NULL && *claim_fp != '\0' && (anchor_fp == NULL ||
	    strcasecmp(claim_fp, anchor_fp) != 0)) {
		errf(reason, reasonlen, "device %s is claimed for another manufacturer", serial);
		return REGISTRY_OTHER_MAKER;
	}
	return REGISTRY_CLAIMED;
}

/*
 * What holds serial (see registry_admission). idevid_fp NULL: do not compare the active
 * binding's IDevID; anchor_fp NULL with a claim naming a manufacturer: another one.
 */
static int
admission(struct registry *reg, const char *serial, const char *anchor_fp,
    const char *idevid_fp, enum registry_verdict *verdict, char *reason, size_t reasonlen,
    char *err, size_t errlen)
{
	struct db_stmt *st;

	if ((st = reg_stmt(reg, ST_ADMISSION, err, errlen)) == NULL)
		return -1;
	bind_text(st, 1, serial);
	if (db_step(st) != DB_ROW) {
		reg_dberr(reg, err, errlen, "look up claim and bindings");
		db_reset(st);
		return -1;
	}
	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	*verdict = admission_decide(st, serial, anchor_fp, idevid_fp, reason, reasonlen);
	db_reset(st);
	return 0;
}

int
registry_admission(struct registry *reg, const char *serial, const char *anchor_fp,
    const char *idevid_fp, enum registry_verdict *verdict, char *reason, size_t reasonlen,
    char *err, size_t errlen)
{
	if (check_arg("serial", serial, 1024, err, errlen) == -1)
		return -1;
	return admission(reg, serial, anchor_fp, idevid_fp, verdict, reason, reasonlen, err,
	    errlen);
}

/* registry_admission_many on PostgreSQL: the i-th statement's row is arg's a[i]'s. */
static void
admit_row(void *arg, size_t i, struct db_stmt *st, int rc)
{
	struct registry_admit *a = &((struct registry_admit *)arg)[i];

	if (rc != DB_ROW)
		return;
	a->verdict = admission_decide(st, a->serial, a->anchor_fp, a->idevid_fp, a->reason,
	    sizeof(a->reason));
	a->read = 1;
}

int
registry_admission_many(struct registry *reg, struct registry_admit *a, size_t n,
    char *err, size_t errlen)
{
	struct db_stmt *st;
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		a[i].read = 0;
		if (check_arg("serial", a[i].serial, 1024, err, errlen) == -1)
			return -1;
	}
	if (db_kind(reg->db) != DB_PG || n < 2) {
		for (i = 0; i < n; i++) {
			if (admission(reg, a[i].serial, a[i].anchor_fp, a[i].idevid_fp,
			    &a[i].verdict, a[i].reason, sizeof(a[i].reason), err, errlen) == -1)
				return -1;
			a[i].read = 1;
		}
		return 0;
	}
	if ((st = reg_stmt(reg, ST_ADMISSION, err, errlen)) == NULL)
		return -1;
	if (db_pipeline_read(reg->db, admit_row, a) == -1) {
		reg_dberr(reg, err, errlen, "look up claims and bindings");
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		bind_text(st, 1, a[i].serial);
		rc = db_pipeline_send(st);
	}
	/* the pipeline ends whatever happened */
	if (db_pipeline_end(reg->db) == -1 || rc == -1) {
		reg_dberr(reg, err, errlen, "look up claims and bindings");
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!a[i].read) {
			errf(err, errlen, "registry: no admission row for %s", a[i].serial);
			return -1;
		}
	return 0;
}

/* A manufacturer anchor's fingerprint as stored: "sha256:" and 64 hex digits. */
static int
check_anchor(const char *anchor_fp, char *err, size_t errlen)
{
	size_t i;

	if (anchor_fp == NULL)
		return 0;
	if (strncasecmp(anchor_fp, "sha256:", 7) != 0 || strlen(anchor_fp) != 7 + 64)
		goto bad;
	for (i = 7; anchor_fp[i] != '\0'; i++)
		if (!isxdigit((unsigned char)anchor_fp[i]))
			goto bad;
	return 0;
bad:
	errf(err, errlen, "registry: manufacturer fingerprint is not sha256:<64 hex digits>");
	return -1;
}

/*
 * Claim serial (anchor_fp as registry_claim_for) inside the caller's transaction. 0 claimed
 * or its manufacturer changed (audited unless quiet), 1 nothing changed, -1 error.
 */
static int
claim_locked(struct registry *reg, const char *serial, const char *anchor_fp,
    const char *actor, int64_t now, int quiet, char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	char details[160], cur[80];
	int rc, exists;

	if (db_prepare(reg->db, "SELECT coalesce(anchor_fp, '') FROM claims WHERE "
	    "serial = ?1", &st) != 0) {
		reg_dberr(reg, err, errlen, "claim");
		return -1;
	}
	bind_text(st, 1, serial);
	rc = db_step(st);
	if (rc != DB_ROW && rc != DB_DONE) {
		reg_dberr(reg, err, errlen, "claim");
		db_finalize(st);
		return -1;
	}
	exists = rc == DB_ROW;
	cur[0] = '\0';
	if (exists)
		copy_col(st, 0, cur, sizeof(cur));
	db_finalize(st);
	st = NULL;
	if (exists && (anchor_fp == NULL || strcasecmp(cur, anchor_fp) == 0))
		return 1;
	if (db_prepare(reg->db, exists ?
	    "UPDATE claims SET anchor_fp = ?4 WHERE serial = ?1" :
	    "INSERT INTO claims (serial, claimed_at, actor, anchor_fp) VALUES (?1, ?2, ?3, ?4)", &st) != 0) {
		reg_dberr(reg, err, errlen, "claim");
		return -1;
	}
	bind_text(st, 1, serial);
	db_bind_int64(st, 2, now);
	bind_text(st, 3, actor);
	bind_text(st, 4, anchor_fp);
	rc = db_step(st);
	db_finalize(st);
	if (rc != DB_DONE) {
		reg_dberr(reg, err, errlen, "claim");
		return -1;
	}
	if (quiet)
		return 0;
	if (anchor_fp != NULL && exists)
		snprintf(details, sizeof(details), "{\"manufacturer\":\"%s\",\"was\":\"%s\"}",
		    anchor_fp, cur[0] != '\0' ? cur : "any");
	else if (anchor_fp != NULL)
		snprintf(details, sizeof(details), "{\"manufacturer\":\"%s\"}", anchor_fp);
	return audit_append_locked(reg, now, actor, "claim", serial, NULL,
	    anchor_fp != NULL ? details : NULL, err, errlen);
}

static int pending_clear_locked(struct registry *, const char *, const char *, int64_t,
    char *, size_t);

int
registry_claim_for(struct registry *reg, const char *serial, const char *anchor_fp,
    const char *actor, char *err, size_t errlen)
{
	enum registry_verdict v;
	int64_t now = time(NULL);
	char why[256];
	int rc, cleared;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("serial", serial, sizeof(((struct registry_binding *)0)->serial), err,
	    errlen) == -1 ||
	    check_arg("actor", actor, 1024, err, errlen) == -1 ||
	    check_anchor(anchor_fp, err, errlen) == -1)
		return -1;
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	/* A claim never re-admits a revoked device: registry_readmit() does, on purpose. */
	if (admission(reg, serial, anchor_fp, NULL, &v, why, sizeof(why), err, errlen) == -1)
		goto err;
	if (v == REGISTRY_REVOKED) {
		reg_rollback(reg);
		errf(err, errlen, "%s; a claim does not re-admit it", why);
		return 2;
	}
	if ((rc = claim_locked(reg, serial, anchor_fp, actor, now, 0, err, errlen)) == -1)
		goto err;
	/* A claim decides for an administrator: a pending or denied request goes. */
	if ((cleared = pending_clear_locked(reg, serial, actor, now, err, errlen)) == -1)
		goto err;
	if (rc == 1 && !cleared) {
		reg_rollback(reg);
		return 1;
	}
	if (reg_commit(reg, err, errlen) == -1)
		goto err;
	return rc;
err:
	reg_rollback(reg);
	return -1;
}

int
registry_claim(struct registry *reg, const char *serial, const char *actor, char *err,
    size_t errlen)
{
	return registry_claim_for(reg, serial, NULL, actor, err, errlen);
}

int
registry_readmit(struct registry *reg, const char *serial, const char *anchor_fp,
    const char *reason, const char *actor, char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	enum registry_verdict v;
	int64_t now = time(NULL);
	json_t *j = NULL;
	char *details = NULL;
	int n, claimed;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("serial", serial, sizeof(((struct registry_binding *)0)->serial), err,
	    errlen) == -1 ||
	    check_arg("actor", actor, 1024, err, errlen) == -1 ||
	    check_anchor(anchor_fp, err, errlen) == -1)
		return -1;
	if (reason != NULL && strlen(reason) >= sizeof(((struct registry_binding *)0)->
	    readmit_reason)) {
		errf(err, errlen, "registry: reason longer than %zu bytes",
		    sizeof(((struct registry_binding *)0)->readmit_reason) - 1);
		return -1;
	}
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if (admission(reg, serial, anchor_fp, NULL, &v, NULL, 0, err, errlen) == -1)
		goto err;
	if (v != REGISTRY_REVOKED) {
		reg_rollback(reg);
		return 1;
	}
	if (db_prepare(reg->db, "UPDATE bindings SET readmitted_at = ?2, "
	    "readmitted_by = ?3, readmit_reason = ?4 WHERE serial = ?1 AND state = 'revoked' "
	    "AND readmitted_at IS NULL", &st) != 0) {
		reg_dberr(reg, err, errlen, "readmit");
		goto err;
	}
	bind_text(st, 1, serial);
	db_bind_int64(st, 2, now);
	bind_text(st, 3, actor);
	bind_text(st, 4, reason);
	if (db_step(st) != DB_DONE) {
		reg_dberr(reg, err, errlen, "readmit");
		goto err;
	}
	n = db_changes(reg->db);
	db_finalize(st);
	st = NULL;
	if ((claimed = claim_locked(reg, serial, anchor_fp, actor, now, 1, err, errlen)) == -1)
		goto err;
	if ((j = json_pack("{s:i, s:b}", "bindings", n, "claimed", claimed == 0)) == NULL ||
	    (anchor_fp != NULL && json_object_set_new(j, "manufacturer",
	    json_string(anchor_fp)) == -1) ||
	    (details = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		errf(err, errlen, "registry: out of memory");
		goto err;
	}
	if (audit_append_locked(reg, now, actor, "readmit", serial, reason, details, err,
	    errlen) == -1 || reg_commit(reg, err, errlen) == -1)
		goto err;
	json_decref(j);
	free(details);
	return 0;
err:
	db_finalize(st);
	json_decref(j);
	free(details);
	reg_rollback(reg);
	return -1;
}

int
registry_unclaim(struct registry *reg, const char *serial, const char *actor, char *err,
    size_t errlen)
{
	struct db_stmt *st = NULL;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("serial", serial, 1024, err, errlen) == -1 ||
	    check_arg("actor", actor, 1024, err, errlen) == -1)
		return -1;
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if (db_prepare(reg->db, "DELETE FROM claims WHERE serial = ?1", &st) != 0) {
		reg_dberr(reg, err, errlen, "unclaim");
		goto err;
	}
	bind_text(st, 1, serial);
	if (db_step(st) != DB_DONE) {
		reg_dberr(reg, err, errlen, "unclaim");
		goto err;
	}
	db_finalize(st);
	st = NULL;
	if (db_changes(reg->db) == 0) {
		reg_rollback(reg);
		return 1;
	}
	if (audit_append_locked(reg, time(NULL), actor, "unclaim", serial, NULL, NULL, err,
	    errlen) == -1 || reg_commit(reg, err, errlen) == -1)
		goto err;
	return 0;
err:
	db_finalize(st);
	reg_rollback(reg);
	return -1;
}

int
registry_claim_exists(struct registry *reg, const char *serial, char *err, size_t errlen)
{
	struct db_stmt *st;
	int rc;

	if (check_arg("serial", serial, 1024, err, errlen) == -1)
		return -1;
	if ((st = reg_stmt(reg, ST_CLAIM_EXISTS, err, errlen)) == NULL)
		return -1;
	bind_text(st, 1, serial);
	rc = db_step(st);
	db_reset(st);
	if (rc == DB_ROW)
		return 1;
	if (rc == DB_DONE)
		return 0;
	reg_dberr(reg, err, errlen, "look up claim");
	return -1;
}

int
registry_claim_anchor(struct registry *reg, const char *serial, char *anchor_fp, size_t len,
    char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int rc;

	if (check_arg("serial", serial, 1024, err, errlen) == -1)
		return -1;
	if (db_prepare(reg->db, "SELECT coalesce(anchor_fp, '') FROM claims WHERE "
	    "serial = ?1", &st) != 0) {
		reg_dberr(reg, err, errlen, "look up claim");
		return -1;
	}
	bind_text(st, 1, serial);
	rc = db_step(st);
	if (rc == DB_ROW)
		copy_col(st, 0, anchor_fp, len);
	else if (len > 0)
		anchor_fp[0] = '\0';
	db_finalize(st);
	if (rc == DB_ROW)
		return 1;
	if (rc == DB_DONE)
		return 0;
	reg_dberr(reg, err, errlen, "look up claim");
	return -1;
}

static void
binding_from_row(struct db_stmt *st, struct registry_binding *b)
{
	memset(b, 0, sizeof(*b));
	b->id = db_column_int64(st, 0);
	copy_col(st, 1, b->serial, sizeof(b->serial));
	copy_col(st, 2, b->domain, sizeof(b->domain));
	copy_col(st, 3, b->idevid_fp, sizeof(b->idevid_fp));
	copy_col(st, 4, b->authorized_by, sizeof(b->authorized_by));
	copy_col(st, 5, b->state, sizeof(b->state));
	b->created_at = db_column_int64(st, 6);
	b->revoked_at = db_column_int64(st, 7);
	copy_col(st, 8, b->reason, sizeof(b->reason));
	copy_col(st, 9, b->revoked_by, sizeof(b->revoked_by));
	copy_col(st, 10, b->anchor_fp, sizeof(b->anchor_fp));
	b->readmitted_at = db_column_int64(st, 11);
	copy_col(st, 12, b->readmitted_by, sizeof(b->readmitted_by));
	copy_col(st, 13, b->readmit_reason, sizeof(b->readmit_reason));
}

static void
cert_from_row(struct db_stmt *st, struct registry_cert *c)
{
	memset(c, 0, sizeof(*c));
	copy_col(st, 0, c->cert_serial, sizeof(c->cert_serial));
	c->binding_id = db_column_int64(st, 1);
	copy_col(st, 2, c->device_serial, sizeof(c->device_serial));
	c->not_before = db_column_int64(st, 3);
	c->not_after = db_column_int64(st, 4);
	c->issued_at = db_column_int64(st, 5);
	c->revoked_at = db_column_int64(st, 6);
	copy_col(st, 7, c->reason, sizeof(c->reason));
	copy_col(st, 8, c->ca_kid, sizeof(c->ca_kid));
}

int
registry_binding_get(struct registry *reg, const char *serial, struct registry_binding *out,
    char *err, size_t errlen)
{
	struct db_stmt *st;
	int rc;

	if (check_arg("serial", serial, 1024, err, errlen) == -1)
		return -1;
	if ((st = reg_stmt(reg, ST_BINDING_GET, err, errlen)) == NULL)
		return -1;
	bind_text(st, 1, serial);
	rc = db_step(st);
	if (rc == DB_ROW && out != NULL)
		binding_from_row(st, out);
	db_reset(st);
	if (rc == DB_ROW)
		return 1;
	if (rc == DB_DONE)
		return 0;
	reg_dberr(reg, err, errlen, "look up binding");
	return -1;
}

/* Certificate serials are stored as uppercase hex; normalise and check one. */
static int
cert_serial_norm(const char *in, char *out, size_t outlen, char *err, size_t errlen)
{
	size_t i;

	if (check_arg("certificate serial", in, outlen, err, errlen) == -1)
		return -1;
	for (i = 0; in[i] != '\0'; i++) {
		if (!isxdigit((unsigned char)in[i])) {
			errf(err, errlen, "registry: certificate serial is not hex");
			return -1;
		}
		out[i] = (char)toupper((unsigned char)in[i]);
	}
	out[i] = '\0';
	return 0;
}

/* The id of serial's active binding: 1 found, 0 none, -1 error. Inside a transaction. */
static int
binding_active_id(struct registry *reg, const char *serial, int64_t *id, char *err,
    size_t errlen)
{
	struct db_stmt *st;
	int rc;

	if ((st = reg_stmt(reg, ST_BINDING_ACTIVE, err, errlen)) == NULL)
		return -1;
	bind_text(st, 1, serial);
	rc = db_step(st);
	if (rc == DB_ROW)
		*id = db_column_int64(st, 0);
	db_reset(st);
	if (rc == DB_ROW)
		return 1;
	if (rc == DB_DONE)
		return 0;
	reg_dberr(reg, err, errlen, "look up active binding");
	return -1;
}

/*
 * One enrollment inside the caller's transaction: binding, certificate, audit entry.
 * 0 done, 1 refused by policy (the device was revoked meanwhile), -1 error.
 */
#define CSERIAL_LEN	sizeof(((struct registry_cert *)0)->cert_serial)

/* e's arguments; cserial gets the certificate serial in upper case. 0, or -1 with err. */
static int
enroll_check(const struct registry_enrollment *e, char *cserial, char *err, size_t errlen)
{
	if (e->cert_der == NULL || e->cert_len == 0) {
		errf(err, errlen, "registry: enrollment without a certificate");
		return -1;
	}
	if (check_arg("device serial", e->device_serial,
	    sizeof(((struct registry_binding *)0)->serial), err, errlen) == -1 ||
	    check_arg("audit actor", e->actor, 1024, err, errlen) == -1 ||
	    check_arg("audit action", e->action, 64, err, errlen) == -1 ||
	    cert_serial_norm(e->cert_serial, cserial, CSERIAL_LEN, err, errlen) == -1)
		return -1;
	if (e->cert_len > INT32_MAX) {
		errf(err, errlen, "registry: certificate too large");
		return -1;
	}
	return 0;
}

/*
 * Whether a simpleenroll (IDevID) with verdict v may go on: 0, or 1 with err saying why
 * not (reason: admission_decide's).
 */
static int
enroll_refused(const struct registry_enrollment *e, enum registry_verdict v,
    const char *reason, char *err, size_t errlen)
{
	if (v == REGISTRY_REVOKED || v == REGISTRY_BOUND_ELSEWHERE || v == REGISTRY_OTHER_MAKER) {
		errf(err, errlen, "registry: %s", reason);
		return 1;
	}
	if (e->require_claim && v != REGISTRY_CLAIMED) {
		errf(err, errlen, "registry: serial %s is no longer claimed", e->device_serial);
		return 1;
	}
	return 0;
}

static int
enroll_one(struct registry *reg, const struct registry_enrollment *e, int64_t now,
    int64_t *binding_id, char *err, size_t errlen)
{
	struct db_stmt *st;
	char cserial[CSERIAL_LEN], why[256];
	enum registry_verdict v;
	int64_t bid = 0;
	int found;

	if (enroll_check(e, cserial, err, errlen) == -1)
		return -1;
	/*
	 * Checked before signing, asked again here, inside the transaction: a revocation, an
	 * unclaim or another IDevID's enrollment since then refuses it. Auto-accept
	 * (require_claim 0) too: a revoked binding holds until re-admitted.
	 */
	if (e->idevid_fp != NULL) {
		if (admission(reg, e->device_serial, e->anchor_fp, e->idevid_fp, &v, why,
		    sizeof(why), err, errlen) == -1)
			return -1;
		if (enroll_refused(e, v, why, err, errlen))
			return 1;
	} else if (e->require_claim) {
		if ((st = reg_stmt(reg, ST_CLAIM_EXISTS, err, errlen)) == NULL)
			return -1;
		bind_text(st, 1, e->device_serial);
		found = db_step(st);
		db_reset(st);
		if (found == DB_DONE) {
			errf(err, errlen, "registry: serial %s is no longer claimed",
			    e->device_serial);
			return 1;
		}
		if (found != DB_ROW) {
			reg_dberr(reg, err, errlen, "look up claim");
			return -1;
		}
	}
	if ((found = binding_active_id(reg, e->device_serial, &bid, err, errlen)) == -1)
		return -1;
	if (found == 0) {
		/* A re-enrollment (no IDevID) never creates a binding: it was revoked. */
		if (e->idevid_fp == NULL) {
			errf(err, errlen, "registry: serial %s has no active binding",
			    e->device_serial);
			return 1;
		}
		if ((st = reg_stmt(reg, ST_BINDING_INSERT, err, errlen)) == NULL)
			return -1;
		bind_text(st, 1, e->device_serial);
		bind_text(st, 2, e->domain != NULL ? e->domain : "");
		bind_text(st, 3, e->idevid_fp);
		bind_text(st, 4, e->authorized_by != NULL ? e->authorized_by : "");
		db_bind_int64(st, 5, now);
		bind_text(st, 6, e->anchor_fp);
		if (db_step(st) != DB_ROW) {
			reg_dberr(reg, err, errlen, "insert binding");
			db_reset(st);
			return -1;
		}
		bid = db_column_int64(st, 0);
		db_reset(st);
	}

	if ((st = reg_stmt(reg, ST_CERT_INSERT, err, errlen)) == NULL)
		return -1;
	bind_text(st, 1, cserial);
	db_bind_int64(st, 2, bid);
	bind_text(st, 3, e->device_serial);
	db_bind_int64(st, 4, e->not_before);
	db_bind_int64(st, 5, e->not_after);
	db_bind_int64(st, 6, now);
	db_bind_blob(st, 7, e->cert_der, e->cert_len);
	bind_text(st, 8, e->ca_kid != NULL && e->ca_kid[0] != '\0' ? e->ca_kid : NULL);
	if (db_step(st) != DB_DONE) {
		if (db_unique_violation(reg->db))
			errf(err, errlen, "registry: certificate serial %s already recorded",
			    cserial);
		else
			reg_dberr(reg, err, errlen, "insert certificate");
		db_reset(st);
		return -1;
	}
	db_reset(st);
	if (audit_append_locked(reg, now, e->actor, e->action, e->device_serial, NULL,
	    e->details, err, errlen) == -1)
		return -1;
	*binding_id = bid;
	return 0;
}

static int
reg_verb(struct registry *reg, enum reg_stmt idx, const char *what, char *err, size_t errlen)
{
	struct db_stmt *st;

	if ((st = reg_stmt(reg, idx, err, errlen)) == NULL)
		return -1;
	return reg_exec_stmt(reg, st, what, err, errlen);
}

/* enroll_fast's state: the batch, and what its statements' results showed. */
struct fast {
	struct registry_enrollment *e;
	size_t		 n;
	int64_t		 now;
	int		 redo;		/* a result disagreed with enroll_one's rules */
	int		 done;
	char		 last[REGISTRY_HASH_HEX];	/* the chain's head so far */
};

/* One ST_ENROLL_PG result (db_pipeline_cb): checked as enroll_one would decide. */
static void
fast_result(void *arg, size_t i, struct db_stmt *st, int rc)
{
	struct fast *f = arg;
	struct registry_enrollment *e;
	enum registry_verdict v;
	const char *prev, *hash;
	char why[256], want[REGISTRY_HASH_HEX];
	int refused = 0, written;

	if (i >= f->n || rc != DB_ROW) {
		f->redo = 1;		/* an error: the pipeline failed too */
		return;
	}
	e = &f->e[i];
	written = db_column_text(st, 6) != NULL;
	if (e->idevid_fp != NULL) {
		v = admission_decide(st, e->device_serial, e->anchor_fp, e->idevid_fp, why,
		    sizeof(why));
		refused = enroll_refused(e, v, why, e->err, sizeof(e->err));
	} else if (e->require_claim && db_column_int64(st, 4) == 0) {
		errf(e->err, sizeof(e->err), "registry: serial %s is no longer claimed",
		    e->device_serial);
		refused = 1;
	} else if (db_column_int64(st, 0) == 0) {
		errf(e->err, sizeof(e->err), "registry: serial %s has no active binding",
		    e->device_serial);
		refused = 1;
	}
	if (refused == written) {
		f->redo = 1;
		return;
	}
	if (refused) {
		e->refused = 1;
		return;
	}
	/* The server hashed the audit entry: it must be what audit_hash() makes of it. */
	prev = db_column_text(st, 7);
	hash = db_column_text(st, 8);
	if (prev == NULL || hash == NULL || (f->done > 0 && strcmp(prev, f->last) != 0) ||
	    audit_hash(prev, f->now, e->actor, e->action, e->device_serial, NULL, e->details,
	    want) == -1 || strcmp(want, hash) != 0) {
		f->redo = 1;
		return;
	}
	snprintf(f->last, sizeof(f->last), "%s", hash);
	e->binding_id = db_column_int64(st, 6);
	e->committed = 1;
	f->done++;
}

/*
 * registry_enroll_commit_many on PostgreSQL in two round trips whatever n is: the whole
 * batch in one pipeline (BEGIN, the writers' lock, one ST_ENROLL_PG per enrollment), then
 * COMMIT. A refused enrollment writes nothing and the next one chains to the entry before
 * it, so no savepoints are needed. Returns how many were committed (0: the transaction is
 * rolled back), -1 when the transaction failed, or -2 when enroll_one must redo the batch
 * (rolled back; an error inside, e.g. a certificate serial already recorded, or a result
 * it would have decided otherwise).
 */
static int
enroll_fast(struct registry *reg, struct registry_enrollment *e, size_t n, int64_t now,
    char *err, size_t errlen)
{
	struct fast f;
	struct db_stmt *st;
	char cserial[CSERIAL_LEN];
	size_t i;
	int rc = 0;

	for (i = 0; i < n; i++)
		if (enroll_check(&e[i], cserial, e[i].err, sizeof(e[i].err)) == -1)
			return -2;	/* enroll_one says which, one by one */
	if ((st = reg_stmt(reg, ST_ENROLL_PG, err, errlen)) == NULL)
		return -1;
	memset(&f, 0, sizeof(f));
	f.e = e;
	f.n = n;
	f.now = now;
	if (db_pipeline_begin(reg->db, fast_result, &f) == -1) {
		reg_dberr(reg, err, errlen, "begin");
		return -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		(void)enroll_check(&e[i], cserial, err, errlen);
		bind_text(st, 1, e[i].device_serial);
		bind_text(st, 2, e[i].domain != NULL ? e[i].domain : "");
		bind_text(st, 3, e[i].idevid_fp);
		bind_text(st, 4, e[i].authorized_by != NULL ? e[i].authorized_by : "");
		db_bind_int64(st, 5, now);
		bind_text(st, 6, e[i].anchor_fp);
		bind_text(st, 7, cserial);
		db_bind_int64(st, 8, e[i].not_before);
		db_bind_int64(st, 9, e[i].not_after);
		db_bind_blob(st, 10, e[i].cert_der, e[i].cert_len);
		bind_text(st, 11, e[i].ca_kid != NULL && e[i].ca_kid[0] != '\0' ?
		    e[i].ca_kid : NULL);
		bind_text(st, 12, e[i].actor);
		bind_text(st, 13, e[i].action);
		bind_text(st, 14, e[i].details);
		db_bind_int64(st, 15, e[i].require_claim != 0);
		rc = db_pipeline_send(st);
		db_reset(st);
	}
	rc = db_pipeline_end(reg->db) == -1 || rc == -1 ? -1 : 0;
	if (rc == -1 || f.redo || f.done == 0) {
		/*
		 * Nothing was committed: redone one by one (on a new connection if this one
		 * was lost; a server that is down fails there with its own error).
		 */
		reg_rollback(reg);
		return rc == -1 || f.redo ? -2 : 0;
	}
	if (reg_commit(reg, err, errlen) == -1) {
		reg_rollback(reg);
		return -1;
	}
	return f.done;
}

int
registry_enroll_commit_many(struct registry *reg, struct registry_enrollment *e, size_t n,
    char *err, size_t errlen)
{
	int64_t now = time(NULL);
	size_t i;
	int done = 0, rc;

	for (i = 0; i < n; i++) {
		e[i].committed = 0;
		e[i].refused = 0;
		e[i].binding_id = 0;
		e[i].err[0] = '\0';
	}
	if (reg_writable(reg, err, errlen) == -1)
		return -1;
	if (n == 0)
		return 0;
	if (db_kind(reg->db) == DB_PG) {
		if ((rc = enroll_fast(reg, e, n, now, err, errlen)) == -1)
			goto err;
		if (rc >= 0)
			return rc;
		for (i = 0; i < n; i++) {	/* redone one statement at a time */
			e[i].committed = 0;
			e[i].refused = 0;
			e[i].binding_id = 0;
			e[i].err[0] = '\0';
		}
	}
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (reg_verb(reg, ST_SAVEPOINT, "savepoint", err, errlen) == -1)
			goto err;
		if ((rc = enroll_one(reg, &e[i], now, &e[i].binding_id, e[i].err,
		    sizeof(e[i].err))) != 0) {
			e[i].refused = rc == 1;
			/* This one alone is undone; the others stand. */
			if (reg_verb(reg, ST_ROLLBACK_TO, "rollback to savepoint", err,
			    errlen) == -1 ||
			    reg_verb(reg, ST_RELEASE, "release savepoint", err, errlen) == -1)
				goto err;
			continue;
		}
		if (reg_verb(reg, ST_RELEASE, "release savepoint", err, errlen) == -1)
			goto err;
		e[i].committed = 1;
		done++;
	}
	if (done == 0) {
		reg_rollback(reg);
		return 0;
	}
	if (reg_commit(reg, err, errlen) == -1)
		goto err;
	return done;
err:
	reg_rollback(reg);
	for (i = 0; i < n; i++) {
		e[i].committed = 0;
		e[i].refused = 0;
		if (e[i].err[0] == '\0')
			snprintf(e[i].err, sizeof(e[i].err), "%s", err != NULL ? err : "registry");
	}
	return -1;
}

int
registry_enroll_commit(struct registry *reg, const struct registry_enrollment *e,
    int64_t *binding_id, char *err, size_t errlen)
{
	struct registry_enrollment one;

	if (e == NULL) {
		errf(err, errlen, "registry: enrollment without a certificate");
		return -1;
	}
	one = *e;
	if (registry_enroll_commit_many(reg, &one, 1, err, errlen) == -1)
		return -1;
	if (!one.committed) {
		errf(err, errlen, "%s", one.err);
		return -1;
	}
	if (binding_id != NULL)
		*binding_id = one.binding_id;
	return 0;
}

int
registry_cert_get(struct registry *reg, const char *cert_serial, struct registry_cert *out,
    char *err, size_t errlen)
{
	struct db_stmt *st;
	char cserial[sizeof(((struct registry_cert *)0)->cert_serial)];
	int rc;

	if (cert_serial_norm(cert_serial, cserial, sizeof(cserial), err, errlen) == -1)
		return -1;
	if ((st = reg_stmt(reg, ST_CERT_GET, err, errlen)) == NULL)
		return -1;
	bind_text(st, 1, cserial);
	rc = db_step(st);
	if (rc == DB_ROW && out != NULL)
		cert_from_row(st, out);
	db_reset(st);
	if (rc == DB_ROW)
		return 1;
	if (rc == DB_DONE)
		return 0;
	reg_dberr(reg, err, errlen, "look up certificate");
	return -1;
}

int
registry_cert_count(struct registry *reg, int64_t binding_id, int *n, char *err,
    size_t errlen)
{
	struct db_stmt *st = NULL;
	int rc;

	if (db_prepare(reg->db, "SELECT count(*) FROM certificates WHERE binding_id = ?1", &st) != 0) {
		reg_dberr(reg, err, errlen, "count certificates");
		return -1;
	}
	db_bind_int64(st, 1, binding_id);
	if ((rc = db_step(st)) != DB_ROW) {
		reg_dberr(reg, err, errlen, "count certificates");
		db_finalize(st);
		return -1;
	}
	*n = (int)db_column_int64(st, 0);
	db_finalize(st);
	return 0;
}

/* Hands one row of a reg_rows() walk to the caller; nonzero stops the walk. */
typedef int (*reg_row_fn)(struct db_stmt *st, void *ctx);
/* Sets the parameters of a reg_rows() statement. */
typedef void (*reg_bind_fn)(struct db_stmt *st, const void *arg);

/*
 * Prepare sql, let bind (may be NULL) set its parameters from bind_arg, then call row for
 * each result row in order. Returns 0 after the last row, the first nonzero value row
 * returned (the walk stops there; row writes err itself when it returns -1), or -1 with
 * "registry: <what>: <database's message>" in err when the database fails.
 */
static int
reg_rows(struct registry *reg, const char *sql, reg_bind_fn bind, const void *bind_arg,
    reg_row_fn row, void *ctx, const char *what, char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int rc, ret = 0;

	if (db_prepare(reg->db, sql, &st) != 0) {
		reg_dberr(reg, err, errlen, what);
		return -1;
	}
	if (bind != NULL)
		bind(st, bind_arg);
	while ((rc = db_step(st)) == DB_ROW) {
		if ((ret = row(st, ctx)) != 0)
			goto out;
	}
	if (rc != DB_DONE) {
		reg_dberr(reg, err, errlen, what);
		ret = -1;
	}
out:
	db_finalize(st);
	return ret;
}

/* ?1 = *(const int64_t *)arg */
static void
bind_int64_arg(struct db_stmt *st, const void *arg)
{
	db_bind_int64(st, 1, *(const int64_t *)arg);
}

/* The caller's callback and its argument, for the row adapters of the *_foreach walks. */
struct reg_cb {
	union {
		registry_binding_cb	 binding;
		registry_cert_cb	 cert;
		registry_audit_cb	 audit;
		int			(*claim)(const char *serial, int64_t claimed_at,
					    const char *actor, void *arg);
		int			(*netid)(const char *kind, const char *value,
					    void *arg);
		int			(*pending)(const struct registry_pending *p,
					    void *arg);
	} fn;
	void	*arg;
};

static int
binding_row(struct db_stmt *st, void *ctx)
{
	const struct reg_cb *c = ctx;
	struct registry_binding b;

	binding_from_row(st, &b);
	return c->fn.binding(&b, c->arg);
}

static int
cert_row(struct db_stmt *st, void *ctx)
{
	const struct reg_cb *c = ctx;
	struct registry_cert cert;

	cert_from_row(st, &cert);
	return c->fn.cert(&cert, c->arg);
}

/* Columns: id, at, actor, action, subject, reason, details, hash. */
static int
audit_row(struct db_stmt *st, void *ctx)
{
	const struct reg_cb *c = ctx;
	struct registry_audit_entry a;

	a.id = db_column_int64(st, 0);
	a.at = db_column_int64(st, 1);
	a.actor = db_column_text(st, 2);
	a.action = db_column_text(st, 3);
	a.subject = db_column_text(st, 4);
	a.reason = db_column_text(st, 5);
	a.details = db_column_text(st, 6);
	a.hash = db_column_text(st, 7);
	return c->fn.audit(&a, c->arg);
}

static int
claim_row(struct db_stmt *st, void *ctx)
{
	const struct reg_cb *c = ctx;

	return c->fn.claim(db_column_text(st, 0),
	    db_column_int64(st, 1), db_column_text(st, 2), c->arg);
}

static int
netid_row(struct db_stmt *st, void *ctx)
{
	const struct reg_cb *c = ctx;

	return c->fn.netid(db_column_text(st, 0),
	    db_column_text(st, 1), c->arg);
}

/* The state of registry_audit_verify's walk along the chain. */
struct audit_check {
	char	 expect_prev[REGISTRY_HASH_HEX];
	int64_t	*bad_id;
	char	*err;
	size_t	 errlen;
};

/* Columns: id, at, actor, action, subject, reason, details, prev_hash, hash. Returns 0
 * when the row links to the one before and its hash is right, 1 when not (*bad_id is its
 * id), -1 when hashing fails. */
static int
audit_check_row(struct db_stmt *st, void *ctx)
{
	struct audit_check *ac = ctx;
	char hash[REGISTRY_HASH_HEX];
	const char *prev, *stored;

	prev = db_column_text(st, 7);
	stored = db_column_text(st, 8);
	if (audit_hash(prev != NULL ? prev : "", db_column_int64(st, 1),
	    db_column_text(st, 2),
	    db_column_text(st, 3),
	    db_column_text(st, 4),
	    db_column_text(st, 5),
	    db_column_text(st, 6), hash) == -1) {
		errf(ac->err, ac->errlen, "registry: audit hash: SHA-256 failed");
		return -1;
	}
	if (prev == NULL || stored == NULL || strcmp(prev, ac->expect_prev) != 0 ||
	    strcmp(stored, hash) != 0) {
		if (ac->bad_id != NULL)
			*ac->bad_id = db_column_int64(st, 0);
		return 1;
	}
	copy_str(ac->expect_prev, sizeof(ac->expect_prev), stored);
	return 0;
}

int
registry_audit_verify(struct registry *reg, int64_t *bad_id, char *err, size_t errlen)
{
	struct audit_check ac = { .bad_id = bad_id, .err = err, .errlen = errlen };

	if (bad_id != NULL)
		*bad_id = 0;
	ac.expect_prev[0] = '\0';
	return reg_rows(reg, "SELECT id, at, actor, action, subject, reason, "
	    "details, prev_hash, hash FROM audit ORDER BY id", NULL, NULL, audit_check_row, &ac,
	    "read audit log", err, errlen);
}

int
registry_audit_head(struct registry *reg, int64_t *seq, char *hash, char *err, size_t errlen)
{
	struct db_stmt *st;
	int rc;

	*seq = 0;
	hash[0] = '\0';
	if ((st = reg_stmt(reg, ST_AUDIT_HEAD, err, errlen)) == NULL)
		return -1;
	if ((rc = db_step(st)) == DB_ROW) {
		*seq = db_column_int64(st, 0);
		copy_col(st, 1, hash, REGISTRY_HASH_HEX);
	} else if (rc != DB_DONE) {
		reg_dberr(reg, err, errlen, "read the audit head");
		db_reset(st);
		return -1;
	}
	db_reset(st);
	return 0;
}

int
registry_audit_holds(struct registry *reg, int64_t seq, const char *hash, char *why,
    size_t whylen, char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int64_t last = 0;
	char have[REGISTRY_HASH_HEX] = "", lasthash[REGISTRY_HASH_HEX];
	int rc, found = 0;

	if (db_prepare(reg->db, "SELECT hash FROM audit WHERE id = ?1", &st) != 0) {
		reg_dberr(reg, err, errlen, "read audit entry");
		return -1;
	}
	db_bind_int64(st, 1, seq);
	if ((rc = db_step(st)) == DB_ROW) {
		copy_col(st, 0, have, sizeof(have));
		found = 1;
	}
	db_finalize(st);
	if (rc != DB_ROW && rc != DB_DONE) {
		reg_dberr(reg, err, errlen, "read audit entry");
		return -1;
	}
	if (found && strcmp(have, hash) == 0)
		return 0;
	if (found) {
		errf(why, whylen, "audit log rewritten: entry %" PRId64 " has hash sha256:%.16s..., "
		    "the checkpoint has sha256:%.16s...", seq, have, hash);
		return 1;
	}
	if (registry_audit_head(reg, &last, lasthash, err, errlen) == -1)
		return -1;
	if (last < seq)
		errf(why, whylen, "audit log truncated: a checkpoint covers entry %" PRId64
		    " but the log ends at entry %" PRId64, seq, last);
	else
		errf(why, whylen, "audit log rewritten: entry %" PRId64 " of a checkpoint is "
		    "missing", seq);
	return 1;
}

int
registry_audit_verify_from(struct registry *reg, int64_t seq, const char *hash,
    int64_t *bad_id, char *why, size_t whylen, char *err, size_t errlen)
{
	struct audit_check ac = { .bad_id = bad_id, .err = err, .errlen = errlen };
	int rc;

	if (bad_id != NULL)
		*bad_id = 0;
	if ((rc = registry_audit_holds(reg, seq, hash, why, whylen, err, errlen)) != 0)
		return rc;
	copy_str(ac.expect_prev, sizeof(ac.expect_prev), hash);
	rc = reg_rows(reg, "SELECT id, at, actor, action, subject, reason, details, prev_hash, "
	    "hash FROM audit WHERE id > ?1 ORDER BY id", bind_int64_arg, &seq, audit_check_row,
	    &ac, "read audit log", err, errlen);
	if (rc == 1)
		errf(why, whylen, "audit log broken at entry %" PRId64 " after the checkpoint of "
		    "entry %" PRId64, bad_id != NULL ? *bad_id : 0, seq);
	return rc;
}

int
registry_checkpoint_add(struct registry *reg, const struct registry_checkpoint *cp,
    char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int rc;

	if (reg_writable(reg, err, errlen) == -1)
		return -1;
	if (cp == NULL || cp->seq < 1 || strnlen(cp->head, sizeof(cp->head)) !=
	    REGISTRY_HASH_HEX - 1 || cp->siglen == 0 || cp->siglen > sizeof(cp->sig)) {
		errf(err, errlen, "registry: malformed checkpoint");
		return -1;
	}
	if (check_arg("checkpoint domain", cp->domain, sizeof(cp->domain), err, errlen) == -1)
		return -1;
	if (db_prepare(reg->db, "INSERT INTO audit_checkpoints (seq, head, at, domain, "
	    "sig) VALUES (?1, ?2, ?3, ?4, ?5)", &st) != 0) {
		reg_dberr(reg, err, errlen, "store checkpoint");
		return -1;
	}
	db_bind_int64(st, 1, cp->seq);
	bind_text(st, 2, cp->head);
	db_bind_int64(st, 3, cp->at);
	bind_text(st, 4, cp->domain);
	db_bind_blob(st, 5, cp->sig, cp->siglen);
	rc = db_step(st);
	db_finalize(st);
	if (rc != DB_DONE) {
		reg_dberr(reg, err, errlen, "store checkpoint");
		return -1;
	}
	return 0;
}

/* Columns: id, seq, head, at, domain, sig. */
static void
checkpoint_from_row(struct db_stmt *st, struct registry_checkpoint *cp)
{
	const void *sig;
	size_t n;

	memset(cp, 0, sizeof(*cp));
	cp->id = db_column_int64(st, 0);
	cp->seq = db_column_int64(st, 1);
	copy_col(st, 2, cp->head, sizeof(cp->head));
	cp->at = db_column_int64(st, 3);
	copy_col(st, 4, cp->domain, sizeof(cp->domain));
	sig = db_column_blob(st, 5, &n);
	/* A longer one is kept empty: it cannot verify, and the check says so. */
	if (sig != NULL && n > 0 && n <= sizeof(cp->sig)) {
		memcpy(cp->sig, sig, n);
		cp->siglen = n;
	}
}

struct checkpoint_walk {
	int	(*cb)(const struct registry_checkpoint *cp, void *arg);
	void	*arg;
	struct registry_checkpoint *out;	/* registry_checkpoint_last */
};

static int
checkpoint_row(struct db_stmt *st, void *ctx)
{
	struct checkpoint_walk *w = ctx;
	struct registry_checkpoint cp;

	if (w->out != NULL) {
		checkpoint_from_row(st, w->out);
		return 1;
	}
	checkpoint_from_row(st, &cp);
	return w->cb(&cp, w->arg);
}

int
registry_checkpoint_last(struct registry *reg, struct registry_checkpoint *out, char *err,
    size_t errlen)
{
	struct checkpoint_walk w = { .out = out };

	return reg_rows(reg, "SELECT id, seq, head, at, domain, sig FROM audit_checkpoints "
	    "ORDER BY id DESC LIMIT 1", NULL, NULL, checkpoint_row, &w, "read checkpoints", err,
	    errlen);
}

int
registry_checkpoint_foreach(struct registry *reg,
    int (*cb)(const struct registry_checkpoint *cp, void *arg), void *arg, char *err,
    size_t errlen)
{
	struct checkpoint_walk w = { .cb = cb, .arg = arg };

	return reg_rows(reg, "SELECT id, seq, head, at, domain, sig FROM audit_checkpoints "
	    "ORDER BY id", NULL, NULL, checkpoint_row, &w, "read checkpoints", err, errlen);
}

/* ?1 state, ?2 serial (NULL: any), ?3 created at or after. */
static void
bind_filter(struct db_stmt *st, const void *arg)
{
	const struct registry_filter *f = arg;

	bind_text(st, 1, f->state);
	bind_text(st, 2, f->serial);
	db_bind_int64(st, 3, f->since);
}

int
registry_binding_foreach(struct registry *reg, const struct registry_filter *f,
    registry_binding_cb cb, void *arg, char *err, size_t errlen)
{
	struct reg_cb c = { .fn.binding = cb, .arg = arg };
	static const struct registry_filter all;

	return reg_rows(reg, "SELECT " BINDING_COLS " FROM bindings "
	    "WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR serial = ?2) "
	    "AND created_at >= ?3 ORDER BY id", bind_filter, f != NULL ? f : &all, binding_row,
	    &c, "list bindings", err, errlen);
}

int
registry_cert_foreach(struct registry *reg, int64_t binding_id, registry_cert_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct reg_cb c = { .fn.cert = cb, .arg = arg };

	return reg_rows(reg, "SELECT " CERT_COLS " FROM certificates "
	    "WHERE binding_id = ?1 ORDER BY issued_at, rowid", bind_int64_arg, &binding_id,
	    cert_row, &c, "list certificates", err, errlen);
}

int
registry_revoked_foreach(struct registry *reg, registry_cert_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct reg_cb c = { .fn.cert = cb, .arg = arg };

	return reg_rows(reg, "SELECT " CERT_COLS " FROM certificates WHERE revoked_at > 0",
	    NULL, NULL, cert_row, &c, "list revoked certificates", err, errlen);
}

struct kid_now {
	const char	*kid;
	int64_t		 now;
};

static void
bind_kid_now(struct db_stmt *st, const void *arg)
{
	const struct kid_now *k = arg;

	bind_text(st, 1, k->kid);
	db_bind_int64(st, 2, k->now);
}

static int
count_row(struct db_stmt *st, void *ctx)
{
	*(int64_t *)ctx = db_column_int64(st, 0);
	return 0;
}

int
registry_ca_live(struct registry *reg, const char *kid, int64_t now, int64_t *n, char *err,
    size_t errlen)
{
	struct kid_now k = { kid, now };

	*n = 0;
	if (check_arg("key identifier", kid, REGISTRY_KID_HEX - 1, err, errlen) == -1)
		return -1;
	return reg_rows(reg, "SELECT count(*) FROM certificates WHERE ca_kid = ?1 "
	    "AND coalesce(revoked_at, 0) = 0 AND not_after > ?2", bind_kid_now, &k, count_row,
	    n, "count a CA's live certificates", err, errlen) < 0 ? -1 : 0;
}

int
registry_ca_mark(struct registry *reg, const char *kid, int64_t *n, char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int rc = -1;

	*n = 0;
	if (check_arg("key identifier", kid, REGISTRY_KID_HEX - 1, err, errlen) == -1)
		return -1;
	if (db_prepare(reg->db, "UPDATE certificates SET ca_kid = ?1 "
	    "WHERE ca_kid IS NULL", &st) == 0)
		bind_text(st, 1, kid);
	if (st == NULL || db_step(st) != DB_DONE)
		reg_dberr(reg, err, errlen, "mark certificates with their CA");
	else {
		*n = db_changes(reg->db);
		rc = 0;
	}
	db_finalize(st);
	return rc;
}

/* The first n integer columns of a one-row query into v. 0, or -1 with err. */
static int
reg_row_int64(struct registry *reg, const char *sql, int64_t *v, int n, const char *what,
    char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int i, rc = -1;

	if (db_prepare(reg->db, sql, &st) == 0 && db_step(st) == DB_ROW) {
		for (i = 0; i < n; i++)
			v[i] = db_column_int64(st, i);
		rc = 0;
	} else
		reg_dberr(reg, err, errlen, what);
	db_finalize(st);
	return rc;
}

int
registry_revoked_stamp(struct registry *reg, int64_t *count, int64_t *latest, char *err,
    size_t errlen)
{
	int64_t v[2];

	if (reg_row_int64(reg, "SELECT count(*), coalesce(max(revoked_at), 0) FROM "
	    "certificates WHERE revoked_at > 0", v, 2, "count revoked certificates", err,
	    errlen) == -1)
		return -1;
	*count = v[0];
	*latest = v[1];
	return 0;
}

int
registry_data_version(struct registry *reg, int64_t *version, char *err, size_t errlen)
{
	if (db_data_version(reg->db, version) == -1) {
		reg_dberr(reg, err, errlen, "data_version");
		return -1;
	}
	return 0;
}

int
registry_audit_foreach(struct registry *reg, int64_t since, registry_audit_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct reg_cb c = { .fn.audit = cb, .arg = arg };

	return reg_rows(reg, "SELECT id, at, actor, action, subject, reason, "
	    "details, hash FROM audit WHERE at >= ?1 ORDER BY id", bind_int64_arg, &since,
	    audit_row, &c, "read audit log", err, errlen);
}

int
registry_claim_foreach(struct registry *reg,
    int (*cb)(const char *serial, int64_t claimed_at, const char *actor, void *arg),
    void *arg, char *err, size_t errlen)
{
	struct reg_cb c = { .fn.claim = cb, .arg = arg };

	return reg_rows(reg, "SELECT serial, claimed_at, actor FROM claims c "
	    "WHERE NOT EXISTS (SELECT 1 FROM bindings b WHERE b.serial = c.serial AND "
	    "b.state = 'active') ORDER BY claimed_at, serial", NULL, NULL, claim_row, &c,
	    "list claims", err, errlen);
}

int
registry_binding_revoke(struct registry *reg, const char *serial, const char *reason,
    const char *actor, int64_t *binding_id, char *err, size_t errlen)
{
	static const char *const sql[] = {
		"UPDATE bindings SET state = 'revoked', revoked_at = ?2, reason = ?3, "
		    "revoked_by = ?4 WHERE id = ?1",
		"UPDATE certificates SET revoked_at = ?2, reason = ?3 "
		    "WHERE binding_id = ?1 AND revoked_at IS NULL",
		"DELETE FROM claims WHERE serial = ?5",
	};
	struct db_stmt *st = NULL;
	int64_t now = time(NULL), bid = 0;
	json_t *dj = NULL;
	char *details = NULL;
	int found, ncerts = 0;
	size_t i;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("serial", serial, 1024, err, errlen) == -1 ||
	    check_arg("reason", reason, sizeof(((struct registry_binding *)0)->reason), err,
	    errlen) == -1 ||
	    check_arg("actor", actor, 1024, err, errlen) == -1)
		return -1;
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if ((found = binding_active_id(reg, serial, &bid, err, errlen)) == -1)
		goto err;
	if (found == 0) {
		reg_rollback(reg);
		return 1;
	}
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if (db_prepare(reg->db, sql[i], &st) != 0) {
			reg_dberr(reg, err, errlen, "revoke");
			goto err;
		}
		db_bind_int64(st, 1, bid);
		db_bind_int64(st, 2, now);
		bind_text(st, 3, reason);
		bind_text(st, 4, actor);
		bind_text(st, 5, serial);
		if (db_step(st) != DB_DONE) {
			reg_dberr(reg, err, errlen, "revoke");
			goto err;
		}
		if (i == 1)
			ncerts = db_changes(reg->db);
		db_finalize(st);
		st = NULL;
	}
	if ((dj = json_pack("{s:I, s:i}", "binding_id", (json_int_t)bid, "certificates",
	    ncerts)) == NULL || (details = json_dumps(dj, JSON_COMPACT)) == NULL) {
		errf(err, errlen, "out of memory");
		goto err;
	}
	if (audit_append_locked(reg, now, actor, "revoke", serial, reason, details, err,
	    errlen) == -1 || reg_commit(reg, err, errlen) == -1)
		goto err;
	if (binding_id != NULL)
		*binding_id = bid;
	json_decref(dj);
	free(details);
	return 0;
err:
	db_finalize(st);
	reg_rollback(reg);
	json_decref(dj);
	free(details);
	return -1;
}

/* ---- pending approvals (migration v7; latchkeyd's pending = yes) ---------------------- */

#define PENDING_COLS \
	"serial, anchor_fp, anchor_name, idevid_fp, first_seen, last_seen, peer, attempts, " \
	"state, coalesce(decided_at, 0), decided_by, reason"

static void
pending_from_row(struct db_stmt *st, struct registry_pending *p)
{
	memset(p, 0, sizeof(*p));
	copy_col(st, 0, p->serial, sizeof(p->serial));
	copy_col(st, 1, p->anchor_fp, sizeof(p->anchor_fp));
	copy_col(st, 2, p->anchor_name, sizeof(p->anchor_name));
	copy_col(st, 3, p->idevid_fp, sizeof(p->idevid_fp));
	p->first_seen = db_column_int64(st, 4);
	p->last_seen = db_column_int64(st, 5);
	copy_col(st, 6, p->peer, sizeof(p->peer));
	p->attempts = db_column_int64(st, 7);
	copy_col(st, 8, p->state, sizeof(p->state));
	p->decided_at = db_column_int64(st, 9);
	copy_col(st, 10, p->decided_by, sizeof(p->decided_by));
	copy_col(st, 11, p->reason, sizeof(p->reason));
}

/* serial's row into p: 1 found, 0 none, -1 error. */
static int
pending_get(struct registry *reg, const char *serial, struct registry_pending *p,
    char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int rc;

	if (db_prepare(reg->db, "SELECT " PENDING_COLS " FROM pending "
	    "WHERE serial = ?1", &st) != 0) {
		reg_dberr(reg, err, errlen, "look up pending request");
		return -1;
	}
	bind_text(st, 1, serial);
	if ((rc = db_step(st)) == DB_ROW)
		pending_from_row(st, p);
	else if (rc != DB_DONE)
		reg_dberr(reg, err, errlen, "look up pending request");
	db_finalize(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/*
 * One write to serial's row inside the caller's transaction: ?1 serial, ?2 now, ?3..?6
 * the texts t (NULL binds NULL). Returns the rows changed, or -1 with err.
 */
static int
pending_write(struct registry *reg, const char *sql, const char *serial, int64_t now,
    const char *const t[4], char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int i, rc;

	if (db_prepare(reg->db, sql, &st) != 0) {
		reg_dberr(reg, err, errlen, "pending request");
		return -1;
	}
	bind_text(st, 1, serial);
	db_bind_int64(st, 2, now);
	for (i = 0; t != NULL && i < 4; i++)
		bind_text(st, 3 + i, t[i]);
	if ((rc = db_step(st)) != DB_DONE)
		reg_dberr(reg, err, errlen, "pending request");
	db_finalize(st);
	return rc == DB_DONE ? db_changes(reg->db) : -1;
}

/* The audit details of a row: {"manufacturer", "manufacturer_name", "idevid_fp", ...}. */
static char *
pending_details(const struct registry_pending *p, int with_attempts, int with_peer)
{
	json_t *j;
	char *s = NULL;

	if ((j = json_pack("{s:s, s:s, s:s}", "manufacturer", p->anchor_fp,
	    "manufacturer_name", p->anchor_name, "idevid_fp", p->idevid_fp)) == NULL)
		return NULL;
	if ((with_attempts && json_object_set_new(j, "attempts",
	    json_integer(p->attempts)) == -1) ||
	    (with_peer && json_object_set_new(j, "peer", json_string(p->peer)) == -1)) {
		json_decref(j);
		return NULL;
	}
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

int
registry_pending_touch(struct registry *reg, struct registry_pending *p, const char *actor,
    char *err, size_t errlen)
{
	struct registry_pending cur;
	enum registry_verdict v;
	int64_t now = time(NULL);
	const char *t[4];
	char *details = NULL;
	int found, rc;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("serial", p->serial, sizeof(p->serial), err, errlen) == -1 ||
	    check_arg("manufacturer fingerprint", p->anchor_fp, sizeof(p->anchor_fp), err,
	    errlen) == -1 ||
	    check_anchor(p->anchor_fp, err, errlen) == -1 ||
	    check_arg("IDevID fingerprint", p->idevid_fp, sizeof(p->idevid_fp), err,
	    errlen) == -1 ||
	    check_arg("actor", actor, 1024, err, errlen) == -1)
		return -1;
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if (admission(reg, p->serial, p->anchor_fp, p->idevid_fp, &v, NULL, 0, err,
	    errlen) == -1 || (found = pending_get(reg, p->serial, &cur, err, errlen)) == -1)
		goto err;
	if (v != REGISTRY_UNCLAIMED) {
		reg_rollback(reg);
		return 3;
	}
	/* The first IDevID that asked holds the row until an administrator decides. */
	if (found && strcmp(cur.state, "denied") != 0 &&
	    (strcasecmp(cur.idevid_fp, p->idevid_fp) != 0 ||
	    strcasecmp(cur.anchor_fp, p->anchor_fp) != 0)) {
		reg_rollback(reg);
		*p = cur;
		return 2;
	}
	t[0] = p->peer;
	t[1] = p->anchor_fp;
	t[2] = p->anchor_name;
	t[3] = p->idevid_fp;
	if (found) {
		if (pending_write(reg, "UPDATE pending SET last_seen = ?2, peer = "
		    "coalesce(?3, ''), attempts = attempts + 1 WHERE serial = ?1", p->serial,
		    now, t, err, errlen) == -1)
			goto err;
		rc = strcmp(cur.state, "denied") == 0;
	} else {
		if (pending_write(reg, "INSERT INTO pending (serial, first_seen, last_seen, "
		    "peer, anchor_fp, anchor_name, idevid_fp) VALUES (?1, ?2, ?2, "
		    "coalesce(?3, ''), ?4, coalesce(?5, ''), ?6)", p->serial, now, t, err,
		    errlen) == -1 || pending_get(reg, p->serial, &cur, err, errlen) != 1)
			goto err;
		if ((details = pending_details(&cur, 0, 1)) == NULL) {
			errf(err, errlen, "registry: out of memory");
			goto err;
		}
		if (audit_append_locked(reg, now, actor, "pending", p->serial,
		    "awaiting an administrator's approval", details, err, errlen) == -1)
			goto err;
		rc = 0;
	}
	if (pending_get(reg, p->serial, p, err, errlen) != 1 ||
	    reg_commit(reg, err, errlen) == -1)
		goto err;
	free(details);
	return rc;
err:
	free(details);
	reg_rollback(reg);
	return -1;
}

static int
pending_row(struct db_stmt *st, void *ctx)
{
	const struct reg_cb *c = ctx;
	struct registry_pending p;

	pending_from_row(st, &p);
	return c->fn.pending(&p, c->arg);
}

int
registry_pending_list(struct registry *reg,
    int (*cb)(const struct registry_pending *p, void *arg), void *arg, char *err,
    size_t errlen)
{
	struct reg_cb c = { .fn.pending = cb, .arg = arg };

	return reg_rows(reg, "SELECT " PENDING_COLS " FROM pending ORDER BY first_seen, "
	    "serial", NULL, NULL, pending_row, &c, "list pending requests", err, errlen);
}

/*
 * A claim of serial removes its pending or denied row, inside the caller's transaction:
 * audited "pending-cleared". 1 removed, 0 there was none, -1 error.
 */
static int
pending_clear_locked(struct registry *reg, const char *serial, const char *actor,
    int64_t now, char *err, size_t errlen)
{
	struct registry_pending p;
	char *details;
	int found;

	if ((found = pending_get(reg, serial, &p, err, errlen)) != 1)
		return found;
	if (pending_write(reg, "DELETE FROM pending WHERE serial = ?1", serial, now, NULL,
	    err, errlen) == -1)
		return -1;
	if ((details = pending_details(&p, 1, 0)) == NULL) {
		errf(err, errlen, "registry: out of memory");
		return -1;
	}
	found = audit_append_locked(reg, now, actor, "pending-cleared", serial,
	    strcmp(p.state, "denied") == 0 ? "claimed: the denial is lifted" :
	    "claimed", details, err, errlen);
	free(details);
	return found == -1 ? -1 : 1;
}

int
registry_pending_decide(struct registry *reg, const char *serial, enum registry_decision d,
    const char *actor, const char *reason, char *err, size_t errlen)
{
	struct registry_pending p;
	enum registry_verdict v;
	int64_t now = time(NULL);
	const char *t[4] = { actor, reason, NULL, NULL };
	char why[256], *details = NULL;
	int found;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("serial", serial, sizeof(p.serial), err, errlen) == -1 ||
	    check_arg("actor", actor, sizeof(p.decided_by), err, errlen) == -1)
		return -1;
	if (d != REGISTRY_APPROVE && d != REGISTRY_DENY) {
		errf(err, errlen, "registry: unknown decision %d", (int)d);
		return -1;
	}
	if (reason != NULL && strlen(reason) >= sizeof(p.reason)) {
		errf(err, errlen, "registry: reason longer than %zu bytes", sizeof(p.reason) - 1);
		return -1;
	}
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if ((found = pending_get(reg, serial, &p, err, errlen)) == -1)
		goto err;
	if (found == 0) {
		reg_rollback(reg);
		return 1;
	}
	if ((details = pending_details(&p, 1, 0)) == NULL) {
		errf(err, errlen, "registry: out of memory");
		goto err;
	}
	if (d == REGISTRY_DENY) {
		if (pending_write(reg, "UPDATE pending SET state = 'denied', decided_at = ?2, "
		    "decided_by = ?3, reason = ?4 WHERE serial = ?1", serial, now, t, err,
		    errlen) == -1 ||
		    audit_append_locked(reg, now, actor, "deny", serial, reason, details, err,
		    errlen) == -1)
			goto err;
	} else {
		/* An approval is a claim for the manufacturer: never a re-admission. */
		if (admission(reg, serial, p.anchor_fp, NULL, &v, why, sizeof(why), err,
		    errlen) == -1)
			goto err;
		if (v == REGISTRY_REVOKED) {
			reg_rollback(reg);
			free(details);
			errf(err, errlen, "%s; approving does not re-admit it", why);
			return 2;
		}
		if (claim_locked(reg, serial, p.anchor_fp, actor, now, 1, err, errlen) == -1 ||
		    pending_write(reg, "DELETE FROM pending WHERE serial = ?1", serial, now,
		    NULL, err, errlen) == -1 ||
		    audit_append_locked(reg, now, actor, "approve", serial, reason, details, err,
		    errlen) == -1)
			goto err;
	}
	if (reg_commit(reg, err, errlen) == -1)
		goto err;
	free(details);
	return 0;
err:
	free(details);
	reg_rollback(reg);
	return -1;
}

/* ---- supersession (registry_cert_supersede) -------------------------------------- */

/*
 * What the use of certificate ?1 supersedes: when ?1 is unrevoked and its binding active,
 * the other unrevoked certificates of that binding issued before it. "Before" is issued_at,
 * then insertion order (rowid) within one second; a certificate issued after ?1 never
 * matches. Uses the primary key for ?1 and certificates_binding for the others.
 */
#define SUPERSEDED_FROM \
	"FROM certificates n JOIN bindings b ON b.id = n.binding_id " \
	"JOIN certificates o ON o.binding_id = n.binding_id " \
	"WHERE n.cert_serial = ?1 AND coalesce(n.revoked_at, 0) = 0 " \
	"AND b.state = 'active' AND coalesce(o.revoked_at, 0) = 0 " \
	"AND o.cert_serial <> n.cert_serial AND (o.issued_at < n.issued_at OR " \
	"(o.issued_at = n.issued_at AND o.rowid < n.rowid))"

struct supersede_list {
	struct registry_cert	*c;
	size_t			 n, cap;
};

/* ?1 = (const char *)arg */
static void
supersede_bind(struct db_stmt *st, const void *arg)
{
	bind_text(st, 1, arg);
}

static int
supersede_count_row(struct db_stmt *st, void *ctx)
{
	*(int64_t *)ctx = db_column_int64(st, 0);
	return 0;
}

/* Columns as CERT_COLS. Returns 2 when out of memory (stops the walk). */
static int
supersede_row(struct db_stmt *st, void *ctx)
{
	struct supersede_list *l = ctx;
	struct registry_cert *nc;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		if ((nc = reallocarray(l->c, l->cap, sizeof(*nc))) == NULL)
			return 2;
		l->c = nc;
	}
	cert_from_row(st, &l->c[l->n++]);
	return 0;
}

int
registry_cert_supersede(struct registry *reg, const char *cert_serial, const char *actor,
    struct registry_cert *revoked, size_t max, char *err, size_t errlen)
{
	struct supersede_list l;
	struct db_stmt *st = NULL;
	char cserial[sizeof(((struct registry_cert *)0)->cert_serial)];
	char *details = NULL;
	json_t *dj = NULL;
	int64_t now = time(NULL), count = 0;
	size_t i;
	int r;

	memset(&l, 0, sizeof(l));
	if (reg_writable(reg, err, errlen) == -1 ||
	    cert_serial_norm(cert_serial, cserial, sizeof(cserial), err, errlen) == -1 ||
	    check_arg("actor", actor, 1024, err, errlen) == -1)
		return -1;
	/* The common case, every request a device makes with its LDevID: nothing older. */
	if (reg_rows(reg, "SELECT count(*) " SUPERSEDED_FROM, supersede_bind, cserial,
	    supersede_count_row, &count, "look up superseded certificates", err, errlen) != 0)
		return -1;
	if (count == 0)
		return 0;
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	/* Again under the write lock: a revocation or another use may have come between. */
	r = reg_rows(reg, "SELECT o.cert_serial, o.binding_id, o.device_serial, o.not_before, "
	    "o.not_after, o.issued_at, o.revoked_at, o.reason " SUPERSEDED_FROM
	    " ORDER BY o.issued_at, o.rowid", supersede_bind, cserial, supersede_row, &l,
	    "look up superseded certificates", err, errlen);
	if (r == 2)
		errf(err, errlen, "out of memory");
	if (r != 0)
		goto err;
	if (l.n == 0) {
		reg_rollback(reg);
		return 0;
	}
	if (db_prepare(reg->db, "UPDATE certificates SET revoked_at = ?2, reason = ?3 "
	    "WHERE cert_serial = ?1 AND coalesce(revoked_at, 0) = 0", &st) != 0) {
		reg_dberr(reg, err, errlen, "supersede");
		goto err;
	}
	for (i = 0; i < l.n; i++) {
		db_reset(st);
		bind_text(st, 1, l.c[i].cert_serial);
		db_bind_int64(st, 2, now);
		bind_text(st, 3, REGISTRY_REASON_SUPERSEDED);
		if (db_step(st) != DB_DONE) {
			reg_dberr(reg, err, errlen, "supersede");
			goto err;
		}
		l.c[i].revoked_at = now;
		copy_str(l.c[i].reason, sizeof(l.c[i].reason), REGISTRY_REASON_SUPERSEDED);
		if ((dj = json_pack("{s:s, s:s, s:I}", "cert_serial", l.c[i].cert_serial,
		    "superseded_by", cserial, "binding_id", (json_int_t)l.c[i].binding_id)) ==
		    NULL || (details = json_dumps(dj, JSON_COMPACT)) == NULL) {
			errf(err, errlen, "out of memory");
			goto err;
		}
		if (audit_append_locked(reg, now, actor, REGISTRY_ACTION_SUPERSEDED,
		    l.c[i].device_serial, REGISTRY_REASON_SUPERSEDED, details, err, errlen) == -1)
			goto err;
		json_decref(dj);
		dj = NULL;
		free(details);
		details = NULL;
	}
	db_finalize(st);
	st = NULL;
	if (reg_commit(reg, err, errlen) == -1)
		goto err;
	for (i = 0; i < l.n && i < max; i++)
		revoked[i] = l.c[i];
	free(l.c);
	return l.n > INT32_MAX ? INT32_MAX : (int)l.n;
err:
	db_finalize(st);
	reg_rollback(reg);
	json_decref(dj);
	free(details);
	free(l.c);
	return -1;
}

/* ---- BRSKI vouchers (migration v2; brski) --------------------------------------- */

int
registry_voucher_add(struct registry *reg, const struct registry_voucher *v,
    const unsigned char *der, size_t len, const char *actor, const char *details,
    int64_t *id, char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int64_t now = time(NULL);

	if (reg_writable(reg, err, errlen) == -1)
		return -1;
	if (check_arg("device serial", v->serial, sizeof(v->serial), err, errlen) == -1 ||
	    check_arg("audit actor", actor, 1024, err, errlen) == -1)
		return -1;
	if (der == NULL || len == 0 || len > INT32_MAX) {
		errf(err, errlen, "registry: voucher without content");
		return -1;
	}
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if (db_prepare(reg->db, "INSERT INTO vouchers (serial, masa_url, nonce, "
	    "assertion, created_at, expires_on, pinned_fp, der) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7, ?8) RETURNING id", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare voucher insert");
		goto err;
	}
	bind_text(st, 1, v->serial);
	bind_text(st, 2, v->masa_url);
	bind_text(st, 3, v->nonce[0] ? v->nonce : NULL);
	bind_text(st, 4, v->assertion[0] ? v->assertion : NULL);
	db_bind_int64(st, 5, now);
	if (v->expires_on != 0)
		db_bind_int64(st, 6, v->expires_on);
	bind_text(st, 7, v->pinned_fp[0] ? v->pinned_fp : NULL);
	db_bind_blob(st, 8, der, len);
	if (db_step(st) != DB_ROW) {
		reg_dberr(reg, err, errlen, "insert voucher");
		goto err;
	}
	if (id != NULL)
		*id = db_column_int64(st, 0);
	db_reset(st);
	if (audit_append_locked(reg, now, actor, "voucher", v->serial, NULL, details, err,
	    errlen) == -1 || reg_commit(reg, err, errlen) == -1)
		goto err;
	db_finalize(st);
	return 0;
err:
	db_finalize(st);
	reg_rollback(reg);
	return -1;
}

int
registry_voucher_status(struct registry *reg, const char *serial, const char *kind,
    int ok, const char *reason, const char *actor, const char *details, char *err,
    size_t errlen)
{
	struct db_stmt *st = NULL;
	int64_t now = time(NULL);
	int enroll, changed, rc = -1;
	char action[32];

	if (reg_writable(reg, err, errlen) == -1)
		return -1;
	if (check_arg("device serial", serial, 64, err, errlen) == -1 ||
	    check_arg("audit actor", actor, 1024, err, errlen) == -1)
		return -1;
	if (kind == NULL || (strcmp(kind, "voucher") != 0 && strcmp(kind, "enroll") != 0)) {
		errf(err, errlen, "registry: status kind must be voucher or enroll");
		return -1;
	}
	enroll = kind[0] == 'e';
	snprintf(action, sizeof(action), "%s-status", kind);
	if (reg_begin(reg, err, errlen) == -1)
		return -1;
	if (db_prepare(reg->db, enroll ?
	    "UPDATE vouchers SET enroll_status = ?1, enroll_reason = ?2, status_at = ?3 "
	    "WHERE id = (SELECT max(id) FROM vouchers WHERE serial = ?4)" :
	    "UPDATE vouchers SET voucher_status = ?1, voucher_reason = ?2, status_at = ?3 "
	    "WHERE id = (SELECT max(id) FROM vouchers WHERE serial = ?4)", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare status update");
		goto err;
	}
	bind_text(st, 1, ok ? "success" : "failure");
	bind_text(st, 2, reason);
	db_bind_int64(st, 3, now);
	bind_text(st, 4, serial);
	if (db_step(st) != DB_DONE) {
		reg_dberr(reg, err, errlen, "update voucher status");
		goto err;
	}
	changed = db_changes(reg->db);
	if (audit_append_locked(reg, now, actor, action, serial, ok ? "success" : reason,
	    details, err, errlen) == -1 || reg_commit(reg, err, errlen) == -1)
		goto err;
	rc = changed > 0 ? 0 : 1;
	db_finalize(st);
	return rc;
err:
	db_finalize(st);
	reg_rollback(reg);
	return -1;
}

int
registry_voucher_get(struct registry *reg, const char *serial, struct registry_voucher *out,
    char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (db_prepare(reg->db, "SELECT id, serial, masa_url, nonce, assertion, "
	    "created_at, expires_on, pinned_fp, voucher_status, voucher_reason, enroll_status, "
	    "enroll_reason, status_at FROM vouchers WHERE serial = ?1 ORDER BY id DESC LIMIT 1", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare voucher query");
		return -1;
	}
	bind_text(st, 1, serial);
	rc = db_step(st);
	if (rc == DB_ROW) {
		out->id = db_column_int64(st, 0);
		copy_col(st, 1, out->serial, sizeof(out->serial));
		copy_col(st, 2, out->masa_url, sizeof(out->masa_url));
		copy_col(st, 3, out->nonce, sizeof(out->nonce));
		copy_col(st, 4, out->assertion, sizeof(out->assertion));
		out->created_at = db_column_int64(st, 5);
		out->expires_on = db_column_int64(st, 6);
		copy_col(st, 7, out->pinned_fp, sizeof(out->pinned_fp));
		copy_col(st, 8, out->voucher_status, sizeof(out->voucher_status));
		copy_col(st, 9, out->voucher_reason, sizeof(out->voucher_reason));
		copy_col(st, 10, out->enroll_status, sizeof(out->enroll_status));
		copy_col(st, 11, out->enroll_reason, sizeof(out->enroll_reason));
		out->status_at = db_column_int64(st, 12);
		rc = 1;
	} else if (rc == DB_DONE)
		rc = 0;
	else {
		reg_dberr(reg, err, errlen, "voucher query");
		rc = -1;
	}
	db_finalize(st);
	return rc;
}

/* ---- network identifiers (migration v3; kea) ------------------------------------- */

/* Lower-case hex without separators of 1..max octets (max * 2 digits). */
static int
netid_value_ok(const char *v, size_t min, size_t max)
{
	size_t n = strlen(v), i;

	if (n % 2 != 0 || n < 2 * min || n > 2 * max)
		return 0;
	for (i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
	return 1;
}

int
registry_netid_report_held(struct registry *reg, const char *serial,
    const struct registry_netid *ids, size_t n, const char *actor, int *held, char *err,
    size_t errlen)
{
	struct db_stmt *st = NULL, *who = NULL;
	int64_t now = time(NULL);
	json_t *j = NULL, *refused = NULL;
	char *details = NULL, *rdetails = NULL;
	const char *holder;
	size_t i, min, max, nrefused = 0;
	int rc;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("device serial", serial, 64, err, errlen) == -1 ||
	    check_arg("audit actor", actor, 1024, err, errlen) == -1)
		return -1;
	if (n > REGISTRY_NETID_MAX) {
		errf(err, errlen, "registry: more than %d network identifiers",
		    REGISTRY_NETID_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ids[i].kind == NULL || ids[i].value == NULL)
			goto bad;
		if (strcmp(ids[i].kind, "mac") == 0)
			min = max = 6;
		else if (strcmp(ids[i].kind, "client-id") == 0)
			min = 2, max = 255;
		else if (strcmp(ids[i].kind, "duid") == 0)
			min = 2, max = 130;
		else
			goto bad;
		if (!netid_value_ok(ids[i].value, min, max))
			goto bad;
	}
	if ((j = json_array()) == NULL || (refused = json_array()) == NULL)
		goto oom;
	if (reg_begin(reg, err, errlen) == -1)
		goto out;
	if (db_prepare(reg->db, "SELECT serial FROM netids WHERE kind = ?1 AND "
	    "value = ?2", &who) != 0 ||
	    db_prepare(reg->db, "INSERT INTO netids (serial, kind, value, reported_at) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, value) DO UPDATE SET "
	    "reported_at = excluded.reported_at WHERE netids.serial = excluded.serial", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare netid insert");
		goto err;
	}
	for (i = 0; i < n; i++) {
		/* Held by another device (active or revoked): never moved by a report. */
		db_reset(who);
		bind_text(who, 1, ids[i].kind);
		bind_text(who, 2, ids[i].value);
		if ((rc = db_step(who)) != DB_ROW && rc != DB_DONE) {
			reg_dberr(reg, err, errlen, "look up network identifier");
			goto err;
		}
		holder = rc == DB_ROW ? db_column_text(who, 0) : NULL;
		if (held != NULL)
			held[i] = holder != NULL && strcmp(holder, serial) != 0;
		if (holder != NULL && strcmp(holder, serial) != 0) {
			if (json_array_append_new(refused, json_pack("{s:s, s:s, s:s}", "kind",
			    ids[i].kind, "value", ids[i].value, "held_by", holder)) == -1)
				goto oom_tx;
			nrefused++;
			continue;
		}
		if (json_array_append_new(j, json_pack("{s:s, s:s}", "kind", ids[i].kind,
		    "value", ids[i].value)) == -1)
			goto oom_tx;
		db_reset(st);
		bind_text(st, 1, serial);
		bind_text(st, 2, ids[i].kind);
		bind_text(st, 3, ids[i].value);
		db_bind_int64(st, 4, now);
		if (db_step(st) != DB_DONE) {
			reg_dberr(reg, err, errlen, "store network identifier");
			goto err;
		}
	}
	if ((details = json_dumps(j, JSON_COMPACT)) == NULL ||
	    (rdetails = json_dumps(refused, JSON_COMPACT)) == NULL)
		goto oom_tx;
	if ((nrefused < n || n == 0) && audit_append_locked(reg, now, actor, "netid", serial,
	    NULL, details, err, errlen) == -1)
		goto err;
	if (nrefused > 0 && audit_append_locked(reg, now, actor, "netid-refused", serial,
	    "held by another device", rdetails, err, errlen) == -1)
		goto err;
	if (reg_commit(reg, err, errlen) == -1)
		goto err;
	db_finalize(st);
	db_finalize(who);
	json_decref(j);
	json_decref(refused);
	free(details);
	free(rdetails);
	return (int)nrefused;
bad:
	errf(err, errlen, "registry: network identifier %zu is not a valid mac, client-id "
	    "or duid in lower-case hex", i + 1);
	return -1;
oom_tx:
	errf(err, errlen, "registry: out of memory");
	goto err;
oom:
	errf(err, errlen, "registry: out of memory");
	goto out;
err:
	reg_rollback(reg);
out:
	db_finalize(st);
	db_finalize(who);
	json_decref(j);
	json_decref(refused);
	free(details);
	free(rdetails);
	return -1;
}

int
registry_netid_report(struct registry *reg, const char *serial,
    const struct registry_netid *ids, size_t n, const char *actor, char *err, size_t errlen)
{
	return registry_netid_report_held(reg, serial, ids, n, actor, NULL, err, errlen);
}

int
registry_revoked_netids_foreach(struct registry *reg,
    int (*cb)(const char *kind, const char *value, void *arg), void *arg, char *err,
    size_t errlen)
{
	struct reg_cb c = { .fn.netid = cb, .arg = arg };

	/* Keep identical to REVOKED_DB_QUERY in dhcp-hook/revoked_db.h (the hook's reader). */
	return reg_rows(reg, "SELECT n.kind, n.value FROM netids n "
	    "WHERE EXISTS (SELECT 1 FROM bindings b WHERE b.serial = n.serial "
	    "AND b.state = 'revoked') "
	    "AND NOT EXISTS (SELECT 1 FROM bindings b WHERE b.serial = n.serial "
	    "AND b.state = 'active') "
	    "ORDER BY n.kind, n.value", NULL, NULL, netid_row, &c,
	    "list revoked network identifiers", err, errlen);
}

/* fsync the directory that holds path (a rename in it is durable after this). */
static int
fsync_parent(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	char *slash;
	int fd, r = 0;

	if (strlen(path) >= sizeof(dir)) {
		errf(err, errlen, "registry: path too long");
		return -1;
	}
	copy_str(dir, sizeof(dir), path);
	if ((slash = strrchr(dir, '/')) == NULL)
		copy_str(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(fd) == -1) {
		errf(err, errlen, "registry: fsync %s: %s", dir, strerror(errno));
		r = -1;
	}
	if (fd != -1)
		close(fd);
	return r;
}

/* The audit head and the number of entries of the copy db. */
static int
backup_info(struct db *db, struct registry_backup_info *info)
{
	struct db_stmt *st = NULL;
	const char *h;
	int rc;

	memset(info, 0, sizeof(*info));
	if (db_prepare(db, "SELECT (SELECT count(*) FROM audit), "
	    "(SELECT id FROM audit ORDER BY id DESC LIMIT 1), "
	    "(SELECT hash FROM audit ORDER BY id DESC LIMIT 1)", &st) != 0)
		return -1;
	if ((rc = db_step(st)) == DB_ROW) {
		info->entries = db_column_int64(st, 0);
		info->seq = db_column_int64(st, 1);
		if ((h = db_column_text(st, 2)) != NULL)
			copy_str(info->head, sizeof(info->head), h);
	}
	db_finalize(st);
	return rc == DB_ROW ? 0 : -1;
}

int
registry_backup(struct registry *reg, const char *path, int flags,
    struct registry_backup_info *info, char *err, size_t errlen)
{
	struct registry_backup_info bi;
	struct stat sb, rb;
	struct db *dst = NULL;
	char tmp[4096 + 16], what[64];
	int fd, r = -1;

	if (db_kind(reg->db) == DB_PG) {
		errf(err, errlen, "registry: %s: backup of a PostgreSQL registry: use pg_dump",
		    reg->path);
		return -1;
	}
	if (path == NULL || *path == '\0') {
		errf(err, errlen, "registry: no path");
		return -1;
	}
	if (db_target_is_pg(path)) {
		errf(err, errlen, "registry: %s: a backup is a file, not a PostgreSQL database",
		    "backup");
		return -1;
	}
	if (lstat(path, &sb) == 0) {
		if (stat(reg->path, &rb) == 0 && sb.st_dev == rb.st_dev &&
		    sb.st_ino == rb.st_ino) {
			errf(err, errlen, "registry: %s is the registry itself", path);
			return -1;
		}
		if (!(flags & REGISTRY_BACKUP_REPLACE)) {
			errf(err, errlen, "%s exists", path);
			return 1;
		}
		if (!S_ISREG(sb.st_mode)) {
			errf(err, errlen, "registry: %s: not a regular file", path);
			return -1;
		}
	} else if (errno != ENOENT) {
		errf(err, errlen, "registry: %s: %s", path, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) {
		errf(err, errlen, "registry: path too long");
		return -1;
	}
	/* mkstemp: a new file (O_EXCL), mode 0600 */
	if ((fd = mkstemp(tmp)) == -1) {
		errf(err, errlen, "registry: cannot create a file beside %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0600) == -1) {
		errf(err, errlen, "registry: chmod %s: %s", tmp, strerror(errno));
		goto out;
	}
	/*
	 * In WAL mode like the registry (db_open sets it), so that latchkeyd's workers,
	 * opening a restored copy at once, need not switch it (which takes an exclusive lock:
	 * one of them would fail). Closing the last connection checkpoints it and removes its
	 * -wal and -shm.
	 */
	if ((dst = db_open(tmp, 0, err, errlen)) == NULL)
		goto out;
	if (db_sqlite_backup(reg->db, dst, err, errlen) == -1)
		goto out;
	copy_str(what, sizeof(what), "read the copy's audit head");
	if (backup_info(dst, &bi) == -1)
		goto dberr;
	copy_str(what, sizeof(what), "checkpoint");
	if (db_exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)") == -1)
		goto dberr;
	copy_str(what, sizeof(what), "close");
	r = db_close(dst);
	dst = NULL;
	if (r == -1) {
		errf(err, errlen, "registry: backup %s: close %s failed", reg->path, tmp);
		goto out;
	}
	r = -1;
	if (fsync(fd) == -1) {
		errf(err, errlen, "registry: fsync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (flags & REGISTRY_BACKUP_REPLACE) {
		if (rename(tmp, path) == -1) {
			errf(err, errlen, "registry: rename to %s: %s", path,
			    strerror(errno));
			goto out;
		}
	} else {
		/* link, not rename: a path made meanwhile is not replaced either */
		if (link(tmp, path) == -1) {
			if (errno == EEXIST) {
				errf(err, errlen, "%s exists", path);
				r = 1;
			} else
				errf(err, errlen, "registry: link to %s: %s", path,
				    strerror(errno));
			goto out;
		}
		unlink(tmp);
	}
	tmp[0] = '\0';
	if (fsync_parent(path, err, errlen) == -1)
		goto out;
	if (info != NULL)
		*info = bi;
	r = 0;
	goto out;
dberr:
	errf(err, errlen, "registry: backup %s: %s %s: %s", reg->path, what, tmp,
	    db_errmsg(dst));
out:
	db_close(dst);
	close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	return r;
}

/* ---- posture (migration v11; issue #20) ------------------------------------------ */

int
registry_posture_record(struct registry *reg, const char *serial, const char *ldevid_serial,
    int64_t report_time, const unsigned char *cms, size_t cmslen, const char *report,
    int compliant, const char *reasons, const char *actor, int64_t *id, int *prev_compliant,
    char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	int64_t now = time(NULL), rid;
	json_t *d = NULL, *r = NULL;
	char *details = NULL;
	int rc, prev = -1;

	if (reg_writable(reg, err, errlen) == -1 ||
	    check_arg("device serial", serial, 64, err, errlen) == -1 ||
	    check_arg("LDevID serial", ldevid_serial, 64, err, errlen) == -1 ||
	    check_arg("audit actor", actor, 1024, err, errlen) == -1)
		return -1;
	if (cms == NULL || cmslen == 0 || cmslen > INT32_MAX || report == NULL ||
	    reasons == NULL) {
		errf(err, errlen, "registry: posture report without content");
		return -1;
	}
	if ((r = json_loads(reasons, 0, NULL)) == NULL || !json_is_array(r)) {
		errf(err, errlen, "registry: posture reasons are not a JSON array");
		goto out;
	}
	if (reg_begin(reg, err, errlen) == -1)
		goto out;
	if (db_prepare(reg->db, "SELECT compliant FROM posture WHERE serial = ?1", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare posture lookup");
		goto err;
	}
	bind_text(st, 1, serial);
	if ((rc = db_step(st)) == DB_ROW)
		prev = (int)db_column_int64(st, 0);
	else if (rc != DB_DONE) {
		reg_dberr(reg, err, errlen, "look up posture");
		goto err;
	}
	db_finalize(st);
	st = NULL;
	if (db_prepare(reg->db, "INSERT INTO posture_reports (serial, ldevid_serial, "
	    "received_at, report_time, cms, report, compliant, reasons) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8) RETURNING id", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare posture report insert");
		goto err;
	}
	bind_text(st, 1, serial);
	bind_text(st, 2, ldevid_serial);
	db_bind_int64(st, 3, now);
	db_bind_int64(st, 4, report_time);
	db_bind_blob(st, 5, cms, cmslen);
	bind_text(st, 6, report);
	db_bind_int64(st, 7, compliant ? 1 : 0);
	bind_text(st, 8, reasons);
	if (db_step(st) != DB_ROW) {
		reg_dberr(reg, err, errlen, "insert posture report");
		goto err;
	}
	rid = db_column_int64(st, 0);
	db_finalize(st);
	st = NULL;
	if (db_prepare(reg->db, "INSERT INTO posture (serial, report_id, compliant, "
	    "evaluated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (serial) DO UPDATE SET "
	    "report_id = excluded.report_id, compliant = excluded.compliant, "
	    "evaluated_at = excluded.evaluated_at", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare posture update");
		goto err;
	}
	bind_text(st, 1, serial);
	db_bind_int64(st, 2, rid);
	db_bind_int64(st, 3, compliant ? 1 : 0);
	db_bind_int64(st, 4, now);
	if (db_step(st) != DB_DONE) {
		reg_dberr(reg, err, errlen, "update posture");
		goto err;
	}
	if ((d = json_pack("{s:s, s:I, s:O}", "ldevid", ldevid_serial, "report",
	    (json_int_t)rid, "reasons", r)) == NULL ||
	    (details = json_dumps(d, JSON_COMPACT)) == NULL) {
		errf(err, errlen, "registry: out of memory");
		goto err;
	}
	if (audit_append_locked(reg, now, actor, "posture", serial,
	    compliant ? "compliant" : "noncompliant", details, err, errlen) == -1 ||
	    reg_commit(reg, err, errlen) == -1)
		goto err;
	if (id != NULL)
		*id = rid;
	if (prev_compliant != NULL)
		*prev_compliant = prev;
	db_finalize(st);
	json_decref(d);
	json_decref(r);
	free(details);
	return 0;
err:
	reg_rollback(reg);
out:
	db_finalize(st);
	json_decref(d);
	json_decref(r);
	free(details);
	return -1;
}

void
registry_posture_free(struct registry_posture *p)
{
	if (p == NULL)
		return;
	free(p->report);
	free(p->reasons);
	p->report = p->reasons = NULL;
}

int
registry_posture_latest(struct registry *reg, const char *serial,
    struct registry_posture *out, size_t n, char *err, size_t errlen)
{
	struct db_stmt *st = NULL;
	struct registry_posture *p;
	size_t got = 0, i;
	int rc;

	if (check_arg("device serial", serial, 64, err, errlen) == -1)
		return -1;
	if (n == 0 || n > 8) {
		errf(err, errlen, "registry: asked for %zu posture reports (1..8)", n);
		return -1;
	}
	if (db_prepare(reg->db, "SELECT id, serial, ldevid_serial, received_at, report_time, "
	    "compliant, report, reasons FROM posture_reports WHERE serial = ?1 "
	    "ORDER BY id DESC LIMIT ?2", &st) != 0) {
		reg_dberr(reg, err, errlen, "prepare posture reports");
		return -1;
	}
	bind_text(st, 1, serial);
	db_bind_int64(st, 2, (int64_t)n);
	while (got < n && (rc = db_step(st)) == DB_ROW) {
		p = &out[got];
		memset(p, 0, sizeof(*p));
		p->id = db_column_int64(st, 0);
		copy_col(st, 1, p->serial, sizeof(p->serial));
		copy_col(st, 2, p->ldevid_serial, sizeof(p->ldevid_serial));
		p->received_at = db_column_int64(st, 3);
		p->report_time = db_column_int64(st, 4);
		p->compliant = db_column_int64(st, 5) != 0;
		p->report = strdup(db_column_text(st, 6) ? db_column_text(st, 6) : "{}");
		p->reasons = strdup(db_column_text(st, 7) ? db_column_text(st, 7) : "[]");
		got++;
		if (p->report == NULL || p->reasons == NULL) {
			errf(err, errlen, "registry: out of memory");
			goto err;
		}
	}
	if (got < n && rc != DB_DONE) {
		reg_dberr(reg, err, errlen, "read posture reports");
		goto err;
	}
	db_finalize(st);
	return (int)got;
err:
	for (i = 0; i < got; i++)
		registry_posture_free(&out[i]);
	db_finalize(st);
	return -1;
}

int
registry_noncompliant_netids_foreach(struct registry *reg,
    int (*cb)(const char *kind, const char *value, void *arg), void *arg, char *err,
    size_t errlen)
{
	struct reg_cb c = { .fn.netid = cb, .arg = arg };

	return reg_rows(reg, REGISTRY_NONCOMPLIANT_QUERY, NULL, NULL, netid_row, &c,
	    "list noncompliant network identifiers", err, errlen);
}
