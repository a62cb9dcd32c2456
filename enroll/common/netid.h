/*
 * netid: the network identifiers a device reports after enrollment, so the registry can map
 * them to the device and the Kea hook can put revoked devices into its quarantine class.
 *
 * Wire format (POST /.well-known/latchkey/netid, Content-Type application/json, at most
 * NETID_BODY_MAX octets), every member optional, at most NETID_MAX identifiers:
 *   {"mac":["aa:bb:cc:dd:ee:ff"], "client-id":["01aabbccddeeff"], "duid":["0001..."]}
 * Values are hex, with or without ':' or '-' between octets (either case); stored as
 * lower-case hex without separators. Lengths: mac 6 octets, client-id (DHCPv4 option 61
 * data, RFC 2132 §9.14) 2..255, duid (DHCPv6 option 1 data, RFC 8415 §11) 2..130.
 * The device authenticates with a current LDevID of an active binding (TLS client
 * certificate); the answer is 204 (the registrar's handler, enroll/latchkeyd/registrar.c).
 *
 * An identifier belongs to the first device that reported it, for good: a report never
 * moves one from another device, active or revoked (else an active device could take a
 * revoked one's MAC out of the Kea quarantine set, or plant a victim's MAC to have it
 * quarantined with itself). Such an identifier is refused and the rest of the report is
 * recorded: the answer is then 409 with one line naming the first refused identifier
 * ("mac 02:00:5e:00:53:01 is held by another device: not recorded (1 of 3 refused, the
 * others were recorded)"), and the registry's audit log has a "netid-refused" entry with
 * every refused identifier and its holder. Reporting the same again gives the same answer.
 *
 * Identifiers are the device's own claim and can be spoofed: they serve a quarantine
 * convenience in DHCP, never an access decision.
 *
 * This module is the codec, pure and shared by device and registrar; the device collects
 * its identifiers with enroll/agent/netinfo.h.
 */
#ifndef LATCHKEY_NETID_H
#define LATCHKEY_NETID_H

#include <stddef.h>

#define NETID_BODY_MAX		8192
#define NETID_MAX		32		/* identifiers in one report */
#define NETID_VALUE_MAX		(2 * 255 + 1)	/* hex of the longest (client-id) + NUL */

struct netid_list {
	size_t	n;
	struct {
		char	kind[16];			/* "mac", "client-id", "duid" */
		char	value[NETID_VALUE_MAX];		/* lower-case hex */
	} v[NETID_MAX];
};

/*
 * Add one identifier given as text (hex, optional ':' or '-' between octet pairs; dhclient's
 * one-digit octets "1:a:..." are accepted when colon-separated) after checking its kind and
 * length. A duplicate is ignored. 0 ok, -1 with err.
 */
int	netid_add(struct netid_list *l, const char *kind, const char *text, char *err,
	    size_t errlen);
/* The JSON body for l (malloc'd, caller frees); NULL when out of memory. */
char	*netid_json(const struct netid_list *l);
/* Parse a request body into *l (replaced). 0 ok, -1 with err (one line, safe to send). */
int	netid_parse(const char *body, size_t len, struct netid_list *l, char *err,
	    size_t errlen);

#endif
