#!/bin/sh
# The media server and client emulators move UDP and TCP streams directly from the source
# host to the subscriber host, with zero loss and zero integrity errors; and a client fed
# corrupted or missing packets reports them (so the emulators can fail).
. /omss/tests/lib.sh
ktap_plan 4
if [ -n "$SLOW" ]; then
	# No OMSS code runs here: the debug kernel would only make it slower.
	for d in "udp stream" "tcp stream" "faulty udp stream" "faulty tcp stream"; do
		skip "emulators: $d" "user-space tools only, checked on the normal kernel"
	done
	ktap_finish
fi
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
T=/tmp/emu
mkdir -p $T

# UDP: 8 subscribers, 300 frames of 1400 bytes each at 512 kbps.
in_sub omss-client --proto udp --bind $SUB_IP:5000 -n 8 --max-loss 0 --max-errors 0 --min-packets 300 --json >$T/udp.json 2>$T/udp.err &
cpid=$!
sleep 0.5
in_src omss-server --proto udp --to $SUB_IP:5000 --fanout 8 --count 300 --rate 512 --size 1400 2>$T/udp-srv.err
wait $cpid; rc=$?
diag "udp: $(tail -1 $T/udp.err)"
check "UDP 1->8 direct: no loss, no integrity errors (client rc=$rc)" [ $rc -eq 0 ]

# TCP: 8 subscribers on one stream.
in_src omss-server --proto tcp --listen $SRC_IP:6000 --wait-clients 8 --count 300 --rate 512 --size 1400 2>$T/tcp-srv.err &
spid=$!
in_sub omss-client --proto tcp --connect $SRC_IP:6000 -n 8 --max-loss 0 --max-errors 0 --min-packets 300 --json >$T/tcp.json 2>$T/tcp.err
rc=$?
wait $spid
diag "tcp: $(tail -1 $T/tcp.err)"
check "TCP 1->8 direct: no loss, no integrity errors (client rc=$rc)" [ $rc -eq 0 ]

# Faults: every 10th frame corrupted, every 7th missing.
in_sub omss-client --proto udp --bind $SUB_IP:5100 -n 1 --max-loss 0 --max-errors 0 --json >$T/bad.json 2>$T/bad.err &
cpid=$!
sleep 0.5
in_src omss-server --proto udp --to $SUB_IP:5100 --count 200 --rate 1000 --corrupt-every 10 --skip-every 7 2>/dev/null
wait $cpid; rc=$?
bad=$(json_num $T/bad.json bad_checksum)
lost=$(json_num $T/bad.json lost)
diag "faulty udp stream: rc=$rc bad_checksum=$bad lost=$lost"
if [ $rc -eq 1 ] && [ "${bad:-0}" -gt 0 ] && [ "${lost:-0}" -gt 0 ]; then
	ok "client reports corrupted and missing UDP frames and fails"
else
	not_ok "client reports corrupted and missing UDP frames and fails"
fi

in_src omss-server --proto tcp --listen $SRC_IP:6100 --wait-clients 1 --count 200 --rate 1000 --corrupt-every 10 2>/dev/null &
spid=$!
in_sub omss-client --proto tcp --connect $SRC_IP:6100 -n 1 --max-errors 0 --json >$T/badtcp.json 2>/dev/null
rc=$?
wait $spid
bad=$(json_num $T/badtcp.json bad_checksum)
diag "faulty tcp stream: rc=$rc bad_checksum=$bad"
if [ $rc -eq 1 ] && [ "${bad:-0}" -gt 0 ]; then
	ok "client reports a corrupted TCP stream and fails"
else
	not_ok "client reports a corrupted TCP stream and fails"
fi
ktap_finish
