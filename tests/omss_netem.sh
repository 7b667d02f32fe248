#!/bin/sh
# An impaired subscriber link. (1) TCP sinks stay byte-exact under netem: 5% loss and
# 20 ms +- 10 ms delay both ways between relay and subscribers, a 1->8 TCP relay of 300
# frames, every subscriber checks every frame. (2) A UDP subscriber that is briefly gone:
# its port is closed for about 1 s mid-stream, so the relay's connected UDP sink socket gets
# ICMP port unreachable (ECONNREFUSED on a later send); that is no reason to fail the sink:
# it stays active and the subscriber gets the stream again when it comes back.
. /omss/tests/lib.sh
ktap_plan 8
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }

# netem's drop counter of a device: qdisc_drops NS DEV
qdisc_drops() { ip netns exec "$1" /usr/sbin/tc -s qdisc show dev "$2" | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -1; }

# 1. TCP 1->8 under netem on both directions of the subscriber link. The ring is large and
# the drain generous so that only the network, not slowest-sink-drop, is in play.
COUNT=300
in_relay tc qdisc add dev r1 root netem loss 5% delay 20ms 10ms &&
	in_sub tc qdisc add dev c0 root netem loss 5% delay 20ms 10ms ||
	{ echo "Bail out! cannot add netem qdiscs"; exit $KSFT_FAIL; }
RATE=500 CLIENT_ARGS="--timeout 90 --connect-timeout 20 --idle-ms 10000" \
	relay_run tcp share 8 $COUNT --ring 2048 --drain-timeout 40
d_r1=$(qdisc_drops relay r1) d_c0=$(qdisc_drops sub c0)
pkts=$(json_num $R/client.json packets)
diag "tcp under netem: relay rc=$relay_rc, client: $(tail -1 $R/client.err)"
diag "tcp under netem: $(grep -o '"session":{[^}]*}' $R/relay.json)"
diag "netem drops: r1 (to the subscribers) $d_r1, c0 (to the relay) $d_c0;" \
	"relay retransmits: $(in_relay sh -c '. /omss/tests/lib.sh; snmp_num Tcp RetransSegs')"
check "netem dropped packets on the subscriber link both ways (r1 $d_r1, c0 $d_c0)" \
	[ "${d_r1:-0}" -gt 0 -a "${d_c0:-0}" -gt 0 ]
check "tcp 1->8 under 5% loss, 20+-10 ms: every subscriber got all $COUNT frames intact" \
	[ $client_rc -eq 0 -a $relay_rc -eq 0 -a "$pkts" = $((8 * COUNT)) ]
check "tcp under netem: all 8 sinks finished, none failed ($(sinks_in done) done)" [ "$(sinks_in done)" = 8 ]
in_relay tc qdisc del dev r1 root
in_sub tc qdisc del dev c0 root

# 2. A UDP subscriber gone for about 1 s. Two sinks: port 7000, whose subscriber leaves and
# comes back, and port 7001, whose subscriber stays throughout. A 1 Mbit/s stream; the
# first subscriber on 7000 leaves about 1 s after the stream reached the relay, the next
# one binds 7000 one second later; 2 s after it is ready the server ends the stream (END).
rm -rf $R && mkdir -p $R
unreach0=$(in_sub sh -c '. /omss/tests/lib.sh; snmp_num Icmp OutDestUnreachs')
ns_bg sub omss-client --proto udp --bind $SUB_IP:7001 -n 1 --rcvbuf 4194304 --idle-ms 30000 --timeout 120 \
	--max-loss 0 --max-errors 0 --json >$R/stay.json 2>$R/stay.err
stay=$BG_PID
ns_bg sub omss-client --proto udp --bind $SUB_IP:7000 -n 1 --rcvbuf 4194304 --idle-ms 100000 --timeout 120 \
	--json >$R/first.json 2>$R/first.err
first=$BG_PID
wait_for_text $R/stay.err ready
wait_for_text $R/first.err ready
ns_bg relay omssctl relay --source-udp $RELAY_SRC_IP:5000 --sink-udp $SUB_IP:7000 -n 2 \
	--idle-exit 2 --duration 150 --json >$R/relay.json 2>$R/relay.err
rp=$BG_PID
wait_for_text $R/relay.err relaying
ns_bg src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count 1000000 --rate 1000 2>$R/server.err
sp=$BG_PID
wait_streaming
sleep 1
kill -TERM $first
wait_or_kill $first 10 >/dev/null
sleep 1
ns_bg sub omss-client --proto udp --bind $SUB_IP:7000 -n 1 --rcvbuf 4194304 --idle-ms 30000 --timeout 60 \
	--json >$R/second.json 2>$R/second.err
second=$BG_PID
wait_for_text $R/second.err ready
sleep 2
kill -TERM $sp
wait_or_kill $sp 20 >/dev/null
wait_or_kill $second 70 >/dev/null
wait_or_kill $stay 70
stay_rc=$?
wait_or_kill $rp 60
relay_rc=$?
frames=$(sed -n 's/.*frames=\([0-9]*\).*/\1/p' $R/server.err | head -1)
unreach=$(($(in_sub sh -c '. /omss/tests/lib.sh; snmp_num Icmp OutDestUnreachs') - unreach0))
p1=$(json_num $R/first.json packets) p2=$(json_num $R/second.json packets) p3=$(json_num $R/stay.json packets)
diag "udp: the server sent $frames frames; the first subscriber on 7000 got $p1 before it left;" \
	"the second one $p2 ($(tail -1 $R/second.err)); the one on 7001: $(tail -1 $R/stay.err)"
diag "udp relay rc=$relay_rc: sinks $(grep -o '{[^{}]*"lag"[^{}]*}' $R/relay.json | tr '\n' ' ')"
check "udp: the closed port refused the relay's datagrams ($unreach ICMP port unreachable sent)" \
	[ "$unreach" -gt 0 ]
check "udp: the subscriber that stayed got all $frames frames intact" [ $stay_rc -eq 0 -a "$p3" = "${frames:-x}" ]
check "udp: the subscriber that came back received packets again, up to the END ($p2)" \
	[ "${p2:-0}" -gt 0 -a "$(json_num $R/second.json ended)" = 1 ]
check "udp: the relay's sinks are both still active, none failed ($(sinks_in active) active)" \
	[ $relay_rc -eq 0 -a "$(sinks_in active)" = 2 ]

diag "after all sessions closed: $(omssctl status --json)"
check "no session, entry or page is left" no_leaks
ktap_finish
