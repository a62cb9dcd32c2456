/* evpoll: AvahiPoll over libevent; see evpoll.h. */
#include "mdns/evpoll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <avahi-common/watch.h>
#include <event2/event.h>

struct mdns_evpoll {
	AvahiPoll		 api;		/* first: api.userdata points back at us */
	struct event_base	*base;
};

struct AvahiWatch {
	struct mdns_evpoll	*ep;
	struct event		*ev;
	int			 fd;
	AvahiWatchEvent		 want;		/* what Avahi asked for */
	AvahiWatchEvent		 got;		/* what the current dispatch saw */
	AvahiWatchCallback	 cb;
	void			*arg;
};

struct AvahiTimeout {
	struct mdns_evpoll	*ep;
	struct event		*ev;
	AvahiTimeoutCallback	 cb;
	void			*arg;
};

static short
watch_flags(AvahiWatchEvent e)
{
	short f = 0;

	if (e & AVAHI_WATCH_IN)
		f |= EV_READ;
	if (e & AVAHI_WATCH_OUT)
		f |= EV_WRITE;
	return f;
}

static void
watch_fire(evutil_socket_t fd, short what, void *arg)
{
	AvahiWatch *w = arg;
	AvahiWatchEvent e = 0;

	if (what & EV_READ)
		e |= AVAHI_WATCH_IN;
	if (what & EV_WRITE)
		e |= AVAHI_WATCH_OUT;
	w->got = e;
	/* The callback may free w (Avahi allows it): do not touch w afterwards. */
	w->cb(w, (int)fd, e, w->arg);
}

/* (Re)arm w's event for w->want; 0 leaves it unarmed. Returns 0 or -1. */
static int
watch_arm(AvahiWatch *w)
{
	short f = watch_flags(w->want);

	if (w->ev != NULL) {
		event_free(w->ev);	/* deletes it if pending */
		w->ev = NULL;
	}
	if (f == 0)
		return 0;
	if ((w->ev = event_new(w->ep->base, w->fd, f | EV_PERSIST, watch_fire, w)) == NULL)
		return -1;
	return event_add(w->ev, NULL);
}

static AvahiWatch *
ep_watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent event, AvahiWatchCallback cb,
    void *arg)
{
	struct mdns_evpoll *ep = api->userdata;
	AvahiWatch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->ep = ep;
	w->fd = fd;
	w->want = event;
	w->cb = cb;
	w->arg = arg;
	if (watch_arm(w) == -1) {
		if (w->ev != NULL)
			event_free(w->ev);
		free(w);
		return NULL;
	}
	return w;
}

static void
ep_watch_update(AvahiWatch *w, AvahiWatchEvent event)
{
	short armed = w->ev != NULL ? event_get_events(w->ev) & (EV_READ | EV_WRITE) : 0;

	w->want = event;
	if (watch_flags(event) == armed)
		return;
	/*
	 * Avahi's interface cannot report a failure here; event_new only fails when out of
	 * memory, and then the watch stays unarmed.
	 */
	(void)watch_arm(w);
}

static AvahiWatchEvent
ep_watch_get_events(AvahiWatch *w)
{
	return w->got;
}

static void
ep_watch_free(AvahiWatch *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	free(w);
}

static void
timeout_fire(evutil_socket_t fd, short what, void *arg)
{
	AvahiTimeout *t = arg;

	(void)fd;
	(void)what;
	/* One-shot: the timer is no longer pending. The callback may free t. */
	t->cb(t, t->arg);
}

/* Arm t for the absolute time tv (gettimeofday clock, as Avahi uses), or disarm (NULL). */
static void
timeout_arm(AvahiTimeout *t, const struct timeval *tv)
{
	struct timeval now, rel;

	event_del(t->ev);
	if (tv == NULL)
		return;
	gettimeofday(&now, NULL);
	if (timercmp(tv, &now, <=))
		timerclear(&rel);
	else
		timersub(tv, &now, &rel);
	event_add(t->ev, &rel);
}

static AvahiTimeout *
ep_timeout_new(const AvahiPoll *api, const struct timeval *tv, AvahiTimeoutCallback cb,
    void *arg)
{
	struct mdns_evpoll *ep = api->userdata;
	AvahiTimeout *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ep = ep;
	t->cb = cb;
	t->arg = arg;
	if ((t->ev = evtimer_new(ep->base, timeout_fire, t)) == NULL) {
		free(t);
		return NULL;
	}
	timeout_arm(t, tv);
	return t;
}

static void
ep_timeout_update(AvahiTimeout *t, const struct timeval *tv)
{
	timeout_arm(t, tv);
}

static void
ep_timeout_free(AvahiTimeout *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}

struct mdns_evpoll *
mdns_evpoll_new(struct event_base *base, char *err, size_t errlen)
{
	struct mdns_evpoll *ep;

	if ((ep = calloc(1, sizeof(*ep))) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ep->base = base;
	ep->api.userdata = ep;
	ep->api.watch_new = ep_watch_new;
	ep->api.watch_update = ep_watch_update;
	ep->api.watch_get_events = ep_watch_get_events;
	ep->api.watch_free = ep_watch_free;
	ep->api.timeout_new = ep_timeout_new;
	ep->api.timeout_update = ep_timeout_update;
	ep->api.timeout_free = ep_timeout_free;
	return ep;
}

const struct AvahiPoll *
mdns_evpoll_get(struct mdns_evpoll *ep)
{
	return &ep->api;
}

void
mdns_evpoll_free(struct mdns_evpoll *ep)
{
	free(ep);
}
