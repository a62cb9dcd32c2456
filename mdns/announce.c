/* announce: DNS-SD announcements through avahi-daemon; see announce.h. */
#include "mdns/announce.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/domain.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <event2/event.h>

#include "mdns/evpoll.h"
#include "mdns/txt.h"

#define MDNS_RENAME_MAX	100	/* give up renaming after this many local collisions */

struct announce_svc {
	char		 type[64];	/* "_name._tcp": short by RFC 6763 §7 */
	uint16_t	 port;
	AvahiProtocol	 proto;
	AvahiStringList	*txt;
};

struct mdns_announce {
	struct event_base	*base;
	struct mdns_evpoll	*ep;
	AvahiClient		*client;
	AvahiEntryGroup		*group;
	struct event		*retry;		/* re-create the client or re-register */
	int			 retry_client;	/* the pending retry re-creates the client */
	char			 name[MDNS_NAME_MAX + 1];
	struct announce_svc	*svcs;
	size_t			 n;
	enum mdns_announce_state state;
	mdns_announce_cb	 cb;
	void			*cbarg;
};

static void status(struct mdns_announce *, enum mdns_announce_state, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Record the new state and tell the caller. */
static void
status(struct mdns_announce *a, enum mdns_announce_state st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	a->state = st;
	if (a->cb == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	a->cb(a->cbarg, st, msg);
}

const char *
mdns_announce_state_name(enum mdns_announce_state st)
{
	switch (st) {
	case MDNS_ANNOUNCE_CONNECTING:
		return "connecting";
	case MDNS_ANNOUNCE_REGISTERING:
		return "registering";
	case MDNS_ANNOUNCE_ESTABLISHED:
		return "established";
	case MDNS_ANNOUNCE_COLLISION:
		return "collision";
	case MDNS_ANNOUNCE_DISCONNECTED:
		return "disconnected";
	case MDNS_ANNOUNCE_ERROR:
		return "error";
	}
	return "unknown";
}

/* "sha256:" and 64 hex digits (the cafp key of txt.h). */
static int
valid_cafp(const char *s)
{
	size_t i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != 64)
		return 0;
	for (i = 7; s[i] != '\0'; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/*
 * The TXT record of s (RFC 6763 §6) as an Avahi string list: encoded by our codec, so the
 * same rules hold for what we send and what we parse. txtvers goes first (§6.7).
 */
static int
build_txt(const struct mdns_service *s, AvahiStringList **out, char *err, size_t errlen)
{
	struct txt_builder *b;
	uint8_t *rdata = NULL;
	size_t len;
	char num[16], e[256];
	int rc = -1;

	*out = NULL;
	if ((b = txt_builder_new()) == NULL)
		return mdns_errf(err, errlen, "out of memory");
	if (s->path != NULL && s->path[0] != '/') {
		mdns_errf(err, errlen, "%s: TXT path must start with '/'", s->type);
		goto done;
	}
	if (s->pri > 65535) {
		mdns_errf(err, errlen, "%s: TXT pri must be 0..65535", s->type);
		goto done;
	}
	if (s->cafp != NULL && !valid_cafp(s->cafp)) {
		mdns_errf(err, errlen, "%s: TXT cafp must be sha256: and 64 hex digits", s->type);
		goto done;
	}
	snprintf(num, sizeof(num), "%d", s->pri);
	if (txt_add(b, TXT_KEY_TXTVERS, TXT_TXTVERS, e, sizeof(e)) == -1 ||
	    (s->rt != NULL && txt_add(b, TXT_KEY_RT, s->rt, e, sizeof(e)) == -1) ||
	    (s->path != NULL && txt_add(b, TXT_KEY_PATH, s->path, e, sizeof(e)) == -1) ||
	    (s->pri >= 0 && txt_add(b, TXT_KEY_PRI, num, e, sizeof(e)) == -1) ||
	    (s->dom != NULL && txt_add(b, TXT_KEY_DOM, s->dom, e, sizeof(e)) == -1) ||
	    (s->cafp != NULL && txt_add(b, TXT_KEY_CAFP, s->cafp, e, sizeof(e)) == -1) ||
	    txt_encode(b, &rdata, &len, e, sizeof(e)) == -1) {
		mdns_errf(err, errlen, "%s: TXT record: %s", s->type, e);
		goto done;
	}
	if (avahi_string_list_parse(rdata, len, out) < 0) {
		mdns_errf(err, errlen, "%s: TXT record: Avahi cannot parse it", s->type);
		goto done;
	}
	rc = 0;
done:
	free(rdata);
	txt_builder_free(b);
	return rc;
}

static AvahiProtocol
family_proto(int family)
{
	if (family == AF_INET)
		return AVAHI_PROTO_INET;
	if (family == AF_INET6)
		return AVAHI_PROTO_INET6;
	return AVAHI_PROTO_UNSPEC;
}

/* Arm the retry timer: re-create the client (client = 1) or only re-register. */
static void
schedule_retry(struct mdns_announce *a, int client, int secs)
{
	struct timeval tv = { secs, 0 };

	if (evtimer_pending(a->retry, NULL)) {
		if (a->retry_client && !client)
			return;		/* a client re-creation re-registers anyway */
	} else
		a->retry_client = 0;
	a->retry_client |= client;
	evtimer_add(a->retry, &tv);
}

/* Switch to Avahi's alternative name ("NAME #2", "NAME #3", ...; RFC 6763 §4.1.1 length). */
static int
rename_instance(struct mdns_announce *a)
{
	char *alt;

	if ((alt = avahi_alternative_service_name(a->name)) == NULL)
		return -1;
	snprintf(a->name, sizeof(a->name), "%s", alt);
	avahi_free(alt);
	return 0;
}

static void	group_cb(AvahiEntryGroup *, AvahiEntryGroupState, void *);

/*
 * Add every service to the (empty) entry group g of client c and commit. A local name
 * collision (AVAHI_ERR_COLLISION: another program on this host uses the name) renames and
 * starts over. Errors are reported and retried later.
 */
static void
register_services(struct mdns_announce *a, AvahiClient *c)
{
	size_t i;
	int r = 0, tries;

	if (a->group == NULL &&
	    (a->group = avahi_entry_group_new(c, group_cb, a)) == NULL) {
		status(a, MDNS_ANNOUNCE_ERROR, "cannot create an Avahi entry group: %s",
		    avahi_strerror(avahi_client_errno(c)));
		schedule_retry(a, 1, MDNS_ANNOUNCE_RETRY_SECS);
		return;
	}
	if (!avahi_entry_group_is_empty(a->group))
		return;
	for (tries = 0; tries < MDNS_RENAME_MAX; tries++) {
		for (i = 0; i < a->n; i++) {
			r = avahi_entry_group_add_service_strlst(a->group, AVAHI_IF_UNSPEC,
			    a->svcs[i].proto, 0, a->name, a->svcs[i].type, NULL, NULL,
			    a->svcs[i].port, a->svcs[i].txt);
			if (r < 0)
				break;
		}
		if (r != AVAHI_ERR_COLLISION)
			break;
		avahi_entry_group_reset(a->group);
		status(a, MDNS_ANNOUNCE_COLLISION, "service name '%s' is used on this host",
		    a->name);
		if (rename_instance(a) == -1)
			break;
	}
	if (r >= 0)
		r = avahi_entry_group_commit(a->group);
	if (r < 0) {
		avahi_entry_group_reset(a->group);
		status(a, MDNS_ANNOUNCE_ERROR, "cannot register '%s': %s", a->name,
		    avahi_strerror(r));
		schedule_retry(a, 0, MDNS_ANNOUNCE_RETRY_SECS);
		return;
	}
	status(a, MDNS_ANNOUNCE_REGISTERING, "registering %zu service%s as '%s'", a->n,
	    a->n == 1 ? "" : "s", a->name);
}

static void
group_cb(AvahiEntryGroup *g, AvahiEntryGroupState st, void *arg)
{
	struct mdns_announce *a = arg;
	AvahiClient *c = avahi_entry_group_get_client(g);
	char old[MDNS_NAME_MAX + 1];
	size_t i;
	char types[512];

	switch (st) {
	case AVAHI_ENTRY_GROUP_ESTABLISHED:
		types[0] = '\0';
		for (i = 0; i < a->n; i++)
			snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s/%u",
			    i ? ", " : "", a->svcs[i].type, a->svcs[i].port);
		status(a, MDNS_ANNOUNCE_ESTABLISHED, "announced as '%s': %s", a->name, types);
		break;
	case AVAHI_ENTRY_GROUP_COLLISION:
		/* Another host on the link owns the name (RFC 6762 §9): rename, retry. */
		snprintf(old, sizeof(old), "%s", a->name);
		if (rename_instance(a) == -1) {
			status(a, MDNS_ANNOUNCE_ERROR, "name collision on '%s' and no "
			    "alternative name", old);
			break;
		}
		status(a, MDNS_ANNOUNCE_COLLISION, "name '%s' is taken on the link, "
		    "trying '%s'", old, a->name);
		a->group = g;
		avahi_entry_group_reset(g);
		register_services(a, c);
		break;
	case AVAHI_ENTRY_GROUP_FAILURE:
		status(a, MDNS_ANNOUNCE_ERROR, "registration of '%s' failed: %s", a->name,
		    avahi_strerror(avahi_client_errno(c)));
		avahi_entry_group_reset(g);
		schedule_retry(a, 0, MDNS_ANNOUNCE_RETRY_SECS);
		break;
	case AVAHI_ENTRY_GROUP_UNCOMMITED:
	case AVAHI_ENTRY_GROUP_REGISTERING:
		break;
	}
}

static void
client_cb(AvahiClient *c, AvahiClientState st, void *arg)
{
	struct mdns_announce *a = arg;
	int e;

	switch (st) {
	case AVAHI_CLIENT_S_RUNNING:
		/* Also the first call, from inside avahi_client_new(): use c, not a->client. */
		register_services(a, c);
		break;
	case AVAHI_CLIENT_S_COLLISION:
	case AVAHI_CLIENT_S_REGISTERING:
		/*
		 * The daemon is (re)probing its host name; our records point at it, so
		 * withdraw them and register again once it runs.
		 */
		if (a->group != NULL)
			avahi_entry_group_reset(a->group);
		status(a, MDNS_ANNOUNCE_CONNECTING, "avahi-daemon is registering its host "
		    "name; waiting");
		break;
	case AVAHI_CLIENT_CONNECTING:
		status(a, MDNS_ANNOUNCE_CONNECTING, "waiting for avahi-daemon");
		break;
	case AVAHI_CLIENT_FAILURE:
		e = avahi_client_errno(c);
		/*
		 * The client is unusable now. Freeing it inside its own callback is allowed,
		 * but doing it from the event loop keeps Avahi's stack out of the way.
		 */
		if (e == AVAHI_ERR_DISCONNECTED) {
			status(a, MDNS_ANNOUNCE_DISCONNECTED, "avahi-daemon went away; "
			    "will announce again when it is back");
			schedule_retry(a, 1, 0);
		} else {
			status(a, MDNS_ANNOUNCE_ERROR, "Avahi client failed: %s; retrying in "
			    "%d s", avahi_strerror(e), MDNS_ANNOUNCE_RETRY_SECS);
			schedule_retry(a, 1, MDNS_ANNOUNCE_RETRY_SECS);
		}
		break;
	}
}

/* (Re)create the client; with AVAHI_CLIENT_NO_FAIL it waits for a missing daemon. */
static void
client_start(struct mdns_announce *a)
{
	int e = 0;

	a->client = avahi_client_new(mdns_evpoll_get(a->ep), AVAHI_CLIENT_NO_FAIL, client_cb,
	    a, &e);
	if (a->client == NULL) {
		status(a, MDNS_ANNOUNCE_ERROR, "cannot reach avahi-daemon over D-Bus: %s; "
		    "retrying in %d s", avahi_strerror(e), MDNS_ANNOUNCE_RETRY_SECS);
		schedule_retry(a, 1, MDNS_ANNOUNCE_RETRY_SECS);
	}
}

static void
client_stop(struct mdns_announce *a)
{
	/* Frees the entry group too; the daemon withdraws its records (goodbyes). */
	if (a->client != NULL)
		avahi_client_free(a->client);
	a->client = NULL;
	a->group = NULL;
}

static void
retry_fire(evutil_socket_t fd, short what, void *arg)
{
	struct mdns_announce *a = arg;

	(void)fd;
	(void)what;
	if (a->retry_client || a->client == NULL) {
		a->retry_client = 0;
		client_stop(a);
		client_start(a);
		return;
	}
	if (avahi_client_get_state(a->client) == AVAHI_CLIENT_S_RUNNING) {
		if (a->group != NULL)
			avahi_entry_group_reset(a->group);
		register_services(a, a->client);
	}
}

struct mdns_announce *
mdns_announce_new(struct event_base *base, const char *name,
    const struct mdns_service *svcs, size_t n, mdns_announce_cb cb, void *cbarg,
    char *err, size_t errlen)
{
	struct mdns_announce *a;
	size_t i;

	if (base == NULL || name == NULL || svcs == NULL || n == 0) {
		mdns_errf(err, errlen, "mdns: nothing to announce");
		return NULL;
	}
	if (strlen(name) > MDNS_NAME_MAX || !avahi_is_valid_service_name(name)) {
		mdns_errf(err, errlen, "mdns: bad service instance name '%.80s' (1 to %d bytes of "
		    "UTF-8)", name, MDNS_NAME_MAX);
		return NULL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->svcs = calloc(n, sizeof(*a->svcs))) == NULL) {
		mdns_errf(err, errlen, "out of memory");
		goto err;
	}
	a->base = base;
	a->cb = cb;
	a->cbarg = cbarg;
	a->state = MDNS_ANNOUNCE_CONNECTING;
	snprintf(a->name, sizeof(a->name), "%s", name);
	for (i = 0; i < n; i++) {
		if (svcs[i].type == NULL ||
		    strlen(svcs[i].type) >= sizeof(a->svcs[i].type) ||
		    !avahi_is_valid_service_type_strict(svcs[i].type)) {
			mdns_errf(err, errlen, "mdns: bad service type '%.80s' (e.g. _x._tcp)",
			    svcs[i].type != NULL ? svcs[i].type : "(null)");
			goto err;
		}
		if (svcs[i].port == 0 || svcs[i].port > 65535) {
			mdns_errf(err, errlen, "mdns: %s: port %u out of range", svcs[i].type,
			    svcs[i].port);
			goto err;
		}
		snprintf(a->svcs[i].type, sizeof(a->svcs[i].type), "%s", svcs[i].type);
		a->svcs[i].port = (uint16_t)svcs[i].port;
		a->svcs[i].proto = family_proto(svcs[i].family);
		a->n = i + 1;
		if (build_txt(&svcs[i], &a->svcs[i].txt, err, errlen) == -1)
			goto err;
	}
	if ((a->ep = mdns_evpoll_new(base, err, errlen)) == NULL)
		goto err;
	if ((a->retry = evtimer_new(base, retry_fire, a)) == NULL) {
		mdns_errf(err, errlen, "out of memory");
		goto err;
	}
	client_start(a);
	return a;
err:
	mdns_announce_free(a);
	return NULL;
}

int
mdns_service_set_url(struct mdns_service *s, const char *url, char *pathbuf, size_t pathlen,
    char *err, size_t errlen)
{
	const char *h, *slash, *colon, *rb;
	unsigned long port = 443;
	char *end;

	if (strncmp(url, "https://", 8) != 0)
		return mdns_errf(err, errlen, "%.200s: not an https:// URL", url);
	h = url + 8;
	if ((slash = strchr(h, '/')) == NULL)
		slash = h + strlen(h);
	if (strpbrk(url, "?# ") != NULL)
		return mdns_errf(err, errlen, "%.200s: no query, fragment or space allowed", url);
	/* The port follows the last ':' of the authority, after an IPv6 literal's ']'. */
	rb = memchr(h, ']', (size_t)(slash - h));
	colon = memchr(rb != NULL ? rb : h, ':', (size_t)(slash - (rb != NULL ? rb : h)));
	if (slash == h || (h[0] == '[' && rb == NULL))
		return mdns_errf(err, errlen, "%.200s: no host", url);
	if (colon != NULL) {
		port = strtoul(colon + 1, &end, 10);
		if (end != slash || colon + 1 == slash || port == 0 || port > 65535)
			return mdns_errf(err, errlen, "%.200s: bad port", url);
	}
	s->port = (unsigned)port;
	s->path = NULL;
	if (*slash == '/' && slash[1] != '\0') {
		if ((size_t)snprintf(pathbuf, pathlen, "%s", slash) >= pathlen)
			return mdns_errf(err, errlen, "%.200s: path too long", url);
		s->path = pathbuf;
	}
	return 0;
}

const char *
mdns_announce_name(const struct mdns_announce *a)
{
	return a->name;
}

enum mdns_announce_state
mdns_announce_state(const struct mdns_announce *a)
{
	return a->state;
}

void
mdns_announce_free(struct mdns_announce *a)
{
	size_t i;

	if (a == NULL)
		return;
	client_stop(a);
	if (a->retry != NULL)
		event_free(a->retry);
	mdns_evpoll_free(a->ep);
	if (a->svcs != NULL)
		for (i = 0; i < a->n; i++)
			avahi_string_list_free(a->svcs[i].txt);
	free(a->svcs);
	free(a);
}
