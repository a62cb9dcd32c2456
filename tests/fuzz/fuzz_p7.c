/*
 * fuzz_p7: libFuzzer target for what the agent reads from a registrar's EST answers: the
 * certs-only PKCS#7 of /cacerts and /simpleenroll (certs/p7.c, RFC 7030 §4.1.3, §4.2.3),
 * and the DER-level reader of an issued certificate (certs/certder.c). Whatever decodes
 * must encode again and decode to the same certificates.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "certs/certder.h"
#include "certs/p7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs, *again;
	X509 *arr[16];
	unsigned char *der = NULL;
	char err[256], serial[64];
	int64_t nb, na;
	size_t len, n, i;

	(void)certder_info(data, size, serial, sizeof(serial), &nb, &na);
	err[0] = '\0';
	if ((certs = p7_certs_decode(data, size, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
		ERR_clear_error();
		return 0;
	}
	n = (size_t)sk_X509_num(certs);
	if (n > 0 && n <= 16) {
		for (i = 0; i < n; i++)
			arr[i] = sk_X509_value(certs, (int)i);
		if (p7_certs_encode(arr, n, &der, &len, err, sizeof(err)) == 0) {
			if ((again = p7_certs_decode(der, len, err, sizeof(err))) == NULL ||
			    (size_t)sk_X509_num(again) != n)
				abort();
			for (i = 0; i < n; i++)
				if (X509_cmp(arr[i], sk_X509_value(again, (int)i)) != 0)
					abort();
			sk_X509_pop_free(again, X509_free);
		}
		free(der);
	}
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return 0;
}
