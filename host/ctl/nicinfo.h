/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nicinfo.h - what a network interface is: its driver (ETHTOOL_GDRVINFO)
 * and its XDP feature flags (generic netlink family "netdev",
 * NETDEV_A_DEV_XDP_FEATURES, Linux 6.3+), read with libnl-genl.
 */
#ifndef PSO_NICINFO_H
#define PSO_NICINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

/* enum netdev_xdp_act of <linux/netdev.h> (not in Debian 12's headers). */
#define PSO_XDP_F_BASIC		(1u << 0)	/* XDP_PASS/DROP/TX/ABORTED */
#define PSO_XDP_F_REDIRECT	(1u << 1)	/* XDP_REDIRECT from this device */
#define PSO_XDP_F_NDO_XMIT	(1u << 2)	/* can be a redirect target */
#define PSO_XDP_F_XSK_ZEROCOPY	(1u << 3)
#define PSO_XDP_F_HW_OFFLOAD	(1u << 4)
#define PSO_XDP_F_RX_SG		(1u << 5)
#define PSO_XDP_F_NDO_XMIT_SG	(1u << 6)

struct pso_nic_info {
	char name[IF_NAMESIZE];
	int ifindex;
	char driver[32];	/* "veth", "nfp", ...; "" when ethtool gives none (lo) */
	bool features_known;	/* false: no "netdev" genl family (< 6.3) */
	uint64_t xdp_features;	/* PSO_XDP_F_* */
};

/* 0, or -errno with one line in err (e.g. "eth9: no such interface").
 * Answers for the caller's network namespace.  A kernel without the
 * "netdev" genl family is not an error: features_known is then false. */
int pso_nic_query(const char *ifname, struct pso_nic_info *out, char *err, size_t errlen);

/* "basic,redirect,ndo-xmit" (kernel names, unknown bits as "bitN"); "none"
 * for 0; cut at a whole name when buf is short.  Returns buf. */
const char *pso_xdp_features_str(uint64_t features, char *buf, size_t len);

#endif /* PSO_NICINFO_H */
