# shellcheck shell=bash
# lab.sh - the bench's topology.  Source it; bench_lab_up builds it,
# bench_lab_down removes everything bench_lab_up made.
#
#   ns GEN (CPU 0: generator, clients, sink)      ns BRK (CPU 1: the broker side)
#     psobg 10.91.0.2/24  <------- veth ------->  psobb 10.91.0.1/24
#
# Both veths: tx/rx checksum offload off, GRO on (so each has a NAPI
# instance even without XDP, and frames the generator sends as XDP frames
# reach it).  psobb, the broker's: threaded NAPI, its thread and RPS on the
# broker CPU (the clients re-pin the thread before every point: attaching
# XDP makes a new one).  psobg, the subscribers': NAPI in softirq, where
# the sender schedules it: what a broker delivers is received (the sink's
# count-and-drop, or the clients' TCP taken on by RPS to the generator CPU)
# on the broker CPU, as a NIC's transmit completions would be.  Threaded
# there, every frame the stack sends into an idle veth costs a cross-CPU
# wakeup, which in this VM (an IPI is a VM exit) made __napi_schedule 42 %
# of a socket broker's CPU, a cost XDP's bulk transmit does not pay.
# Permanent neighbour entries on both sides: the broker knows the
# subscribers' MAC from the start, so the data plane serves them at once.

BENCH_ID=${BENCH_ID:-$$}
NS_GEN=psob-gen-$BENCH_ID
NS_BRK=psob-brk-$BENCH_ID
DEV_GEN=psobg
DEV_BRK=psobb
IP_GEN=10.91.0.2
IP_BRK=10.91.0.1
GEN_CPU=${GEN_CPU:-0}
BROKER_CPU=${BROKER_CPU:-1}

# nsenter, not `ip netns exec`, to run things: the latter remounts /sys and
# hides the bpffs.  Sysfs of a namespace's devices needs that remount, so
# bench_sysfs uses it.
ns_path() { echo "/run/netns/$1"; }
in_ns() {
	local ns=$1
	shift
	nsenter --net="$(ns_path "$ns")" "$@"
}
bench_sysfs() {	# NS 'shell command on /sys/class/net/...'
	ip netns exec "$1" sh -c "$2"
}

cpu_mask() { printf '%x' $((1 << $1)); }

bench_lab_up() {
	local ns
	for ns in "$NS_GEN" "$NS_BRK"; do
		ip netns add "$ns" || return 1
		in_ns "$ns" ip link set lo up
	done
	ip link add "$DEV_GEN" netns "$NS_GEN" type veth peer name "$DEV_BRK" netns "$NS_BRK" || return 1
	in_ns "$NS_GEN" ethtool -K "$DEV_GEN" tx off rx off gro on >/dev/null 2>&1
	in_ns "$NS_BRK" ethtool -K "$DEV_BRK" tx off rx off gro on >/dev/null 2>&1
	in_ns "$NS_GEN" ip addr add "$IP_GEN/24" dev "$DEV_GEN"
	in_ns "$NS_BRK" ip addr add "$IP_BRK/24" dev "$DEV_BRK"
	# No IPv6 chatter (router solicitations, MLD) in the counts.
	in_ns "$NS_GEN" ip link set "$DEV_GEN" addrgenmode none
	in_ns "$NS_BRK" ip link set "$DEV_BRK" addrgenmode none
	in_ns "$NS_GEN" ip link set "$DEV_GEN" up
	in_ns "$NS_BRK" ip link set "$DEV_BRK" up
	bench_sysfs "$NS_BRK" "echo 1 > /sys/class/net/$DEV_BRK/threaded" || return 1
	bench_sysfs "$NS_GEN" "echo $(cpu_mask "$GEN_CPU") > /sys/class/net/$DEV_GEN/queues/rx-0/rps_cpus" || return 1
	bench_sysfs "$NS_BRK" "echo $(cpu_mask "$BROKER_CPU") > /sys/class/net/$DEV_BRK/queues/rx-0/rps_cpus" || return 1
	MAC_GEN=$(bench_sysfs "$NS_GEN" "cat /sys/class/net/$DEV_GEN/address")
	MAC_BRK=$(bench_sysfs "$NS_BRK" "cat /sys/class/net/$DEV_BRK/address")
	in_ns "$NS_BRK" ip neigh replace "$IP_GEN" lladdr "$MAC_GEN" dev "$DEV_BRK" nud permanent || return 1
	in_ns "$NS_GEN" ip neigh replace "$IP_BRK" lladdr "$MAC_BRK" dev "$DEV_GEN" nud permanent || return 1
	export MAC_GEN MAC_BRK
}

bench_lab_down() {
	ip netns del "$NS_GEN" 2>/dev/null
	ip netns del "$NS_BRK" 2>/dev/null
	return 0
}

# NAPI threads of the lab's veths, where they run: "napi/psobb-N cpu 1 nice 0".
bench_napi_placement() {
	local pid
	for pid in $(pgrep '^napi/psob'); do
		printf '%s cpu %s nice %s\n' "$(cat /proc/"$pid"/comm)" \
			"$(ps -o psr= -p "$pid" | tr -d ' ')" "$(ps -o ni= -p "$pid" | tr -d ' ')"
	done
}

# The --napi option of the clients: the broker veth's thread on the broker
# CPU, at the broker processes' priority.
napi_opts() {
	echo "--napi $DEV_BRK:$BROKER_CPU:-20"
}

# shellcheck source=../tests/e2e/wait.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/wait.sh"
