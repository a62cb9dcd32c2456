/*
 * registry: latchkey's durable store of claims, bindings, issued certificates and the
 * hash-chained audit log. Two backends behind this one interface, chosen by registry_open's
 * path: an SQLite file in WAL mode (the embedded default), or a PostgreSQL database (a libpq
 * URI postgresql://... or postgres://..., or a conninfo string such as
 * "host=/run/postgresql dbname=latchkey"). The logic is written once (registry.c) over a
 * small SQL driver (db.h); no SQLite or libpq type leaves db.c.
 *
 * What PostgreSQL does differently (db.h says how):
 *   - registry_backup() refuses: "backup of a PostgreSQL registry: use pg_dump".
 *   - registry_writable() only says whether the registry was opened read-write (the
 *     server decides the rest, per statement).
 *   - REGISTRY_FAST is synchronous_commit = off; the database must exist (createdb: a
 *     typo cannot make a new registry) and any read-write open creates the schema in an
 *     empty one, REGISTRY_CREATE or not; REGISTRY_RDONLY makes the session read-only.
 *   - registry_data_version() changes after any committed write, this connection's too.
 *   - Audit ids, binding and voucher ids come from identity columns: a rolled-back
 *     transaction may leave a gap (the chain links by hash, never by id arithmetic).
 *   - A connection lost between transactions (server restart) is made again on the next
 *     call.
 * Every other function works the same on both.
 *
 * Schema (versioned in PRAGMA user_version, or registry_meta.schema_version on PostgreSQL;
 * migrations applied in order on open, the same numbers on both):
 *   claims(serial PK, claimed_at, actor, anchor_fp)
 *            anchor_fp (v5): NULL, or the manufacturer anchor an IDevID must chain to
 *   bindings(id PK, serial, domain, idevid_fp, authorized_by, state 'active'|'revoked',
 *            created_at, revoked_at, reason, revoked_by,
 *            anchor_fp, readmitted_at, readmitted_by, readmit_reason)   -- v5 columns
 *            at most one active per serial; a revoked one with readmitted_at NULL holds
 *            the serial (nothing enrolls it) until registry_readmit()
 *   certificates(cert_serial PK hex, binding_id, device_serial, not_before, not_after,
 *            issued_at, der, revoked_at, reason)
 *   audit(id PK, at, actor, action, subject, reason, details, prev_hash, hash)
 *            hash = hex SHA-256 over prev_hash|at|actor|action|subject|reason|details
 *            (fields separated by 0x1f, prev_hash "" for the first row)
 *   audit_checkpoints(id PK, seq, head, at, domain, sig)          -- v6
 *            the chain's head (entry id seq, its hash head) as the signer signed it at
 *            time at (certs/signer.h, Audit checkpoints); kept out of the chain itself
 *   pending(serial PK, anchor_fp, anchor_name, idevid_fp, first_seen, last_seen, peer,
 *            attempts, state 'pending'|'denied', decided_at, decided_by, reason)  -- v7
 *            devices waiting for an administrator's approval (Pending approvals below)
 * Times are Unix seconds (int64). Durability: synchronous=FULL unless REGISTRY_FAST.
 *
 * All functions return 0 on success and -1 with a one-line err, unless stated otherwise.
 * One struct registry per thread.
 */
#ifndef LATCHKEY_REGISTRY_H
#define LATCHKEY_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "enroll/common/netid.h"

#define REGISTRY_CREATE	0x01	/* create the file and schema if missing */
#define REGISTRY_RDONLY	0x02
#define REGISTRY_FAST	0x04	/* synchronous=NORMAL (PostgreSQL: synchronous_commit=off) */

#define REGISTRY_HASH_HEX	(2 * 32 + 1)	/* an audit hash: 64 hex digits and NUL */
#define REGISTRY_KID_HEX	(2 * 64 + 1)	/* a CA key identifier: up to 64 bytes in hex */
#define REGISTRY_CKPT_SIG_MAX	1024		/* a checkpoint signature */

struct registry;

struct registry_binding {
	int64_t	id;
	char	serial[64];
	char	domain[256];
	char	idevid_fp[80];
	char	authorized_by[128];	/* "claim:<actor>" or "auto-accept:<manufacturer>" */
	char	state[16];		/* "active" or "revoked" */
	int64_t	created_at;
	int64_t	revoked_at;		/* 0 if not revoked */
	char	reason[128];
	char	revoked_by[64];
	char	anchor_fp[80];		/* manufacturer anchor of the IDevID ("" before v5) */
	int64_t	readmitted_at;		/* revoked, then re-admitted by an admin; 0 if not */
	char	readmitted_by[64];
	char	readmit_reason[128];
};

struct registry_cert {
	char	cert_serial[64];	/* hex, uppercase */
	int64_t	binding_id;
	char	device_serial[64];
	int64_t	not_before, not_after, issued_at, revoked_at;
	char	reason[128];
	char	ca_kid[REGISTRY_KID_HEX];	/* issuing CA's key id; "" = before v8 */
};

/* One enrollment, written in one transaction by registry_enroll_commit(). */
struct registry_enrollment {
	const char	*device_serial;
	const char	*domain;
	const char	*idevid_fp;	/* IDevID fingerprint (simpleenroll) or NULL (reenroll) */
	const char	*anchor_fp;	/* its manufacturer anchor (simpleenroll) or NULL */
	const char	*authorized_by;
	const char	*cert_serial;	/* hex */
	int64_t		not_before, not_after;
	const unsigned char *cert_der;
	size_t		cert_len;
	const char	*ca_kid;	/* issuing CA's key identifier (lower-case hex) or NULL */
	const char	*actor;		/* audit actor, e.g. "device:<serial>" */
	const char	*action;	/* "enroll" or "reenroll" */
	const char	*details;	/* audit details (JSON text) or NULL */
	int		 require_claim;	/* refuse if the serial is no longer claimed */
	/* Filled in by registry_enroll_commit_many(). */
	int		 committed;
	int		 refused;	/* not committed by policy (registry_admission() inside the
				 * transaction for a simpleenroll: claim withdrawn, binding
				 * revoked, bound to another IDevID); err says which */
	int64_t		 binding_id;
	char		 err[256];
};

/*
 * Open (and with REGISTRY_CREATE create, or migrate) the registry at path: an SQLite file,
 * or a PostgreSQL database when registry_is_pg(path). Errors name the registry without a
 * password: "cannot connect: <libpq's message>" (server unreachable, authentication
 * failed), "schema version N is newer than this program's M", "not a latchkey registry".
 */
struct registry *registry_open(const char *path, int flags, char *err, size_t errlen);
void	registry_close(struct registry *reg);	/* NULL safe */
/* Whether path names a PostgreSQL registry (a libpq URI or conninfo string, see above)
 * rather than a file: such a path is never resolved against a directory. */
int	registry_is_pg(const char *path);
/*
 * Whether this process can still write the registry: SQLite has it open read-write, and
 * the file and its directory (the journal, WAL and SHM files) are writable by this
 * process's effective ids. 0, or -1 with err saying what is not. No SQL: safe beside
 * the committer. PostgreSQL: opened read-write.
 */
int	registry_writable(struct registry *reg, char *err, size_t errlen);

/*
 * Claims. registry_claim returns 1 when the serial was already claimed (not an error), 2
 * when refused because serial's binding is revoked and not re-admitted (err says so: a
 * claim never re-admits a device, registry_readmit() does). registry_claim_for also names
 * the manufacturer: anchor_fp ("sha256:HEX" of a manufacturer anchor) or NULL for any; an
 * existing claim gets the new anchor_fp (0, audited) unless anchor_fp is NULL or the same
 * (1). registry_claim is registry_claim_for with anchor_fp NULL.
 */
int	registry_claim(struct registry *reg, const char *serial, const char *actor,
	    char *err, size_t errlen);
int	registry_claim_for(struct registry *reg, const char *serial, const char *anchor_fp,
	    const char *actor, char *err, size_t errlen);
/* Returns 1 when nothing was claimed under serial. */
int	registry_unclaim(struct registry *reg, const char *serial, const char *actor,
	    char *err, size_t errlen);
/* 1 claimed, 0 not claimed, -1 error. */
int	registry_claim_exists(struct registry *reg, const char *serial, char *err, size_t errlen);
/* serial's claim: the manufacturer anchor it names into anchor_fp ("" for any). 1 claimed,
 * 0 not, -1 error. */
int	registry_claim_anchor(struct registry *reg, const char *serial, char *anchor_fp,
	    size_t len, char *err, size_t errlen);

/*
 * Who may enroll serial with an IDevID (its fingerprint idevid_fp, chaining to the
 * manufacturer anchor anchor_fp), in this order:
 *   REGISTRY_BOUND_ELSEWHERE  an active binding belongs to another IDevID;
 *   REGISTRY_REVOKED          no active binding, and a revoked one not re-admitted;
 *   REGISTRY_OTHER_MAKER      claimed, but the claim names another manufacturer;
 *   REGISTRY_CLAIMED          claimed (for this manufacturer or any);
 *   REGISTRY_UNCLAIMED        none of these (the registrar's auto-accept policy decides).
 * *verdict and, for the refusals, a one-line reason ("device S is bound to another
 * IDevID", "binding of S revoked: R", "device S is claimed for another manufacturer").
 * The registrar asks before signing; registry_enroll_commit_many() asks again inside its
 * transaction. 0, or -1 with err.
 */
enum registry_verdict {
	REGISTRY_CLAIMED,
	REGISTRY_UNCLAIMED,
	REGISTRY_REVOKED,
	REGISTRY_BOUND_ELSEWHERE,
	REGISTRY_OTHER_MAKER,
};

int	registry_admission(struct registry *reg, const char *serial, const char *anchor_fp,
	    const char *idevid_fp, enum registry_verdict *verdict, char *reason,
	    size_t reasonlen, char *err, size_t errlen);
/*
 * The same for n devices at once: on PostgreSQL one round trip (a read pipeline), on
 * SQLite one after the other. For each a[i] the caller sets serial, anchor_fp and
 * idevid_fp; read is then 1 with verdict and reason as registry_admission() gives them.
 * 0 when every one was read, -1 with err when the registry could not be read (read stays 0
 * for those it did not give).
 */
struct registry_admit {
	const char		*serial, *anchor_fp, *idevid_fp;
	enum registry_verdict	 verdict;
	char			 reason[512];
	int			 read;
};
int	registry_admission_many(struct registry *reg, struct registry_admit *a, size_t n,
	    char *err, size_t errlen);

/*
 * Re-admit serial after a revocation, in one transaction: every revoked binding of serial
 * not yet re-admitted gets readmitted_at/by/reason, the serial is claimed (anchor_fp as for
 * registry_claim_for; an existing claim keeps its own unless anchor_fp is given) and a
 * "readmit" audit entry is appended. reason may be NULL. Returns 1 when nothing holds
 * serial (no revoked binding, or one already re-admitted, or an active binding).
 */
int	registry_readmit(struct registry *reg, const char *serial, const char *anchor_fp,
	    const char *reason, const char *actor, char *err, size_t errlen);

/*
 * Pending approvals (schema v7; latchkeyd's "pending = yes"). A device whose IDevID
 * verified against a manufacturer anchor but that nothing admits (REGISTRY_UNCLAIMED, no
 * auto-accept) is recorded here and told to come back (HTTP 202, RFC 7030 §4.2.3) until
 * an administrator approves or denies it. One row per serial, held by the IDevID (and
 * manufacturer anchor) that asked first; a claim of the serial removes it.
 */
struct registry_pending {
	char	serial[64];
	char	anchor_fp[80];		/* "sha256:HEX" of the manufacturer anchor */
	char	anchor_name[256];	/* the anchor's name (CN or one-line subject) */
	char	idevid_fp[80];		/* "sha256:HEX" of the IDevID */
	int64_t	first_seen, last_seen;
	char	peer[80];		/* address of the last request */
	int64_t	attempts;		/* requests so far */
	char	state[16];		/* "pending" or "denied" */
	int64_t	decided_at;		/* denied: when; 0 while pending */
	char	decided_by[128];
	char	reason[128];		/* denied: the administrator's reason, or "" */
};

/*
 * An authenticated device nothing admits asked to enroll. p in: serial, anchor_fp,
 * anchor_name, idevid_fp, peer (the other fields are ignored). In one transaction, with
 * registry_admission() asked again inside it:
 *   0  pending: a new row is recorded (audited "pending" by actor, with manufacturer,
 *      IDevID and peer) or the row counts one more attempt (last_seen, peer, attempts;
 *      not audited: the row is the count);
 *   1  denied by an administrator (the attempt is counted too): p->reason says why;
 *   2  pending under another IDevID or manufacturer: nothing changed;
 *   3  no longer unclaimed (claimed, bound or revoked meanwhile): nothing changed, ask
 *      registry_admission() again.
 * For 0, 1 and 2, p is then the row as stored. -1 with err.
 */
int	registry_pending_touch(struct registry *reg, struct registry_pending *p,
	    const char *actor, char *err, size_t errlen);

/* Every pending and denied row, first seen first; cb returns 0 to continue, non-zero to
 * stop (returned as is). */
int	registry_pending_list(struct registry *reg,
	    int (*cb)(const struct registry_pending *p, void *arg), void *arg, char *err,
	    size_t errlen);

/*
 * An administrator's decision on serial's row, in one transaction. REGISTRY_APPROVE:
 * serial is claimed for the row's manufacturer anchor (as registry_claim_for() with it)
 * and the row removed, audited "approve" (details: manufacturer, its name, IDevID,
 * attempts); a denied row may be approved. REGISTRY_DENY: the row becomes 'denied' with
 * reason (NULL: none), decided_at and decided_by = actor, audited "deny"; denying again
 * replaces the reason. A denied device's requests are refused until an administrator
 * approves it or claims it (registry_claim_for() removes the row, audited
 * "pending-cleared"). Returns 1 when serial has no row; 2 when approving is refused
 * because serial's binding is revoked (err says so: registry_readmit() re-admits); 0 or
 * -1 with err.
 */
enum registry_decision {
	REGISTRY_APPROVE,
	REGISTRY_DENY,
};

int	registry_pending_decide(struct registry *reg, const char *serial,
	    enum registry_decision d, const char *actor, const char *reason, char *err,
	    size_t errlen);

/*
 * The binding of serial: the active one if any, else the most recent. 1 found, 0 none,
 * -1 error.
 */
int	registry_binding_get(struct registry *reg, const char *serial,
	    struct registry_binding *out, char *err, size_t errlen);

/*
 * Commit one enrollment durably in a single transaction: create the binding if the serial
 * has no active binding (simpleenroll) or reuse the active one, insert the certificate, and
 * append the audit entry. On success *binding_id is the binding's id. Returns 0 before the
 * caller may answer the device.
 */
int	registry_enroll_commit(struct registry *reg, const struct registry_enrollment *e,
	    int64_t *binding_id, char *err, size_t errlen);

/*
 * Group commit: the n enrollments in one transaction, so one sync makes them all durable.
 * Each is done in full or not at all (a savepoint each): e[i].committed and binding_id, or
 * e[i].err. Returns how many were committed, or -1 when the transaction itself failed and
 * none was (err, and each e[i].err, say why).
 */
int	registry_enroll_commit_many(struct registry *reg, struct registry_enrollment *e,
	    size_t n, char *err, size_t errlen);

/* The certificate with this serial (hex). 1 found, 0 none, -1 error. */
int	registry_cert_get(struct registry *reg, const char *cert_serial,
	    struct registry_cert *out, char *err, size_t errlen);
/* Count certificates of a binding (for tests and `show`). */
int	registry_cert_count(struct registry *reg, int64_t binding_id, int *n, char *err,
	    size_t errlen);

/* Append one audit entry (hash-chained). */
int	registry_audit(struct registry *reg, const char *actor, const char *action,
	    const char *subject, const char *reason, const char *details, char *err,
	    size_t errlen);
/*
 * Recompute the whole chain. Returns 0 when intact; 1 when broken, with *bad_id the first
 * entry whose hash or link does not match; -1 on error.
 */
int	registry_audit_verify(struct registry *reg, int64_t *bad_id, char *err, size_t errlen);

/*
 * Tamper evidence beyond the chain (schema v6). An unkeyed chain only shows edits that were
 * not re-hashed; what anchors it is a signed checkpoint of its head, kept in the registry
 * and exported outside it (latchkeyd's log and checkpoint file, an admin's note).
 *
 * registry_audit_head: the newest entry's id (*seq) and hash (hex); *seq 0 and "" when the
 * log is empty.
 * registry_audit_holds: whether the chain still has entry seq with this hash (hex): 0 yes;
 * 1 no, with one line in why: "audit log truncated: ... ends at entry M" (entry seq is gone
 * and nothing follows it), "audit log rewritten: entry S is missing" or "audit log
 * rewritten: entry S has hash ..., the checkpoint has ..."; -1 error.
 * registry_audit_verify_from: registry_audit_holds, then every entry after seq links to the
 * one before and hashes right (*bad_id the first that does not; why says so). 0, 1, -1 as
 * above. Costs only the entries after seq: what latchkeyd checks before signing a new head.
 */
int	registry_audit_head(struct registry *reg, int64_t *seq, char *hash, char *err,
	    size_t errlen);
int	registry_audit_holds(struct registry *reg, int64_t seq, const char *hash, char *why,
	    size_t whylen, char *err, size_t errlen);
int	registry_audit_verify_from(struct registry *reg, int64_t seq, const char *hash,
	    int64_t *bad_id, char *why, size_t whylen, char *err, size_t errlen);

struct registry_checkpoint {
	int64_t		id;			/* row id (ignored by registry_checkpoint_add) */
	int64_t		seq;			/* audit id of the head */
	char		head[REGISTRY_HASH_HEX];	/* its hash, hex */
	int64_t		at;			/* when the signer signed it */
	char		domain[256];
	unsigned char	sig[REGISTRY_CKPT_SIG_MAX];
	size_t		siglen;
};

/* Store a signed checkpoint (not itself audited: that would move the head it names). */
int	registry_checkpoint_add(struct registry *reg, const struct registry_checkpoint *cp,
	    char *err, size_t errlen);
/* The newest checkpoint: 1 found, 0 none, -1 error. */
int	registry_checkpoint_last(struct registry *reg, struct registry_checkpoint *out,
	    char *err, size_t errlen);
/* Every checkpoint, oldest first; cb returns 0 to continue, non-zero to stop (returned). */
int	registry_checkpoint_foreach(struct registry *reg,
	    int (*cb)(const struct registry_checkpoint *cp, void *arg), void *arg, char *err,
	    size_t errlen);

struct registry_audit_entry {
	int64_t		id, at;
	const char	*actor, *action, *subject, *reason, *details, *hash;
};

/* Iterate. The callback returns 0 to continue, non-zero to stop (returned as is). */
typedef int (*registry_binding_cb)(const struct registry_binding *b, void *arg);
typedef int (*registry_cert_cb)(const struct registry_cert *c, void *arg);
typedef int (*registry_audit_cb)(const struct registry_audit_entry *e, void *arg);

struct registry_filter {
	const char	*state;		/* NULL = any */
	const char	*serial;	/* NULL = any */
	int64_t		since;		/* 0 = any */
};

int	registry_binding_foreach(struct registry *reg, const struct registry_filter *f,
	    registry_binding_cb cb, void *arg, char *err, size_t errlen);
int	registry_cert_foreach(struct registry *reg, int64_t binding_id, registry_cert_cb cb,
	    void *arg, char *err, size_t errlen);
int	registry_audit_foreach(struct registry *reg, int64_t since, registry_audit_cb cb,
	    void *arg, char *err, size_t errlen);
/* Claimed serials with no active binding yet are listed by this one. */
int	registry_claim_foreach(struct registry *reg,
	    int (*cb)(const char *serial, int64_t claimed_at, const char *actor, void *arg),
	    void *arg, char *err, size_t errlen);

/*
 * Revoke serial's active binding in one transaction: the binding becomes 'revoked'
 * (revoked_at, reason, revoked_by = actor), all its certificates are marked revoked with
 * the same reason, the claim is deleted and a "revoke" audit entry is appended. On success
 * *binding_id (may be NULL) is the revoked binding's id. Returns 1 when serial has no
 * active binding.
 */
int	registry_binding_revoke(struct registry *reg, const char *serial, const char *reason,
	    const char *actor, int64_t *binding_id, char *err, size_t errlen);

/*
 * Supersession: the certificate cert_serial (hex) has just authenticated its holder. When
 * it is unrevoked and its binding active, every other unrevoked certificate of that binding
 * issued before it (by issued_at, then by insertion order) is revoked with reason
 * REGISTRY_REASON_SUPERSEDED (RFC 5280 CRLReason superseded) in one transaction, each with
 * an "ldevid-superseded" audit entry (subject the device serial, details naming both
 * certificate serials and the binding). Certificates issued after cert_serial are never
 * touched, and the binding stays active. A cheap read comes first: no write transaction
 * when there is nothing to revoke. Returns how many were revoked (0: nothing to do, also
 * when cert_serial is unknown, revoked or of a revoked binding) with the first max of them,
 * as now revoked, in revoked[] (may be NULL when max is 0); -1 with err.
 */
#define REGISTRY_REASON_SUPERSEDED	"superseded"
#define REGISTRY_ACTION_SUPERSEDED	"ldevid-superseded"
int	registry_cert_supersede(struct registry *reg, const char *cert_serial,
	    const char *actor, struct registry_cert *revoked, size_t max, char *err,
	    size_t errlen);

/*
 * Domain CA rollover (latchkeyctl ca-rollover). Each certificate records its issuing CA's
 * key identifier (ca_kid: the CA's subjectKeyIdentifier, lower-case hex). registry_ca_mark()
 * gives every certificate recorded without one (before schema v8) the key identifier kid;
 * *n how many. registry_ca_live() counts kid's certificates neither revoked nor expired at
 * now. Both 0, or -1 with err.
 */
int	registry_ca_mark(struct registry *reg, const char *kid, int64_t *n, char *err,
	    size_t errlen);
int	registry_ca_live(struct registry *reg, const char *kid, int64_t now, int64_t *n,
	    char *err, size_t errlen);

/* Every revoked certificate, for the CRL (cb as for registry_cert_foreach). */
int	registry_revoked_foreach(struct registry *reg, registry_cert_cb cb, void *arg,
	    char *err, size_t errlen);
/*
 * How many certificates are revoked and the latest revocation time, from an index: a
 * certificate is revoked once and never un-revoked, so the revoked set changed exactly when
 * these did. 0 ok, -1 with err.
 */
int	registry_revoked_stamp(struct registry *reg, int64_t *count, int64_t *latest,
	    char *err, size_t errlen);
/*
 * A number that changes whenever another connection (latchkeyctl, another worker) committed
 * something since the last call on this one (SQLite's PRAGMA data_version): cheap change
 * detection for caches. PostgreSQL: the change notifications this connection received
 * since its first call (this connection's writes count too; no table is read; db.h,
 * db_data_version). Every committed write sends one except, since schema v13, what an
 * enrollment inserts (a binding, an unrevoked certificate, an audit entry), which no
 * CRL shows; the CRL refresh is its one reader. 0 ok, -1 with err.
 */
int	registry_data_version(struct registry *reg, int64_t *version, char *err,
	    size_t errlen);

/*
 * BRSKI vouchers (schema v2, added for RFC 8995; brski):
 *   vouchers(id PK, serial, masa_url, nonce, assertion, created_at, expires_on, pinned_fp,
 *            der, voucher_status, voucher_reason, enroll_status, enroll_reason, status_at)
 * Status values are "success" or "failure" (RFC 8995 §5.7, §5.9.4 telemetry), "" when the
 * device has not reported.
 */
struct registry_voucher {
	int64_t	id;
	char	serial[64];
	char	masa_url[512];
	char	nonce[136];
	char	assertion[16];
	int64_t	created_at;
	int64_t	expires_on;		/* 0 = none */
	char	pinned_fp[80];		/* "sha256:..." of the pinned-domain-cert */
	char	voucher_status[16];
	char	voucher_reason[256];
	char	enroll_status[16];
	char	enroll_reason[256];
	int64_t	status_at;
};

/* Store a voucher (CMS DER) for v->serial and append a "voucher" audit entry, in one
 * transaction. created_at and the status fields of v are ignored. */
int	registry_voucher_add(struct registry *reg, const struct registry_voucher *v,
	    const unsigned char *der, size_t len, const char *actor, const char *details,
	    int64_t *id, char *err, size_t errlen);
/*
 * Record the device's voucher_status (kind "voucher") or enrollstatus (kind "enroll") on
 * serial's latest voucher and append a "<kind>-status" audit entry. Returns 1 (the audit
 * entry is still written) when serial has no voucher.
 */
int	registry_voucher_status(struct registry *reg, const char *serial, const char *kind,
	    int ok, const char *reason, const char *actor, const char *details, char *err,
	    size_t errlen);
/* serial's latest voucher: 1 found, 0 none, -1 error. */
int	registry_voucher_get(struct registry *reg, const char *serial,
	    struct registry_voucher *out, char *err, size_t errlen);

/*
 * Network identifiers (schema v3, added for the Kea hook's revoked class; kea):
 *   netids(serial, kind 'mac'|'client-id'|'duid', value, reported_at, PK (kind, value))
 * value is lower-case hex without separators: mac 6 octets, client-id (DHCPv4 option 61
 * data) 2..255, duid (DHCPv6 option 1 data) 2..130. An identifier belongs to the first
 * device that reported it, for good: a report never moves one from another device (active
 * or revoked), so nobody can take an identifier out of the revoked set or plant one on a
 * device. Identifiers are the client's own claim and spoofable: they feed a quarantine
 * convenience, never an access decision.
 */
#define REGISTRY_NETID_MAX	NETID_MAX	/* identifiers in one report (common/netid.h) */

struct registry_netid {
	const char	*kind;
	const char	*value;
};

/*
 * Store n (0..REGISTRY_NETID_MAX) identifiers for serial in one transaction: those nobody
 * or serial itself holds are recorded (a "netid" audit entry lists them); one that another
 * device holds is refused and left as it is (held[i] = 1 when held is not NULL; a
 * "netid-refused" audit entry, reason "held by another device", lists each with its
 * holder). Returns how many were refused (0: all recorded), or -1 with err (nothing
 * stored). registry_netid_report is the same without held.
 */
int	registry_netid_report_held(struct registry *reg, const char *serial,
	    const struct registry_netid *ids, size_t n, const char *actor, int *held,
	    char *err, size_t errlen);
int	registry_netid_report(struct registry *reg, const char *serial,
	    const struct registry_netid *ids, size_t n, const char *actor, char *err,
	    size_t errlen);
/*
 * PostgreSQL: a committed write that can change what the Kea hook loads (a revocation, a
 * readmission, a new binding of a device with a revoked one, a netid of a device in a
 * snapshot, a posture verdict that changed; schema v12's triggers, v9's and v11's before
 * it) sends NOTIFY on this channel (empty payload, delivered at commit); an enrollment of
 * a device never revoked does not. The Kea hook LISTENs on it to reload its snapshots
 * (dhcp-hook/revoked_db.h spells the same name). SQLite: nothing; readers watch the files.
 */
#define REGISTRY_PG_CHANNEL_REVOKED	"latchkey_revoked"
/* PostgreSQL: notified at the commit of a write (schema v10; since v13 not of what an
 * enrollment inserts); registry_data_version(). */
#define REGISTRY_PG_CHANNEL_CHANGED	"latchkey_changed"	/* = DB_PG_CHANNEL_CHANGED */

/* Every identifier whose device has a revoked binding and no active one (what the Kea hook
 * loads; dhcp-hook/revoked_db.h runs the same query), ordered by kind and value. cb returns
 * 0 to continue, non-zero to stop (returned as is). */
int	registry_revoked_netids_foreach(struct registry *reg,
	    int (*cb)(const char *kind, const char *value, void *arg), void *arg, char *err,
	    size_t errlen);

/*
 * Online backup (SQLite only; a PostgreSQL registry: -1, "use pg_dump"): a consistent copy
 * of the registry at path, taken through SQLite's backup
 * API in one step (one read transaction: in WAL mode writers, latchkeyd's workers, go on
 * meanwhile). The copy is written to a temporary file beside path (mode 0600), in WAL mode
 * like the registry but checkpointed (one self-contained file, no -wal or -shm), fsync'd,
 * then renamed to path and the directory fsync'd. info (may be NULL)
 * gets the copy's audit head (seq 0 and "" when empty) and its number of audit entries.
 * Returns 1 (err says so, nothing written) when path exists and flags has no
 * REGISTRY_BACKUP_REPLACE; path is never the registry itself.
 */
#define REGISTRY_BACKUP_REPLACE	0x01	/* replace an existing path */

struct registry_backup_info {
	int64_t	seq;
	char	head[REGISTRY_HASH_HEX];
	int64_t	entries;
};

int	registry_backup(struct registry *reg, const char *path, int flags,
	    struct registry_backup_info *info, char *err, size_t errlen);

/*
 * Posture (schema v11; issue #20): each report a device sends, signed, with the verdict
 * of the policy, and the device's latest verdict, which the Kea hook reads for its
 * noncompliant class (REGISTRY_NONCOMPLIANT_QUERY, by value in dhcp-hook/revoked_db.h):
 *   posture_reports(id PK, serial, ldevid_serial, received_at, report_time, cms BLOB,
 *            report TEXT (the JSON signed), compliant 0|1, reasons TEXT (JSON array))
 *   posture(serial PK, report_id, compliant, evaluated_at)     the latest per device
 * PostgreSQL: posture's writes NOTIFY REGISTRY_PG_CHANNEL_REVOKED (the hook's channel).
 */
struct registry_posture {
	int64_t	 id;
	char	 serial[64];
	char	 ldevid_serial[64];
	int64_t	 received_at;
	int64_t	 report_time;
	int	 compliant;
	char	*report;	/* malloc'd JSON */
	char	*reasons;	/* malloc'd JSON array */
};

/*
 * Store one evaluated report and make it serial's latest verdict, with a "posture" audit
 * entry (reason "compliant" or "noncompliant", details {ldevid, report id, reasons}), in
 * one transaction. *id (may be NULL) gets the report's id. When prev_compliant is not
 * NULL it gets the verdict before this one (-1: none).
 */
int	registry_posture_record(struct registry *reg, const char *serial,
	    const char *ldevid_serial, int64_t report_time, const unsigned char *cms,
	    size_t cmslen, const char *report, int compliant, const char *reasons,
	    const char *actor, int64_t *id, int *prev_compliant, char *err, size_t errlen);
/*
 * serial's latest n (1..8) reports, newest first, into out[0..]. Returns how many (0:
 * none), -1 with err. Free each with registry_posture_free().
 */
int	registry_posture_latest(struct registry *reg, const char *serial,
	    struct registry_posture *out, size_t n, char *err, size_t errlen);
void	registry_posture_free(struct registry_posture *p);

/* The identifiers of devices whose latest verdict is noncompliant (the Kea hook's query). */
#define REGISTRY_NONCOMPLIANT_QUERY \
	"SELECT n.kind, n.value FROM netids n " \
	"WHERE EXISTS (SELECT 1 FROM posture p WHERE p.serial = n.serial " \
	"AND p.compliant = 0) " \
	"ORDER BY n.kind, n.value"
int	registry_noncompliant_netids_foreach(struct registry *reg,
	    int (*cb)(const char *kind, const char *value, void *arg), void *arg, char *err,
	    size_t errlen);

#endif
