/*
 * netinfo: what a device knows of its own network, from the env files its DHCP client
 * leaves and from its interfaces. One reader serves discovery (the registrar URIs) and the
 * network-identifier report (client-id, DUID, MAC).
 *
 * The contrib DHCP client scripts (contrib/dhcp/: udhcpc, dhclient, dhcpcd) write one file
 * per interface and family, $LATCHKEY_RUN_DIR/dhcp-<if>.env or dhcp6-<if>.env, of
 * KEY=VALUE lines; values are hex of the option data unless said otherwise:
 *   LATCHKEY_DHCP_FAMILY=4|6
 *   LATCHKEY_DHCP_IFACE=<interface name>            (text)
 *   LATCHKEY_DHCP_SERVER=<server identifier>        (text, when the client reports one)
 *   LATCHKEY_DHCP_SZTP=<hex>       option 143 (DHCPv4) / 136 (DHCPv6), RFC 8572 §8.3
 *   LATCHKEY_DHCP_VENDOR=<hex>     option 125 (DHCPv4) / 17 (DHCPv6), RFC 3925 / RFC 8415
 *   LATCHKEY_DHCP_CLIENT_ID=<hex>  the client identifier the client sent (DHCPv4 option 61
 *                                  data, RFC 2132 §9.14; type octet first)
 *   LATCHKEY_DHCP_DUID=<hex>       the client's DUID (RFC 8415 §11): DHCPv6 option 1 data,
 *                                  or the DUID inside an RFC 4361 DHCPv4 client-id
 * Unknown keys, comments and lines without '=' are ignored; an empty value counts as
 * absent; a key given twice keeps its last value. Limits: NETINFO_ENV_LINE_MAX bytes a
 * line, NETINFO_ENV_FILE_MAX a file; a longer line or file is an error, never truncated.
 *
 * Library rules: nothing here prints or exits; errors are one line in the caller's err.
 */
#ifndef LATCHKEY_NETINFO_H
#define LATCHKEY_NETINFO_H

#include <stddef.h>

#include "enroll/common/netid.h"

#define NETINFO_ENV_LINE_MAX	4096
#define NETINFO_ENV_FILE_MAX	(64 * 1024)

/* One env file. The strings are malloc'd, NULL when absent; netinfo_env_clear() frees. */
struct netinfo_env {
	int	 family;	/* 4 (default) or 6 */
	char	*iface;
	char	*server;
	char	*sztp;
	char	*vendor;
	char	*client_id;
	char	*duid;
};

/* Read path into *e (cleared first). 0, or -1 with err ("path:line: why"). */
int	netinfo_env_read(const char *path, struct netinfo_env *e, char *err, size_t errlen);
void	netinfo_env_clear(struct netinfo_env *e);

/* Add the client-id and DUID of the env file at path to l. 0 (also when it has none), -1
 * with err (unreadable, malformed, an identifier of the wrong length). */
int	netinfo_add_env(struct netid_list *l, const char *path, char *err, size_t errlen);
/* The same for the file at path already read into e. */
int	netinfo_env_add(struct netid_list *l, const char *path, const struct netinfo_env *e,
	    char *err, size_t errlen);
/* Add the MAC of interface ifname (/sys/class/net/<ifname>/address) to l. 0 or -1. */
int	netinfo_add_iface(struct netid_list *l, const char *ifname, char *err, size_t errlen);

#endif
