#!/usr/bin/env python3
# regmany.py HOST CLIENTS PER_CLIENT PREFIX [keep] - for test_recycle.sh:
# CLIENTS MQTT-SN clients, each on its own UDP socket, CONNECT (id
# PREFIX-<i>; CleanSession unless "keep": then the broker keeps the session
# and what it registered) and REGISTER PER_CLIENT distinct names
# PREFIX/<i>/<k>, then DISCONNECT.  Prints every topic id the broker gave,
# one per line, and exits 0 when every REGACK accepted; exit 1 (with a line
# on stderr) when one refused, or a CONNACK, REGACK or DISCONNECT did not
# come within 60 s.
# regmany.py HOST publish ID: one client CONNECTs and sends a QoS 0 PUBLISH
# to topic id ID; prints the return code of the PUBACK that answers it
# ("none" when none came within 5 s).
import select
import socket
import struct
import sys
import time

CONNECT, CONNACK, REGISTER, REGACK, PUBLISH, PUBACK, DISCONNECT = \
    0x04, 0x05, 0x0A, 0x0B, 0x0C, 0x0D, 0x18
WINDOW = 64	# REGISTERs in flight per client


def connect_msg(cid, keep):
    flags = 0x00 if keep else 0x04
    return bytes([6 + len(cid), CONNECT, flags, 0x01]) + struct.pack("!H", 600) + cid


def register_msg(name, msg_id):
    return bytes([6 + len(name), REGISTER]) + struct.pack("!HH", 0, msg_id) + name


def recv_type(s, want, deadline):
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        d = s.recv(512)
        if len(d) >= 2 and d[1] == want:
            return d
    return None


def one_client(host, i, per, prefix, keep, deadline):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((host, 1883))
    s.send(connect_msg(b"%s-%d" % (prefix, i), keep))
    d = recv_type(s, CONNACK, deadline)
    if not d or d[-1] != 0:
        raise RuntimeError(f"client {i}: no CONNACK accepted ({d!r})")
    ids, pending, nxt = [], {}, 0
    while nxt < per or pending:
        while nxt < per and len(pending) < WINDOW:
            msg_id = nxt + 1
            s.send(register_msg(b"%s/%d/%d" % (prefix, i, nxt), msg_id))
            pending[msg_id] = nxt
            nxt += 1
        d = recv_type(s, REGACK, deadline)
        if d is None:
            raise RuntimeError(f"client {i}: {len(pending)} REGACKs missing")
        topic_id, msg_id, rc = struct.unpack("!HHB", d[2:7])
        if msg_id not in pending:
            continue
        if rc != 0:
            raise RuntimeError(f"client {i}: REGISTER refused with {rc}")
        del pending[msg_id]
        ids.append(topic_id)
    s.send(bytes([2, DISCONNECT]))
    if recv_type(s, DISCONNECT, deadline) is None:
        raise RuntimeError(f"client {i}: no DISCONNECT back")
    s.close()
    return ids


def publish(host, topic_id):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.connect((host, 1883))
    s.send(connect_msg(b"late", False))
    d = recv_type(s, CONNACK, time.monotonic() + 5)
    if not d or d[-1] != 0:
        print("no CONNACK", file=sys.stderr)
        return 1
    s.send(bytes([9, PUBLISH, 0x00]) + struct.pack("!HH", topic_id, 0) + b"xx")
    d = recv_type(s, PUBACK, time.monotonic() + 5)
    print("none" if d is None else d[-1])
    s.send(bytes([2, DISCONNECT]))
    return 0


def main():
    if sys.argv[2] == "publish":
        return publish(sys.argv[1], int(sys.argv[3]))
    host, n, per, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    keep = len(sys.argv) > 5 and sys.argv[5] == "keep"
    deadline = time.monotonic() + 60
    try:
        for i in range(n):
            for topic_id in one_client(host, i, per, prefix.encode(), keep, deadline):
                print(topic_id)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
