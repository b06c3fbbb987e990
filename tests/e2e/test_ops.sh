#!/usr/bin/env bash
# test_ops.sh BUILD - end-to-end tests of what operators use on a running
# broker, in the veth lab of lab.sh, everything started the way a new user
# would: `ip netns exec` (which remounts /sys, hiding /sys/fs/bpf).
#   - the broker under `ip netns exec` mounts a bpffs for its pins and
#     delivers a publish;
#   - status, stats, clients, sessions, topics, subscriptions from another
#     `ip netns exec` through the control socket /run/psoffload/NAME.sock:
#     tables by name, --json, filters, --watch rates, errors;
#   - a second broker of the same name is refused, a stale socket replaced,
#     a slow peer on the socket stalls nobody;
#   - /metrics scraped with curl and parsed (promparse.py): well-formed,
#     and its counters equal `stats --json` at the same quiet moment.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, python3, curl and jq.  PSO_TEST_ONLY=ERE runs only matching tests.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-ops.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
promparse=$here/promparse.py
NAME=pso-ops-$LAB_ID
PIN=/sys/fs/bpf/psoffload-ops-$LAB_ID
SOCK=/run/psoffload/$NAME.sock
METRICS=127.0.0.1:9464

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=() sub_pids=()
diag=$work/diag
tmp=$work

# shellcheck source=harness.sh
. "$here/harness.sh"

stop_subs() {
	local p
	for p in "${sub_pids[@]}"; do stop_pid "$p"; done
	sub_pids=()
}

cleanup() {
	stop_test_pids
	stop_subs
	stop_broker
	lab_down
	rm -f "/run/psoffload/pso-ops-stale-$LAB_ID.sock"
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "test_ops: must run as root (namespaces, XDP, bpffs); got uid $(id -u)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for f in "$psoffload" "$pass_obj"; do
	if [ ! -e "$f" ]; then
		echo "test_ops: $build/$(basename "$f") (or its tests/ counterpart) missing: run make first" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
for tool in python3 curl jq; do
	if ! command -v $tool >/dev/null; then
		echo "test_ops: $tool is needed (tests/install-deps.sh installs it)" >&2
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
ops() { in_ns "$NS_PUB" "$psoffload" "$@" --name="$NAME"; }

# start_broker NAME LOG ARGS...: the broker under `ip netns exec` on b0, b1.
start_broker() {
	local name=$1
	broker_log=$2
	shift 2
	: >"$broker_log"
	ip netns exec "$NS_B" "$psoffload" --store=none -v --mode=skb --name="$name" "$@" b0 b1 \
		>"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 10 grep -q "serving MQTT-SN" "$broker_log"; then
		note "the daemon did not start (psoffload --name=$name $*):"
		sed 's/^/  /' "$broker_log" >>"$diag"
		kill -0 "$broker_pid" 2>/dev/null && stop_broker
		broker_pid=
		return 1
	fi
}

# ---- the tests ----------------------------------------------------------------

# A socket file left by a broker that died (no listener) is replaced.
t_stale_socket() {
	local stale=/run/psoffload/pso-ops-stale-$LAB_ID.sock rc=0
	mkdir -p /run/psoffload
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$stale" ||
		fail_with "could not leave a stale socket at $stale" || return 1
	start_broker "pso-ops-stale-$LAB_ID" "$tmp/stale.log" --pin-dir="$PIN-stale" || return 1
	grep -q "replaced the stale control socket $stale" "$broker_log" ||
		{ note "no 'replaced the stale control socket' in the log"; rc=1; }
	in_ns "$NS_PUB" "$psoffload" status --name="pso-ops-stale-$LAB_ID" >"$tmp/stale-status" 2>&1 ||
		{ note "status after the replacement: $(head -n 2 "$tmp/stale-status")"; rc=1; }
	stop_broker
	[ ! -e "$stale" ] || { note "the socket $stale outlived its broker"; rc=1; }
	return $rc
}

t_start() {
	echo "10 cmd/ten" >"$tmp/predefined.txt"
	start_broker "$NAME" "$tmp/broker.log" --pin-dir="$PIN" --metrics="$METRICS" \
		--metrics-topics=2 --predefined="$tmp/predefined.txt" || return 1
	info "$(grep -m1 'bpffs' "$broker_log" | cut -d' ' -f3-)"
	grep -q "no bpffs at /sys/fs/bpf (as under \`ip netns exec\`): mounted one" "$broker_log" ||
		fail_with "the broker did not say it mounted a bpffs"
}

t_socket_mode() {
	local mode
	mode=$(stat -c '%a %F' "$SOCK" 2>&1)
	[ "$mode" = "600 socket" ] || fail_with "$SOCK: expected '600 socket', got '$mode'"
}

# has_client ID: the broker lists ID among its clients.
has_client() { ops clients 2>/dev/null | grep -q "^$1 "; }

# The broker under ip netns exec delivers: a subscriber, then a publish.
t_publish() {
	local out=$tmp/sub.out
	: >"$out"
	# The subscribers stay for the tests that follow (stopped by t_stop).
	ip netns exec "$NS_S1" "$psoffload" sub -h "$BROKER4" -t 'sensors/#' -I sub-one -v \
		>"$out" 2>"$tmp/sub.err" &
	sub_pids+=("$!")
	wait_for 10 has_client sub-one ||
		fail_with "sub-one never appeared in 'clients'" || return 1
	ip netns exec "$NS_S2" "$psoffload" sub -h "$BROKER4" -i 10 -I sub-two >/dev/null 2>&1 &
	sub_pids+=("$!")
	wait_for 10 has_client sub-two ||
		fail_with "sub-two never appeared in 'clients'" || return 1
	in_ns "$NS_PUB" "$psoffload" pub -h "$BROKER4" -t sensors/temp -m 21.5 -I pub-one ||
		fail_with "pub failed" || return 1
	wait_for 5 grep -qx "sensors/temp 21.5" "$out" ||
		fail_with "the subscriber got: $(cat "$out" "$tmp/sub.err")"
}

t_status() {
	local out rc=0
	out=$(ops status 2>&1) || fail_with "status: $out" || return 1
	info "$(head -n 1 <<<"$out")"
	grep -qE "^b0 +veth +skb +up " <<<"$out" || { note "no 'b0 veth skb up' row in: $out"; rc=1; }
	grep -qE "^b1 +veth +skb +up " <<<"$out" || { note "no 'b1 veth skb up' row"; rc=1; }
	grep -qE "^  clients +2 / " <<<"$out" || { note "not 2 clients in the tables: $out"; rc=1; }
	out=$(ops status --json | jq -r '.broker.name + " " + .broker.control_socket + " " + (.daemon.sessions|tostring)')
	[ "$out" = "$NAME $SOCK 2" ] || { note "status --json: '$out'"; rc=1; }
	# --pin-dir still names the broker (by its last component) when it has that name.
	out=$(in_ns "$NS_PUB" "$psoffload" status --pin-dir=/sys/fs/bpf/"$NAME" --json | jq -r .broker.name)
	[ "$out" = "$NAME" ] || { note "status --pin-dir: '$out'"; rc=1; }
	return $rc
}

t_clients() {
	local out rc=0
	out=$(ops clients) || fail_with "clients failed" || return 1
	info "$(head -n 3 <<<"$out")"
	head -n 1 <<<"$out" | grep -qE "^Client id +Address +State +Keep-alive +Idle +Subs +Topics +Path" ||
		{ note "header: $(head -n 1 <<<"$out")"; rc=1; }
	grep -qE "^sub-one +10\.77\.1\.11:[0-9]+ +active +60 s .* 1 +1 +xdp" <<<"$out" ||
		{ note "no sub-one row as expected: $out"; rc=1; }
	[ "$(sed -n 2p <<<"$out" | cut -d' ' -f1)" = sub-one ] || { note "not sorted by id: $out"; rc=1; }
	out=$(ops clients --json | jq -r '[.clients[] | .client_id + ":" + .state] | join(" ")')
	[ "$out" = "sub-one:active sub-two:active" ] || { note "clients --json: '$out'"; rc=1; }
	out=$(ops clients --state=asleep --json | jq '.clients | length')
	[ "$out" = 0 ] || { note "clients --state=asleep: $out clients"; rc=1; }
	out=$(ops clients --state=sleepy 2>&1)
	[ $? -eq 2 ] && grep -q "bad --state 'sleepy'" <<<"$out" ||
		{ note "clients --state=sleepy: '$out'"; rc=1; }
	return $rc
}

t_sessions() {
	local out rc=0
	out=$(ops sessions) || fail_with "sessions failed" || return 1
	grep -qE "^sub-two +active +yes +1 +1 +0 +0 +- " <<<"$out" || { note "sessions: $out"; rc=1; }
	return $rc
}

t_topics() {
	local out rc=0
	out=$(ops topics) || fail_with "topics failed" || return 1
	info "$out"
	grep -qE "^[0-9]+ +sensors/temp +1 +1 +[0-9]+ +- *$" <<<"$out" || { note "topics: $out"; rc=1; }
	out=$(ops topics --match='sensors/+' --json | jq -r '[.topics[].name] | join(" ")')
	[ "$out" = "sensors/temp" ] || { note "topics --match=sensors/+: '$out'"; rc=1; }
	out=$(ops topics --match='other/#' --json | jq '.topics | length')
	[ "$out" = 0 ] || { note "topics --match=other/#: $out topics"; rc=1; }
	out=$(ops topics --match='a/#/b' 2>&1)
	[ $? -eq 2 ] && grep -q "bad --match" <<<"$out" || { note "topics --match=a/#/b: '$out'"; rc=1; }
	return $rc
}

t_subscriptions() {
	local out rc=0
	out=$(ops subscriptions sensors/temp) || fail_with "subscriptions failed" || return 1
	info "$out"
	grep -qE "^sub-one +filter +sensors/# +0 +1$" <<<"$out" || { note "subscriptions: $out"; rc=1; }
	grep -q sub-two <<<"$out" && { note "sub-two does not want sensors/temp: $out"; rc=1; }
	out=$(ops subscriptions --json | jq -r '[.subscriptions[] | .client_id + ":" + .kind] | join(" ")')
	[ "$out" = "sub-one:filter sub-two:predefined" ] || { note "subscriptions --json: '$out'"; rc=1; }
	out=$(ops subscriptions no/such 2>&1)
	[ $? -eq 1 ] && grep -q "no topic named 'no/such'" <<<"$out" ||
		{ note "subscriptions no/such: '$out'"; rc=1; }
	return $rc
}

# --watch: per-second rates while publishes flow.
t_watch() {
	local out rc=0 i
	( for i in $(seq 1 30); do
		ip netns exec "$NS_PUB" "$psoffload" pub -h "$BROKER4" -t sensors/load -m "$i" -I pub-w >/dev/null 2>&1
		sleep 0.1
	  done ) &
	test_pids+=("$!")
	out=$(ops stats --watch=1 --count=2) || fail_with "stats --watch failed" || return 1
	info "stats --watch: $(tail -n 1 <<<"$out" | cut -c1-120)"
	[ "$(wc -l <<<"$out")" = 2 ] || { note "stats --watch --count=2: $(wc -l <<<"$out") lines"; rc=1; }
	grep -qE "^[0-9]{2}:[0-9]{2}:[0-9]{2} .* xdp_pass_control=[1-9][0-9]*/s" <<<"$out" ||
		{ note "no xdp_pass_control rate: $out"; rc=1; }
	out=$(ops topics --watch=1 --count=1) || fail_with "topics --watch failed" || return 1
	grep -qE "^Id +Topic +Subs +Messages/s +Bytes/s" <<<"$out" || { note "topics --watch: $out"; rc=1; }
	return $rc
}

# A peer that sends half a request and holds its connection stalls nobody.
t_slow_peer() {
	local out
	python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.send(b"{\"request\": \"sta")
t = socket.socket(socket.AF_UNIX); t.connect(sys.argv[1])
time.sleep(4)' "$SOCK" &
	test_pids+=("$!")
	sleep 0.5
	out=$(timeout 2 "$psoffload" status --name="$NAME" 2>&1) ||
		fail_with "status while a peer holds a half request: '$out'"
}

t_second_broker() {
	local out rc
	out=$(ip netns exec "$NS_B" "$psoffload" --store=none --mode=skb --name="$NAME" --pin-dir="$PIN-2" b0 2>&1)
	rc=$?
	info "$out"
	[ $rc -eq 1 ] || fail_with "a second broker named $NAME exited $rc" || return 1
	[ "$(wc -l <<<"$out")" = 1 ] && grep -q "a broker named $NAME is running already" <<<"$out" ||
		fail_with "expected one line 'a broker named $NAME is running already', got: $out" || return 1
	ops status >/dev/null || fail_with "the first broker stopped answering"
}

# The exposition is well formed and its counters are those of stats --json
# at the same quiet moment (two equal stats around the scrape).
t_metrics() {
	local rc=0 try
	for try in 1 2 3 4 5; do
		ops stats --json >"$tmp/stats1.json" || return 1
		in_ns "$NS_B" curl -sS -D "$tmp/headers" "http://$METRICS/metrics" >"$tmp/metrics.txt" ||
			fail_with "curl failed" || return 1
		ops stats --json >"$tmp/stats2.json" || return 1
		cmp -s <(jq -S 'del(.taken_ms)' "$tmp/stats1.json") <(jq -S 'del(.taken_ms)' "$tmp/stats2.json") && break
		sleep 0.5
	done
	grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/headers" ||
		{ note "content type: $(grep -i content-type "$tmp/headers")"; rc=1; }
	python3 "$promparse" <"$tmp/metrics.txt" >"$tmp/samples.json" 2>"$tmp/parse.err" ||
		{ note "the exposition does not parse:"; head -n 5 "$tmp/parse.err" >>"$diag"; rc=1; }
	info "$(grep -c '^psoffload_' "$tmp/metrics.txt") samples in $(grep -c '^# TYPE' "$tmp/metrics.txt") families"
	python3 - "$tmp/samples.json" "$tmp/stats2.json" >>"$diag" <<'EOF' || rc=1
import json, sys
m = json.load(open(sys.argv[1]))
st = json.load(open(sys.argv[2]))
labels = {  # data-plane counter name -> its series
    'xdp_tx': 'psoffload_dataplane_packets_total{path=xdp,outcome=tx,reason=same_port}',
    'xdp_pass_control': 'psoffload_dataplane_packets_total{path=xdp,outcome=pass,reason=control}',
    'xdp_pass_not_broker': 'psoffload_dataplane_packets_total{path=xdp,outcome=pass,reason=not_broker}',
    'xdp_drop_not_connected': 'psoffload_dataplane_packets_total{path=xdp,outcome=drop,reason=not_connected}',
    'tc_pass': 'psoffload_dataplane_packets_total{path=tc,outcome=pass,reason=not_fast_path}',
    'tc_copies': 'psoffload_dataplane_copies_total{result=sent}',
}
bad = []
dp = [k for k in m if k.startswith('psoffload_dataplane_')]
if len(dp) != len(st['counters']):
    bad.append(f"{len(dp)} data-plane series, {len(st['counters'])} counters in stats")
if sum(m[k] for k in dp) != sum(st['counters'].values()):
    bad.append("the data-plane series do not sum to the stats counters")
for name, series in labels.items():
    if m.get(series) != st['counters'][name]:
        bad.append(f"{series} = {m.get(series)}, stats {name} = {st['counters'][name]}")
for name, v in st['daemon'].items():
    if isinstance(v, int) and f'psoffload_daemon_{name}_total' in m and m[f'psoffload_daemon_{name}_total'] != v:
        bad.append(f"psoffload_daemon_{name}_total = {m[f'psoffload_daemon_{name}_total']}, stats {v}")
for state, v in st['daemon']['sessions_by_state'].items():
    if m.get(f'psoffload_sessions{{state={state}}}') != v:
        bad.append(f"sessions {state}: {m.get(f'psoffload_sessions{{state={state}}}')} vs {v}")
for t in st['topics']:
    key = f"psoffload_topic_messages_total{{topic={t['name']},topic_id={t['topic_id']}}}"
    if key in m and m[key] != t['msgs']:
        bad.append(f"{key} = {m[key]}, stats {t['msgs']}")
if m.get('psoffload_daemon_rx_msgs_total', 0) < 1 or m.get('psoffload_control_messages_received_total{type=CONNECT}', 0) < 2:
    bad.append("the daemon's counters did not move")
if m.get('psoffload_topics_exported') != min(2, len(st['topics'])):
    bad.append(f"--metrics-topics=2: {m.get('psoffload_topics_exported')} topics exported")
if m.get('psoffload_interface_info{interface=b0,driver=veth,profile=veth,mode=skb,host_mode=skb,state=up}') != 1:
    bad.append("no interface_info for b0 in skb mode")
if m.get('psoffload_table_entries{table=clients}') != 2:
    bad.append(f"table_entries clients = {m.get('psoffload_table_entries{table=clients}')}")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
	grep -E '^psoffload_(dataplane_packets_total\{path="xdp",outcome="tx"|sessions\{state="active"|topic_messages_total)' \
		"$tmp/metrics.txt" | head -n 4 | while read -r l; do info "$l"; done
	return $rc
}

t_stop() {
	stop_subs
	stop_broker
	[ "$broker_rc" = 0 ] || fail_with "the broker exited $broker_rc" || return 1
	[ ! -e "$SOCK" ] || fail_with "$SOCK outlived the broker" || return 1
	local out
	out=$(ops status 2>&1)
	[ $? -eq 1 ] && grep -q "no broker named $NAME is running" <<<"$out" ||
		fail_with "status with no broker: '$out'"
}

# ---- the run ------------------------------------------------------------------

echo "# lab $LAB_ID"
if ! lab_up "$pass_obj"; then
	lab_down
	run_test "the veth lab comes up" fail_with "lab_up failed"
else
	run_test "a stale control socket is replaced" t_stale_socket
	run_test "the broker under ip netns exec mounts a bpffs and starts" t_start
	if [ -n "$broker_pid" ]; then
		run_test "the control socket is root's alone (0600)" t_socket_mode
		run_test "a publish is delivered" t_publish
		run_test "status from another ip netns exec" t_status
		run_test "clients: table, --json, --state" t_clients
		run_test "sessions" t_sessions
		run_test "topics: table, --match" t_topics
		run_test "subscriptions [TOPIC]" t_subscriptions
		run_test "stats --watch and topics --watch: rates" t_watch
		run_test "a slow peer on the socket stalls nobody" t_slow_peer
		run_test "a second broker of the same name is refused" t_second_broker
		run_test "/metrics parses and matches stats --json" t_metrics
		run_test "stop: the socket goes, status says no broker" t_stop
	fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
