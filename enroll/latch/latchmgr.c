/*
 * latchmgr: charon in responder mode on a libevent loop. See latchmgr.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "enroll/latch/charon.h"
#include "enroll/latch/latchmgr.h"
#include "enroll/common/err.h"

#define LATCHMGR_RETRY_SEC	2
#define LATCHMGR_LINE_MAX	512
#define LATCHMGR_CRL_POLL_SEC	1

struct latchmgr {
	struct charon_conf	 cc;
	char			*own[12];	/* copies of the conf strings cc points to */
	struct event		*ev_crl;	/* CRL file poll */
	const char		*crl[2];	/* the CRL files: the domain CA's, the previous */
	struct stat		 crl_st[2];	/* each as last loaded into charon */
	int			 crl_loaded[2];
	char			*state_file;
	char			*control_path;
	struct event_base	*base;
	struct charon		*ctl;
	struct event		*ev_vici;
	struct event		*ev_retry;
	struct event		*ev_listen;
	int			 lfd;
	latchmgr_log_cb		*log;
	void			*logarg;
	latchmgr_admit_cb	*admit;
	void			*admitarg;
	char			 lasterr[256];
	/* Latches closed while charon was away are remembered here and replayed. */
	char			*closed[64];
	size_t			 nclosed;
};

static void
lm_log(struct latchmgr *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
lm_log(struct latchmgr *m, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (m->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	m->log(m->logarg, line);
}

/* ------------------------------------------------------------------ state */

static json_t *
lm_state_array(const struct latchmgr *m, const char *serial)
{
	struct charon_info info;
	json_t *arr, *o;
	char *s;
	size_t i;

	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; m->ctl != NULL && i < charon_count(m->ctl); i++) {
		if (charon_info(m->ctl, i, &info) == -1)
			continue;
		if (serial != NULL && strcmp(info.serial, serial) != 0)
			continue;
		if ((s = charon_info_json(&info)) == NULL)
			continue;
		if ((o = json_loads(s, 0, NULL)) != NULL)
			json_array_append_new(arr, o);
		free(s);
	}
	return arr;
}

char *
latchmgr_state_json(const struct latchmgr *m, const char *serial)
{
	json_t *arr;
	char *s;

	if ((arr = lm_state_array(m, serial)) == NULL)
		return NULL;
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s;
}

/* Write the state file atomically (temporary file, rename). */
static void
lm_write_state(struct latchmgr *m)
{
	char tmp[4096], *s;
	FILE *f;
	int fd;

	if (m->state_file == NULL)
		return;
	if ((s = latchmgr_state_json(m, NULL)) == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", m->state_file);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		free(s);
		return;
	}
	fprintf(f, "%s\n", s);
	if (fclose(f) == 0)
		(void)rename(tmp, m->state_file);
	else
		(void)unlink(tmp);
	free(s);
}

/* ------------------------------------------------------------------ charon */

struct lm_refused {
	struct latchmgr	*m;
	char		 serial[LATCH_SERIAL_MAX];
};

static void
lm_close_refused(evutil_socket_t fd, short what, void *arg)
{
	struct lm_refused *r = arg;
	char err[256];

	(void)fd;
	(void)what;
	if (latchmgr_close_device(r->m, r->serial, err, sizeof(err)) < 0)
		lm_log(r->m, "latch: closing %s: %s", r->serial, err);
	free(r);
}

static void
lm_on_latch(void *arg, const struct charon_info *info, enum latch_action act)
{
	struct latchmgr *m = arg;
	struct lm_refused *r;

	if (act == LATCH_ACT_NONE) {
		lm_write_state(m);
		return;
	}
	lm_log(m, "latch %s %s: %s%s%s%s", info->peer_addr,
	    info->serial[0] ? info->serial : info->peer_id, latch_state_name(info->state),
	    info->reason[0] ? " (" : "", info->reason, info->reason[0] ? ")" : "");
	if (act == LATCH_ACT_BREAK && info->resets > 0)
		lm_log(m, "latch %s: reset %u TCP connection(s) (RFC 5660 5.5 (b))",
		    info->peer_addr, info->resets);
	/* not inside charon's event dispatch: from the loop, at once */
	if (act == LATCH_ACT_BOUND && m->admit != NULL && info->serial[0] != '\0' &&
	    m->admit(m->admitarg, info->serial) == 0) {
		lm_log(m, "latch %s %s: the device's binding is revoked: closing", info->peer_addr,
		    info->serial);
		if ((r = calloc(1, sizeof(*r))) != NULL) {
			r->m = m;
			snprintf(r->serial, sizeof(r->serial), "%s", info->serial);
			if (event_base_once(m->base, -1, EV_TIMEOUT, lm_close_refused, r,
			    NULL) == -1)
				free(r);
		}
	}
	lm_write_state(m);
}

static void lm_retry(evutil_socket_t fd, short what, void *arg);

/*
 * Give charon the domain CRL (charon_load_crl): a revoked LDevID then fails IKE_AUTH in
 * charon, before any SA exists. On every connect to charon, and whenever the file changed.
 */
static int
lm_load_crl(struct latchmgr *m, int force, char *err, size_t errlen)
{
	struct stat st;
	size_t i;
	long r;
	int rc = 0;

	for (i = 0; i < 2; i++) {
		if (m->crl[i] == NULL || m->ctl == NULL)
			continue;
		if (stat(m->crl[i], &st) == -1)
			continue;		/* not written yet */
		if (!force && m->crl_loaded[i] && st.st_ino == m->crl_st[i].st_ino &&
		    st.st_size == m->crl_st[i].st_size &&
		    st.st_mtim.tv_sec == m->crl_st[i].st_mtim.tv_sec &&
		    st.st_mtim.tv_nsec == m->crl_st[i].st_mtim.tv_nsec)
			continue;
		m->crl_st[i] = st;
		m->crl_loaded[i] = 1;	/* also after a failure: do not retry the same file */
		if ((r = charon_load_crl(m->ctl, m->crl[i], err, errlen)) < 0) {
			lm_log(m, "latch: CRL %s not loaded into charon: %s", m->crl[i], err);
			rc = -1;
		} else if (r > 0)
			lm_log(m, "latch: CRL %s loaded into charon (%ld bytes)", m->crl[i], r);
	}
	return rc;
}

static void
lm_on_crl_poll(evutil_socket_t fd, short what, void *arg)
{
	struct latchmgr *m = arg;
	char err[256];

	(void)lm_load_crl(m, 0, err, sizeof(err));
}

static void
lm_disconnect(struct latchmgr *m)
{
	if (m->ev_vici != NULL) {
		event_free(m->ev_vici);
		m->ev_vici = NULL;
	}
	charon_free(m->ctl);
	m->ctl = NULL;
}

static void
lm_schedule_retry(struct latchmgr *m)
{
	struct timeval tv = { LATCHMGR_RETRY_SEC, 0 };

	if (m->ev_retry != NULL)
		event_add(m->ev_retry, &tv);
}

static void
lm_on_vici(evutil_socket_t fd, short what, void *arg)
{
	struct latchmgr *m = arg;

	if (charon_process(m->ctl, 0, m->lasterr, sizeof(m->lasterr)) == -1) {
		lm_log(m, "latch: lost charon: %s", m->lasterr);
		lm_disconnect(m);
		lm_write_state(m);
		lm_schedule_retry(m);
	}
}

static int
lm_connect(struct latchmgr *m, char *err, size_t errlen)
{
	size_t i;

	if ((m->ctl = charon_new(&m->cc, err, errlen)) == NULL)
		return -1;
	charon_set_cb(m->ctl, lm_on_latch, m);
	if (charon_start(m->ctl, err, errlen) == -1)
		goto err;
	m->crl_loaded[0] = m->crl_loaded[1] = 0;	/* a new charon has no CRL of ours */
	{
		char cerr[256];

		(void)lm_load_crl(m, 1, cerr, sizeof(cerr));
	}
	for (i = 0; i < m->nclosed; i++)
		(void)charon_close_peer(m->ctl, m->closed[i], NULL, NULL, 0);
	m->ev_vici = event_new(m->base, charon_fd(m->ctl), EV_READ | EV_PERSIST, lm_on_vici,
	    m);
	if (m->ev_vici == NULL || event_add(m->ev_vici, NULL) == -1) {
		errf(err, errlen, "latch: cannot watch the VICI socket");
		goto err;
	}
	return 0;
err:
	lm_disconnect(m);
	return -1;
}

static void
lm_retry(evutil_socket_t fd, short what, void *arg)
{
	struct latchmgr *m = arg;
	char err[256];

	if (m->ctl != NULL)
		return;
	if (lm_connect(m, err, sizeof(err)) == -1) {
		if (strcmp(err, m->lasterr) != 0)
			lm_log(m, "latch: %s (retrying)", err);
		snprintf(m->lasterr, sizeof(m->lasterr), "%s", err);
		lm_schedule_retry(m);
		return;
	}
	lm_log(m, "latch: connected to charon");
	m->lasterr[0] = '\0';
	lm_write_state(m);
}

/* ------------------------------------------------------------------ control socket */

static void
lm_ctl_reply(struct bufferevent *bev, const char *line)
{
	bufferevent_write(bev, line, strlen(line));
	bufferevent_write(bev, "\n", 1);
}

static void
lm_ctl_written(struct bufferevent *bev, void *arg)
{
	bufferevent_free(bev);
}

static void
lm_ctl_read(struct bufferevent *bev, void *arg)
{
	struct latchmgr *m = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line, *s, reply[512], err[256];
	size_t n;
	int r;

	line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > LATCHMGR_LINE_MAX)
			bufferevent_free(bev);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, lm_ctl_written, NULL, m);
	if (strncmp(line, "close ", 6) == 0 && line[6] != '\0' && n < LATCHMGR_LINE_MAX) {
		r = latchmgr_close_device(m, line + 6, err, sizeof(err));
		if (r < 0)
			snprintf(reply, sizeof(reply), "{\"error\":\"close failed\"}");
		else
			snprintf(reply, sizeof(reply), "{\"closed\":%d}", r);
		lm_ctl_reply(bev, reply);
	} else if (strcmp(line, "show") == 0 || strncmp(line, "show ", 5) == 0) {
		s = latchmgr_state_json(m, line[4] == ' ' ? line + 5 : NULL);
		lm_ctl_reply(bev, s != NULL ? s : "[]");
		free(s);
	} else
		lm_ctl_reply(bev, "{\"error\":\"unknown request\"}");
	free(line);
}

static void
lm_ctl_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void
lm_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct latchmgr *m = arg;
	struct bufferevent *bev;
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	bev = bufferevent_socket_new(m->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return;
	}
	bufferevent_setcb(bev, lm_ctl_read, NULL, lm_ctl_event, m);
	bufferevent_setwatermark(bev, EV_READ, 0, LATCHMGR_LINE_MAX + 1);
	bufferevent_enable(bev, EV_READ);
}

static int
lm_listen(struct latchmgr *m, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(m->control_path) >= sizeof(sun.sun_path)) {
		errf(err, errlen, "latch: control socket path too long");
		return -1;
	}
	memcpy(sun.sun_path, m->control_path, strlen(m->control_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		errf(err, errlen, "latch: socket: %s", strerror(errno));
		return -1;
	}
	(void)unlink(m->control_path);
	old = umask(077);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 || listen(fd, 8) == -1) {
		umask(old);
		errf(err, errlen, "latch: control socket %s: %s", m->control_path,
		    strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	m->lfd = fd;
	m->ev_listen = event_new(m->base, fd, EV_READ | EV_PERSIST, lm_on_accept, m);
	if (m->ev_listen == NULL || event_add(m->ev_listen, NULL) == -1) {
		errf(err, errlen, "latch: cannot watch the control socket");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ public */

struct latchmgr *
latchmgr_new(const struct latchmgr_conf *conf, struct event_base *base, char *err,
    size_t errlen)
{
	struct latchmgr *m;

	if (conf->cert_file == NULL || conf->key_file == NULL || conf->ca_file == NULL) {
		errf(err, errlen, "latch: certificate, key and CA are required");
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		errf(err, errlen, "latch: out of memory");
		return NULL;
	}
	m->lfd = -1;
	m->base = base;
	{
		const char *src[] = { conf->vici_uri, conf->name, conf->cert_file,
		    conf->key_file, conf->ca_file, conf->local_addr, conf->local_ts,
		    conf->remote_ts, conf->crl_file, conf->ca_file2, conf->crl_file2 };
		const char **dst[] = { &m->cc.vici_uri, &m->cc.name, &m->cc.cert_file,
		    &m->cc.key_file, &m->cc.ca_file, &m->cc.local_addr, &m->cc.local_ts,
		    &m->cc.remote_ts, &m->cc.crl_file, &m->cc.ca_file2, &m->crl[1] };
		size_t k;

		for (k = 0; k < sizeof(src) / sizeof(src[0]); k++) {
			if (src[k] == NULL)
				continue;
			if ((m->own[k] = strdup(src[k])) == NULL) {
				errf(err, errlen, "latch: out of memory");
				goto err;
			}
			*dst[k] = m->own[k];
		}
	}
	m->crl[0] = m->cc.crl_file;
	if (m->cc.name == NULL)
		m->cc.name = "latchkey-registrar";
	m->cc.tunnel = conf->tunnel;
	m->cc.disposition = conf->disposition;
	m->cc.initiator = 0;
	/* Validate the configuration once now (charon copies the strings itself). */
	if ((m->ctl = charon_new(&m->cc, err, errlen)) == NULL)
		goto err;
	charon_free(m->ctl);
	m->ctl = NULL;
	if ((conf->state_file != NULL && (m->state_file = strdup(conf->state_file)) == NULL) ||
	    (conf->control_path != NULL &&
	    (m->control_path = strdup(conf->control_path)) == NULL)) {
		errf(err, errlen, "latch: out of memory");
		goto err;
	}
	if ((m->ev_retry = evtimer_new(base, lm_retry, m)) == NULL) {
		errf(err, errlen, "latch: cannot create timer");
		goto err;
	}
	if (m->control_path != NULL && lm_listen(m, err, errlen) == -1)
		goto err;
	if (m->crl[0] != NULL || m->crl[1] != NULL) {
		struct timeval tv = { LATCHMGR_CRL_POLL_SEC, 0 };

		if ((m->ev_crl = event_new(base, -1, EV_PERSIST, lm_on_crl_poll, m)) == NULL ||
		    event_add(m->ev_crl, &tv) == -1) {
			errf(err, errlen, "latch: cannot create timer");
			goto err;
		}
	}
	if (lm_connect(m, err, errlen) == -1) {
		snprintf(m->lasterr, sizeof(m->lasterr), "%s", err);
		lm_schedule_retry(m);
	} else if (err != NULL && errlen > 0)
		err[0] = '\0';
	lm_write_state(m);
	return m;
err:
	latchmgr_free(m);
	return NULL;
}

void
latchmgr_free(struct latchmgr *m)
{
	size_t i;

	if (m == NULL)
		return;
	if (m->ctl != NULL)
		(void)charon_unload(m->ctl, NULL, 0);
	lm_disconnect(m);
	if (m->ev_retry != NULL)
		event_free(m->ev_retry);
	if (m->ev_listen != NULL)
		event_free(m->ev_listen);
	if (m->ev_crl != NULL)
		event_free(m->ev_crl);
	if (m->lfd != -1) {
		close(m->lfd);
		(void)unlink(m->control_path);
	}
	for (i = 0; i < m->nclosed; i++)
		free(m->closed[i]);
	for (i = 0; i < sizeof(m->own) / sizeof(m->own[0]); i++)
		free(m->own[i]);
	free(m->state_file);
	free(m->control_path);
	free(m);
}

void
latchmgr_set_log(struct latchmgr *m, latchmgr_log_cb *cb, void *arg)
{
	m->log = cb;
	m->logarg = arg;
}

void
latchmgr_set_admit(struct latchmgr *m, latchmgr_admit_cb *cb, void *arg)
{
	m->admit = cb;
	m->admitarg = arg;
}

int
latchmgr_connected(const struct latchmgr *m)
{
	return m->ctl != NULL;
}

int
latchmgr_close_device(struct latchmgr *m, const char *serial, char *err, size_t errlen)
{
	size_t i;
	int n = 0, t = 0;

	if (serial == NULL || serial[0] == '\0' || strlen(serial) >= LATCH_SERIAL_MAX) {
		errf(err, errlen, "latch: bad serial");
		return -1;
	}
	for (i = 0; i < m->nclosed && strcmp(m->closed[i], serial) != 0; i++)
		;
	if (i == m->nclosed && m->nclosed < sizeof(m->closed) / sizeof(m->closed[0]) &&
	    (m->closed[m->nclosed] = strdup(serial)) != NULL)
		m->nclosed++;
	/* The revocation is on the CRL by now: charon refuses the device from here on. */
	{
		char cerr[256];

		(void)lm_load_crl(m, 0, cerr, sizeof(cerr));
	}
	if (m->ctl != NULL && (n = charon_close_peer(m->ctl, serial, &t, err, errlen)) < 0)
		return -1;
	lm_log(m, "latch: closed %d latch(es) of device %s, terminated %d IKE SA(s) of its "
	    "identity", n, serial, t);
	lm_write_state(m);
	return n;
}

int
latchmgr_reload_crl(struct latchmgr *m, char *err, size_t errlen)
{
	return lm_load_crl(m, 1, err, errlen);
}
