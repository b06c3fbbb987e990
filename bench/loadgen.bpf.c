// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * loadgen.bpf.c - the load generator's kernel side.
 *
 * inject: run by BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (as
 * xdp-trafficgen does) with the generator's veth as the ingress device;
 * XDP_TX there transmits the frame out of that veth, i.e. into the broker's
 * receive ring.  Live frames are recycled without being reset, and the
 * broker side rewrites headers in place (XDP_TX, TC), so the program writes
 * the template back into every frame, then stamps it.  Paced, it is its
 * own clock: one long test run calls it back to back, and it sends a frame
 * only when the next one is due (else XDP_DROP, which just recycles the
 * page), because each test run of more than one frame costs tens of ms
 * (the kernel switches its XDP dispatcher and waits for RCU), far too much
 * to pace from user space.
 *
 * sink: attached in native mode to the subscriber-side veth.  Counts every
 * MQTT-SN PUBLISH per destination UDP port (one port per subscriber) in a
 * per-CPU table, samples the one-way latency of stamped frames into a
 * histogram, and drops the frame; anything else (CONNACK, SUBACK, TCP of
 * the other brokers, ARP) passes up untouched.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "loadgen.h"

#define MQTTSN_PUBLISH_TYPE 0x0C

/* Written by user space between runs (the skeleton maps .bss). */
struct lg_inject_cfg inject_cfg = {};
/* Paced sending: ns between frames (0: flat out), and when the next is due. */
__u64 pace_interval_ns = 0;
__u64 pace_next_ns = 0;
/* 1: the sink passes publishes up instead of dropping them (sockets). */
__u32 sink_pass = 0;
/* Non-zero: count only publishes to this topic id (the point being
 * measured); a broker still working off another topic's backlog must not
 * count for this one.  Others are dropped and counted apart. */
__u32 sink_topic = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} sink_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LG_HIST_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} sink_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LG_SINK__MAX);
	__type(key, __u32);
	__type(value, __u64);
} sink_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} inject_count SEC(".maps");

static __always_inline void bump(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		*v += 1;
}

static __always_inline __u32 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	return (sum & 0xffff) + (sum >> 16);
}

SEC("xdp")
int inject(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 ts;
	__u32 sum;
	__u16 check;

	if (data + LG_TMPL_LEN > data_end)
		return XDP_ABORTED;
	if (pace_interval_ns) {
		ts = bpf_ktime_get_ns();
		if (ts < pace_next_ns)
			return XDP_DROP;
		/* Behind by more than a short burst (preempted): start afresh
		 * rather than catch up with a flood.  Only this one CPU runs it. */
		pace_next_ns = ts - pace_next_ns > LG_PACE_SLACK_NS ? ts + pace_interval_ns :
			       pace_next_ns + pace_interval_ns;
	}
	__builtin_memcpy(data, inject_cfg.tmpl, LG_TMPL_LEN);
	if (inject_cfg.stamp) {
		/* The stamp's words join the precomputed sum: loaded and stored in
		 * the same (native) order, so the one's-complement sum is right. */
		ts = bpf_ktime_get_ns();
		sum = inject_cfg.csum_base + (__u32)(ts & 0xffff) + (__u32)((ts >> 16) & 0xffff) +
		      (__u32)((ts >> 32) & 0xffff) + (__u32)(ts >> 48);
		check = ~fold(sum);
		/* 0 would mean "no checksum": its one's-complement twin. */
		*(__u16 *)(data + LG_UDP_CSUM_OFF) = check ? check : 0xffff;
		*(__u64 *)(data + LG_TS_OFF) = ts;
	}
	bump(&inject_count, 0);
	return XDP_TX;
}

/* Bucket of a latency in ns; see loadgen.h.  Loop-free msb by halving. */
static __always_inline __u32 hist_bucket(__u64 v)
{
	__u32 msb = 0;
	__u64 x = v;

	if (v < LG_SUB)
		return v;
	if (x >> 32) { x >>= 32; msb += 32; }
	if (x >> 16) { x >>= 16; msb += 16; }
	if (x >> 8) { x >>= 8; msb += 8; }
	if (x >> 4) { x >>= 4; msb += 4; }
	if (x >> 2) { x >>= 2; msb += 2; }
	if (x >> 1) { msb += 1; }
	if (msb > LG_MAX_MSB)
		return LG_HIST_BUCKETS - 1;
	return (msb - LG_SUB_BITS + 1) * LG_SUB + ((v >> (msb - LG_SUB_BITS)) & (LG_SUB - 1));
}

SEC("xdp")
int sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;
	__u8 *m;
	__u8 type;
	__u16 topic;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP)
		goto pass;
	udp = (void *)ip + ip->ihl * 4;
	m = (__u8 *)(udp + 1);
	if ((void *)(m + 7) > data_end)
		goto pass;
	/* MsgType follows the 1-byte length, or the 3-byte form 0x01 LL LL;
	 * then flags and the topic id. */
	if (m[0] == 0x01) {
		type = m[3];
		topic = (__u16)m[5] << 8 | m[6];
	} else {
		type = m[1];
		topic = (__u16)m[3] << 8 | m[4];
	}
	if (type != MQTTSN_PUBLISH_TYPE)
		goto pass;
	if (sink_topic && topic != sink_topic) {
		bump(&sink_counters, LG_SINK_OTHER_TOPIC);
		return sink_pass ? XDP_PASS : XDP_DROP;
	}
	bump(&sink_ports, bpf_ntohs(udp->dest));
	bump(&sink_counters, LG_SINK_PUBLISH);
	if (data + LG_MAGIC_OFF + 8 <= data_end && ip->ihl == 5 &&
	    *(__u64 *)(data + LG_MAGIC_OFF) == LG_MAGIC) {
		__u64 sent = *(__u64 *)(data + LG_TS_OFF), now = bpf_ktime_get_ns();

		bump(&sink_hist, hist_bucket(now > sent ? now - sent : 0));
		bump(&sink_counters, LG_SINK_STAMPED);
	}
	return sink_pass ? XDP_PASS : XDP_DROP;
pass:
	bump(&sink_counters, LG_SINK_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
