# shellcheck shell=bash
# harness.sh - what the end-to-end test scripts share: the processes they
# start and stop, and one result line per test.  Source it after setting
# test_pids=(), diag, passed, failed, tnum, broker_pid and broker_log.

# wait_gone PID SECONDS: the process has ended.
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_gone() { wait_for "$2" gone "$1"; }

# stop_pid PID: stop a process this script started, even a frozen one.  Only
# while it is still our child: a PID already reaped may belong to anyone.
stop_pid() {
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ] || return 0
	kill -CONT "$1" 2>/dev/null
	kill -TERM "$1" 2>/dev/null
	wait_gone "$1" 5 || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# forget_pid PID: the test has waited for it; nothing left to stop.
forget_pid() {
	local p keep=()
	for p in "${test_pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	test_pids=("${keep[@]}")
}

stop_test_pids() {
	local p
	for p in "${test_pids[@]}"; do stop_pid "$p"; done
	test_pids=()
}

stop_broker() {	# sets broker_rc
	broker_rc=
	[ -n "$broker_pid" ] || return 0
	kill -TERM "$broker_pid" 2>/dev/null
	if ! wait_gone "$broker_pid" 10; then
		echo "# the daemon ignored SIGTERM for 10 s: SIGKILL"
		kill -KILL "$broker_pid" 2>/dev/null
	fi
	wait "$broker_pid"
	broker_rc=$?
	broker_pid=
}

# ---- a lab script's start and end --------------------------------------------

# bail TEXT: the suite cannot run at all: one failed result and exit.
bail() {
	echo "not ok 1 - $1"
	echo "0 passed, 1 failed"
	exit 1
}

# lab_cleanup: what lab_preflight's scripts undo at exit (trap lab_cleanup
# EXIT): their processes and broker, the lab, the pins ($PIN), the broker's
# run files ($NAME*) and the work directory.
lab_cleanup() {
	stop_test_pids
	stop_broker
	lab_down
	rm -rf "$PIN"
	rm -f /run/psoffload/"$NAME".* /run/psoffload/"$NAME"-*
	rm -rf "$work"
}

# lab_preflight TOOL...: root, $psoffload and $pass_obj built, each TOOL
# installed, then the veth lab of lab.sh up (passing $pass_obj); bails
# with one line otherwise.
lab_preflight() {
	local f tool
	[ "$(id -u)" -eq 0 ] || bail "must run as root (namespaces, XDP, bpffs); got uid $(id -u)"
	for f in "$psoffload" "$pass_obj"; do
		[ -e "$f" ] || bail "$f missing: run make first"
	done
	for tool in "$@"; do
		command -v "$tool" >/dev/null || bail "$tool is not installed"
	done
	lab_up "$pass_obj" >"$work/lab.err" 2>&1 ||
		{ sed 's/^/# /' "$work/lab.err"; bail "cannot build the veth lab"; }
}

# ---- reporting ---------------------------------------------------------------

# note TEXT: a diagnostic of the running test, shown when it fails.
note() { printf '%s\n' "$*" >>"$diag"; }
# info TEXT: a line shown whether it fails or not.
info() { printf '%s\n' "$*" >>"$diag.info"; }

# fail_with TEXT: a test that fails with TEXT as its diagnostics.
fail_with() { note "$*"; return 1; }

# run_test NAME FUNCTION [ARGS...]: one result line.  PSO_TEST_ONLY=ERE
# runs only the tests whose name matches (the daemon restarts regardless).
run_test() {
	local name=$1 rc
	shift
	[[ -z ${PSO_TEST_ONLY:-} || $name =~ $PSO_TEST_ONLY ]] || return 0
	tnum=$((tnum + 1))
	: >"$diag"
	: >"$diag.info"
	"$@"
	rc=$?
	stop_test_pids
	if [ $rc -eq 0 ]; then
		echo "ok $tnum - $name"
		sed 's/^/#   /' "$diag.info"
		passed=$((passed + 1))
	elif [ $rc -eq 77 ]; then
		echo "ok $tnum - $name # SKIP $(head -n 1 "$diag")"
	else
		echo "not ok $tnum - $name"
		sed 's/^/#   /' "$diag.info" "$diag"
		if [ -n "$broker_log" ] && [ -f "$broker_log" ]; then
			echo "#   broker log (last lines):"
			tail -n 8 "$broker_log" | cut -c1-160 | sed 's/^/#     /'
		fi
		failed=$((failed + 1))
	fi
}

