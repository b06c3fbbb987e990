// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * forward.c - clients behind a forwarder (MQTT-SN 5.5).
 *
 * A forwarder relays its wireless nodes' messages wrapped in an
 * encapsulation header (0xFE, the node's id).  The gateway knows such a
 * client by (forwarder endpoint, node id), answers and delivers to it in
 * the same wrapping, and otherwise treats it as any client: the same
 * sessions, subscriptions, QoS, sleep and will.  Its publishes and its
 * deliveries take the host path: the data plane neither unwraps nor wraps.
 */
#include <string.h>
#include "proto/session.h"

static unsigned int fwd_hash(const struct pso_endpoint *ep, const struct mqttsn_encap *e)
{
	uint32_t h = 2166136261u;
	const uint8_t *b = (const uint8_t *)ep;

	for (size_t i = 0; i < sizeof(*ep); i++)
		h = (h ^ b[i]) * 16777619u;
	for (size_t i = 0; i < e->node_len; i++)
		h = (h ^ e->node[i]) * 16777619u;
	return h % PSO_CLIENT_HASH_SIZE;
}

struct pso_client *pso_fwd_find(struct pso_proto *p, const struct pso_endpoint *fwd_ep,
				const struct mqttsn_encap *e)
{
	for (struct pso_client *c = p->by_fwd[fwd_hash(fwd_ep, e)]; c; c = c->next_fwd)
		if (!memcmp(&c->fwd_ep, fwd_ep, sizeof(*fwd_ep)) && c->fwd.node_len == e->node_len &&
		    !memcmp(c->fwd.node, e->node, e->node_len))
			return c;
	return NULL;
}

void pso_fwd_placeholder(struct pso_proto *p, struct pso_endpoint *ep)
{
	uint64_t n = ++p->fwd_placeholders;

	/* 100::/64 is discard-only (RFC 6666): nothing is ever sent there. */
	memset(ep, 0, sizeof(*ep));
	ep->family = PSO_AF_INET6;
	ep->addr[0] = 0x01;
	for (int i = 0; i < 8; i++)
		ep->addr[15 - i] = (uint8_t)(n >> (8 * i));
}

static void unlink_fwd(struct pso_proto *p, struct pso_client *c)
{
	struct pso_client **pp;

	if (!pso_client_forwarded(c))
		return;
	for (pp = &p->by_fwd[fwd_hash(&c->fwd_ep, &c->fwd)]; *pp && *pp != c; pp = &(*pp)->next_fwd)
		;
	if (*pp)
		*pp = c->next_fwd;
	memset(&c->fwd, 0, sizeof(c->fwd));
}

void pso_fwd_set(struct pso_proto *p, struct pso_client *c, const struct mqttsn_encap *e,
		 const struct pso_endpoint *fwd_ep, const struct in6_pktinfo *fwd_local)
{
	unsigned int h;

	unlink_fwd(p, c);
	if (!e)
		return;
	c->fwd = *e;
	c->fwd_ep = *fwd_ep;
	c->fwd_local = *fwd_local;
	h = fwd_hash(fwd_ep, e);
	c->next_fwd = p->by_fwd[h];
	p->by_fwd[h] = c;
}

int pso_fwd_send(struct pso_proto *p, const struct pso_endpoint *ep,
		 const struct in6_pktinfo *local, const struct mqttsn_encap *e,
		 const struct mqttsn_msg *m)
{
	static uint8_t wrapped[MQTTSN_MAX_MSG];
	ssize_t n;

	if (pso_held_take(p, ep, local, e, m))
		return 0;
	n = mqttsn_encode(m, p->txbuf, sizeof(p->txbuf));
	if (n >= 0)
		n = mqttsn_encap(e, p->txbuf, (size_t)n, wrapped, sizeof(wrapped));
	if (n < 0)
		return (int)n;
	return p->ops->send(p->ctx, ep, local, wrapped, (size_t)n);
}
