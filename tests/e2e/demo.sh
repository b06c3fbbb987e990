#!/usr/bin/env bash
# demo.sh BUILD - psoffload on a veth lab: one broker with two ports, one
# publisher, three subscribers (one behind the second port).  Shows each
# subscriber receiving and the counters proving which path carried what.
# Exits non-zero if any message is missing.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

psoffload=$(realpath "$build/psoffload")
pin_dir=/sys/fs/bpf/psoffload-demo-$LAB_ID
work=$(mktemp -d)
broker_pid=
sub_pids=()

cleanup() {
	for p in "${sub_pids[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$broker_pid" ]; then
		kill -TERM "$broker_pid" 2>/dev/null
		wait "$broker_pid" 2>/dev/null
	fi
	lab_down
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }

say "lab: namespaces and veth pairs (suffix $LAB_ID)"
lab_up "$build/tests/bpf/xdp_pass.bpf.o" || { echo "demo: cannot build the lab" >&2; exit 1; }

say "broker: psoffload --mode=auto b0 b1 (in namespace $NS_B)"
nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --store=none --mode=auto --pin-dir="$pin_dir" b0 b1 >"$work/broker.log" 2>&1 &
broker_pid=$!
wait_for 10 grep -qs "serving MQTT-SN" "$work/broker.log" || {
	cat "$work/broker.log"; echo "demo: broker did not start" >&2; exit 1; }
tail -n 2 "$work/broker.log"

# Topics: demo/all has three subscribers (TC clone fan-out), demo/near one
# subscriber on the publisher's port (XDP_TX), demo/far one subscriber behind
# the other port (XDP_REDIRECT).
N=3
say "subscribers"
start_sub() {
	local ns=$1 name=$2 host=$3; shift 3
	nsenter --net="$(lab_ns "$ns")" "$psoffload" sub -h "$host" -I "$name" -v -C "$1" "${@:2}" -W 30 \
		>"$work/$name.out" 2>"$work/$name.err" &
	sub_pids+=($!)
	echo "$name in $ns: ${*:2}"
}
start_sub "$NS_S1" s1 $BROKER4 $((2 * N)) -t demo/all -t demo/near
start_sub "$NS_S2" s2 $BROKER4 $N -t demo/all
start_sub "$NS_S3" s3 $BROKER4_P2 $((2 * N)) -t demo/all -t demo/far
for s in s1 s2 s3; do
	wait_for 10 grep -qs "subscribed to demo/all" "$work/broker.log" || true
done
# Deliveries go through the data plane once the broker knows each
# subscriber's MAC: wait for the three next hops.
wait_for 10 bash -c "[ \$(grep -c 'next hop resolved' '$work/broker.log') -ge 3 ]" ||
	echo "(some next hops still unresolved: the daemon delivers those itself)"

say "psoffload status"
wait_for 5 bash -c "'$psoffload' status --pin-dir='$pin_dir' --json | grep -q '\"used\":5'" || true
lab_run "$NS_B" "$psoffload" status --pin-dir="$pin_dir"

say "publisher: $N messages on each of demo/all, demo/near, demo/far"
for topic in demo/all demo/near demo/far; do
	for i in $(seq 1 $N); do
		lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -I pub -t "$topic" -m "$topic #$i" ||
			echo "demo: publish to $topic failed" >&2
	done
done

say "what each subscriber received"
status=0
for i in 0 1 2; do
	if ! wait "${sub_pids[$i]}"; then status=1; fi
done
sub_pids=()
expect_s1=$((2 * N)) expect_s2=$N expect_s3=$((2 * N))
for s in s1 s2 s3; do
	echo "-- $s"
	cat "$work/$s.out"
	got=$(wc -l <"$work/$s.out")
	want_var=expect_$s
	if [ "$got" -ne "${!want_var}" ]; then
		echo "demo: $s received $got of ${!want_var} messages" >&2
		cat "$work/$s.err" >&2
		status=1
	fi
done

say "data-plane counters (psoffload stats)"
lab_run "$NS_B" "$psoffload" stats --pin-dir="$pin_dir" | awk '$2 != 0 || NR == 1 || /Topic/'

say "stopping the broker"
kill -TERM "$broker_pid"
wait "$broker_pid"
broker_pid=
tail -n 2 "$work/broker.log"
if lab_run "$NS_B" ip link show b0 | grep -q xdp || lab_run "$NS_B" tc filter show dev b0 ingress | grep -q bpf; then
	echo "demo: something is still attached to b0" >&2
	status=1
fi
[ $status -eq 0 ] && say "demo passed: every subscriber received every message" ||
	say "demo FAILED"
exit $status
