// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_nicinfo.c - driver names and XDP feature flags (host/nicinfo.c) of
 * virtual interfaces in a namespace of their own:
 *
 *   pso-nic-<pid>:  nva<pid> <-veth-> nvb<pid>
 *                   nmv<pid>  macvlan on nva<pid>
 *                   nbr<pid>  bridge
 *                   ndm<pid>  dummy (when the kernel has the dummy driver)
 *                   lo
 *
 * What Linux 6.18 reports, and so what is asserted:
 *   veth     "veth", basic,redirect,rx-sg; ndo-xmit,ndo-xmit-sg only while
 *            its peer can take XDP frames (an XDP program on the peer, or
 *            GRO on an up peer): a veth is a redirect target only then
 *   macvlan  "macvlan", none (generic XDP only)
 *   bridge   "bridge", none
 *   dummy    "dummy", none
 *   lo       "" (no ethtool driver info), none
 * The features come from the "netdev" genl family (6.3+); without it the
 * feature tests are skipped.  Each reported set is printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "netns.h"
#include "ctl/nicinfo.h"

struct lab {
	char ns[NETNS_NAME_MAX];
	char veth_a[IFNAMSIZ], veth_b[IFNAMSIZ];
	char macvlan[IFNAMSIZ], bridge[IFNAMSIZ], dummy[IFNAMSIZ];
	bool have_dummy;
	char dummy_why[256];
};

static struct lab lab;

/* pso_nic_query() inside the lab's namespace; the error line goes to err. */
static int query(const char *ifname, struct pso_nic_info *info, char *err, size_t errlen)
{
	int saved, ret;

	err[0] = '\0';
	if (netns_enter(lab.ns, &saved)) {
		print_error("enter %s: %s\n", lab.ns, netns_error());
		fail();
	}
	ret = pso_nic_query(ifname, info, err, errlen);
	if (netns_leave(saved)) {
		print_error("leave %s: %s\n", lab.ns, netns_error());
		fail();
	}
	return ret;
}

/* Query, which must succeed, and print what the kernel said. */
static void query_ok(const char *ifname, struct pso_nic_info *info)
{
	char err[256], feat[128];
	int ret = query(ifname, info, err, sizeof(err));

	if (ret) {
		print_error("pso_nic_query(%s) = %d: %s\n", ifname, ret, err);
		fail();
	}
	print_message("    %s: ifindex %d, driver \"%s\", xdp features %s\n", ifname, info->ifindex,
		      info->driver,
		      info->features_known ? pso_xdp_features_str(info->xdp_features, feat, sizeof(feat))
					   : "unknown (no netdev genl family)");
}

static void need_features(const struct pso_nic_info *info)
{
	if (!info->features_known) {
		print_message("    skipped: the kernel has no \"netdev\" genl family (Linux < 6.3)\n");
		skip();
	}
}

static void assert_features(const struct pso_nic_info *info, uint64_t want)
{
	char got_s[128], want_s[128];

	if (info->xdp_features != want) {
		print_error("%s: xdp features %s, expected %s\n", info->name,
			    pso_xdp_features_str(info->xdp_features, got_s, sizeof(got_s)),
			    pso_xdp_features_str(want, want_s, sizeof(want_s)));
		fail();
	}
}

static int run(const char *const argv[])
{
	return netns_exec(lab.ns, argv);
}

static int setup(void **state)
{
	int pid = getpid();

	memset(&lab, 0, sizeof(lab));
	snprintf(lab.ns, sizeof(lab.ns), "pso-nic-%d", pid);
	snprintf(lab.veth_a, sizeof(lab.veth_a), "nva%d", pid);
	snprintf(lab.veth_b, sizeof(lab.veth_b), "nvb%d", pid);
	snprintf(lab.macvlan, sizeof(lab.macvlan), "nmv%d", pid);
	snprintf(lab.bridge, sizeof(lab.bridge), "nbr%d", pid);
	snprintf(lab.dummy, sizeof(lab.dummy), "ndm%d", pid);

	const char *macvlan[] = { "ip", "link", "add", lab.macvlan, "link", lab.veth_a,
				  "type", "macvlan", "mode", "bridge", NULL };
	const char *bridge[] = { "ip", "link", "add", lab.bridge, "type", "bridge", NULL };
	const char *dummy[] = { "ip", "link", "add", lab.dummy, "type", "dummy", NULL };

	if (netns_add(lab.ns) ||
	    netns_veth_add(lab.ns, lab.veth_a, lab.ns, lab.veth_b) ||
	    run(macvlan) || run(bridge))
		goto fail;
	/* Kernels built without CONFIG_DUMMY (and without modules) have none. */
	lab.have_dummy = run(dummy) == 0;
	if (!lab.have_dummy)
		snprintf(lab.dummy_why, sizeof(lab.dummy_why), "%s", netns_error());
	*state = &lab;
	return 0;
fail:
	print_error("lab setup: %s\n", netns_error());
	netns_cleanup_all();
	return -1;
}

static int teardown(void **state)
{
	netns_del(lab.ns);
	return 0;
}

/* A veth pair, both ends up: native XDP and XDP_REDIRECT from it, but not
 * yet a redirect target (its peer has no XDP program and no GRO). */
static void test_veth(void **state)
{
	struct pso_nic_info a, b;
	int ifindex;

	query_ok(lab.veth_a, &a);
	assert_string_equal(a.name, lab.veth_a);
	assert_string_equal(a.driver, "veth");
	assert_int_equal(netns_ifinfo(lab.ns, lab.veth_a, &ifindex, NULL), 0);
	assert_int_equal(a.ifindex, ifindex);
	need_features(&a);
	assert_features(&a, PSO_XDP_F_BASIC | PSO_XDP_F_REDIRECT | PSO_XDP_F_RX_SG);

	query_ok(lab.veth_b, &b);
	assert_string_equal(b.driver, "veth");
	assert_features(&b, PSO_XDP_F_BASIC | PSO_XDP_F_REDIRECT | PSO_XDP_F_RX_SG);
}

/* A minimal XDP program (return XDP_PASS), loaded and attached in native
 * mode to ifname inside the lab; returns the program fd. */
static int attach_xdp_pass(const char *ifname)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int saved, fd, ret;

	assert_int_equal(netns_enter(lab.ns, &saved), 0);
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdp_pass", "GPL", insns, 2, NULL);
	ret = fd < 0 ? fd : bpf_xdp_attach((int)if_nametoindex(ifname), fd, XDP_FLAGS_DRV_MODE, NULL);
	assert_int_equal(netns_leave(saved), 0);
	if (ret) {
		print_error("attach XDP to %s: %s\n", ifname, strerror(-ret));
		if (fd >= 0)
			close(fd);
		fail();
	}
	return fd;
}

static void detach_xdp(const char *ifname, int fd)
{
	int saved;

	assert_int_equal(netns_enter(lab.ns, &saved), 0);
	bpf_xdp_detach((int)if_nametoindex(ifname), XDP_FLAGS_DRV_MODE, NULL);
	assert_int_equal(netns_leave(saved), 0);
	close(fd);
}

/* With an XDP program on its peer, a veth accepts redirected frames
 * (ndo-xmit), and stops advertising it when the program goes. */
static void test_veth_ndo_xmit_with_peer_xdp(void **state)
{
	struct pso_nic_info a;
	int fd;

	query_ok(lab.veth_a, &a);
	need_features(&a);
	fd = attach_xdp_pass(lab.veth_b);
	query_ok(lab.veth_a, &a);
	detach_xdp(lab.veth_b, fd);
	assert_features(&a, PSO_XDP_F_BASIC | PSO_XDP_F_REDIRECT | PSO_XDP_F_NDO_XMIT |
			    PSO_XDP_F_RX_SG | PSO_XDP_F_NDO_XMIT_SG);

	query_ok(lab.veth_a, &a);
	assert_features(&a, PSO_XDP_F_BASIC | PSO_XDP_F_REDIRECT | PSO_XDP_F_RX_SG);
}

/* GRO on the (up) peer does the same. */
static void test_veth_ndo_xmit_with_peer_gro(void **state)
{
	const char *gro_on[] = { "ethtool", "-K", lab.veth_b, "gro", "on", NULL };
	const char *gro_off[] = { "ethtool", "-K", lab.veth_b, "gro", "off", NULL };
	struct pso_nic_info a;

	query_ok(lab.veth_a, &a);
	need_features(&a);
	if (run(gro_on)) {
		print_error("%s\n", netns_error());
		fail();
	}
	query_ok(lab.veth_a, &a);
	run(gro_off);
	assert_true(a.xdp_features & PSO_XDP_F_NDO_XMIT);
	assert_features(&a, PSO_XDP_F_BASIC | PSO_XDP_F_REDIRECT | PSO_XDP_F_NDO_XMIT |
			    PSO_XDP_F_RX_SG | PSO_XDP_F_NDO_XMIT_SG);
}

/* macvlan has no native XDP: generic only. */
static void test_macvlan(void **state)
{
	struct pso_nic_info info;

	query_ok(lab.macvlan, &info);
	assert_string_equal(info.driver, "macvlan");
	need_features(&info);
	assert_false(info.xdp_features & PSO_XDP_F_BASIC);
	assert_features(&info, 0);
}

static void test_bridge(void **state)
{
	struct pso_nic_info info;

	query_ok(lab.bridge, &info);
	assert_string_equal(info.driver, "bridge");
	need_features(&info);
	assert_features(&info, 0);
}

static void test_dummy(void **state)
{
	struct pso_nic_info info;

	if (!lab.have_dummy) {
		print_message("    skipped: no dummy interface on this kernel (%s)\n", lab.dummy_why);
		skip();
	}
	query_ok(lab.dummy, &info);
	assert_string_equal(info.driver, "dummy");
	need_features(&info);
	assert_false(info.xdp_features & PSO_XDP_F_BASIC);
	assert_features(&info, 0);
}

/* The loopback device gives ethtool no driver info: "" is not an error. */
static void test_lo(void **state)
{
	struct pso_nic_info info;

	query_ok("lo", &info);
	assert_int_equal(info.ifindex, 1);
	assert_string_equal(info.driver, "");
	need_features(&info);
	assert_false(info.xdp_features & PSO_XDP_F_BASIC);
}

static void test_missing(void **state)
{
	struct pso_nic_info info;
	char name[IFNAMSIZ], want[64], err[256];

	snprintf(name, sizeof(name), "nnx%d", (int)getpid());
	snprintf(want, sizeof(want), "%s: no such interface", name);
	assert_int_equal(query(name, &info, err, sizeof(err)), -ENODEV);
	assert_string_equal(err, want);

	assert_int_equal(query("a-name-far-too-long-for-linux", &info, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a-name-far-too-long-for-linux: "));
}

/* The answer is the namespace's the caller is in: the lab's veth does not
 * exist outside it. */
static void test_other_namespace(void **state)
{
	struct pso_nic_info info;
	char want[64], err[256];

	snprintf(want, sizeof(want), "%s: no such interface", lab.veth_a);
	assert_int_equal(pso_nic_query(lab.veth_a, &info, err, sizeof(err)), -ENODEV);
	assert_string_equal(err, want);
}

static void test_features_str(void **state)
{
	char buf[128], small[12];

	assert_string_equal(pso_xdp_features_str(0, buf, sizeof(buf)), "none");
	assert_string_equal(pso_xdp_features_str(PSO_XDP_F_BASIC, buf, sizeof(buf)), "basic");
	assert_string_equal(pso_xdp_features_str(0x7f, buf, sizeof(buf)),
			    "basic,redirect,ndo-xmit,xsk-zerocopy,hw-offload,rx-sg,ndo-xmit-sg");
	assert_string_equal(pso_xdp_features_str(PSO_XDP_F_HW_OFFLOAD | (1ull << 9), buf, sizeof(buf)),
			    "hw-offload,bit9");
	/* Cut at a whole name, still terminated. */
	assert_string_equal(pso_xdp_features_str(0x7, small, sizeof(small)), "basic");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_str),
		cmocka_unit_test(test_veth),
		cmocka_unit_test(test_veth_ndo_xmit_with_peer_xdp),
		cmocka_unit_test(test_veth_ndo_xmit_with_peer_gro),
		cmocka_unit_test(test_macvlan),
		cmocka_unit_test(test_bridge),
		cmocka_unit_test(test_dummy),
		cmocka_unit_test(test_lo),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_other_namespace),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_nicinfo: needs root (network namespaces)\n");
		return 1;
	}
	return cmocka_run_group_tests_name("nicinfo", tests, setup, teardown);
}
