#!/bin/sh
# Benchmark, load host: the media server and the subscribers of one measurement point.
# Parameters from /omss/env: PROTO N PAYLOAD COUNT RATE.
. /omss/tests/lib.sh
RELAY=198.18.10.1 LOAD=198.18.10.2
ip addr add $LOAD/24 dev eth0 && ip link set eth0 up || exit 1
ulimit -n 65536
sysctl -qw net.core.rmem_max=8388608 net.core.wmem_max=8388608
threads=1
[ "$N" -gt 64 ] && threads=2
if [ "$PROTO" = udp ]; then
	omss-client --proto udp --bind $LOAD:7000 -n "$N" --threads $threads --rcvbuf 1048576 \
		--idle-ms 4000 --timeout 600 --json >/tmp/client.json 2>/tmp/client.err &
	client=$!
	i=0
	until grep -q ready /tmp/client.err || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
	omss-barrier signal --connect $RELAY:9100 || exit 1
	omss-barrier wait --listen 0.0.0.0:9101 || exit 1
	omss-server --proto udp --to $RELAY:5000 --count "$COUNT" --rate "$RATE" --size "$PAYLOAD" 2>/tmp/server.err
else
	omss-barrier wait --listen 0.0.0.0:9101 || exit 1
	omss-server --proto tcp --listen $LOAD:6000 --wait-clients 1 --count "$COUNT" --rate "$RATE" \
		--size "$PAYLOAD" 2>/tmp/server.err &
	omss-client --proto tcp --connect $RELAY:7000 -n "$N" --threads $threads --connect-timeout 120 \
		--idle-ms 4000 --timeout 600 --json >/tmp/client.json 2>/tmp/client.err &
	client=$!
fi
wait $client
echo "BENCH-LOAD-RC $?"
# Where packets may have been lost on this side: NIC, backlog queue and socket buffers.
echo "BENCH-LOAD-NET rx_dropped=$(cat /sys/class/net/eth0/statistics/rx_dropped)" \
	"backlog_dropped=$(s=0; while read -r _ d _; do s=$((s + 0x$d)); done </proc/net/softnet_stat; echo $s)" \
	"udp_rcvbuf_errors=$(awk '/^Udp:/ { n++; if (n == 2) print $6 }' /proc/net/snmp)"
tail -1 /tmp/client.err
# The client's totals: packets, expected, loss_ratio (first matches are the totals).
echo "BENCH-LOAD packets=$(json_num /tmp/client.json packets) expected=$(json_num /tmp/client.json expected)" \
	"loss_ratio=$(json_num /tmp/client.json loss_ratio) no_data=$(json_num /tmp/client.json no_data)"
