#!/usr/bin/env bash
# Builds the guest initramfs: busybox, pciutils' lspci, the bochs DRM modules of the guest kernel (loaded only by the
# tasks that want them), the guest tasks and the static guest test programs.
# Writes OUT.cpio (plain, for PVH: libxenguest loads it by memcpy) and OUT.cpio.xz (for HVM: qemu-xen's direct kernel
# boot feeds kernel and initramfs through fw_cfg one byte per I/O, about 5-10 us a byte under TCG, so size is time).
# pci.ids is left out for the same reason: lspci then prints numeric IDs.
# Usage: mkinitramfs-guest.sh OUT.cpio KVER [GUEST_TOOLS_DIR]
set -euo pipefail
out=$1
kver=$2
tools=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/rootfs.sh
. "$here/lib/rootfs.sh"

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/xvgpu-guest.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

add_busybox
add_exe /usr/bin/lspci /usr/bin/setpci /usr/bin/xenstore-read /usr/bin/xenstore-write
# lspci's libkmod (and through it libcrypto, libzstd, liblzma: half of the xz image) replaced by a stub that reports
# "no module index", which is all the real one can say in this guest (guest/libkmod-stub.c). Without a C compiler
# the real libraries stay.
kmod_lib=$(canon_path "$(ldd /usr/bin/lspci | grep -oE '/[^ ]+/libkmod\.so\.2')")
printf 'LIBKMOD_5 { global: kmod_*; local: *; };\n' >"$ROOT/kmod.map"
if cc -shared -fPIC -O2 -Wl,-soname,libkmod.so.2 -Wl,--version-script="$ROOT/kmod.map" -o "$ROOT/kmod.so" \
  "$here"/guest/libkmod-stub.c; then
  mv -f "$ROOT/kmod.so" "$ROOT$kmod_lib"
  for lib in libcrypto.so.3 libzstd.so.1 liblzma.so.5; do
    users=$(find "$ROOT" -type f ! -name "$lib" -exec sh -c 'readelf -d "$1" 2>/dev/null | grep -qF "[$2]"' _ {} "$lib" \; -print)
    [[ -n "$users" ]] || rm -f "$ROOT$(dirname "$kmod_lib")/$lib"
  done
fi
rm -f "$ROOT/kmod.map" "$ROOT/kmod.so"
add_modules "$kver" /etc/xentest/bochs-modules bochs
# evdev: task input reads the guest's keyboard and mouse through /dev/input (i8042 and the PS/2 keyboard are built
# in, the PS/2 mouse driver is psmouse).
add_modules "$kver" /etc/xentest/input-modules evdev psmouse
install -m 0755 "$here"/guest/init "$ROOT"/init
mkdir -p "$ROOT"/xentest/tasks "$ROOT"/xentest/bin
cp "$here"/guest/tasks/*.sh "$ROOT"/xentest/tasks/
install -m 0644 "$here"/guest/lib.sh "$ROOT"/xentest/lib.sh
if [[ -n "$tools" && -d "$tools" ]]; then
  find "$tools" -maxdepth 1 -type f -perm -u+x -exec cp {} "$ROOT"/xentest/bin/ \;
  find "$tools" -maxdepth 1 -type f -name '*.ko' -exec cp {} "$ROOT"/xentest/bin/ \;
fi
pack_cpio "$out"
xz -6 --check=crc32 -T0 -c "$out" >"$out.xz.tmp"
mv -f "$out.xz.tmp" "$out.xz"
