# vGPU on an HVM guest (qemu-xen, hvmloader places the BARs). xvgpu-dm is started by the xl.cfg
# device_model_override wrapper (xl-scripts/xvgpu-qemu-wrapper) as a second ioreq server beside qemu-xen, which also
# emulates a bochs-display at 00:07.0 as the performance reference (videoram=16 gives qemu-xen room in the domain's
# memory limit for its 16 MiB VRAM; with vga="none" libxl would reserve none). xt_write_cfg boots the ELF kernel
# through qemu-xen's PVH loader and puts the guest's vCPU on dom0's physical CPU (both: see there). The guest uses
# vt.global_cursor_default=0 (the fbcon cursor would blink over the drawn pattern before the screenshot) and
# iomem=relaxed (once bochs-drm holds the BARs, the workload's sysfs mmap of them is refused otherwise). One guest boot:
#   hvm-vgpu-dm-started          the wrapper started xvgpu-dm for the domain before qemu-xen
#   hvm-firmware-text            issue 15: with vga="none", SeaBIOS ran the vGPU's expansion ROM (SeaVGABIOS): row 0
#                                of the vGPU's screen reads "SeaBIOS (version V)" before the guest kernel printed
#   hvm-rom-read                 ... and read the whole ROM through the ROM BAR (core.rom_reads)
#   hvm-guest-runs               the guest prints the marker of this run's nonce
#   hvm-vgpu-lspci               scenario 1: lspci -vvv shows 1234:1111 class 0300, its BARs, the MSI capability
#   hvm-vgpu-vram-direct         VRAM written through BAR0 reads back intact
#   hvm-perf-measured            performance side by side (vGPU against qemu-xen's bochs-display): register read and
#                                VRAM fill per 4 KiB page were measured on both (figures non-zero, fills intact);
#                                the figures and ratios are printed as metrics, not asserted
#   hvm-hostile-guest            scenario 6: odd sizes, rep across BAR2's end, read-only config writes, junk engine
#                                descriptors: conformant answers, xvgpu-dm survives
#   hvm-probe-*                  issue 13: value-checking probes of xt-hostile (rep stos/movs into registers, reads
#                                of every size and alignment, BAR sizing, decode off, a guest BAR move, ...)
#   hvm-timeoffset               issue 13: hwclock -w one day forward, then back: xvgpu-dm got TIMEOFFSETs of
#                                +86400 and -86400 s through the buffered ring
#   hvm-buffered-only-timeoffset issue 13: every buffered ioreq xvgpu-dm took was a TIMEOFFSET
#   hvm-kmod-engine-copy         scenario 3: the guest kernel module xt_engine copies guest memory <-> VRAM through
#                                the engine; checksums right, MSIs counted exactly and equal to xvgpu-dm's count
#   hvm-invalidate               issue 13: the guest balloons 32 MiB down during an engine copy: INVALIDATE counted,
#                                the copy completes with every checksum right
#   hvm-intx                     issue 13: the module again with MSI off (INTx): interrupts = flagged descriptors
#   hvm-bochs-binds              scenario 2: the guest's bochs DRM driver binds and gives a framebuffer
#   hvm-screenshot-matches       scenario 2: xvgpuctl screenshot equals the pattern the guest drew, pixel for pixel
#   hvm-draw-ioreqs-near-zero    scenario 2: drawing the frame cost < 1 ioreq per 100 pixels
#   hvm-destroy-mid-workload     scenario 5: xl destroy while the guest works; xvgpu-dm exits cleanly by itself
#   hvm-vnc-capture-matches      the console through real clients on the host (QEMU user network, host-vnc-check.py):
#                                vnccapture's PNG equals xvgpuctl screenshot pixel for pixel
#   hvm-vnc-snapshot-matches     ... vncsnapshot's JPEG is within JPEG error of it (both times)
#   hvm-vnc-capture-after-mode-change  ... again after the guest set 800x600
#   hvm-vnc-input-reaches-guest  keys typed into the console by Net::VNC reach the guest's PS/2 keyboard (evdev)
#                                through qemu-xen's QMP: the exact Linux key codes
#   hvm-vnc-pointer-reaches-guest  ... and its pointer moves and clicks the guest's PS/2 mouse: the exact motion and
#                                buttons
#   hvm-novnc-shows-frame        noVNC in headless Chromium on the host shows the screenshot's frame (and -mode2 after
#                                the mode change)
#   hvm-dm-gone-within-1s        ... and has exited at most 1 s after xl destroy returned (the domain's death;
#                                metric hvm-dm-exit-after-domain-death)
# checks: hvm-vgpu-dm-started hvm-guest-runs hvm-vgpu-lspci hvm-vgpu-vram-direct hvm-perf-measured
# checks: hvm-hostile-guest hvm-kmod-engine-copy hvm-bochs-binds hvm-screenshot-matches hvm-draw-ioreqs-near-zero hvm-destroy-mid-workload hvm-dm-gone-within-1s
# checks: hvm-probe-config-ro hvm-probe-read-sizes hvm-probe-past-end hvm-probe-rep-stos-up hvm-probe-rep-stos-down hvm-probe-rep-movs
# checks: hvm-probe-rep-across hvm-probe-bar-sizing hvm-probe-decode-off hvm-probe-bar-move hvm-probe-engine-junk hvm-probe-alive
# checks: hvm-timeoffset hvm-buffered-only-timeoffset hvm-invalidate hvm-intx
# checks: hvm-firmware-text hvm-rom-read
# checks: hvm-vnc-capture-matches hvm-vnc-snapshot-matches hvm-vnc-capture-after-mode-change hvm-vnc-input-reaches-guest
# checks: hvm-novnc-shows-frame hvm-novnc-shows-frame-mode2 hvm-vnc-pointer-reaches-guest
# needs: dm ctl xl-scripts guest-tools dom0-tools
# host-vnc-port: 5900
# timeout: 900
. /etc/xentest/lib.sh
name=vgpu-hvm
type=simgpu-64
nonce=$(xt_new_nonce)
uuid=$(xt_new_nonce)
before=$(xt_available $type)
xt_pin_dom0
XT_KMOD=copy
XT_RTC=1
XT_BALLOON_MB=32
# The vGPU's console on dom0's lab-network address, captured by real VNC clients on the host (xt_check_vnc).
XT_VNC_PORT=5900
XT_VNC_MODE=800x600
# Typed into the console (Shift+x, v, g, p, u, Return): the guest's keyboard must get these Linux key codes.
XT_INPUT_TEXT=Xvgpu
XT_INPUT_CODES=42,45,47,34,25,22,28
XT_INTX=1
XT_GUEST_CMDLINE="vt.global_cursor_default=0 iomem=relaxed xentest.vgpu=0000:00:05.0 xentest.refdev=0000:00:07.0 xentest.balloon_mb=$XT_BALLOON_MB xentest.vnc_mode=$XT_VNC_MODE xentest.input_keys=7 xentest.intx=$XT_INTX" \
  xt_write_cfg /tmp/$name.cfg $name hvm "$nonce" "bootlog,lspci,perf,hostile,rtc,kmod,fbpattern,input,workload" \
  "videoram = 16" \
  "device_model_override = \"$XT_XL_SCRIPTS/xvgpu-qemu-wrapper\"" \
  "device_model_args = [ \"-xvgpu\", \"uuid=$uuid,type=$type,bdf=00:05.0,vnc=10.0.2.15:$XT_VNC_PORT\", \"-device\", \"bochs-display,addr=07.0,romfile=\" ]"
t0=$(xt_uptime)
if ! xl create -p /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
  xt_dump $name
  xt_fail hvm-vgpu-dm-started "xl create -p with the wrapper failed"
  exit 1
fi
xt_time hvm-create-paused "$(xt_since "$t0")"
domid=$(xl domid $name)
dmpid=$(xt_dm_pid "$domid")
if [ -n "$dmpid" ] && xvgpuctl status --domain "$domid" >/tmp/$name-status.txt 2>&1; then
  xt_pass hvm-vgpu-dm-started "xvgpu-dm pid $dmpid serves domain $domid"
  sed 's/^/[xvgpuctl status] /' /tmp/$name-status.txt
else
  cat /tmp/$name-status.txt
  xt_dump $name
  xt_fail hvm-vgpu-dm-started "no xvgpu-dm for domain $domid"
  exit 1
fi
xl unpause $name
xt_check_firmware_text hvm "$domid" "$uuid" "$(xt_console_log "$name")"
xt_vgpu_flow hvm $name "$domid" "$uuid" $type 64M "$before" "$nonce"
