#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""make_corpus.py - write the seed corpora of the libFuzzer targets.

    python3 tests/fuzz/make_corpus.py [DIR]      (default tests/fuzz/corpus)

DIR/fuzz_mqttsn/: one valid MQTT-SN v1.2 message of every type (both
length forms, every tail form), and a forwarder envelope around some.
DIR/fuzz_proto/: conversations in fuzz_proto.c's record format (meta, step,
len, datagram): clients connecting, registering, subscribing in every form,
publishing at every QoS, acknowledging, sleeping, wills, forwarders, and
answers from endpoints that have no session.

The files are named by content (the first 16 hex digits of their SHA-1),
so running this again writes the same corpus.  Written from the message
layouts of MQTT-SN v1.2 section 5.4, not from the project's encoder.
"""
import hashlib
import os
import struct
import sys

ADVERTISE, SEARCHGW, GWINFO, CONNECT, CONNACK = 0x00, 0x01, 0x02, 0x04, 0x05
WILLTOPICREQ, WILLTOPIC, WILLMSGREQ, WILLMSG = 0x06, 0x07, 0x08, 0x09
REGISTER, REGACK, PUBLISH, PUBACK, PUBCOMP, PUBREC, PUBREL = 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 0x12, 0x13, 0x14, 0x15
PINGREQ, PINGRESP, DISCONNECT = 0x16, 0x17, 0x18
WILLTOPICUPD, WILLTOPICRESP, WILLMSGUPD, WILLMSGRESP = 0x1A, 0x1B, 0x1C, 0x1D
ENCAP = 0xFE

QOS0, QOS1, QOS2, QOSM1 = 0x00, 0x20, 0x40, 0x60
RETAIN, WILL, CLEAN = 0x10, 0x08, 0x04
NORMAL, PREDEF, SHORT = 0, 1, 2


def msg(mtype, body=b"", long_form=False):
    """Header (1- or 3-byte length) + type + body."""
    if long_form or 2 + len(body) > 255:
        return bytes([0x01]) + struct.pack(">H", 4 + len(body)) + bytes([mtype]) + body
    return bytes([2 + len(body), mtype]) + body


def u16(v):
    return struct.pack(">H", v)


def connect(cid, flags=CLEAN, keepalive=60):
    return msg(CONNECT, bytes([flags, 0x01]) + u16(keepalive) + cid)


def publish(flags, topic, msg_id=0, data=b"hello"):
    return msg(PUBLISH, bytes([flags]) + u16(topic) + u16(msg_id) + data)


def subscribe(flags, msg_id, topic):
    t = topic if isinstance(topic, bytes) else u16(topic)
    return msg(SUBSCRIBE, bytes([flags]) + u16(msg_id) + t)


def unsubscribe(flags, msg_id, topic):
    t = topic if isinstance(topic, bytes) else u16(topic)
    return msg(UNSUBSCRIBE, bytes([flags]) + u16(msg_id) + t)


def encap(node, inner, ctrl=0):
    return bytes([3 + len(node), ENCAP, ctrl]) + node + inner


def every_message():
    """One or more valid datagrams of each type."""
    return [
        msg(ADVERTISE, bytes([7]) + u16(900)),
        msg(SEARCHGW, bytes([1])),
        msg(GWINFO, bytes([7])),
        msg(GWINFO, bytes([7, 10, 0, 0, 1])),
        connect(b"client-1"),
        connect(b"c2", flags=WILL | CLEAN, keepalive=0),
        connect(b"kept", flags=0),
        msg(CONNACK, bytes([0])),
        msg(WILLTOPICREQ),
        msg(WILLTOPIC),
        msg(WILLTOPIC, bytes([QOS1 | RETAIN]) + b"will/topic"),
        msg(WILLMSGREQ),
        msg(WILLMSG, b"gone"),
        msg(REGISTER, u16(0) + u16(1) + b"a/b"),
        msg(REGACK, u16(1) + u16(1) + bytes([0])),
        publish(QOS0, 1),
        publish(QOS1, 1, 2),
        publish(QOS2, 1, 3),
        publish(QOSM1 | PREDEF, 7, 0),
        publish(QOS0 | SHORT, 0x6162),
        publish(QOS0 | RETAIN, 1, 0, b"r" * 300),
        msg(PUBLISH, bytes([QOS0]) + u16(1) + u16(0) + b"long form", long_form=True),
        msg(PUBACK, u16(1) + u16(2) + bytes([0])),
        msg(PUBCOMP, u16(3)),
        msg(PUBREC, u16(3)),
        msg(PUBREL, u16(3)),
        subscribe(QOS0 | NORMAL, 1, b"a/b"),
        subscribe(QOS1 | NORMAL, 2, b"a/+"),
        subscribe(QOS2 | NORMAL, 3, b"#"),
        subscribe(QOS0 | PREDEF, 4, 7),
        subscribe(QOS0 | SHORT, 5, b"ab"),
        msg(SUBACK, bytes([QOS0]) + u16(1) + u16(1) + bytes([0])),
        unsubscribe(NORMAL, 6, b"a/b"),
        unsubscribe(PREDEF, 7, 7),
        unsubscribe(SHORT, 8, b"ab"),
        msg(UNSUBACK, u16(6)),
        msg(PINGREQ),
        msg(PINGREQ, b"client-1"),
        msg(PINGRESP),
        msg(DISCONNECT),
        msg(DISCONNECT, u16(30)),
        msg(WILLTOPICUPD),
        msg(WILLTOPICUPD, bytes([QOS0]) + b"w"),
        msg(WILLTOPICRESP, bytes([0])),
        msg(WILLMSGUPD, b"new will"),
        msg(WILLMSGRESP, bytes([0])),
    ]


def rec(ep, dgram, step=0, judged=False, port2=False, rehop=False, advertise=False):
    meta = (ep | (0x08 if judged else 0) | (0x10 if port2 else 0) | (0x20 if rehop else 0)
            | (0x40 if advertise else 0))
    return bytes([meta, step, len(dgram)]) + dgram


def fast_path(ep, step=0):
    return bytes([0x80 | ep, step, 0])


def conversations():
    """Each a list of records of fuzz_proto.c."""
    c = []
    # Connect, register, publish at every QoS, subscribe in every form.
    c.append([rec(0, connect(b"pub")), rec(0, msg(REGISTER, u16(0) + u16(1) + b"a/b")),
              rec(1, connect(b"sub")), rec(1, subscribe(QOS0, 1, b"a/b")),
              rec(0, publish(QOS0, 1), judged=True), rec(0, publish(QOS1, 1, 2)),
              rec(0, publish(QOS2, 1, 3)), rec(0, msg(PUBREL, u16(3))),
              rec(0, publish(QOSM1 | PREDEF, 7)), rec(0, publish(QOS0 | SHORT, 0x6162))])
    # Wildcards, retained, QoS 1/2 deliveries and their acknowledgements.
    c.append([rec(4, connect(b"v6")), rec(4, subscribe(QOS2, 1, b"#")),
              rec(0, connect(b"pub")), rec(0, msg(REGISTER, u16(0) + u16(1) + b"x/y")),
              rec(0, publish(QOS0 | RETAIN, 1, 0, b"kept")), rec(0, publish(QOS2, 1, 9)),
              rec(4, msg(PUBREC, u16(1))), rec(4, msg(PUBCOMP, u16(1))),
              rec(4, msg(REGACK, u16(1) + u16(1) + bytes([0]))),
              rec(5, connect(b"late")), rec(5, subscribe(QOS1, 2, b"x/+")),
              rec(5, msg(PUBACK, u16(1) + u16(1) + bytes([0]))),
              rec(4, unsubscribe(NORMAL, 3, b"#")), rec(5, msg(PINGREQ), step=50)])
    # Predefined and short-name subscriptions, unsubscribes.
    c.append([rec(2, connect(b"p")), rec(2, subscribe(QOS0 | PREDEF, 1, 7)),
              rec(2, subscribe(QOS0 | SHORT, 2, b"ab")), rec(3, connect(b"q")),
              rec(3, publish(QOS0 | SHORT, 0x6162)), rec(3, publish(QOSM1 | PREDEF, 7)),
              rec(2, unsubscribe(PREDEF, 3, 7)), rec(2, unsubscribe(SHORT, 4, b"ab")),
              rec(2, msg(DISCONNECT))])
    # Sleeping client: buffered publishes, woken by PINGREQ, then CONNECT.
    c.append([rec(1, connect(b"sleepy")), rec(1, subscribe(QOS1, 1, b"s/t")),
              rec(0, connect(b"pub")), rec(0, msg(REGISTER, u16(0) + u16(1) + b"s/t")),
              rec(1, msg(DISCONNECT, u16(20))), rec(0, publish(QOS0, 1), judged=True),
              rec(0, publish(QOS1, 1, 5)), rec(1, msg(PINGREQ, b"sleepy"), step=30),
              rec(1, msg(PUBACK, u16(1) + u16(1) + bytes([0]))), rec(1, connect(b"sleepy"))])
    # Will: CONNECT with the Will flag, WILLTOPIC, WILLMSG, expiry by keep-alive.
    c.append([rec(6, connect(b"willy", flags=WILL | CLEAN, keepalive=2)),
              rec(6, msg(WILLTOPIC, bytes([QOS0 | RETAIN]) + b"w/t")),
              rec(6, msg(WILLMSG, b"bye")), rec(5, connect(b"watch")),
              rec(5, subscribe(QOS0, 1, b"w/#")),
              rec(6, msg(WILLTOPICUPD, bytes([QOS1]) + b"w/u")),
              rec(6, msg(WILLMSGUPD, b"later")), fast_path(5, step=20),
              rec(5, msg(PINGREQ), step=0x81)])
    # A kept session resumed from another endpoint, then expired.
    c.append([rec(0, connect(b"kept", flags=0)), rec(0, subscribe(QOS1, 1, b"k/#")),
              rec(0, msg(DISCONNECT)), rec(2, connect(b"reg")),
              rec(2, msg(REGISTER, u16(0) + u16(1) + b"k/1")),
              rec(2, publish(QOS1, 1, 1)), rec(7, connect(b"kept", flags=0)),
              rec(7, msg(PUBACK, u16(1) + u16(1) + bytes([0]))), rec(7, msg(DISCONNECT)),
              rec(2, msg(PINGREQ), step=0x87)])
    # Forwarders: clients behind a forwarder, wrapped both ways.
    c.append([rec(3, encap(b"\x01", connect(b"node1"))),
              rec(3, encap(b"\x01", subscribe(QOS0, 1, b"f/#"))),
              rec(3, encap(b"\x02\x02", connect(b"node2"))),
              rec(3, encap(b"\x02\x02", msg(REGISTER, u16(0) + u16(1) + b"f/g"))),
              rec(3, encap(b"\x02\x02", publish(QOS1, 1, 4))),
              rec(3, encap(b"\x01", msg(PINGREQ))), rec(3, encap(b"\x01", msg(DISCONNECT)))])
    # Answers from endpoints without a session: nothing may come back.
    c.append([rec(i % 8, m) for i, m in enumerate([
        msg(CONNACK, bytes([0])), msg(REGACK, u16(1) + u16(1) + bytes([0])),
        msg(SUBACK, bytes([0]) + u16(1) + u16(1) + bytes([0])), msg(UNSUBACK, u16(1)),
        msg(PINGRESP), msg(DISCONNECT), msg(PUBACK, u16(1) + u16(1) + bytes([0])),
        msg(PUBREC, u16(1)), msg(PUBREL, u16(1)), msg(PUBCOMP, u16(1)),
        msg(WILLTOPICRESP, bytes([0])), msg(WILLMSGRESP, bytes([0])),
        msg(ADVERTISE, bytes([1]) + u16(60)), msg(GWINFO, bytes([1])),
        encap(b"\x09", msg(DISCONNECT))])])
    # Requests from endpoints without a session, and gateway discovery.
    c.append([rec(i % 8, m, step=1) for i, m in enumerate([
        msg(SEARCHGW, bytes([0])), msg(PINGREQ), subscribe(QOS0, 1, b"a"),
        msg(REGISTER, u16(0) + u16(1) + b"a"), publish(QOS0, 1), publish(QOS1, 1, 1),
        publish(QOSM1 | PREDEF, 7), msg(WILLMSG, b"x")])])
    # Full tables: more clients and topics than the fake holds.
    c.append([rec(i, connect(b"c%d" % i)) for i in range(8)] +
             [rec(0, msg(REGISTER, u16(0) + u16(i) + b"t/%d" % i)) for i in range(1, 17)] +
             [rec(i, subscribe(QOS0, 1, b"t/#")) for i in range(8)] +
             # Subscribers without a slot: new next hops, a sleep, a wake.
             [rec(7, msg(PINGREQ), rehop=True), rec(7, msg(DISCONNECT, u16(30))),
              rec(7, msg(PINGREQ, b"c7")), rec(4, msg(DISCONNECT))])
    # Next hops change under connected subscribers; ADVERTISE between.
    c.append([rec(0, connect(b"a")), rec(0, subscribe(QOS0, 1, b"h/#")),
              rec(4, connect(b"b"), port2=True), rec(4, subscribe(QOS1, 2, b"h/+")),
              rec(1, connect(b"p")), rec(1, msg(REGISTER, u16(0) + u16(1) + b"h/1")),
              rec(1, publish(QOS0, 1), rehop=True), rec(1, publish(QOS1, 1, 2), advertise=True),
              rec(0, msg(PINGREQ), rehop=True, advertise=True)])
    # Every single message from client 0 after it connected.
    c.append([rec(0, connect(b"all"))] + [rec(0, m) for m in every_message() if len(m) < 256])
    return [b"".join(r) for r in c]


def write(dirname, blobs):
    os.makedirs(dirname, exist_ok=True)
    for old in os.listdir(dirname):
        os.unlink(os.path.join(dirname, old))
    for b in blobs:
        name = hashlib.sha1(b).hexdigest()[:16]
        with open(os.path.join(dirname, name), "wb") as f:
            f.write(b)
    return len(blobs)


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    codec = every_message()
    codec += [encap(b"\x01", m) for m in codec[:6]] + [encap(b"\x01\x02\x03", publish(QOS0, 1), 1)]
    n1 = write(os.path.join(top, "fuzz_mqttsn"), sorted(set(codec)))
    n2 = write(os.path.join(top, "fuzz_proto"), sorted(set(conversations())))
    print("make_corpus: %d datagrams, %d conversations under %s" % (n1, n2, top))


if __name__ == "__main__":
    main()
