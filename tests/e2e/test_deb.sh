#!/usr/bin/env bash
# test_deb.sh BUILD - the Debian package `make deb` built
# (BUILD/deb/psoffload_*.deb): its files, installed with apt-get, the
# installed /usr/sbin/psoffload serving the veth lab of lab.sh once, purged.
#
#   the package holds what `make install PREFIX=/usr UNITDIR=/lib/systemd/system`
#   installs (debian/rules does just that), its copyright and changelog,
#   and marks every file under /etc a conffile
#   apt-get install -y ./psoffload_*.deb; systemd-analyze verify on both
#   installed units
#   /usr/sbin/psoffload as the unit runs it (its capability bounding set,
#   no_new_privs, NOTIFY_SOCKET): READY=1, the installed NIC profiles in
#   use, a publish delivered to a subscriber, SIGTERM
#   apt-get purge -y psoffload: nothing of it left
#
# Skips when there is no package (run `make deb`), or when psoffload is
# installed on this machine already (the test would replace and purge it).
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Exits
# non-zero if any test failed.  Needs root, apt-get, dpkg, setpriv.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-deb.XXXXXX)
listen=$work/pso_notify_listen
cp "$build/tests/tools/pso_notify_listen" "$listen" 2>/dev/null
cp "$build/tests/bpf/xdp_pass.bpf.o" "$work/" 2>/dev/null
pass_obj=$work/xdp_pass.bpf.o
bin=/usr/sbin/psoffload
TOPIC=deb/t

passed=0 failed=0 tnum=0
broker_pid='' broker_log=$work/broker.log listen_pid='' installed_here=''
test_pids=()
diag=$work/diag
pin_dir=/sys/fs/bpf/psoffload-test-deb-$LAB_ID

# shellcheck source=harness.sh
. "$here/harness.sh"

purge() {
	DEBIAN_FRONTEND=noninteractive apt-get purge -y psoffload >"$work/purge.log" 2>&1
}

cleanup() {
	stop_test_pids
	stop_broker
	[ -n "$listen_pid" ] && stop_pid "$listen_pid"
	lab_down
	rm -rf "$pin_dir"
	# A run that stopped half-way leaves nothing installed.
	if [ -n "$installed_here" ] && dpkg-query -W -f='${Status}' psoffload 2>/dev/null |
		grep -q installed; then
		purge
	fi
	rm -rf "$work"
}
trap cleanup EXIT

bail() {
	echo "not ok 1 - $1"
	echo "0 passed, 1 failed"
	exit 1
}
skip() {
	echo "ok 1 - the Debian package # SKIP $1"
	echo "1 passed, 0 failed"
	exit 0
}
[ "$(id -u)" -eq 0 ] || bail "must run as root (apt-get, namespaces, XDP); got uid $(id -u)"
for tool in apt-get dpkg dpkg-deb setpriv systemd-analyze; do
	command -v $tool >/dev/null || bail "$tool is not installed (tests/install-deps.sh)"
done
[ -x "$listen" ] && [ -f "$pass_obj" ] || bail "no $build/tests/tools/pso_notify_listen or xdp_pass.bpf.o: run make first"
debs=("$build"/deb/psoffload_*.deb)
[ -f "${debs[0]}" ] || skip "no $build/deb/psoffload_*.deb: run make deb first"
[ ${#debs[@]} -eq 1 ] || bail "more than one package in $build/deb: ${debs[*]}"
deb=$(cd "$(dirname "${debs[0]}")" && pwd)/$(basename "${debs[0]}")
if dpkg-query -W -f='${Status}' psoffload 2>/dev/null | grep -q installed; then
	skip "psoffload is installed on this machine; this test would replace and purge it"
fi
build_abs=$(cd "$build" && pwd)
case "$build_abs" in
"$root"/*) make_build=${build_abs#"$root"/} ;;
*) make_build=$build_abs ;;
esac

# ---- the tests ---------------------------------------------------------------

# files_under DIR: every file below DIR, relative, sorted.
files_under() { (cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort); }

t_contents() {
	local want got
	if ! make -C "$root" --no-print-directory BUILD="$make_build" DESTDIR="$work/ref" \
		PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system install >"$work/make.log" 2>&1; then
		note "make install into $work/ref failed:"
		tail -n 20 "$work/make.log" | sed 's/^/  /' >>"$diag"
		return 1
	fi
	# That relinked BUILD's binary for PREFIX=/usr: back to the default.
	make -C "$root" --no-print-directory BUILD="$make_build" installable >>"$work/make.log" 2>&1
	# The package's man pages are compressed (dh_compress).
	want=$( { files_under "$work/ref" | sed -E 's|^(usr/share/man/man[0-9]/.*)|\1.gz|'
		printf '%s\n' usr/share/doc/psoffload/copyright usr/share/doc/psoffload/changelog.gz
		} | LC_ALL=C sort)
	got=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | grep -v '/$' | sed 's|^\./||' | LC_ALL=C sort)
	if [ "$want" != "$got" ]; then
		note "files, make install (+ doc) vs the package:"
		diff <(echo "$want") <(echo "$got") | sed 's/^/  /' >>"$diag"
		return 1
	fi
	info "$(wc -l <<<"$got") files, $(grep -c '^etc/' <<<"$got") under /etc"
	# Every file under /etc is a conffile (debhelper marks them).
	dpkg-deb -e "$deb" "$work/control"
	want=$(grep '^etc/' <<<"$got" | sed 's|^|/|')
	got=$(cat "$work/control/conffiles" 2>/dev/null | LC_ALL=C sort)
	[ "$want" = "$(LC_ALL=C sort <<<"$want")" ] && [ "$want" = "$got" ] ||
		fail_with "conffiles: expected '${want//$'\n'/ }', got '${got//$'\n'/ }'"
}

t_install() {
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >"$work/install.log" 2>&1; then
		note "apt-get install -y $deb failed:"
		tail -n 15 "$work/install.log" | sed 's/^/  /' >>"$diag"
		return 1
	fi
	installed_here=1
	dpkg-query -W -f='${Status}' psoffload | grep -q 'install ok installed' ||
		fail_with "dpkg: $(dpkg-query -W -f='${Status}' psoffload)" || return 1
	[ -x "$bin" ] || fail_with "no $bin"
}

t_units() {
	local u rc=0
	for u in /lib/systemd/system/psoffload.service /lib/systemd/system/psoffload@.service; do
		if ! systemd-analyze verify --man=no "$u" >"$work/verify.log" 2>&1; then
			note "systemd-analyze verify $u:"
			sed 's/^/  /' "$work/verify.log" >>"$diag"
			rc=1
		fi
	done
	# Installed, neither enabled nor started: the interfaces come first.
	[ ! -e /etc/systemd/system/multi-user.target.wants/psoffload.service ] ||
		{ note "psoffload.service was enabled by the install"; rc=1; }
	return $rc
}

t_check() {
	local out
	out=$("$bin" check --profile=nfp /usr/share/psoffload/bpf/psoffload_xdp_offload.bpf.o 2>&1) ||
		fail_with "psoffload check --profile=nfp on the installed offload object: $out"
}

# The unit's CapabilityBoundingSet as setpriv's list: "+bpf,+perfmon,...".
unit_caps() {
	sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/psoffload.service | tr ' ' '\n' |
		sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd,
}
ready() { grep -q ' READY=1$' "$work/notify.out"; }
iface() {
	lab_run "$NS_B" "$bin" status --json --pin-dir="$pin_dir" 2>/dev/null |
		jq -r '.interfaces[] | select(.name == "b0") | "\(.profile) \(.mode)"' 2>/dev/null
}
iface_is() { [ "$(iface)" = "$1" ]; }

t_serve() {
	local caps sub_pid
	caps=$(unit_caps)
	[ -n "$caps" ] || fail_with "no CapabilityBoundingSet= in the installed unit" || return 1
	lab_up "$pass_obj" || fail_with "lab_up failed" || return 1
	"$listen" "$work/notify.sock" >"$work/notify.out" 2>"$work/notify.err" &
	listen_pid=$!
	wait_for 5 grep -qx ready "$work/notify.err" || fail_with "pso_notify_listen did not start" || return 1
	env -i PATH="$PATH" NOTIFY_SOCKET="$work/notify.sock" nsenter --net="$(lab_ns "$NS_B")" \
		setpriv --no-new-privs --bounding-set=-all,"$caps" --inh-caps=-all -- \
		"$bin" --store=none --mode=skb --pin-dir="$pin_dir" b0 b1 </dev/null >"$broker_log" 2>&1 &
	broker_pid=$!
	wait_for 15 ready || fail_with "no READY=1 from the installed daemon within 15 s" || return 1
	# The installed profiles: /usr/sbin/../share/psoffload/nic-profiles.
	wait_for 10 iface_is "veth skb" ||
		fail_with "status --json: b0 has profile and mode '$(iface)', expected 'veth skb'" || return 1
	nsenter --net="$(lab_ns "$NS_S1")" "$bin" sub -h $BROKER4 -t $TOPIC -C 1 -W 20 \
		>"$work/sub.out" 2>"$work/sub.err" &
	sub_pid=$!
	test_pids+=("$sub_pid")
	wait_for 10 grep -q 'STATUS=.* 1 client' "$work/notify.out" ||
		fail_with "the subscriber did not connect: $(cat "$work/sub.err")" || return 1
	lab_run "$NS_PUB" "$bin" pub -h $BROKER4 -t $TOPIC -m hello-deb >"$work/pub.out" 2>&1 ||
		fail_with "pub failed: $(cat "$work/pub.out")" || return 1
	wait_for 10 gone "$sub_pid" || fail_with "the subscriber got nothing within 10 s" || return 1
	wait "$sub_pid"
	forget_pid "$sub_pid"
	grep -qx hello-deb "$work/sub.out" || fail_with "the subscriber printed: $(cat "$work/sub.out")"
}

t_stop() {
	[ -n "$broker_pid" ] || fail_with "no daemon running" || return 1
	stop_broker
	[ "$broker_rc" = 0 ] || fail_with "exit status $broker_rc after SIGTERM"
}

t_purge() {
	local left=() f
	purge || { note "apt-get purge -y psoffload failed:"; tail -n 10 "$work/purge.log" >>"$diag"; return 1; }
	installed_here=''
	! dpkg-query -W -f='${Status}' psoffload 2>/dev/null | grep -q installed ||
		fail_with "still installed: $(dpkg-query -W -f='${Status}' psoffload)" || return 1
	for f in "$bin" /usr/share/psoffload /usr/share/doc/psoffload /etc/psoffload \
		 /lib/systemd/system/psoffload.service /lib/systemd/system/psoffload@.service; do
		[ -e "$f" ] && left+=("$f")
	done
	[ ${#left[@]} -eq 0 ] || fail_with "left after purge: ${left[*]}"
}

start=$SECONDS
echo "# $deb"
run_test "the package holds what make install PREFIX=/usr installs, doc, /etc as conffiles" t_contents
run_test "apt-get install -y ./$(basename "$deb")" t_install
if [ -n "$installed_here" ]; then
	run_test "systemd-analyze verify: both installed units; neither enabled" t_units
	run_test "installed psoffload check --profile=nfp: the installed offload object fits" t_check
	run_test "installed $bin as the unit runs it, in the lab: READY, installed profiles, a publish delivered" \
		t_serve
	run_test "SIGTERM: exit 0" t_stop
	stop_test_pids
	[ -n "$listen_pid" ] && stop_pid "$listen_pid"
	listen_pid=''
	lab_down
	run_test "apt-get purge -y psoffload: nothing of it left" t_purge
fi
echo "# runtime $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
