/* unauth: see unauth.h. */
#include "enroll/latchkeyd/unauth.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

#include "enroll/latchkeyd/log.h"

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

void
unauth_refused(struct unauth_stats *s, enum unauth_kind k, const char *who,
    const char *action, const char *addr, const char *reason)
{
	struct timespec ts;
	int64_t now;
	uint64_t held;

	now = clock_gettime(CLOCK_MONOTONIC, &ts) == 0 ? (int64_t)ts.tv_sec :
	    (int64_t)time(NULL);
	if (!unauth_count(s, k, now, &held))
		return;
	if (held > 0)
		log_warnx("%s: refused %s from %s: %s (%llu more unauthenticated refusals "
		    "not logged)", who, action, addr != NULL ? addr : "?", reason,
		    (unsigned long long)held);
	else
		log_warnx("%s: refused %s from %s: %s", who, action, addr != NULL ? addr : "?",
		    reason);
}
