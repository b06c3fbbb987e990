#!/usr/bin/env bash
# test_safety.sh BUILD - attacks an off-path spoofer can mount on a UDP
# broker, reproduced in the veth lab of lab.sh, each asserting the bound the
# broker keeps.  Once with XDP in skb mode, once in drv mode.
#
#   loop    two brokers on one segment, each made (by spoofed CONNECT and
#           SUBSCRIBE from the other's address and port) a subscriber of
#           the other, then one publish: the brokers forward it to each
#           other.  Before the data plane decremented the TTL it reset it,
#           and the loop never ended (567,580 xdp_tx in 2 s); now it dies
#           after the publish's TTL in hops.  The brokers run with
#           --trusted for the lab network there, as an operator who vouches
#           for it would: without it the spoofed subscribers never prove
#           their address and the loop never forms (loop-untrusted).
#   reflect-* spoofed CONNECT (keep-alive 0) and SUBSCRIBE from a victim's
#           address (ns S1, 10.77.1.11, silent: sockets on those ports it
#           never reads, so no ICMP cuts the attack short): (a) to a busy topic, (b) "#" over 200 retained
#           messages of 1 KB, (c) 64 endpoints of the victim with a
#           wildcard each.  A capture at the victim counts what the broker
#           sends it; the amplification factor (bytes to the victim / bytes
#           spoofed in its name, UDP payloads) must be at most 3 (RFC 9000
#           8.1: before validation, at most 3x).  Before address validation
#           (682019d): (a) ~1,300x, (b) ~7,000x, (c) ~400x (see docs/SECURITY.md).
#           Meanwhile a real `psoffload sub` in ns S3 gets every publish.
#   pingpong one spoofed DISCONNECT "from" broker B's port to broker A: once
#           answered by a DISCONNECT, answered again (143,412 each way in
#           5.5 s); now A reads it and neither answers.
#   rate    a connected client flooding at 10x --max-publish-rate: its
#           subscribers get about the limit (burst + rate x time), the rest
#           is dropped and counted (xdp_drop_rate), and another publisher on
#           the same topic loses nothing.
#   icmp    a subscriber whose address answers ICMP port unreachable (its
#           socket closed): the broker drops its session and stops sending
#           to it within a bound, while a real subscriber keeps receiving;
#           once for a copy XDP sends (XDP_TX), once for a copy TC clones.
#
#   flood   20,000 spoofed CONNECTs with keep-alive 0 from 100 source
#           addresses and many ports fill the client table (once: for good,
#           since keep-alive 0 never expired); a subscriber keeps receiving
#           a live publisher throughout; one expiry period (1.5 x
#           --max-keepalive) after the flood the client table and the
#           sessions are what they were, and a new client connects.
#   holds   64 spoofed clients each subscribe `#` over 20 topics (once:
#           64 wildcards took every subscriber slot of every topic); with
#           --max-holds 8 each is refused and holds no slot.
#
# A second broker runs in ns S2 (10.77.1.12, on the bridge with broker A's
# port b0).  One result line per test; the last line is "N passed, N failed".
#
# Environment: PSO_TEST_MODES="skb drv", PSO_TEST_ONLY=ERE (harness.sh).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-safety.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
MODES=${PSO_TEST_MODES:-"skb drv"}
BROKER_B4=10.77.1.12	# broker B, in ns S2

passed=0 failed=0 tnum=0
broker_pid='' broker_log='' pin_dir=''
b_pid='' b_log='' b_pin='' a_starts=0
test_pids=()
diag=$work/diag
tmp=$work

# shellcheck source=harness.sh
. "$here/harness.sh"

stop_b() {
	[ -n "$b_pid" ] || return 0
	kill -TERM "$b_pid" 2>/dev/null
	wait_gone "$b_pid" 10 || kill -KILL "$b_pid" 2>/dev/null
	wait "$b_pid" 2>/dev/null
	b_pid=
}

cleanup() {
	stop_test_pids
	stop_broker
	stop_b
	lab_down
	rm -rf "/sys/fs/bpf/psoffload-safety-$LAB_ID"-* 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "test_safety: must run as root (namespaces, XDP, bpffs)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for f in "$psoffload" "$pass_obj"; do
	if [ ! -e "$f" ]; then
		echo "test_safety: $f missing: run make first" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
for tool in jq python3; do
	if ! command -v $tool >/dev/null; then
		echo "test_safety: $tool is needed" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

expect() {
	[ "$2" = "$3" ] && return 0
	note "$1: expected $2, got $3"
	return 1
}

# ---- the brokers -------------------------------------------------------------

# start_pair [ARGS...]: broker A on b0 and b1 (ns B), broker B on s2
# (ns S2), both with ARGS.
start_pair() {
	pin_dir=/sys/fs/bpf/psoffload-safety-$LAB_ID-a
	b_pin=/sys/fs/bpf/psoffload-safety-$LAB_ID-b
	# Fresh logs: a "serving" line of the round before is no start.
	broker_log=$tmp/broker-a-$mode-$((++a_starts)).log
	b_log=$tmp/broker-b-$mode-$a_starts.log
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --store=none -v --mode="$mode" --pin-dir="$pin_dir" \
		"$@" b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" --store=none -v --mode="$mode" --pin-dir="$b_pin" \
		"$@" s2 >"$b_log" 2>&1 &
	b_pid=$!
	wait_for 10 grep -qs "serving MQTT-SN" "$broker_log" &&
		wait_for 10 grep -qs "serving MQTT-SN" "$b_log" && return 0
	echo "# a broker did not start:"
	sed 's/^/#   A: /' "$broker_log"
	sed 's/^/#   B: /' "$b_log"
	return 1
}

stop_pair() {
	stop_broker
	stop_b
}

# counter NS PIN NAME: one data-plane counter of the broker pinned at PIN.
counter() {
	lab_run "$1" "$psoffload" stats --json --pin-dir="$2" | jq -r ".counters.$3"
}
sum_ab() { echo $(($(counter "$NS_B" "$pin_dir" "$1") + $(counter "$NS_S2" "$b_pin" "$1"))); }
sum_at_least() { [ "$(sum_ab "$1")" -ge "$2" ]; }

# ---- the spoofer -------------------------------------------------------------

# spoof SRC SPORT DST DPORT HEX...: one UDP datagram per HEX payload, from a
# source address that is not the sender's (a raw socket builds the IPv4 and
# UDP headers, checksums included), in ns PUB.
cat >"$work/spoof.py" <<'PY'
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

src, sport, dst, dport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for hexdata in sys.argv[5:]:
    data = bytes.fromhex(hexdata)
    ulen = 8 + len(data)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 17, ulen)
    udp = struct.pack('!HHHH', sport, dport, ulen, 0) + data
    c = csum(pseudo + udp) or 0xffff
    udp = udp[:6] + struct.pack('!H', c) + udp[8:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    s.sendto(ip + udp, (dst, 0))
PY
spoof() { lab_run "$NS_PUB" python3 "$work/spoof.py" "$@"; }

# MQTT-SN v1.2 messages, hex: CONNECT (clean, keep-alive 60 s) and
# SUBSCRIBE by name (QoS 0, message id 1).
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
mqttsn_connect() { printf '%02x0404' $((6 + ${#1})); printf '01003c'; hex "$1"; }
mqttsn_subscribe() { printf '%02x12000001' $((5 + ${#1})); hex "$1"; }

# SUBSCRIBE (QoS 0) to a filter, and the bytes of a list of hex datagrams.
hexlen() { local n=0 h; for h in "$@"; do n=$((n + ${#h} / 2)); done; echo $n; }

# ---- the victim's capture, the publisher -----------------------------------

# capture.py IFACE ADDR PORT COUNT OUT: counts the UDP payload bytes from
# port 1883 to ADDR, ports PORT .. PORT+COUNT-1, seen on IFACE (AF_PACKET, so whatever the victim's kernel does
# with them), writing "bytes datagrams" to OUT every 100 ms.  The victim
# holds those ports with sockets it never reads, so it answers nothing:
# the broker learns nothing from it (a victim that answers ICMP port
# unreachable is dropped at its first one: the icmp tests).
cat >"$work/capture.py" <<'PY'
import socket, struct, sys, time, os
ifc, addr, out = sys.argv[1], socket.inet_aton(sys.argv[2]), sys.argv[5]
lo, hi = int(sys.argv[3]), int(sys.argv[3]) + int(sys.argv[4])
held = []
for port in range(lo, hi):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((sys.argv[2], port))
    held.append(u)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)	# SO_RCVBUFFORCE: count, not drop
s.bind((ifc, 0))
s.settimeout(0.1)
nbytes = ndgrams = 0
def flush():
    with open(out + ".tmp", "w") as f:
        f.write("%d %d\n" % (nbytes, ndgrams))
    os.rename(out + ".tmp", out)
flush()
last = time.monotonic()
while True:
    try:
        fr, meta = s.recvfrom(65535)
        if meta[2] != socket.PACKET_OUTGOING and len(fr) >= 42:
            ip = fr[14:]
            ihl = (ip[0] & 15) * 4
            if ip[9] == 17 and ip[16:20] == addr:
                sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
                if sport == 1883 and lo <= dport < hi:
                    nbytes += ulen - 8
                    ndgrams += 1
    except socket.timeout:
        pass
    if time.monotonic() - last >= 0.1:
        flush()
        last = time.monotonic()
PY

# client.py HOST CID TOPIC COUNT SIZE RATE [retain]: a plain MQTT-SN
# publisher (it REGACKs the broker's REGISTER, as clients do): COUNT QoS 0
# publishes of SIZE bytes at RATE a second; with "retain", one retained
# publish to each of TOPIC/I%10/I for I in 0 .. COUNT-1 instead.
cat >"$work/client.py" <<'PY'
import socket, struct, sys, time
host, cid, topic, count, size, rate = sys.argv[1], sys.argv[2].encode(), sys.argv[3], \
    int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
retain = len(sys.argv) > 7
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, 1883)); s.settimeout(5)
def wait(mtype, msg_id=None):
    while True:
        d = s.recv(2048)
        if d[1] == 0x0A:	# the broker's REGISTER: REGACK, same MsgId
            s.send(bytes([7, 0x0B]) + d[2:4] + d[4:6] + b"\0")
            continue
        if d[1] == mtype and (msg_id is None or d[4:6] == struct.pack("!H", msg_id)):
            return d
s.send(bytes([6 + len(cid), 0x04, 0x04, 0x01]) + struct.pack("!H", 60) + cid)
assert wait(0x05)[2] == 0
def register(name, mid):
    s.send(bytes([6 + len(name), 0x0A]) + struct.pack("!HH", 0, mid) + name)
    ack = wait(0x0B, mid)
    assert ack[6] == 0, ack.hex()
    return ack[2:4]
payload = (b"x" * size)
names = ["%s/%d/%d" % (topic, i % 10, i) for i in range(count)] if retain else [topic]
tids = [register(n.encode(), 1 + i) for i, n in enumerate(names)]
start = time.monotonic()
for i in range(count):
    tid = tids[i] if retain else tids[0]
    flags = 0x10 if retain else 0x00
    body = bytes([flags]) + tid + b"\0\0" + payload
    s.send((bytes([2 + len(body)]) if 2 + len(body) < 256 else
            b"\x01" + struct.pack("!H", 4 + len(body))) + b"\x0c" + body)
    if rate:
        delay = start + (i + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
print("published %d" % count, flush=True)
PY

VICTIM4=10.77.1.11	# ns S1
new_build=0
"$psoffload" --help 2>&1 | grep -q -- --trusted && new_build=1

# capture_start PORT COUNT: the victim's ports PORT .. PORT+COUNT-1.
capture_start() {
	rm -f "$work/capture"
	nsenter --net="$(lab_ns "$NS_S1")" python3 "$work/capture.py" s1 $VICTIM4 "$1" "$2" \
		"$work/capture" &
	test_pids+=("$!")
	wait_for 5 test -s "$work/capture"
}
captured() { cut -d' ' -f1 "$work/capture"; }
# The capture has settled: the same count twice, 300 ms apart.
capture_settled() {
	local a b
	a=$(captured)
	sleep 0.3
	b=$(captured)
	[ "$a" = "$b" ]
}

# legit NAME FILTER COUNT: a real subscriber in ns S3 (behind broker A's
# second port), proven (once the broker can tell), expecting COUNT
# publishes.
legit() {
	nsenter --net="$(lab_ns "$NS_S3")" "$psoffload" sub -h $BROKER4_P2 -I "$1" -t "$2" -C "$3" \
		-W 60 >"$work/$1.out" 2>"$work/$1.err" &
	test_pids+=("$!")
	legit_pid=$!
	wait_for 10 grep -q "client $1 subscribed to" "$broker_log" ||
		{ note "$1 did not subscribe: $(cat "$work/$1.err")"; return 1; }
	[ $new_build = 0 ] || wait_for 10 grep -q "client $1: address proven" "$broker_log" ||
		{ note "$1 never proved its address"; return 1; }
}
legit_done() {	# NAME COUNT
	wait_for 30 gone "$legit_pid" || { note "$1 got $(wc -l <"$work/$1.out") of $2"; return 1; }
	forget_pid "$legit_pid"
	expect "publishes $1 received during the attack" "$2" "$(wc -l <"$work/$1.out")"
}

# amplification NAME SPOOFED_BYTES: the capture's bytes over the spoofed
# ones, checked against 3.
amplification() {
	local got ratio
	wait_for 5 capture_settled
	got=$(captured)
	ratio=$(awk -v a="$got" -v b="$2" 'BEGIN { printf "%.2f", a / b }')
	info "$1: $2 bytes spoofed in the victim's name, $got bytes to the victim: ${ratio}x"
	awk -v r="$ratio" 'BEGIN { exit !(r <= 3) }' ||
		{ note "$1: amplification ${ratio}x > 3"; return 1; }
}

# ---- the tests ---------------------------------------------------------------
# start_a OPTIONS...: broker A alone, on b0 and b1, with these options.
start_a() {
	pin_dir=/sys/fs/bpf/psoffload-safety-$LAB_ID-a
	# A log of its own: a "serving" line of the one before is no start.
	broker_log=$tmp/broker-a-$mode-$((++a_starts)).log
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --store=none --mode="$mode" --pin-dir="$pin_dir" "$@" \
		b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	wait_for 10 grep -q "serving MQTT-SN" "$broker_log" && return 0
	sed 's/^/#   A: /' "$broker_log"
	return 1
}

# st JQ: one value of broker A's status document.
st() { "$psoffload" status --json --pin-dir="$pin_dir" 2>/dev/null | jq -r "$1"; }
st_is() { [ "$(st "$1")" = "$2" ]; }
st_at_least() { [ "$(st "$1")" -ge "$2" ] 2>/dev/null; }

# flood.py SRC_PREFIX NADDR NPORTS DST [FILTER]: NADDR x NPORTS spoofed
# CONNECTs (keep-alive 0, client id "f<addr>-<port>") from SRC_PREFIX.100
# on, every port of every address, through one raw socket in ns PUB; with
# FILTER, each followed by a SUBSCRIBE to it (QoS 0, message id 1).
cat >"$work/flood.py" <<'PY'
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def datagram(src, sport, dst, dport, data):
    ulen = 8 + len(data)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 17, ulen)
    udp = struct.pack('!HHHH', sport, dport, ulen, 0) + data
    udp = udp[:6] + struct.pack('!H', csum(pseudo + udp) or 0xffff) + udp[8:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip[:10] + struct.pack('!H', csum(ip)) + ip[12:] + udp

prefix, naddr, nports, dst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
filt = sys.argv[5].encode() if len(sys.argv) > 5 else None
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for port in range(nports):
    for a in range(naddr):
        src = '%s.%d' % (prefix, 100 + a)
        cid = ('f%d-%d' % (a, port)).encode()
        msgs = [bytes([6 + len(cid), 0x04, 0x04, 0x01, 0x00, 0x00]) + cid]
        if filt:
            msgs.append(bytes([5 + len(filt), 0x12, 0x00, 0x00, 0x01]) + filt)
        for m in msgs:
            s.sendto(datagram(src, 30000 + port, dst, 1883, m), (dst, 0))
PY

# (a) A spoofed CONNECT (keep-alive 0) + SUBSCRIBE to a topic a publisher
# sends 50 publishes of 100 bytes a second to, for 6 s.
t_reflect_busy() {
	local rc=0 pkts
	pkts=("$(printf '0e0404010000'; hex victim-a)" "$(mqttsn_subscribe busy/t)")
	legit legit-a busy/t 300 || return 1
	capture_start 40000 1 || { note "no capture"; return 1; }
	spoof $VICTIM4 40000 $BROKER4 1883 "${pkts[@]}"
	wait_for 10 grep -q "client victim-a subscribed to busy/t" "$broker_log" ||
		{ note "the spoofed subscription never reached the broker"; return 1; }
	lab_run "$NS_PUB" python3 "$work/client.py" $BROKER4 busy-pub busy/t 300 100 50 >/dev/null ||
		{ note "the publisher failed"; return 1; }
	legit_done legit-a 300 || rc=1
	amplification "spoofed subscriber of a busy topic" "$(hexlen "${pkts[@]}")" || rc=1
	return $rc
}

# (b) A spoofed SUBSCRIBE "#" over 200 retained messages of 1 KB.
t_reflect_retained() {
	local rc=0 pkts
	lab_run "$NS_PUB" python3 "$work/client.py" $BROKER4 ret-pub ret 200 1000 0 retain >/dev/null ||
		{ note "the retained publisher failed"; return 1; }
	pkts=("$(printf '0e0404010000'; hex victim-b)" "$(mqttsn_subscribe '#')")
	capture_start 40001 1 || { note "no capture"; return 1; }
	spoof $VICTIM4 40001 $BROKER4 1883 "${pkts[@]}"
	wait_for 10 grep -q "client victim-b subscribed to # (filter)" "$broker_log" ||
		{ note "the spoofed subscription never reached the broker"; return 1; }
	# Meanwhile a real subscriber gets the retained messages it asks for
	# (20: all 200 at once may overflow its socket's receive buffer).
	legit legit-b 'ret/3/#' 20 || return 1
	legit_done legit-b 20 || rc=1
	amplification "spoofed SUBSCRIBE # over 200 retained x 1 KB" "$(hexlen "${pkts[@]}")" || rc=1
	return $rc
}

# (c) 64 spoofed endpoints of the victim (ports 40100-40163), each with a
# wildcard subscription (with legit-c, 65 holders of the topic: more than
# the 64 fixed slots a topic once had), then 100 publishes of
# 100 bytes at 50 a second.
t_reflect_wildcards() {
	local rc=0 i spoofed=0 c
	legit legit-c wc/t 100 || return 1
	capture_start 40100 64 || { note "no capture"; return 1; }
	for i in $(seq 0 63); do
		c="$(printf '%02x0404010000' $((14 + ${#i})); hex "victim-c$i")"
		spoof $VICTIM4 $((40100 + i)) $BROKER4 1883 "$c" "$(mqttsn_subscribe 'wc/#')"
		spoofed=$((spoofed + $(hexlen "$c" "$(mqttsn_subscribe 'wc/#')")))
	done
	wait_for 10 log_count_at_least "client victim-c[0-9]* subscribed to wc/# (filter)" 64 ||
		{ note "the spoofed subscriptions never all reached the broker"; return 1; }
	lab_run "$NS_PUB" python3 "$work/client.py" $BROKER4 wc-pub wc/t 100 100 50 >/dev/null ||
		{ note "the publisher failed"; return 1; }
	legit_done legit-c 100 || rc=1
	amplification "64 spoofed wildcard subscriptions" "$spoofed" || rc=1
	return $rc
}
log_count_at_least() { [ "$(grep -c "$1" "$broker_log")" -ge "$2" ]; }

# Without --trusted, the spoofed subscribers of the loop attack never
# prove their address: each broker's challenge REGISTER reaches the other
# broker, which has no session for it (its answer, a DISCONNECT, may even
# end the spoofed session), their slots are never servable, and a publish
# that a real subscriber (ns S3) receives crosses between the brokers not
# once: A and B's xdp_tx do not move, nothing dies of TTL.
t_loop_untrusted() {
	local rc=0 tx drops
	spoof $BROKER_B4 1883 $BROKER4 1883 "$(mqttsn_connect peer-b)" "$(mqttsn_subscribe loop2)"
	spoof $BROKER4 1883 $BROKER_B4 1883 "$(mqttsn_connect peer-a)" "$(mqttsn_subscribe loop2)"
	wait_for 10 grep -q "client peer-b connected" "$broker_log" ||
		{ note "broker A never took the spoofed CONNECT of peer-b"; return 1; }
	wait_for 10 grep -q "client peer-a connected" "$b_log" ||
		{ note "broker B never took the spoofed CONNECT of peer-a"; return 1; }
	legit legit-loop loop2 1 || return 1
	tx=$(sum_ab xdp_tx)
	drops=$(sum_ab xdp_drop_ttl)
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I loop2-pub -t loop2 -m "no loop" ||
		{ note "pub failed"; return 1; }
	legit_done legit-loop 1 || rc=1
	expect "forwards between the brokers (A and B xdp_tx)" 0 $(($(sum_ab xdp_tx) - tx)) || rc=1
	expect "publishes dropped for TTL" 0 $(($(sum_ab xdp_drop_ttl) - drops)) || rc=1
	return $rc
}

# Two brokers made each other's subscriber of topic "loop" by a spoofer,
# then one QoS 0 publish with TTL 64: each forward takes one hop off, so the
# publish crosses 63 times (A and B's xdp_tx together) and the broker it
# reaches with TTL 1 drops it (xdp_drop_ttl).
t_loop() {
	local rc=0 tx drops
	spoof $BROKER_B4 1883 $BROKER4 1883 "$(mqttsn_connect peer-b)" "$(mqttsn_subscribe loop)"
	spoof $BROKER4 1883 $BROKER_B4 1883 "$(mqttsn_connect peer-a)" "$(mqttsn_subscribe loop)"
	wait_for 10 grep -q "client peer-b: next hop resolved" "$broker_log" ||
		{ note "broker A never took the spoofed subscriber peer-b"; return 1; }
	wait_for 10 grep -q "client peer-a: next hop resolved" "$b_log" ||
		{ note "broker B never took the spoofed subscriber peer-a"; return 1; }
	expect "topic loop's id on both brokers" \
		"$(grep -o 'topic [0-9]* registered: loop$' "$broker_log")" \
		"$(grep -o 'topic [0-9]* registered: loop$' "$b_log")" || return 1
	tx=$(sum_ab xdp_tx)
	drops=$(sum_ab xdp_drop_ttl)
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I loop-pub -t loop -m "round and round" ||
		{ note "pub failed"; return 1; }
	if ! wait_for 10 sum_at_least xdp_drop_ttl $((drops + 1)); then
		note "the publish never died: xdp_tx of A and B rose by $(($(sum_ab xdp_tx) - tx))"
		return 1
	fi
	expect "forwards between the brokers (A and B xdp_tx)" 63 $(($(sum_ab xdp_tx) - tx)) || rc=1
	expect "publishes dropped for TTL" 1 $(($(sum_ab xdp_drop_ttl) - drops)) || rc=1
	info "1 publish with TTL 64: 63 forwards between the brokers, then dropped"
	return $rc
}

# daemon_counter NAME: one of broker A's daemon counters (status document).
daemon_counter() {
	lab_run "$NS_B" "$psoffload" status --json --pin-dir="$pin_dir" | jq -r ".daemon.$1"
}

# pace RATE SECONDS PREFIX: RATE lines a second for SECONDS, "PREFIX<n>",
# on stdout, each flushed when due (a publisher's stdin for pub -l).
cat >"$work/pace.py" <<'PY'
import sys, time
rate, secs, prefix = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
n = int(rate * secs)
t0 = time.monotonic()
for i in range(n):
    due = t0 + i / rate
    d = due - time.monotonic()
    if d > 0:
        time.sleep(d)
    sys.stdout.write('%s%d\n' % (prefix, i))
    sys.stdout.flush()
PY
pace() { python3 "$work/pace.py" "$@"; }

# lines_with FILE PREFIX: how many lines of FILE start with PREFIX.
lines_with() { grep -c "^$2" "$1" 2>/dev/null || true; }

# Broker A with --max-publish-rate=100 (burst 100, the default: one
# second's worth).  Topic "flood" has two subscribers, S1 and S3 (a second
# port), so each publish is judged by XDP (its bucket) and fanned out by TC
# (its own bucket, one deeper): a publish charged twice would halve what
# they get.  "flooder" sends 1000 publishes a second for 3 s (10x the
# limit), "calm" 20 a second at the same time, on the same topic.  Each
# subscriber must get all 60 of calm's and burst + 3 s x rate of the
# flooder's (400; 300..500 for the pacing's and the scheduler's slack), the
# same number at both; every other flood publish is counted in
# xdp_drop_rate, and TC drops none.
t_rate() {
	local rc=0 f1 f3 c1 c3 drops0 tcdrops0 drops tcdrops pid1 pid3
	lab_run "$NS_B" "$psoffload" status --json --pin-dir="$pin_dir" >/dev/null ||
		{ note "no status"; return 1; }
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -I rsub1 -t flood -W 12 \
		>"$tmp/rate-s1.out" 2>"$tmp/rate-s1.err" &
	pid1=$!
	test_pids+=("$pid1")
	nsenter --net="$(lab_ns "$NS_S3")" "$psoffload" sub -h $BROKER4_P2 -I rsub3 -t flood -W 12 \
		>"$tmp/rate-s3.out" 2>"$tmp/rate-s3.err" &
	pid3=$!
	test_pids+=("$pid3")
	wait_for 10 grep -q "client rsub1: next hop resolved" "$broker_log" &&
		wait_for 10 grep -q "client rsub3: next hop resolved" "$broker_log" ||
		{ note "the subscribers never got their slots"; return 1; }
	drops0=$(counter "$NS_B" "$pin_dir" xdp_drop_rate)
	tcdrops0=$(counter "$NS_B" "$pin_dir" tc_drop_rate)
	pace 1000 3 f | lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I flooder -t flood -l \
		>"$tmp/rate-flood.out" 2>&1 &
	local fpid=$!
	pace 20 3 c | lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I calm -t flood -l \
		>"$tmp/rate-calm.out" 2>&1 || { note "calm publisher failed"; rc=1; }
	wait "$fpid" || { note "flooding publisher failed: $(cat "$tmp/rate-flood.out")"; rc=1; }
	# Every copy has arrived once calm's last one has, at both.
	wait_for 5 grep -q '^c59$' "$tmp/rate-s1.out"
	wait_for 5 grep -q '^c59$' "$tmp/rate-s3.out"
	stop_test_pids
	f1=$(lines_with "$tmp/rate-s1.out" f); f3=$(lines_with "$tmp/rate-s3.out" f)
	c1=$(lines_with "$tmp/rate-s1.out" c); c3=$(lines_with "$tmp/rate-s3.out" c)
	drops=$(($(counter "$NS_B" "$pin_dir" xdp_drop_rate) - drops0))
	tcdrops=$(($(counter "$NS_B" "$pin_dir" tc_drop_rate) - tcdrops0))
	expect "calm's publishes at S1" 60 "$c1" || rc=1
	expect "calm's publishes at S3" 60 "$c3" || rc=1
	if [ "$f1" -lt 300 ] || [ "$f1" -gt 500 ]; then
		note "flood publishes at S1: $f1, expected 300..500 (100 + 3 s x 100/s)"
		rc=1
	fi
	expect "flood publishes at S3 (as at S1)" "$f1" "$f3" || rc=1
	expect "xdp_drop_rate (3000 sent - $f1 delivered)" $((3000 - f1)) "$drops" || rc=1
	expect "tc_drop_rate" 0 "$tcdrops" || rc=1
	info "flood at 10x the limit (3000 in 3 s, limit 100/s): $f1 delivered to each subscriber, $drops dropped (xdp_drop_rate); calm publisher 60/60"
	return $rc
}

# icmp_case SAME: a spoofed subscriber "victim" at 10.77.1.11:4500SAME (ns S1)
# of topic "gone", where a UDP socket first receives (the handshake and 5
# publishes reach it) and is then closed, so S1 answers what follows with
# ICMP port unreachable.  The real subscriber "real" (ns S3) is on "gone"
# too when SAME is 1 (two subscribers: TC clones the victim's copies), else
# on "calm" (the victim is gone's only subscriber: XDP_TX sends its copies).
# One publisher sends 100 publishes to each topic at 100 a second.  The
# broker must lose the victim (logged once, daemon counter unreachable) and
# S1 may see at most 3 datagrams after its socket closed (the first copy
# draws the ICMP error; the event loop reads it the next time round, within
# a millisecond or so, while publishes come every 10 ms); the real
# subscriber gets all 100.
icmp_case() {
	local same=$1 rc=0 lpid rpid noports0 noports lost0 realtopic=calm got want=100
	local vport=$((45000 + same)) lout=$tmp/icmp-listener-$same-$mode.out
	rm -f "$lout"
	# On "gone" the real subscriber gets the 5 warm-up publishes too.
	[ "$same" = 1 ] && realtopic=gone want=105
	nsenter --net="$(lab_ns "$NS_S1")" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.1.11", int(sys.argv[1])))
print("bound", flush=True)
n = 0
while True:
    s.recv(2048)
    n += 1
    print(n, flush=True)
' $vport >"$lout" 2>&1 &
	lpid=$!
	test_pids+=("$lpid")
	wait_for 5 grep -q bound "$lout" || { note "no listener"; return 1; }
	spoof 10.77.1.11 $vport $BROKER4 1883 "$(mqttsn_connect victim$same)" "$(mqttsn_subscribe gone)"
	wait_for 10 grep -q "client victim$same: next hop resolved" "$broker_log" ||
		{ note "the broker never took the spoofed subscriber"; return 1; }
	nsenter --net="$(lab_ns "$NS_S3")" "$psoffload" sub -h $BROKER4_P2 -I real$same \
		-t $realtopic -C $want -W 20 >"$tmp/icmp-real.out" 2>"$tmp/icmp-real.err" &
	rpid=$!
	test_pids+=("$rpid")
	wait_for 10 grep -q "client real$same: next hop resolved" "$broker_log" ||
		{ note "the real subscriber never got its slot"; return 1; }
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I warm$same -t gone -m warm -C 5 ||
		{ note "pub failed"; return 1; }
	# CONNACK, SUBACK, 5 publishes.
	if ! wait_for 5 grep -qx 7 "$lout"; then
		note "the victim's socket got $(tail -1 "$lout") datagrams, not 7"
		grep "victim$same\|warm$same" "$broker_log" | sed 's/^/  /' >>"$diag"
		return 1
	fi
	stop_pid "$lpid"
	noports0=$(lab_run "$NS_S1" awk '/^Udp:/ { n++; if (n == 2) print $3 }' /proc/net/snmp)
	lost0=$(daemon_counter unreachable)
	pace 100 1 g | lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I pg$same -t gone -l \
		>/dev/null 2>&1 &
	local gpid=$!
	if [ "$same" = 1 ]; then
		wait "$gpid"
	else
		pace 100 1 r | lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I pr$same -t calm -l \
			>/dev/null 2>&1
		wait "$gpid"
	fi
	wait_for 5 grep -q "client victim$same .*unreachable (ICMP port unreachable)" "$broker_log" ||
		{ note "the broker never dropped the victim"; rc=1; }
	noports=$(($(lab_run "$NS_S1" awk '/^Udp:/ { n++; if (n == 2) print $3 }' /proc/net/snmp) - noports0))
	if [ "$noports" -gt 3 ] || [ "$noports" -lt 1 ]; then
		note "S1 got $noports datagrams on the closed port, expected 1..3"
		rc=1
	fi
	expect "clients lost to ICMP (daemon counter unreachable)" 1 $(($(daemon_counter unreachable) - lost0)) || rc=1
	expect "log lines for the victim's loss" 1 "$(grep -c "client victim$same .*unreachable" "$broker_log")" || rc=1
	wait_for 10 gone "$rpid"
	got=$(grep -c . "$tmp/icmp-real.out")
	expect "publishes at the real subscriber" $want "$got" || rc=1
	info "victim's socket closed ($([ "$same" = 1 ] && echo TC || echo XDP_TX) copies): $noports datagrams reached it, then its session was lost; real subscriber $got/$want"
	return $rc
}
t_icmp_xdp() { icmp_case 0; }
t_icmp_tc() { icmp_case 1; }
# 20,000 spoofed CONNECTs (keep-alive 0) from 100 addresses x 200 ports,
# off-link ones (198.18.0.0/15, routed through the publisher's host, as the
# Internet is through a router: on-link addresses that never answer ARP
# would hold the broker's send buffer in the neighbour queue instead),
# with the per-source CONNECT rate raised so that they all may come in: the
# client table fills as far as it takes them.  A subscriber (keep-alive 4 s)
# receives a publisher's 200 messages, one each 50 ms, throughout.  One
# expiry period (1.5 x --max-keepalive=4: 6 s) after the flood ended the
# client table and the sessions are back to the subscriber and the
# publisher, and a new client's publish arrives.
FLOOD_KEEPALIVE=4
t_flood() {
	local rc=0 cap peak t_end elapsed sessions0 writer fd n
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -t live -k 4 -I legit-sub \
		>"$tmp/live.out" 2>"$tmp/live.err" &
	test_pids+=($!)
	wait_for 10 grep -q "client legit-sub subscribed to live" "$broker_log" ||
		{ note "the subscriber never subscribed"; return 1; }
	rm -f "$tmp/pubfifo"
	mkfifo "$tmp/pubfifo"
	nsenter --net="$(lab_ns "$NS_PUB")" "$psoffload" pub -h $BROKER4 -t live -l -k 4 \
		-I legit-pub <"$tmp/pubfifo" 2>"$tmp/pub.err" &
	test_pids+=($!)
	exec {fd}>"$tmp/pubfifo"
	wait_for 10 grep -q "client legit-pub connected" "$broker_log" ||
		{ note "the publisher never connected"; exec {fd}>&-; return 1; }
	wait_for 5 st_is .tables.clients.used 2 ||
		{ note "clients before the flood: $(st .tables.clients.used), not 2"; exec {fd}>&-; return 1; }
	sessions0=$(st .daemon.sessions)
	cap=$(st .tables.clients.capacity)
	(for n in $(seq 1 200); do echo "m$n"; sleep 0.05; done) >&"$fd" &
	writer=$!
	test_pids+=("$writer")
	lab_run "$NS_PUB" python3 "$work/flood.py" 198.18.0 100 200 $BROKER4 ||
		{ note "the flood could not be sent"; rc=1; }
	t_end=$(date +%s%N)
	wait_for 10 st_at_least .tables.clients.used 1000
	peak=$(st .tables.clients.used)
	info "20,000 spoofed CONNECTs: the client table held $peak of $cap; congestion $(st .daemon.congestion), keep-alives capped $(st .daemon.keepalive_capped)"
	[ "$peak" -ge 1000 ] 2>/dev/null || { note "the flood never filled the table ($peak)"; rc=1; }
	if wait_for $((FLOOD_KEEPALIVE * 3 / 2 + 10)) st_is .tables.clients.used 2; then
		# From the last spoofed CONNECT the daemon took (it works
		# through its socket's backlog after the sender is done).
		t_end=$(date +%s%N -d "$(grep 'connected from 198\.18\.' "$broker_log" |
			tail -n 1 | cut -d' ' -f1)")
		elapsed=$((($(date +%s%N) - t_end) / 1000000))
		info "back to 2 clients ${elapsed} ms after the last spoofed CONNECT taken (expiry period $((FLOOD_KEEPALIVE * 1500)) ms)"
		# One expiry period, the tick (500 ms) and the status document's
		# pace.
		[ "$elapsed" -le $((FLOOD_KEEPALIVE * 1500 + 1500)) ] ||
			{ note "recovered only after $elapsed ms"; rc=1; }
	else
		note "clients after the flood: $(st .tables.clients.used), not 2"
		rc=1
	fi
	expect "sessions after the flood" "$sessions0" "$(st .daemon.sessions)" || rc=1
	wait "$writer"
	forget_pid "$writer"
	exec {fd}>&-
	wait_for 5 eval '[ "$(grep -c "^m[0-9]*$" "$tmp/live.out")" -ge 200 ]'
	expect "messages the subscriber received during the flood" 200 \
		"$(grep -c '^m[0-9]*$' "$tmp/live.out")" ||
		{ rc=1; note "subscriber: $(tail -n 3 "$tmp/live.err")";
		  note "$(grep legit-sub "$broker_log" | tail -n 3)"; }
	lab_run "$NS_S2" "$psoffload" pub -h $BROKER4 -t live -m after -I newcomer ||
		{ note "a new client could not publish after the flood"; rc=1; }
	wait_for 5 grep -q "^after$" "$tmp/live.out" ||
		{ note "the new client's publish never arrived"; rc=1; }
	return $rc
}

# 64 spoofed clients subscribe `#` over 20 topics; with --max-holds=8 each
# SUBSCRIBE is refused (0x01, counted in quota_holds) and takes no slot.
# Then an exact subscriber of one of the topics gets its slot and a publish.
t_holds() {
	local rc=0 i used0
	for i in $(seq 1 20); do
		lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -t "h/$i" -m x >/dev/null ||
			{ note "publish to h/$i failed"; return 1; }
	done
	used0=$(st .tables.subscribers.used)
	lab_run "$NS_PUB" python3 "$work/flood.py" 10.77.1 64 1 $BROKER4 '#' ||
		{ note "the spoofed subscriptions could not be sent"; return 1; }
	wait_for 10 st_is .daemon.quota_holds 64 ||
		{ note "quota_holds $(st .daemon.quota_holds), not 64"; rc=1; }
	expect "subscriber slots after 64 spoofed '#'" "$used0" "$(st .tables.subscribers.used)" || rc=1
	info "64 spoofed '#' over 20 topics, --max-holds=8: $(st .tables.subscribers.used) slots taken (once: 64 x 20)"
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -t h/20 -C 1 -W 10 \
		>"$tmp/h20.out" &
	i=$!
	test_pids+=("$i")
	wait_for 10 grep -q "subscribed to h/20" "$broker_log" || { note "no exact subscriber"; rc=1; }
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -t h/20 -m exact >/dev/null
	wait "$i" || { note "the exact subscriber received nothing"; rc=1; }
	forget_pid "$i"
	expect "the exact subscriber's message" exact "$(cat "$tmp/h20.out")" || rc=1
	return $rc
}

# broker_daemon_counter NS PIN KEY: one daemon counter of the broker at PIN.
broker_daemon_counter() {
	lab_run "$1" "$psoffload" status --json --pin-dir="$2" | jq -r ".daemon.$3"
}
# round_trip HOST ID: a real client publishes to the broker at HOST and
# is answered, so whatever reached that broker before has been read.
round_trip() {
	lab_run "$NS_PUB" "$psoffload" pub -h "$1" -I "$2" -q 1 -t pingpong/marker -m x >/dev/null
}

# One spoofed DISCONNECT "from" broker B's port 1883 to broker A.  Once,
# A answered a DISCONNECT from nobody with a DISCONNECT, B did the same,
# and the two went on at half a core each (143,412 each way in 5.5 s).
# Now A leaves it unanswered (unknown_dropped), so B receives nothing from
# A, and two rounds of real traffic later nothing more has moved.
t_pingpong() {
	local rc=0 a0 b0 a1 b1 a2 b2 a3 b3 ra rb
	# What one round trip to each broker alone makes them read.
	a0=$(broker_daemon_counter "$NS_B" "$pin_dir" rx_msgs)
	b0=$(broker_daemon_counter "$NS_S2" "$b_pin" rx_msgs)
	round_trip $BROKER4 pp-a0 && round_trip $BROKER_B4 pp-b0 || { note "pub failed"; return 1; }
	a1=$(broker_daemon_counter "$NS_B" "$pin_dir" rx_msgs)
	b1=$(broker_daemon_counter "$NS_S2" "$b_pin" rx_msgs)
	ra=$((a1 - a0)) rb=$((b1 - b0))
	spoof $BROKER_B4 1883 $BROKER4 1883 "0218"
	round_trip $BROKER4 pp-a1 && round_trip $BROKER_B4 pp-b1 || { note "pub failed"; return 1; }
	a2=$(broker_daemon_counter "$NS_B" "$pin_dir" rx_msgs)
	b2=$(broker_daemon_counter "$NS_S2" "$b_pin" rx_msgs)
	round_trip $BROKER4 pp-a2 && round_trip $BROKER_B4 pp-b2 || { note "pub failed"; return 1; }
	a3=$(broker_daemon_counter "$NS_B" "$pin_dir" rx_msgs)
	b3=$(broker_daemon_counter "$NS_S2" "$b_pin" rx_msgs)
	expect "datagrams broker A read: a round trip and the spoofed DISCONNECT" $((ra + 1)) \
		$((a2 - a1)) || rc=1
	expect "datagrams broker B read: a round trip, nothing from A" $rb $((b2 - b1)) || rc=1
	expect "broker A, the next round: the round trip only" $ra $((a3 - a2)) || rc=1
	expect "broker B, the next round: the round trip only" $rb $((b3 - b2)) || rc=1
	info "1 spoofed DISCONNECT: broker A read $((a2 - a1 - ra)), broker B read $((b2 - b1 - rb)) from it"
	return $rc
}

# ---- main ----------------------------------------------------------------------

for mode in $MODES; do
	lab_up "$pass_obj" || { echo "# cannot build the lab"; failed=$((failed + 1)); break; }
	# Broker B transmits XDP_TX frames to its veth peer on the bridge.
	lab_run "$NS_SW" ip link set sws2 xdpdrv obj "$pass_obj" sec xdp
	echo "# mode $mode: lab $LAB_ID"
	if start_pair; then
		# Before the loop test, whose spoofed sessions would answer.
		run_test "$mode: a spoofed DISCONNECT between two brokers: no ping-pong" t_pingpong
		run_test "$mode: reflect-busy: spoofed subscriber of a busy topic, amplification <= 3" \
			t_reflect_busy
		run_test "$mode: reflect-retained: spoofed SUBSCRIBE # over 200 x 1 KB retained, <= 3" \
			t_reflect_retained
		run_test "$mode: reflect-wildcards: 64 spoofed wildcard subscriptions, <= 3" \
			t_reflect_wildcards
		run_test "$mode: loop-untrusted: spoofed subscribers never proven, no loop" t_loop_untrusted
	else
		failed=$((failed + 1))
	fi
	stop_pair
	if start_pair --trusted=10.77.1.0/24; then
		run_test "$mode: two brokers as each other's spoofed subscribers: the loop dies by TTL" t_loop
		run_test "$mode: ICMP port unreachable for a subscriber served by XDP_TX: session lost" t_icmp_xdp
		run_test "$mode: ICMP port unreachable for a subscriber served by TC: session lost" t_icmp_tc
	else
		failed=$((failed + 1))
	fi
	stop_pair
	if start_a -v --max-publish-rate=100; then
		run_test "$mode: a publisher at 10x --max-publish-rate gets the limit, another all" t_rate
	else
		failed=$((failed + 1))
	fi
	stop_broker
	# The spoofed sources of t_flood are off-link, behind the publisher.
	lab_run "$NS_B" ip route add 198.18.0.0/15 via 10.77.1.10
	if start_a --max-keepalive=$FLOOD_KEEPALIVE --connect-rate=100000; then
		run_test "$mode: flood of 20,000 spoofed CONNECTs with keep-alive 0: served throughout, recovered in one expiry period" t_flood
	else
		failed=$((failed + 1))
	fi
	stop_broker
	if start_a --max-holds=8; then
		run_test "$mode: holds: 64 spoofed '#' subscriptions take no slot past --max-holds" t_holds
	else
		failed=$((failed + 1))
	fi
	stop_broker
	lab_down
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
