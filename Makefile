# SPDX-License-Identifier: GPL-2.0
# OMSS: `make` builds omss.ko; `make run` demonstrates it in a QEMU guest; `make check` tests.
# Kbuild reads ./Kbuild, not this file.

KMAKE := ARCH=x86_64 LLVM=-19 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
	RUST_LIB_SRC=/usr/lib/rustlib/src/rust/library BINDGEN=bindgen
export LIBCLANG_PATH ?= /usr/lib/llvm-19/lib

# The cached guest kernel unless KDIR names another CONFIG_RUST tree built by the same rustc.
ifeq ($(origin KDIR), undefined)
OWN_KERNEL := 1
endif

.PHONY: all module module-debug setup tools run check host-check qemu-check bench clean

all: module

# Packages and the normal guest kernel; module-debug adds the debug kernel.
setup:
	@OMSS_SETUP_KERNELS=normal tools/setup.sh

ifdef OWN_KERNEL
module: setup
	@$(MAKE) --no-print-directory module KDIR="$$(tools/guest/kdir.sh)"
else
module:
	@test -f "$(KDIR)/Module.symvers" || { echo "omss: error: $(KDIR) is not a built kernel tree (no Module.symvers)" >&2; exit 1; }
	$(MAKE) -C "$(KDIR)" M="$(CURDIR)" $(KMAKE) modules
endif

# omss.ko for the debug guest kernel (lockdep, KASAN, kmemleak): build/debug/omss.ko.
module-debug:
	@OMSS_SETUP_KERNELS=debug tools/setup.sh
	@tools/guest/build-module.sh debug

tools:
	@tools/build-tools.sh

run: module tools
	@tests/qemu/run.sh --demo

check: module tools
	@tests/check.sh

# QUICK=1: a 10-minute subset into build/bench; otherwise the full run, written into docs/.
bench: module tools
	@if [ -n "$(QUICK)" ]; then tools/bench/run.sh --quick; else tools/bench/run.sh --docs; fi

clean:
	@if [ -n "$(KDIR)" ] || OMSS_QUIET=1 tools/guest/kdir.sh >/dev/null 2>&1; then \
		$(MAKE) -C "$${KDIR:-$$(tools/guest/kdir.sh)}" M="$(CURDIR)" $(KMAKE) clean; fi
	rm -rf build target
