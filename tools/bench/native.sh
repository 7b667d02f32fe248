# Sourced by tools/bench/run.sh: the measurement topology. The relay runs alone in a 1-vCPU
# QEMU guest whose vCPU thread is pinned to host CPU $RELAY_CPU; the media server and every
# subscriber run natively on the host, on $LOAD_CPU, inside a network namespace made here,
# and reach the guest through a tap with vnet headers (so the guest NIC offers
# scatter-gather and checksum offload, and spliced pages can be sent without a copy).
# QEMU runs in the namespace too, so nothing here touches the host's own network.
# shellcheck shell=bash

NS=omssb$$ TAP=omsst0 HOST_IP=198.18.10.2 GUEST_IP=198.18.10.1
RELAY_CPU=0 LOAD_CPU=$(($(nproc) > 1 ? 1 : 0))
PLUGIN=$OMSS_ROOT/build/bench-bin/insn_count.so

ns() { ip netns exec "$NS" "$@"; }
# spawn_load CMD... &: a load process, in the namespace, on the load CPU. It execs, so that
# $! is the command's own PID (its CPU time is read from there).
spawn_load() { exec ip netns exec "$NS" taskset -c "$LOAD_CPU" "$@"; }

ns_up() {
	ip netns add "$NS" || die "bench: cannot create network namespace $NS (needs root)"
	trap ns_down EXIT
	ns ip link set lo up &&
		ns ip tuntap add dev "$TAP" mode tap vnet_hdr &&
		ns ip addr add "$HOST_IP/24" dev "$TAP" &&
		ns ip link set "$TAP" txqueuelen 20000 up ||
		die "bench: cannot make the tap in $NS (needs /dev/net/tun)"
	# Load-side socket buffers, as in the guest (net.core.*mem_max are not per namespace).
	sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608
}

ns_down() {
	local p
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	true
}

# qemu_start INITRD LOG COUNTER: boots the relay guest in the namespace, in the background;
# sets QPID and VCPU_TID once its vCPU thread exists and is pinned. QEMU_MEM (default 2G) and
# NIC_OPTS (extra virtio-net-pci options) shape the guest: the embedded test uses 128M and
# no checksum offload.
qemu_start() {
	local initrd=$1 log=$2 counter=$3 mem=${QEMU_MEM:-2G} i t
	rm -f "$log.pid" "$counter"
	ns taskset -c "$LOAD_CPU" qemu-system-x86_64 -name omss-relay,debug-threads=on \
		-machine q35 -cpu max -smp 1 -m "$mem" -accel tcg -display none -monitor none \
		-serial "file:$log" -no-reboot -pidfile "$log.pid" -daemonize \
		-kernel "$BZIMAGE" -initrd "$initrd" \
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic rdinit=/init no_timer_check $(boot_args)" \
		-plugin "$PLUGIN,out=$counter" \
		-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vnet_hdr=on,vhost=off" \
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:0e:00:01${NIC_OPTS:-}" </dev/null >"$log.qemu" 2>&1 ||
		{ cat "$log.qemu" >&2; return 1; }
	QPID=$(cat "$log.pid") VCPU_TID=
	for i in $(seq 100); do
		for t in /proc/"$QPID"/task/*; do
			[ "$(cat "$t/comm" 2>/dev/null)" = "CPU 0/TCG" ] && VCPU_TID=${t##*/}
		done
		[ -n "$VCPU_TID" ] && break
		sleep 0.05
	done
	[ -n "$VCPU_TID" ] || { echo "bench: no vCPU thread in QEMU $QPID" >&2; return 1; }
	taskset -pc "$RELAY_CPU" "$VCPU_TID" >/dev/null
}

# qemu_wait TIMEOUT: waits for the guest to power off; kills it after TIMEOUT seconds.
qemu_wait() {
	local i
	for i in $(seq $(($1 * 10))); do
		kill -0 "$QPID" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$QPID" 2>/dev/null
	return 124
}

# task_ns PID [TID]: CPU time (ns) of a process's threads, or of one thread, so far.
task_ns() {
	local f n=0
	if [ -n "${2:-}" ]; then f=/proc/$1/task/$2/schedstat; read -r n _ <"$f" 2>/dev/null; echo "${n:-0}"; return; fi
	for f in /proc/"$1"/task/*/schedstat; do
		local v=0
		read -r v _ <"$f" 2>/dev/null
		n=$((n + ${v:-0}))
	done
	echo $n
}

# counter FILE: the plugin's guest instruction count.
counter() { od -An -tu8 -N8 "$1" 2>/dev/null | tr -d ' '; }

# snapshot COUNTER COUNTFILE PIDS...: one line of the host-side counters, now:
# wall_ns vcpu_ns qemu_ns insns delivered load_ns vcpu_wait_ns (the vCPU thread's time
# runnable but not running: the guest sees it as busy time, the host does not).
snapshot() {
	local c=$1 cf=$2 p l=0 run wait
	shift 2
	for p in "$@"; do l=$((l + $(task_ns "$p"))); done
	read -r run wait _ <"/proc/$QPID/task/$VCPU_TID/schedstat"
	echo "$(date +%s%N) $run $(task_ns "$QPID") $(counter "$c")" \
		"$(delivered "$cf") $l $wait"
}

# delivered COUNTFILE: packets the subscribers received so far; "tap": packets the guest put
# on the tap (pktgen's frames are not the media format that the subscribers count).
delivered() {
	if [ "$1" = tap ]; then ns cat "/sys/class/net/$TAP/statistics/rx_packets"
	else cat "$1" 2>/dev/null || echo 0; fi
}

# ns_drops: packets the load side dropped so far: the tap's queues and UDP receive errors.
ns_drops() {
	local t=/sys/class/net/$TAP/statistics
	echo $(($(ns cat $t/tx_dropped) + $(ns cat $t/rx_dropped) +
		$(ns awk '/^Udp:/ { n++; if (n == 2) print $3 + $4 }' /proc/net/snmp)))
}

# json_num FILE KEY: the first number under KEY (the client's totals come first).
json_num() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$1" | head -1; }
# wait_for_text FILE TEXT SECS
wait_for_text() {
	local i
	for i in $(seq $(($3 * 10))); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# One measurement point. Needs RROOT (the relay guest's root), OUT, RATE, IDLE, WARMUP,
# WINDOW; POINT_ENV adds lines to the guest's environment (profile.sh: PROFILE=1).
# barrier signal|wait SECS ARGS...: omss-barrier, in the namespace.
barrier() { ns "$BIN/omss-barrier" --timeout "$2" "$1" "${@:3}"; }

# point KIND PROTO IMPL N PAYLOAD RUN: one measurement; prints the CSV values after the
# key columns, or fails with the reason on stderr.
point_no=0
point() {
	local kind=$1 proto=$2 impl=$3 n=$4 payload=$5 run=$6
	point_no=$((point_no + 1))
	local tag="$kind-$proto-$impl-$n-$payload-$run" pps count log counter cf why=
	log=$OUT/logs/$tag.log counter=$OUT/logs/$tag.insns cf=$OUT/logs/$tag.count
	# Every point runs at the packets/s of the paper's stream (1,400 B at RATE kbit/s), so
	# the payload test changes only the size of the packets, not their number.
	pps=$(awk "BEGIN { print $RATE * 1000 / (1400 * 8) }")
	# The stream outlasts warm-up and window by 3 s (its start is waited for).
	count=$(awk "BEGIN { printf \"%d\", $pps * ($WARMUP + $WINDOW + 3) + 10 }")
	# pktgen, the device floor: the guest itself sends N x the stream's packets/s, with the
	# payload's size, to the subscribers' ports in turn; no media server, no relay.
	local src=$cf # where delivered packets are counted
	[ "$impl" = pktgen ] && src=tap
	printf 'export IMPL=%s PROTO=%s N=%s PAYLOAD=%s PPS_TOTAL=%s HOST_MAC=%s OMSS_PARAMS=%q\n%s\n%s\n' \
		"$impl" "$proto" "$n" "$payload" "$(awk "BEGIN { printf \"%d\", $pps * $n }")" \
		"$(ns cat "/sys/class/net/$TAP/address")" "${BENCH_OMSS_PARAMS:-}" \
		"export OMSS_SCRIPT=guest-relay.sh" "${POINT_ENV:-}" >"$RROOT/omss/env"
	pack_initramfs "$RROOT" "$OUT/relay.gz" gzip
	rm -f "$cf"
	qemu_start "$OUT/relay.gz" "$log" "$counter" || { echo "QEMU did not start" >&2; return 1; }
	local s0 s1 w0 w1 d0 d1 server client
	barrier signal 300 --connect "$GUEST_IP:9104" || { qemu_wait 1; echo "the guest did not come up" >&2; return 1; }
	s0=$(snapshot "$counter" "$src")
	sleep "$IDLE"
	s1=$(snapshot "$counter" "$src")
	barrier signal 60 --connect "$GUEST_IP:9105"
	local cargs=(--threads 1 --idle-ms 3000 --timeout 600 --json --count-file "$cf")
	if [ "$proto" = http ]; then # tools/bench/http.sh: the guest's server first, then the load
		barrier signal 60 --connect "$GUEST_IP:9100"
		barrier wait 120 --listen "$HOST_IP:9101"
		if ! http_load "$impl" "$n" "$payload" "$pps" "$tag"; then
			kill "$server" "$client" 2>/dev/null; kill -9 "$QPID"; wait
			return 1
		fi
	elif [ "$proto" = udp ]; then
		spawn_load "$BIN/omss-client" --proto udp --bind "$HOST_IP:7000" -n "$n" --rcvbuf 1048576 "${cargs[@]}" \
			>"$OUT/logs/$tag.client.json" 2>"$OUT/logs/$tag.client.err" &
		client=$!
		wait_for_text "$OUT/logs/$tag.client.err" ready 30
		barrier signal 60 --connect "$GUEST_IP:9100"
		barrier wait 120 --listen "$HOST_IP:9101"
		if [ "$impl" = pktgen ]; then
			sleep 3600 & # stands in for the media server, which pktgen does without
		else
			spawn_load "$BIN/omss-server" --proto udp --to "$GUEST_IP:5000" --count "$count" --pps "$pps" \
				--size "$payload" >/dev/null 2>"$OUT/logs/$tag.server.err" &
		fi
		server=$!
	else
		# GStreamer connects to its source before its subscribers can join, and accepts them
		# slowly (about 8 a second in the guest): give them time before the stream starts.
		spawn_load "$BIN/omss-server" --proto tcp --listen "$HOST_IP:6000" --wait-clients 1 --count "$count" \
			--pps "$pps" --size "$payload" --start-delay "$([ "$impl" = gstreamer ] && echo $((3 + n / 8)) || echo 0)" \
			>/dev/null 2>"$OUT/logs/$tag.server.err" &
		server=$!
		barrier signal 60 --connect "$GUEST_IP:9100"
		barrier wait 120 --listen "$HOST_IP:9101"
		spawn_load "$BIN/omss-client" --proto tcp --connect "$GUEST_IP:7000" -n "$n" --connect-timeout 120 \
			"${cargs[@]}" >"$OUT/logs/$tag.client.json" 2>"$OUT/logs/$tag.client.err" &
		client=$!
	fi
	local i=0 first
	first=$(delivered "$src")
	until [ "$(delivered "$src")" -gt $((first + 10)) ] || [ $i -gt 3000 ]; do sleep 0.1; i=$((i + 1)); done
	[ $i -gt 3000 ] && why="no packet reached the subscribers"
	sleep "$WARMUP"
	d0=$(ns_drops)
	[ "$proto" = http ] && : >"$OUT/logs/$tag.window" # the listeners' latency counts from here
	w0=$(snapshot "$counter" "$src" "$server" "$client")
	barrier signal 60 --connect "$GUEST_IP:9102"
	sleep "$WINDOW"
	w1=$(snapshot "$counter" "$src" "$server" "$client")
	d1=$(ns_drops)
	barrier signal 60 --connect "$GUEST_IP:9103"
	# pktgen's stand-in ends here; an HTTP point's media server sends END, and its listeners end.
	[ "$impl" = pktgen ] || [ "$proto" = http ] && kill "$server"
	wait "$server" "$client"
	printf 'BENCH-HOST %s: %s\n' idle0 "$s0" idle1 "$s1" window0 "$w0" window1 "$w1" \
		drops "$d0 $d1" >>"$log.host" # wall_ns vcpu_ns qemu_ns insns delivered load_ns vcpu_wait_ns
	qemu_wait 180 || why="${why:+$why; }the guest did not finish"
	why=${why:-$(guest_problem "$log")}
	local gidle grelay loss p99
	gidle=$(grep '^BENCH-IDLE ' "$log") grelay=$(grep '^BENCH-RELAY ' "$log")
	p99=$(json_num "$OUT/logs/$tag.client.json" latency_p99_us)
	loss=$(json_num "$OUT/logs/$tag.client.json" loss_ratio)
	[ "$impl" = pktgen ] && loss=tap
	[ -n "$grelay" ] && [ -n "$loss" ] || why=${why:-"no result (log: $log)"}
	if [ -n "$why" ]; then echo "$why" >&2; return 1; fi
	# relay_drops is what the relay's NIC, qdisc and UDP sends dropped inside the window. The
	# relay's own counters (BENCH-RELAY-DROPS, in the log) cover the whole run, including the
	# sends to subscribers that had already left after the window; a drop of theirs inside
	# the window shows as loss.
	awk -v s0="$s0" -v s1="$s1" -v w0="$w0" -v w1="$w1" -v d0="$d0" -v d1="$d1" -v gi="$gidle" \
		-v gr="$grelay" -v pps="$pps" -v n="$n" -v loss="$loss" -v p99="${p99:-0}" '
	function kv(s, k,   m) { return match(s, k "=[0-9]+") ? substr(s, RSTART + length(k) + 1, RLENGTH - length(k) - 1) : 0 }
	BEGIN {
		split(s0, a); split(s1, b); split(w0, c); split(w1, d)
		idle_s = (b[1] - a[1]) / 1e9; win_s = (d[1] - c[1]) / 1e9
		vcpu = (d[2] - c[2]) - (b[2] - a[2]) / idle_s * win_s        # ns, idle subtracted
		insns = (d[4] - c[4]) - (b[4] - a[4]) / idle_s * win_s
		deliv = d[5] - c[5]; load_pct = 100 * (d[6] - c[6]) / (win_s * 1e9)
		ib = kv(gi, "busy_jiffies"); ii = kv(gi, "idle_jiffies")
		gb = kv(gr, "busy_jiffies"); gid = kv(gr, "idle_jiffies")
		guest = (gb - (ib + ii > 0 ? ib / (ib + ii) : 0) * (gb + gid)) / 100 * 1e9  # ns
		offered = pps * n * win_s
		if (loss == "tap") loss = sprintf("%.4f", deliv < offered ? 1 - deliv / offered : 0)
		a_pp = deliv > 0 ? vcpu / deliv : 0; b_pp = deliv > 0 ? guest / deliv : 0
		dis = (a_pp > 0 && b_pp > 0) ? (a_pp > b_pp ? a_pp / b_pp : b_pp / a_pp) - 1 : 1
		valid = (load_pct <= 50 && d1 - d0 == 0) ? 1 : 0
		wait_pct = 100 * (d[7] - c[7]) / (win_s * 1e9); io_pct = 100 * ((d[3] - c[3]) - (d[2] - c[2])) / (win_s * 1e9)
		raw_pct = 100 * (d[2] - c[2]) / (win_s * 1e9)
		printf "%.2f,%.4f,%.3f,%d,%d,%s,%.4f,%.1f,%.1f,%.0f,%.2f,%d,%.3f,%d,%d,%.2f,%.2f,%.2f,%d,%.1f\n",
			100 * vcpu / (win_s * 1e9), vcpu / 1e9, win_s, offered, deliv, loss,
			guest / 1e9, a_pp, b_pp, (deliv > 0 ? insns / deliv : 0), load_pct, d1 - d0,
			dis, (dis > 0.10), valid, wait_pct, io_pct, raw_pct, kv(gr, "net_drops"), p99 / 1000
	}'
}
# passes ROW INTERVAL_MS: whether a point meets the capacity criteria: the load side valid,
# the relay's vCPU busy under 95 %, no drop anywhere in the window (the load side, the
# relay's NIC, qdisc and UDP sends), no loss (which a drop of the relay's own would be), and
# the subscribers' p99 latency under two frame intervals.
passes() {
	awk -F, -v iv="$2" '{ exit !($15 == 1 && $18 < 95 && $19 == 0 && $12 == 0 && $6 + 0 == 0 && $20 < 2 * iv) }' <<<"$1"
}

# capacity SCENARIO PROTO IMPL START MAX: the largest subscriber count that passes, found by
# doubling from START (at most MAX), then bisecting until it is known within 5 %. Appends a
# line to $OUT/capacity.csv (scenario,proto,impl,capacity,first_fail,probes) and each probe
# to $OUT/capacity_probes.csv; CAP_CSV=NAME writes NAME.csv and NAME_probes.csv instead.
capacity() {
	local sc=$1 proto=$2 impl=$3 n=$4 max=$5 lo=0 hi= probes=0 row iv ok csv=$OUT/${CAP_CSV:-capacity}
	iv=$(awk "BEGIN { print 1400 * 8 / $RATE }")
	probe() {
		probes=$((probes + 1)) ok=0
		if row=$(point "cap_$sc" "$proto" "$impl" "$1" 1400 "$probes" 2>"$OUT/logs/why"); then
			passes "$row" "$iv" && ok=1
			echo "$sc,$proto,$impl,$1,$ok,$row" >>"${csv}_probes.csv"
		else
			echo "$sc,$proto,$impl,$1,0,FAILED: $(head -c 120 "$OUT/logs/why" | tr ',\n' ';;')" >>"${csv}_probes.csv"
		fi
		echo "  capacity $sc $proto $impl: N=$1 $([ $ok = 1 ] && echo passes || echo fails)" >&2
		[ $ok = 1 ]
	}
	while :; do
		if probe "$n"; then
			lo=$n
			[ "$n" -ge "$max" ] && break
			n=$((2 * n > max ? max : 2 * n))
		else
			hi=$n
			break
		fi
	done
	while [ -n "$hi" ] && [ $((hi - lo)) -gt $((lo / 20 > 1 ? lo / 20 : 1)) ]; do
		n=$(((lo + hi) / 2))
		if probe "$n"; then lo=$n; else hi=$n; fi
	done
	echo "$sc,$proto,$impl,$lo,$hi,$probes" >>"$csv.csv"
}

COLS="relay_cpu_pct,busy_s,elapsed_s,offered_pkts,delivered_pkts,loss_ratio,guest_busy_s,ns_per_pkt,guest_ns_per_pkt,insn_per_pkt,load_cpu_pct,load_drops,ab_disagree,ab_flag,valid,vcpu_wait_pct,qemu_io_pct,vcpu_raw_pct,relay_drops,p99_ms"
