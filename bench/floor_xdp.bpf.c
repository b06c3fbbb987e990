// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * floor_xdp.bpf.c - reference points for the microbenchmark.
 *
 * floor_xdp: the least an XDP program can do to send an IPv4/UDP packet
 * back: bounds checks for Ethernet, IPv4 and UDP, then swap source and
 * destination at each layer and XDP_TX.  Swapping leaves both checksums
 * valid (the one's-complement sum does not depend on word order), so there
 * is no checksum work.  The fast path's cost over this is what parsing,
 * admission, table lookups, counting and the header rewrite add.
 *
 * tx_only: returns XDP_TX and nothing else; the cost of running any program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FLOOR_IPPROTO_UDP 17

SEC("xdp")
int floor_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	unsigned char mac[ETH_ALEN];
	__be32 addr;
	__be16 port;

	/* Fixed 20-byte IPv4 header: no options, as in the benchmark frame. */
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != FLOOR_IPPROTO_UDP)
		return XDP_PASS;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	return XDP_TX;
}

SEC("xdp")
int tx_only(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
