#!/usr/bin/env bash
# test_install.sh BUILD - `make install`: what lands under DESTDIR, and the
# installed daemon running from there with the installed NIC profiles.
#
#   make install DESTDIR=$work/root PREFIX=/usr    (BUILD's objects): the
#   binary, BPF objects, NIC profiles and the systemd units, whose
#   ExecStart names the installed binary
#   the source tree's nic-profiles/ renamed away while the installed binary
#   runs: it can only find $work/root/usr/share/psoffload/nic-profiles, the
#   path from SBINDIR to DATADIR the build computed (/usr/share/psoffload
#   itself does not exist)
#   $work/root/usr/sbin/psoffload --mode=skb on a veth in a namespace of its
#   own, `psoffload status --json`, SIGTERM
#   make install DESTDIR=$work/root-default: everything under usr/local
#   (the settings file under etc/ whatever PREFIX); a second make install
#   keeps a settings file that is there
#
# The daemon gets its own pin dir under /sys/fs/bpf and runs in the
# namespace through nsenter (`ip netns exec` would hide /sys/fs/bpf).
# `make install` rebuilds BUILD/obj/host/ctl/profile.o and relinks
# BUILD/psoffload for each PREFIX; the last install is the default PREFIX,
# as a plain `make` builds it.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Exits
# non-zero if any test failed.  Needs root, jq, iproute2, nsenter.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=wait.sh
. "$here/wait.sh"
# shellcheck source=runfile.sh
. "$here/runfile.sh"

id=pso-inst-$$
ns=$id
pin=/sys/fs/bpf/$id
status_file=/run/psoffload/$id.json
profiles=$root/nic-profiles
hidden=$root/.nic-profiles.$id	# nic-profiles/ while the installed binary runs
work=$(mktemp -d /tmp/pso-test-install.XXXXXX)
dest=$work/root
dest_default=$work/root-default
bin=$dest/usr/sbin/psoffload
data=$dest/usr/share/psoffload
log=$work/daemon.log
daemon_pid=''

passed=0 failed=0 tnum=0
diag=$work/diag

# ---- set-up and clean-up -----------------------------------------------------

gone() { ! kill -0 "$1" 2>/dev/null; }
# mine PID: still a child of this script (a PID already reaped may be anyone's).
mine() { [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]; }

restore_profiles() {
	if [ -d "$hidden" ] && [ ! -e "$profiles" ]; then
		mv "$hidden" "$profiles"
	fi
}

cleanup() {
	if [ -n "$daemon_pid" ] && mine "$daemon_pid"; then
		kill -TERM "$daemon_pid" 2>/dev/null
		wait_for 5 gone "$daemon_pid" || kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	restore_profiles
	ip netns del "$ns" 2>/dev/null
	rm -rf "$pin"
	rm -f "$status_file" "$(run_file "$pin" lock)"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

bail() {
	echo "not ok 1 - $1"
	echo "0 passed, 1 failed"
	exit 1
}
[ "$(id -u)" -eq 0 ] || bail "must run as root (namespaces, XDP, bpffs); got uid $(id -u)"
for tool in jq ip nsenter make; do
	command -v $tool >/dev/null || bail "$tool is not installed"
done
[ -x "$build/psoffload" ] || bail "no $build/psoffload: run make first"
[ -d "$profiles" ] ||
	bail "no $profiles (a killed run may have left it as $root/.nic-profiles.pso-inst-*)"
# BUILD as the Makefile was given it: relative to the source tree when it
# is inside it, so that the flags (-IBUILD/bpf) and the .d files match.
build_abs=$(cd "$build" && pwd)
case "$build_abs" in
"$root"/*) make_build=${build_abs#"$root"/} ;;
*) make_build=$build_abs ;;
esac

# ---- reporting ---------------------------------------------------------------

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

# files_under DIR: every file below DIR, relative, sorted.
files_under() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }

# expect_files DIR SBINDIR DATADIR UNITDIR MANDIR: DIR holds exactly the
# binary in SBINDIR, the BPF objects in DATADIR/bpf, nic-profiles/* in
# DATADIR/nic-profiles, the two units in UNITDIR, which start /SBINDIR's,
# the man pages in MANDIR and the settings file.
expect_files() {
	local dir=$1 sbin=$2 share=$3 units=$4 man=$5 want f
	want=$( {
		echo "$sbin/psoffload"
		for f in "$build_abs"/bpf/*.bpf.o; do echo "$share/bpf/${f##*/}"; done
		for f in "$profiles"/*; do echo "$share/nic-profiles/${f##*/}"; done
		echo "$units/psoffload.service"
		echo "$units/psoffload@.service"
		echo "$man/man8/psoffload.8"
		echo "$man/man5/psoffload.conf.5"
		echo "etc/psoffload/psoffload.conf"
	} | LC_ALL=C sort)
	if [ "$(files_under "$dir")" != "$want" ]; then
		note "files under DESTDIR, expected vs installed:"
		diff <(echo "$want") <(files_under "$dir") | sed 's/^/  /' >>"$diag"
		return 1
	fi
	[ -x "$dir/$sbin/psoffload" ] || { note "$sbin/psoffload is not executable"; return 1; }
	cmp -s "$dir/$share/nic-profiles/veth.ini" "$profiles/veth.ini" ||
		{ note "$share/nic-profiles/veth.ini differs from the source tree's"; return 1; }
	for f in psoffload.service psoffload@.service; do
		grep -q "^ExecStart=/$sbin/psoffload " "$dir/$units/$f" ||
			{ note "$units/$f: $(grep ExecStart= "$dir/$units/$f")"; return 1; }
		grep -q '^Type=notify$' "$dir/$units/$f" || { note "$units/$f: no Type=notify"; return 1; }
	done
	cmp -s "$dir/etc/psoffload/psoffload.conf" "$root/etc/psoffload.conf" ||
		{ note "etc/psoffload/psoffload.conf differs from the source tree's"; return 1; }
}

# install_into DESTDIR [VAR=VALUE...]: make install; its output in make.log.
install_into() {
	local d=$1
	shift
	if ! make -C "$root" --no-print-directory BUILD="$make_build" DESTDIR="$d" "$@" install \
		>"$work/make.log" 2>&1; then
		note "make install DESTDIR=$d $* failed:"
		tail -n 20 "$work/make.log" | sed 's/^/  /' >>"$diag"
		return 1
	fi
}

# ---- the tests ---------------------------------------------------------------

t_install_usr() {
	install_into "$dest" PREFIX=/usr || return 1
	expect_files "$dest" usr/sbin usr/share/psoffload usr/lib/systemd/system usr/share/man
}

# The settings file is the operator's once it is there.
t_keep_conf() {
	local f=$dest/etc/psoffload/psoffload.conf
	printf '[broker]\nport = 1884\n' >"$f"
	install_into "$dest" PREFIX=/usr || return 1
	[ "$(cat "$f")" = "$(printf '[broker]\nport = 1884')" ] ||
		{ note "a second make install replaced the operator's $f"; return 1; }
	cp "$root/etc/psoffload.conf" "$f"
}

# The source tree's profiles are out of the way from here to t_stop.
t_hide_profiles() {
	mv "$profiles" "$hidden" || { note "cannot rename $profiles"; return 1; }
}

t_profiles_dir() {
	local out rc=0
	# The directory an unknown profile is looked for in is the default one.
	out=$("$bin" check --profile=nosuchnic "$data/bpf/psoffload_xdp_offload.bpf.o" 2>&1)
	grep -qF "no $data/nic-profiles/nosuchnic.ini" <<<"$out" ||
		{ note "psoffload check --profile=nosuchnic: $out"; rc=1; }
	out=$("$bin" check --profile=nfp "$data/bpf/psoffload_xdp_offload.bpf.o" 2>&1) ||
		{ note "psoffload check --profile=nfp on the installed offload object: $out"; rc=1; }
	return $rc
}

serving_or_dead() { gone "$daemon_pid" || grep -qs "serving MQTT-SN" "$log"; }
iface() {
	nsenter --net="/run/netns/$ns" "$bin" status --json --pin-dir="$pin" 2>/dev/null |
		jq -r '.interfaces[] | select(.name == "inst0") | "\(.profile) \(.mode)"' 2>/dev/null
}
iface_is() { [ "$(iface)" = "$1" ]; }

t_daemon() {
	ip netns add "$ns" || { note "ip netns add $ns failed"; return 1; }
	ip -n "$ns" link set lo up
	if ! ip -n "$ns" link add inst0 type veth peer name inst1 ||
	   ! ip -n "$ns" addr add 10.77.9.1/24 dev inst0 ||
	   ! ip -n "$ns" link set inst0 up || ! ip -n "$ns" link set inst1 up; then
		note "cannot make the veth in $ns"
		return 1
	fi
	nsenter --net="/run/netns/$ns" "$bin" --store=none -v --mode=skb --pin-dir="$pin" inst0 >"$log" 2>&1 &
	daemon_pid=$!
	if ! wait_for 15 serving_or_dead || gone "$daemon_pid"; then
		note "the installed daemon did not start:"
		sed 's/^/  /' "$log" >>"$diag"
		return 1
	fi
	if ! wait_for 10 iface_is "veth skb"; then
		note "status --json: inst0 has profile and mode '$(iface)', expected 'veth skb'"
		tail -n 10 "$log" | sed 's/^/  log: /' >>"$diag"
		return 1
	fi
}

t_stop() {
	local rc=0 stop_rc
	[ -n "$daemon_pid" ] && mine "$daemon_pid" || { note "no daemon of this test running"; return 1; }
	kill -TERM "$daemon_pid"
	if wait_for 10 gone "$daemon_pid"; then
		wait "$daemon_pid"
		stop_rc=$?
	else
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		stop_rc=124
	fi
	daemon_pid=''
	[ "$stop_rc" -eq 0 ] || { note "exit status $stop_rc after SIGTERM (124: still running after 10 s)"; rc=1; }
	if [ -d "$pin" ] && [ -n "$(ls -A "$pin")" ]; then
		note "pin dir $pin not empty: $(ls -A "$pin" | tr '\n' ' ')"
		rc=1
	fi
	[ ! -e "$status_file" ] || { note "status file $status_file left"; rc=1; }
	[ ! -e "$(run_file "$pin" lock)" ] || { note "lock file $(run_file "$pin" lock) left"; rc=1; }
	[ $rc -eq 0 ] || tail -n 10 "$log" | sed 's/^/  log: /' >>"$diag"
	return $rc
}

t_restore_profiles() {
	restore_profiles
	[ -d "$profiles" ] || { note "$profiles not restored from $hidden"; return 1; }
}

t_install_default() {
	install_into "$dest_default" || return 1
	expect_files "$dest_default" usr/local/sbin usr/local/share/psoffload usr/local/lib/systemd/system \
		usr/local/share/man
}

run_test "make install DESTDIR PREFIX=/usr: binary, BPF objects, every nic-profiles/ file, units, man pages, settings file" t_install_usr
run_test "make install again: the settings file there is kept" t_keep_conf
if [ $failed -eq 0 ]; then
	run_test "the source tree's nic-profiles/ out of the way" t_hide_profiles
	run_test "installed binary: default profiles dir is DESTDIR/usr/share/psoffload/nic-profiles" t_profiles_dir
	run_test "installed daemon --mode=skb on a veth: serving, status says profile veth, mode skb" t_daemon
	run_test "SIGTERM: exit 0, pins and status file removed" t_stop
	run_test "nic-profiles/ restored" t_restore_profiles
fi
run_test "make install DESTDIR, default PREFIX: everything under usr/local" t_install_default

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
