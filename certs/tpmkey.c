/*
 * tpmkey: TPM 2.0 keys through the tpm2-openssl provider (see tpmkey.h).
 */
/* EC_KEY_METHOD (deprecated in OpenSSL 3, still the one way to reach libssl): see the
 * comment above tpmkey_wrap(). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/store.h>

#include "certs/pki.h"
#include "certs/tpmkey.h"

#define TPMKEY_PROVIDER		"tpm2"
/* TPM 2.0 Part 2, table 28 (TPM_HT_PERSISTENT): persistent object handles. */
#define TPMKEY_PERSISTENT_FIRST	0x81000000u
#define TPMKEY_PERSISTENT_LAST	0x81FFFFFFu

/* The provider key's own signature implementation (the TPM's), nothing else of it. */
#define TPMKEY_PROPQ_SIGN	"provider=" TPMKEY_PROVIDER

static OSSL_PROVIDER *tpmkey_prov, *tpmkey_defprov;
static char tpmkey_tcti_used[TPMKEY_TCTI_MAX];
static EC_KEY_METHOD *tpmkey_meth;	/* the wrapper's, see tpmkey_wrap() */
static int tpmkey_exidx = -1;

static int
tpmkey_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* OpenSSL's last error reason (the provider puts the TSS2 return code there), or "?". */
static const char *
tpmkey_ossl_reason(char *buf, size_t len)
{
	unsigned long e, last = 0;
	const char *data = NULL, *d;
	int flags;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &d, &flags)) != 0) {
		last = e;
		/* "name=tpm2" (the provider's name) says nothing: keep the reason then */
		data = (flags & ERR_TXT_STRING) && d != NULL && *d != '\0' &&
		    strncmp(d, "name=", 5) != 0 ? d : NULL;
	}
	if (last == 0)
		snprintf(buf, len, "?");
	else if (data != NULL)
		snprintf(buf, len, "%s", data);
	else
		ERR_error_string_n(last, buf, len);
	return buf;
}

int
tpmkey_ref_parse(const char *ref, uint32_t *handle, char *err, size_t errlen)
{
	const char *p;
	char *end;
	unsigned long v;

	if (ref == NULL || strncmp(ref, TPMKEY_HANDLE_PREFIX, strlen(TPMKEY_HANDLE_PREFIX)) != 0)
		return TPMKEY_NONE;
	p = ref + strlen(TPMKEY_HANDLE_PREFIX);
	if (strncmp(p, "0x", 2) != 0 && strncmp(p, "0X", 2) != 0)
		return tpmkey_errf(err, errlen, "bad TPM handle \"%.40s\": expected "
		    "handle:0x81000000 to handle:0x81FFFFFF", ref);
	if (p[2] == '\0' || strspn(p + 2, "0123456789abcdefABCDEF") != strlen(p + 2) ||
	    strlen(p + 2) > 8)
		return tpmkey_errf(err, errlen, "bad TPM handle \"%.40s\": expected "
		    "handle:0x81000000 to handle:0x81FFFFFF", ref);
	errno = 0;
	v = strtoul(p, &end, 16);
	if (errno != 0 || *end != '\0' || v < TPMKEY_PERSISTENT_FIRST ||
	    v > TPMKEY_PERSISTENT_LAST)
		return tpmkey_errf(err, errlen, "TPM handle %.40s is not a persistent "
		    "object handle (0x81000000 to 0x81FFFFFF)", p);
	if (handle != NULL)
		*handle = (uint32_t)v;
	return TPMKEY_HANDLE;
}

int
tpmkey_pem_is_tss2(const char *buf, size_t len)
{
	size_t hl = strlen(TPMKEY_PEM_HEADER);

	/* tolerate leading white space only, as PEM readers do */
	while (len > 0 && (*buf == ' ' || *buf == '\t' || *buf == '\r' || *buf == '\n')) {
		buf++;
		len--;
	}
	return len >= hl && memcmp(buf, TPMKEY_PEM_HEADER, hl) == 0 &&
	    (len == hl || buf[hl] == '\n' || buf[hl] == '\r');
}

enum tpmkey_kind
tpmkey_ref_kind(const char *ref)
{
	char buf[128];
	size_t n;
	FILE *f;
	int r;

	if (ref == NULL)
		return TPMKEY_NONE;
	if ((r = tpmkey_ref_parse(ref, NULL, NULL, 0)) == TPMKEY_HANDLE)
		return TPMKEY_HANDLE;
	if (r == -1 || (f = fopen(ref, "re")) == NULL)
		return TPMKEY_NONE;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return tpmkey_pem_is_tss2(buf, n) ? TPMKEY_FILE : TPMKEY_NONE;
}

int
tpmkey_tcti_choose(const char *opt, const char *env, int have_device, char *out,
    size_t outlen, char *err, size_t errlen)
{
	const char *t = NULL;

	if (opt != NULL && *opt != '\0')
		t = opt;
	else if (env != NULL && *env != '\0')
		t = env;
	else if (have_device)
		t = "device:" TPMKEY_DEVICE;
	else
		return tpmkey_errf(err, errlen, "no TPM configured: give --tpm TCTI (e.g. "
		    "swtpm:path=SOCKET) or set " TPMKEY_TCTI_ENV "; there is no "
		    TPMKEY_DEVICE);
	if (strlen(t) >= outlen || strlen(t) >= TPMKEY_TCTI_MAX)
		return tpmkey_errf(err, errlen, "TPM TCTI too long (%zu bytes)", strlen(t));
	snprintf(out, outlen, "%s", t);
	return 0;
}

int
tpmkey_open(const char *tcti, char *err, size_t errlen)
{
	char chosen[TPMKEY_TCTI_MAX], why[256];

	if (tpmkey_tcti_choose(tcti, getenv(TPMKEY_TCTI_ENV), access(TPMKEY_DEVICE, F_OK) == 0,
	    chosen, sizeof(chosen), err, errlen) == -1)
		return -1;
	if (tpmkey_prov != NULL) {
		if (strcmp(chosen, tpmkey_tcti_used) != 0)
			return tpmkey_errf(err, errlen, "TPM already opened through %s, not %s",
			    tpmkey_tcti_used, chosen);
		return 0;
	}
	/* The provider reads the TCTI from the environment only. libtss2 would print its
	 * own warnings on stderr; our one-line error says what failed. */
	if (setenv(TPMKEY_TCTI_ENV, chosen, 1) == -1 ||
	    (getenv("TSS2_LOG") == NULL && setenv("TSS2_LOG", "all+NONE", 1) == -1))
		return tpmkey_errf(err, errlen, "setenv: %s", strerror(errno));
	ERR_clear_error();
	/* default first: where the properties leave a tie, its implementation wins */
	if ((tpmkey_defprov = OSSL_PROVIDER_load(NULL, "default")) == NULL)
		return tpmkey_errf(err, errlen, "OpenSSL default provider: %s",
		    tpmkey_ossl_reason(why, sizeof(why)));
	/* Starting the provider connects to the TPM (Esys_Initialize): an unreachable TPM
	 * fails here. */
	if ((tpmkey_prov = OSSL_PROVIDER_load(NULL, TPMKEY_PROVIDER)) == NULL) {
		OSSL_PROVIDER_unload(tpmkey_defprov);
		tpmkey_defprov = NULL;
		tpmkey_ossl_reason(why, sizeof(why));
		if (strstr(why, "provider") != NULL && strstr(why, "tpm2.so") == NULL &&
		    access("/usr/lib/x86_64-linux-gnu/ossl-modules/tpm2.so", F_OK) != 0 &&
		    access("/usr/lib/aarch64-linux-gnu/ossl-modules/tpm2.so", F_OK) != 0)
			return tpmkey_errf(err, errlen, "TPM: the OpenSSL provider \"tpm2\" is "
			    "not installed (Debian package tpm2-openssl)");
		return tpmkey_errf(err, errlen, "TPM unavailable through TCTI %s (%s)",
		    chosen, why);
	}
	/* The process's random generators stay the default provider's whichever provider is
	 * preferred later (the TPM's would be fetched for the DRBG otherwise). */
	if (RAND_set_DRBG_type(NULL, "CTR-DRBG", "provider=default", NULL, NULL) != 1 ||
	    RAND_set_seed_source_type(NULL, "SEED-SRC", "provider=default") != 1) {
		tpmkey_close();
		return tpmkey_errf(err, errlen, "OpenSSL: cannot pin the random generator "
		    "to the default provider (%s)", tpmkey_ossl_reason(why, sizeof(why)));
	}
	snprintf(tpmkey_tcti_used, sizeof(tpmkey_tcti_used), "%s", chosen);
	/* Everything but the TPM key's own signatures stays with the default provider. */
	if (EVP_set_default_properties(NULL, "?provider=default") != 1) {
		tpmkey_close();
		return tpmkey_errf(err, errlen, "OpenSSL: cannot prefer the default provider");
	}
	return 0;
}

const char *
tpmkey_tcti(void)
{
	return tpmkey_prov != NULL ? tpmkey_tcti_used : NULL;
}

void
tpmkey_close(void)
{
	if (tpmkey_defprov != NULL)
		OSSL_PROVIDER_unload(tpmkey_defprov);
	if (tpmkey_prov != NULL)
		OSSL_PROVIDER_unload(tpmkey_prov);
	if (tpmkey_meth != NULL)	/* OpenSSL 3.0's EC_KEY_METHOD_free(NULL) crashes */
		EC_KEY_METHOD_free(tpmkey_meth);
	tpmkey_meth = NULL;
	tpmkey_defprov = tpmkey_prov = NULL;
	tpmkey_tcti_used[0] = '\0';
}

/*
 * The wrapper. OpenSSL 3.0 fetches a signature implementation by properties, not from the
 * key's provider, and then exports the key to it: a TPM key exports only its public half
 * ("missing private key"), and libssl signs CertificateVerify with EVP_DigestSign twice
 * (size, then signature), whose second call duplicates the signature context, which
 * tpm2-openssl 1.1 cannot ("cannot duplicate context"). So the key handed to callers
 * (libssl, X509_REQ_sign, CMS) is a legacy EC key carrying the public key and an
 * EC_KEY_METHOD whose sign callbacks pass the digest to the provider key (EVP_PKEY_sign,
 * one call, TPM2_Sign); such a "foreign" key takes the legacy path everywhere, and every
 * other operation (digests, verification, key exchange) stays with the default provider.
 * The provider key is the EC_KEY's ex_data, freed with it.
 */

static EVP_PKEY *
tpmkey_inner(const EC_KEY *ec)
{
	return ec != NULL && EC_KEY_get_method(ec) == tpmkey_meth && tpmkey_exidx >= 0 ?
	    EC_KEY_get_ex_data(ec, tpmkey_exidx) : NULL;
}

static int
tpmkey_ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	EVP_PKEY *k = tpmkey_inner(ec);
	EVP_PKEY_CTX *c;
	size_t len = (size_t)ECDSA_size(ec);
	int ok;

	if (k == NULL || dlen < 0 ||
	    (c = EVP_PKEY_CTX_new_from_pkey(NULL, k, TPMKEY_PROPQ_SIGN)) == NULL)
		return 0;
	ok = EVP_PKEY_sign_init(c) > 0 &&
	    EVP_PKEY_sign(c, sig, &len, dgst, (size_t)dlen) > 0;
	EVP_PKEY_CTX_free(c);
	if (ok)
		*siglen = (unsigned int)len;
	return ok;
}

static ECDSA_SIG *
tpmkey_ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *ec)
{
	unsigned char der[160];
	const unsigned char *p = der;
	unsigned int len = 0;

	if ((size_t)ECDSA_size(ec) > sizeof(der) ||
	    !tpmkey_ec_sign(0, dgst, dlen, der, &len, kinv, r, ec))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)len);
}

static void
tpmkey_exfree(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	EVP_PKEY_free(ptr);
}

static int
tpmkey_wrap_init(void)
{
	if (tpmkey_meth != NULL)
		return 0;
	if (tpmkey_exidx < 0 && (tpmkey_exidx = EC_KEY_get_ex_new_index(0, NULL, NULL,
	    NULL, tpmkey_exfree)) < 0)
		return -1;
	if ((tpmkey_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())) == NULL)
		return -1;
	EC_KEY_METHOD_set_sign(tpmkey_meth, tpmkey_ec_sign, NULL, tpmkey_ec_sign_sig);
	return 0;
}

/* The caller's key for the provider key inner (taken over, also on failure), or NULL. */
static EVP_PKEY *
tpmkey_wrap(EVP_PKEY *inner)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL, *w = NULL;
	EC_KEY *ec = NULL;
	int n;

	if (tpmkey_wrap_init() == -1 || (n = i2d_PUBKEY(inner, &der)) <= 0)
		goto err;
	p = der;
	if ((pub = d2i_PUBKEY(NULL, &p, n)) == NULL ||
	    (ec = EVP_PKEY_get1_EC_KEY(pub)) == NULL)
		goto err;
	/* the method before EVP_PKEY_assign: that is when OpenSSL marks the key foreign */
	if (!EC_KEY_set_method(ec, tpmkey_meth) ||
	    !EC_KEY_set_ex_data(ec, tpmkey_exidx, inner))
		goto err;
	inner = NULL;	/* the EC_KEY owns it now */
	if ((w = EVP_PKEY_new()) == NULL || !EVP_PKEY_assign_EC_KEY(w, ec))
		goto err;
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	return w;
err:
	EVP_PKEY_free(w);
	EC_KEY_free(ec);
	EVP_PKEY_free(inner);
	EVP_PKEY_free(pub);
	OPENSSL_free(der);
	return NULL;
}

static int
tpmkey_is_provider_key(const EVP_PKEY *key)
{
	const OSSL_PROVIDER *p;

	return key != NULL && (p = EVP_PKEY_get0_provider(key)) != NULL &&
	    strcmp(OSSL_PROVIDER_get0_name(p), TPMKEY_PROVIDER) == 0;
}

/* The provider key behind a wrapper (not up-referenced), or NULL. */
static EVP_PKEY *
tpmkey_unwrap(const EVP_PKEY *key)
{
	if (key == NULL || tpmkey_meth == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get0_provider(key) != NULL)
		return NULL;
	return tpmkey_inner(EVP_PKEY_get0_EC_KEY(key));
}

int
tpmkey_is_tpm(const EVP_PKEY *key)
{
	return tpmkey_unwrap(key) != NULL;
}

EVP_PKEY *
tpmkey_load(const char *ref, char *err, size_t errlen)
{
	OSSL_STORE_CTX *s = NULL;
	OSSL_STORE_INFO *info;
	EVP_PKEY *key = NULL;
	char why[256];
	int kind;

	if ((kind = tpmkey_ref_parse(ref, NULL, err, errlen)) == -1)
		return NULL;
	if (tpmkey_prov == NULL) {
		tpmkey_errf(err, errlen, "%.200s is a TPM key, but no TPM is open", ref);
		return NULL;
	}
	if (kind == TPMKEY_NONE && access(ref, R_OK) == -1) {
		tpmkey_errf(err, errlen, "%.200s: %s", ref, strerror(errno));
		return NULL;
	}
	ERR_clear_error();
	if ((s = OSSL_STORE_open(ref, NULL, NULL, NULL, NULL)) == NULL)
		goto fail;
	while (key == NULL && !OSSL_STORE_eof(s)) {
		if ((info = OSSL_STORE_load(s)) == NULL) {
			if (OSSL_STORE_error(s))
				break;
			continue;
		}
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			key = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(s);
	if (key == NULL)
		goto fail;
	if (!tpmkey_is_provider_key(key) || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		EVP_PKEY_free(key);
		tpmkey_errf(err, errlen, "%.200s is not an EC key in the TPM", ref);
		return NULL;
	}
	ERR_clear_error();
	if ((key = tpmkey_wrap(key)) == NULL)
		tpmkey_errf(err, errlen, "%.200s: cannot wrap the TPM key", ref);
	return key;
fail:
	/* A TSS2 blob made by another TPM fails the TPM's integrity check at TPM2_Load. */
	tpmkey_errf(err, errlen, "%.200s: the TPM at %s cannot load this key (%s%s)", ref,
	    tpmkey_tcti_used, tpmkey_ossl_reason(why, sizeof(why)),
	    kind == TPMKEY_HANDLE ? "; no such persistent key?" :
	    "; wrapped by another TPM?");
	return NULL;
}

EVP_PKEY *
tpmkey_new_p256(char *err, size_t errlen)
{
	EVP_PKEY_CTX *g = NULL;
	EVP_PKEY *key = NULL;
	char why[256];

	if (tpmkey_prov == NULL) {
		tpmkey_errf(err, errlen, "no TPM is open for the key");
		return NULL;
	}
	ERR_clear_error();
	if ((g = EVP_PKEY_CTX_new_from_name(NULL, "EC", "provider=" TPMKEY_PROVIDER)) == NULL ||
	    EVP_PKEY_keygen_init(g) <= 0 || EVP_PKEY_CTX_set_group_name(g, "P-256") <= 0 ||
	    EVP_PKEY_generate(g, &key) <= 0) {
		EVP_PKEY_free(key);
		key = NULL;
		tpmkey_errf(err, errlen, "TPM at %s: cannot generate a P-256 key (%s)",
		    tpmkey_tcti_used, tpmkey_ossl_reason(why, sizeof(why)));
	}
	EVP_PKEY_CTX_free(g);
	if (key != NULL && (key = tpmkey_wrap(key)) == NULL)
		tpmkey_errf(err, errlen, "TPM at %s: cannot wrap the new key",
		    tpmkey_tcti_used);
	return key;
}

int
tpmkey_write(const char *path, EVP_PKEY *key, int overwrite, char *err, size_t errlen)
{
	OSSL_ENCODER_CTX *ec = NULL;
	EVP_PKEY *inner;
	BIO *b = NULL;
	char *p, why[256];
	long n;
	int rc = -1;

	if ((inner = tpmkey_unwrap(key)) == NULL)
		return tpmkey_errf(err, errlen, "%s: not a TPM key", path);
	ERR_clear_error();
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    (ec = OSSL_ENCODER_CTX_new_for_pkey(inner, OSSL_KEYMGMT_SELECT_ALL, "PEM", NULL,
	    "provider=" TPMKEY_PROVIDER)) == NULL ||
	    OSSL_ENCODER_CTX_get_num_encoders(ec) == 0 || !OSSL_ENCODER_to_bio(ec, b)) {
		tpmkey_errf(err, errlen, "%s: cannot encode the TPM key (%s)", path,
		    tpmkey_ossl_reason(why, sizeof(why)));
		goto err;
	}
	if ((n = BIO_get_mem_data(b, &p)) <= 0 || !tpmkey_pem_is_tss2(p, (size_t)n)) {
		tpmkey_errf(err, errlen, "%s: the TPM key did not encode as %s", path,
		    TPMKEY_PEM_HEADER);
		goto err;
	}
	rc = pki_file_write(path, p, (size_t)n, 0600, overwrite, err, errlen);
err:
	OSSL_ENCODER_CTX_free(ec);
	BIO_free(b);
	return rc;
}
