#!/bin/sh
# `make run`: OMSS relaying a live stream 1->N inside the guest, UDP then TCP, with stats,
# then a multicast stream served over HTTP by omss-httpd to wget and N clients.
# Three hosts (network namespaces): src runs the media server, relay runs OMSS driven by
# omssctl (the streaming server's side), sub runs the subscribers.
. /omss/tests/lib.sh
N=${DEMO_SINKS:-16}
echo "== guest: $(uname -sr), $(nproc) vCPUs"
echo "== insmod omss.ko"
insmod /omss/omss.ko || exit 1
dmesg | grep 'omss:' | tail -2
ls -l /dev/omss
omssctl version || exit 1
topology_up || exit 1

echo
echo "== UDP: media server -> OMSS (share mode) -> $N subscribers, 1400 B at 1 Mbit/s"
in_sub omss-client --proto udp --bind $SUB_IP:7000 -n $N --max-loss 0 --max-errors 0 2>&1 | tail -2 &
c=$!
sleep 0.5
in_relay omssctl relay --source-udp $RELAY_SRC_IP:5000 --sink-udp $SUB_IP:7000 -n $N \
	--stats-every 1 --idle-exit 1.5 &
r=$!
sleep 0.5
in_src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count 300 --rate 1000 2>/dev/null
wait $c || exit 1
wait $r || exit 1

echo
echo "== TCP: media server -> OMSS (share mode) -> $N subscribers, until the server's EOF"
in_src omss-server --proto tcp --listen $SRC_IP:6000 --wait-clients 1 --count 300 --rate 1000 2>/dev/null &
s=$!
in_relay omssctl relay --source-tcp $SRC_IP:6000 --sink-tcp-listen $RELAY_SUB_IP:7000 -n $N \
	--stats-every 1 &
r=$!
in_sub omss-client --proto tcp --connect $RELAY_SUB_IP:7000 -n $N --max-loss 0 --max-errors 0 2>&1 | tail -2
wait $s
wait $r || exit 1

echo
echo "== HTTP: media server -> multicast group 239.1.1.1:5000 -> omss-httpd (OMSS share mode) -> wget + $N clients"
ns_bg relay omss-httpd --listen $RELAY_SUB_IP:8080 --mcast-if $RELAY_SRC_IP
h=$BG_PID
sleep 0.5
ns_bg sub wget -q -O /tmp/demo.ts http://$RELAY_SUB_IP:8080/udp/239.1.1.1:5000
w=$BG_PID
in_sub omss-client --http http://$RELAY_SUB_IP:8080/udp/239.1.1.1:5000 -n $N --max-loss 0 --max-errors 0 \
	2>&1 | tail -2 &
c=$!
sleep 1
in_src omss-server --proto udp --to 239.1.1.1:5000 --count 300 --rate 1000 2>/dev/null
wait $c || exit 1
echo "== http://$RELAY_SUB_IP:8080/status (as text)"
in_sub wget -q -O - http://$RELAY_SUB_IP:8080/status | sed -e 's/<\/t[dh]>/ | /g' -e 's/<[^>]*>//g' | grep .
kill $w $h
wait $w $h 2>/dev/null
echo "== wget saved $(wc -c </tmp/demo.ts) bytes"

echo
echo "== omssctl status (after every session closed)"
omssctl status
rmmod omss && echo "== rmmod omss: ok"
