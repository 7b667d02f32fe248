#!/bin/sh
# Back-pressure: sinks whose send buffer fills, again and again. The relay's link to the
# subscribers is slower than the stream (tbf on r1 holds the packets, and so their charge
# on the sender's buffer, until they leave), every sink has a small send buffer, and the
# ring holds the whole stream, so nothing needs to be dropped. A sink that met a full
# buffer (EAGAIN) must be woken by write space and go on: every subscriber gets every frame,
# late. A lost wakeup would leave a sink stalled for good.
. /omss/tests/lib.sh
ktap_plan 4
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }

# 4 sinks x 200 frames/s x 1,400 B is 9 Mbit/s into a 0.5 Mbit/s link (even a guest that
# sends the stream ten times slower overruns it); the 100 frames take about 9 s to leave.
N=4 COUNT=100 SNDBUF=4096
in_relay tc qdisc add dev r1 root tbf rate 500kbit burst 3000 limit 4000000 ||
	{ echo "Bail out! cannot rate-limit r1"; exit $KSFT_FAIL; }
udp_errors() { in_relay sh -c '. /omss/tests/lib.sh; snmp_num Udp SndbufErrors'; }
all_delivered() { [ $client_rc -eq 0 ] && [ $relay_rc -eq 0 ] && [ "$pkts" = $((N * COUNT)) ]; }

for proto in udp tcp; do
	full0=$(udp_errors)
	RATE=200 relay_run $proto share $N $COUNT --ring 1024 --sink-sndbuf $SNDBUF
	pkts=$(json_num $R/client.json packets)
	diag "$proto: subscribers got $pkts of $((N * COUNT)) (client rc=$client_rc, relay rc=$relay_rc);" \
		"relay: $(grep -o '"entries_dropped": *[0-9]*' $R/relay.json | head -1)," \
		"sink errors $(json_sum $R/relay.json errors); r1: $(in_relay tc -s qdisc show dev r1 | tr -s ' \n' ' ' | cut -c1-200)"
	check "$proto: 1->$N through a link slower than the stream, every subscriber got all $COUNT frames" \
		all_delivered
	if [ $proto = udp ]; then
		full=$(($(udp_errors) - full0))
		check "udp: the sinks met a full send buffer ($full sends answered EAGAIN) and resumed" [ $full -gt 0 ]
	fi
done
check "no session, entry or page is left" no_leaks
ktap_finish
