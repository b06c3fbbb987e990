#!/usr/bin/env python3
# fanclients.py HOST N TOPIC COUNT ADDR - the fan-out test (test_fanout.sh):
# N MQTT-SN subscribers, each on its own UDP socket bound to ADDR (an
# ephemeral port there), CONNECT, answer the broker's address check and
# SUBSCRIBE (QoS 0) to TOPIC; one more client on ADDR registers TOPIC and
# publishes COUNT QoS 0 messages "m<k>" to it, one at a time: message k+1
# goes once every subscriber has message k (within 20 s), so no queue on
# the way is asked to hold more than one publish's N copies.  Then a last
# message "end": once every subscriber has it, a duplicate of an earlier
# message would have come before it on the same path.  FAN_FILTER=F in
# the environment: the subscribers SUBSCRIBE to F (a wildcard filter that
# matches TOPIC) instead.
#
# Prints "ready CONNECT_S SUBSCRIBE_S" after the SUBACKs and the
# publisher's REGACK, waits for a line on stdin (the caller's go: the
# broker's tables at rest), publishes, then prints one line
# "got N_EXACT N_MISSING N_DUPLICATE N_BAD PUBLISH_S": the subscribers that
# received every message exactly once, those that missed one, those that got
# one twice, and datagrams that were not one of ours (wrong topic id,
# length or payload).  Exit 0 when every subscriber got every message once,
# 1 otherwise (or one line on stderr when the broker does not answer).
import os
import struct
import sys
import time

sys.dont_write_bytecode = True	# no __pycache__ left in tests/e2e
import scaleclients as sc	# noqa: E402

WAIT_S = 20.0


def main():
    host, n, topic, count, addr = (sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(),
                                   int(sys.argv[4]), sys.argv[5])
    c = sc.Clients(host, range(n + 1), [addr], sc.WINDOW)
    subs, pub = list(range(n)), n
    t0 = time.monotonic()
    if c.phase(list(range(n + 1)), lambda i: sc.connect_msg(b"fan%d" % i), sc.CONNACK,
               t0 + sc.TIMEOUT, want_proven=True) is None:
        print("no CONNACK or address check within 120 s", file=sys.stderr)
        return 2
    t1 = time.monotonic()
    filt = os.environ.get("FAN_FILTER", "").encode() or topic
    acks = c.phase(subs, lambda i: sc.subscribe_msg(filt, 1 + i % 60000), sc.SUBACK,
                   t1 + sc.TIMEOUT)
    if acks is None:
        print("no SUBACK within 120 s", file=sys.stderr)
        return 2
    t2 = time.monotonic()
    ids = {struct.unpack("!H", d[3:5])[0] for d in acks.values()}
    if len(ids) != 1:
        print(f"the SUBACKs name {len(ids)} topic ids", file=sys.stderr)
        return 2
    topic_id = ids.pop()	# 0 for a wildcard filter: the REGACK's then
    reg = c.phase([pub], lambda i: sc.register_msg(topic, 1), sc.REGACK,
                  time.monotonic() + sc.TIMEOUT)
    reg_id = struct.unpack("!H", reg[pub][2:4])[0] if reg else 0
    if not reg_id or (filt == topic and reg_id != topic_id):
        print(f"the publisher's REGISTER: id {reg_id}, the SUBACKs' {topic_id}", file=sys.stderr)
        return 2
    topic_id = reg_id
    print(f"ready {t1 - t0:.2f} {t2 - t1:.2f}", flush=True)
    sys.stdin.readline()

    got = {i: {} for i in subs}		# subscriber -> {payload: times}
    bad = 0
    names = [b"m%d" % k for k in range(count)] + [b"end"]

    def drain(timeout):
        nonlocal bad
        for fd, _ in c.ep.poll(timeout):
            i = c.by_fd[fd]
            while True:
                try:
                    d = c.socks[i].recv(256)
                except BlockingIOError:
                    break
                t = c.handle(i, d)
                if i == pub:
                    continue
                if t != sc.PUBLISH:
                    continue
                payload = d[7:]
                if len(d) < 7 or struct.unpack("!H", d[3:5])[0] != topic_id or \
                        payload not in names:
                    bad += 1
                    continue
                got[i][payload] = got[i].get(payload, 0) + 1

    t3 = time.monotonic()
    for name in names:
        c.socks[pub].send(sc.publish_msg(topic_id, name))
        deadline = time.monotonic() + WAIT_S
        have = 0
        while time.monotonic() < deadline:
            drain(0.05)
            have = sum(1 for i in subs if name in got[i])
            if have == n:
                break
        if have != n:
            print(f"{name.decode()}: {have} of {n} subscribers within {WAIT_S:.0f} s",
                  file=sys.stderr)
            break
    drain(0)
    t4 = time.monotonic()
    exact = sum(1 for i in subs if all(got[i].get(m) == 1 for m in names))
    missing = sum(1 for i in subs if any(m not in got[i] for m in names))
    dup = sum(1 for i in subs if any(v > 1 for v in got[i].values()))
    print(f"got {exact} {missing} {dup} {bad} {t4 - t3:.2f}", flush=True)
    for s in c.socks.values():
        s.close()
    return 0 if exact == n and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
