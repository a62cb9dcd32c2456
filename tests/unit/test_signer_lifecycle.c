/*
 * Unit tests for the signer's lifecycle (certs/signer.h, Lifecycle): a stalled child is
 * killed when a request's deadline passes and the request fails within the bound; a child
 * that dies while idle is seen without a request (signer_lost, signer_watch_fd); a lost
 * signer fails every later request at once; signer_free() never hangs, even on a stopped
 * child. Every wait here is bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/crl.h"
#include "certs/labpki.h"
#include "certs/pki.h"
#include "certs/signer.h"
#include "tests/unit/testutil.h"

#define DEV_SERIAL	"LK00DEADBEEF"

static struct {
	char			dir[64];
	struct domainca_files	dc;
	struct ca_profile	prof;
	EVP_PKEY		*dev;
	unsigned char		*spki;
	size_t			 spki_len;
} F;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
setup(void **state)
{
	char err[256], sub[128];
	int n;

	snprintf(F.dir, sizeof(F.dir), "/tmp/lk-signerlc-XXXXXX");
	if (mkdtemp(F.dir) == NULL)
		return -1;
	snprintf(sub, sizeof(sub), "%s/reg", F.dir);
	if (domainca_create(sub, "example.test", "127.0.0.1", NULL, &F.dc, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "domainca_create: %s\n", err);
		return -1;
	}
	if ((F.dev = pki_key_new("p256", err, sizeof(err))) == NULL)
		return -1;
	if ((n = i2d_PUBKEY(F.dev, &F.spki)) <= 0)
		return -1;
	F.spki_len = (size_t)n;
	F.prof.lifetime_days = 30;
	return 0;
}

static int
teardown(void **state)
{
	OPENSSL_free(F.spki);
	EVP_PKEY_free(F.dev);
	tu_rmtree(F.dir);
	return 0;
}

static struct signer *
start(void)
{
	char err[256] = "";
	struct signer *s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err));

	if (s == NULL)
		fail_msg("signer_start: %s", err);
	return s;
}

static int
issue(struct signer *s, char *err, size_t errlen)
{
	unsigned char *der = NULL;
	size_t len = 0;
	int rc = signer_issue(s, DEV_SERIAL, F.spki, F.spki_len, NULL, 0, &der, &len, err,
	    errlen);

	free(der);
	return rc;
}

/* 1 when the watch descriptor turns readable within ms (the child exited). */
static int
watch_readable(struct signer *s, int ms)
{
	struct pollfd pfd = { signer_watch_fd(s), POLLIN, 0 };

	return poll(&pfd, 1, ms) == 1;
}

/* pid is gone (reaped): waitpid has nothing left to wait for. */
static void
assert_reaped(pid_t pid)
{
	errno = 0;
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/* A serving signer is not lost; requests within the bound succeed. */
static void
test_serving(void **state)
{
	struct signer *s = start();
	char err[256] = "";
	int i;

	signer_set_timeout(s, 1000);
	for (i = 0; i < 50; i++)
		if (issue(s, err, sizeof(err)) != 0)
			fail_msg("issue %d: %s", i, err);
	assert_int_equal(signer_lost(s), 0);
	if (signer_watch_fd(s) != -1)
		assert_false(watch_readable(s, 0));
	signer_free(s);
}

/* A stopped child: the request fails within its bound, the child is killed, the signer lost. */
static void
test_stall_killed(void **state)
{
	struct signer *s = start();
	struct crl_entry e;
	unsigned char *der = NULL;
	size_t len = 0;
	char err[256] = "";
	pid_t pid = signer_pid(s);
	int64_t t0, took;

	signer_set_timeout(s, 300);
	assert_int_equal(issue(s, err, sizeof(err)), 0);
	assert_int_equal(kill(pid, SIGSTOP), 0);
	t0 = now_ms();
	assert_int_equal(issue(s, err, sizeof(err)), -1);
	took = now_ms() - t0;
	assert_true(took >= 250 && took < 2000);
	assert_non_null(strstr(err, "no answer within 300 ms"));
	assert_int_equal(signer_lost(s), 1);
	/* killed: SIGKILL ends even a stopped process */
	if (signer_watch_fd(s) != -1)
		assert_true(watch_readable(s, 2000));
	/* every later request fails at once, whatever its kind */
	t0 = now_ms();
	assert_int_equal(issue(s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gone"));
	memset(&e, 0, sizeof(e));
	snprintf(e.serial_hex, sizeof(e.serial_hex), "01");
	e.reason = CRL_RC_NONE;
	assert_int_equal(signer_crl(s, &e, 1, 1, 0, 24, &der, &len, err, sizeof(err)), -1);
	assert_null(der);
	assert_true(now_ms() - t0 < 500);
	signer_free(s);
	assert_reaped(pid);
}

/* A child that dies while no request is on the channel is seen without a request. */
static void
test_idle_death_seen(void **state)
{
	struct signer *s = start();
	char err[256] = "";
	pid_t pid = signer_pid(s);
	int i;

	assert_int_equal(signer_lost(s), 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	if (signer_watch_fd(s) == -1) {
		/* no pidfd on this kernel: the next request finds out */
		assert_int_equal(issue(s, err, sizeof(err)), -1);
	} else {
		assert_true(watch_readable(s, 2000));
		for (i = 0; i < 100 && !signer_lost(s); i++)
			usleep(10000);
	}
	assert_int_equal(signer_lost(s), 1);
	assert_int_equal(issue(s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gone"));
	signer_free(s);
	assert_reaped(pid);
}

/* signer_free() of a stopped child (idle) ends within its bound and reaps it. */
static void
test_free_stopped(void **state)
{
	struct signer *s = start();
	pid_t pid = signer_pid(s);
	int64_t t0;

	assert_int_equal(kill(pid, SIGSTOP), 0);
	t0 = now_ms();
	signer_free(s);
	assert_true(now_ms() - t0 < 3000);
	assert_reaped(pid);
	assert_int_equal(signer_lost(NULL), 1);
	assert_int_equal(signer_watch_fd(NULL), -1);
	signer_set_timeout(NULL, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serving),
		cmocka_unit_test(test_stall_killed),
		cmocka_unit_test(test_idle_death_seen),
		cmocka_unit_test(test_free_stopped),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
