// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * held.c - write before acknowledge: the replies that accept a change are
 * held until the store has it.
 *
 * With holding on (a store that outlives the process: the daemon turns it
 * on), a CONNACK, REGACK, SUBACK, UNSUBACK, WILLTOPICRESP or WILLMSGRESP,
 * and the PUBACK or PUBREC that accepts a QoS 1/2 publish, is not sent
 * when the handler sends it but kept, in order, with everything sent after
 * it to the same endpoint in the same round (so that a client never gets
 * the publishes or REGISTERs behind a CONNACK or SUBACK before it).  At
 * the end of the round the daemon commits the round's changes, then
 * releases what is held:
 *   - committed: every message goes out as it was;
 *   - not committed: an acceptance goes out as a refusal, "rejected:
 *     congestion" (0x01), where the message has a return code; UNSUBACK
 *     and PUBREC have none and are not sent (the client asks again, by
 *     its own retry); messages held only for their order go out.  Each
 *     counted (stats.store_refused).  The change itself stays queued in
 *     the store and is written by a later round; a client that asks again
 *     then gets its acceptance.
 * With holding off (--store=none), everything is sent at once, as before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "util/log.h"

struct pso_held {
	struct pso_held *next;
	struct pso_endpoint ep;
	struct in6_pktinfo local;
	bool has_local;
	bool wrapped;			/* behind a forwarder: encap */
	struct mqttsn_encap encap;
	struct mqttsn_msg m;		/* m.data points into data[] */
	uint8_t data[];
};

/* Does m tell a client that a change was accepted? */
static bool is_acceptance(const struct mqttsn_msg *m)
{
	switch (m->type) {
	case MQTTSN_CONNACK:
	case MQTTSN_REGACK:
	case MQTTSN_SUBACK:
	case MQTTSN_PUBACK:
	case MQTTSN_WILLTOPICRESP:
	case MQTTSN_WILLMSGRESP:
		return m->return_code == MQTTSN_RC_ACCEPTED;
	case MQTTSN_UNSUBACK:
	case MQTTSN_PUBREC:
		return true;
	default:
		return false;
	}
}

static bool endpoint_held(const struct pso_proto *p, const struct pso_endpoint *ep)
{
	for (const struct pso_held *h = p->held; h; h = h->next)
		if (!memcmp(&h->ep, ep, sizeof(*ep)))
			return true;
	return false;
}

bool pso_held_take(struct pso_proto *p, const struct pso_endpoint *ep,
		   const struct in6_pktinfo *local, const struct mqttsn_encap *encap,
		   const struct mqttsn_msg *m)
{
	struct pso_held *h;

	if (!p->hold_acks || (!is_acceptance(m) && !endpoint_held(p, ep)))
		return false;
	h = calloc(1, sizeof(*h) + m->data_len);
	if (!h) {
		/* Sent now rather than lost: the one case an acceptance can
		 * come before its commit. */
		pso_warn("out of memory: a %s is sent before the store has its change",
			 mqttsn_type_name(m->type));
		return false;
	}
	h->ep = *ep;
	if (local) {
		h->local = *local;
		h->has_local = true;
	}
	if (encap) {
		h->encap = *encap;
		h->wrapped = true;
	}
	h->m = *m;
	if (m->data_len)
		memcpy(h->data, m->data, m->data_len);
	h->m.data = h->data;
	*p->held_tail = h;
	p->held_tail = &h->next;
	p->nheld++;
	return true;
}

void pso_proto_hold_acks(struct pso_proto *p, bool on)
{
	if (!on)
		pso_proto_release_held(p, true);
	p->hold_acks = on;
}

uint32_t pso_proto_held(const struct pso_proto *p)
{
	return p->nheld;
}

uint32_t pso_proto_release_held(struct pso_proto *p, bool committed)
{
	struct pso_held *h = p->held;
	uint32_t refused = 0;
	bool hold = p->hold_acks;

	p->held = NULL;
	p->held_tail = &p->held;
	p->nheld = 0;
	/* What goes out now is sent, not held again. */
	p->hold_acks = false;
	while (h) {
		struct pso_held *next = h->next;
		bool send = true;

		if (!committed && is_acceptance(&h->m)) {
			refused++;
			if (h->m.type == MQTTSN_UNSUBACK || h->m.type == MQTTSN_PUBREC)
				send = false;
			else
				h->m.return_code = MQTTSN_RC_CONGESTION;
		}
		if (send && h->wrapped)
			pso_fwd_send(p, &h->ep, h->has_local ? &h->local : NULL, &h->encap, &h->m);
		else if (send)
			pso_send_msg(p, &h->ep, h->has_local ? &h->local : NULL, &h->m);
		free(h);
		h = next;
	}
	p->hold_acks = hold;
	p->stats.store_refused += refused;
	return refused;
}

void pso_held_free(struct pso_proto *p)
{
	struct pso_held *h = p->held;

	while (h) {
		struct pso_held *next = h->next;

		free(h);
		h = next;
	}
	p->held = NULL;
	p->held_tail = &p->held;
	p->nheld = 0;
}
