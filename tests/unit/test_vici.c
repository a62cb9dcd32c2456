/*
 * test_vici: the VICI wire codec (enroll/latch/vici.c): building messages, parsing them back into
 * trees, packets, and the bounds (truncation, nesting, misplaced elements, sizes). Also the
 * transport against a socketpair standing in for charon.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "enroll/latch/vici.h"

/* Example message of the strongSwan VICI README, encoded by hand. */
static const unsigned char readme_msg[] = {
	3, 4, 'k', 'e', 'y', '1', 0, 6, 'v', 'a', 'l', 'u', 'e', '1',
	1, 8, 's', 'e', 'c', 't', 'i', 'o', 'n', '1',
	1, 11, 's', 'u', 'b', '-', 's', 'e', 'c', 't', 'i', 'o', 'n',
	3, 4, 'k', 'e', 'y', '2', 0, 6, 'v', 'a', 'l', 'u', 'e', '2',
	2,
	4, 5, 'l', 'i', 's', 't', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '1',
	5, 0, 5, 'i', 't', 'e', 'm', '2',
	6,
	2,
};

static struct vici_buf *
build_readme(void)
{
	struct vici_buf *b = vici_buf_new();

	assert_non_null(b);
	vici_add_kvstr(b, "key1", "value1");
	vici_begin_section(b, "section1");
	vici_begin_section(b, "sub-section");
	vici_add_kvstr(b, "key2", "value2");
	vici_end_section(b);
	vici_begin_list(b, "list1");
	vici_add_itemstr(b, "item1");
	vici_add_itemstr(b, "item2");
	vici_end_list(b);
	vici_end_section(b);
	return b;
}

static void
test_encode_readme(void **state)
{
	struct vici_buf *b;
	const unsigned char *d;
	size_t len;

	(void)state;
	b = build_readme();
	assert_null(vici_buf_error(b));
	d = vici_buf_data(b, &len);
	assert_int_equal(len, sizeof(readme_msg));
	assert_memory_equal(d, readme_msg, len);
	vici_buf_free(b);
}

static void
test_decode_readme(void **state)
{
	const struct vici_node *sec, *sub, *list, *it;
	struct vici_node *root;
	struct vici_buf *b;
	const unsigned char *d;
	char err[128];
	size_t len;

	(void)state;
	root = vici_msg_parse(readme_msg, sizeof(readme_msg), err, sizeof(err));
	assert_non_null(root);
	assert_string_equal(vici_get_str(root, "key1"), "value1");
	sec = vici_get(root, "section1");
	assert_non_null(sec);
	assert_int_equal(sec->type, VICI_N_SECTION);
	sub = vici_get(sec, "sub-section");
	assert_string_equal(vici_get_str(sub, "key2"), "value2");
	list = vici_get(sec, "list1");
	assert_int_equal(list->type, VICI_N_LIST);
	it = list->child;
	assert_string_equal(vici_node_str(it), "item1");
	assert_string_equal(vici_node_str(it->next), "item2");
	assert_null(it->next->next);
	assert_null(vici_get(root, "nope"));
	assert_null(vici_get_str(root, "section1"));	/* not a key-value */
	/* Round trip. */
	b = vici_node_encode(root);
	d = vici_buf_data(b, &len);
	assert_int_equal(len, sizeof(readme_msg));
	assert_memory_equal(d, readme_msg, len);
	vici_buf_free(b);
	vici_node_free(root);
}

struct bad_case {
	const char		*name;
	const unsigned char	*in;
	size_t			 len;
	const char		*errpart;
};

#define BAD(n, e, ...) { n, (const unsigned char[]){ __VA_ARGS__ }, \
	sizeof((const unsigned char[]){ __VA_ARGS__ }), e }

static const struct bad_case bad_cases[] = {
	BAD("unknown element", "unknown element", 9),
	BAD("type zero", "unknown element", 0),
	BAD("kv without name length", "truncated", 3),
	BAD("kv name truncated", "truncated", 3, 4, 'k', 'e'),
	BAD("kv empty name", "empty element name", 3, 0, 0, 0),
	BAD("kv NUL in name", "NUL in element name", 3, 2, 'k', 0, 0, 0),
	BAD("kv value length truncated", "truncated", 3, 1, 'k', 0),
	BAD("kv value truncated", "truncated", 3, 1, 'k', 0, 3, 'a', 'b'),
	BAD("kv value length huge", "truncated", 3, 1, 'k', 0xff, 0xff, 'a'),
	BAD("section end at top", "not allowed", 2),
	BAD("list end at top", "not allowed", 6),
	BAD("item at top", "not allowed", 5, 0, 1, 'x'),
	BAD("unterminated section", "unterminated", 1, 1, 's'),
	BAD("unterminated list", "unterminated", 4, 1, 'l', 5, 0, 0),
	BAD("kv in list", "not allowed", 4, 1, 'l', 3, 1, 'k', 0, 0, 6),
	BAD("section in list", "not allowed", 4, 1, 'l', 1, 1, 's', 2, 6),
	BAD("list in list", "not allowed", 4, 1, 'l', 4, 1, 'm', 6, 6),
	BAD("section end closes list", "not allowed", 4, 1, 'l', 2),
	BAD("list end closes section", "not allowed", 1, 1, 's', 6),
	BAD("item in section", "not allowed", 1, 1, 's', 5, 0, 0, 2),
};

static void
test_decode_bad(void **state)
{
	struct vici_node *n;
	char err[160];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		err[0] = '\0';
		n = vici_msg_parse(c->in, c->len, err, sizeof(err));
		if (n != NULL) {
			vici_node_free(n);
			fail_msg("%s: parsed", c->name);
		}
		if (strstr(err, c->errpart) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"", c->name, err, c->errpart);
	}
}

/* Nesting: VICI_MAX_DEPTH levels parse, one more does not. */
static void
test_depth(void **state)
{
	unsigned char buf[4 * (VICI_MAX_DEPTH + 1)];
	struct vici_node *n;
	struct vici_buf *b;
	char err[128];
	size_t len = 0;
	int i, depth;

	(void)state;
	for (depth = VICI_MAX_DEPTH; depth <= VICI_MAX_DEPTH + 1; depth++) {
		len = 0;
		for (i = 0; i < depth; i++) {
			buf[len++] = VICI_SECTION_START;
			buf[len++] = 1;
			buf[len++] = 's';
		}
		for (i = 0; i < depth; i++)
			buf[len++] = VICI_SECTION_END;
		n = vici_msg_parse(buf, len, err, sizeof(err));
		if (depth == VICI_MAX_DEPTH) {
			assert_non_null(n);
			vici_node_free(n);
		} else {
			assert_null(n);
			assert_non_null(strstr(err, "nesting"));
		}
	}
	b = vici_buf_new();
	for (i = 0; i <= VICI_MAX_DEPTH; i++)
		vici_begin_section(b, "s");
	assert_non_null(strstr(vici_buf_error(b), "nesting"));
	vici_buf_free(b);
}

/* Builder misuse is reported and sticky. */
static void
test_builder_errors(void **state)
{
	struct vici_buf *b;
	char name[300];
	static unsigned char big[VICI_VALUE_MAX + 1];

	(void)state;
	b = vici_buf_new();
	vici_end_section(b);
	assert_non_null(strstr(vici_buf_error(b), "without"));
	vici_add_kvstr(b, "k", "v");		/* sticky */
	assert_non_null(strstr(vici_buf_error(b), "without"));
	vici_buf_free(b);

	b = vici_buf_new();
	vici_begin_list(b, "l");
	vici_add_kvstr(b, "k", "v");
	assert_non_null(strstr(vici_buf_error(b), "inside a list"));
	vici_buf_free(b);

	b = vici_buf_new();
	vici_add_itemstr(b, "x");
	assert_non_null(strstr(vici_buf_error(b), "outside"));
	vici_buf_free(b);

	b = vici_buf_new();
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	vici_add_kvstr(b, name, "v");
	assert_non_null(strstr(vici_buf_error(b), "255"));
	vici_buf_free(b);

	b = vici_buf_new();
	vici_add_kv(b, "k", big, sizeof(big));
	assert_non_null(strstr(vici_buf_error(b), "65535"));
	vici_buf_free(b);

	b = vici_buf_new();
	vici_begin_section(b, "s");
	assert_non_null(strstr(vici_buf_error(b), "unterminated"));
	vici_buf_free(b);
	vici_buf_free(NULL);
	vici_node_free(NULL);
	assert_non_null(vici_buf_error(NULL));
}

/* Largest value: 65535 bytes, binary with NULs; vici_node_str refuses it. */
static void
test_binary_value(void **state)
{
	static unsigned char val[VICI_VALUE_MAX];
	struct vici_node *root;
	struct vici_buf *b;
	const unsigned char *d;
	size_t len;

	(void)state;
	memset(val, 0, sizeof(val));
	val[100] = 7;
	b = vici_buf_new();
	vici_add_kv(b, "data", val, sizeof(val));
	assert_null(vici_buf_error(b));
	d = vici_buf_data(b, &len);
	root = vici_msg_parse(d, len, NULL, 0);
	assert_non_null(root);
	assert_int_equal(vici_get(root, "data")->len, VICI_VALUE_MAX);
	assert_memory_equal(vici_get(root, "data")->value, val, sizeof(val));
	assert_null(vici_get_str(root, "data"));
	vici_node_free(root);
	vici_buf_free(b);
}

static void
test_packets(void **state)
{
	struct vici_packet pkt;
	struct vici_buf *b;
	unsigned char *p;
	size_t len;
	char err[128];
	static const unsigned char confirm[] = { VICI_EVENT_CONFIRM };
	static const unsigned char confirm_junk[] = { VICI_EVENT_CONFIRM, 0 };
	static const unsigned char bad_type[] = { 8 };
	static const unsigned char name_trunc[] = { VICI_EVENT, 5, 'a', 'b' };
	static const unsigned char name_empty[] = { VICI_EVENT, 0 };

	(void)state;
	b = build_readme();
	assert_int_equal(vici_packet_encode(VICI_CMD_REQUEST, "list-sas", b, &p, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(len, 4 + 1 + 1 + 8 + sizeof(readme_msg));
	assert_int_equal(p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3], len - 4);
	assert_int_equal(p[4], VICI_CMD_REQUEST);
	assert_int_equal(p[5], 8);
	assert_memory_equal(p + 6, "list-sas", 8);
	assert_int_equal(vici_packet_decode(p + 4, len - 4, &pkt, err, sizeof(err)), 0);
	assert_int_equal(pkt.type, VICI_CMD_REQUEST);
	assert_string_equal(pkt.name, "list-sas");
	assert_string_equal(vici_get_str(pkt.msg, "key1"), "value1");
	vici_packet_clear(&pkt);
	free(p);
	vici_buf_free(b);

	assert_int_equal(vici_packet_encode(VICI_EVENT_REGISTER, "ike-updown", NULL, &p, &len,
	    err, sizeof(err)), 0);
	assert_int_equal(len, 4 + 2 + 10);
	free(p);
	assert_int_equal(vici_packet_encode(VICI_EVENT_REGISTER, "", NULL, &p, &len, err,
	    sizeof(err)), -1);
	assert_int_equal(vici_packet_encode(9, "x", NULL, &p, &len, err, sizeof(err)), -1);

	assert_int_equal(vici_packet_decode(confirm, sizeof(confirm), &pkt, err, sizeof(err)), 0);
	assert_int_equal(pkt.type, VICI_EVENT_CONFIRM);
	assert_null(pkt.msg);
	assert_int_equal(vici_packet_decode(confirm_junk, sizeof(confirm_junk), &pkt, err,
	    sizeof(err)), -1);
	assert_int_equal(vici_packet_decode(bad_type, sizeof(bad_type), &pkt, err,
	    sizeof(err)), -1);
	assert_int_equal(vici_packet_decode(name_trunc, sizeof(name_trunc), &pkt, err,
	    sizeof(err)), -1);
	assert_int_equal(vici_packet_decode(name_empty, sizeof(name_empty), &pkt, err,
	    sizeof(err)), -1);
	assert_int_equal(vici_packet_decode(confirm, 0, &pkt, err, sizeof(err)), -1);
}

static void
sendpkt(int fd, int type, const char *name, struct vici_buf *msg)
{
	unsigned char *p;
	size_t len;

	assert_int_equal(vici_packet_encode(type, name, msg, &p, &len, NULL, 0), 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	free(p);
}

static int events_seen;

static void
on_event(void *arg, const char *event, const struct vici_node *msg)
{
	(void)arg;
	if (strcmp(event, "ike-updown") == 0 && vici_get_str(msg, "up") != NULL)
		events_seen++;
}

/* A vici_conn connected to a listening socket in a temporary directory; *peer = our end. */
static struct vici_conn *
connect_pair(int *peer)
{
	char dir[] = "/tmp/test_vici.XXXXXX", uri[128], err[128];
	struct sockaddr_un sun;
	struct vici_conn *c;
	int lfd;

	assert_non_null(mkdtemp(dir));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	snprintf(uri, sizeof(uri), "unix://%s", sun.sun_path);
	c = vici_connect(uri, err, sizeof(err));
	assert_non_null(c);
	*peer = accept(lfd, NULL, NULL);
	assert_true(*peer >= 0);
	close(lfd);
	unlink(sun.sun_path);
	rmdir(dir);
	return c;
}

/*
 * Transport over a socketpair: a response preceded by an event (delivered to the callback),
 * an event registration, CMD_UNKNOWN, an oversize length and EOF.
 */
static void
test_transport(void **state)
{
	struct vici_conn *c;
	struct vici_node *resp;
	struct vici_buf *m;
	unsigned char big[4] = { 0x00, 0x08, 0x00, 0x01 };	/* 512 KiB + 1 */
	char err[160];
	int sv[2];

	(void)state;
	/* vici_connect takes only unix:// paths. */
	assert_null(vici_connect("tcp://127.0.0.1:4502", err, sizeof(err)));
	assert_non_null(strstr(err, "unix://"));
	assert_null(vici_connect("unix:///nonexistent/charon.vici", err, sizeof(err)));
	c = connect_pair(&sv[1]);
	vici_set_event_cb(c, on_event, NULL);

	m = vici_buf_new();
	vici_add_kvstr(m, "up", "yes");
	sendpkt(sv[1], VICI_EVENT, "ike-updown", m);
	vici_buf_free(m);
	m = vici_buf_new();
	vici_add_kvstr(m, "success", "no");
	vici_add_kvstr(m, "errmsg", "no such thing");
	sendpkt(sv[1], VICI_CMD_RESPONSE, NULL, m);
	vici_buf_free(m);
	events_seen = 0;
	resp = vici_call(c, "initiate", NULL, 2000, err, sizeof(err));
	assert_non_null(resp);
	assert_int_equal(events_seen, 1);
	assert_int_equal(vici_check_success(resp, "initiate", err, sizeof(err)), -1);
	assert_string_equal(err, "initiate: no such thing");
	vici_node_free(resp);

	sendpkt(sv[1], VICI_EVENT_CONFIRM, NULL, NULL);
	assert_int_equal(vici_register(c, "ike-updown", 1, 2000, err, sizeof(err)), 0);
	sendpkt(sv[1], VICI_EVENT_UNKNOWN, NULL, NULL);
	assert_int_equal(vici_register(c, "nope", 1, 2000, err, sizeof(err)), -1);
	sendpkt(sv[1], VICI_CMD_UNKNOWN, NULL, NULL);
	assert_null(vici_call(c, "nope", NULL, 2000, err, sizeof(err)));
	assert_non_null(strstr(err, "does not know"));

	/* Nothing pending: dispatch times out with 0; a timeout on call is an error. */
	assert_int_equal(vici_dispatch(c, 10, err, sizeof(err)), 0);
	assert_null(vici_call(c, "stats", NULL, 20, err, sizeof(err)));
	assert_non_null(strstr(err, "no answer"));

	assert_int_equal(write(sv[1], big, sizeof(big)), 4);
	assert_int_equal(vici_dispatch(c, 1000, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "packet of"));
	vici_close(c);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_readme),
		cmocka_unit_test(test_decode_readme),
		cmocka_unit_test(test_decode_bad),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_builder_errors),
		cmocka_unit_test(test_binary_value),
		cmocka_unit_test(test_packets),
		cmocka_unit_test(test_transport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
