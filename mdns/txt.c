/*
 * txt: DNS-SD TXT record codec (RFC 6763 §6). See txt.h for the rules.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdns/txt.h"

/*
 * One attribute. buf holds "key\0" followed, unless boolean, by the value and a NUL;
 * key points at buf, val into it (NULL for a boolean attribute).
 */
struct txt_entry {
	char		*key;
	size_t		 klen;
	uint8_t		*val;
	size_t		 vlen;
};

struct txt {
	struct txt_entry *e;
	size_t		 n;
	size_t		 cap;
};

struct txt_builder {
	struct txt	 set;
};

int
mdns_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ASCII-only case folding: keys are US-ASCII (RFC 6763 §6.4), locale must not matter. */
static int
txt_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
txt_key_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (txt_lower((unsigned char)a[i]) != txt_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* RFC 6763 §6.4: printable US-ASCII (0x20-0x7E) except '=', at least one character. */
static int
txt_key_valid(const uint8_t *k, size_t klen)
{
	size_t i;

	if (klen == 0)
		return 0;
	for (i = 0; i < klen; i++)
		if (k[i] < 0x20 || k[i] > 0x7e || k[i] == '=')
			return 0;
	return 1;
}

static const struct txt_entry *
txt_find(const struct txt *t, const char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (txt_key_eq(t->e[i].key, t->e[i].klen, key, klen))
			return &t->e[i];
	return NULL;
}

/* Append a copy of key/val (val NULL = boolean) to t. Returns 0 or -1 (out of memory). */
static int
txt_append(struct txt *t, const char *key, size_t klen, const uint8_t *val, size_t vlen)
{
	struct txt_entry *ne, *en;
	size_t ncap, sz;
	char *buf;

	if (t->n == t->cap) {
		ncap = t->cap ? t->cap * 2 : 8;
		ne = realloc(t->e, ncap * sizeof(*ne));
		if (ne == NULL)
			return -1;
		t->e = ne;
		t->cap = ncap;
	}
	/* Both lengths are bounded by TXT_STRING_MAX by the callers: no overflow. */
	sz = klen + 1 + (val != NULL ? vlen + 1 : 0);
	if ((buf = malloc(sz)) == NULL)
		return -1;
	memcpy(buf, key, klen);
	buf[klen] = '\0';
	en = &t->e[t->n];
	en->key = buf;
	en->klen = klen;
	en->val = NULL;
	en->vlen = 0;
	if (val != NULL) {
		en->val = (uint8_t *)buf + klen + 1;
		if (vlen > 0)
			memcpy(en->val, val, vlen);
		en->val[vlen] = '\0';
		en->vlen = vlen;
	}
	t->n++;
	return 0;
}

static void
txt_clear(struct txt *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->e[i].key);
	free(t->e);
	t->e = NULL;
	t->n = t->cap = 0;
}

/*
 * Apply the RFC 6763 §6 rules to one string s of slen bytes and add it to t when it is kept.
 * Returns 0 (kept or ignored) or -1 (out of memory).
 */
static int
txt_take_string(struct txt *t, const uint8_t *s, size_t slen)
{
	const uint8_t *eq;
	size_t klen;

	if (slen == 0)			/* §6.1: empty string, nothing in it */
		return 0;
	if (s[0] == '=')		/* §6.4: no key, silently ignore */
		return 0;
	eq = memchr(s, '=', slen);
	klen = eq != NULL ? (size_t)(eq - s) : slen;
	if (!txt_key_valid(s, klen))	/* not a usable key: ignore the string */
		return 0;
	if (txt_find(t, (const char *)s, klen) != NULL)
		return 0;		/* §6.4: only the first occurrence counts */
	if (eq == NULL)			/* §6.4: "key" alone is a boolean attribute */
		return txt_append(t, (const char *)s, klen, NULL, 0);
	return txt_append(t, (const char *)s, klen, eq + 1, slen - klen - 1);
}

int
txt_parse(const uint8_t *rdata, size_t len, struct txt **out, char *err, size_t errlen)
{
	struct txt *t = NULL;
	size_t off = 0, slen;

	if (out == NULL || (rdata == NULL && len > 0)) {
		mdns_errf(err, errlen, "txt: invalid arguments");
		return -1;
	}
	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto nomem;
	while (off < len) {
		slen = rdata[off++];
		if (slen > len - off) {
			mdns_errf(err, errlen, "txt: truncated record: string at offset %zu "
			    "claims %zu bytes, %zu left", off - 1, slen, len - off);
			goto err;
		}
		if (txt_take_string(t, rdata + off, slen) == -1)
			goto nomem;
		off += slen;
	}
	*out = t;
	return 0;
nomem:
	mdns_errf(err, errlen, "txt: out of memory");
err:
	txt_free(t);
	return -1;
}

int
txt_from_strings(const char *const *kv, size_t n, struct txt **out, char *err,
    size_t errlen)
{
	struct txt *t = NULL;
	size_t i, slen;

	if (out == NULL || (kv == NULL && n > 0)) {
		mdns_errf(err, errlen, "txt: invalid arguments");
		return -1;
	}
	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		if (kv[i] == NULL) {
			mdns_errf(err, errlen, "txt: string %zu is NULL", i);
			goto err;
		}
		/* A TXT string is at most 255 bytes (RFC 6763 §6.1); look no further. */
		slen = strnlen(kv[i], TXT_STRING_MAX + 1);
		if (slen > TXT_STRING_MAX) {
			mdns_errf(err, errlen, "txt: string %zu longer than %d bytes", i,
			    TXT_STRING_MAX);
			goto err;
		}
		if (txt_take_string(t, (const uint8_t *)kv[i], slen) == -1)
			goto nomem;
	}
	*out = t;
	return 0;
nomem:
	mdns_errf(err, errlen, "txt: out of memory");
err:
	txt_free(t);
	return -1;
}

int
txt_get(const struct txt *t, const char *key, const uint8_t **val, size_t *vlen)
{
	const struct txt_entry *en;

	if (t == NULL || key == NULL)
		return 0;
	if ((en = txt_find(t, key, strlen(key))) == NULL)
		return 0;
	if (val != NULL)
		*val = en->val;
	if (vlen != NULL)
		*vlen = en->vlen;
	return 1;
}

int
txt_get_at(const struct txt *t, size_t i, const char **key, const uint8_t **val,
    size_t *vlen)
{
	if (t == NULL || i >= t->n)
		return 0;
	if (key != NULL)
		*key = t->e[i].key;
	if (val != NULL)
		*val = t->e[i].val;
	if (vlen != NULL)
		*vlen = t->e[i].vlen;
	return 1;
}

size_t
txt_count(const struct txt *t)
{
	return t != NULL ? t->n : 0;
}

void
txt_free(struct txt *t)
{
	if (t == NULL)
		return;
	txt_clear(t);
	free(t);
}

struct txt_builder *
txt_builder_new(void)
{
	return calloc(1, sizeof(struct txt_builder));
}

void
txt_builder_free(struct txt_builder *b)
{
	if (b == NULL)
		return;
	txt_clear(&b->set);
	free(b);
}

int
txt_add_bytes(struct txt_builder *b, const char *key, const uint8_t *val, size_t vlen,
    char *err, size_t errlen)
{
	size_t klen;

	if (b == NULL || key == NULL) {
		mdns_errf(err, errlen, "txt: invalid arguments");
		return -1;
	}
	/* Bounded: anything longer than one string cannot be a key. */
	klen = strnlen(key, TXT_STRING_MAX + 1);
	if (!txt_key_valid((const uint8_t *)key, klen)) {
		mdns_errf(err, errlen, "txt: invalid key: must be 1 or more printable "
		    "ASCII characters other than '='");
		return -1;
	}
	/* RFC 6763 §6.1: "key" or "key=value" must fit one length byte. */
	if (klen > TXT_STRING_MAX || (val != NULL &&
	    (klen >= TXT_STRING_MAX || vlen > TXT_STRING_MAX - 1 - klen))) {
		mdns_errf(err, errlen, "txt: attribute \"%.*s\" longer than %d bytes",
		    (int)(klen > 32 ? 32 : klen), key, TXT_STRING_MAX);
		return -1;
	}
	if (txt_find(&b->set, key, klen) != NULL) {
		mdns_errf(err, errlen, "txt: duplicate key \"%s\"", key);
		return -1;
	}
	if (txt_append(&b->set, key, klen, val, vlen) == -1) {
		mdns_errf(err, errlen, "txt: out of memory");
		return -1;
	}
	return 0;
}

int
txt_add(struct txt_builder *b, const char *key, const char *value, char *err,
    size_t errlen)
{
	size_t vlen = 0;

	if (value != NULL)
		vlen = strnlen(value, TXT_STRING_MAX + 1);
	return txt_add_bytes(b, key, (const uint8_t *)value, vlen, err, errlen);
}

int
txt_encode(const struct txt_builder *b, uint8_t **rdata, size_t *len, char *err,
    size_t errlen)
{
	const struct txt_entry *en;
	uint8_t *buf = NULL, *p;
	size_t i, total = 0, slen;

	if (b == NULL || rdata == NULL || len == NULL) {
		mdns_errf(err, errlen, "txt: invalid arguments");
		return -1;
	}
	*rdata = NULL;
	*len = 0;
	for (i = 0; i < b->set.n; i++) {
		en = &b->set.e[i];
		total += 1 + en->klen + (en->val != NULL ? 1 + en->vlen : 0);
		if (total > TXT_RDATA_MAX) {
			mdns_errf(err, errlen, "txt: record longer than %d bytes",
			    TXT_RDATA_MAX);
			return -1;
		}
	}
	if (total == 0)			/* §6.1: an empty TXT record is one zero byte */
		total = 1;
	if ((buf = malloc(total)) == NULL) {
		mdns_errf(err, errlen, "txt: out of memory");
		return -1;
	}
	p = buf;
	if (b->set.n == 0)
		*p++ = 0;
	for (i = 0; i < b->set.n; i++) {
		en = &b->set.e[i];
		slen = en->klen + (en->val != NULL ? 1 + en->vlen : 0);
		*p++ = (uint8_t)slen;
		memcpy(p, en->key, en->klen);
		p += en->klen;
		if (en->val != NULL) {
			*p++ = '=';
			if (en->vlen > 0)
				memcpy(p, en->val, en->vlen);
			p += en->vlen;
		}
	}
	*rdata = buf;
	*len = total;
	return 0;
}
