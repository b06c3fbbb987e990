// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * psoffload_tc.bpf.c - the fan-out path (clsact ingress, host only).
 *
 * XDP cannot clone, so a publish with several subscribers, or with one the
 * XDP program could not serve, is passed up and lands here.  For every live
 * subscriber slot the headers are rewritten for that subscriber and a copy
 * is sent with bpf_clone_redirect; the headers of each copy are derived from
 * the previous one's, so one rewrite per copy suffices.  A topic's slots are
 * its run of the subscriber pool (struct pso_run: `cur`, then that half's
 * base and cap), walked with bpf_loop; empty slots (family 0) are skipped,
 * so a removal leaves a hole instead of moving a subscriber.  A short
 * backward scan first finds the run's last non-empty slot, which is
 * handled apart (below) and ends the walk.  The original is
 * consumed, unless the daemon needs it: a RETAIN publish (the daemon keeps
 * it), a slot the data plane may not serve, or a topic with subscribers
 * beyond its slots (PSO_TOPIC_F_HOST; the daemon delivers to those).
 * Each copy carries the PUBLISH flags its subscriber must get
 * (pso_copy_flags: QoS 0, DUP and RETAIN clear, the slot's topic-id form)
 * and, for a subscriber that knows the topic by its short name, that name
 * in the topic-id field; both are rewritten only when they differ from the
 * previous copy's.  Every copy's TTL / hop limit is one less than the
 * publish came with (pso_fwd_ttl; admission refused 1 and 0).  Before going
 * up, the original's headers and flags are restored; otherwise the
 * original itself is the last copy.  Overload: once a port's queue refuses
 * a copy, the publish's remaining slots on that port are skipped
 * (tc_copy_shed) instead of cloned, rewritten and thrown away.
 *
 * Per packet: parse, admit (XDP's rule, pso_admit in psoffload_admit.h,
 * with TC's side from psoffload_ctx_skb.h), look up the slots, rewrite and
 * send each copy, count.  Every exit goes through pso_exit()
 * (psoffload_lookup.h), which counts the outcome and reports a drop
 * (psoffload_events.h); the copies not made are reported where they are
 * counted, pso_tc_count_copies().
 */
/* This program's context, for psoffload_ctx.h. */
#define PSO_CTX_SKB

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "psoffload_abi.h"
#include "psoffload_maps.h"
#include "psoffload_lookup.h"
#include "psoffload_parse.h"
#include "psoffload_admit.h"
#include "psoffload_csum.h"


static __always_inline __u32 pso_pub_word(__u8 flags, __u8 topic_hi, __u8 topic_lo)
{
	__u8 w[4] = { flags, topic_hi, topic_lo, 0 };	/* wire order */

	return *(__u32 *)w;
}

/* Byte offsets of the fields the rewrite touches. */
struct pso_offsets {
	__u32 ports;		/* source, dest back to back */
	__u32 udp_check;
};

static __always_inline void pso_read_hdrs(const struct pso_pkt *p, struct pso_hdrs *h,
					  struct pso_offsets *off)
{
	__builtin_memcpy(h->sub.dst_mac, p->eth->h_dest, ETH_ALEN);
	__builtin_memcpy(h->sub.src_mac, p->eth->h_source, ETH_ALEN);
	h->src_port = p->udp->source;
	h->sub.dst_port = p->udp->dest;
	h->sub.family = p->family;
	h->pub = pso_pub_word(p->pub_flags, p->topic_id >> 8, p->topic_id & 0xff);
	if (p->family == PSO_AF_INET) {
		struct iphdr *ip = p->l3;

		*(__u32 *)h->sub.src_addr = ip->saddr;
		*(__u32 *)h->sub.dst_addr = ip->daddr;
		h->ttl = ip->ttl;
	} else {
		struct ipv6hdr *ip6 = p->l3;

		__builtin_memcpy(h->sub.src_addr, &ip6->saddr, 16);
		__builtin_memcpy(h->sub.dst_addr, &ip6->daddr, 16);
		h->ttl = ip6->hop_limit;
	}
	off->ports = p->l4_off;
	off->udp_check = p->l4_off + offsetof(struct udphdr, check);
}

/* State of one fan-out, shared with the per-slot callback of bpf_loop. */
struct pso_fanout {
	struct __sk_buff *skb;
	struct pso_offsets off;
	struct pso_hdrs cur;	/* headers now in the packet */
	/* The fixed IP header as it stands in the packet now (IPv4: 20 bytes,
	 * options stay in the packet untouched; IPv6: 40), written back whole
	 * for each copy: one store instead of one per field. */
	union {
		struct iphdr ip4;
		struct ipv6hdr ip6;
	} l3;
	__u32 l3_off;
	__u32 flags_off;	/* the PUBLISH flags byte */
	__u32 topic_id;
	__u32 slot_base;	/* the run's first pool slot */
	__be16 broker_port;	/* source port of every copy */
	/* copies, failed, shed: in a map value, not here (pso_fanout_tally) */
	struct pso_fanout_tally *n;
	__u32 full_if;		/* the port whose queue was full, 0: none */
	__u8 family;
	__u8 pub_flags;		/* the PUBLISH flags as they arrived */
	__u8 ttl;		/* every copy's TTL / hop limit */
	__u8 to_daemon;		/* the original must go up afterwards */
	__u8 broken;		/* a rewrite failed: headers undefined */
};

/*
 * Rewrite the PUBLISH flags byte and topic-id field (cur -> flags, topic).
 * They stand 10 or 12 bytes into the UDP datagram, an even offset: two
 * 16-bit words of the UDP checksum, (flags, topic high) and (topic low,
 * message id high), all known but the message id byte, which does not
 * change and is taken as 0 on both sides of ~m + m': the sum is the same.
 * BPF_F_MARK_MANGLED_0 as for the ports: an IPv4 "no checksum" 0 stays 0,
 * a computed 0 goes out as 0xffff.
 */
static __always_inline int pso_tc_set_publish(struct pso_fanout *f, __u32 pub)
{
	if (bpf_l4_csum_replace(f->skb, f->off.udp_check, f->cur.pub, pub,
				BPF_F_MARK_MANGLED_0 | 4) ||
	    bpf_skb_store_bytes(f->skb, f->flags_off, &pub, 3, 0))
		return -1;
	f->cur.pub = pub;
	return 0;
}

/*
 * Move the packet's headers from `cur` to `to` (a subscriber, or the
 * original on the way back).  The IP header checksum is computed here
 * (RFC 1624, as in XDP) and goes out with the rest of the IP header in one
 * store.  The UDP checksum is left to the csum helpers, which keep the
 * skb's checksum state right (CHECKSUM_PARTIAL holds only the pseudo
 * header sum, CHECKSUM_COMPLETE has skb->csum to follow): address changes
 * go in as one pseudo-header difference, both ports as one 4-byte data
 * change, and BPF_F_MARK_MANGLED_0 leaves an IPv4 "no checksum" 0 as it is.
 * Six helper calls per copy with the clone: three stores, two checksum
 * updates; two more when the PUBLISH flags byte or topic-id field changes
 * (pso_tc_set_publish), which a QoS 0 publish by normal id to normal-form
 * slots never does.
 */
static __noinline int pso_tc_rewrite(struct pso_fanout *f, const struct pso_sub *to,
				     __be16 src_port, __u8 ttl, __u32 pub)
{
	struct __sk_buff *skb = f->skb;
	const struct pso_offsets *off = &f->off;
	struct pso_hdrs *cur = &f->cur;
	__be16 old_ports[2] = { cur->src_port, cur->sub.dst_port };
	__be16 ports[2] = { src_port, to->dst_port };
	const __u64 udp_flags = BPF_F_MARK_MANGLED_0;
	__u32 addr_diff;
	__s64 diff;
	long err;

	if (bpf_skb_store_bytes(skb, 0, to->dst_mac, 2 * ETH_ALEN, 0))
		return -1;

	if (cur->sub.family == PSO_AF_INET) {
		struct iphdr *ip = &f->l3.ip4;
		__u16 *ttl_word = (__u16 *)&ip->ttl;	/* ttl and protocol */
		__u16 old_ttl_word = *ttl_word, new_ttl_word = old_ttl_word;

		((__u8 *)&new_ttl_word)[0] = ttl;	/* wire order: ttl first */
		addr_diff = pso_csum_words(0, (const __u16 *)cur->sub.src_addr,
					   (const __u16 *)to->src_addr, 2);
		addr_diff = pso_csum_words(addr_diff, (const __u16 *)cur->sub.dst_addr,
					   (const __u16 *)to->dst_addr, 2);
		ip->check = pso_csum_apply(ip->check,
					   pso_csum_word(addr_diff, old_ttl_word, new_ttl_word));
		*ttl_word = new_ttl_word;
		ip->saddr = *(const __u32 *)to->src_addr;
		ip->daddr = *(const __u32 *)to->dst_addr;
		err = bpf_skb_store_bytes(skb, f->l3_off & 0xff, ip, sizeof(*ip), 0);
	} else {
		struct ipv6hdr *ip6 = &f->l3.ip6;

		/* src_addr and dst_addr stand back to back, as in the header;
		 * 32 words summed inline would spill past the stack limit. */
		diff = bpf_csum_diff((__be32 *)cur->sub.src_addr, 32, (__be32 *)to->src_addr, 32, 0);
		if (diff < 0)
			return -1;
		addr_diff = (__u32)diff;
		ip6->hop_limit = ttl;
		__builtin_memcpy(&ip6->saddr, to->src_addr, 16);
		__builtin_memcpy(&ip6->daddr, to->dst_addr, 16);
		err = bpf_skb_store_bytes(skb, f->l3_off & 0xff, ip6, sizeof(*ip6), 0);
	}
	if (err)
		return -1;

	/* A partial sum is enough: the helper adds it with end-around carry
	 * and folds, as it would bpf_csum_diff()'s. */
	if (bpf_l4_csum_replace(skb, off->udp_check, 0, addr_diff, udp_flags | BPF_F_PSEUDO_HDR) ||
	    bpf_l4_csum_replace(skb, off->udp_check, *(__u32 *)old_ports, *(__u32 *)ports,
				udp_flags | 4) ||
	    bpf_skb_store_bytes(skb, off->ports, ports, sizeof(ports), 0))
		return -1;
	if (pub != cur->pub && pso_tc_set_publish(f, pub))
		return -1;

	__builtin_memcpy(&cur->sub, to, sizeof(*to));
	cur->src_port = src_port;
	cur->ttl = ttl;
	return 0;
}

/*
 * The flags and topic-id field (pso_pub_word) of the copy for a slot with
 * these flags: the slot's form (pso_copy_flags) and the publish's topic
 * id, or for a short-form slot the topic's short name.  0, or -1 when the
 * topic has no short name and the slot is the daemon's.
 */
static __always_inline int pso_tc_copy_pub(const struct pso_fanout *f, __u8 sub_flags,
					   __u32 *pub)
{
	__u8 flags = pso_copy_flags(f->pub_flags, sub_flags);
	const struct pso_short_name *sn;

	if (!(sub_flags & PSO_SUB_F_SHORT)) {
		*pub = pso_pub_word(flags, f->topic_id >> 8, f->topic_id & 0xff);
		return 0;
	}
	sn = pso_short_name_lookup(f->topic_id);
	if (!sn)
		return -1;
	*pub = pso_pub_word(flags, sn->name[0], sn->name[1]);
	return 0;
}

/*
 * One subscriber slot (pool index), as a clone.  0, or 1 to stop the walk.
 * Inlined, not a subprogram of its own: the walk's callback calls it and
 * it calls pso_tc_rewrite(), and a kernel that counts a callback's frames
 * in the call chain (6.1) adds every frame, each rounded up to 32 bytes,
 * to the 512-byte limit; main, callback, this and the rewrite were 544.
 */
static __always_inline long pso_clone_slot(struct pso_fanout *f, __u32 slot)
{
	struct pso_sub *s;
	__u8 sub_flags;
	__u32 pub;
	long err;

	s = bpf_map_lookup_elem(&pso_subs, &slot);
	if (!s)
		return 1;
	/* Empty: a hole, nothing to count. */
	if (!*(const volatile __u8 *)&s->family)
		return 0;
	if (!pso_sub_take(s, f->family, &sub_flags) || pso_tc_copy_pub(f, sub_flags, &pub)) {
		f->to_daemon = 1;
		pso_count(PSO_CNT_TC_COPY_HOST);
		return 0;
	}
	/* Overload: a port whose queue was full takes no more copies of
	 * this publish; the clone and rewrite would be thrown away. */
	if (f->full_if && s->ifindex == f->full_if) {
		f->n->shed++;
		return 0;
	}
	/* A rewrite fails only when the skb cannot be made writable. */
	if (pso_tc_rewrite(f, s, f->broker_port, f->ttl, pub)) {
		f->broken = 1;
		return 1;
	}
	err = bpf_clone_redirect(f->skb, s->ifindex, 0);
	if (!err) {
		f->n->copies++;
		return 0;
	}
	f->n->failed++;
	/* Positive: the port's queue refused it (NET_XMIT_DROP, a full queue;
	 * NET_XMIT_CN, a congested or carrier-less one), and would refuse the
	 * next copies too.  Negative: a missing or down device, this slot's
	 * own trouble. */
	if (err > 0)
		f->full_if = s->ifindex;
	return 0;
}

/*
 * One slot of the walk.  bpf_loop lets the verifier check this body once
 * instead of once per slot and per path through the earlier slots.
 */
static long pso_fanout_slot(__u64 i, void *data)
{
	struct pso_fanout *f = data;

	return pso_clone_slot(f, f->slot_base + (__u32)i);
}

/*
 * The copies of one publish, counted when it is done; the ones not made
 * (failed, shed) are reported too, one event each kind, with the
 * publisher's address and port from orig (the packet holds a copy's
 * headers by now), topic id and length from the parse.  A subprogram: its
 * branches end in it, and the verifier follows the rest of the program
 * once.  It takes the parse's numbers, never the parse: a pointer to it
 * handed to a call would keep the compiler from knowing its address family
 * afterwards, and the verifier from following which header is there.
 */
static __noinline int pso_tc_count_copies(const struct pso_fanout *f, const struct pso_hdrs *orig,
					  __u32 topic_id, __u32 msg_len, __u32 copies)
{
	if (copies)
		pso_count_n(PSO_CNT_TC_COPIES, copies);
	if (f->n->failed) {
		pso_count_n(PSO_CNT_TC_COPY_FAILED, f->n->failed);
		pso_report_copies(PSO_CNT_TC_COPY_FAILED, f->n->failed, orig->sub.family,
				  orig->sub.src_addr, orig->src_port, topic_id, msg_len);
	}
	if (f->n->shed) {
		pso_count_n(PSO_CNT_TC_COPY_SHED, f->n->shed);
		pso_report_copies(PSO_CNT_TC_COPY_SHED, f->n->shed, orig->sub.family,
				  orig->sub.src_addr, orig->src_port, topic_id, msg_len);
	}
	return 0;
}

/* The backward scan for the run's last non-empty slot. */
struct pso_scan {
	__u32 base, cap;
	__u32 n;		/* that slot's index + 1, 0: the run is empty */
};

static long pso_scan_slot(__u64 i, void *data)
{
	struct pso_scan *sc = data;
	__u32 slot = sc->base + sc->cap - 1 - (__u32)i;
	struct pso_sub *s = bpf_map_lookup_elem(&pso_subs, &slot);

	if (!s)
		return 0;	/* past the pool: not a slot */
	if (!*(const volatile __u8 *)&s->family)
		return 0;
	sc->n = sc->cap - (__u32)i;
	return 1;
}

/*
 * How many slots of topic_id's run the walk covers (the last non-empty
 * one's index + 1), and the run's base.  The run is the one `cur` points
 * at: cur first (one byte: it cannot tear), then that half, so the run is
 * the old one whole or the new one whole while the host moves it.  No
 * clamp on cap: bpf_loop bounds itself, and a clamp would be one more path
 * for the verifier through the rest of the program (the host writes at
 * most PSO_MAX_RUN).
 */
static __always_inline __u32 pso_run_slots(__u32 topic_id, __u32 *base)
{
	const struct pso_run *r = bpf_map_lookup_elem(&pso_topic_runs, &topic_id);
	struct pso_scan sc = {};
	__u32 cur;

	if (!r)
		return 0;
	cur = *(const volatile __u8 *)&r->cur & 1;
	sc.base = r->base[cur];
	sc.cap = r->cap[cur];
	*base = sc.base;
	if (sc.cap)
		bpf_loop(sc.cap, pso_scan_slot, &sc, 0);
	return sc.n;
}

/*
 * The last slot.  When the original is not going up (no RETAIN, no slot
 * left to the daemon), it becomes the last copy: rewritten and redirected
 * (TC_ACT_REDIRECT), and the publish is counted here.  Returns that action,
 * or 0 when the last slot was served like the others (or not at all) and the
 * caller finishes.  A redirect to a device that vanished meanwhile is
 * dropped by the stack after this program; it is counted as a copy.
 */
static __always_inline int pso_last_slot(struct pso_fanout *f, __u32 i, const struct pso_hdrs *orig,
					 __u32 msg_len)
{
	__u32 slot = f->slot_base + i;
	struct pso_sub *s;
	__u8 sub_flags;
	__u32 pub;

	if (f->to_daemon) {
		pso_clone_slot(f, slot);
		return 0;
	}
	s = bpf_map_lookup_elem(&pso_subs, &slot);
	if (!s)
		return 0;
	/* Emptied since the scan (a removal's zeroing): nothing to send. */
	if (!*(const volatile __u8 *)&s->family)
		return 0;
	if (!pso_sub_take(s, f->family, &sub_flags) || pso_tc_copy_pub(f, sub_flags, &pub) ||
	    (f->full_if && s->ifindex == f->full_if)) {
		pso_clone_slot(f, slot);	/* to the daemon, or shed */
		return 0;
	}
	if (pso_tc_rewrite(f, s, f->broker_port, f->ttl, pub)) {
		f->broken = 1;
		return 0;
	}
	pso_tc_count_copies(f, orig, f->topic_id, msg_len, f->n->copies + 1);
	pso_count(PSO_CNT_TC_FANOUT);
	return bpf_redirect(s->ifindex, 0);
}

SEC("tc")
int psoffload_tc(struct __sk_buff *skb)
{
	struct pso_fanout f = { .skb = skb };
	struct pso_pkt p = {};
	struct pso_hdrs *orig;
	struct pso_port_cfg *cfg;
	struct pso_topic *t;
	__u32 topic_id, n, vlan_present, zero = 0;
	int last, action;
	__be16 vlan_proto;
	__u16 vlan_tci;

	cfg = pso_port_lookup(pso_ctx_ifindex(skb));
	if (!cfg)
		return pso_exit(NULL, PSO_CNT_TC_PASS, TC_ACT_OK);

	/* The whole datagram must be in the linear area for the length checks. */
	if (bpf_skb_pull_data(skb, skb->len))
		return pso_exit(NULL, PSO_CNT_TC_PASS, TC_ACT_OK);

	switch (pso_parse((void *)(long)skb->data, (void *)(long)skb->data_end, cfg, &p)) {
	case PSO_V_PUBLISH:
		break;
	case PSO_V_TRUNCATED:
		return pso_exit_why(&p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_TRUNCATED, TC_ACT_SHOT);
	case PSO_V_BAD_LENGTH:
		return pso_exit_why(&p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_LENGTH, TC_ACT_SHOT);
	case PSO_V_MALFORMED:
		return pso_exit_why(&p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_MALFORMED, TC_ACT_SHOT);
	default:
		return pso_exit(&p, PSO_CNT_TC_PASS, TC_ACT_OK);
	}
	/* Admission as in XDP, by the same rule: the TC path is also reached
	 * without it. */
	t = pso_admit(&p, &action);
	if (!t)		/* refused, counted */
		return action;
	topic_id = p.topic_id;
	/* The walk's tallies and the publish's own headers live in a per-CPU
	 * map value, not on this stack: with the callback's and the rewrite's
	 * frames the chain must stay within 512 bytes. */
	f.n = bpf_map_lookup_elem(&pso_fanout_tally, &zero);
	if (!f.n)
		return pso_exit(&p, PSO_CNT_TC_DROP, TC_ACT_SHOT);	/* never: key 0 */
	f.n->copies = f.n->failed = f.n->shed = 0;
	orig = &f.n->orig;
	__builtin_memset(orig, 0, sizeof(*orig));
	pso_read_hdrs(&p, orig, &f.off);

	/* RETAIN: the daemon keeps the publish; the copies go without it.
	 * Subscribers beyond the topic's slots: the daemon delivers to them. */
	f.to_daemon = (p.pub_flags & MQTTSN_FLAG_RETAIN) || (t->flags & PSO_TOPIC_F_HOST);
	if (t->sub_count == 0 && !f.to_daemon)
		return pso_exit_why(&p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_NO_SUBSCRIBER, TC_ACT_SHOT);
	f.cur = *orig;
	f.family = p.family;
	f.l3_off = p.l3_off;
	f.flags_off = p.l4_off + sizeof(struct udphdr) + p.hdr_len;
	f.pub_flags = p.pub_flags;
	f.topic_id = topic_id;
	f.ttl = pso_fwd_ttl(orig->ttl);
	if (bpf_skb_load_bytes(skb, p.l3_off & 0xff, &f.l3,
			       p.family == PSO_AF_INET ? sizeof(f.l3.ip4) : sizeof(f.l3.ip6)))
		return pso_exit(&p, PSO_CNT_TC_DROP, TC_ACT_SHOT);
	n = pso_run_slots(topic_id, &f.slot_base);
	f.broker_port = cfg->udp_port;
	/* The stack moved the publisher's 802.1Q tag from the frame into
	 * skb->vlan_tci before this hook, and a clone would carry it to every
	 * subscriber, whose slot knows no VLAN: copies leave untagged (a VLAN
	 * device as egress adds its own tag) and the original gets it back. */
	vlan_present = skb->vlan_present;
	vlan_proto = skb->vlan_proto;
	vlan_tci = skb->vlan_tci;
	if (vlan_present && bpf_skb_vlan_pop(skb))
		return pso_exit(NULL, PSO_CNT_TC_DROP, TC_ACT_SHOT);
	/* Every slot but the last gets a clone; the last gets the original
	 * itself when nothing needs it upward any more (one skb_clone and one
	 * free fewer per publish), else a clone like the rest. */
	if (n > 1)
		bpf_loop(n - 1, pso_fanout_slot, &f, 0);
	if (n > 0 && !f.broken) {
		last = pso_last_slot(&f, n - 1, orig, p.msg_len);
		if (last)
			return last;
	}
	pso_tc_count_copies(&f, orig, topic_id, p.msg_len, f.n->copies);
	/* From here on the packet may have changed: p's pointers are stale. */
	if (f.broken)
		return pso_exit(NULL, PSO_CNT_TC_DROP, TC_ACT_SHOT);
	if (!f.to_daemon)
		return pso_exit(NULL, PSO_CNT_TC_FANOUT, TC_ACT_STOLEN);
	/* Going up: give the daemon the publish as it arrived, flags (RETAIN
	 * for it to store, QoS, topic-id form) and all.  Every rewrite was
	 * followed by a clone, sent or failed. */
	if ((f.n->copies || f.n->failed) &&
	    pso_tc_rewrite(&f, &orig->sub, orig->src_port, orig->ttl, orig->pub))
		return pso_exit(NULL, PSO_CNT_TC_DROP, TC_ACT_SHOT);
	if (vlan_present && bpf_skb_vlan_push(skb, vlan_proto, vlan_tci))
		return pso_exit(NULL, PSO_CNT_TC_DROP, TC_ACT_SHOT);
	return pso_exit(NULL, PSO_CNT_TC_FANOUT_UP, TC_ACT_OK);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
