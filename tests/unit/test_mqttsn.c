// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_mqttsn.c - MQTT-SN v1.2 codec: round trips for every message type,
 * both length forms, bytes written out by hand from the specification, and
 * malformed input that must be rejected.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proto/mqttsn.h"

#define S(str) (const uint8_t *)(str), sizeof(str) - 1

static void print_hex(const char *what, const uint8_t *b, size_t n)
{
	size_t i;

	print_message("%s (%zu):", what, n);
	for (i = 0; i < n; i++)
		print_message(" %02x", b[i]);
	print_message("\n");
}

static void assert_bytes(const uint8_t *got, size_t got_len,
			 const uint8_t *want, size_t want_len)
{
	if (got_len != want_len || memcmp(got, want, want_len)) {
		print_hex("expected", want, want_len);
		print_hex("actual  ", got, got_len);
		fail();
	}
}

static void assert_same_msg(const struct mqttsn_msg *a, const struct mqttsn_msg *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->return_code, b->return_code);
	assert_int_equal(a->gw_id, b->gw_id);
	assert_int_equal(a->radius, b->radius);
	assert_int_equal(a->protocol_id, b->protocol_id);
	assert_int_equal(a->has_duration, b->has_duration);
	assert_int_equal(a->duration, b->duration);
	assert_int_equal(a->topic_id, b->topic_id);
	assert_int_equal(a->msg_id, b->msg_id);
	assert_int_equal(a->data_len, b->data_len);
	if (a->data_len)
		assert_memory_equal(a->data, b->data, a->data_len);
}

/* ---- Round trips -------------------------------------------------------- */

#define DATA(str) .data = (const uint8_t *)(str), .data_len = sizeof(str) - 1

/* One of every message type, fields as a decoder must give them back
 * (fields a type does not carry stay zero). */
static const struct mqttsn_msg every_type[] = {
	{ .type = MQTTSN_ADVERTISE, .gw_id = 7, .duration = 900 },
	{ .type = MQTTSN_SEARCHGW, .radius = 3 },
	{ .type = MQTTSN_GWINFO, .gw_id = 9, DATA("\x0a\x00\x00\x01") },
	{ .type = MQTTSN_GWINFO, .gw_id = 9, DATA("") },
	{ .type = MQTTSN_CONNECT, .flags = MQTTSN_FLAG_CLEAN_SESSION | MQTTSN_FLAG_WILL,
	  .protocol_id = MQTTSN_PROTOCOL_ID, .duration = 60, DATA("sensor-17") },
	{ .type = MQTTSN_CONNACK, .return_code = MQTTSN_RC_CONGESTION },
	{ .type = MQTTSN_WILLTOPICREQ },
	{ .type = MQTTSN_WILLTOPIC, .flags = MQTTSN_FLAG_QOS_1 | MQTTSN_FLAG_RETAIN,
	  DATA("will/topic") },
	{ .type = MQTTSN_WILLTOPIC },
	{ .type = MQTTSN_WILLMSGREQ },
	{ .type = MQTTSN_WILLMSG, DATA("gone") },
	{ .type = MQTTSN_REGISTER, .topic_id = 0, .msg_id = 0x1234, DATA("a/b/c") },
	{ .type = MQTTSN_REGACK, .topic_id = 42, .msg_id = 0x1234,
	  .return_code = MQTTSN_RC_ACCEPTED },
	{ .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_1 | MQTTSN_FLAG_DUP,
	  .topic_id = 42, .msg_id = 9, DATA("payload\0with nul") },
	{ .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_M1 | MQTTSN_TOPIC_SHORT,
	  .topic_id = 'a' << 8 | 'b', DATA("") },
	{ .type = MQTTSN_PUBACK, .topic_id = 42, .msg_id = 9,
	  .return_code = MQTTSN_RC_INVALID_TOPIC },
	{ .type = MQTTSN_PUBCOMP, .msg_id = 1 },
	{ .type = MQTTSN_PUBREC, .msg_id = 2 },
	{ .type = MQTTSN_PUBREL, .msg_id = 65535 },
	{ .type = MQTTSN_SUBSCRIBE, .flags = MQTTSN_FLAG_QOS_2, .msg_id = 3,
	  DATA("sensors/+/temp") },
	{ .type = MQTTSN_SUBSCRIBE, .flags = MQTTSN_FLAG_QOS_1 | MQTTSN_TOPIC_PREDEFINED,
	  .msg_id = 4, .topic_id = 100 },
	{ .type = MQTTSN_SUBSCRIBE, .flags = MQTTSN_TOPIC_SHORT, .msg_id = 5,
	  .topic_id = 'x' << 8 | 'y' },
	{ .type = MQTTSN_SUBACK, .flags = MQTTSN_FLAG_QOS_1, .topic_id = 42,
	  .msg_id = 3, .return_code = MQTTSN_RC_ACCEPTED },
	{ .type = MQTTSN_UNSUBSCRIBE, .msg_id = 6, DATA("sensors/#") },
	{ .type = MQTTSN_UNSUBSCRIBE, .flags = MQTTSN_TOPIC_PREDEFINED, .msg_id = 7,
	  .topic_id = 100 },
	{ .type = MQTTSN_UNSUBACK, .msg_id = 6 },
	{ .type = MQTTSN_PINGREQ },
	{ .type = MQTTSN_PINGREQ, DATA("sleepy-client") },
	{ .type = MQTTSN_PINGRESP },
	{ .type = MQTTSN_DISCONNECT },
	{ .type = MQTTSN_DISCONNECT, .has_duration = true, .duration = 300 },
	{ .type = MQTTSN_WILLTOPICUPD, .flags = MQTTSN_FLAG_QOS_2, DATA("new/will") },
	{ .type = MQTTSN_WILLTOPICUPD },
	{ .type = MQTTSN_WILLTOPICRESP, .return_code = MQTTSN_RC_NOT_SUPPORTED },
	{ .type = MQTTSN_WILLMSGUPD, DATA("new will message") },
	{ .type = MQTTSN_WILLMSGRESP, .return_code = MQTTSN_RC_ACCEPTED },
};

static void test_round_trip_every_type(void **state)
{
	bool seen[32] = { false };
	uint8_t buf[512];
	size_t i;
	int t;

	for (i = 0; i < sizeof(every_type) / sizeof(every_type[0]); i++) {
		const struct mqttsn_msg *in = &every_type[i];
		struct mqttsn_msg out;
		ssize_t n;

		n = mqttsn_encode(in, buf, sizeof(buf));
		if (n < 0)
			fail_msg("encode %s: %zd", mqttsn_type_name(in->type), n);
		assert_true(n >= 2 && n <= 255);
		assert_int_equal(buf[0], n);		/* 1-byte form */
		assert_int_equal(buf[1], in->type);
		if (mqttsn_decode(buf, n, &out)) {
			print_hex(mqttsn_type_name(in->type), buf, n);
			fail_msg("decode %s failed", mqttsn_type_name(in->type));
		}
		assert_same_msg(in, &out);
		seen[in->type] = true;
	}
	/* Every defined type, and only those, was covered. */
	for (t = 0; t < 32; t++)
		if (!seen[t] && strncmp(mqttsn_type_name(t), "0x", 2))
			fail_msg("no round trip for %s", mqttsn_type_name(t));
}

/* A 300-byte PUBLISH needs the 3-byte length form, both ways. */
static void test_three_byte_publish(void **state)
{
	struct mqttsn_msg in = { .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_0,
				 .topic_id = 5, .msg_id = 0 }, out;
	uint8_t payload[291], buf[400];
	ssize_t n;
	size_t i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = i * 7;
	in.data = payload;
	in.data_len = sizeof(payload);	/* 4 + 5 + 291 = 300 bytes */
	n = mqttsn_encode(&in, buf, sizeof(buf));
	assert_int_equal(n, 300);
	assert_int_equal(buf[0], MQTTSN_LEN_3BYTE_MARK);
	assert_int_equal(buf[1], 300 >> 8);
	assert_int_equal(buf[2], 300 & 0xff);
	assert_int_equal(buf[3], MQTTSN_PUBLISH);
	assert_int_equal(mqttsn_decode(buf, n, &out), 0);
	assert_same_msg(&in, &out);
	assert_ptr_equal(out.data, buf + 9);	/* decode does not copy */
}

/* Largest 1-byte form is 255; one more body byte jumps to 258 (3-byte). */
static void test_length_form_boundary(void **state)
{
	uint8_t payload[300] = { 0 }, buf[400];
	struct mqttsn_msg m = { .type = MQTTSN_PUBLISH, .data = payload }, out;

	m.data_len = 255 - 7;
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), 255);
	assert_int_equal(buf[0], 255);
	assert_int_equal(mqttsn_decode(buf, 255, &out), 0);
	assert_int_equal(out.data_len, 248);

	m.data_len = 256 - 7;
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), 258);
	assert_int_equal(buf[0], MQTTSN_LEN_3BYTE_MARK);
	assert_int_equal(mqttsn_decode(buf, 258, &out), 0);
	assert_int_equal(out.data_len, 249);
}

/* The 3-byte form is legal for short messages too; decode takes it. */
static void test_three_byte_form_short_message(void **state)
{
	static const uint8_t adv[] = { 0x01, 0x00, 0x07, 0x00, 0x05, 0x03, 0x84 };
	static const uint8_t pingresp[] = { 0x01, 0x00, 0x04, 0x17 };
	struct mqttsn_msg m;

	assert_int_equal(mqttsn_decode(adv, sizeof(adv), &m), 0);
	assert_int_equal(m.type, MQTTSN_ADVERTISE);
	assert_int_equal(m.gw_id, 5);
	assert_int_equal(m.duration, 900);
	assert_int_equal(mqttsn_decode(pingresp, sizeof(pingresp), &m), 0);
	assert_int_equal(m.type, MQTTSN_PINGRESP);
}

static void test_largest_message(void **state)
{
	static uint8_t payload[MQTTSN_MAX_MSG], buf[MQTTSN_MAX_MSG + 16];
	struct mqttsn_msg m = { .type = MQTTSN_PUBLISH, .data = payload }, out;

	m.data_len = MQTTSN_MAX_MSG - 4 - MQTTSN_PUBLISH_BODY_LEN;
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), MQTTSN_MAX_MSG);
	assert_int_equal(buf[1], 0xff);
	assert_int_equal(buf[2], 0xff);
	assert_int_equal(mqttsn_decode(buf, MQTTSN_MAX_MSG, &out), 0);
	m.data_len++;
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), -EMSGSIZE);
}

/* ---- Exact bytes, written out from the specification (section 5.4) ------ */

struct golden {
	const char *what;
	struct mqttsn_msg m;
	const uint8_t *bytes;
	size_t len;
};

static void test_golden_bytes(void **state)
{
	static const struct golden g[] = {
		{ "CONNECT clean session, keep-alive 60, client id \"abc\"",
		  { .type = MQTTSN_CONNECT, .flags = MQTTSN_FLAG_CLEAN_SESSION,
		    .protocol_id = 1, .duration = 60, DATA("abc") },
		  S("\x09\x04\x04\x01\x00\x3c" "abc") },
		{ "CONNACK accepted",
		  { .type = MQTTSN_CONNACK }, S("\x03\x05\x00") },
		{ "REGISTER topic id 0, msg id 1, \"a/b\"",
		  { .type = MQTTSN_REGISTER, .msg_id = 1, DATA("a/b") },
		  S("\x09\x0a\x00\x00\x00\x01" "a/b") },
		{ "REGACK topic id 0x0102, msg id 1, accepted",
		  { .type = MQTTSN_REGACK, .topic_id = 0x0102, .msg_id = 1 },
		  S("\x07\x0b\x01\x02\x00\x01\x00") },
		{ "PUBLISH QoS 1 retain, topic 7, msg id 2, \"hi\"",
		  { .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_1 | MQTTSN_FLAG_RETAIN,
		    .topic_id = 7, .msg_id = 2, DATA("hi") },
		  S("\x09\x0c\x30\x00\x07\x00\x02" "hi") },
		{ "PUBLISH QoS -1, short topic \"ab\"",
		  { .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_M1 | MQTTSN_TOPIC_SHORT,
		    .topic_id = 0x6162, DATA("x") },
		  S("\x08\x0c\x62" "ab" "\x00\x00" "x") },
		{ "PUBACK congestion",
		  { .type = MQTTSN_PUBACK, .topic_id = 7, .msg_id = 2,
		    .return_code = MQTTSN_RC_CONGESTION },
		  S("\x07\x0d\x00\x07\x00\x02\x01") },
		{ "PUBREL msg id 0x0203",
		  { .type = MQTTSN_PUBREL, .msg_id = 0x0203 }, S("\x04\x10\x02\x03") },
		{ "SUBSCRIBE QoS 1, short name \"ab\", msg id 3",
		  { .type = MQTTSN_SUBSCRIBE, .flags = MQTTSN_FLAG_QOS_1 | MQTTSN_TOPIC_SHORT,
		    .msg_id = 3, .topic_id = 0x6162 },
		  S("\x07\x12\x22\x00\x03" "ab") },
		{ "SUBSCRIBE QoS 0, name \"s/#\", msg id 4",
		  { .type = MQTTSN_SUBSCRIBE, .msg_id = 4, DATA("s/#") },
		  S("\x08\x12\x00\x00\x04" "s/#") },
		{ "SUBACK QoS 1, topic 5, msg id 3, accepted",
		  { .type = MQTTSN_SUBACK, .flags = MQTTSN_FLAG_QOS_1, .topic_id = 5,
		    .msg_id = 3 },
		  S("\x08\x13\x20\x00\x05\x00\x03\x00") },
		{ "PINGREQ", { .type = MQTTSN_PINGREQ }, S("\x02\x16") },
		{ "DISCONNECT", { .type = MQTTSN_DISCONNECT }, S("\x02\x18") },
		{ "DISCONNECT sleep 30 s",
		  { .type = MQTTSN_DISCONNECT, .has_duration = true, .duration = 30 },
		  S("\x04\x18\x00\x1e") },
		{ "WILLTOPIC empty (delete)", { .type = MQTTSN_WILLTOPIC }, S("\x02\x07") },
		{ "SEARCHGW radius 1", { .type = MQTTSN_SEARCHGW, .radius = 1 },
		  S("\x03\x01\x01") },
		{ "ADVERTISE gw 5, 900 s",
		  { .type = MQTTSN_ADVERTISE, .gw_id = 5, .duration = 900 },
		  S("\x05\x00\x05\x03\x84") },
	};
	uint8_t buf[64];
	size_t i;

	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		struct mqttsn_msg out;
		ssize_t n;

		n = mqttsn_encode(&g[i].m, buf, sizeof(buf));
		if (n < 0)
			fail_msg("%s: encode returned %zd", g[i].what, n);
		if (n != (ssize_t)g[i].len || memcmp(buf, g[i].bytes, n))
			print_message("%s\n", g[i].what);
		assert_bytes(buf, n, g[i].bytes, g[i].len);
		if (mqttsn_decode(g[i].bytes, g[i].len, &out))
			fail_msg("%s: decode failed", g[i].what);
		assert_same_msg(&g[i].m, &out);
	}
}

/* ---- Rejection of malformed input -------------------------------------- */

struct bad {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	int err;
};

static void test_malformed(void **state)
{
	static const struct bad b[] = {
		{ "empty datagram", S(""), -EINVAL },
		{ "one byte", S("\x02"), -EINVAL },
		{ "length 0", S("\x00\x16"), -EINVAL },
		{ "3-byte form cut after the mark", S("\x01\x00"), -EINVAL },
		{ "3-byte form cut before the type", S("\x01\x00\x04"), -EINVAL },
		{ "3-byte form, length below its header", S("\x01\x00\x03\x17"), -EINVAL },
		{ "length field longer than datagram (truncated)",
		  S("\x09\x0c\x20\x00\x07\x00\x02" "h"), -EINVAL },
		{ "length field shorter than datagram",
		  S("\x08\x0c\x20\x00\x07\x00\x02" "hi"), -EINVAL },
		{ "3-byte length disagreeing with datagram",
		  S("\x01\x00\x05\x17"), -EINVAL },
		{ "CONNECT without protocol id and duration",
		  S("\x04\x04\x04\x01"), -EINVAL },
		{ "CONNECT one byte short", S("\x05\x04\x04\x01\x00"), -EINVAL },
		{ "CONNECT protocol id 0x02",
		  S("\x09\x04\x04\x02\x00\x3c" "abc"), -EINVAL },
		{ "CONNECT protocol id 0x00",
		  S("\x09\x04\x04\x00\x00\x3c" "abc"), -EINVAL },
		{ "reserved type 0x03", S("\x03\x03\x00"), -EINVAL },
		{ "reserved type 0x11", S("\x04\x11\x00\x01"), -EINVAL },
		{ "reserved type 0x19", S("\x02\x19"), -EINVAL },
		{ "reserved type 0x1e", S("\x02\x1e"), -EINVAL },
		{ "reserved type 0xff", S("\x02\xff"), -EINVAL },
		{ "encapsulated message", S("\x05\xfe\x01\x02\x16"), -EOPNOTSUPP },
		{ "REGISTER with empty topic name",
		  S("\x06\x0a\x00\x00\x00\x01"), -EINVAL },
		{ "REGACK without return code", S("\x06\x0b\x00\x01\x00\x01"), -EINVAL },
		{ "REGACK with a trailing byte",
		  S("\x08\x0b\x00\x01\x00\x01\x00\x00"), -EINVAL },
		{ "PUBLISH without msg id", S("\x05\x0c\x00\x00\x07"), -EINVAL },
		{ "PUBLISH with reserved topic id type 0b11",
		  S("\x08\x0c\x03\x00\x07\x00\x00" "x"), -EINVAL },
		{ "SUBSCRIBE by name with empty name",
		  S("\x05\x12\x00\x00\x01"), -EINVAL },
		{ "SUBSCRIBE by predefined id, 1-byte id",
		  S("\x06\x12\x01\x00\x01\x05"), -EINVAL },
		{ "SUBSCRIBE by predefined id, 3-byte tail",
		  S("\x08\x12\x01\x00\x01\x00\x05\x00"), -EINVAL },
		{ "SUBSCRIBE by short name, 3 characters",
		  S("\x08\x12\x02\x00\x01" "abc"), -EINVAL },
		{ "SUBSCRIBE with reserved topic id type 0b11",
		  S("\x07\x12\x03\x00\x01\x00\x05"), -EINVAL },
		{ "UNSUBSCRIBE with reserved topic id type 0b11",
		  S("\x07\x14\x03\x00\x01\x00\x05"), -EINVAL },
		{ "SUBACK without return code",
		  S("\x07\x13\x00\x00\x05\x00\x03"), -EINVAL },
		{ "DISCONNECT with a 1-byte duration", S("\x03\x18\x00"), -EINVAL },
		{ "DISCONNECT with a 3-byte duration", S("\x05\x18\x00\x00\x1e"), -EINVAL },
		{ "WILLTOPIC with flags but no topic", S("\x03\x07\x20"), -EINVAL },
		{ "PINGRESP with a body", S("\x03\x17\x00"), -EINVAL },
		{ "PUBREL without msg id", S("\x03\x10\x00"), -EINVAL },
		{ "ADVERTISE without duration", S("\x03\x00\x05"), -EINVAL },
	};
	size_t i;

	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		struct mqttsn_msg m;
		int rc = mqttsn_decode(b[i].bytes, b[i].len, &m);

		if (rc != b[i].err) {
			print_hex(b[i].what, b[i].bytes, b[i].len);
			fail_msg("%s: decode returned %d, expected %d",
				 b[i].what, rc, b[i].err);
		}
	}
}

/* Per type: one byte under the minimum fails, and fixed-size types fail one
 * byte over their size (the length field always agreeing with the datagram,
 * so it is the type's own layout that rejects). */
static void test_per_type_length_limits(void **state)
{
	static const struct { uint8_t type, min, max; } lim[] = {
		{ MQTTSN_ADVERTISE, 5, 5 },	{ MQTTSN_SEARCHGW, 3, 3 },
		{ MQTTSN_GWINFO, 3, 0 },	{ MQTTSN_CONNECT, 6, 0 },
		{ MQTTSN_CONNACK, 3, 3 },	{ MQTTSN_WILLTOPICREQ, 2, 2 },
		{ MQTTSN_WILLMSGREQ, 2, 2 },	{ MQTTSN_REGISTER, 7, 0 },
		{ MQTTSN_REGACK, 7, 7 },	{ MQTTSN_PUBLISH, 7, 0 },
		{ MQTTSN_PUBACK, 7, 7 },	{ MQTTSN_PUBCOMP, 4, 4 },
		{ MQTTSN_PUBREC, 4, 4 },	{ MQTTSN_PUBREL, 4, 4 },
		{ MQTTSN_SUBSCRIBE, 6, 0 },	{ MQTTSN_SUBACK, 8, 8 },
		{ MQTTSN_UNSUBSCRIBE, 6, 0 },	{ MQTTSN_UNSUBACK, 4, 4 },
		{ MQTTSN_PINGRESP, 2, 2 },	{ MQTTSN_WILLTOPICRESP, 3, 3 },
		{ MQTTSN_WILLMSGRESP, 3, 3 },
	};
	uint8_t buf[16];
	struct mqttsn_msg m;
	size_t i;

	for (i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		const char *name = mqttsn_type_name(lim[i].type);

		/* Body bytes 0x01 keep CONNECT's protocol id valid; SUBSCRIBE
		 * and UNSUBSCRIBE use flags 0 (by name) so their minimum is a
		 * 1-character name. */
		memset(buf, 0x01, sizeof(buf));
		if (lim[i].type == MQTTSN_SUBSCRIBE || lim[i].type == MQTTSN_UNSUBSCRIBE)
			buf[2] = 0;
		buf[1] = lim[i].type;

		buf[0] = lim[i].min;
		if (mqttsn_decode(buf, lim[i].min, &m))
			fail_msg("%s of %u bytes rejected", name, lim[i].min);
		if (lim[i].min > 2) {
			buf[0] = lim[i].min - 1;
			if (mqttsn_decode(buf, lim[i].min - 1, &m) != -EINVAL)
				fail_msg("%s of %u bytes accepted", name, lim[i].min - 1);
		}
		if (lim[i].max) {
			buf[0] = lim[i].max + 1;
			if (mqttsn_decode(buf, lim[i].max + 1, &m) != -EINVAL)
				fail_msg("%s of %u bytes accepted", name, lim[i].max + 1);
		}
	}
}

/* Every strict prefix of every valid message (a datagram cut short on the
 * way) fails; re-headed short messages are test_per_type_length_limits. */
static void test_every_truncation_rejected(void **state)
{
	uint8_t buf[512];
	size_t i, cut;

	for (i = 0; i < sizeof(every_type) / sizeof(every_type[0]); i++) {
		ssize_t n = mqttsn_encode(&every_type[i], buf, sizeof(buf));
		struct mqttsn_msg m;

		assert_true(n > 0);
		for (cut = 0; cut < (size_t)n; cut++)
			if (mqttsn_decode(buf, cut, &m) != -EINVAL)
				fail_msg("%s cut to %zu bytes accepted",
					 mqttsn_type_name(every_type[i].type), cut);
	}
}

static void test_encode_errors(void **state)
{
	static const uint8_t name[] = "abc";
	struct mqttsn_msg m = { .type = MQTTSN_PUBLISH, .data = name, .data_len = 3 };
	uint8_t buf[16];

	/* Exactly the room it needs, and one byte less. */
	assert_int_equal(mqttsn_encode(&m, buf, 10), 10);
	assert_int_equal(mqttsn_encode(&m, buf, 9), -EMSGSIZE);

	m.type = 0x03;
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.type = MQTTSN_ENCAPSULATED;
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), -EINVAL);

	m = (struct mqttsn_msg){ .type = MQTTSN_SUBSCRIBE };	/* by name, no name */
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.flags = MQTTSN_FLAG_TOPIC_MASK;			/* reserved type */
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = (struct mqttsn_msg){ .type = MQTTSN_REGISTER };	/* no name */
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), -EINVAL);
	m = (struct mqttsn_msg){ .type = MQTTSN_PUBLISH, .data_len = 4 };	/* NULL data */
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), -EINVAL);

	/* CONNECT always goes out with protocol id 0x01. */
	m = (struct mqttsn_msg){ .type = MQTTSN_CONNECT, .data = name, .data_len = 3 };
	assert_int_equal(mqttsn_encode(&m, buf, sizeof(buf)), 9);
	assert_int_equal(buf[3], MQTTSN_PROTOCOL_ID);
}

/* ---- Helpers ------------------------------------------------------------ */

static void test_names_and_qos(void **state)
{
	static const char want[] =
		"PUBLISH flags=0x20 topic_id=7 msg_id=1 data[5]=\"hello\"";
	char line[128];
	int n;
	struct mqttsn_msg m = { .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_1,
				.topic_id = 7, .msg_id = 1, DATA("hello") };

	assert_string_equal(mqttsn_type_name(MQTTSN_PUBLISH), "PUBLISH");
	assert_string_equal(mqttsn_type_name(MQTTSN_WILLMSGRESP), "WILLMSGRESP");
	assert_string_equal(mqttsn_type_name(0x1f), "0x1f");
	assert_string_equal(mqttsn_rc_name(MQTTSN_RC_CONGESTION), "rejected: congestion");
	assert_string_equal(mqttsn_rc_name(MQTTSN_RC_NOT_SUPPORTED),
			    "rejected: not supported");

	assert_int_equal(mqttsn_flags_qos(MQTTSN_FLAG_QOS_M1 | MQTTSN_FLAG_DUP), -1);
	assert_int_equal(mqttsn_flags_qos(MQTTSN_FLAG_QOS_2 | MQTTSN_TOPIC_SHORT), 2);
	assert_int_equal(mqttsn_qos_flags(-1), MQTTSN_FLAG_QOS_M1);
	assert_int_equal(mqttsn_qos_flags(1), MQTTSN_FLAG_QOS_1);
	for (int q = -1; q <= 2; q++)
		assert_int_equal(mqttsn_flags_qos(mqttsn_qos_flags(q)), q);

	n = mqttsn_format(&m, line, sizeof(line));
	assert_string_equal(line, want);
	assert_int_equal(n, strlen(want));
	/* Truncated output still reports the full length. */
	assert_int_equal(mqttsn_format(&m, line, 8), strlen(want));
	assert_string_equal(line, "PUBLISH");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_three_byte_publish),
		cmocka_unit_test(test_length_form_boundary),
		cmocka_unit_test(test_three_byte_form_short_message),
		cmocka_unit_test(test_largest_message),
		cmocka_unit_test(test_golden_bytes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_per_type_length_limits),
		cmocka_unit_test(test_every_truncation_rejected),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_names_and_qos),
	};

	return cmocka_run_group_tests_name("mqttsn", tests, NULL, NULL);
}
