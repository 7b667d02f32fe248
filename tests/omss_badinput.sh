#!/bin/sh
# Bad input to /dev/omss: one case per errno, nothing changes, sockets come back usable.
# The cases are in tests/guest/abi_test.rs; this runs them and then unloads the module.
. /omss/tests/lib.sh
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
omss-abi-test
rc=$?
rmmod omss || { echo "# rmmod failed after the bad-input tests"; rc=1; }
exit $rc
