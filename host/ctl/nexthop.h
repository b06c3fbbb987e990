/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * nexthop.h - where a subscriber is reached: egress interface and next-hop
 * MAC, from the kernel's routes and neighbours (libnl-route), followed as
 * they change through a cache manager.
 *
 * A pso_nh belongs to the network namespace of the thread that opened it
 * (its netlink sockets stay there); the calling thread may move afterwards.
 * It is not thread-safe: use one pso_nh from one thread, the one that polls
 * pso_nh_fd().
 */
#ifndef PSO_NEXTHOP_H
#define PSO_NEXTHOP_H

#include <stdbool.h>
#include <stdint.h>

struct pso_nh;

struct pso_nexthop {
	int ifindex;		/* egress interface */
	bool resolved;		/* mac is valid */
	bool failed;		/* unresolved: the last attempt got no answer
				 * (NUD_FAILED); this lookup started another */
	uint8_t mac[6];		/* next-hop (gateway or the host itself) MAC */
	int nh_family;		/* AF_INET/AF_INET6 of nh_addr (a route may
				 * reach an IPv4 host via an IPv6 gateway) */
	uint8_t nh_addr[16];	/* the neighbour looked up: gateway or addr */
};

struct pso_link_info {
	int ifindex;
	char name[16];
	bool up;		/* IFF_UP and operationally up (IFF_RUNNING:
				 * carrier, not dormant) */
	unsigned int mtu;
	uint8_t mac[6];
	bool has_ip4, has_ip6;
	uint8_t ip4[4];		/* first primary IPv4 address of the link */
	uint8_t ip6[16];	/* first global IPv6 address of the link */
};

/* Called (from pso_nh_process) after routes, rules, addresses or links
 * changed, or a neighbour became resolved, unresolved, changed its MAC or
 * failed resolution; the daemon then re-resolves its subscribers.  A
 * neighbour merely aging between REACHABLE, STALE, DELAY and PROBE with the
 * same MAC is not a change.  pso_nh_lookup() may be called from it. */
typedef void (*pso_nh_change_fn)(void *ctx);

int pso_nh_open(struct pso_nh **nh, pso_nh_change_fn fn, void *ctx);
void pso_nh_close(struct pso_nh *nh);
/* Readable when changes are pending: poll it and call pso_nh_process(). */
int pso_nh_fd(const struct pso_nh *nh);
/* Apply pending changes to the caches, then call fn once if any mattered.
 * Returns 0 or a negative errno.  When the kernel dropped notifications
 * (receive buffer overrun) the caches are refilled and fn is called. */
int pso_nh_process(struct pso_nh *nh);

/* Route addr (family AF_INET/AF_INET6; IPv4 in the first 4 bytes) as the
 * kernel would (RTM_GETROUTE: policy routing included) and find its next
 * hop.  When the neighbour is not known, resolution is triggered (as `ip
 * neigh ... use`) and resolved is false; fn fires once it resolves or fails.
 * A neighbour that failed again after a retry is no news: fn does not fire,
 * so re-resolving on every callback cannot loop.
 * A STALE neighbour is returned as resolved and re-confirmed in the
 * background, since traffic forwarded in XDP never confirms it.
 * Returns 0, or
 *   -ENETUNREACH    no route (or an unreachable/prohibit/blackhole route)
 *   -EADDRNOTAVAIL  addr is local (or broadcast/multicast/anycast): deliver
 *                   through the socket, not the data plane
 *   -EOPNOTSUPP     the egress link is not Ethernet (no 6-byte MAC)
 *   -EAFNOSUPPORT   family is neither AF_INET nor AF_INET6
 *   other negative errno on netlink failure. */
int pso_nh_lookup(struct pso_nh *nh, int family, const uint8_t addr[16],
		  struct pso_nexthop *out);
/* The same with the egress interface given (0: any), as `ip route get ADDR
 * oif DEV`: an IPv6 link-local address means something only on one link,
 * so pass the interface the client was heard on. */
int pso_nh_lookup_dev(struct pso_nh *nh, int family, const uint8_t addr[16],
		      int ifindex, struct pso_nexthop *out);

/* From the caches; -ENODEV when ifindex is not known.  An address made
 * preferred (pso_nh_prefer) is the link's address while the link has it. */
int pso_nh_link(struct pso_nh *nh, int ifindex, struct pso_link_info *out);

/* A broker group's virtual address (ha/): while a link has it, it is the
 * address pso_nh_link() gives, so the data plane serves and sends from it.
 * At most PSO_NH_PREFER_MAX; the same one again is no change. */
#define PSO_NH_PREFER_MAX 8
int pso_nh_prefer(struct pso_nh *nh, int family, const uint8_t addr[16]);

#endif /* PSO_NEXTHOP_H */
