// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * proto_env.c - the protocol layer's environment in the daemon: datagrams
 * go out through the broker socket, endpoints are resolved with the
 * next-hop cache and the ports the data plane serves, and table calls go to
 * the table writer.  This is the one place where the protocol layer's
 * decisions meet the data plane.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "ctl/nexthop.h"
#include "daemon/adopted.h"
#include "daemon/daemon.h"
#include "store/store.h"
#include "util/endpoint.h"
#include "util/log.h"

/* One datagram to sa through the broker socket, with pi (source address,
 * egress interface) when given. */
static int sock_send(struct pso_broker *b, const struct sockaddr_in6 *sa,
		     const struct in6_pktinfo *pi, const uint8_t *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)sa, .msg_namelen = sizeof(*sa),
		.msg_iov = &iov, .msg_iovlen = 1,
	};

	if (pi) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(*pi));
		memcpy(CMSG_DATA(cm), pi, sizeof(*pi));
	}
	/* Never wait: datagrams to spoofed neighbours that do not answer
	 * ARP wait in the kernel's neighbour queue, holding the socket's send
	 * buffer, and a blocking send would stall the event loop (and every
	 * client) until they time out.  Such a datagram is lost (-EAGAIN). */
	if (sendmsg(b->sock, &msg, MSG_DONTWAIT) >= 0)
		return 0;
	/* With IP_RECVERR an ICMP error also sets the socket's pending
	 * error, which the next send reports (and clears) instead of
	 * sending: it belongs to an earlier datagram, to another endpoint
	 * maybe, and the event loop reads it from the error queue. */
	if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
		return sendmsg(b->sock, &msg, MSG_DONTWAIT) < 0 ? -errno : 0;
	return -errno;
}

/* The unspecified address, IPv6 or IPv4-mapped. */
static bool addr_unspecified(const struct in6_addr *a)
{
	return IN6_IS_ADDR_UNSPECIFIED(a) ||
	       (IN6_IS_ADDR_V4MAPPED(a) && !a->s6_addr32[3]);
}

static int env_send(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
		    const uint8_t *buf, size_t len)
{
	struct pso_broker *b = ctx;
	struct in6_pktinfo pi;
	struct sockaddr_in6 sa;
	int ret;

	pso_endpoint_to_sa(ep, &sa);
	/* A link-local client is reached through the interface it came in on. */
	if (local && IN6_IS_ADDR_LINKLOCAL(&sa.sin6_addr))
		sa.sin6_scope_id = local->ipi6_ifindex;
	if (local) {
		/* Source address only: let routing pick the interface.  No
		 * address (the datagram was broadcast or multicast: see
		 * receive_one()): the ingress interface's, chosen by the kernel. */
		pi = (struct in6_pktinfo){ .ipi6_addr = local->ipi6_addr };
		if (addr_unspecified(&pi.ipi6_addr)) {
			pi.ipi6_ifindex = local->ipi6_ifindex;
			if (ep->family == PSO_AF_INET)
				pi.ipi6_addr = (struct in6_addr){ .s6_addr = { [10] = 0xff, [11] = 0xff } };
		}
	}
	ret = sock_send(b, &sa, local ? &pi : NULL, buf, len);
	if (ret) {
		char s[64];

		pso_debug("send to %s failed: %s", pso_endpoint_str(ep, s, sizeof(s)), strerror(-ret));
	}
	return ret;
}

/*
 * One datagram on every port: IPv4 limited broadcast from the port's IPv4
 * address, IPv6 all-nodes (ff02::1) from its IPv6 address, each forced out
 * of that port, so neither needs a route.  0 when at least one went out,
 * else the last error.
 */
static int env_broadcast(void *ctx, const uint8_t *buf, size_t len)
{
	static const struct in6_addr all_nodes = { .s6_addr = { 0xff, 0x02, [15] = 0x01 } };
	static const uint8_t zero[16];
	struct pso_broker *b = ctx;
	int ret = -ENODEV, sent = 0;

	for (int i = 0; i < b->dp.nports; i++) {
		const struct pso_port *port = &b->dp.ports[i];
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons(b->cfg.udp_port) };
		struct in6_pktinfo pi = { .ipi6_ifindex = port->ifindex };
		int r;

		if (port->cfg.ip4) {
			/* ::ffff:255.255.255.255 from ::ffff:ADDR */
			memset(&sa.sin6_addr.s6_addr[10], 0xff, 6);
			pi.ipi6_addr.s6_addr[10] = pi.ipi6_addr.s6_addr[11] = 0xff;
			memcpy(&pi.ipi6_addr.s6_addr[12], &port->cfg.ip4, 4);
			r = sock_send(b, &sa, &pi, buf, len);
			if (r)
				pso_debug("broadcast on %s (IPv4) failed: %s", port->name, strerror(-r));
			sent += !r;
			ret = r ? r : ret;
		}
		/* Without a global address the kernel picks the link-local one. */
		sa.sin6_addr = all_nodes;
		sa.sin6_scope_id = port->ifindex;
		memset(&pi.ipi6_addr, 0, sizeof(pi.ipi6_addr));
		if (memcmp(port->cfg.ip6, zero, 16))
			memcpy(&pi.ipi6_addr, port->cfg.ip6, 16);
		r = sock_send(b, &sa, &pi, buf, len);
		if (r)
			pso_debug("broadcast on %s (IPv6) failed: %s", port->name, strerror(-r));
		sent += !r;
		ret = r ? r : ret;
	}
	return sent ? 0 : ret;
}

/* Where is ep reached?  Through a broker port with a known next hop, the
 * data plane can deliver; anywhere else the daemon delivers. */
static void env_resolve(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
			struct pso_sub *s)
{
	static const uint8_t zero[16];
	struct pso_broker *b = ctx;
	struct pso_nexthop nh;
	struct pso_port *port;

	memset(s, 0, sizeof(*s));
	s->family = ep->family;
	s->dst_port = ep->port;
	memcpy(s->dst_addr, ep->addr, sizeof(s->dst_addr));
	/* Link-local addresses mean nothing without the link they came on. */
	if (pso_endpoint_is_linklocal(ep)) {
		if (pso_nh_lookup_dev(b->nh, AF_INET6, ep->addr, local->ipi6_ifindex, &nh))
			return;
	} else if (pso_nh_lookup(b->nh, ep->family == PSO_AF_INET ? AF_INET : AF_INET6,
				 ep->addr, &nh)) {
		return;
	}
	port = pso_dp_port_by_ifindex(&b->dp, nh.ifindex);
	if (!port)
		return;	/* not behind a broker port: the daemon delivers */
	s->ifindex = port->ifindex;
	memcpy(s->src_mac, port->cfg.mac, sizeof(s->src_mac));
	if (ep->family == PSO_AF_INET) {
		if (!port->cfg.ip4)
			return;
		memcpy(s->src_addr, &port->cfg.ip4, 4);
	} else {
		if (!memcmp(port->cfg.ip6, zero, 16))
			return;
		memcpy(s->src_addr, port->cfg.ip6, 16);
	}
	if (nh.resolved) {
		memcpy(s->dst_mac, nh.mac, sizeof(s->dst_mac));
		s->flags = PSO_SUB_F_RESOLVED;
	}
}

static const char *env_ifname(void *ctx, int ifindex)
{
	struct pso_broker *b = ctx;
	const struct pso_port *port = pso_dp_port_by_ifindex(&b->dp, ifindex);

	return port ? port->name : "?";
}

/* An adopted data plane's entry is taken over by the session that asks
 * for it, as it is: the data plane never stops serving it (adopted.h). */
static int env_client_add(void *ctx, const struct pso_endpoint *ep)
{
	struct pso_broker *b = ctx;

	pso_adopted_claim_client(b->adopted, ep);
	return pso_tables_client_add(&b->tables, ep);
}

static void env_client_remove(void *ctx, const struct pso_endpoint *ep)
{
	struct pso_broker *b = ctx;

	/* Stopping: every table goes with the data plane in a moment. */
	if (b->stopping)
		return;
	pso_tables_client_remove(&b->tables, ep);
}

static int env_client_rx(void *ctx, const struct pso_endpoint *ep, uint64_t *rx_msgs)
{
	struct pso_broker *b = ctx;
	struct pso_client_val val;
	int ret = pso_tables_client_get(&b->tables, ep, &val);

	if (!ret)
		*rx_msgs = val.rx_msgs;
	return ret;
}

static int env_topic_set(void *ctx, uint16_t id, uint8_t flags, const char *name)
{
	struct pso_broker *b = ctx;
	int ret = 0;

	/* The short name first: the topic's short-form slots come after. */
	if (name && strlen(name) == 2)
		ret = pso_tables_short_name_set(&b->tables, id, (const uint8_t *)name);
	return ret ? ret : pso_tables_topic_set(&b->tables, id, flags);
}

static int env_slot_add(void *ctx, uint16_t id, const struct pso_sub *slot)
{
	struct pso_broker *b = ctx;
	struct pso_endpoint ep;
	int ret;

	/* --max-subscriptions: every slot of every topic counts; past it a
	 * topic is as full as one whose own slots are taken.  A slot that is
	 * there already (an adopted one to claim) takes none more. */
	pso_sub_endpoint(slot, &ep);
	if (b->tables.nsubs >= b->dp.sizes.subscriptions &&
	    pso_tables_sub_find(&b->tables, id, &ep) < 0) {
		b->subscriptions_full++;
		return -ENOSPC;
	}
	ret = pso_tables_sub_add(&b->tables, id, slot);
	if (ret == -EEXIST && b->adopted && pso_adopted_claim_slot(b->adopted, id, &ep))
		return 0;
	return ret;
}

static void env_slots_set(void *ctx, const struct pso_sub *slot, const uint16_t *ids, int n)
{
	struct pso_broker *b = ctx;

	if (b->stopping)
		return;
	pso_tables_sub_update_many(&b->tables, slot, ids, n);
}

static void env_slots_remove(void *ctx, const struct pso_endpoint *ep, const uint16_t *ids, int n)
{
	struct pso_broker *b = ctx;

	if (b->stopping)
		return;
	pso_tables_sub_remove_many(&b->tables, ep, ids, n);
}

static bool env_slot_served(void *ctx, uint16_t id, const struct pso_endpoint *ep, uint8_t family,
			    uint64_t rx_ns)
{
	struct pso_broker *b = ctx;

	return pso_tables_sub_served_at(&b->tables, id, ep, family, rx_ns);
}

/* A new topic name's id for every broker of the store (etcd: one
 * transaction claims the id and the name together; SQLite and none: this
 * broker's own). */
static int env_claim_topic(void *ctx, const char *name, uint16_t want, uint16_t *id)
{
	struct pso_broker *b = ctx;

	if (!b->store)
		return -EOPNOTSUPP;
	return pso_store_claim_topic(b->store, name, want, id);
}

static int env_topic_free(void *ctx, uint16_t id)
{
	struct pso_broker *b = ctx;

	return pso_tables_topic_free(&b->tables, id);
}

static bool env_topic_reusable(void *ctx, uint16_t id)
{
	struct pso_broker *b = ctx;

	return pso_tables_topic_reusable(&b->tables, id);
}

const struct pso_proto_ops pso_broker_proto_ops = {
	.send = env_send,
	.broadcast = env_broadcast,
	.resolve = env_resolve,
	.ifname = env_ifname,
	.client_add = env_client_add,
	.client_remove = env_client_remove,
	.client_rx = env_client_rx,
	.topic_set = env_topic_set,
	.slot_add = env_slot_add,
	.slots_set = env_slots_set,
	.slots_remove = env_slots_remove,
	.slot_served = env_slot_served,
	.topic_free = env_topic_free,
	.topic_reusable = env_topic_reusable,
	.session_changed = pso_broker_session_changed,
	.claim_topic = env_claim_topic,
	.topic_changed = pso_broker_topic_changed,
	.retained_changed = pso_broker_retained_changed,
};

/*
 * Did the data plane judge this datagram, and so serve every servable slot
 * before passing it up?  Only if it came in on a broker port, addressed to
 * that port's broker address, and whole: the data plane leaves fragments
 * (reassembled by the stack) and other destinations (a second address, a
 * link-local one) to the daemon untouched.
 */
bool pso_broker_judged(struct pso_broker *b, const struct in6_pktinfo *local, bool reassembled)
{
	const struct pso_port *port = pso_dp_port_by_ifindex(&b->dp, local->ipi6_ifindex);
	const struct in6_addr *dst = &local->ipi6_addr;

	if (!port || reassembled)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(dst))
		return port->cfg.ip4 && !memcmp(&dst->s6_addr[12], &port->cfg.ip4, 4);
	return !memcmp(dst, port->cfg.ip6, 16);
}
