/*
 * tlsctx: the library context of latchkeyd's TLS servers (see tlsctx.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "certs/pki.h"
#include "certs/tlsctx.h"

#define TLSCTX_PROVIDER	"latchkey-tls"
#define MAX_DECODERS	32

static OSSL_PROVIDER *deflt;			/* the default provider, default context */
static OSSL_ALGORITHM decoders[MAX_DECODERS + 1];	/* the SPKI ones, NULL-terminated */
static OSSL_LIB_CTX *tls_ctx;

/* 1 when the comma-separated property definition has exactly the property kv. */
static int
has_prop(const char *def, const char *kv)
{
	size_t n = strlen(kv);
	const char *p = def;

	while ((p = strstr(p, kv)) != NULL) {
		if ((p == def || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

/*
 * The key types a certificate in our TLS handshakes can hold: the signature schemes of TLS
 * 1.3 (ECDSA on any named curve, RSA-PSS with an RSA or RSA-PSS key, Ed25519, Ed448) and
 * the ECDSA and RSA suites we take in TLS 1.2. Not DSA, DH, X25519, X448 or SM2: no
 * handshake of ours can sign with them, and each decoder kept costs every parse.
 */
static int
signing_type(const char *names)
{
	static const char *const types[] = { "EC", "RSA", "RSA-PSS", "ED25519", "ED448" };
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(names, types[i]) == 0)
			return 1;
	return 0;
}

static const OSSL_ALGORITHM *
fwd_query(void *provctx, int op, int *no_cache)
{
	(void)provctx;
	if (op == OSSL_OP_DECODER) {
		*no_cache = 0;
		return decoders;
	}
	return OSSL_PROVIDER_query_operation(deflt, op, no_cache);
}

static const OSSL_PARAM *
fwd_gettable_params(void *provctx)
{
	(void)provctx;
	return OSSL_PROVIDER_gettable_params(deflt);
}

static int
fwd_get_params(void *provctx, OSSL_PARAM params[])
{
	(void)provctx;
	return OSSL_PROVIDER_get_params(deflt, params);
}

/* TLS-GROUP: the groups libssl may negotiate, the default provider's. */
static int
fwd_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb, void *arg)
{
	(void)provctx;
	return OSSL_PROVIDER_get_capabilities(deflt, capability, cb, arg);
}

/* The provider context is the default provider's: nothing of ours to free. */
static void
fwd_teardown(void *provctx)
{
	(void)provctx;
}

static const OSSL_DISPATCH fwd_dispatch[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))fwd_query },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))fwd_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))fwd_get_params },
	{ OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))fwd_get_capabilities },
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))fwd_teardown },
	{ 0, NULL }
};

static int
fwd_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
    void **provctx)
{
	const OSSL_ALGORITHM *a;
	size_t n = 0;
	int no_cache;

	(void)handle;
	(void)in;
	if ((a = OSSL_PROVIDER_query_operation(deflt, OSSL_OP_DECODER, &no_cache)) == NULL)
		return 0;
	for (; a->algorithm_names != NULL; a++)
		if (a->property_definition != NULL && signing_type(a->algorithm_names) &&
		    has_prop(a->property_definition, "input=der") &&
		    has_prop(a->property_definition, "structure=SubjectPublicKeyInfo")) {
			if (n == MAX_DECODERS)
				return 0;
			decoders[n++] = *a;
		}
	if (n == 0)
		return 0;
	memset(&decoders[n], 0, sizeof(decoders[n]));
	*out = fwd_dispatch;
	*provctx = OSSL_PROVIDER_get0_provider_ctx(deflt);
	return *provctx != NULL;
}

OSSL_LIB_CTX *
tlsctx_libctx(char *err, size_t errlen)
{
	OSSL_LIB_CTX *c;

	if (tls_ctx != NULL)
		return tls_ctx;
	if (deflt == NULL && (deflt = OSSL_PROVIDER_load(NULL, "default")) == NULL) {
		pki_err(err, errlen, "TLS library context: cannot load the default provider");
		return NULL;
	}
	if ((c = OSSL_LIB_CTX_new()) == NULL ||
	    OSSL_PROVIDER_add_builtin(c, TLSCTX_PROVIDER, fwd_init) != 1 ||
	    OSSL_PROVIDER_load(c, TLSCTX_PROVIDER) == NULL) {
		pki_err(err, errlen, "TLS library context: cannot set up its provider");
		OSSL_LIB_CTX_free(c);
		return NULL;
	}
	return tls_ctx = c;
}
