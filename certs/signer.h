/*
 * signer: the only holder of the domain CA's private key (STYLE.md, relayd's "ca" process).
 *
 * signer_start() loads the CA certificate and forks a child that reads the key (a PEM file or, by
 * an RFC 7512 pkcs11: URI, a key in a PKCS#11 token: certs/keyref.h), keeps it and closes
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
 *
 * Privileges (signer_configure()). The child reads the key with the owner's privileges (root
 * in latchkeyd, before its worker drops them), checks it against the certificate, then
 * switches to its own user: no supplementary groups, gid then uid, and it checks that root
 * cannot be regained, and signs a fixed text once as that user (a token that user cannot use
 * fails here); only then does it answer signer_start() (which fails with its reason
 * otherwise). A token key is used under keyref_lock() (one process at a time). The owner's uid stays the child's saved uid, so that the owner, running as
 * another unprivileged user, may still SIGKILL a child that stalls (kill(2) permits it); it
 * cannot ptrace it (the child is not dumpable and its effective uid differs). The child
 * also bounds what it signs besides LDevIDs: a CRL or OCSP response whose validity
 * (nextUpdate - thisUpdate) exceeds the configured maximum, or whose thisUpdate lies more
 * than SIGNER_SKEW_SEC ahead of the child's clock, is refused with an error.
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

#define SIGNER_CRL_MAX_HOURS	48	/* default bound on a CRL's validity */
#define SIGNER_OCSP_MAX_HOURS	24	/* default bound on an OCSP response's validity */
#define SIGNER_SKEW_SEC		300	/* thisUpdate may lead the child's clock by this */
#define SIGNER_START_MS		10000	/* the child reads the key and drops within this */

/* Process-wide settings of the signers started afterwards (see Privileges). */
struct signer_conf {
	int		 drop;		/* 1: the child switches to uid/gid after loading */
	uid_t		 uid;
	gid_t		 gid;
	uid_t		 owner_uid;	/* the owner's uid after its own drop (kill(2)) */
	char		 user[64];	/* for messages */
	unsigned	 crl_max_hours;	/* 0: SIGNER_CRL_MAX_HOURS */
	unsigned	 ocsp_max_hours;	/* 0: SIGNER_OCSP_MAX_HOURS */
};

/* Set before signer_start() (and before threads); NULL restores the defaults. */
void	signer_configure(const struct signer_conf *c);

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
/*
 * Audit checkpoints (DESIGN.md "Trust model": the head of the registry's audit chain signed
 * by the key-holding side). The signer signs one fixed structure and nothing else:
 *
 *   CHECKPOINT body = u64 seq | head[32] | u16 domain_len | domain     (exact length)
 *   answer          = i64 at | signature                    (at: the signer's own clock)
 *
 * seq >= 1 (the audit entry id of the head), head its SHA-256, domain 1 to
 * SIGNER_CKPT_DOMAIN_MAX printable ASCII bytes (0x20..0x7e). The bytes signed, with the
 * domain CA key (SHA-256; Ed25519/Ed448 sign the message itself), are the text
 *
 *   "latchkey-audit-checkpoint v1\n" "domain=" D "\n" "seq=" N "\n"
 *   "head=sha256:" HEX "\n" "at=" T "\n"
 *
 * (decimal integers, lower-case hex): its fixed ASCII first line can never be read as a
 * DER TBSCertificate, CRL or OCSP response (those start with 0x30), so the CA key signs no
 * checkpoint that is anything but a checkpoint. signer_checkpoint_tbs() makes those bytes,
 * signer_checkpoint_verify() checks a signature against the CA certificate.
 */
#define SIGNER_CKPT_DOMAIN_MAX	255
#define SIGNER_CKPT_TBS_MAX	512	/* the text above at its longest, with room */
#define SIGNER_CKPT_SIG_MAX	1024	/* a signature (RSA-4096: 512 bytes) */

struct signer_checkpoint {
	int64_t		seq;			/* audit entry id of the head, >= 1 */
	unsigned char	head[32];		/* its hash */
	char		domain[SIGNER_CKPT_DOMAIN_MAX + 1];
	int64_t		at;			/* set by signer_checkpoint(): the signer's time */
};

/* Sign cp (seq, head, domain); sets cp->at; *sig malloc'd (caller frees). */
int	signer_checkpoint(struct signer *s, struct signer_checkpoint *cp, unsigned char **sig,
	    size_t *sig_len, char *err, size_t errlen);
/* The bytes a checkpoint signature covers into buf; their length, or -1 when cp is bad. */
int	signer_checkpoint_tbs(const struct signer_checkpoint *cp, char *buf, size_t len);
/* 0 when sig is ca's key's signature of cp, else -1 with err. */
int	signer_checkpoint_verify(X509 *ca, const struct signer_checkpoint *cp,
	    const unsigned char *sig, size_t sig_len, char *err, size_t errlen);
/*
 * The exported form of a signed checkpoint, one line (latchkeyd's log and its
 * audit-checkpoint-file; no newline), the domain last as it may hold spaces:
 *
 *   audit checkpoint seq=N head=sha256:HEX at=T sig=BASE64 domain=D
 *
 * signer_checkpoint_format() writes it (its length, or -1 when it does not fit in len);
 * signer_checkpoint_parse() reads it, skipping whatever precedes "audit checkpoint " (a
 * syslog prefix): 0, or -1 when the line is not one. sig has SIGNER_CKPT_SIG_MAX bytes.
 */
#define SIGNER_CKPT_LINE_MAX	2048
int	signer_checkpoint_format(const struct signer_checkpoint *cp, const unsigned char *sig,
	    size_t sig_len, char *buf, size_t len);
int	signer_checkpoint_parse(const char *line, struct signer_checkpoint *cp,
	    unsigned char *sig, size_t *sig_len);
/*
 * Send one request of any type as is (len <= SIGNER_MSG_MAX - 8) and read the answer: for
 * tests of the child's own checks, which are the boundary (a worker can write any bytes on
 * the channel). 0 and *reply (malloc'd) when the child said ok, else -1 with its reason.
 */
int	signer_request_raw(struct signer *s, uint32_t type, const unsigned char *body,
	    size_t len, unsigned char **reply, size_t *reply_len, char *err, size_t errlen);
pid_t	signer_pid(const struct signer *s);
/*
 * One exchange that signs nothing (PING, answered ok "pong"), bounded like every other: 0 when
 * the child answered in time, else -1 with err; a child that stalls or died is lost then
 * (Lifecycle). latchkeyd's health check.
 */
int	signer_ping(struct signer *s, char *err, size_t errlen);
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
