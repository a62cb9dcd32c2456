/*
 * b64: base64 (RFC 4648 §4) as EST uses it (RFC 7030 §4: Content-Transfer-Encoding base64,
 * bodies may be wrapped in lines of any length with CRLF or LF).
 */
#ifndef LATCHKEY_B64_H
#define LATCHKEY_B64_H

#include <stddef.h>

/* Length of the encoding of n bytes, without line breaks, plus NUL. */
#define B64_ENCLEN(n)	(((n) + 2) / 3 * 4 + 1)

/*
 * Encode; when wrap > 0 insert "\n" every wrap characters (and at the end). LF, not CRLF:
 * HTTP bodies are not MIME canonical text, and common tools (coreutils base64 -d) reject CR. Returns a
 * malloc'd NUL-terminated string (caller frees) and its length in *outlen, or NULL.
 */
char	*b64_encode(const unsigned char *in, size_t n, size_t wrap, size_t *outlen);
/*
 * Decode, skipping ASCII whitespace (space, tab, CR, LF) anywhere; '=' padding required to
 * complete the last quantum as RFC 4648 says, but unpadded input whose length is valid is
 * accepted too (some clients omit it). Any other character or a bad length fails.
 * Returns a malloc'd buffer (caller frees) and *outlen, or NULL with err.
 */
unsigned char *b64_decode(const char *in, size_t n, size_t *outlen, char *err, size_t errlen);

#endif
