/*
 * dhcpopt: codec for latchkey's DHCP discovery options (RFC 8572 SZTP redirect, RFC 3925 /
 * RFC 8415 vendor options), the hook configuration's values and the per-packet decision.
 * See dhcpopt.h for the wire formats, sub-option codes and size limits.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dhcp-hook/dhcpopt.h"

#define V4_VENDOR_HDR	5	/* enterprise-number + data-len (RFC 3925 §4) */
#define V6_VENDOR_HDR	4	/* enterprise-number (RFC 8415 §21.17) */
#define V4_SUB_HDR	2	/* code + len */
#define V6_SUB_HDR	4	/* code(2) + len(2) */
#define V4_OPT_HDR	2	/* DHCPv4 option code + len */
#define V4_COOKIE_END	5	/* magic cookie (4) + END option (1) */
#define SZTP_ENTRY_HDR	2	/* uri-length (RFC 8572 §8.3) */
#define REGISTRY_PATH_MAX 4096

struct dhcpopt_config {
	struct dhcpopt_list	 lists[3];	/* by enum dhcpopt_uri_list */
	uint32_t		 enterprise;
	char			*fingerprint;
	char			*registry;
	char			*revoked_class;
	char			*only_class;
	uint8_t			*enc[4];	/* by enum dhcpopt_encoded */
	size_t			 enclen[4];
};

static const char *const list_param[3] = {
	"registrar-uris", "posture-uris", "update-uris"
};

void
dhcpopt_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static size_t
get16(const uint8_t *p)
{
	return ((size_t)p[0] << 8) | p[1];
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static char *
dup_n(const char *s, size_t len)
{
	char *p;

	if ((p = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Append a copy of s[0..len) to l. Returns 0 or -1 (out of memory, err set). */
static int
list_add(struct dhcpopt_list *l, const char *s, size_t len, char *err, size_t errlen)
{
	char **v, *copy;

	if ((copy = dup_n(s, len)) == NULL)
		goto err;
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL) {
		free(copy);
		goto err;
	}
	v[l->n++] = copy;
	l->v = v;
	return 0;
err:
	dhcpopt_err(err, errlen, "out of memory");
	return -1;
}

void
dhcpopt_list_free(struct dhcpopt_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
dhcpopt_vendor_free(struct dhcpopt_vendor *v)
{
	if (v == NULL)
		return;
	dhcpopt_list_free(&v->posture);
	dhcpopt_list_free(&v->update);
	free(v->ca_fingerprint);
	free(v);
}

/* RFC 8572 §8.3: https only; printable without space so a URI never hides in a log line. */
int
dhcpopt_uri_check(const char *uri, size_t len, size_t max, char *err, size_t errlen)
{
	static const char scheme[] = "https://";
	size_t i;

	if (len == 0) {
		dhcpopt_err(err, errlen, "empty URI");
		return -1;
	}
	if (len > max) {
		dhcpopt_err(err, errlen, "URI of %zu octets is longer than %zu", len, max);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)uri[i] < 0x21 || (unsigned char)uri[i] > 0x7e) {
			dhcpopt_err(err, errlen, "URI has a space or non-printable octet "
			    "(0x%02x) at offset %zu", (unsigned char)uri[i], i);
			return -1;
		}
	}
	if (len < sizeof(scheme) - 1 || strncasecmp(uri, scheme, sizeof(scheme) - 1) != 0) {
		dhcpopt_err(err, errlen, "URI scheme must be https (RFC 8572 §8.3)");
		return -1;
	}
	i = sizeof(scheme) - 1;
	if (i == len || uri[i] == '/' || uri[i] == '?' || uri[i] == '#') {
		dhcpopt_err(err, errlen, "URI has no host after https://");
		return -1;
	}
	return 0;
}

int
dhcpopt_fingerprint_check(const char *fp, size_t len, char *err, size_t errlen)
{
	static const char prefix[] = "sha256:";
	size_t i, plen = sizeof(prefix) - 1;

	if (len != DHCPOPT_FINGERPRINT_LEN || strncasecmp(fp, prefix, plen) != 0) {
		dhcpopt_err(err, errlen, "CA fingerprint must be \"sha256:\" followed by 64 hex "
		    "digits");
		return -1;
	}
	for (i = plen; i < len; i++) {
		if (!isxdigit((unsigned char)fp[i])) {
			dhcpopt_err(err, errlen, "CA fingerprint has a non-hex character at "
			    "offset %zu", i);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* RFC 8572 §8.3 bootstrap-server-list. */

size_t
dhcpopt_sztp_size(const char *const *uris, size_t n)
{
	size_t i, total = 0;

	for (i = 0; i < n; i++)
		total += SZTP_ENTRY_HDR + strlen(uris[i]);
	return total;
}

int
dhcpopt_sztp_encode(const char *const *uris, size_t n, uint8_t *buf, size_t cap,
    size_t *outlen, char *err, size_t errlen)
{
	size_t i, len, off = 0, need;

	need = dhcpopt_sztp_size(uris, n);
	if (need > cap) {
		dhcpopt_err(err, errlen, "bootstrap-server-list needs %zu octets, buffer has "
		    "%zu", need, cap);
		return -1;
	}
	for (i = 0; i < n; i++) {
		len = strlen(uris[i]);
		if (len == 0 || len > 0xffff) {
			dhcpopt_err(err, errlen, "URI %zu: length %zu does not fit uri-length "
			    "(1..65535, RFC 8572 §8.3)", i + 1, len);
			return -1;
		}
		put16(buf + off, len);
		memcpy(buf + off + SZTP_ENTRY_HDR, uris[i], len);
		off += SZTP_ENTRY_HDR + len;
	}
	*outlen = off;
	return 0;
}

int
dhcpopt_sztp_decode(const uint8_t *data, size_t len, struct dhcpopt_list *out, char *err,
    size_t errlen)
{
	struct dhcpopt_list l = { NULL, 0 };
	size_t off = 0, ulen;
	char why[160];

	out->v = NULL;
	out->n = 0;
	if (len == 0) {
		dhcpopt_err(err, errlen, "empty bootstrap-server-list (RFC 8572 §8.3)");
		goto err;
	}
	while (off < len) {
		if (len - off < SZTP_ENTRY_HDR) {
			dhcpopt_err(err, errlen, "entry %zu: uri-length truncated at offset %zu",
			    l.n + 1, off);
			goto err;
		}
		ulen = get16(data + off);
		off += SZTP_ENTRY_HDR;
		if (ulen == 0) {
			dhcpopt_err(err, errlen, "entry %zu: zero-length URI", l.n + 1);
			goto err;
		}
		if (ulen > len - off) {
			dhcpopt_err(err, errlen, "entry %zu: URI truncated (%zu octets announced, "
			    "%zu present)", l.n + 1, ulen, len - off);
			goto err;
		}
		if (l.n == DHCPOPT_LIST_MAX) {
			dhcpopt_err(err, errlen, "more than %d URIs", DHCPOPT_LIST_MAX);
			goto err;
		}
		if (dhcpopt_uri_check((const char *)data + off, ulen, DHCPOPT_URI_DECODE_MAX,
		    why, sizeof(why)) == -1) {
			dhcpopt_err(err, errlen, "entry %zu: %s", l.n + 1, why);
			goto err;
		}
		if (list_add(&l, (const char *)data + off, ulen, err, errlen) == -1)
			goto err;
		off += ulen;
	}
	*out = l;
	return 0;
err:
	dhcpopt_list_free(&l);
	return -1;
}

/* ------------------------------------------------------------------------------------ */
/* Vendor options. */

/* Visit the sub-options of our vendor content in wire order. */
struct sub_item {
	unsigned	 code;
	const char	*data;
	size_t		 len;
};

static size_t
vendor_items(const struct dhcpopt_list *posture, const struct dhcpopt_list *update,
    const char *fingerprint, struct sub_item *items, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; posture != NULL && i < posture->n && n < cap; i++)
		items[n++] = (struct sub_item){ DHCPOPT_SUB_POSTURE_URI, posture->v[i],
		    strlen(posture->v[i]) };
	for (i = 0; update != NULL && i < update->n && n < cap; i++)
		items[n++] = (struct sub_item){ DHCPOPT_SUB_UPDATE_URI, update->v[i],
		    strlen(update->v[i]) };
	if (fingerprint != NULL && n < cap)
		items[n++] = (struct sub_item){ DHCPOPT_SUB_CA_FINGERPRINT, fingerprint,
		    strlen(fingerprint) };
	return n;
}

static size_t
vendor_count(const struct dhcpopt_list *posture, const struct dhcpopt_list *update,
    const char *fingerprint)
{
	return (posture != NULL ? posture->n : 0) + (update != NULL ? update->n : 0) +
	    (fingerprint != NULL ? 1 : 0);
}

static size_t
vendor_size(const struct dhcpopt_list *posture, const struct dhcpopt_list *update,
    const char *fingerprint, size_t hdr, size_t subhdr)
{
	size_t i, total = hdr;

	for (i = 0; posture != NULL && i < posture->n; i++)
		total += subhdr + strlen(posture->v[i]);
	for (i = 0; update != NULL && i < update->n; i++)
		total += subhdr + strlen(update->v[i]);
	if (fingerprint != NULL)
		total += subhdr + strlen(fingerprint);
	return total;
}

size_t
dhcpopt_vendor4_size(const struct dhcpopt_list *posture, const struct dhcpopt_list *update,
    const char *fingerprint)
{
	return vendor_size(posture, update, fingerprint, V4_VENDOR_HDR, V4_SUB_HDR);
}

size_t
dhcpopt_vendor6_size(const struct dhcpopt_list *posture, const struct dhcpopt_list *update,
    const char *fingerprint)
{
	return vendor_size(posture, update, fingerprint, V6_VENDOR_HDR, V6_SUB_HDR);
}

/*
 * Shared encoder: v6 == 0 writes RFC 3925 §4 (1-octet code/len, data-len after the
 * enterprise), v6 == 1 writes RFC 8415 §21.17 (2-octet code/len, no data-len).
 */
static int
vendor_encode(int v6, uint32_t enterprise, const struct dhcpopt_list *posture,
    const struct dhcpopt_list *update, const char *fingerprint, uint8_t *buf, size_t cap,
    size_t *outlen, char *err, size_t errlen)
{
	struct sub_item *items = NULL;
	size_t i, n, need, off, maxitem = v6 ? 0xffff : 0xff;

	need = v6 ? dhcpopt_vendor6_size(posture, update, fingerprint) :
	    dhcpopt_vendor4_size(posture, update, fingerprint);
	if (need > cap) {
		dhcpopt_err(err, errlen, "vendor option needs %zu octets, buffer has %zu",
		    need, cap);
		return -1;
	}
	if (!v6 && need - V4_VENDOR_HDR > 0xff) {
		dhcpopt_err(err, errlen, "vendor sub-options take %zu octets, over the "
		    "255 of data-len (RFC 3925 §4)", need - V4_VENDOR_HDR);
		return -1;
	}
	n = vendor_count(posture, update, fingerprint);
	if (n > 0 && (items = calloc(n, sizeof(*items))) == NULL) {
		dhcpopt_err(err, errlen, "out of memory");
		return -1;
	}
	n = vendor_items(posture, update, fingerprint, items, n);
	put32(buf, enterprise);
	off = v6 ? V6_VENDOR_HDR : V4_VENDOR_HDR;
	if (!v6)
		buf[4] = (uint8_t)(need - V4_VENDOR_HDR);
	for (i = 0; i < n; i++) {
		if (items[i].len == 0 || items[i].len > maxitem) {
			dhcpopt_err(err, errlen, "sub-option %u: length %zu does not fit "
			    "(1..%zu)", items[i].code, items[i].len, maxitem);
			goto err;
		}
		if (v6) {
			put16(buf + off, items[i].code);
			put16(buf + off + 2, items[i].len);
			off += V6_SUB_HDR;
		} else {
			buf[off] = (uint8_t)items[i].code;
			buf[off + 1] = (uint8_t)items[i].len;
			off += V4_SUB_HDR;
		}
		memcpy(buf + off, items[i].data, items[i].len);
		off += items[i].len;
	}
	free(items);
	*outlen = off;
	return 0;
err:
	free(items);
	return -1;
}

int
dhcpopt_vendor4_encode(uint32_t enterprise, const struct dhcpopt_list *posture,
    const struct dhcpopt_list *update, const char *fingerprint, uint8_t *buf, size_t cap,
    size_t *outlen, char *err, size_t errlen)
{
	return vendor_encode(0, enterprise, posture, update, fingerprint, buf, cap, outlen,
	    err, errlen);
}

int
dhcpopt_vendor6_encode(uint32_t enterprise, const struct dhcpopt_list *posture,
    const struct dhcpopt_list *update, const char *fingerprint, uint8_t *buf, size_t cap,
    size_t *outlen, char *err, size_t errlen)
{
	return vendor_encode(1, enterprise, posture, update, fingerprint, buf, cap, outlen,
	    err, errlen);
}

/* Take one of our sub-options into v. Unknown codes are skipped (dhcpopt.h). */
static int
vendor_take(struct dhcpopt_vendor *v, unsigned code, const uint8_t *d, size_t len,
    char *err, size_t errlen)
{
	struct dhcpopt_list *l;
	char why[160];

	switch (code) {
	case DHCPOPT_SUB_POSTURE_URI:
	case DHCPOPT_SUB_UPDATE_URI:
		l = code == DHCPOPT_SUB_POSTURE_URI ? &v->posture : &v->update;
		if (l->n == DHCPOPT_LIST_MAX) {
			dhcpopt_err(err, errlen, "sub-option %u: more than %d URIs", code,
			    DHCPOPT_LIST_MAX);
			return -1;
		}
		if (dhcpopt_uri_check((const char *)d, len, DHCPOPT_URI_DECODE_MAX, why,
		    sizeof(why)) == -1) {
			dhcpopt_err(err, errlen, "sub-option %u: %s", code, why);
			return -1;
		}
		return list_add(l, (const char *)d, len, err, errlen);
	case DHCPOPT_SUB_CA_FINGERPRINT:
		if (v->ca_fingerprint != NULL) {
			dhcpopt_err(err, errlen, "sub-option 3 (CA fingerprint) repeated");
			return -1;
		}
		if (dhcpopt_fingerprint_check((const char *)d, len, why, sizeof(why)) == -1) {
			dhcpopt_err(err, errlen, "sub-option 3: %s", why);
			return -1;
		}
		if ((v->ca_fingerprint = dup_n((const char *)d, len)) == NULL) {
			dhcpopt_err(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

/* Walk sub-options of d[0..len): 1-octet code/len (v4) or 2-octet (v6). */
static int
vendor_walk(int v6, struct dhcpopt_vendor *v, const uint8_t *d, size_t len, char *err,
    size_t errlen)
{
	size_t off = 0, hdr = v6 ? V6_SUB_HDR : V4_SUB_HDR, slen;
	unsigned code;

	while (off < len) {
		if (len - off < hdr) {
			dhcpopt_err(err, errlen, "sub-option header truncated at offset %zu",
			    off);
			return -1;
		}
		code = v6 ? (unsigned)get16(d + off) : d[off];
		slen = v6 ? get16(d + off + 2) : d[off + 1];
		off += hdr;
		if (slen > len - off) {
			dhcpopt_err(err, errlen, "sub-option %u truncated (%zu octets announced, "
			    "%zu present)", code, slen, len - off);
			return -1;
		}
		if (vendor_take(v, code, d + off, slen, err, errlen) == -1)
			return -1;
		off += slen;
	}
	return 0;
}

static struct dhcpopt_vendor *
vendor_new(uint32_t enterprise, char *err, size_t errlen)
{
	struct dhcpopt_vendor *v;

	if ((v = calloc(1, sizeof(*v))) == NULL) {
		dhcpopt_err(err, errlen, "out of memory");
		return NULL;
	}
	v->enterprise = enterprise;
	return v;
}

/* RFC 3925 §4: walk every enterprise block; ours may appear more than once (concatenated). */
int
dhcpopt_vendor4_decode(const uint8_t *data, size_t len, uint32_t enterprise,
    struct dhcpopt_vendor **out, char *err, size_t errlen)
{
	struct dhcpopt_vendor *v = NULL;
	size_t off = 0, dlen;
	uint32_t ent;

	*out = NULL;
	if (len == 0) {
		dhcpopt_err(err, errlen, "empty V-I vendor option (RFC 3925 §4)");
		return -1;
	}
	while (off < len) {
		if (len - off < V4_VENDOR_HDR) {
			dhcpopt_err(err, errlen, "enterprise block truncated at offset %zu", off);
			goto err;
		}
		ent = get32(data + off);
		dlen = data[off + 4];
		off += V4_VENDOR_HDR;
		if (dlen > len - off) {
			dhcpopt_err(err, errlen, "enterprise %u: data truncated (%zu octets "
			    "announced, %zu present)", ent, dlen, len - off);
			goto err;
		}
		if (ent == enterprise) {
			if (v == NULL && (v = vendor_new(enterprise, err, errlen)) == NULL)
				goto err;
			if (vendor_walk(0, v, data + off, dlen, err, errlen) == -1)
				goto err;
		}
		off += dlen;
	}
	*out = v;
	return v != NULL ? 1 : 0;
err:
	dhcpopt_vendor_free(v);
	return -1;
}

/* RFC 8415 §21.17: one enterprise per option instance. */
int
dhcpopt_vendor6_decode(const uint8_t *data, size_t len, uint32_t enterprise,
    struct dhcpopt_vendor **out, char *err, size_t errlen)
{
	struct dhcpopt_vendor *v = NULL;
	uint32_t ent;

	*out = NULL;
	if (dhcpopt_vendor6_enterprise(data, len, &ent) == -1) {
		dhcpopt_err(err, errlen, "vendor option shorter than its enterprise-number");
		return -1;
	}
	if (ent != enterprise)
		return 0;
	if ((v = vendor_new(enterprise, err, errlen)) == NULL)
		return -1;
	if (vendor_walk(1, v, data + V6_VENDOR_HDR, len - V6_VENDOR_HDR, err, errlen) == -1) {
		dhcpopt_vendor_free(v);
		return -1;
	}
	*out = v;
	return 1;
}

int
dhcpopt_vendor6_enterprise(const uint8_t *data, size_t len, uint32_t *enterprise)
{
	if (len < V6_VENDOR_HDR)
		return -1;
	*enterprise = get32(data);
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Hex as DHCP client scripts receive it. */

int
dhcpopt_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * udhcpc writes pairs without separators; ISC dhclient writes colon-separated groups of
 * one or two digits ("0:1a:68", it prints each octet with %x).
 */
int
dhcpopt_hex_decode(const char *hex, uint8_t *buf, size_t cap, size_t *outlen, char *err,
    size_t errlen)
{
	size_t start = 0, end = strlen(hex), i, n = 0, digits;
	int colons, v, acc;

	while (start < end && isspace((unsigned char)hex[start]))
		start++;
	while (end > start && isspace((unsigned char)hex[end - 1]))
		end--;
	if (start == end) {
		dhcpopt_err(err, errlen, "empty hex string");
		return -1;
	}
	colons = memchr(hex + start, ':', end - start) != NULL;
	i = start;
	while (i < end) {
		acc = 0;
		digits = 0;
		while (i < end && digits < 2 && (v = dhcpopt_hexval((unsigned char)hex[i])) != -1) {
			acc = acc * 16 + v;
			digits++;
			i++;
		}
		if (digits == 0 || (!colons && digits != 2)) {
			dhcpopt_err(err, errlen, "bad hex at offset %zu", i - start);
			return -1;
		}
		if (colons && i < end) {
			if (hex[i] != ':' || i + 1 == end) {
				dhcpopt_err(err, errlen, "bad hex at offset %zu", i - start);
				return -1;
			}
			i++;
		}
		if (n == cap) {
			dhcpopt_err(err, errlen, "hex data longer than %zu octets", cap);
			return -1;
		}
		buf[n++] = (uint8_t)acc;
	}
	*outlen = n;
	return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Hook configuration. */

struct dhcpopt_config *
dhcpopt_config_new(void)
{
	struct dhcpopt_config *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->enterprise = DHCPOPT_ENTERPRISE_DEFAULT;
	if ((c->revoked_class = strdup(DHCPOPT_REVOKED_CLASS_DEFAULT)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

static void
config_clear_encoded(struct dhcpopt_config *c)
{
	size_t i;

	for (i = 0; i < 4; i++) {
		free(c->enc[i]);
		c->enc[i] = NULL;
		c->enclen[i] = 0;
	}
}

void
dhcpopt_config_free(struct dhcpopt_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < 3; i++)
		dhcpopt_list_free(&c->lists[i]);
	config_clear_encoded(c);
	free(c->fingerprint);
	free(c->registry);
	free(c->revoked_class);
	free(c->only_class);
	free(c);
}

int
dhcpopt_config_add_uri(struct dhcpopt_config *c, enum dhcpopt_uri_list which,
    const char *uri, char *err, size_t errlen)
{
	struct dhcpopt_list *l;
	size_t i, len = strlen(uri);

	if ((unsigned)which > DHCPOPT_UPDATE) {
		dhcpopt_err(err, errlen, "unknown URI list %d", (int)which);
		return -1;
	}
	l = &c->lists[which];
	if (dhcpopt_uri_check(uri, len, DHCPOPT_URI_MAX, err, errlen) == -1)
		return -1;
	if (l->n == DHCPOPT_LIST_MAX) {
		dhcpopt_err(err, errlen, "more than %d URIs", DHCPOPT_LIST_MAX);
		return -1;
	}
	for (i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], uri) == 0) {
			dhcpopt_err(err, errlen, "URI listed twice");
			return -1;
		}
	}
	return list_add(l, uri, len, err, errlen);
}

int
dhcpopt_config_set_enterprise(struct dhcpopt_config *c, long long enterprise, char *err,
    size_t errlen)
{
	if (enterprise < 1 || enterprise > 0xffffffffLL) {
		dhcpopt_err(err, errlen, "enterprise number %lld out of range 1..4294967295",
		    enterprise);
		return -1;
	}
	c->enterprise = (uint32_t)enterprise;
	return 0;
}

int
dhcpopt_config_set_fingerprint(struct dhcpopt_config *c, const char *fp, char *err,
    size_t errlen)
{
	char *copy;
	size_t i;

	if (dhcpopt_fingerprint_check(fp, strlen(fp), err, errlen) == -1)
		return -1;
	if ((copy = strdup(fp)) == NULL) {
		dhcpopt_err(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; copy[i] != '\0'; i++)
		copy[i] = (char)tolower((unsigned char)copy[i]);
	free(c->fingerprint);
	c->fingerprint = copy;
	return 0;
}

int
dhcpopt_config_set_registry(struct dhcpopt_config *c, const char *path, char *err,
    size_t errlen)
{
	char *copy;
	size_t len = strlen(path);

	/* a PostgreSQL URI or conninfo string: revoked_db_is_pg()'s rule */
	int pg = strncmp(path, "postgresql://", 13) == 0 ||
	    strncmp(path, "postgres://", 11) == 0 || strchr(path, '=') != NULL;

	if (len == 0 || (!pg && path[0] != '/') || len >= REGISTRY_PATH_MAX) {
		dhcpopt_err(err, errlen, "registry must be an absolute path or a PostgreSQL URI "
		    "shorter than %d", REGISTRY_PATH_MAX);
		return -1;
	}
	if ((copy = strdup(path)) == NULL) {
		dhcpopt_err(err, errlen, "out of memory");
		return -1;
	}
	free(c->registry);
	c->registry = copy;
	return 0;
}

static int
class_set(char **slot, const char *name, char *err, size_t errlen)
{
	size_t i, len = strlen(name);
	char *copy;

	if (len == 0 || len > DHCPOPT_CLASS_MAX) {
		dhcpopt_err(err, errlen, "class name must be 1..%d characters",
		    DHCPOPT_CLASS_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e) {
			dhcpopt_err(err, errlen, "class name has a non-printable character at "
			    "offset %zu", i);
			return -1;
		}
	}
	if (name[0] == ' ' || name[len - 1] == ' ') {
		dhcpopt_err(err, errlen, "class name starts or ends with a space");
		return -1;
	}
	if ((copy = strdup(name)) == NULL) {
		dhcpopt_err(err, errlen, "out of memory");
		return -1;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

int
dhcpopt_config_set_revoked_class(struct dhcpopt_config *c, const char *name, char *err,
    size_t errlen)
{
	return class_set(&c->revoked_class, name, err, errlen);
}

int
dhcpopt_config_set_only_class(struct dhcpopt_config *c, const char *name, char *err,
    size_t errlen)
{
	if (name == NULL) {
		free(c->only_class);
		c->only_class = NULL;
		return 0;
	}
	return class_set(&c->only_class, name, err, errlen);
}

static int
config_encode_one(struct dhcpopt_config *c, enum dhcpopt_encoded which, size_t need,
    char *err, size_t errlen)
{
	const struct dhcpopt_list *p = &c->lists[DHCPOPT_POSTURE];
	const struct dhcpopt_list *u = &c->lists[DHCPOPT_UPDATE];
	const struct dhcpopt_list *r = &c->lists[DHCPOPT_REGISTRAR];
	int rc = -1;

	if ((c->enc[which] = malloc(need)) == NULL) {
		dhcpopt_err(err, errlen, "out of memory");
		return -1;
	}
	switch (which) {
	case DHCPOPT_ENC_V4_SZTP:
	case DHCPOPT_ENC_V6_SZTP:
		rc = dhcpopt_sztp_encode((const char *const *)r->v, r->n, c->enc[which], need,
		    &c->enclen[which], err, errlen);
		break;
	case DHCPOPT_ENC_V4_VENDOR:
		rc = dhcpopt_vendor4_encode(c->enterprise, p, u, c->fingerprint, c->enc[which],
		    need, &c->enclen[which], err, errlen);
		break;
	case DHCPOPT_ENC_V6_VENDOR:
		rc = dhcpopt_vendor6_encode(c->enterprise, p, u, c->fingerprint, c->enc[which],
		    need, &c->enclen[which], err, errlen);
		break;
	}
	return rc;
}

int
dhcpopt_config_finish(struct dhcpopt_config *c, char *warn, size_t warnlen, char *err,
    size_t errlen)
{
	const struct dhcpopt_list *p = &c->lists[DHCPOPT_POSTURE];
	const struct dhcpopt_list *u = &c->lists[DHCPOPT_UPDATE];
	const struct dhcpopt_list *r = &c->lists[DHCPOPT_REGISTRAR];
	size_t s4, v4 = 0, v6 = 0, total;
	int vendor;

	if (warn != NULL && warnlen > 0)
		warn[0] = '\0';
	config_clear_encoded(c);
	if (r->n == 0) {
		dhcpopt_err(err, errlen, "%s: at least one registrar URI is required",
		    list_param[DHCPOPT_REGISTRAR]);
		return -1;
	}
	s4 = dhcpopt_sztp_size((const char *const *)r->v, r->n);
	if (s4 > DHCPOPT_V4_OPTION_MAX) {
		dhcpopt_err(err, errlen, "registrar-uris: option 143 would carry %zu octets, "
		    "over the safe limit of %d (Kea 2.2 would split it and small clients get no "
		    "lease); use fewer or shorter URIs", s4, DHCPOPT_V4_OPTION_MAX);
		return -1;
	}
	vendor = p->n > 0 || u->n > 0 || c->fingerprint != NULL;
	if (vendor) {
		v4 = dhcpopt_vendor4_size(p, u, c->fingerprint);
		v6 = dhcpopt_vendor6_size(p, u, c->fingerprint);
		if (v4 > DHCPOPT_V4_OPTION_MAX) {
			dhcpopt_err(err, errlen, "posture-uris, update-uris, ca-fingerprint: "
			    "option 125 would carry %zu octets, over the safe limit of %d; use "
			    "fewer or shorter URIs", v4, DHCPOPT_V4_OPTION_MAX);
			return -1;
		}
		if (v6 > DHCPOPT_V6_OPTION_MAX) {
			dhcpopt_err(err, errlen, "posture-uris, update-uris, ca-fingerprint: "
			    "option 17 would carry %zu octets, over the safe limit of %d", v6,
			    DHCPOPT_V6_OPTION_MAX);
			return -1;
		}
	}
	if (config_encode_one(c, DHCPOPT_ENC_V4_SZTP, s4, err, errlen) == -1 ||
	    config_encode_one(c, DHCPOPT_ENC_V6_SZTP, s4, err, errlen) == -1)
		goto err;
	if (vendor && (config_encode_one(c, DHCPOPT_ENC_V4_VENDOR, v4, err, errlen) == -1 ||
	    config_encode_one(c, DHCPOPT_ENC_V6_VENDOR, v6, err, errlen) == -1))
		goto err;
	total = V4_OPT_HDR + s4 + (vendor ? V4_OPT_HDR + v4 : 0);
	if (total > DHCPOPT_V4_TOTAL_WARN && warn != NULL)
		snprintf(warn, warnlen, "options 143 and 125 take %zu octets together, more "
		    "than %d: a client accepting only %d-octet messages may not receive them "
		    "all", total, DHCPOPT_V4_TOTAL_WARN, DHCPOPT_V4_MIN_MSG);
	return 0;
err:
	config_clear_encoded(c);
	return -1;
}

const uint8_t *
dhcpopt_config_encoded(const struct dhcpopt_config *c, enum dhcpopt_encoded which,
    size_t *len)
{
	if ((unsigned)which > DHCPOPT_ENC_V6_VENDOR) {
		*len = 0;
		return NULL;
	}
	*len = c->enclen[which];
	return c->enc[which];
}

const struct dhcpopt_list *
dhcpopt_config_uris(const struct dhcpopt_config *c, enum dhcpopt_uri_list which)
{
	return (unsigned)which <= DHCPOPT_UPDATE ? &c->lists[which] : NULL;
}

uint32_t
dhcpopt_config_enterprise(const struct dhcpopt_config *c)
{
	return c->enterprise;
}

const char *
dhcpopt_config_fingerprint(const struct dhcpopt_config *c)
{
	return c->fingerprint;
}

const char *
dhcpopt_config_registry(const struct dhcpopt_config *c)
{
	return c->registry;
}

const char *
dhcpopt_config_revoked_class(const struct dhcpopt_config *c)
{
	return c->revoked_class;
}

const char *
dhcpopt_config_only_class(const struct dhcpopt_config *c)
{
	return c->only_class;
}

/* ------------------------------------------------------------------------------------ */
/* Per-packet decision. */

unsigned
dhcpopt_select(const struct dhcpopt_config *c, const struct dhcpopt_pkt *p)
{
	size_t vlen, slen, limit, used, max;
	unsigned bits = 0;

	if (!p->answer || p->in_revoked)
		return 0;
	if (c->only_class != NULL && !p->in_only_class)
		return 0;
	if (p->family == 6) {
		if (!p->has_sztp && c->enclen[DHCPOPT_ENC_V6_SZTP] > 0)
			bits |= DHCPOPT_ADD_SZTP;
		if (!p->has_vendor && c->enclen[DHCPOPT_ENC_V6_VENDOR] > 0)
			bits |= DHCPOPT_ADD_VENDOR;
		return bits;
	}
	/* RFC 2131 §2: no client needs to accept more than 576 octets unless it says so
	 * with option 57 (RFC 2132 §9.10, which counts the IP and UDP headers). */
	max = p->client_max > DHCPOPT_V4_MIN_MSG ? p->client_max : DHCPOPT_V4_MIN_MSG;
	limit = max - DHCPOPT_IP_UDP_HDR;
	used = p->resp_len + V4_COOKIE_END;
	slen = c->enclen[DHCPOPT_ENC_V4_SZTP];
	vlen = c->enclen[DHCPOPT_ENC_V4_VENDOR];
	if (!p->has_sztp && slen > 0) {
		if (used + V4_OPT_HDR + slen <= limit) {
			bits |= DHCPOPT_ADD_SZTP;
			used += V4_OPT_HDR + slen;
		} else
			bits |= DHCPOPT_TRIMMED;
	}
	if (!p->has_vendor && vlen > 0) {
		if (used + V4_OPT_HDR + vlen <= limit)
			bits |= DHCPOPT_ADD_VENDOR;
		else
			bits |= DHCPOPT_TRIMMED;
	}
	return bits;
}
