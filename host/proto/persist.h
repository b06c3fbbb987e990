/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * persist.h - the protocol layer's lasting state as plain records, for a
 * store (host/store/) to keep and to give back at the next start.
 *
 * Three kinds of record, each with its key:
 *   - a session, by client id: what struct pso_client holds that outlives
 *     the process (endpoint, flags, will, subscriptions, sleep, the QoS 1/2
 *     deliveries and QoS 0 sleep buffer it is owed);
 *   - a registered topic, by id: its name (predefined topics come from the
 *     predefined file at every start and are not records);
 *   - a retained message, by topic id.
 * The layer reports what changed through the optional ops
 * session_changed / topic_changed / retained_changed (proto.h); the owner
 * of the store reads the records back with pso_proto_export_*() when it
 * writes (once per event-loop round), so a record is always whole and
 * current.  Holds (which topics a filter took) are not kept: they follow
 * from the subscriptions and the registry when a session is imported.
 *
 * This file knows nothing of SQLite or any other store.
 */
#ifndef PSO_PERSIST_H
#define PSO_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "proto/mqttsn.h"
#include "proto/proto.h"
#include "util/endpoint.h"

enum pso_rec_kind {
	PSO_REC_TOPIC = 1,	/* imported first: sessions refer to topics */
	PSO_REC_RETAINED,
	PSO_REC_SESSION,
};
#define PSO_REC__KINDS 4

/* A subscription as asked for (enum pso_sub_kind in session.h). */
struct pso_rec_sub {
	uint8_t kind;		/* PSO_SUB_NAME, _FILTER, _PREDEFINED, _SHORT */
	uint8_t qos;		/* granted */
	uint16_t topic_id;	/* a predefined subscription's id (else informative) */
	char *filter;		/* name, filter or short name; NULL for predefined */
};

/* A message a session is owed. */
enum pso_rec_box { PSO_BOX_OUTBOX, PSO_BOX_SLEEP };
struct pso_rec_msg {
	uint8_t box;		/* enum pso_rec_box */
	uint8_t state;		/* outbox: enum pso_out_state */
	bool sent_before;
	uint16_t msg_id;
	uint8_t flags;		/* QoS, RETAIN, TopicIdType as the client gets them */
	uint16_t topic_field;
	size_t len;
	uint8_t *data;
};

struct pso_rec_session {
	char id[MQTTSN_CLIENT_ID_MAX + 1];
	bool clean;		/* CleanSession of its CONNECT */
	bool connected;		/* at ep when it was written */
	bool asleep;
	struct pso_endpoint ep;	/* connected, not forwarded */
	struct in6_pktinfo local;
	struct mqttsn_encap fwd;	/* fwd.node_len > 0: behind a forwarder */
	struct pso_endpoint fwd_ep;
	struct in6_pktinfo fwd_local;
	uint16_t keepalive_s, sleep_s;
	uint16_t next_msg_id;
	uint64_t lost_unix_ms;	/* offline: since when (CLOCK_REALTIME) */
	uint16_t qos2[16];	/* QoS 2 publishes received, PUBREL not yet */
	int nqos2;
	char *will_topic;	/* NULL: no will */
	uint8_t will_flags;
	uint8_t *will_msg;
	size_t will_len;
	struct pso_rec_sub *subs;
	int nsubs;
	uint16_t *told;		/* registered topic ids it knows (REGACK, SUBACK,
				 * REGISTER): its topics stay while it does */
	int ntold;
	struct pso_rec_msg *msgs;	/* the outbox in order, then the sleep buffer */
	int nmsgs;
	/* Address validation, opaque to a store (written and read back
	 * whole): one byte of PSO_REC_VALID_* today. */
	uint8_t *validation;
	size_t validation_len;
};

#define PSO_REC_VALID_OK	0x1	/* the connection's address was proven */
#define PSO_REC_VALID_ONCE	0x2	/* some connection of the session's was */

struct pso_rec_topic {
	uint16_t id;
	char *name;
};

struct pso_rec_retained {
	uint16_t topic_id;
	uint8_t flags;
	size_t len;
	uint8_t *data;
};

struct pso_rec {
	enum pso_rec_kind kind;
	union {
		struct pso_rec_session s;
		struct pso_rec_topic t;
		struct pso_rec_retained r;
	};
};

/* Free what a record owns (not rec itself). */
void pso_rec_free(struct pso_rec *rec);

/* The current state as a record (fields owned by rec): 0, or -ENOENT when
 * there is none any more (the session ended, the topic is predefined or
 * unknown, no retained message): the store deletes it.  -ENOMEM. */
int pso_proto_export_session(struct pso_proto *p, const char *client_id, uint64_t now_unix_ms,
			     struct pso_rec *rec);
int pso_proto_export_topic(struct pso_proto *p, uint16_t id, struct pso_rec *rec);
int pso_proto_export_retained(struct pso_proto *p, uint16_t id, struct pso_rec *rec);

/*
 * At start, before the first datagram: one record back into the layer,
 * topics first, then retained messages, then sessions.  A session that was
 * connected gets its client-table entry and its slots again (not servable
 * yet) and a full keep-alive period of grace from now_ms; one that was
 * offline keeps counting its expiry from when it was lost.  A record that
 * no longer fits (its topic id is predefined now under another name, a
 * table is full, the name is bad) is refused with -EEXIST, -ENOSPC or
 * -EINVAL and one line in err; the caller logs it and goes on.
 */
int pso_proto_import(struct pso_proto *p, const struct pso_rec *rec, uint64_t now_ms,
		     uint64_t now_unix_ms, char *err, size_t errlen);
/*
 * Once the broker can send: every imported session that is connected and
 * awake gets what it is owed (REGISTERs of the topics it was not told,
 * its slots servable, its buffered publishes, its outbox from the message
 * in flight, sent again with DUP), and every connected one a full
 * keep-alive period of grace from now_ms (a hot standby imported them
 * long before it takes over).  Returns how many were resumed.
 */
uint32_t pso_proto_resume_imported(struct pso_proto *p, uint64_t now_ms);

/*
 * A hot standby (ha/) keeps its layer in step with the leader's records:
 * a record it had is replaced by the new one (a session forgotten, then
 * imported again; a retained message stored again), a deleted one goes.
 * Forgetting sends nothing and publishes no will (the leader does what
 * the session's end calls for): the session's table entries go, quietly.
 * pso_proto_apply(): rec is a put, or a delete when deleted (rec: the
 * kind and key only); same errors as pso_proto_import.
 */
int pso_proto_apply(struct pso_proto *p, const struct pso_rec *rec, bool deleted,
		    uint64_t now_ms, uint64_t now_unix_ms, char *err, size_t errlen);
/* Every session forgotten (before a full list is applied again). */
uint32_t pso_proto_forget_sessions(struct pso_proto *p);

#endif /* PSO_PERSIST_H */
