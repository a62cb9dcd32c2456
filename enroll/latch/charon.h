/*
 * charon: the strongSwan driver of connection latching. It loads our LDevID, key and the
 * domain CA into charon over VICI, loads an IKEv2 connection (certificate authentication,
 * AEAD proposals; ESP transport mode in deployments, tunnel mode with inner addresses on
 * the libipsec test bed), initiates it (device side) or waits for peers (registrar side),
 * subscribes to ike-updown, ike-rekey, child-updown and child-rekey, and turns those events
 * into latch events (latch.h): one latch per peer address.
 *
 * Dispositions on BROKEN (RFC 5660 §5.5): reset destroys every TCP socket in this network
 * namespace whose remote address is the latched peer (its address or its CHILD SA's remote
 * host selectors) with SOCK_DESTROY (needs CAP_NET_ADMIN), so the application sees
 * ECONNABORTED and the peer an RST; wait leaves traffic alone; unreachable is reported like
 * wait (traffic to the conflicting peer is not delivered by us). Latch-aware callers see
 * the state of each latch through charon_info() (`latchkey latch` exits 3 on BROKEN).
 *
 * Blocking API over two VICI connections (commands, events); charon_fd() can be polled
 * (latchmgr.c puts it into a libevent loop).
 */
#ifndef LATCHKEY_CHARON_H
#define LATCHKEY_CHARON_H

#include <stddef.h>

#include "enroll/latch/latch.h"
#include "enroll/latch/vici.h"

#define CHARON_DEFAULT_VICI	"unix:///var/run/charon.vici"
#define CHARON_IKE_PROPOSALS	"aes256gcm16-prfsha384-x25519,aes256gcm16-prfsha256-ecp256"
#define CHARON_ESP_PROPOSALS	"aes256gcm16-x25519,aes256gcm16"
#define CHARON_MAX_LATCHES	4096
#define CHARON_MAX_TS		4

struct charon_conf {
	const char	*vici_uri;	/* NULL = CHARON_DEFAULT_VICI */
	const char	*name;		/* connection name in charon, e.g. "latchkey" */
	const char	*local_addr;	/* outer local address; NULL = any */
	const char	*peer_addr;	/* initiator: the peer; responder: NULL = any */
	const char	*cert_file;	/* our LDevID, PEM (leaf first, then any chain) */
	const char	*key_file;	/* its private key, PEM */
	const char	*ca_file;	/* the domain CA(s), PEM: the only trust anchors */
	const char	*ca_file2;	/* more of them (a previous domain CA); NULL = none */
	const char	*local_ts;	/* CHILD local selector (CIDR); NULL = dynamic */
	const char	*remote_ts;	/* CHILD remote selector (CIDR); NULL = dynamic */
	int		 tunnel;	/* 1: tunnel mode (test bed), 0: transport mode */
	const char	*remote_id;	/* expected peer IKE identity; NULL = any from the CA */
	const char	*ike_proposals;	/* comma list; NULL = CHARON_IKE_PROPOSALS */
	const char	*esp_proposals;	/* comma list; NULL = CHARON_ESP_PROPOSALS */
	int		 rekey_time;	/* seconds, 0 = charon's default */
	enum latch_disposition disposition;
	int		 dpd_breaks;
	int		 initiator;	/* 1: device side (charon_initiate) */
	const char	*crl_file;	/* responder: the domain CRL (DER or PEM) for
					   charon_load_crl(); NULL = none */
};

/* One latch as reported to callers (copied out; the latch stays with charon). */
struct charon_info {
	char		 peer_addr[64];		/* outer address of the peer */
	char		 peer_id[LATCH_ID_MAX];	/* latched identity ("" in LARVAL) */
	char		 serial[LATCH_SERIAL_MAX]; /* peer device serial if known */
	char		 remote_ts[CHARON_MAX_TS][64]; /* remote host selectors seen */
	enum latch_state state;
	enum latch_disposition disposition;
	unsigned	 rekeys;
	unsigned	 resets;		/* TCP sockets reset by the disposition */
	char		 reason[128];
	int		 has_cb;
	unsigned char	 cb[LATCH_CB_LEN];	/* channel binding when has_cb */
};

struct charon;

/*
 * Called after every latch transition, and with act = LATCH_ACT_NONE after a rekey that
 * kept the latch or when new peer selectors were learnt (state worth writing down).
 */
typedef void	 charon_cb(void *arg, const struct charon_info *info,
		    enum latch_action act);

/* Copy the configuration (strings are duplicated). No I/O yet. */
struct charon	*charon_new(const struct charon_conf *conf, char *err, size_t errlen);
void		 charon_free(struct charon *ctl);
void		 charon_set_cb(struct charon *ctl, charon_cb *cb, void *arg);

/*
 * Connect to charon (two VICI connections), subscribe to the SA events, load the
 * certificate, key, CA and the connection. Returns 0 or -1 with err.
 */
int		 charon_start(struct charon *ctl, char *err, size_t errlen);
/* Device side: initiate the CHILD SA, wait up to timeout_ms for ESTABLISHED. 0 or -1. */
int		 charon_initiate(struct charon *ctl, int timeout_ms, char *err,
		    size_t errlen);
/* The event connection's socket (poll for POLLIN), -1 before charon_start. */
int		 charon_fd(const struct charon *ctl);
/* Handle pending events, waiting up to timeout_ms for the first. 0 or -1 (charon gone). */
int		 charon_process(struct charon *ctl, int timeout_ms, char *err, size_t errlen);
/*
 * Close every latch whose peer serial (or identity) is key, and terminate every IKE SA of
 * our connection whose remote identity is that peer's: the latched SA, and any other SA of
 * the same identity charon still holds (an SA from before a peer restart, one no latch
 * tracks), found with list-sas by remote identity (a latched identity, or a DN whose
 * serialNumber is key). Returns the number of latches closed (0 if none), -1 on a VICI
 * error; *nsas (may be NULL) gets the number of IKE SAs terminated.
 */
int		 charon_close_peer(struct charon *ctl, const char *key, int *nsas, char *err,
		    size_t errlen);
/*
 * Load the CRL in path (DER or PEM, as latchkeyd's crl-file) into charon (VICI load-cert,
 * type x509crl): charon's revocation plugin then refuses a revoked peer certificate during
 * IKE_AUTH, before any SA is installed. A newer CRL of the same issuer replaces the older.
 * VICI values are at most 65535 bytes: a larger CRL cannot be loaded this way (error).
 * Returns the size loaded, 0 when path does not exist, -1 with err.
 */
long		 charon_load_crl(struct charon *ctl, const char *path, char *err,
		    size_t errlen);
/* Unload our connection from charon (on shutdown). 0 or -1. */
int		 charon_unload(struct charon *ctl, char *err, size_t errlen);

size_t		 charon_count(const struct charon *ctl);
/* Info of latch i (0..count-1). Returns 0 or -1 when out of range. */
int		 charon_info(const struct charon *ctl, size_t i, struct charon_info *out);

/*
 * Event mapping (pure; exported for tests): from one VICI event, the latch event, the IKE
 * SA's remote address, remote identity, IKE unique id and remote host selectors. Returns 1
 * when the event concerns a latch, 0 to ignore it.
 */
struct charon_sa_event {
	enum latch_event ev;
	int		 child;		/* child-updown / child-rekey */
	char		 ike_state[24];	/* the IKE SA's state ("ESTABLISHED", "DELETING") */
	char		 remote_host[64];
	char		 remote_id[LATCH_ID_MAX];
	char		 ike_name[64];
	unsigned long	 uniqueid;
	char		 remote_ts[CHARON_MAX_TS][64];
	int		 nts;
};
int		 charon_map_event(const char *event, const struct vici_node *msg,
		    struct charon_sa_event *out);

/*
 * An ike-updown (down) of an IKE SA that was still ESTABLISHED (or REKEYING): it went away
 * without a DELETE exchange (charon destroyed it on the peer's INITIAL_CONTACT, or its
 * retransmits timed out). A DELETE exchange, by either side, leaves it DELETING. Pure.
 */
int		 charon_down_dropped(const struct charon_sa_event *sev);

/*
 * Peer reboot (RFC 5660 2.3; INITIAL_CONTACT, RFC 7296 2.4). charon does not report an
 * INITIAL_CONTACT over VICI, it acts on it (connections are loaded with unique = replace):
 * it destroys the peer's old IKE SAs without a DELETE, raising ike-updown (down) for each
 * while still ESTABLISHED, then ike-updown (up) for the new SA. So an IKE SA of identity X
 * dropped (charon_down_dropped) and a new IKE SA of X up within CHARON_REBOOT_MS is a peer
 * reboot. Feed every mapped event; returns 1 for the ike-updown (up) that completes a
 * reboot (the caller feeds LATCH_EV_INITIAL_CONTACT before LATCH_EV_SA_UP), else 0. Pure.
 */
#define CHARON_REBOOT_MS	5000
struct charon_reboot {
	char		 id[LATCH_ID_MAX];	/* identity of the dropped SA, "" = none */
	long long	 at_ms;			/* when it dropped (monotonic ms) */
};
int		 charon_reboot_feed(struct charon_reboot *r, const struct charon_sa_event *sev,
		    long long now_ms);

/* 1 when id (strongSwan's DN text, RDNs joined by ", ") has an RDN serialNumber= or SN=
 * whose value is serial exactly. Pure. */
int		 charon_id_has_serial(const char *id, const char *serial);

/*
 * From one list-sa event of list-sas: 1 with *uid when it is an IKE SA of connection conn
 * whose remote-id is one of ids[0..nids-1] or carries serial (charon_id_has_serial; serial
 * may be NULL), else 0. Pure.
 */
int		 charon_sa_match(const struct vici_node *msg, const char *conn,
		    const char *const *ids, size_t nids, const char *serial, unsigned long *uid);

/*
 * Reset (SOCK_DESTROY) every TCP socket of this network namespace whose remote address is
 * one of addrs (text, IPv4 or IPv6; "/32" or "/128" suffixes allowed). Returns the number
 * destroyed or -1 with err.
 */
int		 charon_reset_tcp(const char *const *addrs, size_t naddrs, char *err,
		    size_t errlen);

/*
 * Who is the registrar (the device side's default remote identity, `latchkey latch`
 * without --remote-id). strongSwan's auth rules cannot ask for an extendedKeyUsage, so the
 * registrar is named by identity: from the registrar's TLS certificate as enrollment
 * accepted it (DER; enrollment.json "registrar_cert"), checked here to chain to the domain
 * CA(s) in ca_file and to carry id-kp-cmcRA (RFC 8995 §5.5), out gets its subject DN in
 * strongSwan's syntax ("CN=registrar.example.test"; RDNs in certificate order joined by
 * ", "), for swanctl's remote { id = ... } (charon_conf.remote_id). charon then accepts
 * only a peer certificate under the domain CA whose subject is that DN: the registrar's,
 * also after it is renewed under the same name, never an LDevID of the domain (subject
 * serialNumber + CN = the device serial). Refuses a subject strongSwan's DN syntax cannot
 * carry unambiguously (multi-valued RDNs, unusual attributes, ',' '/' '"' '=' '+' or
 * non-ASCII in values): --remote-id then. Returns 0, or -1 with err.
 */
#define CHARON_ID_MAX	512
int		 charon_registrar_id(const unsigned char *der, size_t len, const char *ca_file,
		    char *out, size_t outlen, char *err, size_t errlen);

/* JSON object text of one latch (for --json output and state files); caller frees. */
char		*charon_info_json(const struct charon_info *info);

#endif
