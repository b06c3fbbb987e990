#!/usr/bin/env bash
# test_events.sh BUILD - the data plane's event stream end to end, in the
# veth lab of lab.sh, the broker and the commands under `ip netns exec`:
#   - `psoffload events --follow` (and --json) shows a malformed publish the
#     test sends, dropped by XDP, with its reason and the sender's address
#     and port, within a deadline;
#   - a QoS 0 publish from a client that never connected: its reason and
#     its topic id;
#   - `events` once, as a table; --reason filters; a bad --reason is one
#     clear line and exit 2;
#   - a flood of bad datagrams: the rate limit holds the events to its
#     budget and counts the rest (event_suppressed in stats).
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, python3 and jq.  PSO_TEST_ONLY=ERE runs only matching tests.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-events.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
NAME=pso-events-$LAB_ID
PIN=/sys/fs/bpf/psoffload-events-$LAB_ID
RATE=50		# --event-rate: events per second per CPU

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=()
diag=$work/diag
tmp=$work

# shellcheck source=harness.sh
. "$here/harness.sh"

cleanup() {
	stop_test_pids
	stop_broker
	lab_down
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "test_events: must run as root (namespaces, XDP, bpffs); got uid $(id -u)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for f in "$psoffload" "$pass_obj"; do
	if [ ! -e "$f" ]; then
		echo "test_events: $build/$(basename "$f") (or its tests/ counterpart) missing: run make first" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
for tool in python3 jq; do
	if ! command -v $tool >/dev/null; then
		echo "test_events: $tool is needed (tests/install-deps.sh installs it)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# in_ns NS CMD...: as a user would, through `ip netns exec`.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}
ev() { in_ns "$NS_PUB" "$psoffload" events --name="$NAME" "$@"; }

# send_udp SPORT COUNT HEX: COUNT datagrams of the bytes HEX from the
# publisher's address and UDP port SPORT to the broker.
send_udp() {
	in_ns "$NS_PUB" python3 - "$BROKER4" "$1" "$2" "$3" <<'EOF'
import socket, sys
dst, sport, count, data = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), bytes.fromhex(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", sport))
for _ in range(count):
    s.sendto(data, (dst, 1883))
EOF
}

# Length 7, MsgType 0x03 (not defined in MQTT-SN v1.2), five more bytes.
MALFORMED=07030000000000
# Length 9, PUBLISH, QoS 0 normal topic id 0x0042 (66), msg id 0, "ab".
PUBLISH_42=090c00004200006162

t_start() {
	broker_log=$tmp/broker.log
	: >"$broker_log"
	ip netns exec "$NS_B" "$psoffload" --store=none -v --mode=skb --name="$NAME" --pin-dir="$PIN" \
		--event-rate=$RATE b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	wait_for 10 grep -q "serving MQTT-SN" "$broker_log" ||
		fail_with "the daemon did not start: $(tail -n 3 "$broker_log")"
}

# has_event FILE JQ-FILTER: a JSON line of FILE matches.
has_event() { jq -e -s "any(.[]; $2)" "$1" >/dev/null 2>&1; }

# `events --follow --json` sees a malformed publish within a deadline.
t_follow_malformed() {
	local out=$tmp/follow.json
	: >"$out"
	ev --follow --json >"$out" 2>"$tmp/follow.err" &
	test_pids+=("$!")
	# A first drop, shown once the follower runs; the second then
	# arrives as news, not as history.
	send_udp 40100 1 "$MALFORMED" || fail_with "could not send" || return 1
	wait_for 5 has_event "$out" '.source_port == 40100' ||
		fail_with "the follower never showed the first drop: $(cat "$out" "$tmp/follow.err")" ||
		return 1
	send_udp 40101 1 "$MALFORMED" || fail_with "could not send" || return 1
	wait_for 5 has_event "$out" \
		'.reason == "xdp_drop_malformed" and .source == "10.77.1.10" and .source_port == 40101' ||
		fail_with "no xdp_drop_malformed event from 10.77.1.10:40101 in: $(cat "$out" "$tmp/follow.err")" ||
		return 1
	info "$(jq -c 'select(.source_port == 40101)' "$out" | head -n 1)"
	has_event "$out" '.source_port == 40101 and .length == 7 and .cause == "xdp_drop_malformed"' ||
		fail_with "length or cause wrong: $(cat "$out")"
}

# The table form, following: the drop of a publish from a client that
# never connected, with its reason, source and topic id.
t_follow_table_not_connected() {
	local out=$tmp/follow.txt
	: >"$out"
	ev --follow >"$out" 2>"$tmp/follow-t.err" &
	test_pids+=("$!")
	wait_for 5 grep -q "^Time (UTC) " "$out" || true
	send_udp 40102 1 "$PUBLISH_42" || fail_with "could not send" || return 1
	wait_for 5 grep -qE "xdp_drop_not_connected +10\.77\.1\.10:40102 +66 " "$out" ||
		fail_with "no 'xdp_drop_not_connected 10.77.1.10:40102 66' line in: $(cat "$out" "$tmp/follow-t.err")" ||
		return 1
	info "$(head -n 1 "$out")"
	info "$(grep -m1 40102 "$out")"
}

t_once_and_filter() {
	local out rc=0
	out=$(ev) || fail_with "events: $out" || return 1
	grep -qE "xdp_drop_malformed +10\.77\.1\.10:40101 " <<<"$out" ||
		{ note "events (once) lacks the malformed drop: $out"; rc=1; }
	out=$(ev --json --reason=xdp_drop_not_connected | jq -r '.reason' | sort -u)
	[ "$out" = xdp_drop_not_connected ] || { note "--reason=xdp_drop_not_connected gave: '$out'"; rc=1; }
	out=$(ev --json --reason=xdp_drop_ttl)
	[ -z "$out" ] || { note "--reason=xdp_drop_ttl gave: $out"; rc=1; }
	out=$(ev --reason=bogus 2>&1)
	[ $? -ne 0 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && grep -q "unknown reason 'bogus'" <<<"$out" ||
		{ note "--reason=bogus: '$out'"; rc=1; }
	return $rc
}

counter() {
	in_ns "$NS_PUB" "$psoffload" stats --json --name="$NAME" | jq ".counters.$1"
}
# dropped_since N: xdp_drop_malformed has moved by at least N.
dropped_since() { [ $(($(counter xdp_drop_malformed) - $1)) -ge "$2" ]; }

# A flood of 3000 bad datagrams: the events stay within the budget (the
# bucket of RATE per CPU, and RATE a second more), the rest are counted.
t_flood_rate_limited() {
	local before after drop0 n ncpu t0 t1 secs budget
	ncpu=$(nproc)
	before=$(counter event_suppressed) && drop0=$(counter xdp_drop_malformed) ||
		fail_with "stats failed" || return 1
	t0=$(date +%s)
	send_udp 40103 3000 "$MALFORMED" || fail_with "could not send" || return 1
	t1=$(date +%s)
	# Every one of them judged (dropped and counted) by the data plane.
	wait_for 10 dropped_since "$drop0" 3000 ||
		fail_with "xdp_drop_malformed moved by $(($(counter xdp_drop_malformed) - drop0)), not 3000" ||
		return 1
	# The daemon keeps 1024 events, more than the budget: one ask sees them all.
	n=$(ev --json --reason=xdp_drop_malformed | jq -s '[.[] | select(.source_port == 40103)] | length')
	after=$(counter event_suppressed)
	secs=$((t1 - t0 + 2))
	budget=$((ncpu * RATE * (1 + secs)))
	info "3000 sent in about $((t1 - t0)) s: $n events, event_suppressed +$((after - before)) (budget $budget)"
	[ "$n" -ge 1 ] || fail_with "no event at all from the flood" || return 1
	[ "$n" -le "$budget" ] || fail_with "$n events, more than the budget $budget" || return 1
	[ $((n + after - before)) -eq 3000 ] ||
		fail_with "$n events + $((after - before)) suppressed != 3000 datagrams sent"
}

t_stop() {
	stop_test_pids
	stop_broker
	[ "$broker_rc" = 0 ] || fail_with "the broker exited $broker_rc"
}

echo "# lab $LAB_ID"
if ! lab_up "$pass_obj"; then
	lab_down
	run_test "the veth lab comes up" fail_with "lab_up failed"
else
	run_test "the broker starts with --event-rate=$RATE" t_start
	if [ -n "$broker_pid" ]; then
		run_test "events --follow --json: a malformed publish, its reason and source" t_follow_malformed
		run_test "events --follow: a publish from a client never connected, with its topic" \
			t_follow_table_not_connected
		run_test "events once; --reason filters; a bad --reason is refused" t_once_and_filter
		run_test "a flood of bad datagrams: events within the rate, the rest counted" \
			t_flood_rate_limited
		run_test "stop" t_stop
	fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
