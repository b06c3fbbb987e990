/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * loadgen.h - what the load generator's BPF side (loadgen.bpf.c) and its
 * user side (loadgen.c) share: the frame layout of the sender timestamp and
 * the latency histogram's buckets.
 *
 * Every frame the injector sends is IPv4/UDP without options; the sender
 * timestamp (CLOCK_MONOTONIC ns, host byte order) and a magic word sit at
 * fixed frame offsets inside the MQTT-SN payload, which no broker rewrites,
 * so the sink finds them in every copy whatever headers the broker wrote.
 * Offsets are from the start of the Ethernet header: 42 bytes of headers,
 * then 7 (or 9, 3-byte length form) of MQTT-SN PUBLISH header, so the
 * payload starts at 49 or 51 and every payload of 64 bytes or more covers
 * 56..71.  (56 - 34) is even, so the timestamp's 16-bit words line up with
 * the UDP checksum's words.
 */
#ifndef PSO_BENCH_LOADGEN_H
#define PSO_BENCH_LOADGEN_H

#include <linux/types.h>

#define LG_TS_OFF	56
#define LG_MAGIC_OFF	64
#define LG_MAGIC	0x636e6562626f7370ULL	/* "psobbenc" */
/* Bytes of the template the injector writes back into every frame (the
 * receiving side rewrites headers in place, and live frames are recycled
 * without being reset): headers, MQTT-SN header, timestamp and magic. */
#define LG_TMPL_LEN	72
#define LG_UDP_CSUM_OFF	40	/* 14 + 20 + 6 */
#define LG_UDP_OFF	34

/*
 * Latency histogram: log-linear, 2^LG_SUB_BITS buckets per power of two.
 * Values below 2^LG_SUB_BITS ns have a bucket each; above, bucket =
 * (msb - LG_SUB_BITS + 1) * 2^LG_SUB_BITS + the LG_SUB_BITS bits below the
 * msb.  Relative bucket width 1/32: a percentile read off it is within about
 * 3 % of the true value.
 */
#define LG_SUB_BITS	5
#define LG_SUB		(1 << LG_SUB_BITS)
#define LG_MAX_MSB	40	/* ~18 minutes: anything above is clamped */
#define LG_HIST_BUCKETS	((LG_MAX_MSB - LG_SUB_BITS + 2) * LG_SUB)

/* Paced injection: lagging further than this behind the schedule, the
 * injector restarts it instead of sending the backlog at once. */
#define LG_PACE_SLACK_NS 20000ULL

/* Per-CPU counters of the sink besides the per-port table. */
enum lg_sink_counter {
	LG_SINK_PUBLISH = 0,	/* MQTT-SN PUBLISH frames counted and dropped */
	LG_SINK_STAMPED,	/* of those, carrying the magic: latency sampled */
	LG_SINK_PASSED,		/* anything else: up to the stack */
	LG_SINK_OTHER_TOPIC,	/* publishes of another topic than the point's */
	LG_SINK__MAX
};

/* Injector configuration (in the program's .data, written by user space). */
struct lg_inject_cfg {
	__u8 tmpl[LG_TMPL_LEN];	/* first bytes of the frame, timestamp zero */
	__u32 csum_base;	/* unfolded sum of the UDP checksum's words,
				 * pseudo header included, with the timestamp
				 * and the checksum field zero: native-order
				 * 16-bit loads, as the program adds the stamp */
	__u32 stamp;		/* 1: write timestamp, magic and checksum */
};

#endif /* PSO_BENCH_LOADGEN_H */
