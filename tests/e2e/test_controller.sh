#!/usr/bin/env bash
# test_controller.sh BUILD - the host controller (docs/DESIGN.md): the
# mode each interface gets and why, explicit modes that cannot be had, what
# `psoffload status` reports, link events while the broker runs, and a clean
# detach on SIGTERM.
#
# Two broker namespaces, each with its own daemon(s):
#
#   lab.sh's veth lab (namespace B: b0 on a bridge with PUB, S1, S2; b1 to S3)
#     daemon A: --mode=auto b0 b1; native XDP (drv) on both veths.  It runs
#     from test 1 to the end: link events (delete and re-create b1, b0
#     down/up, MTU), then SIGTERM.
#
#   the macvlan lab (namespace MB):
#     m0 (veth, no address) --- bridge mbr0 in MSW --- mp0 (MP, 10.77.3.10)
#      `- mv0 macvlan, bridge mode, 10.77.3.1          `- ms0 (MS, 10.77.3.11)
#     v0 (veth, 10.77.4.1) ---- vp0 (V, 10.77.4.10, an XDP program of its own)
#     macvlan has no native XDP: auto takes generic (skb) mode there.
#     daemons: --mode=hw v0 (refused), --mode=auto mv0 (skb, pub/sub through
#     mv0), --mode=drv mv0 (refused), --mode=auto v0 mv0 (drv and skb).
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Exits
# non-zero if any test failed.  Needs root, jq, ethtool, iproute2.
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"
# shellcheck source=runfile.sh
. "$here/runfile.sh"

work=$(mktemp -d /tmp/pso-test-controller.XXXXXX)
# Private copies of the build outputs: a concurrent rebuild of BUILD cannot
# swap a binary in the middle of the run.  The daemon finds nic-profiles/
# beside its binary's directory: copied beside the copy.
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o bpf/psoffload_xdp.bpf.o bpf/psoffload_xdp_offload.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
driver_obj=$work/bin/psoffload_xdp.bpf.o
offload_obj=$work/bin/psoffload_xdp_offload.bpf.o

# The macvlan lab, beside lab.sh's.
NS_MB=pso-mb-$LAB_ID
NS_MSW=pso-msw-$LAB_ID
NS_MP=pso-mp-$LAB_ID
NS_MS=pso-ms-$LAB_ID
NS_V=pso-v-$LAB_ID
MV_NAMESPACES=("$NS_MB" "$NS_MSW" "$NS_MP" "$NS_MS" "$NS_V")
BROKER4_MV=10.77.3.1
BROKER4_V=10.77.4.1
PIN_PREFIX=/sys/fs/bpf/psoffload-ctl-$LAB_ID

passed=0 failed=0 tnum=0
diag=$work/diag		# the running test's diagnostics
daemons=()		# every daemon started, for the clean-up
test_pids=()		# clients started by the running test
stop_report=$work/stops	# what each stopped daemon left behind (test 12)
: >"$stop_report"

# ---- set-up and clean-up -----------------------------------------------------

# mine PID: the process is still a child of this script (a PID already
# reaped may belong to anyone).
mine() { [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]; }

kill_pid() {
	mine "$1" || return 0
	kill -CONT "$1" 2>/dev/null
	kill -TERM "$1" 2>/dev/null
	wait_for 5 gone "$1" || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

gone() { ! kill -0 "$1" 2>/dev/null; }

cleanup() {
	local p ns
	for p in "${test_pids[@]}" "${daemons[@]}"; do kill_pid "$p"; done
	lab_down
	for ns in "${MV_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	# Pins and status files of a daemon that could not remove them itself.
	for p in a hw c drv e sz; do
		rm -rf "$PIN_PREFIX-$p"
		rm -f "/run/psoffload/${PIN_PREFIX##*/}-$p.json" "$(run_file "$PIN_PREFIX-$p" lock)"
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bail() {
	echo "not ok 1 - $1"
	echo "0 passed, 1 failed"
	exit 1
}
[ "$(id -u)" -eq 0 ] || bail "must run as root (namespaces, XDP, bpffs); got uid $(id -u)"
for f in "$psoffload" "$pass_obj" "$driver_obj" "$offload_obj"; do
	[ -e "$f" ] || bail "$build/…/$(basename "$f") missing: run make first"
done
for tool in jq ethtool ip tc nsenter; do
	command -v $tool >/dev/null || bail "$tool is not installed"
done

mv_lab_up() {
	local ns
	for ns in "${MV_NAMESPACES[@]}"; do
		ip netns add "$ns" || return 1
		lab_run "$ns" ip link set lo up
	done
	lab_run "$NS_MSW" ip link add mbr0 type bridge || return 1
	lab_run "$NS_MSW" ip link set mbr0 up
	lab_veth "$NS_MB" m0 "$NS_MSW" swm0 || return 1
	lab_veth "$NS_MP" mp0 "$NS_MSW" swmp || return 1
	lab_veth "$NS_MS" ms0 "$NS_MSW" swms || return 1
	for dev in swm0 swmp swms; do
		lab_run "$NS_MSW" ip link set "$dev" master mbr0 || return 1
	done
	lab_run "$NS_MB" ip link add mv0 link m0 type macvlan mode bridge || return 1
	# m0 would answer ARP for mv0's address (arp_ignore=0: any local
	# address), and the clients would then talk to m0's MAC, past mv0.
	lab_run "$NS_MB" sysctl -qw net.ipv4.conf.m0.arp_ignore=1 || return 1
	lab_run "$NS_MB" ethtool -K mv0 tx off rx off >/dev/null 2>&1
	lab_run "$NS_MB" ip link set mv0 up
	lab_addr "$NS_MB" mv0 $BROKER4_MV/24 fd77:3::1/64
	lab_addr "$NS_MP" mp0 10.77.3.10/24 fd77:3::10/64
	lab_addr "$NS_MS" ms0 10.77.3.11/24 fd77:3::11/64
	lab_veth "$NS_MB" v0 "$NS_V" vp0 || return 1
	lab_addr "$NS_MB" v0 $BROKER4_V/24 fd77:4::1/64
	lab_addr "$NS_V" vp0 10.77.4.10/24 fd77:4::10/64
	# v0 may XDP_TX to vp0 in native mode: vp0 needs a program of its own.
	lab_run "$NS_V" ip link set vp0 xdpdrv obj "$pass_obj" sec xdp || return 1
}

if ! lab_up "$pass_obj" >"$work/lab.err" 2>&1 || ! mv_lab_up >>"$work/lab.err" 2>&1; then
	sed 's/^/# /' "$work/lab.err"
	bail "cannot build the veth/macvlan lab"
fi

# ---- reporting ---------------------------------------------------------------

note() { printf '%s\n' "$*" >>"$diag"; }

# expect WHAT EXPECTED GOT: one comparison, noted when it fails.
expect() {
	[ "$2" = "$3" ] && return 0
	note "$1: expected '$2', got '$3'"
	return 1
}

# expect_match WHAT ERE STRING
expect_match() {
	grep -qE -- "$2" <<<"$3" && return 0
	note "$1: expected /$2/, got '$3'"
	return 1
}

cur_log=''	# the log of the daemon the running test is about
run_test() {
	local name=$1 rc p
	shift
	tnum=$((tnum + 1))
	: >"$diag"
	cur_log=''
	"$@"
	rc=$?
	for p in "${test_pids[@]}"; do kill_pid "$p"; done
	test_pids=()
	if [ $rc -eq 0 ]; then
		echo "ok $tnum - $name"
		passed=$((passed + 1))
	elif [ $rc -eq 77 ]; then
		echo "ok $tnum - $name # SKIP $(head -n 1 "$diag")"
	else
		echo "not ok $tnum - $name"
		sed 's/^/#   /' "$diag"
		if [ -n "$cur_log" ] && [ -f "$cur_log" ]; then
			echo "#   daemon log (last lines):"
			tail -n 10 "$cur_log" | cut -c1-220 | sed 's/^/#     /'
		fi
		failed=$((failed + 1))
	fi
}

# ---- daemons -----------------------------------------------------------------

# start_daemon NS PIN LOG ARGS...: a broker in NS with its own pin dir; sets
# daemon_pid once it serves (returns 1 and notes the log if it does not).
start_daemon() {
	local ns=$1 pin=$2 log=$3
	shift 3
	nsenter --net="$(lab_ns "$ns")" "$psoffload" --store=none -v --pin-dir="$pin" "$@" >"$log" 2>&1 &
	daemon_pid=$!
	daemons+=("$daemon_pid")
	if ! wait_for 15 serving_or_dead "$daemon_pid" "$log" || gone "$daemon_pid"; then
		note "the daemon did not start (psoffload --pin-dir=$pin $*):"
		sed 's/^/  /' "$log" >>"$diag"
		kill_pid "$daemon_pid"
		return 1
	fi
}
serving_or_dead() { gone "$1" || grep -qs "serving MQTT-SN" "$2"; }

# stop_daemon PID: SIGTERM, then its exit status in stop_rc (KILL and 124
# after 10 s).
stop_daemon() {
	kill -TERM "$1" 2>/dev/null
	if wait_for 10 gone "$1"; then
		wait "$1"
		stop_rc=$?
	else
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		stop_rc=124
	fi
}

# run_refused NS PIN ARGS...: a daemon that must refuse to start.  Sets
# refused_rc, refused_ms (wall time) and leaves stdout/stderr in
# $work/refused.{out,err}.
run_refused() {
	local ns=$1 pin=$2 t0
	shift 2
	t0=$(date +%s%N)
	timeout 30 nsenter --net="$(lab_ns "$ns")" "$psoffload" --store=none --pin-dir="$pin" "$@" \
		>"$work/refused.out" 2>"$work/refused.err" </dev/null
	refused_rc=$?
	refused_ms=$((($(date +%s%N) - t0) / 1000000))
}

status_file() { echo "/run/psoffload/$(basename "$1").json"; }
status_json() { lab_run "$1" "$psoffload" status --json --pin-dir="$2" 2>&1; }
# iface_field NS PIN IFACE JQ-PATH: one field of one interface in status --json.
iface_field() {
	status_json "$1" "$2" | jq -r --arg n "$3" ".interfaces[] | select(.name == \$n) | $4" 2>/dev/null
}
field_is() { [ "$(iface_field "$1" "$2" "$3" "$4")" = "$5" ]; }

log_has() { grep -qsE -- "$2" "$1"; }
log_count() { grep -cE -- "$2" "$1"; }
log_more() { [ "$(log_count "$1" "$2")" -gt "$3" ]; }

# ---- what is attached to an interface -----------------------------------------

# xdp_mode_word NS DEV: the XDP word of the first line of `ip -d link show`:
# xdp (native), xdpgeneric, xdpoffload, xdpmulti, or nothing.
xdp_mode_word() {
	lab_run "$1" ip -d link show dev "$2" 2>/dev/null | head -n 1 |
		grep -oE ' xdp(generic|offload|multi)? ' | tr -d ' '
}
xdp_prog_id() {
	lab_run "$1" ip -d link show dev "$2" 2>/dev/null |
		sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -n 1
}
tc_ingress() { lab_run "$1" tc filter show dev "$2" ingress 2>/dev/null; }
has_clsact() { local q; q=$(lab_run "$1" tc qdisc show dev "$2" 2>/dev/null); grep -q clsact <<<"$q"; }

# attached_ok NS PIN DEV WORD: DEV carries XDP as WORD (xdp | xdpgeneric)
# with the program id status reports, and the TC ingress filter likewise.
attached_ok() {
	local ns=$1 pin=$2 dev=$3 word=$4 rc=0 id sid
	expect "$dev: ip link XDP attach mode" "$word" "$(xdp_mode_word "$ns" "$dev")" || rc=1
	id=$(xdp_prog_id "$ns" "$dev")
	sid=$(iface_field "$ns" "$pin" "$dev" .programs.xdp)
	[ -n "$id" ] || { note "$dev: no prog/xdp in ip -d link show"; rc=1; }
	expect "$dev: XDP program id, status vs ip link" "$id" "$sid" || rc=1
	# TC: a clsact filter, or (6.6+) the broker's pinned tcx link.
	id=$(tc_ingress_prog "$ns" "$pin" "$dev")
	if [ -z "$id" ]; then
		note "$dev: no TC ingress program (clsact filter or tcx link): $(tc_ingress "$ns" "$dev")"
		rc=1
	else
		expect "$dev: TC program id, status vs the attachment" "$id" \
			"$(iface_field "$ns" "$pin" "$dev" .programs.tc)" || rc=1
	fi
	return $rc
}

# leftovers NS DEV...: a line for everything still attached to each DEV.
leftovers() {
	local ns=$1 dev w
	shift
	for dev in "$@"; do
		lab_run "$ns" ip link show dev "$dev" >/dev/null 2>&1 || continue
		w=$(xdp_mode_word "$ns" "$dev")
		[ -z "$w" ] || echo "$dev: XDP still attached ($w, prog id $(xdp_prog_id "$ns" "$dev"))"
		[ -z "$(tc_ingress "$ns" "$dev")" ] ||
			echo "$dev: TC ingress filter left: $(tc_ingress "$ns" "$dev" | tr '\n' ' ')"
		! has_clsact "$ns" "$dev" || echo "$dev: clsact qdisc left"
	done
}

# pin_leftovers PIN: a line if the pin dir holds anything or a status or lock file exists.
pin_leftovers() {
	local pin=$1 sf
	sf=$(status_file "$pin")
	if [ -d "$pin" ] && [ -n "$(ls -A "$pin" 2>/dev/null)" ]; then
		echo "pin dir $pin not empty: $(ls -A "$pin" | tr '\n' ' ')"
	fi
	[ ! -e "$sf" ] || echo "status file $sf left"
	[ ! -e "$(run_file "$pin" lock)" ] || echo "lock file $(run_file "$pin" lock) left"
	if lab_run "$NS_B" "$psoffload" status --pin-dir="$pin" >/dev/null 2>&1; then
		echo "psoffload status --pin-dir=$pin still exits 0"
	fi
}

# record_stop NAME PID NS PIN DEV...: stop a daemon now and keep what it
# left behind for the SIGTERM test.
record_stop() {
	local name=$1 pid=$2 ns=$3 pin=$4 left
	shift 4
	stop_daemon "$pid"
	left=$( { leftovers "$ns" "$@"; pin_leftovers "$pin"; } )
	[ "$stop_rc" -eq 0 ] || left="exit status $stop_rc after SIGTERM${left:+; }$left"
	printf '%s: %s\n' "$name" "${left:-clean}" >>"$stop_report"
}

# ---- clients -----------------------------------------------------------------

# round_trip LOG TAG SUB_NS SUB_HOST PUB_NS PUB_HOST: a subscriber to ctl/TAG,
# three messages published, all three received, byte for byte.
round_trip() {
	local log=$1 tag=$2 sub_ns=$3 sub_host=$4 pub_ns=$5 pub_host=$6 pid rc=0 ec out
	printf 'round trip %s message %d\n' "$tag" 1 "$tag" 2 "$tag" 3 >"$work/$tag.exp"
	nsenter --net="$(lab_ns "$sub_ns")" "$psoffload" sub -h "$sub_host" -I "$tag-sub" \
		-t "ctl/$tag" -C 3 -W 20 >"$work/$tag.out" 2>"$work/$tag.err" </dev/null &
	pid=$!
	test_pids+=("$pid")
	if ! wait_for 10 log_has "$log" "client $tag-sub subscribed to ctl/$tag"; then
		note "round trip $tag: the subscriber did not subscribe via $sub_host"
		sed 's/^/  sub stderr: /' "$work/$tag.err" | head -n 3 >>"$diag"
		return 1
	fi
	wait_for 5 log_has "$log" "client $tag-sub: next hop (resolved|unresolved)" ||
		note "round trip $tag: no next-hop line for the subscriber"
	out=$(lab_run "$pub_ns" "$psoffload" pub -h "$pub_host" -I "$tag-pub" -t "ctl/$tag" -l \
		<"$work/$tag.exp" 2>&1)
	ec=$?
	expect "round trip $tag: psoffload pub exit status ($out)" 0 "$ec" || rc=1
	if ! wait_for 10 gone "$pid"; then
		note "round trip $tag: subscriber still waiting after 10 s ($(wc -l <"$work/$tag.out") lines)"
		rc=1
	else
		wait "$pid"
		ec=$?
		expect "round trip $tag: subscriber exit status" 0 "$ec" || rc=1
	fi
	if ! cmp -s "$work/$tag.exp" "$work/$tag.out"; then
		note "round trip $tag: the subscriber printed:"
		sed 's/^/  | /' "$work/$tag.out" | head -n 5 >>"$diag"
		rc=1
	fi
	return $rc
}

counter() { lab_run "$1" "$psoffload" stats --json --pin-dir="$2" | jq -r ".counters.$3"; }

# ---- the tests ---------------------------------------------------------------

A_PIN=$PIN_PREFIX-a A_LOG=$work/daemon-a.log a_pid=''
a_running() {
	[ -n "$a_pid" ] && ! gone "$a_pid" && return 0
	note "daemon A is not running"
	return 1
}

# 1. auto on veths: native XDP, the TC filter, status says drv and why.
t_auto_veth() {
	local rc=0 dev reason
	cur_log=$A_LOG
	start_daemon "$NS_B" "$A_PIN" "$A_LOG" --mode=auto b0 b1 || return 1
	a_pid=$daemon_pid
	for dev in b0 b1; do
		attached_ok "$NS_B" "$A_PIN" "$dev" xdp || rc=1
		expect "$dev: status mode" drv "$(iface_field "$NS_B" "$A_PIN" "$dev" .mode)" || rc=1
		expect "$dev: status state" up "$(iface_field "$NS_B" "$A_PIN" "$dev" .state)" || rc=1
		reason=$(iface_field "$NS_B" "$A_PIN" "$dev" .reason)
		expect_match "$dev: reason steps down from hw to drv" "^hw: .+; drv: " "$reason" || rc=1
		expect_match "$dev: the log says drv and why" \
			"$dev: driver veth, .*: drv mode \(hw: .*drv: " "$(cat "$A_LOG")" || rc=1
	done
	expect "status requested_mode" auto \
		"$(status_json "$NS_B" "$A_PIN" | jq -r .broker.requested_mode)" || rc=1
	[ -e "$A_PIN/pso_topics" ] || { note "no pinned map $A_PIN/pso_topics while running"; rc=1; }
	return $rc
}

# 2. hw on a veth: refused at once, one line, nothing left.
t_hw_refused() {
	local rc=0 pin=$PIN_PREFIX-hw left
	run_refused "$NS_MB" "$pin" --mode=hw v0
	[ "$refused_rc" -ne 0 ] && [ "$refused_rc" -ne 124 ] ||
		{ note "exit status $refused_rc, want non-zero (124: hung)"; rc=1; }
	[ "$refused_ms" -lt 5000 ] || { note "took $refused_ms ms to refuse"; rc=1; }
	expect "stderr lines" 1 "$(wc -l <"$work/refused.err")" || rc=1
	expect "stdout bytes" 0 "$(wc -c <"$work/refused.out")" || rc=1
	expect_match "the line names the interface, why, and the mode to try" \
		"^psoffload: v0: .*(hw|offload).*; try --mode=drv$" "$(cat "$work/refused.err")" || rc=1
	[ $rc -eq 0 ] || sed 's/^/  stderr: /' "$work/refused.err" >>"$diag"
	left=$( { leftovers "$NS_MB" v0; pin_leftovers "$pin"; } )
	[ -z "$left" ] || { note "left behind: $left"; rc=1; }
	return $rc
}

# 3. auto on a macvlan: generic XDP, status says skb and why; pub/sub works
# through the macvlan (publisher and subscriber both behind it: XDP_TX).
C_PIN=$PIN_PREFIX-c C_LOG=$work/daemon-c.log
t_auto_macvlan() {
	local rc=0 reason tx0 tx1 pid
	cur_log=$C_LOG
	start_daemon "$NS_MB" "$C_PIN" "$C_LOG" --mode=auto mv0 || return 1
	pid=$daemon_pid
	attached_ok "$NS_MB" "$C_PIN" mv0 xdpgeneric || rc=1
	expect "mv0: status mode" skb "$(iface_field "$NS_MB" "$C_PIN" mv0 .mode)" || rc=1
	expect "mv0: status driver" macvlan "$(iface_field "$NS_MB" "$C_PIN" mv0 .driver)" || rc=1
	reason=$(iface_field "$NS_MB" "$C_PIN" mv0 .reason)
	expect_match "mv0: reason says drv is not available" \
		"^hw: .+; drv: [^;]*(does not|no native|not )[^;]*; skb: " "$reason" || rc=1
	tx0=$(counter "$NS_MB" "$C_PIN" xdp_tx)
	round_trip "$C_LOG" mv "$NS_MS" $BROKER4_MV "$NS_MP" $BROKER4_MV || rc=1
	tx1=$(counter "$NS_MB" "$C_PIN" xdp_tx)
	if log_has "$C_LOG" "client mv-sub: next hop resolved"; then
		expect "xdp_tx delta (generic XDP on mv0 forwarded)" 3 $((tx1 - tx0)) || {
			rc=1
			lab_run "$NS_MB" "$psoffload" stats --pin-dir="$C_PIN" | awk '$2 != 0' |
				sed 's/^/  stats: /' >>"$diag"
			sed 's/^/  log: /' "$C_LOG" >>"$diag"
		}
	fi
	record_stop "auto on mv0" "$pid" "$NS_MB" "$C_PIN" mv0
	return $rc
}

# 4. drv on the macvlan: refused, one line, try skb, nothing left.
t_drv_refused() {
	local rc=0 pin=$PIN_PREFIX-drv left
	run_refused "$NS_MB" "$pin" --mode=drv mv0
	[ "$refused_rc" -ne 0 ] && [ "$refused_rc" -ne 124 ] ||
		{ note "exit status $refused_rc, want non-zero (124: hung)"; rc=1; }
	[ "$refused_ms" -lt 5000 ] || { note "took $refused_ms ms to refuse"; rc=1; }
	expect "stderr lines" 1 "$(wc -l <"$work/refused.err")" || rc=1
	expect_match "the line names the interface, why, and the mode to try" \
		"^psoffload: mv0: .*(native|XDP).*; try --mode=skb$" "$(cat "$work/refused.err")" || rc=1
	[ $rc -eq 0 ] || sed 's/^/  stderr: /' "$work/refused.err" >>"$diag"
	left=$( { leftovers "$NS_MB" mv0 m0; pin_leftovers "$pin"; } )
	[ -z "$left" ] || { note "left behind: $left"; rc=1; }
	return $rc
}

# 5. One broker, two plans: v0 in drv, mv0 in skb, each with its reason.
E_PIN=$PIN_PREFIX-e E_LOG=$work/daemon-e.log
t_two_plans() {
	local rc=0 pid text
	cur_log=$E_LOG
	start_daemon "$NS_MB" "$E_PIN" "$E_LOG" --mode=auto v0 mv0 || return 1
	pid=$daemon_pid
	attached_ok "$NS_MB" "$E_PIN" v0 xdp || rc=1
	attached_ok "$NS_MB" "$E_PIN" mv0 xdpgeneric || rc=1
	expect "v0: status mode" drv "$(iface_field "$NS_MB" "$E_PIN" v0 .mode)" || rc=1
	expect "mv0: status mode" skb "$(iface_field "$NS_MB" "$E_PIN" mv0 .mode)" || rc=1
	expect_match "v0: reason" "^hw: [^;]+; drv: [^;]+$" \
		"$(iface_field "$NS_MB" "$E_PIN" v0 .reason)" || rc=1
	expect_match "mv0: reason" "^hw: [^;]+; drv: [^;]+; skb: " \
		"$(iface_field "$NS_MB" "$E_PIN" mv0 .reason)" || rc=1
	text=$(lab_run "$NS_MB" "$psoffload" status --pin-dir="$E_PIN" 2>&1)
	expect_match "status text: v0 row" "^v0 +veth +drv +up +[0-9]+/0/[0-9]+ +hw: " "$text" || rc=1
	expect_match "status text: mv0 row" "^mv0 +macvlan +skb +up +[0-9]+/0/[0-9]+ +hw: " "$text" || rc=1
	[ $rc -eq 0 ] || printf '%s\n' "$text" | sed 's/^/  status: /' >>"$diag"
	record_stop "auto on v0 and mv0" "$pid" "$NS_MB" "$E_PIN" v0 mv0
	return $rc
}

# 6, 7. psoffload check, one line each.
t_check() {
	local want=$1 obj=$2 out ec
	out=$("$psoffload" check --profile=nfp --profiles-dir="$work/nic-profiles" "$obj" 2>&1)
	ec=$?
	expect "exit status of psoffload check --profile=nfp $(basename "$obj")" "$want" "$ec" ||
		{ printf '%s\n' "$out" | head -n 5 | sed 's/^/  /' >>"$diag"; return 1; }
}

# 8. Delete b1: logged, status says gone, b0 still serves.
t_link_gone() {
	local rc=0
	cur_log=$A_LOG
	a_running || return 1
	lab_run "$NS_B" ip link del b1 || { note "cannot delete b1"; return 1; }
	wait_for 5 log_has "$A_LOG" "b1: interface gone" ||
		{ note "no 'b1: interface gone' line in the log"; rc=1; }
	wait_for 5 field_is "$NS_B" "$A_PIN" b1 .state gone ||
		{ note "b1: status state '$(iface_field "$NS_B" "$A_PIN" b1 .state)', want gone"; rc=1; }
	expect "b1: status mode" none "$(iface_field "$NS_B" "$A_PIN" b1 .mode)" || rc=1
	expect "b0: status mode" drv "$(iface_field "$NS_B" "$A_PIN" b0 .mode)" || rc=1
	expect "b0: status state" up "$(iface_field "$NS_B" "$A_PIN" b0 .state)" || rc=1
	attached_ok "$NS_B" "$A_PIN" b0 xdp || rc=1
	round_trip "$A_LOG" gone "$NS_S1" $BROKER4 "$NS_PUB" $BROKER4 || rc=1
	return $rc
}

# 9. Re-create b1 as a user would (link, offloads off, up, addresses, the
# peer back in S3 with its routes and XDP program): logged, attached again
# in drv, and a subscriber behind it gets a publish from port 1.
t_link_back() {
	local rc=0 idx
	cur_log=$A_LOG
	a_running || return 1
	{
		lab_veth "$NS_B" b1 "$NS_S3" s3 &&
		lab_addr "$NS_B" b1 $BROKER4_P2/24 $BROKER6_P2/64 &&
		lab_addr "$NS_S3" s3 10.77.2.13/24 fd77:2::13/64 &&
		lab_run "$NS_S3" ip route add 10.77.1.0/24 via $BROKER4_P2 &&
		lab_run "$NS_S3" ip -6 route add fd77:1::/64 via $BROKER6_P2 &&
		lab_run "$NS_S3" ip link set s3 xdpdrv obj "$pass_obj" sec xdp
	} >"$work/recreate.err" 2>&1 || {
		note "cannot re-create b1: $(cat "$work/recreate.err")"
		return 1
	}
	idx=$(lab_run "$NS_B" ip -j link show dev b1 | jq -r ".[0].ifindex")
	if ! wait_for 5 log_has "$A_LOG" "b1: interface back"; then
		note "no 'b1: interface back' line in the log"
		grep -E "b1: " "$A_LOG" | tail -n 3 | sed 's/^/  log: /' >>"$diag"
		rc=1
	fi
	wait_for 5 field_is "$NS_B" "$A_PIN" b1 .mode drv ||
		{ note "b1: status mode '$(iface_field "$NS_B" "$A_PIN" b1 .mode)', want drv"; rc=1; }
	expect "b1: status state" up "$(iface_field "$NS_B" "$A_PIN" b1 .state)" || rc=1
	expect "b1: status ifindex (the new interface)" "$idx" \
		"$(iface_field "$NS_B" "$A_PIN" b1 .ifindex)" || rc=1
	expect_match "b1: status reason" "^hw: .+; drv: " \
		"$(iface_field "$NS_B" "$A_PIN" b1 .reason)" || rc=1
	attached_ok "$NS_B" "$A_PIN" b1 xdp || rc=1
	round_trip "$A_LOG" back "$NS_S3" $BROKER4_P2 "$NS_PUB" $BROKER4 || rc=1
	return $rc
}

# 10. b0 down and up, twice (every event counts, not only the first):
# "link down" / "link up" each time, and status follows.
t_link_down_up() {
	local rc=0 n cycle state
	cur_log=$A_LOG
	a_running || return 1
	for cycle in 1 2; do
		for state in down up; do
			n=$(log_count "$A_LOG" "b0: link $state$")
			lab_run "$NS_B" ip link set b0 "$state"
			wait_for 5 log_more "$A_LOG" "b0: link $state$" "$n" ||
				{ note "cycle $cycle: no new 'b0: link $state' line"; rc=1; }
			wait_for 5 field_is "$NS_B" "$A_PIN" b0 .state "$state" ||
				{ note "cycle $cycle: b0: status state '$(iface_field "$NS_B" "$A_PIN" b0 .state)', want $state"; rc=1; }
		done
	done
	expect "b0: XDP still attached" xdp "$(xdp_mode_word "$NS_B" b0)" || rc=1
	return $rc
}

# 11. b0's MTU: "MTU 1500 -> 1400" and back, status follows.
t_mtu() {
	local rc=0 m from to
	cur_log=$A_LOG
	a_running || return 1
	for m in "1500 1400" "1400 1500"; do
		read -r from to <<<"$m"
		lab_run "$NS_B" ip link set b0 mtu "$to" || { note "cannot set b0 mtu $to"; rc=1; continue; }
		wait_for 5 log_has "$A_LOG" "b0: MTU $from -> $to$" ||
			{ note "no 'b0: MTU $from -> $to' line"; rc=1; }
		wait_for 5 field_is "$NS_B" "$A_PIN" b0 .mtu "$to" ||
			{ note "b0: status mtu '$(iface_field "$NS_B" "$A_PIN" b0 .mtu)', want $to"; rc=1; }
	done
	return $rc
}

# 12. b0's IPv4 address changes while the broker runs: logged, the data
# plane judges publishes by the new address (a subscriber on the same port
# is served by XDP_TX, counted), and the old address is back afterwards.
t_address_change() {
	local rc=0 tx0 tx1 new4=10.77.1.5
	cur_log=$A_LOG
	a_running || return 1
	# The second address becomes primary when the first goes.
	lab_run "$NS_B" sysctl -qw net.ipv4.conf.b0.promote_secondaries=1 &&
		lab_run "$NS_B" ip addr add $new4/24 dev b0 &&
		lab_run "$NS_B" ip addr del $BROKER4/24 dev b0 || { note "cannot change b0's address"; return 1; }
	wait_for 5 log_has "$A_LOG" "b0: addresses changed: IPv4 $BROKER4 -> $new4," ||
		{ note "no 'b0: addresses changed: IPv4 $BROKER4 -> $new4' line"; rc=1; }
	tx0=$(counter "$NS_B" "$A_PIN" xdp_tx)
	round_trip "$A_LOG" addr "$NS_S1" $new4 "$NS_PUB" $new4 || rc=1
	tx1=$(counter "$NS_B" "$A_PIN" xdp_tx)
	[ "$((tx1 - tx0))" -ge 3 ] ||
		{ note "xdp_tx $tx0 -> $tx1: the data plane did not forward to the new address"; rc=1; }
	lab_run "$NS_B" ip addr add $BROKER4/24 dev b0 &&
		lab_run "$NS_B" ip addr del $new4/24 dev b0 || { note "cannot restore b0's address"; return 1; }
	wait_for 5 log_has "$A_LOG" "b0: addresses changed: IPv4 $new4 -> $BROKER4," ||
		{ note "no 'b0: addresses changed: IPv4 $new4 -> $BROKER4' line"; rc=1; }
	round_trip "$A_LOG" addrback "$NS_S1" $BROKER4 "$NS_PUB" $BROKER4 || rc=1
	return $rc
}

# 13. [driver] table sizes from the NIC profile: the host tables are made
# that size (status and the pinned maps say so), and a client beyond
# max_clients is refused with "congestion" while the others are served.
t_profile_sizes() {
	local rc=0 pin=$PIN_PREFIX-sz log=$work/daemon-sz.log prof=$work/profiles-sz pid i out ec
	cur_log=$log
	cp -r "$work/nic-profiles" "$prof" || { note "cannot copy the profiles"; return 1; }
	sed -i 's/^max_topics = 0/max_topics = 16/; s/^max_clients = 0/max_clients = 2/' "$prof/veth.ini"
	grep -q '^max_subscriptions' "$prof/veth.ini" ||
		sed -i '/^max_clients = /a max_subscriptions = 1024' "$prof/veth.ini"
	start_daemon "$NS_MB" "$pin" "$log" --profiles-dir="$prof" v0 || return 1
	pid=$daemon_pid
	expect "status: topics capacity" 16 "$(status_json "$NS_MB" "$pin" | jq -r .tables.topics.capacity)" || rc=1
	expect "status: clients capacity" 2 "$(status_json "$NS_MB" "$pin" | jq -r .tables.clients.capacity)" || rc=1
	expect "pinned pso_clients max_entries" 2 \
		"$(bpftool -j map show pinned "$pin/pso_clients" | jq -r .max_entries)" || rc=1
	# The pool holds 1,024 subscriptions however they spread: 2 x 1,024 +
	# 4 x 16 topics (pso_dp_pool_slots).
	expect "pinned pso_subs max_entries (the pool)" $((2 * 1024 + 4 * 16)) \
		"$(bpftool -j map show pinned "$pin/pso_subs" | jq -r .max_entries)" || rc=1
	for i in 1 2; do
		nsenter --net="$(lab_ns "$NS_V")" "$psoffload" sub -h $BROKER4_V -I "sz$i" -t ctl/sz \
			-W 20 >/dev/null 2>&1 </dev/null &
		test_pids+=("$!")
		wait_for 10 log_has "$log" "client sz$i subscribed to ctl/sz" ||
			{ note "subscriber sz$i did not subscribe"; rc=1; }
	done
	out=$(lab_run "$NS_V" "$psoffload" pub -h $BROKER4_V -I sz3 -t ctl/sz -m x 2>&1)
	ec=$?
	expect "third client: pub exit status ($out)" 1 "$ec" || rc=1
	expect_match "third client: refusal" "connect refused: rejected: congestion" "$out" || rc=1
	log_has "$log" "client sz3 .* refused: client table full" ||
		{ note "no 'client sz3 ... refused: client table full' line"; rc=1; }
	for p in "${test_pids[@]}"; do kill_pid "$p"; done
	test_pids=()
	stop_daemon "$pid"
	expect "exit status after SIGTERM" 0 "$stop_rc" || rc=1
	return $rc
}

# 14. SIGTERM: exit 0, nothing attached, no pins, no status file - for
# daemon A now, and for the daemons the earlier tests stopped.
t_sigterm() {
	local rc=0 left line
	cur_log=$A_LOG
	if ! a_running; then
		rc=1
	else
		stop_daemon "$a_pid"
		expect "daemon A exit status after SIGTERM" 0 "$stop_rc" || rc=1
		log_has "$A_LOG" "stopped; everything detached" || { note "no 'stopped' line in the log"; rc=1; }
		left=$( { leftovers "$NS_B" b0 b1; pin_leftovers "$A_PIN"; } )
		[ -z "$left" ] || { note "daemon A left: $left"; rc=1; }
		[ ! -e "$A_PIN" ] || note "(pin dir $A_PIN is empty but still there)"
	fi
	while IFS= read -r line; do
		case $line in
		*": clean") ;;
		*) note "daemon $line"; rc=1 ;;
		esac
	done <"$stop_report"
	expect "daemons stopped earlier" 2 "$(wc -l <"$stop_report")" || rc=1
	return $rc
}

start_s=$SECONDS
run_test "auto on veths: native XDP and TC filter, status drv with the step down from hw" t_auto_veth
run_test "--mode=hw on a veth: refused at once, one line with try --mode=drv, nothing left" t_hw_refused
run_test "auto on a macvlan: generic XDP, status skb (no drv), pub/sub through it" t_auto_macvlan
run_test "--mode=drv on a macvlan: refused, one line with try --mode=skb, nothing left" t_drv_refused
run_test "one broker, two plans: veth drv and macvlan skb, each with its reason" t_two_plans
run_test "check --profile=nfp: the offload build fits (exit 0)" t_check 0 "$offload_obj"
run_test "check --profile=nfp: the driver build does not (exit 1)" t_check 1 "$driver_obj"
run_test "link gone: b1 deleted, logged, status gone, b0 still serves pub/sub" t_link_gone
run_test "link back: b1 re-created, logged, drv again, pub/sub over it" t_link_back
run_test "link down/up: logged, status follows" t_link_down_up
run_test "MTU change: logged, status follows" t_mtu
run_test "address change: logged, the data plane serves the new address" t_address_change
run_test "profile [driver] sizes: tables made that size, a client beyond max_clients refused" t_profile_sizes
run_test "SIGTERM: exit 0, nothing attached, no pins, no status file" t_sigterm

echo "# runtime $((SECONDS - start_s)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
