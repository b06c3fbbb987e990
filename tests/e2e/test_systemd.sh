#!/usr/bin/env bash
# test_systemd.sh BUILD - the daemon as systemd runs it, in the veth lab of
# lab.sh, without systemd: this machine's PID 1 need not be systemd, so the
# test plays the service manager's part.
#
#   the sd_notify protocol: tests/tools/pso_notify_listen binds the
#   daemon's NOTIFY_SOCKET and, when READY=1 arrives, freezes the daemon
#   (SIGSTOP) and checks that every interface already has its XDP and TC
#   programs and that UDP 1883 is bound; STATUS lines as clients come and
#   go and an interface disappears; WATCHDOG=1 at half WATCHDOG_USEC, and
#   none without it; RELOADING=1 then READY=1 on SIGHUP; STOPPING=1 on
#   SIGTERM; no READY=1 from a start that fails
#   the journal: with stderr named by JOURNAL_STREAM every line carries an
#   sd-daemon priority prefix (<3> <4> <6> <7>), with another stderr none
#   the unit's hardening: the daemon runs with the capability bounding set
#   of the built psoffload.service and no_new_privs (setpriv), and fails to
#   load without the capabilities that set grants beyond CAP_BPF and
#   CAP_NET_ADMIN (which shows the bounding set is in force)
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Exits
# non-zero if any test failed.  Needs root, iproute2 (ip, tc, ss), setpriv.
#
# Environment: PSO_TEST_ONLY=ERE (only the tests whose name matches).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-systemd.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o tests/tools/pso_notify_listen \
	 etc/systemd/psoffload.service; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
listen=$work/bin/pso_notify_listen
unit=$work/bin/psoffload.service
WD_USEC=300000		# WATCHDOG_USEC: a ping every 150 ms
TOPIC=sd/t

passed=0 failed=0 tnum=0
broker_pid='' broker_log='' pin_dir='' daemon_n=0 listen_pid='' notes=''
test_pids=()
diag=$work/diag
tmp=$work

# shellcheck source=harness.sh
. "$here/harness.sh"

cleanup() {
	stop_test_pids
	stop_broker
	[ -n "$listen_pid" ] && stop_pid "$listen_pid"
	lab_down
	rm -rf "/sys/fs/bpf/psoffload-test-sd-$LAB_ID"-* 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

bail() {
	echo "test_systemd: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}
[ "$(id -u)" -eq 0 ] || bail "must run as root (namespaces, XDP, bpffs); got uid $(id -u)"
for f in "$psoffload" "$pass_obj" "$listen" "$unit"; do
	[ -e "$f" ] || bail "$build/$(basename "$f") (or its tests/, etc/ counterpart) missing: run make first"
done
for tool in setpriv ss tc; do
	command -v $tool >/dev/null || bail "$tool is not installed"
done

# ---- the service manager's side ------------------------------------------------

# The unit's CapabilityBoundingSet as setpriv's list: "+bpf,+perfmon,...".
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr ' ' '\n' |
	sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd,)
[ -n "$unit_caps" ] || bail "no CapabilityBoundingSet= in $unit"

# What READY=1 promises: both ports have their XDP and TC programs, and the
# broker socket is bound.  Run by the listener while the daemon is frozen.
ready_check="
for d in b0 b1; do
	ip -n $NS_B -d link show dev \$d | grep -q 'prog/xdp .*name psoffload_xdp' || exit 1
	# TC: a clsact filter (kernels before 6.6), or the tcx link the broker
	# pins as link_tc:IFACE, whose program is psoffload_tc.
	tc -n $NS_B filter show dev \$d ingress | grep -q 'name psoffload_tc' || {
		l=\$(ls -d /sys/fs/bpf/psoffload-test-sd-$LAB_ID-*/link_tc:\$d 2>/dev/null | tail -n 1)
		id=\$(bpftool -j link show pinned \"\$l\" 2>/dev/null | jq -r .prog_id)
		bpftool prog show id \"\$id\" 2>/dev/null | grep -q 'name psoffload_tc'
	} || exit 2
done
nsenter --net=$(lab_ns "$NS_B") ss -Hlun 'sport = :1883' | grep -q . || exit 3"

# listen_start NAME [-c COMMAND]: a NOTIFY_SOCKET at $tmp/NAME.sock, what
# arrives in $tmp/NAME.out ("MS PID KEY=VALUE" lines).
listen_start() {
	local name=$1
	shift
	notes=$tmp/$name.out
	: >"$notes"
	"$listen" "$@" "$tmp/$name.sock" >"$notes" 2>"$tmp/$name.err" &
	listen_pid=$!
	wait_for 5 grep -qx ready "$tmp/$name.err" || bail "pso_notify_listen: $(cat "$tmp/$name.err")"
}
listen_stop() {
	[ -n "$listen_pid" ] && stop_pid "$listen_pid"
	listen_pid=''
}

# start_broker NAME ENV... -- ARGS...: the daemon in the broker namespace
# with environment ENV, stderr and stdout to $tmp/broker-N.log; JOURNAL_STREAM
# may be given as "journal", for the log file's own device and inode.
# The daemon's PID is $broker_pid (env, nsenter and setpriv exec it).
start_broker() {
	local envs=() e
	daemon_n=$((daemon_n + 1))
	pin_dir=/sys/fs/bpf/psoffload-test-sd-$LAB_ID-$daemon_n
	broker_log=$tmp/broker-$daemon_n.log
	: >"$broker_log"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		e=$1
		[ "$e" = JOURNAL_STREAM=journal ] && e=JOURNAL_STREAM=$(stat -c '%d:%i' "$broker_log")
		envs+=("$e")
		shift
	done
	shift
	# setns needs CAP_SYS_ADMIN: nsenter first.
	env -i PATH="$PATH" "${envs[@]}" nsenter --net="$(lab_ns "$NS_B")" \
		setpriv --no-new-privs --bounding-set=-all,"${caps:-$unit_caps}" --inh-caps=-all -- \
		"$psoffload" --store=none --pin-dir="$pin_dir" "$@" \
		</dev/null >"$broker_log" 2>&1 &
	broker_pid=$!
}

# n_lines KEY=VALUE-ERE: the listener's lines whose assignment matches.
n_lines() { grep -E "^[0-9]+ [0-9]+ ($1)\$" "$notes"; }
n_count() { n_lines "$1" | wc -l; }
n_has() { n_lines "$1" >/dev/null; }
n_has_after() {	# n_has_after LINE ERE: a match below line LINE
	tail -n +"$(($1 + 1))" "$notes" | grep -qE "^[0-9]+ [0-9]+ ($2)\$"
}
show_notes() { note "what the daemon sent:"; sed 's/^/  /' "$notes" | tail -n 20 >>"$diag"; }
alive() { kill -0 "$broker_pid" 2>/dev/null; }

# ---- the tests: one daemon, as psoffload.service starts it ---------------------

t_ready_after_attach() {
	if ! wait_for 15 n_has 'check=[0-9]+'; then
		note "no READY=1 within 15 s"
		show_notes
		return 1
	fi
	local check pid
	read -r _ pid check < <(n_lines 'check=[0-9]+' | head -n 1)
	[ "$pid" = "$broker_pid" ] || fail_with "READY=1 came from pid $pid, not the daemon's $broker_pid" || return 1
	case $check in
	check=0) ;;
	check=1) fail_with "at READY=1 an interface had no psoffload_xdp program" || return 1 ;;
	check=2) fail_with "at READY=1 an interface had no psoffload_tc filter" || return 1 ;;
	check=3) fail_with "at READY=1 nothing was bound to UDP 1883" || return 1 ;;
	*) fail_with "the check at READY=1 failed: $check" || return 1 ;;
	esac
	[ "$(n_count 'READY=1')" -eq 1 ] || { show_notes; fail_with "more than one READY=1 at start"; }
}

t_ready_status() {
	local want='STATUS=b0 skb, b1 skb; 0 clients, 0 topics'
	# READY=1 and STATUS= are one datagram: the line after READY=1.
	grep -A1 -E '^[0-9]+ [0-9]+ READY=1$' "$notes" | head -n 2 | tail -n 1 |
		grep -qE " $want\$" || { show_notes; fail_with "the datagram with READY=1 has no \"$want\""; }
}

# (The topics: the subscriber's, and the broker's own address check's $pso/v.)
t_status_clients() {
	local sub_pid
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -t $TOPIC -C 1 -W 20 \
		>"$tmp/sub.out" 2>"$tmp/sub.err" &
	sub_pid=$!
	test_pids+=("$sub_pid")
	if ! wait_for 10 n_has 'STATUS=b0 skb, b1 skb; 1 client, [1-9][0-9]* topics?'; then
		show_notes
		fail_with "no STATUS with 1 client, 1 topic within 10 s of a SUBSCRIBE ($(cat "$tmp/sub.err"))"
		return 1
	fi
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -t $TOPIC -m hello-systemd >"$tmp/pub.out" 2>&1 ||
		fail_with "pub failed: $(cat "$tmp/pub.out")" || return 1
	wait_for 10 gone "$sub_pid" || fail_with "the subscriber got nothing within 10 s" || return 1
	wait "$sub_pid"
	forget_pid "$sub_pid"
	grep -qx hello-systemd "$tmp/sub.out" || fail_with "the subscriber printed: $(cat "$tmp/sub.out")" || return 1
	# It got its message and disconnected.
	wait_for 10 n_has 'STATUS=b0 skb, b1 skb; 0 clients, [1-9][0-9]* topics?' ||
		{ show_notes; fail_with "no STATUS with 0 clients after the subscriber's DISCONNECT"; }
}

# Every WATCHDOG=1 within WATCHDOG_USEC of the one before, and about
# half of it apart: 150 ms, no gap under 100 ms or over 300 ms.
wd_enough() { [ "$(n_count 'WATCHDOG=1')" -ge 12 ]; }
t_watchdog() {
	local gaps
	wait_for 10 wd_enough ||
		fail_with "$(n_count 'WATCHDOG=1') WATCHDOG=1 in 10 s (WATCHDOG_USEC=$WD_USEC)" || return 1
	# The first two may straddle the frozen READY check.
	gaps=$(n_lines 'WATCHDOG=1' | awk 'NR > 2 { if (last) print $1 - last } NR >= 2 { last = $1 }')
	info "WATCHDOG=1 gaps (ms): $(tr '\n' ' ' <<<"$gaps")"
	awk -v max=$((WD_USEC / 1000)) '$1 < 100 || $1 > max { bad = 1 } END { exit bad }' <<<"$gaps" ||
		fail_with "a gap outside 100..$((WD_USEC / 1000)) ms"
}

t_reload() {
	local before
	before=$(wc -l <"$notes")
	kill -HUP "$broker_pid"
	if ! wait_for 10 n_has_after "$before" 'check=[0-9]+'; then
		show_notes
		fail_with "no READY=1 within 10 s of SIGHUP"
		return 1
	fi
	alive || fail_with "the daemon ended after SIGHUP" || return 1
	# RELOADING=1 (with MONOTONIC_USEC) before READY=1, the status line with
	# it, each assignment's first word (the watchdog's left out).
	tail -n +"$((before + 1))" "$notes" | awk '$3 != "WATCHDOG=1" { print $3 }' |
		sed 's/^MONOTONIC_USEC=[0-9]\{6,\}$/MONOTONIC_USEC=T/' >"$tmp/reload.seq"
	printf '%s\n' RELOADING=1 STATUS=reloading MONOTONIC_USEC=T READY=1 STATUS=b0 check=0 \
		>"$tmp/reload.want"
	if ! cmp -s "$tmp/reload.want" "$tmp/reload.seq"; then
		note "after SIGHUP, expected vs sent:"
		diff "$tmp/reload.want" "$tmp/reload.seq" | sed 's/^/  /' >>"$diag"
		return 1
	fi
	# The reload's summary line (host/cmd/main.c, reload()).
	grep -qE '<6>info: reload: .*changes? applied' "$broker_log" || fail_with "no reload summary line on SIGHUP in the log"
}

t_iface_gone() {
	ip -n "$NS_B" link del b1 || fail_with "cannot delete b1" || return 1
	wait_for 10 n_has 'STATUS=b0 skb, b1 gone; 0 clients, [0-9]+ topics?' ||
		{ show_notes; fail_with "no STATUS with b1 gone within 10 s"; } || return 1
	grep -q '^<4>warning: b1: interface gone' "$broker_log" ||
		fail_with "no <4>warning line for b1 gone in the log"
}

t_journal_prefixes() {
	local bad
	bad=$(grep -vE '^<[3467]>' "$broker_log")
	[ -z "$bad" ] || fail_with "lines without a priority prefix: $(head -n 3 <<<"$bad")" || return 1
	grep -q '^<6>info: serving MQTT-SN on UDP port 1883$' "$broker_log" ||
		fail_with "no \"<6>info: serving MQTT-SN on UDP port 1883\"" || return 1
	grep -q '^<7>debug: ' "$broker_log" || fail_with "no <7>debug: line at -v" || return 1
	info "$(cut -c1-100 "$broker_log" | grep -m1 '^<4>')"
}

t_stop() {
	stop_broker
	[ "$broker_rc" = 0 ] || fail_with "exit status $broker_rc after SIGTERM" || return 1
	n_has 'STOPPING=1' || { show_notes; fail_with "no STOPPING=1"; } || return 1
	n_lines 'STOPPING=1|WATCHDOG=1' | tail -n 1 | grep -q STOPPING=1 ||
		fail_with "WATCHDOG=1 after STOPPING=1"
}

# ---- other starts ------------------------------------------------------------------

# No watchdog without WATCHDOG_USEC; stderr that is not the journal named in
# JOURNAL_STREAM gets plain timestamped lines.
t_plain() {
	local other=$tmp/not-the-log
	: >"$other"
	listen_start plain
	start_broker NOTIFY_SOCKET="$tmp/plain.sock" JOURNAL_STREAM="$(stat -c '%d:%i' "$other")" \
		-- --mode=skb b0
	wait_for 15 n_has 'READY=1' || { show_notes; fail_with "no READY=1 within 15 s"; } || return 1
	# The time a watchdog would have pinged in, several times over.
	sleep 1
	[ "$(n_count 'WATCHDOG=1')" -eq 0 ] || fail_with "WATCHDOG=1 without WATCHDOG_USEC" || return 1
	grep -qE '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} psoffload info: serving MQTT-SN' "$broker_log" ||
		fail_with "no timestamped info line: $(head -n 2 "$broker_log")" || return 1
	! grep -qE '^<[0-9]>' "$broker_log" || fail_with "a priority prefix on stderr that is not the journal"
	stop_broker
	listen_stop
}

# A start that fails tells the service manager nothing and says why in
# one <3> line.
t_start_fails() {
	listen_start fail
	start_broker NOTIFY_SOCKET="$tmp/fail.sock" JOURNAL_STREAM=journal -- --mode=skb nosuchif0
	wait_for 10 gone "$broker_pid" || fail_with "still running 10 s after a start on nosuchif0" || return 1
	stop_broker
	[ "$broker_rc" = 1 ] || fail_with "exit status $broker_rc, expected 1" || return 1
	[ ! -s "$notes" ] || { show_notes; fail_with "the failed start sent something"; } || return 1
	[ "$(wc -l <"$broker_log")" -eq 1 ] && grep -q '^<3>psoffload: .*nosuchif0' "$broker_log" ||
		fail_with "expected one <3>psoffload: line naming nosuchif0, got: $(cat "$broker_log")"
	listen_stop
}

# The unit's set, less CAP_PERFMON and CAP_SYS_ADMIN: the programs do not
# load, so the set the other starts ran with was in force.
t_caps_needed() {
	local caps=+bpf,+net_admin
	start_broker -- --mode=skb b0
	wait_for 10 gone "$broker_pid" || fail_with "started with only $caps" || return 1
	stop_broker
	[ "$broker_rc" = 1 ] || fail_with "exit status $broker_rc, expected 1" || return 1
	grep -q 'cannot load' "$broker_log" || fail_with "no load failure: $(cat "$broker_log")"
}

start=$SECONDS
echo "# lab $LAB_ID; the unit's bounding set: $unit_caps"
lab_up "$pass_obj" || { lab_down; bail "lab_up failed"; }
listen_start main -c "$ready_check"
start_broker NOTIFY_SOCKET="$tmp/main.sock" WATCHDOG_USEC=$WD_USEC JOURNAL_STREAM=journal \
	-- -v --mode=skb b0 b1
run_test "READY=1 from the daemon only once b0 and b1 have XDP and TC and UDP 1883 is bound" \
	t_ready_after_attach
run_test "STATUS= with READY=1: each interface's mode, clients, topics" t_ready_status
run_test "STATUS= follows a subscriber's CONNECT and DISCONNECT; its publish delivered" t_status_clients
run_test "WATCHDOG=1 every WATCHDOG_USEC/2 from the event loop" t_watchdog
run_test "SIGHUP: RELOADING=1 (MONOTONIC_USEC), then READY=1 and the status line; still serving" t_reload
run_test "an interface removed: STATUS= says b1 gone, the journal gets a <4> line" t_iface_gone
run_test "JOURNAL_STREAM is stderr: every line has a priority prefix (<6> info, <7> debug, <4>)" \
	t_journal_prefixes
run_test "SIGTERM: STOPPING=1, no WATCHDOG=1 after it, exit 0" t_stop
listen_stop
lab_down
lab_up "$pass_obj" || bail "lab_up failed (second time)"
run_test "no WATCHDOG_USEC: no WATCHDOG=1; JOURNAL_STREAM naming another file: plain lines" t_plain
run_test "a start that fails: nothing sent to NOTIFY_SOCKET, one <3> line, exit 1" t_start_fails
run_test "without CAP_PERFMON and CAP_SYS_ADMIN the programs do not load (the bounding set holds)" \
	t_caps_needed
echo "# runtime $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
