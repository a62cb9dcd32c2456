/*
 * debver: Debian version order (deb-version(7), dpkg's verrevcmp). See debver.h.
 */
#include "enroll/common/debver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* dpkg's character order: '~' first, then the end / a digit, letters, everything else. */
static int
ver_order(int c)
{
	if (is_digit(c))
		return 0;
	if (is_alpha(c))
		return c;
	if (c == '~')
		return -1;
	if (c != 0)
		return c + 256;
	return 0;
}

/* Compare a[0..an) with b[0..bn) by dpkg's rule for upstream versions and revisions. */
static int
ver_part_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	const char *ae = a + an, *be = b + bn;
	int ac, bc, first;

#define CH(p, e) ((p) < (e) ? (unsigned char)*(p) : 0)
	while (a < ae || b < be) {
		first = 0;
		while ((a < ae && !is_digit(CH(a, ae))) || (b < be && !is_digit(CH(b, be)))) {
			ac = ver_order(CH(a, ae));
			bc = ver_order(CH(b, be));
			if (ac != bc)
				return ac - bc;
			if (a < ae)
				a++;
			if (b < be)
				b++;
		}
		while (a < ae && *a == '0')
			a++;
		while (b < be && *b == '0')
			b++;
		while (a < ae && b < be && is_digit(CH(a, ae)) && is_digit(CH(b, be))) {
			if (first == 0)
				first = CH(a, ae) - CH(b, be);
			a++;
			b++;
		}
		if (a < ae && is_digit(CH(a, ae)))
			return 1;
		if (b < be && is_digit(CH(b, be)))
			return -1;
		if (first != 0)
			return first;
	}
#undef CH
	return 0;
}

void
debver_split(const char *v, struct debver *out)
{
	const char *colon = strchr(v, ':'), *dash;
	char *end;

	out->epoch = 0;
	if (colon != NULL) {
		errno = 0;
		out->epoch = strtoul(v, &end, 10);
		if (end != colon || errno != 0)
			out->epoch = 0;
		v = colon + 1;
	}
	dash = strrchr(v, '-');
	out->up = v;
	if (dash != NULL) {
		out->upn = (size_t)(dash - v);
		out->rev = dash + 1;
		out->revn = strlen(dash + 1);
	} else {
		out->upn = strlen(v);
		out->rev = "";
		out->revn = 0;
	}
}

int
debver_cmp(const char *a, const char *b)
{
	struct debver va, vb;
	int c;

	debver_split(a, &va);
	debver_split(b, &vb);
	if (va.epoch != vb.epoch)
		return va.epoch < vb.epoch ? -1 : 1;
	if ((c = ver_part_cmp(va.up, va.upn, vb.up, vb.upn)) != 0)
		return c < 0 ? -1 : 1;
	c = ver_part_cmp(va.rev, va.revn, vb.rev, vb.revn);
	return c < 0 ? -1 : c > 0 ? 1 : 0;
}
