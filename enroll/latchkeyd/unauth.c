/* unauth: see unauth.h. */
#include "enroll/latchkeyd/unauth.h"

#include <stddef.h>
#include <string.h>

void
unauth_init(struct unauth_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->last_line = -1;
}

int
unauth_count(struct unauth_stats *s, enum unauth_kind k, int64_t now, uint64_t *held)
{
	if ((unsigned)k < UNAUTH_NKINDS)
		s->refused[k]++;
	/* A clock going backwards (it should not: monotonic) opens a new second too. */
	if (s->last_line != -1 && now == s->last_line) {
		s->suppressed++;
		s->held++;
		*held = 0;
		return 0;
	}
	*held = s->held;
	s->held = 0;
	s->last_line = now;
	s->logged++;
	return 1;
}

const char *
unauth_kind_name(enum unauth_kind k)
{
	static const char *const names[UNAUTH_NKINDS] = {
		[UNAUTH_NO_CERT] = "no-cert",
		[UNAUTH_BAD_CERT] = "bad-cert",
		[UNAUTH_UNKNOWN] = "unknown",
	};

	return (unsigned)k < UNAUTH_NKINDS ? names[k] : NULL;
}

uint64_t
unauth_total(const struct unauth_stats *s)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < UNAUTH_NKINDS; i++)
		n += s->refused[i];
	return n;
}
