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
#           after the publish's TTL in hops.
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

# start_pair: broker A on b0 and b1 (ns B), broker B on s2 (ns S2).
start_pair() {
	pin_dir=/sys/fs/bpf/psoffload-safety-$LAB_ID-a
	b_pin=/sys/fs/bpf/psoffload-safety-$LAB_ID-b
	broker_log=$tmp/broker-a.log
	b_log=$tmp/broker-b.log
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" -v --mode="$mode" --pin-dir="$pin_dir" \
		b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" -v --mode="$mode" --pin-dir="$b_pin" \
		s2 >"$b_log" 2>&1 &
	b_pid=$!
	wait_for 10 grep -q "serving MQTT-SN" "$broker_log" &&
		wait_for 10 grep -q "serving MQTT-SN" "$b_log" && return 0
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

# start_a OPTIONS...: broker A alone, on b0 and b1, with these options.
start_a() {
	pin_dir=/sys/fs/bpf/psoffload-safety-$LAB_ID-a
	# A log of its own: a "serving" line of the one before is no start.
	broker_log=$tmp/broker-a-$mode-$((++a_starts)).log
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --mode="$mode" --pin-dir="$pin_dir" "$@" \
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

# ---- main ----------------------------------------------------------------------

for mode in $MODES; do
	lab_up "$pass_obj" || { echo "# cannot build the lab"; failed=$((failed + 1)); break; }
	# Broker B transmits XDP_TX frames to its veth peer on the bridge.
	lab_run "$NS_SW" ip link set sws2 xdpdrv obj "$pass_obj" sec xdp
	echo "# mode $mode: lab $LAB_ID"
	if start_pair; then
		run_test "$mode: two brokers as each other's spoofed subscribers: the loop dies by TTL" t_loop
	else
		failed=$((failed + 1))
	fi
	stop_pair
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
