#!/usr/bin/env python3
# scaleclients.py HOST N TOPICS ADDR... - N MQTT-SN clients for the scale
# test (test_scale.sh) and benchmark (bench/scale.sh), each on its own UDP
# socket, client i bound to ADDR[i % len(ADDR)] (an ephemeral port there),
# so the broker sees N endpoints over several addresses and ports.  Client i
# CONNECTs (keep-alive 600 s, CleanSession, id sc<i>), answers the broker's
# address check (the REGISTER after CONNACK: REGACK with its MsgId, 6.5),
# and, when TOPICS > 0, SUBSCRIBEs (QoS 0) to scale/<i % TOPICS>
# (SCALE_PER_TOPIC=K in the environment: only the first K x TOPICS clients
# subscribe, K to a topic, for topic tables whose topics hold fewer).
#
# Prints "ready N CONNECT_S SUBSCRIBE_S" once every CONNACK and SUBACK came
# (0 seconds for no subscription), then reads commands on stdin:
#   pub NAME COUNT   COUNT clients spread evenly over all N REGISTER NAME and,
#                    with the id their REGACK gives, send one QoS 0 PUBLISH
#                    each; prints "sent COUNT TOPICID"
#   quit (or EOF)    close every socket and exit 0
# Exit 1 (one line on stderr) when an answer does not come within 120 s
# or is a refusal.  The clients are shared among worker processes (at least
# one per address), each holding fewer sockets than its descriptor limit:
# a hard RLIMIT_NOFILE far below N is common without CAP_SYS_RESOURCE.
import os
import resource
import select
import socket
import struct
import sys
import time

CONNECT, CONNACK, REGISTER, REGACK = 0x04, 0x05, 0x0A, 0x0B
PUBLISH, SUBSCRIBE, SUBACK = 0x0C, 0x12, 0x13
WINDOW = 1024		# requests in flight, all workers together: within the
			# broker's receive buffer (more only overflow it)
RESEND_S = 2.0		# a request unanswered this long is sent again (UDP)
TIMEOUT = 120.0
PUB_BATCH = 50		# publishes sent back to back, then PUB_PAUSE_S: the
PUB_PAUSE_S = 0.005	# subscriber's socket is not a 1,000-datagram queue


def connect_msg(cid):
    return bytes([6 + len(cid), CONNECT, 0x04, 0x01]) + struct.pack("!H", 600) + cid


def subscribe_msg(name, msg_id):
    return bytes([5 + len(name), SUBSCRIBE, 0x00]) + struct.pack("!H", msg_id) + name


def register_msg(name, msg_id):
    return bytes([6 + len(name), REGISTER]) + struct.pack("!HH", 0, msg_id) + name


def regack_msg(topic_id, msg_id):
    return bytes([7, REGACK]) + struct.pack("!HHB", topic_id, msg_id, 0)


def publish_msg(topic_id, payload):
    return bytes([7 + len(payload), PUBLISH, 0x00]) + struct.pack("!HH", topic_id, 0) + payload


class Clients:
    """The clients of one worker: global indexes mine, client i's socket
    bound to addrs[i % len(addrs)]."""

    def __init__(self, host, mine, addrs, window):
        self.window = window
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.ep = select.epoll()
        self.socks = {}
        self.by_fd = {}
        for i in mine:
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.bind((addrs[i % len(addrs)], 0))
            s.connect((host, 1883))
            s.setblocking(False)
            self.socks[i] = s
            self.by_fd[s.fileno()] = i
            self.ep.register(s.fileno(), select.EPOLLIN)
        self.proven = dict.fromkeys(mine, False)

    def handle(self, i, d):
        """Answer the address check; return the datagram's type, or None."""
        if len(d) < 2 or d[0] != len(d):
            return None
        if d[1] == REGISTER and len(d) >= 6:
            topic_id, msg_id = struct.unpack("!HH", d[2:6])
            self.socks[i].send(regack_msg(topic_id, msg_id))
            self.proven[i] = True
        return d[1]

    def phase(self, which, make, want_type, deadline, want_proven=False):
        """Send make(i) for each i in which, WINDOW at a time; done for i
        when an answer of want_type came (and its address check when
        want_proven).  Returns {i: answer}, or None after the deadline."""
        pending, sent, answers, nxt = {}, {}, {}, 0
        next_resend = time.monotonic() + RESEND_S
        while nxt < len(which) or pending:
            while nxt < len(which) and len(pending) < self.window:
                i = which[nxt]
                self.socks[i].send(make(i))
                pending[i] = None
                sent[i] = time.monotonic()
                nxt += 1
            now = time.monotonic()
            if now > deadline:
                return None
            if now > next_resend:
                next_resend = now + RESEND_S
                for i in pending:
                    if now - sent[i] > RESEND_S:
                        self.socks[i].send(make(i))
                        sent[i] = now
            for fd, _ in self.ep.poll(0.2):
                i = self.by_fd[fd]
                while True:
                    try:
                        d = self.socks[i].recv(256)
                    except BlockingIOError:
                        break
                    t = self.handle(i, d)
                    if i in pending and t == want_type:
                        if d[-1] != 0:
                            raise RuntimeError(f"client {i}: type {want_type:#x} refused "
                                               f"with {d[-1]}")
                        pending[i] = d
                if i in pending and pending[i] is not None and \
                        (not want_proven or self.proven[i]):
                    answers[i] = pending.pop(i)
        return answers


def worker(host, n, topics, addrs, mine, window, cmd, out):
    """One process's clients, driven by the lines the parent writes."""
    c = Clients(host, mine, addrs, window)
    msg_id = 60001
    say = lambda text: (out.write(text + "\n"), out.flush())
    say("up")
    for line in cmd:
        words = line.split()
        if words[0] == "connect":
            ok = c.phase(mine, lambda i: connect_msg(b"sc%d" % i), CONNACK,
                         time.monotonic() + TIMEOUT, want_proven=True)
            say("ok" if ok is not None else "connect: no CONNACK or address check within 120 s")
        elif words[0] == "subscribe":
            per = int(os.environ.get("SCALE_PER_TOPIC", "0"))
            subs = [i for i in mine if not per or i < per * topics]
            ok = c.phase(subs, lambda i: subscribe_msg(b"scale/%d" % (i % topics), 1 + i % 60000),
                         SUBACK, time.monotonic() + TIMEOUT)
            say("ok" if ok is not None else "subscribe: no SUBACK within 120 s")
        elif words[0] == "pub":
            name, count = words[1].encode(), int(words[2])
            sample = [i for i in (k * n // count for k in range(count)) if i in c.socks]
            acks = c.phase(sample, lambda i: register_msg(name, msg_id), REGACK,
                           time.monotonic() + TIMEOUT)
            if acks is None:
                say("pub: no REGACK within 120 s")
                continue
            ids = {struct.unpack("!H", d[2:4])[0] for d in acks.values()}
            if len(ids) > 1:
                say(f"pub: the REGACKs name {len(ids)} topic ids")
                continue
            topic_id = ids.pop() if ids else 0
            for k, i in enumerate(sample):
                c.socks[i].send(publish_msg(topic_id, b"p%d" % i))
                if k % PUB_BATCH == PUB_BATCH - 1:
                    time.sleep(PUB_PAUSE_S)
            say(f"sent {len(sample)} {topic_id}")
        else:
            break
    for s in c.socks.values():
        s.close()


def main():
    host, n, topics, addrs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    if not addrs:
        print("usage: scaleclients.py HOST N TOPICS ADDR...", file=sys.stderr)
        return 2
    # One process per address at least, each within its descriptor limit
    # (which an unprivileged hard limit may keep far below N).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    per = max(1, hard - 256)
    # A multiple of the addresses: each worker's clients share one address.
    need = -(-n // per)
    nworkers = len(addrs) * max(1, -(-need // len(addrs)))
    workers = []
    for w in range(nworkers):
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(cmd_w)
            os.close(out_r)
            try:
                worker(host, n, topics, addrs, range(w, n, nworkers),
                       max(16, WINDOW // nworkers), os.fdopen(cmd_r), os.fdopen(out_w, "w"))
            except Exception as e:	# the parent sees the line, not a hang
                os.write(out_w, f"worker {w}: {e}\n".encode())
            os._exit(0)
        os.close(cmd_r)
        os.close(out_w)
        workers.append((pid, os.fdopen(cmd_w, "w"), os.fdopen(out_r)))

    def ask(text):
        """Every worker does text; their answers, or exit 1 on an error."""
        for _, w, _ in workers:
            w.write(text + "\n")
            w.flush()
        answers = [r.readline().strip() for _, _, r in workers]
        for a in answers:
            if not (a == "ok" or a == "up" or a.startswith("sent ")):
                print(a or "a worker died", file=sys.stderr)
                sys.exit(1)
        return answers

    for _, _, r in workers:
        up = r.readline().strip()
        if up != "up":
            print(up or "a worker died", file=sys.stderr)
            return 1
    t0 = time.monotonic()
    ask("connect")
    t1 = time.monotonic()
    if topics > 0:
        ask("subscribe")
    t2 = time.monotonic()
    print(f"ready {n} {t1 - t0:.2f} {t2 - t1:.2f}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] != "pub" or len(words) != 3:
            print(f"unknown command: {line.strip()}", file=sys.stderr)
            return 2
        sent = [a.split() for a in ask(line.strip())]
        ids = {int(a[2]) for a in sent if int(a[1])}
        if len(ids) != 1:
            print(f"pub: the REGACKs name {len(ids)} topic ids", file=sys.stderr)
            return 1
        print(f"sent {sum(int(a[1]) for a in sent)} {ids.pop()}", flush=True)
    for pid, w, _ in workers:
        w.write("quit\n")
        w.flush()
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
