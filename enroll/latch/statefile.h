/*
 * statefile: the latch state file. latchmgr (latchkeyd with latch = yes, or
 * `latchkey latch --respond`) rewrites it atomically after every latch change: a JSON array
 * of {"serial", "peer", "state", ...}, one object per latch (latchmgr_state_json()). Readers
 * (`latchkeyctl show`, `latchkey status`) use this module, which needs no event loop.
 */
#ifndef LATCHKEY_STATEFILE_H
#define LATCHKEY_STATEFILE_H

#include <stddef.h>

/*
 * The state of the latch(es) of serial (all latches when serial is NULL) as one line
 * ("ESTABLISHED peer 10.0.0.2, CLOSED peer 10.0.0.3", or "none" when there is no file or no
 * latch). Returns 0 with out filled, -1 with err (unreadable, not our JSON).
 */
int	latch_statefile_read(const char *state_file, const char *serial, char *out,
	    size_t outlen, char *err, size_t errlen);

#endif
