#!/bin/sh
# Priority: two sessions of different classes (7 and 0) under CPU overload, each a UDP
# 1->N stream, on a relay confined to one worker thread so that the relay is the bottleneck,
# not the load generators. The high-priority session loses less at the relay and its
# subscribers see lower latency; every figure is printed.
. /omss/tests/lib.sh
ktap_plan 3
insmod /omss/omss.ko workers=1 workers_max=1 || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
N=${PRIO_SINKS:-64} COUNT=${PRIO_COUNT:-2000} RATE=${PRIO_RATE:-10000}
T=/tmp/prio
mkdir -p $T
for c in hi lo; do
	port=7000; [ $c = lo ] && port=8000
	in_sub omss-client --proto udp --bind $SUB_IP:$port -n $N --rcvbuf 4194304 --idle-ms 3000 \
		--json >$T/$c.json 2>$T/$c.err &
	eval ${c}_client=\$!
done
sleep 1
in_relay omssctl relay --priority 7 --source-udp $RELAY_SRC_IP:5000 --sink-udp $SUB_IP:7000 -n $N \
	--idle-exit 2 --duration 90 --rcvbuf 262144 --json >$T/hi-relay.json 2>$T/hi-relay.err &
hi_relay=$!
in_relay omssctl relay --priority 0 --source-udp $RELAY_SRC_IP:5001 --sink-udp $SUB_IP:8000 -n $N \
	--idle-exit 2 --duration 90 --rcvbuf 262144 --json >$T/lo-relay.json 2>$T/lo-relay.err &
lo_relay=$!
sleep 1
in_src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count $COUNT --rate $RATE 2>/dev/null &
in_src omss-server --proto udp --to $RELAY_SRC_IP:5001 --count $COUNT --rate $RATE 2>/dev/null
wait $hi_client $lo_client $hi_relay $lo_relay
for c in hi lo; do
	eval ${c}_loss=$(json_num $T/$c.json loss_ratio)
	eval ${c}_med=$(json_num $T/$c.json latency_median_us)
	eval ${c}_p99=$(json_num $T/$c.json latency_p99_us)
	eval ${c}_pk=$(json_num $T/$c.json packets)
done
diag "class 7: packets=$hi_pk loss=$hi_loss latency median=${hi_med}us p99=${hi_p99}us"
diag "class 0: packets=$lo_pk loss=$lo_loss latency median=${lo_med}us p99=${lo_p99}us"
diag "relay class 7: dropped=$(sed -n 's/.*"entries_dropped":\([0-9]*\).*/\1/p' $T/hi-relay.json)," \
	"class 0: dropped=$(sed -n 's/.*"entries_dropped":\([0-9]*\).*/\1/p' $T/lo-relay.json)"
hi_rx=$(sed -n 's/.*"rx_packets":\([0-9]*\).*/\1/p' $T/hi-relay.json | head -1)
lo_rx=$(sed -n 's/.*"rx_packets":\([0-9]*\).*/\1/p' $T/lo-relay.json | head -1)
diag "relay received: class 7 $hi_rx, class 0 $lo_rx of $COUNT each"
check "the CPU was overloaded: the low class lost packets or waited over 10 ms" \
	fcmp "${lo_loss:-0} > 0 || ${lo_med:-0} > 10000"
# What the relay lost per class: its source socket overflows while the class waits for the
# worker. (The subscribers' loss, printed above, also counts what the subscribers themselves
# drop when they share the overloaded guest's CPU, which no relay priority can help; it
# ordered the classes wrongly in about 1 run in 4 even before any scheduler change.)
# By a clear margin (a tenth of the stream): with priority ignored, the two classes differ
# by a few dozen datagrams either way; with it, class 7 gets all and class 0 well under.
check "class 7 lost less at the relay: received $hi_rx vs class 0 $lo_rx of $COUNT" \
	[ "${hi_rx:-0}" -gt "$((${lo_rx:-0} + COUNT / 10))" ]
check "class 7 median latency (${hi_med}us) < class 0 (${lo_med}us)" fcmp "${hi_med:-1e12} < ${lo_med:-0}"
rmmod omss
ktap_finish
