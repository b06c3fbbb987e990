#!/usr/bin/env bash
# test_ha.sh BUILD - a broker group (--ha-group, --vip) over a three-member
# etcd cluster, in a lab of its own:
#
#            +-- ns SW: bridge br0 (one L2 segment) -------------------+
#   ns PUB --|pub0 .10      ns S1 s1 .11      ns S2 s2 .12             |
#            +-----------------------------|------------------|-------+
#                                     swb1 |             swb2 |
#   ns B1: lan0 10.79.1.1/24 --------------+                  |
#          st0 10.79.101.2 ---+          ns B2: lan0 10.79.1.2/24
#                             |                 st0 10.79.102.2 ---+
#   ns ETC: eb1 10.79.101.1 --+  eb2 10.79.102.1 ------------------+
#           etcd members on 10.79.200.1-3 (lo), client ports 23711-23713,
#           peer ports 23721-23723
#
# The group's VIP is 10.79.1.100/24 on lan0; clients use it alone.  Each
# broker reaches etcd over a link of its own (st0), so a test can cut one
# broker off the store without cutting it off its clients.
#
# Tests (drv mode): the first broker leads; failover under a fixed-rate
# publisher with fan-out 1 and 16 (kill -9 the leader: no subscription,
# registration or session lost, no client acts, the forwarding gap below
# TTL + 1 s); the old leader returns as a standby and takes nothing back;
# a planned step-down (gap and losses measured); a partition (the leader
# loses etcd, not its clients: it stops answering on the VIP within the
# lease TTL, and no publish is delivered twice); one etcd member killed:
# nothing changes; all three killed: forwarding goes on, new CONNECTs are
# refused (0x01), and after the restart everything is accepted again;
# two brokers registering one new name at once get one id.
#
# One result line per test, "ok N - NAME" or "not ok N - NAME" followed by
# "#"-prefixed diagnostics; the last line is "N passed, N failed".  Needs
# root, etcd and etcdctl (etcd-server, etcd-client), jq, python3, iproute2.
#
# Environment: PSO_TEST_ONLY=ERE (only the tests whose name matches);
# PSO_HA_RUNS=N failover runs for the figures (default 1; the benchmark
# runs 10); PSO_HA_TTL=S the lease TTL (default 3); PSO_HA_KEEP=DIR keeps
# the daemons' and etcd's logs there; PSO_HA_NODE=1 adds the failover of a
# whole node (its links down with the process).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab.sh
. "$here/lab.sh"

ID=$$
work=$(mktemp -d /tmp/pso-test-ha.XXXXXX)
mkdir -p "$work/bin"
for f in psoffload tests/bpf/xdp_pass.bpf.o; do
	cp "$build/$f" "$work/bin/" 2>/dev/null
done
[ -d "$here/../../nic-profiles" ] && cp -r "$here/../../nic-profiles" "$work/"
psoffload=$work/bin/psoffload
pass_obj=$work/bin/xdp_pass.bpf.o

NS_SW=ha-sw-$ID NS_PUB=ha-pub-$ID NS_S1=ha-s1-$ID NS_S2=ha-s2-$ID
NS_B1=ha-b1-$ID NS_B2=ha-b2-$ID NS_ETC=ha-etc-$ID
HA_NAMESPACES=("$NS_SW" "$NS_PUB" "$NS_S1" "$NS_S2" "$NS_B1" "$NS_B2" "$NS_ETC")
VIP=10.79.1.100
GROUP=ha-g-$ID
TTL=${PSO_HA_TTL:-3}
RUNS=${PSO_HA_RUNS:-1}
RATE=200		# publishes a second
STORE=etcd:http://10.79.200.1:23711,http://10.79.200.2:23712,http://10.79.200.3:23713
ENDPOINTS=http://10.79.200.1:23711,http://10.79.200.2:23712,http://10.79.200.3:23713

passed=0 failed=0 tnum=0
broker_pid='' broker_log=''
test_pids=()
declare -A bpid blog etcd_pid
declare -a sub_pids=()
diag=$work/diag

# shellcheck source=harness.sh
. "$here/harness.sh"

bname() { echo "ha-b$1-$ID"; }
bpin() { echo "/sys/fs/bpf/ha-b$1-$ID"; }
bns() { [ "$1" = 1 ] && echo "$NS_B1" || echo "$NS_B2"; }

stop_b() {	# I: SIGTERM, then SIGKILL
	local p=${bpid[$1]:-}
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	bpid[$1]=
}

stop_etcd() {	# I
	local p=${etcd_pid[$1]:-}
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	etcd_pid[$1]=
}

cleanup() {
	local i ns
	stop_test_pids
	for i in 1 2; do stop_b $i; done
	for i in 1 2 3; do stop_etcd $i; done
	for ns in "${HA_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
	for i in 1 2; do
		rm -rf "$(bpin $i)"
		rm -f /run/psoffload/"$(bname $i)".* 
	done
	# PSO_HA_KEEP=DIR: the daemons' and etcd's logs are kept there.
	[ -n "${PSO_HA_KEEP:-}" ] && mkdir -p "$PSO_HA_KEEP" && cp "$work"/*.log "$PSO_HA_KEEP"/ 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

bail() {
	echo "not ok 1 - $1"
	echo "0 passed, 1 failed"
	exit 1
}
[ "$(id -u)" -eq 0 ] || bail "must run as root (namespaces, XDP, bpffs); got uid $(id -u)"
for f in "$psoffload" "$pass_obj"; do
	[ -e "$f" ] || bail "$build/…/$(basename "$f") missing: run make first"
done
for tool in etcd etcdctl jq python3 ip nsenter ethtool; do
	command -v $tool >/dev/null || bail "$tool is not installed (tests/install-deps.sh)"
done

# ---- the lab --------------------------------------------------------------------

ha_lab_up() {
	local ns i
	for ns in "${HA_NAMESPACES[@]}"; do
		ip netns add "$ns" || return 1
		lab_run "$ns" ip link set lo up
	done
	lab_run "$NS_SW" ip link add br0 type bridge
	lab_run "$NS_SW" ip link set br0 up
	lab_veth "$NS_B1" lan0 "$NS_SW" swb1 || return 1
	lab_veth "$NS_B2" lan0 "$NS_SW" swb2 || return 1
	lab_veth "$NS_PUB" pub0 "$NS_SW" swpub || return 1
	lab_veth "$NS_S1" s1 "$NS_SW" sws1 || return 1
	lab_veth "$NS_S2" s2 "$NS_SW" sws2 || return 1
	for dev in swb1 swb2 swpub sws1 sws2; do
		lab_run "$NS_SW" ip link set "$dev" master br0
	done
	lab_addr "$NS_B1" lan0 10.79.1.1/24 fd79:1::1/64
	lab_addr "$NS_B2" lan0 10.79.1.2/24 fd79:1::2/64
	lab_addr "$NS_PUB" pub0 10.79.1.10/24 fd79:1::10/64
	lab_addr "$NS_S1" s1 10.79.1.11/24 fd79:1::11/64
	lab_addr "$NS_S2" s2 10.79.1.12/24 fd79:1::12/64
	# the store's network: one link per broker
	lab_veth "$NS_B1" st0 "$NS_ETC" eb1 || return 1
	lab_veth "$NS_B2" st0 "$NS_ETC" eb2 || return 1
	lab_run "$NS_B1" ip addr add 10.79.101.2/24 dev st0
	lab_run "$NS_B2" ip addr add 10.79.102.2/24 dev st0
	lab_run "$NS_ETC" ip addr add 10.79.101.1/24 dev eb1
	lab_run "$NS_ETC" ip addr add 10.79.102.1/24 dev eb2
	lab_run "$NS_B1" ip route add 10.79.200.0/24 via 10.79.101.1
	lab_run "$NS_B2" ip route add 10.79.200.0/24 via 10.79.102.1
	for i in 1 2 3; do lab_run "$NS_ETC" ip addr add 10.79.200.$i/32 dev lo; done
	# The bridge's ports that receive the brokers' XDP_TX frames.
	lab_run "$NS_SW" ip link set swb1 xdpdrv obj "$pass_obj" sec xdp || return 1
	lab_run "$NS_SW" ip link set swb2 xdpdrv obj "$pass_obj" sec xdp || return 1
}

start_etcd() {	# I: member I of the cluster (its data directory kept across restarts)
	local i=$1 cluster=''
	local j
	for j in 1 2 3; do cluster+="${cluster:+,}m$j=http://10.79.200.$j:2372$j"; done
	mkdir -p "$work/etcd$i"
	nsenter --net="$(lab_ns "$NS_ETC")" etcd --name "m$i" --data-dir "$work/etcd$i" \
		--listen-client-urls "http://10.79.200.$i:2371$i" \
		--advertise-client-urls "http://10.79.200.$i:2371$i" \
		--listen-peer-urls "http://10.79.200.$i:2372$i" \
		--initial-advertise-peer-urls "http://10.79.200.$i:2372$i" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "ha-$ID" --logger zap --log-level error \
		>>"$work/etcd$i.log" 2>&1 &
	etcd_pid[$i]=$!
}

etcd_healthy() {	# [ENDPOINTS]
	lab_run "$NS_ETC" etcdctl --endpoints="${1:-$ENDPOINTS}" --dial-timeout=1s \
		--command-timeout=2s endpoint health >/dev/null 2>&1
}

ha_lab_up >"$work/lab.err" 2>&1 || { sed 's/^/# /' "$work/lab.err"; bail "cannot build the lab"; }
for i in 1 2 3; do start_etcd $i; done
wait_for 30 etcd_healthy || { tail -n 5 "$work"/etcd*.log | sed 's/^/# /'; bail "etcd did not start"; }

# ---- helpers -------------------------------------------------------------------

ms_now() { echo $(($(date +%s%N) / 1000000)); }
status_of() { "$psoffload" status --json --name="$(bname "$1")" 2>/dev/null; }
role_of() { status_of "$1" | jq -r '.ha.role // empty'; }
is_role() { [ "$(role_of "$1")" = "$2" ]; }
serving() { grep -q "serving MQTT-SN" "$1"; }
serving_or_gone() { serving "$2" || gone "$1"; }
leader() { local i; for i in 1 2; do is_role $i leader && echo $i; done; }
standby_of() {	# I J: broker I is a standby of leader J, with a lease
	local js
	js=$(status_of "$1")
	[ "$(jq -r .ha.role <<<"$js")" = standby ] && [ "$(jq -r .ha.leader <<<"$js")" = "$(bname "$2")" ] &&
		[ -n "$(jq -r .ha.lease <<<"$js")" ]
}
one_leader() { [ "$(leader | wc -l)" = 1 ]; }

# start_b I: broker I in its namespace, a member of the group.
start_b() {
	local i=$1 ns
	ns=$(bns "$i")
	blog[$i]=$work/b$i.$tnum.log
	: >>"${blog[$i]}"
	nsenter --net="$(lab_ns "$ns")" "$psoffload" --mode=drv --pin-dir="$(bpin "$i")" \
		--name="$(bname "$i")" --store="$STORE" --ha-group="$GROUP" \
		--vip="$VIP/24@lan0" --ha-lease-ttl="$TTL" --trusted=10.79.0.0/16 \
		--max-publish-rate=0 --profiles-dir="$work/nic-profiles" lan0 \
		>>"${blog[$i]}" 2>&1 &
	bpid[$i]=$!
	if ! wait_for 20 serving_or_gone "${bpid[$i]}" "${blog[$i]}" || ! serving "${blog[$i]}"; then
		fail_with "broker $i did not start: $(tail -n 3 "${blog[$i]}")"
		return 1
	fi
	broker_log=${blog[$i]}
}

# kill9_b I: the process dies; its node (namespace, pins) stays.
kill9_b() {
	kill -KILL "${bpid[$1]}" 2>/dev/null
	wait "${bpid[$1]}" 2>/dev/null
	bpid[$1]=
}

# node_back I: a node whose links went down (t_failover node) is back.
node_back() {
	local ns
	ns=$(bns "$1")
	lab_run "$ns" ip link set lan0 up
	lab_run "$ns" ip link set st0 up
	lab_run "$ns" ip route replace 10.79.200.0/24 via "10.79.10$1.1"
}

# The group from nothing: broker 1 leads, broker 2 stands by.
group_up() {
	local i
	for i in 1 2; do stop_b $i; rm -rf "$(bpin $i)"; node_back $i; done
	lab_run "$NS_ETC" etcdctl --endpoints="$ENDPOINTS" del --prefix "/psoffload/$GROUP/" >/dev/null
	start_b 1 || return 1
	wait_for 10 is_role 1 leader || { fail_with "broker 1 did not lead: $(status_of 1 | jq -c .ha)"; return 1; }
	start_b 2 || return 1
	wait_for 10 standby_of 2 1 || { fail_with "broker 2 is no standby: $(status_of 2 | jq -c .ha)"; return 1; }
}

vip_on() {	# I: the VIP is on broker I's lan0
	# Read whole first: under pipefail, grep -q leaving early fails ip (SIGPIPE).
	local a
	a=$(lab_run "$(bns "$1")" ip -o addr show dev lan0)
	[[ $a == *" $VIP/"* ]]
}

vip_off() { ! vip_on "$1"; }

# subscribers N: N subscribers to r/t (half in S1, half in S2) on the VIP,
# each printing what it gets to sub.I.
subscribers() {
	local i ns
	for ((i = 0; i < $1; i++)); do
		ns=$NS_S1
		[ $((i % 2)) -eq 1 ] && ns=$NS_S2
		nsenter --net="$(lab_ns "$ns")" "$psoffload" sub -h $VIP -t r/t -k 60 -I "hs$i-$tnum" \
			>"$work/sub.$i" 2>"$work/sub.$i.err" &
		test_pids+=($!)
		sub_pids[$i]=$!
	done
}

used_on() {	# I TABLE
	status_of "$1" | jq -r ".tables.$2.used"
}
has_used() { [ "$(used_on "$1" "$2")" = "$3" ]; }

# publisher SECONDS: numbered publishes to r/t at RATE/s on the VIP.
publisher() {
	msgs=$(($1 * RATE))
	python3 -c "
import time
t0 = time.monotonic()
for i in range($msgs):
    print(i, flush=True)
    time.sleep(max(0, t0 + (i + 1) / $RATE - time.monotonic()))
" | nsenter --net="$(lab_ns "$NS_PUB")" "$psoffload" pub -h $VIP -t r/t -l -W 20 -I "hp-$tnum" \
		>"$work/pub.out" 2>&1 &
	pub_pid=$!
	test_pids+=("$pub_pid")
}

# start_traffic FANOUT SECONDS: subscribers on the leader, then the publisher.
start_traffic() {
	local l=$1
	subscribers "$2"
	wait_for 10 has_used "$l" subscribers "$2" ||
		{ fail_with "the $2 subscriber(s) did not subscribe: $(used_on "$l" subscribers)"; return 1; }
	publisher "$3"
	wait_for 10 has_used "$l" clients $(($2 + 1)) || { fail_with "the publisher did not connect"; return 1; }
	sleep 1		# a second of traffic before the event
}

finish_traffic() {
	wait_for 30 gone "$pub_pid" || { fail_with "the publisher did not finish"; return 1; }
	wait "$pub_pid" || { fail_with "the publisher failed: $(tail -n 2 "$work/pub.out")"; return 1; }
	forget_pid "$pub_pid"
	sleep 0.5	# the last ones on their way
}

# gaps N: per subscriber, the publishes it got, the largest gap between
# two it got in a row (ms, from the publish numbers at RATE/s) and the
# duplicates; sets lost, gap_max, gap_med, dups.
gaps() {
	local out
	out=$(python3 - "$work" "$1" "$msgs" "$RATE" <<'EOF'
import sys, statistics
work, n, msgs, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lost = dups = 0
gs = []
for i in range(n):
    got = [int(l) for l in open(f"{work}/sub.{i}") if l.strip().isdigit()]
    u = sorted(set(got))
    dups += len(got) - len(u)
    lost += msgs - len(u)
    g = 0
    for a, b in zip(u, u[1:]):
        g = max(g, b - a)
    if u:
        g = max(g, u[0] + 1, msgs - u[-1])
    gs.append(g * 1000 // rate)
print(lost, max(gs), int(statistics.median(gs)), dups)
EOF
)
	read -r lost gap_max gap_med dups <<<"$out"
}

# No client acted: every subscriber runs still and never connected again.
clients_idle() {
	local i
	for ((i = 0; i < $1; i++)); do
		kill -0 "${sub_pids[$i]}" 2>/dev/null ||
			{ note "subscriber $i exited: $(tail -n 2 "$work/sub.$i.err")"; return 1; }
	done
}

counts() {	# I: "sessions subscribers topics" as broker I has them
	status_of "$1" | jq -r '"\(.daemon.sessions) \(.tables.subscribers.used) \(.tables.topics.used)"'
}

# ---- tests ---------------------------------------------------------------------

t_roles() {
	group_up || return 1
	vip_on 1 || { note "the leader has no VIP"; return 1; }
	vip_on 2 && { note "the standby has the VIP"; return 1; }
	local js
	js=$(status_of 2)
	[ "$(jq -r .ha.leader <<<"$js")" = "$(bname 1)" ] || { note "standby's leader: $(jq -c .ha <<<"$js")"; return 1; }
	[ "$(jq -r .ha.group <<<"$js")" = "$GROUP" ] || { note "group: $(jq -c .ha <<<"$js")"; return 1; }
	"$psoffload" status --name="$(bname 2)" | grep "^Group: $GROUP, member $(bname 2), standby (leader $(bname 1))" >/dev/null ||
		{ note "status: $("$psoffload" status --name="$(bname 2)" | grep Group)"; return 1; }
}

# t_failover FANOUT [node]: kill -9 the leader under traffic.  Its data
# plane, pinned, forwards on until its VIP's lifetime ends; "node": its
# links go down with it, as when the whole node is lost.
t_failover() {
	local fanout=$1 how=${2:-process} before after t0 t1 run
	local -a gmax=()
	for ((run = 1; run <= RUNS; run++)); do
		group_up || return 1
		start_traffic 1 "$fanout" 8 || return 1
		before=$(counts 1)
		# the standby has every session already (its copy of the store)
		wait_for 5 has_used 2 clients $((fanout + 1)) ||
			{ fail_with "the standby's copy: $(counts 2), the leader's: $before"; return 1; }
		t0=$(ms_now)
		kill9_b 1
		if [ "$how" = node ]; then
			lab_run "$NS_B1" ip link set lan0 down
			lab_run "$NS_B1" ip link set st0 down
		fi
		wait_for $((TTL + 5)) is_role 2 leader || { fail_with "broker 2 did not take over"; return 1; }
		t1=$(ms_now)
		vip_on 2 || { note "the new leader has no VIP"; return 1; }
		after=$(counts 2)
		finish_traffic || return 1
		gaps "$fanout"
		[ "$how" = node ] && node_back 1
		info "run $run ($how): kill -9 to leader $((t1 - t0)) ms; forwarding gap median $gap_med ms, worst $gap_max ms over $fanout subscriber(s); $lost publishes lost in the gap, $dups duplicates; sessions/subscribers/topics $before -> $after"
		gmax+=("$gap_max")
		[ "$before" = "$after" ] || { note "lost state: $before -> $after"; return 1; }
		clients_idle "$fanout" || return 1
		[ "$gap_max" -lt $(((TTL + 1) * 1000)) ] ||
			{ note "gap $gap_max ms, bound $(((TTL + 1) * 1000)) ms"; return 1; }
		# Counted, not asserted here: in one run of twenty one subscriber
		# got one publish twice while the dead leader's pinned data plane
		# and the new leader both forwarded (docs/BENCHMARKS.md); the
		# partition and the step-down assert none.
		[ "$dups" = 0 ] || info "run $run: $dups duplicate deliveries"
		stop_test_pids
	done
	[ "$RUNS" -gt 1 ] && info "gaps of $RUNS runs ($how, TTL $TTL s), ms: $(printf '%s\n' "${gmax[@]}" | sort -n | tr '\n' ' ')"
	return 0
}

# The old leader returns: a standby, and it takes nothing back by itself.
t_return() {
	is_role 2 leader || { group_up && kill9_b 1 && wait_for $((TTL + 5)) is_role 2 leader; } ||
		{ fail_with "no failover to start from"; return 1; }
	rm -rf "$(bpin 1)"	# its node restarted: no pins left
	start_b 1 || return 1
	wait_for 10 is_role 1 standby || { fail_with "broker 1 is no standby: $(status_of 1 | jq -c .ha)"; return 1; }
	sleep $((2 * TTL))
	is_role 2 leader || { note "broker 2 lost the lead: $(status_of 2 | jq -c .ha)"; return 1; }
	is_role 1 standby || { note "broker 1 took over: $(status_of 1 | jq -c .ha)"; return 1; }
	vip_on 1 && { note "broker 1 holds the VIP"; return 1; }
	vip_on 2 || { note "broker 2 lost the VIP: $(status_of 2 | jq -c .ha.vips)"; tail -n 12 "${blog[2]}" | cut -c1-200 | while read -r l; do note "b2: $l"; done; return 1; }
}

t_step_down() {
	local fanout=16 before after t0 t1 out run
	local -a gmax=()
	for ((run = 1; run <= RUNS; run++)); do
		group_up || return 1
		start_traffic 1 $fanout 6 || return 1
		before=$(counts 1)
		wait_for 5 has_used 2 clients $((fanout + 1)) ||
			{ fail_with "the standby's copy: $(counts 2)"; return 1; }
		t0=$(ms_now)
		out=$("$psoffload" ha step-down --name="$(bname 1)" 2>&1) ||
			{ fail_with "step-down: $out"; return 1; }
		wait_for 10 is_role 2 leader || { fail_with "broker 2 did not take over"; return 1; }
		t1=$(ms_now)
		after=$(counts 2)
		finish_traffic || return 1
		gaps $fanout
		info "run $run: step-down to leader $((t1 - t0)) ms; forwarding gap median $gap_med ms, worst $gap_max ms; $lost publishes lost, $dups duplicates; $before -> $after"
		gmax+=("$gap_max")
		[ "$before" = "$after" ] || { note "lost state: $before -> $after"; return 1; }
		clients_idle $fanout || return 1
		is_role 1 standby || { note "broker 1: $(role_of 1)"; return 1; }
		vip_on 1 && { note "broker 1 still holds the VIP"; return 1; }
		[ "$dups" = 0 ] || { note "$dups duplicate deliveries"; return 1; }
		[ "$gap_max" -lt 2000 ] || { note "gap $gap_max ms"; return 1; }
		stop_test_pids
	done
	[ "$RUNS" -gt 1 ] && info "gaps of $RUNS step-downs, ms: $(printf '%s\n' "${gmax[@]}" | sort -n | tr '\n' ' ')"
	return 0
}

# The leader loses etcd, not its clients.
t_partition() {
	local t0 t1 fanout=4
	group_up || return 1
	start_traffic 1 $fanout 10 || return 1
	t0=$(ms_now)
	lab_run "$NS_B1" ip link set st0 down
	wait_for $((TTL + 2)) vip_off 1 ||
		{ fail_with "broker 1 kept the VIP"; return 1; }
	t1=$(ms_now)
	info "VIP gone from the partitioned leader $((t1 - t0)) ms after its store link went down (TTL $TTL s)"
	[ $((t1 - t0)) -le $((TTL * 1000)) ] || { note "later than the TTL"; return 1; }
	wait_for $((TTL + 5)) is_role 2 leader || { fail_with "broker 2 did not take over"; return 1; }
	finish_traffic || return 1
	gaps $fanout
	info "forwarding gap worst $gap_max ms; $lost lost, $dups duplicates"
	[ "$dups" = 0 ] || { note "$dups duplicate deliveries"; return 1; }
	is_role 1 standby || { note "broker 1: $(role_of 1)"; return 1; }
	lab_run "$NS_B1" ip link set st0 up
	lab_run "$NS_B1" ip route replace 10.79.200.0/24 via 10.79.101.1
	sleep $((TTL + 1))
	is_role 2 leader && is_role 1 standby || { note "after the partition healed: 1 $(role_of 1), 2 $(role_of 2)"; return 1; }
}

# A CONNECT from a new client: accepted (0) or refused (1).
connect_ok() {
	lab_run "$NS_PUB" "$psoffload" pub -h $VIP -t probe/x -m x -W 2 -I "hprobe$RANDOM" >/dev/null 2>&1
}

t_etcd_one() {
	local fanout=4
	group_up || return 1
	start_traffic 1 $fanout 6 || return 1
	stop_etcd 3
	sleep $((TTL + 1))
	is_role 1 leader && is_role 2 standby || { note "roles: 1 $(role_of 1), 2 $(role_of 2)"; return 1; }
	connect_ok || { note "a CONNECT was refused with two members of three"; return 1; }
	finish_traffic || return 1
	gaps $fanout
	info "one member down: $lost publishes lost, worst gap $gap_max ms"
	[ "$lost" = 0 ] || { note "$lost lost"; return 1; }
	start_etcd 3
	wait_for 20 etcd_healthy || { note "member 3 did not come back"; return 1; }
}

t_etcd_all() {
	local fanout=4 js n
	group_up || return 1
	start_traffic 1 $fanout 10 || return 1
	# All at once: a quorum lost while one member still runs is a
	# partition for the leader, which fences (t_partition).
	kill -KILL "${etcd_pid[1]}" "${etcd_pid[2]}" "${etcd_pid[3]}"
	for i in 1 2 3; do wait "${etcd_pid[$i]}" 2>/dev/null; etcd_pid[$i]=; done
	sleep $((TTL + 1))
	vip_on 1 || { note "the leader gave up the VIP with no store member running"; return 1; }
	connect_ok && { note "a CONNECT was accepted with no store"; return 1; }
	js=$("$psoffload" stats --json --name="$(bname 1)" 2>/dev/null)
	n=$(jq '[.. | .store_refused? // empty] | max // 0' <<<"$js")
	[ "$n" -gt 0 ] || { note "store_refused: $n"; return 1; }
	[ "$(grep -c "cannot be written: new CONNECTs" "${blog[1]}")" = 1 ] ||
		{ note "the refusal is not logged once: $(grep -c "cannot be written" "${blog[1]}")"; return 1; }
	info "with no store member running: $n control request(s) refused (0x01), the VIP kept, publishes forwarded"
	for i in 1 2 3; do start_etcd $i; done
	wait_for 30 etcd_healthy || { note "etcd did not come back"; return 1; }
	wait_for 15 connect_ok || { note "CONNECTs still refused after etcd came back"; return 1; }
	finish_traffic || return 1
	gaps $fanout
	info "no store member: $lost publishes lost, worst gap $gap_max ms"
	[ "$lost" = 0 ] || { note "$lost lost while etcd was down"; return 1; }
	is_role 1 leader || { note "broker 1: $(role_of 1)"; return 1; }
}

# start_lone I: broker I on the shared store, in no group (cluster "default").
start_lone() {
	local i=$1 ns
	ns=$(bns "$i")
	blog[$i]=$work/b$i.$tnum.log
	: >>"${blog[$i]}"
	nsenter --net="$(lab_ns "$ns")" "$psoffload" --mode=drv --pin-dir="$(bpin "$i")" \
		--name="$(bname "$i")" --store="$STORE" --trusted=10.79.0.0/16 \
		--max-publish-rate=0 --profiles-dir="$work/nic-profiles" lan0 >>"${blog[$i]}" 2>&1 &
	bpid[$i]=$!
	if ! wait_for 20 serving_or_gone "${bpid[$i]}" "${blog[$i]}" || ! serving "${blog[$i]}"; then
		fail_with "broker $i did not start: $(tail -n 3 "${blog[$i]}")"
		return 1
	fi
	broker_log=${blog[$i]}
}

# Two brokers that share the store register names at the same instant.
t_claims() {
	local i k p js1 js2 pids=() bad ns
	for i in 1 2; do stop_b $i; rm -rf "$(bpin $i)"; done
	lab_run "$NS_ETC" etcdctl --endpoints="$ENDPOINTS" del --prefix /psoffload/default/ >/dev/null
	start_lone 1 && start_lone 2 || return 1
	for k in $(seq 1 10); do
		# the same new name on both, and a name of each one's own
		for i in 1 2; do
			lab_run "$NS_PUB" "$psoffload" pub -h 10.79.1.$i -t "claim/$k" -m x -W 5 \
				-I "hc$i-$k" >/dev/null 2>&1 &
			pids+=($!)
			ns=$NS_S1
			[ $i = 2 ] && ns=$NS_S2
			lab_run "$ns" "$psoffload" pub -h 10.79.1.$i -t "own$i/$k" -m x -W 5 \
				-I "ho$i-$k" >/dev/null 2>&1 &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || { note "a publisher failed"; return 1; }; done
		pids=()
	done
	js1=$("$psoffload" topics --json --name="$(bname 1)")
	js2=$("$psoffload" topics --json --name="$(bname 2)")
	bad=$(jq -n --argjson a "$js1" --argjson b "$js2" -r '
		($a.topics + $b.topics | map(select(.name | test("^(claim|own)")))) as $all
		| ([$all[] | select(.name | startswith("claim/"))] | group_by(.name)
		   | map(select(length != 2 or (map(.topic_id) | unique | length) != 1))
		   | map("\(.[0].name): ids \(map(.topic_id))")) +
		  ([$all[]] | unique_by([.name, .topic_id]) | group_by(.topic_id)
		   | map(select(length > 1)) | map("id \(.[0].topic_id): \(map(.name))"))
		| .[]')
	info "claim/1..10 on both brokers at once, own1/* and own2/* on one each: $(jq '[.topics[] | select(.name | test("^(claim|own)"))] | length' <<<"$js1") + $(jq '[.topics[] | select(.name | test("^(claim|own)"))] | length' <<<"$js2") topics"
	[ -z "$bad" ] || { note "$bad"; return 1; }
	for i in 1 2; do stop_b $i; done
}

run_test "roles: the first broker leads, the second stands by (drv)" t_roles
run_test "failover: kill -9 the leader, fan-out 1 (drv)" t_failover 1
run_test "failover: kill -9 the leader, fan-out 16 (drv)" t_failover 16
# The whole node lost: for the figures (PSO_HA_NODE=1); about one run in
# ten loses one subscriber's session to an ICMP port unreachable right
# after the takeover, not explained yet (see docs/BENCHMARKS.md).
[ -n "${PSO_HA_NODE:-}" ] && run_test "failover: the leader's node lost, fan-out 16 (drv)" t_failover 16 node
run_test "the old leader returns as a standby and takes nothing back" t_return
run_test "planned step-down under traffic, fan-out 16" t_step_down
run_test "partition: the leader loses etcd, not its clients" t_partition
run_test "one etcd member killed: nothing changes" t_etcd_one
run_test "all etcd members killed: forwarding goes on, control refused, recovery" t_etcd_all
run_test "two brokers registering one new name at once get one id" t_claims

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
