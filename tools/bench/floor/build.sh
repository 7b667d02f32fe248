#!/usr/bin/env bash
# Builds the benchmark's floor module against the cached guest kernel of FLAVOUR (default
# normal), from a copy of its sources: build/floor-FLAVOUR/omss_floor.ko.
set -euo pipefail
export OMSS_KERNEL=${1:-normal}
. "$(dirname "$0")/../../guest/env.sh"
kdir=$(kernel_dir)
[ -f "$kdir/.omss-complete" ] || die "no $OMSS_KERNEL guest kernel at $kdir (run tools/setup.sh)"
out=$OMSS_ROOT/build/floor-$OMSS_KERNEL
mkdir -p "$out/src"
cp -u "$OMSS_ROOT"/tools/bench/floor/{Kbuild,omss_floor.c,omss_floor.h} "$out/src/"
make -s -C "$kdir" M="$out/src" "${KMAKE_VARS[@]}" modules
cp "$out/src/omss_floor.ko" "$out/omss_floor.ko"
