# Sourced by the setup, build and test scripts: one place for paths and make variables.
# shellcheck shell=bash
OMSS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OMSS_CACHE=${OMSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/omss}
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
FRAGMENT=$OMSS_ROOT/tools/guest/fragment.config
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
export PATH=$HOME/.cargo/bin:$PATH
# Kernel side always uses Debian's rustc 1.96 (it has rust-src); never rustup's.
KMAKE_VARS=(ARCH=x86_64 LLVM=-19 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
	RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library BINDGEN=bindgen)

die() { echo "omss: error: $*" >&2; exit 1; }
say() { [ -n "${OMSS_QUIET:-}" ] || echo "omss: $*" >&2; }

# Cache key: fragment, kernel source version, rustc and bindgen versions.
kernel_key() {
	local kver rver bver
	kver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) || die "linux-source-6.12 not installed (run tools/setup.sh)"
	rver=$(/usr/bin/rustc --version 2>/dev/null) || die "/usr/bin/rustc missing (run tools/setup.sh)"
	bver=$(bindgen --version 2>/dev/null)
	printf '%s\n%s\n%s\n%s\n' "$kver" "$rver" "$bver" "$(cat "$FRAGMENT")" | sha256sum | cut -c1-16
}
kernel_dir() { echo "$OMSS_CACHE/kernel-$(kernel_key)"; }
