/* Unit tests for certs/csr.c: a table of PKCS#10 requests built here with OpenSSL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/csr.h"
#include "certs/pki.h"

enum mutation {
	M_NONE,
	M_TRUNCATE,	/* drop the last 7 bytes */
	M_TRAILING,	/* one extra byte after the request */
	M_TAMPER_SIG,	/* flip a bit in the signature's last byte */
	M_TAMPER_TBS,	/* flip a bit inside the signed subject */
	M_GARBAGE,	/* not DER at all */
	M_EMPTY,
	M_OFF_CURVE,	/* flip a bit in the EC point's last coordinate byte */
};

struct csr_case {
	const char	*name;
	const char	*key;		/* pki_key_new() type, or "rsa1024" / "secp256k1" /
					   "p256c" (P-256, compressed point) */
	const char	*serial;	/* subject serialNumber or NULL */
	int		 chal_type;	/* V_ASN1_* of challengePassword, 0 = none */
	const char	*chal;		/* as bytes of that type */
	int		 chal_len;
	enum mutation	 mut;
	enum csr_status	 want;
	const char	*want_chal;	/* UTF-8 expected back */
	const char	*want_desc;
};

/* "pässwörd" in UTF-8 and as BMPString (UCS-2 big-endian). */
#define CHAL_UTF8	"p\xc3\xa4ssw\xc3\xb6rd"
static const char chal_bmp[] = {
	0, 'p', 0, (char)0xe4, 0, 's', 0, 's', 0, 'w', 0, (char)0xf6, 0, 'r', 0, 'd',
};
static char chal_long[300];

static const struct csr_case cases[] = {
	{ "p256 printable challenge", "p256", "LK00AA11BB22", V_ASN1_PRINTABLESTRING, "s3cret",
	    6, M_NONE, CSR_OK, "s3cret", "P-256" },
	{ "no challenge", "p256", "LK00AA11BB22", 0, NULL, 0, M_NONE, CSR_OK, NULL, "P-256" },
	{ "utf8 challenge", "p256", "LK1", V_ASN1_UTF8STRING, CHAL_UTF8,
	    (int)sizeof(CHAL_UTF8) - 1, M_NONE, CSR_OK, CHAL_UTF8, "P-256" },
	{ "bmp challenge", "p256", "LK1", V_ASN1_BMPSTRING, chal_bmp, (int)sizeof(chal_bmp),
	    M_NONE, CSR_OK, CHAL_UTF8, "P-256" },
	{ "ia5 challenge", "p256", "LK1", V_ASN1_IA5STRING, "otp-1234", 8, M_NONE, CSR_OK,
	    "otp-1234", "P-256" },
	{ "challenge too long", "p256", "LK1", V_ASN1_UTF8STRING, chal_long,
	    (int)sizeof(chal_long), M_NONE, CSR_BAD_DER, NULL, NULL },
	{ "challenge max length", "p256", "LK1", V_ASN1_UTF8STRING, chal_long,
	    CSR_CHALLENGE_MAX - 1, M_NONE, CSR_OK, NULL, "P-256" },
	{ "octet string challenge", "p256", "LK1", V_ASN1_OCTET_STRING, "abc", 3, M_NONE,
	    CSR_BAD_DER, NULL, NULL },
	{ "no serialNumber", "p256", NULL, 0, NULL, 0, M_NONE, CSR_OK, NULL, "P-256" },
	{ "bad DER", "p256", "LK1", 0, NULL, 0, M_GARBAGE, CSR_BAD_DER, NULL, NULL },
	{ "empty", "p256", "LK1", 0, NULL, 0, M_EMPTY, CSR_BAD_DER, NULL, NULL },
	{ "truncated DER", "p256", "LK1", 0, NULL, 0, M_TRUNCATE, CSR_BAD_DER, NULL, NULL },
	{ "trailing garbage", "p256", "LK1", 0, NULL, 0, M_TRAILING, CSR_BAD_DER, NULL, NULL },
	{ "tampered signature", "p256", "LK1", 0, NULL, 0, M_TAMPER_SIG, CSR_BAD_SIGNATURE,
	    NULL, NULL },
	{ "tampered subject", "p256", "LK1", 0, NULL, 0, M_TAMPER_TBS, CSR_BAD_SIGNATURE,
	    NULL, NULL },
	{ "p384", "p384", "LK1", 0, NULL, 0, M_NONE, CSR_OK, NULL, "P-384" },
	{ "ed25519", "ed25519", "LK1", V_ASN1_PRINTABLESTRING, "pw", 2, M_NONE, CSR_OK, "pw",
	    "Ed25519" },
	{ "rsa2048", "rsa2048", "LK1", 0, NULL, 0, M_NONE, CSR_OK, NULL, "RSA-2048" },
	{ "rsa1024 weak", "rsa1024", "LK1", 0, NULL, 0, M_NONE, CSR_WEAK_KEY, NULL, NULL },
	{ "secp256k1 weak", "secp256k1", "LK1", 0, NULL, 0, M_NONE, CSR_WEAK_KEY, NULL, NULL },
	/* csr_check imports EC keys from their parameters, not through OpenSSL's decoders */
	{ "p256 compressed point", "p256c", "LK1", 0, NULL, 0, M_NONE, CSR_OK, NULL, "P-256" },
	{ "p256 point off the curve", "p256", "LK1", 0, NULL, 0, M_OFF_CURVE, CSR_WEAK_KEY,
	    NULL, NULL },
	{ "p384 point off the curve", "p384", "LK1", 0, NULL, 0, M_OFF_CURVE, CSR_WEAK_KEY,
	    NULL, NULL },
};

static EVP_PKEY *keys[sizeof(cases) / sizeof(cases[0])];

static EVP_PKEY *
make_key(const char *type)
{
	if (strcmp(type, "rsa1024") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (strcmp(type, "secp256k1") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	if (strcmp(type, "p256c") == 0) {
		EVP_PKEY *k = pki_key_new("p256", NULL, 0);

		if (k != NULL && EVP_PKEY_set_utf8_string_param(k,
		    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed") != 1) {
			EVP_PKEY_free(k);
			return NULL;
		}
		return k;
	}
	return pki_key_new(type, NULL, 0);
}

/* DER of a CSR for case c, signed by key; *len set. */
static unsigned char *
make_csr(const struct csr_case *c, EVP_PKEY *key, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	unsigned char *der = NULL;
	int n;

	assert_non_null(req);
	assert_non_null(nm);
	if (c->serial != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_serialNumber, MBSTRING_ASC,
		    (const unsigned char *)c->serial, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)"device", -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, nm), 1);
	X509_NAME_free(nm);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (c->chal_type != 0)
		assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
		    c->chal_type, (const unsigned char *)c->chal, c->chal_len), 1);
	assert_true(X509_REQ_sign(req, key,
	    EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	X509_REQ_free(req);
	*len = (size_t)n;
	return der;
}

static int
setup(void **state)
{
	size_t i;

	memset(chal_long, 'x', sizeof(chal_long));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Reuse one key per type: RSA generation dominates otherwise. */
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(cases[j].key, cases[i].key) == 0)
				break;
		if (j < i) {
			keys[i] = keys[j];
			EVP_PKEY_up_ref(keys[i]);
		} else
			keys[i] = make_key(cases[i].key);
		if (keys[i] == NULL)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

static void
test_csr_table(void **state)
{
	size_t i, len, spki_len;
	unsigned char *der, *buf, *spki;
	struct csr_info info;
	enum csr_status st;
	char err[256];
	int n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct csr_case *c = &cases[i];

		der = make_csr(c, keys[i], &len);
		buf = malloc(len + 1);
		assert_non_null(buf);
		memcpy(buf, der, len);
		switch (c->mut) {
		case M_NONE:
			break;
		case M_TRUNCATE:
			len -= 7;
			break;
		case M_TRAILING:
			buf[len++] = 0x00;
			break;
		case M_TAMPER_SIG:
			buf[len - 1] ^= 0x01;
			break;
		case M_TAMPER_TBS:
			/* last byte of "device", the CN value inside certificationRequestInfo */
			{
				unsigned char *p = memmem(buf, len, "device", 6);

				assert_non_null(p);
				p[5] ^= 0x01;
			}
			break;
		case M_GARBAGE:
			memset(buf, 0xa5, len);
			break;
		case M_EMPTY:
			len = 0;
			break;
		case M_OFF_CURVE:
			/* the SubjectPublicKeyInfo ends with the point's last byte */
			{
				unsigned char *k = NULL, *p;
				int kl = i2d_PUBKEY(keys[i], &k);

				assert_true(kl > 0);
				assert_non_null(p = memmem(buf, len, k, (size_t)kl));
				p[kl - 1] ^= 0x01;
				OPENSSL_free(k);
			}
			break;
		}
		memset(&info, 0x5a, sizeof(info));	/* csr_check must initialise it */
		err[0] = '\0';
		st = csr_check(buf, len, &info, err, sizeof(err));
		if (st != c->want)
			fail_msg("case '%s': status %d, want %d (%s)", c->name, st, c->want, err);
		if (st != CSR_OK) {
			if (err[0] == '\0')
				fail_msg("case '%s': no error text", c->name);
			if (c->mut == M_OFF_CURVE && strstr(err, "does not decode") == NULL)
				fail_msg("case '%s': %s", c->name, err);
			assert_null(info.spki_der);
		} else {
			assert_string_equal(info.key_desc, c->want_desc);
			assert_string_equal(info.serial, c->serial != NULL ? c->serial : "");
			assert_int_equal(info.has_challenge, c->chal_type != 0);
			if (c->want_chal != NULL)
				assert_string_equal(info.challenge, c->want_chal);
			else if (c->chal_type != 0)
				assert_int_equal(strlen(info.challenge), c->chal_len);
			else
				assert_string_equal(info.challenge, "");
			spki = NULL;
			n = i2d_PUBKEY(keys[i], &spki);
			spki_len = (size_t)n;
			assert_int_equal(info.spki_len, spki_len);
			assert_memory_equal(info.spki_der, spki, spki_len);
			OPENSSL_free(spki);
		}
		csr_info_free(&info);
		assert_null(info.spki_der);
		free(buf);
		OPENSSL_free(der);
	}
	csr_info_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csr_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
