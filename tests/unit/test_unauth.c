/*
 * Unit tests for enroll/latchkeyd/unauth.c: counters of refusals to unauthenticated
 * requests and their log rate limit (at most one line a second, with the number held back).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "enroll/latchkeyd/unauth.h"

/* One refusal at second `at`: is it logged, and with how many held back. */
struct step {
	int64_t			at;
	enum unauth_kind	kind;
	int			logged;
	uint64_t		held;
};

static const struct {
	const char	*name;
	struct step	 steps[8];
	size_t		 n;
	uint64_t	 total, logged, suppressed;
} cases[] = {
	{ "first refusal is logged", { { 5, UNAUTH_NO_CERT, 1, 0 } }, 1, 1, 1, 0 },
	{ "same second: held back", {
		{ 5, UNAUTH_NO_CERT, 1, 0 }, { 5, UNAUTH_NO_CERT, 0, 0 },
		{ 5, UNAUTH_BAD_CERT, 0, 0 } }, 3, 3, 1, 2 },
	{ "next second reports the held back", {
		{ 5, UNAUTH_NO_CERT, 1, 0 }, { 5, UNAUTH_NO_CERT, 0, 0 },
		{ 5, UNAUTH_NO_CERT, 0, 0 }, { 6, UNAUTH_UNKNOWN, 1, 2 },
		{ 6, UNAUTH_UNKNOWN, 0, 0 }, { 9, UNAUTH_NO_CERT, 1, 1 } }, 6, 6, 3, 3 },
	{ "time zero is a second like any other", {
		{ 0, UNAUTH_NO_CERT, 1, 0 }, { 0, UNAUTH_NO_CERT, 0, 0 },
		{ 1, UNAUTH_NO_CERT, 1, 1 } }, 3, 3, 2, 1 },
	{ "a clock going back opens a new second", {
		{ 9, UNAUTH_NO_CERT, 1, 0 }, { 9, UNAUTH_NO_CERT, 0, 0 },
		{ 8, UNAUTH_NO_CERT, 1, 1 } }, 3, 3, 2, 1 },
	{ "an unknown kind is not counted by kind", {
		{ 1, UNAUTH_NKINDS, 1, 0 } }, 1, 0, 1, 0 },
};

static void
test_rate_limit(void **state)
{
	struct unauth_stats s;
	uint64_t held;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unauth_init(&s);
		for (j = 0; j < cases[i].n; j++) {
			const struct step *st = &cases[i].steps[j];
			int r;

			held = 12345;
			r = unauth_count(&s, st->kind, st->at, &held);
			if (r != st->logged || held != st->held)
				fail_msg("%s, step %zu: logged %d held %llu, want %d %llu",
				    cases[i].name, j, r, (unsigned long long)held, st->logged,
				    (unsigned long long)st->held);
		}
		if (unauth_total(&s) != cases[i].total || s.logged != cases[i].logged ||
		    s.suppressed != cases[i].suppressed)
			fail_msg("%s: total %llu logged %llu suppressed %llu", cases[i].name,
			    (unsigned long long)unauth_total(&s),
			    (unsigned long long)s.logged, (unsigned long long)s.suppressed);
	}
}

static void
test_counts_by_kind(void **state)
{
	struct unauth_stats s;
	uint64_t held;
	int i;

	(void)state;
	unauth_init(&s);
	for (i = 0; i < 1000; i++)
		(void)unauth_count(&s, (enum unauth_kind)(i % UNAUTH_NKINDS), i / 100, &held);
	assert_int_equal(s.refused[UNAUTH_NO_CERT], 334);
	assert_int_equal(s.refused[UNAUTH_BAD_CERT], 333);
	assert_int_equal(s.refused[UNAUTH_UNKNOWN], 333);
	assert_int_equal(s.logged, 10);		/* one a second, seconds 0..9 */
	assert_int_equal(s.suppressed, 990);
	assert_int_equal(s.logged + s.suppressed, unauth_total(&s));
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(unauth_kind_name(UNAUTH_NO_CERT), "no-cert");
	assert_string_equal(unauth_kind_name(UNAUTH_BAD_CERT), "bad-cert");
	assert_string_equal(unauth_kind_name(UNAUTH_UNKNOWN), "unknown");
	assert_null(unauth_kind_name(UNAUTH_NKINDS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_counts_by_kind),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
