#!/usr/bin/env bash
# run.sh [--quick] [BUILD] - the benchmarks (`make bench`, `make bench-quick`).
#
# Builds the bench's veth lab (lab.sh), then measures each system in turn,
# started here and stopped here:
#   floor           bench/floor_xdp.bpf.c on the broker veth: swap headers, XDP_TX
#   psoffload-drv   psoffload --mode=drv, psoffload-skb: --mode=skb
#   baseline        bench/baseline (pso-baseline), one thread on the broker CPU
#   mosquitto, redis, nats   Debian's servers, default configuration plus
#                   what it takes to accept clients from the lab (see below)
# and then the control plane: CONNECT+SUBSCRIBE per second of psoffload with
# --store=none, --store=sqlite and --store=etcd (one etcd member in the
# broker namespace, on the broker CPU), alternating (bench/ctlrate,
# control.csv; BENCH_CTL_STORES picks some of them).
# The MQTT-SN systems and the floor are driven by bench/loadgen (kernel-side
# live-frames injector, XDP sink), the others by their own C client library
# (bench/clients).  Placement (lab.sh): generator and clients on GEN_CPU (0);
# every broker-side thread, and the subscriber veth's receive softirq, on
# BROKER_CPU (1), the broker's at nice -20 so other tenants of a shared
# machine get in the way as little as possible.
#
# Results: bench/results/<UTC timestamp>/ (BENCH_OUT overrides): one CSV per
# experiment, machine.txt, logs, summary.md and PNG plots (summarize.sh).
# The TC fan-out against its floor (bench/floor_tc.bpf.c) is the
# microbenchmark's part (h): both programs at fan-outs 8 to 4096 over the same
# subscriber set and sink, in the same run (fanout_floor.csv).
# --quick: psoffload drv, baseline and floor at fan-out 1 and 16, 64-byte
# payloads, plus the microbenchmark (fan-out floor at 8, 64, 1024); prints
# the bench-quick line last.
#
# Environment: BENCH_SYSTEMS (subset, space separated), BENCH_REPEATS,
# BENCH_DURATION, BENCH_WARMUP, BENCH_FANOUTS, BENCH_PAYLOADS,
# BENCH_MICRO_FANOUTS (the microbenchmark's TC fan-outs, against the floor),
# BENCH_BIG_FANOUTS (psoffload-drv's fan-outs past the matrix, payload 64
# only, in the lab; `make bench`: 256; skipped with a line per point where
# the broker refuses a subscriber; above about 256 the lab's one veth,
# whose ring is 256 frames and whose receive shares the broker CPU, refuses
# the rest of each publish's copies, so the probe fails: those fan-outs are
# the microbenchmark's).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
quick=0
if [ "${1:-}" = --quick ]; then
	quick=1
	shift
fi
BUILD=$(cd "${1:-$root/build}" && pwd) || { echo "bench: no build directory" >&2; exit 1; }
# shellcheck source=lab.sh
. "$here/lab.sh"

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (namespaces, XDP, BPF_PROG_TEST_RUN)" >&2
	exit 1
fi
if [ "$(nproc)" -lt 2 ]; then
	echo "bench: needs two CPUs (generator and broker side apart)" >&2
	exit 1
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT:-$root/bench/results/$stamp}
mkdir -p "$OUT" || exit 1
PIN=/sys/fs/bpf/psob-$BENCH_ID
FLOOR_PIN=/sys/fs/bpf/psob-floor-$BENCH_ID
TMPD=$(mktemp -d)
broker_pid=
t_start=$SECONDS

cleanup() {
	stop_broker
	stop_etcd
	bench_lab_down
	rm -rf "$PIN" "$FLOOR_PIN" "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ $quick = 1 ]; then
	SYSTEMS=${BENCH_SYSTEMS:-"floor psoffload-drv baseline"}
	FANOUTS=${BENCH_FANOUTS:-1,16}
	PAYLOADS=${BENCH_PAYLOADS:-64}
	REPEATS=${BENCH_REPEATS:-3}
	DURATION=${BENCH_DURATION:-1.0}
	WARMUP=${BENCH_WARMUP:-0.3}
	LAT=()
	BIG_FANOUTS=${BENCH_BIG_FANOUTS:-}
	MICRO=(-r 3 -t 150 -f "${BENCH_MICRO_FANOUTS:-8,64,1024}")
else
	SYSTEMS=${BENCH_SYSTEMS:-"floor psoffload-drv psoffload-skb baseline mosquitto redis nats"}
	FANOUTS=${BENCH_FANOUTS:-1,2,4,8,16,32,64}
	PAYLOADS=${BENCH_PAYLOADS:-64,256,1024,1400}
	REPEATS=${BENCH_REPEATS:-3}
	DURATION=${BENCH_DURATION:-1.0}
	WARMUP=${BENCH_WARMUP:-0.3}
	LAT=(--lat-fanouts 1,16 --lat-levels 10,50,90 --lat-payload 64 --lat-duration 2)
	BIG_FANOUTS=${BENCH_BIG_FANOUTS:-256}
	MICRO=(-r 5 -t 400 -f "${BENCH_MICRO_FANOUTS:-8,16,32,64,256,1024,4096}")
fi

say() { printf '== %s\n' "$*" >&2; }

# ---- machine -----------------------------------------------------------------

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "cpu: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "cores: $(nproc) ($(lscpu 2>/dev/null | awk -F': *' '/^Hypervisor vendor/ {print "VM, " $2}'))"
	echo "kernel: $(uname -r)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "placement: generator and clients on CPU $GEN_CPU (RPS of the subscriber veth too);" \
	     "broker veth NAPI thread + RPS, broker processes/threads (nice -20) and the subscriber" \
	     "veth's softirq receive (XDP sink) on CPU $BROKER_CPU"
	echo "matrix: fan-outs $FANOUTS, payloads $PAYLOADS, $REPEATS repeats," \
	     "${WARMUP}s warm-up + ${DURATION}s per point"
	echo "versions: $(dpkg-query -W -f='${Package} ${Version}; ' mosquitto redis-server nats-server 2>/dev/null)"
} >"$OUT/machine.txt"

# ---- lab ---------------------------------------------------------------------

say "lab: namespaces $NS_GEN and $NS_BRK, veth $DEV_GEN <-> $DEV_BRK"
bench_lab_up || { echo "bench: cannot build the lab" >&2; exit 1; }

COMMON=(--broker-cpu "$BROKER_CPU" --gen-cpu "$GEN_CPU" --fanouts "$FANOUTS"
	--payloads "$PAYLOADS" --repeats "$REPEATS" --duration "$DURATION" --warmup "$WARMUP"
	--tput-csv "$OUT/throughput.csv" --lat-csv "$OUT/latency.csv")
# shellcheck disable=SC2207
NAPI=($(napi_opts))

# Broker-side command in the broker namespace, pinned, nice -20: exec all
# the way down, so $! is the broker itself.
start_broker() {	# NAME READY_CMD... -- CMD...
	local name=$1 ready=()
	shift
	while [ "$1" != -- ]; do ready+=("$1"); shift; done
	shift
	nsenter --net="$(ns_path "$NS_BRK")" nice -n -20 taskset -c "$BROKER_CPU" "$@" \
		>"$OUT/$name.log" 2>&1 &
	broker_pid=$!
	if ! wait_for 15 "${ready[@]}"; then
		echo "bench: $name did not start:" >&2
		tail -n 5 "$OUT/$name.log" >&2
		stop_broker
		return 1
	fi
}

stop_broker() {
	[ -n "$broker_pid" ] || return 0
	kill -TERM "$broker_pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$broker_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$broker_pid" 2>/dev/null
	wait "$broker_pid" 2>/dev/null
	broker_pid=
	# Nothing of a system may outlive it on the broker veth.
	in_ns "$NS_BRK" ip link set "$DEV_BRK" xdp off 2>/dev/null
	in_ns "$NS_BRK" tc qdisc del dev "$DEV_BRK" clsact 2>/dev/null
	return 0
}

tcp_listening() { in_ns "$NS_BRK" ss -Hltn "sport = :$1" | grep -q LISTEN; }
log_has() { grep -qs "$2" "$OUT/$1.log"; }

# Instructions and JIT size of the programs on the broker veth now.
record_progs() {	# SYSTEM
	local ids id
	ids=$(in_ns "$NS_BRK" bpftool net show dev "$DEV_BRK" --json 2>/dev/null |
		jq -r '.[] | (.xdp // [])[], (.tc // [])[] | .id' 2>/dev/null | sort -u)
	for id in $ids; do
		bpftool prog show id "$id" --json 2>/dev/null |
			jq -r --arg s "$1" '[$s, .name, .type, (.bytes_xlated / 8), .bytes_jited] | @csv'
	done >>"$OUT/programs.csv"
}

# Memory of psoffload's maps (pinned under PIN), kB.
bpf_maps_kb() {
	local total=0 f id
	for f in "$PIN"/*; do
		id=$(bpftool map show pinned "$f" --json 2>/dev/null | jq -r '.bytes_memlock // 0')
		total=$((total + ${id:-0}))
	done
	echo $((total / 1024))
}

loadgen() {	# SYSTEM [loadgen options]
	local sys=$1
	shift
	in_ns "$NS_GEN" "$BUILD/bench/loadgen" --dev "$DEV_GEN" --broker "$IP_BRK" --system "$sys" \
		"${COMMON[@]}" "${NAPI[@]}" "$@" 2>&1 | tee -a "$OUT/clients.log" >&2
	return "${PIPESTATUS[0]}"
}

tcpclient() {	# SYSTEM [options]
	local sys=$1
	shift
	in_ns "$NS_GEN" "$BUILD/bench/bench-$sys" --host "$IP_BRK" --system "$sys" \
		"${COMMON[@]}" "${NAPI[@]}" "$@" 2>&1 | tee -a "$OUT/clients.log" >&2
	return "${PIPESTATUS[0]}"
}

echo "system,rss_kb,bpf_maps_kb,note" >"$OUT/memory.csv"
echo "system,program,type,xlated_insns,jited_bytes" >"$OUT/programs.csv"
rss_of() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- systems -----------------------------------------------------------------

run_floor() {
	local fo=1
	bpftool prog loadall "$BUILD/bench/floor_xdp.bpf.o" "$FLOOR_PIN" type xdp || return 1
	in_ns "$NS_BRK" ip link set "$DEV_BRK" xdpdrv pinned "$FLOOR_PIN/floor_xdp" || return 1
	record_progs floor
	# The floor has no subscribers: every fan-out is the same one frame back.
	loadgen floor --floor --dst-mac "$MAC_BRK" --fanouts $fo \
		$( [ ${#LAT[@]} -gt 0 ] && echo --lat-fanouts 1 --lat-levels 10,50,90 --lat-payload 64 --lat-duration 2 )
	local rc=$?
	echo "floor,0,0,XDP program only" >>"$OUT/memory.csv"
	in_ns "$NS_BRK" ip link set "$DEV_BRK" xdp off
	rm -rf "$FLOOR_PIN"
	return $rc
}

# --max-publish-rate=0: the load generator is a few clients at line rate,
# which the default limit would hold to 10,000 publishes a second each.
# --connect-rate=0 --control-rate=0: its subscribers (up to 4,096, one
# source address) connect and subscribe at once.
run_psoffload() {	# MODE
	local mode=$1 sys=psoffload-$1 rc
	rm -rf "$PIN"
	start_broker "$sys" log_has "$sys" "serving MQTT-SN" -- \
		"$BUILD/psoffload" --store=none --mode="$mode" --pin-dir="$PIN" --max-publish-rate=0 \
			--connect-rate=0 --control-rate=0 --trusted=10.91.0.0/24 "$DEV_BRK" || return 1
	record_progs "$sys"
	in_ns "$NS_BRK" "$BUILD/psoffload" stats --json --pin-dir="$PIN" >"$OUT/$sys-stats-before.json"
	loadgen "$sys" --broker-pid "$broker_pid" "${LAT[@]}"
	rc=$?
	# The large fan-outs, 64-byte payloads: the other systems' clients
	# serve 64 subscribers.
	if [ "$mode" = drv ] && [ -n "$BIG_FANOUTS" ]; then
		loadgen "$sys" --broker-pid "$broker_pid" --fanouts "$BIG_FANOUTS" --payloads 64 || rc=1
	fi
	in_ns "$NS_BRK" "$BUILD/psoffload" stats --json --pin-dir="$PIN" >"$OUT/$sys-stats.json"
	in_ns "$NS_BRK" "$BUILD/psoffload" status --json --pin-dir="$PIN" >"$OUT/$sys-status.json" 2>/dev/null
	echo "$sys,$(rss_of "$broker_pid"),$(bpf_maps_kb),daemon RSS + pinned map memory" >>"$OUT/memory.csv"
	stop_broker
	check_paths "$sys" || rc=1
	return $rc
}

# The data plane carried the traffic: XDP_TX for fan-out 1, TC clones for
# more, next to nothing delivered by the daemon.
check_paths() {
	local sys=$1 j=$OUT/$1-stats.json tx copies fanout host
	tx=$(jq '.counters.xdp_tx' "$j")
	copies=$(jq '.counters.tc_copies' "$j")
	fanout=$(jq '.counters.xdp_pass_fanout' "$j")
	host=$(jq '[.. | .host_deliveries? // empty] | add // 0' "$OUT/$sys-status.json" 2>/dev/null)
	printf '%s: data plane: xdp_tx %s, xdp_pass_fanout %s, tc_copies %s; daemon deliveries %s\n' \
		"$sys" "$tx" "$fanout" "$copies" "${host:-?}" | tee -a "$OUT/paths.txt" >&2
	# XDP_TX where fan-out 1 was measured, TC copies where more was.
	if { [[ ",$FANOUTS," == *,1,* ]] && [ "${tx:-0}" -eq 0 ]; } ||
	   { [ "$FANOUTS" != 1 ] && [ "${copies:-0}" -eq 0 ]; }; then
		echo "bench: $sys: the data plane did not carry the traffic" >&2
		return 1
	fi
}

run_baseline() {
	local rc
	start_broker baseline log_has baseline "serving MQTT-SN" -- \
		"$BUILD/bench/pso-baseline" -b 0.0.0.0 -c "$BROKER_CPU" -v || return 1
	loadgen baseline --broker-pid "$broker_pid" "${LAT[@]}"
	rc=$?
	echo "baseline,$(rss_of "$broker_pid"),0," >>"$OUT/memory.csv"
	stop_broker
	return $rc
}

# Mosquitto 2 answers only on loopback without a configuration file: the
# one listener line (and anonymous access, which 2.x then needs) is all
# that is added to its defaults.
run_mosquitto() {
	local rc conf=$TMPD/mosquitto.conf
	printf 'listener 1883 0.0.0.0\nallow_anonymous true\n' >"$conf"
	start_broker mosquitto tcp_listening 1883 -- /usr/sbin/mosquitto -c "$conf" || return 1
	tcpclient mosquitto --broker-pid "$broker_pid" "${LAT[@]}"
	rc=$?
	echo "mosquitto,$(rss_of "$broker_pid"),0,listener 1883 0.0.0.0; allow_anonymous true" >>"$OUT/memory.csv"
	stop_broker
	return $rc
}

# Redis 7 binds loopback and refuses others in protected mode by default;
# snapshots off (no disk I/O in the middle of a run; pub/sub keeps no data).
run_redis() {
	local rc
	start_broker redis tcp_listening 6379 -- /usr/bin/redis-server --port 6379 --bind 0.0.0.0 \
		--protected-mode no --save '' --appendonly no --dir "$TMPD" || return 1
	tcpclient redis --broker-pid "$broker_pid" "${LAT[@]}"
	rc=$?
	echo "redis,$(rss_of "$broker_pid"),0,--bind 0.0.0.0 --protected-mode no --save ''" >>"$OUT/memory.csv"
	stop_broker
	return $rc
}

# NATS 2.9 listens on every address by default: no option at all.
run_nats() {
	local rc
	start_broker nats tcp_listening 4222 -- /usr/sbin/nats-server || return 1
	tcpclient nats --broker-pid "$broker_pid" "${LAT[@]}"
	rc=$?
	echo "nats,$(rss_of "$broker_pid"),0,defaults" >>"$OUT/memory.csv"
	stop_broker
	return $rc
}

# ---- microbenchmark ------------------------------------------------------------

say "microbenchmark (BPF_PROG_TEST_RUN, CPU $BROKER_CPU)"
nice -n -20 taskset -c "$BROKER_CPU" "$BUILD/bench/microbench" "${MICRO[@]}" >"$OUT/microbench.txt" 2>&1 ||
	{ cat "$OUT/microbench.txt" >&2; echo "bench: microbench failed" >&2; exit 1; }
{
	echo "id,path,repeat,ns_per_pkt,min,max,kern_ns,mpps,x_floor"
	awk 'match($0, / +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+$/) {
		label = substr($0, 1, RSTART - 1); gsub(/,/, ";", label)
		id = substr(label, 2, 1); sub(/^\([a-z]\) /, "", label)
		printf "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", id, label, $(NF-6), $(NF-5), $(NF-4), $(NF-3), $(NF-2), $(NF-1), $NF }' \
		"$OUT/microbench.txt"
} >"$OUT/microbench.csv"
# psoffload's TC fan-out over the floor's, per fan-out ("skip" where
# psoffload cannot hold that many subscribers on a topic: said here).
{
	echo "fanout,psoffload_ns,floor_ns,ratio"
	sed -n 's/^vs_floor fanout=\([0-9]*\) psoffload_ns=\([^ ]*\) floor_ns=\([^ ]*\) ratio=\([^ ]*\)$/\1,\2,\3,\4/p' \
		"$OUT/microbench.txt"
} >"$OUT/fanout_floor.csv"
grep '^(f) .*skipped' "$OUT/microbench.txt" | sed 's/^/bench: microbench: /' >&2

# ---- control plane: the store's cost -----------------------------------------

# CONNECT+SUBSCRIBE per second (bench/ctlrate: 64 clients, each a new
# session that subscribes and ends), psoffload with --store=none, with
# --store=sqlite (a fresh file each run) and with --store=etcd (a fresh
# one-member etcd each run, in the broker namespace on 127.0.0.1:23795, on
# the broker CPU), alternating, REPEATS of each; the per-source rate limits
# off (every client comes from one address).  With a store every
# acceptance waits for its round's commit (write before acknowledge).
# Besides the rate, the broker's CPU time per cycle (ctlrate -P): on a
# machine shared with other work it moves far less.
CTL_DURATION=${BENCH_CTL_DURATION:-3}
CTL_STORES=${BENCH_CTL_STORES:-none sqlite etcd}
ETCD_URL=http://127.0.0.1:23795
etcd_pid=
start_etcd() {	# DATA_DIR
	in_ns "$NS_BRK" ip link set lo up
	nsenter --net="$(ns_path "$NS_BRK")" taskset -c "$BROKER_CPU" etcd --name etc-bench \
		--data-dir "$1" --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls http://127.0.0.1:23805 \
		--initial-advertise-peer-urls http://127.0.0.1:23805 \
		--initial-cluster etc-bench=http://127.0.0.1:23805 >"$OUT/etcd.log" 2>&1 &
	etcd_pid=$!
	wait_for 20 etcd_healthy || { echo "bench: etcd did not start" >&2; tail -n 5 "$OUT/etcd.log" >&2; return 1; }
}
etcd_healthy() { in_ns "$NS_BRK" curl -sf -m 1 "$ETCD_URL/health" | grep -q '"true"'; }
stop_etcd() {
	[ -n "$etcd_pid" ] || return 0
	kill -TERM "$etcd_pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$etcd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$etcd_pid" 2>/dev/null
	wait "$etcd_pid" 2>/dev/null
	etcd_pid=
}
run_control() {
	local rep store sys line spec rc=0
	echo "store,repeat,ops_per_s,connect_subscribe_p50_us,p99_us,broker_cpu_us_per_op" >"$OUT/control.csv"
	for rep in $(seq "$REPEATS"); do
		for store in $CTL_STORES; do
			sys=psoffload-ctl-$store-$rep
			rm -rf "$PIN" "$TMPD/ctl.db" "$TMPD/etcd"
			case $store in
			none) spec=none ;;
			sqlite) spec=sqlite:$TMPD/ctl.db ;;
			etcd) spec=etcd:$ETCD_URL; start_etcd "$TMPD/etcd" || { rc=1; continue; } ;;
			esac
			start_broker "$sys" log_has "$sys" "serving MQTT-SN" -- \
				"$BUILD/psoffload" --store="$spec" \
				--mode=drv --pin-dir="$PIN" --connect-rate=0 --control-rate=0 \
				--trusted=10.91.0.0/24 "$DEV_BRK" || { stop_etcd; return 1; }
			line=$(in_ns "$NS_GEN" taskset -c "$GEN_CPU" "$BUILD/bench/ctlrate" -h "$IP_BRK" \
				-w 64 -d "$CTL_DURATION" -W 0.5 -P "$broker_pid" 2>"$OUT/$sys.ctlrate.err") || rc=1
			stop_broker
			stop_etcd
			echo "$store,$rep,$(sed -E 's/^ops_per_s=([0-9]+) connect_subscribe_p50_us=([0-9]+) p99_us=([0-9]+).* broker_cpu_us_per_op=([0-9.na]+).*/\1,\2,\3,\4/' <<<"$line")" \
				>>"$OUT/control.csv"
		done
	done
	return $rc
}

# Median of column COL of control.csv for STORE, over the runs that got
# cycles through (a failed run is a row of zeros).
ctl_med() {
	awk -F, -v s="$1" -v c="$2" 'NR > 1 && $1 == s && $3 > 0 { v[n++] = $c }
		END { if (!n) { print 0; exit }
		      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		      print (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }' "$OUT/control.csv"
}

failed=()
for sys in $SYSTEMS; do
	say "$sys"
	case $sys in
	floor) run_floor ;;
	psoffload-drv) run_psoffload drv ;;
	psoffload-skb) run_psoffload skb ;;
	baseline) run_baseline ;;
	mosquitto | redis | nats) "run_$sys" ;;
	*) echo "bench: unknown system $sys" >&2; false ;;
	esac || failed+=("$sys")
done
say "control plane: CONNECT+SUBSCRIBE/s, --store=${CTL_STORES// /, }"
run_control || failed+=(control)
ctl_none=$(ctl_med none 3) ctl_sqlite=$(ctl_med sqlite 3) ctl_etcd=$(ctl_med etcd 3)
cpu_none=$(ctl_med none 6) cpu_sqlite=$(ctl_med sqlite 6)
say "control plane: none $ctl_none/s, sqlite $ctl_sqlite/s, etcd $ctl_etcd/s (p99 $(ctl_med none 5) / $(ctl_med sqlite 5) / $(ctl_med etcd 5) us; broker CPU per cycle $cpu_none / $cpu_sqlite / $(ctl_med etcd 6) us)"
bench_napi_placement >"$OUT/napi-placement.txt"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
echo "duration: $((SECONDS - t_start)) s" >>"$OUT/machine.txt"

if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: failed: ${failed[*]}" >&2
fi

if [ $quick = 0 ]; then
	"$here/summarize.sh" "$OUT" || exit 1
	say "results in $OUT ($((SECONDS - t_start)) s)"
	[ ${#failed[@]} -eq 0 ]
	exit $?
fi

# ---- the bench-quick line ------------------------------------------------------

# Median delivered msg/s of SYSTEM at fan-out F, payload 64.
med() {
	awk -F, -v s="$1" -v f="$2" '$1 == s && $2 == f && $3 == 64 { v[n++] = $7 }
		END { if (!n) { print 0; exit }
		      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
		      print (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }' "$OUT/throughput.csv"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
micro_ns() { awk -F, -v p="$1" '$1 == p { printf "%.2f", $4; exit }' "$OUT/microbench.csv"; }
# psoffload/floor of the TC fan-out F (microbenchmark), or "skip".
vs_floor() { awk -F, -v f="$1" '$1 == f { r = $4; if (r != "skip") r = sprintf("%.2f", r); print r; found = 1 }
	END { if (!found) print "nan" }' "$OUT/fanout_floor.csv"; }

d1=$(med psoffload-drv 1) d16=$(med psoffload-drv 16)
b1=$(med baseline 1) b16=$(med baseline 16) fl=$(med floor 1)
{
	echo "placement: $(grep '^placement' "$OUT/machine.txt" | cut -d' ' -f2-)"
	echo "$(grep '^loadavg' "$OUT/machine.txt" | tr '\n' ' ')"
	printf 'median delivered msg/s (64-byte payload): psoffload-drv f1 %.0f f16 %.0f; baseline f1 %.0f f16 %.0f; floor f1 %.0f\n' \
		"$d1" "$d16" "$b1" "$b16" "$fl"
	echo "TC fan-out, psoffload/floor (microbenchmark): $(awk -F, 'NR > 1 { printf "f%s %s; ", $1, $4 }' "$OUT/fanout_floor.csv")"
	cat "$OUT/paths.txt" 2>/dev/null
	echo "results: $OUT ($((SECONDS - t_start)) s)"
} >&2
[ ${#failed[@]} -eq 0 ] || exit 1
echo "bench-quick: fanout1_vs_baseline=$(ratio "$d1" "$b1") fanout16_vs_baseline=$(ratio "$d16" "$b16")" \
	"fanout1_vs_floor=$(ratio "$d1" "$fl") fastpath_ns=$(micro_ns a) floor_ns=$(micro_ns d)" \
	"control_sqlite_vs_none=$(ratio "$ctl_sqlite" "$ctl_none")" \
	"control_etcd_vs_none=$(ratio "$ctl_etcd" "$ctl_none")" "fanout1024_vs_floor=$(vs_floor 1024)" \
	"control_cpu_none_vs_sqlite=$(ratio "$cpu_none" "$cpu_sqlite")"
