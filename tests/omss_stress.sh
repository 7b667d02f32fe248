#!/bin/sh
# Concurrency stress of the /dev/omss ioctls while a stream flows. omss-stress
# (tests/guest/stress.rs) opens /dev/omss in the relay namespace, creates a main session
# with a UDP source on port 5000 and 4 sinks to the subscribers, forks (2 processes sharing
# the file) and runs 4 threads per process for 10 s of random sink adds and removes, stats,
# extra sessions created and destroyed (also by other threads), second files closed with
# sessions on them, and SESSION_DESTROY raced against SOURCE_SET/SINK_ADD; meanwhile
# omss-server streams 2 Mbit/s into the main session. Afterwards nothing is left, a clean
# relay delivers every frame, and the module unloads.
. /omss/tests/lib.sh
ktap_plan 7
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
S=/tmp/stress
mkdir -p $S
SECS=${STRESS_SECONDS:-10}
SEED=${STRESS_SEED:-20261130}

# 4 subscribers that read whatever comes (nobody checks it: the point is load).
ns_bg sub omss-client --proto udp --bind $SUB_IP:7000 -n 4 --rcvbuf 4194304 \
	--timeout $((SECS + 120)) --idle-ms 600000 --json >$S/client.json 2>$S/client.err
cpid=$BG_PID
ns_bg relay omss-stress --seconds "$SECS" --seed "$SEED" --procs 2 --threads 4 \
	--source-port 5000 --sink $SUB_IP:7000 --sink $SUB_IP:7001 --sink $SUB_IP:7002 --sink $SUB_IP:7003 \
	--expect-rx >$S/stress.tap 2>$S/stress.err
stpid=$BG_PID
sleep 0.3
# The stream outlasts the stress; it is stopped below.
ns_bg src omss-server --proto udp --to $RELAY_SRC_IP:5000 --rate 2000 --duration $((SECS + 120)) \
	>/dev/null 2>$S/server.err
spid=$BG_PID
start=$(date +%s)
wait_or_kill $stpid $((SECS + 90))
rc=$?
took=$(($(date +%s) - start))
# omss-stress's own TAP, nested (indented, so the harness counts only this script's lines).
sed 's/^/    /' $S/stress.tap
[ -s $S/stress.err ] && tail -5 $S/stress.err | sed 's/^/#   stderr: /'
check "omss-stress: 2 processes x 4 threads, ${SECS}s of racing ioctls on a live stream (seed $SEED, ${took}s)" \
	[ $rc -eq 0 ]
kill -TERM $spid 2>/dev/null
wait_or_kill $spid 5 >/dev/null
kill -TERM $cpid 2>/dev/null
wait_or_kill $cpid 5 >/dev/null
got=$(json_num $S/client.json packets)
diag "subscribers received ${got:-?} packets in all; $(tail -1 $S/server.err 2>/dev/null)"
check "the stream reached the subscribers during the stress (${got:-0} packets)" [ "${got:-0}" -gt 0 ]
diag "after the stress: $(omssctl status --json)"
check "after the stress nothing is left: no session, entry or page" no_leaks

relay_run udp share 4 200
diag "clean relay: $(tail -1 $R/client.err)"
check "a clean relay afterwards: UDP share 1->4, all 200 frames intact" [ $client_rc -eq 0 -a $relay_rc -eq 0 ]
check "after the clean relay nothing is left" no_leaks
check "rmmod after the stress" rmmod omss
check "the module is gone" sh -c '! grep -q "^omss " /proc/modules'
ktap_finish
