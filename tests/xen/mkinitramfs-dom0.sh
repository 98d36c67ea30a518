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
# SeaVGABIOS for Bochs displays: xvgpu-dm's default expansion ROM for simgpu vGPUs.
add_file /usr/share/seabios/vgabios-bochs-display.bin
# pvh.bin: qemu-xen loads an ELF kernel with a PVH entry note straight into guest memory and starts it through
# this ROM (machine xenfv-4.2), so only the initramfs is read through the slow byte-wise fw_cfg port.
for f in linuxboot.bin linuxboot_dma.bin kvmvapic.bin pvh.bin; do add_file /usr/share/qemu/$f; done
mkdir -p "$ROOT"/usr/share/qemu
cp -a /usr/share/qemu/keymaps "$ROOT"/usr/share/qemu/

add_modules "$kver" /etc/xentest/dom0-modules xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs
# The lab network's card (QEMU's e1000, scenarios with `# host-vnc-port:`); init loads it only when the card is there.
add_modules "$kver" /etc/xentest/dom0-net-modules e1000

# The guest kernel (the same Debian kernel boots as PVH and HVM guest): the ELF inside the bzImage, unpacked here once
# (unpacking the xz payload in dom0 under TCG takes seconds); HVM guests get it repackaged below.
mkdir -p "$ROOT"/var/lib/xentest
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

# HVM guests boot the same ELF through qemu-xen's PVH loader (pvh.bin, machine xenfv-4.2): QEMU copies it into guest
# memory at once, where the bzImage would be read byte by byte through fw_cfg (about a minute under TCG). qemu-xen is
# qemu-system-i386 and loads only 32-bit ELF files, so the loadable segments (at their physical addresses, trailing
# zeros left to the loader) and the Xen notes (the PVH entry) are repackaged as an ELF32 file.
python3 - "$ROOT"/var/lib/xentest/vmlinux "$ROOT"/var/lib/xentest/vmlinux.elf32 <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
elf = open(src, "rb").read()
assert elf[:4] == b"\x7fELF" and elf[4] == 2, "not an ELF64 file"
phoff, = struct.unpack_from("<Q", elf, 32)
phentsize, phnum = struct.unpack_from("<HH", elf, 54)
loads, notes = [], []
for i in range(phnum):
    p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = struct.unpack_from(
        "<IIQQQQQQ", elf, phoff + i * phentsize)
    data = elf[p_offset:p_offset + p_filesz]
    if p_type == 1:
        data = data.rstrip(b"\0")  # the loader zero-fills up to p_memsz
        assert p_paddr + p_memsz < 1 << 32
        loads.append((p_flags, p_paddr, data, p_memsz))
    elif p_type == 4:
        notes.append(data)
phdrs = [(1, f, pa, d, m) for f, pa, d, m in loads] + [(4, 4, 0, n, len(n)) for n in notes]
off = 52 + 32 * len(phdrs)
out_ph, out_data = b"", b""
for t, f, pa, d, m in phdrs:
    pad = (-off) % 16
    out_data += b"\0" * pad
    off += pad
    out_ph += struct.pack("<IIIIIIII", t, off, pa, pa, len(d), m, f, 4 if t == 4 else 16)
    out_data += d
    off += len(d)
hdr = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack("<HHIIIIIHHHHHH", 2, 3, 1, loads[0][1], 52, 0, 0, 52, 32,
                                                         len(phdrs), 40, 0, 0)
open(dst, "wb").write(hdr + out_ph + out_data)
PY

install -m 0755 "$here"/dom0/init "$ROOT"/init
install -m 0644 "$here"/dom0/lib.sh "$ROOT"/etc/xentest/lib.sh
echo "$kver" >"$ROOT"/etc/xentest/kver

pack_cpio "$out"
