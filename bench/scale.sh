#!/usr/bin/env bash
# scale.sh [BUILD] - memory and time at scale (`make bench-scale`): for a
# topic table of 1,024 and of 65,536 topics (--max-topics; the default is
# 65,536) and 0, 1,000, 10,000 and 100,000 connected clients, the kernel
# memory of the pinned maps (bpftool's bytes_memlock of each map in the pin
# directory, summed; the broker's own status says the same in
# tables.map_memory_bytes), the daemon's RSS, and the time the clients
# took to connect (and prove their address) and to subscribe.
#
# Each run starts a fresh broker (drv mode, --store=none, per-source rates
# off) in the veth lab of tests/e2e/lab.sh and drives it with
# tests/e2e/scaleclients.py from 8 source addresses: client i subscribes
# to one of min(N, 4,000, topics - 2) topics, at most 64 to a topic (the
# slots a topic has), so the 1,024-topic table takes 64 x 1,022 of 100,000.
# The clients run on the same machine as the broker (python, one process
# per address): the times are the pair's, an upper bound of the broker's.
#
# Results: bench/results/scale-<UTC timestamp>/ (BENCH_OUT overrides):
# scale.csv, broker logs, and scale.md (the table docs/BENCHMARKS.md
# quotes).  Environment: SCALE_CLIENTS (default "0 1000 10000 100000"),
# SCALE_TABLES (default "1024 65536").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD=$(cd "${1:-$root/build}" && pwd) || { echo "bench-scale: no build directory" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-scale: must run as root" >&2; exit 1; }
for tool in bpftool jq python3 ip nsenter; do
	command -v $tool >/dev/null || { echo "bench-scale: $tool is not installed" >&2; exit 1; }
done
LAB_ID=bscale$$
# shellcheck source=../tests/e2e/lab.sh
. "$root/tests/e2e/lab.sh"

psoffload=$BUILD/psoffload
out=${BENCH_OUT:-$root/bench/results/scale-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
PIN=/sys/fs/bpf/pso-bench-scale-$$
NAME=pso-bench-scale-$$
SRC_ADDRS=(10.77.1.100 10.77.1.101 10.77.1.102 10.77.1.103 10.77.1.104 10.77.1.105
	   10.77.1.106 10.77.1.107)
broker_pid='' mc_pid=''

cleanup() {
	[ -n "$mc_pid" ] && kill "$mc_pid" 2>/dev/null && wait "$mc_pid" 2>/dev/null
	[ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
	lab_down
	rm -rf "$PIN"
	rm -f /run/psoffload/"$NAME".*
}
trap cleanup EXIT

lab_up "$BUILD/tests/bpf/xdp_pass.bpf.o" >"$out/lab.log" 2>&1 || { echo "bench-scale: no lab" >&2; exit 1; }
for a in "${SRC_ADDRS[@]}"; do
	lab_run "$NS_S1" ip addr add "$a/24" dev s1 || exit 1
done

serving() { grep -q "serving MQTT-SN" "$1"; }
# The kernel's memory of every map pinned in PIN.
pinned_bytes() {
	local f sum=0 b
	for f in "$PIN"/pso_*; do
		b=$(bpftool -j map show pinned "$f" 2>/dev/null | jq -r '.bytes_memlock // 0') || b=0
		sum=$((sum + b))
	done
	echo "$sum"
}

echo "topics_capacity,clients,subscriptions,map_bytes,status_map_bytes,rss_kb,connect_s,subscribe_s" \
	>"$out/scale.csv"
for tables in ${SCALE_TABLES:-1024 65536}; do
	for n in ${SCALE_CLIENTS:-0 1000 10000 100000}; do
		log=$out/broker.$tables.$n.log
		: >"$log"
		nsenter --net="$(lab_ns "$NS_B")" "$psoffload" --mode=drv --pin-dir="$PIN" \
			--name="$NAME" --store=none --connect-rate=0 --control-rate=0 \
			--max-topics="$tables" b0 >"$log" 2>&1 &
		broker_pid=$!
		wait_for 30 serving "$log" || { echo "bench-scale: the broker did not start" >&2; exit 1; }
		topics=$((n < 4000 ? n : 4000))
		[ $topics -gt $((tables - 2)) ] && topics=$((tables - 2))
		tc=0 ts=0 subs=0
		if [ "$n" -gt 0 ]; then
			coproc MC { SCALE_PER_TOPIC=64 nsenter --net="$(lab_ns "$NS_S1")" python3 \
				"$root/tests/e2e/scaleclients.py" $BROKER4 "$n" "$topics" \
				"${SRC_ADDRS[@]}" 2>&1; }
			mc_pid=$MC_PID
			read -r -t 600 line <&"${MC[0]}" || { echo "bench-scale: no clients: $line" >&2; exit 1; }
			[[ $line == ready* ]] || { echo "bench-scale: $line" >&2; exit 1; }
			read -r _ _ tc ts <<<"$line"
		fi
		js=$(lab_run "$NS_B" "$psoffload" status --json --name="$NAME")
		subs=$(jq -r .tables.subscriptions.used <<<"$js")
		rss=$(awk '/VmRSS/ { print $2 }' /proc/"$broker_pid"/status)
		row="$tables,$n,$subs,$(pinned_bytes),$(jq -r .tables.map_memory_bytes <<<"$js"),$rss,$tc,$ts"
		echo "$row" | tee -a "$out/scale.csv"
		if [ -n "$mc_pid" ]; then
			echo quit >&"${MC[1]}"
			wait "$mc_pid" 2>/dev/null
			mc_pid=''
		fi
		kill "$broker_pid"
		wait "$broker_pid" 2>/dev/null
		broker_pid=''
	done
done

{
	echo "| topic table | clients | subscriptions | pinned maps MiB | daemon RSS MiB | connect s | subscribe s |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	tail -n +2 "$out/scale.csv" | while IFS=, read -r t n s mb smb rss tc ts; do
		printf '| %s | %s | %s | %.1f | %.1f | %s | %s |\n' "$t" "$n" "$s" \
			"$(echo "$mb / 1048576" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$tc" "$ts"
	done
} >"$out/scale.md"
cat "$out/scale.md"
echo "bench-scale: results in $out"
