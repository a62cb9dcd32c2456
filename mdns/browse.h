/*
 * browse: find latchkey's servers on the local link with DNS-SD over mDNS (RFC 6763,
 * RFC 6762) through avahi-daemon. Blocking (its own avahi_simple_poll loop): for the agent
 * and the CLI, not for latchkeyd's event loop.
 *
 * mDNS is unauthenticated: anyone on the link can answer. A result is a hint where to try,
 * never a reason to trust a server; trust comes from a voucher (RFC 8995) or an operator's
 * pin. A TXT cafp is a hint too and never enough on its own.
 *
 * Every service instance seen is resolved (SRV, TXT, and the address over the same IP
 * protocol the answer came on). A resolved instance becomes a candidate only when it is
 * usable:
 *   - it has an address and a port other than 0;
 *   - its TXT txtvers is absent or "1" (a record of a newer key set is skipped, txt.h);
 *   - its TXT path, if present, is an absolute URL path (RFC 3986 pchar and '/', at most
 *     200 bytes), else TXT_DEFAULT_PATH is used;
 *   - for the BRSKI types, a TXT rt, if present, names "est-tls" or "brski".
 * An instance that goes away while browsing is dropped again.
 *
 * Order of candidates (mdns_browse_cmp(), a total order):
 *   1. TXT pri ascending (TXT_DEFAULT_PRI when absent or not a number 0..65535);
 *   2. IPv4 before IPv6: an IPv4 answer carries the address the registrar was configured to
 *      listen on (latchkeyctl init --listen), while over IPv6 mDNS a host mostly answers with
 *      a link-local address that needs a zone index (kept in the URL, but many tools and
 *      certificates do not handle it);
 *   3. interface index ascending (a stable choice among several links);
 *   4. instance name (bytewise), then the type's position in the caller's list, then the
 *      address text, then the port.
 */
#ifndef LATCHKEY_BROWSE_H
#define LATCHKEY_BROWSE_H

#include <stddef.h>

#include "mdns/announce.h"	/* MDNS_TYPE_*, MDNS_NAME_MAX */

struct txt;

#define MDNS_BROWSE_TIMEOUT_DEFAULT	3000	/* ms */
#define MDNS_BROWSE_GRACE_MS		150	/* after the first usable answer */
#define MDNS_BROWSE_MAX_RESULTS		256	/* more candidates are ignored */
#define MDNS_BROWSE_MAX_TYPES		16

/* mdns_browse_run() flags */
#define MDNS_BROWSE_ALL		0x1	/* collect everything, do not stop at the first answer */

struct mdns_result {
	char		 type[64];		/* "_brski-registrar._tcp" */
	size_t		 type_rank;		/* index of type in the caller's list */
	char		 name[MDNS_NAME_MAX + 1];	/* instance name (UTF-8) */
	char		 domain[256];		/* "local" */
	char		 host[256];		/* SRV target, "reg.local" */
	char		 address[64];		/* numeric, without a zone */
	int		 family;		/* AF_INET or AF_INET6 */
	int		 link_local;		/* IPv6 fe80::/10 (URL carries the zone) */
	unsigned	 port;
	int		 ifindex;
	char		 ifname[16];		/* IF_NAMESIZE */
	unsigned	 pri;			/* TXT pri, or TXT_DEFAULT_PRI */
	char		 path[256];		/* TXT path, or TXT_DEFAULT_PATH */
	char		 url[512];		/* https://ADDR:PORT/PATH ([V6%25IF] when link-local) */
	int		 local;			/* announced by this host */
	unsigned	 elapsed_ms;		/* from the start of the browse to resolved */
	struct txt	*txt;			/* the TXT attributes (owned) */
};

/*
 * Browse the ntypes service types (1..MDNS_BROWSE_MAX_TYPES) and resolve what shows up.
 * Without MDNS_BROWSE_ALL it returns MDNS_BROWSE_GRACE_MS after the first usable answer
 * (to collect its siblings: same server, other types or interfaces), or at timeout_ms with
 * what it has (possibly nothing). With MDNS_BROWSE_ALL it returns when avahi-daemon reports
 * it has sent everything it knows ("all for now") for every type and every resolve is done,
 * or at timeout_ms.
 * On success returns 0 with *out (caller frees with mdns_results_free(*out, *n)) sorted by
 * mdns_browse_sort(); *n may be 0. Returns -1 with err when avahi-daemon cannot be reached
 * or fails, or for bad arguments.
 */
int	 mdns_browse_run(const char *const *types, size_t ntypes, unsigned timeout_ms,
	    int flags, struct mdns_result **out, size_t *n, char *err, size_t errlen);

/*
 * Watch type for instance name and wait until it is gone from every interface and protocol
 * (RFC 6762 §10.1: the owner's goodbye, or its records expiring). Returns 0 when it was
 * seen and went away, 2 when it was not there at all ("all for now" without it), 1 when it
 * is still there at timeout_ms (or never reported either way), -1 with err on errors.
 */
int	 mdns_browse_wait_removed(const char *type, const char *name, unsigned timeout_ms,
	    char *err, size_t errlen);

/* Order two candidates as described above (<0, 0, >0). Pure. */
int	 mdns_browse_cmp(const struct mdns_result *a, const struct mdns_result *b);

/* Sort n candidates with mdns_browse_cmp(). Pure. */
void	 mdns_browse_sort(struct mdns_result *r, size_t n);

/* Free n results (and their TXT). NULL is fine. */
void	 mdns_results_free(struct mdns_result *r, size_t n);

#endif
