/*
 * fuzz_dhcpenv: libFuzzer target for the device's DHCP env-file reader and what reads its
 * values (enroll/agent/netinfo.c, enroll/agent/discover.c). The files are written by the
 * contrib DHCP client scripts from options a DHCP server sent, so their content is network
 * input. The input is written to a file and read three ways: netinfo_env_read (every value
 * it keeps must be a NUL-free line of the input), netinfo_add_env (identifiers it accepts
 * must be lower-case hex within the netid limits) and discover_dhcp_env_add (candidates
 * must be https URLs of bounded length). Errors must come with a one-line message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enroll/agent/discover.h"
#include "enroll/agent/netinfo.h"
#include "enroll/common/netid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path[64];

static void
fuzz_err_line(int rc, const char *err)
{
	if (rc == -1 && (err[0] == '\0' || strchr(err, '\n') != NULL))
		abort();
}

static void
fuzz_value_ok(const char *v)
{
	if (v != NULL && (*v == '\0' || strchr(v, '\n') != NULL ||
	    strlen(v) > NETINFO_ENV_LINE_MAX))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct discovery d;
	struct netinfo_env e;
	struct netid_list l;
	char err[512];
	size_t i, j;
	FILE *f;
	int rc;

	if (fuzz_path[0] == '\0')
		snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/fuzz_dhcpenv.%d.env", (int)getpid());
	if ((f = fopen(fuzz_path, "w")) == NULL)
		return 0;
	if (size > 0 && fwrite(data, 1, size, f) != size) {
		fclose(f);
		return 0;
	}
	fclose(f);

	err[0] = '\0';
	rc = netinfo_env_read(fuzz_path, &e, err, sizeof(err));
	fuzz_err_line(rc, err);
	if (rc == 0) {
		if (e.family != 4 && e.family != 6)
			abort();
		fuzz_value_ok(e.iface);
		fuzz_value_ok(e.server);
		fuzz_value_ok(e.sztp);
		fuzz_value_ok(e.vendor);
		fuzz_value_ok(e.client_id);
		fuzz_value_ok(e.duid);
		netinfo_env_clear(&e);
	}

	memset(&l, 0, sizeof(l));
	err[0] = '\0';
	rc = netinfo_add_env(&l, fuzz_path, err, sizeof(err));
	fuzz_err_line(rc, err);
	if (l.n > NETID_MAX)
		abort();
	for (i = 0; i < l.n; i++) {
		size_t n = strlen(l.v[i].value);

		if (n == 0 || n % 2 != 0 || n >= NETID_VALUE_MAX)
			abort();
		for (j = 0; j < n; j++)
			if (strchr("0123456789abcdef", l.v[i].value[j]) == NULL)
				abort();
	}

	memset(&d, 0, sizeof(d));
	err[0] = '\0';
	rc = discover_dhcp_env_add(&d, fuzz_path, err, sizeof(err));
	fuzz_err_line(rc, err);
	if (d.ncand > DISCOVER_CAND_MAX || d.nposture > DISCOVER_URIS_MAX ||
	    d.nupdate > DISCOVER_URIS_MAX)
		abort();
	for (i = 0; i < d.ncand; i++)
		if (strlen(d.cand[i].url) >= DISCOVER_URL_MAX ||
		    d.cand[i].source != DISCOVER_SRC_DHCP)
			abort();
	unlink(fuzz_path);
	return 0;
}
