/*
 * Unit tests for certs/pki.c: atomic file writes, key and certificate I/O, fingerprints,
 * serials, subject serialNumber and the hardwareModuleName SAN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/pki.h"
#include "tests/unit/testutil.h"

static char	tmpdir[64];

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lk-pki-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	return tu_rmtree(tmpdir);
}

static void
tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static size_t
file_read(const char *path, char *buf, size_t len)
{
	FILE	*f;
	size_t	 n;

	assert_non_null(f = fopen(path, "rb"));
	n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

/* A minimal self-signed certificate for key, with subject CN=cn and optional serialNumber. */
static X509 *
cert_make(EVP_PKEY *key, const char *cn, const char *serial)
{
	X509		*cert;
	X509_NAME	*name;

	assert_non_null(cert = X509_new());
	assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
	assert_int_equal(pki_serial_random(cert), 0);
	name = X509_get_subject_name(cert);
	if (serial != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_serialNumber,
		    MBSTRING_UTF8, (const unsigned char *)serial, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(cert, name), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 3600));
	assert_int_equal(X509_set_pubkey(cert, key), 1);
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	return cert;
}

static void
test_file_write_refuses_overwrite(void **state)
{
	char		path[128], buf[64], err[256];
	struct stat	st;

	(void)state;
	tmp_path(path, sizeof(path), "f1");
	assert_int_equal(pki_file_write(path, "one", 3, 0640, 0, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);

	err[0] = '\0';
	assert_int_equal(pki_file_write(path, "two", 3, 0640, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exists, refusing to overwrite"));
	assert_non_null(strstr(err, path));
	assert_int_equal(file_read(path, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "one", 3);

	assert_int_equal(pki_file_write(path, "three", 5, 0600, 1, err, sizeof(err)), 0);
	assert_int_equal(file_read(path, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "three", 5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Errors name the path; err may be NULL. */
	tmp_path(path, sizeof(path), "no/such/dir");
	assert_int_equal(pki_file_write(path, "x", 1, 0644, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no/such/dir"));
	assert_int_equal(pki_file_write(path, "x", 1, 0644, 0, NULL, 0), -1);
}

static void
test_key_write_read(void **state)
{
	static const struct {
		const char	*type;
		int		 id;
		int		 bits;
	} cases[] = {
		{ NULL, EVP_PKEY_EC, 256 },
		{ "p256", EVP_PKEY_EC, 256 },
		{ "p384", EVP_PKEY_EC, 384 },
		{ "ed25519", EVP_PKEY_ED25519, 256 },
		{ "rsa2048", EVP_PKEY_RSA, 2048 },
	};
	EVP_PKEY	*key, *back;
	char		 path[128], err[256], buf[64];
	struct stat	 st;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_non_null(key = pki_key_new(cases[i].type, err, sizeof(err)));
		assert_int_equal(EVP_PKEY_get_base_id(key), cases[i].id);
		assert_int_equal(EVP_PKEY_get_bits(key), cases[i].bits);
		snprintf(buf, sizeof(buf), "key%zu.pem", i);
		tmp_path(path, sizeof(path), buf);
		assert_int_equal(pki_key_write(path, key, 0, err, sizeof(err)), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		/* PKCS#8, unencrypted. */
		assert_int_equal(file_read(path, buf, 28), 28);
		assert_memory_equal(buf, "-----BEGIN PRIVATE KEY-----\n", 28);
		assert_non_null(back = pki_key_read(path, err, sizeof(err)));
		assert_int_equal(EVP_PKEY_eq(key, back), 1);
		EVP_PKEY_free(back);
		assert_int_equal(pki_key_write(path, key, 0, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "exists"));
		EVP_PKEY_free(key);
	}
	err[0] = '\0';
	assert_null(pki_key_new("p521", err, sizeof(err)));
	assert_non_null(strstr(err, "p521"));
	/* Reading a file that is not a key: error carries OpenSSL's reason. */
	tmp_path(path, sizeof(path), "notakey");
	assert_int_equal(pki_file_write(path, "hello\n", 6, 0600, 0, err, sizeof(err)), 0);
	assert_null(pki_key_read(path, err, sizeof(err)));
	assert_non_null(strstr(err, "notakey"));
	assert_int_equal(ERR_peek_error(), 0);
	tmp_path(path, sizeof(path), "missing");
	assert_null(pki_key_read(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

static void
test_certs_write_read(void **state)
{
	EVP_PKEY	*key;
	X509		*c[3];
	STACK_OF(X509)	*sk;
	char		 path[128], err[256];
	size_t		 i;

	(void)state;
	assert_non_null(key = pki_key_new(NULL, err, sizeof(err)));
	c[0] = cert_make(key, "a", NULL);
	c[1] = cert_make(key, "b", NULL);
	c[2] = cert_make(key, "c", NULL);
	tmp_path(path, sizeof(path), "certs.pem");
	assert_int_equal(pki_certs_write(path, c, 3, 0, err, sizeof(err)), 0);
	assert_non_null(sk = pki_certs_read(path, err, sizeof(err)));
	assert_int_equal(sk_X509_num(sk), 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(X509_cmp(sk_X509_value(sk, (int)i), c[i]), 0);
	sk_X509_pop_free(sk, X509_free);
	{
		X509 *first;

		assert_non_null(first = pki_cert_read(path, err, sizeof(err)));
		assert_int_equal(X509_cmp(first, c[0]), 0);
		X509_free(first);
	}
	assert_int_equal(pki_certs_write(path, c, 0, 1, err, sizeof(err)), -1);

	/* A file without certificates is an error, not an empty stack. */
	tmp_path(path, sizeof(path), "empty.pem");
	assert_int_equal(pki_file_write(path, "nothing\n", 8, 0644, 0, err, sizeof(err)), 0);
	assert_null(pki_certs_read(path, err, sizeof(err)));
	assert_non_null(strstr(err, "no certificates"));
	assert_null(pki_cert_read(path, err, sizeof(err)));

	for (i = 0; i < 3; i++)
		X509_free(c[i]);
	EVP_PKEY_free(key);
}

static void
test_fingerprint_round_trip(void **state)
{
	EVP_PKEY	*key;
	X509		*cert;
	unsigned char	 md[32], parsed[32];
	unsigned int	 mdlen;
	char		 fp[PKI_FP_LEN], alt[PKI_FP_LEN * 2], err[256];
	size_t		 i, j;

	(void)state;
	assert_non_null(key = pki_key_new(NULL, err, sizeof(err)));
	cert = cert_make(key, "fp", NULL);
	assert_int_equal(pki_cert_fingerprint(cert, fp), 0);
	assert_int_equal(strlen(fp), PKI_FP_LEN - 1);
	assert_memory_equal(fp, "sha256:", 7);
	assert_int_equal(strspn(fp + 7, "0123456789abcdef"), 64);
	assert_int_equal(X509_digest(cert, EVP_sha256(), md, &mdlen), 1);
	assert_int_equal(pki_fingerprint_parse(fp, parsed), 0);
	assert_memory_equal(parsed, md, 32);

	/* Upper case, "SHA256:" and colon-separated bytes parse to the same digest. */
	j = (size_t)snprintf(alt, sizeof(alt), "SHA256:");
	for (i = 0; i < 32; i++)
		j += (size_t)snprintf(alt + j, sizeof(alt) - j, "%s%02X", i ? ":" : "", md[i]);
	memset(parsed, 0, sizeof(parsed));
	assert_int_equal(pki_fingerprint_parse(alt, parsed), 0);
	assert_memory_equal(parsed, md, 32);

	assert_int_equal(pki_cert_fingerprint(NULL, fp), -1);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_fingerprint_parse_rejects(void **state)
{
	static const char	*bad[] = {
		"",
		"sha256:",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"sha1:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
		"sha256::0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:",
		"sha256:01::23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"sha256:0123456789abcdef0123456789abcdef 0123456789abcdef0123456789abcdef",
	};
	unsigned char	out[32];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pki_fingerprint_parse(bad[i], out) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(pki_fingerprint_parse(NULL, out), -1);
	assert_int_equal(pki_fingerprint_parse("sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", out), 0);
	assert_int_equal(out[0], 0x01);
	assert_int_equal(out[31], 0xef);
}

static void
test_serials(void **state)
{
	EVP_PKEY	*key;
	X509		*a, *b;
	char		 ha[64], hb[64], tiny[8], err[256];
	ASN1_INTEGER	*ai;

	(void)state;
	assert_non_null(key = pki_key_new(NULL, err, sizeof(err)));
	a = cert_make(key, "a", "LK0123456789");
	b = cert_make(key, "b", NULL);
	assert_int_equal(pki_cert_serial_hex(a, ha, sizeof(ha)), 0);
	assert_int_equal(pki_cert_serial_hex(b, hb, sizeof(hb)), 0);
	assert_int_equal(strlen(ha), 32);	/* 128 bits, top bits fixed: no leading zero */
	assert_int_equal(strspn(ha, "0123456789ABCDEF"), 32);
	assert_string_not_equal(ha, hb);
	assert_int_equal(pki_cert_serial_hex(a, tiny, sizeof(tiny)), -1);
	/* RFC 5280 §4.1.2.2: positive, at most 20 octets. */
	assert_int_equal(i2d_ASN1_INTEGER(X509_get_serialNumber(a), NULL), 2 + 16);

	/* Leading zeros are dropped. */
	assert_non_null(ai = ASN1_INTEGER_new());
	assert_int_equal(ASN1_INTEGER_set(ai, 0x0abc), 1);
	assert_int_equal(X509_set_serialNumber(b, ai), 1);
	ASN1_INTEGER_free(ai);
	assert_int_equal(pki_cert_serial_hex(b, hb, sizeof(hb)), 0);
	assert_string_equal(hb, "ABC");

	assert_int_equal(pki_name_serial(X509_get_subject_name(a), ha, sizeof(ha)), 0);
	assert_string_equal(ha, "LK0123456789");
	assert_int_equal(pki_name_serial(X509_get_subject_name(a), tiny, sizeof(tiny)), -1);
	assert_int_equal(pki_name_serial(X509_get_subject_name(b), hb, sizeof(hb)), -1);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(key);
}

static void
test_hwmodule_san(void **state)
{
	/* Expected DER for {1.3.6.1.4.1.32473.1.1, "LK0001"} (RFC 4108 §5). */
	static const unsigned char want[] = {
		0x30, 0x14,
		0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xfd, 0x59, 0x01, 0x01,
		0x04, 0x06, 'L', 'K', '0', '0', '0', '1',
	};
	EVP_PKEY	*key;
	X509		*cert;
	unsigned char	*der;
	size_t		 len;
	char		 err[256];
	GENERAL_NAMES	*gens;
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;

	(void)state;
	assert_non_null(key = pki_key_new(NULL, err, sizeof(err)));
	cert = cert_make(key, "hw", NULL);
	assert_int_equal(pki_cert_hwmodule(cert, &der, &len), 1);
	assert_null(der);

	/* An existing SAN is kept and extended. */
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name,
	    "DNS:dev.example"));
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_int_equal(pki_add_hwmodule_san(cert, PKI_OID_LAB_HWTYPE, "LK0001", err,
	    sizeof(err)), 0);
	assert_int_equal(X509_get_ext_count(cert), 1);
	assert_non_null(gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL));
	assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 0)->type, GEN_DNS);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 1)->type, GEN_OTHERNAME);
	GENERAL_NAMES_free(gens);

	assert_int_equal(pki_cert_hwmodule(cert, &der, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(der, want, sizeof(want));
	OPENSSL_free(der);

	/* It survives a sign / encode / decode round trip. */
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	{
		unsigned char *buf = NULL;
		const unsigned char *p;
		int n;
		X509 *back;

		assert_true((n = i2d_X509(cert, &buf)) > 0);
		p = buf;
		assert_non_null(back = d2i_X509(NULL, &p, n));
		assert_int_equal(pki_cert_hwmodule(back, &der, &len), 0);
		assert_memory_equal(der, want, sizeof(want));
		OPENSSL_free(der);
		X509_free(back);
		OPENSSL_free(buf);
	}

	err[0] = '\0';
	assert_int_equal(pki_add_hwmodule_san(cert, "not an oid", "LK1", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not an oid"));
	assert_int_equal(pki_add_hwmodule_san(cert, PKI_OID_LAB_HWTYPE, "", err,
	    sizeof(err)), -1);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void
test_err_appends_reason(void **state)
{
	char	err[256];

	(void)state;
	ERR_clear_error();
	assert_int_equal(pki_err(err, sizeof(err), "plain %d", 7), -1);
	assert_string_equal(err, "plain 7");
	assert_null(d2i_X509(NULL, &(const unsigned char *){ (const unsigned char *)"x" },
	    1));
	assert_int_not_equal(ERR_peek_error(), 0);
	assert_int_equal(pki_err(err, sizeof(err), "decode"), -1);
	assert_true(strncmp(err, "decode: ", 8) == 0);
	assert_true(strlen(err) > 8);
	assert_int_equal(ERR_peek_error(), 0);
	/* Truncation is safe. */
	assert_int_equal(pki_err(err, 4, "abcdefgh"), -1);
	assert_string_equal(err, "abc");
	assert_int_equal(pki_err(NULL, 0, "x"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_write_refuses_overwrite),
		cmocka_unit_test(test_key_write_read),
		cmocka_unit_test(test_certs_write_read),
		cmocka_unit_test(test_fingerprint_round_trip),
		cmocka_unit_test(test_fingerprint_parse_rejects),
		cmocka_unit_test(test_serials),
		cmocka_unit_test(test_hwmodule_san),
		cmocka_unit_test(test_err_appends_reason),
	};

	return cmocka_run_group_tests_name("pki", tests, setup_dir, teardown_dir);
}
