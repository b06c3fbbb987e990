/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * handlers.h - inside the protocol layer: a received datagram as the
 * handlers see it, and the replies to its sender (handlers.c, connect.c).
 */
#ifndef PSO_HANDLERS_H
#define PSO_HANDLERS_H

#include "proto/session.h"

/* One decoded datagram and who sent it. */
struct rx {
	struct pso_endpoint ep;		/* behind a forwarder: the placeholder */
	struct in6_pktinfo local;	/* our address and ingress ifindex */
	bool judged;			/* see struct pso_rx */
	uint64_t rx_ns;			/* see struct pso_rx */
	size_t len;			/* the whole datagram, envelope included */
	struct pso_client *c;		/* NULL: not connected */
	struct mqttsn_msg m;
	/* wrapped by a forwarder (fwd != NULL) */
	const struct mqttsn_encap *fwd;
	struct pso_endpoint fwd_ep;
	struct in6_pktinfo fwd_local;
};

/* Answer the sender, in the wrapping it came in. */
int pso_reply(struct pso_proto *p, const struct rx *rx, const struct mqttsn_msg *m);
int pso_reply_simple(struct pso_proto *p, const struct rx *rx, uint8_t type);
/* A reply to a sender without a session, within pso_reply_unknown()'s
 * bound. */
int pso_reply_unknown_rx(struct pso_proto *p, const struct rx *rx, uint8_t type);

/* connect.c: CONNECT, the will handshake, sessions resumed. */
void pso_handle_connect(struct pso_proto *p, struct rx *rx);
void pso_handle_will(struct pso_proto *p, struct rx *rx);

#endif /* PSO_HANDLERS_H */
