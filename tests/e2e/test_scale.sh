#!/usr/bin/env bash
# test_scale.sh BUILD - the capacities at scale, in the veth lab of lab.sh:
#   - drv and skb: 100,000 clients (scaleclients.py, one UDP socket each,
#     over 8 source addresses and their ephemeral ports in ns S1) connect,
#     prove their address and subscribe, 25 to each of 4,000 topics; the
#     data plane admits them: 1,000 of them, spread over all, send one QoS 0
#     publish each to a topic with one subscriber, and XDP forwards every one
#     (xdp_tx moves by exactly 1,000, the subscriber gets 1,000) with none
#     dropped as from an unknown client; `psoffload status --json` shows
#     100,001 clients (the subscriber too).  The times are reported.
#   - --max-clients=N: the (N+1)th CONNECT gets CONNACK 0x01 and status
#     shows the capacity; --max-subscriptions=N: the (N+1)th subscriber slot
#     is refused (SUBACK 0x01), counted as tables.subscriptions.refused;
#     --max-topics=N: status shows it, ids N and above are never given;
#   - a capacity out of range: one line naming it and its range, exit 2,
#     from the command line and from the settings file;
#   - a broker started with other sizes over a running data plane (kill -9)
#     adopts the sizes the maps have, and says so.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, jq, python3, iproute2.  Environment: PSO_TEST_ONLY=ERE,
# PSO_SCALE_CLIENTS=N (default 100000), PSO_SCALE_TOPICS=N (4000).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-scale.XXXXXX)
psoffload=$build/psoffload
pass_obj=$build/tests/bpf/xdp_pass.bpf.o
PIN=/sys/fs/bpf/pso-scale-$LAB_ID
NAME=pso-scale-$LAB_ID
CLIENTS=${PSO_SCALE_CLIENTS:-100000}
TOPICS=${PSO_SCALE_TOPICS:-4000}
SAMPLE=1000
# The clients' source addresses on s1 (S1's own .11 stays the lab's).
SRC_ADDRS=(10.77.1.100 10.77.1.101 10.77.1.102 10.77.1.103 10.77.1.104 10.77.1.105
	   10.77.1.106 10.77.1.107)

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=()
diag=$work/diag

# shellcheck source=harness.sh
. "$here/harness.sh"

trap lab_cleanup EXIT
lab_preflight jq python3 ip nsenter
for a in "${SRC_ADDRS[@]}"; do
	lab_run "$NS_S1" ip addr add "$a/24" dev s1 || bail "cannot add $a to s1"
done

# ---- helpers -------------------------------------------------------------------

status_json() { lab_run "$NS_B" "$psoffload" status --json --name="$NAME" 2>/dev/null; }
stats_json() { lab_run "$NS_B" "$psoffload" stats --json --name="$NAME" 2>/dev/null; }
counter() { stats_json | jq -r ".counters.$1"; }
used_is() { [ "$(status_json | jq -r ".tables.$1.used")" = "$2" ]; }
serving() { grep -q "serving MQTT-SN" "$1"; }
serving_or_gone() { serving "$2" || gone "$1"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }

# start_broker MODE [OPTIONS...]: the broker on b0 (broker_pid, broker_log).
start_broker() {
	local mode=$1
	shift
	# One left by a test that failed before its stop_broker.
	[ -z "${broker_pid:-}" ] || stop_broker
	broker_log=$work/broker.$tnum.log
	: >"$broker_log"
	# Every client comes from 8 addresses at once: per-source rates off.
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --mode="$mode" --pin-dir="$PIN" \
		--name="$NAME" --store=none --connect-rate=0 --control-rate=0 "$@" b0 \
		>>"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 30 serving_or_gone "$broker_pid" "$broker_log" || ! serving "$broker_log"; then
		fail_with "the broker did not start"
		return 1
	fi
}

# raw NS PYTHON: a few raw MQTT-SN datagrams from python in NS.
raw() { lab_run "$1" python3 -c "$2"; }

# ---- 100,000 clients --------------------------------------------------------------

t_scale() {
	local mode=$1 mc out tx0 nc0 tx1 nc1 js sub t0 rss mem tc ts
	start_broker "$mode" || return 1
	# The one subscriber of the sample's topic, in S2 (same port: XDP_TX).
	nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" sub -h $BROKER4 -t scale/sink \
		-C $SAMPLE -W 600 >"$work/sink.out" 2>"$work/sink.err" &
	sub=$!
	test_pids+=("$sub")
	wait_for 10 used_is subscribers 1 || { fail_with "the subscriber did not subscribe"; return 1; }
	t0=$(ms_now)
	coproc MC { nsenter --net="$(lab_ns "$NS_S1")" python3 "$here/scaleclients.py" $BROKER4 \
		"$CLIENTS" "$TOPICS" "${SRC_ADDRS[@]}" 2>&1; }
	mc=$MC_PID
	test_pids+=("$mc")
	read -r -t 300 out <&"${MC[0]}" || { fail_with "the clients did not come: $out"; return 1; }
	[[ $out == ready* ]] || { fail_with "the clients: $out"; return 1; }
	read -r _ _ tc ts <<<"$out"
	info "$CLIENTS clients from ${#SRC_ADDRS[@]} addresses: connected and proven in $tc s," \
	     "$TOPICS topics subscribed in $ts s ($(( ($(ms_now) - t0) / 1000 )) s in all)"
	js=$(status_json)
	[ "$(jq -r .tables.clients.used <<<"$js")" = $((CLIENTS + 1)) ] ||
		{ note "clients: $(jq -c .tables <<<"$js")"; return 1; }
	[ "$(jq -r .tables.subscribers.used <<<"$js")" = $((CLIENTS + 1)) ] ||
		{ note "subscribers: $(jq -c .tables <<<"$js")"; return 1; }
	[ "$(jq -r .tables.subscriptions.used <<<"$js")" = $((CLIENTS + 1)) ] ||
		{ note "subscriptions: $(jq -c .tables <<<"$js")"; return 1; }
	[ "$(jq -r .daemon.sessions <<<"$js")" = $((CLIENTS + 1)) ] ||
		{ note "sessions: $(jq -c .daemon.sessions_by_state <<<"$js")"; return 1; }
	mem=$(jq -r .tables.map_memory_bytes <<<"$js")
	rss=$(awk '/VmRSS/ { print $2 }' /proc/"$broker_pid"/status)
	info "maps $((mem / 1048576)) MiB, daemon RSS $((rss / 1024)) MiB"
	tx0=$(counter xdp_tx) nc0=$(counter xdp_drop_not_connected)
	echo "pub scale/sink $SAMPLE" >&"${MC[1]}"
	read -r -t 120 out <&"${MC[0]}" || { fail_with "the publishers did not answer: $out"; return 1; }
	[[ $out == "sent $SAMPLE "* ]] || { fail_with "the publishers: $out"; return 1; }
	# The subscriber exits after SAMPLE messages: every one came.
	wait_for 30 gone "$sub" ||
		{ fail_with "the subscriber got $(wc -l <"$work/sink.out") of $SAMPLE"; return 1; }
	wait "$sub" || { fail_with "the subscriber: $(cat "$work/sink.err")"; return 1; }
	forget_pid "$sub"
	tx1=$(counter xdp_tx) nc1=$(counter xdp_drop_not_connected)
	[ $((tx1 - tx0)) -eq $SAMPLE ] ||
		{ note "xdp_tx moved by $((tx1 - tx0)), not $SAMPLE"; return 1; }
	[ $((nc1 - nc0)) -eq 0 ] ||
		{ note "xdp_drop_not_connected moved by $((nc1 - nc0))"; return 1; }
	echo quit >&"${MC[1]}"
	stop_broker
}

# ---- the capacities' settings -----------------------------------------------------

# CONNECT from NS as client id ID: prints the CONNACK's return code.
connack_rc() {
	raw "$1" "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('$BROKER4', 1883))
cid = b'$2'
s.send(bytes([6 + len(cid), 0x04, 0x04, 0x01]) + struct.pack('!H', 600) + cid)
while True:
    d = s.recv(256)
    if d[1] == 0x05:
        print(d[2])
        break
"
}

t_max_clients() {
	local js rc
	start_broker drv --max-clients=100 --max-topics=300 || return 1
	lab_run "$NS_S1" python3 "$here/scaleclients.py" $BROKER4 100 0 "${SRC_ADDRS[@]}" \
		>"$work/mc.out" 2>&1 <<<"quit" ||
		{ fail_with "100 clients: $(cat "$work/mc.out")"; return 1; }
	# They left without DISCONNECT: still connected.  One more is refused.
	rc=$(connack_rc "$NS_S2" one-more) || { fail_with "no CONNACK for the 101st"; return 1; }
	[ "$rc" = 1 ] || { fail_with "the 101st CONNECT got return code $rc, not 1"; return 1; }
	js=$(status_json)
	[ "$(jq -r .tables.clients.capacity <<<"$js")" = 100 ] &&
		[ "$(jq -r .tables.clients.used <<<"$js")" = 100 ] &&
		[ "$(jq -r .tables.topics.capacity <<<"$js")" = 300 ] ||
		{ note "tables: $(jq -c .tables <<<"$js")"; return 1; }
	stop_broker
}

# SUBSCRIBEs of N topics from one client in NS: prints each SUBACK's code.
suback_rcs() {
	raw "$1" "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('$BROKER4', 1883))
s.send(bytes([8, 0x04, 0x04, 0x01]) + struct.pack('!H', 600) + b'ms')
codes = []
while True:
    d = s.recv(256)
    if d[1] == 0x0A:
        s.send(bytes([7, 0x0B]) + d[2:6] + b'\x00')
        break
for i in range($2):
    name = b'cap/%d' % i
    s.send(bytes([5 + len(name), 0x12, 0x00]) + struct.pack('!H', i + 1) + name)
    while True:
        d = s.recv(256)
        if d[1] == 0x13:
            codes.append(str(d[-1]))
            break
print(' '.join(codes))
"
}

t_max_subscriptions() {
	local js rcs
	start_broker drv --max-subscriptions=5 || return 1
	rcs=$(suback_rcs "$NS_S1" 6) || { fail_with "no SUBACKs: $rcs"; return 1; }
	[ "$rcs" = "0 0 0 0 0 1" ] || { fail_with "SUBACK return codes: $rcs, not 0 0 0 0 0 1"; return 1; }
	js=$(status_json)
	[ "$(jq -r .tables.subscriptions.capacity <<<"$js")" = 5 ] &&
		[ "$(jq -r .tables.subscriptions.used <<<"$js")" = 5 ] &&
		[ "$(jq -r .tables.subscriptions.refused <<<"$js")" = 1 ] ||
		{ note "tables: $(jq -c .tables <<<"$js")"; return 1; }
	lab_run "$NS_B" "$psoffload" status --name="$NAME" | grep -q "subscriptions *5 / 5" ||
		{ note "status text: $(lab_run "$NS_B" "$psoffload" status --name="$NAME")"; return 1; }
	stop_broker
}

# "--max-topics=N": an id beyond N-1 is never given (REGISTER gets 0x01).
t_max_topics() {
	local out
	start_broker drv --max-topics=3 || return 1
	# Ids 1 and 2: the broker's own \$pso/v takes one.
	out=$(raw "$NS_S1" "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(('$BROKER4', 1883))
s.send(bytes([8, 0x04, 0x04, 0x01]) + struct.pack('!H', 600) + b'mt')
while True:
    d = s.recv(256)
    if d[1] == 0x0A:
        s.send(bytes([7, 0x0B]) + d[2:6] + b'\x00')
        break
got = []
for i in range(2):
    name = b'mt/%d' % i
    s.send(bytes([6 + len(name), 0x0A]) + struct.pack('!HH', 0, i + 1) + name)
    while True:
        d = s.recv(256)
        if d[1] == 0x0B:
            got.append('%d:%d' % (struct.unpack('!H', d[2:4])[0], d[6]))
            break
print(' '.join(got))
") || { fail_with "no REGACKs: $out"; return 1; }
	[[ $out == "2:0 0:1" || $out == "1:0 0:1" ]] ||
		{ fail_with "REGACKs (id:code) $out: the second should be refused"; return 1; }
	[ "$(status_json | jq -r .tables.topics.capacity)" = 3 ] ||
		{ fail_with "status: $(status_json | jq -c .tables.topics)"; return 1; }
	stop_broker
}

t_bad_values() {
	local out rc
	for arg in --max-topics=1 --max-topics=65537 --max-clients=0 --max-clients=1048577 \
		   --max-subscriptions=0 --max-subscriptions=4194305 --max-topics=lots; do
		out=$("$psoffload" "$arg" --store=none lo 2>&1)
		rc=$?
		[ $rc -eq 2 ] || { note "$arg: exit $rc, not 2"; return 1; }
		[ "$(wc -l <<<"$out")" -eq 1 ] || { note "$arg: more than one line: $out"; return 1; }
		[[ $out == "psoffload: bad ${arg%%=*} '${arg#*=}': use "* ]] ||
			{ note "$arg: $out"; return 1; }
	done
	printf '[broker]\nmax-clients = 2000000\n[interface lo]\n' >"$work/bad.conf"
	out=$("$psoffload" --config="$work/bad.conf" --store=none 2>&1)
	rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <<<"$out")" -eq 1 ] &&
		[[ $out == *"bad.conf:2: bad max-clients '2000000': use 1..1048576"* ]] ||
		{ note "settings file: exit $rc: $out"; return 1; }
}

# A data plane left running (kill -9) with 200 topics and 500 clients; a
# broker asking for 1000 and 2000 adopts 200 and 500, and says so.
t_adopt_sizes() {
	local js
	start_broker skb --max-topics=200 --max-clients=500 || return 1
	kill -KILL "$broker_pid"
	wait "$broker_pid" 2>/dev/null
	broker_pid=
	start_broker skb --max-topics=1000 --max-clients=2000 || return 1
	grep -q "adopting 200 topics, 500 clients and [0-9]* subscriptions as the tables have them (the settings ask for 1000, 2000 and" \
		"$broker_log" || { fail_with "no line saying the sizes were adopted"; return 1; }
	js=$(status_json)
	[ "$(jq -r .tables.topics.capacity <<<"$js")" = 200 ] &&
		[ "$(jq -r .tables.clients.capacity <<<"$js")" = 500 ] ||
		{ note "tables: $(jq -c .tables <<<"$js")"; return 1; }
	stop_broker
	# Stopped with SIGTERM: the pins are gone, the next start has its sizes.
	start_broker skb --max-topics=1000 --max-clients=2000 || return 1
	js=$(status_json)
	[ "$(jq -r .tables.topics.capacity <<<"$js")" = 1000 ] &&
		[ "$(jq -r .tables.clients.capacity <<<"$js")" = 2000 ] ||
		{ note "after a stop: $(jq -c .tables <<<"$js")"; return 1; }
	stop_broker
}

run_test "bad capacities: one line, exit 2 (command line, settings file)" t_bad_values
run_test "--max-clients=100: the 101st CONNECT gets 0x01; status shows it" t_max_clients
run_test "--max-subscriptions=5: the 6th slot refused (0x01), counted" t_max_subscriptions
run_test "--max-topics=3: no id beyond 2; status shows it" t_max_topics
run_test "other sizes over a running data plane: the old ones adopted, and said" t_adopt_sizes
for mode in drv skb; do
	run_test "$mode: $CLIENTS clients over ${#SRC_ADDRS[@]} addresses admitted; $SAMPLE publishes by XDP" \
		t_scale $mode
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
