#!/usr/bin/env python3
# manyclients.py HOST N TOPICS - N MQTT-SN clients, each on its own UDP
# socket, for test_restart.sh: client i CONNECTs (keep-alive 600 s, id
# mc<i>) and SUBSCRIBEs to load/<i % TOPICS>, so the broker's tables hold
# N clients, N subscriber slots and TOPICS topics.  Prints
# "ready N TOPICS SECONDS" once every SUBACK came, then stays until stdin
# closes or it is stopped.  Exit 1 when a CONNACK or SUBACK did not come
# within 60 s, or one refused.
import resource
import select
import socket
import struct
import sys
import time

CONNECT, CONNACK, SUBSCRIBE, SUBACK = 0x04, 0x05, 0x12, 0x13
WINDOW = 256	# requests in flight


def connect_msg(cid):
    return bytes([6 + len(cid), CONNECT, 0x04, 0x01]) + struct.pack("!H", 600) + cid


def subscribe_msg(name, msg_id):
    return bytes([5 + len(name), SUBSCRIBE, 0x00]) + struct.pack("!H", msg_id) + name


def run_phase(socks, make, want_type, deadline):
    """Send make(i) to socket i, WINDOW at a time; wait for want_type."""
    p = select.poll()
    by_fd = {s.fileno(): i for i, s in enumerate(socks)}
    pending, nxt, done = set(), 0, 0
    while done < len(socks):
        while nxt < len(socks) and len(pending) < WINDOW:
            socks[nxt].send(make(nxt))
            p.register(socks[nxt].fileno(), select.POLLIN)
            pending.add(nxt)
            nxt += 1
        if time.monotonic() > deadline:
            return False
        for fd, _ in p.poll(200):
            i = by_fd[fd]
            try:
                d = socks[i].recv(64)
            except BlockingIOError:
                continue
            if len(d) < 3 or d[1] != want_type or i not in pending:
                continue
            if d[-1] != 0:
                print(f"client {i}: refused with {d[-1]}", file=sys.stderr)
                return False
            pending.discard(i)
            p.unregister(fd)
            done += 1
    return True


def main():
    host, n, topics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    want = n + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    socks = []
    for _ in range(n):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        s.connect((host, 1883))
        s.setblocking(False)
        socks.append(s)
    t0 = time.monotonic()
    deadline = t0 + 60
    if not run_phase(socks, lambda i: connect_msg(b"mc%d" % i), CONNACK, deadline):
        print("connect phase failed", file=sys.stderr)
        return 1
    if not run_phase(socks, lambda i: subscribe_msg(b"load/%d" % (i % topics), 1 + i % 60000),
                     SUBACK, deadline):
        print("subscribe phase failed", file=sys.stderr)
        return 1
    print(f"ready {n} {topics} {time.monotonic() - t0:.1f}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
