/*
 * keyref: private keys by reference, a PEM file or an RFC 7512 PKCS#11 URI (keyref.h).
 *
 * OpenSSL 3 deprecates the ENGINE API, and Debian 12 has no PKCS#11 provider: libp11's
 * engine is the packaged route. This file is the only one that uses ENGINE_*; it asks for
 * the declarations without their deprecation attributes, so -Werror stays on everywhere.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <p11-kit/pkcs11.h>

#include "certs/keyref.h"
#include "certs/pki.h"

/* ---- RFC 7512 URI ---------------------------------------------------------------------- */

int
keyref_is_pkcs11(const char *ref)
{
	return ref != NULL && strncasecmp(ref, "pkcs11:", 7) == 0;
}

void
keyref_uri_clear(struct keyref_uri *u)
{
	if (u != NULL)
		OPENSSL_cleanse(u, sizeof(*u));
}

/*
 * Percent-decode v[0..n) into out (cap bytes; RFC 3986 §2.1). text: NUL-terminate and refuse
 * a NUL byte. The number of bytes, or -1 (bad escape, too long).
 */
static long
pct_decode(const char *v, size_t n, unsigned char *out, size_t cap, int text)
{
	size_t i, o = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			if ((h = pki_hexval((unsigned char)v[i + 1])) < 0 ||
			    (l = pki_hexval((unsigned char)v[i + 2])) < 0)
				return -1;
			c = (unsigned char)(h << 4 | l);
			i += 2;
		}
		if (text && c == '\0')
			return -1;
		if (o + (text ? 1 : 0) >= cap)
			return -1;
		out[o++] = c;
	}
	if (text)
		out[o] = '\0';
	return (long)o;
}

/* The attributes keyref knows, in the order of uri_attr's table. */
enum { A_TOKEN, A_OBJECT, A_ID, A_TYPE, A_PIN_SOURCE, A_PIN_VALUE, A_MODULE_PATH };

/* One attribute name=value of the path (query 0) or the query (query 1). */
static int
uri_attr(struct keyref_uri *u, const char *a, size_t n, int query, unsigned *seen, char *err,
    size_t errlen)
{
	static const struct {
		const char *name;
		int query;
	} known[] = {
		{ "token", 0 }, { "object", 0 }, { "id", 0 }, { "type", 0 },
		{ "pin-source", 1 }, { "pin-value", 1 }, { "module-path", 1 },
	};
	const char *eq = memchr(a, '=', n);
	size_t kl, vl, i;
	const char *v;
	char type[16];
	long r = 0;

	if (eq == NULL)
		return pki_errx(err, errlen, "pkcs11 URI: attribute without '=' (RFC 7512 §2.3)");
	kl = (size_t)(eq - a);
	v = eq + 1;
	vl = n - kl - 1;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].name) == kl && strncmp(a, known[i].name, kl) == 0)
			break;
	if (i == sizeof(known) / sizeof(known[0]))
		return pki_errx(err, errlen, "pkcs11 URI: unsupported attribute \"%.*s\"",
		    (int)(kl > 40 ? 40 : kl), a);
	if (known[i].query != query)
		return pki_errx(err, errlen, "pkcs11 URI: %s belongs in the %s (RFC 7512 §2.3)",
		    known[i].name, known[i].query ? "query (after '?')" : "path (before '?')");
	if (*seen & (1u << i))
		return pki_errx(err, errlen, "pkcs11 URI: %s given twice", known[i].name);
	*seen |= 1u << i;
	switch (i) {
	case A_TOKEN:
		r = pct_decode(v, vl, (unsigned char *)u->token, sizeof(u->token), 1);
		break;
	case A_OBJECT:
		r = pct_decode(v, vl, (unsigned char *)u->object, sizeof(u->object), 1);
		break;
	case A_ID:
		r = pct_decode(v, vl, u->id, sizeof(u->id), 0);
		if (r >= 0)
			u->id_len = (size_t)r;
		break;
	case A_TYPE:
		if ((r = pct_decode(v, vl, (unsigned char *)type, sizeof(type), 1)) >= 0 &&
		    strcmp(type, "private") != 0)
			return pki_errx(err, errlen, "pkcs11 URI: type=%s: only type=private "
			    "names a signing key", type);
		break;
	case A_PIN_SOURCE:
		r = pct_decode(v, vl, (unsigned char *)u->pin_source, sizeof(u->pin_source), 1);
		if (r >= 0 && strncmp(u->pin_source, "file:", 5) == 0) {
			/* file:///path or file:/path (RFC 8089) */
			const char *p = u->pin_source + 5;

			if (strncmp(p, "//", 2) == 0)
				p += 2;
			memmove(u->pin_source, p, strlen(p) + 1);
		}
		if (r >= 0 && u->pin_source[0] != '/')
			return pki_errx(err, errlen, "pkcs11 URI: pin-source must be an absolute "
			    "path or a file: URI");
		break;
	case A_PIN_VALUE:
		r = pct_decode(v, vl, (unsigned char *)u->pin_value, sizeof(u->pin_value), 1);
		u->has_pin_value = 1;
		if (r < 0)	/* never echo it */
			return pki_errx(err, errlen, "pkcs11 URI: pin-value: bad percent-encoding "
			    "or too long");
		break;
	case A_MODULE_PATH:
		r = pct_decode(v, vl, (unsigned char *)u->module_path, sizeof(u->module_path), 1);
		break;
	}
	if (r < 0)
		return pki_errx(err, errlen, "pkcs11 URI: %s: bad percent-encoding, a NUL byte "
		    "or too long", known[i].name);
	if (r == 0 && i != A_PIN_VALUE)	/* an empty PIN is a PIN */
		return pki_errx(err, errlen, "pkcs11 URI: %s is empty", known[i].name);
	return 0;
}

/* The attributes of one component, sep-separated (RFC 7512 §2.3: ";" path, "&" query). */
static int
uri_part(struct keyref_uri *u, const char *p, size_t n, char sep, int query, unsigned *seen,
    char *err, size_t errlen)
{
	const char *end, *stop = p + n;

	while (p < stop) {
		if ((end = memchr(p, sep, (size_t)(stop - p))) == NULL)
			end = stop;
		if (end == p)
			return pki_errx(err, errlen, "pkcs11 URI: empty attribute");
		if (uri_attr(u, p, (size_t)(end - p), query, seen, err, errlen) == -1)
			return -1;
		p = end < stop ? end + 1 : end;
		if (end < stop && p == stop)
			return pki_errx(err, errlen, "pkcs11 URI: empty attribute");
	}
	return 0;
}

int
keyref_uri_parse(const char *uri, struct keyref_uri *u, char *err, size_t errlen)
{
	const char *path, *q;
	unsigned seen = 0;

	memset(u, 0, sizeof(*u));
	if (!keyref_is_pkcs11(uri))
		return pki_errx(err, errlen, "not a pkcs11: URI");
	path = uri + 7;
	q = strchr(path, '?');
	if (uri_part(u, path, q != NULL ? (size_t)(q - path) : strlen(path), ';', 0, &seen, err,
	    errlen) == -1 || (q != NULL && uri_part(u, q + 1, strlen(q + 1), '&', 1, &seen, err,
	    errlen) == -1))
		goto err;
	if (u->token[0] == '\0') {
		pki_errx(err, errlen, "pkcs11 URI: token= is required");
		goto err;
	}
	if (u->object[0] == '\0' && u->id_len == 0) {
		pki_errx(err, errlen, "pkcs11 URI: object= or id= is required");
		goto err;
	}
	if (u->pin_source[0] != '\0' && u->has_pin_value) {
		pki_errx(err, errlen, "pkcs11 URI: give pin-source or pin-value, not both");
		goto err;
	}
	return 0;
err:
	keyref_uri_clear(u);
	return -1;
}

void
keyref_display(const char *ref, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p;

	if (outlen == 0)
		return;
	if (ref == NULL)
		ref = "(none)";
	for (p = ref; *p != '\0' && o + 1 < outlen; ) {
		/* a pin-value attribute anywhere after the scheme: its value masked */
		if (keyref_is_pkcs11(ref) && p > ref + 7 && strchr("?&;", p[-1]) != NULL &&
		    strncmp(p, "pin-value=", 10) == 0) {
			o += (size_t)snprintf(out + o, outlen - o, "pin-value=***");
			if (o >= outlen)
				o = outlen - 1;
			p += 10;
			p += strcspn(p, "&");
			continue;
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
}

/* ---- the PIN ----------------------------------------------------------------------------- */

/*
 * The PIN of u into pin (KEYREF_PIN_MAX + 1 bytes): pin-value, or the first line of the
 * pin-source file, which must be a regular file that neither group nor others may read.
 * No PIN at all is an empty one (a token without login). 0, or -1 with err.
 */
static int
pin_get(const struct keyref_uri *u, char *pin, char *err, size_t errlen)
{
	struct stat sb;
	ssize_t r;
	size_t len = 0;
	int fd;

	pin[0] = '\0';
	if (u->has_pin_value) {
		memcpy(pin, u->pin_value, sizeof(u->pin_value));
		return 0;
	}
	if (u->pin_source[0] == '\0')
		return 0;
	if ((fd = open(u->pin_source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return pki_errx(err, errlen, "pin-source %.200s: %s", u->pin_source,
		    strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return pki_errx(err, errlen, "pin-source %.200s: not a regular file",
		    u->pin_source);
	}
	if ((sb.st_mode & 077) != 0) {
		close(fd);
		return pki_errx(err, errlen, "pin-source %.200s: mode %04o lets others read the "
		    "PIN: chmod 0600 %.200s", u->pin_source, (unsigned)(sb.st_mode & 07777),
		    u->pin_source);
	}
	while (len < KEYREF_PIN_MAX && (r = read(fd, pin + len, KEYREF_PIN_MAX - len)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			close(fd);
			OPENSSL_cleanse(pin, KEYREF_PIN_MAX + 1);
			return pki_errx(err, errlen, "pin-source %.200s: %s", u->pin_source,
			    strerror(errno));
		}
		len += (size_t)r;
	}
	close(fd);
	pin[len] = '\0';
	pin[strcspn(pin, "\r\n")] = '\0';
	return 0;
}

/* ---- PKCS#11 through the module itself (diagnosis and key generation) --------------------- */

struct p11 {
	void			*dl;
	CK_FUNCTION_LIST_PTR	 f;
	int			 inited;	/* we called C_Initialize (and will finalize) */
	CK_SESSION_HANDLE	 sess;
	int			 has_sess;
	/*
	 * We logged in (C_Login said CKR_OK). Login is the application's, shared by all its
	 * sessions: when the engine has the module open and logged in already (a second key
	 * loaded in one process), a C_Logout here would log the engine's sessions out and
	 * leave its key handles invalid ("Object handle invalid").
	 */
	int			 logged_in;
};

static const char *
module_of(const struct keyref_uri *u)
{
	return u->module_path[0] != '\0' ? u->module_path : KEYREF_DEFAULT_MODULE;
}

/*
 * Cross-process serialisation (keyref.h, keyref_lock): an exclusive flock(2) on the module's
 * file, which every process using it can open read-only. -1 when it cannot be opened (a
 * module named without a path that dlopen found elsewhere): no lock then.
 */
static int
module_lock(const char *module)
{
	int fd;

	if ((fd = open(module, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

static void
module_unlock(int fd)
{
	if (fd != -1)
		close(fd);	/* drops the flock */
}

static void
p11_close(struct p11 *p)
{
	if (p->has_sess) {
		if (p->logged_in)
			p->f->C_Logout(p->sess);
		p->f->C_CloseSession(p->sess);
	}
	if (p->inited)
		p->f->C_Finalize(NULL);
	if (p->dl != NULL)
		dlclose(p->dl);
	memset(p, 0, sizeof(*p));
}

/*
 * Open u's module, find its token by label, open a session (rw for key generation) and log
 * in with pin. what names the reference in errors (no PIN in it).
 */
static int
p11_open(struct p11 *p, const struct keyref_uri *u, const char *pin, int rw, const char *what,
    char *err, size_t errlen)
{
	CK_C_GetFunctionList getfl;
	CK_C_INITIALIZE_ARGS ia;
	CK_SLOT_ID *slots = NULL;
	CK_ULONG ns = 0, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	size_t tl;
	int found = 0;

	memset(p, 0, sizeof(*p));
	if ((p->dl = dlopen(module_of(u), RTLD_NOW | RTLD_LOCAL)) == NULL) {
		pki_errx(err, errlen, "%s: cannot load PKCS#11 module %.200s", what,
		    module_of(u));
		goto err;
	}
	*(void **)&getfl = dlsym(p->dl, "C_GetFunctionList");
	if (getfl == NULL || getfl(&p->f) != CKR_OK || p->f == NULL) {
		pki_errx(err, errlen, "%s: %.200s is no PKCS#11 module", what, module_of(u));
		goto err;
	}
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	rv = p->f->C_Initialize(&ia);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		pki_errx(err, errlen, "%s: PKCS#11 module %.200s: C_Initialize failed (0x%lx)",
		    what, module_of(u), (unsigned long)rv);
		goto err;
	}
	p->inited = rv == CKR_OK;
	if (p->f->C_GetSlotList(CK_TRUE, NULL, &ns) != CKR_OK ||
	    (ns > 0 && ((slots = calloc(ns, sizeof(*slots))) == NULL ||
	    p->f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK))) {
		pki_errx(err, errlen, "%s: cannot list the module's slots", what);
		goto err;
	}
	for (i = 0; i < ns && !found; i++) {
		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		/* the label is 32 bytes padded with blanks (PKCS#11 v2.40 §3.2) */
		tl = sizeof(ti.label);
		while (tl > 0 && ti.label[tl - 1] == ' ')
			tl--;
		if (tl != strlen(u->token) || memcmp(ti.label, u->token, tl) != 0)
			continue;
		found = 1;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			pki_errx(err, errlen, "%s: token not initialized", what);
			goto err;
		}
		rv = p->f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0),
		    NULL, NULL, &p->sess);
		if (rv != CKR_OK) {
			pki_errx(err, errlen, "%s: cannot open a session (0x%lx)", what,
			    (unsigned long)rv);
			goto err;
		}
		p->has_sess = 1;
	}
	if (!found) {
		pki_errx(err, errlen, "%s: token not found", what);
		goto err;
	}
	rv = p->f->C_Login(p->sess, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)pin,
	    (CK_ULONG)strlen(pin));
	if ((rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) && pin[0] == '\0') {
		pki_errx(err, errlen, "%s: login failed: no PIN given (pin-source=FILE)", what);
		goto err;
	}
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
		pki_errx(err, errlen, "%s: PIN incorrect", what);
		goto err;
	}
	if (rv == CKR_PIN_LOCKED) {
		pki_errx(err, errlen, "%s: PIN locked", what);
		goto err;
	}
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		pki_errx(err, errlen, "%s: login failed (0x%lx)%s", what, (unsigned long)rv,
		    pin[0] == '\0' ? ": no PIN given (pin-source=)" : "");
		goto err;
	}
	p->logged_in = rv == CKR_OK;
	free(slots);
	return 0;
err:
	free(slots);
	p11_close(p);
	return -1;
}

/* How many private keys match u's object= and id=; -1 on error. */
static long
p11_count_keys(struct p11 *p, const struct keyref_uri *u)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[3];
	CK_OBJECT_HANDLE h[4];
	CK_ULONG n = 0, got = 0;

	t[n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
	if (u->object[0] != '\0')
		t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)(uintptr_t)u->object,
		    strlen(u->object) };
	if (u->id_len > 0)
		t[n++] = (CK_ATTRIBUTE){ CKA_ID, (void *)(uintptr_t)u->id, u->id_len };
	if (p->f->C_FindObjectsInit(p->sess, t, n) != CKR_OK)
		return -1;
	if (p->f->C_FindObjects(p->sess, h, 4, &got) != CKR_OK)
		got = (CK_ULONG)-1;
	p->f->C_FindObjectsFinal(p->sess);
	return got == (CK_ULONG)-1 ? -1 : (long)got;
}

/* ---- the engine (libp11) ------------------------------------------------------------------ */

static ENGINE	*eng;
static char	 eng_module[KEYREF_PATH_MAX];
static int	 eng_keys;	/* live EVP_PKEYs loaded through eng */
static int	 eng_idx = -1;

static void
eng_release(void)
{
	if (eng != NULL) {
		ENGINE_finish(eng);
		ENGINE_free(eng);
		eng = NULL;
		eng_module[0] = '\0';
	}
}

/* ex_data free callback: the last token key freed lets the engine (and the module) go. */
static void
eng_key_freed(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	if (ptr == NULL)
		return;
	if (--eng_keys <= 0) {
		eng_keys = 0;
		eng_release();
	}
}

static int
uri_put(char *out, size_t cap, size_t *o, const char *s)
{
	size_t n = strlen(s);

	if (*o + n >= cap)
		return -1;
	memcpy(out + *o, s, n + 1);
	*o += n;
	return 0;
}

/* Percent-encode every byte outside RFC 3986's unreserved set. */
static int
uri_put_enc(char *out, size_t cap, size_t *o, const unsigned char *v, size_t n)
{
	char b[4];
	size_t i;

	for (i = 0; i < n; i++) {
		if (isalnum(v[i]) || v[i] == '-' || v[i] == '.' || v[i] == '_' || v[i] == '~') {
			b[0] = (char)v[i];
			b[1] = '\0';
		} else
			snprintf(b, sizeof(b), "%%%02X", v[i]);
		if (uri_put(out, cap, o, b) == -1)
			return -1;
	}
	return 0;
}

/* The URI the engine gets: the path attributes only (the PIN goes by its own ctrl). */
static int
engine_uri(const struct keyref_uri *u, char *out, size_t cap)
{
	size_t o = 0;

	if (uri_put(out, cap, &o, "pkcs11:token=") == -1 ||
	    uri_put_enc(out, cap, &o, (const unsigned char *)u->token, strlen(u->token)) == -1)
		return -1;
	if (u->object[0] != '\0' && (uri_put(out, cap, &o, ";object=") == -1 ||
	    uri_put_enc(out, cap, &o, (const unsigned char *)u->object, strlen(u->object)) == -1))
		return -1;
	if (u->id_len > 0 && (uri_put(out, cap, &o, ";id=") == -1 ||
	    uri_put_enc(out, cap, &o, u->id, u->id_len) == -1))
		return -1;
	return uri_put(out, cap, &o, ";type=private");
}

static EVP_PKEY *
engine_load(const struct keyref_uri *u, const char *pin, const char *what, char *err,
    size_t errlen)
{
	char uri[3 * (2 * KEYREF_LABEL_MAX + KEYREF_ID_MAX) + 64];
	EVP_PKEY *key = NULL;
	ENGINE *e;

	if (eng != NULL && strcmp(eng_module, module_of(u)) != 0) {
		pki_errx(err, errlen, "%s: one PKCS#11 module per process (%.200s is in use)",
		    what, eng_module);
		return NULL;
	}
	if (engine_uri(u, uri, sizeof(uri)) == -1) {
		pki_errx(err, errlen, "%s: URI too long", what);
		return NULL;
	}
	if (eng_idx == -1 && (eng_idx = EVP_PKEY_get_ex_new_index(0, NULL, NULL, NULL,
	    eng_key_freed)) == -1) {
		pki_errx(err, errlen, "%s: out of memory", what);
		return NULL;
	}
	ERR_clear_error();
	if (eng == NULL) {
		if ((e = ENGINE_by_id("pkcs11")) == NULL) {
			ERR_clear_error();
			pki_errx(err, errlen, "%s: OpenSSL's pkcs11 engine is missing (Debian: "
			    "libengine-pkcs11-openssl)", what);
			return NULL;
		}
		if (ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module_of(u), 0) != 1 ||
		    ENGINE_init(e) != 1) {
			ENGINE_free(e);
			pki_err(err, errlen, "%s: the pkcs11 engine cannot load %.200s", what,
			    module_of(u));
			return NULL;
		}
		eng = e;
		snprintf(eng_module, sizeof(eng_module), "%s", module_of(u));
	}
	if (pin[0] != '\0' && ENGINE_ctrl_cmd_string(eng, "PIN", pin, 0) != 1) {
		pki_err(err, errlen, "%s: the pkcs11 engine refused the PIN", what);
		goto err;
	}
	if ((key = ENGINE_load_private_key(eng, uri, NULL, NULL)) == NULL) {
		pki_err(err, errlen, "%s: the pkcs11 engine cannot load the key", what);
		goto err;
	}
	if (EVP_PKEY_set_ex_data(key, eng_idx, eng) != 1) {
		pki_errx(err, errlen, "%s: out of memory", what);
		EVP_PKEY_free(key);
		key = NULL;
		goto err;
	}
	eng_keys++;
	ERR_clear_error();
	return key;
err:
	if (eng_keys == 0)
		eng_release();
	return NULL;
}

/* The checks keyref_load() does before the engine: each failure names what is missing. */
static int
token_probe(const struct keyref_uri *u, const char *pin, const char *what, char *err,
    size_t errlen)
{
	struct p11 p;
	long n;

	if (p11_open(&p, u, pin, 0, what, err, errlen) == -1)
		return -1;
	n = p11_count_keys(&p, u);
	p11_close(&p);
	if (n < 0)
		return pki_errx(err, errlen, "%s: cannot search the token", what);
	if (n == 0)
		return pki_errx(err, errlen, "%s: object not found (no private key with this "
		    "object=/id=)", what);
	if (n > 1)
		return pki_errx(err, errlen, "%s: names more than one private key: add id=",
		    what);
	return 0;
}

EVP_PKEY *
keyref_load(const char *ref, char *err, size_t errlen)
{
	char what[KEYREF_PATH_MAX + 64], pin[KEYREF_PIN_MAX + 1];
	struct keyref_uri u;
	EVP_PKEY *key = NULL;
	int lk;

	if (!keyref_is_pkcs11(ref))
		return pki_key_read(ref, err, errlen);
	keyref_display(ref, what, sizeof(what));
	if (keyref_uri_parse(ref, &u, err, errlen) == -1)
		return NULL;
	if (pin_get(&u, pin, err, errlen) == -1)
		goto out;
	lk = module_lock(module_of(&u));
	if (token_probe(&u, pin, what, err, errlen) == 0)
		key = engine_load(&u, pin, what, err, errlen);
	module_unlock(lk);
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	keyref_uri_clear(&u);
	return key;
}

/* DER of the OID prime256v1 (RFC 5480 §2.1.1.1): CKA_EC_PARAMS as a namedCurve. */
static const unsigned char p256_oid[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};

EVP_PKEY *
keyref_generate(const char *uri, const char *type, char *err, size_t errlen)
{
	char what[KEYREF_PATH_MAX + 64], pin[KEYREF_PIN_MAX + 1];
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE pub, priv;
	struct keyref_uri u;
	struct p11 p;
	EVP_PKEY *key = NULL;
	long n;
	int lk = -1;
	CK_RV rv;

	memset(&p, 0, sizeof(p));
	if (!keyref_is_pkcs11(uri)) {
		pki_errx(err, errlen, "%.200s: not a pkcs11: URI", uri);
		return NULL;
	}
	keyref_display(uri, what, sizeof(what));
	if (type != NULL && strcmp(type, "p256") != 0) {
		pki_errx(err, errlen, "%s: key type %.40s: only p256 is generated in a token",
		    what, type);
		return NULL;
	}
	if (keyref_uri_parse(uri, &u, err, errlen) == -1)
		return NULL;
	if (u.object[0] == '\0') {
		pki_errx(err, errlen, "%s: object= is required to generate a key", what);
		goto out;
	}
	if (pin_get(&u, pin, err, errlen) == -1)
		goto out;
	lk = module_lock(module_of(&u));
	if (p11_open(&p, &u, pin, 1, what, err, errlen) == -1)
		goto out;
	if ((n = p11_count_keys(&p, &u)) != 0) {
		pki_errx(err, errlen, n > 0 ? "%s: a private key by this name exists already: "
		    "not replaced" : "%s: cannot search the token", what);
		goto out;
	}
	if (u.id_len == 0) {
		if (RAND_bytes(u.id, 16) != 1) {
			pki_errx(err, errlen, "%s: no randomness for the key id", what);
			goto out;
		}
		u.id_len = 16;
	}
	{
		CK_ATTRIBUTE pubt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_EC_PARAMS, (void *)(uintptr_t)p256_oid, sizeof(p256_oid) },
			{ CKA_LABEL, u.object, strlen(u.object) },
			{ CKA_ID, u.id, u.id_len },
		};
		CK_ATTRIBUTE privt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },
			{ CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_LABEL, u.object, strlen(u.object) },
			{ CKA_ID, u.id, u.id_len },
		};

		rv = p.f->C_GenerateKeyPair(p.sess, &mech, pubt, sizeof(pubt) / sizeof(pubt[0]),
		    privt, sizeof(privt) / sizeof(privt[0]), &pub, &priv);
		if (rv != CKR_OK) {
			pki_errx(err, errlen, "%s: C_GenerateKeyPair (EC P-256) failed (0x%lx)",
			    what, (unsigned long)rv);
			goto out;
		}
	}
	p11_close(&p);
	key = engine_load(&u, pin, what, err, errlen);
out:
	p11_close(&p);
	module_unlock(lk);
	OPENSSL_cleanse(pin, sizeof(pin));
	keyref_uri_clear(&u);
	return key;
}

int
keyref_lock(EVP_PKEY *key)
{
	if (key == NULL || eng_idx == -1 || EVP_PKEY_get_ex_data(key, eng_idx) == NULL ||
	    eng_module[0] == '\0')
		return -1;
	return module_lock(eng_module);
}

void
keyref_unlock(int lock)
{
	module_unlock(lock);
}

int
keyref_probe(EVP_PKEY *key, const char *ref, const char *prefix, const char *user,
    char *err, size_t errlen)
{
	static const unsigned char msg[] = "latchkey start-up probe";
	unsigned char sig[1024];
	char what[300];
	size_t sl = sizeof(sig);
	EVP_MD_CTX *ctx;
	int ok = 0, lk;

	if ((ctx = EVP_MD_CTX_new()) != NULL) {
		lk = keyref_lock(key);
		ok = EVP_DigestSignInit(ctx, NULL, pki_sig_md(key), NULL, key) == 1 &&
		    EVP_DigestSign(ctx, sig, &sl, msg, sizeof(msg) - 1) == 1;
		keyref_unlock(lk);
		EVP_MD_CTX_free(ctx);
	}
	ERR_clear_error();
	if (ok)
		return 0;
	keyref_display(ref, what, sizeof(what));
	return pki_errx(err, errlen, "%s%s cannot sign as user %s (a PKCS#11 token must be "
	    "usable by that user)", prefix, what, user);
}
