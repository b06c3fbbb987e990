#!/usr/bin/env bash
# test_store.sh BUILD - end-to-end tests of the session store (--store), in
# the veth lab of lab.sh:
#   - a CleanSession=0 subscriber, its registrations and a retained message
#     survive a daemon restart (SIGTERM, then a new daemon on the same
#     store): the subscriber, still running and doing nothing, gets the
#     publishes sent after the restart; topic ids are the same; a new
#     subscriber gets the retained message;
#   - a QoS 1 message not acknowledged before the restart is delivered
#     after it, when its client connects again;
#   - a file that is not a store (not SQLite, a newer schema) stops the
#     start with one line and exit 1, and is left as it was; --store-reset
#     sets it aside (kept byte for byte) and starts empty;
#   - status, status --json and /metrics show the store and its last write;
#   - --store=none keeps nothing across a restart;
#   - restart time with 10,000 clients and 4,000 topics in the store
#     (`psoffload restart`: the exec'd daemon loads every session and
#     topic back), side by side with the same restart without a store:
#     reported, and bounded (SCALE_BOUND_MS, the load SCALE_LOAD_BOUND_MS);
#     every client, topic and subscription is there after it.  4,000
#     topics: the default build's topic table has 4,095 usable ids
#     (PSO_MAX_TOPICS).
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, sqlite3, curl, jq and python3.  PSO_TEST_ONLY=ERE runs only
# matching tests; PSO_STORE_CLIENTS=N, PSO_STORE_TOPICS=N size the scale
# test (10000 and 4000).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-store.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
NAME=pso-store-$LAB_ID
PIN=/sys/fs/bpf/psoffload-store-$LAB_ID
STORE=$work/state/broker.db
METRICS=127.0.0.1:9471
SCALE_CLIENTS=${PSO_STORE_CLIENTS:-10000}
SCALE_TOPICS=${PSO_STORE_TOPICS:-4000}
# The restart with them, from the command to the new daemon serving, and
# the store's part of it (loading every record): 4.8 s and 0.27 s measured
# on the shared two-core VM at load 7, 6.0 s without a store in the same
# run (docs/BENCHMARKS.md); the bounds leave room for a busier machine.
SCALE_BOUND_MS=20000
SCALE_LOAD_BOUND_MS=3000

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
	rm -rf "$PIN" "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "test_store: must run as root (namespaces, XDP, bpffs); got uid $(id -u)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for f in "$psoffload" "$pass_obj"; do
	if [ ! -e "$f" ]; then
		echo "test_store: $build/$(basename "$f") (or its tests/ counterpart) missing: run make first" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
for tool in sqlite3 curl jq python3; do
	if ! command -v $tool >/dev/null; then
		echo "test_store: $tool is needed (tests/install-deps.sh installs it)" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

in_b() { nsenter --net="$(lab_ns "$NS_B")" "$@"; }
ops() { "$psoffload" "$@" --name="$NAME"; }

# start_broker LOG ARGS...: the broker on b0, b1 (with --store=... among ARGS).
start_broker() {
	broker_log=$1
	shift
	: >"$broker_log"
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" -v --mode=skb --name="$NAME" \
		--pin-dir="$PIN" --retry-interval=30 "$@" b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 10 grep -q "serving MQTT-SN" "$broker_log"; then
		note "the daemon did not start (psoffload $*):"
		sed 's/^/  /' "$broker_log" >>"$diag"
		kill -0 "$broker_pid" 2>/dev/null && stop_broker
		broker_pid=
		return 1
	fi
}

has_subscription() { ops subscriptions 2>/dev/null | grep -qE "^$1 +[a-z]+ +$2 "; }
session_field() {	# session_field ID FIELD
	ops sessions --json 2>/dev/null | jq -r --arg id "$1" --arg f "$2" \
		'.sessions[] | select(.client_id == $id) | .[$f]'
}
outbox_is() { [ "$(session_field "$1" outbox)" = "$2" ]; }
st_topics() {
	ops topics --json | jq -c '[.topics[] | select(.name | startswith("st/")) | [.name, .topic_id]]'
}
pub() { nsenter --net="$(lab_ns "$NS_PUB")" "$psoffload" pub -h "$BROKER4" "$@"; }
sessions_in_file() { sqlite3 "$STORE" "SELECT client_id || ':' || connected FROM sessions ORDER BY 1"; }

# ---- the tests ----------------------------------------------------------------

# A persistent subscriber across both ways a broker goes: `psoffload
# restart` (the next daemon, exec'd, reloads the store and adopts the data
# plane: the subscriber keeps running and needs to do nothing, topic ids and
# the retained message are the same), then SIGTERM (every client is told
# DISCONNECT; the store keeps the persistent session offline, and the same
# client id connecting again with CleanSession 0 resumes it, subscriptions
# and all, from the new daemon).
t_session_survives() {
	local out=$tmp/keep.out before after rc=0 got id
	start_broker "$tmp/broker1.log" --store="sqlite:$STORE" --metrics="$METRICS" || return 1
	[ -f "$STORE" ] || fail_with "$STORE was not created (nor its directory)" || return 1
	: >"$out"
	# keep-alive 60 s: no PINGREQ falls into the restart
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h "$BROKER4" -c -I keep-1 -k 60 \
		-t st/a -t 'st/f/#' -q 1 -v >"$out" 2>"$tmp/keep.err" &
	sub_pids+=("$!")
	local sub=$!
	wait_for 10 has_subscription keep-1 st/a ||
		fail_with "keep-1 never subscribed: $(cat "$tmp/keep.err")" || return 1
	pub -t st/a -m before -I pub-1 || fail_with "pub before failed" || return 1
	pub -t st/r -r -m kept -I pub-2 || fail_with "retained pub failed" || return 1
	pub -t st/f/x -m filtered -I pub-3 || fail_with "pub st/f/x failed" || return 1
	wait_for 5 grep -qx "st/f/x filtered" "$out" ||
		fail_with "before the restart the subscriber got: $(cat "$out")" || return 1
	before=$(st_topics)
	info "topics before: $before"

	got=$(ops restart 2>&1) || fail_with "psoffload restart: $got" || return 1
	wait_for 20 grep -q "restart: the new daemon serves" "$broker_log" ||
		fail_with "no new daemon after the restart" || return 1
	grep -qE "1 session \(1 connected\), [3-9] topics, 1 retained message restored" "$broker_log" ||
		{ note "no restore line after the restart: $(grep 'store' "$broker_log")"; rc=1; }
	after=$(st_topics)
	[ "$before" = "$after" ] || { note "topic ids changed across the restart: $before -> $after"; rc=1; }
	pub -t st/a -m after-restart -I pub-4 || fail_with "pub after failed" || return 1
	pub -t st/f/y -m new-topic -I pub-5 || fail_with "pub st/f/y failed" || return 1
	wait_for 5 grep -qx "st/a after-restart" "$out" ||
		{ note "after the restart the subscriber got: $(tr '\n' '|' <"$out")"; rc=1; }
	wait_for 5 grep -qx "st/f/y new-topic" "$out" ||
		{ note "a new topic of its filter never reached it: $(tr '\n' '|' <"$out")"; rc=1; }
	kill -0 "$sub" 2>/dev/null || { note "the subscriber exited: $(cat "$tmp/keep.err")"; rc=1; }

	# SIGTERM: told, so it goes; its session stays in the file, offline.
	before=$(st_topics)
	stop_broker
	[ "$broker_rc" = 0 ] || { note "the daemon exited $broker_rc on SIGTERM"; rc=1; }
	wait_for 5 gone "$sub" || { note "the subscriber was not told DISCONNECT"; rc=1; }
	[ "$(sessions_in_file)" = "keep-1:0" ] ||
		fail_with "the store file holds sessions '$(sessions_in_file)', not keep-1:0" || return 1
	[ "$(sqlite3 "$STORE" "SELECT payload FROM retained")" = kept ] ||
		fail_with "no retained message in the file" || return 1
	start_broker "$tmp/broker2.log" --store="sqlite:$STORE" --metrics="$METRICS" || return 1
	grep -qE "1 session \(0 connected\), [3-9] topics, 1 retained message restored" "$broker_log" ||
		{ note "no restore line: $(grep 'store' "$broker_log")"; rc=1; }
	[ "$before" = "$(st_topics)" ] || { note "topic ids changed: $before -> $(st_topics)"; rc=1; }
	# The same client id, CleanSession 0, no topic named: its session's
	# subscriptions bring it the next publish.
	: >"$out"
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h "$BROKER4" -c -I keep-1 -k 60 \
		-q 1 -v -C 1 -W 10 >"$out" 2>"$tmp/keep2.err" &
	sub=$!
	sub_pids+=("$sub")
	wait_for 10 grep -q "client keep-1 connected" "$broker_log" ||
		fail_with "keep-1 did not come back: $(cat "$tmp/keep2.err")" || return 1
	wait_for 5 sh -c "$psoffload sessions --name=$NAME --json | jq -e '.sessions[] | select(.client_id == \"keep-1\" and .state == \"active\")' >/dev/null" ||
		{ note "keep-1 not active again"; rc=1; }
	pub -t st/a -m after-stop -I pub-6 || fail_with "pub after the stop failed" || return 1
	wait_for 10 gone "$sub" || { note "the resumed subscriber got nothing: $(cat "$tmp/keep2.err")"; rc=1; }
	# This new process knows the topic by the id its session was given.
	id=$(jq -r '.[] | select(.[0] == "st/a") | .[1]' <<<"$before")
	grep -qx "$id after-stop" "$out" || { note "the resumed subscriber got '$(cat "$out")'"; rc=1; }
	got=$(nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" sub -h "$BROKER4" -t st/r -v -C 1 -W 5 2>&1)
	[ "$got" = "st/r kept" ] || { note "a new subscriber of st/r got '$got'"; rc=1; }
	return $rc
}

# The running broker's status shows the store and its last write.
t_status() {
	local out rc=0 rev
	out=$(ops status 2>&1) || fail_with "status: $out" || return 1
	grep -qE "^Store: sqlite:$STORE, revision [0-9]+, last write [0-9.]+ s ago \([0-9]+ commits, 0 errors\)$" <<<"$out" ||
		{ note "no Store line in: $out"; rc=1; }
	info "$(grep '^Store:' <<<"$out")"
	rev=$(ops status --json | jq -r '.store.revision')
	[ "$rev" -gt 0 ] 2>/dev/null || { note "status --json .store.revision: '$rev'"; rc=1; }
	[ "$(ops status --json | jq -r '.store.loaded.sessions')" = 1 ] ||
		{ note "status --json .store.loaded: $(ops status --json | jq -c .store.loaded)"; rc=1; }
	out=$(in_b curl -sf "http://$METRICS/metrics") || fail_with "cannot scrape $METRICS" || return 1
	grep -q "^psoffload_store_info{store=\"sqlite:$STORE\",persistent=\"yes\"} 1$" <<<"$out" ||
		{ note "no psoffload_store_info"; rc=1; }
	grep -qE '^psoffload_store_operation_duration_seconds_count\{operation="commit"\} [1-9]' <<<"$out" ||
		{ note "no commit latency: $(grep store_operation <<<"$out" | head -3)"; rc=1; }
	grep -qE '^psoffload_store_operation_duration_seconds_count\{operation="load"\} 1$' <<<"$out" ||
		{ note "no load latency"; rc=1; }
	return $rc
}

# A QoS 1 message its client never acknowledged before the restart is
# delivered after it, when the client connects again.
t_qos1_owed() {
	local out rc=0 sub id
	nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" sub -h "$BROKER4" -c -I owed-1 -k 60 \
		-t st/q -q 1 -v >/dev/null 2>&1 &
	sub=$!
	test_pids+=("$sub")
	wait_for 10 has_subscription owed-1 st/q || fail_with "owed-1 never subscribed" || return 1
	# gone without a word: the broker still thinks it connected
	kill -KILL "$sub"
	wait "$sub" 2>/dev/null
	forget_pid "$sub"
	pub -t st/q -q 1 -m owed-msg -I pub-6 || fail_with "QoS 1 pub failed" || return 1
	wait_for 5 outbox_is owed-1 1 ||
		fail_with "owed-1's outbox: '$(session_field owed-1 outbox)', not 1" || return 1
	stop_broker
	start_broker "$tmp/broker3.log" --store="sqlite:$STORE" || return 1
	[ "$(session_field owed-1 outbox)" = 1 ] ||
		{ note "after the restart owed-1's outbox is '$(session_field owed-1 outbox)'"; rc=1; }
	# the same client id, a new endpoint, no -t: the session resumes (this
	# new process knows the topic by the id its session was given)
	id=$(ops topics --json | jq -r '.topics[] | select(.name == "st/q") | .topic_id')
	out=$(nsenter --net="$(lab_ns "$NS_S2")" "$psoffload" sub -h "$BROKER4" -c -I owed-1 -q 1 \
		-v -C 1 -W 10 2>&1)
	[ "$out" = "$id owed-msg" ] || { note "owed-1 got '$out' after the restart, not '$id owed-msg'"; rc=1; }
	wait_for 5 outbox_is owed-1 0 || { note "owed-1's outbox did not empty"; rc=1; }
	stop_broker
	return $rc
}

# expect_refused LOG WORDS ARGS...: the broker exits 1 at once with one
# error line containing WORDS, and attaches nothing.
expect_refused() {
	local log=$1 words=$2 rc=0 lines
	shift 2
	in_b timeout 20 "$psoffload" --mode=skb --name="$NAME" --pin-dir="$PIN" "$@" b0 b1 >"$log" 2>&1
	rc=$?
	[ $rc = 1 ] || { note "exit $rc, not 1: $(cat "$log")"; return 1; }
	lines=$(wc -l <"$log")
	[ "$lines" = 1 ] || { note "$lines lines, not one: $(cat "$log")"; return 1; }
	grep -q "^psoffload: store .*$words" "$log" || { note "no '$words' in: $(cat "$log")"; return 1; }
	grep -q -- "--store-reset" "$log" || { note "no hint of --store-reset: $(cat "$log")"; return 1; }
	! in_b ip link show b0 | grep -q xdp || { note "b0 has an XDP program after the refusal"; return 1; }
	info "$(cut -c1-150 "$log")"
}

# Not a store: refused and left as it was; --store-reset keeps it aside.
t_unusable_file() {
	local bad=$work/bad/state.db rc=0 aside
	mkdir -p "$work/bad"
	head -c 8192 /dev/urandom >"$bad"
	cp "$bad" "$work/bad.orig"
	expect_refused "$tmp/refused1.log" "not an SQLite database" --store="sqlite:$bad" || return 1
	cmp -s "$bad" "$work/bad.orig" || fail_with "the refused file was changed" || return 1
	start_broker "$tmp/reset.log" --store="sqlite:$bad" --store-reset || return 1
	grep -q "set aside as $bad.set-aside-" "$broker_log" || { note "no set-aside line"; rc=1; }
	[ "$(ops status --json | jq -r '.store.loaded.sessions')" = 0 ] || { note "not empty"; rc=1; }
	stop_broker
	aside=$(ls "$bad".set-aside-* 2>/dev/null | grep -v -- '-wal$' | head -n 1)
	[ -n "$aside" ] && cmp -s "$aside" "$work/bad.orig" ||
		{ note "the set-aside copy is not the original: '$aside'"; rc=1; }
	return $rc
}

# A store of a newer schema: refused, untouched.
t_newer_schema() {
	local sum
	sqlite3 "$STORE" "UPDATE schema_version SET version = 99" || fail_with "sqlite3 failed" || return 1
	sum=$(md5sum <"$STORE")
	expect_refused "$tmp/refused2.log" "newer psoffload (schema version 99" \
		--store="sqlite:$STORE" || return 1
	[ "$(md5sum <"$STORE")" = "$sum" ] || fail_with "the refused store was changed"
	sqlite3 "$STORE" "UPDATE schema_version SET version = 2"
}

# --store=none: nothing outlives the process.
t_none() {
	local rc=0
	start_broker "$tmp/none1.log" --store=none || return 1
	grep -q "store: none" "$broker_log" || { note "no 'store: none' line"; rc=1; }
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h "$BROKER4" -c -I vol-1 -k 60 \
		-t st/v >/dev/null 2>&1 &
	test_pids+=("$!")
	wait_for 10 has_subscription vol-1 st/v || fail_with "vol-1 never subscribed" || return 1
	stop_broker
	start_broker "$tmp/none2.log" --store=none || return 1
	[ -z "$(session_field vol-1 state)" ] || { note "vol-1 came back with --store=none"; rc=1; }
	ops status | grep -q "^Store: none (nothing outlives the broker)$" ||
		{ note "status: $(ops status | grep Store)"; rc=1; }
	stop_broker
	return $rc
}

# Restart time with SCALE_CLIENTS clients (each subscribed to one of
# SCALE_TOPICS topics) in the store: `psoffload restart`, timed from the
# command to the new daemon's "serves" line, with SPEC as the store
# (sqlite: the bound applies; none: the same restart without a store, for
# comparison); the store's own load time and the exec-to-serving time
# reported.  Everything is back after it.
ms_now() { echo $(($(date +%s%N) / 1000000)); }
t_scale() {
	local spec=$1 mc out js t0 t1 ms load rc=0
	local scale_store=$work/state/scale.db
	rm -f "$scale_store"*
	[ "$spec" = sqlite ] && spec=sqlite:$scale_store
	start_broker "$tmp/scale.log" --store="$spec" --connect-rate=0 --control-rate=0 || return 1
	coproc MC { nsenter --net="$(lab_ns "$NS_S1")" python3 "$here/manyclients.py" "$BROKER4" \
		"$SCALE_CLIENTS" "$SCALE_TOPICS" 2>&1; }
	mc=$MC_PID
	test_pids+=("$mc")
	read -r -t 180 out <&"${MC[0]}" || fail_with "the clients did not come: $out" || return 1
	[[ $out == ready* ]] || fail_with "the clients: $out" || return 1
	info "$SCALE_CLIENTS clients and $SCALE_TOPICS topics in $(cut -d' ' -f4 <<<"$out") s"
	t0=$(ms_now)
	out=$(ops restart --timeout=60 2>&1) || fail_with "psoffload restart: $out" || return 1
	wait_for 60 grep -q "restart: the new daemon serves" "$broker_log" ||
		fail_with "no new daemon after the restart" || return 1
	t1=$(ms_now)
	ms=$((t1 - t0))
	info "--store=${spec%%:*}: restart ${ms} ms to serving; $(grep -o 'serves [0-9]* ms after the exec' "$broker_log")"
	if [ "${spec%%:*}" = sqlite ]; then
		load=$(grep -o '[0-9]* sessions ([0-9]* connected), [0-9]* topics, .* restored in [0-9]* ms' \
			"$broker_log" | tail -n 1)
		info "store: $load; bounds ${SCALE_BOUND_MS} ms, the load ${SCALE_LOAD_BOUND_MS} ms"
		[ "$ms" -le "$SCALE_BOUND_MS" ] || { note "the restart took $ms ms, over $SCALE_BOUND_MS"; rc=1; }
		load=${load##* in }
		[ -n "$load" ] && [ "${load% ms}" -le "$SCALE_LOAD_BOUND_MS" ] ||
			{ note "the store's load took '$load', over $SCALE_LOAD_BOUND_MS ms"; rc=1; }
		js=$(ops status --json)
		[ "$(jq -r .store.loaded.sessions <<<"$js")" = "$SCALE_CLIENTS" ] ||
			{ note "sessions loaded: $(jq -c .store.loaded <<<"$js")"; rc=1; }
	fi
	js=$(ops status --json)
	[ "$(jq -r .tables.clients.used <<<"$js")" = "$SCALE_CLIENTS" ] ||
		{ note "clients after: $(jq -c .tables <<<"$js")"; rc=1; }
	# The clients' topics, and the broker's own address check's $pso/v.
	[ "$(jq -r .tables.topics.used <<<"$js")" = $((SCALE_TOPICS + 1)) ] ||
		{ note "topics after: $(jq -c .tables <<<"$js")"; rc=1; }
	[ "$(jq -r .tables.subscribers.used <<<"$js")" = "$SCALE_CLIENTS" ] ||
		{ note "subscribers after: $(jq -c .tables <<<"$js")"; rc=1; }
	stop_test_pids
	stop_broker
	rm -f "$scale_store"*
	return $rc
}

lab_up "$pass_obj" || { echo "test_store: cannot build the lab"; echo "0 passed, 1 failed"; exit 1; }

run_test "a persistent session, registrations and a retained message survive a restart" t_session_survives
run_test "status, status --json and /metrics show the store" t_status
stop_subs
run_test "a QoS 1 message unacknowledged before a restart is delivered after it" t_qos1_owed
stop_broker
run_test "a file that is not a store is refused and kept; --store-reset sets it aside" t_unusable_file
run_test "a store of a newer schema is refused and kept" t_newer_schema
run_test "--store=none keeps nothing" t_none
run_test "restart with $SCALE_CLIENTS clients and $SCALE_TOPICS topics, no store (to compare)" t_scale none
run_test "restart with $SCALE_CLIENTS clients and $SCALE_TOPICS topics in the store" t_scale sqlite

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
