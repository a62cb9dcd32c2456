/*
 * fuzz_ocsp: libFuzzer target for the OCSP request reader and the signer framings
 * (certs/ocsp.c, certs/crl.c). The same bytes go to every decoder:
 *   - ocsp_request_parse(): on success the query must be within its limits, survive the
 *     query framing unchanged, and a response signed for it must carry exactly the CertIDs
 *     OpenSSL reads from the same request (when OpenSSL can read it);
 *   - ocsp_query_decode(), ocsp_status_decode(), crl_entries_decode(): on success encoding
 *     again must give the same bytes (the framings are canonical);
 *   - ocsp_get_path_decode() (the bytes as a string): on success the DER is parsed too.
 * Every refusal must come with an error line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "certs/crl.h"
#include "certs/ocsp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509	*fz_ca;
static EVP_PKEY	*fz_key;

/* A throwaway self-signed P-256 CA, made once. */
static void
fz_ca_init(void)
{
	X509_NAME	*name;

	if (fz_ca != NULL)
		return;
	if ((fz_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (fz_ca = X509_new()) == NULL)
		abort();
	name = X509_get_subject_name(fz_ca);
	if (X509_set_version(fz_ca, X509_VERSION_3) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(fz_ca), 1) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"fuzz CA", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(fz_ca, name) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(fz_ca), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(fz_ca), 86400) == NULL ||
	    X509_set_pubkey(fz_ca, fz_key) != 1 || X509_sign(fz_ca, fz_key, EVP_sha256()) <= 0)
		abort();
}

static void
fz_query_same(const struct ocsp_query *a, const struct ocsp_query *b)
{
	size_t	i;

	if (a->nids != b->nids || a->nonce_len != b->nonce_len ||
	    memcmp(a->nonce, b->nonce, a->nonce_len) != 0)
		abort();
	for (i = 0; i < a->nids; i++)
		if (a->ids[i].hash != b->ids[i].hash ||
		    a->ids[i].params_null != b->ids[i].params_null ||
		    a->ids[i].hash_len != b->ids[i].hash_len ||
		    memcmp(a->ids[i].name_hash, b->ids[i].name_hash, a->ids[i].hash_len) != 0 ||
		    memcmp(a->ids[i].key_hash, b->ids[i].key_hash, a->ids[i].hash_len) != 0 ||
		    strcmp(a->ids[i].serial_hex, b->ids[i].serial_hex) != 0)
			abort();
}

static int
fz_certid_cmp(const OCSP_CERTID *a, const OCSP_CERTID *b)
{
	unsigned char	*da = NULL, *db = NULL;
	int		 la, lb, rc;

	la = i2d_OCSP_CERTID(a, &da);
	lb = i2d_OCSP_CERTID(b, &db);
	rc = la <= 0 || la != lb || memcmp(da, db, (size_t)la) != 0;
	OPENSSL_free(da);
	OPENSSL_free(db);
	return rc;
}

/* Sign an answer for q and compare its CertIDs with OpenSSL's reading of the request. */
static void
fz_response(const uint8_t *data, size_t size, const struct ocsp_query *q)
{
	struct ocsp_status	 st[OCSP_IDS_MAX];
	const unsigned char	*p;
	OCSP_REQUEST		*req;
	OCSP_RESPONSE		*resp;
	OCSP_BASICRESP		*bs;
	unsigned char		*der = NULL;
	size_t			 len, i;
	char			 err[256];

	fz_ca_init();
	for (i = 0; i < q->nids; i++) {
		st[i].status = (int)(i % 3);
		st[i].revoked_at = 1767225600;
		st[i].reason = i % 2 ? -1 : 1;
	}
	if (ocsp_response_build(fz_ca, fz_key, q, st, 1767225600, 24, &der, &len, err,
	    sizeof(err)) != 0)
		abort();
	p = der;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL ||
	    OCSP_resp_count(bs) != (int)q->nids)
		abort();
	p = data;
	req = d2i_OCSP_REQUEST(NULL, &p, (long)size);
	if (req != NULL && p == data + size && OCSP_request_onereq_count(req) == (int)q->nids)
		for (i = 0; i < q->nids; i++)
			if (fz_certid_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(req,
			    (int)i)), OCSP_SINGLERESP_get0_id(OCSP_resp_get0(bs, (int)i))) != 0)
				abort();
	OCSP_REQUEST_free(req);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	free(der);
}

static void
fz_request(const uint8_t *data, size_t size)
{
	struct ocsp_query	 q, q2;
	unsigned char		*buf;
	size_t			 len, i;
	char			 err[256];

	err[0] = '\0';
	if (ocsp_request_parse(data, size, &q, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (q.nids < 1 || q.nids > OCSP_IDS_MAX || q.nonce_len > OCSP_NONCE_MAX)
		abort();
	for (i = 0; i < q.nids; i++)
		if (q.ids[i].serial_hex[0] == '\0' || q.ids[i].hash_len == 0)
			abort();
	if (ocsp_query_encode(&q, &buf, &len) != 0 ||
	    ocsp_query_decode(buf, len, &q2, err, sizeof(err)) != 0)
		abort();
	fz_query_same(&q, &q2);
	free(buf);
	fz_response(data, size, &q);
}

static void
fz_framings(const uint8_t *data, size_t size)
{
	struct ocsp_status	 st[OCSP_IDS_MAX];
	struct ocsp_query	 q;
	struct crl_entry	*e;
	unsigned char		*buf;
	size_t			 len, n;
	char			 err[256];

	err[0] = '\0';
	if (ocsp_query_decode(data, size, &q, err, sizeof(err)) == 0) {
		if (ocsp_query_encode(&q, &buf, &len) != 0 || len != size ||
		    memcmp(buf, data, size) != 0)
			abort();
		free(buf);
	} else if (err[0] == '\0')
		abort();

	err[0] = '\0';
	if (ocsp_status_decode(data, size, st, &n, err, sizeof(err)) == 0) {
		if (ocsp_status_encode(st, n, &buf, &len) != 0 || len != size ||
		    memcmp(buf, data, size) != 0)
			abort();
		free(buf);
	} else if (err[0] == '\0')
		abort();

	err[0] = '\0';
	if (crl_entries_decode(data, size, &e, &n, err, sizeof(err)) == 0) {
		if (crl_entries_encode(e, n, &buf, &len) != 0 || len != size ||
		    memcmp(buf, data, size) != 0)
			abort();
		free(buf);
		free(e);
	} else if (err[0] == '\0' || e != NULL || n != 0)
		abort();
}

static void
fz_get(const uint8_t *data, size_t size)
{
	unsigned char	*der;
	char		*s, err[256];
	size_t		 len;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	err[0] = '\0';
	if (ocsp_get_path_decode(s, &der, &len, err, sizeof(err)) == 0) {
		if (len == 0 || len > OCSP_REQUEST_MAX)
			abort();
		fz_request(der, len);
		free(der);
	} else if (err[0] == '\0' || der != NULL)
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_request(data, size);
	fz_framings(data, size);
	fz_get(data, size);
	return 0;
}
