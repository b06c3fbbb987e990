#!/usr/bin/env bash
# test_fanout.sh BUILD - one topic's fan-out at full size, in the veth lab
# of lab.sh:
#   - drv and skb: 4,096 subscriber sockets in ns S1 (fanclients.py), one
#     topic, 20 QoS 0 publishes and a last one: every socket receives every
#     publish exactly once (the kernel verifies the UDP checksums, offload
#     being off on the lab's veths: S1's InCsumErrors does not move), and
#     the copies are TC's: tc_copies moves by 4,096 for each publish, or the
#     share the host sent (tc_copy_host, xdp_pass_overflow) is reported.
#   - drv, --max-topic-subscribers=8: 12 wildcard subscribers (fan/#) of a
#     topic whose run holds 8 all get every publish once: 8 by TC's copies,
#     4 by the daemon (the topic carries PSO_TOPIC_F_HOST: xdp_pass_overflow
#     moves by one a publish, tc_copies by 8); an exact SUBSCRIBE to the
#     full topic gets SUBACK 0x01.
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

trap lab_cleanup EXIT
lab_preflight jq python3 ip nsenter
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

# The tables at rest: no run's move waiting for its grace period (a topic
# growing has its new run's copies by the daemon meanwhile).
at_rest() { [ "$(lab_run "$NS_B" "$psoffload" status --json --name="$NAME" 2>/dev/null |
		 jq -r .tables.pending_grace)" = 0 ]; }

# fan N TOPIC PUBS: fanclients.py in S1, its publishes once the tables are
# at rest; its "ready" line in $fan_ready, its "got" line in $fan_out.
fan() {
	local rc=0 pid
	fan_ready='' fan_out=''
	coproc FAN { nsenter --net="$(lab_ns "$NS_S1")" timeout 150 python3 "$here/fanclients.py" \
		$BROKER4 "$1" "$2" "$3" $S1_ADDR 2>"$work/fan.err"; }
	pid=$FAN_PID
	test_pids+=("$pid")
	read -r -t 140 fan_ready <&"${FAN[0]}"
	if [[ $fan_ready == ready* ]] && wait_for 30 at_rest; then
		echo go >&"${FAN[1]}"
		read -r -t 140 fan_out <&"${FAN[0]}"
	fi
	wait "$pid" || rc=$?
	forget_pid "$pid"
	[[ $fan_out == got* ]] || { note "fanclients.py (exit $rc): $(cat "$work/fan.err")"; return 1; }
	[ -s "$work/fan.err" ] && note "fanclients.py: $(cat "$work/fan.err")"
	return $rc
}

# ---- 4,096 subscribers on one topic ----------------------------------------------

t_fanout() {
	local mode=$1 c0 c1 cs0 cs1 exact miss dup bad secs copies host over tc ts
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

# SUBSCRIBE to NAME (exact) from a new client in NS: the SUBACK's code.
suback_rc() {
	lab_run "$1" python3 -c "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('$BROKER4', 1883))
s.send(bytes([8, 0x04, 0x04, 0x01]) + struct.pack('!H', 600) + b'ex')
while True:
    d = s.recv(256)
    if d[1] == 0x0A:	# the address check
        s.send(bytes([7, 0x0B]) + d[2:6] + b'\\x00')
        break
s.send(bytes([5 + len(b'$2'), 0x12, 0x00]) + struct.pack('!H', 1) + b'$2')
while True:
    d = s.recv(256)
    if d[1] == 0x13:
        print(d[-1])
        break
"
}

t_run_full() {
	local c0 c1 exact miss dup bad secs rc n=12 max=8 pubs=$((PUBS + 1))
	start_broker drv --max-topic-subscribers=$max || return 1
	read -r -a c0 <<<"$(counters tc_copies tc_copy_host xdp_pass_overflow)"
	FAN_FILTER='fan/#' fan $n fan/one "$PUBS" ||
		{ note "result (exact missing duplicated bad seconds): ${fan_out:-none}"; return 1; }
	read -r _ exact miss dup bad secs <<<"$fan_out"
	[ "$exact" = $n ] && [ "$miss" = 0 ] && [ "$dup" = 0 ] && [ "$bad" = 0 ] ||
		{ note "exact $exact, missing $miss, duplicated $dup, bad $bad"; return 1; }
	read -r -a c1 <<<"$(counters tc_copies tc_copy_host xdp_pass_overflow)"
	info "tc_copies +$((c1[0] - c0[0])), tc_copy_host +$((c1[1] - c0[1]))," \
	     "xdp_pass_overflow +$((c1[2] - c0[2]))"
	[ $((c1[0] - c0[0])) -eq $((max * pubs)) ] ||
		{ note "tc_copies moved by $((c1[0] - c0[0])), not $((max * pubs))"; return 1; }
	[ $((c1[2] - c0[2])) -eq $pubs ] ||
		{ note "xdp_pass_overflow moved by $((c1[2] - c0[2])), not $pubs"; return 1; }
	grep -c "no slot left for client" "$broker_log" | grep -qx $((n - max)) ||
		{ note "not $((n - max)) 'no slot left' lines: $(grep -c "no slot left" "$broker_log")"; return 1; }
	# The fan clients left without DISCONNECT: the run is still full.
	rc=$(suback_rc "$NS_S2" fan/one) || { note "no SUBACK for the exact subscriber"; return 1; }
	[ "$rc" = 1 ] || { note "an exact SUBSCRIBE to the full topic got $rc, not 1"; return 1; }
	stop_broker
}

for mode in drv skb; do
	run_test "$mode: $SUBS subscribers on one topic get each of $((PUBS + 1)) publishes once" \
		t_fanout $mode
done
run_test "drv: --max-topic-subscribers=8: 12 wildcard subscribers all served, an exact one refused" \
	t_run_full
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
