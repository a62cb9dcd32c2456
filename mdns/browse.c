/* browse: DNS-SD browsing and resolving through avahi-daemon; see browse.h. */
#include "mdns/browse.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-common/address.h>
#include <avahi-common/error.h>
#include <avahi-common/simple-watch.h>
#include <avahi-common/strlst.h>
#include <avahi-common/timeval.h>

#include "mdns/txt.h"

#define BROWSE_MAX_RESOLVERS	128	/* resolves in flight; more NEW events wait */
#define BROWSE_PATH_MAX		200

struct browse {
	AvahiSimplePoll		*sp;
	AvahiClient		*client;
	const char *const	*types;
	size_t			 ntypes;
	int			 flags;
	struct timespec		 start;
	struct mdns_result	*res;
	size_t			 n;
	size_t			 pending;	/* resolvers in flight */
	size_t			 all_for_now;	/* browsers that reported it */
	AvahiTimeout		*grace;
	int			 failed;
	char			 err[256];
	/* wait_removed */
	const char		*watch_name;
	int			 seen;
	int			 present;
	int			 removed;
};

/* ---- ordering (pure) ------------------------------------------------------------------ */

static int
family_rank(int family)
{
	return family == AF_INET ? 0 : 1;	/* IPv4 first, see browse.h */
}

#define CMP(x, y)	do { if ((x) != (y)) return (x) < (y) ? -1 : 1; } while (0)

int
mdns_browse_cmp(const struct mdns_result *a, const struct mdns_result *b)
{
	int c;

	CMP(a->pri, b->pri);
	CMP(family_rank(a->family), family_rank(b->family));
	CMP(a->ifindex, b->ifindex);
	if ((c = strcmp(a->name, b->name)) != 0)
		return c < 0 ? -1 : 1;
	CMP(a->type_rank, b->type_rank);
	if ((c = strcmp(a->type, b->type)) != 0)
		return c < 0 ? -1 : 1;
	if ((c = strcmp(a->address, b->address)) != 0)
		return c < 0 ? -1 : 1;
	CMP(a->port, b->port);
	return 0;
}

static int
cmp_qsort(const void *a, const void *b)
{
	return mdns_browse_cmp(a, b);
}

void
mdns_browse_sort(struct mdns_result *r, size_t n)
{
	if (r != NULL && n > 1)
		qsort(r, n, sizeof(*r), cmp_qsort);
}

void
mdns_results_free(struct mdns_result *r, size_t n)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < n; i++)
		txt_free(r[i].txt);
	free(r);
}

/* ---- turning a resolved answer into a candidate ----------------------------------------- */

static unsigned
elapsed_ms(const struct timespec *start)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
	return ms < 0 ? 0 : (unsigned)ms;
}

/* An absolute URL path: '/' then RFC 3986 pchar or '/', at most BROWSE_PATH_MAX bytes. */
static int
valid_path(const uint8_t *p, size_t len)
{
	size_t i;

	if (len == 0 || len > BROWSE_PATH_MAX || p[0] != '/')
		return 0;
	for (i = 0; i < len; i++) {
		if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= '0' && p[i] <= '9') || strchr("-._~!$&'()*+,;=:@%/", p[i]) != NULL)
			continue;
		return 0;	/* also catches NUL */
	}
	return 1;
}

/* TXT pri: decimal 0..65535, else the default (txt.h). */
static unsigned
txt_pri(const struct txt *t)
{
	const uint8_t *v;
	size_t len, i;
	unsigned long n = 0;

	if (!txt_get(t, TXT_KEY_PRI, &v, &len) || v == NULL || len == 0 || len > 5)
		return TXT_DEFAULT_PRI;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return TXT_DEFAULT_PRI;
		n = n * 10 + (unsigned long)(v[i] - '0');
	}
	return n > 65535 ? TXT_DEFAULT_PRI : (unsigned)n;
}

/* Does the comma-separated TXT rt name est-tls or brski? Absent counts as yes. */
static int
rt_ok(const struct txt *t)
{
	const uint8_t *v;
	size_t len, i, start = 0;

	if (!txt_get(t, TXT_KEY_RT, &v, &len))
		return 1;
	if (v == NULL)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i < len && v[i] != ',')
			continue;
		if ((i - start == strlen(TXT_RT_EST_TLS) &&
		    memcmp(v + start, TXT_RT_EST_TLS, i - start) == 0) ||
		    (i - start == strlen(TXT_RT_BRSKI) &&
		    memcmp(v + start, TXT_RT_BRSKI, i - start) == 0))
			return 1;
		start = i + 1;
	}
	return 0;
}

/*
 * Avahi's string list to TXT rdata, parsed by our codec (same rules as we announce with).
 * The client library hands the strings over in record order (measured: its own
 * avahi_string_list_serialize() would reverse them), so they are copied in list order.
 */
static int
parse_strlst(AvahiStringList *l, struct txt **out, char *err, size_t errlen)
{
	AvahiStringList *p;
	uint8_t *buf;
	size_t need = 0, off = 0, s;
	int rc;

	for (p = l; p != NULL; p = avahi_string_list_get_next(p)) {
		if ((s = avahi_string_list_get_size(p)) > TXT_STRING_MAX)
			return mdns_errf(err, errlen, "TXT string longer than 255 bytes");
		need += 1 + s;
		if (need > TXT_RDATA_MAX)
			return mdns_errf(err, errlen, "TXT record too long");
	}
	if (need == 0)
		return txt_parse(NULL, 0, out, err, errlen);
	if ((buf = malloc(need)) == NULL)
		return mdns_errf(err, errlen, "out of memory");
	for (p = l; p != NULL; p = avahi_string_list_get_next(p)) {
		s = avahi_string_list_get_size(p);
		buf[off++] = (uint8_t)s;
		memcpy(buf + off, avahi_string_list_get_text(p), s);
		off += s;
	}
	rc = txt_parse(buf, off, out, err, errlen);
	free(buf);
	return rc;
}

static int
is_brski_type(const char *type)
{
	return strcmp(type, MDNS_TYPE_REGISTRAR) == 0 || strcmp(type, MDNS_TYPE_PROXY) == 0;
}

/*
 * Fill r from a resolved answer. Returns 1 when the candidate is usable (browse.h), 0 when
 * it is to be skipped, -1 when out of memory. r->txt is set whenever 0/1 is returned.
 */
static int
make_result(struct browse *b, struct mdns_result *r, AvahiIfIndex ifindex, const char *name,
    const char *type, const char *domain, const char *host, const AvahiAddress *addr,
    uint16_t port, AvahiStringList *strl, AvahiLookupResultFlags lflags)
{
	const uint8_t *v;
	size_t vlen, i;
	char e[128], zone[IF_NAMESIZE + 4];

	memset(r, 0, sizeof(*r));
	if (parse_strlst(strl, &r->txt, e, sizeof(e)) == -1)
		return strstr(e, "memory") != NULL ? -1 : 0;
	snprintf(r->type, sizeof(r->type), "%s", type);
	for (i = 0; i < b->ntypes; i++)
		if (strcasecmp(b->types[i], type) == 0)
			break;
	r->type_rank = i;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->domain, sizeof(r->domain), "%s", domain != NULL ? domain : "");
	snprintf(r->host, sizeof(r->host), "%s", host != NULL ? host : "");
	r->port = port;
	r->ifindex = ifindex;
	if (ifindex <= 0 || if_indextoname((unsigned)ifindex, r->ifname) == NULL)
		r->ifname[0] = '\0';
	r->local = (lflags & AVAHI_LOOKUP_RESULT_LOCAL) != 0;
	r->elapsed_ms = elapsed_ms(&b->start);
	if (addr == NULL || port == 0)
		return 0;
	avahi_address_snprint(r->address, sizeof(r->address), addr);
	if (addr->proto == AVAHI_PROTO_INET) {
		r->family = AF_INET;
	} else if (addr->proto == AVAHI_PROTO_INET6) {
		r->family = AF_INET6;
		r->link_local = addr->data.ipv6.address[0] == 0xfe &&
		    (addr->data.ipv6.address[1] & 0xc0) == 0x80;
	} else
		return 0;
	/* RFC 6763 §6.7: a txtvers we do not know means keys we cannot read. */
	if (txt_get(r->txt, TXT_KEY_TXTVERS, &v, &vlen) &&
	    (v == NULL || vlen != 1 || v[0] != TXT_TXTVERS[0]))
		return 0;
	if (txt_get(r->txt, TXT_KEY_PATH, &v, &vlen)) {
		if (v == NULL || !valid_path(v, vlen))
			return 0;
		memcpy(r->path, v, vlen);
		r->path[vlen] = '\0';
	} else
		snprintf(r->path, sizeof(r->path), "%s", TXT_DEFAULT_PATH);
	if (is_brski_type(r->type) && !rt_ok(r->txt))
		return 0;
	r->pri = txt_pri(r->txt);
	zone[0] = '\0';
	if (r->link_local && r->ifname[0] != '\0')
		snprintf(zone, sizeof(zone), "%%25%s", r->ifname);	/* RFC 6874 */
	if (r->family == AF_INET6)
		snprintf(r->url, sizeof(r->url), "https://[%s%s]:%u%s", r->address, zone,
		    r->port, r->path);
	else
		snprintf(r->url, sizeof(r->url), "https://%s:%u%s", r->address, r->port,
		    r->path);
	return 1;
}

/* ---- the Avahi side --------------------------------------------------------------------- */

static void
browse_fail(struct browse *b, const char *what, int e)
{
	if (!b->failed)
		snprintf(b->err, sizeof(b->err), "%s: %s", what, avahi_strerror(e));
	b->failed = 1;
	avahi_simple_poll_quit(b->sp);
}

/* Done already? (MDNS_BROWSE_ALL: every browser said all-for-now, no resolve in flight.) */
static void
browse_check_done(struct browse *b)
{
	if (b->watch_name != NULL) {
		if ((b->seen && b->present == 0) ||
		    (!b->seen && b->all_for_now == b->ntypes)) {
			b->removed = 1;
			avahi_simple_poll_quit(b->sp);
		}
		return;
	}
	if (b->all_for_now == b->ntypes && b->pending == 0 &&
	    ((b->flags & MDNS_BROWSE_ALL) || b->n > 0))
		avahi_simple_poll_quit(b->sp);
}

static void
grace_fire(AvahiTimeout *t, void *arg)
{
	struct browse *b = arg;

	(void)t;
	avahi_simple_poll_quit(b->sp);
}

static void
resolve_cb(AvahiServiceResolver *rv, AvahiIfIndex ifindex, AvahiProtocol proto,
    AvahiResolverEvent ev, const char *name, const char *type, const char *domain,
    const char *host, const AvahiAddress *addr, uint16_t port, AvahiStringList *txt,
    AvahiLookupResultFlags lflags, void *arg)
{
	struct browse *b = arg;
	struct mdns_result r;
	struct timeval tv;
	int u;

	(void)proto;
	b->pending--;
	if (ev == AVAHI_RESOLVER_FOUND && b->n < MDNS_BROWSE_MAX_RESULTS) {
		u = make_result(b, &r, ifindex, name, type, domain, host, addr, port, txt,
		    lflags);
		if (u == -1) {
			browse_fail(b, "resolving", AVAHI_ERR_NO_MEMORY);
			goto out;
		}
		if (u == 0) {
			txt_free(r.txt);
		} else {
			b->res[b->n++] = r;
			/* First usable answer: a short grace for its siblings, then stop. */
			if (!(b->flags & MDNS_BROWSE_ALL) && b->grace == NULL) {
				avahi_elapse_time(&tv, MDNS_BROWSE_GRACE_MS, 0);
				b->grace = avahi_simple_poll_get(b->sp)->timeout_new(
				    avahi_simple_poll_get(b->sp), &tv, grace_fire, b);
				if (b->grace == NULL) {
					browse_fail(b, "timer", AVAHI_ERR_NO_MEMORY);
					goto out;
				}
			}
		}
	}
	/* A failed resolve (timeout, record gone) is not an error: skip it. */
	browse_check_done(b);
out:
	/* One answer is all we want; the strings above belong to the D-Bus message. */
	avahi_service_resolver_free(rv);
}

/* Forget the candidates of an instance that went away on (ifindex, proto). */
static void
drop_results(struct browse *b, AvahiIfIndex ifindex, AvahiProtocol proto, const char *name,
    const char *type)
{
	int family = proto == AVAHI_PROTO_INET ? AF_INET : AF_INET6;
	size_t i = 0;

	while (i < b->n) {
		struct mdns_result *r = &b->res[i];
		if (r->ifindex == ifindex && r->family == family && strcmp(r->name, name) == 0 &&
		    strcasecmp(r->type, type) == 0) {
			txt_free(r->txt);
			b->res[i] = b->res[--b->n];
		} else
			i++;
	}
}

static void
browser_cb(AvahiServiceBrowser *sb, AvahiIfIndex ifindex, AvahiProtocol proto,
    AvahiBrowserEvent ev, const char *name, const char *type, const char *domain,
    AvahiLookupResultFlags lflags, void *arg)
{
	struct browse *b = arg;
	AvahiClient *c = avahi_service_browser_get_client(sb);

	(void)lflags;
	switch (ev) {
	case AVAHI_BROWSER_NEW:
		if (b->watch_name != NULL) {
			if (strcmp(name, b->watch_name) == 0) {
				b->seen = 1;
				b->present++;
			}
			break;
		}
		if (b->pending >= BROWSE_MAX_RESOLVERS)
			break;
		/* The address over the protocol the answer came on (browse.h). */
		if (avahi_service_resolver_new(c, ifindex, proto, name, type, domain, proto, 0,
		    resolve_cb, b) == NULL)
			browse_fail(b, "cannot resolve", avahi_client_errno(c));
		else
			b->pending++;
		break;
	case AVAHI_BROWSER_REMOVE:
		if (b->watch_name != NULL) {
			if (strcmp(name, b->watch_name) == 0 && b->present > 0)
				b->present--;
		} else
			drop_results(b, ifindex, proto, name, type);
		browse_check_done(b);
		break;
	case AVAHI_BROWSER_ALL_FOR_NOW:
		b->all_for_now++;
		browse_check_done(b);
		break;
	case AVAHI_BROWSER_CACHE_EXHAUSTED:
		break;
	case AVAHI_BROWSER_FAILURE:
		browse_fail(b, "browsing", avahi_client_errno(c));
		break;
	}
}

static void
client_cb(AvahiClient *c, AvahiClientState st, void *arg)
{
	struct browse *b = arg;

	if (st == AVAHI_CLIENT_FAILURE)
		browse_fail(b, "avahi-daemon", avahi_client_errno(c));
}

static void
deadline_fire(AvahiTimeout *t, void *arg)
{
	struct browse *b = arg;

	(void)t;
	avahi_simple_poll_quit(b->sp);
}

/* Connect, browse every type, run the loop until done or timeout. */
static int
browse_loop(struct browse *b, unsigned timeout_ms, char *err, size_t errlen)
{
	const AvahiPoll *api;
	AvahiTimeout *deadline = NULL;
	struct timeval tv;
	size_t i;
	int e = 0, rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &b->start);
	if ((b->sp = avahi_simple_poll_new()) == NULL)
		return mdns_errf(err, errlen, "out of memory");
	api = avahi_simple_poll_get(b->sp);
	if ((b->client = avahi_client_new(api, 0, client_cb, b, &e)) == NULL) {
		mdns_errf(err, errlen, "cannot connect to avahi-daemon: %s", avahi_strerror(e));
		goto done;
	}
	for (i = 0; i < b->ntypes; i++) {
		if (avahi_service_browser_new(b->client, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
		    b->types[i], NULL, 0, browser_cb, b) == NULL) {
			mdns_errf(err, errlen, "cannot browse %s: %s", b->types[i],
			    avahi_strerror(avahi_client_errno(b->client)));
			goto done;
		}
	}
	avahi_elapse_time(&tv, timeout_ms, 0);
	if ((deadline = api->timeout_new(api, &tv, deadline_fire, b)) == NULL) {
		mdns_errf(err, errlen, "out of memory");
		goto done;
	}
	if (!b->failed && avahi_simple_poll_loop(b->sp) < 0 && !b->failed) {
		mdns_errf(err, errlen, "polling avahi-daemon failed");
		goto done;
	}
	if (b->failed) {
		mdns_errf(err, errlen, "%s", b->err);
		goto done;
	}
	rc = 0;
done:
	/* The client frees its browsers and resolvers; the poll frees the timers. */
	if (b->client != NULL)
		avahi_client_free(b->client);
	b->client = NULL;
	avahi_simple_poll_free(b->sp);
	b->sp = NULL;
	return rc;
}

static int
check_types(const char *const *types, size_t ntypes, char *err, size_t errlen)
{
	size_t i;

	if (types == NULL || ntypes == 0 || ntypes > MDNS_BROWSE_MAX_TYPES)
		return mdns_errf(err, errlen, "mdns: 1 to %d service types", MDNS_BROWSE_MAX_TYPES);
	for (i = 0; i < ntypes; i++)
		if (types[i] == NULL || strlen(types[i]) >= sizeof(((struct mdns_result *)0)->type))
			return mdns_errf(err, errlen, "mdns: bad service type");
	return 0;
}

int
mdns_browse_run(const char *const *types, size_t ntypes, unsigned timeout_ms, int flags,
    struct mdns_result **out, size_t *n, char *err, size_t errlen)
{
	struct browse b;

	*out = NULL;
	*n = 0;
	if (check_types(types, ntypes, err, errlen) == -1)
		return -1;
	memset(&b, 0, sizeof(b));
	b.types = types;
	b.ntypes = ntypes;
	b.flags = flags;
	if ((b.res = calloc(MDNS_BROWSE_MAX_RESULTS, sizeof(*b.res))) == NULL)
		return mdns_errf(err, errlen, "out of memory");
	if (browse_loop(&b, timeout_ms, err, errlen) == -1) {
		mdns_results_free(b.res, b.n);
		return -1;
	}
	mdns_browse_sort(b.res, b.n);
	*out = b.res;
	*n = b.n;
	return 0;
}

int
mdns_browse_wait_removed(const char *type, const char *name, unsigned timeout_ms,
    char *err, size_t errlen)
{
	struct browse b;

	if (check_types(&type, 1, err, errlen) == -1)
		return -1;
	if (name == NULL || name[0] == '\0')
		return mdns_errf(err, errlen, "mdns: no instance name to watch");
	memset(&b, 0, sizeof(b));
	b.types = &type;
	b.ntypes = 1;
	b.watch_name = name;
	if (browse_loop(&b, timeout_ms, err, errlen) == -1)
		return -1;
	if (!b.removed)
		return 1;
	return b.seen ? 0 : 2;
}
