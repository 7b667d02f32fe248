#!/bin/sh
# Benchmark, relay host: runs one relay implementation for one measurement point and
# measures this host's CPU from /proc/stat over the window. Parameters come from /omss/env:
# IMPL (omss|omss-m|daemon|epoll) PROTO N PAYLOAD COUNT WARMUP WINDOW.
. /omss/tests/lib.sh
RELAY=198.18.10.1 LOAD=198.18.10.2
ip addr add $RELAY/24 dev eth0 && ip link set eth0 up || exit 1
ulimit -n 65536
sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608 net.core.somaxconn=4096
case $IMPL in
omss) insmod /omss/omss.ko && cmd="omssctl relay --mode share" ;;
omss-m) insmod /omss/omss.ko && cmd="omssctl relay --mode copy" ;;
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
read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
t1=$(date +%s%N 2>/dev/null || date +%s)
sleep "$WINDOW"
read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
busy=$(((u2 + n2 + s2 + q2 + sq2 + st2) - (u1 + n1 + s1 + q1 + sq1 + st1)))
idle=$(((i2 + w2) - (i1 + w1)))
echo "BENCH-RELAY busy_jiffies=$busy idle_jiffies=$idle window_s=$WINDOW softirq_jiffies=$((sq2 - sq1))"
wait $relay
echo "BENCH-RELAY-RC $?"
tail -2 /tmp/relay.err
echo "BENCH-RELAY-JSON $(tail -1 /tmp/relay.json | head -c 600)"
