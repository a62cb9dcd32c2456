/*
 * vici: strongSwan VICI wire codec and unix-socket transport. See vici.h for the format.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "enroll/common/err.h"
#include "enroll/latch/vici.h"

/* ------------------------------------------------------------------ builder */

struct vici_buf {
	unsigned char	*data;
	size_t		 len;
	size_t		 cap;
	char		 stack[VICI_MAX_DEPTH];	/* 's' section, 'l' list */
	int		 depth;
	size_t		 elems;
	const char	*error;
};

struct vici_buf *
vici_buf_new(void)
{
	return calloc(1, sizeof(struct vici_buf));
}

void
vici_buf_free(struct vici_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	free(b);
}

static int
vici_buf_put(struct vici_buf *b, const void *p, size_t n)
{
	unsigned char *nd;
	size_t ncap;

	if (b->error != NULL)
		return -1;
	if (n > VICI_MAX_PACKET - b->len) {
		b->error = "message exceeds the maximum packet size";
		return -1;
	}
	if (b->len + n > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n)
			ncap *= 2;
		if ((nd = realloc(b->data, ncap)) == NULL) {
			b->error = "out of memory";
			return -1;
		}
		b->data = nd;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static int
vici_buf_elem(struct vici_buf *b, int type, const char *name)
{
	unsigned char hdr[2];
	size_t nl;

	if (b->error != NULL)
		return -1;
	if (++b->elems > VICI_MAX_ELEMS) {
		b->error = "too many elements";
		return -1;
	}
	hdr[0] = (unsigned char)type;
	if (name == NULL)
		return vici_buf_put(b, hdr, 1);
	nl = strlen(name);
	if (nl == 0 || nl > VICI_NAME_MAX) {
		b->error = "element name empty or longer than 255 bytes";
		return -1;
	}
	hdr[1] = (unsigned char)nl;
	if (vici_buf_put(b, hdr, 2) == -1)
		return -1;
	return vici_buf_put(b, name, nl);
}

static int
vici_buf_value(struct vici_buf *b, const void *val, size_t len)
{
	unsigned char l[2];

	if (b->error != NULL)
		return -1;
	if (len > VICI_VALUE_MAX) {
		b->error = "value longer than 65535 bytes";
		return -1;
	}
	l[0] = (unsigned char)(len >> 8);
	l[1] = (unsigned char)len;
	if (vici_buf_put(b, l, 2) == -1)
		return -1;
	return vici_buf_put(b, val, len);
}

static int
vici_buf_in(struct vici_buf *b, char kind)
{
	return b->depth > 0 && b->stack[b->depth - 1] == kind;
}

void
vici_begin_section(struct vici_buf *b, const char *name)
{
	if (b->error != NULL)
		return;
	if (vici_buf_in(b, 'l')) {
		b->error = "section inside a list";
		return;
	}
	if (b->depth >= VICI_MAX_DEPTH) {
		b->error = "nesting too deep";
		return;
	}
	if (vici_buf_elem(b, VICI_SECTION_START, name) == 0)
		b->stack[b->depth++] = 's';
}

void
vici_end_section(struct vici_buf *b)
{
	if (b->error != NULL)
		return;
	if (!vici_buf_in(b, 's')) {
		b->error = "section end without a section";
		return;
	}
	if (vici_buf_elem(b, VICI_SECTION_END, NULL) == 0)
		b->depth--;
}

void
vici_add_kv(struct vici_buf *b, const char *name, const void *val, size_t len)
{
	if (b->error != NULL)
		return;
	if (vici_buf_in(b, 'l')) {
		b->error = "key-value inside a list";
		return;
	}
	if (vici_buf_elem(b, VICI_KEY_VALUE, name) == 0)
		vici_buf_value(b, val, len);
}

void
vici_add_kvstr(struct vici_buf *b, const char *name, const char *val)
{
	vici_add_kv(b, name, val, strlen(val));
}

void
vici_add_kvfmt(struct vici_buf *b, const char *name, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		if (b->error == NULL)
			b->error = "formatted value too long";
		return;
	}
	vici_add_kv(b, name, tmp, (size_t)n);
}

void
vici_begin_list(struct vici_buf *b, const char *name)
{
	if (b->error != NULL)
		return;
	if (vici_buf_in(b, 'l')) {
		b->error = "list inside a list";
		return;
	}
	if (b->depth >= VICI_MAX_DEPTH) {
		b->error = "nesting too deep";
		return;
	}
	if (vici_buf_elem(b, VICI_LIST_START, name) == 0)
		b->stack[b->depth++] = 'l';
}

void
vici_add_item(struct vici_buf *b, const void *val, size_t len)
{
	if (b->error != NULL)
		return;
	if (!vici_buf_in(b, 'l')) {
		b->error = "list item outside a list";
		return;
	}
	if (vici_buf_elem(b, VICI_LIST_ITEM, NULL) == 0)
		vici_buf_value(b, val, len);
}

void
vici_add_itemstr(struct vici_buf *b, const char *val)
{
	vici_add_item(b, val, strlen(val));
}

void
vici_end_list(struct vici_buf *b)
{
	if (b->error != NULL)
		return;
	if (!vici_buf_in(b, 'l')) {
		b->error = "list end without a list";
		return;
	}
	if (vici_buf_elem(b, VICI_LIST_END, NULL) == 0)
		b->depth--;
}

const char *
vici_buf_error(const struct vici_buf *b)
{
	if (b == NULL)
		return "no message";
	if (b->error != NULL)
		return b->error;
	if (b->depth != 0)
		return "unterminated section or list";
	return NULL;
}

const unsigned char *
vici_buf_data(const struct vici_buf *b, size_t *len)
{
	*len = b->len;
	return b->data != NULL ? b->data : (const unsigned char *)"";
}

/* ------------------------------------------------------------------ parser */

/* One allocation per node: the struct, then name and value, both NUL-terminated. */
static struct vici_node *
vici_node_alloc(enum vici_ntype type, const unsigned char *name, size_t nl,
    const unsigned char *val, size_t vl)
{
	struct vici_node *n;
	char *p;

	if ((n = calloc(1, sizeof(*n) + nl + 1 + vl + 1)) == NULL)
		return NULL;
	p = (char *)(n + 1);
	n->type = type;
	if (nl > 0)
		memcpy(p, name, nl);
	p[nl] = '\0';
	n->name = p;
	p += nl + 1;
	if (vl > 0)
		memcpy(p, val, vl);
	p[vl] = '\0';
	n->value = (const unsigned char *)p;
	n->len = vl;
	return n;
}

void
vici_node_free(struct vici_node *n)
{
	struct vici_node *next;

	/* Iterative over siblings, recursive over depth (bounded by VICI_MAX_DEPTH). */
	while (n != NULL) {
		next = n->next;
		vici_node_free(n->child);
		free(n);
		n = next;
	}
}

struct vici_node *
vici_msg_parse(const unsigned char *buf, size_t len, char *err, size_t errlen)
{
	struct vici_node *root, *stack[VICI_MAX_DEPTH + 1], *tail[VICI_MAX_DEPTH + 1];
	struct vici_node *n;
	const unsigned char *name, *val;
	size_t pos = 0, nl, vl, elems = 0;
	int depth = 0, type;

	if (len > VICI_MAX_PACKET) {
		errf(err, errlen, "vici: message of %zu bytes exceeds %d", len,
		    VICI_MAX_PACKET);
		return NULL;
	}
	if ((root = vici_node_alloc(VICI_N_SECTION, NULL, 0, NULL, 0)) == NULL) {
		errf(err, errlen, "vici: out of memory");
		return NULL;
	}
	stack[0] = root;
	tail[0] = NULL;
	while (pos < len) {
		if (++elems > VICI_MAX_ELEMS) {
			errf(err, errlen, "vici: more than %d elements", VICI_MAX_ELEMS);
			goto err;
		}
		type = buf[pos++];
		name = val = NULL;
		nl = vl = 0;
		/* Name for SECTION_START, KEY_VALUE, LIST_START. */
		if (type == VICI_SECTION_START || type == VICI_KEY_VALUE ||
		    type == VICI_LIST_START) {
			if (pos >= len)
				goto trunc;
			nl = buf[pos++];
			if (nl == 0) {
				errf(err, errlen, "vici: empty element name at offset %zu",
				    pos - 1);
				goto err;
			}
			if (nl > len - pos)
				goto trunc;
			if (memchr(buf + pos, '\0', nl) != NULL) {
				errf(err, errlen, "vici: NUL in element name at offset %zu",
				    pos);
				goto err;
			}
			name = buf + pos;
			pos += nl;
		}
		/* Value for KEY_VALUE, LIST_ITEM. */
		if (type == VICI_KEY_VALUE || type == VICI_LIST_ITEM) {
			if (len - pos < 2)
				goto trunc;
			vl = (size_t)buf[pos] << 8 | buf[pos + 1];
			pos += 2;
			if (vl > len - pos)
				goto trunc;
			val = buf + pos;
			pos += vl;
		}
		n = NULL;
		switch (type) {
		case VICI_SECTION_START:
		case VICI_LIST_START:
			if (stack[depth]->type == VICI_N_LIST)
				goto misplaced;
			if (depth >= VICI_MAX_DEPTH) {
				errf(err, errlen, "vici: nesting deeper than %d",
				    VICI_MAX_DEPTH);
				goto err;
			}
			n = vici_node_alloc(type == VICI_SECTION_START ? VICI_N_SECTION :
			    VICI_N_LIST, name, nl, NULL, 0);
			break;
		case VICI_KEY_VALUE:
			if (stack[depth]->type == VICI_N_LIST)
				goto misplaced;
			n = vici_node_alloc(VICI_N_KV, name, nl, val, vl);
			break;
		case VICI_LIST_ITEM:
			if (stack[depth]->type != VICI_N_LIST)
				goto misplaced;
			n = vici_node_alloc(VICI_N_KV, NULL, 0, val, vl);
			break;
		case VICI_SECTION_END:
			if (depth == 0 || stack[depth]->type != VICI_N_SECTION)
				goto misplaced;
			depth--;
			continue;
		case VICI_LIST_END:
			if (depth == 0 || stack[depth]->type != VICI_N_LIST)
				goto misplaced;
			depth--;
			continue;
		default:
			errf(err, errlen, "vici: unknown element type %d at offset %zu",
			    type, pos - 1);
			goto err;
		}
		if (n == NULL) {
			errf(err, errlen, "vici: out of memory");
			goto err;
		}
		if (tail[depth] == NULL)
			stack[depth]->child = n;
		else
			tail[depth]->next = n;
		tail[depth] = n;
		if (type == VICI_SECTION_START || type == VICI_LIST_START) {
			depth++;
			stack[depth] = n;
			tail[depth] = NULL;
		}
	}
	if (depth != 0) {
		errf(err, errlen, "vici: %d unterminated section(s) or list(s)", depth);
		goto err;
	}
	return root;
trunc:
	errf(err, errlen, "vici: truncated element at offset %zu", pos);
	goto err;
misplaced:
	errf(err, errlen, "vici: element type %d not allowed here (offset %zu)", type,
	    pos);
err:
	vici_node_free(root);
	return NULL;
}

const struct vici_node *
vici_get(const struct vici_node *sec, const char *name)
{
	const struct vici_node *n;

	if (sec == NULL || name == NULL)
		return NULL;
	for (n = sec->child; n != NULL; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

const char *
vici_node_str(const struct vici_node *n)
{
	if (n == NULL || n->type != VICI_N_KV || memchr(n->value, '\0', n->len) != NULL)
		return NULL;
	return (const char *)n->value;
}

const char *
vici_get_str(const struct vici_node *sec, const char *name)
{
	return vici_node_str(vici_get(sec, name));
}

static void
vici_encode_members(struct vici_buf *b, const struct vici_node *n)
{
	for (; n != NULL; n = n->next) {
		switch (n->type) {
		case VICI_N_SECTION:
			vici_begin_section(b, n->name);
			vici_encode_members(b, n->child);
			vici_end_section(b);
			break;
		case VICI_N_LIST:
			vici_begin_list(b, n->name);
			vici_encode_members(b, n->child);
			vici_end_list(b);
			break;
		case VICI_N_KV:
			if (vici_buf_in(b, 'l'))
				vici_add_item(b, n->value, n->len);
			else
				vici_add_kv(b, n->name, n->value, n->len);
			break;
		}
	}
}

struct vici_buf *
vici_node_encode(const struct vici_node *root)
{
	struct vici_buf *b;

	if ((b = vici_buf_new()) == NULL)
		return NULL;
	if (root != NULL)
		vici_encode_members(b, root->child);
	return b;
}

/* ------------------------------------------------------------------ packets */

static int
vici_type_named(int type)
{
	return type == VICI_CMD_REQUEST || type == VICI_EVENT_REGISTER ||
	    type == VICI_EVENT_UNREGISTER || type == VICI_EVENT;
}

static int
vici_type_has_msg(int type)
{
	return type == VICI_CMD_REQUEST || type == VICI_CMD_RESPONSE || type == VICI_EVENT;
}

int
vici_packet_encode(int type, const char *name, const struct vici_buf *msg,
    unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	const unsigned char *m = NULL;
	unsigned char *p;
	size_t ml = 0, nl = 0, plen;

	*out = NULL;
	if (type < VICI_CMD_REQUEST || type > VICI_EVENT) {
		errf(err, errlen, "vici: bad packet type %d", type);
		return -1;
	}
	if (vici_type_named(type)) {
		nl = name != NULL ? strlen(name) : 0;
		if (nl == 0 || nl > VICI_NAME_MAX) {
			errf(err, errlen, "vici: packet name empty or too long");
			return -1;
		}
	}
	if (msg != NULL && vici_type_has_msg(type)) {
		if (vici_buf_error(msg) != NULL) {
			errf(err, errlen, "vici: bad message: %s", vici_buf_error(msg));
			return -1;
		}
		m = vici_buf_data(msg, &ml);
	}
	plen = 1 + (vici_type_named(type) ? 1 + nl : 0) + ml;
	if (plen > VICI_MAX_PACKET) {
		errf(err, errlen, "vici: packet too large");
		return -1;
	}
	if ((p = malloc(4 + plen)) == NULL) {
		errf(err, errlen, "vici: out of memory");
		return -1;
	}
	p[0] = (unsigned char)(plen >> 24);
	p[1] = (unsigned char)(plen >> 16);
	p[2] = (unsigned char)(plen >> 8);
	p[3] = (unsigned char)plen;
	p[4] = (unsigned char)type;
	if (vici_type_named(type)) {
		p[5] = (unsigned char)nl;
		memcpy(p + 6, name, nl);
	}
	if (ml > 0)
		memcpy(p + 4 + plen - ml, m, ml);
	*out = p;
	*outlen = 4 + plen;
	return 0;
}

int
vici_packet_decode(const unsigned char *buf, size_t len, struct vici_packet *pkt,
    char *err, size_t errlen)
{
	size_t pos = 1, nl;

	memset(pkt, 0, sizeof(*pkt));
	if (len < 1 || len > VICI_MAX_PACKET) {
		errf(err, errlen, "vici: packet of %zu bytes", len);
		return -1;
	}
	pkt->type = buf[0];
	if (pkt->type > VICI_EVENT) {
		errf(err, errlen, "vici: unknown packet type %d", pkt->type);
		return -1;
	}
	if (vici_type_named(pkt->type)) {
		if (len < 2 || (nl = buf[1]) == 0 || nl > len - 2) {
			errf(err, errlen, "vici: truncated or empty packet name");
			return -1;
		}
		memcpy(pkt->name, buf + 2, nl);
		pkt->name[nl] = '\0';
		if (memchr(pkt->name, '\0', nl) != NULL) {
			errf(err, errlen, "vici: NUL in packet name");
			return -1;
		}
		pos = 2 + nl;
	}
	if (vici_type_has_msg(pkt->type)) {
		pkt->msg = vici_msg_parse(buf + pos, len - pos, err, errlen);
		if (pkt->msg == NULL)
			return -1;
	} else if (pos != len) {
		errf(err, errlen, "vici: trailing bytes after packet type %d", pkt->type);
		return -1;
	}
	return 0;
}

void
vici_packet_clear(struct vici_packet *pkt)
{
	if (pkt == NULL)
		return;
	vici_node_free(pkt->msg);
	memset(pkt, 0, sizeof(*pkt));
}

/* ------------------------------------------------------------------ transport */

struct vici_conn {
	int		 fd;
	unsigned char	*rbuf;
	size_t		 rlen;
	size_t		 rcap;
	vici_event_cb	*cb;
	void		*cbarg;
};

struct vici_conn *
vici_connect(const char *uri, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct vici_conn *c = NULL;
	const char *path = uri;
	int fd = -1;

	if (path == NULL) {
		errf(err, errlen, "vici: no socket URI");
		return NULL;
	}
	if (strncmp(path, "unix://", 7) == 0)
		path += 7;
	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path)) {
		errf(err, errlen, "vici: URI must be unix:///absolute/path (got %.80s)", uri);
		return NULL;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		errf(err, errlen, "vici: connect %s: %s", path, strerror(errno));
		goto err;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		errf(err, errlen, "vici: out of memory");
		goto err;
	}
	c->fd = fd;
	return c;
err:
	if (fd != -1)
		close(fd);
	return NULL;
}

void
vici_close(struct vici_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->rbuf);
	free(c);
}

int
vici_fd(const struct vici_conn *c)
{
	return c->fd;
}

void
vici_set_event_cb(struct vici_conn *c, vici_event_cb *cb, void *arg)
{
	c->cb = cb;
	c->cbarg = arg;
}

static int
vici_send_packet(struct vici_conn *c, int type, const char *name, const struct vici_buf *msg,
    char *err, size_t errlen)
{
	unsigned char *p;
	size_t len, off = 0;
	ssize_t n;

	if (vici_packet_encode(type, name, msg, &p, &len, err, errlen) == -1)
		return -1;
	while (off < len) {
		n = send(c->fd, p + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			errf(err, errlen, "vici: send: %s", strerror(errno));
			free(p);
			return -1;
		}
		off += (size_t)n;
	}
	free(p);
	return 0;
}

static long long
vici_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Read one packet, waiting until deadline (ms, CLOCK_MONOTONIC; -1 forever). Returns 1 with
 * pkt filled, 0 on timeout, -1 on error or EOF. Never buffers more than one maximum packet.
 */
static int
vici_recv_packet(struct vici_conn *c, long long deadline, struct vici_packet *pkt, char *err,
    size_t errlen)
{
	struct pollfd pfd;
	unsigned char *nb;
	size_t plen, want;
	ssize_t n;
	int rc, wait;

	for (;;) {
		if (c->rlen >= 4) {
			plen = (size_t)c->rbuf[0] << 24 | (size_t)c->rbuf[1] << 16 |
			    (size_t)c->rbuf[2] << 8 | c->rbuf[3];
			if (plen == 0 || plen > VICI_MAX_PACKET) {
				errf(err, errlen, "vici: peer sent a packet of %zu bytes",
				    plen);
				return -1;
			}
			if (c->rlen >= 4 + plen) {
				rc = vici_packet_decode(c->rbuf + 4, plen, pkt, err, errlen);
				memmove(c->rbuf, c->rbuf + 4 + plen, c->rlen - 4 - plen);
				c->rlen -= 4 + plen;
				return rc == 0 ? 1 : -1;
			}
			want = 4 + plen;
		} else
			want = 4;
		if (c->rcap < want) {
			if ((nb = realloc(c->rbuf, want)) == NULL) {
				errf(err, errlen, "vici: out of memory");
				return -1;
			}
			c->rbuf = nb;
			c->rcap = want;
		}
		wait = -1;
		if (deadline >= 0) {
			long long left = deadline - vici_now_ms();

			wait = left > 0 ? (int)(left > 600000 ? 600000 : left) : 0;
		}
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, wait);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == -1) {
			errf(err, errlen, "vici: poll: %s", strerror(errno));
			return -1;
		}
		if (rc == 0) {
			if (deadline >= 0 && vici_now_ms() >= deadline)
				return 0;
			continue;
		}
		n = recv(c->fd, c->rbuf + c->rlen, want - c->rlen, MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0) {
			errf(err, errlen, "vici: charon closed the connection");
			return -1;
		}
		if (n < 0) {
			errf(err, errlen, "vici: recv: %s", strerror(errno));
			return -1;
		}
		c->rlen += (size_t)n;
	}
}

static long long
vici_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : vici_now_ms() + timeout_ms;
}

static void
vici_deliver(struct vici_conn *c, struct vici_packet *pkt)
{
	if (pkt->type == VICI_EVENT && c->cb != NULL)
		c->cb(c->cbarg, pkt->name, pkt->msg);
}

int
vici_register(struct vici_conn *c, const char *event, int on, int timeout_ms, char *err,
    size_t errlen)
{
	struct vici_packet pkt;
	long long dl = vici_deadline(timeout_ms);
	int rc;

	if (vici_send_packet(c, on ? VICI_EVENT_REGISTER : VICI_EVENT_UNREGISTER, event, NULL,
	    err, errlen) == -1)
		return -1;
	for (;;) {
		if ((rc = vici_recv_packet(c, dl, &pkt, err, errlen)) <= 0) {
			if (rc == 0)
				errf(err, errlen, "vici: no answer to registering %s", event);
			return -1;
		}
		if (pkt.type == VICI_EVENT) {
			vici_deliver(c, &pkt);
			vici_packet_clear(&pkt);
			continue;
		}
		rc = pkt.type;
		vici_packet_clear(&pkt);
		if (rc == VICI_EVENT_CONFIRM)
			return 0;
		if (rc == VICI_EVENT_UNKNOWN)
			errf(err, errlen, "vici: charon does not know event %s", event);
		else
			errf(err, errlen, "vici: unexpected packet type %d", rc);
		return -1;
	}
}

struct vici_node *
vici_call(struct vici_conn *c, const char *cmd, const struct vici_buf *req, int timeout_ms,
    char *err, size_t errlen)
{
	struct vici_packet pkt;
	struct vici_buf *empty = NULL;
	struct vici_node *resp;
	long long dl = vici_deadline(timeout_ms);
	int rc;

	if (req == NULL && (req = empty = vici_buf_new()) == NULL) {
		errf(err, errlen, "vici: out of memory");
		return NULL;
	}
	rc = vici_send_packet(c, VICI_CMD_REQUEST, cmd, req, err, errlen);
	vici_buf_free(empty);
	if (rc == -1)
		return NULL;
	for (;;) {
		if ((rc = vici_recv_packet(c, dl, &pkt, err, errlen)) <= 0) {
			if (rc == 0)
				errf(err, errlen, "vici: %s: no answer in %d ms", cmd,
				    timeout_ms);
			return NULL;
		}
		if (pkt.type == VICI_EVENT) {
			vici_deliver(c, &pkt);
			vici_packet_clear(&pkt);
			continue;
		}
		if (pkt.type == VICI_CMD_RESPONSE) {
			resp = pkt.msg;
			pkt.msg = NULL;
			return resp;
		}
		rc = pkt.type;
		vici_packet_clear(&pkt);
		if (rc == VICI_CMD_UNKNOWN)
			errf(err, errlen, "vici: charon does not know command %s", cmd);
		else
			errf(err, errlen, "vici: unexpected packet type %d", rc);
		return NULL;
	}
}

int
vici_dispatch(struct vici_conn *c, int timeout_ms, char *err, size_t errlen)
{
	struct vici_packet pkt;
	long long dl = vici_deadline(timeout_ms);
	int rc, n = 0;

	for (;;) {
		rc = vici_recv_packet(c, n == 0 ? dl : vici_now_ms(), &pkt, err, errlen);
		if (rc == -1)
			return -1;
		if (rc == 0)
			return n;
		if (pkt.type == VICI_EVENT) {
			vici_deliver(c, &pkt);
			n++;
		}
		vici_packet_clear(&pkt);
	}
}

int
vici_check_success(const struct vici_node *resp, const char *what, char *err, size_t errlen)
{
	const char *s, *msg;

	s = vici_get_str(resp, "success");
	if (s != NULL && strcmp(s, "yes") == 0)
		return 0;
	msg = vici_get_str(resp, "errmsg");
	errf(err, errlen, "%s: %s", what, msg != NULL ? msg : "failed");
	return -1;
}
