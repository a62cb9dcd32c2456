/*
 * dhcp_decode: the agent's side of the kea-options scenario. Reads an env file written by
 * contrib/dhcp/udhcpc-latchkey.sh or dhclient-exit-hook.sh and decodes its options with
 * the project's codec (dhcp-hook/dhcpopt.c), printing one line per item:
 *   sztp URI / posture URI / update URI / fingerprint FP, or "error: ..." (exit 1).
 * Built by test.sh at run time: cc -I$LK_TOP dhcp_decode.c $LK_TOP/dhcp-hook/dhcpopt.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp-hook/dhcpopt.h"

int
main(int argc, char **argv)
{
	char line[4096], err[256], *v, *nl;
	uint8_t buf[2048];
	struct dhcpopt_list l;
	struct dhcpopt_vendor *ven;
	size_t len, i;
	int family = 4, rc;
	FILE *f;

	if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "usage: dhcp_decode ENVFILE\n");
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if ((v = strchr(line, '=')) == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "LATCHKEY_DHCP_FAMILY") == 0)
			family = atoi(v);
		if (strcmp(line, "LATCHKEY_DHCP_SZTP") != 0 &&
		    strcmp(line, "LATCHKEY_DHCP_VENDOR") != 0)
			continue;
		if (dhcpopt_hex_decode(v, buf, sizeof(buf), &len, err, sizeof(err)) == -1)
			goto fail;
		if (strcmp(line, "LATCHKEY_DHCP_SZTP") == 0) {
			if (dhcpopt_sztp_decode(buf, len, &l, err, sizeof(err)) == -1)
				goto fail;
			for (i = 0; i < l.n; i++)
				printf("sztp %s\n", l.v[i]);
			dhcpopt_list_free(&l);
			continue;
		}
		rc = family == 6 ?
		    dhcpopt_vendor6_decode(buf, len, DHCPOPT_ENTERPRISE_DEFAULT, &ven, err,
		    sizeof(err)) :
		    dhcpopt_vendor4_decode(buf, len, DHCPOPT_ENTERPRISE_DEFAULT, &ven, err,
		    sizeof(err));
		if (rc == -1)
			goto fail;
		if (rc == 0) {
			printf("vendor none\n");
			continue;
		}
		for (i = 0; i < ven->posture.n; i++)
			printf("posture %s\n", ven->posture.v[i]);
		for (i = 0; i < ven->update.n; i++)
			printf("update %s\n", ven->update.v[i]);
		if (ven->ca_fingerprint != NULL)
			printf("fingerprint %s\n", ven->ca_fingerprint);
		dhcpopt_vendor_free(ven);
	}
	fclose(f);
	return 0;
fail:
	printf("error: %s\n", err);
	fclose(f);
	return 1;
}
