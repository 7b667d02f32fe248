#!/usr/bin/env bash
# Builds omss.ko for a kernel flavour other than the tree's own (normal) one, from a copy of
# the sources, so the tree's omss.ko stays:   tools/guest/build-module.sh debug
# Output: build/FLAVOUR/omss.ko (the path module_ko prints).
set -euo pipefail
export OMSS_KERNEL=${1:?usage: build-module.sh FLAVOUR}
. "$(dirname "$0")/env.sh"
cd "$OMSS_ROOT"
kdir=$(kernel_dir)
[ -f "$kdir/.omss-complete" ] || die "no $OMSS_KERNEL kernel at $kdir (run tools/setup.sh)"
src=$OMSS_ROOT/build/$OMSS_KERNEL/src
mkdir -p "$src"
# rsync-like: copy only what changed, so that an unchanged tree rebuilds nothing.
cp -ru Kbuild omss_main.rs relay buffer sched shim uapi "$src/"
make -s -C "$kdir" M="$src" "${KMAKE_VARS[@]}" modules
cp "$src/omss.ko" "$(module_ko)"
