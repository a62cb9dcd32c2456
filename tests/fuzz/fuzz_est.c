/*
 * libFuzzer target: what latchkeyd's EST code sees of a request. Input layout:
 * path '\n' content-type '\n' body. The path goes through est_route, the content type through
 * est_media_type_is, the body through base64 decoding and the PKCS#10 checks (csr_check), in
 * the order the registrar applies them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certs/csr.h"
#include "enroll/common/b64.h"
#include "enroll/latchkeyd/est.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
take_line(const uint8_t **p, size_t *n)
{
	const uint8_t *nl = memchr(*p, '\n', *n);
	size_t l = nl != NULL ? (size_t)(nl - *p) : *n;
	char *s = malloc(l + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, *p, l);
	s[l] = '\0';
	*p += l + (nl != NULL);
	*n -= l + (nl != NULL);
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size, derlen;
	char *path, *ctype, label[EST_LABEL_MAX + 1], err[256];
	enum est_op op;
	unsigned char *der;
	struct csr_info info;

	if ((path = take_line(&p, &n)) == NULL)
		return 0;
	if ((ctype = take_line(&p, &n)) == NULL) {
		free(path);
		return 0;
	}
	if (est_route(path, &op, label) == 0) {
		if (strlen(label) > EST_LABEL_MAX)
			abort();
		(void)est_op_method(op);
	}
	(void)est_media_type_is(ctype, EST_CT_PKCS10);
	if ((der = b64_decode((const char *)p, n, &derlen, err, sizeof(err))) != NULL) {
		memset(&info, 0, sizeof(info));
		if (csr_check(der, derlen, &info, err, sizeof(err)) == CSR_OK &&
		    (info.spki_der == NULL || info.spki_len == 0))
			abort();
		csr_info_free(&info);
		free(der);
	}
	free(path);
	free(ctype);
	return 0;
}
