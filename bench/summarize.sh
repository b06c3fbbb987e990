#!/usr/bin/env bash
# summarize.sh RESULTS_DIR - summary.md and PNG plots from a run's CSVs
# (throughput.csv, latency.csv, memory.csv, microbench.csv, programs.csv,
# machine.txt).  Medians over the repeats: the repeat whose delivered rate
# is the median gives the other columns of its point; min and max are of
# the delivered rate.  Needs awk and gnuplot.
set -euo pipefail
OUT=${1:?usage: summarize.sh RESULTS_DIR}
cd "$OUT"
mkdir -p plotdata
SYSTEMS_ORDER="psoffload-drv psoffload-skb floor baseline mosquitto redis nats"

# ---- per point: the median repeat ------------------------------------------------
# point.dat: system fanout payload median min max n offered loss sub_min sub_avg
#            sub_max broker_cpu gen_cpu ns_per_msg flood_off flood_del per_core loadavg
awk -F, 'NR > 1 {
	k = $1 SUBSEP $2 SUBSEP $3; n[k]++; row[k, n[k]] = $0; val[k, n[k]] = $7 + 0
	if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
} END {
	for (i = 1; i <= nk; i++) {
		k = keys[i]; m = n[k]
		for (a = 1; a <= m; a++) idx[a] = a
		for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++)
			if (val[k, idx[b]] < val[k, idx[a]]) { t = idx[a]; idx[a] = idx[b]; idx[b] = t }
		mid = idx[int((m + 1) / 2)]
		split(row[k, mid], f, ",")
		busy = f[12] > 0 ? f[12] / 100 : 1
		printf "%s %s %s %.0f %.0f %.0f %d %.0f %.2f %.0f %.0f %.0f %.1f %.1f %.1f %.0f %.0f %.0f %.2f\n",
			f[1], f[2], f[3], val[k, mid], val[k, idx[1]], val[k, idx[m]], m, f[6], f[8],
			f[9], f[10], f[11], f[12], f[17], f[18], f[20], f[21], f[7] / busy, f[22]
	}
}' throughput.csv >plotdata/point.dat

present=""
for s in $SYSTEMS_ORDER; do
	grep -q "^$s " plotdata/point.dat && present="$present $s"
done
fanouts=$(awk '{print $2}' plotdata/point.dat | sort -n -u | tr '\n' ' ')
payloads=$(awk '{print $3}' plotdata/point.dat | sort -n -u | tr '\n' ' ')

# value SYSTEM FANOUT PAYLOAD COLUMN (1-based in point.dat)
value() { awk -v s="$1" -v f="$2" -v p="$3" -v c="$4" '$1 == s && $2 == f && $3 == p { print $c; exit }' plotdata/point.dat; }
fmt() {	# human number: 1234567 -> 1.23M
	awk -v v="$1" 'BEGIN { if (v == "") { print "-"; exit }
		if (v >= 1e6) printf "%.2fM", v / 1e6; else if (v >= 1e3) printf "%.0fk", v / 1e3; else printf "%.0f", v }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.1f", a / b }'; }

table_header() {	# title cells...
	local h="| $1 |" l="|---|"
	shift
	for c in "$@"; do h="$h $c |"; l="$l---:|"; done
	echo "$h"
	echo "$l"
}

{
	echo "# psoffload benchmark results"
	echo
	echo '```'
	cat machine.txt
	echo '```'
	echo

	# ---- headline ----
	d1=$(value psoffload-drv 1 64 4) d16=$(value psoffload-drv 16 64 4)
	b1=$(value baseline 1 64 4) b16=$(value baseline 16 64 4) fl=$(value floor 1 64 4)
	fa=$(awk -F, '$1 == "a" { print $4; exit }' microbench.csv 2>/dev/null)
	fd=$(awk -F, '$1 == "d" { print $4; exit }' microbench.csv 2>/dev/null)
	echo "## Headline (64-byte payloads, medians)"
	echo
	echo "- fan-out 1: psoffload drv $(fmt "$d1") msg/s, baseline $(fmt "$b1"): **R1 = $(ratio "$d1" "$b1")**"
	echo "- fan-out 16: psoffload drv $(fmt "$d16") msg/s, baseline $(fmt "$b16"): **R16 = $(ratio "$d16" "$b16")**"
	echo "- fan-out 1 against the XDP_TX floor ($(fmt "$fl") msg/s): **F1 = $(awk -v a="$d1" -v b="$fl" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')**"
	echo "- per packet (BPF_PROG_TEST_RUN): fast path ${fa:-?} ns, floor ${fd:-?} ns"
	echo

	# ---- throughput ----
	for p in $payloads; do
		echo "## Delivered msg/s, payload $p bytes: median (min-max) of the repeats"
		echo
		# shellcheck disable=SC2086
		table_header system $(for f in $fanouts; do echo "f$f"; done)
		for s in $present; do
			line="| $s |"
			for f in $fanouts; do
				m=$(value "$s" "$f" "$p" 4)
				if [ -z "$m" ]; then line="$line - |"; continue; fi
				line="$line $(fmt "$m") ($(fmt "$(value "$s" "$f" "$p" 5)")-$(fmt "$(value "$s" "$f" "$p" 6)")) |"
			done
			echo "$line"
		done
		echo
	done

	echo "## psoffload drv over each system (delivered msg/s, payload 64)"
	echo
	# shellcheck disable=SC2086
	table_header system $(for f in $fanouts; do echo "f$f"; done)
	for s in $present; do
		[ "$s" = psoffload-drv ] && continue
		line="| $s |"
		for f in $fanouts; do
			line="$line $(ratio "$(value psoffload-drv "$f" 64 4)" "$(value "$s" "$f" 64 4)") |"
		done
		echo "$line"
	done
	echo

	echo "## Offered vs delivered, loss, per subscriber (payload 64, median repeat)"
	echo
	echo "offered: publishes/s the generator sent in the window (the rate that delivered most, see"
	echo "BENCHMARKS.md); flood: the packet generator flat out, and what the system delivered then."
	echo
	table_header "system / fan-out" "offered pub/s" "delivered msg/s" "loss %" "per-sub min/avg/max" "flood offered" "flood delivered"
	for s in $present; do
		for f in $fanouts; do
			[ -n "$(value "$s" "$f" 64 4)" ] || continue
			fo=$(value "$s" "$f" 64 16)
			echo "| $s / $f | $(fmt "$(value "$s" "$f" 64 8)") | $(fmt "$(value "$s" "$f" 64 4)") |" \
			     "$(value "$s" "$f" 64 9) | $(fmt "$(value "$s" "$f" 64 10)")/$(fmt "$(value "$s" "$f" 64 11)")/$(fmt "$(value "$s" "$f" 64 12)") |" \
			     "$( [ "${fo:-0}" = 0 ] && echo "closed loop" || fmt "$fo") | $( [ "${fo:-0}" = 0 ] && echo - || fmt "$(value "$s" "$f" 64 17)") |"
		done
	done
	echo

	echo "## Cost and bottleneck (payload 64)"
	echo
	echo "broker CPU: busy share of the broker CPU (user+sys+softirq, /proc/stat), which also runs"
	echo "the subscriber veth's receive; ns/msg: that CPU time per delivered message; per core:"
	echo "delivered msg/s divided by the busy share.  Bottleneck: the broker CPU when it is >= 90 %"
	echo "busy; else the client side (CPU $(grep -o 'on CPU [0-9]*' machine.txt | head -1 | cut -d' ' -f3), when >= 95 % busy) or the veth path."
	echo
	table_header "system / fan-out" "broker CPU %" "client CPU %" "ns/msg" "msg/s per broker core" "bottleneck"
	for s in $present; do
		for f in $fanouts; do
			[ -n "$(value "$s" "$f" 64 4)" ] || continue
			bc=$(value "$s" "$f" 64 13) gc=$(value "$s" "$f" 64 14)
			bn=$(awk -v b="$bc" -v g="$gc" -v s="$s" 'BEGIN {
				if (b >= 90) print "broker CPU"
				else if (s ~ /^(mosquitto|redis|nats)$/ && g >= 95) print "clients (generator CPU)"
				else if (s ~ /^(mosquitto|redis|nats)$/) print "client/library round trips"
				else print "veth path (generator side)" }')
			echo "| $s / $f | $bc | $gc | $(value "$s" "$f" 64 15) | $(fmt "$(value "$s" "$f" 64 18)") | $bn |"
		done
	done
	echo

	echo "## Memory"
	echo
	table_header system "RSS kB" "BPF maps kB" "configuration"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' memory.csv
	echo

	if [ -s latency.csv ]; then
		echo "## One-way latency (payload 64): sender timestamp in the payload, same clock"
		echo
		echo "Level: % of the system's own median capacity at that fan-out (table above)."
		echo
		table_header "system / fan-out / level" "offered pub/s" "delivered msg/s" "loss %" "p50 us" "p99 us" "p99.9 us"
		for s in $present; do
			awk -F, -v s="$s" 'NR > 1 && $1 == s {
				printf "| %s / %s / %s %% | %.0f | %.0f | %s | %s | %s | %s |\n", $1, $2, $4, $6, $7, $8, $10, $11, $12 }' latency.csv
		done
		echo
	fi

	if [ -s control.csv ]; then
		echo "## Control plane: CONNECT+SUBSCRIBE per second, by store"
		echo
		echo "bench/ctlrate, 64 clients, each cycle a new session that subscribes and ends;"
		echo "the stores alternate, a fresh SQLite file and a fresh one-member etcd"
		echo "(in the broker namespace, on the broker CPU) each run."
		echo
		table_header store repeat "ops/s" "CONNECT->SUBACK p50 us" "p99 us"
		awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' control.csv
		awk -F, 'NR > 1 && $3 > 0 { v[$1] = v[$1] " " $3 }
			function med(list,   a, n, i, j, t) { n = split(list, a, " ")
				for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
				return n ? ((n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : 0 }
			END { n = med(v["none"]); q = med(v["sqlite"]); e = med(v["etcd"])
			      printf "\nMedian: none %.0f/s, sqlite %.0f/s, etcd %.0f/s: sqlite/none = %.2f, etcd/none = %.2f\n", n, q, e, n ? q / n : 0, n ? e / n : 0 }' control.csv
		echo
	fi

	echo "## Microbenchmarks (BPF_PROG_TEST_RUN, one CPU)"
	echo
	table_header path "ns/pkt (median)" "min" "max" "x floor"
	awk -F, 'NR > 1 { printf "| (%s) %s | %s | %s | %s | %s |\n", $1, $2, $4, $5, $6, $9 }' microbench.csv
	echo
	if [ -s fanout_floor.csv ]; then
		echo "### TC fan-out against its floor (microbenchmark (f) over (h))"
		echo
		echo "ratio: floor ns / psoffload ns per publish (the kernel's figure, median), i.e. psoffload's copies per second as a"
		echo "fraction of the floor's (bench/floor_tc.bpf.c); skip: psoffload cannot hold that"
		echo "many subscribers on one topic."
		echo
		table_header fan-out "psoffload ns" "floor ns" "psoffload/floor"
		awk -F, 'NR > 1 { printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' fanout_floor.csv
		echo
	fi
	echo "Programs attached during the runs (bpftool prog show):"
	echo
	table_header "system / program" type "instructions (xlated)" "JIT bytes"
	awk -F, 'NR > 1 { gsub(/"/, ""); printf "| %s / %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' programs.csv | sort -u
	echo
	echo "Plots: $(ls ./*.png 2>/dev/null | tr '\n' ' ')"
} >summary.md.tmp

# ---- plots -------------------------------------------------------------------------
if command -v gnuplot >/dev/null; then
	for p in $payloads; do
		plots=""
		for s in $present; do
			awk -v s="$s" -v p="$p" '$1 == s && $3 == p { print $2, $4, $5, $6 }' plotdata/point.dat |
				sort -n >"plotdata/tput-$p-$s.dat"
			[ -s "plotdata/tput-$p-$s.dat" ] || continue
			plots="$plots${plots:+, }'plotdata/tput-$p-$s.dat' using 1:2:3:4 with yerrorlines lw 2 title '$s'"
		done
		gnuplot <<-EOF
			set terminal png size 900,560
			set output 'bench-throughput-$p.png'
			set title 'Delivered messages/s vs fan-out, $p-byte payload (median, min-max)'
			set logscale x 2
			set logscale y 10
			set xlabel 'fan-out (subscribers)'
			set ylabel 'delivered msg/s (all subscribers)'
			set key outside right
			set grid
			plot $plots
		EOF
	done
	if [ -s latency.csv ]; then
		for f in $(awk -F, 'NR > 1 { print $2 }' latency.csv | sort -n -u); do
			plots=""
			for s in $present; do
				awk -F, -v s="$s" -v f="$f" '$1 == s && $2 == f { print $4, $10, $11, $12 }' latency.csv |
					sort -n >"plotdata/lat-$f-$s.dat"
				[ -s "plotdata/lat-$f-$s.dat" ] || continue
				plots="$plots${plots:+, }'plotdata/lat-$f-$s.dat' using 1:3 with linespoints lw 2 title '$s p99'"
				plots="$plots, 'plotdata/lat-$f-$s.dat' using 1:2 with linespoints dt 2 title '$s p50'"
			done
			gnuplot <<-EOF
				set terminal png size 900,560
				set output 'bench-latency-f$f.png'
				set title 'One-way latency vs offered load, fan-out $f, 64-byte payload'
				set logscale y 10
				set xlabel 'offered load (% of the system''s own capacity)'
				set ylabel 'latency (us)'
				set xrange [0:100]
				set key outside right
				set grid
				plot $plots
			EOF
		done
	fi
fi
sed "s|^Plots: .*|Plots: $(ls ./*.png 2>/dev/null | sed 's|^\./||' | tr '\n' ' ')|" summary.md.tmp >summary.md
rm -f summary.md.tmp
echo "summary: $OUT/summary.md"
