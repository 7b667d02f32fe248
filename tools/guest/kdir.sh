#!/usr/bin/env bash
# Prints the cached guest kernel build directory (after tools/setup.sh built it).
. "$(dirname "$0")/env.sh"
echo "$(kernel_dir)"
