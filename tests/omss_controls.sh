#!/bin/sh
# Operator controls (ABI 3): late-joiner bursts, soft and hard lag limits, persistent
# sessions parked, adopted and reaped, and ABI 2 binaries. The cases are in
# tests/guest/controls.rs (on loopback, so they do not depend on the topology); this runs
# them and then unloads the module.
. /omss/tests/lib.sh
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
omss-controls-test
rc=$?
rmmod omss || { echo "# rmmod failed after the controls tests"; rc=1; }
exit $rc
