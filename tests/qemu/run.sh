#!/usr/bin/env bash
# Boots the cached guest kernel under QEMU/TCG (2 vCPUs) once per kselftest-style script in
# tests/, and turns each guest's real verdict into TAP on the host.
#   tests/qemu/run.sh [--demo] [script.sh ...]     (default: every tests/omss_*.sh)
# A script fails when it exits non-zero (4 = skip), when its TAP plan and results disagree,
# when it never reports, when the guest panics, oopses or WARNs, or on timeout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$OMSS_ROOT"

# The debug kernel runs many times slower under TCG.
TIMEOUT=${OMSS_QEMU_TIMEOUT:-600}
[ "$OMSS_KERNEL" = debug ] && TIMEOUT=${OMSS_QEMU_TIMEOUT:-1200}
check_built

demo=0
if [ "${1:-}" = --demo ]; then demo=1; shift; set -- demo.sh; fi
[ $# -gt 0 ] || set -- $(cd tests && ls omss_*.sh)

# OMSS_QEMU_OUT lets two runs (say, two kernels) go side by side.
OUT=${OMSS_QEMU_OUT:-$OMSS_ROOT/build/qemu-$OMSS_KERNEL}
ROOT=$OUT/root
mkdir -p "$OUT/logs"

# Boots one guest for script $1; prints its TAP, returns 0 pass, 1 fail, 4 skip.
run_one() {
	local script=$1 log=$OUT/logs/${1%.sh}.log
	local abi
	abi=$(sed -n 's/^#define OMSS_ABI_VERSION[[:space:]]*\([0-9]*\).*/\1/p' uapi/omss.h)
	printf 'export OMSS_SCRIPT=%s\nexport OMSS_ABI_VERSION=%s\nexport OMSS_KERNEL=%s\n' \
		"$script" "$abi" "$OMSS_KERNEL" >"$ROOT/omss/env"
	pack_initramfs "$ROOT" "$OUT/initramfs.cpio"
	boot_guest "$OUT/initramfs.cpio" "$log" "$TIMEOUT"
	local qrc=$?
	# The script's own output, between the guest's markers.
	sed -n "/^OMSS-BEGIN /,/^OMSS-END /p" "$log" | sed '1d;$d'
	local verdict
	verdict=$(sed -n "s/^OMSS-END $script rc=\([0-9]*\)$/\1/p" "$log")
	local why
	why=$(guest_problem "$log")
	if [ $qrc -eq 124 ]; then why="timed out after ${TIMEOUT}s"
	elif [ -z "$why" ] && [ -z "$verdict" ]; then why="guest never reported a verdict"
	fi
	if [ $demo -eq 0 ] && [ -z "$why" ]; then
		local tap plan n_ok n_notok
		tap=$(sed -n "/^OMSS-BEGIN /,/^OMSS-END /p" "$log")
		plan=$(echo "$tap" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p' | head -1)
		n_ok=$(echo "$tap" | grep -cE '^ok [0-9]+')
		n_notok=$(echo "$tap" | grep -cE '^not ok [0-9]+')
		if [ -z "$plan" ]; then why="no TAP plan line"
		elif [ $((n_ok + n_notok)) -ne "$plan" ]; then why="planned $plan tests, reported $((n_ok + n_notok))"
		elif [ "$verdict" = 0 ] && [ "$n_notok" -gt 0 ]; then why="exit 0 despite $n_notok failures"
		fi
	fi
	if [ -n "$why" ]; then
		echo "# $script: FAIL: $why (console log: $log)"
		tail -40 "$log" | sed 's/^/# | /'
		return 1
	fi
	case $verdict in
	0) return 0 ;;
	4) return 4 ;;
	*) echo "# $script: FAIL: exit code $verdict (console log: $log)"; return 1 ;;
	esac
}

# The floor module is new kernel code too: built for this kernel, tested by omss_floor.sh.
tools/bench/floor/build.sh "$OMSS_KERNEL" || die "building omss_floor.ko failed"
build_root "$ROOT"
fail=0 passed=0 failed=0 skipped=0
for s in "$@"; do
	[ -f "tests/$s" ] || die "no such test script: tests/$s"
	start=$(date +%s)
	run_one "$s" | tee "$OUT/tap.txt"
	rc=${PIPESTATUS[0]}
	echo "# $s: $(case $rc in 0) echo PASS ;; 4) echo SKIP ;; *) echo FAIL ;; esac) in $(($(date +%s) - start))s"
	# Count cases: TAP lines, plus one failure for a script that failed beyond its TAP.
	sk=$(grep -cE '^ok [0-9]+.*# SKIP' "$OUT/tap.txt")
	pa=$(($(grep -cE '^ok [0-9]+' "$OUT/tap.txt") - sk))
	fa=$(grep -cE '^not ok [0-9]+' "$OUT/tap.txt")
	[ "$rc" -eq 1 ] && { fail=1; [ "$fa" -eq 0 ] && fa=1; }
	passed=$((passed + pa)) failed=$((failed + fa)) skipped=$((skipped + sk))
done
[ $demo -eq 1 ] || echo "# qemu: $passed passed, $failed failed, $skipped skipped"
exit $fail
