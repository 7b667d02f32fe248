#!/usr/bin/env bash
# Builds the benchmark's floor module against the cached normal guest kernel, from a copy of
# its sources: build/floor/omss_floor.ko.
set -euo pipefail
. "$(dirname "$0")/../../guest/env.sh"
kdir=$(kernel_dir normal)
[ -f "$kdir/.omss-complete" ] || die "no guest kernel at $kdir (run tools/setup.sh)"
src=$OMSS_ROOT/build/floor/src
mkdir -p "$src"
cp -u "$OMSS_ROOT"/tools/bench/floor/{Kbuild,omss_floor.c,omss_floor.h} "$src/"
make -s -C "$kdir" M="$src" "${KMAKE_VARS[@]}" modules
cp "$src/omss_floor.ko" "$OMSS_ROOT/build/floor/omss_floor.ko"
