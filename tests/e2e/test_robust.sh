#!/usr/bin/env bash
# test_robust.sh BUILD - robust start and stop of the broker daemon in the
# veth lab of lab.sh (skb mode):
#   - a pin directory belongs to one live broker, by its full canonical path:
#     a second broker on it (spelt another way) exits with one line naming
#     the owner's pid and leaves its pins alone; two directories of one base
#     name are two brokers; a broker that died blocks nobody;
#   - interface names too long, named twice, or one interface by two names
#     (an altname): one line, non-zero exit, nothing attached;
#   - a NIC profile that is empty: one line naming file:line, nothing attached;
#   - SIGTERM: every connected client, direct or behind a forwarder, gets a
#     DISCONNECT within the bound, then the daemon exits 0;
#   - the status document in /run/psoffload is live (a kept session's
#     expiry, which moves no occupancy, shows within a second).
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Exits
# non-zero if any test failed.  Needs root, jq, python3, flock, iproute2.
#
# Environment: PSO_TEST_ONLY=ERE (only the tests whose name matches),
# PSO_BYE_CLIENTS=N (direct clients of the SIGTERM scale test, default 2000).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-robust.XXXXXX)
# Private copies of the build outputs: a concurrent rebuild of BUILD cannot
# swap a binary in the middle of the run.
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
PIN=/sys/fs/bpf/pso-robust-$LAB_ID
BYE_CLIENTS=${PSO_BYE_CLIENTS:-2000}

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=()		# clients and extra daemons of the running test
diag=$work/diag
tmp=$work

# shellcheck source=harness.sh
. "$here/harness.sh"
# shellcheck source=runfile.sh
. "$here/runfile.sh"

cleanup() {
	stop_test_pids
	stop_broker
	lab_down
	# Pins and run files of a daemon that could not remove them itself.
	rm -rf "$PIN"*
	rm -f "$(run_file "$PIN" lock)" "$(run_file "$PIN-dead" lock)" \
		"/run/psoffload/${PIN##*/}"*.json "/run/psoffload/pso-robust-$LAB_ID"-*.json
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
for tool in jq python3 flock ip tc nsenter; do
	command -v $tool >/dev/null || bail "$tool is not installed"
done
lab_up "$pass_obj" >"$work/lab.err" 2>&1 || { sed 's/^/# /' "$work/lab.err"; bail "cannot build the veth lab"; }

# ---- helpers -------------------------------------------------------------------

expect() {
	[ "$2" = "$3" ] && return 0
	note "$1: expected '$2', got '$3'"
	return 1
}

# daemon NS LOG ARGS...: a daemon in NS in the background (info level, so a
# refusal is its only line); sets dpid.  The lab's networks are trusted: the
# raw clients of the shutdown tests never answer the address check, and an
# unproven client's budget (3x what it sent) may not hold its DISCONNECT.
daemon() {
	local ns=$1 log=$2
	shift 2
	: >"$log"
	nsenter --net="$(lab_ns "$ns")" "$psoffload" --store=none --mode=skb \
		--trusted=10.77.0.0/16,fd77::/16 "$@" >"$log" 2>&1 &
	dpid=$!
	test_pids+=("$dpid")
}
serving() { grep -q "serving MQTT-SN" "$1"; }
serving_or_gone() { serving "$2" || gone "$1"; }
# wait_serving PID LOG: it serves (returns 1, noting the log, if it died).
wait_serving() {
	if ! wait_for 15 serving_or_gone "$1" "$2" || ! serving "$2"; then
		note "the daemon did not start:"
		sed 's/^/  /' "$2" >>"$diag"
		return 1
	fi
}

# refused PID LOG WHAT ERE: the daemon exits non-zero within 10 s having
# printed exactly one line, which matches ERE.
refused() {
	local pid=$1 log=$2 what=$3 ere=$4 rc
	if ! wait_gone "$pid" 10; then
		note "$what: still running after 10 s; its log:"
		sed 's/^/  /' "$log" | head -n 12 >>"$diag"
		return 1
	fi
	wait "$pid"
	rc=$?
	forget_pid "$pid"
	[ "$rc" -ne 0 ] || { note "$what: exit status 0"; return 1; }
	expect "$what: lines printed" 1 "$(wc -l <"$log")" || { sed 's/^/  /' "$log" >>"$diag"; return 1; }
	grep -qE -- "$ere" "$log" || { note "$what: expected /$ere/, got: $(cat "$log")"; return 1; }
}

# bare NS DEV: no XDP program and no ingress filter on DEV.
bare() {
	local out
	out=$(lab_run "$1" ip link show "$2")
	if grep -q xdp <<<"$out"; then
		note "$2 has an XDP program: $(grep xdp <<<"$out")"
		return 1
	fi
	out=$(lab_run "$1" tc filter show dev "$2" ingress)
	[ -z "$out" ] || { note "$2 has an ingress filter: $out"; return 1; }
}

pins_of() { ls -i "$1" 2>/dev/null | sort -k2; }

# status_json ARGS: `psoffload status --json ARGS` (over the control socket).
status_json() { lab_run "$NS_B" "$psoffload" status --json "$@"; }

# stop_daemon PID: SIGTERM, it exits 0 within 10 s.
stop_daemon() {
	local rc
	kill -TERM "$1"
	wait_gone "$1" 10 || { note "daemon $1 ignored SIGTERM for 10 s"; stop_pid "$1"; return 1; }
	wait "$1"
	rc=$?
	forget_pid "$1"
	expect "daemon $1 exit status" 0 "$rc"
}

# A quick publish/subscribe through the broker on b0: it still serves.
still_serves() {
	local out
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -t "$1" -C 1 -W 10 \
		>"$tmp/serve.out" 2>"$tmp/serve.err" &
	local spid=$!
	test_pids+=("$spid")
	wait_for 10 grep -q "client pso-sub-$spid subscribed" "$2" ||
		{ note "the check subscriber did not subscribe: $(cat "$tmp/serve.err")"; return 1; }
	out=$(lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -t "$1" -m "still here" 2>&1) ||
		{ note "pub failed: $out"; return 1; }
	wait_gone "$spid" 10 || { note "the check subscriber got nothing"; return 1; }
	expect "what the check subscriber got" "still here" "$(cat "$tmp/serve.out")"
}

# ---- 1. pin-directory ownership -------------------------------------------------

# A second broker on a live broker's pin directory, spelt another way, on
# another interface and port (so that nothing else stops it): refused with
# one line naming the owner; the owner's pins untouched, the owner serving.
# (Once: the second broker "replaced stale pin"s and, failing later,
# removed them.)
t_pin_owned() {
	local rc=0 a before after lock
	daemon "$NS_B" "$tmp/own-a.log" --pin-dir="$PIN" b0
	a=$dpid
	wait_serving "$a" "$tmp/own-a.log" || return 1
	before=$(pins_of "$PIN")
	lock=$(run_file "$PIN" lock)
	[ -e "$lock" ] || { note "no lock file $lock"; ls /run/psoffload >>"$diag"; rc=1; }
	# The lock is held: flock(1) cannot take it.
	if flock -n "$lock" true 2>/dev/null; then
		note "the lock $lock is not held while the broker runs"
		rc=1
	fi
	# Another name, so that its control socket would not stop it either.
	for spelling in "$PIN" "$PIN/." "$PIN//" "/sys/fs/bpf/../bpf/${PIN##*/}"; do
		daemon "$NS_B" "$tmp/own-b.log" --pin-dir="$spelling" --name="pso-robust-$LAB_ID-b" \
			--port=1884 b1
		refused "$dpid" "$tmp/own-b.log" "a second broker on $spelling" \
			"^psoffload: pin directory .* is in use by the broker with pid $a " || rc=1
		bare "$NS_B" b1 || rc=1
	done
	# Its own name too (what the pin directory gives): the lock speaks first.
	daemon "$NS_B" "$tmp/own-c.log" --pin-dir="$PIN/." --port=1884 b1
	refused "$dpid" "$tmp/own-c.log" "a second broker on $PIN/. (same name)" \
		"^psoffload: pin directory .* is in use by the broker with pid $a " || rc=1
	after=$(pins_of "$PIN")
	expect "the owner's pins (inode, name)" "$(tr '\n' ' ' <<<"$before")" "$(tr '\n' ' ' <<<"$after")" || rc=1
	still_serves own/t "$tmp/own-a.log" || rc=1
	stop_daemon "$a" || rc=1
	[ ! -e "$lock" ] || { note "the lock file stayed after the stop"; rc=1; }
	[ ! -e "$PIN" ] || { note "$PIN stayed after the stop"; rc=1; }
	return $rc
}

# Same base name, different directories: two brokers, each with its own
# status document.  (Once: keyed by the base name, the second was refused.)
t_pin_full_path() {
	local rc=0 a b
	mkdir -p "$PIN-a" "$PIN-b"
	# Two names: by default both would be "x" (the control socket's rule).
	daemon "$NS_B" "$tmp/full-a.log" --pin-dir="$PIN-a/x" --name="pso-robust-$LAB_ID-xa" b0
	a=$dpid
	wait_serving "$a" "$tmp/full-a.log" || return 1
	daemon "$NS_B" "$tmp/full-b.log" --pin-dir="$PIN-b/x" --name="pso-robust-$LAB_ID-xb" \
		--port=1884 b1
	b=$dpid
	wait_serving "$b" "$tmp/full-b.log" || rc=1
	expect "status of $PIN-a/x: pid" "$a" \
		"$(status_json --name="pso-robust-$LAB_ID-xa" | jq -r .broker.pid)" || rc=1
	expect "status of $PIN-b/x: pid" "$b" \
		"$(status_json --name="pso-robust-$LAB_ID-xb" | jq -r .broker.pid)" || rc=1
	expect "status of $PIN-b/x: pin_dir" "$PIN-b/x" \
		"$(status_json --name="pso-robust-$LAB_ID-xb" | jq -r .broker.pin_dir)" || rc=1
	stop_daemon "$a" || rc=1
	stop_daemon "$b" || rc=1
	rmdir "$PIN-a" "$PIN-b" 2>/dev/null
	return $rc
}

# A broker killed with SIGKILL leaves its pins and its lock file; the next
# one on the directory starts (the kernel dropped the lock), adopts the data
# plane the dead one left attached (crash recovery), and stops cleanly.
t_pin_dead_owner() {
	local rc=0 a c lock=$(run_file "$PIN-dead" lock)
	daemon "$NS_B" "$tmp/dead-a.log" --pin-dir="$PIN-dead" b1
	a=$dpid
	wait_serving "$a" "$tmp/dead-a.log" || return 1
	kill -KILL "$a"
	wait "$a" 2>/dev/null
	forget_pid "$a"
	[ -e "$lock" ] || { note "the dead broker left no lock file (expected one)"; rc=1; }
	daemon "$NS_B" "$tmp/dead-c.log" --pin-dir="$PIN-dead" b1
	c=$dpid
	wait_serving "$c" "$tmp/dead-c.log" || return 1
	grep -q "adopted the data plane of $PIN-dead" "$tmp/dead-c.log" ||
		{ note "the new broker did not adopt the dead one's data plane"; rc=1; }
	stop_daemon "$c" || rc=1
	[ ! -e "$PIN-dead" ] || { note "$PIN-dead stayed after the stop"; rc=1; }
	return $rc
}

# ---- 2. interface names ------------------------------------------------------------

# pso-long-name15 is 15 characters, with an address: a name it begins
# would once have been cut to it, and the broker would have served there.
t_ifnames() {
	local rc=0 long=pso-long-name15
	lab_run "$NS_B" ip link add $long type veth peer name pso-long-peer || return 1
	lab_run "$NS_B" ip addr add 10.77.9.1/24 dev $long
	lab_run "$NS_B" ip link set $long up
	lab_run "$NS_B" ip link set pso-long-peer up
	lab_run "$NS_B" ip link property add dev b1 altname psoaltb1 || { note "no altname support"; rc=1; }

	daemon "$NS_B" "$tmp/if1.log" --pin-dir="$PIN-if" "${long}X"
	refused "$dpid" "$tmp/if1.log" "a 16-character name" \
		"^psoffload: interface '${long}X': longer than 15 characters" || rc=1
	bare "$NS_B" $long || rc=1
	daemon "$NS_B" "$tmp/if2.log" --pin-dir="$PIN-if" b0 b1 b0
	refused "$dpid" "$tmp/if2.log" "b0 named twice" "^psoffload: interface b0 named twice$" || rc=1
	daemon "$NS_B" "$tmp/if3.log" --pin-dir="$PIN-if" b0 b1 psoaltb1
	refused "$dpid" "$tmp/if3.log" "b1 and its altname" \
		"^psoffload: b1 and psoaltb1 are one interface \(ifindex [0-9]+\): name it once$" || rc=1
	daemon "$NS_B" "$tmp/if4.log" --pin-dir="$PIN-if" b0 ""
	refused "$dpid" "$tmp/if4.log" "an empty name" "^psoffload: interface '': an empty interface name$" || rc=1
	for dev in b0 b1 $long; do bare "$NS_B" $dev || rc=1; done
	[ ! -e "$PIN-if" ] || { note "a refused start left $PIN-if"; rc=1; }
	lab_run "$NS_B" ip link property del dev b1 altname psoaltb1
	lab_run "$NS_B" ip link del $long
	return $rc
}

# ---- 3. profiles -------------------------------------------------------------------

t_profile_empty() {
	local rc=0 dir=$tmp/profiles
	rm -rf "$dir"
	cp -r "$work/nic-profiles" "$dir"
	: >"$dir/veth.ini"
	daemon "$NS_B" "$tmp/prof1.log" --pin-dir="$PIN-prof" --profiles-dir="$dir" b0
	refused "$dpid" "$tmp/prof1.log" "an empty veth.ini" \
		"^psoffload: $dir/veth.ini:1: empty profile" || rc=1
	rm "$dir/veth.ini"
	mkdir "$dir/veth.ini"
	daemon "$NS_B" "$tmp/prof2.log" --pin-dir="$PIN-prof" --profiles-dir="$dir" b0
	refused "$dpid" "$tmp/prof2.log" "veth.ini a directory" \
		"^psoffload: $dir/veth.ini: a directory, not a profile$" || rc=1
	rmdir "$dir/veth.ini"
	printf '[xdp]\nnative = yes\n[driver]\nmax_clients = 99999999\n' >"$dir/veth.ini"
	daemon "$NS_B" "$tmp/prof3.log" --pin-dir="$PIN-prof" --profiles-dir="$dir" b0
	refused "$dpid" "$tmp/prof3.log" "max_clients out of range" \
		"^psoffload: $dir/veth.ini:4: max_clients = 99999999 in \[driver\] is out of range: use 0..[0-9]+$" || rc=1
	bare "$NS_B" b0 || rc=1
	return $rc
}

# ---- 4. SIGTERM -----------------------------------------------------------------

# A few real subscribers (IPv4 and IPv6, both ports) and a forwarder's
# nodes: SIGTERM, and each hears DISCONNECT ("disconnected by broker")
# before the daemon is gone; the daemon exits 0, everything detached.
t_sigterm_few() {
	local rc=0 name t0 ms
	broker_log=$tmp/bye.log
	daemon "$NS_B" "$broker_log" --pin-dir="$PIN-bye" b0 b1
	broker_pid=$dpid
	forget_pid "$dpid"
	wait_serving "$broker_pid" "$broker_log" || return 1
	declare -A spid
	start_bye_sub() {
		nsenter --net="$(lab_ns "$2")" "$psoffload" sub -h "$3" -I "$1" -t bye/t -W 30 \
			>"$tmp/$1.out" 2>"$tmp/$1.err" &
		spid[$1]=$!
		test_pids+=("$!")
	}
	start_bye_sub bye-s1 "$NS_S1" $BROKER4
	start_bye_sub bye-s2 "$NS_S2" $BROKER6
	start_bye_sub bye-s3 "$NS_S3" $BROKER4_P2
	start_bye_sub bye-s3v6 "$NS_S3" $BROKER6_P2
	nsenter --net="$(lab_ns "$NS_PUB")" python3 "$here/byeclients.py" $BROKER4 0 3 10 \
		>"$tmp/bye-fwd.out" 2>&1 &
	local fwd=$!
	test_pids+=("$fwd")
	for name in bye-s1 bye-s2 bye-s3 bye-s3v6; do
		wait_for 10 grep -q "client $name subscribed" "$broker_log" ||
			{ note "$name did not subscribe"; return 1; }
	done
	wait_for 10 grep -q "^connected" "$tmp/bye-fwd.out" ||
		{ note "the forwarder's nodes did not connect: $(cat "$tmp/bye-fwd.out")"; return 1; }
	t0=$(date +%s%N)
	kill -TERM "$broker_pid"
	for name in bye-s1 bye-s2 bye-s3 bye-s3v6; do
		if ! wait_gone "${spid[$name]}" 5; then
			note "$name heard no DISCONNECT within 5 s"
			rc=1
			continue
		fi
		wait "${spid[$name]}"
		forget_pid "${spid[$name]}"
		grep -q "disconnected by broker" "$tmp/$name.err" ||
			{ note "$name: $(cat "$tmp/$name.err")"; rc=1; }
	done
	wait_gone "$fwd" 12 || { note "the forwarder is still waiting"; rc=1; }
	expect "the forwarder's nodes" "disconnects direct=0 nodes=3" \
		"$(sed -n 's/^\(disconnects direct=[0-9]* nodes=[0-9]*\).*/\1/p' "$tmp/bye-fwd.out")" || rc=1
	wait_gone "$broker_pid" 5 || { note "the daemon did not exit within 5 s of SIGTERM"; rc=1; }
	ms=$((($(date +%s%N) - t0) / 1000000))
	stop_broker
	expect "daemon exit status" 0 "$broker_rc" || rc=1
	grep -q "DISCONNECT sent to 7 clients" "$broker_log" ||
		{ note "log: $(grep 'DISCONNECT sent' "$broker_log")"; rc=1; }
	info "SIGTERM to exit: $ms ms; $(grep -o 'DISCONNECT sent .*' "$broker_log")"
	for dev in b0 b1; do bare "$NS_B" $dev || rc=1; done
	return $rc
}

# Thousands of clients: every one gets its DISCONNECT, paced, within the
# 1 s bound, and the daemon still exits promptly.  They all connect from
# one address at once: the per-source CONNECT rate is lifted (0: off).
t_sigterm_many() {
	local rc=0 t0 ms sent_ms
	broker_log=$tmp/bye-many.log
	daemon "$NS_B" "$broker_log" --pin-dir="$PIN-bye" --connect-rate=0 --control-rate=0 b0 b1
	broker_pid=$dpid
	forget_pid "$dpid"
	wait_serving "$broker_pid" "$broker_log" || return 1
	nsenter --net="$(lab_ns "$NS_S1")" python3 "$here/byeclients.py" $BROKER4 "$BYE_CLIENTS" 200 20 \
		>"$tmp/bye-many.out" 2>&1 &
	local many=$!
	test_pids+=("$many")
	wait_for 60 grep -qs "^connected\|^not connected" "$tmp/bye-many.out"
	grep -q "^connected" "$tmp/bye-many.out" ||
		{ note "the clients did not connect: $(cat "$tmp/bye-many.out")"; return 1; }
	t0=$(date +%s%N)
	kill -TERM "$broker_pid"
	wait_gone "$broker_pid" 10 || { note "the daemon did not exit within 10 s of SIGTERM"; rc=1; }
	ms=$((($(date +%s%N) - t0) / 1000000))
	stop_broker
	expect "daemon exit status" 0 "$broker_rc" || rc=1
	wait_gone "$many" 25 || { note "the clients are still waiting"; rc=1; }
	expect "the clients' DISCONNECTs" "disconnects direct=$BYE_CLIENTS nodes=200" \
		"$(sed -n 's/^\(disconnects direct=[0-9]* nodes=[0-9]*\).*/\1/p' "$tmp/bye-many.out")" || rc=1
	sent_ms=$(sed -n 's/.*DISCONNECT sent to [0-9]* clients in \([0-9]*\) ms.*/\1/p' "$broker_log")
	if [ -z "$sent_ms" ] || [ "$sent_ms" -gt 1000 ]; then
		note "DISCONNECTs not all sent within 1000 ms: $(grep 'DISCONNECT sent' "$broker_log")"
		rc=1
	fi
	info "$((BYE_CLIENTS + 200)) clients: $(grep -o 'DISCONNECT sent .*' "$broker_log"); SIGTERM to exit $ms ms; $(tail -n 1 "$tmp/bye-many.out")"
	return $rc
}

# ---- 5. live status ---------------------------------------------------------------

# A kept session (CleanSession 0) expires 2 s after its client left: the
# session count falls with no table occupancy moving, and the status
# document says so within a second.  (Once: rewritten only when the
# occupancy or the protocol counters moved, it showed 1 session for ever.)
t_status_live() {
	local rc=0 pin=$PIN-st
	broker_log=$tmp/st.log
	daemon "$NS_B" "$broker_log" --pin-dir="$pin" --session-expiry=2 b0
	broker_pid=$dpid
	forget_pid "$dpid"
	wait_serving "$broker_pid" "$broker_log" || return 1
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -I st-keep -c -t st/t -C 1 -W 10 \
		>"$tmp/st.out" 2>"$tmp/st.err" &
	local s=$!
	test_pids+=("$s")
	wait_for 10 grep -q "client st-keep subscribed" "$broker_log" || { note "no subscription"; return 1; }
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -t st/t -m one >/dev/null 2>&1
	wait_gone "$s" 10 || { note "the subscriber did not finish"; return 1; }
	# The file, not the control socket (which answers from a fresh snapshot).
	local file=/run/psoffload/${pin##*/}.json
	file_sessions() { jq -r .daemon.sessions "$file" 2>/dev/null; }
	sessions_are() { [ "$(file_sessions)" = "$1" ]; }
	wait_for 5 sessions_are 1 || { note "status never showed the kept session"; rc=1; }
	wait_for 10 grep -q "client st-keep.*session expired" "$broker_log" ||
		{ note "the kept session did not expire: $(grep st-keep "$broker_log" | tail -n 3)"; return 1; }
	# From the log line on, the document has a second to say so.
	local t0 now n
	t0=$(date +%s%N)
	while :; do
		n=$(file_sessions)
		now=$(date +%s%N)
		[ "$n" = 0 ] && break
		if [ $(((now - t0) / 1000000)) -gt 1000 ]; then
			note "$file still says $(jq -c '{sessions: .daemon.sessions, clients: .tables.clients}' "$file") 1 s after the expiry"
			rc=1
			break
		fi
		sleep 0.05
	done
	[ "$n" = 0 ] && info "the status document showed the expiry $(((now - t0) / 1000000)) ms after the log line"
	stop_broker
	return $rc
}

run_test "pin dir: a second broker (other spellings) is refused naming the owner's pid; pins untouched" t_pin_owned
run_test "pin dir: same base name, other parent: two brokers" t_pin_full_path
run_test "pin dir: a SIGKILLed broker's lock blocks nobody" t_pin_dead_owner
run_test "interfaces: too long, twice, by an altname, empty: one line, nothing attached" t_ifnames
run_test "profiles: empty, a directory, out of range: one line naming file:line" t_profile_empty
run_test "SIGTERM: 4 subscribers and 3 forwarded nodes hear DISCONNECT, exit 0" t_sigterm_few
run_test "SIGTERM: $BYE_CLIENTS clients and 200 forwarded nodes, each one DISCONNECT within 1 s" t_sigterm_many
run_test "status file: a kept session's expiry shows within a second" t_status_live

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
