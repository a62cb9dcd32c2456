/* Unit tests for certs/certder.c against OpenSSL's own parsing and PKCS#7 encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/x509.h>

#include "certs/certder.h"
#include "certs/labpki.h"
#include "certs/p7.h"
#include "certs/pki.h"

struct fx {
	char		 dir[64];
	X509		*certs[2];
	unsigned char	*der[2];
	size_t		 len[2];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct domainca_files files;
	char err[256];
	int i;

	strcpy(f->dir, "/tmp/lk-certder.XXXXXX");
	if (mkdtemp(f->dir) == NULL ||
	    domainca_create(f->dir, "der.test", "127.0.0.1", NULL, &files, err, sizeof(err)))
		return -1;
	f->certs[0] = pki_cert_read(files.tls_cert, err, sizeof(err));
	f->certs[1] = pki_cert_read(files.ca_cert, err, sizeof(err));
	for (i = 0; i < 2; i++) {
		f->der[i] = NULL;
		f->len[i] = (size_t)i2d_X509(f->certs[i], &f->der[i]);
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	int i;

	for (i = 0; i < 2; i++) {
		X509_free(f->certs[i]);
		OPENSSL_free(f->der[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static int64_t
t2unix(const ASN1_TIME *t)
{
	struct tm tm;

	ASN1_TIME_to_tm(t, &tm);
	return (int64_t)timegm(&tm);
}

static void
test_info_matches_openssl(void **state)
{
	struct fx *f = *state;
	char hex[64], want[64];
	int64_t nb, na;
	int i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(certder_info(f->der[i], f->len[i], hex, sizeof(hex), &nb, &na), 0);
		assert_int_equal(pki_cert_serial_hex(f->certs[i], want, sizeof(want)), 0);
		assert_string_equal(hex, want);
		assert_int_equal(nb, t2unix(X509_get0_notBefore(f->certs[i])));
		assert_int_equal(na, t2unix(X509_get0_notAfter(f->certs[i])));
	}
}

static void
test_info_rejects_truncation(void **state)
{
	struct fx *f = *state;
	char hex[64];
	int64_t nb, na;
	size_t cut;

	/* every prefix that ends before the validity dates is refused, never over-read */
	for (cut = 0; cut < 200 && cut < f->len[0]; cut++)
		assert_int_equal(certder_info(f->der[0], cut, hex, sizeof(hex), &nb, &na), -1);
	assert_int_equal(certder_info(f->der[0], f->len[0], hex, 4, &nb, &na), -1);
}

static void
test_p7_identical_to_openssl(void **state)
{
	struct fx *f = *state;
	const unsigned char *ders[2] = { f->der[0], f->der[1] };
	unsigned char *mine, *theirs;
	size_t mlen, tlen, n;
	char err[256];
	STACK_OF(X509) *back;

	for (n = 1; n <= 2; n++) {
		assert_int_equal(certder_p7_certs(ders, f->len, n, &mine, &mlen), 0);
		assert_int_equal(p7_certs_encode(f->certs, n, &theirs, &tlen, err, sizeof(err)), 0);
		assert_int_equal(mlen, tlen);
		assert_memory_equal(mine, theirs, mlen);
		back = p7_certs_decode(mine, mlen, err, sizeof(err));
		assert_non_null(back);
		assert_int_equal(sk_X509_num(back), (int)n);
		sk_X509_pop_free(back, X509_free);
		free(mine);
		free(theirs);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_matches_openssl),
		cmocka_unit_test(test_info_rejects_truncation),
		cmocka_unit_test(test_p7_identical_to_openssl),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
