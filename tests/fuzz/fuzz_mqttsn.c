// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fuzz_mqttsn.c - libFuzzer target: the MQTT-SN codec (host/proto/mqttsn.c).
 *
 * Every input is one datagram.  It is decoded; where decoding succeeds the
 * message is encoded again and decoded once more, and the two decodes must
 * agree field by field (the tail by content).  A datagram in the canonical
 * length form (1-byte up to 255 bytes, 3-byte above) must come back byte
 * for byte: the codec keeps every bit of every field it reads.  A
 * forwarder's envelope is unwrapped and wrapped again (Ctrl's reserved bits
 * cleared, all else as it came), and its inner message goes through the
 * same round trip.  mqttsn_format() runs on
 * every decoded message, into a buffer of every size up to its need.
 *
 * Any disagreement aborts (a finding); ASan and UBSan catch the rest.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mqttsn.h"

static uint8_t buf[MQTTSN_MAX_MSG + 64];

static void __attribute__((noreturn)) finding(const char *what, const uint8_t *in, size_t len)
{
	fprintf(stderr, "fuzz_mqttsn: %s; input (%zu bytes):", what, len);
	for (size_t i = 0; i < len && i < 64; i++)
		fprintf(stderr, " %02x", in[i]);
	fprintf(stderr, "%s\n", len > 64 ? " ..." : "");
	abort();
}

static bool same_msg(const struct mqttsn_msg *a, const struct mqttsn_msg *b)
{
	return a->type == b->type && a->flags == b->flags && a->return_code == b->return_code &&
	       a->gw_id == b->gw_id && a->radius == b->radius &&
	       a->protocol_id == b->protocol_id && a->has_duration == b->has_duration &&
	       a->duration == b->duration && a->topic_id == b->topic_id &&
	       a->msg_id == b->msg_id && a->data_len == b->data_len &&
	       (!a->data_len || !memcmp(a->data, b->data, a->data_len));
}

/* decode -> encode -> decode; in must decode. */
static void round_trip(const uint8_t *in, size_t len)
{
	struct mqttsn_msg m, again;
	static uint8_t out[MQTTSN_MAX_MSG + 64];
	char text[256];
	ssize_t n;
	int need;
	bool canonical;

	if (mqttsn_decode(in, len, &m))
		return;
	need = mqttsn_format(&m, text, sizeof(text));
	if (need < 0)
		finding("mqttsn_format failed", in, len);
	/* A short buffer: the same need, a terminated prefix. */
	for (size_t cap = 0; cap < 8; cap++) {
		char small[8];

		memset(small, 'x', sizeof(small));
		if (mqttsn_format(&m, small, cap) != need)
			finding("mqttsn_format's need depends on its buffer", in, len);
		if (cap && strnlen(small, cap) >= cap)
			finding("mqttsn_format left a short buffer unterminated", in, len);
	}
	n = mqttsn_encode(&m, out, sizeof(out));
	if (n < 0)
		finding("a decoded message does not encode", in, len);
	if (mqttsn_decode(out, (size_t)n, &again))
		finding("an encoded message does not decode", in, len);
	if (!same_msg(&m, &again))
		finding("decode(encode(decode(x))) differs from decode(x)", in, len);
	canonical = in[0] == MQTTSN_LEN_3BYTE_MARK ? len > 255 : true;
	if (canonical && ((size_t)n != len || memcmp(out, in, len)))
		finding("a canonical datagram does not encode back byte for byte", in, len);
	/* Too small a buffer is refused, never overrun (ASan watches). */
	if (n > 0) {
		uint8_t *tight = malloc((size_t)n - 1);

		if (!tight || mqttsn_encode(&m, tight, (size_t)n - 1) != -EMSGSIZE)
			finding("encode into a buffer one byte short did not say EMSGSIZE", in, len);
		free(tight);
	}
}

static void envelope(const uint8_t *in, size_t len)
{
	struct mqttsn_encap e;
	const uint8_t *inner;
	size_t inner_len;
	ssize_t n;

	if (mqttsn_decap(in, len, &e, &inner, &inner_len))
		return;
	if (inner < in + 3 || inner + inner_len != in + len || !inner_len)
		finding("mqttsn_decap's inner message is not the datagram's tail", in, len);
	if (e.node_len == 0 || e.node_len > MQTTSN_NODE_ID_MAX)
		finding("mqttsn_decap accepted a bad node id length", in, len);
	n = mqttsn_encap(&e, inner, inner_len, buf, sizeof(buf));
	/* Byte for byte but Ctrl's reserved bits, which wrapping clears. */
	if (n < 0 || (size_t)n != len || buf[2] != (in[2] & 0x03) ||
	    memcmp(buf, in, 2) || memcmp(buf + 3, in + 3, len - 3))
		finding("an envelope does not wrap back as it came", in, len);
	round_trip(inner, inner_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqttsn_msg m;
	int rc;

	/* A private copy of exactly size bytes, so any read past the datagram
	 * is an ASan finding. */
	uint8_t *in = malloc(size ? size : 1);

	if (!in)
		return 0;
	memcpy(in, data, size);
	rc = mqttsn_decode(in, size, &m);
	if (rc != 0 && rc != -EINVAL && rc != -EOPNOTSUPP)
		finding("mqttsn_decode returned an undocumented error", in, size);
	if (rc == -EOPNOTSUPP && (size < 2 || in[size < 4 || in[0] != MQTTSN_LEN_3BYTE_MARK ? 1 : 3] !=
						  MQTTSN_ENCAPSULATED))
		finding("-EOPNOTSUPP for a datagram that is no envelope", in, size);
	if (size >= 2 && in[1] == MQTTSN_ENCAPSULATED)
		envelope(in, size);
	round_trip(in, size);
	(void)mqttsn_type_name(size ? in[0] : 0);
	(void)mqttsn_rc_name(size ? in[0] : 0);
	free(in);
	return 0;
}
