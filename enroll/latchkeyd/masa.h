/*
 * masa: the Manufacturer Authorized Signing Authority (RFC 8995 §5.5-§5.8) as a latchkeyd
 * role (`role = masa`). Serves, under /.well-known/brski/:
 *   POST requestvoucher    registrar voucher-request (CMS, application/voucher-cms+json)
 *                          in, voucher out. Checks: the CMS signer is the registrar's TLS
 *                          client certificate; the prior-signed-voucher-request is signed
 *                          by an IDevID under manufacturer-ca with the same serial and
 *                          nonce and names this registrar as proximity-registrar-cert; a
 *                          sales record authorizes a domain CA the registrar chains to for
 *                          this serial. The voucher (RFC 8366) pins that domain CA, carries
 *                          the nonce (or, nonceless, expires after MASA_NONCELESS_DAYS),
 *                          assertion "logged", and is signed with masa-cert/masa-key.
 *   POST requestauditlog   the same voucher-request in, the serial's voucher log out
 *                          (RFC 8995 §5.8, application/json), for authorized domains only.
 * Every issue is written to the MASA database (masadb.h), and so is every refusal to an
 * authenticated actor: a registrar whose TLS client certificate chains to a domain CA sold
 * the serial it asks about, or a pledge whose prior-signed-voucher-request verified under
 * manufacturer-ca. Refusals before either is established write nothing permanent: they
 * are counted (masa_unauth()) and logged at most once a second.
 */
#ifndef LATCHKEY_MASA_H
#define LATCHKEY_MASA_H

#include <stddef.h>

#include "enroll/latchkeyd/config.h"
#include "enroll/latchkeyd/registrar.h"

#define MASA_NONCELESS_DAYS	14

struct masa;

struct masa *masa_new(const struct config *cfg, char *err, size_t errlen);
void	masa_free(struct masa *m);
/*
 * One signature of a fixed text with the voucher-signing key: a worker calls it after its
 * privilege drop, so that a key in a PKCS#11 token the workers' user cannot use is a
 * start-up error, not a failed voucher. 0, or -1 with err.
 */
int	masa_key_probe(struct masa *m, char *err, size_t errlen);

/* Counters of refusals to unauthenticated requests, this worker's (unauth.h). */
struct unauth_stats;
const struct unauth_stats *masa_unauth(const struct masa *m);

/* Answer one request (any path; unknown ones get 404). Never fails. */
void	masa_handle(struct masa *m, const char *path, int is_post, const char *content_type,
	    const unsigned char *body, size_t len, const struct registrar_peer *peer,
	    struct registrar_reply *out);

#endif
