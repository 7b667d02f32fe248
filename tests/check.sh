#!/usr/bin/env bash
# The whole test suite: host checks (rustfmt, clippy, cargo test) and the QEMU suite.
# Ends with one line: "N passed, N failed, N skipped". Exits non-zero on any failure.
set -uo pipefail
. "$(dirname "$0")/../tools/guest/env.sh"
cd "$OMSS_ROOT"
LOG=$OMSS_ROOT/build/check
mkdir -p "$LOG"
passed=0 failed=0 skipped=0
KERNELS=${OMSS_CHECK_KERNELS:-normal debug}

# The debug kernel (a cold build takes 15-20 minutes) builds in the background, at idle
# priority (SCHED_IDLE: it only gets CPU time nothing else wants), while the host checks, the
# normal kernel's suite and the benchmark smoke run; its suite comes last.
debug_pid=
if [[ " $KERNELS " == *" debug "* ]]; then
	echo "# building the debug kernel and its omss.ko in the background (log: build/check/module-debug.log)"
	nice -n 19 chrt --idle 0 make --no-print-directory module-debug >"$LOG/module-debug.log" 2>&1 &
	debug_pid=$!
fi

step() { # step NAME CMD...: one host check, counted as one case
	if "${@:2}" >"$LOG/$1.log" 2>&1; then
		passed=$((passed + 1)); echo "ok host: $1"
	else
		failed=$((failed + 1)); echo "not ok host: $1 (log: build/check/$1.log)"; tail -20 "$LOG/$1.log" | sed 's/^/# | /'
	fi
}
KERNEL_RS=(omss_main.rs)
step rustfmt-tools cargo fmt --all -- --check
step rustfmt-module rustfmt --edition 2021 --check "${KERNEL_RS[@]}"
step clippy cargo clippy -q --workspace --all-targets -- -D warnings

echo "# host: cargo test"
cargo test -q --workspace >"$LOG/cargo-test.log" 2>&1
ctrc=$?
p=$(sed -n 's/^test result: .*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$LOG/cargo-test.log" | paste -sd+ | bc)
f=$(sed -n 's/^test result: .*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$LOG/cargo-test.log" | paste -sd+ | bc)
p=${p:-0} f=${f:-0}
if [ $ctrc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; tail -30 "$LOG/cargo-test.log" | sed 's/^/# | /'; fi
[ "$f" -gt 0 ] && grep -E "panicked|FAILED|error" "$LOG/cargo-test.log" | head -20 | sed 's/^/# | /'
echo "# host: cargo test: $p passed, $f failed"
passed=$((passed + p)) failed=$((failed + f))

# qemu_suite FLAVOUR: the whole QEMU suite on one guest kernel (OMSS_CHECK_KERNELS, default
# "normal debug", says which kernels run).
qemu_suite() {
	local flavour=$1 start q qrc qp qf qs
	echo "# qemu suite, $flavour kernel"
	start=$(date +%s)
	OMSS_KERNEL=$flavour tests/qemu/run.sh | tee "$LOG/qemu-$flavour.log"
	qrc=${PIPESTATUS[0]}
	q=$(sed -n 's/^# qemu: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$LOG/qemu-$flavour.log")
	if [ -z "$q" ]; then q="0 1 0"; echo "not ok qemu ($flavour): the QEMU harness gave no summary"; fi
	read -r qp qf qs <<<"$q"
	[ $qrc -ne 0 ] && [ "$qf" -eq 0 ] && qf=1
	echo "# qemu suite, $flavour kernel: $qp passed, $qf failed, $qs skipped in $(($(date +%s) - start))s"
	passed=$((passed + qp)) failed=$((failed + qf)) skipped=$((skipped + qs))
}

[[ " $KERNELS " == *" normal "* ]] && qemu_suite normal

# bench_counted CSV: every row counted packets in its window and guest instructions (the
# QEMU plugin ran), and the host read the vCPU thread's time.
bench_counted() {
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ n++; if ($c["delivered_pkts"] > 0 && $c["insn_per_pkt"] > 0 && $c["elapsed_s"] > 0) ok++ }
		END { exit !(n > 0 && ok == n) }' "$1"
}
echo "# benchmark smoke run (the harness must not rot; its numbers mean nothing)"
if tools/bench/run.sh --smoke --out "$OMSS_ROOT/build/bench-smoke" >"$LOG/bench-smoke.log" 2>&1 &&
	grep -q '^udp,omss,' build/bench-smoke/fanout.csv && grep -q '^tcp,daemon,' build/bench-smoke/fanout.csv &&
	[ -s build/bench-smoke/benchmarks.md ] && ls build/bench-smoke/figures/*.svg >/dev/null 2>&1 &&
	bench_counted build/bench-smoke/fanout.csv && [ "$(wc -l <build/bench-smoke/calibration.csv)" -eq 4 ] &&
	[ "$(wc -l <build/bench-smoke/capacity.csv)" -eq 3 ] && grep -q '"omss_over_daemon"' build/bench-smoke/summary.json; then
	passed=$((passed + 1)); echo "ok bench: smoke run"
else
	failed=$((failed + 1)); echo "not ok bench: smoke run (log: build/check/bench-smoke.log)"
	tail -20 "$LOG/bench-smoke.log" | sed 's/^/# | /'
fi

# The debug kernel's suite (lockdep, KASAN, kmemleak, hung tasks, fault injection) once its
# kernel is built.
if [ -n "$debug_pid" ]; then
	t0=$(date +%s)
	if wait "$debug_pid"; then
		echo "# the debug kernel was ready $(($(date +%s) - t0)) s after the rest"
		qemu_suite debug
	else
		failed=$((failed + 1)); echo "not ok qemu (debug): building the debug kernel or its module failed (log: build/check/module-debug.log)"
		tail -20 "$LOG/module-debug.log" | sed 's/^/# | /'
	fi
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
