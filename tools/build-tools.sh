#!/usr/bin/env bash
# Builds the user-space tools as static binaries, so they run in a bare guest initramfs.
set -euo pipefail
. "$(dirname "$0")/guest/env.sh"
cd "$OMSS_ROOT"
RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release --target x86_64-unknown-linux-gnu \
	-p omssctl -p omss-media -p omss-guest-tests -p omss-relays -p omss-httpd || die "building the tools failed"
cargo build -q --release -p omss-bench-report || die "building the report tool failed"
# The benchmark's instruction counter, a QEMU TCG plugin (tools/bench/insn_count.c).
mkdir -p build/bench-bin
cc -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -o build/bench-bin/insn_count.so \
	tools/bench/insn_count.c || die "building the QEMU plugin failed"
