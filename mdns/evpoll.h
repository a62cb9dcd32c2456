/*
 * evpoll: Avahi's main-loop abstraction (AvahiPoll, avahi-common/watch.h) over a libevent
 * event_base, so an Avahi client runs inside latchkeyd's own loop without a thread.
 *
 * Mapping: an AvahiWatch is one persistent libevent event on its fd (AVAHI_WATCH_IN ->
 * EV_READ, AVAHI_WATCH_OUT -> EV_WRITE; events 0 means "not armed"); an AvahiTimeout is one
 * libevent timer armed for the absolute gettimeofday() time Avahi asks for (NULL disarms it;
 * it fires once and stays disarmed until updated). Every Avahi call (update/free from inside
 * a callback included) is safe as Avahi documents it.
 *
 * Internal to mdns/: the AvahiPoll type does not leave this module (announce.c uses it).
 * The poll must outlive every Avahi object created on it, and the event_base must outlive
 * the poll.
 */
#ifndef LATCHKEY_EVPOLL_H
#define LATCHKEY_EVPOLL_H

#include <stddef.h>

struct event_base;
struct AvahiPoll;
struct mdns_evpoll;

/* A new adapter on base; NULL (with err) when out of memory. */
struct mdns_evpoll	*mdns_evpoll_new(struct event_base *base, char *err, size_t errlen);

/* The AvahiPoll vtable to hand to avahi_client_new(); owned by ep. */
const struct AvahiPoll	*mdns_evpoll_get(struct mdns_evpoll *ep);

/* Free the adapter. Every watch and timeout must have been freed already. NULL is fine. */
void	 mdns_evpoll_free(struct mdns_evpoll *ep);

#endif
