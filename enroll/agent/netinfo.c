/* netinfo: see netinfo.h. */
#include "enroll/agent/netinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enroll/common/err.h"

void
netinfo_env_clear(struct netinfo_env *e)
{
	free(e->iface);
	free(e->server);
	free(e->sztp);
	free(e->vendor);
	free(e->client_id);
	free(e->duid);
	memset(e, 0, sizeof(*e));
	e->family = 4;
}

/* Replace *slot with a copy of v ("" counts as absent). 0 or -1 (out of memory). */
static int
netinfo_set(char **slot, const char *v)
{
	free(*slot);
	*slot = NULL;
	if (*v == '\0')
		return 0;
	return (*slot = strdup(v)) == NULL ? -1 : 0;
}

int
netinfo_env_read(const char *path, struct netinfo_env *e, char *err, size_t errlen)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} keys[] = {
		{ "LATCHKEY_DHCP_IFACE", offsetof(struct netinfo_env, iface) },
		{ "LATCHKEY_DHCP_SERVER", offsetof(struct netinfo_env, server) },
		{ "LATCHKEY_DHCP_SZTP", offsetof(struct netinfo_env, sztp) },
		{ "LATCHKEY_DHCP_VENDOR", offsetof(struct netinfo_env, vendor) },
		{ "LATCHKEY_DHCP_CLIENT_ID", offsetof(struct netinfo_env, client_id) },
		{ "LATCHKEY_DHCP_DUID", offsetof(struct netinfo_env, duid) },
	};
	char line[NETINFO_ENV_LINE_MAX + 2], *eq;
	size_t len, total = 0, i;
	int lineno = 0, rc = -1;
	FILE *f;

	memset(e, 0, sizeof(*e));
	e->family = 4;
	if ((f = fopen(path, "re")) == NULL)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		len = strlen(line);
		if ((total += len) > NETINFO_ENV_FILE_MAX) {
			errf(err, errlen, "%s: larger than %d bytes", path, NETINFO_ENV_FILE_MAX);
			goto out;
		}
		if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
			errf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno,
			    NETINFO_ENV_LINE_MAX);
			goto out;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "LATCHKEY_DHCP_FAMILY") == 0) {
			e->family = strcmp(eq, "6") == 0 ? 6 : 4;
			continue;
		}
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (strcmp(line, keys[i].key) != 0)
				continue;
			if (netinfo_set((char **)((char *)e + keys[i].off), eq) == -1) {
				errf(err, errlen, "out of memory");
				goto out;
			}
			break;
		}
	}
	if (ferror(f)) {
		errf(err, errlen, "%s: read error", path);
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	if (rc == -1)
		netinfo_env_clear(e);
	return rc;
}

int
netinfo_env_add(struct netid_list *l, const char *path, const struct netinfo_env *e,
    char *err, size_t errlen)
{
	char why[128];

	if (e->client_id != NULL &&
	    netid_add(l, "client-id", e->client_id, why, sizeof(why)) == -1)
		return errf(err, errlen, "%s: LATCHKEY_DHCP_CLIENT_ID: %s", path, why);
	if (e->duid != NULL && netid_add(l, "duid", e->duid, why, sizeof(why)) == -1)
		return errf(err, errlen, "%s: LATCHKEY_DHCP_DUID: %s", path, why);
	return 0;
}

int
netinfo_add_env(struct netid_list *l, const char *path, char *err, size_t errlen)
{
	struct netinfo_env e;
	int rc;

	if (netinfo_env_read(path, &e, err, errlen) == -1)
		return -1;
	rc = netinfo_env_add(l, path, &e, err, errlen);
	netinfo_env_clear(&e);
	return rc;
}

/* Read at most cap - 1 bytes of path into buf, NUL-terminated. */
static int
netinfo_read_small(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return errf(err, errlen, "%s: %s", path, strerror(errno));
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return 0;
}

int
netinfo_add_iface(struct netid_list *l, const char *ifname, char *err, size_t errlen)
{
	char path[128], buf[64], why[128];

	if (ifname == NULL || *ifname == '\0' || strlen(ifname) > 15 ||
	    strchr(ifname, '/') != NULL || strcmp(ifname, ".") == 0 ||
	    strcmp(ifname, "..") == 0)
		return errf(err, errlen, "bad interface name \"%.32s\"",
		    ifname != NULL ? ifname : "");
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	if (netinfo_read_small(path, buf, sizeof(buf), err, errlen) == -1)
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (netid_add(l, "mac", buf, why, sizeof(why)) == -1)
		return errf(err, errlen, "%s: %s (not an Ethernet interface?)", ifname,
		    why);
	return 0;
}
