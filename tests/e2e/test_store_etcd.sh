#!/usr/bin/env bash
# test_store_etcd.sh BUILD - end-to-end tests of the daemon on the etcd
# store (--store=etcd:URL), in the veth lab of lab.sh, with one etcd member
# the test starts in the broker's namespace (127.0.0.1:23797, peer 23807,
# data in the test's mktemp directory) and stops by its PID:
#   - a crash (kill -9) and a new daemon: the persistent subscriber's
#     session, its topic ids and a retained message come back from etcd; the
#     subscriber, still running and doing nothing, gets the publishes after
#     the new start;
#   - etcd killed while the broker runs: the data plane goes on forwarding,
#     status says the store is unreachable, changes stay queued; etcd
#     started again: they are written ("writing again"), nothing lost;
#   - no etcd at start: one line, exit 1, nothing attached.
#
# One result line per test; the last line is "N passed, N failed".  Needs
# root, etcd, etcdctl, jq (tests/install-deps.sh).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-etcd.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
NAME=pso-etcd-$LAB_ID
PIN=/sys/fs/bpf/psoffload-etcd-$LAB_ID
ETCD_URL=http://127.0.0.1:23797
STORE=etcd:$ETCD_URL
CLUSTER=/psoffload/default

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=() sub_pids=()
etcd_pid=''
diag=$work/diag
tmp=$work

# shellcheck source=harness.sh
. "$here/harness.sh"

stop_subs() {
	local p
	for p in "${sub_pids[@]}"; do stop_pid "$p"; done
	sub_pids=()
}

stop_etcd() {	# SIGNAL
	[ -n "$etcd_pid" ] || return 0
	kill "-${1:-TERM}" "$etcd_pid" 2>/dev/null
	wait_gone "$etcd_pid" 10 || kill -KILL "$etcd_pid" 2>/dev/null
	wait "$etcd_pid" 2>/dev/null
	etcd_pid=
}

cleanup() {
	stop_test_pids
	stop_subs
	stop_broker
	stop_etcd KILL
	lab_down
	rm -rf "$PIN" "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "test_store_etcd: must run as root (namespaces, XDP, bpffs); got uid $(id -u)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for tool in etcd etcdctl jq; do
	if ! command -v $tool >/dev/null; then
		echo "test_store_etcd: $tool is needed (tests/install-deps.sh installs it)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
for f in "$psoffload" "$pass_obj"; do
	if [ ! -e "$f" ]; then
		echo "test_store_etcd: $build/$(basename "$f") missing: run make first" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

in_b() { nsenter --net="$(lab_ns "$NS_B")" "$@"; }
ops() { "$psoffload" "$@" --name="$NAME"; }
ectl() { in_b env ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" "$@"; }
etcd_healthy() { ectl endpoint health >/dev/null 2>&1; }

start_etcd() {
	nsenter --net="$(lab_ns "$NS_B")" etcd --name etc-e2e --data-dir "$work/etcd" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls http://127.0.0.1:23807 \
		--initial-advertise-peer-urls http://127.0.0.1:23807 \
		--initial-cluster etc-e2e=http://127.0.0.1:23807 >>"$work/etcd.log" 2>&1 &
	etcd_pid=$!
	wait_for 20 etcd_healthy || fail_with "etcd did not start: $(tail -n 3 "$work/etcd.log")"
}

# start_broker LOG ARGS...
start_broker() {
	broker_log=$1
	shift
	: >"$broker_log"
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" -v --mode=skb --name="$NAME" \
		--pin-dir="$PIN" --retry-interval=30 "$@" b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 30 grep -q "serving MQTT-SN" "$broker_log"; then
		note "the daemon did not start (psoffload $*):"
		sed 's/^/  /' "$broker_log" >>"$diag"
		kill -0 "$broker_pid" 2>/dev/null && stop_broker
		broker_pid=
		return 1
	fi
}

has_subscription() { ops subscriptions 2>/dev/null | grep -qE "^$1 +[a-z]+ +$2 "; }
st_topics() {
	ops topics --json | jq -c '[.topics[] | select(.name | startswith("st/")) | [.name, .topic_id]]'
}
pub() { nsenter --net="$(lab_ns "$NS_PUB")" "$psoffload" pub -h "$BROKER4" "$@"; }
store_line() { ops status 2>/dev/null | grep '^Store:'; }
etcd_session_has() {	# CLIENT_ID FILTER: etcd holds the session with that subscription
	ectl get --print-value-only "$CLUSTER/sessions/$1" |
		jq -e --arg f "$2" '.subscriptions[] | select(.filter == $f)' >/dev/null 2>&1
}
status_unreachable() { store_line | grep -q '^Store: etcd:.* (unreachable)'; }

# ---- the tests ----------------------------------------------------------------

# kill -9, then a new daemon on the same etcd: it adopts the data plane and
# takes every session, topic id and retained message back from etcd.
t_crash() {
	local out=$tmp/keep.out before rc=0 sub
	start_broker "$tmp/broker1.log" --store="$STORE" || return 1
	: >"$out"
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h "$BROKER4" -c -I keep-1 -k 60 \
		-t st/a -q 1 -v >"$out" 2>"$tmp/keep.err" &
	sub=$!
	sub_pids+=("$sub")
	wait_for 10 has_subscription keep-1 st/a ||
		fail_with "keep-1 never subscribed: $(cat "$tmp/keep.err")" || return 1
	pub -t st/r -r -m kept -I pub-1 || fail_with "retained pub failed" || return 1
	pub -t st/a -m before -I pub-2 || fail_with "pub before failed" || return 1
	wait_for 5 grep -qx "st/a before" "$out" ||
		fail_with "before the crash the subscriber got: $(cat "$out")" || return 1
	before=$(st_topics)
	# what etcd holds: the session, JSON, readable
	wait_for 5 etcd_session_has keep-1 st/a ||
		{ note "etcd's sessions/keep-1: $(ectl get --print-value-only "$CLUSTER/sessions/keep-1")"; rc=1; }
	kill -KILL "$broker_pid"
	wait "$broker_pid" 2>/dev/null
	broker_pid=
	start_broker "$tmp/broker2.log" --store="$STORE" || return 1
	grep -qE "1 session \(1 connected\), [2-9] topics, 1 retained message restored" "$broker_log" ||
		{ note "no restore line: $(grep 'store' "$broker_log")"; rc=1; }
	[ "$before" = "$(st_topics)" ] || { note "topic ids changed: $before -> $(st_topics)"; rc=1; }
	pub -t st/a -m after -I pub-3 || fail_with "pub after failed" || return 1
	wait_for 5 grep -qx "st/a after" "$out" ||
		{ note "after the crash the subscriber got: $(tr '\n' '|' <"$out")"; rc=1; }
	kill -0 "$sub" 2>/dev/null || { note "the subscriber exited: $(cat "$tmp/keep.err")"; rc=1; }
	grep -q "^Store: etcd:$ETCD_URL, revision [0-9]" <<<"$(store_line)" ||
		{ note "status: $(store_line)"; rc=1; }
	return $rc
}

# etcd gone while the broker runs: forwarding goes on, the store is shown
# unreachable and its changes wait; etcd back: they are written.
t_etcd_lost() {
	local out=$tmp/keep.out rc=0
	stop_etcd KILL
	: >"$out"
	pub -t st/a -m while-down -I pub-4 || fail_with "pub while etcd is down failed" || return 1
	wait_for 5 grep -qx "st/a while-down" "$out" ||
		{ note "with etcd down the subscriber got: $(tr '\n' '|' <"$out")"; rc=1; }
	# a new session: a change the store cannot write
	nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" sub -h "$BROKER4" -c -I late-1 -k 60 \
		-t st/l >/dev/null 2>&1 &
	test_pids+=("$!")
	wait_for 10 has_subscription late-1 st/l || fail_with "late-1 never subscribed" || return 1
	wait_for 5 status_unreachable ||
		{ note "status with etcd down: $(store_line)"; rc=1; }
	[ "$(ops status --json | jq -r '.store.pending')" -gt 0 ] 2>/dev/null ||
		{ note "nothing pending: $(ops status --json | jq -c .store)"; rc=1; }
	start_etcd || return 1
	wait_for 10 grep -q "store $STORE: writing again" "$broker_log" ||
		{ note "no 'writing again': $(grep store "$broker_log" | tail -n 3)"; rc=1; }
	ectl get --keys-only "$CLUSTER/sessions/late-1" | grep -q late-1 ||
		{ note "late-1 was not written to etcd"; rc=1; }
	[ "$(ops status --json | jq -r '.store.reachable')" = true ] ||
		{ note "still unreachable: $(ops status --json | jq -c .store)"; rc=1; }
	stop_broker
	return $rc
}

# No etcd at start: one line, exit 1, nothing attached.
t_unreachable_at_start() {
	local log=$tmp/refused.log rc lines
	stop_etcd TERM
	in_b timeout 20 "$psoffload" --mode=skb --name="$NAME" --pin-dir="$PIN" --store="$STORE" \
		b0 b1 >"$log" 2>&1
	rc=$?
	[ $rc = 1 ] || fail_with "exit $rc, not 1: $(cat "$log")" || return 1
	lines=$(wc -l <"$log")
	[ "$lines" = 1 ] || fail_with "$lines lines, not one: $(cat "$log")" || return 1
	grep -q "^psoffload: store etcd: no member reachable: $ETCD_URL" "$log" ||
		fail_with "not the line expected: $(cat "$log")" || return 1
	! in_b ip link show b0 | grep -q xdp || fail_with "b0 has an XDP program after the refusal"
	info "$(cat "$log")"
}

lab_up "$pass_obj" || { echo "test_store_etcd: cannot build the lab"; echo "0 passed, 1 failed"; exit 1; }
start_etcd >/dev/null || { echo "test_store_etcd: etcd did not start"; cat "$diag"; echo "0 passed, 1 failed"; exit 1; }

run_test "kill -9 and a new daemon: sessions, topic ids and retained messages back from etcd" t_crash
run_test "etcd lost while the broker runs: forwarding goes on, changes wait, then are written" t_etcd_lost
stop_subs
run_test "no etcd at start: one line, exit 1, nothing attached" t_unreachable_at_start

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
