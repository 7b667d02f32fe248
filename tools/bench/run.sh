#!/usr/bin/env bash
# OMSS benchmarks (the paper's bulk fan-out and payload-size tests), side by side:
#   tools/bench/run.sh [--smoke] [--out DIR] [--docs]
# Each measurement point boots two QEMU guests joined by QEMU's socket netdev on 127.0.0.1:
# the relay host (OMSS, OMSS-M, Daemon or the epoll relay) and the load host (media server
# and subscribers). Relay CPU comes from the relay host's /proc/stat alone, so the load
# generators' work is not in it. Results: DIR/fanout.csv, DIR/payload.csv, DIR/meta.json;
# then omss-bench-report draws the figures and writes the report (--docs: into docs/).
set -uo pipefail
. "$(dirname "$0")/../../tests/qemu/lib.sh"
. "$(dirname "$0")/link.sh"
cd "$OMSS_ROOT"

smoke=0 docs=0 OUT=$OMSS_ROOT/build/bench
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) smoke=1 ;;
	--docs) docs=1 ;;
	--out) OUT=$2; shift ;;
	*) die "usage: tools/bench/run.sh [--smoke] [--out DIR] [--docs]" ;;
	esac
	shift
done
mkdir -p "$OUT/logs"

RATE=256 # kbit/s per stream, as in the paper
if [ $smoke -eq 1 ]; then
	REPEATS=1 WARMUP=1 WINDOW=2
	FANOUT_N="4" PAYLOAD_N=4 PAYLOADS="1400" IMPLS="omss daemon" PAYLOAD_IMPLS="omss-m" PROTOS="udp tcp"
else
	REPEATS=${BENCH_REPEATS:-2} WARMUP=${BENCH_WARMUP:-3} WINDOW=${BENCH_WINDOW:-8}
	FANOUT_N=${BENCH_FANOUT_N-"50 100 200 400 800"}
	PAYLOAD_N=${BENCH_PAYLOAD_N:-200} PAYLOADS=${BENCH_PAYLOADS-"64 128 256 512 1024 1400"}
	IMPLS=${BENCH_IMPLS:-"omss omss-m daemon epoll"} PAYLOAD_IMPLS="omss omss-m" PROTOS=${BENCH_PROTOS:-"udp tcp"}
fi

# Both guests have 2 vCPUs and share the host's CPUs. BENCH_PIN=1 gives the relay host a host
# CPU of its own (BENCH_RELAY_CPUS vCPUs, default 1) and the load host the others; on these
# 2-core machines that was noisier, as the relay's QEMU I/O thread then competes with its vCPU.
RELAY_CPUS=2 RELAY_PIN= LOAD_PIN=
if [ "${BENCH_PIN:-0}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
	RELAY_CPUS=${BENCH_RELAY_CPUS:-1} RELAY_PIN=0 LOAD_PIN=1-$(($(nproc) - 1))
fi

# The user-space relays the chosen implementations need.
extra=()
case " $IMPLS " in *" daemon "*) extra+=(omss-daemon) ;; esac
case " $IMPLS " in *" epoll "*) extra+=(omss-epoll-relay) ;; esac
check_built "${extra[@]}"
RROOT=$OUT/relay-root LROOT=$OUT/load-root
build_root "$RROOT" "${extra[@]}"
build_root "$LROOT"
cp tools/bench/guest-relay.sh tools/bench/guest-load.sh "$RROOT/omss/tests/"
cp tools/bench/guest-relay.sh tools/bench/guest-load.sh "$LROOT/omss/tests/"

# point KIND PROTO IMPL N PAYLOAD RUN: boots the pair, prints a CSV row's values.
point_no=0
point() {
	local kind=$1 proto=$2 impl=$3 n=$4 payload=$5 run=$6
	point_no=$((point_no + 1))
	local pps count port=$((21000 + point_no % 2000)) tag="$kind-$proto-$impl-$n-$payload-$run"
	pps=$(awk "BEGIN { print $RATE * 1000 / ($payload * 8) }")
	count=$(awk "BEGIN { printf \"%d\", $pps * ($WARMUP + $WINDOW + 3) + 10 }")
	local env="export IMPL=$impl PROTO=$proto N=$n PAYLOAD=$payload COUNT=$count RATE=$RATE WARMUP=$WARMUP WINDOW=$WINDOW OMSS_PARAMS='${BENCH_OMSS_PARAMS:-}'"
	printf '%s\nexport OMSS_SCRIPT=guest-relay.sh\n' "$env" >"$RROOT/omss/env"
	printf '%s\nexport OMSS_SCRIPT=guest-load.sh\n' "$env" >"$LROOT/omss/env"
	pack_initramfs "$RROOT" "$OUT/relay.gz"
	pack_initramfs "$LROOT" "$OUT/load.gz"
	local rlog=$OUT/logs/$tag-relay.log llog=$OUT/logs/$tag-load.log
	local drops0
	drops0=$(link_drops)
	# shellcheck disable=SC2046 # link_args gives several words
	QEMU_SMP=$RELAY_CPUS QEMU_PIN=$RELAY_PIN boot_guest "$OUT/relay.gz" "$rlog" 900 $(link_args 0 $port) &
	local rpid=$!
	sleep 1
	# shellcheck disable=SC2046
	QEMU_PIN=$LOAD_PIN boot_guest "$OUT/load.gz" "$llog" 900 $(link_args 1 $port)
	wait $rpid
	echo "BENCH-LINK kind=$LINK_KIND host_drops=$(($(link_drops) - drops0))" >>"$llog"
	local why
	why=$(guest_problem "$rlog")$(guest_problem "$llog")
	local busy idle loss
	busy=$(sed -n 's/^BENCH-RELAY busy_jiffies=\([0-9]*\).*/\1/p' "$rlog")
	idle=$(sed -n 's/^BENCH-RELAY .*idle_jiffies=\([0-9]*\).*/\1/p' "$rlog")
	loss=$(sed -n 's/^BENCH-LOAD .*loss_ratio=\([0-9.eE+-]*\).*/\1/p' "$llog")
	if [ -n "$why" ] || [ -z "$busy" ] || [ -z "$loss" ]; then
		echo "omss: bench point $tag failed: ${why:-no result} (logs: $rlog $llog)" >&2
		return 1
	fi
	awk -v busy="$busy" -v idle="$idle" -v loss="$loss" -v pps="$pps" -v n="$n" -v w="$WINDOW" 'BEGIN {
		offered = pps * w * n
		printf "%.2f,%.3f,%d,%d,%d,%s\n", 100 * busy / (busy + idle), busy / 100, w, offered, offered * (1 - loss), loss
	}'
}

link_up
total=0
for proto in $PROTOS; do
	total=$((total + $(echo $IMPLS | wc -w) * $(echo $FANOUT_N | wc -w) * REPEATS))
	total=$((total + $(echo $PAYLOAD_IMPLS | wc -w) * $(echo $PAYLOADS | wc -w) * REPEATS))
done
done_=0 failed=0 start=$(date +%s)
progress() { # progress LABEL RESULT
	done_=$((done_ + 1))
	local el=$(($(date +%s) - start))
	printf '[%3d/%d %3dm%02ds] %-46s %s\n' $done_ $total $((el / 60)) $((el % 60)) "$1" "$2"
}

echo "proto,impl,subscribers,run,relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio" >"$OUT/fanout.csv"
echo "proto,impl,payload,subscribers,run,relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio" >"$OUT/payload.csv"
for run in $(seq 0 $((REPEATS - 1))); do
	for proto in $PROTOS; do
		for n in $FANOUT_N; do
			for impl in $IMPLS; do
				if row=$(point fanout $proto $impl $n 1400 $run); then
					echo "$proto,$impl,$n,$run,$row" >>"$OUT/fanout.csv"
					progress "fan-out $proto $impl N=$n run $run" "cpu% $(echo "$row" | cut -d, -f1) loss $(echo "$row" | cut -d, -f6)"
				else
					failed=$((failed + 1)); progress "fan-out $proto $impl N=$n run $run" FAILED
				fi
			done
		done
		for p in $PAYLOADS; do
			for impl in $PAYLOAD_IMPLS; do
				if row=$(point payload $proto $impl $PAYLOAD_N $p $run); then
					echo "$proto,$impl,$p,$PAYLOAD_N,$run,$row" >>"$OUT/payload.csv"
					progress "payload $proto $impl ${p}B N=$PAYLOAD_N run $run" "cpu% $(echo "$row" | cut -d, -f1) loss $(echo "$row" | cut -d, -f6)"
				else
					failed=$((failed + 1)); progress "payload $proto $impl ${p}B run $run" FAILED
				fi
			done
		done
	done
done

cat >"$OUT/meta.json" <<JSON
{"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "host": "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)",
 "guests": "two QEMU TCG guests (no KVM), 2 GiB each, virtio-net: the relay host with $RELAY_CPUS vCPU(s) $([ -n "$RELAY_PIN" ] && echo "pinned to host CPU $RELAY_PIN, the load host with 2 vCPUs pinned to host CPU(s) $LOAD_PIN" || echo "and the load host with 2 vCPUs, both unpinned on the host's CPUs"), joined by $([ "$LINK_KIND" = tap ] && echo "two host taps on a private bridge (vnet headers: scatter-gather and checksum offload)" || echo "QEMU's socket netdev on 127.0.0.1 (no vnet headers: no scatter-gather, so spliced pages are copied by the guest stack)")", "link": "$LINK_KIND",
 "guest_kernel": "Linux 6.12.117 tinyconfig + tools/guest/fragment.config (IRQ_TIME_ACCOUNTING on)",
 "rate_kbps": $RATE, "repeats": $REPEATS, "warmup_s": $WARMUP, "window_s": $WINDOW,
 "fanout_subscribers": "$FANOUT_N", "payload_subscribers": $PAYLOAD_N, "payloads": "$PAYLOADS",
 "smoke": $([ $smoke -eq 1 ] && echo true || echo false), "failed_points": $failed}
JSON
report_args=(--results "$OUT" --out-docs "$OUT/benchmarks.md" --figures "$OUT/figures")
[ $smoke -eq 1 ] && report_args+=(--smoke)
cp tools/bench/method.md "$OUT/method.md" 2>/dev/null
# The hand-written analysis belongs to the full run it quotes, not to smoke runs.
[ $smoke -eq 0 ] && cp tools/bench/analysis.md "$OUT/analysis.md" 2>/dev/null
if [ $docs -eq 1 ]; then # the report's inputs go with it, so that it can be redrawn
	mkdir -p docs/results
	cp "$OUT"/{fanout.csv,payload.csv,meta.json,method.md,analysis.md} docs/results/ || die "cannot copy results to docs/"
	report_args=(--results docs/results --out-docs docs/benchmarks.md --figures docs/figures)
fi
cargo run -q --release -p omss-bench-report -- "${report_args[@]}" || die "the report failed"
echo "omss: bench: $done_ points, $failed failed; results in $OUT"
[ $failed -eq 0 ]
