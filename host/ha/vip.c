// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * vip.c - virtual addresses: parse, add and remove (libnl-3 rtnl addr),
 * announce (gratuitous ARP, unsolicited neighbour advertisement).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/icmp6.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include "ha/vip.h"

/* ---- text ---------------------------------------------------------------------- */

int pso_vip_parse(const char *text, struct pso_vip *v, char *why, size_t whylen)
{
	char buf[INET6_ADDRSTRLEN + 8 + IF_NAMESIZE];
	char *at, *slash, *end;
	unsigned long prefix;
	size_t n = strcspn(text, ",");

	memset(v, 0, sizeof(*v));
	if (n >= sizeof(buf))
		goto bad;
	memcpy(buf, text, n);
	buf[n] = '\0';
	at = strchr(buf, '@');
	slash = strchr(buf, '/');
	if (!at || !slash || slash > at || !at[1] || strlen(at + 1) >= IF_NAMESIZE)
		goto bad;
	*at = *slash = '\0';
	snprintf(v->ifname, sizeof(v->ifname), "%s", at + 1);
	errno = 0;
	prefix = strtoul(slash + 1, &end, 10);
	if (end == slash + 1 || *end || errno)
		goto bad;
	if (inet_pton(AF_INET, buf, v->addr) == 1) {
		v->family = AF_INET;
		if (prefix < 1 || prefix > 32)
			goto bad;
	} else if (inet_pton(AF_INET6, buf, v->addr) == 1) {
		v->family = AF_INET6;
		if (prefix < 1 || prefix > 128)
			goto bad;
	} else {
		goto bad;
	}
	v->prefix = (uint8_t)prefix;
	return 0;
bad:
	snprintf(why, whylen, "use ADDRESS/PREFIX@IFACE, e.g. 10.77.1.100/24@eth0 or "
		 "fd77:1::100/64@eth0");
	return -EINVAL;
}

int pso_vip_parse_list(const char *text, struct pso_vip *v, int cap, int *n, char *why,
		       size_t whylen)
{
	const char *p = text;
	int ret;

	*n = 0;
	for (;;) {
		if (*n == cap) {
			snprintf(why, whylen, "at most %d addresses", cap);
			return -EINVAL;
		}
		ret = pso_vip_parse(p, &v[*n], why, whylen);
		if (ret)
			return ret;
		for (int i = 0; i < *n; i++)
			if (v[i].family == v[*n].family && !memcmp(v[i].addr, v[*n].addr, 16)) {
				snprintf(why, whylen, "an address given twice");
				return -EINVAL;
			}
		(*n)++;
		p += strcspn(p, ",");
		if (!*p)
			return 0;
		p++;
	}
}

const char *pso_vip_str(const struct pso_vip *v, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(v->family, v->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u@%s", a, v->prefix, v->ifname);
	return buf;
}

/* ---- the packets --------------------------------------------------------------- */

size_t pso_garp_build(uint8_t *buf, const uint8_t mac[6], const uint8_t ip[4])
{
	struct arphdr *h = (struct arphdr *)buf;
	uint8_t *p = buf + sizeof(*h);

	h->ar_hrd = htons(ARPHRD_ETHER);
	h->ar_pro = htons(ETH_P_IP);
	h->ar_hln = 6;
	h->ar_pln = 4;
	/* A request, not a reply: every implementation updates an entry it
	 * has from a request's sender fields (RFC 5227 3: ARP Announcement). */
	h->ar_op = htons(ARPOP_REQUEST);
	memcpy(p, mac, 6);
	memcpy(p + 6, ip, 4);
	memset(p + 10, 0, 6);
	memcpy(p + 16, ip, 4);
	return PSO_ARP_LEN;
}

size_t pso_una_build(uint8_t *buf, const uint8_t mac[6], const uint8_t target[16])
{
	memset(buf, 0, PSO_UNA_LEN);
	buf[0] = ND_NEIGHBOR_ADVERT;
	buf[1] = 0;
	/* bytes 2-3: the checksum, the kernel's (raw ICMPv6 sockets) */
	/* Override: the receivers replace the link-layer address they have;
	 * not Solicited (nobody asked), not Router. */
	buf[4] = 0x20;
	memcpy(buf + 8, target, 16);
	buf[24] = ND_OPT_TARGET_LINKADDR;
	buf[25] = 1;		/* length in units of 8 bytes */
	memcpy(buf + 26, mac, 6);
	return PSO_UNA_LEN;
}

/* ---- the interface ------------------------------------------------------------- */

static int link_mac(const char *ifname, uint8_t mac[6], char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", ifname, strerror(errno));
		return -errno;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot read its MAC address: %s", ifname, strerror(errno));
	} else if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		ret = -EAFNOSUPPORT;
		snprintf(err, errlen, "%s: not an Ethernet link: cannot announce an address", ifname);
	} else {
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	}
	close(fd);
	return ret;
}

static int send_garp(int ifindex, const uint8_t mac[6], const uint8_t ip[4], char *err,
		     size_t errlen)
{
	struct sockaddr_ll to = {
		.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
		.sll_ifindex = ifindex, .sll_halen = 6,
		.sll_addr = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	};
	uint8_t pkt[PSO_ARP_LEN];
	size_t len = pso_garp_build(pkt, mac, ip);
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)), ret = 0;

	if (fd < 0) {
		snprintf(err, errlen, "packet socket: %s", strerror(errno));
		return -errno;
	}
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len) {
		ret = -errno;
		snprintf(err, errlen, "gratuitous ARP: %s", strerror(errno));
	}
	close(fd);
	return ret;
}

static int send_una(int ifindex, const uint8_t mac[6], const uint8_t target[16], char *err,
		    size_t errlen)
{
	struct sockaddr_in6 to = {
		.sin6_family = AF_INET6, .sin6_scope_id = (uint32_t)ifindex,
		.sin6_addr = { .s6_addr = { 0xff, 0x02, [15] = 0x01 } },	/* all nodes */
	};
	uint8_t pkt[PSO_UNA_LEN];
	size_t len = pso_una_build(pkt, mac, target);
	/* RFC 4861 7.1.2: a receiver drops an NA whose hop limit is not 255. */
	int hops = 255, fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6), ret = 0;

	if (fd < 0) {
		snprintf(err, errlen, "ICMPv6 socket: %s", strerror(errno));
		return -errno;
	}
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) ||
	    sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len) {
		ret = -errno;
		snprintf(err, errlen, "unsolicited neighbour advertisement: %s", strerror(errno));
	}
	close(fd);
	return ret;
}

int pso_vip_announce(const struct pso_vip *v, char *err, size_t errlen)
{
	int ifindex = (int)if_nametoindex(v->ifname);
	uint8_t mac[6];
	int ret;

	if (!ifindex) {
		snprintf(err, errlen, "%s: no such interface", v->ifname);
		return -ENODEV;
	}
	ret = link_mac(v->ifname, mac, err, errlen);
	if (ret)
		return ret;
	if (v->family == AF_INET)
		return send_garp(ifindex, mac, v->addr, err, errlen);
	return send_una(ifindex, mac, v->addr, err, errlen);
}

/* The rtnl address of v (local address and prefix on its interface). */
static int vip_rtnl(const struct pso_vip *v, struct rtnl_addr **out, char *err, size_t errlen)
{
	int ifindex = (int)if_nametoindex(v->ifname);
	struct rtnl_addr *a;
	struct nl_addr *local;

	if (!ifindex) {
		snprintf(err, errlen, "%s: no such interface", v->ifname);
		return -ENODEV;
	}
	a = rtnl_addr_alloc();
	local = nl_addr_build(v->family, v->addr, v->family == AF_INET ? 4 : 16);
	if (!a || !local) {
		rtnl_addr_put(a);
		nl_addr_put(local);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	nl_addr_set_prefixlen(local, v->prefix);
	rtnl_addr_set_ifindex(a, ifindex);
	rtnl_addr_set_family(a, v->family);
	rtnl_addr_set_local(a, local);
	rtnl_addr_set_prefixlen(a, v->prefix);
	nl_addr_put(local);
	*out = a;
	return 0;
}

static struct nl_sock *route_sock(char *err, size_t errlen)
{
	struct nl_sock *sk = nl_socket_alloc();
	int nerr;

	if (!sk) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	nerr = nl_connect(sk, NETLINK_ROUTE);
	if (nerr) {
		snprintf(err, errlen, "netlink: %s", nl_geterror(nerr));
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

/* Add v, or give the one there a new lifetime (NLM_F_REPLACE). */
static int vip_put(struct pso_vip *v, unsigned int lifetime_s, char *err, size_t errlen)
{
	struct rtnl_addr *a = NULL;
	struct nl_sock *sk;
	char s[96];
	int ret, nerr;

	ret = vip_rtnl(v, &a, err, errlen);
	if (ret)
		return ret;
	sk = route_sock(err, errlen);
	if (!sk) {
		rtnl_addr_put(a);
		return -EIO;
	}
	/* Usable at once: no duplicate address detection (the lease, not
	 * DAD, says who holds it). */
	if (v->family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	/* The kernel removes it by itself when the lifetime runs out: a
	 * leader killed with no time to remove it holds it no longer than
	 * its lease. */
	if (lifetime_s) {
		rtnl_addr_set_valid_lifetime(a, lifetime_s);
		rtnl_addr_set_preferred_lifetime(a, lifetime_s);
	}
	nerr = rtnl_addr_add(sk, a, NLM_F_REPLACE);
	rtnl_addr_put(a);
	nl_socket_free(sk);
	if (nerr && nerr != -NLE_EXIST) {
		snprintf(err, errlen, "cannot add %s: %s", pso_vip_str(v, s, sizeof(s)),
			 nl_geterror(nerr));
		return -EIO;
	}
	v->held = true;
	return 0;
}

int pso_vip_add(struct pso_vip *v, unsigned int lifetime_s, char *err, size_t errlen)
{
	int ret = vip_put(v, lifetime_s, err, errlen);

	return ret ? ret : pso_vip_announce(v, err, errlen);
}

int pso_vip_refresh(struct pso_vip *v, unsigned int lifetime_s, char *err, size_t errlen)
{
	return vip_put(v, lifetime_s, err, errlen);
}

int pso_vip_remove(struct pso_vip *v, char *err, size_t errlen)
{
	struct rtnl_addr *a = NULL;
	struct nl_sock *sk;
	char s[96];
	int ret, nerr;

	ret = vip_rtnl(v, &a, err, errlen);
	if (ret)
		return ret;
	sk = route_sock(err, errlen);
	if (!sk) {
		rtnl_addr_put(a);
		return -EIO;
	}
	nerr = rtnl_addr_delete(sk, a, 0);
	rtnl_addr_put(a);
	nl_socket_free(sk);
	if (nerr && nerr != -NLE_NOADDR && nerr != -NLE_OBJ_NOTFOUND && nerr != -NLE_NODEV) {
		snprintf(err, errlen, "cannot remove %s: %s", pso_vip_str(v, s, sizeof(s)),
			 nl_geterror(nerr));
		return -EIO;
	}
	v->held = false;
	return 0;
}
