// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_nexthop.c - next hops from the kernel's routes and neighbours
 * (host/nexthop.c), in a lab of two namespaces:
 *
 *   broker ns                          peer ns
 *   nhb<pid> 10.77.0.1/24   <-veth->   nhp<pid> 10.77.0.2/24
 *            fd00:77::1/64                      fd00:77::2/64
 *            fe80::77:1/64                      fe80::77:2/64
 *
 * pso_nh is opened inside the broker namespace; every test starts from
 * fresh namespaces, so the neighbour table is empty.  Waiting is done on the
 * change callback, polling pso_nh_fd() against a deadline.  A test starts
 * once the lab has settled (link operationally up, own addresses routed as
 * local: the kernel finishes both asynchronously) and its notifications
 * are consumed, so the callbacks a test sees are its own doing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns.h"
#include "ctl/nexthop.h"

#define WAIT_MS 5000

struct lab {
	char ns_b[NETNS_NAME_MAX], ns_p[NETNS_NAME_MAX];
	char if_b[IFNAMSIZ], if_p[IFNAMSIZ];
	int ifindex_b, ifindex_p;
	uint8_t mac_b[6], mac_p[6];
	struct pso_nh *nh;
	unsigned int changes;	/* change callbacks seen */
};

/* Run a command (NULL-terminated arguments) in ns; fail the test, saying
 * what failed, when it does not succeed. */
static void run(const char *ns, ...)
{
	const char *argv[24];
	va_list ap;
	int n = 0;

	va_start(ap, ns);
	while (n < 23 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	if (netns_exec(ns, argv)) {
		print_error("%s\n", netns_error());
		fail();
	}
}

static void addr_of(int family, const char *text, uint8_t addr[16])
{
	memset(addr, 0, 16);
	assert_int_equal(inet_pton(family, text, addr), 1);
}

static void on_change(void *ctx)
{
	struct lab *l = ctx;

	l->changes++;
}

/* Wait until the change callback has fired more than `seen` times in all,
 * receiving notifications as the daemon does. */
static int wait_change(struct lab *l, unsigned int seen, int timeout_ms)
{
	uint64_t deadline = netns_now_ms() + timeout_ms;

	while (l->changes <= seen) {
		struct pollfd pfd = { .fd = pso_nh_fd(l->nh), .events = POLLIN };
		uint64_t now = netns_now_ms();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			assert_int_equal(pso_nh_process(l->nh), 0);
	}
	return 0;
}

/* Look addr up again each time the callback fires, until it is resolved. */
static int lookup_resolved(struct lab *l, int family, const uint8_t *addr, int oif,
			   struct pso_nexthop *nh)
{
	uint64_t deadline = netns_now_ms() + WAIT_MS;

	for (;;) {
		unsigned int seen = l->changes;
		int err = pso_nh_lookup_dev(l->nh, family, addr, oif, nh);
		uint64_t now = netns_now_ms();

		if (err || nh->resolved)
			return err;
		if (now >= deadline || wait_change(l, seen, (int)(deadline - now)))
			return -ETIMEDOUT;
	}
}

static bool settled(struct lab *l)
{
	static const struct { int family; const char *text; bool on_link; } own[] = {
		{ AF_INET, "10.77.0.1", false },
		{ AF_INET6, "fd00:77::1", false },
		{ AF_INET6, "fe80::77:1", true },
	};
	struct pso_link_info li;
	struct pso_nexthop nh;
	uint8_t a[16];

	if (pso_nh_link(l->nh, l->ifindex_b, &li) || !li.up)
		return false;
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		addr_of(own[i].family, own[i].text, a);
		if (pso_nh_lookup_dev(l->nh, own[i].family, a, own[i].on_link ? l->ifindex_b : 0,
				      &nh) != -EADDRNOTAVAIL)
			return false;
	}
	return true;
}

/* Wait, on the callback, for the lab to be settled; then consume what is
 * queued and start counting callbacks from zero. */
static int settle(struct lab *l)
{
	uint64_t deadline = netns_now_ms() + WAIT_MS;
	struct pollfd pfd = { .fd = pso_nh_fd(l->nh), .events = POLLIN };

	while (!settled(l)) {
		uint64_t now = netns_now_ms();

		if (now >= deadline || wait_change(l, l->changes, (int)(deadline - now)))
			return -ETIMEDOUT;
	}
	while (poll(&pfd, 1, 0) > 0)
		if (pso_nh_process(l->nh))
			return -EIO;
	l->changes = 0;
	return 0;
}

static int setup(void **state)
{
	static struct lab lab;
	struct lab *l = &lab;
	int pid = getpid(), saved, err;

	memset(l, 0, sizeof(*l));
	snprintf(l->ns_b, sizeof(l->ns_b), "pso-nh-broker-%d", pid);
	snprintf(l->ns_p, sizeof(l->ns_p), "pso-nh-peer-%d", pid);
	snprintf(l->if_b, sizeof(l->if_b), "nhb%d", pid);
	snprintf(l->if_p, sizeof(l->if_p), "nhp%d", pid);
	if (netns_add(l->ns_b) || netns_add(l->ns_p))
		goto fail;
	/* Addresses usable at once: the broker's link-local is the source of
	 * its neighbour solicitations, and none is sent while it is tentative.
	 * The broker's link-local is a known one instead of a generated one. */
	for (int i = 0; i < 2; i++) {
		const char *ns = i ? l->ns_p : l->ns_b;
		const char *argv[] = { "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", NULL };

		if (netns_exec(ns, argv))
			goto fail;
	}
	{
		const char *argv[] = { "sysctl", "-qw", "net.ipv6.conf.default.addr_gen_mode=1",
				       NULL };

		if (netns_exec(l->ns_b, argv))
			goto fail;
	}
	if (netns_veth_add(l->ns_b, l->if_b, l->ns_p, l->if_p) ||
	    netns_addr_add(l->ns_b, l->if_b, "10.77.0.1/24") ||
	    netns_addr_add(l->ns_b, l->if_b, "fd00:77::1/64") ||
	    netns_addr_add(l->ns_b, l->if_b, "fe80::77:1/64") ||
	    netns_addr_add(l->ns_p, l->if_p, "10.77.0.2/24") ||
	    netns_addr_add(l->ns_p, l->if_p, "fd00:77::2/64") ||
	    netns_addr_add(l->ns_p, l->if_p, "fe80::77:2/64") ||
	    netns_ifinfo(l->ns_b, l->if_b, &l->ifindex_b, l->mac_b) ||
	    netns_ifinfo(l->ns_p, l->if_p, &l->ifindex_p, l->mac_p))
		goto fail;

	/* The netlink sockets are made inside the broker namespace and keep
	 * it after this thread leaves. */
	if (netns_enter(l->ns_b, &saved))
		goto fail;
	err = pso_nh_open(&l->nh, on_change, l);
	if (netns_leave(saved))
		goto fail;
	if (err) {
		print_error("pso_nh_open: %s\n", strerror(-err));
		netns_cleanup_all();
		return -1;
	}
	err = settle(l);
	if (err) {
		print_error("lab did not settle: %s\n", strerror(-err));
		pso_nh_close(l->nh);
		netns_cleanup_all();
		return -1;
	}
	*state = l;
	return 0;
fail:
	print_error("lab setup: %s\n", netns_error());
	netns_cleanup_all();
	return -1;
}

static int teardown(void **state)
{
	struct lab *l = *state;

	pso_nh_close(l->nh);
	l->nh = NULL;
	netns_del(l->ns_p);
	netns_del(l->ns_b);
	return 0;
}

/* A host on the link: unresolved at first (the table is empty), and the
 * lookup's own trigger gets it resolved to the peer's MAC. */
static void direct(struct lab *l, int family, const char *dst_text)
{
	struct pso_nexthop nh;
	uint8_t dst[16];

	addr_of(family, dst_text, dst);
	assert_int_equal(pso_nh_lookup(l->nh, family, dst, &nh), 0);
	assert_false(nh.resolved);
	assert_int_equal(nh.ifindex, l->ifindex_b);
	assert_int_equal(nh.nh_family, family);
	assert_memory_equal(nh.nh_addr, dst, 16);

	assert_int_equal(lookup_resolved(l, family, dst, 0, &nh), 0);
	assert_true(l->changes > 0);
	assert_int_equal(nh.ifindex, l->ifindex_b);
	assert_memory_equal(nh.mac, l->mac_p, 6);
}

/* A link-local address is looked up on the interface it was heard on. */
static void link_local(struct lab *l, const char *dst_text)
{
	struct pso_nexthop nh;
	uint8_t dst[16];

	addr_of(AF_INET6, dst_text, dst);
	assert_int_equal(pso_nh_lookup_dev(l->nh, AF_INET6, dst, l->ifindex_b, &nh), 0);
	assert_false(nh.resolved);
	assert_int_equal(lookup_resolved(l, AF_INET6, dst, l->ifindex_b, &nh), 0);
	assert_int_equal(nh.ifindex, l->ifindex_b);
	assert_memory_equal(nh.mac, l->mac_p, 6);
}

static void test_direct(void **state)
{
	direct(*state, AF_INET, "10.77.0.2");
	direct(*state, AF_INET6, "fd00:77::2");
	link_local(*state, "fe80::77:2");
}

/* Behind a gateway, the next hop is the gateway. */
static void via_gateway(struct lab *l, int family, const char *net, const char *gw_text,
			const char *dst_text)
{
	unsigned int seen = l->changes;
	struct pso_nexthop nh;
	uint8_t dst[16], gw[16];

	addr_of(family, dst_text, dst);
	addr_of(family, gw_text, gw);
	run(l->ns_b, "ip", family == AF_INET ? "-4" : "-6", "route", "add", net, "via", gw_text,
	    "dev", l->if_b, NULL);
	/* A new route is a change. */
	assert_int_equal(wait_change(l, seen, WAIT_MS), 0);

	assert_int_equal(pso_nh_lookup(l->nh, family, dst, &nh), 0);
	assert_false(nh.resolved);
	assert_int_equal(nh.nh_family, family);
	assert_memory_equal(nh.nh_addr, gw, 16);
	assert_int_equal(lookup_resolved(l, family, dst, 0, &nh), 0);
	assert_int_equal(nh.ifindex, l->ifindex_b);
	assert_memory_equal(nh.nh_addr, gw, 16);
	assert_memory_equal(nh.mac, l->mac_p, 6);
}

static void test_gateway(void **state)
{
	via_gateway(*state, AF_INET, "10.88.0.0/24", "10.77.0.2", "10.88.0.9");
	via_gateway(*state, AF_INET6, "fd00:88::/64", "fd00:77::2", "fd00:88::9");
}

static void test_no_route_and_local(void **state)
{
	struct lab *l = *state;
	struct pso_nexthop nh;
	uint8_t a[16];

	addr_of(AF_INET, "192.0.2.1", a);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET, a, &nh), -ENETUNREACH);
	addr_of(AF_INET6, "2001:db8::1", a);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET6, a, &nh), -ENETUNREACH);

	/* Unreachable and blackhole routes reach nothing either. */
	run(l->ns_b, "ip", "route", "add", "unreachable", "10.99.0.0/24", NULL);
	run(l->ns_b, "ip", "route", "add", "blackhole", "10.98.0.0/24", NULL);
	run(l->ns_b, "ip", "-6", "route", "add", "blackhole", "fd00:98::/64", NULL);
	addr_of(AF_INET, "10.99.0.1", a);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET, a, &nh), -ENETUNREACH);
	addr_of(AF_INET, "10.98.0.1", a);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET, a, &nh), -ENETUNREACH);
	addr_of(AF_INET6, "fd00:98::1", a);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET6, a, &nh), -ENETUNREACH);

	/* The broker's own addresses are delivered through the socket. */
	addr_of(AF_INET, "10.77.0.1", a);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET, a, &nh), -EADDRNOTAVAIL);
	addr_of(AF_INET6, "fd00:77::1", a);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET6, a, &nh), -EADDRNOTAVAIL);

	assert_int_equal(pso_nh_lookup(l->nh, AF_PACKET, a, &nh), -EAFNOSUPPORT);
}

/* `ip neigh replace ... lladdr` fires the callback; the next lookup has the
 * new MAC. */
static void mac_change(struct lab *l, int family, const char *dst_text)
{
	static const uint8_t new_mac[6] = { 0x02, 0x00, 0x5e, 0x00, 0x53, 0x01 };
	struct pso_nexthop nh;
	unsigned int seen;
	uint8_t dst[16];

	addr_of(family, dst_text, dst);
	assert_int_equal(lookup_resolved(l, family, dst, 0, &nh), 0);
	assert_memory_equal(nh.mac, l->mac_p, 6);

	seen = l->changes;
	run(l->ns_b, "ip", "neigh", "replace", dst_text, "dev", l->if_b, "lladdr",
	    "02:00:5e:00:53:01", "nud", "permanent", NULL);
	assert_int_equal(wait_change(l, seen, WAIT_MS), 0);
	assert_int_equal(pso_nh_lookup(l->nh, family, dst, &nh), 0);
	assert_true(nh.resolved);
	assert_memory_equal(nh.mac, new_mac, 6);
}

static void test_mac_change(void **state)
{
	mac_change(*state, AF_INET, "10.77.0.2");
	mac_change(*state, AF_INET6, "fd00:77::2");
}

/* Nobody answers: the failure is reported once through the callback and the
 * address stays unresolved. */
static void test_unresolvable(void **state)
{
	struct lab *l = *state;
	char key[96];
	struct pso_nexthop nh;
	unsigned int seen;
	uint8_t dst[16];

	/* Give up after one request 100 ms later, not three over 3 s. */
	snprintf(key, sizeof(key), "net.ipv4.neigh.%s.retrans_time_ms=100", l->if_b);
	run(l->ns_b, "sysctl", "-qw", key, NULL);
	snprintf(key, sizeof(key), "net.ipv4.neigh.%s.mcast_solicit=1", l->if_b);
	run(l->ns_b, "sysctl", "-qw", key, NULL);

	addr_of(AF_INET, "10.77.0.99", dst);
	assert_int_equal(pso_nh_lookup(l->nh, AF_INET, dst, &nh), 0);
	assert_false(nh.resolved);
	assert_false(nh.failed);
	/* Each callback, look again, until the lookup tells of the failure
	 * (and so starts another attempt). */
	do {
		seen = l->changes;
		assert_int_equal(wait_change(l, seen, WAIT_MS), 0);
		assert_int_equal(pso_nh_lookup(l->nh, AF_INET, dst, &nh), 0);
		assert_false(nh.resolved);
	} while (!nh.failed);
	assert_int_equal(nh.ifindex, l->ifindex_b);

	/* Looking it up again tries again, but failing again is no news: the
	 * daemon re-resolving on every callback must not loop with ARP. */
	seen = l->changes;
	assert_int_equal(wait_change(l, seen, 1000), -ETIMEDOUT);
}

static void test_link_info(void **state)
{
	struct lab *l = *state;
	struct pso_link_info li;
	unsigned int seen;
	uint8_t ip4[16], ip6[16];

	addr_of(AF_INET, "10.77.0.1", ip4);
	addr_of(AF_INET6, "fd00:77::1", ip6);
	assert_int_equal(pso_nh_link(l->nh, l->ifindex_b, &li), 0);
	assert_int_equal(li.ifindex, l->ifindex_b);
	assert_string_equal(li.name, l->if_b);
	assert_true(li.up);
	assert_int_equal(li.mtu, 1500);
	assert_memory_equal(li.mac, l->mac_b, 6);
	assert_true(li.has_ip4);
	assert_memory_equal(li.ip4, ip4, 4);
	/* The global address, not the link-local one. */
	assert_true(li.has_ip6);
	assert_memory_equal(li.ip6, ip6, 16);

	/* Link changes arrive through the callback. */
	seen = l->changes;
	run(l->ns_b, "ip", "link", "set", "dev", l->if_b, "mtu", "1400", NULL);
	assert_int_equal(wait_change(l, seen, WAIT_MS), 0);
	assert_int_equal(pso_nh_link(l->nh, l->ifindex_b, &li), 0);
	assert_int_equal(li.mtu, 1400);

	/* No carrier once the far end is down. */
	seen = l->changes;
	run(l->ns_p, "ip", "link", "set", "dev", l->if_p, "down", NULL);
	assert_int_equal(wait_change(l, seen, WAIT_MS), 0);
	assert_int_equal(pso_nh_link(l->nh, l->ifindex_b, &li), 0);
	assert_false(li.up);

	/* The loopback has no global addresses in a fresh namespace; an
	 * unknown index is reported as such. */
	assert_int_equal(pso_nh_link(l->nh, 1, &li), 0);
	assert_string_equal(li.name, "lo");
	assert_false(li.has_ip6);
	assert_int_equal(pso_nh_link(l->nh, 0x7ffffff0, &li), -ENODEV);
}

/* A burst larger than the notification socket's buffer: the kernel drops
 * notifications, and pso_nh_process() must refill the caches (the MTU change
 * at the end of the burst is known only from the refill). */
static void test_overrun_resync(void **state)
{
	struct lab *l = *state;
	char path[64];
	struct pso_link_info li;
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "/tmp/pso-nh-burst-%d", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 256 * 200; i++)
		fprintf(f, "route add 10.200.%d.%d dev %s\n", i / 256, i % 256, l->if_b);
	fprintf(f, "link set dev %s mtu 1280\n", l->if_b);
	fclose(f);
	{
		const char *argv[] = { "ip", "-batch", path, NULL };

		err = netns_exec(l->ns_b, argv);
		unlink(path);
		if (err) {
			print_error("%s\n", netns_error());
			fail();
		}
	}
	assert_int_equal(wait_change(l, 0, WAIT_MS), 0);
	assert_int_equal(pso_nh_link(l->nh, l->ifindex_b, &li), 0);
	assert_int_equal(li.mtu, 1280);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gateway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_route_and_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mac_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unresolvable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun_resync, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_nexthop: needs root (network namespaces)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("nexthop", tests, NULL, NULL);
}
