# Sourced by the setup, build and test scripts: one place for paths and make variables.
# shellcheck shell=bash
OMSS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OMSS_CACHE=${OMSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/omss}
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
FRAGMENT=$OMSS_ROOT/tools/guest/fragment.config
DEBUG_FRAGMENT=$OMSS_ROOT/tools/guest/debug.config
# Which guest kernel: "normal" (the tree's omss.ko) or "debug" (lockdep, KASAN, kmemleak...;
# its omss.ko is build/debug/omss.ko).
OMSS_KERNEL=${OMSS_KERNEL:-normal}
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
export PATH=$HOME/.cargo/bin:$PATH
# Kernel side always uses Debian's rustc 1.96 (it has rust-src); never rustup's.
KMAKE_VARS=(ARCH=x86_64 LLVM=-19 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
	RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library BINDGEN=bindgen)

die() { echo "omss: error: $*" >&2; exit 1; }
say() { [ -n "${OMSS_QUIET:-}" ] || echo "omss: $*" >&2; }

# The config fragments of flavour $1 (default $OMSS_KERNEL), in merge order.
kernel_fragments() {
	case ${1:-$OMSS_KERNEL} in
	normal) echo "$FRAGMENT" ;;
	debug) echo "$FRAGMENT $DEBUG_FRAGMENT" ;;
	*) die "unknown kernel flavour '${1:-$OMSS_KERNEL}' (normal or debug)" ;;
	esac
}
# Cache key of flavour $1: its fragments, kernel source version, rustc and bindgen versions.
kernel_key() {
	local kver rver bver frags
	kver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || die "linux-source-6.12 not installed (run tools/setup.sh)"
	rver=$(/usr/bin/rustc --version 2>/dev/null) || die "/usr/bin/rustc missing (run tools/setup.sh)"
	bver=$(bindgen --version 2>/dev/null)
	frags=$(kernel_fragments "${1:-}") || exit 1
	# shellcheck disable=SC2086
	printf '%s\n%s\n%s\n%s\n' "$kver" "$rver" "$bver" "$(cat $frags)" | sha256sum | cut -c1-16
}
# The cached build directory of flavour $1 (default $OMSS_KERNEL).
kernel_dir() {
	local f=${1:-$OMSS_KERNEL} key
	key=$(kernel_key "$f") || exit 1
	case $f in normal) echo "$OMSS_CACHE/kernel-$key" ;; *) echo "$OMSS_CACHE/kernel-$f-$key" ;; esac
}
# The omss.ko built for flavour $1 (default $OMSS_KERNEL).
# OMSS_MODULE_KO overrides it (A/B runs of module variants).
module_ko() {
	[ -n "${OMSS_MODULE_KO:-}" ] && { echo "$OMSS_MODULE_KO"; return; }
	case ${1:-$OMSS_KERNEL} in normal) echo "$OMSS_ROOT/omss.ko" ;; *) echo "$OMSS_ROOT/build/${1:-$OMSS_KERNEL}/omss.ko" ;; esac
}
