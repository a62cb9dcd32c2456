/*
 * idevid: verify a device's IEEE 802.1AR IDevID (or an LDevID, with the domain CA as anchor)
 * against configured trust anchors and CRLs (RFC 5280 §6 path validation via OpenSSL).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "certs/idevid.h"
#include "certs/pki.h"

#define IDEVID_CRL_MAX		(8 * 1024 * 1024)	/* largest CRL file we read */
#define IDEVID_MAX_DEPTH	8
#define IDEVID_CACHE_MAX	32	/* issuing CAs remembered as verified */

/*
 * An issuing CA whose own path to a configured anchor was verified in full (signatures,
 * validity, CRLs). Devices it issued are then checked with it as a trust anchor: one
 * signature instead of the whole path. Valid until the earliest notAfter on that path or
 * the earliest CRL nextUpdate; dropped whenever anchors or CRLs change.
 */
struct idevid_cached {
	X509		*ca;
	char		 anchor[256];
	char		 anchor_fp[PKI_FP_LEN];
	time_t		 until;
};

struct idevid_store {
	X509_STORE	*store;
	size_t		 nanchors;
	size_t		 ncrls;
	STACK_OF(X509_CRL) *crls;	/* the same CRLs, for the cache's store */
	X509_STORE	*fast;		/* the cached issuing CAs as anchors, and the CRLs */
	struct idevid_cached cached[IDEVID_CACHE_MAX];
	size_t		 ncached;
	unsigned long	 hits;
};

struct idevid_store *
idevid_store_new(void)
{
	struct idevid_store *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	if ((st->store = X509_STORE_new()) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

static void
cache_clear(struct idevid_store *st)
{
	size_t i;

	for (i = 0; i < st->ncached; i++)
		X509_free(st->cached[i].ca);
	st->ncached = 0;
	X509_STORE_free(st->fast);
	st->fast = NULL;
}

void
idevid_store_free(struct idevid_store *st)
{
	if (st == NULL)
		return;
	cache_clear(st);
	sk_X509_CRL_pop_free(st->crls, X509_CRL_free);
	X509_STORE_free(st->store);
	free(st);
}

int
idevid_store_add_anchor(struct idevid_store *st, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509) *certs;
	int i, ret = -1;

	if (st == NULL || path == NULL)
		return pki_errx(err, errlen, "add anchor: no store or path");
	if ((certs = pki_certs_read(path, err, errlen)) == NULL)
		return -1;
	cache_clear(st);
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (!X509_STORE_add_cert(st->store, sk_X509_value(certs, i))) {
			pki_err(err, errlen, "%s: cannot add trust anchor", path);
			goto done;
		}
		st->nanchors++;
	}
	ret = 0;
done:
	sk_X509_pop_free(certs, X509_free);
	return ret;
}

/* Read a whole file of at most IDEVID_CRL_MAX bytes; *buf malloc'd. */
static int
read_small_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
	FILE *f;
	size_t n;

	*buf = NULL;
	if ((f = fopen(path, "rb")) == NULL)
		return pki_errx(err, errlen, "%s: cannot open", path);
	if ((*buf = malloc(IDEVID_CRL_MAX + 1)) == NULL) {
		fclose(f);
		return pki_errx(err, errlen, "%s: out of memory", path);
	}
	n = fread(*buf, 1, IDEVID_CRL_MAX + 1, f);
	if (ferror(f) || n == 0 || n > IDEVID_CRL_MAX) {
		fclose(f);
		free(*buf);
		*buf = NULL;
		return pki_errx(err, errlen, "%s: unreadable, empty or larger than %d bytes",
		    path, IDEVID_CRL_MAX);
	}
	fclose(f);
	*len = n;
	return 0;
}

static int
add_one_crl(struct idevid_store *st, X509_CRL *crl, const char *path, char *err,
    size_t errlen)
{
	int ok = X509_STORE_add_crl(st->store, crl);

	cache_clear(st);
	if (ok && st->crls == NULL && (st->crls = sk_X509_CRL_new_null()) == NULL)
		ok = 0;
	if (!ok || !sk_X509_CRL_push(st->crls, crl)) {
		X509_CRL_free(crl);
		return pki_err(err, errlen, "%s: cannot add CRL", path);
	}
	st->ncrls++;
	return 0;
}

int
idevid_store_add_crl(struct idevid_store *st, const char *path, char *err, size_t errlen)
{
	X509_CRL *crl;
	BIO *bio = NULL;
	unsigned char *buf = NULL;
	const unsigned char *p;
	size_t len, before;
	int ret = -1;

	if (st == NULL || path == NULL)
		return pki_errx(err, errlen, "add CRL: no store or path");
	if (read_small_file(path, &buf, &len, err, errlen) == -1)
		return -1;
	before = st->ncrls;
	if (buf[0] == 0x30) {
		/* DER CertificateList (RFC 5280 §5.1), nothing after it. */
		p = buf;
		if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL || p != buf + len) {
			X509_CRL_free(crl);
			pki_err(err, errlen, "%s: not a DER CRL", path);
			goto done;
		}
		if (add_one_crl(st, crl, path, err, errlen) == -1)
			goto done;
	} else {
		/* PEM: every X509 CRL block in the file. */
		if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL) {
			pki_err(err, errlen, "%s: out of memory", path);
			goto done;
		}
		while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL)
			if (add_one_crl(st, crl, path, err, errlen) == -1)
				goto done;
		ERR_clear_error();
	}
	if (st->ncrls == before) {
		pki_errx(err, errlen, "%s: no CRL (PEM or DER) found", path);
		goto done;
	}
	ret = 0;
done:
	BIO_free(bio);
	free(buf);
	return ret;
}

/* CN of a name, or its one-line form when there is no CN. */
static void
name_label(const X509_NAME *name, char *out, size_t outlen)
{
	unsigned char *utf8 = NULL;
	int idx, n;

	out[0] = '\0';
	if (name == NULL)
		return;
	if ((idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) >= 0 &&
	    (n = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)))) >= 0) {
		snprintf(out, outlen, "%.*s", n, (char *)utf8);
		OPENSSL_free(utf8);
		return;
	}
	ERR_clear_error();
	X509_NAME_oneline(name, out, (int)(outlen > 256 ? 256 : outlen));
}

/*
 * With CRLs loaded, OpenSSL checks revocation for every certificate in the path; an issuer
 * for which no CRL is configured (another manufacturer) is not an error. Everything else
 * keeps OpenSSL's verdict.
 */
static int
verify_cb(int ok, X509_STORE_CTX *ctx)
{
	if (!ok && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL)
		return 1;
	return ok;
}

/* Map a path validation failure to a status and a one-line reason. */
static enum idevid_status
verify_failure(X509_STORE_CTX *ctx, char *err, size_t errlen)
{
	int e = X509_STORE_CTX_get_error(ctx);
	int depth = X509_STORE_CTX_get_error_depth(ctx);
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	const char *what = depth == 0 ? "IDevID" : "issuing CA certificate";
	char label[256];

	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		pki_errx(err, errlen, "%s expired", what);
		return IDEVID_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		pki_errx(err, errlen, "%s not yet valid", what);
		return IDEVID_EXPIRED;
	case X509_V_ERR_CERT_REVOKED:
		pki_errx(err, errlen, "%s revoked by manufacturer CRL", what);
		return IDEVID_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		name_label(cur != NULL ? X509_get_issuer_name(cur) : NULL, label, sizeof(label));
		pki_errx(err, errlen, "unknown manufacturer: issuer CN=%s", label);
		return IDEVID_UNKNOWN_ISSUER;
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_DIFFERENT_CRL_SCOPE:
		/* A configured CRL we cannot use: fail closed, but it is our problem (500). */
		pki_errx(err, errlen, "manufacturer CRL unusable: %s",
		    X509_verify_cert_error_string(e));
		return IDEVID_INTERNAL;
	case X509_V_ERR_OUT_OF_MEM:
		pki_errx(err, errlen, "IDevID verification: out of memory");
		return IDEVID_INTERNAL;
	default:
		pki_errx(err, errlen, "%s rejected: %s", what,
		    X509_verify_cert_error_string(e));
		return IDEVID_UNKNOWN_ISSUER;
	}
}

/* A path validation of leaf against store, with our depth, anchors and CRL policy. */
static X509_STORE_CTX *
verify_ctx(X509_STORE *store, X509 *leaf, STACK_OF(X509) *chain, unsigned long crlflags)
{
	X509_STORE_CTX *ctx;

	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, store, leaf, chain)) {
		X509_STORE_CTX_free(ctx);
		return NULL;
	}
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(ctx), IDEVID_MAX_DEPTH);
	/*
	 * RFC 5280 §6.1.1 (d): a trust anchor is whatever was configured, self-signed or not,
	 * so a manufacturer's issuing CA can be the anchor on its own.
	 */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
	if (crlflags != 0) {
		X509_STORE_CTX_set_flags(ctx, crlflags);
		X509_STORE_CTX_set_verify_cb(ctx, verify_cb);
	}
	return ctx;
}

/* The time t as seconds since the epoch, by its distance from now (now when unreadable). */
static time_t
abs_time(const ASN1_TIME *t, time_t now)
{
	int day, sec;

	if (t == NULL || !ASN1_TIME_diff(&day, &sec, NULL, t))
		return now;
	return now + (time_t)day * 86400 + sec;
}

/*
 * After a full verification: remember the leaf's issuer (path[1]) when the path goes on to an
 * anchor above it and nothing above constrains the leaf beyond what that issuer's own
 * signature and the leaf's CRL show (name or policy constraints are left to the full path).
 */
static void
cache_add(struct idevid_store *st, STACK_OF(X509) *path, const struct idevid_info *info)
{
	struct idevid_cached *c;
	X509 *ca, *x;
	time_t now = time(NULL), until, t;
	int i, n = sk_X509_num(path);
	size_t k;

	if (n < 3 || st->ncached >= IDEVID_CACHE_MAX)
		return;
	ca = sk_X509_value(path, 1);
	for (k = 0; k < st->ncached; k++)
		if (X509_cmp(st->cached[k].ca, ca) == 0)
			return;
	until = abs_time(X509_get0_notAfter(ca), now);
	for (i = 1; i < n; i++) {
		x = sk_X509_value(path, i);
		if (X509_get_ext_by_NID(x, NID_name_constraints, -1) >= 0 ||
		    X509_get_ext_by_NID(x, NID_policy_constraints, -1) >= 0 ||
		    X509_get_ext_by_NID(x, NID_inhibit_any_policy, -1) >= 0)
			return;
		if ((t = abs_time(X509_get0_notAfter(x), now)) < until)
			until = t;
	}
	for (i = 0; i < sk_X509_CRL_num(st->crls); i++) {
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(sk_X509_CRL_value(st->crls, i));

		if (next != NULL && (t = abs_time(next, now)) < until)
			until = t;
	}
	if (until <= now)
		return;
	if (st->fast == NULL) {
		if ((st->fast = X509_STORE_new()) == NULL)
			return;
		for (i = 0; i < sk_X509_CRL_num(st->crls); i++)
			if (!X509_STORE_add_crl(st->fast, sk_X509_CRL_value(st->crls, i))) {
				cache_clear(st);
				return;
			}
	}
	if (!X509_STORE_add_cert(st->fast, ca) || !X509_up_ref(ca)) {
		cache_clear(st);
		return;
	}
	c = &st->cached[st->ncached++];
	c->ca = ca;
	c->until = until;
	snprintf(c->anchor, sizeof(c->anchor), "%s", info->anchor);
	snprintf(c->anchor_fp, sizeof(c->anchor_fp), "%s", info->anchor_fp);
}

/* Whether the client sent x itself: the cache never supplies a certificate it left out. */
static int
in_chain(STACK_OF(X509) *chain, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_cmp(sk_X509_value(chain, i), x) == 0)
			return 1;
	return 0;
}

/*
 * The leaf against the cached issuing CAs: 1 when it verifies as issued by one of them
 * (anchor filled in), 0 otherwise, and then the caller checks the full path, which also
 * gives any failure its exact reason. The leaf's own revocation is checked here as there.
 */
static int
cache_verify(struct idevid_store *st, X509 *leaf, STACK_OF(X509) *chain,
    struct idevid_info *info)
{
	X509_STORE_CTX *ctx;
	STACK_OF(X509) *path;
	time_t now;
	size_t k;
	int ok = 0;

	if (st->ncached == 0 || (ctx = verify_ctx(st->fast, leaf, chain,
	    st->ncrls > 0 ? X509_V_FLAG_CRL_CHECK : 0)) == NULL)
		return 0;
	if (X509_verify_cert(ctx) == 1 && (path = X509_STORE_CTX_get0_chain(ctx)) != NULL &&
	    sk_X509_num(path) == 2 && in_chain(chain, sk_X509_value(path, 1))) {
		now = time(NULL);
		for (k = 0; k < st->ncached && !ok; k++)
			if (st->cached[k].until > now &&
			    X509_cmp(st->cached[k].ca, sk_X509_value(path, 1)) == 0) {
				snprintf(info->anchor, sizeof(info->anchor), "%s",
				    st->cached[k].anchor);
				snprintf(info->anchor_fp, sizeof(info->anchor_fp), "%s",
				    st->cached[k].anchor_fp);
				ok = 1;
				st->hits++;
			}
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/*
 * The DevID end-entity profile (IEEE 802.1AR §8, RFC 8995 §2.3.1), which path validation
 * alone does not check: a DevID is an end entity, so basicConstraints is absent or cA
 * FALSE; it signs (the TLS handshake, the voucher-request), so a keyUsage, when present,
 * includes digitalSignature; it is a TLS client credential, so an extendedKeyUsage, when
 * present, includes id-kp-clientAuth (RFC 5280 §4.2.1.12; anyExtendedKeyUsage alone is not
 * enough). 802.1AR makes keyUsage and extendedKeyUsage optional, so absence is accepted.
 */
static enum idevid_status
leaf_profile(X509 *leaf, char *err, size_t errlen)
{
	BASIC_CONSTRAINTS *bc;
	uint32_t ku, xku;
	int crit = -1, ca;

	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
	ca = bc != NULL && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	if (bc == NULL && crit != -1) {
		ERR_clear_error();
		pki_errx(err, errlen, "device certificate has an unreadable or repeated "
		    "basicConstraints");
		return IDEVID_BAD_PROFILE;
	}
	if (ca) {
		pki_errx(err, errlen, "device certificate is a CA (basicConstraints "
		    "CA:TRUE), not an end entity");
		return IDEVID_BAD_PROFILE;
	}
	if ((ku = X509_get_key_usage(leaf)) != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE)) {
		pki_errx(err, errlen, "device certificate keyUsage lacks digitalSignature");
		return IDEVID_BAD_PROFILE;
	}
	if ((xku = X509_get_extended_key_usage(leaf)) != UINT32_MAX &&
	    !(xku & XKU_SSL_CLIENT)) {
		pki_errx(err, errlen, "device certificate extendedKeyUsage lacks clientAuth");
		return IDEVID_BAD_PROFILE;
	}
	return IDEVID_OK;
}

enum idevid_status
idevid_verify(struct idevid_store *st, X509 *leaf, STACK_OF(X509) *chain,
    struct idevid_info *info, char *err, size_t errlen)
{
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *path;
	struct idevid_info tmp;
	enum idevid_status status;
	int has_serial;

	if (info == NULL)
		info = &tmp;
	memset(info, 0, sizeof(*info));
	if (st == NULL || leaf == NULL) {
		pki_errx(err, errlen, "IDevID verification: no store or certificate");
		return IDEVID_INTERNAL;
	}
	/* For logging, whatever the verdict. */
	has_serial = pki_name_serial(X509_get_subject_name(leaf), info->serial,
	    sizeof(info->serial)) == 0;
	if (pki_cert_fingerprint(leaf, info->fingerprint) != 0)
		info->fingerprint[0] = '\0';

	if (!cache_verify(st, leaf, chain, info)) {
		/* RFC 5280 §6.3: revocation of every certificate in the path we have a CRL for. */
		if ((ctx = verify_ctx(st->store, leaf, chain, st->ncrls > 0 ?
		    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL : 0)) == NULL) {
			pki_err(err, errlen, "IDevID verification: cannot set up");
			status = IDEVID_INTERNAL;
			goto done;
		}
		if (X509_verify_cert(ctx) != 1) {
			status = verify_failure(ctx, err, errlen);
			goto done;
		}
		path = X509_STORE_CTX_get0_chain(ctx);
		if (path != NULL && sk_X509_num(path) > 0) {
			X509 *top = sk_X509_value(path, sk_X509_num(path) - 1);

			name_label(X509_get_subject_name(top), info->anchor, sizeof(info->anchor));
			if (pki_cert_fingerprint(top, info->anchor_fp) != 0)
				info->anchor_fp[0] = '\0';
		}
	}
	if ((status = leaf_profile(leaf, err, errlen)) != IDEVID_OK)
		goto done;
	/* 802.1AR §8.6: the DevID subject carries the device serialNumber. */
	if (!has_serial) {
		pki_errx(err, errlen, "IDevID has no subject serialNumber");
		status = IDEVID_NO_SERIAL;
		goto done;
	}
	if (ctx != NULL && (path = X509_STORE_CTX_get0_chain(ctx)) != NULL)
		cache_add(st, path, info);
	if (pki_cert_serial_hex(leaf, info->cert_serial, sizeof(info->cert_serial)) != 0)
		info->cert_serial[0] = '\0';
	if (pki_cert_hwmodule(leaf, &info->hwmodule_der, &info->hwmodule_len) != 0) {
		info->hwmodule_der = NULL;
		info->hwmodule_len = 0;
	}
	ERR_clear_error();
	status = IDEVID_OK;
done:
	X509_STORE_CTX_free(ctx);
	if (info == &tmp)
		idevid_info_free(info);
	return status;
}

void
idevid_store_stats(const struct idevid_store *st, size_t *cached, unsigned long *hits)
{
	*cached = st != NULL ? st->ncached : 0;
	*hits = st != NULL ? st->hits : 0;
}

void
idevid_info_free(struct idevid_info *info)
{
	if (info == NULL)
		return;
	OPENSSL_free(info->hwmodule_der);
	info->hwmodule_der = NULL;
	info->hwmodule_len = 0;
}
