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
b_pid='' b_log='' b_pin=''
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
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --store=none -v --mode="$mode" --pin-dir="$pin_dir" \
		b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" --store=none -v --mode="$mode" --pin-dir="$b_pin" \
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

# ---- the tests ---------------------------------------------------------------

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
	lab_down
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
