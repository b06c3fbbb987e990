/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * mqttsn.h - MQTT-SN v1.2 message encoding and decoding (user space).
 *
 * One struct holds any message; which fields mean something depends on the
 * type (see the table in mqttsn.c).  Decoding never copies: `data` points
 * into the caller's buffer.  Wire constants come from bpf/psoffload_abi.h.
 */
#ifndef PSO_MQTTSN_H
#define PSO_MQTTSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "psoffload_abi.h"

#define MQTTSN_MAX_MSG 65535
#define MQTTSN_CLIENT_ID_MAX 23

struct mqttsn_msg {
	uint8_t type;		/* enum mqttsn_msg_type */
	uint8_t flags;		/* CONNECT, WILLTOPIC(UPD), PUBLISH, SUBSCRIBE, SUBACK, UNSUBSCRIBE */
	uint8_t return_code;	/* CONNACK, REGACK, PUBACK, SUBACK, WILLTOPICRESP, WILLMSGRESP */
	uint8_t gw_id;		/* ADVERTISE, GWINFO */
	uint8_t radius;		/* SEARCHGW */
	uint8_t protocol_id;	/* CONNECT */
	bool has_duration;	/* DISCONNECT carries a sleep duration */
	uint16_t duration;	/* CONNECT keep-alive, ADVERTISE, DISCONNECT (s) */
	uint16_t topic_id;	/* REGISTER, REGACK, PUBLISH, PUBACK, SUBACK,
				 * SUBSCRIBE/UNSUBSCRIBE by predefined id or
				 * short name (the 2 characters, big endian) */
	uint16_t msg_id;	/* REGISTER, REGACK, PUBLISH, PUBACK, PUBREC,
				 * PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
				 * UNSUBSCRIBE, UNSUBACK */
	const uint8_t *data;	/* PUBLISH payload; topic name of REGISTER and of
				 * SUBSCRIBE/UNSUBSCRIBE by name; client id of
				 * CONNECT/PINGREQ; GWINFO address; will topic/msg */
	size_t data_len;
};

/* Decode one datagram.  0 on success, -EINVAL when malformed (length field
 * disagreeing with len, too short for its type, reserved type, bad fields:
 * CONNECT protocol id other than 0x01, TopicIdType 0b11 in PUBLISH,
 * SUBSCRIBE or UNSUBSCRIBE), -EOPNOTSUPP for a forwarder-encapsulated
 * message (0xFE).  m->type is set whenever the header could be read. */
int mqttsn_decode(const uint8_t *buf, size_t len, struct mqttsn_msg *m);

/* Encode m into buf (1-byte length form up to 255 bytes, 3-byte form above).
 * Returns the length written, or -EMSGSIZE / -EINVAL.  CONNECT always
 * carries protocol id 0x01; WILLTOPIC(UPD) with data_len 0 is the empty
 * (delete) form; DISCONNECT carries duration only if has_duration. */
ssize_t mqttsn_encode(const struct mqttsn_msg *m, uint8_t *buf, size_t cap);

/*
 * Forwarder encapsulation (MQTT-SN 5.5): a forwarder relays a wireless
 * node's message wrapped in a header of its own - Length (of the header),
 * 0xFE, Ctrl (radius in bits 0-1), the node's id - and the gateway answers
 * in the same wrapping.
 */
#define MQTTSN_NODE_ID_MAX 16

struct mqttsn_encap {
	uint8_t ctrl;
	uint8_t node_len;
	uint8_t node[MQTTSN_NODE_ID_MAX];
};

/* Unwrap: 0 with inner, inner_len the wrapped message, -EINVAL when the
 * header is malformed (shorter than 3, longer than the datagram, a node id
 * of 0 or more than MQTTSN_NODE_ID_MAX bytes, nothing wrapped). */
int mqttsn_decap(const uint8_t *buf, size_t len, struct mqttsn_encap *e,
		 const uint8_t **inner, size_t *inner_len);
/* Wrap msg (len bytes) into out: the length written or -EMSGSIZE. */
ssize_t mqttsn_encap(const struct mqttsn_encap *e, const uint8_t *msg, size_t len,
		     uint8_t *out, size_t cap);

/* Name of a message type for logs ("PUBLISH", "0x1f" for unknown). */
const char *mqttsn_type_name(uint8_t type);

/* Return code for messages and logs: "accepted", "rejected: congestion",
 * "rejected: invalid topic id", "rejected: not supported". */
const char *mqttsn_rc_name(uint8_t rc);

/* One line describing m for debug logs, e.g.
 * `PUBLISH flags=0x20 topic_id=7 msg_id=1 data[5]="hello"`.
 * snprintf conventions: returns the length the whole text needs. */
int mqttsn_format(const struct mqttsn_msg *m, char *buf, size_t cap);

/* QoS of a flags byte as -1, 0, 1 or 2, and back. */
int mqttsn_flags_qos(uint8_t flags);
uint8_t mqttsn_qos_flags(int qos);

#endif /* PSO_MQTTSN_H */
