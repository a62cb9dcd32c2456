/* est: see est.h. */
#include "enroll/latchkeyd/est.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char	*name;
	enum est_op	 op;
	const char	*method;
} est_ops[] = {
	{ "cacerts", EST_OP_CACERTS, "GET" },
	{ "csrattrs", EST_OP_CSRATTRS, "GET" },
	{ "simpleenroll", EST_OP_SIMPLEENROLL, "POST" },
	{ "simplereenroll", EST_OP_SIMPLEREENROLL, "POST" },
};

static const struct {
	const char	*name;
	enum est_op	 op;
	const char	*method;
} lk_ops[] = {
	{ "status", LK_OP_STATUS, "GET" },
	{ "crl", LK_OP_CRL, "GET" },
	{ "ocsp", LK_OP_OCSP, "POST" },
	{ "netid", LK_OP_NETID, "POST" },
	{ "posture", LK_OP_POSTURE, "POST" },
};

#define NOPS (sizeof(est_ops) / sizeof(est_ops[0]))

static int
label_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == '-';
}

static int
op_lookup(const char *s, size_t n, enum est_op *op)
{
	size_t i;

	for (i = 0; i < NOPS; i++)
		if (strlen(est_ops[i].name) == n && memcmp(est_ops[i].name, s, n) == 0) {
			*op = est_ops[i].op;
			return 0;
		}
	return -1;
}

int
est_route(const char *path, enum est_op *op, char label[EST_LABEL_MAX + 1])
{
	const char *p, *slash;
	size_t n, i;

	label[0] = '\0';
	if (strncmp(path, LK_PREFIX "/", sizeof(LK_PREFIX)) == 0) {
		p = path + sizeof(LK_PREFIX);
		/* crl/<key id>: one CA's CRL (a CA rollover holds two), the id in label */
		if (strncmp(p, "crl/", 4) == 0) {
			n = strlen(p + 4);
			if (n == 0 || n > EST_LABEL_MAX || strspn(p + 4, "0123456789abcdefABCDEF")
			    != n)
				return -1;
			memcpy(label, p + 4, n + 1);
			*op = LK_OP_CRL;
			return 0;
		}
		for (i = 0; i < sizeof(lk_ops) / sizeof(lk_ops[0]); i++)
			if (strcmp(p, lk_ops[i].name) == 0) {
				*op = lk_ops[i].op;
				return 0;
			}
		return -1;
	}
	if (strncmp(path, EST_PREFIX "/", sizeof(EST_PREFIX)) != 0)
		return -1;
	p = path + sizeof(EST_PREFIX);
	if ((slash = strchr(p, '/')) == NULL)
		return op_lookup(p, strlen(p), op);
	/* label segment, then exactly one operation segment */
	n = (size_t)(slash - p);
	if (n == 0 || n > EST_LABEL_MAX || strchr(slash + 1, '/') != NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (!label_char(p[i]))
			return -1;
	if (op_lookup(slash + 1, strlen(slash + 1), op))
		return -1;
	/* a label may not itself be an operation name (RFC 7030 §3.2.2 ambiguity) */
	{
		enum est_op dummy;
		if (op_lookup(p, n, &dummy) == 0)
			return -1;
	}
	memcpy(label, p, n);
	label[n] = '\0';
	return 0;
}

const char *
est_op_method(enum est_op op)
{
	size_t i;

	for (i = 0; i < NOPS; i++)
		if (est_ops[i].op == op)
			return est_ops[i].method;
	for (i = 0; i < sizeof(lk_ops) / sizeof(lk_ops[0]); i++)
		if (lk_ops[i].op == op)
			return lk_ops[i].method;
	return "GET";
}

const char *
est_op_name(enum est_op op)
{
	size_t i;

	for (i = 0; i < NOPS; i++)
		if (est_ops[i].op == op)
			return est_ops[i].name;
	for (i = 0; i < sizeof(lk_ops) / sizeof(lk_ops[0]); i++)
		if (lk_ops[i].op == op)
			return lk_ops[i].name;
	return "?";
}

int
est_media_type_is(const char *header, const char *want)
{
	const char *end;
	size_t n = strlen(want), hl;

	if (header == NULL)
		return 0;
	while (*header == ' ' || *header == '\t')
		header++;
	/* want may carry parameters itself (EST_CT_CERTS); compare only its type/subtype */
	if ((end = strchr(want, ';')) != NULL)
		n = (size_t)(end - want);
	end = strchr(header, ';');
	hl = end != NULL ? (size_t)(end - header) : strlen(header);
	while (hl > 0 && (header[hl - 1] == ' ' || header[hl - 1] == '\t'))
		hl--;
	return hl == n && strncasecmp(header, want, n) == 0;
}

/*
 * CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID (RFC 7030 §4.5.2), shaped like the RFC's
 * example: challengePassword, Attribute{id-ecPublicKey, {secp256r1}}, serialNumber,
 * ecdsa-with-SHA256.
 */
static const unsigned char csrattrs_der[] = {
	0x30, 0x31,
	0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07,
	0x30, 0x15,
	  0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	  0x31, 0x0a,
	    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
	0x06, 0x03, 0x55, 0x04, 0x05,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
};

const unsigned char *
est_csrattrs_der(size_t *len)
{
	*len = sizeof(csrattrs_der);
	return csrattrs_der;
}
