#!/bin/sh
# Benchmark, relay host: runs one relay implementation for one measurement point and
# measures this host's CPU from /proc/stat over the window. Parameters come from /omss/env:
# IMPL (omss|omss-m|daemon|epoll) PROTO N PAYLOAD COUNT WARMUP WINDOW.
. /omss/tests/lib.sh
RELAY=198.18.10.1 LOAD=198.18.10.2
ip addr add $RELAY/24 dev eth0 && ip link set eth0 up || exit 1
# A relay sends a burst of N packets per source packet: let the NIC's queue hold a few
# bursts (the default 1000 drops UDP packets silently at N > 1000), for every relay alike.
ip link set eth0 txqueuelen 20000
# The NIC's offloads decide whether spliced pages can be sent without a copy.
echo "BENCH-NIC $(for f in /sys/class/net/eth0/device/features /sys/bus/virtio/devices/*/features; do [ -r "$f" ] && cat "$f"; done | head -1)"
ulimit -n 65536
sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608 net.core.somaxconn=4096
# The idle host's own CPU (timer ticks under TCG), for reference: 2 s before any relay runs.
read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
sleep 2
read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
echo "BENCH-IDLE busy_jiffies=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))" \
	"idle_jiffies=$(((i2 + w2) - (i1 + w1)))"
case $IMPL in
omss) insmod /omss/omss.ko $OMSS_PARAMS && cmd="omssctl relay --mode share" ;;
omss-m) insmod /omss/omss.ko $OMSS_PARAMS && cmd="omssctl relay --mode copy" ;;
daemon) cmd=omss-daemon ;;
epoll) cmd=omss-epoll-relay ;;
esac
if [ "$PROTO" = udp ]; then
	omss-barrier wait --listen 0.0.0.0:9100 || exit 1 # subscribers are bound
	$cmd --source-udp $RELAY:5000 --sink-udp $LOAD:7000 -n "$N" --idle-exit 3 --duration 600 --json \
		>/tmp/relay.json 2>/tmp/relay.err &
else
	$cmd --source-tcp $LOAD:6000 --sink-tcp-listen $RELAY:7000 -n "$N" --drain-timeout 5 --duration 600 \
		--json >/tmp/relay.json 2>/tmp/relay.err &
fi
relay=$!
sleep 0.5
omss-barrier signal --connect $LOAD:9101 || exit 1 # go: start the stream (TCP: and connect)
# Wait until the stream flows, then measure a window in its steady state.
i=0
until grep -qE 'relaying|ready' /tmp/relay.err || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
sleep "$WARMUP"
# Per-thread CPU (utime+stime, jiffies) of every task, to say where the time goes.
threads_cpu() { for f in /proc/[0-9]*/stat; do read -r l <"$f" 2>/dev/null && echo "$l"; done |
	awk '{ n = NF; print $1, $2, $(n - 38) + $(n - 37) }'; }
threads_cpu >/tmp/threads1
read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
c1=$(sed -n 's/^ctxt //p' /proc/stat)
if [ -n "${PROFILE:-}" ]; then # tools/bench/profile.sh: sample the window with perf
	echo 0 >/proc/sys/kernel/kptr_restrict; echo -1 >/proc/sys/kernel/perf_event_paranoid
	perf record -q -a -F 999 -e cpu-clock -o /tmp/perf.data -- sleep "$WINDOW" 2>/tmp/perf.err
else
	sleep "$WINDOW"
fi
read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
c2=$(sed -n 's/^ctxt //p' /proc/stat)
busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))
idle=$(((i2 + w2) - (i1 + w1)))
threads_cpu >/tmp/threads2
# Delta per thread name (workers pooled), largest first.
top=$(awk 'NR == FNR { a[$1 " " $2] -= $3; next } { a[$1 " " $2] += $3 }
	END { for (k in a) if (a[k] > 0) { split(k, p, " "); print a[k], p[2] } }' /tmp/threads1 /tmp/threads2 |
	sed 's/(\([a-z_-]*\)[/:][0-9]*[:0-9]*)/(\1\/*)/' | awk '{ s[$2] += $1 } END { for (k in s) print s[k], k }' |
	sort -rn | head -6 | awk '{ printf "%s%s=%s", (NR > 1 ? "," : ""), $2, $1 }')
echo "BENCH-RELAY busy_jiffies=$busy idle_jiffies=$idle window_s=$WINDOW softirq_jiffies=$((sq2 - sq1)) sys_jiffies=$((s2 - s1)) user_jiffies=$((u2 - u1)) ctxt=$((c2 - c1)) top=$top"
wait $relay
echo "BENCH-RELAY-RC $?"
# Where packets may have been lost on this side: NIC/qdisc drops and UDP send errors.
echo "BENCH-RELAY-NET tx_dropped=$(cat /sys/class/net/eth0/statistics/tx_dropped)" \
	"qdisc=$(tc -s qdisc show dev eth0 | grep -o 'dropped [0-9]*' | head -1 | tr ' ' '=')" \
	"udp_sndbuf_errors=$(awk '/^Udp:/ { n++; if (n == 2) print $7 }' /proc/net/snmp)"
if [ -n "${PROFILE:-}" ]; then
	echo "BENCH-PROFILE-BEGIN"
	perf report -i /tmp/perf.data --stdio --sort sym --percent-limit 0.15 2>&1 | grep -v '^#' | grep -v '^$' | head -90
	echo "BENCH-PROFILE-BY-DSO"
	perf report -i /tmp/perf.data --stdio --sort dso 2>&1 | grep -v '^#' | grep -v '^$' | head -12
	echo "BENCH-PROFILE-END"
fi
[ -e /dev/omss ] && echo "BENCH-RELAY-ENGINE $(omssctl status --json 2>/dev/null | head -c 300)"
tail -2 /tmp/relay.err
echo "BENCH-RELAY-JSON $(tail -1 /tmp/relay.json | head -c 600)"
