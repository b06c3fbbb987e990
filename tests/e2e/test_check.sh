#!/usr/bin/env bash
# test_check.sh BUILD - `psoffload check`: exit codes, output and profiles.
# Needs no privileges and no NIC: the check reads the ELF object only.
# Prints "ok N - name" / "not ok N - name" and a final "N passed, N failed".
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
psoffload=$(realpath "$build/psoffload" 2>/dev/null)
profiles=$root/nic-profiles
offload_obj=$build/bpf/psoffload_xdp_offload.bpf.o
driver_obj=$build/bpf/psoffload_xdp.bpf.o
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

n=0 passed=0 failed=0
out=$work/out err=$work/err rc=0

ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
	echo "#   $2"
	echo "#   exit $rc; stdout:"; sed 's/^/#     /' "$out"
	echo "#   stderr:"; sed 's/^/#     /' "$err"
}

# run ARGS...: run `psoffload check ARGS`, keep stdout, stderr, exit code.
run() {
	"$psoffload" check "$@" >"$out" 2>"$err"
	rc=$?
}

# expect NAME RC [PATTERN-IN-STDOUT...]: the last run exited RC and its
# stdout has a line matching each PATTERN (grep -E).
expect() {
	local name=$1 want=$2 p
	shift 2
	if [ "$rc" -ne "$want" ]; then not_ok "$name" "want exit $want"; return; fi
	for p in "$@"; do
		if ! grep -qE -- "$p" "$out"; then not_ok "$name" "no line matching /$p/"; return; fi
	done
	ok "$name"
}

# expect_err NAME PATTERN: exit 2, nothing on stdout, exactly one stderr line.
expect_err() {
	local name=$1 p=$2
	if [ "$rc" -ne 2 ]; then not_ok "$name" "want exit 2"; return; fi
	if [ -s "$out" ]; then not_ok "$name" "want empty stdout"; return; fi
	if [ "$(wc -l <"$err")" -ne 1 ]; then not_ok "$name" "want one line on stderr"; return; fi
	if ! grep -qE -- "$p" "$err"; then not_ok "$name" "stderr does not match /$p/"; return; fi
	ok "$name"
}

if [ ! -x "$psoffload" ] || [ ! -f "$offload_obj" ] || [ ! -f "$driver_obj" ]; then
	echo "not ok 1 - build first: no $build/psoffload or its BPF objects"
	echo "0 passed, 1 failed"
	exit 1
fi

# --- the project's own objects against the default profile (nfp) -----------

run --profiles-dir="$profiles" "$offload_obj"
expect "offload build fits nfp" 0 "^$offload_obj: fits the nfp offload limits$"
[ "$(wc -l <"$out")" -eq 1 ] && ok "a fitting object prints one line" ||
	not_ok "a fitting object prints one line" "want the summary line only"

run --profiles-dir="$profiles" "$driver_obj"
expect "driver build does not fit nfp" 1 \
	"^map pso_devmap: map type devmap_hash not supported" \
	"helper 51 \(bpf_redirect_map\) not supported" \
	"^$driver_obj: [0-9]+ violations of the nfp offload limits$"
# One line per violation, then the summary: the count must agree.
cnt=$(sed -nE 's/.*: ([0-9]+) violations? of the .*/\1/p' "$out")
[ -n "$cnt" ] && [ "$(wc -l <"$out")" -eq $((cnt + 1)) ] &&
	ok "one line per violation plus the summary" ||
	not_ok "one line per violation plus the summary" "count $cnt vs $(wc -l <"$out") lines"

# The default profiles directory: BUILD/../nic-profiles, i.e. this tree's
# when BUILD is the usual build/ folder of the tree.
if [ "$(realpath "$(dirname "$psoffload")/../nic-profiles")" = "$profiles" ]; then
	run "$offload_obj"
	expect "default profiles dir is next to the binary" 0 "fits the nfp offload limits"
else
	n=$((n + 1)); passed=$((passed + 1))
	echo "ok $n - # SKIP default profiles dir: $build is not in the source tree"
fi

run --profile=nfp --profiles-dir="$profiles" "$offload_obj"
expect "--profile=nfp is the default" 0 "fits the nfp offload limits"
run --profile="$profiles/nfp.ini" "$offload_obj"
expect "--profile=PATH" 0 "fits the nfp offload limits"

# --- other profiles -----------------------------------------------------------

run --profile=netdevsim --profiles-dir="$profiles" "$offload_obj"
expect "netdevsim rejects the offload build (2 map entries)" 1 \
	"^map pso_topics: [0-9]+ entries > limit 2 per map$" \
	"violations? of the netdevsim offload limits$"

run --profile=veth --profiles-dir="$profiles" "$offload_obj"
expect "a NIC without offload exits 1 and says so first" 1 \
	"^veth: the NIC has no hardware offload" "but the NIC cannot offload it$"
head -1 "$out" | grep -q "no hardware offload" && ok "the no-offload notice comes first" ||
	not_ok "the no-offload notice comes first" "first line: $(head -1 "$out")"

run --profile=mlx5_core --profiles-dir="$profiles" "$driver_obj"
expect "a NIC without offload still lists violations" 1 \
	"^mlx5_core: the NIC has no hardware offload" "map type devmap_hash" \
	"violations of the mlx5_core offload limits$"

# --- one small object per rule: it fails and its line names the rule ---------

bad=$build/tests/bpf
for case in "bad_mod:BPF_MOD" "bad_tailcall:tail call" "bad_loop:backward jump" \
	    "bad_percpu:map type percpu_array" "bad_noprealloc:map flags BPF_F_NO_PREALLOC" \
	    "bad_bigvalue:value size 128 > limit 64"; do
	obj=$bad/${case%%:*}.bpf.o
	if [ ! -f "$obj" ]; then
		n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - ${case%%:*}: no $obj"
		continue
	fi
	run --profiles-dir="$profiles" "$obj"
	expect "${case%%:*} exits 1 naming its rule" 1 "${case#*:}" \
		"^$obj: 1 violation of the nfp offload limits$"
done

# --- bad input: exit 2, one line on stderr ------------------------------------

run --profiles-dir="$profiles" "$work/nosuch.bpf.o"
expect_err "missing object" "^psoffload check: .*/nosuch.bpf.o: No such file or directory$"

printf 'not an ELF file\n' >"$work/text.o"
run --profiles-dir="$profiles" "$work/text.o"
expect_err "not a BPF object" "^psoffload check: .*/text.o: not a BPF object"

run --profile=nosuchnic --profiles-dir="$profiles" "$offload_obj"
expect_err "unknown profile" "^psoffload check: unknown profile 'nosuchnic': no .*/nosuchnic.ini$"

run --profiles-dir="$work" "$offload_obj"
expect_err "profiles dir without the profile" "unknown profile 'nfp'"

printf '[offload]\nmax_insns = lots\n' >"$work/broken.ini"
run --profile="$work/broken.ini" "$offload_obj"
expect_err "broken profile" "broken.ini:2: bad number 'lots' for max_insns in \[offload\]"

run --frobnicate "$offload_obj"
expect_err "unknown option" "unknown option '--frobnicate'"

run --profile
expect_err "option without its value" "needs a value"

run
expect_err "no object" "no OBJECT given"

run "$offload_obj" "$driver_obj"
expect_err "two objects" "exactly one OBJECT"

run --help
expect "--help" 0 "^usage: psoffload check" "--profile=NAME" "--profiles-dir=DIR" "Exit status"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
