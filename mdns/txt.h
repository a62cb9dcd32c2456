/*
 * txt: DNS-SD TXT record codec (RFC 6763 §6). Pure C, no Avahi types.
 *
 * Wire format (RFC 6763 §6.1, RFC 1035 §3.3.14): the rdata is a sequence of strings, each one
 * length byte (0..255) followed by that many bytes. Each string is "key=value", "key" alone
 * (boolean attribute, present = true, §6.4) or "key=" (empty value, §6.4).
 *
 * Rules applied by the parser:
 *   - keys are printable US-ASCII 0x20-0x7E except '=', at least one character (§6.4);
 *     §6.4 recommends at most 9 characters, longer keys are accepted;
 *   - keys compare case-insensitively (§6.4); the first occurrence of a key wins, later
 *     duplicates are silently ignored (§6.4);
 *   - a zero-length string is ignored (an empty record is one zero byte, §6.1);
 *   - a string starting with '=' (no key) is silently ignored (§6.4);
 *   - a string whose key holds a byte outside 0x20-0x7E is ignored too;
 *   - a value is arbitrary bytes (§6.5), possibly containing NUL;
 *   - a length byte pointing past the end of the rdata is an error (the record is truncated).
 *
 * latchkey's TXT keys, announced with the registrar's services (_brski-registrar._tcp,
 * _brski-proxy._tcp, _latchkey-posture._tcp, _latchkey-update._tcp) and read by the agent:
 *
 *   txtvers=1   version of this key set (§6.7); sent first. A browser ignores records whose
 *               txtvers it does not know.
 *   rt          protocol tokens the server speaks, comma-separated, no spaces:
 *               "est-tls" (EST, RFC 7030, over TLS) and/or "brski" (RFC 8995 vouchers),
 *               e.g. "rt=est-tls,brski". Unknown tokens are ignored.
 *   path        EST path prefix; default "/.well-known/est" (RFC 7030 §3.2.2) when absent.
 *   pri         priority, decimal 0..65535; lower is tried first; default 100 when absent
 *               or not a number.
 *   dom         the owner domain's name (as given to `latchkeyctl init --domain`).
 *   cafp        "sha256:HEX", SHA-256 fingerprint (64 hex digits) of the domain CA
 *               certificate. A hint only: anyone on the link can announce it, so it is never
 *               trusted alone; trust comes from the voucher (RFC 8995) or an explicit pin.
 *
 * Ownership: struct txt owns copies of every key and value; pointers returned by txt_get()
 * and txt_get_at() stay valid until txt_free(). struct txt_builder likewise owns copies.
 */
#ifndef LATCHKEY_TXT_H
#define LATCHKEY_TXT_H

#include <stddef.h>
#include <stdint.h>

#define TXT_STRING_MAX	255	/* one string's length byte (RFC 6763 §6.1) */
#define TXT_RDATA_MAX	65535	/* RDLENGTH is 16 bits (RFC 1035 §3.2.1) */

/* latchkey's keys and defaults (see above). */
#define TXT_KEY_TXTVERS	"txtvers"
#define TXT_KEY_RT	"rt"
#define TXT_KEY_PATH	"path"
#define TXT_KEY_PRI	"pri"
#define TXT_KEY_DOM	"dom"
#define TXT_KEY_CAFP	"cafp"
#define TXT_TXTVERS	"1"
#define TXT_RT_EST_TLS	"est-tls"
#define TXT_RT_BRSKI	"brski"
#define TXT_DEFAULT_PATH "/.well-known/est"
#define TXT_DEFAULT_PRI	100

struct txt;		/* a parsed set of attributes, in record order */
struct txt_builder;	/* attributes being assembled for txt_encode() */

/*
 * Parse len bytes of TXT rdata into a new set (*out, caller frees with txt_free()). Reads
 * only rdata[0..len); len 0 is taken as an empty set. Returns 0, or -1 with err when a
 * length byte runs past the end or memory runs out (*out is then NULL).
 */
int	 txt_parse(const uint8_t *rdata, size_t len, struct txt **out, char *err,
	    size_t errlen);

/*
 * Build a set from n NUL-terminated strings in the string-list form Avahi hands out
 * ("key=value", "key", "key="), with the same rules as txt_parse(). A string longer than
 * TXT_STRING_MAX cannot come from a TXT record and is an error. Returns 0 or -1 with err.
 */
int	 txt_from_strings(const char *const *kv, size_t n, struct txt **out, char *err,
	    size_t errlen);

/*
 * Look up key (case-insensitive). Returns 1 when present: *val points at the value (owned by
 * t, NUL-terminated for convenience, but may hold NUL bytes: use *vlen) or is NULL for a
 * boolean attribute ("key" without '='); "key=" gives a non-NULL "" and *vlen 0.
 * Returns 0 when absent (or t/key NULL). val and vlen may be NULL.
 */
int	 txt_get(const struct txt *t, const char *key, const uint8_t **val, size_t *vlen);

/*
 * The i-th attribute in record order (0 <= i < txt_count()): *key as received, *val and *vlen
 * as for txt_get(). Returns 1, or 0 when i is out of range. Any out pointer may be NULL.
 */
int	 txt_get_at(const struct txt *t, size_t i, const char **key, const uint8_t **val,
	    size_t *vlen);

size_t	 txt_count(const struct txt *t);	/* number of attributes kept; 0 for NULL */
void	 txt_free(struct txt *t);		/* NULL is fine */

struct txt_builder *txt_builder_new(void);	/* NULL when out of memory */
void	 txt_builder_free(struct txt_builder *b);	/* NULL is fine */

/*
 * Append key=value (value a NUL-terminated string) or, with value NULL, the boolean "key".
 * Fails (-1 with err, builder unchanged) when the key is empty or holds a byte outside
 * printable ASCII or '=', when the key is already present (case-insensitive; a parser would
 * drop the second one), or when the string would exceed TXT_STRING_MAX bytes.
 */
int	 txt_add(struct txt_builder *b, const char *key, const char *value, char *err,
	    size_t errlen);

/* txt_add() with a value of vlen arbitrary bytes; val NULL means boolean. */
int	 txt_add_bytes(struct txt_builder *b, const char *key, const uint8_t *val,
	    size_t vlen, char *err, size_t errlen);

/*
 * Encode the attributes in the order added. *rdata is malloc'd (caller frees), *len its
 * length. An empty builder encodes as a single zero byte (RFC 6763 §6.1). Fails with err when
 * the rdata would exceed TXT_RDATA_MAX or memory runs out.
 */
int	 txt_encode(const struct txt_builder *b, uint8_t **rdata, size_t *len, char *err,
	    size_t errlen);

/*
 * Format one line into the caller's error buffer err (may be NULL); returns -1. For the
 * whole mdns library, which must not depend on enroll/.
 */
int	 mdns_errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
