#!/usr/bin/env bash
# test_gateway.sh BUILD - end-to-end tests of MQTT-SN gateway discovery
# (v1.2, 6.1) in the veth lab of lab.sh, whose broker namespace has no
# default route: SEARCHGW to a broadcast, multicast or unicast address is
# answered with GWINFO from the receiving port's own address, and
# --advertise sends ADVERTISE on every served port, IPv4 limited broadcast
# and IPv6 all-nodes (ff02::1).  The client side is tests/e2e/gwdisc.py.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Exits
# non-zero if any test failed.  Needs root and python3.
#
# Environment: PSO_TEST_MODES="skb drv" (the modes to run, in order),
# PSO_TEST_ONLY=ERE (only the tests whose name matches).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-gateway.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
gwdisc=$here/gwdisc.py
MODES=${PSO_TEST_MODES:-"skb drv"}
GW_ID=42
ADV_S=1

passed=0 failed=0 tnum=0
broker_pid='' broker_log='' pin_dir='' daemon_n=0 tshark_pid=''
test_pids=()
diag=$work/diag
tmp=$work

# shellcheck source=harness.sh
. "$here/harness.sh"

cleanup() {
	stop_test_pids
	[ -n "$tshark_pid" ] && stop_pid "$tshark_pid"
	stop_broker
	lab_down
	rm -rf "/sys/fs/bpf/psoffload-test-gw-$LAB_ID"-* 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "test_gateway: must run as root (namespaces, XDP, bpffs); got uid $(id -u)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
for f in "$psoffload" "$pass_obj"; do
	if [ ! -e "$f" ]; then
		echo "test_gateway: $build/$(basename "$f") (or its tests/ counterpart) missing: run make first" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done
if ! command -v python3 >/dev/null; then
	echo "test_gateway: python3 is needed for the discovery client (gwdisc.py)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# ---- the daemon ----------------------------------------------------------------

start_broker() {
	daemon_n=$((daemon_n + 1))
	pin_dir=/sys/fs/bpf/psoffload-test-gw-$LAB_ID-$daemon_n
	broker_log=$tmp/broker-$daemon_n.log
	: >"$broker_log"
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --store=none -v --mode="$mode" --pin-dir="$pin_dir" \
		"$@" b0 b1 >"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 10 grep -q "serving MQTT-SN" "$broker_log"; then
		echo "# the daemon did not start (psoffload --mode=$mode $*):"
		sed 's/^/#   /' "$broker_log"
		stop_broker
		return 1
	fi
}

# ---- the tests -------------------------------------------------------------------

# The lab's broker namespace has connected routes only: what this script
# tests is what a gateway must do without a default route.
t_no_default_route() {
	local r4 r6
	r4=$(lab_run "$NS_B" ip -4 route show default)
	r6=$(lab_run "$NS_B" ip -6 route show default)
	[ -z "$r4$r6" ] || fail_with "the broker namespace has a default route: $r4 $r6"
}

# t_search NS IFACE DEST WANT [SRC]: SEARCHGW to DEST out of IFACE (from
# SRC); the GWINFO that comes back must read WANT ("GWINFO from ADDR
# gw_id=N").
t_search() {
	local ns=$1 ifc=$2 dest=$3 want=$4 src=${5:-} out rc
	out=$(lab_run "$ns" python3 "$gwdisc" search "$dest" "$ifc" 5 ${src:+"$src"} 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		note "no GWINFO within 5 s for SEARCHGW to $dest from $ifc: ${out:-(nothing)}"
		return 1
	fi
	info "$out"
	if ! grep -qxF "$want" <<<"$out"; then
		note "expected \"$want\", got: $out"
		return 1
	fi
}

# ADVERTISE on every served port, each family: listeners on the lab's
# segment behind b0 (PUB) and behind b1 (S3).
t_advertise() {
	local rc=0 l name ns ifc a4 a6 line
	declare -A pid
	for l in "pub $NS_PUB pub0 $BROKER4 $BROKER6" "s3 $NS_S3 s3 $BROKER4_P2 $BROKER6_P2"; do
		read -r name ns ifc a4 a6 <<<"$l"
		: >"$tmp/adv-$name.out"
		nsenter --net="$(lab_ns "$ns")" python3 "$gwdisc" listen "$ifc" 10 \
			>"$tmp/adv-$name.out" 2>"$tmp/adv-$name.err" &
		pid[$name]=$!
		test_pids+=("$!")
	done
	for l in "pub $NS_PUB pub0 $BROKER4 $BROKER6" "s3 $NS_S3 s3 $BROKER4_P2 $BROKER6_P2"; do
		read -r name ns ifc a4 a6 <<<"$l"
		# The listener ends by itself once it has an ADVERTISE per family.
		if ! wait_gone "${pid[$name]}" 12 || ! wait "${pid[$name]}"; then
			note "listener on $ifc: not an ADVERTISE over both IPv4 and IPv6 within 10 s" \
				"(advertise every ${ADV_S} s); it printed:"
			sed 's/^/  /' "$tmp/adv-$name.out" "$tmp/adv-$name.err" | head -n 8 >>"$diag"
			rc=1
			continue
		fi
		for line in "ADVERTISE from $a4 gw_id=$GW_ID duration=$ADV_S" \
			    "ADVERTISE from $a6 gw_id=$GW_ID duration=$ADV_S"; do
			if ! grep -qxF "$line" "$tmp/adv-$name.out"; then
				note "listener on $ifc: no \"$line\"; it printed:"
				sed 's/^/  /' "$tmp/adv-$name.out" | head -n 8 >>"$diag"
				rc=1
			fi
		done
		info "$ifc: $(grep -m1 "from $a4" "$tmp/adv-$name.out"); $(grep -m1 "from $a6" "$tmp/adv-$name.out")"
	done
	return $rc
}

# b0's link-local address once DAD is done (prints it), else fails.
b0_link_local() {
	lab_run "$NS_B" ip -6 -o addr show dev b0 scope link -tentative |
		awk '{ sub("/.*", "", $4); print $4; ok = 1 } END { exit !ok }'
}

# Whatever the broker sent: no send refused by the kernel.
t_no_send_errors() {
	local bad
	bad=$(grep -E "Network is unreachable|send to .* failed|broadcast .* failed" "$broker_log")
	[ -z "$bad" ] || fail_with "the daemon logged send errors: $(head -n 3 <<<"$bad")"
}

# Everything the broker sent to PUB (UDP source port 1883: nothing else in
# the lab sends from it) decodes as MQTT-SN: ADVERTISE, GWINFO.
t_tshark() {
	local fields bad
	[ -n "$tshark_pid" ] || { note "tshark not installed"; return 77; }
	kill -INT "$tshark_pid"
	wait "$tshark_pid"
	tshark_pid=
	fields=$(tshark -r "$tmp/gw.pcapng" -d udp.port==1883,mqttsn \
		-Y "udp.srcport == 1883" -T fields -E separator='|' \
		-e frame.number -e _ws.col.Protocol -e mqttsn.msg.type -e _ws.malformed \
		2>"$tmp/decode.err")
	info "packets from the broker by MQTT-SN type:" \
		"$(cut -d'|' -f3 <<<"$fields" | sort | uniq -c | tr -s ' \n' ' ')"
	grep -q '|0x00|' <<<"$fields" || fail_with "no ADVERTISE (0x00) from the broker captured" || return 1
	grep -q '|0x02|' <<<"$fields" || fail_with "no GWINFO (0x02) from the broker captured" || return 1
	bad=$(awk -F'|' '$2 != "MQTT-SN" || $3 == "" || $4 != ""' <<<"$fields")
	[ -z "$bad" ] || fail_with "not clean MQTT-SN (frame|proto|type|malformed): $(head -n 3 <<<"$bad")"
}

# ---- one mode --------------------------------------------------------------------

run_mode() {
	mode=$1
	tmp=$work/$mode
	mkdir -p "$tmp"
	echo "# mode $mode: lab $LAB_ID"
	if ! lab_up "$pass_obj"; then
		lab_down
		run_test "$mode: the veth lab comes up" fail_with "lab_up failed"
		return 1
	fi
	if command -v tshark >/dev/null; then
		: >"$tmp/tshark.log"
		nsenter --net="$(lab_ns "$NS_PUB")" tshark -i pub0 -f "udp port 1883" \
			-w "$tmp/gw.pcapng" >/dev/null 2>"$tmp/tshark.log" &
		tshark_pid=$!
		wait_for 15 grep -qs "Capture started" "$tmp/tshark.log" ||
			echo "# tshark did not start: $(cat "$tmp/tshark.log")"
	fi
	if ! start_broker --gw-id=$GW_ID --advertise=$ADV_S; then
		run_test "$mode: the daemon starts" fail_with "see the daemon's output above"
		lab_down
		return 1
	fi
	run_test "$mode: the broker namespace has no default route" t_no_default_route
	run_test "$mode: SEARCHGW to the subnet broadcast 10.77.1.255: GWINFO from $BROKER4" \
		t_search "$NS_PUB" pub0 10.77.1.255 "GWINFO from $BROKER4 gw_id=$GW_ID"
	run_test "$mode: SEARCHGW to 255.255.255.255: GWINFO from $BROKER4" \
		t_search "$NS_PUB" pub0 255.255.255.255 "GWINFO from $BROKER4 gw_id=$GW_ID"
	run_test "$mode: SEARCHGW to 255.255.255.255 behind port 2: GWINFO from $BROKER4_P2" \
		t_search "$NS_S3" s3 255.255.255.255 "GWINFO from $BROKER4_P2 gw_id=$GW_ID"
	# From a link-local address (the source a link-scope destination
	# gets) the answer comes from b0's link-local address, to one from a
	# global address from the broker's global address.
	run_test "$mode: SEARCHGW to ff02::1 from fd77:1::10: GWINFO from $BROKER6" \
		t_search "$NS_PUB" pub0 ff02::1 "GWINFO from $BROKER6 gw_id=$GW_ID" fd77:1::10
	if wait_for 5 b0_link_local >/dev/null; then
		run_test "$mode: SEARCHGW to ff02::1 from link-local: GWINFO from $(b0_link_local)" \
			t_search "$NS_PUB" pub0 ff02::1 "GWINFO from $(b0_link_local) gw_id=$GW_ID"
	else
		run_test "$mode: b0 has a link-local address" fail_with "none after 5 s (DAD)"
	fi
	run_test "$mode: SEARCHGW unicast to $BROKER4: GWINFO from $BROKER4" \
		t_search "$NS_PUB" pub0 "$BROKER4" "GWINFO from $BROKER4 gw_id=$GW_ID"
	run_test "$mode: SEARCHGW unicast to $BROKER6: GWINFO from $BROKER6" \
		t_search "$NS_PUB" pub0 "$BROKER6" "GWINFO from $BROKER6 gw_id=$GW_ID"
	run_test "$mode: ADVERTISE on both ports, IPv4 broadcast and IPv6 ff02::1, no default route" \
		t_advertise
	run_test "$mode: no send refused (Network is unreachable) in the daemon log" t_no_send_errors
	run_test "$mode: tshark: what the broker sent decodes as MQTT-SN" t_tshark
	stop_broker
	[ -n "$tshark_pid" ] && stop_pid "$tshark_pid"
	tshark_pid=
	lab_down
}

start=$SECONDS
for m in $MODES; do
	run_mode "$m"
done
echo "# runtime $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
