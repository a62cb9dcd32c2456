/*
 * masadb: the MASA's own store (RFC 8995 §5.5, §5.8): sales records (which owner domain CA
 * may get vouchers for which device serial), the vouchers it issued, and its audit log.
 * One SQLite file (WAL); no SQLite type leaves masadb.c.
 *
 * Schema (PRAGMA user_version 1):
 *   sales(serial, domain_ca_fp, domain_ca_der, authorized_at, actor,
 *         PRIMARY KEY (serial, domain_ca_fp))
 *   vouchers(id PK, serial, domain_ca_fp, domain_id, registrar_fp, nonce, assertion,
 *            issued_at, expires_on, der)
 *   audit(id PK, at, actor, action, subject, reason, details)
 * Every function returns 0 on success, -1 with one line in err, unless stated otherwise.
 * One struct masadb per thread.
 */
#ifndef LATCHKEY_MASADB_H
#define LATCHKEY_MASADB_H

#include <stddef.h>
#include <stdint.h>

#define MASADB_CREATE	0x01
#define MASADB_RDONLY	0x02

struct masadb;

struct masadb *masadb_open(const char *path, int flags, char *err, size_t errlen);
void	masadb_close(struct masadb *db);	/* NULL safe */

/*
 * Sales record: the domain CA (DER, fingerprint "sha256:...") may obtain vouchers for
 * serial. Audited ("authorize"). Returns 1 when the record already existed.
 */
int	masadb_authorize(struct masadb *db, const char *serial, const unsigned char *ca_der,
	    size_t ca_len, const char *ca_fp, const char *actor, char *err, size_t errlen);

/* Call cb for each domain CA authorized for serial; cb returns non-zero to stop (returned
 * as is). Returns 0 after all, or -1. */
int	masadb_sales_foreach(struct masadb *db, const char *serial,
	    int (*cb)(const unsigned char *der, size_t len, const char *fp, void *arg),
	    void *arg, char *err, size_t errlen);

struct masadb_voucher {
	const char	*serial;
	const char	*domain_ca_fp;
	const char	*domain_id;	/* base64 SKI of the pinned domain CA (RFC 8995 §5.8.2) */
	const char	*registrar_fp;
	const char	*nonce;		/* NULL: nonceless */
	const char	*assertion;
	int64_t		 issued_at;
	int64_t		 expires_on;	/* 0 = none */
	const unsigned char *der;
	size_t		 len;
};

/* Record an issued voucher and its audit entry ("voucher-issued") in one transaction. */
int	masadb_voucher_add(struct masadb *db, const struct masadb_voucher *v,
	    const char *details, char *err, size_t errlen);
/* Issued vouchers of serial, oldest first (RFC 8995 §5.8 audit log events). */
int	masadb_voucher_foreach(struct masadb *db, const char *serial,
	    int (*cb)(const struct masadb_voucher *v, void *arg), void *arg, char *err,
	    size_t errlen);

int	masadb_audit(struct masadb *db, const char *actor, const char *action,
	    const char *subject, const char *reason, const char *details, char *err,
	    size_t errlen);

#endif
