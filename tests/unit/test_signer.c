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
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

/*
 * A CA rolled over (ca_profile.retired): its signer issues nothing, whatever the worker
 * sends, and still signs CRLs, OCSP answers' material and pings.
 */
static void
test_retired(void **state)
{
	struct ca_profile prof = F.prof;
	struct crl_entry e;
	unsigned char *der = NULL;
	size_t len = 0;
	char err[256] = "";
	struct signer *s;

	(void)state;
	prof.retired = 1;
	if ((s = signer_start(F.dc.ca_cert, F.dc.ca_key, &prof, err, sizeof(err))) == NULL)
		fail_msg("signer_start: %s", err);
	assert_int_equal(signer_issue(s, DEV_SERIAL, F.spki, F.spki_len, hwmodule,
	    sizeof(hwmodule), &der, &len, err, sizeof(err)), -1);
	assert_null(der);
	assert_non_null(strstr(err, "rolled over"));
	assert_int_equal(signer_lost(s), 0);	/* a refusal, not a lost signer */
	memset(&e, 0, sizeof(e));
	snprintf(e.serial_hex, sizeof(e.serial_hex), "0A0B");
	e.revoked_at = time(NULL) - 60;
	e.reason = CRL_RC_NONE;
	if (signer_crl(s, &e, 1, 7, time(NULL), 24, &der, &len, err, sizeof(err)) != 0)
		fail_msg("signer_crl: %s", err);
	assert_true(len > 0);
	free(der);
	assert_int_equal(signer_ping(s, err, sizeof(err)), 0);
	signer_free(s);
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

/* Sign a checkpoint and check the signature with the CA certificate. */
static void
checkpoint_ok(struct signer *s)
{
	struct signer_checkpoint cp;
	unsigned char *sig = NULL;
	size_t len = 0;
	char err[256] = "";

	memset(&cp, 0, sizeof(cp));
	cp.seq = 7;
	memset(cp.head, 0x5a, sizeof(cp.head));
	snprintf(cp.domain, sizeof(cp.domain), "example.test");
	if (signer_checkpoint(s, &cp, &sig, &len, err, sizeof(err)) != 0)
		fail_msg("signer_checkpoint: %s", err);
	assert_true(cp.at >= time(NULL) - 5 && cp.at <= time(NULL));
	assert_int_equal(signer_checkpoint_verify(F.ca, &cp, sig, len, err, sizeof(err)), 0);
	cp.head[0] ^= 1;
	assert_int_equal(signer_checkpoint_verify(F.ca, &cp, sig, len, err, sizeof(err)), -1);
	free(sig);
}

/*
 * The checkpoint request (type 4): the child signs only the fixed structure of an exact
 * length; every malformed or oversized body is refused and the child keeps serving.
 */
static void
test_checkpoint_requests(void **state)
{
	static unsigned char big[4000];
	unsigned char ok[42 + 12], b[42 + 300], *reply;
	struct signer_checkpoint cp;
	char err[256];
	struct signer *s;
	size_t i, rlen;

	/* a well-formed body: seq 7, head, domain "example.test" */
	memset(ok, 0, sizeof(ok));
	ok[7] = 7;
	memset(ok + 8, 0x5a, 32);
	ok[41] = 12;
	memcpy(ok + 42, "example.test", 12);

	const struct {
		const char	*name;
		size_t		 len;		/* of the body sent */
		size_t		 at;		/* patch byte at (in a copy of ok, grown to len) */
		int		 val;		/* -1: no patch */
		const unsigned char *body;	/* NULL: ok, patched */
		const char	*want;
	} cases[] = {
		{ "empty", 0, 0, -1, NULL, "bad checkpoint request" },
		{ "short", 41, 0, -1, NULL, "bad checkpoint request" },
		{ "domain longer than said", sizeof(ok), 41, 13, NULL, "bad checkpoint request" },
		{ "domain shorter than said", sizeof(ok), 41, 11, NULL, "bad checkpoint request" },
		{ "trailing byte", sizeof(ok) + 1, 41, 12, NULL, "bad checkpoint request" },
		{ "oversize domain", 42 + 300, 40, 1, NULL, "bad checkpoint request" },
		{ "oversize body", sizeof(big), 0, -1, big, "bad checkpoint request" },
		{ "NUL in domain", sizeof(ok), 45, 0, NULL, "bad checkpoint request" },
		{ "newline in domain", sizeof(ok), 45, '\n', NULL, "bad checkpoint fields" },
		{ "non-ASCII domain", sizeof(ok), 45, 0xc3, NULL, "bad checkpoint fields" },
		{ "empty domain", 42, 41, 0, NULL, "bad checkpoint" },
		{ "seq 0", sizeof(ok), 7, 0, NULL, "bad checkpoint fields" },
		{ "negative seq", sizeof(ok), 0, 0x80, NULL, "bad checkpoint fields" },
	};

	s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err));
	if (s == NULL)
		fail_msg("signer_start: %s", err);
	checkpoint_ok(s);
	/* the well-formed raw body is signed: the table below differs from it in one thing */
	assert_int_equal(signer_request_raw(s, 4, ok, sizeof(ok), &reply, &rlen, err,
	    sizeof(err)), 0);
	assert_true(rlen > 8);
	free(reply);
	memset(big, 'A', sizeof(big));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *body = cases[i].body;

		if (body == NULL) {
			memset(b, 'x', sizeof(b));
			memcpy(b, ok, sizeof(ok) < cases[i].len ? sizeof(ok) : cases[i].len);
			if (cases[i].len == 42 + 300) {
				b[40] = 300 >> 8;
				b[41] = 300 & 0xff;
			} else if (cases[i].val != -1)
				b[cases[i].at] = (unsigned char)cases[i].val;
			body = b;
		}
		err[0] = '\0';
		reply = (unsigned char *)"x";
		if (signer_request_raw(s, 4, body, cases[i].len, &reply, &rlen, err,
		    sizeof(err)) != -1)
			fail_msg("case '%s' was signed", cases[i].name);
		assert_null(reply);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("case '%s': error '%s'", cases[i].name, err);
		assert_true(child_alive(signer_pid(s)));
		checkpoint_ok(s);
	}
	/* an unknown type stays unknown */
	assert_int_equal(signer_request_raw(s, 99, ok, sizeof(ok), &reply, &rlen, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown request type"));
	/* the parent refuses bad fields before they reach the child */
	memset(&cp, 0, sizeof(cp));
	cp.seq = 1;
	assert_int_equal(signer_checkpoint(s, &cp, &reply, &rlen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad checkpoint"));
	snprintf(cp.domain, sizeof(cp.domain), "tab\there");
	assert_int_equal(signer_checkpoint(s, &cp, &reply, &rlen, err, sizeof(err)), -1);
	cp.seq = 0;
	snprintf(cp.domain, sizeof(cp.domain), "example.test");
	assert_int_equal(signer_checkpoint(s, &cp, &reply, &rlen, err, sizeof(err)), -1);
	assert_true(child_alive(signer_pid(s)));
	checkpoint_ok(s);
	signer_free(s);
}

/* One CRL of one entry: 0 signed, -1 refused (err says why). */
static int
crl_of(struct signer *s, int64_t this_update, unsigned hours, char *err, size_t errlen)
{
	struct crl_entry e;
	unsigned char *der = NULL;
	size_t len = 0;
	int rc;

	memset(&e, 0, sizeof(e));
	snprintf(e.serial_hex, sizeof(e.serial_hex), "0A");
	e.revoked_at = this_update - 60;
	e.reason = CRL_RC_NONE;
	rc = signer_crl(s, &e, 1, 7, this_update, hours, &der, &len, err, errlen);
	assert_true(rc == 0 ? der != NULL && len > 0 : der == NULL);
	free(der);
	return rc;
}

/* One OCSP response (a good status for one CertID): 0 signed, -1 refused. */
static int
ocsp_of(struct signer *s, int64_t this_update, unsigned hours, char *err, size_t errlen)
{
	struct ocsp_query q;
	struct ocsp_status st;
	unsigned char *der = NULL;
	size_t len = 0;
	int rc;

	memset(&q, 0, sizeof(q));
	q.nids = 1;
	q.ids[0].hash = OCSP_HASH_SHA1;
	q.ids[0].params_null = 1;
	q.ids[0].hash_len = 20;
	memset(q.ids[0].name_hash, 0x11, 20);
	memset(q.ids[0].key_hash, 0x22, 20);
	snprintf(q.ids[0].serial_hex, sizeof(q.ids[0].serial_hex), "0A");
	memset(&st, 0, sizeof(st));
	st.status = OCSP_CERT_GOOD;
	st.reason = -1;
	rc = signer_ocsp(s, &q, &st, this_update, hours, &der, &len, err, errlen);
	assert_true(rc == 0 ? der != NULL && len > 0 : der == NULL);
	free(der);
	return rc;
}

/*
 * Item 11: the signer bounds what it signs besides LDevIDs. A CRL or OCSP response valid
 * longer than the configured maximum, or starting ahead of the signer's clock, is refused
 * with a reason; the signer stays up and signs what is within bounds.
 */
static void
test_validity_bounds(void **state)
{
	struct signer_conf sc;
	struct signer *s;
	char err[256] = "";
	int64_t now = (int64_t)time(NULL);

	(void)state;
	signer_configure(NULL);		/* the defaults: CRL 48 h, OCSP 24 h */
	if ((s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err))) == NULL)
		fail_msg("signer_start: %s", err);
	assert_int_equal(crl_of(s, now, 24, err, sizeof(err)), 0);	/* latchkeyd's */
	assert_int_equal(crl_of(s, now, SIGNER_CRL_MAX_HOURS, err, sizeof(err)), 0);
	assert_int_equal(crl_of(s, now, SIGNER_CRL_MAX_HOURS + 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CRL validity of 49 hours refused"));
	assert_int_equal(crl_of(s, now, 87600, err, sizeof(err)), -1);
	assert_int_equal(crl_of(s, now, 0, err, sizeof(err)), -1);
	/* a nextUpdate pushed out through thisUpdate instead */
	assert_int_equal(crl_of(s, now + 7 * 24 * 3600, 24, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "thisUpdate"));
	assert_int_equal(crl_of(s, now + 60, 24, err, sizeof(err)), 0);	/* skew */
	assert_int_equal(crl_of(s, now - 3600, 24, err, sizeof(err)), 0);

	assert_int_equal(ocsp_of(s, now, 1, err, sizeof(err)), 0);	/* latchkeyd's */
	assert_int_equal(ocsp_of(s, now, SIGNER_OCSP_MAX_HOURS, err, sizeof(err)), 0);
	assert_int_equal(ocsp_of(s, now, SIGNER_OCSP_MAX_HOURS + 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "OCSP response validity of 25 hours refused"));
	assert_int_equal(ocsp_of(s, now + 3600, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "thisUpdate"));
	/* refusals are answers, not failures: the signer still serves */
	assert_int_equal(signer_lost(s), 0);
	issue_ok(s);
	signer_free(s);

	/* configured maxima, fixed at the signer's start */
	memset(&sc, 0, sizeof(sc));
	sc.crl_max_hours = 30;
	sc.ocsp_max_hours = 2;
	signer_configure(&sc);
	if ((s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err))) == NULL)
		fail_msg("signer_start: %s", err);
	signer_configure(NULL);		/* later signers only; this one keeps 30 and 2 */
	assert_int_equal(crl_of(s, now, 30, err, sizeof(err)), 0);
	assert_int_equal(crl_of(s, now, 31, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the maximum is 30"));
	assert_int_equal(ocsp_of(s, now, 2, err, sizeof(err)), 0);
	assert_int_equal(ocsp_of(s, now, 3, err, sizeof(err)), -1);
	signer_free(s);
}

static void
read_ids(pid_t pid, const char *field, unsigned v[4])
{
	char path[64], line[256];
	size_t fl = strlen(field);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	v[0] = v[1] = v[2] = v[3] = ~0u;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			assert_int_equal(sscanf(line + fl + 1, "%u %u %u %u", &v[0], &v[1],
			    &v[2], &v[3]), 4);
	fclose(f);
}

/*
 * As root: the child reads the key (root's, 0600), then drops to the configured user (here
 * nobody) with its owner's uid as its saved uid; it still issues, and its owner can still
 * kill and reap it (signer_free).
 */
static void
test_privdrop(void **state)
{
	struct signer_conf sc;
	struct signer *s;
	struct passwd *pw;
	char err[256] = "";
	unsigned u[4], g[4];
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL || pw->pw_uid == 0) {
		skip();
		return;
	}
	memset(&sc, 0, sizeof(sc));
	sc.drop = 1;
	sc.uid = pw->pw_uid;
	sc.gid = pw->pw_gid;
	sc.owner_uid = pw->pw_uid - 1;	/* a worker's user, say */
	snprintf(sc.user, sizeof(sc.user), "nobody");
	signer_configure(&sc);
	s = signer_start(F.dc.ca_cert, F.dc.ca_key, &F.prof, err, sizeof(err));
	signer_configure(NULL);
	if (s == NULL)
		fail_msg("signer_start: %s", err);
	pid = signer_pid(s);
	read_ids(pid, "Uid", u);
	read_ids(pid, "Gid", g);
	assert_int_equal(u[0], pw->pw_uid);
	assert_int_equal(u[1], pw->pw_uid);
	assert_int_equal(u[2], pw->pw_uid - 1);
	assert_int_equal(u[3], pw->pw_uid);
	assert_int_equal(g[0], pw->pw_gid);
	assert_int_equal(g[1], pw->pw_gid);
	assert_int_equal(g[2], pw->pw_gid);
	issue_ok(s);
	signer_free(s);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);	/* reaped */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_and_reap),
		cmocka_unit_test(test_retired),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_dead_child),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_validity_bounds),
		cmocka_unit_test(test_privdrop),
		cmocka_unit_test(test_checkpoint_requests),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
