#!/usr/bin/env bash
# Builds the dom0 base initramfs from the host's Debian packages: busybox, the Xen 4.17 toolstack (xl, xenstored,
# xenconsoled, xen-init-dom0) with its libraries, qemu-xen and the firmware an HVM guest needs, the dom0 kernel
# modules, and the guest kernel. The per-run files (scenario, guest initramfs, xvgpu binaries) go into a second
# archive that the runner appends (Linux unpacks concatenated cpio archives in order).
# Usage: mkinitramfs-dom0.sh OUT.cpio KVER
set -euo pipefail
out=$1
kver=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/rootfs.sh
. "$here/lib/rootfs.sh"

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/xvgpu-dom0.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

add_busybox
# The project's xl-scripts are bash scripts.
add_exe /usr/bin/bash
xenbin=/usr/lib/xen-4.17/bin
add_exe "$xenbin"/xl "$xenbin"/xenstored "$xenbin"/xenconsoled "$xenbin"/xen-init-dom0 "$xenbin"/xenconsole \
  "$xenbin"/libxl-save-helper "$xenbin"/xenstore-control "$xenbin"/xenctx /usr/bin/xenstore-read /usr/bin/xenstore-write \
  /usr/bin/xenstore-ls
# glibc dlopens libgcc_s for pthread_cancel; without it xl aborts at exit.
add_file "$(canon_path /lib/x86_64-linux-gnu/libgcc_s.so.1)"
mkdir -p "$ROOT"/etc/xen
cp -a /etc/xen/xl.conf "$ROOT"/etc/xen/

# HVM: qemu-xen, hvmloader, SeaBIOS, the option ROMs for direct kernel boot and the keymaps qemu-xen reads.
add_exe /usr/libexec/xen-qemu-system-i386
add_file /usr/lib/xen-4.17/boot/hvmloader
add_file /usr/share/seabios/bios-256k.bin
for f in linuxboot.bin linuxboot_dma.bin kvmvapic.bin; do add_file /usr/share/qemu/$f; done
mkdir -p "$ROOT"/usr/share/qemu
cp -a /usr/share/qemu/keymaps "$ROOT"/usr/share/qemu/

add_modules "$kver" /etc/xentest/dom0-modules xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs

# The guest kernel (the same Debian kernel boots as PVH and HVM guest). HVM boots the bzImage through qemu-xen; a
# PVH guest gets the ELF inside it, unpacked here once: unpacking the xz payload in dom0 under TCG takes seconds.
add_file "/boot/vmlinuz-$kver" /var/lib/xentest/vmlinuz
python3 - "/boot/vmlinuz-$kver" "$ROOT"/var/lib/xentest/vmlinux <<'PY'
import gzip, lzma, sys
data = open(sys.argv[1], "rb").read()
for magic, unpack in ((b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(b)),
                      (b"\x1f\x8b\x08", lambda b: gzip.GzipFile(fileobj=__import__("io").BytesIO(b)).read1(1 << 30))):
    at = data.find(magic)
    while at >= 0:
        try:
            elf = unpack(data[at:])
        except Exception:
            elf = b""
        if elf[:4] == b"\x7fELF":
            open(sys.argv[2], "wb").write(elf)
            sys.exit(0)
        at = data.find(magic, at + 1)
sys.exit("cannot find the ELF kernel inside " + sys.argv[1])
PY

install -m 0755 "$here"/dom0/init "$ROOT"/init
install -m 0644 "$here"/dom0/lib.sh "$ROOT"/etc/xentest/lib.sh
echo "$kver" >"$ROOT"/etc/xentest/kver

pack_cpio "$out"
