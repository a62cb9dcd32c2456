/*
 * revoked: the Kea hook's in-memory snapshot of the network identifiers of revoked devices
 * (MAC address, DHCPv4 client identifier, DHCPv6 DUID), and the watcher that keeps it
 * current. Pure C, no Kea and no SQLite types: the identifiers come from a loader callback
 * (dhcp-hook/revoked_db.c reads the registry; unit tests hand their own).
 *
 * Per packet: revoked_watch_acquire() (a mutex held for a pointer copy and a reference
 * count increment), revoked_set_contains() (bsearch over a sorted array comparing raw
 * bytes, ~0.15 us for 100k entries), revoked_set_release(). No I/O and no allocation on the
 * packet path; never a database query per packet.
 *
 * Change detection: revoked_watch_poll() does nothing until at least the interval (default
 * REVOKED_POLL_MS) has passed since its last check; then it stat()s the watched files (the
 * registry and its -wal: an SQLite commit in WAL mode changes the -wal file, a checkpoint
 * the main file) and, when any (device, inode, size, mtime) changed, calls the loader and
 * swaps the new snapshot in. A snapshot is immutable once published; readers that hold the
 * old one keep it until they release it. A failed load keeps the last good snapshot.
 * revoked_watch_start() runs the poll in a thread of its own, so Kea's packet threads never
 * wait for a reload. A registry on PostgreSQL has no files: its watcher
 * (revoked_watch_new_source) blocks in a change source instead (revoked_db.c's LISTEN for
 * the registry's NOTIFY), with a periodic reload and a back-off after failures.
 *
 * Identifiers are chosen by the client and can be spoofed: the class this feeds is a
 * convenience for quarantine, not a security boundary (dhcp-hook/README.md).
 *
 * Errors: int functions return 0 (or a documented count) and -1 with one line in err
 * (errlen bytes, may be NULL). Nothing here logs or exits.
 */
#ifndef LATCHKEY_REVOKED_H
#define LATCHKEY_REVOKED_H

#include <stddef.h>
#include <stdint.h>

/* Identifier kinds (the registry's netids.kind: "mac", "client-id", "duid"). */
enum revoked_kind {
	REVOKED_MAC = 1,	/* hardware address, 6 octets (Ethernet) */
	REVOKED_CLIENT_ID,	/* DHCPv4 option 61 data (RFC 2132 §9.14): type + id, 2..255 */
	REVOKED_DUID		/* DHCPv6 option 1 data (RFC 8415 §11): 2..130 octets */
};

#define REVOKED_MAC_LEN		6
#define REVOKED_CLIENT_ID_MIN	2
#define REVOKED_CLIENT_ID_MAX	255
#define REVOKED_DUID_MIN	2
#define REVOKED_DUID_MAX	130
#define REVOKED_ID_MAX		255	/* longest identifier of any kind */
#define REVOKED_MAX_ENTRIES	(4u * 1024 * 1024)	/* a loader adding more fails */
#define REVOKED_POLL_MS		250	/* change check interval */
#define REVOKED_WATCH_FILES	4	/* files one watcher may stat */
#define REVOKED_REFRESH_MS	30000	/* source watcher: reload at least this often */
#define REVOKED_BACKOFF_MIN_MS	500	/* source watcher: first wait after a failure, */
#define REVOKED_BACKOFF_MAX_MS	10000	/* doubling up to this */

/* "mac" / "client-id" / "duid" to the kind; 0 when unknown. And back (NULL if bad). */
enum revoked_kind	 revoked_kind_parse(const char *name);
const char		*revoked_kind_name(enum revoked_kind kind);

/*
 * Check an identifier's length for its kind: MAC exactly 6, client-id 2..255, DUID 2..130.
 * 0 ok, -1 with err.
 */
int	revoked_id_check(enum revoked_kind kind, size_t len, char *err, size_t errlen);

/* ------------------------------------------------------------------------------------
 * Building a snapshot. The loader callback gets a builder and adds identifiers to it. */
struct revoked_builder;

/* Add one identifier (bytes). Duplicates are fine (kept once). -1 with err when the length
 * is wrong for the kind or the kind is unknown (a loader may skip that one); -2 with err when
 * REVOKED_MAX_ENTRIES would be exceeded or out of memory (the load must fail). */
int	revoked_builder_add(struct revoked_builder *b, enum revoked_kind kind,
	    const uint8_t *id, size_t len, char *err, size_t errlen);
/* Add one identifier given as the registry stores it: kind name and lower- or upper-case
 * hex without separators. -1 with err when malformed (as above, or not hex), -2 as above. */
int	revoked_builder_add_text(struct revoked_builder *b, const char *kind, const char *hex,
	    char *err, size_t errlen);

/* A loader: add every current identifier to b; 0 on success, -1 with err. */
typedef int (*revoked_loader_fn)(void *arg, struct revoked_builder *b, char *err,
    size_t errlen);

/* ------------------------------------------------------------------------------------
 * An immutable snapshot (reference counted). */
struct revoked_set;

/* Run loader into a new snapshot with one reference (the caller's). NULL with err when the
 * loader or an allocation fails. */
struct revoked_set	*revoked_set_load(revoked_loader_fn loader, void *arg, char *err,
			    size_t errlen);
/* An empty snapshot with one reference; NULL when out of memory. */
struct revoked_set	*revoked_set_empty(void);
/* Take / drop a reference; the last release frees it. NULL is fine for release. */
void			 revoked_set_hold(struct revoked_set *s);
void			 revoked_set_release(struct revoked_set *s);
/* Number of distinct identifiers. */
size_t			 revoked_set_count(const struct revoked_set *s);
/* 1 when (kind, id) is in the snapshot, else 0 (also for s == NULL or len 0). */
int			 revoked_set_contains(const struct revoked_set *s,
			    enum revoked_kind kind, const uint8_t *id, size_t len);

/* ------------------------------------------------------------------------------------
 * The watcher: the current snapshot plus change detection and reloads. */
struct revoked_watch;

/* What happened in a poll, for the caller's log (called from the polling thread). */
struct revoked_event {
	int		 reloaded;	/* 1: a new snapshot is in place */
	int		 failed;	/* 1: a reload failed (message in msg), old one kept */
	size_t		 count;		/* entries in the current snapshot */
	double		 load_ms;	/* time the loader took */
	const char	*msg;		/* failure text, or "" */
};
typedef void (*revoked_notify_fn)(void *arg, const struct revoked_event *ev);

/*
 * A watcher over nfiles paths (1..REVOKED_WATCH_FILES; copied) with loader, interval_ms
 * between change checks (<= 0: REVOKED_POLL_MS). It starts with an empty snapshot; the
 * first revoked_watch_poll() (or the thread's first round) loads. notify may be NULL.
 * NULL with err when out of memory or the arguments are bad.
 */
struct revoked_watch	*revoked_watch_new(const char *const *files, size_t nfiles,
			    revoked_loader_fn loader, void *loader_arg, int interval_ms,
			    revoked_notify_fn notify, void *notify_arg, char *err,
			    size_t errlen);
/*
 * A change source instead of files (PostgreSQL's LISTEN: revoked_db_listen_wait()): wait
 * at most timeout_ms (0: only look) for a change; 1 when one was seen or may have been
 * missed (after a reconnect), 0 when none, -1 with err when the source failed.
 */
typedef int (*revoked_wait_fn)(void *arg, int timeout_ms, char *err, size_t errlen);

/*
 * A watcher whose thread blocks in wait (up to interval_ms, <= 0: REVOKED_POLL_MS per
 * call) instead of stat()ing files, and loads when wait reports a change, when the last
 * load failed, and at least every refresh_ms (<= 0: REVOKED_REFRESH_MS) in case a change
 * went unreported. After a failure (of wait or the loader) the thread waits
 * REVOKED_BACKOFF_MIN_MS, doubling up to REVOKED_BACKOFF_MAX_MS, before the next try.
 * A periodic reload that finds what the snapshot holds keeps it and reports nothing.
 * revoked_watch_poll() on it: force loads; else wait(0) and the same rules. wait_arg is
 * not owned: free it after revoked_watch_free(). NULL with err as revoked_watch_new().
 */
struct revoked_watch	*revoked_watch_new_source(revoked_wait_fn wait, void *wait_arg,
			    revoked_loader_fn loader, void *loader_arg, int interval_ms,
			    int refresh_ms, revoked_notify_fn notify, void *notify_arg,
			    char *err, size_t errlen);
/* Stops the thread if running, drops the snapshot. NULL is fine. Readers must have
 * released what they acquired. */
void			 revoked_watch_free(struct revoked_watch *w);

/*
 * One change check at monotonic time now_ms: nothing (returns 0) while less than the
 * interval has passed since the previous check, or when no watched file changed; else the
 * loader runs and, on success, the new snapshot replaces the current one (returns 1).
 * Returns -1 with err when the load failed (the previous snapshot stays; the next check
 * retries even if the files do not change again). force = 1 skips the interval and the
 * file comparison. A missing file counts as a state of its own (its appearance is a change).
 */
int	revoked_watch_poll(struct revoked_watch *w, int64_t now_ms, int force, char *err,
	    size_t errlen);

/* The current snapshot with a reference for the caller (release it with
 * revoked_set_release()); never NULL. Safe from any thread. */
struct revoked_set	*revoked_watch_acquire(struct revoked_watch *w);

/*
 * Poll from a thread of its own every interval (monotonic clock), reporting through
 * notify. -1 with err when the thread cannot be started or already runs.
 * revoked_watch_stop() ends it and waits for it (at most one interval plus a load).
 */
int	revoked_watch_start(struct revoked_watch *w, char *err, size_t errlen);
void	revoked_watch_stop(struct revoked_watch *w);

/* Milliseconds of CLOCK_MONOTONIC, for revoked_watch_poll(). */
int64_t	revoked_now_ms(void);

#endif /* LATCHKEY_REVOKED_H */
