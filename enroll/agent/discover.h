/*
 * discover: one discovery round of a device (RFC 8995 §4.1, RFC 8572): where are the
 * registrar, the posture and the update servers? DHCP first: the env files the contrib DHCP
 * client scripts leave (enroll/agent/netinfo.h), option 143/136 URIs in the server's order
 * (RFC 8572 §8.3), the vendor option's posture and update URIs and registrar CA hint. When
 * DHCP named no registrar, mDNS: _brski-registrar._tcp and _brski-proxy._tcp (RFC 8995),
 * _latchkey-posture._tcp and _latchkey-update._tcp (mdns/README.md). What is found is a
 * hint: the voucher or a pinned CA decides whom the device trusts.
 *
 * Library rules: nothing here prints or exits; progress goes to the caller's callback with
 * agent.h's AGENT_INFO / AGENT_DEBUG levels.
 */
#ifndef LATCHKEY_DISCOVER_H
#define LATCHKEY_DISCOVER_H

#include <stddef.h>

#define DISCOVER_DHCP_GLOB_DEFAULT	"/run/latchkey/dhcp*.env"
#define DISCOVER_CAND_MAX		32	/* candidates kept per round */
#define DISCOVER_URL_MAX		1024
#define DISCOVER_URIS_MAX		4	/* posture / update URIs kept */
#define DISCOVER_MDNS_TIMEOUT_DEFAULT	3000u	/* ms */

enum discover_source {
	DISCOVER_SRC_DHCP = 0,
	DISCOVER_SRC_MDNS
};

struct discover_candidate {
	char			url[DISCOVER_URL_MAX];	/* "https://host[:port][/path]" */
	enum discover_source	source;
	char			origin[128];	/* env file name or mDNS instance (for people) */
};

/* What one discovery round found. */
struct discovery {
	struct discover_candidate cand[DISCOVER_CAND_MAX];
	size_t			 ncand;
	char			 posture[DISCOVER_URIS_MAX][DISCOVER_URL_MAX];
	size_t			 nposture;
	char			 update[DISCOVER_URIS_MAX][DISCOVER_URL_MAX];
	size_t			 nupdate;
	char			 ca_hint[80];	/* "sha256:..." from DHCP or mDNS TXT cafp; a hint */
	char			 domain[256];	/* mDNS TXT dom, if any */
};

/*
 * Add the content of one DHCP env file (netinfo.h: LATCHKEY_DHCP_SZTP and _VENDOR) to d:
 * the SZTP URIs as DHCP candidates in order (duplicates skipped), posture and update URIs,
 * and the CA hint of enterprise DHCPOPT_ENTERPRISE_DEFAULT. 0 (also when the file holds
 * no option), -1 with err (unreadable, too long, malformed).
 */
int	discover_dhcp_env_add(struct discovery *d, const char *path, char *err,
	    size_t errlen);

/*
 * Append one candidate to d unless its URL is there already or d is full; the URL is
 * normalised to the registrar's base URL: a trailing "/.well-known/est" and trailing '/'
 * are removed. Returns 1 added, 0 skipped. Pure. Candidates keep the order they were
 * added in, so DHCP candidates added first stay before mDNS ones.
 */
int	discover_candidate_add(struct discovery *d, const char *url,
	    enum discover_source source, const char *origin);

struct discover_opts {
	const char *const	*dhcp_env;	/* env files; n_dhcp_env == 0: dhcp_glob */
	size_t			 n_dhcp_env;
	const char		*dhcp_glob;	/* NULL: DISCOVER_DHCP_GLOB_DEFAULT */
	int			 no_mdns;
	unsigned		 mdns_timeout_ms;	/* 0: default */
	void			(*progress)(void *arg, int level, const char *line);
	void			*progress_arg;
};

/* "dhcp" or "mdns". */
const char	*discover_source_name(enum discover_source s);

/*
 * One round into *d (cleared first): the DHCP env files in order, then mDNS when DHCP gave
 * no registrar (and o->no_mdns is 0). Unreadable or malformed env files and an unreachable
 * avahi-daemon are reported through o->progress and skipped; d->ncand == 0 means nothing
 * was found this round.
 */
void	discover_run(const struct discover_opts *o, struct discovery *d);

#endif
