#!/usr/bin/env bash
# Boots the cached guest kernel under QEMU/TCG (2 vCPUs) once per kselftest-style script in
# tests/, and turns each guest's real verdict into TAP on the host.
#   tests/qemu/run.sh [--demo] [script.sh ...]     (default: every tests/omss_*.sh)
# A script fails when it exits non-zero (4 = skip), when its TAP plan and results disagree,
# when it never reports, when the guest panics, oopses or WARNs, or on timeout.
set -uo pipefail
. "$(dirname "$0")/../../tools/guest/env.sh"
cd "$OMSS_ROOT"

KDIR=$(kernel_dir)
BZIMAGE=$KDIR/arch/x86/boot/bzImage
TIMEOUT=${OMSS_QEMU_TIMEOUT:-600}
[ -f "$BZIMAGE" ] || die "no guest kernel at $BZIMAGE (run tools/setup.sh)"
[ -f omss.ko ] || die "omss.ko not built (run make)"
BIN=target/x86_64-unknown-linux-gnu/release
for t in omssctl omss-server omss-client omss-abi-test; do [ -x "$BIN/$t" ] || die "$BIN/$t missing (run make tools)"; done

demo=0
if [ "${1:-}" = --demo ]; then demo=1; shift; set -- demo.sh; fi
[ $# -gt 0 ] || set -- $(cd tests && ls omss_*.sh)

OUT=$OMSS_ROOT/build/qemu
ROOT=$OUT/root
mkdir -p "$OUT/logs"

# Guest root: busybox, iproute2 (with its libraries), the module, the tools and the tests.
build_root() {
	rm -rf "$ROOT" && mkdir -p "$ROOT"/{bin,sbin,usr/sbin,usr/bin,proc,sys,dev,omss/bin,omss/tests,etc}
	cp /usr/bin/busybox "$ROOT/bin/busybox" && ln -s busybox "$ROOT/bin/sh"
	local f lib
	for f in /usr/sbin/ip /usr/sbin/tc; do
		cp "$f" "$ROOT/usr/sbin/"
		for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
			mkdir -p "$ROOT$(dirname "$lib")" && cp -L "$lib" "$ROOT$lib"
		done
	done
	cp tests/qemu/init "$ROOT/init" && chmod +x "$ROOT/init"
	cp omss.ko "$ROOT/omss/"
	cp "$BIN"/{omssctl,omss-server,omss-client,omss-abi-test} "$ROOT/omss/bin/"
	cp tests/*.sh "$ROOT/omss/tests/"
	echo "root:x:0:0::/:/bin/sh" >"$ROOT/etc/passwd"
	echo "nobody:x:65534:65534::/:/bin/sh" >>"$ROOT/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
}

# Boots one guest for script $1; prints its TAP, returns 0 pass, 1 fail, 4 skip.
run_one() {
	local script=$1 log=$OUT/logs/${1%.sh}.log
	local abi
	abi=$(sed -n 's/^#define OMSS_ABI_VERSION[[:space:]]*\([0-9]*\).*/\1/p' uapi/omss.h)
	printf 'export OMSS_SCRIPT=%s\nexport OMSS_ABI_VERSION=%s\n' "$script" "$abi" >"$ROOT/omss/env"
	(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT/initramfs.gz"
	timeout --foreground "$TIMEOUT" qemu-system-x86_64 -machine q35 -cpu max -smp 2 -m 2G \
		-accel tcg -display none -monitor none -serial stdio -no-reboot \
		-kernel "$BZIMAGE" -initrd "$OUT/initramfs.gz" \
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic rdinit=/init" \
		</dev/null >"$log" 2>&1
	local qrc=$?
	tr -d '\r' <"$log" >"$log.txt" && mv "$log.txt" "$log"
	# The script's own output, between the guest's markers.
	sed -n "/^OMSS-BEGIN /,/^OMSS-END /p" "$log" | sed '1d;$d'
	local verdict
	verdict=$(sed -n "s/^OMSS-END $script rc=\([0-9]*\)$/\1/p" "$log")
	local why=
	if [ $qrc -eq 124 ]; then why="timed out after ${TIMEOUT}s"
	elif grep -qE 'Kernel panic|Oops|BUG:|general protection' "$log"; then why="guest kernel crashed"
	elif grep -q '^OMSS-DMESG-BAD' "$log"; then why="WARN/BUG/oops in guest dmesg"
	elif [ -z "$verdict" ]; then why="guest never reported a verdict"
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

build_root
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
