#!/bin/sh
# The drop policies compared (docs/policies.md): one UDP stream (1 Mbit/s of 1,400-byte
# frames) through one session to 8 fast TCP subscribers (an unlimited link) and 8 slow ones
# (a second link that netem limits to 4.8 Mbit/s: 600 kbit/s each, 60 % of the stream), through a 64-entry ring, once per policy.
# Prints per policy and class the loss, how many subscribers lost anything and the latency,
# as "# policy-row: ..." CSV lines (tools/bench/policies.sh keeps them). The checks are what
# defines each policy: slowest-sink-drop costs the fast subscribers nothing; tail drop and
# RED make every subscriber lose the entries they refuse.
. /omss/tests/lib.sh
ktap_plan 7
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
SLOW_RELAY_IP=198.18.3.1 SLOW_SUB_IP=198.18.3.2
ip link add r2 netns relay type veth peer name c1 netns sub &&
	ip -n relay addr add $SLOW_RELAY_IP/24 dev r2 && ip -n sub addr add $SLOW_SUB_IP/24 dev c1 &&
	ip -n relay link set r2 up && ip -n sub link set c1 up &&
	in_relay tc qdisc add dev r2 root netem rate 4800kbit limit 32 ||
	{ echo "Bail out! cannot make the slow link"; exit $KSFT_FAIL; }

COUNT=${POLICY_COUNT:-1340} RATE=1000 N=8
# The debug kernel carries a shorter stream, which still leaves the slow subscribers (at 60 %)
# 200 entries, 3 rings, behind.
[ -n "$SLOW" ] && COUNT=${POLICY_COUNT:-500}
P=/tmp/policies
mkdir -p $P
echo "# policy-row: policy,class,subscribers,frames,received,lost,loss_pct,with_loss,latency_median_us,latency_p99_us"
# row POLICY CLASS JSON: one CSV line from an omss-client report.
row() {
	local f=$3 lost subs with
	lost=$(json_num $f lost)
	# Subscribers that lost anything: per-subscriber "lost" fields after the total's.
	with=$(grep -o '"lost": *[0-9]*' $f | tail -n +2 | grep -vc '"lost": *0$')
	echo "# policy-row: $1,$2,$N,$COUNT,$(json_num $f packets),$lost,$(awk "BEGIN { printf \"%.2f\", 100 * $lost / ($N * $COUNT) }"),$with,$(json_num $f latency_median_us),$(json_num $f latency_p99_us)"
}

for policy in slowest tail red; do
	in_relay omssctl relay --source-udp $RELAY_SRC_IP:5000 --sink-tcp-listen 0.0.0.0:7000 -n $((2 * N)) \
		--ring 64 --drop-policy $policy --sink-sndbuf 16384 --idle-exit 3 --json \
		>$P/$policy.relay.json 2>$P/$policy.relay.err &
	rpid=$!
	sleep 0.5
	ns_bg sub omss-client --proto tcp --connect $RELAY_SUB_IP:7000 -n $N --expect-count $COUNT \
		--idle-ms 4000 --timeout 120 --json >$P/$policy.fast.json 2>$P/$policy.fast.err
	fpid=$BG_PID
	ns_bg sub omss-client --proto tcp --connect $SLOW_RELAY_IP:7000 -n $N --expect-count $COUNT \
		--idle-ms 4000 --timeout 120 --json >$P/$policy.slow.json 2>$P/$policy.slow.err
	spid=$BG_PID
	relay_ready $P/$policy.relay.err
	in_src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count $COUNT --rate $RATE 2>$P/$policy.server.err
	wait $fpid $spid
	wait_or_kill $rpid 30 >/dev/null
	row $policy fast $P/$policy.fast.json
	row $policy slow $P/$policy.slow.json
	diag "$policy: $(grep -o '"session":{[^}]*}' $P/$policy.relay.json | grep -o '"entries_dropped":[0-9]*\|"entries_stored":[0-9]*' | tr '\n' ' ')"
done

lost() { json_num $P/$1.$2.json lost; }
check_timed "slowest-sink-drop: the fast subscribers lose nothing ($(lost slowest fast) lost)" [ "$(lost slowest fast)" = 0 ]
check "slowest-sink-drop: the slow subscribers lose the oldest entries ($(lost slowest slow) lost)" [ "$(lost slowest slow)" -gt 0 ]
check "tail drop: the fast subscribers lose the refused entries too ($(lost tail fast) lost)" [ "$(lost tail fast)" -gt 0 ]
check "RED: the fast subscribers lose the early drops too ($(lost red fast) lost)" [ "$(lost red fast)" -gt 0 ]
recv=0
for f in $P/*.fast.json $P/*.slow.json; do
	[ "$(json_num $f packets)" -gt 0 ] && recv=$((recv + 1))
done
check "every run's subscribers received the stream ($recv of 6 groups)" [ $recv = 6 ]
check "no session, entry or page is left" no_leaks
check "rmmod omss" rmmod omss
