/*
 * libFuzzer target: the voucher parsers as a pledge, registrar or MASA meets them. The first
 * byte selects the path: even = CMS DER through voucher_cms_open (signature only, no
 * anchors) and, when that opens, the JSON inside through voucher_json_parse as voucher and
 * as voucher-request and voucher_check; odd = the rest as JSON directly (both kinds), and
 * the RFC 3339 time parser on the rest as a string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/common/voucher.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse_json(const char *json, size_t len)
{
	struct voucher v;
	char err[256];

	if (voucher_json_parse(json, len, VOUCHER_KIND_VOUCHER, &v, err, sizeof(err)) ==
	    VOUCHER_OK)
		(void)voucher_check(&v, v.serial, v.nonce[0] ? v.nonce : NULL, 1700000000, err,
		    sizeof(err));
	voucher_clear(&v);
	(void)voucher_json_parse(json, len, VOUCHER_KIND_REQUEST, &v, err, sizeof(err));
	voucher_clear(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *content = NULL, *s, err[256];
	size_t clen;
	X509 *signer = NULL;
	STACK_OF(X509) *certs = NULL;
	int64_t t;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		if (voucher_cms_open(data + 1, size - 1, NULL, &content, &clen, &signer, &certs,
		    err, sizeof(err)) == VOUCHER_OK)
			parse_json(content, clen);
		free(content);
		X509_free(signer);
		sk_X509_pop_free(certs, X509_free);
		return 0;
	}
	parse_json((const char *)data + 1, size - 1);
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	(void)voucher_time_parse(s, &t);
	free(s);
	return 0;
}
