#!/usr/bin/env bash
# test_restart.sh BUILD - restart and crash recovery in the veth lab of
# lab.sh, drv and skb mode:
#   - `psoffload restart` (and SIGUSR2) while a publisher sends 200
#     publishes/s to 1 and to 16 subscribers: none is lost, the data plane
#     is the same (pinned links, programs replaced in place), the control
#     socket answers the new daemon, the subscribers' PINGREQs are answered
#     for their lost sessions (placeholders);
#   - kill -9 and a new broker on the same pin directory: none lost on the
#     data-plane path; the time until the control plane answers a CONNECT
#     again is reported;
#   - the cls_bpf filter of kernels without tcx (PSOFFLOAD_NO_TCX=1) is
#     replaced in place the same way;
#   - a pin directory whose pso_meta is not psoffload's is refused: one
#     line, exit 1, its pins untouched;
#   - SIGTERM after a restart detaches everything and removes the pins;
#   - restart time with 10,000 clients and 4,000 topics in the tables
#     (reported; every client and topic is still there after it).  4,000:
#     the default build's topic table has 4,095 usable ids (PSO_MAX_TOPICS).
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, jq, python3, bpftool, iproute2.
#
# Environment: PSO_TEST_ONLY=ERE (only the tests whose name matches),
# PSO_RESTART_CLIENTS=N, PSO_RESTART_TOPICS=N (the scale test, default
# 10000 and 4000).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-restart.XXXXXX)
# Private copies of the build outputs: a concurrent rebuild of BUILD cannot
# swap a binary in the middle of the run (a restart execs the copy).
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
PIN=/sys/fs/bpf/pso-restart-$LAB_ID
MSGS=1200		# 6 s at 200/s
SCALE_CLIENTS=${PSO_RESTART_CLIENTS:-10000}
SCALE_TOPICS=${PSO_RESTART_TOPICS:-4000}

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=()
broker_extra=()		# more broker options for the next start
diag=$work/diag

# shellcheck source=harness.sh
. "$here/harness.sh"

cleanup() {
	stop_test_pids
	stop_broker
	lab_down
	rm -rf "$PIN" "$PIN-foreign"
	rm -f /run/psoffload/"${PIN##*/}"* /run/psoffload/sys-fs-bpf-pso\\x2drestart\\x2d"$LAB_ID"*
	rm -rf "$work"
}
trap cleanup EXIT

bail() {
	echo "not ok 1 - $1"
	echo "0 passed, 1 failed"
	exit 1
}
[ "$(id -u)" -eq 0 ] || bail "must run as root (namespaces, XDP, bpffs); got uid $(id -u)"
for f in "$psoffload" "$pass_obj"; do
	[ -e "$f" ] || bail "$build/…/$(basename "$f") missing: run make first"
done
for tool in jq python3 bpftool ip nsenter; do
	command -v $tool >/dev/null || bail "$tool is not installed"
done
lab_up "$pass_obj" >"$work/lab.err" 2>&1 || { sed 's/^/# /' "$work/lab.err"; bail "cannot build the veth lab"; }

# ---- helpers -------------------------------------------------------------------

ms_now() { echo $(($(date +%s%N) / 1000000)); }
status_json() { lab_run "$NS_B" "$psoffload" status --json --pin-dir="$PIN" 2>/dev/null; }
serving() { grep -q "serving MQTT-SN" "$1"; }
serving_or_gone() { serving "$2" || gone "$1"; }

# start_broker MODE [ENV...]: the broker on b0 and b1 (broker_pid, broker_log).
start_broker() {
	local mode=$1
	shift
	stop_broker	# one a failed test left
	broker_log=$work/broker.$tnum.log
	: >"$broker_log"
	# No store: what is adopted is the data plane alone (test_store.sh
	# restarts with one).
	env "$@" nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --mode="$mode" --pin-dir="$PIN" \
		--store=none "${broker_extra[@]}" b0 b1 >>"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 20 serving_or_gone "$broker_pid" "$broker_log" || ! serving "$broker_log"; then
		fail_with "the broker did not start"
		return 1
	fi
}

# subscribers N KEEPALIVE: N subscribers to r/t in S1 and S2, each printing
# what it gets to sub.I.  Keep-alive 2 s PINGREQs across a restart; across
# a crash the port is closed for a moment, and `psoffload sub` gives up on
# the ICMP unreachable a PINGREQ then meets (a client's choice, not the
# data plane's): the crash tests use 60 s.
subscribers() {
	local i ns
	for ((i = 0; i < $1; i++)); do
		ns=$NS_S1
		[ $((i % 2)) -eq 1 ] && ns=$NS_S2
		nsenter --net="$(lab_ns "$ns")" "$psoffload" sub -h $BROKER4 -t r/t -k "$2" \
			>"$work/sub.$i" 2>"$work/sub.$i.err" &
		test_pids+=($!)
	done
}

table_used() { status_json | jq -r ".tables.$1.used"; }
has_used() { [ "$(table_used "$1")" = "$2" ]; }

# publisher: MSGS numbered publishes to r/t at 200/s, one connection.
publisher() {
	python3 -c "
import sys, time
t0 = time.monotonic()
for i in range($MSGS):
    print(i, flush=True)
    time.sleep(max(0, t0 + (i + 1) / 200 - time.monotonic()))
" | nsenter --net="$(lab_ns "$NS_PUB")" "$psoffload" pub -h $BROKER4 -t r/t -l -W 20 \
		>"$work/pub.out" 2>&1 &
	pub_pid=$!
	test_pids+=("$pub_pid")
}

# lost N: every subscriber got all MSGS publishes (waits up to 5 s for the
# last ones); notes each one's count.
all_got() {
	local i
	for ((i = 0; i < $1; i++)); do
		[ "$(sort -u "$work/sub.$i" | wc -l)" -ge $MSGS ] || return 1
	done
}
check_lost() {
	local i n lost=0
	wait_for 5 all_got "$1"
	for ((i = 0; i < $1; i++)); do
		n=$(sort -u "$work/sub.$i" | wc -l)
		[ "$n" -ge $MSGS ] || {
			note "subscriber $i got $n of $MSGS (last $(tail -n 1 "$work/sub.$i")): $(tail -n 2 "$work/sub.$i.err")"
			lost=$((lost + MSGS - n))
		}
	done
	info "publishes lost over $1 subscriber(s): $lost of $((MSGS * $1))"
	[ $lost -eq 0 ]
}

# A CONNECT answered: the control plane is back.
answers() {
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -t probe -m x -W 1 >/dev/null 2>&1
}

start_traffic() {	# FANOUT KEEPALIVE
	subscribers "$1" "$2"
	if ! wait_for 10 has_used subscribers "$1"; then
		fail_with "the $1 subscriber(s) did not subscribe: $(table_used subscribers)"
		return 1
	fi
	publisher
	# the publisher connected: fan-out subscribers plus the publisher
	if ! wait_for 10 has_used clients $(($1 + 1)); then
		fail_with "the publisher did not connect"
		return 1
	fi
	sleep 1		# a second of traffic before the event
}

finish_traffic() {
	if ! wait_for 20 gone "$pub_pid"; then
		fail_with "the publisher did not finish"
		return 1
	fi
	wait "$pub_pid" || { fail_with "the publisher failed: $(tail -n 2 "$work/pub.out")"; return 1; }
	forget_pid "$pub_pid"
}

# ---- tests ---------------------------------------------------------------------

t_restart() {	# MODE FANOUT HOW [ENV...]
	local mode=$1 fanout=$2 how=$3 out t0 js pings
	shift 3
	start_broker "$mode" "$@" || return 1
	start_traffic "$fanout" 2 || return 1
	t0=$(ms_now)
	if [ "$how" = usr2 ]; then
		kill -USR2 "$broker_pid"
		wait_for 20 grep -q "restart: the new daemon serves" "$broker_log" ||
			{ fail_with "no new daemon after SIGUSR2"; return 1; }
		out="by SIGUSR2: $(grep -o 'serves [0-9]* ms' "$broker_log")"
	else
		out=$(lab_run "$NS_B" "$psoffload" restart --pin-dir="$PIN" 2>&1) ||
			{ fail_with "psoffload restart: $out"; return 1; }
	fi
	info "$out (asked after 1 s of traffic; $(($(ms_now) - t0)) ms until the new daemon answered)"
	finish_traffic || return 1
	check_lost "$fanout" || return 1
	js=$(status_json)
	[ "$(jq -r .restart.restarts <<<"$js")" = 1 ] || { note "restarts: $(jq -c .restart <<<"$js")"; return 1; }
	[ "$(jq -r .restart.adopted <<<"$js")" = handover ] || { note "adopted: $(jq -c .restart <<<"$js")"; return 1; }
	jq -e '[.interfaces[].links.adopted] | all' <<<"$js" >/dev/null ||
		{ note "links: $(jq -c '[.interfaces[].links]' <<<"$js")"; return 1; }
	[ "$(kill -0 "$broker_pid" 2>/dev/null && echo up)" = up ] || { note "the pid changed"; return 1; }
	pings=$(jq -r .restart.placeholders.pings_answered <<<"$js")
	info "links: $(jq -c '.interfaces[0].links' <<<"$js"); PINGREQs answered for lost sessions: $pings"
	[ "$pings" -gt 0 ] || { note "no PINGREQ of a subscriber was answered after the restart"; return 1; }
	answers || { note "a new client gets no CONNACK after the restart"; return 1; }
	stop_broker
}

t_crash() {	# MODE FANOUT
	local mode=$1 fanout=$2 t0 t1 js
	start_broker "$mode" || return 1
	start_traffic "$fanout" 60 || return 1
	t0=$(ms_now)
	kill -KILL "$broker_pid"
	wait "$broker_pid" 2>/dev/null
	broker_pid=
	# Pins present, lock free: the next broker adopts what runs.
	start_broker "$mode" || return 1
	wait_for 20 answers || { fail_with "the new broker never answered a CONNECT"; return 1; }
	t1=$(ms_now)
	info "kill -9 to a CONNACK from the new broker: $((t1 - t0)) ms"
	finish_traffic || return 1
	check_lost "$fanout" || return 1
	js=$(status_json)
	[ "$(jq -r .restart.adopted <<<"$js")" = crash ] || { note "adopted: $(jq -c .restart <<<"$js")"; return 1; }
	[ "$(jq -r .restart.adoptions <<<"$js")" = 1 ] || { note "adoptions: $(jq -c .restart <<<"$js")"; return 1; }
	grep -q "adopted the data plane" "$broker_log" || { note "no adoption logged"; return 1; }
	stop_broker
}

t_foreign_meta() {
	local dir=$PIN-foreign log=$work/foreign.log rc before after
	mkdir -p "$dir"
	bpftool map create "$dir/pso_meta" type array key 4 value 8 entries 1 name pso_meta || return 1
	before=$(ls -i "$dir")
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --mode=skb --pin-dir="$dir" --store=none b0 >"$log" 2>&1
	rc=$?
	after=$(ls -i "$dir")
	[ $rc -eq 1 ] || { note "exit status $rc, expected 1: $(cat "$log")"; return 1; }
	[ "$(wc -l <"$log")" -eq 1 ] || { note "expected one line: $(cat "$log")"; return 1; }
	grep -q "not a psoffload data plane" "$log" || { note "the line: $(cat "$log")"; return 1; }
	[ "$before" = "$after" ] || { note "the pins changed: $before / $after"; return 1; }
	lab_run "$NS_B" ip link show b0 | grep -q xdp && { note "b0 got XDP"; return 1; }
	rm -rf "$dir"
}

t_sigterm_detaches() {
	start_broker skb || return 1
	kill -USR2 "$broker_pid"
	wait_for 20 grep -q "restart: the new daemon serves" "$broker_log" || { fail_with "no restart"; return 1; }
	stop_broker
	[ "$broker_rc" = 0 ] || { note "exit status $broker_rc"; return 1; }
	for dev in b0 b1; do
		lab_run "$NS_B" ip link show $dev | grep -q xdp && { note "$dev keeps XDP"; return 1; }
		[ -z "$(lab_run "$NS_B" tc filter show dev $dev ingress)" ] || { note "$dev keeps a filter"; return 1; }
	done
	[ ! -e "$PIN" ] || { note "the pins stay: $(ls "$PIN")"; return 1; }
}

t_scale() {
	local mc out js
	# Every client from one address at once: per-source rates off.
	broker_extra=(--connect-rate=0 --control-rate=0)
	start_broker drv || { broker_extra=(); return 1; }
	broker_extra=()
	coproc MC { nsenter --net="$(lab_ns "$NS_S1")" python3 "$here/manyclients.py" $BROKER4 \
		"$SCALE_CLIENTS" "$SCALE_TOPICS" 2>&1; }
	mc=$MC_PID
	test_pids+=("$mc")
	read -r -t 120 out <&"${MC[0]}" || { fail_with "the clients did not come: $out"; return 1; }
	[[ $out == ready* ]] || { fail_with "the clients: $out"; return 1; }
	info "$SCALE_CLIENTS clients and $SCALE_TOPICS topics in $(cut -d' ' -f4 <<<"$out") s"
	out=$(lab_run "$NS_B" "$psoffload" restart --pin-dir="$PIN" --timeout=60 2>&1) ||
		{ fail_with "psoffload restart: $out"; return 1; }
	info "restart: $out; $(grep -o 'serves [0-9]* ms after the exec' "$broker_log")"
	js=$(status_json)
	info "tables read back in $(jq -r .restart.adopt_read_ms <<<"$js") ms"
	[ "$(jq -r .tables.clients.used <<<"$js")" = "$SCALE_CLIENTS" ] ||
		{ note "clients after: $(jq -c .tables <<<"$js")"; return 1; }
	# The clients' topics, and the broker's own address check's $pso/v.
	[ "$(jq -r .tables.topics.used <<<"$js")" = $((SCALE_TOPICS + 1)) ] ||
		{ note "topics after: $(jq -c .tables <<<"$js")"; return 1; }
	[ "$(jq -r .tables.subscribers.used <<<"$js")" = "$SCALE_CLIENTS" ] ||
		{ note "subscribers after: $(jq -c .tables <<<"$js")"; return 1; }
	stop_broker
}

for mode in skb drv; do
	run_test "$mode: psoffload restart, fan-out 1: no publish lost" t_restart $mode 1 cmd
	run_test "$mode: SIGUSR2, fan-out 16: no publish lost" t_restart $mode 16 usr2
	run_test "$mode: kill -9 and a new broker, fan-out 16: no publish lost" t_crash $mode 16
done
run_test "skb: kill -9 and a new broker, fan-out 1: no publish lost" t_crash skb 1
run_test "cls_bpf filter (no tcx): restart, fan-out 16: no publish lost" t_restart skb 16 cmd PSOFFLOAD_NO_TCX=1
run_test "a foreign pso_meta: one line, exit 1, pins untouched" t_foreign_meta
run_test "SIGTERM after a restart detaches everything, removes the pins" t_sigterm_detaches
run_test "restart with $SCALE_CLIENTS clients and $SCALE_TOPICS topics" t_scale

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
