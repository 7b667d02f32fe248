#!/usr/bin/env bash
# Profiles one benchmark point (the topology of tools/bench/run.sh): where the relay guest's
# CPU goes, by `perf record -a` in the guest over the measurement window (cpu-clock samples, kernel and user; self
# time per symbol: the tiny kernel has no frame-pointer unwinder, so no call graphs).
#   tools/bench/profile.sh IMPL PROTO N [PAYLOAD]     e.g. tools/bench/profile.sh omss udp 800
# Needs a guest kernel with PERF_EVENTS: it builds one once beside the test kernel (the test
# kernel stays perf-less and small), builds omss.ko against it in build/profile, and puts
# Debian's perf (package linux-perf) into the relay guest. Output: build/profile/*.log.
set -uo pipefail
. "$(dirname "$0")/../../tests/qemu/lib.sh"
. "$(dirname "$0")/native.sh"
cd "$OMSS_ROOT"
[ $# -ge 3 ] || die "usage: tools/bench/profile.sh IMPL PROTO N [PAYLOAD]"
IMPL=$1 PROTO=$2 N=$3 PAYLOAD=${4:-1400}
OUT=$OMSS_ROOT/build/profile
mkdir -p "$OUT"
command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null 2>&1 || die "cannot install linux-perf"; }

# The perf kernel: the test kernel's config plus PERF_EVENTS.
PK=$(kernel_dir)-perf
if [ ! -f "$PK/.omss-complete" ]; then
	say "building the profiling kernel in $PK (about 10 minutes)"
	src=$(ls -d "$OMSS_CACHE"/src-* | head -1)
	rm -rf "$PK" && cp -a "$(kernel_dir)" "$PK" && rm -f "$PK/.omss-complete"
	"$src/scripts/config" --file "$PK/.config" -e PERF_EVENTS
	{ make -C "$src" O="$PK" "${KMAKE_VARS[@]}" olddefconfig &&
		make -C "$src" O="$PK" "${KMAKE_VARS[@]}" -j"$(($(nproc) + 1))" bzImage &&
		make -C "$src" O="$PK" "${KMAKE_VARS[@]}" -j"$(nproc)" modules; } >"$PK/build.log" 2>&1 ||
		die "profiling kernel build failed: $PK/build.log"
	touch "$PK/.omss-complete"
fi
BZIMAGE=$PK/arch/x86/boot/bzImage

# omss.ko for that kernel, built from a copy of the sources (the tree's omss.ko stays).
rm -rf "$OUT/src" && mkdir -p "$OUT/src"
cp -r Kbuild omss_main.rs relay buffer sched shim uapi "$OUT/src/"
make -s -C "$PK" M="$OUT/src" "${KMAKE_VARS[@]}" modules >"$OUT/module.log" 2>&1 || die "module build failed: $OUT/module.log"

extra=()
case $IMPL in daemon) extra=(omss-daemon) ;; epoll) extra=(omss-epoll-relay) ;; esac
check_built "${extra[@]}"
RROOT=$OUT/relay-root
build_root "$RROOT" "${extra[@]}"
cp "$OUT/src/omss.ko" "$RROOT/omss/"
cp /usr/bin/perf "$RROOT/usr/bin/"
for lib in $(ldd /usr/bin/perf | grep -o '/[^ ]*'); do
	mkdir -p "$RROOT$(dirname "$lib")" && cp -L "$lib" "$RROOT$lib"
done
cp tools/bench/guest-relay.sh "$RROOT/omss/tests/"

RATE=256 IDLE=6 WARMUP=3 WINDOW=6 POINT_ENV="export PROFILE=1"
mkdir -p "$OUT/logs"
ns_up
point profile "$PROTO" "$IMPL" "$N" "$PAYLOAD" 0 >"$OUT/row" || die "the point failed"
tag=profile-$PROTO-$IMPL-$N-$PAYLOAD-0
echo "$COLS" | tr , '\n' | paste - <(tr , '\n' <"$OUT/row") | column -t
grep -E '^BENCH-RELAY ' "$OUT/logs/$tag.log"
sed -n '/^BENCH-PROFILE-BEGIN/,/^BENCH-PROFILE-END/p' "$OUT/logs/$tag.log"
