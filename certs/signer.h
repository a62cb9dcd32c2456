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
 * A dead child makes signer_issue() fail (the caller answers 500 and logs); it is not
 * restarted silently.
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
void	signer_free(struct signer *s);	/* closes the channel, reaps the child; NULL safe */

#endif
