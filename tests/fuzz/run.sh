#!/usr/bin/env bash
# Run every libFuzzer target of tests/fuzz for a bounded time each, from
# its committed seed corpus, and fail on any finding.
# Usage: tests/fuzz/run.sh [BUILD] [SECONDS]   (default build, 60)
# Each target works in BUILD/fuzz/corpus/<target>/ (seeded from
# tests/fuzz/corpus/<target>/, which it never changes); a finding is
# written to BUILD/fuzz/findings/<target>/ and its reproducer printed.
# Set FUZZ_JOBS=N to run N processes per target (libFuzzer -fork).
set -u
build=${1:-build}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
failed=()

for bin in "$build"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=${bin##*/}
	work=$build/fuzz/corpus/$name
	found=$build/fuzz/findings/$name
	mkdir -p "$work" "$found"
	[ -d "$here/corpus/$name" ] && cp -n "$here/corpus/$name"/* "$work"/ 2>/dev/null
	echo "=== fuzz $name: ${seconds}s from $(ls "$work" | wc -l) inputs"
	extra=()
	[ -n "${FUZZ_JOBS:-}" ] && extra=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
	log=$(mktemp)
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
		"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
		-artifact_prefix="$found/" -print_final_stats=1 "${extra[@]}" "$work" >"$log" 2>&1
	rc=$?
	grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done )' "$log" || true
	if [ "$rc" -ne 0 ]; then
		tail -60 "$log"
		echo "fuzz $name: FINDING (exit $rc); reproduce: $bin $found/<file>"
		failed+=("$name")
	fi
	rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: findings in ${failed[*]}"
	exit 1
fi
echo "fuzz: no findings"
