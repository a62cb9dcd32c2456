/*
 * ocsp: OCSP request parsing (network side), response signing (signer side) and the framing
 * between them. See certs/ocsp.h for the contract.
 *
 * The request parser is a small strict DER reader of its own rather than d2i_OCSP_REQUEST():
 * it runs on untrusted input in the unprivileged process, stops at OCSP_IDS_MAX CertIDs
 * instead of building objects for all of them, and keeps only what the answer needs.
 * The response is built with OpenSSL's OCSP API, which the signer trusts with the key anyway.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "certs/crl.h"
#include "certs/ocsp.h"
#include "certs/pki.h"

#define OCSP_TIME_MAX	253402300799LL	/* 9999-12-31T23:59:59Z */
#define OCSP_HOURS_MAX	87600U
#define OCSP_CERTID_MAX	256		/* a CertID we encode, DER */

#define DER_BOOLEAN	0x01
#define DER_INTEGER	0x02
#define DER_OCTETSTRING	0x04
#define DER_NULL	0x05
#define DER_OID		0x06
#define DER_SEQUENCE	0x30
#define DER_CTX0	0xa0
#define DER_CTX1	0xa1
#define DER_CTX2	0xa2

/* id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2 (RFC 6960 §4.4.1), content octets */
static const unsigned char oid_nonce[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02 };

/* CertID hash algorithms: OID content octets and digest length. */
static const struct {
	int		 hash;
	unsigned char	 oid[9];
	size_t		 oidlen;
	size_t		 mdlen;
	const char	*mdname;
} ocsp_hashes[] = {
	{ OCSP_HASH_SHA1, { 0x2b, 0x0e, 0x03, 0x02, 0x1a }, 5, 20, "SHA1" },
	{ OCSP_HASH_SHA256, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 }, 9, 32,
	    "SHA256" },
	{ OCSP_HASH_SHA384, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 }, 9, 48,
	    "SHA384" },
	{ OCSP_HASH_SHA512, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03 }, 9, 64,
	    "SHA512" },
};
#define OCSP_NHASHES	(sizeof(ocsp_hashes) / sizeof(ocsp_hashes[0]))

/* A view of DER bytes still to read. */
struct ocsp_der {
	const unsigned char	*p;
	size_t			 len;
};

static int
ocsp_hash_index(int hash)
{
	size_t	i;

	for (i = 0; i < OCSP_NHASHES; i++)
		if (ocsp_hashes[i].hash == hash)
			return (int)i;
	return -1;
}

/* --- strict DER reading (X.690 §10: definite, minimal lengths) -------------------------- */

/* Next TLV of c: its tag and its content; c moves past it. 0 ok, -1 malformed. */
static int
ocsp_der_next(struct ocsp_der *c, unsigned char *tag, struct ocsp_der *val)
{
	size_t	n, i, l;

	if (c->len < 2)
		return -1;
	*tag = c->p[0];
	if ((*tag & 0x1f) == 0x1f)		/* high tag numbers: none in OCSP */
		return -1;
	l = c->p[1];
	n = 2;
	if (l & 0x80) {
		i = l & 0x7f;
		if (i == 0 || i > 3 || c->len < 2 + i)	/* indefinite, or > 16 MB */
			return -1;
		if (c->p[2] == 0)			/* not minimal */
			return -1;
		for (l = 0; i > 0; i--)
			l = l << 8 | c->p[n++];
		if (l < 0x80)				/* short form would do */
			return -1;
	}
	if (l > c->len - n)
		return -1;
	val->p = c->p + n;
	val->len = l;
	c->p += n + l;
	c->len -= n + l;
	return 0;
}

static int
ocsp_der_expect(struct ocsp_der *c, unsigned char tag, struct ocsp_der *val)
{
	unsigned char	t;

	if (ocsp_der_next(c, &t, val) == -1 || t != tag)
		return -1;
	return 0;
}

/* The next tag of c without reading it; -1 at the end. */
static int
ocsp_der_peek(const struct ocsp_der *c)
{
	return c->len > 0 ? c->p[0] : -1;
}

static int
ocsp_der_is(const struct ocsp_der *v, const unsigned char *b, size_t n)
{
	return v->len == n && memcmp(v->p, b, n) == 0;
}

/*
 * CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING,
 * issuerKeyHash OCTET STRING, serialNumber CertificateSerialNumber }  (RFC 6960 §4.1.1)
 */
static int
ocsp_certid_parse(struct ocsp_der c, struct ocsp_certid *id, char *err, size_t errlen)
{
	struct ocsp_der	alg, oid, nul, nh, kh, ser;
	size_t		i;
	int		h = -1;

	memset(id, 0, sizeof(*id));
	if (ocsp_der_expect(&c, DER_SEQUENCE, &alg) == -1 ||
	    ocsp_der_expect(&alg, DER_OID, &oid) == -1)
		return pki_errx(err, errlen, "ocsp: bad CertID hashAlgorithm");
	for (i = 0; i < OCSP_NHASHES; i++)
		if (ocsp_der_is(&oid, ocsp_hashes[i].oid, ocsp_hashes[i].oidlen))
			h = (int)i;
	if (h == -1)
		return pki_errx(err, errlen, "ocsp: unsupported CertID hash algorithm");
	if (alg.len > 0) {
		if (ocsp_der_expect(&alg, DER_NULL, &nul) == -1 || nul.len != 0 ||
		    alg.len != 0)
			return pki_errx(err, errlen, "ocsp: bad hash algorithm parameters");
		id->params_null = 1;
	}
	id->hash = ocsp_hashes[h].hash;
	id->hash_len = ocsp_hashes[h].mdlen;
	if (ocsp_der_expect(&c, DER_OCTETSTRING, &nh) == -1 || nh.len != id->hash_len ||
	    ocsp_der_expect(&c, DER_OCTETSTRING, &kh) == -1 || kh.len != id->hash_len)
		return pki_errx(err, errlen, "ocsp: bad CertID issuer hashes");
	memcpy(id->name_hash, nh.p, nh.len);
	memcpy(id->key_hash, kh.p, kh.len);
	if (ocsp_der_expect(&c, DER_INTEGER, &ser) == -1 || ser.len == 0)
		return pki_errx(err, errlen, "ocsp: bad CertID serialNumber");
	if (ser.len > 1 && ((ser.p[0] == 0 && !(ser.p[1] & 0x80)) ||
	    (ser.p[0] == 0xff && (ser.p[1] & 0x80))))
		return pki_errx(err, errlen, "ocsp: serialNumber not minimally encoded");
	if (ser.p[0] & 0x80)
		return pki_errx(err, errlen, "ocsp: negative serialNumber");
	if (ser.len > 1 && ser.p[0] == 0) {
		ser.p++;
		ser.len--;
	}
	if (ser.len > OCSP_SERIAL_BYTES_MAX)
		return pki_errx(err, errlen, "ocsp: serialNumber longer than %d octets",
		    OCSP_SERIAL_BYTES_MAX);
	pki_serial_to_hex(ser.p, ser.len, id->serial_hex);
	if (c.len != 0)
		return pki_errx(err, errlen, "ocsp: trailing data in CertID");
	return 0;
}

/* requestExtensions: Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension (RFC 5280 §4.1) */
static int
ocsp_extensions_parse(struct ocsp_der c, struct ocsp_query *q, char *err, size_t errlen)
{
	struct ocsp_der	exts, ext, oid, crit, val, nonce;
	int		critical;

	if (ocsp_der_expect(&c, DER_SEQUENCE, &exts) == -1 || c.len != 0)
		return pki_errx(err, errlen, "ocsp: bad requestExtensions");
	while (exts.len > 0) {
		if (ocsp_der_expect(&exts, DER_SEQUENCE, &ext) == -1 ||
		    ocsp_der_expect(&ext, DER_OID, &oid) == -1 || oid.len == 0)
			return pki_errx(err, errlen, "ocsp: bad request extension");
		critical = 0;
		if (ocsp_der_peek(&ext) == DER_BOOLEAN) {
			if (ocsp_der_expect(&ext, DER_BOOLEAN, &crit) == -1 || crit.len != 1 ||
			    (crit.p[0] != 0 && crit.p[0] != 0xff))
				return pki_errx(err, errlen, "ocsp: bad extension criticality");
			critical = crit.p[0] == 0xff;
		}
		if (ocsp_der_expect(&ext, DER_OCTETSTRING, &val) == -1 || ext.len != 0)
			return pki_errx(err, errlen, "ocsp: bad request extension");
		if (ocsp_der_is(&oid, oid_nonce, sizeof(oid_nonce))) {
			/* RFC 9654 §2.1: Nonce ::= OCTET STRING (SIZE(1..128)) */
			if (q->nonce_len > 0)
				return pki_errx(err, errlen, "ocsp: two nonce extensions");
			if (ocsp_der_expect(&val, DER_OCTETSTRING, &nonce) == -1 || val.len != 0)
				return pki_errx(err, errlen, "ocsp: nonce is not an OCTET STRING");
			if (nonce.len < 1 || nonce.len > OCSP_NONCE_MAX)
				return pki_errx(err, errlen,
				    "ocsp: nonce of %zu octets (1..%d allowed)", nonce.len,
				    OCSP_NONCE_MAX);
			memcpy(q->nonce, nonce.p, nonce.len);
			q->nonce_len = nonce.len;
		} else if (critical)
			return pki_errx(err, errlen, "ocsp: unsupported critical extension");
	}
	return 0;
}

int
ocsp_request_parse(const unsigned char *der, size_t len, struct ocsp_query *q, char *err,
    size_t errlen)
{
	struct ocsp_der	top, req, tbs, v, list, r, cid;

	if (q == NULL)
		return pki_errx(err, errlen, "ocsp: no output");
	memset(q, 0, sizeof(*q));
	if (der == NULL || len == 0)
		return pki_errx(err, errlen, "ocsp: empty request");
	if (len > OCSP_REQUEST_MAX)
		return pki_errx(err, errlen, "ocsp: request of %zu bytes, more than %d", len,
		    OCSP_REQUEST_MAX);
	top.p = der;
	top.len = len;
	/* OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT OPTIONAL } */
	if (ocsp_der_expect(&top, DER_SEQUENCE, &req) == -1 || top.len != 0)
		goto malformed;
	if (ocsp_der_expect(&req, DER_SEQUENCE, &tbs) == -1)
		goto malformed;
	if (ocsp_der_peek(&req) == DER_CTX0 && ocsp_der_expect(&req, DER_CTX0, &v) == -1)
		goto malformed;
	if (req.len != 0)
		goto malformed;

	/* TBSRequest: version [0] DEFAULT v1, requestorName [1], requestList, extensions [2] */
	if (ocsp_der_peek(&tbs) == DER_CTX0) {
		if (ocsp_der_expect(&tbs, DER_CTX0, &v) == -1)
			goto malformed;
		if (!ocsp_der_is(&v, (const unsigned char *)"\x02\x01\x00", 3))
			return pki_errx(err, errlen, "ocsp: unsupported request version");
	}
	if (ocsp_der_peek(&tbs) == DER_CTX1 && ocsp_der_expect(&tbs, DER_CTX1, &v) == -1)
		goto malformed;
	if (ocsp_der_expect(&tbs, DER_SEQUENCE, &list) == -1)
		goto malformed;
	while (list.len > 0) {
		if (q->nids == OCSP_IDS_MAX) {
			pki_errx(err, errlen, "ocsp: more than %d CertIDs in one request",
			    OCSP_IDS_MAX);
			goto fail;
		}
		/* Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] OPTIONAL } */
		if (ocsp_der_expect(&list, DER_SEQUENCE, &r) == -1 ||
		    ocsp_der_expect(&r, DER_SEQUENCE, &cid) == -1)
			goto malformed;
		if (ocsp_der_peek(&r) == DER_CTX0 && ocsp_der_expect(&r, DER_CTX0, &v) == -1)
			goto malformed;
		if (r.len != 0)
			goto malformed;
		if (ocsp_certid_parse(cid, &q->ids[q->nids], err, errlen) == -1)
			goto fail;
		q->nids++;
	}
	if (q->nids == 0) {
		pki_errx(err, errlen, "ocsp: request without CertIDs");
		goto fail;
	}
	if (ocsp_der_peek(&tbs) == DER_CTX2) {
		if (ocsp_der_expect(&tbs, DER_CTX2, &v) == -1)
			goto malformed;
		if (ocsp_extensions_parse(v, q, err, errlen) == -1)
			goto fail;
	}
	if (tbs.len != 0)
		goto malformed;
	return 0;
 malformed:
	pki_errx(err, errlen, "ocsp: malformed OCSPRequest");
 fail:
	memset(q, 0, sizeof(*q));
	return -1;
}

int
ocsp_query_matches_ca(const struct ocsp_query *q, size_t idx, X509 *ca)
{
	const struct ocsp_certid	*id;
	const ASN1_BIT_STRING		*key;
	const EVP_MD			*md;
	unsigned char			 nh[EVP_MAX_MD_SIZE], kh[EVP_MAX_MD_SIZE], *name = NULL;
	unsigned int			 nlen, klen;
	int				 i, namelen, rc = -1;

	if (q == NULL || ca == NULL || idx >= q->nids || idx >= OCSP_IDS_MAX)
		return -1;
	id = &q->ids[idx];
	if ((i = ocsp_hash_index(id->hash)) == -1 || id->hash_len != ocsp_hashes[i].mdlen)
		return -1;
	if ((md = EVP_get_digestbyname(ocsp_hashes[i].mdname)) == NULL ||
	    (key = X509_get0_pubkey_bitstr(ca)) == NULL ||
	    (namelen = i2d_X509_NAME(X509_get_subject_name(ca), &name)) <= 0)
		goto err;
	/* RFC 6960 §4.1.1: hash of the issuer's DER name and of its public key's BIT STRING
	 * value (without tag, length and unused-bits octet) */
	if (EVP_Digest(name, (size_t)namelen, nh, &nlen, md, NULL) != 1 ||
	    EVP_Digest(key->data, (size_t)key->length, kh, &klen, md, NULL) != 1 ||
	    nlen != id->hash_len || klen != id->hash_len)
		goto err;
	rc = CRYPTO_memcmp(nh, id->name_hash, nlen) == 0 &&
	    CRYPTO_memcmp(kh, id->key_hash, klen) == 0;
 err:
	ERR_clear_error();
	OPENSSL_free(name);
	return rc;
}

/* --- GET form (RFC 6960 Appendix A.1) --------------------------------------------------- */

static int
ocsp_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
ocsp_get_path_decode(const char *path, unsigned char **der, size_t *len, char *err,
    size_t errlen)
{
	unsigned char	*txt = NULL, *out = NULL;
	size_t		 n, i, t = 0, o = 0, pad = 0, nq;
	unsigned int	 acc = 0;
	int		 hi, lo, v;

	if (der == NULL || len == NULL)
		return pki_errx(err, errlen, "ocsp: no output");
	*der = NULL;
	*len = 0;
	if (path == NULL || (n = strnlen(path, OCSP_GET_PATH_MAX + 1)) == 0)
		return pki_errx(err, errlen, "ocsp: empty GET request");
	if (n > OCSP_GET_PATH_MAX)
		return pki_errx(err, errlen, "ocsp: GET request longer than %d characters",
		    OCSP_GET_PATH_MAX);
	if ((txt = malloc(n)) == NULL)
		return pki_errx(err, errlen, "ocsp: out of memory");
	/* URL decoding (RFC 3986 §2.1) */
	for (i = 0; i < n; i++) {
		if (path[i] != '%') {
			txt[t++] = (unsigned char)path[i];
			continue;
		}
		if (i + 2 >= n) {
			pki_errx(err, errlen, "ocsp: truncated %%-escape in GET request");
			goto err;
		}
		hi = pki_hexval((unsigned char)path[i + 1]);
		lo = pki_hexval((unsigned char)path[i + 2]);
		if (hi < 0 || lo < 0) {
			pki_errx(err, errlen, "ocsp: bad %%-escape in GET request");
			goto err;
		}
		txt[t++] = (unsigned char)(hi << 4 | lo);
		i += 2;
	}
	/* base64 (RFC 4648 §4); '=' padding only at the end and optional */
	while (t > 0 && txt[t - 1] == '=' && pad < 2) {
		t--;
		pad++;
	}
	if (t % 4 == 1 || (pad > 0 && (t + pad) % 4 != 0)) {
		pki_errx(err, errlen, "ocsp: bad base64 length in GET request");
		goto err;
	}
	nq = t / 4 * 3 + (t % 4 == 0 ? 0 : t % 4 - 1);
	if (nq == 0 || nq > OCSP_REQUEST_MAX) {
		pki_errx(err, errlen, "ocsp: GET request of %zu bytes (1..%d allowed)", nq,
		    OCSP_REQUEST_MAX);
		goto err;
	}
	if ((out = malloc(nq)) == NULL) {
		pki_errx(err, errlen, "ocsp: out of memory");
		goto err;
	}
	for (i = 0; i < t; i++) {
		if ((v = ocsp_b64val(txt[i])) < 0) {
			pki_errx(err, errlen, "ocsp: bad base64 character in GET request");
			goto err;
		}
		acc = acc << 6 | (unsigned int)v;
		if (i % 4 == 3) {
			out[o++] = (unsigned char)(acc >> 16);
			out[o++] = (unsigned char)(acc >> 8);
			out[o++] = (unsigned char)acc;
			acc = 0;
		}
	}
	if (t % 4 == 2) {
		out[o++] = (unsigned char)(acc >> 4);
	} else if (t % 4 == 3) {
		out[o++] = (unsigned char)(acc >> 10);
		out[o++] = (unsigned char)(acc >> 2);
	}
	free(txt);
	*der = out;
	*len = o;
	return 0;
 err:
	free(txt);
	free(out);
	return -1;
}

/* --- response (signer side) ------------------------------------------------------------- */

/* DER length octets into b at *o (b has room). */
static void
ocsp_put_len(unsigned char *b, size_t *o, size_t len)
{
	if (len >= 0x80)
		b[(*o)++] = 0x81;	/* a CertID is < 256 octets */
	b[(*o)++] = (unsigned char)len;
}

/* The CertID as DER, from its fields (the inverse of ocsp_certid_parse). */
static int
ocsp_certid_der(const struct ocsp_certid *id, unsigned char out[OCSP_CERTID_MAX],
    size_t *outlen)
{
	unsigned char	ser[OCSP_SERIAL_BYTES_MAX], body[OCSP_CERTID_MAX];
	size_t		slen, alen, b = 0, o = 0;
	int		h, pad;

	if ((h = ocsp_hash_index(id->hash)) == -1 || id->hash_len != ocsp_hashes[h].mdlen ||
	    (id->params_null != 0 && id->params_null != 1) ||
	    pki_serial_from_hex(id->serial_hex, ser, &slen) == -1)
		return -1;
	alen = 2 + ocsp_hashes[h].oidlen + (id->params_null ? 2 : 0);
	body[b++] = DER_SEQUENCE;
	body[b++] = (unsigned char)alen;
	body[b++] = DER_OID;
	body[b++] = (unsigned char)ocsp_hashes[h].oidlen;
	memcpy(body + b, ocsp_hashes[h].oid, ocsp_hashes[h].oidlen);
	b += ocsp_hashes[h].oidlen;
	if (id->params_null) {
		body[b++] = DER_NULL;
		body[b++] = 0;
	}
	body[b++] = DER_OCTETSTRING;
	body[b++] = (unsigned char)id->hash_len;
	memcpy(body + b, id->name_hash, id->hash_len);
	b += id->hash_len;
	body[b++] = DER_OCTETSTRING;
	body[b++] = (unsigned char)id->hash_len;
	memcpy(body + b, id->key_hash, id->hash_len);
	b += id->hash_len;
	pad = (ser[0] & 0x80) != 0;
	body[b++] = DER_INTEGER;
	body[b++] = (unsigned char)(slen + (size_t)pad);
	if (pad)
		body[b++] = 0;
	memcpy(body + b, ser, slen);
	b += slen;
	out[o++] = DER_SEQUENCE;
	ocsp_put_len(out, &o, b);
	memcpy(out + o, body, b);
	*outlen = o + b;
	return 0;
}

static int
ocsp_status_valid(const struct ocsp_status *st)
{
	switch (st->status) {
	case OCSP_CERT_GOOD:
	case OCSP_CERT_UNKNOWN:
		return 1;
	case OCSP_CERT_REVOKED:
		return st->revoked_at >= 0 && st->revoked_at <= OCSP_TIME_MAX &&
		    (st->reason == -1 || crl_reason_name(st->reason) != NULL);
	default:
		return 0;
	}
}

int
ocsp_response_build(X509 *ca_cert, EVP_PKEY *ca_key, const struct ocsp_query *q,
    const struct ocsp_status *st, int64_t this_update, unsigned next_update_hours,
    unsigned char **der, size_t *len, char *err, size_t errlen)
{
	static const int	 vstatus[] = { V_OCSP_CERTSTATUS_GOOD, V_OCSP_CERTSTATUS_REVOKED,
	    V_OCSP_CERTSTATUS_UNKNOWN };
	OCSP_BASICRESP		*bs = NULL;
	OCSP_RESPONSE		*resp = NULL;
	OCSP_CERTID		*cid = NULL;
	ASN1_TIME		*thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	unsigned char		 cidder[OCSP_CERTID_MAX], *out = NULL, *p;
	const unsigned char	*cp;
	size_t			 cidlen, i;
	int			 n, rc = -1;

	if (der == NULL || len == NULL)
		return pki_errx(err, errlen, "ocsp: no output buffer");
	*der = NULL;
	*len = 0;
	if (ca_cert == NULL || ca_key == NULL || q == NULL || st == NULL)
		return pki_errx(err, errlen, "ocsp: missing CA, key, query or status");
	if (q->nids == 0 || q->nids > OCSP_IDS_MAX || q->nonce_len > OCSP_NONCE_MAX)
		return pki_errx(err, errlen, "ocsp: bad query");
	if (next_update_hours > OCSP_HOURS_MAX || this_update < 0 ||
	    this_update + (int64_t)next_update_hours * 3600 > OCSP_TIME_MAX)
		return pki_errx(err, errlen, "ocsp: thisUpdate/nextUpdate out of range");
	for (i = 0; i < q->nids; i++)
		if (!ocsp_status_valid(&st[i]))
			return pki_errx(err, errlen, "ocsp: bad status for CertID %zu", i);
	if (X509_check_private_key(ca_cert, ca_key) != 1)
		return pki_err(err, errlen, "ocsp: the key does not match the CA certificate");

	if ((bs = OCSP_BASICRESP_new()) == NULL ||
	    (thisupd = ASN1_TIME_set(NULL, (time_t)this_update)) == NULL)
		goto ossl;
	if (next_update_hours > 0 && (nextupd = ASN1_TIME_set(NULL, (time_t)(this_update +
	    (int64_t)next_update_hours * 3600))) == NULL)
		goto ossl;
	for (i = 0; i < q->nids; i++) {
		if (ocsp_certid_der(&q->ids[i], cidder, &cidlen) == -1) {
			pki_errx(err, errlen, "ocsp: bad CertID %zu in query", i);
			goto err;
		}
		cp = cidder;
		if ((cid = d2i_OCSP_CERTID(NULL, &cp, (long)cidlen)) == NULL)
			goto ossl;
		ASN1_TIME_free(revtime);
		revtime = NULL;
		if (st[i].status == OCSP_CERT_REVOKED &&
		    (revtime = ASN1_TIME_set(NULL, (time_t)st[i].revoked_at)) == NULL)
			goto ossl;
		/* reason -1 is OCSP_REVOKED_STATUS_NOSTATUS: no revocationReason */
		if (OCSP_basic_add1_status(bs, cid, vstatus[st[i].status],
		    st[i].status == OCSP_CERT_REVOKED ? st[i].reason : -1, revtime, thisupd,
		    nextupd) == NULL)
			goto ossl;
		OCSP_CERTID_free(cid);
		cid = NULL;
	}
	/* RFC 6960 §4.4.1, RFC 9654: the nonce goes back as it came */
	if (q->nonce_len > 0 &&
	    OCSP_basic_add1_nonce(bs, (unsigned char *)q->nonce, (int)q->nonce_len) != 1)
		goto ossl;
	if (OCSP_basic_sign(bs, ca_cert, ca_key, pki_sig_md(ca_key), NULL,
	    OCSP_RESPID_KEY) != 1)
		goto ossl;
	if ((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) == NULL ||
	    (n = i2d_OCSP_RESPONSE(resp, NULL)) <= 0 || (out = malloc((size_t)n)) == NULL)
		goto ossl;
	p = out;
	if (i2d_OCSP_RESPONSE(resp, &p) != n)
		goto ossl;
	*der = out;
	*len = (size_t)n;
	out = NULL;
	rc = 0;
	goto err;
 ossl:
	pki_err(err, errlen, "ocsp: building the response");
 err:
	free(out);
	OCSP_CERTID_free(cid);
	ASN1_TIME_free(revtime);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(thisupd);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	return rc;
}

int
ocsp_error_response(int status, unsigned char **der, size_t *len)
{
	unsigned char	*p;

	if (der == NULL || len == NULL)
		return -1;
	*der = NULL;
	*len = 0;
	switch (status) {
	case OCSP_RSP_MALFORMED:
	case OCSP_RSP_INTERNAL:
	case OCSP_RSP_TRY_LATER:
	case OCSP_RSP_SIG_REQUIRED:
	case OCSP_RSP_UNAUTHORIZED:
		break;
	default:
		return -1;
	}
	/* OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } (RFC 6960 §4.2.1) */
	if ((p = malloc(5)) == NULL)
		return -1;
	p[0] = DER_SEQUENCE;
	p[1] = 3;
	p[2] = 0x0a;		/* ENUMERATED */
	p[3] = 1;
	p[4] = (unsigned char)status;
	*der = p;
	*len = 5;
	return 0;
}

/* --- framing for the signer channel ----------------------------------------------------- */

#define OCSP_QUERY_FRAME_MAX	(1 + OCSP_IDS_MAX * (3 + 2 * OCSP_HASH_LEN_MAX + 1 + \
	OCSP_SERIAL_BYTES_MAX) + 1 + OCSP_NONCE_MAX)
#define OCSP_STATUS_FRAME_MAX	(1 + OCSP_IDS_MAX * (1 + 8 + 1))

int
ocsp_query_encode(const struct ocsp_query *q, unsigned char **buf, size_t *len)
{
	const struct ocsp_certid	*id;
	unsigned char			*b, ser[OCSP_SERIAL_BYTES_MAX];
	size_t				 o = 0, i, slen;
	int				 h;

	if (buf == NULL || len == NULL)
		return -1;
	*buf = NULL;
	*len = 0;
	if (q == NULL || q->nids == 0 || q->nids > OCSP_IDS_MAX || q->nonce_len > OCSP_NONCE_MAX)
		return -1;
	if ((b = malloc(OCSP_QUERY_FRAME_MAX)) == NULL)
		return -1;
	b[o++] = (unsigned char)q->nids;
	for (i = 0; i < q->nids; i++) {
		id = &q->ids[i];
		if ((h = ocsp_hash_index(id->hash)) == -1 ||
		    id->hash_len != ocsp_hashes[h].mdlen ||
		    (id->params_null != 0 && id->params_null != 1) ||
		    pki_serial_from_hex(id->serial_hex, ser, &slen) == -1) {
			free(b);
			return -1;
		}
		b[o++] = (unsigned char)id->hash;
		b[o++] = (unsigned char)id->params_null;
		b[o++] = (unsigned char)id->hash_len;
		memcpy(b + o, id->name_hash, id->hash_len);
		o += id->hash_len;
		memcpy(b + o, id->key_hash, id->hash_len);
		o += id->hash_len;
		b[o++] = (unsigned char)slen;
		memcpy(b + o, ser, slen);
		o += slen;
	}
	b[o++] = (unsigned char)q->nonce_len;
	memcpy(b + o, q->nonce, q->nonce_len);
	o += q->nonce_len;
	*buf = b;
	*len = o;
	return 0;
}

int
ocsp_query_decode(const unsigned char *buf, size_t len, struct ocsp_query *q, char *err,
    size_t errlen)
{
	const unsigned char	*p = buf, *end = buf + len;
	struct ocsp_certid	*id;
	size_t			 i, hl, sl;
	int			 h;

	if (q == NULL)
		return pki_errx(err, errlen, "ocsp query: no output");
	memset(q, 0, sizeof(*q));
	if (buf == NULL || len < 1)
		goto trunc;
	q->nids = *p++;
	if (q->nids == 0 || q->nids > OCSP_IDS_MAX) {
		pki_errx(err, errlen, "ocsp query: %zu CertIDs (1..%d allowed)", q->nids,
		    OCSP_IDS_MAX);
		goto fail;
	}
	for (i = 0; i < q->nids; i++) {
		id = &q->ids[i];
		if (end - p < 3)
			goto trunc;
		id->hash = p[0];
		id->params_null = p[1];
		hl = p[2];
		p += 3;
		if ((h = ocsp_hash_index(id->hash)) == -1 || hl != ocsp_hashes[h].mdlen ||
		    id->params_null > 1) {
			pki_errx(err, errlen, "ocsp query: CertID %zu: bad hash", i);
			goto fail;
		}
		id->hash_len = hl;
		if ((size_t)(end - p) < 2 * hl + 1)
			goto trunc;
		memcpy(id->name_hash, p, hl);
		memcpy(id->key_hash, p + hl, hl);
		p += 2 * hl;
		sl = *p++;
		if (sl == 0 || sl > OCSP_SERIAL_BYTES_MAX) {
			pki_errx(err, errlen, "ocsp query: CertID %zu: bad serial length", i);
			goto fail;
		}
		if ((size_t)(end - p) < sl)
			goto trunc;
		if (sl > 1 && p[0] == 0) {
			pki_errx(err, errlen, "ocsp query: CertID %zu: serial with a leading zero",
			    i);
			goto fail;
		}
		pki_serial_to_hex(p, sl, id->serial_hex);
		p += sl;
	}
	if (end - p < 1)
		goto trunc;
	q->nonce_len = *p++;
	if (q->nonce_len > OCSP_NONCE_MAX) {
		pki_errx(err, errlen, "ocsp query: nonce of %zu octets", q->nonce_len);
		goto fail;
	}
	if ((size_t)(end - p) < q->nonce_len)
		goto trunc;
	memcpy(q->nonce, p, q->nonce_len);
	p += q->nonce_len;
	if (p != end) {
		pki_errx(err, errlen, "ocsp query: %zu trailing bytes", (size_t)(end - p));
		goto fail;
	}
	return 0;
 trunc:
	pki_errx(err, errlen, "ocsp query: truncated");
 fail:
	memset(q, 0, sizeof(*q));
	return -1;
}

int
ocsp_status_encode(const struct ocsp_status *st, size_t n, unsigned char **buf, size_t *len)
{
	unsigned char	*b;
	size_t		 o = 0, i, j;
	uint64_t	 t;
	int		 revoked;

	if (buf == NULL || len == NULL)
		return -1;
	*buf = NULL;
	*len = 0;
	if (st == NULL || n == 0 || n > OCSP_IDS_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!ocsp_status_valid(&st[i]))
			return -1;
	if ((b = malloc(OCSP_STATUS_FRAME_MAX)) == NULL)
		return -1;
	b[o++] = (unsigned char)n;
	for (i = 0; i < n; i++) {
		revoked = st[i].status == OCSP_CERT_REVOKED;
		b[o++] = (unsigned char)st[i].status;
		t = revoked ? (uint64_t)st[i].revoked_at : 0;
		for (j = 8; j > 0; j--)
			b[o++] = (unsigned char)(t >> (8 * (j - 1)));
		b[o++] = (unsigned char)(revoked ? st[i].reason : -1);
	}
	*buf = b;
	*len = o;
	return 0;
}

int
ocsp_status_decode(const unsigned char *buf, size_t len, struct ocsp_status st[OCSP_IDS_MAX],
    size_t *n, char *err, size_t errlen)
{
	const unsigned char	*p;
	size_t			 cnt, i, j;
	uint64_t		 t;

	if (st == NULL || n == NULL)
		return pki_errx(err, errlen, "ocsp status: no output");
	*n = 0;
	if (buf == NULL || len < 1)
		return pki_errx(err, errlen, "ocsp status: truncated");
	cnt = buf[0];
	if (cnt == 0 || cnt > OCSP_IDS_MAX)
		return pki_errx(err, errlen, "ocsp status: %zu entries (1..%d allowed)", cnt,
		    OCSP_IDS_MAX);
	if (len != 1 + cnt * 10)
		return pki_errx(err, errlen, "ocsp status: %zu bytes for %zu entries", len, cnt);
	p = buf + 1;
	for (i = 0; i < cnt; i++) {
		st[i].status = p[0];
		for (t = 0, j = 1; j <= 8; j++)
			t = t << 8 | p[j];
		st[i].revoked_at = (int64_t)t;
		st[i].reason = (int8_t)p[9];
		p += 10;
		if (!ocsp_status_valid(&st[i]) || (st[i].status != OCSP_CERT_REVOKED &&
		    (st[i].revoked_at != 0 || st[i].reason != -1))) {
			memset(st, 0, sizeof(*st) * OCSP_IDS_MAX);
			return pki_errx(err, errlen, "ocsp status: entry %zu is invalid", i);
		}
	}
	*n = cnt;
	return 0;
}
