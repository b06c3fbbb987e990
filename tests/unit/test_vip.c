// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_vip.c - a broker group's virtual addresses (host/ha/vip.c): the
 * --vip text, the gratuitous ARP and the unsolicited neighbour
 * advertisement byte by byte, and, in a network namespace of the test's
 * own with a veth pair, the address added (IPv6 without DAD), announced
 * on the wire (seen by a packet socket) and removed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ha/vip.h"

static const struct {
	const char *text;
	int family;		/* 0: refused */
	const char *addr;
	unsigned int prefix;
	const char *ifname;
} parse_rows[] = {
	{ "10.77.1.100/24@br0", AF_INET, "10.77.1.100", 24, "br0" },
	{ "fd77:1::100/64@eth0", AF_INET6, "fd77:1::100", 64, "eth0" },
	{ "10.0.0.1/32@a,fd00::1/128@b", AF_INET, "10.0.0.1", 32, "a" },	/* the first of a list */
	{ "10.77.1.100@br0", 0, NULL, 0, NULL },		/* no prefix */
	{ "10.77.1.100/24", 0, NULL, 0, NULL },		/* no interface */
	{ "10.77.1.100/33@br0", 0, NULL, 0, NULL },
	{ "10.77.1.100/0@br0", 0, NULL, 0, NULL },
	{ "fd77::1/129@br0", 0, NULL, 0, NULL },
	{ "10.77.1/24@br0", 0, NULL, 0, NULL },
	{ "10.77.1.100/24x@br0", 0, NULL, 0, NULL },
	{ "10.77.1.100/24@", 0, NULL, 0, NULL },
	{ "10.77.1.100/24@averyveryverylongname", 0, NULL, 0, NULL },
	{ "br0@10.77.1.100/24", 0, NULL, 0, NULL },
	{ "", 0, NULL, 0, NULL },
};

static void test_parse(void **state)
{
	for (size_t i = 0; i < sizeof(parse_rows) / sizeof(parse_rows[0]); i++) {
		struct pso_vip v;
		uint8_t want[16] = { 0 };
		char why[128];
		int ret = pso_vip_parse(parse_rows[i].text, &v, why, sizeof(why));

		if (!parse_rows[i].family) {
			if (ret != -EINVAL)
				fail_msg("'%s' should be refused", parse_rows[i].text);
			assert_non_null(strstr(why, "ADDRESS/PREFIX@IFACE"));
			continue;
		}
		if (ret)
			fail_msg("'%s' refused: %s", parse_rows[i].text, why);
		assert_int_equal(v.family, parse_rows[i].family);
		assert_int_equal(inet_pton(v.family, parse_rows[i].addr, want), 1);
		assert_memory_equal(v.addr, want, 16);
		assert_int_equal(v.prefix, parse_rows[i].prefix);
		assert_string_equal(v.ifname, parse_rows[i].ifname);
		assert_false(v.held);
	}
}

static void test_parse_list(void **state)
{
	struct pso_vip v[PSO_VIP_MAX];
	char why[128], s[96];
	int n;

	assert_int_equal(pso_vip_parse_list("10.0.0.1/24@a,fd00::1/64@b", v, PSO_VIP_MAX, &n, why,
					    sizeof(why)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(pso_vip_str(&v[0], s, sizeof(s)), "10.0.0.1/24@a");
	assert_string_equal(pso_vip_str(&v[1], s, sizeof(s)), "fd00::1/64@b");
	/* one bad entry spoils the list */
	assert_int_equal(pso_vip_parse_list("10.0.0.1/24@a,junk", v, PSO_VIP_MAX, &n, why,
					    sizeof(why)), -EINVAL);
	assert_int_equal(pso_vip_parse_list("10.0.0.1/24@a,", v, PSO_VIP_MAX, &n, why,
					    sizeof(why)), -EINVAL);
	/* the same address twice */
	assert_int_equal(pso_vip_parse_list("10.0.0.1/24@a,10.0.0.1/16@b", v, PSO_VIP_MAX, &n, why,
					    sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "twice"));
	/* more than the cap */
	assert_int_equal(pso_vip_parse_list("10.0.0.1/24@a,10.0.0.2/24@a,10.0.0.3/24@a", v, 2, &n,
					    why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "at most 2"));
}

static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static void test_garp_bytes(void **state)
{
	const uint8_t ip[4] = { 10, 77, 1, 100 };
	const uint8_t want[PSO_ARP_LEN] = {
		0x00, 0x01,			/* hardware: Ethernet */
		0x08, 0x00,			/* protocol: IPv4 */
		6, 4,				/* lengths */
		0x00, 0x01,			/* request */
		0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 10, 77, 1, 100,	/* sender */
		0, 0, 0, 0, 0, 0, 10, 77, 1, 100,			/* target: the same IP */
	};
	uint8_t buf[PSO_ARP_LEN + 4];

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(pso_garp_build(buf, mac, ip), PSO_ARP_LEN);
	assert_memory_equal(buf, want, PSO_ARP_LEN);
	assert_int_equal(buf[PSO_ARP_LEN], 0xee);	/* nothing written past it */
}

static void test_una_bytes(void **state)
{
	uint8_t target[16];
	uint8_t want[PSO_UNA_LEN] = {
		136, 0, 0, 0,			/* NA, code 0, checksum (the kernel's) */
		0x20, 0, 0, 0,			/* R=0 S=0 O=1 */
		[24] = 2, 1,			/* target link-layer address, 8 bytes */
		0x02, 0x11, 0x22, 0x33, 0x44, 0x55,
	};
	uint8_t buf[PSO_UNA_LEN];

	inet_pton(AF_INET6, "fd77:1::100", target);
	memcpy(want + 8, target, 16);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(pso_una_build(buf, mac, target), PSO_UNA_LEN);
	assert_memory_equal(buf, want, PSO_UNA_LEN);
}

/* ---- on a link: a network namespace of the test's own ---- */

static int in_netns(void **state)
{
	if (unshare(CLONE_NEWNET))
		return -1;
	/* ip(8) runs in this process's namespace: the veth pair is ours alone. */
	if (system("ip link add vipd0 type veth peer name vipd1 && ip link set vipd1 up && ip link set vipd0 address 02:11:22:33:44:55 "
		   "&& ip link set vipd0 up && ip addr add 10.99.0.1/24 dev vipd0"))
		return -1;
	return 0;
}

static bool addr_present(const char *addr)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "ip -o addr show dev vipd0 | grep -q ' %s/'", addr);
	return system(cmd) == 0;
}

/* What arrives at the far end of the veth pair: what went on the wire. */
static int capture_open(uint16_t proto)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(proto),
		.sll_ifindex = (int)if_nametoindex("vipd1"),
	};
	int fd = socket(AF_PACKET, SOCK_RAW, htons(proto));

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

/* The next frame on fd that match() accepts, within a second. */
static bool capture_find(int fd, bool (*match)(const uint8_t *f, ssize_t n))
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t f[256];

	while (poll(&p, 1, 1000) == 1) {
		ssize_t n = recv(fd, f, sizeof(f), 0);

		if (n > 0 && match(f, n))
			return true;
	}
	return false;
}

static bool is_garp(const uint8_t *f, ssize_t n)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t ip[4] = { 10, 99, 0, 100 };
	uint8_t want[PSO_ARP_LEN];

	pso_garp_build(want, mac, ip);
	return n >= 14 + PSO_ARP_LEN && !memcmp(f, bcast, 6) && !memcmp(f + 6, mac, 6) &&
	       f[12] == 0x08 && f[13] == 0x06 && !memcmp(f + 14, want, PSO_ARP_LEN);
}

static bool is_una(const uint8_t *f, ssize_t n)
{
	uint8_t target[16];

	inet_pton(AF_INET6, "fd99::100", target);
	/* Ethernet to 33:33:00:00:00:01, IPv6 hop limit 255, next header
	 * ICMPv6, destination ff02::1; the NA's target and option. */
	return n >= 14 + 40 + PSO_UNA_LEN && f[0] == 0x33 && f[1] == 0x33 && f[5] == 0x01 &&
	       f[12] == 0x86 && f[13] == 0xdd && f[14 + 6] == 58 && f[14 + 7] == 255 &&
	       f[14 + 24] == 0xff && f[14 + 25] == 0x02 && f[14 + 39] == 0x01 &&
	       f[54] == 136 && f[58] == 0x20 && !memcmp(f + 62, target, 16) && f[78] == 2 &&
	       !memcmp(f + 80, mac, 6);
}

static void test_add_announce_remove_v4(void **state)
{
	struct pso_vip v;
	char why[128], err[256];
	int fd = capture_open(ETH_P_ARP);

	assert_int_equal(pso_vip_parse("10.99.0.100/24@vipd0", &v, why, sizeof(why)), 0);
	if (pso_vip_add(&v, 0, err, sizeof(err)))
		fail_msg("add: %s", err);
	assert_true(v.held);
	assert_true(addr_present("10.99.0.100"));
	assert_true(capture_find(fd, is_garp));
	/* added twice: still one address, still fine */
	assert_int_equal(pso_vip_add(&v, 0, err, sizeof(err)), 0);
	assert_int_equal(pso_vip_remove(&v, err, sizeof(err)), 0);
	assert_false(v.held);
	assert_false(addr_present("10.99.0.100"));
	assert_true(addr_present("10.99.0.1"));		/* the node's own stays */
	/* removed twice: nothing there, fine */
	assert_int_equal(pso_vip_remove(&v, err, sizeof(err)), 0);
	close(fd);
}

/* With a lifetime the kernel ends it by itself, unless refreshed. */
static void test_lifetime(void **state)
{
	struct pso_vip v;
	char why[128], err[256];
	int i;

	assert_int_equal(pso_vip_parse("10.99.0.101/24@vipd0", &v, why, sizeof(why)), 0);
	if (pso_vip_add(&v, 2, err, sizeof(err)))
		fail_msg("add: %s", err);
	assert_true(addr_present("10.99.0.101"));
	/* refreshed every second for 3 s: still there */
	for (i = 0; i < 3; i++) {
		sleep(1);
		assert_int_equal(pso_vip_refresh(&v, 2, err, sizeof(err)), 0);
	}
	assert_true(addr_present("10.99.0.101"));
	/* left alone: gone within its lifetime and the kernel's check */
	for (i = 0; i < 50 && addr_present("10.99.0.101"); i++)
		usleep(100000);
	assert_false(addr_present("10.99.0.101"));
	assert_int_equal(pso_vip_remove(&v, err, sizeof(err)), 0);
}

static void test_add_announce_remove_v6(void **state)
{
	struct pso_vip v;
	char why[128], err[256];
	int fd = capture_open(ETH_P_IPV6);
	FILE *f;
	char line[512] = "";

	assert_int_equal(pso_vip_parse("fd99::100/64@vipd0", &v, why, sizeof(why)), 0);
	if (pso_vip_add(&v, 0, err, sizeof(err)))
		fail_msg("add: %s", err);
	assert_true(addr_present("fd99::100"));
	/* usable at once: not tentative */
	f = popen("ip -o addr show dev vipd0 to fd99::100", "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	pclose(f);
	assert_null(strstr(line, "tentative"));
	assert_true(capture_find(fd, is_una));
	assert_int_equal(pso_vip_remove(&v, err, sizeof(err)), 0);
	assert_false(addr_present("fd99::100"));
	close(fd);
}

static void test_no_such_interface(void **state)
{
	struct pso_vip v;
	char why[128], err[256];

	assert_int_equal(pso_vip_parse("10.99.0.100/24@nosuch9", &v, why, sizeof(why)), 0);
	assert_int_equal(pso_vip_add(&v, 0, err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "nosuch9: no such interface"));
	assert_false(v.held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_list),
		cmocka_unit_test(test_garp_bytes),
		cmocka_unit_test(test_una_bytes),
	};
	const struct CMUnitTest link_tests[] = {
		cmocka_unit_test(test_add_announce_remove_v4),
		cmocka_unit_test(test_add_announce_remove_v6),
		cmocka_unit_test(test_no_such_interface),
		cmocka_unit_test(test_lifetime),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	return ret | cmocka_run_group_tests_name("vip_on_a_link", link_tests, in_netns, NULL);
}
