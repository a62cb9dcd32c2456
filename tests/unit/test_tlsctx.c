/*
 * test_tlsctx: the TLS servers' library context (certs/tlsctx.c). Certificates of every
 * key type a TLS handshake signs with decode in it with a usable key; a TLS 1.3 handshake with a
 * server SSL_CTX in it and client certificates of those types completes, and both sides
 * agree on the data and the exporter; and the window is narrow: no PEM or private-key
 * decoders there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "certs/tlsctx.h"

/* every key type a TLS certificate signs with */
static const char *const key_types[] = {
	"p256", "p384", "p521", "ed25519", "ed448", "rsa2048", "rsa-pss"
};
#define NKEYS	(sizeof(key_types) / sizeof(key_types[0]))
static EVP_PKEY *keys[NKEYS];
static X509 *certs[NKEYS];

static EVP_PKEY *
make_key(const char *type)
{
	if (strcmp(type, "p521") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	if (strcmp(type, "ed448") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	if (strcmp(type, "rsa-pss") == 0) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
		EVP_PKEY *k = NULL;

		if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
		    EVP_PKEY_CTX_set_rsa_keygen_bits(c, 2048) != 1 || EVP_PKEY_generate(c, &k) != 1)
			k = NULL;
		EVP_PKEY_CTX_free(c);
		return k;
	}
	return pki_key_new(type, NULL, 0);
}

/* A self-signed certificate for key (the signature digest the key needs). */
static X509 *
self_signed(EVP_PKEY *key, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(x);
	assert_non_null(n);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, pki_sig_md(key)) > 0);
	X509_NAME_free(n);
	return x;
}

static int
setup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NKEYS; i++)
		if ((keys[i] = make_key(key_types[i])) == NULL ||
		    (certs[i] = self_signed(keys[i], key_types[i])) == NULL) {
			fprintf(stderr, "setup: %s\n", key_types[i]);
			ERR_print_errors_fp(stderr);
			return -1;
		}
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NKEYS; i++) {
		X509_free(certs[i]);
		EVP_PKEY_free(keys[i]);
	}
	return 0;
}

static void
test_same_context(void **state)
{
	char err[256];
	OSSL_LIB_CTX *a = tlsctx_libctx(err, sizeof(err));

	(void)state;
	assert_non_null(a);
	assert_ptr_equal(tlsctx_libctx(err, sizeof(err)), a);
}

static void
test_certificates_decode(void **state)
{
	OSSL_LIB_CTX *lc = tlsctx_libctx(NULL, 0);
	size_t i;

	(void)state;
	assert_non_null(lc);
	for (i = 0; i < NKEYS; i++) {
		EVP_PKEY *key = keys[i];
		X509 *x = certs[i], *y;
		unsigned char *der = NULL;
		const unsigned char *p;
		int len = i2d_X509(x, &der);

		assert_true(len > 0);
		p = der;
		y = (X509 *)ASN1_item_d2i_ex(NULL, &p, len, ASN1_ITEM_rptr(X509), lc, NULL);
		if (y == NULL || X509_get0_pubkey(y) == NULL)
			fail_msg("%s: the certificate's key does not decode in the TLS context",
			    key_types[i]);
		assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(y), key), 1);
		/* its own signature verifies with the key decoded there */
		assert_int_equal(X509_verify(y, X509_get0_pubkey(y)), 1);
		X509_free(y);
		OPENSSL_free(der);
	}
}

/* Decoders for a SubjectPublicKeyInfo in DER, and none for PEM or private keys. */
static int
ndecoders(OSSL_LIB_CTX *lc, const char *input, const char *structure, int selection)
{
	EVP_PKEY *pk = NULL;
	OSSL_DECODER_CTX *d = OSSL_DECODER_CTX_new_for_pkey(&pk, input, structure, NULL,
	    selection, lc, NULL);
	int n = d != NULL ? OSSL_DECODER_CTX_get_num_decoders(d) : 0;

	OSSL_DECODER_CTX_free(d);
	ERR_clear_error();
	return n;
}

static void
test_narrow(void **state)
{
	OSSL_LIB_CTX *lc = tlsctx_libctx(NULL, 0);

	(void)state;
	assert_non_null(lc);
	assert_true(ndecoders(lc, "DER", "SubjectPublicKeyInfo", EVP_PKEY_PUBLIC_KEY) > 0);
	assert_int_equal(ndecoders(lc, "PEM", NULL, EVP_PKEY_KEYPAIR), 0);
	assert_int_equal(ndecoders(lc, "DER", "PrivateKeyInfo", EVP_PKEY_KEYPAIR), 0);
	/* the default context has them all, and more for the same public key */
	assert_true(ndecoders(NULL, "PEM", NULL, EVP_PKEY_KEYPAIR) > 0);
	assert_true(ndecoders(NULL, "DER", "SubjectPublicKeyInfo", EVP_PKEY_PUBLIC_KEY) >
	    ndecoders(lc, "DER", "SubjectPublicKeyInfo", EVP_PKEY_PUBLIC_KEY));
}

static int
accept_any(X509_STORE_CTX *x, void *arg)
{
	(void)x;
	(void)arg;
	return 1;
}

/* One TLS 1.3 handshake over a BIO pair, then a request and an answer. */
static void
handshake(SSL_CTX *sctx, SSL_CTX *cctx, EVP_PKEY *ckey, const char *what)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *sb, *cb;
	unsigned char es[32], ec[32];
	char buf[16];
	int i, sdone = 0, cdone = 0;

	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (i = 0; i < 20 && !(sdone && cdone); i++) {
		if (!cdone && SSL_do_handshake(c) == 1)
			cdone = 1;
		if (!sdone && SSL_do_handshake(s) == 1)
			sdone = 1;
	}
	if (!sdone || !cdone)
		fail_msg("%s: the handshake did not complete", what);
	assert_int_equal(SSL_version(s), TLS1_3_VERSION);
	assert_non_null(SSL_get0_peer_certificate(s));
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(SSL_get0_peer_certificate(s)), ckey), 1);
	assert_int_equal(SSL_write(c, "request", 7), 7);
	assert_int_equal(SSL_read(s, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "request", 7);
	assert_int_equal(SSL_write(s, "answer", 6), 6);
	assert_int_equal(SSL_read(c, buf, sizeof(buf)), 6);
	assert_int_equal(SSL_export_keying_material(s, es, sizeof(es), "EXPORTER-Channel-Binding",
	    24, NULL, 0, 0), 1);
	assert_int_equal(SSL_export_keying_material(c, ec, sizeof(ec), "EXPORTER-Channel-Binding",
	    24, NULL, 0, 0), 1);
	assert_memory_equal(es, ec, sizeof(es));
	SSL_free(c);
	SSL_free(s);
}

static void
test_handshake(void **state)
{
	OSSL_LIB_CTX *lc = tlsctx_libctx(NULL, 0);
	size_t i, j;

	(void)state;
	assert_non_null(lc);
	/* the server's own key of each kind too: read in the default context, used in this one */
	for (j = 0; j < NKEYS; j++) {
		EVP_PKEY *skey = keys[j];
		X509 *scert = certs[j];
		SSL_CTX *sctx = SSL_CTX_new_ex(lc, NULL, TLS_server_method());

		assert_non_null(sctx);
		assert_int_equal(SSL_CTX_use_certificate(sctx, scert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(sctx, skey), 1);
		SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		SSL_CTX_set_cert_verify_callback(sctx, accept_any, NULL);
		for (i = 0; i < NKEYS; i++) {
			EVP_PKEY *ckey = keys[i];
			X509 *ccert = certs[i];
			SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
			char what[64];

			assert_non_null(cctx);
			assert_int_equal(SSL_CTX_use_certificate(cctx, ccert), 1);
			assert_int_equal(SSL_CTX_use_PrivateKey(cctx, ckey), 1);
			snprintf(what, sizeof(what), "server %s, client %s", key_types[j],
			    key_types[i]);
			handshake(sctx, cctx, ckey, what);
			SSL_CTX_free(cctx);
		}
		SSL_CTX_free(sctx);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_context),
		cmocka_unit_test(test_certificates_decode),
		cmocka_unit_test(test_narrow),
		cmocka_unit_test(test_handshake),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
