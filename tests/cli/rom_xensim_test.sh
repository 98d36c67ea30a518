#!/bin/bash
# The vGPU's expansion ROM through the production xvgpu-dm on xensimd, as a guest BIOS reaches it: ROM BAR sizing
# through CF8/CFC, enable, the whole image copied out with `rep movsl` into guest RAM and compared byte for byte with
# the file; hostile writes change nothing; rom=off reads 0; a hot-added vGPU gets the default ROM under seccomp; a bad
# ROM file stops xvgpu-dm with one line naming it.
# Usage: rom_xensim_test.sh BUILD_DIR
set -uo pipefail
build=$(cd "$1" && pwd)
dm=$build/src/dm/xvgpu-dm
ctl=$build/src/ctl/xvgpuctl
xensim=$build/src/xensim/xensim
rom=/usr/share/seabios/vgabios-bochs-display.bin
[[ -r $rom ]] || { echo "SKIP: $rom absent (package seabios)"; exit 77; }
# shellcheck source=xensim_env.sh
source "$(dirname "$0")/xensim_env.sh" xvgpu-rom
U1=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
U2=7f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
"$xensim" start >/dev/null || { echo "cannot start xensimd"; exit 1; }
mkdir -p "$XVGPU_RUN_DIR"
d=$("$xensim" create --vcpus 1 --ram 64)
pci() { "$xensim" pci "$d" "$@"; }
mmio_read() { "$xensim" io "$d" mmio read "$1" --size "$2" | awk '{ print $2 }'; }  # "ok 0xVALUE ioreqs=N"

# A bad ROM file: exit 2 before anything is created, one line naming the file and the problem.
printf 'not a rom' >"$tmp/bad.bin"
"$dm" --domain "$d" --control-socket "$tmp/run/x.sock" --pidfile "$tmp/run/x.pid" \
  --vgpu "uuid=$U1,type=simgpu-16,rom=$tmp/bad.bin" >"$tmp/out" 2>"$tmp/err"
check "bad ROM file: exit 2" test $? -eq 2
check "bad ROM file: one line naming file and problem" \
  bash -c "[[ \$(wc -l <'$tmp/err') -eq 1 ]] && grep -qF 'rom $tmp/bad.bin: 9 bytes: an option ROM is at least one 512-byte block' '$tmp/err'"
check "bad ROM file: no device model left" test ! -e "$tmp/run/x.pid"

# The default ROM (SeaVGABIOS for Bochs displays) on a simgpu vGPU.
check "start with the default ROM" "$ctl" start --domain "$d" --hot-add-room 32M --vgpu "uuid=$U1,type=simgpu-16,bdf=00:05.0" >/dev/null
"$xensim" unpause "$d"
size=$(stat -c %s "$rom")
bar=32768
while [[ $bar -lt $size ]]; do bar=$((bar * 2)); done
pci write 00:05.0 0x30 0xfffff800 >/dev/null
check "ROM BAR sizes to $bar bytes" test "$(pci read 00:05.0 0x30)" = "$(printf '0x%x' $((0xffffffff & ~(bar - 1))))"
romaddr=0xe8000000
pci write 00:05.0 0x30 $((romaddr | 1)) >/dev/null
pci write 00:05.0 0x04 0x2 --size 2 >/dev/null
check "ROM reads 55aa at its start" test "$(mmio_read $romaddr 2)" = 0xaa55
# What SeaBIOS's copy does: rep movsl from the ROM into RAM, one page per request.
dst=0x100000
for ((off = 0; off < size; off += 4096)); do
  n=$(((size - off) < 4096 ? (size - off) / 4 : 1024))
  "$xensim" io "$d" mmio read $((romaddr + off)) --size 4 --count $n --ptr $((dst + off)) >/dev/null
done
"$xensim" mem-read "$d" $dst "$size" | tr -d ' \n' >"$tmp/copied.hex"
od -An -v -tx1 "$rom" | tr -d ' \n' >"$tmp/want.hex"
check "rep movsl copy equals the ROM file ($size bytes)" cmp -s "$tmp/copied.hex" "$tmp/want.hex"
"$xensim" io "$d" mmio write $romaddr 0 --size 4 >/dev/null
"$xensim" io "$d" mmio write $((romaddr + 0x100)) 0xffffffffffffffff --size 8 >/dev/null
check "writes to the ROM change nothing" test "$(mmio_read $romaddr 2)" = 0xaa55
check "past the image reads erased" test "$(mmio_read $((romaddr + bar - 4)) 4)" = 0xffffffff
reads=$("$ctl" --json stats "$U1" | tr ',{}' '\n\n\n' | sed -n 's/.*"core.rom_reads"[^0-9]*\([0-9]*\).*/\1/p')
check "core.rom_reads counts the copy (${reads:-none} >= $((size / 4)))" test "${reads:-0}" -ge $((size / 4))
pci write 00:05.0 0x30 $romaddr >/dev/null
check "ROM disabled: not decoded" test "$(mmio_read $romaddr 2)" = 0xffff

# rom=off: no ROM BAR.
check "hot-add with rom=off" "$ctl" hot-add --domain "$d" "uuid=$U2,type=simgpu-16,bdf=00:06.0,rom=off" >/dev/null
pci write 00:06.0 0x30 0xffffffff >/dev/null
check "rom=off: the ROM BAR reads 0" test "$(pci read 00:06.0 0x30)" = 0x0

# A hot-add takes the default ROM too, under the serving phase's seccomp policy.
U3=8f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f
check "hot-add with the default ROM" "$ctl" hot-add --domain "$d" "uuid=$U3,type=simgpu-16,bdf=00:07.0" >/dev/null
pci write 00:07.0 0x30 0xfffff800 >/dev/null
check "hot-added vGPU: ROM BAR sizes to $bar bytes" \
  test "$(pci read 00:07.0 0x30)" = "$(printf '0x%x' $((0xffffffff & ~(bar - 1))))"
check "device model still serving" test "$(pci read 00:05.0 0x0)" = 0x11111234

echo "$fails failure(s)"
[[ $fails -eq 0 ]]
