/*
 * config: latchkeyd's configuration file (latchkeyd.conf(5)). One "keyword = value" per
 * line; '#' starts a comment; blank lines ignored; keywords marked (list) may repeat, any
 * other keyword given twice is an error naming both lines. Relative paths are resolved
 * against the directory of the configuration file. Errors name the file and line.
 *
 *   listen = ADDR:PORT | [V6ADDR]:PORT    (default 127.0.0.1:8443)
 *   admin-listen = [ADDR:]PORT             plain HTTP /healthz and /metrics (default off;
 *                                          a bare PORT is 127.0.0.1:PORT); not listen's
 *                                          port on the same or a wildcard address
 *   http-listen = ADDR:PORT                plain HTTP for the CRL and OCSP only (default
 *                                          off); differs from listen and admin-listen
 *   expiry-warn-days = N                   warn this many days before the TLS certificate,
 *                                          the domain CA or the CRL signer expire
 *                                          (default 30, 1..3650)
 *   domain = NAME                          owner domain name (required)
 *   ca-cert, ca-key = FILE                 domain CA (required; the key only reaches the signer)
 *   previous-ca-cert, previous-ca-key = FILE  the domain CA before a rollover (latchkeyctl
 *                                          ca-rollover): issues nothing, signs the CRL and
 *                                          OCSP answers for its LDevIDs until they expire
 *   rollover-certs = FILE                  NewWithOld and OldWithNew (RFC 7030 §4.1.3),
 *                                          served by cacerts with both CAs
 *   tls-cert, tls-key = FILE               registrar TLS certificate and key (required)
 *   registry = FILE | URI                  SQLite registry, or a PostgreSQL one: a libpq URI
 *                                          (postgresql://...) or conninfo (host=... dbname=...),
 *                                          taken as is (required)
 *   manufacturer-ca = FILE        (list)   trust anchors for IDevIDs (at least one)
 *   manufacturer-crl = FILE       (list)   CRLs of manufacturers (PEM or DER)
 *   auto-accept = FILE|sha256:HEX (list)   lab policy: enroll any valid IDevID that chains to
 *                                          this anchor (a certificate file, or the anchor's
 *                                          fingerprint) without a claim (audited)
 *   pending = yes | no                     hold an authenticated, unclaimed device for an
 *                                          administrator's approval (HTTP 202, RFC 7030
 *                                          §4.2.3; latchkeyctl approve/deny) instead of
 *                                          refusing it (default no)
 *   pending-retry-after = SECONDS          Retry-After of that 202 (default 30, 1..3600)
 *   channel-binding = required | optional  (default required; RFC 7030 §3.5)
 *   ldevid-lifetime-days = N               (default 365, 1..3650)
 *   crl-url, ocsp-url = URL                put into issued LDevIDs (default none)
 *   crl-file = FILE                        where the CRL is kept current (DER; default crl.der
 *                                          beside the registry, or the configuration file
 *                                          when it is PostgreSQL; "none" to not write it)
 *   audit-checkpoint-file = FILE           append-only copy of the signed audit checkpoints
 *                                          (default audit-checkpoints.log beside the
 *                                          registry; "none" to not write it)
 *   pid-file = FILE                        the parent's pid, written once it serves (default
 *                                          none); latchkeyctl init --reissue-registrar-cert
 *                                          --reload FILE signals it
 *   max-body = BYTES                       request body limit (default 65536)
 *   idle-timeout = SECONDS                 drop a silent client after this (default 10)
 *   registry-sync = full | normal          durability of writes (default full)
 *   workers = N                            worker processes (default 0 = one per CPU, max 64)
 *   latch = yes | no                       RFC 5660 latches over strongSwan (default no)
 *   vici-socket = URI                      charon's VICI socket (default unix:///var/run/charon.vici)
 *   latch-state = FILE                     latch states for latchkeyctl show (default
 *                                          latch-state.json beside the registry)
 *   latch-control = FILE                   optional control socket ("close SERIAL", "show")
 *   latch-disposition = reset|wait|unreachable   on BROKEN (RFC 5660 §5.5; default reset)
 *   latch-local = ADDR                     accept IKE on this address only (default any)
 *   latch-mode = transport | tunnel        ESP mode (default transport; tunnel for test beds)
 *   latch-local-ts, latch-remote-ts = CIDR tunnel mode traffic selectors
 *   mdns = yes | no                        announce over mDNS/DNS-SD (default no)
 *   mdns-name = NAME                       instance name (default "latchkey registrar DOMAIN")
 *   posture-url, update-url = URL          with mdns: also announce these (https, this host)
 *   user = NAME                            workers' user when started as root (default
 *                                          latchkey; "root" keeps root, with a warning)
 *   signer-user = NAME                     the signers' user when started as root (default
 *                                          latchkey-signer)
 *   crl-max-validity = HOURS               the signer's bound on a CRL's validity (default 48,
 *                                          24..8760)
 *   ocsp-max-validity = HOURS              on an OCSP response's (default 24, 1..8760)
 *
 * BRSKI (RFC 8995) and the MASA role (added by brski):
 *   role = registrar | masa                (default registrar) masa: latchkeyd serves the
 *                                          MASA endpoints under /.well-known/brski/ instead
 *                                          of EST; needs tls-cert, tls-key, masa-cert,
 *                                          masa-key, masa-db, manufacturer-ca (the IDevID
 *                                          anchors that sign pledges' voucher-requests)
 *   masa-url = URL                         registrar: the MASA of devices whose IDevID has
 *                                          no id-pe-masa-url extension (default none)
 *   masa-ca = FILE                (list)   registrar: anchors for the MASA's TLS certificate
 *                                          and its voucher signatures, for every
 *                                          manufacturer (default: per device, only the
 *                                          manufacturer-ca file its IDevID chains to)
 *   masa-retry-after = SECONDS             registrar: Retry-After of the 503 sent when the
 *                                          MASA is unreachable (default 5, 1..3600)
 *   masa-timeout = SECONDS                 registrar: limit of one MASA request (default 10)
 *   masa-db = FILE                         masa: sales records, issued vouchers, audit
 *   masa-cert, masa-key = FILE             masa: the voucher signing certificate and key
 */
#ifndef LATCHKEY_CONFIG_H
#define LATCHKEY_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#define CONFIG_PATH	1024
#define CONFIG_LIST	16
#define CONFIG_URL	512

struct config {
	char		file[CONFIG_PATH];
	char		listen_addr[256];	/* host part, without brackets */
	unsigned	listen_port;
	char		admin_addr[256];	/* admin-listen: /healthz, /metrics */
	unsigned	admin_port;		/* 0 = no admin listener */
	char		http_addr[256];		/* http-listen: CRL and OCSP over HTTP */
	unsigned	http_port;		/* 0 = off */
	unsigned	expiry_warn_days;
	char		domain[256];
	char		ca_cert[CONFIG_PATH], ca_key[CONFIG_PATH];
	/* CA rollover (RFC 7030 §4.1.3): the outgoing CA, still signing its CRL and OCSP */
	char		prev_ca_cert[CONFIG_PATH], prev_ca_key[CONFIG_PATH];
	char		rollover_certs[CONFIG_PATH];	/* NewWithOld, OldWithNew (PEM) */
	char		tls_cert[CONFIG_PATH], tls_key[CONFIG_PATH];
	char		registry[CONFIG_PATH];
	char		manufacturer_ca[CONFIG_LIST][CONFIG_PATH];
	size_t		n_manufacturer_ca;
	char		manufacturer_crl[CONFIG_LIST][CONFIG_PATH];
	size_t		n_manufacturer_crl;
	char		auto_accept[CONFIG_LIST][CONFIG_PATH];
	size_t		n_auto_accept;
	int		pending;		/* hold unclaimed devices for approval */
	unsigned	pending_retry_after;	/* s, Retry-After of the 202 */
	int		channel_binding_required;
	unsigned	ldevid_lifetime_days;
	char		crl_url[CONFIG_URL], ocsp_url[CONFIG_URL];
	char		crl_file[CONFIG_PATH];		/* "" = not written */
	char		update_dir[CONFIG_PATH];	/* "" = no update-server role */
	char		prev_crl_file[CONFIG_PATH];	/* set by config_load(): the previous
							   CA's CRL, beside crl_file */
	char		audit_ckpt_file[CONFIG_PATH];	/* "" = not written */
	size_t		max_body;
	unsigned	idle_timeout;
	int		registry_sync_full;
	unsigned	workers;		/* 0 = one per online CPU */
	int		latch;			/* run the latch manager (worker 0) */
	char		vici_socket[CONFIG_URL];
	char		latch_state[CONFIG_PATH], latch_control[CONFIG_PATH];
	int		latch_disposition;	/* enum latch_disposition */
	int		latch_tunnel;
	char		latch_local[64], latch_local_ts[64], latch_remote_ts[64];
	/* BRSKI and the MASA role (brski) */
	int		role;			/* CONFIG_ROLE_* */
	char		masa_url[CONFIG_URL];
	char		masa_ca[CONFIG_LIST][CONFIG_PATH];
	size_t		n_masa_ca;
	unsigned	masa_retry_after;
	unsigned	masa_timeout;
	char		masa_db[CONFIG_PATH];
	char		masa_cert[CONFIG_PATH], masa_key[CONFIG_PATH];
	int		mdns;			/* announce over mDNS (default 0) */
	char		mdns_name[64];		/* one DNS label: 63 bytes + NUL */
	char		posture_url[CONFIG_URL], update_url[CONFIG_URL];
	char		posture_policy[CONFIG_PATH];	/* "" = no posture endpoint */
	/* privileges (latchkeyd(8), PRIVILEGES) */
	char		user[64], signer_user[64];	/* "" = the default */
	char		pid_file[CONFIG_PATH];	/* "" = none */
	unsigned	crl_max_validity;	/* hours */
	unsigned	ocsp_max_validity;	/* hours */
	/* filled in by latchkeyd at start, not by config_load(): whom to run as */
	int		drop;			/* workers switch to uid/gid */
	uid_t		uid;
	gid_t		gid;
	int		signer_drop;		/* signers switch to signer_uid/gid */
	uid_t		signer_uid;
	gid_t		signer_gid;
};

#define CONFIG_ROLE_REGISTRAR	0
#define CONFIG_ROLE_MASA	1

void	config_defaults(struct config *c);
/* Parse text (len bytes; NUL not required). name is used in errors, dir resolves paths. */
int	config_parse(struct config *c, const char *text, size_t len, const char *name,
	    const char *dir, char *err, size_t errlen);
/* Load and parse path, then check required keywords. */
int	config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Split "ADDR:PORT" / "[V6]:PORT" into host and port. */
int	config_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port);
/* The i-th keyword config_parse() takes, NULL past the last; *list = 1 if it may repeat. */
const char *config_keyword(size_t i, int *list);

#endif
