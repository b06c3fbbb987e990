#!/usr/bin/env bash
# test_docs.sh BUILD - the man pages and the shipped settings file say what
# the program does: the options of `psoffload --help` and of each
# subcommand's --help are those of psoffload(8), short letters included;
# the subcommands are psoffload(8)'s COMMANDS; the broker options but
# --config, --version and --help are the keys of psoffload.conf(5) and of
# etc/psoffload.conf; the man pages build; --version is VERSION's.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" and "#"
# diagnostics (the lists that differ); the last line "N passed, N failed".
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
psoffload=$build/psoffload
man8=$root/docs/man/psoffload.8.scd
man5=$root/docs/man/psoffload.conf.5.scd
conf=$root/etc/psoffload.conf
work=$(mktemp -d /tmp/pso-test-docs.XXXXXX)
trap 'rm -rf "$work"' EXIT

passed=0 failed=0 tnum=0
diag=$work/diag
note() { printf '%s\n' "$*" >>"$diag"; }

run_test() {
	local name=$1 rc
	shift
	tnum=$((tnum + 1))
	: >"$diag"
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok $tnum - $name"
		passed=$((passed + 1))
	else
		echo "not ok $tnum - $name"
		sed 's/^/#   /' "$diag"
		failed=$((failed + 1))
	fi
}

for f in "$psoffload" "$man8" "$man5" "$conf"; do
	if [ ! -e "$f" ]; then
		echo "not ok 1 - $f is there"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# ---- the lists -----------------------------------------------------------------

# Options in --help output on stdin, one "-x --name" or "--name" a line:
# the rows pso_opts_help() prints ("  -x, --name=ARG" or "      --name").
help_options() {
	sed -nE -e 's/^  (-[[:alnum:]]), (--[a-z0-9-]+).*/\1 \2/p' \
		-e 's/^      (--[a-z0-9-]+).*/\1/p' | LC_ALL=C sort
}

# Options of one part of psoffload.8.scd: "broker" (# OPTIONS) or a
# subcommand (## NAME under # COMMANDS).  A term line is "*-x*, *--name*..."
# or "*--name*...".
man_options() {
	awk -v want="$1" '
		/^# / { sec = $0; part = (sec == "# OPTIONS") ? "broker" : ""; next }
		/^## / && sec == "# COMMANDS" { part = $2; next }
		part == want && /^\*-/ { print }' "$man8" |
		sed -nE -e 's/^\*(-[[:alnum:]])\*, \*(--[a-z0-9-]+)\*.*/\1 \2/p' \
			-e 's/^\*(--[a-z0-9-]+)\*.*/\1/p' | LC_ALL=C sort
}

# The subcommands: psoffload --help's usage lines, psoffload.8's COMMANDS.
help_commands() {
	"$psoffload" --help | sed -nE 's/^       psoffload ([a-z]+) .*/\1/p' | LC_ALL=C sort
}
man_commands() {
	awk '/^# / { sec = $0; next } /^## / && sec == "# COMMANDS" { print $2 }' "$man8" |
		LC_ALL=C sort
}

# Every option that is a settings key: all but the command-line-only ones
# (psoffload.8 says which: --config, --store-reset, --version, --help).
broker_keys() {
	"$psoffload" --help | help_options | sed -E 's/.*--//' |
		grep -vxE 'config|store-reset|version|help' | LC_ALL=C sort
}
man5_keys() { sed -nE 's/^\*([a-z0-9-]+)\* = .*/\1/p' "$man5" | LC_ALL=C sort -u; }
conf_keys() { sed -nE 's/^#?([a-z0-9-]+) = .*/\1/p' "$conf" | LC_ALL=C sort -u; }

# same WHAT-A A-FILE WHAT-B B-FILE: the two lists are equal.
same() {
	if ! cmp -s "$2" "$4"; then
		note "$1 (<) and $3 (>) differ:"
		diff "$2" "$4" | grep '^[<>]' | sed 's/^/  /' >>"$diag"
		return 1
	fi
	[ -s "$2" ] || { note "$1: empty"; return 1; }
}

# ---- the tests -----------------------------------------------------------------

t_broker_options() {
	"$psoffload" --help | help_options >"$work/help"
	man_options broker >"$work/man"
	same "psoffload --help" "$work/help" "psoffload(8) OPTIONS" "$work/man"
}

t_commands() {
	help_commands >"$work/help"
	man_commands >"$work/man"
	same "psoffload --help subcommands" "$work/help" "psoffload(8) COMMANDS" "$work/man"
}

t_command_options() {
	local cmd rc=0
	for cmd in $(help_commands); do
		"$psoffload" "$cmd" --help | help_options >"$work/help-$cmd"
		man_options "$cmd" >"$work/man-$cmd"
		same "psoffload $cmd --help" "$work/help-$cmd" "psoffload(8) ## $cmd" "$work/man-$cmd" ||
			rc=1
	done
	return $rc
}

t_man5_keys() {
	broker_keys >"$work/keys"
	man5_keys >"$work/man5"
	same "psoffload --help options (settings keys)" "$work/keys" "psoffload.conf(5) KEYS" "$work/man5"
}

t_conf_keys() {
	broker_keys >"$work/keys"
	conf_keys >"$work/conf"
	same "psoffload --help options (settings keys)" "$work/keys" "etc/psoffload.conf" "$work/conf"
}

# The shipped file, every key uncommented, is a good settings file for the
# real broker: it stops at "no interface" (not at the file) with its
# [interface] example commented out.
t_conf_values() {
	local out
	sed -E 's/^#([a-z0-9-]+ = )/\1/; /^\[interface/d; /^#\[interface/,$d' "$conf" >"$work/all.conf"
	sed -i -E 's|^(predefined = ).*|\1/dev/null|; s|^(profiles-dir = ).*|\1'"$root"'/nic-profiles|' \
		"$work/all.conf"
	out=$("$psoffload" --config="$work/all.conf" 2>&1)
	if [ "$?" -ne 2 ] || [[ $out != *"no interface given"* ]]; then
		note "psoffload --config=(etc/psoffload.conf uncommented): $out"
		return 1
	fi
}

t_man_build() {
	local p out
	for p in psoffload.8 psoffload.conf.5; do
		if ! out=$(scdoc <"$root/docs/man/$p.scd" 2>&1 >"$work/$p"); then
			note "scdoc $p.scd: $out"
			return 1
		fi
		[ -s "$work/$p" ] || { note "scdoc $p.scd: empty output"; return 1; }
	done
}

t_version() {
	local out want
	want="psoffload $(cat "$root/VERSION")"
	out=$("$psoffload" --version)
	[[ $out == "$want" || $out == "$want (git "*")" ]] ||
		{ note "psoffload --version: '$out', expected '$want' or '$want (git ...)'"; return 1; }
}

run_test "psoffload --help options = psoffload(8) OPTIONS" t_broker_options
run_test "psoffload --help subcommands = psoffload(8) COMMANDS" t_commands
run_test "each subcommand's --help options = its psoffload(8) section" t_command_options
run_test "settings keys = psoffload.conf(5) KEYS" t_man5_keys
run_test "settings keys = etc/psoffload.conf" t_conf_keys
run_test "etc/psoffload.conf uncommented is a good settings file" t_conf_values
if command -v scdoc >/dev/null; then
	run_test "the man pages build (scdoc)" t_man_build
else
	echo "# scdoc not installed (tests/install-deps.sh): the man pages are not built"
fi
run_test "psoffload --version: VERSION, and git describe" t_version

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
