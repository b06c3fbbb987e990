#!/usr/bin/env bash
# test_config.sh BUILD - the settings file and reload (psoffload.conf(5)) in
# the veth lab of lab.sh.
#
# The daemon gets its interfaces and their modes from the file alone
# ([interface b0] mode = skb, [interface b1] in [broker]'s drv); a --port
# on the command line wins over the file's.  Then, while it runs and a
# client's kept session waits offline:
#   - a reload with a bad file (and one with a bad predefined topics file)
#     changes nothing: the session outlives the new expiry those files ask;
#   - a reload (psoffload reload) of a good file shortens the session expiry
#     live: the kept session ends within the new limit;
#   - a reload (SIGHUP) adds a predefined topic: a QoS -1 publish to it
#     reaches its subscriber; a changed key that needs a restart is logged
#     as such and keeps its value;
# and a bad file, or a missing --config file, stops the start with one
# line naming FILE:LINE and the key, exit status 2.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

work=$(mktemp -d /tmp/pso-test-config.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
# The daemon finds nic-profiles/ beside its binary's directory.
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o
conf=$work/psoffload.conf
predef=$work/predefined.txt
pin_dir=/sys/fs/bpf/psoffload-conf-$LAB_ID
port=1883
metrics_port=19464

passed=0 failed=0 tnum=0
broker_pid='' broker_log=$work/broker.log
test_pids=()
diag=$work/diag

# shellcheck source=harness.sh
. "$here/harness.sh"

cleanup() {
	stop_test_pids
	stop_broker
	lab_down
	rm -rf "$pin_dir" "/run/psoffload/${pin_dir##*/}.json"
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
for f in "$psoffload" "$pass_obj"; do
	[ -e "$f" ] || bail "$build/…/$(basename "$f") missing: run make first"
done
for tool in jq nsenter; do
	command -v $tool >/dev/null || bail "$tool is not installed"
done

# ---- helpers ---------------------------------------------------------------------

expect_eq() {
	[ "$2" = "$3" ] && return 0
	note "$1: expected $2, got $3"
	return 1
}

# write_conf SESSION-EXPIRY [EXTRA-BROKER-LINES]: the daemon's settings.
write_conf() {
	cat >"$conf" <<-EOF
	# test_config.sh
	[broker]
	mode = drv
	port = 1999
	predefined = $predef
	session-expiry = $1
	${2:-}

	[interface b0]
	mode = skb

	[interface b1]
	EOF
}

status_json() { lab_run "$NS_B" "$psoffload" status --json --pin-dir="$pin_dir" 2>/dev/null; }
sessions() { status_json | jq -r '.daemon.sessions' 2>/dev/null; }
sessions_are() { [ "$(sessions)" = "$1" ]; }
in_log() { grep -qsE "$1" "$broker_log"; }
# log_lines PATTERN: how many lines of the broker log match.
log_lines() { grep -csE "$1" "$broker_log"; }
log_lines_at_least() { [ "$(log_lines "$1")" -ge "$2" ]; }

reload_cmd() { lab_run "$NS_B" "$psoffload" reload --pin-dir="$pin_dir"; }

# reload_and_wait HOW PATTERN: reload (cmd: psoffload reload, hup: kill
# -HUP) and wait for the next log line matching PATTERN.
reload_and_wait() {
	local n out
	n=$(log_lines "$2")
	if [ "$1" = cmd ]; then
		out=$(reload_cmd 2>&1) || { note "psoffload reload: $out"; return 1; }
	else
		kill -HUP "$broker_pid"
	fi
	wait_for 10 log_lines_at_least "$2" $((n + 1)) ||
		{ note "no new log line '$2' after the reload"; return 1; }
}

# ---- the tests -----------------------------------------------------------------

t_bad_start() {
	local out rc
	printf '[broker]\nport = 1883\nretries = 500\n' >"$work/bad.conf"
	out=$("$psoffload" --config="$work/bad.conf" --pin-dir="$pin_dir" b0 2>&1)
	rc=$?
	[ $rc -eq 2 ] || { note "exit status $rc, expected 2: $out"; return 1; }
	[ "$out" = "psoffload: $work/bad.conf:3: bad retries '500': use 0..100" ] ||
		{ note "got: $out"; return 1; }
	out=$("$psoffload" --config="$work/none.conf" b0 2>&1)
	rc=$?
	[ $rc -eq 2 ] || { note "missing --config: exit status $rc, expected 2: $out"; return 1; }
	[ "$out" = "psoffload: cannot read $work/none.conf: No such file or directory" ] ||
		{ note "missing --config: got: $out"; return 1; }
	out=$(lab_run "$NS_B" "$psoffload" reload --pin-dir="$pin_dir" 2>&1)
	rc=$?
	[ $rc -eq 1 ] || { note "reload without a broker: exit status $rc, expected 1: $out"; return 1; }
}

iface_modes() {
	status_json | jq -r '[.interfaces[] | "\(.name):\(.requested_mode):\(.mode)"] | join(" ")'
}

t_start() {
	printf '5 pre/five\n' >"$predef"
	write_conf 3600
	nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --store=none --config="$conf" --pin-dir="$pin_dir" \
		--port=$port --metrics=127.0.0.1:$metrics_port >"$broker_log" 2>&1 &
	broker_pid=$!
	if ! wait_for 15 in_log "serving MQTT-SN"; then
		note "the daemon did not start"
		return 1
	fi
	in_log "settings from $conf and the command line" ||
		{ note "no 'settings from $conf' line"; return 1; }
	local modes port_now
	modes=$(iface_modes)
	[ "$modes" = "b0:skb:skb b1:drv:drv" ] ||
		{ note "interfaces (name:requested:in force): '$modes', expected 'b0:skb:skb b1:drv:drv'"; return 1; }
	port_now=$(status_json | jq -r .broker.udp_port)
	[ "$port_now" = $port ] || { note "UDP port $port_now: the command line's $port should win"; return 1; }
}

# A client's session, kept offline (CONNECT without CleanSession, then
# DISCONNECT after its -W timeout).
t_kept_session() {
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -p $port -I keeper -c \
		-t kept/topic -W 1 >/dev/null 2>&1
	wait_for 5 in_log "client keeper disconnected; session kept for 3600s" ||
		{ note "no 'session kept' line"; return 1; }
	wait_for 5 sessions_are 1 || { note "sessions: $(sessions), expected 1"; return 1; }
}

# A file that would make the session expire in 1 s, but with an error.
t_bad_reload() {
	local start
	write_conf 1 "retries = 500"
	reload_and_wait cmd "reload: .*nothing changed" || return 1
	in_log "error: reload: $conf:[0-9]+: bad retries '500': use 0..100; nothing changed" ||
		{ note "log: $(grep 'reload:' "$broker_log" | tail -n 1)"; return 1; }
	# A bad predefined topics file: nothing either.
	printf '5 pre/five\n6 pre/+\n' >"$predef"
	write_conf 1
	reload_and_wait hup "reload: .*nothing changed" || return 1
	in_log "error: reload: $predef:2: invalid topic name 'pre/\+'.*; nothing changed" ||
		{ note "log: $(grep 'reload:' "$broker_log" | tail -n 1)"; return 1; }
	# Had either applied, the session would end within 1.5 s (ticks of
	# 0.5 s): it must be there after 3.
	start=$SECONDS
	while [ $((SECONDS - start)) -lt 3 ]; do
		sessions_are 1 || { note "the kept session ended: a bad reload changed the expiry"; return 1; }
		sleep 0.2
	done
	! in_log "keeper session expired" || { note "the session expired"; return 1; }
}

# The same expiry, in a good file: the kept session ends within it.
t_live_limit() {
	printf '5 pre/five\n' >"$predef"
	write_conf 1
	reload_and_wait cmd "reload: $conf: [0-9]+ changes? applied" || return 1
	in_log "info: reload: session-expiry 3600 -> 1$" ||
		{ note "no 'session-expiry 3600 -> 1' line"; return 1; }
	wait_for 5 in_log "client keeper session expired" ||
		{ note "the kept session did not end within 5 s of a 1 s expiry"; return 1; }
	wait_for 5 sessions_are 0 || { note "sessions: $(sessions), expected 0"; return 1; }
}

# raw_connect ID: a CONNECT (CleanSession, keep-alive 60 s) from ns PUB by
# a client that then says nothing: it never answers the broker's REGISTER.
raw_connect() {
	lab_run "$NS_PUB" python3 -c '
import socket, sys
cid = sys.argv[3].encode()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(bytes([6 + len(cid), 0x04, 0x04, 0x01, 0x00, 0x3c]) + cid, (sys.argv[1], int(sys.argv[2])))
s.settimeout(5)
s.recv(64)	# CONNACK
' $BROKER4 $port "$1"
}
validation() { status_json | jq -r ".daemon.validation.$1"; }
topic_series() {
	lab_run "$NS_B" curl -sf "http://127.0.0.1:$metrics_port/metrics" |
		grep -c '^psoffload_topic_messages_total{'
}

# trusted, metrics-topics and event-rate change live: a client of a
# network trusted by the reload starts proven (one before it did not),
# the next scrape has the new number of topics.
t_live_more() {
	local rc=0 n_before u0 v0
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -p $port -t live/a -m x >/dev/null &&
		lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -p $port -t live/b -m x >/dev/null ||
		{ note "pub failed"; return 1; }
	n_before=$(topic_series)
	[ "$n_before" -ge 2 ] || { note "only $n_before topic series before the reload"; return 1; }
	raw_connect untrusted-1 || { note "no CONNACK for untrusted-1"; return 1; }
	u0=$(validation unvalidated) v0=$(validation validated)
	[ "$u0" -ge 1 ] || { note "untrusted-1 is not counted unvalidated ($u0)"; return 1; }
	write_conf 1 $'trusted = 10.77.1.0/24\nmetrics-topics = 1\nevent-rate = 50'
	reload_and_wait cmd "reload: $conf: [0-9]+ changes? applied" || return 1
	in_log "reload: $conf: 3 changes applied, 0 needing a restart" ||
		{ note "summary: $(grep "reload: $conf" "$broker_log" | tail -n 1)"; rc=1; }
	raw_connect trusted-1 || { note "no CONNACK for trusted-1"; return 1; }
	expect_eq "validated sessions after a trusted client" $((v0 + 1)) "$(validation validated)" || rc=1
	expect_eq "unvalidated sessions (untrusted-1 still)" "$u0" "$(validation unvalidated)" || rc=1
	expect_eq "topic series in the next scrape" 1 "$(topic_series)" || rc=1
	info "topic series $n_before -> 1; trusted-1 proven at once, untrusted-1 not"
	return $rc
}

# A new predefined topic, live; a key that needs a restart.
t_predefined_and_restart() {
	local out
	# Not known yet: the subscription is refused.
	out=$(nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -p $port -I early \
		-i 6 -C 1 -W 3 2>&1) && { note "sub -i 6 before the reload: accepted ($out)"; return 1; }
	printf '5 pre/five\n6 pre/six\n' >"$predef"
	# The keys t_live_more changed stay as it left them.
	write_conf 1 $'trusted = 10.77.1.0/24\nmetrics-topics = 1\nevent-rate = 50\n'"profiles-dir = $work/elsewhere"
	reload_and_wait hup "reload: $conf: " || return 1
	in_log "info: reload: 1 new predefined topic from $predef" ||
		{ note "no '1 new predefined topic' line"; return 1; }
	in_log "warning: reload: profiles-dir .* -> $work/elsewhere needs a restart" ||
		{ note "no 'profiles-dir ... needs a restart' line"; return 1; }
	in_log "reload: $conf: 0 changes applied, 1 needing a restart" ||
		{ note "summary: $(grep "reload: $conf" "$broker_log" | tail -n 1)"; return 1; }
	# The topic works: a QoS -1 publish (no connection) to id 6 reaches
	# a subscriber of id 6.
	nsenter --net="$(lab_ns "$NS_S1")" "$psoffload" sub -h $BROKER4 -p $port -I late \
		-i 6 -C 1 -W 10 >"$work/late.out" 2>"$work/late.err" &
	test_pids+=("$!")
	local sub=$!
	wait_for 10 in_log "client late subscribed to" || { note "late did not subscribe"; return 1; }
	lab_run "$NS_PUB" "$psoffload" pub -h $BROKER4 -p $port -q -1 -i 6 -m hello ||
		{ note "pub -q -1 -i 6 failed"; return 1; }
	wait_gone "$sub" 10 || { note "late got nothing in 10 s"; return 1; }
	wait "$sub" || { note "sub: $(cat "$work/late.err")"; return 1; }
	forget_pid "$sub"
	[ "$(cat "$work/late.out")" = hello ] || { note "late got '$(cat "$work/late.out")'"; return 1; }
	# Still serving, both interfaces as before.
	[ "$(iface_modes)" = "b0:skb:skb b1:drv:drv" ] || { note "interfaces now: $(iface_modes)"; return 1; }
}

t_stop() {
	stop_broker
	[ "$broker_rc" = 0 ] || { note "exit status $broker_rc after SIGTERM"; return 1; }
}

lab_up "$pass_obj" || bail "cannot build the veth lab"
run_test "a bad settings file or a missing --config: one line FILE:LINE, exit 2; reload without a broker: 1" t_bad_start
run_test "interfaces and modes from [interface] sections; --port wins over the file" t_start
if [ -n "$broker_pid" ]; then
	run_test "a session kept offline (session-expiry 3600)" t_kept_session
	run_test "reload of a bad file, of a bad predefined file: nothing changes" t_bad_reload
	run_test "psoffload reload: session-expiry 1 ends the kept session live" t_live_limit
	run_test "reload: trusted, metrics-topics and event-rate live" t_live_more
	run_test "SIGHUP: a new predefined topic serves QoS -1; profiles-dir needs a restart" \
		t_predefined_and_restart
	run_test "SIGTERM after the reloads: exit 0" t_stop
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
