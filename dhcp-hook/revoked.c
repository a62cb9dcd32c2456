/* revoked: see revoked.h. */
#include "dhcp-hook/revoked.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dhcp-hook/dhcpopt.h"

#define RV_INLINE	6	/* identifier octets kept in the entry itself (a whole MAC) */

/*
 * One identifier: kind, length, the first RV_INLINE octets inline (a MAC compares without
 * leaving the array) and the offset of the rest in the pool. 12 octets.
 */
struct rv_entry {
	uint8_t		kind;
	uint8_t		len;
	uint8_t		inl[RV_INLINE];
	uint32_t	off;
};

struct revoked_set {
	atomic_uint	 refs;
	struct rv_entry	*v;
	size_t		 n;
	uint8_t		*pool;
};

struct revoked_builder {
	struct rv_entry	*v;
	size_t		 n, cap;
	uint8_t		*pool;
	size_t		 plen, pcap;
};

struct rv_filestate {
	int		exists;
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec	mtime;
};

struct revoked_watch {
	char			*files[REVOKED_WATCH_FILES];
	size_t			 nfiles;
	struct rv_filestate	 seen[REVOKED_WATCH_FILES];
	revoked_loader_fn	 loader;
	void			*loader_arg;
	int			 interval_ms;
	revoked_notify_fn	 notify;
	void			*notify_arg;
	int64_t			 last_check;
	int			 loaded;	/* a load succeeded since the files last changed */
	/* or a change source (revoked_watch_new_source) instead of files */
	revoked_wait_fn		 wait;
	void			*wait_arg;
	int			 refresh_ms;
	int64_t			 last_load;
	int			 backoff_ms;	/* after a failure; 0 after a success */
	pthread_mutex_t		 lock;		/* guards cur only */
	struct revoked_set	*cur;
	/* the polling thread */
	pthread_mutex_t		 tlock;
	pthread_cond_t		 tcond;
	pthread_t		 thread;
	int			 running, stopping;
};

static const char *const rv_names[] = {
	[REVOKED_MAC] = "mac",
	[REVOKED_CLIENT_ID] = "client-id",
	[REVOKED_DUID] = "duid",
};

enum revoked_kind
revoked_kind_parse(const char *name)
{
	int k;

	if (name == NULL)
		return 0;
	for (k = REVOKED_MAC; k <= REVOKED_DUID; k++)
		if (strcmp(name, rv_names[k]) == 0)
			return (enum revoked_kind)k;
	return 0;
}

const char *
revoked_kind_name(enum revoked_kind kind)
{
	if (kind < REVOKED_MAC || kind > REVOKED_DUID)
		return NULL;
	return rv_names[kind];
}

int
revoked_id_check(enum revoked_kind kind, size_t len, char *err, size_t errlen)
{
	size_t min, max;

	switch (kind) {
	case REVOKED_MAC:
		min = max = REVOKED_MAC_LEN;
		break;
	case REVOKED_CLIENT_ID:
		min = REVOKED_CLIENT_ID_MIN;
		max = REVOKED_CLIENT_ID_MAX;
		break;
	case REVOKED_DUID:
		min = REVOKED_DUID_MIN;
		max = REVOKED_DUID_MAX;
		break;
	default:
		dhcpopt_err(err, errlen, "unknown identifier kind %d", (int)kind);
		return -1;
	}
	if (len < min || len > max) {
		if (min == max)
			dhcpopt_err(err, errlen, "%s must be %zu octets, not %zu", rv_names[kind],
			    min, len);
		else
			dhcpopt_err(err, errlen, "%s must be %zu..%zu octets, not %zu",
			    rv_names[kind], min, max, len);
		return -1;
	}
	return 0;
}

/* ---- builder --------------------------------------------------------------------- */

int
revoked_builder_add(struct revoked_builder *b, enum revoked_kind kind, const uint8_t *id,
    size_t len, char *err, size_t errlen)
{
	struct rv_entry *e;
	size_t tail;

	if (revoked_id_check(kind, len, err, errlen) == -1)
		return -1;
	if (b->n >= REVOKED_MAX_ENTRIES) {
		dhcpopt_err(err, errlen, "more than %u revoked identifiers", REVOKED_MAX_ENTRIES);
		return -2;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		struct rv_entry *nv = realloc(b->v, ncap * sizeof(*nv));
		if (nv == NULL)
			goto oom;
		b->v = nv;
		b->cap = ncap;
	}
	tail = len > RV_INLINE ? len - RV_INLINE : 0;
	if (tail > 0 && b->plen + tail > b->pcap) {
		size_t ncap = b->pcap ? b->pcap : 4096;
		uint8_t *np;
		while (ncap < b->plen + tail)
			ncap *= 2;
		if (ncap > UINT32_MAX || (np = realloc(b->pool, ncap)) == NULL)
			goto oom;
		b->pool = np;
		b->pcap = ncap;
	}
	e = &b->v[b->n++];
	memset(e, 0, sizeof(*e));
	e->kind = (uint8_t)kind;
	e->len = (uint8_t)len;
	memcpy(e->inl, id, len < RV_INLINE ? len : RV_INLINE);
	e->off = (uint32_t)b->plen;
	if (tail > 0) {
		memcpy(b->pool + b->plen, id + RV_INLINE, tail);
		b->plen += tail;
	}
	return 0;
oom:
	dhcpopt_err(err, errlen, "out of memory for the revoked identifiers");
	return -2;
}

int
revoked_builder_add_text(struct revoked_builder *b, const char *kind, const char *hex,
    char *err, size_t errlen)
{
	enum revoked_kind k = revoked_kind_parse(kind);
	uint8_t buf[REVOKED_ID_MAX];
	size_t n, i;
	int hi, lo;

	if (k == 0) {
		dhcpopt_err(err, errlen, "unknown identifier kind \"%.32s\"", kind ? kind : "");
		return -1;
	}
	n = hex != NULL ? strlen(hex) : 0;
	if (n % 2 != 0 || n / 2 > sizeof(buf)) {
		dhcpopt_err(err, errlen, "%s: bad hex length %zu", rv_names[k], n);
		return -1;
	}
	for (i = 0; i < n / 2; i++) {
		if ((hi = dhcpopt_hexval((unsigned char)hex[2 * i])) < 0 ||
		    (lo = dhcpopt_hexval((unsigned char)hex[2 * i + 1])) < 0) {
			dhcpopt_err(err, errlen, "%s: not hex", rv_names[k]);
			return -1;
		}
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	return revoked_builder_add(b, k, buf, n / 2, err, errlen);
}

/* ---- the snapshot ---------------------------------------------------------------- */

/* Order: kind, length, then the octets. */
static int
rv_cmp(const struct rv_entry *a, const uint8_t *apool, const struct rv_entry *b,
    const uint8_t *bpool)
{
	int c;
	size_t head;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	head = a->len < RV_INLINE ? a->len : RV_INLINE;
	if ((c = memcmp(a->inl, b->inl, head)) != 0)
		return c;
	if (a->len <= RV_INLINE)
		return 0;
	return memcmp(apool + a->off, bpool + b->off, (size_t)a->len - RV_INLINE);
}

static int
rv_qsort_cmp(const void *a, const void *b, void *pool)
{
	return rv_cmp(a, pool, b, pool);
}

struct revoked_set *
revoked_set_empty(void)
{
	struct revoked_set *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	return s;
}

struct revoked_set *
revoked_set_load(revoked_loader_fn loader, void *arg, char *err, size_t errlen)
{
	struct revoked_builder b;
	struct revoked_set *s = NULL;
	size_t i, j;

	memset(&b, 0, sizeof(b));
	if (loader(arg, &b, err, errlen) == -1)
		goto err;
	if ((s = revoked_set_empty()) == NULL) {
		dhcpopt_err(err, errlen, "out of memory for the revoked identifiers");
		goto err;
	}
	if (b.n > 0) {
		qsort_r(b.v, b.n, sizeof(*b.v), rv_qsort_cmp, b.pool);
		for (i = 1, j = 0; i < b.n; i++)	/* drop duplicates */
			if (rv_cmp(&b.v[i], b.pool, &b.v[j], b.pool) != 0)
				b.v[++j] = b.v[i];
		b.n = j + 1;
	}
	s->v = b.v;
	s->n = b.n;
	s->pool = b.pool;
	return s;
err:
	free(b.v);
	free(b.pool);
	free(s);
	return NULL;
}

void
revoked_set_hold(struct revoked_set *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void
revoked_set_release(struct revoked_set *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(s->v);
	free(s->pool);
	free(s);
}

size_t
revoked_set_count(const struct revoked_set *s)
{
	return s != NULL ? s->n : 0;
}

int
revoked_set_contains(const struct revoked_set *s, enum revoked_kind kind, const uint8_t *id,
    size_t len)
{
	struct rv_entry key;
	const uint8_t *tail;
	size_t lo, hi, mid;
	int c;

	if (s == NULL || s->n == 0 || len == 0 || len > REVOKED_ID_MAX)
		return 0;
	memset(&key, 0, sizeof(key));
	key.kind = (uint8_t)kind;
	key.len = (uint8_t)len;
	memcpy(key.inl, id, len < RV_INLINE ? len : RV_INLINE);
	key.off = 0;
	/* the key's tail is read from id + RV_INLINE: its pool is id + RV_INLINE, off 0 */
	tail = len > RV_INLINE ? id + RV_INLINE : id;
	lo = 0;
	hi = s->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = rv_cmp(&key, tail, &s->v[mid], s->pool);
		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* ---- the watcher ----------------------------------------------------------------- */

int64_t
revoked_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What both kinds of watcher share; NULL when out of memory. */
static struct revoked_watch *
rv_watch_alloc(revoked_loader_fn loader, void *loader_arg, int interval_ms,
    revoked_notify_fn notify, void *notify_arg)
{
	struct revoked_watch *w;
	pthread_condattr_t ca;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->loader = loader;
	w->loader_arg = loader_arg;
	w->interval_ms = interval_ms > 0 ? interval_ms : REVOKED_POLL_MS;
	w->notify = notify;
	w->notify_arg = notify_arg;
	w->last_check = INT64_MIN;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->tlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->tcond, &ca);
	pthread_condattr_destroy(&ca);
	if ((w->cur = revoked_set_empty()) == NULL) {
		revoked_watch_free(w);
		return NULL;
	}
	return w;
}

struct revoked_watch *
revoked_watch_new(const char *const *files, size_t nfiles, revoked_loader_fn loader,
    void *loader_arg, int interval_ms, revoked_notify_fn notify, void *notify_arg,
    char *err, size_t errlen)
{
	struct revoked_watch *w;
	size_t i;

	if (nfiles == 0 || nfiles > REVOKED_WATCH_FILES || loader == NULL) {
		dhcpopt_err(err, errlen, "revoked watch: 1..%d files and a loader needed",
		    REVOKED_WATCH_FILES);
		return NULL;
	}
	if ((w = rv_watch_alloc(loader, loader_arg, interval_ms, notify, notify_arg)) == NULL)
		goto oom;
	for (i = 0; i < nfiles; i++) {
		if (files[i] == NULL || (w->files[i] = strdup(files[i])) == NULL) {
			w->nfiles = i;
			revoked_watch_free(w);
			goto oom;
		}
	}
	w->nfiles = nfiles;
	return w;
oom:
	dhcpopt_err(err, errlen, "revoked watch: out of memory");
	return NULL;
}

struct revoked_watch *
revoked_watch_new_source(revoked_wait_fn wait, void *wait_arg, revoked_loader_fn loader,
    void *loader_arg, int interval_ms, int refresh_ms, revoked_notify_fn notify,
    void *notify_arg, char *err, size_t errlen)
{
	struct revoked_watch *w;

	if (wait == NULL || loader == NULL) {
		dhcpopt_err(err, errlen, "revoked watch: a change source and a loader needed");
		return NULL;
	}
	if ((w = rv_watch_alloc(loader, loader_arg, interval_ms, notify, notify_arg)) ==
	    NULL) {
		dhcpopt_err(err, errlen, "revoked watch: out of memory");
		return NULL;
	}
	w->wait = wait;
	w->wait_arg = wait_arg;
	w->refresh_ms = refresh_ms > 0 ? refresh_ms : REVOKED_REFRESH_MS;
	return w;
}

void
revoked_watch_free(struct revoked_watch *w)
{
	size_t i;

	if (w == NULL)
		return;
	revoked_watch_stop(w);
	for (i = 0; i < w->nfiles; i++)
		free(w->files[i]);
	revoked_set_release(w->cur);
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->tlock);
	pthread_cond_destroy(&w->tcond);
	free(w);
}

struct revoked_set *
revoked_watch_acquire(struct revoked_watch *w)
{
	struct revoked_set *s;

	pthread_mutex_lock(&w->lock);
	s = w->cur;
	revoked_set_hold(s);
	pthread_mutex_unlock(&w->lock);
	return s;
}

static void
rv_stat(const char *path, struct rv_filestate *fs)
{
	struct stat st;

	memset(fs, 0, sizeof(*fs));
	if (stat(path, &st) == -1)
		return;
	fs->exists = 1;
	fs->dev = st.st_dev;
	fs->ino = st.st_ino;
	fs->size = st.st_size;
	fs->mtime = st.st_mtim;
}

static int
rv_same(const struct rv_filestate *a, const struct rv_filestate *b)
{
	if (a->exists != b->exists)
		return 0;
	if (!a->exists)
		return 1;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Publish s as the current snapshot. */
static void
rv_swap(struct revoked_watch *w, struct revoked_set *s)
{
	struct revoked_set *old;

	pthread_mutex_lock(&w->lock);
	old = w->cur;
	w->cur = s;
	pthread_mutex_unlock(&w->lock);
	revoked_set_release(old);
}

/* Whether two snapshots hold the same identifiers (both sorted and without duplicates). */
static int
rv_set_equal(const struct revoked_set *a, const struct revoked_set *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (rv_cmp(&a->v[i], a->pool, &b->v[i], b->pool) != 0)
			return 0;
	return 1;
}

/*
 * A source watcher's round: unless force, wait up to timeout_ms for the source to report a
 * change; load when it did, when the last load failed, or when refresh_ms passed since the
 * last load. 1 loaded, 0 nothing to do (or a periodic reload found what the snapshot
 * holds: kept, not reported), -1 with err (the source or the load failed).
 */
static int
rv_source_round(struct revoked_watch *w, int timeout_ms, int force, char *err,
    size_t errlen)
{
	struct revoked_set *s;
	int rc, periodic = 0;

	if (!force) {
		if ((rc = w->wait(w->wait_arg, timeout_ms, err, errlen)) == -1)
			return -1;
		if (rc == 1)
			w->loaded = 0;
		if (w->loaded && revoked_now_ms() - w->last_load < w->refresh_ms)
			return 0;
		periodic = w->loaded;
	}
	/* loaded = 0 first: a change the source reports during the load loads again */
	w->loaded = 0;
	if ((s = revoked_set_load(w->loader, w->loader_arg, err, errlen)) == NULL)
		return -1;
	w->loaded = 1;
	w->last_load = revoked_now_ms();
	if (periodic && rv_set_equal(s, w->cur)) {	/* only this thread writes cur */
		revoked_set_release(s);
		return 0;
	}
	rv_swap(w, s);
	return 1;
}

int
revoked_watch_poll(struct revoked_watch *w, int64_t now_ms, int force, char *err,
    size_t errlen)
{
	struct rv_filestate now[REVOKED_WATCH_FILES];
	struct revoked_set *s;
	int changed = 0;
	size_t i;

	if (!force && w->last_check != INT64_MIN && now_ms - w->last_check < w->interval_ms)
		return 0;
	w->last_check = now_ms;
	if (w->wait != NULL)
		return rv_source_round(w, 0, force, err, errlen);
	/* stat before loading: a commit after the stat is seen by the next check */
	for (i = 0; i < w->nfiles; i++) {
		rv_stat(w->files[i], &now[i]);
		if (!rv_same(&now[i], &w->seen[i]))
			changed = 1;
	}
	if (changed) {
		memcpy(w->seen, now, sizeof(now[0]) * w->nfiles);
		w->loaded = 0;
	}
	if (!force && w->loaded)
		return 0;
	if ((s = revoked_set_load(w->loader, w->loader_arg, err, errlen)) == NULL)
		return -1;
	w->loaded = 1;
	/*
	 * A file that the load itself created empty (a read-only SQLite connection creates an
	 * empty -wal when there was none) holds no change: adopt it, else the next check
	 * would reload for nothing.
	 */
	for (i = 0; i < w->nfiles; i++) {
		struct rv_filestate after;

		if (w->seen[i].exists)
			continue;
		rv_stat(w->files[i], &after);
		if (after.exists && after.size == 0)
			w->seen[i] = after;
	}
	rv_swap(w, s);
	return 1;
}

static void *
rv_thread(void *arg)
{
	struct revoked_watch *w = arg;
	struct revoked_event ev;
	struct timespec t0, t1, until;
	char err[256];
	int rc;

	pthread_mutex_lock(&w->tlock);
	while (!w->stopping) {
		pthread_mutex_unlock(&w->tlock);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		err[0] = '\0';
		if (w->wait != NULL)	/* blocks in the source for up to an interval */
			rc = rv_source_round(w, w->interval_ms, 0, err, sizeof(err));
		else
			rc = revoked_watch_poll(w, revoked_now_ms(), 0, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (rc != 0 && w->notify != NULL) {
			struct revoked_set *s = revoked_watch_acquire(w);

			memset(&ev, 0, sizeof(ev));
			ev.reloaded = rc == 1;
			ev.failed = rc == -1;
			ev.count = revoked_set_count(s);
			ev.load_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
			ev.msg = rc == -1 ? err : "";
			revoked_set_release(s);
			w->notify(w->notify_arg, &ev);
		}
		pthread_mutex_lock(&w->tlock);
		if (w->stopping)
			break;
		if (w->wait != NULL) {
			/* the source waited already; after a failure, back off (doubling) */
			if (rc != -1) {
				w->backoff_ms = 0;
				continue;
			}
			w->backoff_ms = w->backoff_ms == 0 ? REVOKED_BACKOFF_MIN_MS :
			    w->backoff_ms * 2;
			if (w->backoff_ms > REVOKED_BACKOFF_MAX_MS)
				w->backoff_ms = REVOKED_BACKOFF_MAX_MS;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)(w->wait != NULL ? w->backoff_ms : w->interval_ms) *
		    1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!w->stopping &&
		    pthread_cond_timedwait(&w->tcond, &w->tlock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&w->tlock);
	return NULL;
}

int
revoked_watch_start(struct revoked_watch *w, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&w->tlock);
	if (w->running) {
		pthread_mutex_unlock(&w->tlock);
		dhcpopt_err(err, errlen, "revoked watch: already running");
		return -1;
	}
	w->stopping = 0;
	if ((rc = pthread_create(&w->thread, NULL, rv_thread, w)) != 0) {
		pthread_mutex_unlock(&w->tlock);
		dhcpopt_err(err, errlen, "revoked watch: cannot start a thread: %s", strerror(rc));
		return -1;
	}
	w->running = 1;
	pthread_mutex_unlock(&w->tlock);
	return 0;
}

void
revoked_watch_stop(struct revoked_watch *w)
{
	int running;

	pthread_mutex_lock(&w->tlock);
	running = w->running;
	w->stopping = 1;
	pthread_cond_broadcast(&w->tcond);
	pthread_mutex_unlock(&w->tlock);
	if (running)
		pthread_join(w->thread, NULL);
	pthread_mutex_lock(&w->tlock);
	w->running = 0;
	pthread_mutex_unlock(&w->tlock);
}
