#!/usr/bin/env bash
# test_recycle.sh BUILD - topic ids come back (--topic-idle), in the veth
# lab of lab.sh, drv and skb mode, with a store:
#   - 5,000 distinct topic names registered by 5 clients in two rounds
#     (3,000, then 2,000 after the first round's clients left), in a
#     topic table of 4,095 usable ids (--max-topics=4096): every REGACK is
#     accepted, the idle topics are freed (status: topics freed, the table
#     empty), the second round gets ids of the first back, and a new name
#     is accepted after everyone left;
#   - the store agrees: the freed topics are deleted from it, and a broker
#     started again on it restores none of them, but the one a kept
#     session registered;
#   - a QoS 0 publish to a freed id is answered "invalid topic id";
#   - `psoffload topics` lists no freed topic, /metrics counts them.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, jq, python3, sqlite3, iproute2.
#
# Environment: PSO_TEST_ONLY=ERE (only the tests whose name matches),
# PSO_RECYCLE_MODES (default "drv skb").
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-recycle.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
NAME=rcy-$LAB_ID
PIN=/sys/fs/bpf/rcy-$LAB_ID
STORE=$work/store.db
METRICS=127.0.0.1:$((20000 + $$ % 20000))
IDLE=2			# --topic-idle for the test
MODES=${PSO_RECYCLE_MODES:-drv skb}

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=()
diag=$work/diag

# shellcheck source=harness.sh
. "$here/harness.sh"

trap lab_cleanup EXIT
lab_preflight jq python3 sqlite3 ip nsenter curl

# ---- helpers -------------------------------------------------------------------

ops() { "$psoffload" "$@" --name="$NAME"; }
status_json() { ops status --json 2>/dev/null; }
topics_used() { status_json | jq -r '.tables.topics.used'; }
topics_freed() { status_json | jq -r '.tables.topics.freed // 0'; }
freed_at_least() { [ "$(topics_freed)" -ge "$1" ] 2>/dev/null; }
table_empty() { [ "$(topics_used)" = 0 ]; }
# every freed id free again (their quarantine over)
none_quarantined() { [ "$(status_json | jq -r '.tables.topics.quarantined')" = 0 ]; }
scrape() { nsenter --net="$(lab_ns "$NS_B")" curl -s -m 5 "http://$METRICS/metrics"; }
metrics_freed() { scrape | grep -qE '^psoffload_daemon_topics_freed_total [1-9]'; }
store_topics() { sqlite3 "$STORE" "SELECT count(*) FROM topics" 2>/dev/null; }
store_has() { [ "$(store_topics)" = "$1" ]; }	# not while the broker runs
regmany() {	# regmany CLIENTS PER PREFIX: the ids given, one a line
	nsenter --net="$(lab_ns "$NS_PUB")" python3 "$here/regmany.py" "$BROKER4" "$@"
}

# start_broker MODE LOG: the broker on b0 and b1.  Every lab client is
# trusted (no address challenge) and not rate-limited: 5,000 REGISTERs come
# from one address within a second.
start_broker() {
	stop_broker	# one a failed test left
	broker_log=$2
	: >"$broker_log"
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" -v --mode="$1" --name="$NAME" \
		--pin-dir="$PIN" --store="sqlite:$STORE" --metrics="$METRICS" \
		--topic-idle=$IDLE --trusted=10.77.0.0/16 --control-rate=0 --connect-rate=0 \
		--max-topics=4096 b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 20 grep -q "serving MQTT-SN" "$broker_log"; then
		note "the daemon did not start:"
		tail -n 5 "$broker_log" | sed 's/^/  /' >>"$diag"
		kill -0 "$broker_pid" 2>/dev/null && stop_broker
		broker_pid=
		return 1
	fi
}

# ---- the test -------------------------------------------------------------------

t_ids_come_back() {
	local mode=$1 a=$work/ids.a b=$work/ids.b c=$work/ids.c n reused t0
	rm -f "$STORE"
	start_broker "$mode" "$work/broker.$mode.log" || return 1
	t0=$SECONDS

	# Round 1: 3 clients, 1,000 names each, then they leave.
	regmany 3 1000 ra >"$a" 2>"$work/reg.err" ||
		fail_with "round 1: $(cat "$work/reg.err")" || return 1
	n=$(sort -un "$a" | wc -l)
	[ "$n" -eq 3000 ] || fail_with "round 1: $n distinct ids for 3,000 names" || return 1
	wait_for 30 freed_at_least 3000 ||
		fail_with "round 1: $(topics_freed) topics freed after 30 s, not 3,000" || return 1
	wait_for 10 table_empty ||
		fail_with "round 1: $(topics_used) topics still in the table" || return 1
	ops status | grep -qE "^  topics +0 / [0-9]+ +\(3000 idle freed" ||
		fail_with "status: $(ops status | grep -E '^  topics')" || return 1
	grep -qE "idle topics freed \(idle ${IDLE}s\)" "$broker_log" ||
		fail_with "no 'idle topics freed' line in the log" || return 1
	# A publish to a freed id: the data plane passes it up as an unknown
	# topic, and the client hears "invalid topic id" (0x02).
	n=$(regmany publish "$(head -n 1 "$a")" 2>&1)
	[ "$n" = 2 ] || fail_with "a QoS 0 publish to freed id $(head -n 1 "$a"): PUBACK '$n', not 2" ||
		return 1
	wait_for 10 none_quarantined ||
		fail_with "round 1: ids still in quarantine after 10 s: $(status_json | jq -c .tables.topics)" ||
		return 1

	# Round 2: 2,000 new names; 4,095 ids in all, so ids of round 1
	# come back (after their quarantine).
	regmany 2 1000 rb >"$b" 2>"$work/reg.err" ||
		fail_with "round 2: $(cat "$work/reg.err")" || return 1
	reused=$(sort -un "$a" "$b" | wc -l)
	reused=$((3000 + 2000 - reused))
	[ "$reused" -ge 905 ] ||
		fail_with "round 2: only $reused ids of round 1 given again (at least 905 must be)" ||
		return 1
	wait_for 30 freed_at_least 5000 ||
		fail_with "round 2: $(topics_freed) topics freed in all, not 5,000" || return 1
	wait_for 10 table_empty || fail_with "round 2: $(topics_used) topics left" || return 1

	# After everyone left: a new name is accepted, by a kept session
	# (which keeps it from being freed).
	regmany 1 1 rc keep >"$c" 2>"$work/reg.err" ||
		fail_with "the last name: $(cat "$work/reg.err")" || return 1
	info "$mode: 5,001 names, $reused ids reused, $(topics_freed) freed, $((SECONDS - t0)) s"

	# Seen by the operator: metrics.
	wait_for 10 metrics_freed || fail_with "/metrics: $(scrape | grep -c .) lines," \
		"$(scrape | grep topics_freed || echo no psoffload_daemon_topics_freed_total)" || return 1

	# The store agrees (read once the broker let go of it: it holds the
	# file locked): only the kept session's topic is left, and a new
	# broker on it restores nothing freed.
	stop_broker
	store_has 1 || fail_with "the store holds $(store_topics) topics, not 1" || return 1
	start_broker "$mode" "$work/broker.$mode.2.log" || return 1
	n=$(ops topics --json | jq '[.topics[] | select(.name | test("^r[ab]/"))] | length')
	[ "$n" = 0 ] || fail_with "$n freed topics restored from the store" || return 1
	n=$(ops topics --json | jq '[.topics[] | select(.name | test("^rc/"))] | length')
	[ "$n" = 1 ] || fail_with "the topic still in the store was not restored ($n)" || return 1
	stop_broker
}

for mode in $MODES; do
	run_test "ids come back ($mode): 5,000 names, freed, reused, store agrees" \
		t_ids_come_back "$mode"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
