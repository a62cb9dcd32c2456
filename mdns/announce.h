/*
 * announce: publish latchkey's DNS-SD services (RFC 6763) over mDNS (RFC 6762) through
 * avahi-daemon, from inside the caller's libevent loop (no thread; see evpoll.h).
 *
 * Services: "_brski-registrar._tcp" (RFC 8995 §4.1 / §4.2: the registrar's own
 * announcement) and "_brski-proxy._tcp" (RFC 8995 §4.1: a registrar on the device's link is
 * its own join proxy), optionally "_latchkey-posture._tcp" and "_latchkey-update._tcp".
 * All services of one announcer share one instance name and are published in one Avahi
 * entry group, on the local host name (SRV target) and its addresses. TXT keys are those of
 * mdns/txt.h, encoded with the txt codec (txtvers=1 first).
 *
 * Life cycle, all driven by events on the caller's event_base:
 *   - the Avahi client is created with AVAHI_CLIENT_NO_FAIL: when avahi-daemon is not there
 *     (yet), the announcer waits for it (state CONNECTING);
 *   - when the daemon runs, the services are registered (REGISTERING), and once probing is
 *     done (RFC 6762 §8.1) they are ESTABLISHED;
 *   - a name conflict (RFC 6762 §9, or another local service of that name) picks Avahi's
 *     alternative name ("NAME #2", ...) and registers again (COLLISION, then REGISTERING);
 *   - when the daemon goes away (restart, crash), the client is freed and made again; once
 *     the daemon is back, everything is registered again by itself (DISCONNECTED, then
 *     CONNECTING, REGISTERING, ESTABLISHED);
 *   - when D-Bus itself cannot be reached, or registration fails, the whole client is
 *     retried every MDNS_ANNOUNCE_RETRY_SECS (ERROR with the reason);
 *   - mdns_announce_free() withdraws the services (the daemon sends goodbye packets with
 *     TTL 0, RFC 6762 §10.1).
 * Talking to the daemon uses short blocking D-Bus calls (Avahi's client library does that);
 * they go to a local socket and take well under a millisecond each.
 *
 * Library code: nothing is logged; state changes and reasons go to the status callback.
 */
#ifndef LATCHKEY_ANNOUNCE_H
#define LATCHKEY_ANNOUNCE_H

#include <stddef.h>

/* Service types (RFC 8995 §4.1/§4.2 and ours). */
#define MDNS_TYPE_REGISTRAR	"_brski-registrar._tcp"
#define MDNS_TYPE_PROXY		"_brski-proxy._tcp"
#define MDNS_TYPE_POSTURE	"_latchkey-posture._tcp"
#define MDNS_TYPE_UPDATE	"_latchkey-update._tcp"

#define MDNS_NAME_MAX		63	/* an instance name is one DNS label (RFC 6763 §4.1.1) */
#define MDNS_ANNOUNCE_RETRY_SECS 5

struct event_base;
struct mdns_announce;

/*
 * One service to publish. Strings are copied by mdns_announce_new(). TXT fields that are
 * NULL (or pri < 0) are left out; txtvers=1 is always sent first.
 */
struct mdns_service {
	const char	*type;		/* e.g. MDNS_TYPE_REGISTRAR ("_x._tcp") */
	unsigned	 port;		/* 1..65535 */
	int		 family;	/* AF_UNSPEC: announce over IPv4 and IPv6 mDNS;
					   AF_INET / AF_INET6: over that one only (use the
					   family of the address the server listens on) */
	const char	*rt;		/* TXT rt, e.g. "est-tls,brski" */
	const char	*path;		/* TXT path, e.g. "/.well-known/est" */
	int		 pri;		/* TXT pri 0..65535, or -1 */
	const char	*dom;		/* TXT dom, the owner domain */
	const char	*cafp;		/* TXT cafp "sha256:HEX" (64 hex digits): a hint */
};

enum mdns_announce_state {
	MDNS_ANNOUNCE_CONNECTING = 1,	/* waiting for avahi-daemon to appear */
	MDNS_ANNOUNCE_REGISTERING,	/* handed to the daemon, probing */
	MDNS_ANNOUNCE_ESTABLISHED,	/* announced under mdns_announce_name() */
	MDNS_ANNOUNCE_COLLISION,	/* the name was taken; renamed (message says to what) */
	MDNS_ANNOUNCE_DISCONNECTED,	/* the daemon went away; re-registers when it is back */
	MDNS_ANNOUNCE_ERROR		/* something failed (message); retried later */
};

/*
 * Called on every state change with a one-line message (no secrets; valid during the call
 * only). May be called from inside mdns_announce_new(). Must not free the announcer.
 */
typedef void (*mdns_announce_cb)(void *arg, enum mdns_announce_state state,
    const char *msg);

/*
 * Start announcing n services under instance name (valid UTF-8, 1..MDNS_NAME_MAX bytes) on
 * base. Returns NULL with err only for bad arguments (bad name, type, port, TXT value) or no
 * memory; an unreachable daemon is not an error (it is retried, see above). cb may be NULL.
 */
struct mdns_announce	*mdns_announce_new(struct event_base *base, const char *name,
			    const struct mdns_service *svcs, size_t n, mdns_announce_cb cb,
			    void *cbarg, char *err, size_t errlen);

/* The instance name in use now (differs from the requested one after a collision). */
const char		*mdns_announce_name(const struct mdns_announce *a);

/* The current state (CONNECTING before the first callback). */
enum mdns_announce_state mdns_announce_state(const struct mdns_announce *a);

/* Human name of a state ("established", ...). */
const char		*mdns_announce_state_name(enum mdns_announce_state state);

/*
 * Set s->port and s->path from an https URL "https://HOST[:PORT][/PATH]" (port 443 when
 * absent, no path when absent; HOST is not announced: the service is announced on this
 * host). s->path points into pathbuf. Returns 0, or -1 with err for another scheme, a bad
 * port or a query/fragment.
 */
int			 mdns_service_set_url(struct mdns_service *s, const char *url,
			    char *pathbuf, size_t pathlen, char *err, size_t errlen);

/* Withdraw everything and free. NULL is fine. */
void			 mdns_announce_free(struct mdns_announce *a);

#endif
