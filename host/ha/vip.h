/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * vip.h - a broker group's virtual addresses (--vip=ADDR/PREFIX@IFACE):
 * added to and removed from an interface with libnl-3 (rtnl addr), and
 * announced once added, so that the segment's neighbour caches point at
 * the broker that holds them now:
 *   IPv4  a gratuitous ARP request (sender and target the VIP, to the
 *         broadcast address), through a packet socket;
 *   IPv6  an unsolicited neighbour advertisement (RFC 4861 7.2.6: to
 *         ff02::1, Override set, the target's link-layer address), through
 *         an ICMPv6 raw socket.  The address is added without duplicate
 *         address detection (IFA_F_NODAD), so it is usable at once.
 *
 * The packet builders are separate from the sockets, for the unit tests.
 * Every function returns 0 or a negative errno, with one line in err.
 */
#ifndef PSO_HA_VIP_H
#define PSO_HA_VIP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

#define PSO_VIP_MAX 8		/* --vip addresses in one group */

struct pso_vip {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* IPv4 in the first 4 bytes */
	uint8_t prefix;
	char ifname[IF_NAMESIZE];
	bool held;		/* added by this broker, not yet removed */
};

/* "10.77.1.100/24@br0", "fd77:1::100/64@br0": 0, or -EINVAL with why. */
int pso_vip_parse(const char *text, struct pso_vip *v, char *why, size_t whylen);
/* A comma-separated list of those (at most PSO_VIP_MAX). */
int pso_vip_parse_list(const char *text, struct pso_vip *v, int cap, int *n, char *why,
		       size_t whylen);
/* "10.77.1.100/24@br0" */
const char *pso_vip_str(const struct pso_vip *v, char *buf, size_t len);

/* Add the address to its interface (an address there already counts as
 * added), then announce it; v->held.  lifetime_s (0: forever): the kernel
 * removes it when that runs out, unless pso_vip_refresh() gave it a new
 * one.  Remove it (absent already: 0). */
int pso_vip_add(struct pso_vip *v, unsigned int lifetime_s, char *err, size_t errlen);
int pso_vip_refresh(struct pso_vip *v, unsigned int lifetime_s, char *err, size_t errlen);
int pso_vip_remove(struct pso_vip *v, char *err, size_t errlen);
/* Announce an address the interface has (again). */
int pso_vip_announce(const struct pso_vip *v, char *err, size_t errlen);

/* ---- the announcements, built (for the sockets and the tests) ---- */

#define PSO_ARP_LEN 28		/* an Ethernet/IPv4 ARP packet, no Ethernet header */
/* A gratuitous ARP request for ip from mac: sender (mac, ip), target
 * (00:00:00:00:00:00, ip).  Returns PSO_ARP_LEN. */
size_t pso_garp_build(uint8_t *buf, const uint8_t mac[6], const uint8_t ip[4]);

#define PSO_UNA_LEN 32		/* ICMPv6 NA with one target link-layer option */
/* An unsolicited neighbour advertisement for target from mac: type 136,
 * code 0, flags Override (not Solicited, not Router), the target, option 2
 * (target link-layer address).  The checksum is left 0: the kernel fills
 * it in for an ICMPv6 raw socket.  Returns PSO_UNA_LEN. */
size_t pso_una_build(uint8_t *buf, const uint8_t mac[6], const uint8_t target[16]);

#endif /* PSO_HA_VIP_H */
