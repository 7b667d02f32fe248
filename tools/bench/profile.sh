#!/usr/bin/env bash
# Profiles one benchmark point: where the relay host's CPU goes, by `perf record -a` in
# the relay guest over the measurement window (cpu-clock samples, kernel and user; self
# time per symbol: the tiny kernel has no frame-pointer unwinder, so no call graphs).
#   tools/bench/profile.sh IMPL PROTO N [PAYLOAD]     e.g. tools/bench/profile.sh omss udp 800
# Needs a guest kernel with PERF_EVENTS: it builds one once beside the test kernel (the test
# kernel stays perf-less and small), builds omss.ko against it in build/profile, and puts
# Debian's perf (package linux-perf) into the relay guest. Output: build/profile/*.log.
set -uo pipefail
. "$(dirname "$0")/../../tests/qemu/lib.sh"
. "$(dirname "$0")/link.sh"
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
RROOT=$OUT/relay-root LROOT=$OUT/load-root
build_root "$RROOT" "${extra[@]}"
build_root "$LROOT"
cp "$OUT/src/omss.ko" "$RROOT/omss/"
cp /usr/bin/perf "$RROOT/usr/bin/"
for lib in $(ldd /usr/bin/perf | grep -o '/[^ ]*'); do
	mkdir -p "$RROOT$(dirname "$lib")" && cp -L "$lib" "$RROOT$lib"
done
for r in "$RROOT" "$LROOT"; do cp tools/bench/guest-relay.sh tools/bench/guest-load.sh "$r/omss/tests/"; done

RATE=256 WARMUP=3 WINDOW=6
pps=$(awk "BEGIN { print $RATE * 1000 / ($PAYLOAD * 8) }")
count=$(awk "BEGIN { printf \"%d\", $pps * ($WARMUP + $WINDOW + 6) + 10 }")
env="export IMPL=$IMPL PROTO=$PROTO N=$N PAYLOAD=$PAYLOAD COUNT=$count RATE=$RATE WARMUP=$WARMUP WINDOW=$WINDOW PROFILE=1"
printf '%s\nexport OMSS_SCRIPT=guest-relay.sh\n' "$env" >"$RROOT/omss/env"
printf '%s\nexport OMSS_SCRIPT=guest-load.sh\n' "$env" >"$LROOT/omss/env"
pack_initramfs "$RROOT" "$OUT/relay.gz"
pack_initramfs "$LROOT" "$OUT/load.gz"
tag=$IMPL-$PROTO-$N-$PAYLOAD port=$((23000 + RANDOM % 1000))
link_up
# shellcheck disable=SC2046 # link_args gives several words
boot_guest "$OUT/relay.gz" "$OUT/$tag-relay.log" 900 $(link_args 0 $port) &
rpid=$!
sleep 1
# shellcheck disable=SC2046
BZIMAGE=$(kernel_dir)/arch/x86/boot/bzImage boot_guest "$OUT/load.gz" "$OUT/$tag-load.log" 900 $(link_args 1 $port)
wait $rpid
grep -E '^BENCH-(RELAY|LOAD) ' "$OUT/$tag-relay.log" "$OUT/$tag-load.log"
sed -n '/^BENCH-PROFILE-BEGIN/,/^BENCH-PROFILE-END/p' "$OUT/$tag-relay.log"
