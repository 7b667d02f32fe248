#!/bin/bash
# The drop-policy comparison of docs/policies.md: runs tests/omss_policies.sh in the guest
# (normal kernel) and keeps its per-policy, per-class rows in OUT/policies.csv (default
# build/policies); with --docs, in docs/results/policies.csv, and redraws
# docs/figures/policies.svg.
#   tools/bench/policies.sh [--docs] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/policies docs=0
while [ $# -gt 0 ]; do
	case $1 in
	--docs) docs=1 ;;
	--out) out=$2; shift ;;
	*) echo "usage: tools/bench/policies.sh [--docs] [--out DIR]" >&2; exit 2 ;;
	esac
	shift
done
mkdir -p "$out"
OMSS_KERNEL=normal OMSS_QEMU_OUT="$out/qemu" tests/qemu/run.sh omss_policies.sh | tee "$out/run.log"
sed -n 's/^.*# policy-row: //p' "$out/run.log" >"$out/policies.csv"
[ "$(wc -l <"$out/policies.csv")" -eq 7 ] || { echo "policies: expected a header and 6 rows" >&2; exit 1; }
if [ $docs = 1 ]; then
	cp "$out/policies.csv" docs/results/policies.csv
	cargo run -q --release -p omss-bench-report -- --results docs/results \
		--out-docs docs/benchmarks.md --figures docs/figures
fi
