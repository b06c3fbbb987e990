// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * floor_tc.bpf.c - the fan-out floor: what any clone fan-out must do, and
 * nothing else, so that psoffload's TC fan-out can be stated as a fraction
 * of it (microbench (h)).
 *
 * For each of floor_cfg.n subscribers in the plain array floor_subs (the
 * same struct pso_sub slots, filled by the bench with the same subscriber
 * set as psoffload's): rewrite the headers for that subscriber - MACs, IP
 * addresses, UDP ports, the IP header checksum and the UDP checksum, both
 * incrementally (RFC 1624, psoffload_csum.h) - and send a copy with
 * bpf_clone_redirect.  The headers of each copy are derived from the
 * previous one's, and the last subscriber gets the original itself
 * (TC_ACT_REDIRECT): one clone fewer, as psoffload does.  The slots are
 * walked with bpf_loop, as psoffload walks them.
 *
 * Per copy, four helper calls: one store of the Ethernet header, the fixed
 * IPv4 header and the ports (38 contiguous bytes, the IP checksum computed
 * here), two UDP checksum updates (the addresses through the pseudo header,
 * the ports as data: the helpers keep the skb's checksum state right, which
 * a checksum written with the store would not for CHECKSUM_PARTIAL or
 * CHECKSUM_COMPLETE skbs), and the clone.
 *
 * What it omits, and psoffload must do: IPv6, IPv4 options and 802.1Q tags
 * (it passes such packets, and anything not UDP, untouched); parsing
 * MQTT-SN; admission of the publisher; the topic lookup (its subscriber set
 * is the whole array); the per-slot checks (servable, address family,
 * short-name and flag rewrites of the PUBLISH); the TTL decrement; shedding
 * a full port; counters and events; handing the original to the daemon.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "psoffload_abi.h"
#include "psoffload_csum.h"
#include "floor_tc.h"

#define FLOOR_IPPROTO_UDP 17

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct floor_cfg);
} floor_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FLOOR_MAX_SUBS);
	__type(key, __u32);
	__type(value, struct pso_sub);
} floor_subs SEC(".maps");

/* Ethernet, fixed IPv4 header and UDP ports, as they stand in the packet
 * (from eth on).  Two bytes in front put the IP header on a 4-byte boundary. */
struct floor_hdrs {
	__u16 pad;
	struct ethhdr eth;
	struct iphdr ip;
	__be16 ports[2];
};
_Static_assert(__builtin_offsetof(struct floor_hdrs, ip) == 16 &&
	       __builtin_offsetof(struct floor_hdrs, ports) == 2 + 14 + 20, "floor_hdrs: not the wire layout");
#define FLOOR_HDRS_LEN (sizeof(struct floor_hdrs) - 2)

#define FLOOR_PORTS_OFF (sizeof(struct ethhdr) + sizeof(struct iphdr))
#define FLOOR_UDP_CHECK_OFF (FLOOR_PORTS_OFF + offsetof(struct udphdr, check))

struct floor_fanout {
	struct __sk_buff *skb;
	struct floor_hdrs cur;
	__be16 broker_port;	/* source port of every copy */
	__u8 broken;
};

/* Move the packet's headers from f->cur to subscriber s. */
static __always_inline int floor_rewrite(struct floor_fanout *f, const struct pso_sub *s)
{
	struct floor_hdrs *h = &f->cur;
	__be16 old_ports[2] = { h->ports[0], h->ports[1] };
	__u32 addr_diff;

	addr_diff = pso_csum_words(0, (const __u16 *)&h->ip.saddr, (const __u16 *)s->src_addr, 2);
	addr_diff = pso_csum_words(addr_diff, (const __u16 *)&h->ip.daddr,
				   (const __u16 *)s->dst_addr, 2);
	h->ip.check = pso_csum_apply(h->ip.check, addr_diff);
	h->ip.saddr = *(const __u32 *)s->src_addr;
	h->ip.daddr = *(const __u32 *)s->dst_addr;
	__builtin_memcpy(h->eth.h_dest, s->dst_mac, ETH_ALEN);
	__builtin_memcpy(h->eth.h_source, s->src_mac, ETH_ALEN);
	h->ports[0] = f->broker_port;
	h->ports[1] = s->dst_port;

	if (bpf_skb_store_bytes(f->skb, 0, &h->eth, FLOOR_HDRS_LEN, 0) ||
	    bpf_l4_csum_replace(f->skb, FLOOR_UDP_CHECK_OFF, 0, addr_diff,
				BPF_F_MARK_MANGLED_0 | BPF_F_PSEUDO_HDR) ||
	    bpf_l4_csum_replace(f->skb, FLOOR_UDP_CHECK_OFF, *(__u32 *)old_ports,
				*(__u32 *)h->ports, BPF_F_MARK_MANGLED_0 | 4))
		return -1;
	return 0;
}

static long floor_copy(__u64 i, void *data)
{
	struct floor_fanout *f = data;
	__u32 k = (__u32)i;
	struct pso_sub *s = bpf_map_lookup_elem(&floor_subs, &k);

	if (!s)
		return 1;
	if (floor_rewrite(f, s)) {
		f->broken = 1;
		return 1;
	}
	bpf_clone_redirect(f->skb, s->ifindex, 0);
	return 0;
}

SEC("tc")
int floor_tc(struct __sk_buff *skb)
{
	struct floor_fanout f = { .skb = skb };
	struct floor_cfg *cfg;
	struct pso_sub *last;
	__u32 k = 0, n;

	cfg = bpf_map_lookup_elem(&floor_cfg, &k);
	if (!cfg || cfg->n == 0)
		return TC_ACT_OK;
	n = cfg->n;
	if (n > FLOOR_MAX_SUBS)
		n = FLOOR_MAX_SUBS;
	if (bpf_skb_load_bytes(skb, 0, &f.cur.eth, FLOOR_HDRS_LEN))
		return TC_ACT_OK;
	if (f.cur.eth.h_proto != bpf_htons(ETH_P_IP) || f.cur.ip.ihl != 5 ||
	    f.cur.ip.protocol != FLOOR_IPPROTO_UDP || skb->vlan_present)
		return TC_ACT_OK;
	/* Copies leave from the port the publish came to, as psoffload's. */
	f.broker_port = f.cur.ports[1];

	if (n > 1)
		bpf_loop(n - 1, floor_copy, &f, 0);
	if (f.broken)
		return TC_ACT_SHOT;
	k = n - 1;
	last = bpf_map_lookup_elem(&floor_subs, &k);
	if (!last || floor_rewrite(&f, last))
		return TC_ACT_SHOT;
	return bpf_redirect(last->ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
