#!/usr/bin/env python3
"""disconnect_burst.py HOST N - how long a burst of DISCONNECTs holds up
another client.

N clients connect and subscribe to one topic each (so each leaves a
resolved subscriber slot behind when it goes), then all N send DISCONNECT
back to back, and a further client, already connected, sends PINGREQ right
after the burst.  Prints one line:
    burst_n=N burst_ms=T ping_after_burst_ms=P
burst_ms: first DISCONNECT sent to last DISCONNECT answered;
ping_after_burst_ms: the PINGREQ's round trip.  Run it from a namespace
that reaches the broker (bench/run.sh, or by hand); it talks only to HOST.
"""
import socket
import struct
import sys
import time

PORT = 1883


def msg(mtype, body=b""):
    return bytes([2 + len(body), mtype]) + body


def connect(cid):
    return msg(0x04, bytes([0x04, 0x01]) + struct.pack("!H", 60) + cid.encode())


def subscribe(msg_id, name):
    return msg(0x12, bytes([0x00]) + struct.pack("!H", msg_id) + name.encode())


def expect(sock, mtype, deadline):
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        data = sock.recv(2048)
        if len(data) >= 2 and data[1] == mtype:
            return data


def main():
    host, n = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + 60
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, PORT))
        s.send(connect("burst%d" % i))
        expect(s, 0x05, deadline)
        s.send(subscribe(1, "burst/%d" % i))
        expect(s, 0x13, deadline)
        socks.append(s)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.connect((host, PORT))
    other.send(connect("burst-other"))
    expect(other, 0x05, deadline)

    t0 = time.monotonic()
    for s in socks:
        s.send(msg(0x18))
    p0 = time.monotonic()
    other.send(msg(0x16))
    expect(other, 0x17, deadline)
    p1 = time.monotonic()
    for s in socks:
        expect(s, 0x18, deadline)
    t1 = time.monotonic()
    print("burst_n=%d burst_ms=%.1f ping_after_burst_ms=%.1f"
          % (n, (t1 - t0) * 1000, (p1 - p0) * 1000))


if __name__ == "__main__":
    main()
