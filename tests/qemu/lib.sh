# Shared by tests/qemu/run.sh and tools/bench/run.sh: guest roots and QEMU boots.
# shellcheck shell=bash
. "$(dirname "${BASH_SOURCE[0]}")/../../tools/guest/env.sh"
KDIR=$(kernel_dir)
BZIMAGE=$KDIR/arch/x86/boot/bzImage
MODULE_KO=$(module_ko)
BIN=$OMSS_ROOT/target/x86_64-unknown-linux-gnu/release
GUEST_TOOLS=(omssctl omss-server omss-client omss-abi-test omss-controls-test omss-barrier omss-stress omss-fuzz omss-floor omss-httpd)

check_built() {
	[ -f "$BZIMAGE" ] || die "no guest kernel at $BZIMAGE (run tools/setup.sh)"
	[ -f "$MODULE_KO" ] || die "$MODULE_KO not built (run make)"
	local t
	for t in "${GUEST_TOOLS[@]}" "$@"; do [ -x "$BIN/$t" ] || die "$BIN/$t missing (run make tools)"; done
}

# build_root DIR [extra tool ...]: busybox, iproute2 (with its libraries), the module, the
# tools and the test scripts.
build_root() {
	local root=$1 f lib
	shift
	rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/sbin,usr/bin,proc,sys,dev,omss/bin,omss/tests,etc}
	cp /usr/bin/busybox "$root/bin/busybox" && ln -s busybox "$root/bin/sh"
	for f in /usr/sbin/ip /usr/sbin/tc; do
		cp "$f" "$root/usr/sbin/"
		for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
			mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"
		done
	done
	cp "$OMSS_ROOT/tests/qemu/init" "$root/init" && chmod +x "$root/init"
	cp "$MODULE_KO" "$root/omss/omss.ko"
	# The benchmark's floor module, where built for this kernel (tests/omss_floor.sh).
	local floor=$OMSS_ROOT/build/floor-$OMSS_KERNEL/omss_floor.ko
	[ -f "$floor" ] && cp "$floor" "$root/omss/"
	for f in "${GUEST_TOOLS[@]}" "$@"; do cp "$BIN/$f" "$root/omss/bin/"; done
	cp "$OMSS_ROOT"/tests/*.sh "$root/omss/tests/"
	echo "root:x:0:0::/:/bin/sh" >"$root/etc/passwd"
	echo "nobody:x:65534:65534::/:/bin/sh" >>"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

# pack_initramfs DIR OUT [gzip]: a cpio archive, uncompressed unless asked (the debug kernel
# took 6 s to inflate a gzipped one, 2 to unpack this; the benchmark's 128 MiB guest needs the
# smaller one).
pack_initramfs() {
	local z=cat
	[ "${3:-}" = gzip ] && z="gzip -1"
	(cd "$1" && find . | cpio -o -H newc --quiet | $z) >"$2"
}

# Extra kernel command line of the flavour: the debug kernel runs fully preemptible.
boot_args() {
	case $OMSS_KERNEL in debug) echo "preempt=full" ;; esac
}

# Guest memory of the flavour: the debug kernel boots and scans for leaks faster in 1 GiB
# (KASAN's shadow and kmemleak's scan grow with it).
guest_mem() {
	case $OMSS_KERNEL in debug) echo 1G ;; *) echo 2G ;; esac
}

# boot_guest INITRD LOG TIMEOUT [qemu args...]: one TCG guest, $QEMU_SMP vCPUs (default 2) and
# $QEMU_MEM of memory (default guest_mem's),
# on host CPUs $QEMU_PIN (default any); returns QEMU's status (124 on timeout). The console,
# without CRs, goes to LOG.
boot_guest() {
	local initrd=$1 log=$2 timeout=$3 pin=()
	shift 3
	[ -n "${QEMU_PIN:-}" ] && pin=(taskset -c "$QEMU_PIN")
	timeout --foreground "$timeout" "${pin[@]}" qemu-system-x86_64 -machine q35 -cpu max \
		-smp "${QEMU_SMP:-2}" -m "${QEMU_MEM:-$(guest_mem)}" \
		-accel tcg -display none -monitor none -serial stdio -no-reboot \
		-kernel "$BZIMAGE" -initrd "$initrd" \
		-append "console=ttyS0 loglevel=4 panic=-1 oops=panic rdinit=/init 8250.nr_uarts=1 no_timer_check rcupdate.rcu_cpu_stall_timeout=60 $(boot_args)" \
		"$@" </dev/null >"$log.raw" 2>&1
	local rc=$?
	tr -d '\r' <"$log.raw" >"$log" && rm -f "$log.raw"
	return $rc
}

# guest_problem LOG: prints why a guest's run is not trustworthy, or nothing.
guest_problem() {
	if grep -qE 'Kernel panic|Oops|BUG:|general protection' "$1"; then echo "guest kernel crashed"
	elif grep -q '^OMSS-KMEMLEAK' "$1"; then echo "kmemleak reported leaks"
	elif grep -q '^OMSS-DMESG-BAD' "$1"; then echo "WARN/BUG/oops/lockdep/hung task in guest dmesg"
	fi
}
