// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_placement.c - which topics the NIC holds, case by case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "ctl/placement.h"

#define MAXT 8

struct place_case {
	const char *name;
	uint32_t capacity;
	unsigned int hysteresis;
	uint64_t min_margin;
	int n;
	struct pso_place_topic topics[MAXT];
	const char *want_place;		/* ids, e.g. "3,7" in plan order */
	const char *want_unplace;
};

#define T(i, r, c, p) { .id = (i), .rate = (r), .candidate = (c), .placed = (p) }

static const struct place_case cases[] = {
	{ "empty NIC, three topics, room for two: the two busiest",
	  2, 25, 0, 3, { T(1, 10, 1, 0), T(2, 50, 1, 0), T(3, 30, 1, 0) }, "2,3", "" },
	{ "room for all: every candidate, busiest first",
	  4, 25, 0, 3, { T(1, 10, 1, 0), T(2, 50, 1, 0), T(3, 30, 1, 0) }, "2,3,1", "" },
	{ "no traffic yet: free room still filled, lowest id first",
	  2, 25, 0, 3, { T(5, 0, 1, 0), T(4, 0, 1, 0), T(9, 0, 1, 0) }, "4,5", "" },
	{ "non-candidates (fan-out, other port) are never placed",
	  2, 25, 0, 3, { T(1, 90, 0, 0), T(2, 5, 1, 0), T(3, 80, 0, 0) }, "2", "" },
	{ "placed topic that became fan-out leaves, room refilled",
	  2, 25, 0, 3, { T(1, 90, 0, 1), T(2, 50, 1, 1), T(3, 10, 1, 0) }, "3", "1" },
	{ "full and stable: nothing moves",
	  2, 25, 0, 3, { T(1, 50, 1, 1), T(2, 40, 1, 1), T(3, 30, 1, 0) }, "", "" },
	{ "busier newcomer within the margin: nothing moves",
	  2, 25, 0, 3, { T(1, 50, 1, 1), T(2, 40, 1, 1), T(3, 49, 1, 0) }, "", "" },
	{ "busier newcomer past the margin replaces the quietest",
	  2, 25, 0, 3, { T(1, 50, 1, 1), T(2, 40, 1, 1), T(3, 51, 1, 0) }, "3", "2" },
	{ "traffic pattern flips: both placed topics replaced",
	  2, 25, 0, 4, { T(1, 1, 1, 1), T(2, 2, 1, 1), T(3, 100, 1, 0), T(4, 90, 1, 0) }, "3,4", "1,2" },
	{ "only one newcomer clears the bar",
	  2, 25, 0, 4, { T(1, 10, 1, 1), T(2, 100, 1, 1), T(3, 100, 1, 0), T(4, 12, 1, 0) }, "3", "1" },
	{ "idle placed topic, idle newcomer: no swap (0 is not past 0)",
	  1, 25, 0, 2, { T(1, 0, 1, 1), T(2, 0, 1, 0) }, "", "" },
	{ "zero hysteresis: any busier newcomer swaps",
	  1, 0, 0, 2, { T(1, 10, 1, 1), T(2, 11, 1, 0) }, "2", "1" },
	{ "capacity zero: nothing placed",
	  0, 25, 0, 2, { T(1, 10, 1, 0), T(2, 11, 1, 0) }, "", "" },
	{ "quiet and noisy (2 vs 1): the absolute margin holds",
	  1, 25, 4, 2, { T(1, 1, 1, 1), T(2, 2, 1, 0) }, "", "" },
	{ "quiet newcomer past the absolute margin swaps",
	  1, 25, 4, 2, { T(1, 1, 1, 1), T(2, 6, 1, 0) }, "2", "1" },
	{ "busy topics: the percentage, not the margin, decides",
	  1, 25, 4, 2, { T(1, 100, 1, 1), T(2, 120, 1, 0) }, "", "" },
};

static void ids_str(const uint16_t *ids, int n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < n && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%u", i ? "," : "", ids[i]);
}

static void test_case(void **state)
{
	const struct place_case *c = *state;
	uint16_t place[MAXT], unplace[MAXT];
	struct pso_place_plan plan = { .place = place, .unplace = unplace };
	char got_p[64], got_u[64];

	pso_placement_plan(c->topics, c->n, c->capacity, c->hysteresis, c->min_margin, &plan);
	ids_str(place, plan.nplace, got_p, sizeof(got_p));
	ids_str(unplace, plan.nunplace, got_u, sizeof(got_u));
	if (strcmp(got_p, c->want_place) || strcmp(got_u, c->want_unplace))
		print_message("%s\n  want place [%s] unplace [%s]\n  got  place [%s] unplace [%s]\n",
			      c->name, c->want_place, c->want_unplace, got_p, got_u);
	assert_string_equal(got_p, c->want_place);
	assert_string_equal(got_u, c->want_unplace);
}

int main(void)
{
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0])];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tests[i] = (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case,
						.initial_state = (void *)&cases[i] };
	return cmocka_run_group_tests_name("placement", tests, NULL, NULL);
}
