/*
 * signer: the only holder of the domain CA's private key (STYLE.md, relayd's "ca" process).
 *
 * signer_start() loads the CA certificate and key, forks a child that keeps the key and closes
 * everything else, and talks to it over a socketpair with typed, length-prefixed messages:
 *
 *   request  = u32 type (1 = ISSUE_LDEVID) | u32 len | body      (integers big-endian)
 *   ISSUE body = u16 serial_len | serial | u16 spki_len | spki | u16 hw_len | hw
 *   response = u32 status (0 ok) | u32 len | body (cert DER, or a one-line error text)
 *
 * Every length is checked against SIGNER_MSG_MAX before anything is read or allocated; the
 * child re-parses the public key and refuses anything ca_issue_ldevid would not accept.
 * The parent never holds the key: after signer_start() only the CA certificate stays in it.
 *
 * Lifecycle. Every exchange is bounded in time: the request written and the whole answer
 * read within the signer's timeout (SIGNER_TIMEOUT_MS for ISSUE and OCSP, at least
 * SIGNER_CRL_TIMEOUT_MS for a CRL), each wait a poll() on what is left. A child that
 * died (crash, OOM kill), closed the channel, answered out of step or stalled (stopped,
 * stuck: no answer in time) is lost for good: it is SIGKILLed, the request in flight and
 * every later one fail at once with err ("...gone" or "no answer within N ms"), and
 * signer_lost() is 1. It is never restarted in place: a new signer needs the CA key read
 * again and a fork, and its owner (a latchkeyd worker) is threaded by then and, in the
 * trust model, unable to read the key. The owner is replaced instead, and the new owner
 * calls signer_start() before it has threads (enroll/latchkeyd/registrar.h). The child is
 * reaped only by signer_free(), so signer_pid() names it, and nothing else, until then.
 */
#ifndef LATCHKEY_SIGNER_H
#define LATCHKEY_SIGNER_H

#include <stddef.h>
#include <sys/types.h>

#include <stdint.h>

#include "certs/ca.h"
#include "certs/crl.h"
#include "certs/ocsp.h"

#define SIGNER_MSG_MAX		16384
#define SIGNER_LARGE_MAX	(64u << 20)	/* CRL requests and answers only */
#define SIGNER_TIMEOUT_MS	2000	/* default per exchange; the child takes < 1 ms */
#define SIGNER_CRL_TIMEOUT_MS	10000	/* a CRL of many entries takes longer */

struct signer;

struct signer *signer_start(const char *ca_cert_path, const char *ca_key_path,
	    const struct ca_profile *prof, char *err, size_t errlen);
/* Issue an LDevID; *der is malloc'd (caller frees). */
int	signer_issue(struct signer *s, const char *device_serial, const unsigned char *spki,
	    size_t spki_len, const unsigned char *hwmodule, size_t hw_len, unsigned char **der,
	    size_t *der_len, char *err, size_t errlen);
/* Sign a CRL listing e[0..n-1] (certs/crl.h); *der malloc'd (caller frees). */
int	signer_crl(struct signer *s, const struct crl_entry *e, size_t n, uint64_t crl_number,
	    int64_t this_update, unsigned next_update_hours, unsigned char **der,
	    size_t *der_len, char *err, size_t errlen);
/* Sign an OCSP response: st[i] answers q->ids[i] (certs/ocsp.h); *der malloc'd. */
int	signer_ocsp(struct signer *s, const struct ocsp_query *q, const struct ocsp_status *st,
	    int64_t this_update, unsigned next_update_hours, unsigned char **der,
	    size_t *der_len, char *err, size_t errlen);
pid_t	signer_pid(const struct signer *s);
/*
 * 1 once the signer is lost (see Lifecycle; also when the child exited while no request was
 * on the channel, where the kernel can tell: Linux 5.3+ pidfd), 0 while it serves. NULL: 1.
 */
int	signer_lost(struct signer *s);
/*
 * A descriptor that becomes readable (POLLIN) once the child has exited, for the owner's
 * event loop; owned by s (do not close). -1 where the kernel has no pidfd: poll
 * signer_lost() then. A stall is seen by the request that times out, which kills the
 * child, so the descriptor turns readable then too.
 */
int	signer_watch_fd(const struct signer *s);
/* The bound of one ISSUE or OCSP exchange in ms (default SIGNER_TIMEOUT_MS; min 1). */
void	signer_set_timeout(struct signer *s, unsigned ms);
/*
 * Close the channel and reap the child; one that has not exited SIGNER_REAP_MS after
 * seeing EOF (a stopped one) is SIGKILLed, so this never hangs. NULL safe.
 */
void	signer_free(struct signer *s);

#endif
