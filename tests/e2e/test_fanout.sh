#!/usr/bin/env bash
# test_fanout.sh BUILD - one topic's fan-out at full size, in the veth lab
# of lab.sh:
#   - drv and skb: 4,096 subscriber sockets in ns S1 (fanclients.py), one
#     topic, 20 QoS 0 publishes and a last one: every socket receives every
#     publish exactly once (the kernel verifies the UDP checksums, offload
#     being off on the lab's veths: S1's InCsumErrors does not move), and
#     the copies are TC's: tc_copies moves by 4,096 for each publish, or the
#     share the host sent (tc_copy_host, xdp_pass_overflow) is reported.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, jq, python3, iproute2.  Environment: PSO_TEST_ONLY=ERE,
# PSO_FANOUT_SUBS=N (default 4096), PSO_FANOUT_PUBS=N (20).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-fanout.XXXXXX)
psoffload=$build/psoffload
pass_obj=$build/tests/bpf/xdp_pass.bpf.o
PIN=/sys/fs/bpf/pso-fanout-$LAB_ID
NAME=pso-fanout-$LAB_ID
SUBS=${PSO_FANOUT_SUBS:-4096}
PUBS=${PSO_FANOUT_PUBS:-20}
S1_ADDR=10.77.1.11

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=()
diag=$work/diag

# shellcheck source=harness.sh
. "$here/harness.sh"

cleanup() {
	stop_test_pids
	stop_broker
	lab_down
	rm -rf "$PIN"
	rm -f /run/psoffload/"$NAME".*
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
	[ -e "$f" ] || bail "$f missing: run make first"
done
for tool in jq python3 ip nsenter; do
	command -v $tool >/dev/null || bail "$tool is not installed"
done
lab_up "$pass_obj" >"$work/lab.err" 2>&1 || { sed 's/^/# /' "$work/lab.err"; bail "cannot build the veth lab"; }
# A veth has no qdisc and a ring of 256 frames toward its peer: one
# publish's 4,096 copies, sent from TC in one go, would find 3,840 of them
# dropped there.  A NIC has a transmit queue; so has b0 here: with a qdisc
# the veth stops its queue while the ring is full and the qdisc holds the
# rest until the peer has taken them.
lab_run "$NS_B" tc qdisc replace dev b0 root pfifo limit $((2 * SUBS)) ||
	bail "cannot give b0 a qdisc"

# ---- helpers -------------------------------------------------------------------

stats_json() { lab_run "$NS_B" "$psoffload" stats --json --name="$NAME" 2>/dev/null; }
counters() {	# counters NAME...: their values, one line
	local js n out=()
	js=$(stats_json)
	for n in "$@"; do out+=("$(jq -r ".counters.$n // 0" <<<"$js")"); done
	echo "${out[*]}"
}
serving() { grep -q "serving MQTT-SN" "$1"; }
serving_or_gone() { serving "$2" || gone "$1"; }
# UDP datagrams the kernel of ns NS dropped for a bad checksum.
csum_errors() { lab_run "$1" awk '/^Udp: [0-9]/ { print $7 }' /proc/net/snmp; }

# start_broker MODE [OPTIONS...]: the broker on b0 (broker_pid, broker_log).
start_broker() {
	local mode=$1
	shift
	stop_broker	# a test that failed left its broker
	broker_log=$work/broker.$tnum.log
	: >"$broker_log"
	# Every subscriber comes from one address: per-source rates off.
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --mode="$mode" --pin-dir="$PIN" \
		--name="$NAME" --store=none --connect-rate=0 --control-rate=0 "$@" b0 \
		>>"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 30 serving_or_gone "$broker_pid" "$broker_log" || ! serving "$broker_log"; then
		fail_with "the broker did not start"
		return 1
	fi
}

# fan N TOPIC PUBS: fanclients.py in S1; its "got" line in $fan_out.
fan() {
	local out rc
	out=$(lab_run "$NS_S1" timeout 150 python3 "$here/fanclients.py" $BROKER4 "$1" "$2" "$3" \
		$S1_ADDR 2>"$work/fan.err")
	rc=$?
	fan_ready=$(grep '^ready' <<<"$out")
	fan_out=$(grep '^got' <<<"$out")
	[ -n "$fan_out" ] || { note "fanclients.py (exit $rc): $(cat "$work/fan.err")"; return 1; }
	[ -s "$work/fan.err" ] && note "fanclients.py: $(cat "$work/fan.err")"
	return $rc
}

# ---- 4,096 subscribers on one topic ----------------------------------------------

t_fanout() {
	local mode=$1 c0 c1 cs0 cs1 exact miss dup bad secs copies host over
	start_broker "$mode" || return 1
	read -r -a c0 <<<"$(counters tc_copies tc_copy_host xdp_pass_overflow tc_copy_failed)"
	cs0=$(csum_errors "$NS_S1")
	fan "$SUBS" fan/one "$PUBS" ||
		{ note "result (exact missing duplicated bad seconds): ${fan_out:-none}"; return 1; }
	read -r _ exact miss dup bad secs <<<"$fan_out"
	read -r _ tc ts <<<"$fan_ready"
	info "$SUBS subscribers connected in $tc s, subscribed in $ts s;" \
	     "$((PUBS + 1)) publishes to all in $secs s"
	[ "$exact" = "$SUBS" ] && [ "$miss" = 0 ] && [ "$dup" = 0 ] && [ "$bad" = 0 ] ||
		{ note "exact $exact, missing $miss, duplicated $dup, bad $bad"; return 1; }
	cs1=$(csum_errors "$NS_S1")
	[ "$cs1" = "$cs0" ] || { note "S1's UDP InCsumErrors moved by $((cs1 - cs0))"; return 1; }
	read -r -a c1 <<<"$(counters tc_copies tc_copy_host xdp_pass_overflow tc_copy_failed)"
	copies=$((c1[0] - c0[0])) host=$((c1[1] - c0[1])) over=$((c1[2] - c0[2]))
	info "tc_copies +$copies, tc_copy_host +$host, xdp_pass_overflow +$over," \
	     "tc_copy_failed +$((c1[3] - c0[3]))"
	# Every copy is TC's, or the host's for the copies TC left it.
	[ $((copies + host)) -eq $((SUBS * (PUBS + 1))) ] ||
		{ note "tc_copies + tc_copy_host moved by $((copies + host)), not $((SUBS * (PUBS + 1)))"; return 1; }
	[ "$host" -eq 0 ] || info "the host sent $host of $((SUBS * (PUBS + 1))) copies"
	stop_broker
}

for mode in drv skb; do
	run_test "$mode: $SUBS subscribers on one topic get each of $((PUBS + 1)) publishes once" \
		t_fanout $mode
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
