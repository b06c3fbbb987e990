// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * broker.c - the MQTT-SN control plane and the daemon's event loop.
 *
 * Who delivers a publish:
 *   - the data plane, for QoS 0/-1 publishes with a normal or predefined
 *     topic id, to every slot pso_sub_servable() accepts;
 *   - the daemon, for every other slot of such a publish when the data
 *     plane passes it up (host path), and for everything the data plane
 *     does not forward at all: QoS 1/2, short topic names, publishes that
 *     arrive on an interface without the data plane (e.g. loopback).
 * Deliveries are QoS 0: SUBACK grants QoS 0 whatever was asked.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "daemon/broker.h"
#include "util/log.h"
#include "ctl/mode.h"
#include "ctl/nicinfo.h"
#include "ctl/placement.h"
#include "ctl/profile.h"
#include "psoffload_xdp_offload.skel.h"
#include "cmd/status.h"
#include "proto/mqttsn.h"
#include "ctl/nexthop.h"
#include "tables/tables.h"
#include "proto/topics.h"

#define CLIENT_HASH_SIZE 4096
#define QOS2_PENDING_MAX 16
#define TICK_MS 500

enum sub_kind { SUB_NAME, SUB_FILTER, SUB_PREDEFINED, SUB_SHORT };

struct subscription {
	enum sub_kind kind;
	char *filter;		/* name, filter or short name; NULL for predefined */
	uint16_t topic_id;	/* the topic of a non-filter subscription */
	uint16_t *ids;		/* a filter's topics, each holding a slot ref */
	int nids;
};

/* A topic whose slot this client holds, and how many subscriptions want it. */
struct held_topic {
	uint16_t id;
	uint16_t refs;
};

struct client {
	struct pso_endpoint ep;
	struct in6_pktinfo local;	/* broker address the client talks to */
	char id[MQTTSN_CLIENT_ID_MAX + 1];
	uint16_t keepalive_s;
	uint64_t last_seen_ms;
	uint64_t fast_rx;		/* last pso_client_val.rx_msgs seen */
	struct pso_sub slot;		/* delivery template: where it is reached */
	struct subscription *subs;
	int nsubs;
	struct held_topic *held;
	int nheld;
	uint16_t qos2_pending[QOS2_PENDING_MAX];
	int nqos2;
	uint16_t next_msg_id;
	struct client *next;		/* hash chain */
};

struct retained {
	uint8_t flags;
	size_t len;
	uint8_t data[];
};

/* What the controller knows and decided about one interface named on the
 * command line; it outlives the interface (link events). */
struct iface {
	char name[IF_NAMESIZE];
	int ifindex;			/* 0 while the interface is gone */
	struct pso_nic_info nic;
	struct pso_nic_profile profile;
	enum pso_mode mode;		/* in force, when attached */
	bool attached;
	int tried_ifindex;		/* last incarnation we tried to attach */
	bool up;
	unsigned int mtu;
	char reason[512];		/* why this mode, every step down */
};

struct pso_broker {
	struct pso_broker_cfg cfg;
	struct iface ifaces[PSO_MAX_PORTS];
	int nifaces;
	char status_path[512];
	bool status_dirty;
	uint32_t status_nsubs, status_nclients, status_ntopics;
	uint64_t status_written_ms;
	int filled_nic_fd;		/* NIC topic map the last hw attempt filled */
	/* hw mode: per-topic message totals, for the NIC's topic placement */
	uint64_t *topic_last;		/* total at the last placement round */
	uint64_t *topic_retired;	/* NIC counts of topics taken out of it */
	uint64_t next_placement_ms;
	struct pso_dataplane dp;
	struct pso_tables tables;
	struct pso_registry *reg;
	struct pso_nh *nh;
	int sock;
	int sigfd;
	struct client *clients[CLIENT_HASH_SIZE];
	uint32_t nclients;
	struct retained **retained;	/* by topic id */
	uint64_t now_ms;
	uint64_t next_advertise_ms;
	bool nh_changed;
	struct pso_broker_stats stats;
	uint8_t txbuf[MQTTSN_MAX_MSG];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- endpoints ---------------------------------------------------------- */

static void endpoint_from_sa(const struct sockaddr_in6 *sa, struct pso_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr)) {
		ep->family = PSO_AF_INET;
		memcpy(ep->addr, &sa->sin6_addr.s6_addr[12], 4);
	} else {
		ep->family = PSO_AF_INET6;
		memcpy(ep->addr, &sa->sin6_addr, 16);
	}
	ep->port = sa->sin6_port;
}

static void sa_from_endpoint(const struct pso_endpoint *ep, struct sockaddr_in6 *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	sa->sin6_port = ep->port;
	if (ep->family == PSO_AF_INET) {
		sa->sin6_addr.s6_addr[10] = 0xff;
		sa->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sa->sin6_addr.s6_addr[12], ep->addr, 4);
	} else {
		memcpy(&sa->sin6_addr, ep->addr, 16);
	}
}

static const char *endpoint_str(const struct pso_endpoint *ep, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ep->family == PSO_AF_INET) {
		inet_ntop(AF_INET, ep->addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(ep->port));
	} else {
		inet_ntop(AF_INET6, ep->addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(ep->port));
	}
	return buf;
}

static unsigned int endpoint_hash(const struct pso_endpoint *ep)
{
	const uint8_t *p = (const uint8_t *)ep;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(*ep); i++)
		h = (h ^ p[i]) * 16777619u;
	return h % CLIENT_HASH_SIZE;
}

/* ---- sending ------------------------------------------------------------ */

static int send_raw(struct pso_broker *b, const struct pso_endpoint *ep,
		    const struct in6_pktinfo *local, const uint8_t *buf, size_t len)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_in6 sa;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
	};

	sa_from_endpoint(ep, &sa);
	/* A link-local client is reached through the interface it came in on. */
	if (local && IN6_IS_ADDR_LINKLOCAL(&sa.sin6_addr))
		sa.sin6_scope_id = local->ipi6_ifindex;
	if (local) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(*local));
		/* Source address only: let routing pick the interface. */
		struct in6_pktinfo pi = { .ipi6_addr = local->ipi6_addr };
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	}
	if (sendmsg(b->sock, &msg, 0) < 0) {
		char s[64];

		pso_debug("send to %s failed: %s", endpoint_str(ep, s, sizeof(s)), strerror(errno));
		return -errno;
	}
	return 0;
}

static int send_msg(struct pso_broker *b, const struct pso_endpoint *ep,
		    const struct in6_pktinfo *local, const struct mqttsn_msg *m)
{
	ssize_t n = mqttsn_encode(m, b->txbuf, sizeof(b->txbuf));

	if (n < 0) {
		pso_warn("cannot encode %s: %s", mqttsn_type_name(m->type), strerror((int)-n));
		return (int)n;
	}
	return send_raw(b, ep, local, b->txbuf, (size_t)n);
}

static int send_simple(struct pso_broker *b, const struct pso_endpoint *ep,
		       const struct in6_pktinfo *local, uint8_t type)
{
	struct mqttsn_msg m = { .type = type };

	return send_msg(b, ep, local, &m);
}

/* ---- clients ------------------------------------------------------------ */

static struct client *client_find(struct pso_broker *b, const struct pso_endpoint *ep)
{
	struct client *c;

	for (c = b->clients[endpoint_hash(ep)]; c; c = c->next)
		if (!memcmp(&c->ep, ep, sizeof(*ep)))
			return c;
	return NULL;
}

static struct client *client_find_id(struct pso_broker *b, const char *id)
{
	for (int i = 0; i < CLIENT_HASH_SIZE; i++)
		for (struct client *c = b->clients[i]; c; c = c->next)
			if (!strcmp(c->id, id))
				return c;
	return NULL;
}

static int held_index(const struct client *c, uint16_t id)
{
	for (int i = 0; i < c->nheld; i++)
		if (c->held[i].id == id)
			return i;
	return -1;
}

/* Where is this client reached?  Fills the client's slot template. */
static void client_resolve(struct pso_broker *b, struct client *c)
{
	struct pso_sub *s = &c->slot;
	struct pso_nexthop nh;
	struct pso_port *port;

	memset(s, 0, sizeof(*s));
	s->family = c->ep.family;
	s->dst_port = c->ep.port;
	memcpy(s->dst_addr, c->ep.addr, sizeof(s->dst_addr));
	/* Link-local addresses mean nothing without the link they came on. */
	if (c->ep.family == PSO_AF_INET6 && c->ep.addr[0] == 0xfe && (c->ep.addr[1] & 0xc0) == 0x80) {
		if (pso_nh_lookup_dev(b->nh, AF_INET6, c->ep.addr, c->local.ipi6_ifindex, &nh))
			return;
	} else if (pso_nh_lookup(b->nh, c->ep.family == PSO_AF_INET ? AF_INET : AF_INET6,
				 c->ep.addr, &nh)) {
		return;
	}
	port = pso_dp_port_by_ifindex(&b->dp, nh.ifindex);
	if (!port)
		return;	/* not behind a broker port: the daemon delivers */
	s->ifindex = port->ifindex;
	memcpy(s->src_mac, port->cfg.mac, sizeof(s->src_mac));
	if (c->ep.family == PSO_AF_INET) {
		if (!port->cfg.ip4)
			return;
		memcpy(s->src_addr, &port->cfg.ip4, 4);
	} else {
		static const uint8_t zero[16];

		if (!memcmp(port->cfg.ip6, zero, 16))
			return;
		memcpy(s->src_addr, port->cfg.ip6, 16);
	}
	if (nh.resolved) {
		memcpy(s->dst_mac, nh.mac, sizeof(s->dst_mac));
		s->flags = PSO_SUB_F_RESOLVED;
	}
}

static void log_next_hop(struct pso_broker *b, const struct client *c)
{
	const struct pso_port *port = pso_dp_port_by_ifindex(&b->dp, c->slot.ifindex);

	if (c->slot.flags & PSO_SUB_F_RESOLVED)
		pso_info("client %s: next hop resolved via %s (%02x:%02x:%02x:%02x:%02x:%02x)",
			 c->id, port ? port->name : "?", c->slot.dst_mac[0], c->slot.dst_mac[1],
			 c->slot.dst_mac[2], c->slot.dst_mac[3], c->slot.dst_mac[4], c->slot.dst_mac[5]);
	else
		pso_info("client %s: next hop unresolved: the daemon delivers to it", c->id);
}

/*
 * Take a slot in topic id for this client (once per client and topic).
 * enable false: the slot is written not servable, so the data plane leaves
 * this subscriber to the daemon until client_enable() - the daemon first
 * tells the client (SUBACK, REGISTER) what it will receive.
 */
static int client_hold(struct pso_broker *b, struct client *c, uint16_t id, bool enable)
{
	struct pso_sub slot = c->slot;
	struct held_topic *h;
	int i = held_index(c, id), ret;

	if (i >= 0) {
		c->held[i].refs++;
		return 0;
	}
	h = realloc(c->held, (c->nheld + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	c->held = h;
	if (!enable)
		slot.flags &= ~PSO_SUB_F_RESOLVED;
	ret = pso_tables_sub_add(&b->tables, id, &slot);
	if (ret == -EEXIST)
		ret = 0;
	if (ret)
		return ret;
	c->held[c->nheld++] = (struct held_topic){ .id = id, .refs = 1 };
	return 0;
}

/* Every slot of this client as its template says (flags included). */
static void client_sync_slots(struct pso_broker *b, struct client *c)
{
	uint16_t ids[c->nheld ? c->nheld : 1];

	for (int i = 0; i < c->nheld; i++)
		ids[i] = c->held[i].id;
	pso_tables_sub_update_many(&b->tables, &c->slot, ids, c->nheld);
}

/* Drop one ref on each topic; the slots no subscription wants any more
 * leave the tables together (one wait for readers). */
static void client_release_many(struct pso_broker *b, struct client *c, const uint16_t *ids, int n)
{
	uint16_t gone[n ? n : 1];
	int ngone = 0;

	for (int k = 0; k < n; k++) {
		int i = held_index(c, ids[k]);

		if (i < 0 || --c->held[i].refs > 0)
			continue;
		gone[ngone++] = ids[k];
		c->held[i] = c->held[--c->nheld];
	}
	if (ngone)
		pso_tables_sub_remove_many(&b->tables, &c->ep, gone, ngone);
}

static void client_release(struct pso_broker *b, struct client *c, uint16_t id)
{
	client_release_many(b, c, &id, 1);
}

static void subscription_free(struct subscription *s)
{
	free(s->filter);
	free(s->ids);
	s->filter = NULL;
	s->ids = NULL;
	s->nids = 0;
}

static void client_remove(struct pso_broker *b, struct client *c, const char *why)
{
	struct client **pp = &b->clients[endpoint_hash(&c->ep)];
	char s[64];

	if (c->nheld) {
		uint16_t ids[c->nheld];
		int n = c->nheld;

		for (int i = 0; i < n; i++) {
			ids[i] = c->held[i].id;
			c->held[i].refs = 1;
		}
		client_release_many(b, c, ids, n);
	}
	pso_tables_client_remove(&b->tables, &c->ep);
	for (int i = 0; i < c->nsubs; i++)
		subscription_free(&c->subs[i]);
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	b->nclients--;
	pso_info("client %s (%s) %s", c->id, endpoint_str(&c->ep, s, sizeof(s)), why);
	free(c->subs);
	free(c->held);
	free(c);
}

/* ---- delivery ----------------------------------------------------------- */

static uint8_t topic_type_of(const struct pso_broker *b, uint16_t id)
{
	return pso_registry_is_predefined(b->reg, id) ? MQTTSN_TOPIC_PREDEFINED
						      : MQTTSN_TOPIC_NORMAL;
}

static int send_publish(struct pso_broker *b, const struct pso_endpoint *ep,
			uint16_t id, bool retain, const uint8_t *data, size_t len)
{
	struct client *c = client_find(b, ep);
	struct mqttsn_msg m = {
		.type = MQTTSN_PUBLISH,
		.flags = MQTTSN_FLAG_QOS_0 | (retain ? MQTTSN_FLAG_RETAIN : 0) | topic_type_of(b, id),
		.topic_id = id,
		.data = data,
		.data_len = len,
	};

	b->stats.host_deliveries++;
	return send_msg(b, ep, c ? &c->local : NULL, &m);
}

/*
 * Deliver a publish on topic id.  only_unservable: the data plane has
 * served every servable slot already (the publish came up through it).
 */
static void deliver(struct pso_broker *b, uint16_t id, uint8_t family, bool only_unservable,
		    const uint8_t *data, size_t len)
{
	const struct pso_topic *t = pso_tables_topic(&b->tables, id);
	struct pso_endpoint ep;

	if (!t)
		return;
	for (uint32_t i = 0; i < t->sub_count; i++) {
		const struct pso_sub *s = pso_tables_slot(&b->tables, id, i);

		if (!s || (only_unservable && pso_sub_servable(s, family)))
			continue;
		pso_sub_endpoint(s, &ep);
		send_publish(b, &ep, id, false, data, len);
	}
}

static void retain_store(struct pso_broker *b, uint16_t id, uint8_t flags,
			 const uint8_t *data, size_t len)
{
	struct retained *r = NULL;

	if (len) {
		r = malloc(sizeof(*r) + len);
		if (!r) {
			pso_warn("topic %u: out of memory for the retained message", id);
			return;
		}
		r->flags = flags;
		r->len = len;
		memcpy(r->data, data, len);
	}
	free(b->retained[id]);
	/* An empty retained publish clears the topic's retained message (MQTT). */
	b->retained[id] = r;
}

static void retain_send(struct pso_broker *b, struct client *c, uint16_t id)
{
	struct retained *r = b->retained[id];

	if (r)
		send_publish(b, &c->ep, id, true, r->data, r->len);
}

/* ---- topics ------------------------------------------------------------- */

static uint8_t topic_policy(const struct pso_broker *b, uint16_t id)
{
	switch (b->cfg.qosm1) {
	case PSO_QOSM1_ALL:
		return PSO_TOPIC_F_ALLOW_QOSM1;
	case PSO_QOSM1_PREDEFINED:
		return pso_registry_is_predefined(b->reg, id) ? PSO_TOPIC_F_ALLOW_QOSM1 : 0;
	default:
		return 0;
	}
}

static int send_register(struct pso_broker *b, struct client *c, uint16_t id, const char *name)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_REGISTER,
		.topic_id = id,
		.msg_id = ++c->next_msg_id ? c->next_msg_id : ++c->next_msg_id,
		.data = (const uint8_t *)name,
		.data_len = strlen(name),
	};

	return send_msg(b, &c->ep, &c->local, &m);
}

/* A topic seen for the first time: offer it to the wildcard subscriptions. */
static void topic_created(struct pso_broker *b, uint16_t id, const char *name)
{
	pso_tables_topic_set(&b->tables, id, topic_policy(b, id));
	pso_info("topic %u registered: %s", id, name);
	for (int h = 0; h < CLIENT_HASH_SIZE; h++) {
		for (struct client *c = b->clients[h]; c; c = c->next) {
			for (int i = 0; i < c->nsubs; i++) {
				struct subscription *s = &c->subs[i];

				uint16_t *ids;

				if (s->kind != SUB_FILTER || !pso_topic_match(s->filter, name))
					continue;
				/* REGISTER goes out before the slot exists. */
				send_register(b, c, id, name);
				ids = realloc(s->ids, (s->nids + 1) * sizeof(*ids));
				if (!ids || client_hold(b, c, id, true)) {
					if (ids)
						s->ids = ids;
					b->stats.congestion++;
					pso_warn("topic %u: no slot left for client %s (filter %s)",
						 id, c->id, s->filter);
					continue;
				}
				s->ids = ids;
				s->ids[s->nids++] = id;
			}
		}
	}
}

static int topic_register(struct pso_broker *b, const char *name, size_t len, uint16_t *id)
{
	bool created = false;
	int ret = pso_registry_register(b->reg, name, len, id, &created);

	if (!ret && created)
		topic_created(b, *id, pso_registry_name(b->reg, *id));
	return ret;
}

static int load_predefined_topic(uint16_t id, const char *name, void *ctx)
{
	struct pso_broker *b = ctx;

	return pso_tables_topic_set(&b->tables, id, topic_policy(b, id));
}

/* ---- message handlers --------------------------------------------------- */

struct rx {
	struct pso_endpoint ep;
	struct in6_pktinfo local;	/* our address and ingress ifindex */
	bool reassembled;		/* arrived in IP fragments */
	struct client *c;		/* NULL: not connected */
	struct mqttsn_msg m;
};

static void handle_connect(struct pso_broker *b, struct rx *rx)
{
	struct mqttsn_msg ack = { .type = MQTTSN_CONNACK, .return_code = MQTTSN_RC_ACCEPTED };
	struct client *c = rx->c, *old;
	char id[MQTTSN_CLIENT_ID_MAX + 1];
	size_t n = rx->m.data_len < MQTTSN_CLIENT_ID_MAX ? rx->m.data_len : MQTTSN_CLIENT_ID_MAX;
	char s[64];

	memcpy(id, rx->m.data, n);
	id[n] = '\0';
	/* Client ids reach the log: no control or non-ASCII bytes there. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] >= 0x7f)
			id[i] = '?';
	if (rx->m.flags & MQTTSN_FLAG_WILL) {
		/* Will topics and messages are not kept by this broker. */
		ack.return_code = MQTTSN_RC_NOT_SUPPORTED;
		b->stats.rx_unsupported++;
		send_msg(b, &rx->ep, &rx->local, &ack);
		return;
	}
	/* A client id lives at one endpoint: a reconnect from elsewhere
	 * replaces the old session; clean or not, it starts afresh. */
	old = client_find_id(b, id);
	if (old && old != c)
		client_remove(b, old, "replaced by a new connection");
	if (c) {
		/* CONNECT again on a live session: start clean. */
		client_remove(b, c, "reconnected");
		c = NULL;
	}
	if (b->nclients >= b->tables.max_clients ||
	    pso_tables_client_add(&b->tables, &rx->ep)) {
		b->stats.congestion++;
		ack.return_code = MQTTSN_RC_CONGESTION;
		pso_warn("client %s (%s) refused: client table full", id,
			 endpoint_str(&rx->ep, s, sizeof(s)));
		send_msg(b, &rx->ep, &rx->local, &ack);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pso_tables_client_remove(&b->tables, &rx->ep);
		ack.return_code = MQTTSN_RC_CONGESTION;
		send_msg(b, &rx->ep, &rx->local, &ack);
		return;
	}
	c->ep = rx->ep;
	c->local = rx->local;
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->keepalive_s = rx->m.duration;
	c->last_seen_ms = b->now_ms;
	client_resolve(b, c);
	c->next = b->clients[endpoint_hash(&c->ep)];
	b->clients[endpoint_hash(&c->ep)] = c;
	b->nclients++;
	pso_info("client %s connected from %s, keep-alive %us", c->id,
		 endpoint_str(&c->ep, s, sizeof(s)), c->keepalive_s);
	if (c->slot.flags & PSO_SUB_F_RESOLVED)
		log_next_hop(b, c);
	send_msg(b, &rx->ep, &rx->local, &ack);
}

static void handle_register(struct pso_broker *b, struct rx *rx)
{
	struct mqttsn_msg ack = {
		.type = MQTTSN_REGACK, .msg_id = rx->m.msg_id, .return_code = MQTTSN_RC_ACCEPTED,
	};
	uint16_t id = 0;
	int ret = topic_register(b, (const char *)rx->m.data, rx->m.data_len, &id);

	if (ret == -ENOSPC || ret == -ENOMEM) {
		b->stats.congestion++;
		ack.return_code = MQTTSN_RC_CONGESTION;
		pso_warn("REGISTER from %s refused: %s", rx->c->id,
			 ret == -ENOSPC ? "topic table full" : "out of memory");
	} else if (ret) {
		ack.return_code = MQTTSN_RC_INVALID_TOPIC;
	}
	ack.topic_id = id;
	send_msg(b, &rx->ep, &rx->local, &ack);
}

/*
 * The topic id a PUBLISH names, or 0 when unknown.  A short topic name is
 * registered on first use, but only for a connected client: an unconnected
 * QoS -1 sender must not be able to fill the registry for good.
 */
static uint16_t publish_topic(struct pso_broker *b, const struct mqttsn_msg *m, bool may_create)
{
	uint16_t id = 0;

	switch (m->flags & MQTTSN_FLAG_TOPIC_MASK) {
	case MQTTSN_TOPIC_SHORT: {
		char name[3] = { m->topic_id >> 8, m->topic_id & 0xff, 0 };
		int ret = may_create ? topic_register(b, name, 2, &id)
				     : pso_registry_lookup(b->reg, name, 2, &id);

		return ret ? 0 : id;
	}
	case MQTTSN_TOPIC_PREDEFINED:
	case MQTTSN_TOPIC_NORMAL:
		return pso_registry_name(b->reg, m->topic_id) ? m->topic_id : 0;
	default:
		return 0;
	}
}

static bool qos2_seen(struct client *c, uint16_t msg_id, bool add)
{
	for (int i = 0; i < c->nqos2; i++)
		if (c->qos2_pending[i] == msg_id)
			return true;
	if (add) {
		if (c->nqos2 == QOS2_PENDING_MAX)
			memmove(c->qos2_pending, c->qos2_pending + 1,
				(QOS2_PENDING_MAX - 1) * sizeof(c->qos2_pending[0]));
		else
			c->nqos2++;
		c->qos2_pending[c->nqos2 - 1] = msg_id;
	}
	return false;
}

static void qos2_release(struct client *c, uint16_t msg_id)
{
	for (int i = 0; i < c->nqos2; i++) {
		if (c->qos2_pending[i] == msg_id) {
			c->qos2_pending[i] = c->qos2_pending[--c->nqos2];
			return;
		}
	}
}

/*
 * Did the data plane judge this datagram, and so serve every servable slot
 * before passing it up?  Only if it came in on a broker port, addressed to
 * that port's broker address, and whole: the data plane leaves fragments
 * (reassembled by the stack) and other destinations (a second address, a
 * link-local one) to the daemon untouched.
 */
static bool judged_by_dataplane(struct pso_broker *b, const struct rx *rx)
{
	const struct pso_port *port = pso_dp_port_by_ifindex(&b->dp, rx->local.ipi6_ifindex);
	const struct in6_addr *dst = &rx->local.ipi6_addr;

	if (!port || rx->reassembled)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(dst))
		return port->cfg.ip4 && !memcmp(&dst->s6_addr[12], &port->cfg.ip4, 4);
	return !memcmp(dst, port->cfg.ip6, 16);
}

static void handle_publish(struct pso_broker *b, struct rx *rx)
{
	const struct mqttsn_msg *m = &rx->m;
	int qos = mqttsn_flags_qos(m->flags);
	uint8_t topic_type = m->flags & MQTTSN_FLAG_TOPIC_MASK;
	bool retain = m->flags & MQTTSN_FLAG_RETAIN, duplicate = false;
	uint16_t id;
	bool via_dataplane;
	const struct pso_topic *t;

	if (qos != -1 && !rx->c) {
		send_simple(b, &rx->ep, &rx->local, MQTTSN_DISCONNECT);
		return;
	}
	id = publish_topic(b, m, rx->c != NULL);
	if (qos == 1 || qos == 2) {
		struct mqttsn_msg ack = {
			.type = qos == 1 ? MQTTSN_PUBACK : MQTTSN_PUBREC,
			.topic_id = m->topic_id, .msg_id = m->msg_id,
		};

		if (!id) {
			/* PUBACK carries the refusal for both QoS 1 and 2. */
			ack.type = MQTTSN_PUBACK;
			ack.return_code = MQTTSN_RC_INVALID_TOPIC;
			send_msg(b, &rx->ep, &rx->local, &ack);
			return;
		}
		if (qos == 2)
			duplicate = qos2_seen(rx->c, m->msg_id, true);
		send_msg(b, &rx->ep, &rx->local, &ack);
		if (duplicate)
			return;
	}
	if (!id)
		return;	/* QoS 0/-1 to an unknown topic: nothing to answer */
	t = pso_tables_topic(&b->tables, id);
	if (qos == -1 && (!t || !(t->flags & PSO_TOPIC_F_ALLOW_QOSM1)))
		return;

	via_dataplane = (qos == 0 || qos == -1) && topic_type != MQTTSN_TOPIC_SHORT &&
			judged_by_dataplane(b, rx);
	if (retain)
		retain_store(b, id, m->flags, m->data, m->data_len);
	deliver(b, id, rx->ep.family, via_dataplane, m->data, m->data_len);
}

static int subscribe_topic(struct pso_broker *b, struct client *c, struct subscription *s,
			   uint16_t id)
{
	int ret = client_hold(b, c, id, false);

	if (!ret)
		s->topic_id = id;
	return ret;
}

struct wildcard_ctx {
	struct pso_broker *b;
	struct client *c;
	const char *filter;
	uint16_t *held;
	int nheld;
	int err;
};

static int hold_matching(uint16_t id, const char *name, void *arg)
{
	struct wildcard_ctx *w = arg;

	if (!pso_topic_match(w->filter, name))
		return 0;
	w->err = client_hold(w->b, w->c, id, false);
	if (w->err)
		return 1;
	w->held[w->nheld++] = id;
	return 0;
}

static int send_register_matching(uint16_t id, const char *name, void *arg)
{
	struct wildcard_ctx *w = arg;

	if (pso_topic_match(w->filter, name)) {
		send_register(w->b, w->c, id, name);
		retain_send(w->b, w->c, id);
	}
	return 0;
}

static struct subscription *find_subscription(struct client *c, enum sub_kind kind,
					      const char *filter, uint16_t id)
{
	for (int i = 0; i < c->nsubs; i++) {
		struct subscription *s = &c->subs[i];

		if (s->kind != kind)
			continue;
		if (kind == SUB_PREDEFINED ? s->topic_id == id : !strcmp(s->filter, filter))
			return s;
	}
	return NULL;
}

/* Parse a SUBSCRIBE/UNSUBSCRIBE target into kind, name/filter and id. */
static int subscription_target(const struct mqttsn_msg *m, enum sub_kind *kind,
			       char *name, size_t cap, uint16_t *id)
{
	switch (m->flags & MQTTSN_FLAG_TOPIC_MASK) {
	case MQTTSN_TOPIC_NORMAL:
		if (m->data_len == 0 || m->data_len >= cap)
			return -EINVAL;
		memcpy(name, m->data, m->data_len);
		name[m->data_len] = '\0';
		if (pso_topic_filter_is_wildcard(name, m->data_len)) {
			*kind = SUB_FILTER;
			return pso_topic_filter_valid(name, m->data_len) ? 0 : -EINVAL;
		}
		*kind = SUB_NAME;
		return pso_topic_name_valid(name, m->data_len) ? 0 : -EINVAL;
	case MQTTSN_TOPIC_PREDEFINED:
		*kind = SUB_PREDEFINED;
		*id = m->topic_id;
		name[0] = '\0';
		return 0;
	case MQTTSN_TOPIC_SHORT:
		*kind = SUB_SHORT;
		name[0] = m->topic_id >> 8;
		name[1] = m->topic_id & 0xff;
		name[2] = '\0';
		return 0;
	default:
		return -EINVAL;
	}
}

static void handle_subscribe(struct pso_broker *b, struct rx *rx)
{
	struct client *c = rx->c;
	struct mqttsn_msg ack = {
		.type = MQTTSN_SUBACK, .flags = MQTTSN_FLAG_QOS_0, .msg_id = rx->m.msg_id,
		.return_code = MQTTSN_RC_ACCEPTED,
	};
	char name[PSO_TOPIC_NAME_MAX + 1];
	struct subscription sub = { 0 }, *grown, *existing;
	enum sub_kind kind;
	uint16_t id = 0;
	int ret;

	if (subscription_target(&rx->m, &kind, name, sizeof(name), &id)) {
		ack.return_code = MQTTSN_RC_INVALID_TOPIC;
		goto reply;
	}
	existing = find_subscription(c, kind, name, id);
	if (existing) {
		/* Already subscribed: MQTT replaces the subscription; here that
		 * changes nothing, the granted QoS is always 0. */
		if (kind == SUB_NAME || kind == SUB_PREDEFINED)
			ack.topic_id = existing->topic_id;
		goto reply;
	}
	grown = realloc(c->subs, (c->nsubs + 1) * sizeof(*c->subs));
	if (!grown) {
		ack.return_code = MQTTSN_RC_CONGESTION;
		goto reply;
	}
	c->subs = grown;
	sub.kind = kind;

	switch (kind) {
	case SUB_PREDEFINED:
		if (!pso_registry_is_predefined(b->reg, id)) {
			ack.return_code = MQTTSN_RC_INVALID_TOPIC;
			goto reply;
		}
		ret = subscribe_topic(b, c, &sub, id);
		break;
	case SUB_NAME:
	case SUB_SHORT:
		/* A short name is exactly 2 bytes, NUL included: the registry
		 * refuses a NUL, as it does for PUBLISH. */
		ret = topic_register(b, name, kind == SUB_SHORT ? 2 : strlen(name), &id);
		if (!ret)
			ret = subscribe_topic(b, c, &sub, id);
		break;
	case SUB_FILTER: {
		uint16_t *held = calloc(b->tables.max_topics, sizeof(*held));
		struct wildcard_ctx w = { .b = b, .c = c, .filter = name, .held = held };

		if (!held) {
			ret = -ENOMEM;
			break;
		}
		pso_registry_foreach(b->reg, hold_matching, &w);
		ret = w.err;
		if (ret) {	/* all or nothing: give back what this filter took */
			client_release_many(b, c, held, w.nheld);
			free(held);
		} else {
			uint16_t *fit = realloc(held, (w.nheld ? w.nheld : 1) * sizeof(*held));

			sub.ids = fit ? fit : held;
			sub.nids = w.nheld;
		}
		break;
	}
	default:
		ret = -EINVAL;
	}
	if (ret == -ENOSPC || ret == -ENOMEM) {
		b->stats.congestion++;
		ack.return_code = MQTTSN_RC_CONGESTION;
		pso_warn("SUBSCRIBE %s from %s refused: %s", name[0] ? name : "(predefined)", c->id,
			 ret == -ENOSPC ? "table full" : "out of memory");
		goto reply;
	}
	if (ret) {
		ack.return_code = MQTTSN_RC_INVALID_TOPIC;
		goto reply;
	}
	if (kind != SUB_PREDEFINED) {
		sub.filter = strdup(name);
		if (!sub.filter) {
			if (kind == SUB_FILTER)
				client_release_many(b, c, sub.ids, sub.nids);
			else
				client_release(b, c, id);
			subscription_free(&sub);
			ack.return_code = MQTTSN_RC_CONGESTION;
			goto reply;
		}
	}
	c->subs[c->nsubs++] = sub;
	/* SUBACK's topic id is meaningful for a name or a predefined id only. */
	if (kind == SUB_NAME || kind == SUB_PREDEFINED)
		ack.topic_id = id;
	pso_info("client %s subscribed to %s%s", c->id,
		 kind == SUB_PREDEFINED ? pso_registry_name(b->reg, id) : name,
		 kind == SUB_FILTER ? " (filter)" : "");
	send_msg(b, &rx->ep, &rx->local, &ack);

	/* After SUBACK: names the client cannot know, then retained messages. */
	if (kind == SUB_FILTER) {
		struct wildcard_ctx w = { .b = b, .c = c, .filter = name };

		pso_registry_foreach(b->reg, send_register_matching, &w);
	} else {
		if (kind == SUB_SHORT)
			send_register(b, c, id, name);
		retain_send(b, c, id);
	}
	/* Told: now the data plane may deliver to it. */
	client_sync_slots(b, c);
	return;
reply:
	send_msg(b, &rx->ep, &rx->local, &ack);
}

static void unsubscribe(struct pso_broker *b, struct client *c, struct subscription *s)
{
	if (s->kind == SUB_FILTER) {
		/* Exactly the refs this filter took, no more. */
		client_release_many(b, c, s->ids, s->nids);
	} else {
		client_release(b, c, s->topic_id);
	}
	subscription_free(s);
	*s = c->subs[--c->nsubs];
}

static void handle_unsubscribe(struct pso_broker *b, struct rx *rx)
{
	struct mqttsn_msg ack = { .type = MQTTSN_UNSUBACK, .msg_id = rx->m.msg_id };
	char name[PSO_TOPIC_NAME_MAX + 1];
	struct subscription *s;
	enum sub_kind kind;
	uint16_t id = 0;

	if (!subscription_target(&rx->m, &kind, name, sizeof(name), &id)) {
		s = find_subscription(rx->c, kind, name, id);
		if (s) {
			pso_info("client %s unsubscribed from %s", rx->c->id,
				 s->filter ? s->filter : pso_registry_name(b->reg, id));
			unsubscribe(b, rx->c, s);
		}
	}
	/* UNSUBACK has no return code: it is sent whatever was there. */
	send_msg(b, &rx->ep, &rx->local, &ack);
}

static void handle_pubrel(struct pso_broker *b, struct rx *rx)
{
	struct mqttsn_msg comp = { .type = MQTTSN_PUBCOMP, .msg_id = rx->m.msg_id };

	qos2_release(rx->c, rx->m.msg_id);
	send_msg(b, &rx->ep, &rx->local, &comp);
}

static void handle_disconnect(struct pso_broker *b, struct rx *rx)
{
	/* Sleeping clients (DISCONNECT with a duration) are not supported:
	 * the session ends either way, and the reply says so plainly. */
	send_simple(b, &rx->ep, &rx->local, MQTTSN_DISCONNECT);
	client_remove(b, rx->c, rx->m.has_duration ? "disconnected (sleep not supported)"
						   : "disconnected");
	rx->c = NULL;
}

static void reply_not_supported(struct pso_broker *b, struct rx *rx, uint8_t type)
{
	struct mqttsn_msg m = { .type = type, .return_code = MQTTSN_RC_NOT_SUPPORTED };

	b->stats.rx_unsupported++;
	send_msg(b, &rx->ep, &rx->local, &m);
}

static void handle_message(struct pso_broker *b, struct rx *rx)
{
	struct mqttsn_msg *m = &rx->m;
	bool needs_session;

	if (rx->c)
		rx->c->last_seen_ms = b->now_ms;
	switch (m->type) {
	case MQTTSN_REGISTER:
	case MQTTSN_SUBSCRIBE:
	case MQTTSN_UNSUBSCRIBE:
	case MQTTSN_PUBREL:
	case MQTTSN_PINGREQ:
	case MQTTSN_DISCONNECT:
		needs_session = true;
		break;
	default:
		needs_session = false;
	}
	if (needs_session && !rx->c) {
		/* MQTT-SN: a gateway answers a client it does not know with
		 * DISCONNECT, so the client reconnects. */
		send_simple(b, &rx->ep, &rx->local, MQTTSN_DISCONNECT);
		return;
	}

	switch (m->type) {
	case MQTTSN_SEARCHGW: {
		struct mqttsn_msg gw = { .type = MQTTSN_GWINFO, .gw_id = b->cfg.gw_id };

		send_msg(b, &rx->ep, &rx->local, &gw);
		break;
	}
	case MQTTSN_CONNECT:
		handle_connect(b, rx);
		break;
	case MQTTSN_REGISTER:
		handle_register(b, rx);
		break;
	case MQTTSN_PUBLISH:
		handle_publish(b, rx);
		break;
	case MQTTSN_PUBREL:
		handle_pubrel(b, rx);
		break;
	case MQTTSN_SUBSCRIBE:
		handle_subscribe(b, rx);
		break;
	case MQTTSN_UNSUBSCRIBE:
		handle_unsubscribe(b, rx);
		break;
	case MQTTSN_PINGREQ:
		send_simple(b, &rx->ep, &rx->local, MQTTSN_PINGRESP);
		break;
	case MQTTSN_DISCONNECT:
		handle_disconnect(b, rx);
		break;
	case MQTTSN_WILLTOPIC:
	case MQTTSN_WILLTOPICUPD:
		reply_not_supported(b, rx, MQTTSN_WILLTOPICRESP);
		break;
	case MQTTSN_WILLMSG:
	case MQTTSN_WILLMSGUPD:
		reply_not_supported(b, rx, MQTTSN_WILLMSGRESP);
		break;
	case MQTTSN_REGACK:	/* answers to our REGISTER */
	case MQTTSN_PUBACK:	/* deliveries are QoS 0; nothing waits */
	case MQTTSN_PUBREC:
	case MQTTSN_PUBCOMP:
	case MQTTSN_PINGRESP:
	case MQTTSN_ADVERTISE:	/* other gateways */
	case MQTTSN_GWINFO:
		break;
	default:
		/* Gateway-to-client messages and forwarder encapsulation: no
		 * message of MQTT-SN can carry a refusal for these. */
		b->stats.rx_unsupported++;
		pso_debug("ignoring %s from a client", mqttsn_type_name(m->type));
		break;
	}
}

static int receive_one(struct pso_broker *b, uint8_t *buf, size_t cap)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + 2 * CMSG_SPACE(sizeof(int)) + 64];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_in6 sa;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct rx rx = { 0 };
	ssize_t n = recvmsg(b->sock, &msg, MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO)
			memcpy(&rx.local, CMSG_DATA(cm), sizeof(rx.local));
		/* The kernel adds the fragment size only to a reassembled datagram. */
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVFRAGSIZE) ||
		    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVFRAGSIZE))
			rx.reassembled = true;
	}
	b->stats.rx_msgs++;
	endpoint_from_sa(&sa, &rx.ep);
	if (mqttsn_decode(buf, (size_t)n, &rx.m)) {
		b->stats.rx_malformed++;
		return 0;
	}
	rx.c = client_find(b, &rx.ep);
	handle_message(b, &rx);
	return 0;
}

/* ---- periodic work ------------------------------------------------------ */

static void keepalive_check(struct pso_broker *b)
{
	for (int h = 0; h < CLIENT_HASH_SIZE; h++) {
		struct client *c = b->clients[h], *next;

		for (; c; c = next) {
			struct pso_client_val val;

			next = c->next;
			if (!c->keepalive_s)
				continue;
			/* Publishes the data plane forwarded count as activity. */
			if (!pso_tables_client_get(&b->tables, &c->ep, &val) &&
			    val.rx_msgs != c->fast_rx) {
				c->fast_rx = val.rx_msgs;
				c->last_seen_ms = b->now_ms;
			}
			if (b->now_ms - c->last_seen_ms > (uint64_t)c->keepalive_s * 1500) {
				b->stats.expired++;
				client_remove(b, c, "expired (keep-alive)");
			}
		}
	}
}

/* Routes or neighbours changed: move every slot to its new next hop. */
static void resolve_all(struct pso_broker *b)
{
	for (int h = 0; h < CLIENT_HASH_SIZE; h++) {
		for (struct client *c = b->clients[h]; c; c = c->next) {
			struct pso_sub old = c->slot;

			client_resolve(b, c);
			if (!memcmp(&old, &c->slot, sizeof(old)))
				continue;
			client_sync_slots(b, c);
			log_next_hop(b, c);
		}
	}
}

static void nh_changed(void *ctx)
{
	struct pso_broker *b = ctx;

	b->nh_changed = true;
}

static void advertise(struct pso_broker *b)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_ADVERTISE, .gw_id = b->cfg.gw_id, .duration = b->cfg.advertise_s,
	};
	struct pso_endpoint ep = { .family = PSO_AF_INET, .port = htons(b->cfg.udp_port) };

	/* Limited broadcast on every broker port's network. */
	memset(ep.addr, 0xff, 4);
	send_msg(b, &ep, NULL, &m);
}

/* ---- controller: one interface's mode, attach, detach ---------------------- */

static int port_config(struct pso_broker *b, const char *ifname, struct pso_port_cfg *cfg,
		       char *err, size_t errlen);

/* The NIC's table sizes, from its profile. */
static struct pso_hw_opts hw_opts_for(struct pso_broker *b, const struct pso_nic_profile *p);

/*
 * Does the offload build fit this profile?  Checked as it would be loaded:
 * the embedded object, its maps sized for the NIC.  0 fits, 1 does not (why
 * gets the first violation), negative when the check could not run.
 */
static int offload_check(struct pso_broker *b, const struct pso_nic_profile *p,
			 char *why, size_t len)
{
	struct psoffload_xdp_offload *skel = psoffload_xdp_offload__open();
	struct pso_hw_opts hw = hw_opts_for(b, p);
	struct pso_violations v = { 0 };
	int ret;

	if (!skel) {
		snprintf(why, len, "cannot open the offload build: %s", strerror(errno));
		return -EIO;
	}
	pso_dp_hw_size(skel, &hw);
	ret = pso_check_bpf_object(skel->obj, &p->offload, &v);
	if (ret == 1 && v.cnt)
		pso_violation_format(&v.v[0], why, len);
	else if (ret < 0)
		snprintf(why, len, "%s", v.error);
	pso_violations_free(&v);
	psoffload_xdp_offload__destroy(skel);
	return ret;
}

/* hw mode: the NIC's tables are filled, and then kept, by the table writer. */
static int nic_fill(void *ctx, int topics_fd, int clients_fd, int stats_fd, uint32_t topics)
{
	struct pso_broker *b = ctx;
	int ret = pso_tables_mirror_add(&b->tables, topics_fd, clients_fd, stats_fd, topics);

	if (!ret)
		b->filled_nic_fd = topics_fd;
	return ret;
}

static struct pso_hw_opts hw_opts_for(struct pso_broker *b, const struct pso_nic_profile *p)
{
	return (struct pso_hw_opts){
		.topics = p->offload_topics,
		.clients = p->offload_clients,
		.per_map = p->offload.max_entries_per_map,
		.fill = nic_fill,
		.ctx = b,
	};
}

static bool nic_native(const struct iface *f)
{
	return f->nic.features_known ? (f->nic.xdp_features & PSO_XDP_F_BASIC) != 0
				     : f->profile.xdp_native;
}

static void iface_detach(struct pso_broker *b, struct iface *f)
{
	struct pso_port *port = pso_dp_port_by_ifindex(&b->dp, f->ifindex);

	if (port && port->hw)
		pso_tables_mirror_remove(&b->tables, bpf_map__fd(port->hw->maps.pso_topics));
	pso_dp_detach(&b->dp, f->ifindex);
	f->attached = false;
	b->status_dirty = true;
}

/*
 * Discover the NIC, pick its mode (mode.c) and attach, stepping down the
 * plan when the kernel refuses a mode at run time (auto only).  On failure
 * nothing stays attached to the interface and err has one line.
 */
static int iface_attach(struct pso_broker *b, struct iface *f, char *err, size_t errlen)
{
	struct pso_mode_input in = { .requested = b->cfg.mode, .offload_check = -1 };
	struct pso_hw_opts hw;
	struct pso_mode_plan plan;
	struct pso_port_cfg pc;
	char why[256] = "", feats[128];
	int ret = -EINVAL;

	ret = pso_nic_query(f->name, &f->nic, err, errlen);
	if (ret)
		return ret;
	f->ifindex = f->nic.ifindex;
	ret = pso_profile_for_driver(b->cfg.profiles_dir, f->nic.driver, &f->profile, err, errlen);
	if (ret)
		return ret;
	in.features_known = f->nic.features_known;
	in.xdp_features = f->nic.xdp_features;
	in.profile = &f->profile;
	if (f->profile.hw_offload ||
	    (f->nic.features_known && (f->nic.xdp_features & PSO_XDP_F_HW_OFFLOAD)))
		in.offload_check = offload_check(b, &f->profile, why, sizeof(why));
	in.offload_check_why = why;
	pso_mode_choose(f->name, &in, &plan);
	if (!plan.ok) {
		snprintf(err, errlen, "%s", plan.error);
		return -EOPNOTSUPP;
	}
	ret = port_config(b, f->name, &pc, err, errlen);
	if (ret)
		return ret;

	snprintf(f->reason, sizeof(f->reason), "%s", plan.reason);
	hw = hw_opts_for(b, &f->profile);
	for (int i = 0; i < plan.nsteps; i++) {
		enum pso_mode mode = plan.steps[i];
		enum pso_mode host = nic_native(f) ? PSO_MODE_DRV : PSO_MODE_SKB;
		size_t n = strlen(f->reason);

		b->filled_nic_fd = -1;
		ret = pso_dp_attach(&b->dp, f->name, mode, host, &hw, &pc, err, errlen);
		if (!ret) {
			f->mode = mode;
			break;
		}
		/* The NIC's maps were filled before the attach failed, and are
		 * gone with the failed load: stop writing to them. */
		if (b->filled_nic_fd >= 0)
			pso_tables_mirror_remove(&b->tables, b->filled_nic_fd);
		if (i + 1 == plan.nsteps)
			break;
		pso_warn("%s; falling back to %s mode", err, pso_mode_name(plan.steps[i + 1]));
		snprintf(f->reason + n, sizeof(f->reason) - n, "; %s failed (%s), so %s",
			 pso_mode_name(mode), err, pso_mode_name(plan.steps[i + 1]));
	}
	if (ret) {
		if (b->cfg.mode != PSO_MODE_AUTO && b->cfg.mode != PSO_MODE_SKB) {
			size_t n = strlen(err);

			snprintf(err + n, errlen - n, "; try --mode=%s",
				 b->cfg.mode == PSO_MODE_HW && nic_native(f) ? "drv" : "skb");
		}
		return ret;
	}
	f->attached = true;
	b->status_dirty = true;
	{
		struct pso_link_info li;

		if (!pso_nh_link(b->nh, f->ifindex, &li)) {
			f->up = li.up;
			f->mtu = li.mtu;
		}
	}
	pso_info("%s: driver %s, XDP features %s, profile %s: %s mode (%s)", f->name,
		 f->nic.driver[0] ? f->nic.driver : "?",
		 f->nic.features_known ? pso_xdp_features_str(f->nic.xdp_features, feats, sizeof(feats))
				       : "unknown",
		 f->profile.name, pso_mode_name(f->mode), f->reason);
	return 0;
}

/*
 * A native-mode XDP_REDIRECT reaches a port only if its driver can transmit
 * XDP frames (ndo-xmit; a veth only while its peer runs XDP).  Ports that
 * cannot stay out of the devmap: one-subscriber publishes to them take the
 * TC path instead of being lost.  Generic-mode redirects go through the
 * stack and reach any device.
 */
static void redirect_targets_update(struct pso_broker *b)
{
	bool any_native = false;

	for (int i = 0; i < b->nifaces; i++)
		if (b->ifaces[i].attached && b->ifaces[i].mode != PSO_MODE_SKB)
			any_native = true;
	for (int i = 0; i < b->nifaces; i++) {
		struct iface *f = &b->ifaces[i];
		__u32 key = f->ifindex;
		bool ok;

		if (!f->attached)
			continue;
		pso_nic_query(f->name, &f->nic, NULL, 0);
		ok = !any_native || (f->nic.features_known ? (f->nic.xdp_features & PSO_XDP_F_NDO_XMIT)
							   : f->profile.xdp_redirect);
		if (ok)
			bpf_map_update_elem(b->dp.devmap_fd, &key, &key, BPF_ANY);
		else
			bpf_map_delete_elem(b->dp.devmap_fd, &key);
	}
}

/* Interfaces that went away, came back, went down or changed MTU. */
static void ifaces_check(struct pso_broker *b)
{
	char err[400];
	bool changed = false;

	for (int i = 0; i < b->nifaces; i++) {
		struct iface *f = &b->ifaces[i];
		int ifindex = if_nametoindex(f->name);
		struct pso_link_info li;

		if (f->attached && ifindex != f->ifindex) {
			pso_warn("%s: interface gone; serving the other interfaces", f->name);
			iface_detach(b, f);
			snprintf(f->reason, sizeof(f->reason), "interface gone");
			f->ifindex = 0;
			changed = true;
		}
		if (!f->attached && ifindex && ifindex != f->tried_ifindex) {
			/* Not before the link is in the caches and has an
			 * address: a re-created link gets its addresses after
			 * it appears, and its notifications may still be
			 * queued.  Their arrival calls us again. */
			if (pso_nh_link(b->nh, ifindex, &li) || (!li.has_ip4 && !li.has_ip6))
				continue;
			f->tried_ifindex = ifindex;	/* once per incarnation */
			if (iface_attach(b, f, err, sizeof(err))) {
				pso_warn("%s: back, but cannot attach: %s", f->name, err);
				snprintf(f->reason, sizeof(f->reason), "cannot attach: %s", err);
				continue;
			}
			pso_info("%s: interface back: serving it again", f->name);
			changed = true;
		}
		if (!f->attached || pso_nh_link(b->nh, f->ifindex, &li))
			continue;
		if (li.up != f->up)
			pso_info("%s: link %s", f->name, li.up ? "up" : "down");
		if (f->mtu && li.mtu != f->mtu)
			pso_info("%s: MTU %u -> %u", f->name, f->mtu, li.mtu);
		if (li.up != f->up || li.mtu != f->mtu)
			b->status_dirty = true;
		f->up = li.up;
		f->mtu = li.mtu;
	}
	if (changed)
		redirect_targets_update(b);
}

/* ---- hw mode: the busiest topics in the NIC -------------------------------- */

#define PLACEMENT_HYSTERESIS_PCT 25
#define PLACEMENT_MIN_MARGIN 4		/* messages per interval */

static uint64_t host_topic_msgs(struct pso_broker *b, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct pso_topic_stats vals[ncpu > 0 ? ncpu : 1];
	uint64_t sum = 0;

	if (ncpu < 1 || bpf_map_lookup_elem(b->dp.topic_stats_fd, &id, vals))
		return 0;
	for (int c = 0; c < ncpu; c++)
		sum += vals[c].msgs;
	return sum;
}

static uint64_t nic_topic_msgs(const struct pso_tables *t, uint32_t id)
{
	uint64_t sum = 0;

	for (int i = 0; i < t->nmirrors; i++) {
		struct pso_topic_stats st;

		if (pso_tables_mirror_is_placed(&t->mirrors[i], id) &&
		    !bpf_map_lookup_elem(t->mirrors[i].stats_fd, &id, &st))
			sum += st.msgs;
	}
	return sum;
}

static void log_placement(struct pso_port *port, const struct pso_place_plan *plan)
{
	char buf[256];
	size_t off = 0;

	for (int i = 0; i < plan->nplace && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s+%u", off ? " " : "", plan->place[i]);
	for (int i = 0; i < plan->nunplace && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s-%u", off ? " " : "", plan->unplace[i]);
	pso_info("%s: NIC topic table: %s", port->name, buf);
}

/*
 * Every interval: message rates of all topics (host counters plus the
 * NICs'), then per hw port the plan of placement.c, applied.  Placing
 * writes the NIC's entry whole and taking out deletes it, so each publish
 * is served by exactly one of the NIC and the host: none lost, none twice.
 */
static void placement_round(struct pso_broker *b)
{
	struct pso_place_topic *topics;
	uint16_t *place, *unplace;
	int n = 0;
	bool any = false;

	for (int i = 0; i < b->dp.nports; i++)
		any |= b->dp.ports[i].hw_attached;
	if (!any)
		return;
	topics = calloc(b->tables.max_topics, sizeof(*topics));
	place = calloc(b->tables.max_topics, sizeof(*place));
	unplace = calloc(b->tables.max_topics, sizeof(*unplace));
	if (!topics || !place || !unplace)
		goto out;
	for (uint32_t id = 1; id < b->tables.max_topics; id++) {
		uint64_t total;

		if (!(b->tables.topics[id].flags & PSO_TOPIC_F_VALID))
			continue;
		total = host_topic_msgs(b, id) + nic_topic_msgs(&b->tables, id) + b->topic_retired[id];
		topics[n].id = id;
		topics[n].rate = total - b->topic_last[id];
		b->topic_last[id] = total;
		n++;
	}
	for (int p = 0; p < b->dp.nports; p++) {
		struct pso_port *port = &b->dp.ports[p];
		struct pso_place_plan plan = { .place = place, .unplace = unplace };
		struct pso_tables_mirror *m;

		if (!port->hw_attached)
			continue;
		m = pso_tables_mirror_find(&b->tables, bpf_map__fd(port->hw->maps.pso_topics));
		if (!m)
			continue;
		for (int i = 0; i < n; i++) {
			const struct pso_topic *t = &b->tables.topics[topics[i].id];

			/* The NIC finishes only one subscriber behind its own port. */
			topics[i].candidate = t->sub_count == 1 && t->first.ifindex == (__u32)port->ifindex &&
					      (t->first.flags & PSO_SUB_F_RESOLVED);
			topics[i].placed = pso_tables_mirror_is_placed(m, topics[i].id);
		}
		pso_placement_plan(topics, n, m->capacity, PLACEMENT_HYSTERESIS_PCT,
				   PLACEMENT_MIN_MARGIN, &plan);
		for (int i = 0; i < plan.nunplace; i++) {
			struct pso_topic_stats last = { 0 };

			if (!pso_tables_mirror_unplace(&b->tables, m, plan.unplace[i], &last))
				b->topic_retired[plan.unplace[i]] += last.msgs;
		}
		for (int i = 0; i < plan.nplace; i++)
			if (pso_tables_mirror_place(&b->tables, m, plan.place[i]))
				pso_warn("%s: cannot place topic %u in the NIC", port->name, plan.place[i]);
		if (plan.nplace || plan.nunplace) {
			log_placement(port, &plan);
			b->status_dirty = true;
		}
	}
out:
	free(topics);
	free(place);
	free(unplace);
}

/* ---- status file ---------------------------------------------------------- */

static struct json_object *usage_obj(uint64_t used, uint64_t cap)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "used", json_object_new_uint64(used));
	json_object_object_add(o, "capacity", json_object_new_uint64(cap));
	return o;
}

static void status_write(struct pso_broker *b);

#define STATUS_MIN_INTERVAL_MS 100

/* Rewrite the status file when something moved, at most every 100 ms. */
static void status_refresh(struct pso_broker *b)
{
	uint32_t ntopics = pso_registry_count(b->reg);

	if (b->now_ms - b->status_written_ms < STATUS_MIN_INTERVAL_MS)
		return;

	if (b->tables.nsubs != b->status_nsubs || b->tables.nclients != b->status_nclients ||
	    ntopics != b->status_ntopics) {
		b->status_nsubs = b->tables.nsubs;
		b->status_nclients = b->tables.nclients;
		b->status_ntopics = ntopics;
		b->status_dirty = true;
	}
	status_write(b);
}

static void status_write(struct pso_broker *b)
{
	struct json_object *root, *broker, *ifs, *tables, *daemon;
	uint32_t topics = 0;
	char tmp[600], feats[128];

	if (!b->status_path[0] || !b->status_dirty)
		return;
	b->status_dirty = false;
	b->status_written_ms = b->now_ms;
	root = json_object_new_object();
	broker = json_object_new_object();
	json_object_object_add(broker, "pid", json_object_new_int(getpid()));
	json_object_object_add(broker, "udp_port", json_object_new_int(b->cfg.udp_port));
	json_object_object_add(broker, "pin_dir", json_object_new_string(b->cfg.pin_dir));
	json_object_object_add(broker, "requested_mode",
			       json_object_new_string(pso_mode_name(b->cfg.mode)));
	json_object_object_add(root, "broker", broker);

	ifs = json_object_new_array();
	for (int i = 0; i < b->nifaces; i++) {
		struct iface *f = &b->ifaces[i];
		struct pso_port *port = f->attached ? pso_dp_port_by_ifindex(&b->dp, f->ifindex) : NULL;
		struct json_object *o = json_object_new_object(), *progs = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(f->name));
		json_object_object_add(o, "ifindex", json_object_new_int(f->ifindex));
		json_object_object_add(o, "driver", json_object_new_string(f->nic.driver));
		json_object_object_add(o, "profile", json_object_new_string(f->profile.name));
		json_object_object_add(o, "xdp_features", json_object_new_string(
			f->nic.features_known ? pso_xdp_features_str(f->nic.xdp_features, feats,
								     sizeof(feats)) : "unknown"));
		json_object_object_add(o, "state", json_object_new_string(
			!f->attached ? (f->ifindex ? "failed" : "gone") : f->up ? "up" : "down"));
		json_object_object_add(o, "mode", json_object_new_string(
			port ? pso_mode_name(port->mode) : "none"));
		json_object_object_add(o, "host_mode", json_object_new_string(
			port ? pso_mode_name(port->host_mode) : "none"));
		json_object_object_add(o, "reason", json_object_new_string(f->reason));
		json_object_object_add(progs, "xdp", json_object_new_int(port ? port->xdp_prog_id : 0));
		json_object_object_add(progs, "xdp_hw", json_object_new_int(port ? port->hw_prog_id : 0));
		json_object_object_add(progs, "tc", json_object_new_int(port ? port->tc_prog_id : 0));
		json_object_object_add(o, "programs", progs);
		json_object_object_add(o, "mtu", json_object_new_int(f->mtu));
		if (port && port->hw) {
			struct pso_tables_mirror *m =
				pso_tables_mirror_find(&b->tables, bpf_map__fd(port->hw->maps.pso_topics));
			struct json_object *placed = json_object_new_array();

			for (uint32_t id = 0; m && id < b->tables.max_topics; id++)
				if (pso_tables_mirror_is_placed(m, id))
					json_object_array_add(placed, json_object_new_int(id));
			json_object_object_add(o, "nic_topics_capacity", json_object_new_int(port->hw_topics));
			json_object_object_add(o, "nic_topics", placed);
		}
		json_object_array_add(ifs, o);
	}
	json_object_object_add(root, "interfaces", ifs);

	for (uint32_t id = 0; id < b->tables.max_topics; id++)
		if (b->tables.topics[id].flags & PSO_TOPIC_F_VALID)
			topics++;
	tables = json_object_new_object();
	json_object_object_add(tables, "topics", usage_obj(topics, b->tables.max_topics));
	json_object_object_add(tables, "subscribers",
			       usage_obj(b->tables.nsubs, (uint64_t)b->tables.max_topics * b->tables.max_subs));
	json_object_object_add(tables, "clients", usage_obj(b->tables.nclients, b->tables.max_clients));
	json_object_object_add(tables, "subscribers_per_topic", json_object_new_int(b->tables.max_subs));
	json_object_object_add(root, "tables", tables);

	daemon = json_object_new_object();
	json_object_object_add(daemon, "rx_msgs", json_object_new_uint64(b->stats.rx_msgs));
	json_object_object_add(daemon, "rx_malformed", json_object_new_uint64(b->stats.rx_malformed));
	json_object_object_add(daemon, "rx_unsupported", json_object_new_uint64(b->stats.rx_unsupported));
	json_object_object_add(daemon, "host_deliveries", json_object_new_uint64(b->stats.host_deliveries));
	json_object_object_add(daemon, "congestion", json_object_new_uint64(b->stats.congestion));
	json_object_object_add(daemon, "expired", json_object_new_uint64(b->stats.expired));
	json_object_object_add(daemon, "nic_write_errors", json_object_new_uint64(b->tables.mirror_errors));
	json_object_object_add(daemon, "nic_table_full", json_object_new_uint64(b->tables.mirror_full));
	json_object_object_add(root, "daemon", daemon);

	mkdir(PSO_STATUS_DIR, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->status_path);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) || rename(tmp, b->status_path))
		pso_warn("cannot write status file %s: %s", b->status_path, strerror(errno));
	json_object_put(root);
}

/* ---- start, run, stop --------------------------------------------------- */

static int open_socket(struct pso_broker *b, char *err, size_t errlen)
{
	struct sockaddr_in6 sa = {
		.sin6_family = AF_INET6, .sin6_port = htons(b->cfg.udp_port), .sin6_addr = in6addr_any,
	};
	int off = 0, on = 1, rcvbuf = 4 << 20;

	b->sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (b->sock < 0 ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IP, IP_RECVFRAGSIZE, &on, sizeof(on)) ||
	    setsockopt(b->sock, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on))) {
		snprintf(err, errlen, "cannot open the broker socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(b->sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(b->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errlen, "cannot bind UDP port %u: %s", b->cfg.udp_port, strerror(errno));
		return -errno;
	}
	return 0;
}

static int port_config(struct pso_broker *b, const char *ifname, struct pso_port_cfg *cfg,
		       char *err, size_t errlen)
{
	struct pso_link_info li;
	int ifindex = if_nametoindex(ifname);

	if (!ifindex) {
		snprintf(err, errlen, "%s: no such interface", ifname);
		return -ENODEV;
	}
	if (pso_nh_link(b->nh, ifindex, &li)) {
		snprintf(err, errlen, "%s: cannot read the link's addresses", ifname);
		return -ENODEV;
	}
	if (!li.has_ip4 && !li.has_ip6) {
		snprintf(err, errlen, "%s: no IPv4 or global IPv6 address to serve on", ifname);
		return -EADDRNOTAVAIL;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->ifindex = ifindex;
	cfg->udp_port = htons(b->cfg.udp_port);
	memcpy(cfg->mac, li.mac, sizeof(cfg->mac));
	if (li.has_ip4)
		memcpy(&cfg->ip4, li.ip4, 4);
	if (li.has_ip6)
		memcpy(cfg->ip6, li.ip6, 16);
	return 0;
}

int pso_broker_start(struct pso_broker **out, const struct pso_broker_cfg *cfg,
		     char *err, size_t errlen)
{
	struct pso_broker *b = calloc(1, sizeof(*b));
	sigset_t mask;
	int ret;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->cfg = *cfg;
	b->sock = b->sigfd = -1;
	b->now_ms = now_ms();
	if (cfg->nifnames > PSO_MAX_PORTS) {
		snprintf(err, errlen, "too many interfaces (at most %d)", PSO_MAX_PORTS);
		ret = -E2BIG;
		goto fail;
	}
	b->reg = pso_registry_new(PSO_MAX_TOPICS);
	b->retained = calloc(PSO_MAX_TOPICS, sizeof(*b->retained));
	b->topic_last = calloc(PSO_MAX_TOPICS, sizeof(*b->topic_last));
	b->topic_retired = calloc(PSO_MAX_TOPICS, sizeof(*b->topic_retired));
	if (!b->reg || !b->retained || !b->topic_last || !b->topic_retired) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	if (cfg->predefined_path) {
		ret = pso_registry_load_predefined(b->reg, cfg->predefined_path, err, errlen);
		if (ret)
			goto fail;
	}
	ret = pso_nh_open(&b->nh, nh_changed, b);
	if (ret) {
		snprintf(err, errlen, "cannot read routes and neighbours (netlink): %s", strerror(-ret));
		goto fail;
	}
	/* Its pins and status file are another live broker's: hands off. */
	if (cfg->pin_dir && pso_status_owner(cfg->pin_dir)) {
		snprintf(err, errlen, "pin directory %s is in use by the broker with pid %d; use --pin-dir",
			 cfg->pin_dir, pso_status_owner(cfg->pin_dir));
		ret = -EBUSY;
		goto fail;
	}
	ret = pso_dp_load(&b->dp, cfg->pin_dir, err, errlen);
	if (ret)
		goto fail;
	ret = pso_tables_init(&b->tables, b->dp.topics_fd, b->dp.subs_fd, b->dp.clients_fd,
			      PSO_MAX_TOPICS, PSO_MAX_SUBS, PSO_MAX_CLIENTS);
	if (!ret)
		ret = pso_tables_use_client_slots(&b->tables, b->dp.client_slots_fd);
	if (ret) {
		snprintf(err, errlen, "cannot set up the tables: %s", strerror(-ret));
		goto fail;
	}
	pso_registry_foreach(b->reg, load_predefined_topic, b);

	for (int i = 0; i < cfg->nifnames; i++) {
		struct iface *f = &b->ifaces[b->nifaces++];

		snprintf(f->name, sizeof(f->name), "%s", cfg->ifnames[i]);
		ret = iface_attach(b, f, err, errlen);
		if (ret)
			goto fail;
	}
	redirect_targets_update(b);
	ret = open_socket(b, err, errlen);
	if (ret)
		goto fail;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	b->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (b->sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		ret = -errno;
		goto fail;
	}
	if (cfg->pin_dir) {
		pso_status_path(cfg->pin_dir, b->status_path, sizeof(b->status_path));
		b->status_dirty = true;
		status_write(b);
	}
	*out = b;
	return 0;
fail:
	pso_broker_stop(b);
	return ret ? ret : -EIO;
}

int pso_broker_run(struct pso_broker *b)
{
	static uint8_t rxbuf[MQTTSN_MAX_MSG];
	uint64_t next_tick = now_ms() + TICK_MS;

	pso_info("serving MQTT-SN on UDP port %u", b->cfg.udp_port);
	if (b->cfg.advertise_s)
		b->next_advertise_ms = now_ms();
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = b->sock, .events = POLLIN },
			{ .fd = pso_nh_fd(b->nh), .events = POLLIN },
			{ .fd = b->sigfd, .events = POLLIN },
		};
		int timeout;

		b->now_ms = now_ms();
		status_refresh(b);
		timeout = next_tick > b->now_ms ? (int)(next_tick - b->now_ms) : 0;
		/* A change the rate limit held back is written soon. */
		if (b->status_dirty && timeout > STATUS_MIN_INTERVAL_MS)
			timeout = STATUS_MIN_INTERVAL_MS;
		if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
			pso_err("poll: %s", strerror(errno));
			return -errno;
		}
		b->now_ms = now_ms();
		if (pfd[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(b->sigfd, &si, sizeof(si)) == sizeof(si))
				pso_info("signal %u: stopping", si.ssi_signo);
			return 0;
		}
		if (pfd[1].revents & POLLIN)
			pso_nh_process(b->nh);
		if (pfd[0].revents & POLLIN) {
			/* Bounded batch, so timers and signals keep their turn. */
			for (int i = 0; i < 256; i++)
				if (receive_one(b, rxbuf, sizeof(rxbuf)) == -EAGAIN)
					break;
		}
		if (b->nh_changed) {
			b->nh_changed = false;
			ifaces_check(b);
			resolve_all(b);
		}
		if (b->now_ms >= next_tick) {
			next_tick = b->now_ms + TICK_MS;
			keepalive_check(b);
			if (b->now_ms >= b->next_placement_ms) {
				/* A veth becomes a redirect target only when its
				 * peer gets XDP, and no link event says so. */
				redirect_targets_update(b);
				placement_round(b);
				b->next_placement_ms = b->now_ms + b->cfg.placement_ms;
			}
			if (b->cfg.advertise_s && b->now_ms >= b->next_advertise_ms) {
				advertise(b);
				b->next_advertise_ms = b->now_ms + b->cfg.advertise_s * 1000ull;
			}
		}
	}
}

void pso_broker_stop(struct pso_broker *b)
{
	if (!b)
		return;
	for (int h = 0; h < CLIENT_HASH_SIZE; h++) {
		struct client *c, *next;

		for (c = b->clients[h]; c; c = next) {
			next = c->next;
			for (int i = 0; i < c->nsubs; i++)
				subscription_free(&c->subs[i]);
			free(c->subs);
			free(c->held);
			free(c);
		}
	}
	if (b->status_path[0])
		unlink(b->status_path);
	if (b->sock >= 0)
		close(b->sock);
	if (b->sigfd >= 0)
		close(b->sigfd);
	pso_dp_close(&b->dp);
	if (b->tables.topics)
		pso_tables_free(&b->tables);
	if (b->nh)
		pso_nh_close(b->nh);
	if (b->retained)
		for (uint32_t i = 0; i < PSO_MAX_TOPICS; i++)
			free(b->retained[i]);
	free(b->retained);
	free(b->topic_last);
	free(b->topic_retired);
	if (b->reg)
		pso_registry_free(b->reg);
	free(b);
}

const struct pso_broker_stats *pso_broker_stats(const struct pso_broker *b)
{
	return &b->stats;
}
