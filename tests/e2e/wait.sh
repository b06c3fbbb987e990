# shellcheck shell=bash
# wait.sh - waiting on a condition with a deadline, shared by the test labs
# and the benchmarks.  Source it.

# wait_for SECONDS COMMAND...: run COMMAND until it succeeds or time is up.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}
