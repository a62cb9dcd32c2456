/*
 * test_browse_order: the order of discovered candidates (mdns_browse_cmp/mdns_browse_sort,
 * browse.h): TXT pri ascending, IPv4 before IPv6, interface index, instance name, then the
 * type's rank, address and port. Pure: no Avahi daemon involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "mdns/browse.h"

/* A compact description of one candidate. */
struct cand {
	unsigned	 pri;
	int		 family;
	int		 ifindex;
	const char	*name;
	size_t		 type_rank;
	const char	*type;
	const char	*address;
	unsigned	 port;
};

static void
fill(struct mdns_result *r, const struct cand *c)
{
	memset(r, 0, sizeof(*r));
	r->pri = c->pri;
	r->family = c->family;
	r->ifindex = c->ifindex;
	snprintf(r->name, sizeof(r->name), "%s", c->name);
	r->type_rank = c->type_rank;
	snprintf(r->type, sizeof(r->type), "%s", c->type != NULL ? c->type :
	    MDNS_TYPE_REGISTRAR);
	snprintf(r->address, sizeof(r->address), "%s", c->address != NULL ? c->address :
	    "192.0.2.1");
	r->port = c->port != 0 ? c->port : 8443;
}

#define V4	AF_INET
#define V6	AF_INET6
#define REG	MDNS_TYPE_REGISTRAR
#define PRX	MDNS_TYPE_PROXY

/* Pairs: a must sort strictly before b (want < 0), or be equal (want 0). */
static const struct {
	const char	*what;
	struct cand	 a, b;
	int		 want;
} pairs[] = {
	{ "lower pri first", { 10, V6, 9, "z", 3, PRX, NULL, 0 },
	    { 100, V4, 1, "a", 0, REG, NULL, 0 }, -1 },
	{ "pri 0 is valid and lowest", { 0, V4, 1, "a", 0, REG, NULL, 0 },
	    { 1, V4, 1, "a", 0, REG, NULL, 0 }, -1 },
	{ "pri compares numerically", { 9, V4, 1, "a", 0, REG, NULL, 0 },
	    { 10, V4, 1, "a", 0, REG, NULL, 0 }, -1 },
	{ "same pri: IPv4 before IPv6", { 100, V4, 9, "z", 3, PRX, NULL, 0 },
	    { 100, V6, 1, "a", 0, REG, NULL, 0 }, -1 },
	{ "same pri, family: lower ifindex", { 100, V6, 2, "z", 1, PRX, NULL, 0 },
	    { 100, V6, 3, "a", 0, REG, NULL, 0 }, -1 },
	{ "then instance name", { 100, V4, 2, "latchkey a", 1, PRX, NULL, 0 },
	    { 100, V4, 2, "latchkey b", 0, REG, NULL, 0 }, -1 },
	{ "name bytewise: upper case before lower", { 100, V4, 2, "Zed", 0, REG, NULL, 0 },
	    { 100, V4, 2, "abc", 0, REG, NULL, 0 }, -1 },
	{ "name prefix first", { 100, V4, 2, "reg", 0, REG, NULL, 0 },
	    { 100, V4, 2, "reg #2", 0, REG, NULL, 0 }, -1 },
	{ "then the type's rank in the caller's list", { 100, V4, 2, "r", 0, PRX, NULL, 0 },
	    { 100, V4, 2, "r", 1, REG, NULL, 0 }, -1 },
	{ "same rank: type name", { 100, V4, 2, "r", 4, "_a._tcp", NULL, 0 },
	    { 100, V4, 2, "r", 4, "_b._tcp", NULL, 0 }, -1 },
	{ "then address text", { 100, V4, 2, "r", 0, REG, "10.0.0.1", 0 },
	    { 100, V4, 2, "r", 0, REG, "10.0.0.2", 0 }, -1 },
	{ "then port", { 100, V4, 2, "r", 0, REG, "10.0.0.1", 443 },
	    { 100, V4, 2, "r", 0, REG, "10.0.0.1", 8443 }, -1 },
	{ "identical", { 100, V6, 2, "r", 0, REG, "fe80::1", 8443 },
	    { 100, V6, 2, "r", 0, REG, "fe80::1", 8443 }, 0 },
};

static void
test_pairs(void **state)
{
	struct mdns_result a, b;
	size_t i;
	int c1, c2;

	(void)state;
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		fill(&a, &pairs[i].a);
		fill(&b, &pairs[i].b);
		c1 = mdns_browse_cmp(&a, &b);
		c2 = mdns_browse_cmp(&b, &a);
		if ((pairs[i].want < 0 && !(c1 < 0 && c2 > 0)) ||
		    (pairs[i].want == 0 && (c1 != 0 || c2 != 0)))
			fail_msg("case \"%s\": cmp(a,b) = %d, cmp(b,a) = %d", pairs[i].what,
			    c1, c2);
		assert_int_equal(mdns_browse_cmp(&a, &a), 0);
	}
}

/*
 * Sorting a realistic mix: every permutation of the input gives the same order.
 * Labels are the instance names; the expected order is written out by hand.
 */
static const struct cand mix[] = {
	{ 100, V6, 2, "B v6 if2", 0, REG, "fe80::2", 0 },
	{ 100, V4, 3, "C v4 if3", 0, REG, "10.0.0.3", 0 },
	{ 10, V6, 5, "A pri10 v6", 0, REG, "fe80::5", 0 },
	{ 100, V4, 2, "D v4 if2", 1, PRX, "10.0.0.2", 0 },
	{ 100, V4, 2, "D v4 if2", 0, REG, "10.0.0.2", 0 },
	{ 65535, V4, 1, "E last", 0, REG, "10.0.0.9", 0 },
};

static const struct {
	const char	*name;
	size_t		 rank;
} mix_order[] = {
	{ "A pri10 v6", 0 },	/* pri 10 beats everything, family notwithstanding */
	{ "D v4 if2", 0 },	/* pri 100, IPv4, ifindex 2; registrar (rank 0) */
	{ "D v4 if2", 1 },	/* ... its proxy sibling (rank 1) */
	{ "C v4 if3", 0 },	/* pri 100, IPv4, ifindex 3 */
	{ "B v6 if2", 0 },	/* pri 100, IPv6 after every IPv4 */
	{ "E last", 0 },	/* pri 65535 */
};

#define NMIX	(sizeof(mix) / sizeof(mix[0]))

static int
next_perm(size_t *p, size_t n)
{
	size_t i, j, t;

	if (n < 2)
		return 0;
	for (i = n - 1; i > 0 && p[i - 1] >= p[i]; i--)
		;
	if (i == 0)
		return 0;
	for (j = n - 1; p[j] <= p[i - 1]; j--)
		;
	t = p[i - 1]; p[i - 1] = p[j]; p[j] = t;
	for (j = n - 1; i < j; i++, j--) {
		t = p[i]; p[i] = p[j]; p[j] = t;
	}
	return 1;
}

static void
test_sort_all_permutations(void **state)
{
	struct mdns_result r[NMIX];
	size_t perm[NMIX], i, count = 0;

	(void)state;
	assert_int_equal(NMIX, sizeof(mix_order) / sizeof(mix_order[0]));
	for (i = 0; i < NMIX; i++)
		perm[i] = i;
	do {
		for (i = 0; i < NMIX; i++)
			fill(&r[i], &mix[perm[i]]);
		mdns_browse_sort(r, NMIX);
		for (i = 0; i < NMIX; i++) {
			if (strcmp(r[i].name, mix_order[i].name) != 0 ||
			    r[i].type_rank != mix_order[i].rank)
				fail_msg("permutation %zu: position %zu is \"%s\"/%zu, want "
				    "\"%s\"/%zu", count, i, r[i].name, r[i].type_rank,
				    mix_order[i].name, mix_order[i].rank);
		}
		count++;
	} while (next_perm(perm, NMIX));
	assert_int_equal(count, 720);
}

static void
test_sort_edges(void **state)
{
	struct mdns_result one;
	struct cand c = { 7, V4, 1, "only", 0, REG, NULL, 0 };

	(void)state;
	mdns_browse_sort(NULL, 0);		/* no crash */
	fill(&one, &c);
	mdns_browse_sort(&one, 1);
	assert_string_equal(one.name, "only");
	assert_int_equal(one.pri, 7);
	mdns_results_free(NULL, 0);		/* NULL is fine */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_sort_all_permutations),
		cmocka_unit_test(test_sort_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
