#!/bin/sh
# Benchmark, relay guest: runs one relay implementation for one measurement point. The host
# (tools/bench/run.sh) drives it with barriers: 9104/9105 open and close the idle window,
# 9100 says the load is ready, the guest answers on the host's 9101 once its relay runs, and
# 9102/9103 open and close the measurement window. At each edge the guest reads its own
# /proc/stat, so its view (b) covers the same window as the host's (a) and (c).
# Parameters come from /omss/env: IMPL (omss|omss-m|daemon|epoll|iouring|iouring-zc|gstreamer|floor|pktgen,
# or with PROTO=http: httpd-share|httpd-copy|httpd-user|icecast) PROTO N.
. /omss/tests/lib.sh
RELAY=198.18.10.1 LOAD=198.18.10.2
ip addr add $RELAY/24 dev eth0 && ip link set eth0 up || exit 1
# A relay sends a burst of N packets per source packet: let the NIC's queue hold a few
# bursts (the default 1000 drops UDP packets silently at N > 1000), for every relay alike.
ip link set eth0 txqueuelen 20000
echo "BENCH-NIC $(for f in /sys/class/net/eth0/device/features /sys/bus/virtio/devices/*/features; do [ -r "$f" ] && cat "$f"; done | head -1)"
ulimit -n 65536
sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608 net.core.somaxconn=4096
if [ "$IMPL" = calibrate ]; then # run.sh's calibration: the basic operations, timed here
	omss-calibrate --iters "$ITERS" | sed 's/^/BENCH-CALIBRATE /'
	exit 0
fi
# The HTTP servers (tools/bench/http.sh) listen on port 8000 (1F40 in /proc/net/tcp).
httpd="omss-httpd --listen $RELAY:8000 --max-clients 100000 --max-per-stream 100000"
case $IMPL in
omss) insmod /omss/omss.ko $OMSS_PARAMS && cmd="omssctl relay --mode share" ;;
omss-m) insmod /omss/omss.ko $OMSS_PARAMS && cmd="omssctl relay --mode copy" ;;
daemon) cmd=omss-daemon ;;
epoll) cmd=omss-epoll-relay ;;
iouring) cmd="omss-uring-relay --send plain" ;;
iouring-zc) cmd="omss-uring-relay --send zc" ;;
floor) insmod /omss/omss_floor.ko && cmd=omss-floor ;;
pktgen) insmod /omss/pktgen.ko && cmd=pktgen_run ;;
gstreamer) cmd=gst_relay ;;
httpd-share) insmod /omss/omss.ko $OMSS_PARAMS && cmd="$httpd --mode share" ;;
httpd-copy) insmod /omss/omss.ko $OMSS_PARAMS && cmd="$httpd --mode copy" ;;
httpd-user) cmd="$httpd --mode user" ;;
icecast) cmd="icecast2 -c /omss/icecast.xml" ;;
esac
# GStreamer 1.22 from Debian, as operators run it: udpsrc into multiudpsink with the N
# subscribers as its clients, or tcpclientsrc into tcpserversink. "ready" once it listens.
gst_relay() {
	export GST_PLUGIN_SYSTEM_PATH=/omss/gst GST_REGISTRY=/tmp/gst-registry.bin GST_REGISTRY_FORK=no
	if [ "$PROTO" = udp ]; then
		clients=$(awk -v n="$N" -v h="$LOAD" 'BEGIN { for (i = 0; i < n; i++) printf "%s%s:%d", (i ? "," : ""), h, 7000 + i }')
		gst-launch-1.0 -q udpsrc address=$RELAY port=5000 buffer-size=4194304 ! \
			multiudpsink clients="$clients" sync=false async=false &
		port=:1388
	else
		gst-launch-1.0 -q tcpclientsrc host=$LOAD port=6000 ! \
			tcpserversink host=$RELAY port=7000 sync=false async=false &
		port=:1B58
	fi
	gst=$!
	i=0
	until grep -q "$port " /proc/net/udp /proc/net/tcp || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
	echo ready >&2
	wait $gst
}
# gst_udp_end PID: multiudpsink never ends by itself: stop it once no datagram came for 2 s.
gst_udp_end() {
	last=-1
	while :; do
		now=$(awk '/^Udp:/ { n++; if (n == 2) print $2 }' /proc/net/snmp)
		[ "$now" = "$last" ] && break
		last=$now
		sleep 2
	done
	kill "$1"
}
# http_end PID: an HTTP server never ends by itself: stop it once the listeners and the
# source are gone (nothing received for 2 s; at most a minute).
http_end() {
	last=-1 i=0
	while [ $i -lt 30 ]; do
		now=$(cat /sys/class/net/eth0/statistics/rx_packets)
		[ "$now" = "$last" ] && break
		last=$now i=$((i + 1))
		sleep 2
	done
	kill "$1"
	sleep 1
	kill -9 "$1" 2>/dev/null
}
# The device floor: pktgen sends the relay's traffic, N frames of the payload's size (plus
# UDP, IP and Ethernet headers) per source packet interval, from eth0, with no socket layer.
# A burst resends one skb (pktgen's `burst`), so its frames share a destination port; the
# port cycles over the N subscribers from burst to burst. Paced per packet instead, pktgen
# pays a timer wakeup per frame, which no relay pays. A burst is at most 128 frames: pktgen
# ends a burst early when the NIC's ring (256 descriptors) is full, and waits a whole delay.
pg() { echo "$2" >"/proc/net/pktgen/$1"; }
pktgen_run() {
	pg kpktgend_0 rem_device_all && pg kpktgend_0 "add_device eth0" &&
		pg eth0 "count 0" && pg eth0 "pkt_size $((PAYLOAD + 42))" && pg eth0 "dst $LOAD" &&
		pg eth0 "dst_mac $HOST_MAC" && pg eth0 "udp_src_min 5000" && pg eth0 "udp_src_max 5000" &&
		pg eth0 "udp_dst_min 7000" && pg eth0 "udp_dst_max $((7000 + N - 1))" &&
		pg eth0 "burst $((N < 128 ? N : 128))" &&
		pg eth0 "delay $((1000000000 * (N < 128 ? N : 128) / PPS_TOTAL))" || exit 1
	echo "ready" >&2
	pg pgctrl start # until stopped
}
mark() { omss-barrier wait --listen 0.0.0.0:"$1" --timeout 600 || exit 1; }
# Per-thread CPU (utime+stime, jiffies) of every task, to say where the time goes; only
# when profiling (profile.sh), as reading every task's stat costs instructions in the window.
threads_cpu() { [ -n "${PROFILE:-}" ] || return 0; for f in /proc/[0-9]*/stat; do read -r l <"$f" 2>/dev/null && echo "$l"; done |
	awk '{ n = NF; print $1, $2, $(n - 38) + $(n - 37) }'; }
# Packets lost on this side: the NIC's queue, the qdisc, and UDP send errors, so far.
net_drops() {
	echo $(($(cat /sys/class/net/eth0/statistics/tx_dropped) +
		$(tc -s qdisc show dev eth0 | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -1) +
		$(awk '/^Udp:/ { n++; if (n == 2) print $7 }' /proc/net/snmp)))
}
# The guest's work at a window's opening edge, after the host took its own snapshot: the
# same for the idle window and the measured one, so that it cancels out with the idle rate.
window_open() {
	read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
	c1=$(sed -n 's/^ctxt //p' /proc/stat)
	nd1=$(net_drops)
}
window_close() {
	read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
	c2=$(sed -n 's/^ctxt //p' /proc/stat)
	nd2=$(net_drops)
}
busy() { echo $(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1))); }
# The idle guest (timer ticks under TCG), measured in a window the host times.
mark 9104
window_open
mark 9105
window_close
echo "BENCH-IDLE busy_jiffies=$(busy) idle_jiffies=$(((i2 + w2) - (i1 + w1)))"
mark 9100 # the load is ready (UDP: subscribers bound; TCP: the media server listens)
if [ "$IMPL" = pktgen ] || [ "$PROTO" = http ]; then
	$cmd 2>/tmp/relay.err >/tmp/relay.json &
elif [ "$PROTO" = udp ]; then
	$cmd --source-udp $RELAY:5000 --sink-udp $LOAD:7000 -n "$N" --idle-exit 3 --duration 600 --json \
		>/tmp/relay.json 2>/tmp/relay.err &
else
	$cmd --source-tcp $LOAD:6000 --sink-tcp-listen $RELAY:7000 -n "$N" --drain-timeout 5 --duration 600 \
		--json >/tmp/relay.json 2>/tmp/relay.err &
fi
relay=$!
# UDP: the relay is ready before the stream starts. TCP: it listens for the subscribers,
# who connect next (they retry); it connects to the media server once all are in.
if [ "$PROTO" = udp ]; then
	i=0
	until grep -qE 'relaying|ready' /tmp/relay.err || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
elif [ "$PROTO" = http ]; then
	i=0
	until grep -q ':1F40 00000000:0000 0A' /proc/net/tcp || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
else
	sleep 0.5
fi
omss-barrier signal --connect $LOAD:9101 || exit 1
mark 9102
window_open
threads_cpu >/tmp/threads1
if [ -n "${PROFILE:-}" ]; then # tools/bench/profile.sh: sample the window with perf
	echo 0 >/proc/sys/kernel/kptr_restrict; echo -1 >/proc/sys/kernel/perf_event_paranoid
	perf record -q -a -F 999 -e cpu-clock -o /tmp/perf.data 2>/tmp/perf.err &
	perf=$!
fi
mark 9103
window_close
[ -n "${PROFILE:-}" ] && kill -INT $perf && wait $perf
threads_cpu >/tmp/threads2
# Delta per thread name (workers pooled), largest first.
top=$(awk 'NR == FNR { a[$1 " " $2] -= $3; next } { a[$1 " " $2] += $3 }
	END { for (k in a) if (a[k] > 0) { split(k, p, " "); print a[k], p[2] } }' /tmp/threads1 /tmp/threads2 |
	sed 's/(\([a-z_-]*\)[/:][0-9]*[:0-9]*)/(\1\/*)/' | awk '{ s[$2] += $1 } END { for (k in s) print s[k], k }' |
	sort -rn | head -6 | awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $2, $1 }')
echo "BENCH-RELAY busy_jiffies=$(busy)" \
	"idle_jiffies=$(((i2 + w2) - (i1 + w1))) softirq_jiffies=$((sq2 - sq1)) sys_jiffies=$((s2 - s1))" \
	"user_jiffies=$((u2 - u1)) ctxt=$((c2 - c1)) net_drops=$((nd2 - nd1)) top=$top"
[ "$IMPL" = gstreamer ] && [ "$PROTO" = udp ] && gst_udp_end $relay
if [ "$PROTO" = http ]; then # omss-httpd's view of its clients (lag, loss), then the end
	case $IMPL in httpd-*) wget -q -O - "http://$RELAY:8000/status.json" | tr -d '\n' >/tmp/relay.json ;; esac
	http_end $relay
fi
[ "$IMPL" = pktgen ] && pg pgctrl stop && sed -n 's/^ *\(pkts-sofar: [0-9]*\).*/BENCH-PKTGEN \1/p' /proc/net/pktgen/eth0
wait $relay
echo "BENCH-RELAY-RC $?"
# What the relay itself dropped or a sink lost (whole run): user-space relays' "dropped",
# OMSS's per-sink "entries_lost".
echo "BENCH-RELAY-DROPS dropped=$(($(json_sum /tmp/relay.json dropped) + $(json_sum /tmp/relay.json entries_lost)))"
# Where packets may have been lost on this side: NIC/qdisc drops and UDP send errors.
echo "BENCH-RELAY-NET tx_dropped=$(cat /sys/class/net/eth0/statistics/tx_dropped)" \
	"qdisc_dropped=$(tc -s qdisc show dev eth0 | grep -o 'dropped [0-9]*' | head -1 | cut -d' ' -f2)" \
	"udp_sndbuf_errors=$(awk '/^Udp:/ { n++; if (n == 2) print $7 }' /proc/net/snmp)"
if [ -n "${PROFILE:-}" ]; then
	echo "BENCH-PROFILE-BEGIN"
	perf report -i /tmp/perf.data --stdio --sort sym --percent-limit 0.15 2>&1 | grep -v '^#' | grep -v '^$' | head -90
	echo "BENCH-PROFILE-BY-DSO"
	perf report -i /tmp/perf.data --stdio --sort dso 2>&1 | grep -v '^#' | grep -v '^$' | head -12
	echo "BENCH-PROFILE-END"
fi
[ -e /dev/omss ] && echo "BENCH-RELAY-ENGINE $(omssctl status --json 2>/dev/null | tr -d '\n' | head -c 400)"
tail -2 /tmp/relay.err
echo "BENCH-RELAY-JSON $(tail -1 /tmp/relay.json | head -c 600)"
