// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nicinfo.c - what a network interface is: its driver and its XDP features.
 *
 * The driver comes from the ethtool ioctl (ETHTOOL_GDRVINFO) on a datagram
 * socket, which answers for the namespace the socket was made in.  The XDP
 * features come from the generic netlink family "netdev" (Linux 6.3+), asked
 * with libnl-genl; on older kernels the family does not exist, and the
 * caller learns what works by trying.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>

#include "ctl/nicinfo.h"

/*
 * From include/uapi/linux/netdev.h (Linux 6.3+, generated from
 * Documentation/netlink/specs/netdev.yaml), which Debian 12's headers lack.
 * Only what is used here; later kernels add attributes after these, which
 * nla_parse() skips.
 */
#define PSO_NETDEV_FAMILY_NAME		"netdev"
#define PSO_NETDEV_CMD_DEV_GET		1
#define PSO_NETDEV_A_DEV_IFINDEX	1	/* u32 */
#define PSO_NETDEV_A_DEV_PAD		2
#define PSO_NETDEV_A_DEV_XDP_FEATURES	3	/* u64, enum netdev_xdp_act */
#define PSO_NETDEV_A_DEV_XDP_ZC_MAX_SEGS 4	/* u32 */
#define PSO_NETDEV_A_DEV_MAX		PSO_NETDEV_A_DEV_XDP_ZC_MAX_SEGS

/* The kernel's names for enum netdev_xdp_act, bit by bit (as ynl prints). */
static const char *const xdp_feature_names[] = {
	"basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg",
};

const char *pso_xdp_features_str(uint64_t features, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	if (!features) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (unsigned int bit = 0; bit < 64; bit++) {
		char unknown[16];
		const char *name;
		int n;

		if (!(features & (1ull << bit)))
			continue;
		if (bit < sizeof(xdp_feature_names) / sizeof(xdp_feature_names[0])) {
			name = xdp_feature_names[bit];
		} else {
			snprintf(unknown, sizeof(unknown), "bit%u", bit);
			name = unknown;
		}
		n = (off ? 1 : 0) + (int)strlen(name);
		if ((size_t)n >= len - off)
			break;	/* no room: cut at a whole name */
		snprintf(buf + off, len - off, "%s%s", off ? "," : "", name);
		off += n;
	}
	return buf;
}

/* The driver's name, "" when the device has none to give (lo). */
static int query_driver(const char *ifname, char *driver, size_t len, char *err, size_t errlen)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr;
	int fd, ret = 0;

	/* Any datagram socket carries the ioctl; AF_UNIX in case IPv4 is
	 * compiled out. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: socket for ethtool: %s", ifname, strerror(errno));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	driver[0] = '\0';
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
		size_t n = strnlen(info.driver, sizeof(info.driver));

		if (n >= len)
			n = len - 1;
		memcpy(driver, info.driver, n);
		driver[n] = '\0';
	} else if (errno != EOPNOTSUPP) {
		ret = -errno;
		if (errno == ENODEV)
			snprintf(err, errlen, "%s: no such interface", ifname);
		else
			snprintf(err, errlen, "%s: ethtool driver info: %s", ifname, strerror(errno));
	}
	close(fd);
	return ret;
}

struct dev_get_reply {
	int ifindex;
	bool found;
	uint64_t features;
};

static int dev_get_valid(struct nl_msg *msg, void *arg)
{
	static struct nla_policy policy[PSO_NETDEV_A_DEV_MAX + 1] = {
		[PSO_NETDEV_A_DEV_IFINDEX] = { .type = NLA_U32 },
		[PSO_NETDEV_A_DEV_XDP_FEATURES] = { .type = NLA_U64 },
	};
	struct nlattr *tb[PSO_NETDEV_A_DEV_MAX + 1];
	struct dev_get_reply *r = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, PSO_NETDEV_A_DEV_MAX, policy) < 0)
		return NL_SKIP;
	if (!tb[PSO_NETDEV_A_DEV_IFINDEX] ||
	    (int)nla_get_u32(tb[PSO_NETDEV_A_DEV_IFINDEX]) != r->ifindex)
		return NL_SKIP;
	r->found = true;
	r->features = tb[PSO_NETDEV_A_DEV_XDP_FEATURES] ?
		      nla_get_u64(tb[PSO_NETDEV_A_DEV_XDP_FEATURES]) : 0;
	return NL_OK;
}

/* NETDEV_CMD_DEV_GET for one device.  *known stays false (and 0 is
 * returned) when the kernel has no "netdev" family. */
static int query_xdp_features(const char *ifname, int ifindex, bool *known, uint64_t *features,
			      char *err, size_t errlen)
{
	struct dev_get_reply reply = { .ifindex = ifindex };
	struct nl_sock *sk;
	struct nl_msg *msg = NULL;
	int family, nerr, ret = 0;

	*known = false;
	*features = 0;
	sk = nl_socket_alloc();
	if (!sk) {
		snprintf(err, errlen, "%s: netlink socket: out of memory", ifname);
		return -ENOMEM;
	}
	nerr = genl_connect(sk);
	if (nerr < 0) {
		snprintf(err, errlen, "%s: generic netlink: %s", ifname, nl_geterror(nerr));
		ret = -EIO;
		goto cleanup;
	}
	family = genl_ctrl_resolve(sk, PSO_NETDEV_FAMILY_NAME);
	if (family == -NLE_OBJ_NOTFOUND)
		goto cleanup;	/* before 6.3: unknown, not an error */
	if (family < 0) {
		snprintf(err, errlen, "%s: resolving genl family \"netdev\": %s", ifname,
			 nl_geterror(family));
		ret = -EIO;
		goto cleanup;
	}

	msg = nlmsg_alloc();
	if (!msg ||
	    !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, PSO_NETDEV_CMD_DEV_GET, 1) ||
	    nla_put_u32(msg, PSO_NETDEV_A_DEV_IFINDEX, ifindex) < 0) {
		snprintf(err, errlen, "%s: building netdev dev-get: out of memory", ifname);
		ret = -ENOMEM;
		goto cleanup;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, dev_get_valid, &reply);
	/* Sends with NLM_F_ACK and reads until the ack: the reply goes
	 * through dev_get_valid() on the way; a kernel error comes back here. */
	nerr = nl_send_sync(sk, msg);
	msg = NULL;	/* nl_send_sync() frees it */
	if (nerr < 0) {
		if (nerr == -NLE_OBJ_NOTFOUND || nerr == -NLE_NODEV) {
			snprintf(err, errlen, "%s: no such interface", ifname);
			ret = -ENODEV;
		} else {
			snprintf(err, errlen, "%s: netdev dev-get: %s", ifname, nl_geterror(nerr));
			ret = -EIO;
		}
		goto cleanup;
	}
	if (!reply.found) {
		snprintf(err, errlen, "%s: netdev dev-get: no answer for ifindex %d", ifname, ifindex);
		ret = -EIO;
		goto cleanup;
	}
	*known = true;
	*features = reply.features;
cleanup:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return ret;
}

int pso_nic_query(const char *ifname, struct pso_nic_info *out, char *err, size_t errlen)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE) {
		snprintf(err, errlen, "%s: not a valid interface name", ifname ? ifname : "(null)");
		return -EINVAL;
	}
	snprintf(out->name, sizeof(out->name), "%s", ifname);
	out->ifindex = (int)if_nametoindex(ifname);
	if (!out->ifindex) {
		ret = -errno;
		if (errno == ENODEV || errno == ENXIO)
			snprintf(err, errlen, "%s: no such interface", ifname);
		else
			snprintf(err, errlen, "%s: %s", ifname, strerror(errno));
		return ret ? ret : -ENODEV;
	}
	ret = query_driver(ifname, out->driver, sizeof(out->driver), err, errlen);
	if (ret)
		return ret;
	return query_xdp_features(ifname, out->ifindex, &out->features_known, &out->xdp_features,
				  err, errlen);
}
