# shellcheck shell=bash
# lab.sh - a veth lab of network namespaces for the demo and the end-to-end
# tests.  Source it, then call lab_up; lab_down removes everything lab_up made.
#
#            +-- ns SW: bridge br0 ---------------------------+
#   ns PUB --|pub0           ns S1 s1   ns S2 s2              |
#            +-----------------------|--------------------- swb0
#                                                              |
#   ns B (broker):  b0 10.77.1.1/24 fd77:1::1/64  <------------+
#                   b1 10.77.2.1/24 fd77:2::1/64  <------ s3  ns S3 (second port)
#
# Hosts on port 1: PUB 10.77.1.10, S1 .11, S2 .12 (fd77:1::10, ::11, ::12);
# S3 10.77.2.13 / fd77:2::13 behind port 2.  Names carry a per-run suffix.
# Checksum offload is off on every veth, so the kernel really verifies UDP
# checksums, and every veth that receives XDP_TX/XDP_REDIRECT frames in
# native mode (swb0, s3) gets an XDP program of its own.

LAB_ID=${LAB_ID:-$$}
NS_B=pso-b-$LAB_ID
NS_SW=pso-sw-$LAB_ID
NS_PUB=pso-pub-$LAB_ID
NS_S1=pso-s1-$LAB_ID
NS_S2=pso-s2-$LAB_ID
NS_S3=pso-s3-$LAB_ID
LAB_NAMESPACES=("$NS_B" "$NS_SW" "$NS_PUB" "$NS_S1" "$NS_S2" "$NS_S3")
BROKER4=10.77.1.1
BROKER4_P2=10.77.2.1
BROKER6=fd77:1::1
BROKER6_P2=fd77:2::1

# Run in a namespace.  nsenter, not `ip netns exec`: the latter remounts
# /sys and so hides the bpffs at /sys/fs/bpf where the broker pins its maps.
# For a process started in the background, call nsenter directly rather
# than through this function, so that $! is the process itself (nsenter
# execs it) and not a subshell:  nsenter --net="$(lab_ns NS)" CMD &
lab_ns() { echo "/run/netns/$1"; }
lab_run() {
	local ns=$1
	shift
	nsenter --net="$(lab_ns "$ns")" "$@"
}

# veth between two namespaces, offloads off, up.
lab_veth() {
	local ns_a=$1 dev_a=$2 ns_b=$3 dev_b=$4
	ip link add "$dev_a" netns "$ns_a" type veth peer name "$dev_b" netns "$ns_b" || return 1
	lab_run "$ns_a" ethtool -K "$dev_a" tx off rx off >/dev/null 2>&1
	lab_run "$ns_b" ethtool -K "$dev_b" tx off rx off >/dev/null 2>&1
	lab_run "$ns_a" ip link set "$dev_a" up
	lab_run "$ns_b" ip link set "$dev_b" up
}

lab_addr() {
	local ns=$1 dev=$2 a4=$3 a6=$4
	lab_run "$ns" ip addr add "$a4" dev "$dev"
	lab_run "$ns" ip -6 addr add "$a6" dev "$dev" nodad
}

# lab_up XDP_PASS_OBJECT: build the lab; the object is attached in native
# mode to the veths that receive XDP_TX/XDP_REDIRECT frames.
lab_up() {
	local pass_obj=$1 ns
	for ns in "${LAB_NAMESPACES[@]}"; do
		ip netns add "$ns" || return 1
		lab_run "$ns" ip link set lo up
	done
	lab_run "$NS_SW" ip link add br0 type bridge
	lab_run "$NS_SW" ip link set br0 up
	lab_veth "$NS_B" b0 "$NS_SW" swb0 || return 1
	lab_veth "$NS_PUB" pub0 "$NS_SW" swpub || return 1
	lab_veth "$NS_S1" s1 "$NS_SW" sws1 || return 1
	lab_veth "$NS_S2" s2 "$NS_SW" sws2 || return 1
	lab_veth "$NS_B" b1 "$NS_S3" s3 || return 1
	for dev in swb0 swpub sws1 sws2; do
		lab_run "$NS_SW" ip link set "$dev" master br0
	done
	lab_addr "$NS_B" b0 $BROKER4/24 $BROKER6/64
	lab_addr "$NS_B" b1 $BROKER4_P2/24 $BROKER6_P2/64
	lab_addr "$NS_PUB" pub0 10.77.1.10/24 fd77:1::10/64
	lab_addr "$NS_S1" s1 10.77.1.11/24 fd77:1::11/64
	lab_addr "$NS_S2" s2 10.77.1.12/24 fd77:1::12/64
	lab_addr "$NS_S3" s3 10.77.2.13/24 fd77:2::13/64
	for ns in "$NS_PUB" "$NS_S1" "$NS_S2"; do
		lab_run "$ns" ip route add 10.77.2.0/24 via $BROKER4
		lab_run "$ns" ip -6 route add fd77:2::/64 via $BROKER6
	done
	lab_run "$NS_S3" ip route add 10.77.1.0/24 via $BROKER4_P2
	lab_run "$NS_S3" ip -6 route add fd77:1::/64 via $BROKER6_P2
	lab_run "$NS_SW" ip link set swb0 xdpdrv obj "$pass_obj" sec xdp || return 1
	lab_run "$NS_S3" ip link set s3 xdpdrv obj "$pass_obj" sec xdp || return 1
}

# tc_ingress_prog NS PIN DEV: the id of the BPF program the broker pinned at
# PIN attached on DEV's TC ingress: a clsact cls_bpf filter (kernels before
# 6.6), else the tcx link it pins as PIN/link_tc:DEV; empty when none.
tc_ingress_prog() {
	local ns=$1 pin=$2 dev=$3 id
	id=$(nsenter --net="$(lab_ns "$ns")" tc filter show dev "$dev" ingress 2>/dev/null |
		sed -n 's/.* bpf .* id \([0-9]*\).*/\1/p' | head -n 1)
	if [ -z "$id" ] && [ -e "$pin/link_tc:$dev" ]; then
		id=$(bpftool -j link show pinned "$pin/link_tc:$dev" 2>/dev/null | jq -r '.prog_id // empty')
	fi
	echo "$id"
}

lab_down() {
	local ns
	for ns in "${LAB_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# shellcheck source=wait.sh
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"
