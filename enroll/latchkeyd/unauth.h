/*
 * unauth: what latchkeyd keeps about requests it refuses before it knows who sent them
 * (no client certificate, a certificate that does not verify, a request whose sender it
 * cannot identify). Such refusals write nothing permanent (DESIGN.md, Trust model): they
 * are counted here, and logged at most once a second with the number held back since the
 * previous line. The registrar's BRSKI side (brski.c) and the MASA (masa.c) each own one
 * struct unauth_stats per worker and expose it (brski_unauth(), masa_unauth()) for metrics.
 * unauth_count() is pure (the caller passes the time); unauth_refused() is the one both
 * callers use: it counts at the monotonic clock's second and logs what passes the limit.
 */
#ifndef LATCHKEY_UNAUTH_H
#define LATCHKEY_UNAUTH_H

#include <stdint.h>

enum unauth_kind {
	UNAUTH_NO_CERT,		/* no TLS client certificate */
	UNAUTH_BAD_CERT,	/* a client certificate that does not verify */
	UNAUTH_UNKNOWN,		/* a request whose sender could not be identified */
	UNAUTH_NKINDS
};

struct unauth_stats {
	uint64_t	refused[UNAUTH_NKINDS];	/* refusals by kind, since start */
	uint64_t	logged;			/* of them written to the log */
	uint64_t	suppressed;		/* of them held back by the rate limit */
	/* rate limit state */
	int64_t		last_line;		/* second of the last logged one; -1 none */
	uint64_t	held;			/* held back since that line */
};

void	unauth_init(struct unauth_stats *s);

/*
 * Count one refusal of kind k at second now (a monotonic clock). Returns 1 when it should
 * be logged, with *held set to the number held back since the previous logged one; 0 when
 * it is held back (at most one logged a second).
 */
int	unauth_count(struct unauth_stats *s, enum unauth_kind k, int64_t now, uint64_t *held);

/*
 * Count one refusal of kind k now and, unless rate-limited, log
 * "<who>: refused <action> from <addr>: <reason>" with the number held back since the
 * previous line.
 */
void	unauth_refused(struct unauth_stats *s, enum unauth_kind k, const char *who,
	    const char *action, const char *addr, const char *reason);

/* Name of a kind for logs and metrics ("no-cert", "bad-cert", "unknown"); NULL if none. */
const char *unauth_kind_name(enum unauth_kind k);

/* Total refusals counted. */
uint64_t unauth_total(const struct unauth_stats *s);

#endif
