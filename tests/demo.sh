#!/bin/sh
# `make run`: what OMSS can do so far, shown from inside the guest.
. /omss/tests/lib.sh
echo "== guest: $(uname -sr), $(nproc) vCPUs"
echo "== insmod omss.ko"
insmod /omss/omss.ko || exit 1
dmesg | grep -i omss | tail -2
echo "== ls -l /dev/omss"
ls -l /dev/omss
echo "== omssctl version"
omssctl version || exit 1
echo "== modinfo omss.ko"
modinfo /omss/omss.ko | grep -E '^(description|version|parm):'
echo "== emulators: a 1->4 UDP stream from the source host to the subscriber host"
topology_up || exit 1
in_sub omss-client --proto udp --bind $SUB_IP:5000 -n 4 --max-loss 0 --max-errors 0 &
sleep 0.5
in_src omss-server --proto udp --to $SUB_IP:5000 --fanout 4 --count 100 --rate 1000
wait $! || exit 1
rmmod omss
