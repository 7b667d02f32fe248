#!/bin/sh
# A seeded random ioctl fuzzer of /dev/omss (tests/guest/fuzz.rs): random commands (mostly
# OMSS's own, with plausible fields, fds from a pool of sockets and files, and bad, read-only
# and page-edge argument pointers), the device closed and reopened now and then. Every call
# gets success or a documented errno, refused calls change nothing, closes free everything;
# then a clean relay delivers every frame and the module unloads. The seed is fixed (set
# FUZZ_SEED to vary it), so a failure reproduces.
. /omss/tests/lib.sh
ktap_plan 6
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
F=/tmp/fuzz
mkdir -p $F
SEED=${FUZZ_SEED:-1130}
CALLS=${FUZZ_CALLS:-10000}
diag "omss-fuzz --seed $SEED --calls $CALLS"
start=$(date +%s)
# In the relay namespace: its sockets talk over that namespace's loopback only.
in_relay omss-fuzz --seed "$SEED" --calls "$CALLS" >$F/fuzz.tap 2>$F/fuzz.err
rc=$?
took=$(($(date +%s) - start))
# omss-fuzz's own TAP, nested (indented, so the harness counts only this script's lines).
sed 's/^/    /' $F/fuzz.tap
[ -s $F/fuzz.err ] && tail -5 $F/fuzz.err | sed 's/^/#   stderr: /'
check "omss-fuzz --seed $SEED --calls $CALLS: every check passed (${took}s)" [ $rc -eq 0 ]
diag "after the fuzzer: $(omssctl status --json)"
check "after the fuzzer nothing is left: no session, entry or page" no_leaks

relay_run udp share 4 200
diag "clean relay: $(tail -1 $R/client.err)"
check "a clean relay afterwards: UDP share 1->4, all 200 frames intact" [ $client_rc -eq 0 -a $relay_rc -eq 0 ]
check "after the clean relay nothing is left" no_leaks
check "rmmod after the fuzzer" rmmod omss
check "the module is gone" sh -c '! grep -q "^omss " /proc/modules'
ktap_finish
