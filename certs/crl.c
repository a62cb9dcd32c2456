/*
 * crl: the domain CA's CRL (RFC 5280 §5) and the entry framing for the signer channel.
 * See certs/crl.h for the contract.
 *
 * The TBSCertList is written as DER directly, not through X509_CRL objects: a CRL of 100,000
 * entries would otherwise cost 100,000 X509_REVOKED objects with their extensions, an ASN.1
 * template encoding and a sort. Here the input is parsed once into a flat array, sorted once
 * (qsort, O(n log n)) and written into one growing buffer; only the signature comes from
 * OpenSSL (EVP_DigestSign), together with the signature AlgorithmIdentifier the provider
 * reports for the key and digest, so the two always agree.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/crl.h"
#include "certs/pki.h"

#define CRL_TIME_MAX	253402300799LL	/* 9999-12-31T23:59:59Z, RFC 5280 §4.1.2.5 */
#define CRL_HOURS_MAX	87600U		/* ten years */
#define CRL_AID_MAX	128		/* a signature AlgorithmIdentifier, DER */

#define DER_INTEGER	0x02
#define DER_BITSTRING	0x03
#define DER_OCTETSTRING	0x04
#define DER_UTCTIME	0x17
#define DER_GENTIME	0x18
#define DER_SEQUENCE	0x30
#define DER_CTX0	0xa0	/* [0] constructed (EXPLICIT) */
#define DER_CTX0_PRIM	0x80	/* [0] primitive (IMPLICIT OCTET STRING) */

/* id-ce-cRLNumber 2.5.29.20, id-ce-authorityKeyIdentifier 2.5.29.35, id-ce-cRLReasons 2.5.29.21 */
static const unsigned char oid_crl_number[] = { 0x06, 0x03, 0x55, 0x1d, 0x14 };
static const unsigned char oid_aki[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };

/* One entry, parsed: serial magnitude big-endian without leading zero octets. */
struct crl_item {
	int64_t		t;
	int8_t		reason;
	uint8_t		slen;
	unsigned char	serial[CRL_SERIAL_BYTES_MAX];
};

/* A growing output buffer; the first failure sticks and later calls do nothing. */
struct crl_der {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
	int		 failed;
};

static const struct {
	int		 code;
	const char	*name;
} crl_reasons[] = {
	{ CRL_RC_UNSPECIFIED, "unspecified" },
	{ CRL_RC_KEY_COMPROMISE, "keyCompromise" },
	{ CRL_RC_CA_COMPROMISE, "cACompromise" },
	{ CRL_RC_AFFILIATION_CHANGED, "affiliationChanged" },
	{ CRL_RC_SUPERSEDED, "superseded" },
	{ CRL_RC_CESSATION, "cessationOfOperation" },
	{ CRL_RC_CERTIFICATE_HOLD, "certificateHold" },
	{ CRL_RC_REMOVE_FROM_CRL, "removeFromCRL" },
	{ CRL_RC_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn" },
	{ CRL_RC_AA_COMPROMISE, "aACompromise" },
};

int
crl_reason_from_name(const char *name)
{
	size_t	i;

	if (name == NULL)
		return -1;
	for (i = 0; i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++)
		if (strcasecmp(name, crl_reasons[i].name) == 0)
			return crl_reasons[i].code;
	return -1;
}

const char *
crl_reason_name(int code)
{
	size_t	i;

	for (i = 0; i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++)
		if (crl_reasons[i].code == code)
			return crl_reasons[i].name;
	return NULL;
}

/* RFC 5280 §5.3.1: 0..10 without 7, or no reason at all. */
static int
crl_reason_valid(int reason)
{
	return reason == CRL_RC_NONE || crl_reason_name(reason) != NULL;
}

/* Check one entry and parse it into an item; 0 ok, -1 with err naming the entry. */
static int
crl_item_from_entry(const struct crl_entry *e, size_t idx, struct crl_item *it, char *err,
    size_t errlen)
{
	size_t slen;

	if (pki_serial_from_hex(e->serial_hex, it->serial, &slen) == -1)
		return pki_errx(err, errlen, "crl entry %zu: bad serial number", idx);
	it->slen = (uint8_t)slen;
	if (!crl_reason_valid(e->reason))
		return pki_errx(err, errlen, "crl entry %zu: bad reason code %d", idx, e->reason);
	if (e->revoked_at < 0 || e->revoked_at > CRL_TIME_MAX)
		return pki_errx(err, errlen, "crl entry %zu: revocation time out of range", idx);
	it->t = e->revoked_at;
	it->reason = (int8_t)e->reason;
	return 0;
}

static int
crl_item_cmp(const void *a, const void *b)
{
	const struct crl_item	*x = a, *y = b;

	if (x->slen != y->slen)
		return x->slen < y->slen ? -1 : 1;
	return memcmp(x->serial, y->serial, x->slen);
}

/* --- DER output ------------------------------------------------------------------------- */

static void
crl_der_reserve(struct crl_der *b, size_t more)
{
	unsigned char	*np;
	size_t		 ncap;

	if (b->failed)
		return;
	if (more <= b->cap - b->len)
		return;
	ncap = b->cap > 0 ? b->cap : 256;
	while (ncap - b->len < more) {
		if (ncap > SIZE_MAX / 2) {
			b->failed = 1;
			return;
		}
		ncap *= 2;
	}
	if ((np = realloc(b->p, ncap)) == NULL) {
		b->failed = 1;
		return;
	}
	b->p = np;
	b->cap = ncap;
}

static void
crl_der_put(struct crl_der *b, const void *d, size_t n)
{
	crl_der_reserve(b, n);
	if (b->failed || n == 0)
		return;
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void
crl_der_byte(struct crl_der *b, unsigned char c)
{
	crl_der_put(b, &c, 1);
}

/* Identifier and length octets for a content of len octets (X.690 §8.1.3, DER minimal). */
static size_t
crl_der_hdr(unsigned char tag, size_t len, unsigned char hdr[10])
{
	size_t	n = 0, i, bytes;

	hdr[n++] = tag;
	if (len < 0x80) {
		hdr[n++] = (unsigned char)len;
		return n;
	}
	for (bytes = 0, i = len; i > 0; i >>= 8)
		bytes++;
	hdr[n++] = (unsigned char)(0x80 | bytes);
	for (i = bytes; i > 0; i--)
		hdr[n++] = (unsigned char)(len >> (8 * (i - 1)));
	return n;
}

/* Turn everything written since mark into the content of one tag. */
static void
crl_der_wrap(struct crl_der *b, size_t mark, unsigned char tag)
{
	unsigned char	hdr[10];
	size_t		hlen, clen;

	if (b->failed)
		return;
	clen = b->len - mark;
	hlen = crl_der_hdr(tag, clen, hdr);
	crl_der_reserve(b, hlen);
	if (b->failed)
		return;
	memmove(b->p + mark + hlen, b->p + mark, clen);
	memcpy(b->p + mark, hdr, hlen);
	b->len += hlen;
}

static void
crl_der_tlv(struct crl_der *b, unsigned char tag, const void *d, size_t n)
{
	unsigned char	hdr[10];

	crl_der_put(b, hdr, crl_der_hdr(tag, n, hdr));
	crl_der_put(b, d, n);
}

/* INTEGER from a non-negative magnitude without leading zero octets. */
static void
crl_der_uint(struct crl_der *b, const unsigned char *mag, size_t n)
{
	unsigned char	hdr[10];
	int		pad = n > 0 && (mag[0] & 0x80) != 0;

	crl_der_put(b, hdr, crl_der_hdr(DER_INTEGER, n + pad, hdr));
	if (pad)
		crl_der_byte(b, 0);
	crl_der_put(b, mag, n);
}

static void
crl_der_u64(struct crl_der *b, uint64_t v)
{
	unsigned char	mag[8];
	size_t		i, n = 0;

	for (i = 8; i > 0; i--) {
		unsigned char c = (unsigned char)(v >> (8 * (i - 1)));

		if (n == 0 && c == 0 && i > 1)
			continue;
		mag[n++] = c;
	}
	crl_der_uint(b, mag, n);
}

/* RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050; always Zulu, seconds. */
static int
crl_der_time(struct crl_der *b, int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;
	char		s[32];
	int		n;

	if (t < 0 || t > CRL_TIME_MAX || gmtime_r(&tt, &tm) == NULL)
		return -1;
	if (tm.tm_year + 1900 < 2050) {
		n = snprintf(s, sizeof(s), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		crl_der_tlv(b, DER_UTCTIME, s, (size_t)n);
	} else {
		n = snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		crl_der_tlv(b, DER_GENTIME, s, (size_t)n);
	}
	return 0;
}

/* revokedCertificates entry: SEQUENCE { userCertificate, revocationDate, crlEntryExtensions } */
static void
crl_der_entry(struct crl_der *b, const struct crl_item *it)
{
	/* Extensions { Extension { id-ce-cRLReasons, OCTET STRING { ENUMERATED r } } } */
	unsigned char	reason_ext[] = {
		0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15,
		0x04, 0x03, 0x0a, 0x01, 0x00,
	};
	size_t		mark = b->len;

	crl_der_uint(b, it->serial, it->slen);
	(void)crl_der_time(b, it->t);	/* range checked when parsed */
	if (it->reason != CRL_RC_NONE) {
		reason_ext[sizeof(reason_ext) - 1] = (unsigned char)it->reason;
		crl_der_put(b, reason_ext, sizeof(reason_ext));
	}
	crl_der_wrap(b, mark, DER_SEQUENCE);
}

/* crlExtensions [0] EXPLICIT { cRLNumber, authorityKeyIdentifier } (RFC 5280 §5.2.1, §5.2.3) */
static int
crl_der_extensions(struct crl_der *b, X509 *ca_cert, uint64_t crl_number, char *err,
    size_t errlen)
{
	const ASN1_OCTET_STRING	*ski;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	const unsigned char	*kid;
	unsigned int		 mdlen;
	size_t			 kidlen, m0, m1, m2, m3;

	if ((ski = X509_get0_subject_key_id(ca_cert)) != NULL && ski->length > 0) {
		kid = ski->data;
		kidlen = (size_t)ski->length;
	} else {
		/* RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value */
		if (!X509_pubkey_digest(ca_cert, EVP_sha1(), md, &mdlen))
			return pki_err(err, errlen, "crl: CA key identifier");
		kid = md;
		kidlen = mdlen;
	}
	ERR_clear_error();

	m0 = b->len;
	m1 = b->len;
	/* cRLNumber: SEQUENCE { OID, OCTET STRING { INTEGER } } */
	m2 = b->len;
	crl_der_put(b, oid_crl_number, sizeof(oid_crl_number));
	m3 = b->len;
	crl_der_u64(b, crl_number);
	crl_der_wrap(b, m3, DER_OCTETSTRING);
	crl_der_wrap(b, m2, DER_SEQUENCE);
	/* authorityKeyIdentifier: SEQUENCE { OID, OCTET STRING { SEQUENCE { [0] keyid } } } */
	m2 = b->len;
	crl_der_put(b, oid_aki, sizeof(oid_aki));
	m3 = b->len;
	crl_der_tlv(b, DER_CTX0_PRIM, kid, kidlen);
	crl_der_wrap(b, m3, DER_SEQUENCE);
	crl_der_wrap(b, m3, DER_OCTETSTRING);
	crl_der_wrap(b, m2, DER_SEQUENCE);
	crl_der_wrap(b, m1, DER_SEQUENCE);
	crl_der_wrap(b, m0, DER_CTX0);
	return 0;
}

/*
 * The signature AlgorithmIdentifier of a key that no provider holds (a legacy ENGINE key: a
 * PKCS#11 token's, certs/keyref.h), from OpenSSL's OID table: ecdsa-with-SHA* without
 * parameters (RFC 5758 §3.2), sha*WithRSAEncryption with NULL (RFC 4055 §5). 0, or -1.
 */
static int
crl_aid_legacy(EVP_PKEY *key, const EVP_MD *md, unsigned char *aid, size_t cap, size_t *len)
{
	X509_ALGOR *a;
	unsigned char *p = aid;
	int nid, base = EVP_PKEY_get_base_id(key), n = -1;

	if (md == NULL || (base != EVP_PKEY_EC && base != EVP_PKEY_RSA) ||
	    !OBJ_find_sigid_by_algs(&nid, EVP_MD_get_type(md), base) ||
	    (a = X509_ALGOR_new()) == NULL)
		return -1;
	if (X509_ALGOR_set0(a, OBJ_nid2obj(nid), base == EVP_PKEY_RSA ? V_ASN1_NULL :
	    V_ASN1_UNDEF, NULL) == 1 && (n = i2d_X509_ALGOR(a, NULL)) > 0 && (size_t)n <= cap)
		n = i2d_X509_ALGOR(a, &p);
	else
		n = -1;
	X509_ALGOR_free(a);
	if (n <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

int
crl_build(X509 *ca_cert, EVP_PKEY *ca_key, const struct crl_entry *e, size_t n,
    uint64_t crl_number, int64_t this_update, unsigned next_update_hours,
    unsigned char **der, size_t *len, char *err, size_t errlen)
{
	struct crl_item	*items = NULL;
	struct crl_der	 b = { NULL, 0, 0, 0 };
	EVP_MD_CTX	*mctx = NULL;
	EVP_PKEY_CTX	*pctx = NULL;
	OSSL_PARAM	 params[2];
	unsigned char	 aid[CRL_AID_MAX], *name = NULL, *sig = NULL;
	size_t		 aidlen, siglen, i, m;
	int64_t		 next_update;
	int		 namelen, rc = -1;

	if (der == NULL || len == NULL)
		return pki_errx(err, errlen, "crl: no output buffer");
	*der = NULL;
	*len = 0;
	if (ca_cert == NULL || ca_key == NULL)
		return pki_errx(err, errlen, "crl: no CA certificate or key");
	if (n > 0 && e == NULL)
		return pki_errx(err, errlen, "crl: no entries");
	if (n > CRL_ENTRIES_MAX)
		return pki_errx(err, errlen, "crl: %zu entries, more than %d", n,
		    CRL_ENTRIES_MAX);
	if (next_update_hours == 0 || next_update_hours > CRL_HOURS_MAX)
		return pki_errx(err, errlen, "crl: nextUpdate must be 1..%u hours away",
		    CRL_HOURS_MAX);
	next_update = this_update + (int64_t)next_update_hours * 3600;
	if (this_update < 0 || next_update > CRL_TIME_MAX)
		return pki_errx(err, errlen, "crl: thisUpdate/nextUpdate out of range");
	if (X509_check_private_key(ca_cert, ca_key) != 1)
		return pki_err(err, errlen, "crl: the key does not match the CA certificate");

	if (n > 0 && (items = calloc(n, sizeof(*items))) == NULL) {
		pki_errx(err, errlen, "crl: out of memory");
		goto err;
	}
	for (i = 0; i < n; i++)
		if (crl_item_from_entry(&e[i], i, &items[i], err, errlen) == -1)
			goto err;
	if (n > 1)
		qsort(items, n, sizeof(*items), crl_item_cmp);
	for (i = 1; i < n; i++)
		if (crl_item_cmp(&items[i - 1], &items[i]) == 0) {
			char hex[64];

			pki_serial_to_hex(items[i].serial, items[i].slen, hex);
			pki_errx(err, errlen, "crl: serial %s listed twice", hex);
			goto err;
		}

	/* The signature AlgorithmIdentifier as the provider will produce it. */
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(mctx, &pctx, pki_sig_md(ca_key), NULL, ca_key) != 1) {
		pki_err(err, errlen, "crl: signature setup");
		goto err;
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, aid,
	    sizeof(aid));
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_CTX_get_params(pctx, params) == 1 && OSSL_PARAM_modified(&params[0]) &&
	    params[0].return_size > 0 && params[0].return_size <= sizeof(aid))
		aidlen = params[0].return_size;
	else if (crl_aid_legacy(ca_key, pki_sig_md(ca_key), aid, sizeof(aid), &aidlen) == -1) {
		pki_err(err, errlen, "crl: no signature algorithm identifier for this key");
		goto err;
	}
	ERR_clear_error();
	if ((namelen = i2d_X509_NAME(X509_get_subject_name(ca_cert), &name)) <= 0) {
		pki_err(err, errlen, "crl: CA subject");
		goto err;
	}

	/* TBSCertList (RFC 5280 §5.1.2); room for the entries up front */
	crl_der_reserve(&b, 1024 + (size_t)namelen + n * (2 + 2 + 1 + CRL_SERIAL_BYTES_MAX +
	    2 + 15 + 14));
	crl_der_put(&b, "\x02\x01\x01", 3);		/* version v2 */
	crl_der_put(&b, aid, aidlen);
	crl_der_put(&b, name, (size_t)namelen);
	if (crl_der_time(&b, this_update) == -1 || crl_der_time(&b, next_update) == -1) {
		pki_errx(err, errlen, "crl: thisUpdate/nextUpdate out of range");
		goto err;
	}
	if (n > 0) {			/* RFC 5280 §5.1.2.6: absent when empty */
		m = b.len;
		for (i = 0; i < n; i++)
			crl_der_entry(&b, &items[i]);
		crl_der_wrap(&b, m, DER_SEQUENCE);
	}
	if (crl_der_extensions(&b, ca_cert, crl_number, err, errlen) == -1)
		goto err;
	crl_der_wrap(&b, 0, DER_SEQUENCE);
	if (b.failed) {
		pki_errx(err, errlen, "crl: out of memory");
		goto err;
	}

	/* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue } */
	if (EVP_DigestSign(mctx, NULL, &siglen, b.p, b.len) != 1 ||
	    (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(mctx, sig, &siglen, b.p, b.len) != 1) {
		pki_err(err, errlen, "crl: signing");
		goto err;
	}
	crl_der_put(&b, aid, aidlen);
	m = b.len;
	crl_der_byte(&b, 0);		/* no unused bits */
	crl_der_put(&b, sig, siglen);
	crl_der_wrap(&b, m, DER_BITSTRING);
	crl_der_wrap(&b, 0, DER_SEQUENCE);
	if (b.failed) {
		pki_errx(err, errlen, "crl: out of memory");
		goto err;
	}
	*der = b.p;
	*len = b.len;
	b.p = NULL;
	rc = 0;
 err:
	free(b.p);
	free(sig);
	OPENSSL_free(name);
	EVP_MD_CTX_free(mctx);
	free(items);
	return rc;
}

/* --- entry framing for the signer ------------------------------------------------------- */

#define CRL_FRAME_MIN	(1 + 1 + 8 + 1)		/* smallest encoded entry */

int
crl_entries_encode(const struct crl_entry *e, size_t n, unsigned char **buf, size_t *len)
{
	struct crl_item	 it;
	unsigned char	*p = NULL, *q;
	size_t		 i, j, cap;
	uint64_t	 t;

	if (buf == NULL || len == NULL)
		return -1;
	*buf = NULL;
	*len = 0;
	if (n > CRL_ENTRIES_MAX || (n > 0 && e == NULL))
		return -1;
	cap = 4 + n * (1 + CRL_SERIAL_BYTES_MAX + 8 + 1);
	if ((p = malloc(cap)) == NULL)
		return -1;
	q = p;
	for (j = 4; j > 0; j--)
		*q++ = (unsigned char)(n >> (8 * (j - 1)));
	for (i = 0; i < n; i++) {
		if (crl_item_from_entry(&e[i], i, &it, NULL, 0) == -1) {
			free(p);
			return -1;
		}
		*q++ = it.slen;
		memcpy(q, it.serial, it.slen);
		q += it.slen;
		t = (uint64_t)it.t;
		for (j = 8; j > 0; j--)
			*q++ = (unsigned char)(t >> (8 * (j - 1)));
		*q++ = (unsigned char)it.reason;
	}
	*buf = p;
	*len = (size_t)(q - p);
	return 0;
}

int
crl_entries_digest(const struct crl_entry *e, size_t n, unsigned char out[32])
{
	unsigned char *buf = NULL;
	unsigned int dlen = 0;
	size_t len;
	int rc = -1;

	if (crl_entries_encode(e, n, &buf, &len) == -1)
		return -1;
	if (EVP_Digest(buf, len, out, &dlen, EVP_sha256(), NULL) == 1 && dlen == 32)
		rc = 0;
	free(buf);
	ERR_clear_error();
	return rc;
}

int
crl_entries_decode(const unsigned char *buf, size_t len, struct crl_entry **out, size_t *n,
    char *err, size_t errlen)
{
	struct crl_entry	*v = NULL;
	const unsigned char	*p = buf, *end = buf + len;
	uint64_t		 t;
	size_t			 cnt, i, j, slen;

	if (out == NULL || n == NULL)
		return pki_errx(err, errlen, "crl entries: no output");
	*out = NULL;
	*n = 0;
	if (buf == NULL || len < 4)
		return pki_errx(err, errlen, "crl entries: truncated header");
	cnt = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	p += 4;
	if (cnt > CRL_ENTRIES_MAX)
		return pki_errx(err, errlen, "crl entries: %zu entries, more than %d", cnt,
		    CRL_ENTRIES_MAX);
	if (cnt > (len - 4) / CRL_FRAME_MIN)
		return pki_errx(err, errlen, "crl entries: %zu entries cannot fit in %zu bytes",
		    cnt, len);
	if (cnt > 0 && (v = calloc(cnt, sizeof(*v))) == NULL)
		return pki_errx(err, errlen, "crl entries: out of memory");
	for (i = 0; i < cnt; i++) {
		if (end - p < 1)
			goto trunc;
		slen = *p++;
		if (slen == 0 || slen > CRL_SERIAL_BYTES_MAX) {
			pki_errx(err, errlen, "crl entry %zu: serial length %zu", i, slen);
			goto err;
		}
		if ((size_t)(end - p) < slen + 8 + 1)
			goto trunc;
		if (slen > 1 && p[0] == 0) {
			pki_errx(err, errlen, "crl entry %zu: serial with a leading zero", i);
			goto err;
		}
		pki_serial_to_hex(p, slen, v[i].serial_hex);
		p += slen;
		for (t = 0, j = 0; j < 8; j++)
			t = t << 8 | *p++;
		v[i].revoked_at = (int64_t)t;
		v[i].reason = (int8_t)*p++;
		if (v[i].revoked_at < 0 || v[i].revoked_at > CRL_TIME_MAX) {
			pki_errx(err, errlen, "crl entry %zu: revocation time out of range", i);
			goto err;
		}
		if (!crl_reason_valid(v[i].reason)) {
			pki_errx(err, errlen, "crl entry %zu: bad reason code %d", i,
			    v[i].reason);
			goto err;
		}
	}
	if (p != end) {
		pki_errx(err, errlen, "crl entries: %zu trailing bytes", (size_t)(end - p));
		goto err;
	}
	*out = v;
	*n = cnt;
	return 0;
 trunc:
	pki_errx(err, errlen, "crl entries: entry %zu truncated", i);
 err:
	free(v);
	return -1;
}
