/*
 * debver: the order of Debian versions, as dpkg has it (deb-version(7)): [epoch:]upstream
 * [-revision]; the epoch compares numerically, then upstream and revision by dpkg's
 * verrevcmp: digits numerically, the rest by character, where '~' sorts before everything,
 * even the end of the string, and letters before non-letters. A missing epoch is 0, a
 * missing revision "". The one comparison behind posture policies (postpolicy.h) and
 * update manifests (manifest.h); each validates versions by its own rules first.
 */
#ifndef LATCHKEY_DEBVER_H
#define LATCHKEY_DEBVER_H

#include <stddef.h>

/* A version's parts, pointing into it: the revision after the last '-' ("" when none). */
struct debver {
	unsigned long	 epoch;		/* 0 when none (or not a number) */
	const char	*up;
	size_t		 upn;
	const char	*rev;
	size_t		 revn;
};

void	debver_split(const char *v, struct debver *out);
/* -1, 0 or 1 as a sorts before, with or after b. Any strings (no length limit). */
int	debver_cmp(const char *a, const char *b);

#endif
