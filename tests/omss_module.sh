#!/bin/sh
# The module loads, registers /dev/omss (0600), speaks the header's ABI version, refuses
# unknown ioctls and bad parameters, is pinned while open, and unloads cleanly.
. /omss/tests/lib.sh
ktap_plan 9

if insmod /omss/omss.ko ring_default=1 2>/dev/null; then
	not_ok "load with ring_default=1 is refused"; rmmod omss
else
	ok "load with ring_default=1 is refused"
fi

check "insmod omss.ko" insmod /omss/omss.ko
mode=$(stat -c '%a %F' /dev/omss 2>/dev/null)
diag "/dev/omss: $mode"
check "/dev/omss is a char device with mode 0600" [ "$mode" = "600 character special file" ]

ver=$(omssctl version --json 2>&1)
diag "omssctl version: $ver"
kabi=$(echo "$ver" | sed -n 's/.*"abi_version": *\([0-9]*\).*/\1/p')
check "module ABI version $kabi matches uapi/omss.h ($OMSS_ABI_VERSION)" [ "$kabi" = "$OMSS_ABI_VERSION" ]

out=$(omssctl raw-ioctl 0x0000b9ff 2>&1)
diag "unknown ioctl: $out"
check "an unknown ioctl gets ENOTTY" [ "$out" = "errno 25 (ENOTTY)" ]

parms=$(modinfo -F parm /omss/omss.ko 2>&1 | sort | tr '\n' ';')
diag "parameters: $parms"
check "modinfo shows every parameter with its description" \
	sh -c 'for p in ring_default ring_max workers workers_max; do modinfo -F parm /omss/omss.ko | grep -q "^$p:.*[a-z]" || exit 1; done'

exec 3<>/dev/omss
if rmmod omss 2>/dev/null; then not_ok "rmmod is refused while /dev/omss is open"; insmod /omss/omss.ko; else ok "rmmod is refused while /dev/omss is open"; fi
exec 3>&-

check "rmmod omss" rmmod omss
check "/dev/omss is gone after rmmod" [ ! -e /dev/omss ]
ktap_finish
