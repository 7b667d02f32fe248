#!/usr/bin/env bash
# OMSS benchmarks, every relay side by side:
#   tools/bench/run.sh [--smoke | --quick] [--http] [--out DIR] [--docs]
# Relays: OMSS (share), OMSS-M (copy), Daemon, the epoll relay, the io_uring relay with plain
# and with zero-copy sends, the pure-transmit floor (tools/bench/floor: one in-kernel send
# loop, the cost any socket relay pays) and the device floor (pktgen: the frames alone, UDP).
# Topology (tools/bench/native.sh): the relay alone in a 1-vCPU TCG guest, its vCPU thread
# pinned to one host core; the media server and the subscribers native on the host, in a
# network namespace, on the other core. Each point records, over one window in the stream's
# steady state, with the idle rate measured just before subtracted:
#   (a) the relay guest's vCPU thread CPU time, read on the host (schedstat);
#   (b) the guest's own /proc/stat busy time;
#   (c) the guest instructions executed (tools/bench/insn_count.c, a QEMU TCG plugin);
# and the packets the subscribers received inside that window. A point whose load side
# passed 50 % of its core or dropped anything is rejected; a point where (a) and (b)
# disagree by more than 10 % is flagged. Points run in a shuffled order per repeat.
# Results: DIR/fanout.csv, DIR/payload.csv, DIR/meta.json, DIR/logs; then omss-bench-report
# writes the report and the figures (--docs: into docs/). The HTTP front end scenario
# (tools/bench/http.sh: omss-httpd and Icecast to N HTTP listeners) runs with BENCH_HTTP=1,
# or alone with --http (--docs then adds its results to docs/results and redraws the report):
# DIR/http.csv, DIR/http_capacity.csv, DIR/http_meta.json.
set -uo pipefail
. "$(dirname "$0")/../../tests/qemu/lib.sh"
. "$(dirname "$0")/native.sh"
. "$(dirname "$0")/http.sh"
cd "$OMSS_ROOT"

mode=full docs=0 OUT=$OMSS_ROOT/build/bench http=${BENCH_HTTP:-0}
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) mode=smoke ;;
	--quick) mode=quick ;;
	--docs) docs=1 ;;
	--http) http=only ;;
	--out) OUT=$2; shift ;;
	*) die "usage: tools/bench/run.sh [--smoke | --quick] [--http] [--out DIR] [--docs]" ;;
	esac
	shift
done
rm -rf "$OUT/logs" && mkdir -p "$OUT/logs"

RATE=256 # kbit/s per stream, as in the paper
case $mode in
smoke)
	REPEATS=1 WARMUP=1 WINDOW=2
	FANOUT_N="4" PAYLOAD_N=4 PAYLOADS="1400" IMPLS="omss daemon floor pktgen" PAYLOAD_IMPLS="omss-m" PROTOS="udp tcp"
	CAPACITY="udp:omss:4:4" EMBEDDED="omss:4:4" ;;
quick) # about 10 minutes
	REPEATS=2 WARMUP=2 WINDOW=3
	FANOUT_N="200" PAYLOAD_N=200 PAYLOADS="64 1400" IMPLS="omss daemon iouring floor"
	PAYLOAD_IMPLS="omss omss-m" PROTOS="udp tcp" CAPACITY="" EMBEDDED="" ;;
full) # about 70 minutes on these machines: ~15 s a point, 225 points, then 7 capacity searches
	REPEATS=${BENCH_REPEATS:-5} WARMUP=${BENCH_WARMUP:-1} WINDOW=${BENCH_WINDOW:-3}
	FANOUT_N=${BENCH_FANOUT_N-"200 1000"}
	PAYLOAD_N=${BENCH_PAYLOAD_N:-200} PAYLOADS=${BENCH_PAYLOADS-"64 256 1400"}
	IMPLS=${BENCH_IMPLS:-"omss omss-m daemon epoll iouring iouring-zc gstreamer floor pktgen"} PAYLOAD_IMPLS="omss omss-m" PROTOS=${BENCH_PROTOS:-"udp tcp"}
	# Capacity searches, PROTO:IMPL:START:MAX; the embedded test's, IMPL:START:MAX (TCP).
	CAPACITY=${BENCH_CAPACITY-"udp:omss:400:12800 udp:daemon:400:12800 udp:iouring:400:12800 tcp:omss:400:6400 tcp:daemon:400:6400"}
	EMBEDDED=${BENCH_EMBEDDED-"omss:20:1280 omss-m:20:1280 daemon:20:1280"} ;;
esac
# The HTTP scenario: listener counts, servers, and capacity searches (IMPL:START:MAX).
HTTP_IMPLS=${BENCH_HTTP_IMPLS:-"httpd-share httpd-copy httpd-user icecast"}
case $mode in
smoke) HTTP_N=10 HTTP_CAPACITY= ;;
quick) HTTP_N=100 HTTP_CAPACITY= ;;
full)
	# Listener counts up to 400 (every server carried them in the committed run); capacity
	# searches from 800 (it passed there) up to 3,200 (each search took about 5 minutes).
	HTTP_N=${BENCH_HTTP_N-"100 200 400"}
	HTTP_CAPACITY=${BENCH_HTTP_CAPACITY-"httpd-share:800:3200 httpd-copy:800:3200 httpd-user:800:3200 icecast:800:3200"} ;;
esac
[ "$http" = 0 ] && HTTP_N= HTTP_CAPACITY=
[ "$http" = only ] && IMPLS= PAYLOAD_IMPLS= CAPACITY= EMBEDDED=
SEED=${BENCH_SEED:-$(date +%s)}
# The idle window is as long as the measurement window, so that the guest's own work at the
# window's edges (taking the marks) is in both and cancels out with the idle rate.
IDLE=$WINDOW

[ -f "$PLUGIN" ] || die "$PLUGIN missing (run make tools)"
extra=()
case " $IMPLS " in *" daemon "*) extra+=(omss-daemon) ;; esac
case " $IMPLS " in *" epoll "*) extra+=(omss-epoll-relay) ;; esac
case " $IMPLS " in *" iouring"*) extra+=(omss-uring-relay) ;; esac
case " $IMPLS " in *" floor "*) extra+=(omss-floor) ;; esac
extra+=(omss-calibrate)
check_built "${extra[@]}"
RROOT=$OUT/relay-root
build_root "$RROOT" "${extra[@]}"
[[ " $IMPLS " == *" pktgen "* ]] && cp "$KDIR/net/core/pktgen.ko" "$RROOT/omss/"
# GStreamer: gst-launch-1.0, the three plugins it uses, and their libraries.
if [[ " $IMPLS " == *" gstreamer "* ]]; then
	GST_PKGS=(gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
	command -v gst-launch-1.0 >/dev/null && [ -f /usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstudp.so ] ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${GST_PKGS[@]}" >/dev/null ||
		die "cannot install ${GST_PKGS[*]}"
	mkdir -p "$RROOT/omss/gst"
	cp /usr/bin/gst-launch-1.0 "$RROOT/usr/bin/"
	for f in libgstcoreelements libgstudp libgsttcp; do
		cp /usr/lib/x86_64-linux-gnu/gstreamer-1.0/$f.so "$RROOT/omss/gst/"
	done
	for lib in $(ldd /usr/bin/gst-launch-1.0 "$RROOT"/omss/gst/*.so | grep -v ":$" | grep -o "/[^ ]*" | sort -u); do
		mkdir -p "$RROOT$(dirname "$lib")" && cp -L "$lib" "$RROOT$lib"
	done
fi
if [[ " $IMPLS " == *" floor "* ]]; then
	tools/bench/floor/build.sh normal || die "building the floor module failed"
	cp build/floor-normal/omss_floor.ko "$RROOT/omss/"
fi
cp tools/bench/guest-relay.sh "$RROOT/omss/tests/"
HROOT=$RROOT # the HTTP points' guest root
if [ -n "$HTTP_N$HTTP_CAPACITY" ] && [[ " $HTTP_IMPLS " == *" icecast "* ]]; then
	HROOT=$OUT/relay-root-http
	http_root "$HROOT"
fi

# The points of one repeat, one per line: KIND PROTO IMPL N PAYLOAD.
points() {
	local proto n impl p
	for proto in $PROTOS; do
		for n in $FANOUT_N; do for impl in $IMPLS; do
			[ "$impl" = pktgen ] && [ "$proto" = tcp ] && continue # raw UDP frames only
			# tcpserversink refuses connections while 1,000 subscribers connect at once
			# (ECONNREFUSED after about 780): GStreamer over TCP is measured up to 200.
			[ "$impl" = gstreamer ] && [ "$proto" = tcp ] && [ "$n" -gt 200 ] && continue
			echo "fanout $proto $impl $n 1400"
		done; done
		for p in $PAYLOADS; do for impl in $PAYLOAD_IMPLS; do echo "payload $proto $impl $PAYLOAD_N $p"; done; done
	done
	for n in $HTTP_N; do for impl in $HTTP_IMPLS; do echo "http http $impl $n 1400"; done; done
}

# The calibration: a 1,400-byte copy, a syscall and a UDP send, timed natively on the relay's
# host CPU and in the relay guest, so the report can say what emulation does to each.
calibrate() {
	local iters=$1 log=$OUT/logs/calibrate.log
	printf 'export IMPL=calibrate ITERS=%s\nexport OMSS_SCRIPT=guest-relay.sh\n' "$iters" >"$RROOT/omss/env"
	pack_initramfs "$RROOT" "$OUT/relay.gz" gzip
	taskset -c "$RELAY_CPU" "$BIN/omss-calibrate" --iters "$iters" >"$OUT/logs/calibrate.native" &&
		qemu_start "$OUT/relay.gz" "$log" "$OUT/logs/calibrate.insns" && qemu_wait 600 || return 1
	echo "op,native_ns,guest_ns,guest_over_native" >"$OUT/calibration.csv"
	sed -n 's/^BENCH-CALIBRATE //p' "$log" | awk -F, -v OFS=, 'NR == FNR { native[$1] = $2; next }
		$1 in native { print $1, native[$1], $2, sprintf("%.1f", $2 / native[$1]) }' \
		"$OUT/logs/calibrate.native" - >>"$OUT/calibration.csv"
	[ "$(wc -l <"$OUT/calibration.csv")" -eq 4 ]
}

ns_up
calibrate "$([ $mode = smoke ] && echo 2000 || echo 20000)" ||
	die "the calibration failed (logs: $OUT/logs/calibrate.*)"
echo "calibration (ns per operation, native and in the guest):"
column -ts, "$OUT/calibration.csv" | sed 's/^/  /'
total=$(($(points | wc -l) * REPEATS + $(echo $CAPACITY $EMBEDDED $HTTP_CAPACITY | wc -w)))
done_=0 failed=0 start=$(date +%s)
progress() { # progress LABEL RESULT
	done_=$((done_ + 1))
	local el=$(($(date +%s) - start)) eta=
	[ $done_ -lt $total ] && eta=$(((total - done_) * el / done_))
	printf '[%3d/%d %3dm%02ds%s] %-44s %s\n' $done_ $total $((el / 60)) $((el % 60)) \
		"${eta:+, ~$((eta / 60))m left}" "$1" "$2"
}
echo "proto,impl,subscribers,run,$COLS" >"$OUT/fanout.csv"
echo "proto,impl,payload,subscribers,run,$COLS" >"$OUT/payload.csv"
rm -f "$OUT"/http*.csv "$OUT/http_meta.json"
[ "$http" != 0 ] && echo "impl,subscribers,payload,run,$COLS" >"$OUT/http.csv"
for run in $(seq 0 $((REPEATS - 1))); do
	while read -r kind proto impl n payload; do
		label="$kind $proto $impl N=$n ${payload}B run $run"
		root=$RROOT
		[ "$kind" = http ] && root=$HROOT
		if row=$(RROOT=$root point "$kind" "$proto" "$impl" "$n" "$payload" "$run" 2>"$OUT/logs/why"); then
			if [ "$kind" = fanout ]; then echo "$proto,$impl,$n,$run,$row" >>"$OUT/fanout.csv"
			elif [ "$kind" = http ]; then echo "$impl,$n,$payload,$run,$row" >>"$OUT/http.csv"
			else echo "$proto,$impl,$payload,$n,$run,$row" >>"$OUT/payload.csv"; fi
			IFS=, read -r cpu _ _ _ _ loss _ nspp _ ipp lcpu _ _ flag valid <<<"$row"
			progress "$label" "cpu ${cpu}% ${nspp}ns/pkt ${ipp}insn/pkt loss $loss load ${lcpu}%$([ "$flag" = 1 ] && echo " (a)/(b) disagree")$([ "$valid" = 0 ] && echo " REJECTED: load side")"
		else
			failed=$((failed + 1)); progress "$label" "FAILED: $(head -c 200 "$OUT/logs/why")"
		fi
	done < <(points | shuf --random-source=<(yes "$SEED.$run"))
done

# Capacities: the regular guest, then the paper's embedded box (1 vCPU, 128 MiB, no checksum
# offload: the guest computes every checksum in software, as the paper's MIPS router did).
echo "scenario,proto,impl,capacity,first_fail,probes" >"$OUT/capacity.csv"
echo "scenario,proto,impl,subscribers,passes,$COLS" >"$OUT/capacity_probes.csv"
for c in $CAPACITY; do
	IFS=: read -r proto impl lo max <<<"$c"
	capacity regular "$proto" "$impl" "$lo" "$max"
	progress "capacity $proto $impl" "$(tail -1 "$OUT/capacity.csv" | cut -d, -f4) subscribers"
done
for c in $EMBEDDED; do
	IFS=: read -r impl lo max <<<"$c"
	QEMU_MEM=128M NIC_OPTS=",csum=off,guest_csum=off" capacity embedded tcp "$impl" "$lo" "$max"
	progress "capacity embedded tcp $impl" "$(tail -1 "$OUT/capacity.csv" | cut -d, -f4) subscribers"
done
if [ "$http" != 0 ]; then
	echo "scenario,proto,impl,capacity,first_fail,probes" >"$OUT/http_capacity.csv"
	echo "scenario,proto,impl,subscribers,passes,$COLS" >"$OUT/http_capacity_probes.csv"
	for c in $HTTP_CAPACITY; do
		IFS=: read -r impl lo max <<<"$c"
		RROOT=$HROOT CAP_CSV=http_capacity capacity http http "$impl" "$lo" "$max"
		progress "capacity http $impl" "$(tail -1 "$OUT/http_capacity.csv" | cut -d, -f4) listeners"
	done
	http_meta "$OUT/http_meta.json"
fi

cat >"$OUT/meta.json" <<JSON
{"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "commit": "$(git rev-parse --short HEAD 2>/dev/null)",
 "host": "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)",
 "topology": "relay: one QEMU TCG guest, 1 vCPU (thread pinned to host CPU $RELAY_CPU), 2 GiB, virtio-net on a tap with vnet headers; load: media server and subscribers native on the host (CPU $LOAD_CPU), in a network namespace",
 "guest_kernel": "Linux 6.12 tinyconfig + tools/guest/fragment.config (-O2, SLUB)",
 "rate_kbps": $RATE, "repeats": $REPEATS, "warmup_s": $WARMUP, "window_s": $WINDOW, "idle_s": $IDLE, "seed": $SEED,
 "fanout_subscribers": "$FANOUT_N", "payload_subscribers": $PAYLOAD_N, "payloads": "$PAYLOADS",
 "mode": "$mode", "smoke": $([ $mode = smoke ] && echo true || echo false), "failed_points": $failed}
JSON
report_args=(--results "$OUT" --out-docs "$OUT/benchmarks.md" --figures "$OUT/figures")
[ $mode = smoke ] && report_args+=(--smoke)
cp tools/bench/method.md "$OUT/method.md" 2>/dev/null
# A hand-written analysis belongs to the full run it quotes: write it into $OUT/analysis.md
# (or docs/results/analysis.md) after the run, and redraw the report.
if [ $docs -eq 1 ] && [ "$http" = only ]; then # the HTTP results join the last full run's
	mkdir -p docs/results
	cp "$OUT"/{http.csv,http_capacity.csv,http_capacity_probes.csv,http_meta.json} docs/results/ ||
		die "cannot copy results to docs/"
	report_args=(--results docs/results --out-docs docs/benchmarks.md --figures docs/figures)
	[ -f docs/results/meta.json ] && grep -q '"smoke": true' docs/results/meta.json && report_args+=(--smoke)
elif [ $docs -eq 1 ]; then # the report's inputs go with it, so that it can be redrawn
	mkdir -p docs/results
	cp "$OUT"/{fanout.csv,payload.csv,calibration.csv,capacity.csv,capacity_probes.csv,meta.json,method.md} docs/results/ || die "cannot copy results to docs/"
	[ "$http" != 0 ] && { cp "$OUT"/http*.csv "$OUT/http_meta.json" docs/results/ || die "cannot copy results to docs/"; }
	rm -f docs/results/analysis.md # it quoted an earlier run
	report_args=(--results docs/results --out-docs docs/benchmarks.md --figures docs/figures)
fi
cargo run -q --release -p omss-bench-report -- "${report_args[@]}" || die "the report failed"
echo "omss: bench: $done_ points, $failed failed; results in $OUT"
[ $failed -eq 0 ]
