/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * copy_desc.h - what a subscriber must receive of a forwarded publish, for
 * the packet suites (test_xdp_packets.c, test_tc_packets.c): the one rule
 * both check the data plane's copies against, written apart from it.
 */
#ifndef PSO_TESTS_COPY_DESC_H
#define PSO_TESTS_COPY_DESC_H

#include <arpa/inet.h>
#include <string.h>
#include "psoffload_abi.h"
#include "pkt.h"

/*
 * Turn the publish d into the copy for slot s: headers from the slot, the
 * source port the broker's (one port number on every interface), one hop
 * less of TTL, the PUBLISH flags copy_flags (unset: QoS 0, DUP and RETAIN
 * clear) with the TopicIdType of the slot's form and, for a short-form
 * slot, short_name_id (the topic's short name) in place of the topic id;
 * everything else as sent.  pkt_build() computes every checksum again.
 */
static inline void copy_desc(struct pkt_desc *d, const struct pso_sub *s, uint8_t copy_flags,
			     uint16_t broker_port, uint16_t short_name_id)
{
	uint8_t form = MQTTSN_TOPIC_NORMAL;

	if (s->flags & PSO_SUB_F_SHORT) {
		form = MQTTSN_TOPIC_SHORT;
		d->topic_id = short_name_id;
	} else if (s->flags & PSO_SUB_F_PREDEFINED) {
		form = MQTTSN_TOPIC_PREDEFINED;
	}
	d->pub_flags = copy_flags | form;
	memcpy(d->eth_dst, s->dst_mac, 6);
	memcpy(d->eth_src, s->src_mac, 6);
	memcpy(d->ip_src, s->src_addr, 16);
	memcpy(d->ip_dst, s->dst_addr, 16);
	d->ttl = d->ttl - 1;
	d->sport = broker_port;
	d->dport = ntohs(s->dst_port);
}

#endif /* PSO_TESTS_COPY_DESC_H */
