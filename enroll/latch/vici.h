/*
 * vici: a small client for strongSwan's Versatile IKE Control Interface, written from the
 * protocol description (strongSwan src/libcharon/plugins/vici/README.md). No libvici: it is
 * GPLv2+, ships without a header and starts its own threads.
 *
 * Wire format. A packet is a 32-bit big-endian length and that many payload bytes; the
 * payload is a packet type byte, for named types (CMD_REQUEST, EVENT_REGISTER,
 * EVENT_UNREGISTER, EVENT) a name (u8 length + bytes), then for CMD_REQUEST, CMD_RESPONSE and
 * EVENT a message. A message is a sequence of elements:
 *   SECTION_START 1  u8 len + name          LIST_START 4  u8 len + name
 *   SECTION_END   2                         LIST_ITEM  5  u16 len + value (in a list only)
 *   KEY_VALUE     3  u8 len + name, u16 len + value       LIST_END 6
 * Every length is checked against the bytes present before anything is copied; packets
 * larger than VICI_MAX_PACKET, nesting deeper than VICI_MAX_DEPTH and messages with more
 * than VICI_MAX_ELEMS elements are refused.
 *
 * Three layers: a message builder (struct vici_buf), a parser into a read-only tree
 * (struct vici_node), and a blocking unix-socket transport (struct vici_conn) that hands
 * EVENT packets arriving in between to a callback.
 */
#ifndef LATCHKEY_VICI_H
#define LATCHKEY_VICI_H

#include <stddef.h>
#include <stdint.h>

#define VICI_MAX_PACKET		(512 * 1024)	/* payload bytes */
#define VICI_MAX_DEPTH		16		/* sections + lists open at once */
#define VICI_MAX_ELEMS		65536		/* elements in one message */
#define VICI_NAME_MAX		255
#define VICI_VALUE_MAX		65535

enum vici_ptype {
	VICI_CMD_REQUEST = 0,
	VICI_CMD_RESPONSE = 1,
	VICI_CMD_UNKNOWN = 2,
	VICI_EVENT_REGISTER = 3,
	VICI_EVENT_UNREGISTER = 4,
	VICI_EVENT_CONFIRM = 5,
	VICI_EVENT_UNKNOWN = 6,
	VICI_EVENT = 7
};

enum vici_etype {
	VICI_SECTION_START = 1,
	VICI_SECTION_END = 2,
	VICI_KEY_VALUE = 3,
	VICI_LIST_START = 4,
	VICI_LIST_ITEM = 5,
	VICI_LIST_END = 6
};

/* ---- Builder. Errors are sticky: check vici_buf_error() once at the end. ---- */
struct vici_buf;

struct vici_buf	*vici_buf_new(void);
void		 vici_buf_free(struct vici_buf *b);
void		 vici_begin_section(struct vici_buf *b, const char *name);
void		 vici_end_section(struct vici_buf *b);
void		 vici_add_kv(struct vici_buf *b, const char *name, const void *val, size_t len);
void		 vici_add_kvstr(struct vici_buf *b, const char *name, const char *val);
void		 vici_add_kvfmt(struct vici_buf *b, const char *name, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
void		 vici_begin_list(struct vici_buf *b, const char *name);
void		 vici_add_item(struct vici_buf *b, const void *val, size_t len);
void		 vici_add_itemstr(struct vici_buf *b, const char *val);
void		 vici_end_list(struct vici_buf *b);
/* NULL when every call succeeded and sections/lists are balanced, else the first error. */
const char	*vici_buf_error(const struct vici_buf *b);
/* The encoded message (not a packet). Valid until the next builder call. */
const unsigned char *vici_buf_data(const struct vici_buf *b, size_t *len);

/* ---- Parsed message tree (read-only for callers). ---- */
enum vici_ntype {
	VICI_N_SECTION = 0,	/* name; members in child */
	VICI_N_KV,		/* name, value/len (value is also NUL-terminated) */
	VICI_N_LIST		/* name; items in child, each a VICI_N_KV with name "" */
};

struct vici_node {
	enum vici_ntype		 type;
	const char		*name;
	const unsigned char	*value;
	size_t			 len;
	struct vici_node	*child;
	struct vici_node	*next;
};

/*
 * Parse a message (the bytes after the packet header) into a tree whose root is an unnamed
 * section. Returns NULL and one line in err on malformed input. Free with vici_node_free.
 */
struct vici_node *vici_msg_parse(const unsigned char *buf, size_t len, char *err,
		    size_t errlen);
void		 vici_node_free(struct vici_node *n);
/* First direct member of section (or list) sec named name, any type; NULL if none. */
const struct vici_node *vici_get(const struct vici_node *sec, const char *name);
/*
 * The value of key name in sec as a C string: NULL if absent, not a key-value, or the value
 * holds a NUL byte. Points into the tree.
 */
const char	*vici_get_str(const struct vici_node *sec, const char *name);
/* The string value of a KV node (NULL on embedded NUL or wrong type). */
const char	*vici_node_str(const struct vici_node *n);
/* Re-encode a tree as a message (for tests and the fuzzer's round trip). */
struct vici_buf	*vici_node_encode(const struct vici_node *root);

/* ---- Packets. ---- */
struct vici_packet {
	int		 type;			/* enum vici_ptype */
	char		 name[VICI_NAME_MAX + 1];
	struct vici_node *msg;			/* CMD_RESPONSE, EVENT; else NULL */
};

/*
 * Encode a packet (with the length prefix) into a new buffer. msg may be NULL for types
 * without a message. Returns 0 or -1.
 */
int		 vici_packet_encode(int type, const char *name, const struct vici_buf *msg,
		    unsigned char **out, size_t *outlen, char *err, size_t errlen);
/* Decode one payload (without the length prefix) into pkt. Returns 0 or -1. */
int		 vici_packet_decode(const unsigned char *buf, size_t len,
		    struct vici_packet *pkt, char *err, size_t errlen);
void		 vici_packet_clear(struct vici_packet *pkt);

/* ---- Transport: a unix stream socket to charon. ---- */
struct vici_conn;

typedef void	 vici_event_cb(void *arg, const char *event, const struct vici_node *msg);

/* uri: "unix:///path" or a plain absolute path. Returns NULL and err on failure. */
struct vici_conn *vici_connect(const char *uri, char *err, size_t errlen);
void		 vici_close(struct vici_conn *c);
int		 vici_fd(const struct vici_conn *c);
/* Events that arrive during vici_call/vici_register/vici_dispatch go here. */
void		 vici_set_event_cb(struct vici_conn *c, vici_event_cb *cb, void *arg);
/* Register (on = 1) or unregister an event; waits for the confirmation. Returns 0 or -1. */
int		 vici_register(struct vici_conn *c, const char *event, int on, int timeout_ms,
		    char *err, size_t errlen);
/*
 * Run a command; req may be NULL (empty message). Returns the CMD_RESPONSE message
 * (caller frees) or NULL and err. timeout_ms < 0 waits forever.
 */
struct vici_node *vici_call(struct vici_conn *c, const char *cmd, const struct vici_buf *req,
		    int timeout_ms, char *err, size_t errlen);
/*
 * Read and dispatch whatever events are available, waiting up to timeout_ms for the first.
 * Returns the number dispatched (0 on timeout), -1 on error or when charon closed the socket.
 */
int		 vici_dispatch(struct vici_conn *c, int timeout_ms, char *err, size_t errlen);
/*
 * For responses of the form { success = yes|no, errmsg = ... }: 0 on "yes", else -1 with
 * "what: errmsg" in err.
 */
int		 vici_check_success(const struct vici_node *resp, const char *what, char *err,
		    size_t errlen);

#endif
