/*
 * Unit tests for certs/signer.c: the forked key holder. Issue, refuse bad requests while
 * staying alive, report a dead child, and be reaped by signer_free().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/labpki.h"
#include "certs/pki.h"
#include "certs/signer.h"
#include "tests/unit/testutil.h"

#define DEV_SERIAL	"LK00DEADBEEF"

/* HardwareModuleName { 1.3.6.1.4.1.32473.1.1, "LK00DEADBEEF" } */
static const unsigned char hwmodule[] = {
	0x30, 0x1a,
	0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xfd, 0x59, 0x01, 0x01,
	0x04, 0x0c, 'L', 'K', '0', '0', 'D', 'E', 'A', 'D', 'B', 'E', 'E', 'F',
};

static struct {
	char			dir[64];
	struct domainca_files	dc;
	struct ca_profile	prof;
	X509			*ca;
	EVP_PKEY		*dev;
	unsigned char		*spki;
	size_t			 spki_len;
} F;

static int
setup(void **state)
{
	char err[256], sub[128];
	int n;

	snprintf(F.dir, sizeof(F.dir), "/tmp/lk-signer-XXXXXX");
	if (mkdtemp(F.dir) == NULL)
		return -1;
	snprintf(sub, sizeof(sub), "%s/reg", F.dir);
	if (domainca_create(sub, "example.test", "127.0.0.1", NULL, &F.dc, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "domainca_create: %s\n", err);
		return -1;
	}
	if ((F.ca = pki_cert_read(F.dc.ca_cert, err, sizeof(err))) == NULL ||
	    (F.dev = pki_key_new("p256", err, sizeof(err))) == NULL)
		return -1;
	if ((n = i2d_PUBKEY(F.dev, &F.spki)) <= 0)
		return -1;
	F.spki_len = (size_t)n;
	F.prof.lifetime_days = 30;
	snprintf(F.prof.crl_url, sizeof(F.prof.crl_url), "http://127.0.0.1/crl");
	return 0;
}

static int
teardown(void **state)
{
	OPENSSL_free(F.spki);
	EVP_PKEY_free(F.dev);
	X509_free(F.ca);
	tu_rmtree(F.dir);
	return 0;
}

/* Issue one certificate and check it: CA signature, subject, key. */
static void
issue_ok(struct signer *s)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len;
	char err[256] = "", serial[PKI_SERIAL_MAX];
	X509 *c;

	if (signer_issue(s, DEV_SERIAL, F.spki, F.spki_len, hwmodule, sizeof(hwmodule), &der,
	    &len, err, sizeof(err)) != 0)
		fail_msg("signer_issue: %s", err);
	assert_non_null(der);
	p = der;
	c = d2i_X509(NULL, &p, (long)len);
	assert_non_null(c);
	assert_ptr_equal(p, der + len);
	assert_int_equal(X509_verify(c, X509_get0_pubkey(F.ca)), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(F.ca)), 0);
	assert_int_equal(pki_name_serial(X509_get_subject_name(c), serial, sizeof(serial)), 0);
	assert_string_equal(serial, DEV_SERIAL);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(c), F.dev), 1);
	X509_free(c);
	free(der);
}

static int
child_alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

/* The child keeps only 0..2 (/dev/null) and its socket; -1 when /proc is not readable. */
static int
child_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;	/* not dumpable: only root may look */
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_issue_and_reap(void **state)
{
	char err[256] = "";
	struct signer *s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err));
	pid_t pid;
	int i;

	if (s == NULL)
		fail_msg("signer_start: %s", err);
	pid = signer_pid(s);
	/* the key lives in another process */
	assert_true(pid > 0);
	assert_int_not_equal(pid, getpid());
	for (i = 0; i < 3; i++)
		issue_ok(s);
	i = child_fd_count(pid);
	/* valgrind keeps descriptors of its own in every child: count only without it */
	if (i != -1 && (getenv("LD_PRELOAD") == NULL ||
	    strstr(getenv("LD_PRELOAD"), "vgpreload") == NULL))
		assert_int_equal(i, 4);
	assert_true(child_alive(pid));
	signer_free(s);
	/* reaped: no such child any more */
	errno = 0;
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	signer_free(NULL);
	assert_int_equal(signer_pid(NULL), -1);
}

/* Each bad request is answered with an error; the next good one still works. */
static void
test_bad_requests(void **state)
{
	static unsigned char big[SIGNER_MSG_MAX + 100];
	unsigned char garbage[] = { 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04 };
	unsigned char *weak_spki = NULL, *spki_tail;
	EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	char err[256], longserial[80];
	struct signer *s;
	size_t i;
	int n;

	assert_non_null(weak);
	n = i2d_PUBKEY(weak, &weak_spki);
	assert_true(n > 0);
	spki_tail = malloc(F.spki_len + 1);
	assert_non_null(spki_tail);
	memcpy(spki_tail, F.spki, F.spki_len);
	spki_tail[F.spki_len] = 0;
	memset(longserial, 'A', sizeof(longserial) - 1);
	longserial[sizeof(longserial) - 1] = '\0';

	const struct {
		const char		*name;
		const char		*serial;
		const unsigned char	*spki;
		size_t			 spki_len;
		const unsigned char	*hw;
		size_t			 hw_len;
		const char		*want;	/* substring of err */
	} cases[] = {
		{ "garbage spki", DEV_SERIAL, garbage, sizeof(garbage), NULL, 0, "public key" },
		{ "trailing byte", DEV_SERIAL, spki_tail, F.spki_len + 1, NULL, 0, "public key" },
		{ "weak key", DEV_SERIAL, weak_spki, (size_t)n, NULL, 0, "not allowed" },
		{ "oversized spki", DEV_SERIAL, big, sizeof(big), NULL, 0, "larger than" },
		{ "oversized hw", DEV_SERIAL, F.spki, F.spki_len, big, SIGNER_MSG_MAX, "larger" },
		{ "bad hwmodule", DEV_SERIAL, F.spki, F.spki_len, garbage, sizeof(garbage),
		    "hardwareModuleName" },
		{ "long serial", longserial, F.spki, F.spki_len, NULL, 0, "serial" },
		{ "empty serial", "", F.spki, F.spki_len, NULL, 0, "serial" },
		{ "control char serial", "LK\x01", F.spki, F.spki_len, NULL, 0, "serial" },
		{ "empty spki", DEV_SERIAL, F.spki, 0, NULL, 0, "public key" },
	};
	unsigned char *der;
	size_t len;

	s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err));
	if (s == NULL)
		fail_msg("signer_start: %s", err);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		der = (unsigned char *)"x";
		if (signer_issue(s, cases[i].serial, cases[i].spki, cases[i].spki_len, cases[i].hw,
		    cases[i].hw_len, &der, &len, err, sizeof(err)) != -1)
			fail_msg("case '%s' was accepted", cases[i].name);
		assert_null(der);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case '%s': error '%s'", cases[i].name, err);
		assert_true(child_alive(signer_pid(s)));
		issue_ok(s);
	}
	signer_free(s);
	free(spki_tail);
	OPENSSL_free(weak_spki);
	EVP_PKEY_free(weak);
}

/* A dead child makes requests fail (not hang, not crash); signer_free still reaps it. */
static void
test_dead_child(void **state)
{
	char err[256] = "";
	struct signer *s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err));
	unsigned char *der;
	size_t len;
	pid_t pid;

	assert_non_null(s);
	pid = signer_pid(s);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(signer_issue(s, DEV_SERIAL, F.spki, F.spki_len, NULL, 0, &der, &len,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gone"));
	/* and stays failed */
	assert_int_equal(signer_issue(s, DEV_SERIAL, F.spki, F.spki_len, NULL, 0, &der, &len,
	    err, sizeof(err)), -1);
	signer_free(s);
	errno = 0;
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void
test_start_errors(void **state)
{
	char err[256], other[128];
	struct domainca_files dc2;

	err[0] = '\0';
	assert_null(signer_start(F.dc.ca_cert, "/nonexistent/ca.key", &F.prof, err,
	    sizeof(err)));
	assert_true(err[0] != '\0');
	/* a key that does not belong to the certificate */
	snprintf(other, sizeof(other), "%s/other", F.dir);
	assert_int_equal(domainca_create(other, "other.test", "127.0.0.1", NULL, &dc2, err,
	    sizeof(err)), 0);
	err[0] = '\0';
	assert_null(signer_start(F.dc.ca_cert, dc2.ca_key, &F.prof, err, sizeof(err)));
	assert_non_null(strstr(err, "does not match"));
	assert_null(signer_start(NULL, F.dc.ca_key, &F.prof, err, sizeof(err)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_and_reap),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_dead_child),
		cmocka_unit_test(test_start_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
