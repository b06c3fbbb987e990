#!/usr/bin/env bash
# Run every test program under BUILD/tests, print each runner's summary and
# one closing line "N passed, N failed" over all cmocka tests.
# Usage: tests/run_all.sh [BUILD] [NAME-FILTER]
# NAME-FILTER picks the suites whose name below tests/ contains it:
# "unit" runs BUILD/tests/unit/* alone, "e2e/test_check" one script.
set -u
build=${1:-build}
filter=${2:-}
passed=0 failed=0 bad_suites=()

if [ "$(id -u)" -ne 0 ]; then
	echo "tests: must run as root (BPF_PROG_TEST_RUN, netns, XDP); got uid $(id -u)" >&2
	exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
for t in "$build"/tests/unit/* "$build"/tests/net/* "$here"/e2e/test_*.sh; do
	[ -f "$t" ] || continue
	case "$t" in *.sh) runner=(bash "$t" "$build") ;; *) [ -x "$t" ] || continue; runner=("$t") ;; esac
	name=${t##*/tests/}
	case "$name" in *"$filter"*) ;; *) continue ;; esac
	echo "=== $name"
	out=$(mktemp)
	"${runner[@]}" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# cmocka's summary, or a script's plain "N passed, N failed" line
	p=$(sed -n -e 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' \
		   -e 's/^\([0-9]*\) passed, [0-9]* failed.*/\1/p' "$out" | tail -1)
	f=$(sed -n -e 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' \
		   -e 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' "$out" | tail -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$rc" -ne 0 ]; then
		bad_suites+=("$name")
		# A runner that died before its summary still counts as a failure.
		[ -n "$f" ] || failed=$((failed + 1))
	fi
	rm -f "$out"
done

if [ ${#bad_suites[@]} -gt 0 ]; then
	echo "failing suites: ${bad_suites[*]}"
fi
echo "$passed passed, $failed failed"
[ ${#bad_suites[@]} -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
