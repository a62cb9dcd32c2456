/*
 * ca: LDevID issuance for the owner domain's CA (IEEE 802.1AR §8 DevID profile on RFC 5280).
 * The certificate is built from OpenSSL structures directly (no config-string parsing) and the
 * device's public key is copied as parameters + bits, never decoded and re-encoded.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/pki.h"

#define CA_DEFAULT_DAYS		365
#define CA_BACKDATE_SECS	(5 * 60)
#define CA_RSA_MIN_BITS		2048
#define CA_RSA_MAX_BITS		16384
#define CA_SPKI_MAX		4096	/* an RSA-16384 SPKI is ~2.1 KB */
#define CA_MAX_DAYS		36500

int
ca_key_allowed(const X509_PUBKEY *pub, char *desc, size_t desclen, char *err, size_t errlen)
{
	return ca_key_check(pub, X509_PUBKEY_get0(pub), desc, desclen, err, errlen);
}

int
ca_key_check(const X509_PUBKEY *pub, EVP_PKEY *key, char *desc, size_t desclen, char *err,
    size_t errlen)
{
	ASN1_OBJECT *alg;
	const ASN1_OBJECT *pobj;
	const unsigned char *pk;
	const void *pval;
	X509_ALGOR *pa;
	char name[80], d[32];
	int pklen, ptype, bits;

	if (pub == NULL || !X509_PUBKEY_get0_param(&alg, &pk, &pklen, &pa, pub) || pa == NULL)
		return pki_errx(err, errlen, "no public key");
	X509_ALGOR_get0(&pobj, &ptype, &pval, pa);
	switch (OBJ_obj2nid(alg)) {
	case NID_X9_62_id_ecPublicKey:
		/* RFC 5480 §2.1.1: only namedCurve is allowed here, never explicit parameters. */
		if (ptype != V_ASN1_OBJECT || pval == NULL)
			return pki_errx(err, errlen,
			    "EC key without a named curve is not allowed");
		switch (OBJ_obj2nid(pval)) {
		case NID_X9_62_prime256v1:
			snprintf(d, sizeof(d), "P-256");
			break;
		case NID_secp384r1:
			snprintf(d, sizeof(d), "P-384");
			break;
		default:
			OBJ_obj2txt(name, sizeof(name), pval, 0);
			return pki_errx(err, errlen, "EC curve %s is not allowed (P-256, P-384)",
			    name);
		}
		break;
	case NID_ED25519:
		/* RFC 8410 §3: parameters absent, 32-byte key. */
		if (ptype != V_ASN1_UNDEF || pklen != 32)
			return pki_errx(err, errlen, "malformed Ed25519 public key");
		snprintf(d, sizeof(d), "Ed25519");
		break;
	case NID_rsaEncryption:
		if (key == NULL) {
			ERR_clear_error();
			return pki_errx(err, errlen, "RSA public key does not decode");
		}
		bits = EVP_PKEY_get_bits(key);
		if (bits < CA_RSA_MIN_BITS || bits > CA_RSA_MAX_BITS)
			return pki_errx(err, errlen,
			    "RSA-%d key is not allowed (2048 to 16384 bits)", bits);
		snprintf(d, sizeof(d), "RSA-%d", bits);
		break;
	default:
		OBJ_obj2txt(name, sizeof(name), alg, 0);
		return pki_errx(err, errlen, "key algorithm %s is not allowed", name);
	}
	/* a point off the curve etc. leaves no key */
	if (key == NULL) {
		ERR_clear_error();
		return pki_errx(err, errlen, "%s public key does not decode", d);
	}
	if (desc != NULL && desclen > 0)
		snprintf(desc, desclen, "%s", d);
	return 0;
}

/*
 * The keys with a cheap path, which need no decoder: "P-256" or "P-384" (a named curve)
 * and "ED25519" (no parameters, 32 bytes), when alg and the key's length fit one of them;
 * NULL for any other key. The point itself is the caller's to check.
 */
static const char *
fast_key_type(const X509_ALGOR *alg, int pklen)
{
	const ASN1_OBJECT *aobj;
	const void *pval;
	int ptype;

	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	switch (OBJ_obj2nid(aobj)) {
	case NID_ED25519:
		return ptype == V_ASN1_UNDEF && pklen == 32 ? "ED25519" : NULL;
	case NID_X9_62_id_ecPublicKey:
		if (ptype != V_ASN1_OBJECT)
			return NULL;
		switch (OBJ_obj2nid(pval)) {
		case NID_X9_62_prime256v1:
			return "P-256";
		case NID_secp384r1:
			return "P-384";
		}
		break;
	}
	return NULL;
}

/*
 * The key of pub as an EVP_PKEY without OpenSSL 3.0's provider decoders, which enumerate
 * every decoder and key manager on each call (~90 us for a P-256 key; 3.1 caches them):
 * P-256/P-384 points (uncompressed or compressed) and Ed25519 keys are imported from their
 * parameters, and the import checks that the point lies on the curve (SEC 1 §2.3.4). Any
 * other key goes through the decoders. NULL when it does not decode.
 */
EVP_PKEY *
ca_key_decode(const X509_PUBKEY *pub)
{
	ASN1_OBJECT *alg;
	const unsigned char *pk, *p;
	const char *type;
	X509_ALGOR *pa;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[3];
	unsigned char *der = NULL;
	int pklen, n;

	if (pub == NULL || !X509_PUBKEY_get0_param(&alg, &pk, &pklen, &pa, pub) || pa == NULL)
		return NULL;
	if ((type = fast_key_type(pa, pklen)) != NULL && strcmp(type, "ED25519") == 0)
		return EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pk, 32);
	/* uncompressed or compressed points; anything else to the decoders, as before */
	if (type != NULL && pklen >= 2 && pk[0] >= 2 && pk[0] <= 4) {
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
		    (char *)type, 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
		    (void *)pk, (size_t)pklen);
		params[2] = OSSL_PARAM_construct_end();
		if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
		    EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
			key = NULL;
		EVP_PKEY_CTX_free(ctx);
		return key;
	}
	if ((n = i2d_X509_PUBKEY(pub, &der)) > 0) {
		p = der;
		key = d2i_PUBKEY(NULL, &p, n);
	}
	OPENSSL_free(der);
	return key;
}

/* Device serials: 1..PKI_SERIAL_MAX-1 printable ASCII characters. */
static int
serial_valid(const char *s, int *printable_string)
{
	size_t i, n;

	if (s == NULL || (n = strnlen(s, PKI_SERIAL_MAX)) == 0 || n >= PKI_SERIAL_MAX)
		return 0;
	*printable_string = 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e)
			return 0;
		/* X.680 §41.4 PrintableString character set. */
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr(" '()+,-./:=?", c) != NULL))
			*printable_string = 0;
	}
	return 1;
}

/*
 * A HardwareModuleName is SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }
 * (RFC 4108 §5), in DER, filling der[0..len) exactly.
 */
static int
hwmodule_valid(const unsigned char *der, size_t len)
{
	const unsigned char *p = der, *end;
	long slen;
	int tag, xclass;

	if (len < 2 || len > 4096)
		return 0;
	if (ASN1_get_object(&p, &slen, &tag, &xclass, (long)len) != V_ASN1_CONSTRUCTED ||
	    tag != V_ASN1_SEQUENCE || xclass != V_ASN1_UNIVERSAL || p + slen != der + len)
		return 0;
	end = der + len;
	if (ASN1_get_object(&p, &slen, &tag, &xclass, end - p) != 0 ||
	    tag != V_ASN1_OBJECT || xclass != V_ASN1_UNIVERSAL || slen < 1)
		return 0;
	p += slen;
	if (ASN1_get_object(&p, &slen, &tag, &xclass, end - p) != 0 ||
	    tag != V_ASN1_OCTET_STRING || xclass != V_ASN1_UNIVERSAL)
		return 0;
	return p + slen == end;
}

/* Only printable ASCII without spaces goes into an IA5String URI (RFC 5280 §4.2.1.6). */
static int
url_valid(const char *u)
{
	size_t n = strnlen(u, CA_URL_MAX), i;

	if (n == 0 || n >= CA_URL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] > 0x7e)
			return 0;
	return 1;
}

static GENERAL_NAME *
uri_name(const char *url)
{
	GENERAL_NAME *gn;
	ASN1_IA5STRING *s;

	if ((s = ASN1_IA5STRING_new()) == NULL)
		return NULL;
	if (!ASN1_STRING_set(s, url, -1) || (gn = GENERAL_NAME_new()) == NULL) {
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	return gn;
}

/*
 * Split a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) into its AlgorithmIdentifier and
 * key BIT STRING without decoding the key itself (in OpenSSL 3.0 d2i_X509_PUBKEY runs the
 * key decoders, ~140 us for P-256). Exactly len bytes, DER lengths, no unused bits.
 */
static int
spki_split(const unsigned char *der, size_t len, X509_ALGOR **alg, ASN1_BIT_STRING **bits)
{
	const unsigned char *p = der, *end = der + len;
	long slen;
	int tag, xclass;

	*alg = NULL;
	*bits = NULL;
	if (len < 2 || len > CA_SPKI_MAX ||
	    ASN1_get_object(&p, &slen, &tag, &xclass, (long)len) != V_ASN1_CONSTRUCTED ||
	    tag != V_ASN1_SEQUENCE || xclass != V_ASN1_UNIVERSAL || p + slen != end)
		goto err;
	if ((*alg = d2i_X509_ALGOR(NULL, &p, end - p)) == NULL ||
	    (*bits = d2i_ASN1_BIT_STRING(NULL, &p, end - p)) == NULL || p != end ||
	    ((*bits)->flags & 0x07) != 0 || (*bits)->length <= 0)
		goto err;
	return 0;
err:
	X509_ALGOR_free(*alg);
	ASN1_BIT_STRING_free(*bits);
	*alg = NULL;
	*bits = NULL;
	ERR_clear_error();
	return -1;
}

static EC_GROUP *group_p256, *group_p384;
static pthread_once_t groups_once = PTHREAD_ONCE_INIT;

/* Curve groups are costly to build (~20 us); made once, kept for the process lifetime. */
static void
groups_init(void)
{
	group_p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	group_p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
}

/*
 * The cheap form of ca_key_allowed() for the common keys: P-256/P-384 points are decoded
 * (which checks they lie on the curve, SEC 1 §2.3.4), Ed25519 keys are 32 bytes.
 * Returns 1 allowed, 0 when the full check must decide, -1 refused.
 */
static int
spki_fast_allowed(const X509_ALGOR *alg, const ASN1_BIT_STRING *bits, char *err,
    size_t errlen)
{
	const char *type = fast_key_type(alg, bits->length);
	EC_GROUP *g;
	EC_POINT *pt;
	int ok;

	if (type == NULL)
		return 0;
	if (strcmp(type, "ED25519") == 0)
		return 1;
	pthread_once(&groups_once, groups_init);
	g = strcmp(type, "P-256") == 0 ? group_p256 : group_p384;
	/* Uncompressed (04) or compressed (02/03) only; never the point at infinity. */
	if (g == NULL || (pt = EC_POINT_new(g)) == NULL)
		return 0;
	ok = bits->length > 1 && bits->data[0] >= 2 && bits->data[0] <= 4 &&
	    EC_POINT_oct2point(g, pt, bits->data, bits->length, NULL) == 1;
	EC_POINT_free(pt);
	if (!ok) {
		ERR_clear_error();
		return pki_errx(err, errlen, "EC public key is not a point on its curve");
	}
	return 1;
}

/* Copy the device key's algorithm parameters and bits into the certificate's SPKI. */
static int
copy_pubkey(X509 *x, const X509_ALGOR *alg, const ASN1_BIT_STRING *bits)
{
	const ASN1_OBJECT *aobj_src;
	ASN1_OBJECT *aobj = NULL;
	const void *pval;
	void *pcopy = NULL;
	unsigned char *pk = NULL;
	int ptype;

	X509_ALGOR_get0(&aobj_src, &ptype, &pval, alg);
	switch (ptype) {
	case V_ASN1_UNDEF:
	case V_ASN1_NULL:
		break;
	case V_ASN1_OBJECT:
		if ((pcopy = OBJ_dup(pval)) == NULL)
			goto err;
		break;
	case V_ASN1_SEQUENCE:
		if ((pcopy = ASN1_STRING_dup(pval)) == NULL)
			goto err;
		break;
	default:
		goto err;
	}
	if ((aobj = OBJ_dup(aobj_src)) == NULL ||
	    (pk = OPENSSL_memdup(bits->data, bits->length)) == NULL)
		goto err;
	if (!X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), aobj, ptype, pcopy, pk,
	    bits->length))
		goto err;
	return 0;
err:
	OPENSSL_free(pk);
	ASN1_OBJECT_free(aobj);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pcopy);
	else if (ptype == V_ASN1_SEQUENCE)
		ASN1_STRING_free(pcopy);
	return -1;
}

static int
add_subject(X509 *x, const char *serial, int printable)
{
	X509_NAME *nm = X509_get_subject_name(x);

	/* X.520 serialNumber is a PrintableString; fall back to UTF8String for other ASCII. */
	if (!X509_NAME_add_entry_by_NID(nm, NID_serialNumber,
	    printable ? V_ASN1_PRINTABLESTRING : V_ASN1_UTF8STRING,
	    (const unsigned char *)serial, -1, -1, 0))
		return -1;
	if (!X509_NAME_add_entry_by_NID(nm, NID_commonName, V_ASN1_UTF8STRING,
	    (const unsigned char *)serial, -1, -1, 0))
		return -1;
	return 0;
}

static int
add_san_hwmodule(X509 *x, const unsigned char *der, size_t len)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_TYPE *val = NULL;
	ASN1_STRING *seq = NULL;
	int ret = -1;

	/* RFC 4108 §5: otherName hardwareModuleName; the SEQUENCE is carried verbatim. */
	if ((oid = OBJ_txt2obj(PKI_OID_HWMODULENAME, 1)) == NULL ||
	    (seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE)) == NULL ||
	    !ASN1_STRING_set(seq, der, (int)len) || (val = ASN1_TYPE_new()) == NULL)
		goto err;
	ASN1_TYPE_set(val, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	if ((gn = GENERAL_NAME_new()) == NULL ||
	    !GENERAL_NAME_set0_othername(gn, oid, val))
		goto err;
	oid = NULL;
	val = NULL;
	if ((gens = sk_GENERAL_NAME_new_null()) == NULL || !sk_GENERAL_NAME_push(gens, gn))
		goto err;
	gn = NULL;
	/* RFC 5280 §4.2.1.6: subject DN is not empty, so the SAN is not critical. */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		goto err;
	ret = 0;
err:
	GENERAL_NAMES_free(gens);
	GENERAL_NAME_free(gn);
	ASN1_TYPE_free(val);
	ASN1_STRING_free(seq);
	ASN1_OBJECT_free(oid);
	return ret;
}

static int
add_crldp(X509 *x, const char *url)
{
	CRL_DIST_POINTS *cdp = NULL;
	DIST_POINT *dp = NULL;
	GENERAL_NAME *gn = NULL;
	int ret = -1;

	/* RFC 5280 §4.2.1.13: one distributionPoint, fullName = the URI. */
	if ((cdp = sk_DIST_POINT_new_null()) == NULL || (dp = DIST_POINT_new()) == NULL ||
	    (dp->distpoint = DIST_POINT_NAME_new()) == NULL)
		goto err;
	dp->distpoint->type = 0;
	if ((dp->distpoint->name.fullname = sk_GENERAL_NAME_new_null()) == NULL ||
	    (gn = uri_name(url)) == NULL ||
	    !sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn))
		goto err;
	gn = NULL;
	if (!sk_DIST_POINT_push(cdp, dp))
		goto err;
	dp = NULL;
	if (X509_add1_ext_i2d(x, NID_crl_distribution_points, cdp, 0, X509V3_ADD_DEFAULT) != 1)
		goto err;
	ret = 0;
err:
	GENERAL_NAME_free(gn);
	DIST_POINT_free(dp);
	CRL_DIST_POINTS_free(cdp);
	return ret;
}

static int
add_aia_ocsp(X509 *x, const char *url)
{
	AUTHORITY_INFO_ACCESS *aia = NULL;
	ACCESS_DESCRIPTION *ad = NULL;
	int ret = -1;

	/* RFC 5280 §4.2.2.1: accessMethod id-ad-ocsp, accessLocation the URI. */
	if ((aia = sk_ACCESS_DESCRIPTION_new_null()) == NULL ||
	    (ad = ACCESS_DESCRIPTION_new()) == NULL)
		goto err;
	ASN1_OBJECT_free(ad->method);
	ad->method = OBJ_nid2obj(NID_ad_OCSP);
	GENERAL_NAME_free(ad->location);
	if ((ad->location = uri_name(url)) == NULL || !sk_ACCESS_DESCRIPTION_push(aia, ad))
		goto err;
	ad = NULL;
	if (X509_add1_ext_i2d(x, NID_info_access, aia, 0, X509V3_ADD_DEFAULT) != 1)
		goto err;
	ret = 0;
err:
	ACCESS_DESCRIPTION_free(ad);
	AUTHORITY_INFO_ACCESS_free(aia);
	return ret;
}

static int
add_fixed_exts(X509 *x)
{
	BASIC_CONSTRAINTS *bc = NULL;
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	int ret = -1;

	/* RFC 5280 §4.2.1.9: end entity, critical. */
	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		goto err;
	bc->ca = 0;
	if (X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) != 1)
		goto err;
	/* RFC 5280 §4.2.1.3: digitalSignature (bit 0), critical. */
	if ((ku = ASN1_BIT_STRING_new()) == NULL || !ASN1_BIT_STRING_set_bit(ku, 0, 1) ||
	    X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) != 1)
		goto err;
	/* RFC 5280 §4.2.1.12: TLS client and server (the device is both in latches). */
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL ||
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth)) ||
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) ||
	    X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) != 1)
		goto err;
	ret = 0;
err:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_free(eku);	/* static objects from OBJ_nid2obj */
	return ret;
}

static int
add_key_ids(X509 *x, X509 *ca_cert)
{
	ASN1_OCTET_STRING *ski = NULL;
	AUTHORITY_KEYID *akid = NULL;
	const ASN1_OCTET_STRING *ca_ski;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	int ret = -1;

	/* RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value. */
	if (!X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) ||
	    (ski = ASN1_OCTET_STRING_new()) == NULL || !ASN1_OCTET_STRING_set(ski, md, mdlen) ||
	    X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) != 1)
		goto err;
	/* RFC 5280 §4.2.1.1: keyIdentifier = the issuer's SKI (or its method-1 value). */
	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		goto err;
	if ((ca_ski = X509_get0_subject_key_id(ca_cert)) != NULL) {
		if ((akid->keyid = ASN1_OCTET_STRING_dup(ca_ski)) == NULL)
			goto err;
	} else {
		if (!X509_pubkey_digest(ca_cert, EVP_sha1(), md, &mdlen) ||
		    (akid->keyid = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(akid->keyid, md, mdlen))
			goto err;
	}
	if (X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1)
		goto err;
	ret = 0;
err:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return ret;
}

/* ECDSA with the hash matching the curve size; Ed25519 pure (no digest); RSA SHA-256. */
static const EVP_MD *
sig_md(EVP_PKEY *key, int *ok)
{
	int bits;

	*ok = 1;
	if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448"))
		return NULL;
	if (EVP_PKEY_is_a(key, "EC")) {
		bits = EVP_PKEY_get_bits(key);
		if (bits > 384)
			return EVP_sha512();
		return bits > 256 ? EVP_sha384() : EVP_sha256();
	}
	if (EVP_PKEY_is_a(key, "RSA"))
		return EVP_sha256();
	*ok = 0;
	return NULL;
}

X509 *
ca_issue_ldevid(X509 *ca_cert, EVP_PKEY *ca_key, const struct ca_profile *prof,
    const unsigned char *spki_der, size_t spki_len, const char *device_serial,
    const unsigned char *hwmodule_der, size_t hwmodule_len, char *err, size_t errlen)
{
	X509_PUBKEY *pub = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *bits = NULL;
	X509 *x = NULL;
	const unsigned char *p;
	const EVP_MD *md;
	time_t now;
	long days;
	int printable, mdok, rc;

	if (ca_cert == NULL || ca_key == NULL || prof == NULL || spki_der == NULL) {
		pki_errx(err, errlen, "issue: missing CA, profile or key");
		return NULL;
	}
	if (!serial_valid(device_serial, &printable)) {
		pki_errx(err, errlen, "device serial must be 1 to %d printable characters",
		    PKI_SERIAL_MAX - 1);
		return NULL;
	}
	if (hwmodule_der != NULL && !hwmodule_valid(hwmodule_der, hwmodule_len)) {
		pki_errx(err, errlen, "malformed hardwareModuleName");
		return NULL;
	}
	if (prof->crl_url[0] != '\0' && !url_valid(prof->crl_url)) {
		pki_errx(err, errlen, "CRL URL is not a printable ASCII URI");
		return NULL;
	}
	if (prof->ocsp_url[0] != '\0' && !url_valid(prof->ocsp_url)) {
		pki_errx(err, errlen, "OCSP URL is not a printable ASCII URI");
		return NULL;
	}
	if (prof->lifetime_days > CA_MAX_DAYS) {
		pki_errx(err, errlen, "lifetime of %u days is too long", prof->lifetime_days);
		return NULL;
	}
	md = sig_md(ca_key, &mdok);
	if (!mdok) {
		pki_errx(err, errlen, "unsupported CA key type");
		return NULL;
	}
	if (spki_len == 0 || spki_len > CA_SPKI_MAX) {
		pki_errx(err, errlen, "public key: bad length %zu", spki_len);
		return NULL;
	}
	if (spki_split(spki_der, spki_len, &alg, &bits) == -1) {
		pki_errx(err, errlen, "public key is not a DER SubjectPublicKeyInfo");
		goto err;
	}
	if ((rc = spki_fast_allowed(alg, bits, err, errlen)) == -1)
		goto err;
	if (rc == 0) {
		/* RSA and anything unusual: decode the key and apply the full rule. */
		p = spki_der;
		if ((pub = d2i_X509_PUBKEY(NULL, &p, (long)spki_len)) == NULL) {
			ERR_clear_error();
			pki_errx(err, errlen, "public key does not decode");
			goto err;
		}
		if (ca_key_allowed(pub, NULL, 0, err, errlen) == -1)
			goto err;
	}

	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    pki_serial_random(x) != 0 ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca_cert)))
		goto fail;
	now = time(NULL);
	days = prof->lifetime_days ? (long)prof->lifetime_days : CA_DEFAULT_DAYS;
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -CA_BACKDATE_SECS, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now) == NULL)
		goto fail;
	if (add_subject(x, device_serial, printable) == -1 || copy_pubkey(x, alg, bits) == -1)
		goto fail;
	if (hwmodule_der != NULL && add_san_hwmodule(x, hwmodule_der, hwmodule_len) == -1)
		goto fail;
	if (add_fixed_exts(x) == -1 || add_key_ids(x, ca_cert) == -1)
		goto fail;
	if (prof->crl_url[0] != '\0' && add_crldp(x, prof->crl_url) == -1)
		goto fail;
	if (prof->ocsp_url[0] != '\0' && add_aia_ocsp(x, prof->ocsp_url) == -1)
		goto fail;
	if (X509_sign(x, ca_key, md) <= 0)
		goto fail;
	X509_PUBKEY_free(pub);
	X509_ALGOR_free(alg);
	ASN1_BIT_STRING_free(bits);
	return x;
fail:
	pki_err(err, errlen, "issue LDevID");
err:
	X509_PUBKEY_free(pub);
	X509_ALGOR_free(alg);
	ASN1_BIT_STRING_free(bits);
	X509_free(x);
	return NULL;
}
