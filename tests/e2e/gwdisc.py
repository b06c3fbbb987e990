#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""gwdisc.py - the client side of MQTT-SN gateway discovery (v1.2, 6.1),
for tests/e2e/test_gateway.sh.

  gwdisc.py search DEST IFACE SECONDS [SRC]
      SEARCHGW (radius 1) to DEST port 1883 (IPv4 or IPv6, broadcast,
      multicast or unicast), sent out of IFACE (from SRC when given), again
      every 0.5 s, until a GWINFO comes back or SECONDS pass.  Prints "GWINFO from SRC gw_id=N" for each
      GWINFO; exit 0 when one came, 1 when none.

  gwdisc.py listen IFACE SECONDS [PORT]
      Listen on UDP PORT (1883) for IPv4 (broadcasts too) and IPv6 (ff02::1
      too) on IFACE and print every datagram, one line each:
      "ADVERTISE from SRC gw_id=N duration=D" or "TYPE 0xNN from SRC LEN
      bytes".  Exit 0 once an ADVERTISE came over each family, 1 when
      SECONDS pass first.

Only the standard library; a line is flushed as soon as it is printed.
"""
import select
import socket
import sys
import time

ADVERTISE, SEARCHGW, GWINFO = 0x00, 0x01, 0x02
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def msg_body(data):
    """The MQTT-SN type and the bytes after it, or None if malformed."""
    if len(data) >= 2 and data[0] != 0x01:
        if data[0] != len(data):
            return None
        return data[1], data[2:]
    if len(data) >= 4 and data[0] == 0x01:
        if (data[1] << 8 | data[2]) != len(data):
            return None
        return data[3], data[4:]
    return None


def describe(data, src):
    m = msg_body(data)
    if m is None:
        return "malformed from %s %d bytes" % (src, len(data))
    t, body = m
    if t == ADVERTISE and len(body) == 3:
        return "ADVERTISE from %s gw_id=%d duration=%d" % (src, body[0], body[1] << 8 | body[2])
    if t == GWINFO and len(body) >= 1:
        return "GWINFO from %s gw_id=%d" % (src, body[0])
    return "TYPE 0x%02x from %s %d bytes" % (t, src, len(data))


def bind_dev(s, iface):
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())


def search(dest, iface, seconds, src, port=1883):
    v6 = ":" in dest
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    bind_dev(s, iface)
    if src:
        s.bind((src, 0))
    if v6:
        ifindex = socket.if_nametoindex(iface)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        addr = (dest, port, 0, ifindex)
    else:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        addr = (dest, port)
    deadline = time.monotonic() + seconds
    got = False
    while not got and time.monotonic() < deadline:
        s.sendto(bytes([3, SEARCHGW, 1]), addr)
        resend = min(time.monotonic() + 0.5, deadline)
        while True:
            left = resend - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                break
            data, src = s.recvfrom(2048)
            m = msg_body(data)
            if m and m[0] == GWINFO:
                print(describe(data, src[0]), flush=True)
                got = True
    return 0 if got else 1


def listen(iface, seconds, port):
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    bind_dev(s4, iface)
    s4.bind(("0.0.0.0", port))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bind_dev(s6, iface)
    s6.bind(("::", port))
    print("listening on %s port %d" % (iface, port), flush=True)
    seen = set()
    deadline = time.monotonic() + seconds
    while len(seen) < 2:
        left = deadline - time.monotonic()
        if left <= 0:
            return 1
        for s in select.select([s4, s6], [], [], left)[0]:
            data, src = s.recvfrom(2048)
            print(describe(data, src[0]), flush=True)
            m = msg_body(data)
            if m and m[0] == ADVERTISE:
                seen.add(s.family)
    return 0


def main(argv):
    try:
        if argv[1] == "search":
            return search(argv[2], argv[3], float(argv[4]), argv[5] if len(argv) > 5 else None)
        if argv[1] == "listen":
            return listen(argv[2], float(argv[3]), int(argv[4]) if len(argv) > 4 else 1883)
    except (IndexError, ValueError):
        pass
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
