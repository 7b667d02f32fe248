#!/bin/sh
# The benchmark's pure-transmit floor (tools/bench/floor/omss_floor.ko, driven by omss-floor):
# it relays byte-exact over UDP and TCP, refuses bad input with the right errno, and unloads.
# It is kernel code, so it runs on the debug kernel too (lockdep, KASAN, kmemleak).
. /omss/tests/lib.sh
ktap_plan 5
if [ ! -f /omss/omss_floor.ko ]; then
	for t in insmod "bad input" udp tcp rmmod; do skip "$t" "omss_floor.ko was not built for this kernel"; done
	exit $KSFT_SKIP
fi
check "insmod omss_floor.ko" insmod /omss/omss_floor.ko
out=$(omss-floor --check-bad-input --source-udp 127.0.0.1:1 --sink-udp 127.0.0.1:2 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "bad input gets EINVAL, EBADF or ENOTSOCK" [ $rc -eq 0 ]
topology_up || exit $KSFT_FAIL
RELAY_CMD=omss-floor relay_run udp - 4 300
check "UDP 1->4: every frame, in order and intact" [ $client_rc -eq 0 -a $relay_rc -eq 0 ]
RELAY_CMD=omss-floor relay_run tcp - 4 300
check "TCP 1->4: byte-exact" [ $client_rc -eq 0 -a $relay_rc -eq 0 ]
check "rmmod omss_floor" rmmod omss_floor
ktap_finish
