/*
 * signer: a forked child that alone holds the domain CA's private key and issues LDevIDs on
 * request over a socketpair (the relayd "ca" process pattern, STYLE.md).
 *
 * Framing (all integers big-endian):
 *   request  = u32 type | u32 len | body[len]        type 1 = ISSUE_LDEVID, 2 = CRL, 3 = OCSP,
 *                                                     4 = CHECKPOINT (signer.h)
 *   ISSUE    = u16 serial_len | serial | u16 spki_len | spki | u16 hw_len | hw
 *   CRL      = u64 crl_number | i64 this_update | u32 next_update_hours | entries
 *              (crl_entries_encode framing, certs/crl.h)
 *   OCSP     = u32 query_len | query | u32 status_len | status | i64 this_update |
 *              u32 next_update_hours (ocsp_query_encode / ocsp_status_encode framing)
 *   response = u32 status (0 ok) | u32 len | body[len] (DER, or one line of error text)
 * Header + body never exceed SIGNER_MSG_MAX, except CRL requests and answers, which are
 * bounded by SIGNER_LARGE_MAX; every length is checked before it is used.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/ca.h"
#include "certs/crl.h"
#include "certs/keyref.h"
#include "certs/ocsp.h"
#include "certs/pki.h"
#include "certs/signer.h"

#define SIGNER_HDR		8
#define SIGNER_BODY_MAX		(SIGNER_MSG_MAX - SIGNER_HDR)
#define SIGNER_T_ISSUE		1
#define SIGNER_T_CRL		2
#define SIGNER_T_OCSP		3
#define SIGNER_T_CHECKPOINT	4
#define SIGNER_T_PING		5	/* empty; answered with status 0, "pong" */
#define SIGNER_REAP_MS		1000	/* signer_free: then SIGKILL */
#define SIGNER_FD_CAP		65536

/* signer_configure(): copied into each child by fork. */
static struct signer_conf sconf = {
	.crl_max_hours = SIGNER_CRL_MAX_HOURS,
	.ocsp_max_hours = SIGNER_OCSP_MAX_HOURS,
};

struct signer {
	int		 fd;
	pid_t		 pid;		/* not reaped before signer_free: cannot be reused */
	int		 pidfd;		/* readable once the child has exited; -1 if none */
	int		 dead;		/* channel broken, child killed: later requests fail */
	unsigned	 timeout_ms;	/* one ISSUE or OCSP exchange, start to end */
	X509		*ca_cert;
	pthread_mutex_t	 lock;		/* one request/response on the channel at a time */
};

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Read exactly n bytes. Returns 1 done, 0 EOF before the first byte, -1 error/short. */
static int
read_full(int fd, void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == 0 && got == 0)
			return 0;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 1;
}

static int
write_full(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- child ---- */

static int
child_reply(int fd, uint32_t status, const void *body, size_t len)
{
	unsigned char msg[SIGNER_MSG_MAX];

	if (len > SIGNER_BODY_MAX)
		return -1;
	put32(msg, status);
	put32(msg + 4, (uint32_t)len);
	if (len > 0)
		memcpy(msg + SIGNER_HDR, body, len);
	return write_full(fd, msg, SIGNER_HDR + len);
}

/* An answer of any size up to SIGNER_LARGE_MAX (CRLs). */
static int
child_reply_large(int fd, uint32_t status, const void *body, size_t len)
{
	unsigned char hdr[SIGNER_HDR];

	if (len > SIGNER_LARGE_MAX)
		return -1;
	put32(hdr, status);
	put32(hdr + 4, (uint32_t)len);
	if (write_full(fd, hdr, sizeof(hdr)) == -1)
		return -1;
	return len > 0 ? write_full(fd, body, len) : 0;
}

static uint64_t
get64(const unsigned char *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static int
child_error(int fd, const char *text)
{
	return child_reply(fd, 1, text, strlen(text));
}

/* Parse one ISSUE body (exact length) and answer it. Returns -1 only if the channel broke. */
static int
child_issue(int fd, X509 *cert, EVP_PKEY *key, const struct ca_profile *prof,
    const unsigned char *b, size_t len)
{
	char serial[PKI_SERIAL_MAX], err[256];
	const unsigned char *spki, *hw;
	unsigned char *der = NULL;
	size_t off = 0, sl, kl, hl;
	X509 *x;
	int n, rc;

	if (prof->retired)
		return child_error(fd, "signer: this CA was rolled over and issues no "
		    "certificate");
	if (len < 2 || (sl = get16(b)) == 0 || sl >= sizeof(serial) || len < 2 + sl + 2)
		return child_error(fd, "signer: bad serial field");
	off = 2;
	memcpy(serial, b + off, sl);
	serial[sl] = '\0';
	if (memchr(serial, '\0', sl) != NULL)
		return child_error(fd, "signer: NUL in serial");
	off += sl;
	kl = get16(b + off);
	off += 2;
	if (kl == 0 || len - off < kl + 2)
		return child_error(fd, "signer: bad public key field");
	spki = b + off;
	off += kl;
	hl = get16(b + off);
	off += 2;
	if (len - off != hl)
		return child_error(fd, "signer: bad hardwareModuleName field");
	hw = hl > 0 ? b + off : NULL;

	err[0] = '\0';
	if ((x = ca_issue_ldevid(cert, key, prof, spki, kl, serial, hw, hl, err,
	    sizeof(err))) == NULL) {
		ERR_clear_error();
		return child_error(fd, err[0] != '\0' ? err : "signer: issue failed");
	}
	n = i2d_X509(x, &der);
	X509_free(x);
	if (n <= 0 || (size_t)n > SIGNER_BODY_MAX) {
		OPENSSL_free(der);
		ERR_clear_error();
		return child_error(fd, "signer: certificate does not fit a message");
	}
	rc = child_reply(fd, 0, der, (size_t)n);
	OPENSSL_free(der);
	return rc;
}

/*
 * The bound on what the child signs besides LDevIDs (signer.h, Privileges): a validity of
 * 1 to max hours, starting no later than SIGNER_SKEW_SEC from now by the child's clock.
 */
static int
child_validity(uint32_t hours, int64_t this_update, unsigned max, const char *what,
    char *err, size_t errlen)
{
	int64_t now = (int64_t)time(NULL);

	if (hours < 1 || hours > max)
		return pki_errx(err, errlen, "signer: %s validity of %u hours refused (the "
		    "maximum is %u)", what, (unsigned)hours, max);
	if (this_update > now + SIGNER_SKEW_SEC)
		return pki_errx(err, errlen, "signer: %s thisUpdate %lld s ahead of the "
		    "signer's clock refused", what, (long long)(this_update - now));
	return 0;
}

/* Sign a CRL over the entries the parent looked up (RFC 5280 §5). */
static int
child_crl(int fd, X509 *cert, EVP_PKEY *key, const unsigned char *b, size_t len)
{
	struct crl_entry *e = NULL;
	unsigned char *der = NULL;
	size_t n = 0, dlen = 0;
	char err[256] = "";
	int rc;

	if (len < 20)
		return child_error(fd, "signer: short CRL request");
	if (child_validity(get32(b + 16), (int64_t)get64(b + 8), sconf.crl_max_hours, "CRL",
	    err, sizeof(err)) == -1)
		return child_error(fd, err);
	if (crl_entries_decode(b + 20, len - 20, &e, &n, err, sizeof(err)) == -1)
		return child_error(fd, err[0] != '\0' ? err : "signer: bad CRL entries");
	if (crl_build(cert, key, e, n, get64(b), (int64_t)get64(b + 8), get32(b + 16), &der,
	    &dlen, err, sizeof(err)) == -1) {
		free(e);
		ERR_clear_error();
		return child_error(fd, err[0] != '\0' ? err : "signer: CRL build failed");
	}
	free(e);
	rc = child_reply_large(fd, 0, der, dlen);
	free(der);
	return rc;
}

/* Sign an OCSP response for statuses the parent looked up (RFC 6960 §4.2). */
static int
child_ocsp(int fd, X509 *cert, EVP_PKEY *key, const unsigned char *b, size_t len)
{
	struct ocsp_query q;
	struct ocsp_status st[OCSP_IDS_MAX];
	unsigned char *der = NULL;
	size_t ql, sl, n = 0, dlen = 0;
	char err[256] = "";
	int rc;

	if (len < 4 || (ql = get32(b)) > len - 4 || len - 4 - ql < 4)
		return child_error(fd, "signer: bad OCSP query field");
	sl = get32(b + 4 + ql);
	if (len - 8 - ql < sl || len - 8 - ql - sl != 12)
		return child_error(fd, "signer: bad OCSP status field");
	if (ocsp_query_decode(b + 4, ql, &q, err, sizeof(err)) == -1 ||
	    ocsp_status_decode(b + 8 + ql, sl, st, &n, err, sizeof(err)) == -1)
		return child_error(fd, err[0] != '\0' ? err : "signer: bad OCSP request");
	if (n != q.nids)
		return child_error(fd, "signer: one status per CertID needed");
	if (child_validity(get32(b + 16 + ql + sl), (int64_t)get64(b + 8 + ql + sl),
	    sconf.ocsp_max_hours, "OCSP response", err, sizeof(err)) == -1)
		return child_error(fd, err);
	if (ocsp_response_build(cert, key, &q, st, (int64_t)get64(b + 8 + ql + sl),
	    get32(b + 16 + ql + sl), &der, &dlen, err, sizeof(err)) == -1) {
		ERR_clear_error();
		return child_error(fd, err[0] != '\0' ? err : "signer: OCSP build failed");
	}
	rc = child_reply(fd, 0, der, dlen);
	free(der);
	return rc;
}

/* Sign the head of the audit chain (signer.h, Audit checkpoints): nothing but that text. */
static int
child_checkpoint(int fd, EVP_PKEY *key, const unsigned char *b, size_t len)
{
	struct signer_checkpoint cp;
	unsigned char out[8 + SIGNER_CKPT_SIG_MAX];
	char tbs[SIGNER_CKPT_TBS_MAX];
	EVP_MD_CTX *ctx = NULL;
	size_t dl, siglen = SIGNER_CKPT_SIG_MAX;
	int n, ok;

	/* Exact length first: seq, head, domain length, then the domain and nothing else. */
	if (len < 8 + 32 + 2 || len > 8 + 32 + 2 + SIGNER_CKPT_DOMAIN_MAX ||
	    (dl = get16(b + 40)) != len - 42 || memchr(b + 42, '\0', dl) != NULL)
		return child_error(fd, "signer: bad checkpoint request");
	memset(&cp, 0, sizeof(cp));
	cp.seq = (int64_t)get64(b);
	memcpy(cp.head, b + 8, sizeof(cp.head));
	memcpy(cp.domain, b + 42, dl);
	cp.at = (int64_t)time(NULL);
	if ((n = signer_checkpoint_tbs(&cp, tbs, sizeof(tbs))) == -1)
		return child_error(fd, "signer: bad checkpoint fields");
	ok = (ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(ctx, NULL, EVP_PKEY_is_a(key, "ED25519") ||
	    EVP_PKEY_is_a(key, "ED448") ? NULL : EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, NULL, &siglen, (unsigned char *)tbs, (size_t)n) == 1 &&
	    siglen <= SIGNER_CKPT_SIG_MAX &&
	    EVP_DigestSign(ctx, out + 8, &siglen, (unsigned char *)tbs, (size_t)n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return child_error(fd, "signer: checkpoint signature failed");
	}
	put64(out, (uint64_t)cp.at);
	return child_reply(fd, 0, out, 8 + siglen);
}

/* Close every descriptor but sock (moved to 3); 0..2 become /dev/null. Returns the socket. */
static int
child_fds(int sock)
{
	long max;
	int fd, nul;

	if (sock != 3) {
		if (dup2(sock, 3) == -1)
			return -1;
		sock = 3;
	}
	if (close_range(4, ~0U, 0) == -1) {
		max = sysconf(_SC_OPEN_MAX);
		if (max < 0 || max > SIGNER_FD_CAP)
			max = SIGNER_FD_CAP;
		for (fd = 4; fd < max; fd++)
			close(fd);
	}
	if ((nul = open("/dev/null", O_RDWR)) == -1)
		return -1;
	for (fd = 0; fd <= 2; fd++)
		if (fd != nul && dup2(nul, fd) == -1)
			return -1;
	if (nul > 3)
		close(nul);
	return sock;
}

static void __attribute__((noreturn))
child_main(int sock, X509 *cert, EVP_PKEY *key, const struct ca_profile *prof)
{
	static unsigned char body[SIGNER_BODY_MAX];
	unsigned char hdr[SIGNER_HDR];
	uint32_t type, len, left, chunk;
	int code = 1, r, lk;

	/* The parent owns our lifecycle: we end when the channel ends. */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	/* No core dumps or ptrace by other users of the process holding the key. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((sock = child_fds(sock)) == -1)
		goto out;
	for (;;) {
		if ((r = read_full(sock, hdr, sizeof(hdr))) == 0) {
			code = 0;
			break;
		}
		if (r == -1)
			break;
		type = get32(hdr);
		len = get32(hdr + 4);
		if (type == SIGNER_T_CRL && len <= SIGNER_LARGE_MAX) {
			unsigned char *big = malloc(len > 0 ? len : 1);

			if (big == NULL || read_full(sock, big, len) != 1) {
				free(big);
				break;
			}
			lk = keyref_lock(key);
			r = child_crl(sock, cert, key, big, len);
			keyref_unlock(lk);
			free(big);
			if (r == -1)
				break;
			continue;
		}
		if (len > SIGNER_BODY_MAX) {
			/* Skip the oversized body without storing it, then refuse it. */
			for (left = len; left > 0; left -= chunk) {
				chunk = left > sizeof(body) ? sizeof(body) : left;
				if (read_full(sock, body, chunk) != 1)
					goto out;
			}
			if (child_error(sock, "signer: request too large") == -1)
				break;
			continue;
		}
		if (len > 0 && read_full(sock, body, len) != 1)
			break;
		/* a token's module, one process at a time (certs/keyref.h) */
		lk = type != SIGNER_T_PING ? keyref_lock(key) : -1;
		if (type == SIGNER_T_ISSUE)
			r = child_issue(sock, cert, key, prof, body, len);
		else if (type == SIGNER_T_OCSP)
			r = child_ocsp(sock, cert, key, body, len);
		else if (type == SIGNER_T_CHECKPOINT)
			r = child_checkpoint(sock, key, body, len);
		else if (type == SIGNER_T_PING && len == 0)
			r = child_reply(sock, 0, "pong", 4);
		else
			r = child_error(sock, "signer: unknown request type");
		keyref_unlock(lk);
		if (r == -1)
			break;
	}
out:
	OPENSSL_cleanse(body, sizeof(body));
	EVP_PKEY_free(key);
	X509_free(cert);
	_exit(code);
}

/* Switch to the configured user for good (signer.h, Privileges). */
static int
child_privdrop(char *err, size_t errlen)
{
	uid_t ru, eu, su, keep;
	gid_t rg, eg, sg;

	if (!sconf.drop)
		return 0;
	keep = sconf.owner_uid != 0 ? sconf.owner_uid : sconf.uid;
	if (setgroups(0, NULL) == -1 || setresgid(sconf.gid, sconf.gid, sconf.gid) == -1 ||
	    setresuid(sconf.uid, sconf.uid, keep) == -1)
		return pki_errx(err, errlen, "signer: cannot switch to user %s: %s", sconf.user,
		    strerror(errno));
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != sconf.uid || eu != sconf.uid || su != keep || rg != sconf.gid ||
	    eg != sconf.gid || sg != sconf.gid || getgroups(0, NULL) != 0)
		return pki_errx(err, errlen, "signer: user %s: credentials not as set",
		    sconf.user);
	if (sconf.uid != 0 && keep != 0 && (setuid(0) != -1 || seteuid(0) != -1 ||
	    setgid(0) != -1))
		return pki_errx(err, errlen, "signer: user %s could regain root", sconf.user);
	/* a change of credentials resets it: still no core dumps, no ptrace */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return 0;
}

/*
 * One signature of a fixed text after the drop: a key in a PKCS#11 token that the signer's
 * user cannot use (SoftHSM2 reads its token directory at every operation) fails here, at
 * start-up, with a clear reason, rather than at the first enrollment.
 */
static int
child_sign_probe(EVP_PKEY *key, const char *key_path, char *err, size_t errlen)
{
	return keyref_probe(key, key_path, "signer: ", sconf.drop ? sconf.user : "(this one)",
	    err, errlen);
}

/*
 * The child's start: read the CA key with the owner's privileges, check it against the
 * certificate, drop to the signer's user, then answer signer_start() on sock (an empty
 * answer, or one line of error) and serve. The owner never holds the key.
 */
static void __attribute__((noreturn))
child_start(int sock, X509 *cert, const char *cert_path, const char *key_path,
    const struct ca_profile *prof)
{
	char err[256] = "", what[512];
	EVP_PKEY *key = NULL;

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* a file, or a key in a PKCS#11 token: the PIN and the session live here alone */
	if ((key = keyref_load(key_path, err, sizeof(err))) == NULL)
		goto fail;
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		keyref_display(key_path, what, sizeof(what));
		pki_errx(err, sizeof(err), "signer: %s does not match %s", what, cert_path);
		goto fail;
	}
	if (child_privdrop(err, sizeof(err)) == -1 || child_sign_probe(key, key_path, err,
	    sizeof(err)) == -1 || child_reply(sock, 0, NULL, 0) == -1)
		goto fail;
	child_main(sock, cert, key, prof);
fail:
	(void)child_error(sock, err[0] != '\0' ? err : "signer: cannot start");
	EVP_PKEY_free(key);
	X509_free(cert);
	_exit(1);
}

/* ---- parent ---- */

void
signer_configure(const struct signer_conf *c)
{
	memset(&sconf, 0, sizeof(sconf));
	if (c != NULL)
		sconf = *c;
	sconf.user[sizeof(sconf.user) - 1] = '\0';
	if (sconf.crl_max_hours == 0)
		sconf.crl_max_hours = SIGNER_CRL_MAX_HOURS;
	if (sconf.ocsp_max_hours == 0)
		sconf.ocsp_max_hours = SIGNER_OCSP_MAX_HOURS;
}

static int signer_ready(struct signer *s, char *err, size_t errlen);

struct signer *
signer_start(const char *ca_cert_path, const char *ca_key_path,
    const struct ca_profile *prof, char *err, size_t errlen)
{
	struct signer *s = NULL;
	struct ca_profile p;
	X509 *cert = NULL;
	int sv[2] = { -1, -1 };
	pid_t pid;

	if (ca_cert_path == NULL || ca_key_path == NULL || prof == NULL) {
		pki_errx(err, errlen, "signer: missing CA certificate, key or profile");
		return NULL;
	}
	p = *prof;
	p.crl_url[sizeof(p.crl_url) - 1] = '\0';
	p.ocsp_url[sizeof(p.ocsp_url) - 1] = '\0';
	if ((cert = pki_cert_read(ca_cert_path, err, errlen)) == NULL)
		goto err;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		pki_errx(err, errlen, "signer: out of memory");
		goto err;
	}
	s->fd = -1;
	s->pidfd = -1;
	s->timeout_ms = SIGNER_TIMEOUT_MS;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		s = NULL;
		pki_errx(err, errlen, "signer: cannot create lock");
		goto err;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		pki_errx(err, errlen, "signer: socketpair: %s", strerror(errno));
		goto err;
	}
	if ((pid = fork()) == -1) {
		pki_errx(err, errlen, "signer: fork: %s", strerror(errno));
		goto err;
	}
	if (pid == 0) {
		close(sv[0]);
		child_start(sv[1], cert, ca_cert_path, ca_key_path, &p);
	}
	/* Parent: only the child reads and holds the key. */
	close(sv[1]);
	sv[1] = -1;
	s->fd = sv[0];
	s->pid = pid;
	if (signer_ready(s, err, errlen) == -1) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		goto err;
	}
	s->ca_cert = cert;
#ifdef SYS_pidfd_open
	/* Linux 5.3+; without it signer_lost() only knows what a request found. */
	s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	return s;
err:
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	if (s != NULL) {
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	X509_free(cert);
	return NULL;
}

pid_t
signer_pid(const struct signer *s)
{
	return s != NULL ? s->pid : -1;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Parent side: move exactly n bytes out of buf (out) or into it before the deadline
 * (CLOCK_MONOTONIC ms). 0 done, -1 channel broken, -2 deadline passed. Each wait is a
 * poll() bounded by what is left, so a stalled child cannot hold the caller longer.
 * wait_first: poll before the first attempt (an answer not yet due); otherwise the
 * non-blocking send or recv is tried first and poll() only follows an EAGAIN.
 */
static int
xfer_by(int fd, void *buf, size_t n, int out, int wait_first, int64_t deadline)
{
	struct pollfd pfd;
	unsigned char *p = buf;
	int64_t left;
	ssize_t r;
	int w;

	while (n > 0) {
		if (wait_first) {
			if ((left = deadline - mono_ms()) <= 0)
				return -2;
			pfd.fd = fd;
			pfd.events = out ? POLLOUT : POLLIN;
			pfd.revents = 0;
			w = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1)
				return -1;
			if (w == 0)
				return -2;
		}
		r = out ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) :
		    recv(fd, p, n, MSG_DONTWAIT);
		if (r == -1 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_first = errno != EINTR;
			continue;
		}
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
		wait_first = 1;
	}
	return 0;
}

/* The child's first answer: empty once it holds the key and has dropped, else its reason. */
static int
signer_ready(struct signer *s, char *err, size_t errlen)
{
	unsigned char hdr[SIGNER_HDR], body[256];
	int64_t deadline = mono_ms() + SIGNER_START_MS;
	uint32_t len;
	size_t i;

	if (xfer_by(s->fd, hdr, sizeof(hdr), 0, 1, deadline) != 0)
		return pki_errx(err, errlen, "signer: the signing process did not start");
	len = get32(hdr + 4);
	if (get32(hdr) == 0 && len == 0)
		return 0;
	if (len == 0 || len >= sizeof(body) || xfer_by(s->fd, body, len, 0, 0, deadline) != 0)
		return pki_errx(err, errlen, "signer: the signing process did not start");
	for (i = 0; i < len; i++)
		if (body[i] < 0x20 || body[i] > 0x7e)
			body[i] = '?';
	body[len] = '\0';
	return pki_errx(err, errlen, "%s", (char *)body);
}

/*
 * The channel is out of use for good: mark it and SIGKILL the child (dead, stalled or out
 * of step, it signs nothing more). The child is not reaped before signer_free(), so its
 * pid cannot have been reused. The caller holds the lock.
 */
static int
signer_lose(struct signer *s, int timed_out, unsigned ms, char *err, size_t errlen)
{
	if (!s->dead && s->pid > 0)
		kill(s->pid, SIGKILL);
	s->dead = 1;
	if (timed_out)
		return pki_errx(err, errlen, "signer: no answer within %u ms: the signing "
		    "process was killed", ms);
	return pki_errx(err, errlen, "signer: the signing process is gone");
}

/*
 * One exchange on the channel, request written and answer read within timeout_ms; the
 * caller holds the lock. *body malloc'd on success.
 */
static int
signer_call(struct signer *s, const unsigned char *req, size_t reqlen, size_t maxlen,
    unsigned timeout_ms, uint32_t *status, unsigned char **body, size_t *bodylen, char *err,
    size_t errlen)
{
	unsigned char hdr[SIGNER_HDR];
	int64_t deadline = mono_ms() + timeout_ms;
	uint32_t len;
	int r;

	*body = NULL;
	if (s->dead)
		return pki_errx(err, errlen, "signer: the signing process is gone");
	/* the request fits the socket buffer: sent at once; the answer comes after signing,
	 * and its body with its header */
	if ((r = xfer_by(s->fd, (void *)req, reqlen, 1, 0, deadline)) != 0 ||
	    (r = xfer_by(s->fd, hdr, sizeof(hdr), 0, 1, deadline)) != 0)
		return signer_lose(s, r == -2, timeout_ms, err, errlen);
	*status = get32(hdr);
	len = get32(hdr + 4);
	if (len > maxlen)
		return signer_lose(s, 0, timeout_ms, err, errlen);
	if ((*body = malloc(len + 1)) == NULL) {
		/* We cannot drain the answer: the channel is out of step from here on. */
		signer_lose(s, 0, timeout_ms, err, errlen);
		return pki_errx(err, errlen, "signer: out of memory");
	}
	if (len > 0 && (r = xfer_by(s->fd, *body, len, 0, 0, deadline)) != 0) {
		free(*body);
		*body = NULL;
		return signer_lose(s, r == -2, timeout_ms, err, errlen);
	}
	(*body)[len] = '\0';
	*bodylen = len;
	return 0;
}

/* Turn one exchange's outcome into the caller's DER or a one-line error. */
static int
signer_result(int rc, uint32_t status, unsigned char *body, size_t rlen, unsigned char **der,
    size_t *der_len, char *err, size_t errlen)
{
	size_t i;

	if (rc == -1)
		return -1;
	if (status != 0 || rlen == 0) {
		/* The child's one-line reason; keep only printable bytes. */
		for (i = 0; i < rlen; i++)
			if (body[i] < 0x20 || body[i] > 0x7e)
				body[i] = '?';
		pki_errx(err, errlen, "%s", rlen > 0 ? (char *)body : "signer: empty answer");
		free(body);
		return -1;
	}
	*der = body;
	*der_len = rlen;
	return 0;
}

int
signer_issue(struct signer *s, const char *device_serial, const unsigned char *spki,
    size_t spki_len, const unsigned char *hwmodule, size_t hw_len, unsigned char **der,
    size_t *der_len, char *err, size_t errlen)
{
	unsigned char msg[SIGNER_MSG_MAX], *body = NULL;
	size_t sl, blen, off, rlen = 0;
	uint32_t status = 1;
	int rc;

	if (der == NULL || der_len == NULL)
		return pki_errx(err, errlen, "signer: no output");
	*der = NULL;
	*der_len = 0;
	if (s == NULL || device_serial == NULL || spki == NULL || spki_len == 0)
		return pki_errx(err, errlen, "signer: missing serial or public key");
	if (hwmodule == NULL)
		hw_len = 0;
	sl = strnlen(device_serial, PKI_SERIAL_MAX);
	if (sl == 0 || sl >= PKI_SERIAL_MAX)
		return pki_errx(err, errlen, "signer: device serial must be 1 to %d bytes",
		    PKI_SERIAL_MAX - 1);
	/* Bound every field before touching the buffer. */
	if (spki_len > SIGNER_BODY_MAX || hw_len > SIGNER_BODY_MAX ||
	    (blen = 2 + sl + 2 + spki_len + 2 + hw_len) > SIGNER_BODY_MAX)
		return pki_errx(err, errlen, "signer: request larger than %d bytes",
		    SIGNER_MSG_MAX);
	put32(msg, SIGNER_T_ISSUE);
	put32(msg + 4, (uint32_t)blen);
	off = SIGNER_HDR;
	put16(msg + off, (uint16_t)sl);
	memcpy(msg + off + 2, device_serial, sl);
	off += 2 + sl;
	put16(msg + off, (uint16_t)spki_len);
	memcpy(msg + off + 2, spki, spki_len);
	off += 2 + spki_len;
	put16(msg + off, (uint16_t)hw_len);
	if (hw_len > 0)
		memcpy(msg + off + 2, hwmodule, hw_len);
	off += 2 + hw_len;

	pthread_mutex_lock(&s->lock);
	rc = signer_call(s, msg, off, SIGNER_BODY_MAX, s->timeout_ms, &status, &body, &rlen,
	    err, errlen);
	pthread_mutex_unlock(&s->lock);
	return signer_result(rc, status, body, rlen, der, der_len, err, errlen);
}

int
signer_crl(struct signer *s, const struct crl_entry *e, size_t n, uint64_t crl_number,
    int64_t this_update, unsigned next_update_hours, unsigned char **der, size_t *der_len,
    char *err, size_t errlen)
{
	unsigned char *enc = NULL, *msg = NULL, *body = NULL;
	size_t elen = 0, rlen = 0;
	uint32_t status = 1;
	int rc;

	*der = NULL;
	*der_len = 0;
	if (s == NULL)
		return pki_errx(err, errlen, "signer: not running");
	if (crl_entries_encode(e, n, &enc, &elen) == -1)
		return pki_errx(err, errlen, "signer: cannot encode %zu CRL entries", n);
	if (elen > SIGNER_LARGE_MAX - 20 || (msg = malloc(SIGNER_HDR + 20 + elen)) == NULL) {
		free(enc);
		return pki_errx(err, errlen, "signer: CRL request too large");
	}
	put32(msg, SIGNER_T_CRL);
	put32(msg + 4, (uint32_t)(20 + elen));
	put64(msg + 8, crl_number);
	put64(msg + 16, (uint64_t)this_update);
	put32(msg + 24, next_update_hours);
	memcpy(msg + 28, enc, elen);
	free(enc);
	pthread_mutex_lock(&s->lock);
	rc = signer_call(s, msg, SIGNER_HDR + 20 + elen, SIGNER_LARGE_MAX,
	    s->timeout_ms > SIGNER_CRL_TIMEOUT_MS ? s->timeout_ms : SIGNER_CRL_TIMEOUT_MS,
	    &status, &body, &rlen, err, errlen);
	pthread_mutex_unlock(&s->lock);
	free(msg);
	return signer_result(rc, status, body, rlen, der, der_len, err, errlen);
}

int
signer_ocsp(struct signer *s, const struct ocsp_query *q, const struct ocsp_status *st,
    int64_t this_update, unsigned next_update_hours, unsigned char **der, size_t *der_len,
    char *err, size_t errlen)
{
	unsigned char *qb = NULL, *sb = NULL, *body = NULL, msg[SIGNER_MSG_MAX];
	size_t ql = 0, sl = 0, rlen = 0, off;
	uint32_t status = 1;
	int rc;

	*der = NULL;
	*der_len = 0;
	if (s == NULL || q == NULL || st == NULL)
		return pki_errx(err, errlen, "signer: not running");
	if (ocsp_query_encode(q, &qb, &ql) == -1 || ocsp_status_encode(st, q->nids, &sb, &sl) ==
	    -1 || 4 + ql + 4 + sl + 12 > SIGNER_BODY_MAX) {
		free(qb);
		free(sb);
		return pki_errx(err, errlen, "signer: cannot encode the OCSP request");
	}
	put32(msg, SIGNER_T_OCSP);
	put32(msg + 4, (uint32_t)(4 + ql + 4 + sl + 12));
	off = SIGNER_HDR;
	put32(msg + off, (uint32_t)ql);
	memcpy(msg + off + 4, qb, ql);
	off += 4 + ql;
	put32(msg + off, (uint32_t)sl);
	memcpy(msg + off + 4, sb, sl);
	off += 4 + sl;
	put64(msg + off, (uint64_t)this_update);
	put32(msg + off + 8, next_update_hours);
	off += 12;
	free(qb);
	free(sb);
	pthread_mutex_lock(&s->lock);
	rc = signer_call(s, msg, off, SIGNER_BODY_MAX, s->timeout_ms, &status, &body, &rlen,
	    err, errlen);
	pthread_mutex_unlock(&s->lock);
	return signer_result(rc, status, body, rlen, der, der_len, err, errlen);
}

int
signer_checkpoint_tbs(const struct signer_checkpoint *cp, char *buf, size_t len)
{
	static const char hexd[] = "0123456789abcdef";
	char hex[65];
	size_t i, dl;
	int n;

	if (cp == NULL || cp->seq < 1 || cp->at < 0)
		return -1;
	dl = strnlen(cp->domain, sizeof(cp->domain));
	if (dl == 0 || dl > SIGNER_CKPT_DOMAIN_MAX)
		return -1;
	for (i = 0; i < dl; i++)
		if (cp->domain[i] < 0x20 || cp->domain[i] > 0x7e)
			return -1;
	for (i = 0; i < sizeof(cp->head); i++) {
		hex[2 * i] = hexd[cp->head[i] >> 4];
		hex[2 * i + 1] = hexd[cp->head[i] & 0xf];
	}
	hex[64] = '\0';
	n = snprintf(buf, len, "latchkey-audit-checkpoint v1\ndomain=%s\nseq=%lld\n"
	    "head=sha256:%s\nat=%lld\n", cp->domain, (long long)cp->seq, hex,
	    (long long)cp->at);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}

int
signer_checkpoint_format(const struct signer_checkpoint *cp, const unsigned char *sig,
    size_t sig_len, char *buf, size_t len)
{
	static const char hexd[] = "0123456789abcdef";
	char hex[65], b64[(SIGNER_CKPT_SIG_MAX + 2) / 3 * 4 + 1], tbs[SIGNER_CKPT_TBS_MAX];
	size_t i;
	int n;

	if (signer_checkpoint_tbs(cp, tbs, sizeof(tbs)) == -1 || sig == NULL ||
	    sig_len == 0 || sig_len > SIGNER_CKPT_SIG_MAX)
		return -1;
	for (i = 0; i < sizeof(cp->head); i++) {
		hex[2 * i] = hexd[cp->head[i] >> 4];
		hex[2 * i + 1] = hexd[cp->head[i] & 0xf];
	}
	hex[64] = '\0';
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)sig_len);
	n = snprintf(buf, len, "audit checkpoint seq=%lld head=sha256:%s at=%lld sig=%s "
	    "domain=%s", (long long)cp->seq, hex, (long long)cp->at, b64, cp->domain);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}

/* "KEY=" at *p: the value's start, or NULL. */
static const char *
ckpt_field(const char *p, const char *key)
{
	size_t kl = strlen(key);

	return strncmp(p, key, kl) == 0 ? p + kl : NULL;
}

static int
ckpt_int(const char **pp, int64_t *v)
{
	const char *p = *pp;
	long long n = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (LLONG_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*p - '0');
	}
	if (*p != ' ')
		return -1;
	*v = n;
	*pp = p + 1;
	return 0;
}

int
signer_checkpoint_parse(const char *line, struct signer_checkpoint *cp, unsigned char *sig,
    size_t *sig_len)
{
	unsigned char raw[SIGNER_CKPT_SIG_MAX + 3];
	const char *p, *q;
	size_t i, bl, dl;
	int hi, lo, n;

	memset(cp, 0, sizeof(*cp));
	*sig_len = 0;
	if ((p = strstr(line, "audit checkpoint ")) == NULL)
		return -1;
	p += strlen("audit checkpoint ");
	if ((p = ckpt_field(p, "seq=")) == NULL || ckpt_int(&p, &cp->seq) == -1 ||
	    (p = ckpt_field(p, "head=sha256:")) == NULL)
		return -1;
	for (i = 0; i < sizeof(cp->head); i++) {
		if ((hi = pki_hexval(p[2 * i])) < 0 || (lo = pki_hexval(p[2 * i + 1])) < 0)
			return -1;
		cp->head[i] = (unsigned char)(hi << 4 | lo);
	}
	p += 64;
	if (*p++ != ' ' || (p = ckpt_field(p, "at=")) == NULL || ckpt_int(&p, &cp->at) == -1 ||
	    (p = ckpt_field(p, "sig=")) == NULL || (q = strchr(p, ' ')) == NULL)
		return -1;
	bl = (size_t)(q - p);
	if (bl == 0 || bl % 4 != 0 || bl / 4 * 3 > sizeof(raw) ||
	    (n = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)bl)) < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding's zero bytes too. */
	if (p[bl - 1] == '=')
		n--;
	if (p[bl - 2] == '=')
		n--;
	if (n <= 0 || (size_t)n > SIGNER_CKPT_SIG_MAX)
		return -1;
	memcpy(sig, raw, (size_t)n);
	*sig_len = (size_t)n;
	if ((p = ckpt_field(q + 1, "domain=")) == NULL)
		return -1;
	dl = strcspn(p, "\r\n");
	if (dl == 0 || dl > SIGNER_CKPT_DOMAIN_MAX)
		return -1;
	memcpy(cp->domain, p, dl);
	cp->domain[dl] = '\0';
	return 0;
}

int
signer_checkpoint_verify(X509 *ca, const struct signer_checkpoint *cp,
    const unsigned char *sig, size_t sig_len, char *err, size_t errlen)
{
	char tbs[SIGNER_CKPT_TBS_MAX];
	EVP_PKEY *key;
	EVP_MD_CTX *ctx;
	int n, ok;

	if (ca == NULL || (key = X509_get0_pubkey(ca)) == NULL)
		return pki_errx(err, errlen, "checkpoint: no CA public key");
	if ((n = signer_checkpoint_tbs(cp, tbs, sizeof(tbs))) == -1)
		return pki_errx(err, errlen, "checkpoint: malformed fields");
	if (sig == NULL || sig_len == 0 || sig_len > SIGNER_CKPT_SIG_MAX)
		return pki_errx(err, errlen, "checkpoint: no signature");
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return pki_errx(err, errlen, "checkpoint: out of memory");
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_PKEY_is_a(key, "ED25519") ||
	    EVP_PKEY_is_a(key, "ED448") ? NULL : EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)tbs, (size_t)n) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
		return pki_errx(err, errlen, "checkpoint: signature does not verify with the "
		    "domain CA key");
	return 0;
}

int
signer_checkpoint(struct signer *s, struct signer_checkpoint *cp, unsigned char **sig,
    size_t *sig_len, char *err, size_t errlen)
{
	unsigned char msg[SIGNER_HDR + 42 + SIGNER_CKPT_DOMAIN_MAX], *body = NULL;
	char tbs[SIGNER_CKPT_TBS_MAX];
	struct signer_checkpoint probe;
	size_t dl, rlen = 0;
	uint32_t status = 1;
	int rc;

	if (sig == NULL || sig_len == NULL)
		return pki_errx(err, errlen, "signer: no output");
	*sig = NULL;
	*sig_len = 0;
	if (s == NULL || cp == NULL)
		return pki_errx(err, errlen, "signer: not running");
	/* The same checks as the child's, so that a bad request never reaches it. */
	probe = *cp;
	probe.at = 0;
	if (signer_checkpoint_tbs(&probe, tbs, sizeof(tbs)) == -1)
		return pki_errx(err, errlen, "signer: bad checkpoint (seq >= 1, domain 1 to %d "
		    "printable bytes)", SIGNER_CKPT_DOMAIN_MAX);
	dl = strlen(cp->domain);
	put32(msg, SIGNER_T_CHECKPOINT);
	put32(msg + 4, (uint32_t)(42 + dl));
	put64(msg + SIGNER_HDR, (uint64_t)cp->seq);
	memcpy(msg + SIGNER_HDR + 8, cp->head, sizeof(cp->head));
	put16(msg + SIGNER_HDR + 40, (uint16_t)dl);
	memcpy(msg + SIGNER_HDR + 42, cp->domain, dl);
	pthread_mutex_lock(&s->lock);
	rc = signer_call(s, msg, SIGNER_HDR + 42 + dl, SIGNER_BODY_MAX, s->timeout_ms, &status,
	    &body, &rlen, err, errlen);
	pthread_mutex_unlock(&s->lock);
	if (signer_result(rc, status, body, rlen, &body, &rlen, err, errlen) == -1)
		return -1;
	if (rlen <= 8 || rlen > 8 + SIGNER_CKPT_SIG_MAX) {
		free(body);
		return pki_errx(err, errlen, "signer: bad checkpoint answer");
	}
	cp->at = (int64_t)get64(body);
	memmove(body, body + 8, rlen - 8);
	*sig = body;
	*sig_len = rlen - 8;
	return 0;
}

int
signer_request_raw(struct signer *s, uint32_t type, const unsigned char *body, size_t len,
    unsigned char **reply, size_t *reply_len, char *err, size_t errlen)
{
	unsigned char *msg, *ans = NULL;
	size_t rlen = 0;
	uint32_t status = 1;
	int rc;

	*reply = NULL;
	*reply_len = 0;
	if (s == NULL || len > SIGNER_BODY_MAX || (len > 0 && body == NULL))
		return pki_errx(err, errlen, "signer: bad raw request");
	if ((msg = malloc(SIGNER_HDR + len)) == NULL)
		return pki_errx(err, errlen, "signer: out of memory");
	put32(msg, type);
	put32(msg + 4, (uint32_t)len);
	if (len > 0)
		memcpy(msg + SIGNER_HDR, body, len);
	pthread_mutex_lock(&s->lock);
	rc = signer_call(s, msg, SIGNER_HDR + len, SIGNER_LARGE_MAX, s->timeout_ms, &status,
	    &ans, &rlen, err, errlen);
	pthread_mutex_unlock(&s->lock);
	free(msg);
	return signer_result(rc, status, ans, rlen, reply, reply_len, err, errlen);
}

int
signer_ping(struct signer *s, char *err, size_t errlen)
{
	unsigned char *ans = NULL;
	size_t len = 0;
	int rc;

	rc = signer_request_raw(s, SIGNER_T_PING, NULL, 0, &ans, &len, err, errlen);
	free(ans);
	return rc;
}

int
signer_lost(struct signer *s)
{
	struct pollfd pfd;
	int lost;

	if (s == NULL)
		return 1;
	pthread_mutex_lock(&s->lock);
	if (!s->dead && s->pidfd != -1) {
		/* Exited (crash, OOM kill) while no request was on the channel. */
		pfd.fd = s->pidfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1)
			s->dead = 1;
	}
	lost = s->dead;
	pthread_mutex_unlock(&s->lock);
	return lost;
}

int
signer_watch_fd(const struct signer *s)
{
	return s != NULL ? s->pidfd : -1;
}

void
signer_set_timeout(struct signer *s, unsigned ms)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->timeout_ms = ms < 1 ? 1 : ms;
	pthread_mutex_unlock(&s->lock);
}

/* Reap the child: it exits on EOF at once; one that does not within SIGNER_REAP_MS
 * (stopped, stuck) is SIGKILLed, so signer_free() never hangs. */
static void
signer_reap(struct signer *s)
{
	struct pollfd pfd;
	struct timespec tick = { 0, 10 * 1000000 };
	int64_t deadline = mono_ms() + SIGNER_REAP_MS;
	pid_t r;
	int status;

	for (;;) {
		r = waitpid(s->pid, &status, WNOHANG);
		if (r == s->pid || (r == -1 && errno != EINTR))
			return;
		if (r == -1)
			continue;
		if (mono_ms() >= deadline)
			break;
		if (s->pidfd != -1) {
			pfd.fd = s->pidfd;
			pfd.events = POLLIN;
			pfd.revents = 0;
			poll(&pfd, 1, (int)(deadline - mono_ms() > 0 ? deadline - mono_ms() : 0));
		} else
			nanosleep(&tick, NULL);
	}
	kill(s->pid, SIGKILL);
	while (waitpid(s->pid, &status, 0) == -1 && errno == EINTR)
		;
}

void
signer_free(struct signer *s)
{
	if (s == NULL)
		return;
	if (s->fd != -1)
		close(s->fd);	/* the child sees EOF and exits */
	if (s->pid > 0)
		signer_reap(s);
	if (s->pidfd != -1)
		close(s->pidfd);
	pthread_mutex_destroy(&s->lock);
	X509_free(s->ca_cert);
	free(s);
}
