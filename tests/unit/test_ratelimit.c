// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_ratelimit.c - the per-source token buckets (host/util/ratelimit.c):
 * SipHash-2-4 against the paper's test vector, rate and burst, sources by
 * network (/32, /64), and a table that no number of sources exhausts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "util/ratelimit.h"

static const uint8_t key[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

static struct pso_endpoint v4(uint32_t addr, uint16_t port)
{
	struct pso_endpoint ep = { .family = PSO_AF_INET, .port = htons(port) };
	uint32_t be = htonl(addr);

	memcpy(ep.addr, &be, 4);
	return ep;
}

static struct pso_endpoint v6(uint64_t prefix, uint64_t iid)
{
	struct pso_endpoint ep = { .family = PSO_AF_INET6, .port = htons(1883) };

	for (int i = 0; i < 8; i++) {
		ep.addr[i] = (uint8_t)(prefix >> (56 - 8 * i));
		ep.addr[8 + i] = (uint8_t)(iid >> (56 - 8 * i));
	}
	return ep;
}

/* SipHash paper, appendix A: key 00..0f, message 00..0e. */
static void test_siphash_vector(void **state)
{
	uint8_t msg[64];

	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	assert_int_equal(pso_siphash(key, msg, 15), 0xa129ca6149be45e5ull);
	assert_int_equal(pso_siphash(key, msg, 0), 0x726fdb47dd0e0e31ull);
	assert_int_equal(pso_siphash(key, msg, 8), 0x93f5f5799a932462ull);
}

/* rate N: a burst of N at once, then N a second (one each 1000/N ms). */
static void test_rate_and_burst(void **state)
{
	struct pso_rl *rl = pso_rl_new(64, key);
	struct pso_endpoint a = v4(0xc6336407, 1);
	int ok = 0;

	pso_rl_set_rate(rl, 0, 10);
	for (int i = 0; i < 100; i++)
		ok += pso_rl_take(rl, &a, 0, 5000);
	assert_int_equal(ok, 10);
	assert_false(pso_rl_take(rl, &a, 0, 5099));
	assert_true(pso_rl_take(rl, &a, 0, 5100));
	/* Idle long: never more than the burst. */
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += pso_rl_take(rl, &a, 0, 60000);
	assert_int_equal(ok, 10);
	/* Kinds are buckets of their own; a kind without a rate is free. */
	assert_true(pso_rl_take(rl, &a, 1, 60000));
	/* A rate given later (a reload) fills a known source's bucket from
	 * empty, within a second. */
	pso_rl_set_rate(rl, 1, 1);
	assert_false(pso_rl_take(rl, &a, 1, 60000));
	assert_true(pso_rl_take(rl, &a, 1, 61000));
	assert_false(pso_rl_take(rl, &a, 1, 61000));
	/* A clock that steps back gives nothing. */
	while (pso_rl_take(rl, &a, 0, 61000))
		;
	assert_false(pso_rl_take(rl, &a, 0, 1000));
	pso_rl_free(rl);
}

/* A source is an IPv4 address (any port) or an IPv6 /64. */
static void test_source_networks(void **state)
{
	struct pso_rl *rl = pso_rl_new(64, key);
	struct pso_endpoint p1 = v4(0x0a000001, 1), p2 = v4(0x0a000001, 2), b = v4(0x0a000002, 1);
	struct pso_endpoint s1 = v6(0x20010db800000001ull, 1), s2 = v6(0x20010db800000001ull, 99);
	struct pso_endpoint o6 = v6(0x20010db800000002ull, 1);

	pso_rl_set_rate(rl, 0, 1);
	assert_true(pso_rl_take(rl, &p1, 0, 1000));
	assert_false(pso_rl_take(rl, &p2, 0, 1000));
	assert_true(pso_rl_take(rl, &b, 0, 1000));
	assert_true(pso_rl_take(rl, &s1, 0, 1000));
	assert_false(pso_rl_take(rl, &s2, 0, 1000));
	assert_true(pso_rl_take(rl, &o6, 0, 1000));
	assert_int_equal(pso_rl_sources(rl), 4);
	pso_rl_free(rl);
}

/* A million spoofed sources through a table of 64: it never holds more
 * than 64, and every new source gets its one burst: the limiter bounds
 * what each source may do, not how many there are (that is the keep-alive
 * cap's and the expiry's part). */
static void test_table_bounded(void **state)
{
	struct pso_rl *rl = pso_rl_new(64, key);
	uint64_t now = 1000;
	int ok = 0;

	pso_rl_set_rate(rl, 0, 2);
	for (uint32_t i = 0; i < 1000000; i++) {
		struct pso_endpoint ep = v4(0x0b000000 + i, (uint16_t)i);

		ok += pso_rl_take(rl, &ep, 0, now);
		if (i % 1000 == 999)
			now += 10;
		assert_true(pso_rl_sources(rl) <= 64);
	}
	assert_int_equal(ok, 1000000);
	assert_int_equal(pso_rl_sources(rl), 64);
	pso_rl_free(rl);
}

/* A set full of sources whose buckets are full again (idle: no state) and
 * one throttled source: new sources take the idle ones' places, never the
 * throttled one's, which stays empty. */
static void test_eviction_idle_first(void **state)
{
	struct pso_rl *rl = pso_rl_new(PSO_RL_WAYS, key);	/* one set */
	struct pso_endpoint hog = v4(0xcb007101, 1);

	pso_rl_set_rate(rl, 0, 1);
	for (uint32_t i = 0; i < PSO_RL_WAYS - 1; i++) {
		struct pso_endpoint ep = v4(0x0c000000 + i, 1);

		assert_true(pso_rl_take(rl, &ep, 0, 1000));
	}
	assert_true(pso_rl_take(rl, &hog, 0, 3000));
	for (uint32_t i = 0; i < PSO_RL_WAYS - 1; i++) {
		struct pso_endpoint ep = v4(0x0d000000 + i, 1);

		assert_true(pso_rl_take(rl, &ep, 0, 3000));
	}
	assert_false(pso_rl_take(rl, &hog, 0, 3000));
	assert_int_equal(pso_rl_evictions(rl), 0);
	pso_rl_free(rl);
}

/* With no idle entry left, the source seen longest ago goes (counted). */
static void test_eviction_lru(void **state)
{
	struct pso_rl *rl = pso_rl_new(PSO_RL_WAYS, key);	/* one set */
	int ok = 0;

	pso_rl_set_rate(rl, 0, 1);
	for (uint32_t i = 0; i < PSO_RL_WAYS + 4; i++) {
		struct pso_endpoint ep = v4(0x0c000000 + i, 1);

		ok += pso_rl_take(rl, &ep, 0, 1000 + i);
	}
	assert_int_equal(ok, PSO_RL_WAYS + 4);
	assert_int_equal(pso_rl_sources(rl), PSO_RL_WAYS);
	assert_int_equal(pso_rl_evictions(rl), 4);
	pso_rl_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vector),
		cmocka_unit_test(test_rate_and_burst),
		cmocka_unit_test(test_source_networks),
		cmocka_unit_test(test_table_bounded),
		cmocka_unit_test(test_eviction_idle_first),
		cmocka_unit_test(test_eviction_lru),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
