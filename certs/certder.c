/* certder: see certder.h. */
#include "certs/certder.h"
#include "certs/pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>

/* Read one TLV header at *p (bounded by end): tag byte, content start and length. */
static int
tlv(const unsigned char **p, const unsigned char *end, int *tag, size_t *clen)
{
	const unsigned char *q = *p;
	long l;
	int t, xclass, r;

	if (q >= end)
		return -1;
	r = ASN1_get_object(&q, &l, &t, &xclass, (long)(end - *p));
	if (r & 0x80 || r == 0x21)	/* error, or indefinite length */
		return -1;
	*tag = **p;
	*clen = (size_t)l;
	*p = q;
	return 0;
}

static int
skip(const unsigned char **p, const unsigned char *end)
{
	int tag;
	size_t l;

	if (tlv(p, end, &tag, &l))
		return -1;
	*p += l;
	return 0;
}

static int
read_time(const unsigned char **p, const unsigned char *end, int64_t *out)
{
	const unsigned char *q = *p;
	ASN1_TIME *t;
	struct tm tm;
	int ok;

	if ((t = d2i_ASN1_TIME(NULL, &q, (long)(end - *p))) == NULL)
		return -1;
	ok = ASN1_TIME_to_tm(t, &tm) == 1;
	ASN1_TIME_free(t);
	if (!ok)
		return -1;
	*out = (int64_t)timegm(&tm);
	*p = q;
	return 0;
}

int
certder_info(const unsigned char *der, size_t len, char *serial_hex, size_t hexlen,
    int64_t *not_before, int64_t *not_after)
{
	const unsigned char *p = der, *end = der + len, *tend;
	char hex[64];
	size_t l;
	int tag;

	if (tlv(&p, end, &tag, &l) || tag != 0x30)		/* Certificate */
		return -1;
	if (tlv(&p, end, &tag, &l) || tag != 0x30)		/* TBSCertificate */
		return -1;
	tend = p + l;
	if (tend > end)
		return -1;
	if (p < tend && *p == 0xa0 && skip(&p, tend))		/* [0] version */
		return -1;
	if (tlv(&p, tend, &tag, &l) || tag != 0x02 || l == 0 || l > 20)	/* serial */
		return -1;
	pki_serial_to_hex(p, l, hex);
	if (strlen(hex) + 1 > hexlen)
		return -1;
	memcpy(serial_hex, hex, strlen(hex) + 1);
	p += l;
	if (skip(&p, tend) || skip(&p, tend))			/* signature, issuer */
		return -1;
	if (tlv(&p, tend, &tag, &l) || tag != 0x30)		/* validity */
		return -1;
	if (read_time(&p, p + l, not_before) || read_time(&p, tend, not_after))
		return -1;
	return 0;
}

/* Append a DER length; returns the number of bytes written (to out when non-NULL). */
static size_t
put_len(unsigned char *out, size_t n)
{
	unsigned char tmp[sizeof(size_t)];
	size_t k = 0, i;

	if (n < 0x80) {
		if (out != NULL)
			out[0] = (unsigned char)n;
		return 1;
	}
	while (n > 0) {
		tmp[k++] = (unsigned char)(n & 0xff);
		n >>= 8;
	}
	if (out != NULL) {
		out[0] = (unsigned char)(0x80 | k);
		for (i = 0; i < k; i++)
			out[1 + i] = tmp[k - 1 - i];
	}
	return 1 + k;
}

static unsigned char *
put_hdr(unsigned char *p, unsigned char tag, size_t n)
{
	*p++ = tag;
	return p + put_len(p, n);
}

int
certder_p7_certs(const unsigned char *const *ders, const size_t *lens, size_t n,
    unsigned char **out, size_t *outlen)
{
	static const unsigned char oid_signed[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
	    0x0d, 0x01, 0x07, 0x02 };
	static const unsigned char head[] = { 0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06,
	    0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };
	size_t certs = 0, sd, ex, ci, i;
	unsigned char *buf, *p;

	for (i = 0; i < n; i++) {
		if (lens[i] > (size_t)1 << 24)
			return -1;
		certs += lens[i];
	}
	sd = sizeof(head) + 1 + put_len(NULL, certs) + certs + 2;	/* SignedData body */
	ex = 1 + put_len(NULL, sd) + sd;				/* SEQUENCE SignedData */
	ci = sizeof(oid_signed) + 1 + put_len(NULL, ex) + ex;		/* ContentInfo body */
	*outlen = 1 + put_len(NULL, ci) + ci;
	if ((buf = malloc(*outlen)) == NULL)
		return -1;
	p = put_hdr(buf, 0x30, ci);
	memcpy(p, oid_signed, sizeof(oid_signed));
	p += sizeof(oid_signed);
	p = put_hdr(p, 0xa0, ex);
	p = put_hdr(p, 0x30, sd);
	memcpy(p, head, sizeof(head));
	p += sizeof(head);
	p = put_hdr(p, 0xa0, certs);
	for (i = 0; i < n; i++) {
		memcpy(p, ders[i], lens[i]);
		p += lens[i];
	}
	*p++ = 0x31;
	*p++ = 0x00;
	*out = buf;
	return 0;
}
