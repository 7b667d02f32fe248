#!/usr/bin/env bash
# Installs what OMSS needs and builds the cached guest kernel. Idempotent; quiet when all is there.
set -euo pipefail
. "$(dirname "$0")/guest/env.sh"

PKGS=(linux-source-6.12 rustc-web rust-web-src clang-19 lld-19 llvm-19 libclang-19-dev
	flex bison bc libelf-dev libssl-dev cpio kmod dwarves qemu-system-x86 busybox-static
	iproute2 gcc libc6-dev xz-utils)

install_packages() {
	local missing=() p
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing packages: ${missing[*]}"
	local sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
		|| die "apt-get install failed for: ${missing[*]}"
}

install_bindgen() {
	[ "$(bindgen --version 2>/dev/null)" = "bindgen 0.69.5" ] && return 0
	command -v cargo >/dev/null || die "cargo not found: a Rust toolchain is needed for bindgen-cli and the tools"
	say "installing bindgen-cli 0.69.5"
	cargo install -q bindgen-cli --version 0.69.5 --locked || die "cargo install bindgen-cli failed"
}

install_rust_components() {
	# rustfmt and clippy for host checks; harmless if already present.
	command -v rustup >/dev/null || return 0
	cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt >/dev/null 2>&1 || die "rustfmt unavailable"
	cargo clippy --version >/dev/null 2>&1 || rustup component add clippy >/dev/null 2>&1 || die "clippy unavailable"
}

# build_kernel FLAVOUR: tinyconfig plus the flavour's fragments, cached by kernel_key.
build_kernel() {
	local flavour=$1 kdir src kver frags
	kdir=$(kernel_dir "$flavour")
	frags=$(kernel_fragments "$flavour")
	[ -f "$kdir/.omss-complete" ] && return 0
	kver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
	src=$OMSS_CACHE/src-$kver
	mkdir -p "$OMSS_CACHE"
	if [ ! -f "$src/.omss-unpacked" ]; then
		say "unpacking kernel source $kver"
		rm -rf "$src" && mkdir -p "$src"
		tar -xf "$KSRC_TARBALL" -C "$src" --strip-components=1 || die "cannot unpack $KSRC_TARBALL"
		touch "$src/.omss-unpacked"
	fi
	say "building the $flavour guest kernel in $kdir (10-15 minutes on 2 cores)"
	rm -rf "$kdir" && mkdir -p "$kdir"
	local log=$kdir/build.log
	{
		make -C "$src" O="$kdir" "${KMAKE_VARS[@]}" tinyconfig &&
		# shellcheck disable=SC2086
		"$src/scripts/kconfig/merge_config.sh" -m -O "$kdir" "$kdir/.config" $frags &&
		make -C "$src" O="$kdir" "${KMAKE_VARS[@]}" olddefconfig &&
		make -C "$src" O="$kdir" "${KMAKE_VARS[@]}" -j"$(($(nproc) + 1))" bzImage &&
		make -C "$src" O="$kdir" "${KMAKE_VARS[@]}" -j"$(nproc)" modules
	} >"$log" 2>&1 || { tail -30 "$log" >&2; die "guest kernel build failed; full log: $log"; }
	# Every fragment option must have survived olddefconfig.
	local line missing=0
	# shellcheck disable=SC2086
	while read -r line; do
		case "$line" in CONFIG_*=*) grep -qx "$line" "$kdir/.config" || { echo "omss: not set in kernel: $line" >&2; missing=1; } ;; esac
	done < <(cat $frags)
	[ $missing -eq 0 ] || die "kernel config lacks fragment options (see above)"
	[ -f "$kdir/Module.symvers" ] || die "Module.symvers missing after build"
	touch "$kdir/.omss-complete"
	say "$flavour guest kernel ready: $kdir/arch/x86/boot/bzImage"
}

install_packages
install_bindgen
install_rust_components
# The normal kernel always; the debug one too unless OMSS_SETUP_KERNELS says otherwise.
for flavour in ${OMSS_SETUP_KERNELS:-normal debug}; do build_kernel "$flavour"; done
