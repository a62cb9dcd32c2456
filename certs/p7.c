/*
 * p7: certs-only SignedData (RFC 7030 §4.1.3 and §4.2.3; RFC 5652 §5 with no signerInfos and
 * an absent eContent of type id-data).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "certs/p7.h"
#include "certs/pki.h"

int
p7_certs_encode(X509 *const *certs, size_t n, unsigned char **der, size_t *len, char *err,
    size_t errlen)
{
	PKCS7 *p7 = NULL;
	unsigned char *buf = NULL, *q;
	size_t i;
	int dlen;

	if (der == NULL || len == NULL)
		return pki_err(err, errlen, "p7: no output");
	*der = NULL;
	*len = 0;
	if (certs == NULL || n == 0) {
		ERR_clear_error();
		return pki_err(err, errlen, "p7: no certificates to encode");
	}
	if ((p7 = PKCS7_new()) == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data) || !PKCS7_set_detached(p7, 1))
		goto err;
	for (i = 0; i < n; i++)
		if (certs[i] == NULL || !PKCS7_add_certificate(p7, certs[i]))
			goto err;
	if ((dlen = i2d_PKCS7(p7, NULL)) <= 0 || (buf = malloc((size_t)dlen)) == NULL)
		goto err;
	q = buf;
	if (i2d_PKCS7(p7, &q) != dlen)
		goto err;
	PKCS7_free(p7);
	*der = buf;
	*len = (size_t)dlen;
	return 0;
err:
	free(buf);
	PKCS7_free(p7);
	return pki_err(err, errlen, "p7: cannot encode certs-only SignedData");
}

STACK_OF(X509) *
p7_certs_decode(const unsigned char *der, size_t len, char *err, size_t errlen)
{
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs, *out = NULL;
	const unsigned char *p = der;

	ERR_clear_error();
	if (der == NULL || len == 0 || len > INT_MAX) {
		pki_err(err, errlen, "p7: empty or oversized input");
		return NULL;
	}
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL) {
		pki_err(err, errlen, "p7: not a DER/BER PKCS#7 structure");
		return NULL;
	}
	if (p != der + len) {
		pki_err(err, errlen, "p7: %zu bytes of trailing data", (size_t)(der + len - p));
		goto done;
	}
	if (!PKCS7_type_is_signed(p7) || p7->d.sign == NULL) {
		pki_err(err, errlen, "p7: not a SignedData");
		goto done;
	}
	certs = p7->d.sign->cert;
	if (certs == NULL || sk_X509_num(certs) == 0) {
		pki_err(err, errlen, "p7: SignedData holds no certificates");
		goto done;
	}
	if ((out = X509_chain_up_ref(certs)) == NULL)
		pki_err(err, errlen, "p7: out of memory");
done:
	PKCS7_free(p7);
	return out;
}

int
p7_sign_data(const unsigned char *data, size_t len, X509 *cert, EVP_PKEY *key,
    STACK_OF(X509) *chain, unsigned char **der, size_t *derlen, char *err, size_t errlen)
{
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	unsigned char *p = NULL;
	int n, ret = -1;

	*der = NULL;
	*derlen = 0;
	if (len > INT_MAX)
		return pki_errx(err, errlen, "CMS signing failed: content too large");
	if ((in = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (cms = CMS_sign(cert, key, chain, in, CMS_BINARY | CMS_NOSMIMECAP)) == NULL) {
		pki_err(err, errlen, "CMS signing failed");
		goto err;
	}
	if ((n = i2d_CMS_ContentInfo(cms, &p)) <= 0 || (*der = malloc((size_t)n)) == NULL) {
		pki_err(err, errlen, "CMS encoding failed");
		goto err;
	}
	memcpy(*der, p, (size_t)n);
	*derlen = (size_t)n;
	ret = 0;
err:
	OPENSSL_free(p);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return ret;
}
