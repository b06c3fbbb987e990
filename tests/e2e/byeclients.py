#!/usr/bin/env python3
# byeclients.py HOST N NODES [TIMEOUT] - many MQTT-SN clients that wait for
# the broker's DISCONNECT, for test_robust.sh.
#
# N direct clients, each on its own UDP socket, and NODES wireless nodes
# behind one forwarder socket (MQTT-SN 5.5 encapsulation).  Each CONNECTs
# (keep-alive 300 s, client id bye-d<i> / bye-n<i>) and waits for its
# CONNACK; then the script prints "connected N NODES" and waits up to
# TIMEOUT seconds (default 20) for one DISCONNECT per client, direct or
# wrapped for its node.  Last line:
#   "disconnects direct=D nodes=E spread_ms=S"
# S: from the first DISCONNECT to the last.  Exit 0 when every client got
# exactly one, 1 otherwise.
import resource
import select
import socket
import struct
import sys
import time

CONNECT, CONNACK, DISCONNECT, ENCAP = 0x04, 0x05, 0x18, 0xFE


def connect_msg(cid):
    return bytes([6 + len(cid), CONNECT, 0x04, 0x01]) + struct.pack("!H", 300) + cid


def wrap(node, msg):
    return bytes([3 + len(node), ENCAP, 0x01]) + node + msg


def unwrap(d):
    if len(d) < 3 or d[1] != ENCAP or d[0] > len(d):
        return None, None
    return d[3:d[0]], d[d[0]:]


def ready_fds(fds, ms):
    # poll, not select: more than FD_SETSIZE sockets.
    p = select.poll()
    for fd in fds:
        p.register(fd, select.POLLIN)
    return [fd for fd, _ in p.poll(ms)]


def main():
    host, n, nodes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    want = n + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    direct = []
    for i in range(n):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.connect((host, 1883))
        s.setblocking(False)
        direct.append(s)
    fwd = socket.socket(family, socket.SOCK_DGRAM)
    # Every node's DISCONNECT lands on this one socket, paced or not.
    fwd.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root)
    fwd.connect((host, 1883))
    fwd.setblocking(False)
    node_ids = [struct.pack("!H", i + 1) for i in range(nodes)]

    # CONNECT everyone, resending to those not answered yet.
    pending = {s.fileno(): s for s in direct}
    pending_nodes = set(node_ids)
    by_fd = {s.fileno(): s for s in direct}
    deadline = time.monotonic() + 30
    while (pending or pending_nodes) and time.monotonic() < deadline:
        for i, s in enumerate(direct):
            if s.fileno() in pending:
                s.send(connect_msg(b"bye-d%d" % i))
        for i, node in enumerate(node_ids):
            if node in pending_nodes:
                fwd.send(wrap(node, connect_msg(b"bye-n%d" % i)))
        until = time.monotonic() + 1.0
        while (pending or pending_nodes) and time.monotonic() < until:
            fds = list(pending) + ([fwd.fileno()] if pending_nodes else [])
            for fd in ready_fds(fds, 100):
                if fd == fwd.fileno():
                    while True:
                        try:
                            d = fwd.recv(2048)
                        except BlockingIOError:
                            break
                        node, inner = unwrap(d)
                        if inner and len(inner) > 1 and inner[1] == CONNACK:
                            pending_nodes.discard(node)
                    continue
                try:
                    d = by_fd[fd].recv(2048)
                except BlockingIOError:
                    continue
                if len(d) > 1 and d[1] == CONNACK:
                    pending.pop(fd, None)
    if pending or pending_nodes:
        print("not connected: %d direct, %d nodes" % (len(pending), len(pending_nodes)), flush=True)
        return 1
    print("connected %d %d" % (n, nodes), flush=True)

    got = {}          # fd -> DISCONNECTs
    got_nodes = {}    # node -> DISCONNECTs
    first = last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (len(got) < n or len(got_nodes) < nodes):
        for fd in ready_fds([s.fileno() for s in direct] + [fwd.fileno()], 200):
            sock = fwd if fd == fwd.fileno() else by_fd[fd]
            while True:
                try:
                    d = sock.recv(2048)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                now = time.monotonic()
                if sock is fwd:
                    node, inner = unwrap(d)
                    if inner and len(inner) > 1 and inner[1] == DISCONNECT:
                        got_nodes[node] = got_nodes.get(node, 0) + 1
                        first, last = first or now, now
                elif len(d) > 1 and d[1] == DISCONNECT:
                    got[fd] = got.get(fd, 0) + 1
                    first, last = first or now, now
    # Late duplicates, briefly.
    time.sleep(0.3)
    for sock in direct + [fwd]:
        while True:
            try:
                d = sock.recv(2048)
            except (BlockingIOError, ConnectionRefusedError):
                break
            if sock is fwd:
                node, inner = unwrap(d)
                if inner and len(inner) > 1 and inner[1] == DISCONNECT:
                    got_nodes[node] = got_nodes.get(node, 0) + 1
            elif len(d) > 1 and d[1] == DISCONNECT:
                got[sock.fileno()] = got.get(sock.fileno(), 0) + 1
    once = sum(1 for v in got.values() if v == 1)
    once_nodes = sum(1 for v in got_nodes.values() if v == 1)
    spread = int((last - first) * 1000) if first else -1
    print("disconnects direct=%d nodes=%d spread_ms=%d" % (once, once_nodes, spread), flush=True)
    return 0 if once == n and once_nodes == nodes and len(got) == n and len(got_nodes) == nodes else 1


sys.exit(main())
