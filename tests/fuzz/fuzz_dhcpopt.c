/*
 * fuzz_dhcpopt: libFuzzer target for the DHCP option decoders (dhcp-hook/dhcpopt.c).
 * The first input octet picks the decoder (SZTP list, v4 or v6 vendor option, hex text),
 * the rest is the option data. What decodes is encoded again and must give back the same
 * bytes (SZTP) or decode to the same content (vendor options: unknown sub-options and other
 * enterprises are dropped on the way).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp-hook/dhcpopt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENTERPRISE	DHCPOPT_ENTERPRISE_DEFAULT

static void
fuzz_same_list(const struct dhcpopt_list *a, const struct dhcpopt_list *b)
{
	size_t i;

	if (a->n != b->n)
		abort();
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			abort();
}

static void
fuzz_sztp(const uint8_t *data, size_t size)
{
	struct dhcpopt_list l, l2;
	uint8_t *buf;
	size_t len;
	char err[160];

	if (dhcpopt_sztp_decode(data, size, &l, err, sizeof(err)) == -1) {
		if (l.n != 0 || l.v != NULL || err[0] == '\0')
			abort();
		return;
	}
	if (l.n == 0 || (buf = malloc(size)) == NULL)
		abort();
	/* The list form has no slack: re-encoding gives the input back exactly. */
	if (dhcpopt_sztp_size((const char *const *)l.v, l.n) != size ||
	    dhcpopt_sztp_encode((const char *const *)l.v, l.n, buf, size, &len, err,
	    sizeof(err)) == -1 || len != size || memcmp(buf, data, size) != 0)
		abort();
	if (dhcpopt_sztp_decode(buf, len, &l2, err, sizeof(err)) == -1)
		abort();
	fuzz_same_list(&l, &l2);
	dhcpopt_list_free(&l2);
	dhcpopt_list_free(&l);
	free(buf);
}

static void
fuzz_vendor(int v6, const uint8_t *data, size_t size)
{
	struct dhcpopt_vendor *v = NULL, *v2 = NULL;
	uint8_t *buf = NULL;
	size_t need, len;
	char err[160];
	int rc;

	rc = v6 ? dhcpopt_vendor6_decode(data, size, ENTERPRISE, &v, err, sizeof(err)) :
	    dhcpopt_vendor4_decode(data, size, ENTERPRISE, &v, err, sizeof(err));
	if (rc != 1) {
		if (v != NULL || (rc == -1 && err[0] == '\0'))
			abort();
		return;
	}
	need = v6 ? dhcpopt_vendor6_size(&v->posture, &v->update, v->ca_fingerprint) :
	    dhcpopt_vendor4_size(&v->posture, &v->update, v->ca_fingerprint);
	if ((buf = malloc(need)) == NULL)
		abort();
	rc = v6 ? dhcpopt_vendor6_encode(ENTERPRISE, &v->posture, &v->update,
	    v->ca_fingerprint, buf, need, &len, err, sizeof(err)) :
	    dhcpopt_vendor4_encode(ENTERPRISE, &v->posture, &v->update, v->ca_fingerprint,
	    buf, need, &len, err, sizeof(err));
	if (rc == -1) {
		/* v4 only: our content came from several enterprise blocks and no longer fits
		 * one data-len octet. */
		if (v6 || need - 5 <= 255)
			abort();
		goto out;
	}
	if (len != need)
		abort();
	rc = v6 ? dhcpopt_vendor6_decode(buf, len, ENTERPRISE, &v2, err, sizeof(err)) :
	    dhcpopt_vendor4_decode(buf, len, ENTERPRISE, &v2, err, sizeof(err));
	if (rc != 1)
		abort();
	fuzz_same_list(&v->posture, &v2->posture);
	fuzz_same_list(&v->update, &v2->update);
	if ((v->ca_fingerprint == NULL) != (v2->ca_fingerprint == NULL) ||
	    (v->ca_fingerprint != NULL && strcmp(v->ca_fingerprint, v2->ca_fingerprint) != 0))
		abort();
out:
	dhcpopt_vendor_free(v2);
	dhcpopt_vendor_free(v);
	free(buf);
}

static void
fuzz_hex(const uint8_t *data, size_t size)
{
	uint8_t out[64];
	char *s;
	size_t len;
	char err[160];

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	if (dhcpopt_hex_decode(s, out, sizeof(out), &len, err, sizeof(err)) == 0 &&
	    (len == 0 || len > sizeof(out)))
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] & 3) {
	case 0:
		fuzz_sztp(data + 1, size - 1);
		break;
	case 1:
		fuzz_vendor(0, data + 1, size - 1);
		break;
	case 2:
		fuzz_vendor(1, data + 1, size - 1);
		break;
	default:
		fuzz_hex(data + 1, size - 1);
		break;
	}
	return 0;
}
