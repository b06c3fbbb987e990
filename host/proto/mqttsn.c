// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mqttsn.c - MQTT-SN v1.2 message encoding and decoding.
 *
 * Every message is a header (length, type) followed by fixed fields and at
 * most one variable-length tail.  The table below writes each layout as the
 * specification's section 5.4 draws it, one letter per fixed field in wire
 * order, so decode, encode and format are three walks over the same table:
 *
 *   F flags (1)        G gw_id (1)        A radius (1)
 *   R return_code (1)  P protocol_id (1)  D duration (2)
 *   T topic_id (2)     M msg_id (2)
 *
 * Tails:
 *   NONE      nothing: the message has an exact length
 *   DATA      0..n bytes into data (payload, client id, will, gw address)
 *   NAME      1..n bytes into data (REGISTER topic name)
 *   TOPIC     SUBSCRIBE/UNSUBSCRIBE: the TopicIdType in flags decides: a
 *             normal name (1..n bytes into data) or 2 bytes into topic_id
 *   DURATION  DISCONNECT: nothing, or a 2-byte sleep duration
 *   WILL      WILLTOPIC/WILLTOPICUPD: nothing (the "empty" form that deletes
 *             the will), or flags followed by a 1..n byte topic
 *
 * Policy (client id length, QoS -1 topic types, msg id 0) is left to the
 * daemon, which can answer with a return code; decode only rejects what
 * cannot be a well-formed message, which the daemon could only drop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/mqttsn.h"

enum tail { TAIL_NONE, TAIL_DATA, TAIL_NAME, TAIL_TOPIC, TAIL_DURATION, TAIL_WILL };

struct layout {
	const char *name;
	const char *fields;	/* NULL: reserved type */
	enum tail tail;
};

static const struct layout layouts[] = {
	[MQTTSN_ADVERTISE]     = { "ADVERTISE",     "GD",   TAIL_NONE },
	[MQTTSN_SEARCHGW]      = { "SEARCHGW",      "A",    TAIL_NONE },
	[MQTTSN_GWINFO]        = { "GWINFO",        "G",    TAIL_DATA },
	[MQTTSN_CONNECT]       = { "CONNECT",       "FPD",  TAIL_DATA },
	[MQTTSN_CONNACK]       = { "CONNACK",       "R",    TAIL_NONE },
	[MQTTSN_WILLTOPICREQ]  = { "WILLTOPICREQ",  "",     TAIL_NONE },
	[MQTTSN_WILLTOPIC]     = { "WILLTOPIC",     "",     TAIL_WILL },
	[MQTTSN_WILLMSGREQ]    = { "WILLMSGREQ",    "",     TAIL_NONE },
	[MQTTSN_WILLMSG]       = { "WILLMSG",       "",     TAIL_DATA },
	[MQTTSN_REGISTER]      = { "REGISTER",      "TM",   TAIL_NAME },
	[MQTTSN_REGACK]        = { "REGACK",        "TMR",  TAIL_NONE },
	[MQTTSN_PUBLISH]       = { "PUBLISH",       "FTM",  TAIL_DATA },
	[MQTTSN_PUBACK]        = { "PUBACK",        "TMR",  TAIL_NONE },
	[MQTTSN_PUBCOMP]       = { "PUBCOMP",       "M",    TAIL_NONE },
	[MQTTSN_PUBREC]        = { "PUBREC",        "M",    TAIL_NONE },
	[MQTTSN_PUBREL]        = { "PUBREL",        "M",    TAIL_NONE },
	[MQTTSN_SUBSCRIBE]     = { "SUBSCRIBE",     "FM",   TAIL_TOPIC },
	[MQTTSN_SUBACK]        = { "SUBACK",        "FTMR", TAIL_NONE },
	[MQTTSN_UNSUBSCRIBE]   = { "UNSUBSCRIBE",   "FM",   TAIL_TOPIC },
	[MQTTSN_UNSUBACK]      = { "UNSUBACK",      "M",    TAIL_NONE },
	[MQTTSN_PINGREQ]       = { "PINGREQ",       "",     TAIL_DATA },
	[MQTTSN_PINGRESP]      = { "PINGRESP",      "",     TAIL_NONE },
	[MQTTSN_DISCONNECT]    = { "DISCONNECT",    "",     TAIL_DURATION },
	[MQTTSN_WILLTOPICUPD]  = { "WILLTOPICUPD",  "",     TAIL_WILL },
	[MQTTSN_WILLTOPICRESP] = { "WILLTOPICRESP", "R",    TAIL_NONE },
	[MQTTSN_WILLMSGUPD]    = { "WILLMSGUPD",    "",     TAIL_DATA },
	[MQTTSN_WILLMSGRESP]   = { "WILLMSGRESP",   "R",    TAIL_NONE },
};

#define N_LAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static const struct layout *layout_of(uint8_t type)
{
	if (type >= N_LAYOUTS || !layouts[type].fields)
		return NULL;
	return &layouts[type];
}

static size_t field_width(char f)
{
	return (f == 'D' || f == 'T' || f == 'M') ? 2 : 1;
}

static size_t fields_width(const char *fields)
{
	size_t w = 0;

	for (; *fields; fields++)
		w += field_width(*fields);
	return w;
}

/* The one field a letter names; 2-byte fields are read and written through
 * the same pointer so decode and encode cannot disagree. */
static uint8_t *field8(struct mqttsn_msg *m, char f)
{
	switch (f) {
	case 'F': return &m->flags;
	case 'G': return &m->gw_id;
	case 'A': return &m->radius;
	case 'R': return &m->return_code;
	case 'P': return &m->protocol_id;
	}
	return NULL;
}

static uint16_t *field16(struct mqttsn_msg *m, char f)
{
	switch (f) {
	case 'D': return &m->duration;
	case 'T': return &m->topic_id;
	case 'M': return &m->msg_id;
	}
	return NULL;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static bool topic_type_reserved(uint8_t flags)
{
	return (flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_FLAG_TOPIC_MASK;
}

static bool topic_by_id(uint8_t flags)
{
	uint8_t t = flags & MQTTSN_FLAG_TOPIC_MASK;

	return t == MQTTSN_TOPIC_PREDEFINED || t == MQTTSN_TOPIC_SHORT;
}

static int decode_tail(const struct layout *l, const uint8_t *p, size_t rest,
		       struct mqttsn_msg *m)
{
	switch (l->tail) {
	case TAIL_NONE:
		return rest == 0 ? 0 : -EINVAL;
	case TAIL_DATA:
		break;
	case TAIL_NAME:
		if (rest < 1)
			return -EINVAL;
		break;
	case TAIL_TOPIC:
		if (topic_type_reserved(m->flags))
			return -EINVAL;
		if (topic_by_id(m->flags)) {
			if (rest != 2)
				return -EINVAL;
			m->topic_id = get16(p);
			return 0;
		}
		if (rest < 1)
			return -EINVAL;
		break;
	case TAIL_DURATION:
		if (rest == 0)
			return 0;
		if (rest != 2)
			return -EINVAL;
		m->has_duration = true;
		m->duration = get16(p);
		return 0;
	case TAIL_WILL:
		if (rest == 0)
			return 0;
		if (rest < 2)
			return -EINVAL;
		m->flags = p[0];
		p++;
		rest--;
		break;
	}
	m->data = p;
	m->data_len = rest;
	return 0;
}

int mqttsn_decode(const uint8_t *buf, size_t len, struct mqttsn_msg *m)
{
	const struct layout *l;
	const uint8_t *p, *end;
	size_t hdr, msg_len, fixed;
	const char *f;

	memset(m, 0, sizeof(*m));
	if (!buf || len < 2)
		return -EINVAL;
	if (buf[0] == MQTTSN_LEN_3BYTE_MARK) {
		if (len < 4)
			return -EINVAL;
		msg_len = get16(buf + 1);
		hdr = 4;
	} else {
		msg_len = buf[0];
		hdr = 2;
	}
	m->type = buf[hdr - 1];
	if (msg_len != len)
		return -EINVAL;
	/* A forwarder's envelope is well-formed but not ours to unwrap. */
	if (m->type == MQTTSN_ENCAPSULATED)
		return -EOPNOTSUPP;
	l = layout_of(m->type);
	if (!l)
		return -EINVAL;

	p = buf + hdr;
	end = buf + len;
	fixed = fields_width(l->fields);
	if ((size_t)(end - p) < fixed)
		return -EINVAL;
	for (f = l->fields; *f; f++) {
		if (field_width(*f) == 2) {
			*field16(m, *f) = get16(p);
			p += 2;
		} else {
			*field8(m, *f) = *p++;
		}
	}
	if (decode_tail(l, p, end - p, m))
		return -EINVAL;

	if (m->type == MQTTSN_CONNECT && m->protocol_id != MQTTSN_PROTOCOL_ID)
		return -EINVAL;
	if (m->type == MQTTSN_PUBLISH && topic_type_reserved(m->flags))
		return -EINVAL;
	return 0;
}

/* Bytes the tail of m takes on the wire, or -EINVAL. */
static ssize_t tail_len(const struct layout *l, const struct mqttsn_msg *m)
{
	if (m->data_len && !m->data)
		return -EINVAL;
	switch (l->tail) {
	case TAIL_NONE:
		return 0;
	case TAIL_DATA:
		return m->data_len;
	case TAIL_NAME:
		return m->data_len ? (ssize_t)m->data_len : -EINVAL;
	case TAIL_TOPIC:
		if (topic_type_reserved(m->flags))
			return -EINVAL;
		if (topic_by_id(m->flags))
			return 2;
		return m->data_len ? (ssize_t)m->data_len : -EINVAL;
	case TAIL_DURATION:
		return m->has_duration ? 2 : 0;
	case TAIL_WILL:
		return m->data_len ? 1 + (ssize_t)m->data_len : 0;
	}
	return -EINVAL;
}

static uint8_t *encode_tail(const struct layout *l, const struct mqttsn_msg *m,
			    uint8_t *p)
{
	switch (l->tail) {
	case TAIL_NONE:
		return p;
	case TAIL_TOPIC:
		if (topic_by_id(m->flags)) {
			put16(p, m->topic_id);
			return p + 2;
		}
		break;
	case TAIL_DURATION:
		if (m->has_duration) {
			put16(p, m->duration);
			return p + 2;
		}
		return p;
	case TAIL_WILL:
		if (!m->data_len)
			return p;
		*p++ = m->flags;
		break;
	case TAIL_DATA:
	case TAIL_NAME:
		break;
	}
	if (m->data_len)
		memcpy(p, m->data, m->data_len);
	return p + m->data_len;
}

ssize_t mqttsn_encode(const struct mqttsn_msg *m, uint8_t *buf, size_t cap)
{
	const struct layout *l = layout_of(m->type);
	struct mqttsn_msg w = *m;
	size_t body, total, hdr;
	ssize_t tail;
	const char *f;
	uint8_t *p;

	if (!l)
		return -EINVAL;
	if (m->type == MQTTSN_PUBLISH && topic_type_reserved(m->flags))
		return -EINVAL;
	/* The only protocol id there is; callers need not fill it in. */
	if (m->type == MQTTSN_CONNECT)
		w.protocol_id = MQTTSN_PROTOCOL_ID;
	tail = tail_len(l, m);
	if (tail < 0)
		return tail;
	body = fields_width(l->fields) + tail;
	hdr = 2 + body > 255 ? 4 : 2;
	total = hdr + body;
	if (total > MQTTSN_MAX_MSG || total > cap)
		return -EMSGSIZE;

	if (hdr == 4) {
		buf[0] = MQTTSN_LEN_3BYTE_MARK;
		put16(buf + 1, total);
	} else {
		buf[0] = total;
	}
	buf[hdr - 1] = m->type;
	p = buf + hdr;
	for (f = l->fields; *f; f++) {
		if (field_width(*f) == 2) {
			put16(p, *field16(&w, *f));
			p += 2;
		} else {
			*p++ = *field8(&w, *f);
		}
	}
	encode_tail(l, m, p);
	return total;
}

const char *mqttsn_type_name(uint8_t type)
{
	static __thread char unknown[8];

	if (type == MQTTSN_ENCAPSULATED)
		return "ENCAPSULATED";
	if (layout_of(type))
		return layouts[type].name;
	snprintf(unknown, sizeof(unknown), "0x%02x", type);
	return unknown;
}

const char *mqttsn_rc_name(uint8_t rc)
{
	static __thread char unknown[24];

	switch (rc) {
	case MQTTSN_RC_ACCEPTED:      return "accepted";
	case MQTTSN_RC_CONGESTION:    return "rejected: congestion";
	case MQTTSN_RC_INVALID_TOPIC: return "rejected: invalid topic id";
	case MQTTSN_RC_NOT_SUPPORTED: return "rejected: not supported";
	}
	snprintf(unknown, sizeof(unknown), "return code 0x%02x", rc);
	return unknown;
}

int mqttsn_flags_qos(uint8_t flags)
{
	switch (flags & MQTTSN_FLAG_QOS_MASK) {
	case MQTTSN_FLAG_QOS_0: return 0;
	case MQTTSN_FLAG_QOS_1: return 1;
	case MQTTSN_FLAG_QOS_2: return 2;
	}
	return -1;
}

uint8_t mqttsn_qos_flags(int qos)
{
	switch (qos) {
	case -1: return MQTTSN_FLAG_QOS_M1;
	case 1:  return MQTTSN_FLAG_QOS_1;
	case 2:  return MQTTSN_FLAG_QOS_2;
	}
	return MQTTSN_FLAG_QOS_0;
}

/* snprintf that keeps counting past the end, so the caller learns the
 * length the full text needs. */
static void append(char *buf, size_t cap, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*off < cap ? buf + *off : NULL, *off < cap ? cap - *off : 0,
		      fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += n;
}

int mqttsn_format(const struct mqttsn_msg *m, char *buf, size_t cap)
{
	static const char *const labels[128] = {
		['F'] = "flags=0x%02x", ['G'] = "gw_id=%u", ['A'] = "radius=%u",
		['R'] = "rc=0x%02x", ['P'] = "protocol_id=0x%02x",
		['D'] = "duration=%u", ['T'] = "topic_id=%u", ['M'] = "msg_id=%u",
	};
	const struct layout *l = layout_of(m->type);
	struct mqttsn_msg c = *m;
	size_t off = 0, i, show;
	const char *f;

	if (cap)
		buf[0] = '\0';
	append(buf, cap, &off, "%s", mqttsn_type_name(m->type));
	if (!l)
		return off;
	for (f = l->fields; *f; f++) {
		unsigned v = field_width(*f) == 2 ? *field16(&c, *f) : *field8(&c, *f);

		append(buf, cap, &off, " ");
		append(buf, cap, &off, labels[(int)*f], v);
	}
	if (l->tail == TAIL_TOPIC && topic_by_id(m->flags))
		append(buf, cap, &off, " topic_id=%u", m->topic_id);
	if (l->tail == TAIL_DURATION && m->has_duration)
		append(buf, cap, &off, " duration=%u", m->duration);
	if (l->tail == TAIL_WILL && m->data_len)
		append(buf, cap, &off, " flags=0x%02x", m->flags);
	if (!m->data)
		return off;
	append(buf, cap, &off, " data[%zu]=\"", m->data_len);
	show = m->data_len < 32 ? m->data_len : 32;
	for (i = 0; i < show; i++) {
		uint8_t ch = m->data[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			append(buf, cap, &off, "%c", ch);
		else
			append(buf, cap, &off, "\\x%02x", ch);
	}
	append(buf, cap, &off, "%s\"", show < m->data_len ? "..." : "");
	return off;
}

int mqttsn_decap(const uint8_t *buf, size_t len, struct mqttsn_encap *e,
		 const uint8_t **inner, size_t *inner_len)
{
	size_t hdr;

	if (len < 3 || buf[1] != MQTTSN_ENCAPSULATED)
		return -EINVAL;
	hdr = buf[0];
	if (hdr < 4 || hdr - 3 > MQTTSN_NODE_ID_MAX || hdr >= len)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->ctrl = buf[2];
	e->node_len = (uint8_t)(hdr - 3);
	memcpy(e->node, buf + 3, e->node_len);
	*inner = buf + hdr;
	*inner_len = len - hdr;
	return 0;
}

ssize_t mqttsn_encap(const struct mqttsn_encap *e, const uint8_t *msg, size_t len,
		     uint8_t *out, size_t cap)
{
	size_t hdr = 3 + (size_t)e->node_len;

	if (hdr + len > cap)
		return -EMSGSIZE;
	out[0] = (uint8_t)hdr;
	out[1] = MQTTSN_ENCAPSULATED;
	out[2] = e->ctrl & 0x03;	/* the radius; the rest is reserved */
	memcpy(out + 3, e->node, e->node_len);
	memmove(out + hdr, msg, len);
	return (ssize_t)(hdr + len);
}
