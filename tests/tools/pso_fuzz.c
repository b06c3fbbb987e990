// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pso_fuzz.c - random and malformed MQTT-SN datagrams for the end-to-end
 * tests, each with the data plane's verdict predicted.
 *
 *   pso_fuzz -h HOST [-p PORT] [-n COUNT] [-s SEED] [-b BATCH]
 *
 * Sends COUNT datagrams from one UDP socket, drawn with a fixed seed from
 * seven classes: random bytes, a valid message with a wrong length field, a
 * valid message cut short, an undefined message type, a reserved topic-id
 * type (0b11), empty / 1-byte datagrams, and well-formed messages (which
 * exercise admission: this socket never connects).  For each it predicts
 * what the XDP program must do with it, from the product specification
 * ("the fixed header must agree with the UDP length"; "everything else to
 * the broker port that is not a valid control message is dropped and
 * counted") and the message layouts of MQTT-SN v1.2 section 5.4, written
 * here independently of bpf/ and host/:
 *
 *   drop length      the MQTT-SN length field disagrees with the datagram
 *   drop malformed   shorter than a header, a length below its own header,
 *                    an undefined type, a PUBLISH too short for its fields
 *                    or with TopicIdType 0b11, or a control message that
 *                    breaks its layout (see control_well_formed())
 *   drop not_conn    a QoS 0 PUBLISH (this socket never connects)
 *   drop unknown     a QoS -1 PUBLISH with a normal/predefined topic id: the
 *                    id is set to 0xFFFF, reserved, so never in the table
 *   pass slow_qos    a QoS 1/2 PUBLISH
 *   pass control     any other well-formed message (short-topic PUBLISH too)
 *
 * So that every prediction holds whatever the daemon does with what it is
 * passed, no datagram may change the data plane's tables: one that the
 * daemon would accept as CONNECT (which would admit this socket's QoS 0
 * publishes) is drawn again.
 *
 * Flow control: after every BATCH datagrams a second socket sends SEARCHGW
 * and waits for GWINFO, so the broker has taken everything before it and no
 * queue on the way overflows.  These count as "pass control" too.
 *
 * Output, the last line:  sent=N drop_length=N drop_malformed=N
 *   drop_not_connected=N drop_unknown_topic=N pass_control=N pass_slow_qos=N
 *   malformed_control=N codec_disagrees=N
 * malformed_control: how many of drop_malformed are control messages with
 * a good header that break their layout.  codec_disagrees: datagrams on
 * which the project's decoder (mqttsn_decode, the daemon's) and this
 * model disagree about being well-formed MQTT-SN; the first few are
 * printed on stderr.
 * Exit 0, or 1 when the broker stopped answering SEARCHGW.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "proto/mqttsn.h"

enum verdict {
	V_DROP_LENGTH, V_DROP_MALFORMED, V_DROP_NOT_CONNECTED, V_DROP_UNKNOWN_TOPIC,
	V_PASS_CONTROL, V_PASS_SLOW_QOS, V__MAX
};

static const char *const verdict_names[V__MAX] = {
	"drop_length", "drop_malformed", "drop_not_connected", "drop_unknown_topic",
	"pass_control", "pass_slow_qos",
};

#define MAX_DGRAM 600	/* well below one Ethernet frame: never fragmented */

/* xorshift64*: the same stream for the same seed on every machine. */
static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static uint32_t rnd_below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

/* MQTT-SN v1.2 section 5.2.2: the message types that exist. */
static int type_defined(uint8_t t)
{
	static const uint8_t defined[] = {
		0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D,
		0x0E, 0x0F, 0x10, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1A, 0x1B, 0x1C,
		0x1D, 0xFE,
	};

	for (size_t i = 0; i < sizeof(defined); i++)
		if (defined[i] == t)
			return 1;
	return 0;
}

/* The header: 1-byte length, or 0x01 and a 2-byte length.  Returns the
 * header size, or 0 when the datagram cannot hold its header. */
static size_t header(const uint8_t *b, size_t len, uint32_t *msg_len, uint8_t *type)
{
	if (len < 2)
		return 0;
	if (b[0] == MQTTSN_LEN_3BYTE_MARK) {
		if (len < 4)
			return 0;
		*msg_len = (uint32_t)b[1] << 8 | b[2];
		*type = b[3];
		return 4;
	}
	*msg_len = b[0];
	*type = b[1];
	return 2;
}

/*
 * A control message's body (after the header) against its layout in MQTT-SN
 * v1.2 section 5.4: fixed fields, then the variable part where there is one.
 */
static int control_well_formed(uint8_t type, const uint8_t *body, size_t n)
{
	switch (type) {
	case MQTTSN_WILLTOPICREQ:	/* no body */
	case MQTTSN_WILLMSGREQ:
	case MQTTSN_PINGRESP:
		return n == 0;
	case MQTTSN_SEARCHGW:		/* Radius */
	case MQTTSN_CONNACK:		/* ReturnCode */
	case MQTTSN_WILLTOPICRESP:
	case MQTTSN_WILLMSGRESP:
		return n == 1;
	case MQTTSN_PUBREC:		/* MsgId */
	case MQTTSN_PUBREL:
	case MQTTSN_PUBCOMP:
	case MQTTSN_UNSUBACK:
		return n == 2;
	case MQTTSN_ADVERTISE:		/* GwId Duration */
		return n == 3;
	case MQTTSN_REGACK:		/* TopicId MsgId ReturnCode */
	case MQTTSN_PUBACK:
		return n == 5;
	case MQTTSN_SUBACK:		/* Flags TopicId MsgId ReturnCode */
		return n == 6;
	case MQTTSN_GWINFO:		/* GwId [GwAdd] */
		return n >= 1;
	case MQTTSN_CONNECT:		/* Flags ProtocolId=0x01 Duration ClientId */
		return n >= 4 && body[1] == 0x01;
	case MQTTSN_REGISTER:		/* TopicId MsgId TopicName */
		return n >= 5;
	case MQTTSN_SUBSCRIBE:		/* Flags MsgId TopicName | TopicId */
	case MQTTSN_UNSUBSCRIBE:
		if (n < 4)
			return 0;
		switch (body[0] & MQTTSN_FLAG_TOPIC_MASK) {
		case MQTTSN_TOPIC_NORMAL:
			return 1;
		case MQTTSN_TOPIC_PREDEFINED:
		case MQTTSN_TOPIC_SHORT:
			return n == 5;
		default:
			return 0;	/* 0b11 reserved */
		}
	case MQTTSN_DISCONNECT:		/* [Duration] */
		return n == 0 || n == 2;
	case MQTTSN_WILLTOPIC:		/* empty, or Flags WillTopic */
	case MQTTSN_WILLTOPICUPD:
		return n == 0 || n >= 2;
	default:			/* WILLMSG, WILLMSGUPD, PINGREQ: any tail;
					 * 0xFE: a forwarder's envelope */
		return 1;
	}
}

/*
 * The data plane's verdict.  May rewrite a QoS -1 PUBLISH's topic id to the
 * reserved 0xFFFF (see the top of the file).  *bad_control: a control
 * message with a good header dropped for its layout.
 */
static enum verdict predict(uint8_t *b, size_t len, int *bad_control)
{
	uint32_t msg_len;
	uint8_t type, flags;
	size_t h = header(b, len, &msg_len, &type);

	if (!h || msg_len < h)
		return V_DROP_MALFORMED;
	/* 5.5: an encapsulation header's length is its own (at least 3),
	 * the wrapped message follows; the daemon judges the rest. */
	if (h == 2 && type == MQTTSN_ENCAPSULATED) {
		*bad_control = 0;
		return msg_len >= 3 && msg_len <= len ? V_PASS_CONTROL : V_DROP_MALFORMED;
	}
	if (msg_len != len)
		return V_DROP_LENGTH;
	if (!type_defined(type))
		return V_DROP_MALFORMED;
	*bad_control = 0;
	if (type != MQTTSN_PUBLISH) {
		*bad_control = !control_well_formed(type, b + h, len - h);
		return *bad_control ? V_DROP_MALFORMED : V_PASS_CONTROL;
	}
	if (h + MQTTSN_PUBLISH_BODY_LEN > len)
		return V_DROP_MALFORMED;
	flags = b[h];
	if ((flags & MQTTSN_FLAG_TOPIC_MASK) == 0x03)
		return V_DROP_MALFORMED;
	switch (flags & MQTTSN_FLAG_QOS_MASK) {
	case MQTTSN_FLAG_QOS_1:
	case MQTTSN_FLAG_QOS_2:
		return V_PASS_SLOW_QOS;
	}
	if ((flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_TOPIC_SHORT)
		return V_PASS_CONTROL;
	if ((flags & MQTTSN_FLAG_QOS_MASK) == MQTTSN_FLAG_QOS_0)
		return V_DROP_NOT_CONNECTED;
	b[h + 1] = 0xff;
	b[h + 2] = 0xff;
	return V_DROP_UNKNOWN_TOPIC;
}

static void fill_random(uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = rnd();
}

/* A well-formed message of a random type, through the project's codec. */
static size_t valid_message(uint8_t *b, size_t cap)
{
	static const uint8_t types[] = {
		MQTTSN_SEARCHGW, MQTTSN_REGISTER, MQTTSN_PUBLISH, MQTTSN_PUBLISH, MQTTSN_PUBLISH,
		MQTTSN_PUBACK, MQTTSN_PUBREL, MQTTSN_SUBSCRIBE, MQTTSN_UNSUBSCRIBE, MQTTSN_PINGREQ,
		MQTTSN_DISCONNECT, MQTTSN_WILLMSG, MQTTSN_REGACK, MQTTSN_CONNECT,
	};
	static const char *const names[] = { "a/b", "fuzz/topic", "x", "sensors/temp" };
	uint8_t payload[400];
	struct mqttsn_msg m = {
		.type = types[rnd_below(sizeof(types))],
		.topic_id = rnd(),
		.msg_id = rnd(),
		.duration = rnd(),
		.radius = rnd(),
	};
	/* Payloads from 0 to 400 bytes: both length forms. */
	size_t plen = rnd_below(4) ? rnd_below(40) : rnd_below(sizeof(payload) + 1);
	ssize_t n;

	fill_random(payload, plen);
	switch (m.type) {
	case MQTTSN_PUBLISH:
		/* QoS and topic type at random, reserved type excluded. */
		m.flags = (rnd() & (MQTTSN_FLAG_QOS_MASK | MQTTSN_FLAG_RETAIN | MQTTSN_FLAG_DUP)) |
			  rnd_below(3);
		m.data = payload;
		m.data_len = plen;
		break;
	case MQTTSN_REGISTER:
	case MQTTSN_SUBSCRIBE:
	case MQTTSN_UNSUBSCRIBE:
		m.data = (const uint8_t *)names[rnd_below(4)];
		m.data_len = strlen((const char *)m.data);
		break;
	case MQTTSN_WILLMSG:
	case MQTTSN_PINGREQ:
	case MQTTSN_CONNECT:
		m.data = payload;
		m.data_len = plen % 24;
		break;
	}
	n = mqttsn_encode(&m, b, cap);
	return n < 0 ? 0 : (size_t)n;
}

/* Overwrite the length field, keeping its form. */
static void set_length(uint8_t *b, uint32_t v)
{
	if (b[0] == MQTTSN_LEN_3BYTE_MARK) {
		b[1] = v >> 8;
		b[2] = v;
	} else {
		b[0] = v;
	}
}

static size_t draw(uint8_t *b, int cls)
{
	uint32_t wrong;
	uint8_t type;
	size_t n;

	switch (cls) {
	case 0:	/* random bytes */
		n = rnd_below(rnd_below(4) ? 48 : MAX_DGRAM);
		fill_random(b, n);
		/* Now and then a plausible header, so more get past the length. */
		if (n >= 2 && !rnd_below(4)) {
			b[0] = n < 256 ? n : MQTTSN_LEN_3BYTE_MARK;
			if (b[0] == 0x01 && n >= 4) {
				b[1] = n >> 8;
				b[2] = n;
			}
		}
		return n;
	case 1:	/* a wrong length field */
		n = valid_message(b, MAX_DGRAM);
		if (!n)
			return 0;
		do
			wrong = b[0] == MQTTSN_LEN_3BYTE_MARK ? rnd() & 0xffff : rnd() & 0xff;
		while (wrong == n);
		set_length(b, wrong);
		return n;
	case 2:	/* a valid message cut short */
		n = valid_message(b, MAX_DGRAM);
		return n ? rnd_below(n) : 0;
	case 3:	/* an undefined message type, length right */
		n = 2 + rnd_below(40);
		fill_random(b, n);
		b[0] = n;
		do
			type = rnd();
		while (type_defined(type));
		b[1] = type;
		return n;
	case 4:	/* TopicIdType 0b11 in PUBLISH, SUBSCRIBE or UNSUBSCRIBE */
		n = 7 + rnd_below(30);
		fill_random(b, n);
		b[0] = n;
		b[1] = (uint8_t[]){ MQTTSN_PUBLISH, MQTTSN_PUBLISH, MQTTSN_SUBSCRIBE,
				    MQTTSN_UNSUBSCRIBE }[rnd_below(4)];
		b[2] |= 0x03;
		return n;
	case 5:	/* empty, or a single byte */
		n = rnd_below(2);
		fill_random(b, n);
		return n;
	default:	/* well-formed, from a client that never connected */
		return valid_message(b, MAX_DGRAM);
	}
}

static int open_socket(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	int fd, r = getaddrinfo(host, port, &hints, &ai);

	if (r) {
		fprintf(stderr, "pso_fuzz: %s: %s\n", host, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		fprintf(stderr, "pso_fuzz: cannot reach %s: %s\n", host, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* SEARCHGW on the sync socket until GWINFO comes back (5 tries, 1 s each).
 * Returns the number of SEARCHGW sent, or -1. */
static int sync_broker(int fd)
{
	uint8_t req[3] = { 3, MQTTSN_SEARCHGW, 0 }, buf[512];
	struct mqttsn_msg m;

	for (int tries = 1; tries <= 5; tries++) {
		if (send(fd, req, sizeof(req), 0) != sizeof(req))
			return -1;
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (poll(&pfd, 1, 1000) <= 0)
				break;
			n = recv(fd, buf, sizeof(buf), 0);
			if (n > 0 && !mqttsn_decode(buf, n, &m) && m.type == MQTTSN_GWINFO)
				return tries;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *host = NULL, *port = "1883";
	long count = 10000, seed = 1, batch = 100, counts[V__MAX] = { 0 }, sent = 0;
	long bad_controls = 0, disagree = 0;
	uint8_t b[MAX_DGRAM];
	struct mqttsn_msg m;
	int opt, fd, sync_fd;

	while ((opt = getopt(argc, argv, "h:p:n:s:b:")) != -1) {
		switch (opt) {
		case 'h': host = optarg; break;
		case 'p': port = optarg; break;
		case 'n': count = atol(optarg); break;
		case 's': seed = atol(optarg); break;
		case 'b': batch = atol(optarg); break;
		default:
			fprintf(stderr, "usage: pso_fuzz -h HOST [-p PORT] [-n COUNT] [-s SEED] [-b BATCH]\n");
			return 2;
		}
	}
	if (!host || count < 0 || batch <= 0) {
		fprintf(stderr, "usage: pso_fuzz -h HOST [-p PORT] [-n COUNT] [-s SEED] [-b BATCH]\n");
		return 2;
	}
	rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)seed;
	fd = open_socket(host, port);
	sync_fd = open_socket(host, port);
	if (fd < 0 || sync_fd < 0)
		return 1;

	while (sent < count) {
		size_t n = draw(b, (int)rnd_below(7));
		int tries, bad_control = 0, dec;
		enum verdict v = predict(b, n, &bad_control);
		bool model_ok = v != V_DROP_LENGTH && v != V_DROP_MALFORMED;

		/* A CONNECT the daemon accepts would change the admission of
		 * this socket's publishes: draw again. */
		if (v == V_PASS_CONTROL && !mqttsn_decode(b, n, &m) && m.type == MQTTSN_CONNECT)
			continue;
		if (send(fd, b, n, 0) != (ssize_t)n) {
			/* ECONNREFUSED reports an earlier datagram's ICMP:
			 * nobody listened then; this one is not sent. */
			if (errno == ECONNREFUSED)
				continue;
			fprintf(stderr, "pso_fuzz: send: %s\n", strerror(errno));
			return 1;
		}
		counts[v]++;
		bad_controls += bad_control;
		sent++;
		/* The daemon's decoder; a forwarder's envelope is the
		 * daemon's to judge (mqttsn_decap): the data plane passes
		 * any with a plausible header up. */
		dec = mqttsn_decode(b, n, &m);
		if (n >= 2 && b[0] != 0x01 && b[1] == MQTTSN_ENCAPSULATED)
			dec = model_ok ? 0 : -EINVAL;
		if (model_ok != (dec == 0 || dec == -EOPNOTSUPP) && disagree++ < 5) {
			fprintf(stderr, "pso_fuzz: datagram %ld: model says %s, mqttsn_decode %d:",
				sent, model_ok ? "well-formed" : "malformed", dec);
			for (size_t i = 0; i < n && i < 24; i++)
				fprintf(stderr, " %02x", b[i]);
			fprintf(stderr, "\n");
		}
		if (sent % batch == 0 || sent == count) {
			tries = sync_broker(sync_fd);
			if (tries < 0) {
				fprintf(stderr, "pso_fuzz: no GWINFO from the broker after %ld datagrams\n",
					sent);
				return 1;
			}
			counts[V_PASS_CONTROL] += tries;
		}
	}
	printf("sent=%ld", sent);
	for (int v = 0; v < V__MAX; v++)
		printf(" %s=%ld", verdict_names[v], counts[v]);
	printf(" malformed_control=%ld codec_disagrees=%ld\n", bad_controls, disagree);
	return 0;
}
