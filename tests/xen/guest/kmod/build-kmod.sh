#!/usr/bin/env bash
# Builds the guest test driver xt_engine.ko with Kbuild against Debian's headers for the guest kernel: the kernel the
# real-Xen runner boots as the guest (the newest /boot/vmlinuz-* with /lib/modules/KVER/modules.dep).
# Usage: build-kmod.sh [--skip-ok] OUT_DIR [WORK_DIR]
# Exit 0 built (OUT_DIR/xt_engine.ko); 77 skipped: no headers for the guest kernel (the stale module is removed, so the
# scenario reports its kernel-module checks SKIPPED, never passed); other: the build failed. --skip-ok (the CMake
# target): a skip prints its message and exits 0, so the rest of the build goes on.
set -euo pipefail
skip_rc=77
if [[ "${1:-}" == --skip-ok ]]; then
  skip_rc=0
  shift
fi
out=$1
work=${2:-$out/kmod-build}
src=$(cd "$(dirname "$0")" && pwd)
# Same choice as run-xen-test.py's kernel_version(): the last one in sorted order.
kver=$(for k in /boot/vmlinuz-*; do k=${k#/boot/vmlinuz-}; [[ -e /lib/modules/$k/modules.dep ]] && echo "$k"; done |
  LC_ALL=C sort | tail -n1)
mkdir -p "$out"
if [[ -z "$kver" || ! -e /lib/modules/$kver/build/Makefile ]]; then
  rm -f "$out/xt_engine.ko"
  echo "SKIP: xt_engine.ko not built: no kernel headers for the guest kernel ${kver:-(no /boot/vmlinuz-*)};" \
    "install linux-headers-amd64 (scripts/install-deps.sh --xen-lab)"
  exit $skip_rc
fi
mkdir -p "$work"
# Up to date when the sources, the kernel and its headers are those of the last build (the CMake target runs this
# script on every build: a new guest kernel must not leave a module with the old vermagic behind).
stamp="$kver $(cat "$src/xt_engine.c" "$src/Kbuild" "$0" | sha256sum | cut -c1-16) $(stat -c %Y "/lib/modules/$kver/build/Makefile")"
if [[ -f "$out/xt_engine.ko" && -f "$work/stamp" && "$(cat "$work/stamp")" == "$stamp" ]]; then
  exit 0
fi
rm -f "$work/stamp"
cp "$src/xt_engine.c" "$src/Kbuild" "$work/"
# Kbuild runs as a make of its own, not as a part of the caller's: CMake's Makefile generator runs this script from a
# recipe that is not marked recursive, so make hands down its -j and jobserver in MAKEFLAGS but not the jobserver's
# descriptors. One object file gains nothing from parallel jobs.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "/lib/modules/$kver/build" M="$work" modules \
  >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  rm -f "$out/xt_engine.ko"
  echo "build-kmod: building xt_engine.ko for $kver failed" >&2
  exit 1
fi
# Warnings fail the build: the module is test code held to the project's standard. Only the toolchain's (compiler,
# assembler, linker, objtool): make's own messages ("make[2]: warning: ...") are about make. One may follow another
# tool's message on the same line (Kbuild's BTF notice ends without a newline), so make's is cut wherever it starts.
if sed -E 's/g?make(\[[0-9]+\])?: warning: .*$//' "$work/build.log" | grep -q 'warning:'; then
  cat "$work/build.log" >&2
  rm -f "$out/xt_engine.ko"
  echo "build-kmod: xt_engine.ko has compiler warnings" >&2
  exit 1
fi
# Without debug info (400 KB -> ~30 KB): the HVM guest image is loaded byte by byte through fw_cfg.
strip --strip-debug -o "$out/xt_engine.ko.tmp" "$work/xt_engine.ko"
mv -f "$out/xt_engine.ko.tmp" "$out/xt_engine.ko"
echo "$stamp" >"$work/stamp"
echo "build-kmod: xt_engine.ko for $kver"
