/*
 * agent: the device side of EST enrollment (RFC 7030), callable without the CLI.
 *
 * One call runs one whole exchange over ONE TLS connection (one libcurl easy handle; the
 * connection is reused for every request and that is checked, because the CSR carries the
 * connection's channel binding, RFC 7030 §3.5 with RFC 9266 tls-exporter on TLS 1.3 or
 * RFC 5929 tls-unique on TLS 1.2):
 *   GET  <server>/.well-known/est[/<label>]/cacerts      the domain CA certificates
 *   GET  .../csrattrs                                     informational (404/204 fine)
 *   POST .../simpleenroll | simplereenroll                base64 PKCS#10 -> certs-only PKCS#7
 * A 202 answer (RFC 7030 §4.2.3: the registrar holds the request, e.g. for an
 * administrator's approval) is waited for only within o->wait: after Retry-After (clamped
 * to [1, AGENT_PENDING_RETRY_MAX] s) the request is repeated on a new TLS connection with a
 * new CSR carrying that connection's binding. A 503 with Retry-After is waited for within
 * the timeout and repeated on the same session.
 *
 * Files written into the output directory (created 0700 when missing):
 *   ldevid.key       the new private key (PKCS#8 PEM, 0600); with the TPM key store the
 *                    TPM-wrapped blob ("TSS2 PRIVATE KEY" PEM, 0600), no private key
 *                    material (certs/tpmkey.h)
 *   ldevid.pem       the LDevID, followed by any intermediate CA the server returned
 *   domain-ca.pem    every certificate from cacerts
 *   enrollment.json  server, label, device serial, LDevID serial, notAfter, domain CA
 *                    fingerprint, time, key type (reenroll reads server and label from it)
 * Key and certificate are staged as ldevid.key.new / ldevid.pem.new and renamed key first,
 * so a crash never leaves a certificate without its key; the next run completes or discards
 * a half-finished replacement (agent_recover()).
 *
 * Library rules: nothing here prints or exits. Progress goes to the caller's callback; every
 * failure returns -1 with one line in err (errlen bytes, err may be NULL). The caller should
 * call agent_global_init() once before any thread is started.
 */
#ifndef LATCHKEY_AGENT_H
#define LATCHKEY_AGENT_H

#include <stddef.h>

#include <openssl/types.h>

#define AGENT_PATH_MAX		4096
#define AGENT_TIMEOUT_DEFAULT	30		/* seconds, whole exchange */
#define AGENT_RESPONSE_MAX	(1024 * 1024)	/* larger answers abort the transfer */
#define AGENT_LABEL_MAX		64		/* [A-Za-z0-9._-], RFC 7030 §3.2.2 */

/* File names inside the output directory. */
#define AGENT_FILE_KEY		"ldevid.key"
#define AGENT_FILE_CERT		"ldevid.pem"
#define AGENT_FILE_CA		"domain-ca.pem"
#define AGENT_FILE_META		"enrollment.json"
#define AGENT_FILE_VOUCHER	"voucher.cms"	/* BRSKI voucher path (brski) */

/*
 * BRSKI voucher path (RFC 8995 §5; brski): enroll with neither ca_file nor trust_fp but
 * masa_anchor set. The first request opens TLS provisionally (any registrar certificate is
 * accepted and recorded); the agent POSTs /.well-known/brski/requestvoucher, a CMS
 * voucher-request signed with the IDevID key (nonce, serial-number, created-on,
 * proximity-registrar-cert = the recorded certificate); a 503 is retried after
 * max(Retry-After, backoff), the backoff doubling from 1 s up to AGENT_BACKOFF_MAX, within
 * the timeout. A 202 (RFC 8995 §5.6: held, e.g. for an administrator's approval) is
 * waited for like the CSR's, within o->wait, after Retry-After clamped to [1,
 * AGENT_VOUCHER_RETRY_MAX] s; the same voucher-request (same nonce) is sent again on a new
 * TLS connection, a new one only when that connection shows another registrar
 * certificate. The voucher must verify against masa_anchor, carry our serial and nonce,
 * be unexpired and pin a domain certificate that the registrar's certificate is (or
 * chains to); from then on only that pinned certificate is trusted (a new connection is
 * verified against it). The voucher is kept as voucher.cms; voucher status and enroll
 * status are reported to the registrar (RFC 8995 §5.7, §5.9.4).
 */
#define AGENT_BACKOFF_MAX	60		/* seconds, bound of the doubling back-off */
#define AGENT_PENDING_RETRY_MAX	3600		/* seconds, most a 202 makes us wait */
#define AGENT_VOUCHER_RETRY_MAX	60		/* ... a 202 to a voucher-request, RFC 8995 §5.6 */

/* What goes into the CSR's challengePassword. Only AGENT_CB_NORMAL is for real use; the
 * others serve the test client tests/tools/enroll_chanbind (no option of latchkey sets them). */
enum agent_chanbind {
	AGENT_CB_NORMAL = 0,	/* this connection's binding (RFC 7030 §3.5) */
	AGENT_CB_NONE,		/* testing: no challengePassword at all */
	AGENT_CB_BAD		/* testing: base64 of 32 zero bytes */
};

/* Where the LDevID key is made and kept. */
enum agent_key_store {
	AGENT_KEYSTORE_DEFAULT = 0,	/* enroll: file; reenroll: where the current key is */
	AGENT_KEYSTORE_FILE,		/* generated in memory, PKCS#8 PEM file */
	AGENT_KEYSTORE_TPM		/* generated inside the TPM (P-256 only), never exported */
};

/* Progress levels handed to the callback. */
#define AGENT_INFO	0	/* one line per step, for people */
#define AGENT_DEBUG	1	/* details (HTTP status, sizes), shown with -v */

/*
 * Format one progress line (no newline) and hand it to fn with arg; nothing when fn is
 * NULL. The device library's one way of telling its caller what it does (agent, discover,
 * onboard): it never prints itself.
 */
void	agent_progress(void (*fn)(void *arg, int level, const char *line), void *arg,
	    int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct agent_opts {
	const char	*server;	/* "https://host[:port]"; reenroll: NULL = recorded */
	const char	*label;		/* EST CA label or NULL; reenroll: NULL = recorded */
	const char	*out_dir;	/* output directory (required) */
	/* enroll only: the factory identity, PEM; cert file = leaf + issuing CA chain. */
	const char	*idevid_cert;
	const char	*idevid_key;
	/* enroll: exactly one of ca_file (TLS verified against it, peer + host) or trust_fp
	 * ("sha256:HEX", the registrar's leaf certificate is pinned; operator pinning).
	 * reenroll ignores both and verifies the server against out_dir/domain-ca.pem. */
	const char	*ca_file;
	const char	*trust_fp;
	const char	*key_type;	/* pki_key_new() names; NULL = "p256" */
	enum agent_key_store key_store;
	/* the TPM's TCTI (certs/tpmkey.h); NULL: $TPM2OPENSSL_TCTI, else /dev/tpmrm0 */
	const char	*tpm_tcti;
	int		 force;		/* enroll: replace an existing ldevid.pem */
	int		 timeout;	/* seconds for the whole exchange; <= 0: default */
	/* seconds to keep asking while the registrar answers 202 (pending), from the
	 * first 202, besides timeout; 0: fail at once (res->pending), < 0: no limit */
	int		 wait;
	int		 curl_verbose;	/* libcurl's own trace on stderr (debugging) */
	enum agent_chanbind chanbind;
	const char	*masa_anchor;	/* voucher path (brski): factory MASA anchor(s), PEM */
	/* agent_ldevid_post(): the LDevID key when the caller has it loaded already (borrowed);
	 * NULL: it is loaded from out_dir */
	EVP_PKEY	*ldevid_key;
	/* Progress: one line without newline; may be NULL. */
	void		(*progress)(void *arg, int level, const char *line);
	void		*progress_arg;
};

struct agent_result {
	char	device_serial[64];	/* subject serialNumber of the device */
	char	ldevid_serial[64];	/* LDevID serial number, uppercase hex */
	char	old_ldevid_serial[64];	/* reenroll: the serial of the LDevID replaced */
	char	not_after[32];		/* LDevID notAfter, "YYYY-MM-DDTHH:MM:SSZ" */
	char	ca_fingerprint[80];	/* "sha256:..." of the anchor the LDevID chains to */
	char	tls_version[16];	/* "TLSv1.3" */
	char	chanbind_type[16];	/* "tls-exporter", "tls-unique" or "none" */
	char	server[1024];		/* server URL used */
	size_t	nca;			/* certificates received from cacerts */
	char	key_store[8];		/* "file" or "tpm": where the LDevID key is */
	char	key_path[AGENT_PATH_MAX];
	char	cert_path[AGENT_PATH_MAX];
	char	ca_path[AGENT_PATH_MAX];
	char	meta_path[AGENT_PATH_MAX];
	/* voucher path (brski); empty otherwise */
	char	voucher_path[AGENT_PATH_MAX];
	char	pinned_fingerprint[80];	/* "sha256:..." of the voucher's pinned-domain-cert */
	/* failed because the registrar still answered 202 (pending) when o->wait ran out
	 * or was 0: an administrator has not decided yet */
	int	pending;
};

/*
 * Open the TPM when this run needs it, before agent_global_init() (certs/tpmkey.h): when o->key_store is AGENT_KEYSTORE_TPM, o->idevid_key
 * is a TPM key reference, or o->out_dir's ldevid.key is a TPM key. 1 when it opened the
 * TPM (through o->tpm_tcti), 0 when none is needed, -1 with err (an unreachable TPM names
 * its TCTI; nothing falls back to a file key).
 */
int	agent_tpm_prepare(const struct agent_opts *o, char *err, size_t errlen);
/*
 * The agent's one way from a key reference to a private key: a TPM key (TSS2 PEM file or
 * handle:0x81..., needs agent_tpm_prepare()) or a PEM key file. NULL with err.
 */
EVP_PKEY *agent_key_load(const char *ref, char *err, size_t errlen);
/* "tpm" when the key file or reference ref is a TPM key, else "file". */
const char *agent_key_store_name(const char *ref);
/* The --key-store value name ("file", "tpm") as AGENT_KEYSTORE_*, or -1. */
int agent_key_store_parse(const char *name);

/* libcurl's global setup/teardown; call once per process. Returns 0 or -1. */
int	agent_global_init(void);
void	agent_global_cleanup(void);

/*
 * First enrollment with the IDevID as TLS client certificate (simpleenroll). Refuses when
 * out_dir already holds ldevid.pem unless o->force. Fills res on success (0); -1 and err
 * otherwise. A refusal by the registrar reads "enrollment refused: HTTP <code>: <line>".
 */
int	agent_enroll(const struct agent_opts *o, struct agent_result *res, char *err,
	    size_t errlen);
/*
 * Renewal (simplereenroll) with out_dir/ldevid.pem + ldevid.key as client certificate and
 * out_dir/domain-ca.pem as the only trust anchor; a new key is generated and the files are
 * replaced as described above. Returns 0 or -1 with err.
 */
int	agent_reenroll(const struct agent_opts *o, struct agent_result *res, char *err,
	    size_t errlen);
/*
 * Finish or discard a key/certificate replacement a crash interrupted in dir: a staged
 * ldevid.pem.new is moved into place when its public key matches the staged or the current
 * key, else the staged files are removed. Returns 1 when it changed something, 0 when there
 * was nothing to do, -1 with err.
 */
int	agent_recover(const char *dir, char *err, size_t errlen);

/*
 * Confirm a renewal (or enrollment) to the registrar by using the new LDevID once:
 * GET <server>/.well-known/latchkey/status on a new connection authenticated by
 * out_dir/ldevid.pem + ldevid.key, the registrar verified against out_dir/domain-ca.pem;
 * server is o->server or the one in enrollment.json. The registrar revokes, with reason
 * superseded, every older LDevID of the binding at the first use of a newer one
 * (latchkeyd(8)); their serials come back in superseded (comma-separated, "" none; may be
 * NULL). 0 when the registrar answers that ldevid_serial (when not NULL) is the LDevID
 * presented and active; -1 with err otherwise (a failure leaves the older LDevIDs valid
 * until the new one is next used; the enrollment stands).
 */
int	agent_confirm(const struct agent_opts *o, const char *ldevid_serial, char *superseded,
	    size_t slen, char *err, size_t errlen);
/*
 * The registrar's status answer (body, len bytes: JSON, registrar.c handle_status) checked
 * as agent_confirm() does: 0 when it names ldevid_serial (when not NULL) as presented and
 * active, superseded then the serials it revoked (comma-separated, truncated to slen - 1);
 * -1 with err otherwise. Network input: tests/fuzz/fuzz_status.c.
 */
int	agent_confirm_check(const unsigned char *body, size_t len, const char *ldevid_serial,
	    char *superseded, size_t slen, char *err, size_t errlen);

/*
 * Report the device's network identifiers (kea): POST body (JSON, enroll/common/netid.h) to
 * <server>/.well-known/latchkey/netid on a new connection authenticated by
 * out_dir/ldevid.pem + ldevid.key, the registrar verified against out_dir/domain-ca.pem;
 * server is o->server or the one in enrollment.json. Call after a successful enroll or
 * reenroll; a failure here does not undo the enrollment. 0 on 204, -1 with err.
 */
int	agent_report_netids(const struct agent_opts *o, const char *body, size_t len,
	    char *err, size_t errlen);

/*
 * POST body (len octets, Content-Type ctype) to <server><path> on a new connection
 * authenticated by out_dir/ldevid.pem + ldevid.key, the server verified against
 * out_dir/domain-ca.pem; server is o->server or the one in enrollment.json. 0 with the
 * HTTP status (any) in *status and the answer in *answer (malloc'd, NUL added, *alen
 * without it; free it); -1 with err when no exchange took place.
 */
int	agent_ldevid_post(const struct agent_opts *o, const char *path, const char *ctype,
	    const void *body, size_t len, long *status, char **answer, size_t *alen,
	    char *err, size_t errlen);
/* The same with a GET of <server><path>; AGENT_STATUS_PATH: the binding's state. */
#define AGENT_STATUS_PATH	"/.well-known/latchkey/status"
int	agent_ldevid_get(const struct agent_opts *o, const char *path, long *status,
	    char **answer, size_t *alen, char *err, size_t errlen);

#endif
