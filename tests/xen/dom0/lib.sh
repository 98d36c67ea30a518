# Helpers for dom0 scenarios (sourced). Verdict lines are printed with printf so that the marker text never appears
# literally in a script echo; the runner reads them from the serial log.

xt_uptime() { cut -d' ' -f1 /proc/uptime; }
xt_log() { printf 'xentest: %s\n' "$*"; }
xt_stage() { printf 'XENTEST-%s %s %s\n' STAGE "$1" "$(xt_uptime)"; }
xt_time() { printf 'XENTEST-%s %s %s\n' TIME "$1" "$2"; }
xt_metric() { printf 'XENTEST-%s %s %s %s\n' METRIC "$1" "$2" "$3"; }
xt_pass() { printf 'XENTEST-%s %s %s\n' PASS "$1" "${2:-}"; }
xt_fail() { printf 'XENTEST-%s %s %s\n' FAIL "$1" "${2:-}"; }
xt_skip() { printf 'XENTEST-%s %s %s\n' SKIP "$1" "${2:-}"; }
xt_fatal() {
  printf 'XENTEST-%s %s %s\n' FAIL dom0-setup "$*"
  printf 'XENTEST-%s\n' DONE
  sync
  poweroff -f
}

# Seconds elapsed since uptime value $1, two decimals.
xt_since() { awk -v a="$1" -v b="$(xt_uptime)" 'BEGIN { printf "%.2f", b - a }'; }

# xt_wait_grep FILE REGEX TIMEOUT_S: poll until FILE has a line matching REGEX (grep -E).
xt_wait_grep() {
  local file=$1 re=$2 limit=$3 start
  start=$(xt_uptime)
  while :; do
    [ -f "$file" ] && grep -qE "$re" "$file" && return 0
    awk -v a="$start" -v b="$(xt_uptime)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && return 1
    sleep 0.2
  done
}

# xt_wait_gone NAME TIMEOUT_S: poll until domain NAME no longer exists.
xt_wait_gone() {
  local name=$1 limit=$2 start
  start=$(xt_uptime)
  while xl domid "$name" >/dev/null 2>&1; do
    awk -v a="$start" -v b="$(xt_uptime)" -v l="$limit" 'BEGIN { exit !(b - a > l) }' && return 1
    sleep 0.2
  done
  return 0
}

# Console log that xenconsoled writes for guest NAME.
xt_console_log() { echo "/var/log/xen/console/guest-$1.log"; }

# The marker a guest prints for a nonce: not the nonce itself (that is echoed on the kernel command line).
xt_marker() { printf '%s' "$1" | sha256sum | cut -c1-16; }

xt_new_nonce() { cat /proc/sys/kernel/random/uuid; }

# xt_scenario_arg KEY DEFAULT: the value of the runner's --scenario-arg KEY=VALUE (xentest.KEY=VALUE on dom0's
# command line), or DEFAULT.
xt_scenario_arg() {
  local a
  for a in $(cat /proc/cmdline); do
    case "$a" in "xentest.$1="*) printf '%s' "${a#*=}"; return 0 ;; esac
  done
  printf '%s' "$2"
}

# xt_guest_started NAME [DOMID]: tells the runner that guest NAME has reached its first marker (the GUEST-MARKER line
# of its init, printed before any task touches the vGPU). A triple fault of that domain before this line is a lab
# fault (QEMU's nested SVM emulation, docs/real-xen-testing.md "Lab faults") and the runner boots the scenario again;
# after it, the fault fails the test. Called by the helpers that wait for the marker; a scenario that waits by other
# means calls it itself. Pass DOMID when the guest may already have powered itself off.
xt_guest_started() {
  printf 'XENTEST-%s domid=%s name=%s\n' GUEST-STARTED "${2:-$(xl domid "$1" 2>/dev/null)}" "$1"
}

# xt_relay FILE LABEL: copy a log into dom0's console, prefixed, with verdict markers defused.
xt_relay() {
  [ "$1" = - ] || [ -e "$1" ] || { xt_log "($1 missing)"; return 0; }
  sed -e 's/XENTEST-/xentest-/g' -e "s/^/[$2] /" "$1"
}

# xt_dump NAME: the logs that explain a failure of guest NAME.
xt_dump() {
  local f
  xt_log "---- logs for $1 ----"
  xl list 2>&1 | sed 's/^/[xl list] /'
  for f in /var/log/xen/xl-"$1".log /var/log/xen/qemu-dm-"$1".log /var/log/xen/console/guest-"$1".log \
    /tmp/"$1"-create.log /run/xvgpu/dm-*.log; do
    [ -f "$f" ] && tail -n 150 "$f" | sed -e 's/XENTEST-/xentest-/g' -e "s|^|[${f##*/}] |"
  done
  xl dmesg 2>/dev/null | tail -n 30 | sed 's/^/[xl dmesg] /'
  xt_log "---- end of logs for $1 ----"
}

# xt_write_cfg FILE NAME TYPE NONCE TASKS [extra xl.cfg lines...]: a direct-kernel-boot guest config.
xt_write_cfg() {
  local file=$1 name=$2 type=$3 nonce=$4 tasks=$5 cmdline
  shift 5
  cmdline="console=hvc0 xentest.nonce=$nonce xentest.tasks=$tasks"
  # Without noearly the early quirks and the AGP aperture check scan every bus through 0xcf8/0xcfc, each access an
  # ioreq: tens of seconds under TCG.
  [ "$type" = hvm ] && cmdline="$cmdline pci=noearly"
  cmdline="$cmdline ${XT_GUEST_CMDLINE:-}"
  {
    echo "name = \"$name\""
    echo "type = \"$type\""
    if [ "$type" = pvh ]; then
      echo "kernel = \"/var/lib/xentest/vmlinux\""
      echo "ramdisk = \"/var/lib/xentest/guest.cpio\""
    else
      # The ELF kernel through qemu-xen's PVH loader (machine xenfv-4.2 after libxl's "-machine xenfv"): copied into
      # guest memory at once, where the bzImage would be read byte by byte through fw_cfg (a minute or more).
      echo "kernel = \"/var/lib/xentest/vmlinux.elf32\""
      echo "ramdisk = \"/var/lib/xentest/guest.cpio.xz\""
    fi
    echo "extra = \"$cmdline\""
    echo "memory = ${XT_GUEST_MEMORY:-256}"
    echo "vcpus = ${XT_GUEST_VCPUS:-1}"
    echo "on_poweroff = \"destroy\""
    echo "on_reboot = \"destroy\""
    echo "on_crash = \"destroy\""
    if [ "$type" = hvm ]; then
      echo "device_model_version = \"qemu-xen\""
      echo "vga = \"none\""
      echo "vnc = 0"
      echo "sdl = 0"
      echo "serial = \"none\""
      echo "device_model_args_hvm = [ \"-machine\", \"xenfv-4.2\" ]"
      # Every emulated access is an ioreq round trip guest -> Xen -> dom0 -> guest. With the guest's vCPU on the
      # physical CPU of dom0's (xt_pin_dom0) it needs no wake-up across QEMU's TCG threads: about 1 ms instead of
      # 10-40 ms on a loaded host (hvmloader's PCI scan alone is 768 of them).
      echo "cpus = \"${XT_GUEST_CPUS:-0}\""
    fi
    for l in "$@"; do echo "$l"; done
  } >"$file"
}

# xt_pin_dom0: dom0's vCPU on physical CPU 0, where xt_write_cfg puts HVM guests (see there).
xt_pin_dom0() { xl vcpu-pin Domain-0 all 0 >/dev/null 2>&1 || xt_log "xl vcpu-pin Domain-0 failed"; }

# ---- vGPU scenarios ----

# Environment for the project's launchers under a slow emulation: generous readiness limits.
export XVGPU_READY_TIMEOUT=${XVGPU_READY_TIMEOUT:-120}
export LIBXL_DEVICE_MODEL_START_TIMEOUT=${LIBXL_DEVICE_MODEL_START_TIMEOUT:-300}
XT_XL_SCRIPTS=/usr/local/lib/xvgpu/xl-scripts

# xt_block LOG NAME: the lines between GUEST-NAME-BEGIN and GUEST-NAME-END in a guest log.
xt_block() { sed -n "/^GUEST-$2-BEGIN/,/^GUEST-$2-END/p" "$1"; }

# xt_lspci_section FILE SLOT: one function's section of `lspci -vvv -nn` output (from "00:SLOT.0 " to the blank line).
xt_lspci_section() { awk -v s="00:$2.0 " 'index($0, s) == 1 { on = 1 } on && /^[[:space:]]*$/ { exit } on { print }' "$1"; }

# xt_check_lspci CHECK LOG SLOT VRAM_SIZE: scenario 1 -- the guest's lspci shows the vGPU as xvgpu emulates it:
# 1234:1111, class 0300, BAR0 prefetchable VRAM of the type's size, BAR2 and BAR4 4 KiB MMIO, an MSI capability with
# 64-bit addresses. A PVH guest has no firmware to enable memory decode, so lspci may show the BARs "[disabled]" until
# a driver enables the device.
xt_check_lspci() {
  local check=$1 log=$2 slot=$3 vram=$4 sec=/tmp/lspci-$3.txt problems=""
  xt_block "$log" LSPCI >/tmp/lspci-all.txt
  xt_lspci_section /tmp/lspci-all.txt "$slot" >"$sec"
  grep -qE "^00:$slot\.0 .*\[0300\]: .*\[1234:1111\]" "$sec" || problems="$problems no-1234:1111-class-0300;"
  grep -qE "Region 0: Memory at [0-9a-f]+ \((32|64)-bit, prefetchable\)( \[disabled\])? \[size=$vram\]" "$sec" ||
    problems="$problems BAR0-not-prefetchable-$vram;"
  grep -qE 'Region 2: Memory at [0-9a-f]+ \((32|64)-bit, non-prefetchable\)( \[disabled\])? \[size=4K\]' "$sec" ||
    problems="$problems BAR2-not-4K-MMIO;"
  grep -qE 'Region 4: Memory at [0-9a-f]+ \((32|64)-bit, non-prefetchable\)( \[disabled\])? \[size=4K\]' "$sec" ||
    problems="$problems BAR4-not-4K-MMIO;"
  grep -qE 'Capabilities: \[[0-9a-f]+\] MSI: Enable[+-] Count=[0-9]+/[0-9]+ Maskable[+-] 64bit\+' "$sec" ||
    problems="$problems no-64bit-MSI-capability;"
  sed -e 's/XENTEST-/xentest-/g' -e 's/^/[guest lspci] /' "$sec"
  if [ -z "$problems" ]; then
    xt_pass "$check" "$(head -n1 "$sec")"
  else
    xt_relay /tmp/lspci-all.txt "guest lspci -vvv"
    xt_fail "$check" "$problems"
  fi
}

# xt_perf_value LOG LABEL KEY: KEY=value from the guest's "GUEST-PERF LABEL ..." line.
xt_perf_value() {
  sed -n "s/^GUEST-PERF $2 .*[[:space:]]$3=\([0-9]*\).*/\1/p" "$1" | head -n1
}

# xt_dm_pid DOMID: the running xvgpu-dm of a domain (empty if none).
xt_dm_pid() {
  local p
  for p in /proc/[0-9]*; do
    [ -r "$p/cmdline" ] || continue
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qE "(^|/)xvgpu-dm .*--domain $1( |$)"; then
      echo "${p#/proc/}"
      return 0
    fi
  done
}

# xt_go DOMID KEY: lets a guest waiting in xt_wait_go KEY go on.
xt_go() { xenstore-write "/local/domain/$1/data/xentest/$2" 1; }

# xt_ioreqs DOMID: ioreqs the domain's xvgpu-dm has taken so far (synchronous plus buffered), from its statistics.
xt_ioreqs() {
  xvgpuctl --json stats --domain "$1" 2>/dev/null | tr ',{}' '\n\n\n' |
    sed -n 's/^[[:space:]]*"\(requests\|buffered\)"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\2/p' |
    awk '{ n += $1; seen = 1 } END { if (seen) print n }'
}

# xt_available TYPE: available instances of a vGPU type on this host (xvgpuctl --json types; a type object's keys
# come sorted, "available" before "name").
xt_available() {
  xvgpuctl --json types 2>/dev/null | tr ',' '\n' | awk -v t="$1" '
    /"available"[[:space:]]*:/ { v = $0; gsub(/[^0-9]/, "", v) }
    /"name"[[:space:]]*:/ && index($0, "\"" t "\"") { print v; exit }'
}

# xt_check_fb PREFIX DOMID UUID LOG: scenario 2. Checks PREFIX-bochs-binds, PREFIX-screenshot-matches,
# PREFIX-draw-ioreqs-near-zero.
xt_check_fb() {
  local p=$1 domid=$2 uuid=$3 log=$4 fb mode w h r0 r1 n pixels
  if ! xt_wait_grep "$log" '^GUEST-FB-READY' 180; then
    xt_fail "$p-bochs-binds" "the guest did not get to its framebuffer"
    xt_fail "$p-screenshot-matches" "no framebuffer"
    xt_fail "$p-draw-ioreqs-near-zero" "no framebuffer"
    return 1
  fi
  fb=$(sed -n 's/^GUEST-FB-READY fb=//p' "$log" | head -n1)
  if grep -q '^GUEST-BOCHS driver=bochs-drm' "$log" && [ -n "$fb" ]; then
    xt_pass "$p-bochs-binds" "$(grep -m1 '^GUEST-BOCHS' "$log") $fb"
  else
    xt_fail "$p-bochs-binds" "$(grep -m1 '^GUEST-BOCHS' "$log") fb=$fb"
    grep -E 'bochs|drm|fb' "$log" | tail -n 20 | xt_relay - guest
    xt_fail "$p-screenshot-matches" "no framebuffer"
    xt_fail "$p-draw-ioreqs-near-zero" "no framebuffer"
    xt_go "$domid" draw
    return 1
  fi
  r0=$(xt_ioreqs "$domid")
  xt_go "$domid" draw
  if ! xt_wait_grep "$log" '^GUEST-FB mode=' 180; then
    xt_fail "$p-screenshot-matches" "the guest did not draw"
    return 1
  fi
  r1=$(xt_ioreqs "$domid")
  mode=$(sed -n 's/^GUEST-FB mode=\([0-9]*x[0-9]*\).*/\1/p' "$log" | head -n1)
  w=${mode%x*}
  h=${mode#*x}
  grep -m1 '^GUEST-FB mode=' "$log" | xt_relay - guest
  if xvgpuctl screenshot "$uuid" /tmp/shot.png >/tmp/shot.txt 2>&1 && xt-pngcheck /tmp/shot.png "$w" "$h" >>/tmp/shot.txt 2>&1; then
    xt_pass "$p-screenshot-matches" "$(tail -n1 /tmp/shot.txt) ($mode)"
  else
    xt_fail "$p-screenshot-matches" "$(tr '\n' ' ' </tmp/shot.txt)"
  fi
  xt_go "$domid" screenshot
  pixels=$((w * h))
  if [ -n "$r0" ] && [ -n "$r1" ]; then
    n=$((r1 - r0))
    xt_metric "$p-ioreqs-while-drawing-$mode" "$n" ioreqs
    # Trapped VRAM would cost one ioreq per 4-byte pixel store; direct VRAM leaves only register traffic.
    if [ "$n" -lt $((pixels / 100)) ]; then
      xt_pass "$p-draw-ioreqs-near-zero" "$n ioreqs for $pixels pixels"
    else
      xt_fail "$p-draw-ioreqs-near-zero" "$n ioreqs for $pixels pixels"
    fi
  else
    xt_fail "$p-draw-ioreqs-near-zero" "no ioreq count in xvgpuctl stats"
    xvgpuctl --json stats --domain "$domid" 2>&1 | head -c 2000 | xt_relay - "xvgpuctl stats"
  fi
}

# xt_check_destroy CHECK NAME DOMID TYPE AVAILABLE_BEFORE LOG: scenario 5. xl destroy while the guest's workload
# runs; xvgpu-dm must notice, exit by itself within a few seconds, remove its pidfile and socket, log no error, and
# its instance must be available again.
xt_check_destroy() {
  local check=$1 name=$2 domid=$3 type=$4 before=$5 log=$6 pid i after r0 r1 problems=""
  if ! xt_wait_grep "$log" '^GUEST-WORKLOAD-RUNNING' 180; then
    xt_fail "$check" "the guest's workload did not start"
    return 1
  fi
  # The workload must really be reaching the vGPU when the domain goes.
  r0=$(xt_ioreqs "$domid")
  sleep 2
  r1=$(xt_ioreqs "$domid")
  [ -n "$r0" ] && [ -n "$r1" ] && [ "$r1" -gt "$r0" ] || problems="$problems workload-not-reaching-the-vGPU($r0->$r1);"
  pid=$(xt_dm_pid "$domid")
  [ -n "$pid" ] || { xt_fail "$check" "no xvgpu-dm before the destroy"; return 1; }
  t=$(xt_uptime)
  xl destroy "$name" || problems="$problems xl-destroy-failed;"
  i=0
  while [ -d "/proc/$pid" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -d "/proc/$pid" ]; then
    problems="$problems xvgpu-dm-still-running-15s-after-destroy;"
  else
    xt_time "$check-dm-exit-after-destroy" "$(xt_since "$t")"
  fi
  [ -e "/run/xvgpu/dm-$domid.pid" ] && problems="$problems pidfile-left;"
  [ -e "/run/xvgpu/dm-$domid.sock" ] && problems="$problems socket-left;"
  if grep -qiE '\[(error|critical)\]|terminate called|Segmentation|Aborted' "/run/xvgpu/dm-$domid.log" 2>/dev/null; then
    problems="$problems errors-in-log;"
  fi
  after=$(xt_available "$type")
  [ -n "$after" ] && [ "$after" = "$before" ] || problems="$problems $type-available-$before-before-$after-after;"
  tail -n 15 "/run/xvgpu/dm-$domid.log" 2>/dev/null | xt_relay - "xvgpu-dm log"
  if [ -z "$problems" ]; then
    xt_pass "$check" "xvgpu-dm exited, nothing left, $type available: $after"
  else
    xt_fail "$check" "$problems"
  fi
}

# xt_check_guest_runs P NAME NONCE LIMIT: check P-guest-runs -- the guest, just unpaused, prints the marker of this
# run's nonce on its console within LIMIT seconds (the time it took goes out as P-guest-marker-after-unpause).
xt_check_guest_runs() {
  local p=$1 name=$2 nonce=$3 limit=$4 log t0 domid
  log=$(xt_console_log "$name")
  domid=$(xl domid "$name" 2>/dev/null)
  t0=$(xt_uptime)
  if xt_wait_grep "$log" "GUEST-MARKER $(xt_marker "$nonce")" "$limit"; then
    xt_guest_started "$name" "$domid"
    xt_time "$p-guest-marker-after-unpause" "$(xt_since "$t0")"
    xt_pass "$p-guest-runs" "$(grep -m1 GUEST-MARKER "$log")"
  else
    xt_dump "$name"
    xt_fail "$p-guest-runs" "no marker from the guest within $limit s"
    return 1
  fi
}

# xt_check_dm_started P NAME DOMID: check P-vgpu-dm-started -- an xvgpu-dm serves the domain, and its ioreq server
# record (what a successor reads after a crash) names this domain instance: the handle Xen reports for it, which is
# the UUID `xl list -v` shows.
xt_check_dm_started() {
  local pid rec uuid
  pid=$(xt_dm_pid "$3")
  if [ -z "$pid" ]; then
    xt_dump "$2"
    xt_fail "$1-vgpu-dm-started" "no xvgpu-dm for domain $3"
    return 1
  fi
  rec=/run/xvgpu/ioreq-servers/dom$3-$pid
  uuid=$(xl list -v "$2" | awk 'NR == 2 { print $7 }')
  if [ -n "$uuid" ] && grep -qx "domain-handle $uuid" "$rec" 2>/dev/null; then
    xt_pass "$1-vgpu-dm-started" "xvgpu-dm pid $pid serves domain $3, its ioreq server recorded with handle $uuid"
  else
    sed 's/^/[ioreq server record] /' "$rec" 2>&1 | head -n 8
    ls -l /run/xvgpu/ioreq-servers/ 2>&1 | xt_relay - "ls ioreq-servers"
    xt_fail "$1-vgpu-dm-started" "no record $rec naming the domain's handle ${uuid:-(xl list -v gave none)}"
    return 1
  fi
}

# xt_vgpu_flow P NAME DOMID UUID TYPE VRAM AVAILABLE_BEFORE NONCE: the guest side of the vGPU scenarios, after the
# domain was created with its vGPU at slot 05 and unpaused. The guest runs tasks lspci,perf,fbpattern,workload.
xt_vgpu_flow() {
  local p=$1 name=$2 domid=$3 uuid=$4 type=$5 vram=$6 before=$7 nonce=$8 log v r vf rf
  log=$(xt_console_log "$name")
  xt_check_guest_runs "$p" "$name" "$nonce" 480 || return 1

  # Scenario 1.
  if xt_wait_grep "$log" "^GUEST-TASK-END lspci" 120; then
    # The guest kernel's slowest boot steps, where the scenario ran task bootlog before lspci.
    xt_block "$log" BOOTLOG | xt_relay - "guest boot"
    xt_check_lspci "$p-vgpu-lspci" "$log" 05 "$vram"
  else
    xt_fail "$p-vgpu-lspci" "the guest did not finish lspci"
  fi

  # Performance, side by side (the reference device exists in HVM guests only).
  if xt_wait_grep "$log" "^GUEST-TASK-END perf" 600; then
    grep '^GUEST-PERF' "$log" | xt_relay - guest
    xt_report_perf "$p" "$log"
    if [ "$(xt_perf_value "$log" vgpu-vram-fill mismatches)" = 0 ]; then
      xt_pass "$p-vgpu-vram-direct" "$(xt_perf_value "$log" vgpu-vram-fill bytes) bytes written and read back through BAR0"
    else
      xt_fail "$p-vgpu-vram-direct" "$(grep '^GUEST-PERF vgpu' "$log" | tr '\n' ' ')"
    fi
  else
    xt_fail "$p-vgpu-vram-direct" "the guest did not finish the performance task"
    [ "$p" = hvm ] && xt_fail "$p-perf-measured" "the guest did not finish the performance task"
    grep -E '^GUEST-|xt-mmio' "$log" | xt_relay - guest
    xvgpuctl stats --domain "$domid" 2>&1 | xt_relay - "xvgpuctl stats"
  fi

  # Scenario 6.
  xt_check_hostile "$p-hostile-guest" "$domid" "$log"

  # Scenario 3 (and 4 with XT_KMOD=hammer), when the scenario's guest runs the kmod task.
  if [ -n "${XT_KMOD:-}" ]; then
    xt_check_kmod "$p" "$domid" "$log" "$XT_KMOD"
  fi

  # Scenario 2.
  xt_check_fb "$p" "$domid" "$uuid" "$log"

  # Scenario 5.
  xt_check_destroy "$p-destroy-mid-workload" "$name" "$domid" "$type" "$before" "$log"
  grep -v '^\[' "$log" | xt_relay - guest
}

# xt_report_perf P LOG: the guest's side-by-side figures (task perf) as metrics: one register read on the vGPU and on
# qemu-xen's reference device, the time to fill one 4 KiB page of each one's VRAM, and the vGPU/qemu ratios. Where the
# guest measured a reference device (HVM) it checks P-perf-measured: all four figures present and non-zero and both
# fills read back intact. Timings are reported, never asserted.
xt_report_perf() {
  local p=$1 log=$2 v r vb vf rb rf vpp="" rpp="" problems=""
  v=$(xt_perf_value "$log" vgpu-mmio-read ns_per_read)
  r=$(xt_perf_value "$log" ref-mmio-read ns_per_read)
  vb=$(xt_perf_value "$log" vgpu-vram-fill bytes)
  vf=$(xt_perf_value "$log" vgpu-vram-fill fill_ns)
  rb=$(xt_perf_value "$log" ref-vram-fill bytes)
  rf=$(xt_perf_value "$log" ref-vram-fill fill_ns)
  [ -n "$vb" ] && [ "$vb" -gt 0 ] && [ -n "$vf" ] && vpp=$((vf * 4096 / vb))
  [ -n "$rb" ] && [ "$rb" -gt 0 ] && [ -n "$rf" ] && rpp=$((rf * 4096 / rb))
  [ -n "$v" ] && xt_metric "$p-vgpu-mmio-read" "$v" ns
  [ -n "$r" ] && xt_metric "$p-qemu-bochs-mmio-read" "$r" ns
  [ -n "$v" ] && [ -n "$r" ] && [ "$r" -gt 0 ] &&
    xt_metric "$p-mmio-read-vgpu/qemu" "$(awk -v a="$v" -v b="$r" 'BEGIN { printf "%.3f", a / b }')" ratio
  [ -n "$vpp" ] && xt_metric "$p-vgpu-vram-fill-per-4KiB-page" "$vpp" ns
  [ -n "$rpp" ] && xt_metric "$p-qemu-bochs-vram-fill-per-4KiB-page" "$rpp" ns
  [ -n "$vpp" ] && [ -n "$rpp" ] && [ "$rpp" -gt 0 ] &&
    xt_metric "$p-vram-fill-vgpu/qemu" "$(awk -v a="$vpp" -v b="$rpp" 'BEGIN { printf "%.3g", a / b }')" ratio
  grep -q '^GUEST-PERF ref-' "$log" || return 0
  for x in "vgpu-read:$v" "qemu-read:$r" "vgpu-fill:$vpp" "qemu-fill:$rpp"; do
    [ -n "${x#*:}" ] && [ "${x#*:}" -gt 0 ] || problems="$problems ${x%%:*}-missing;"
  done
  [ "$(xt_perf_value "$log" vgpu-vram-fill mismatches)" = 0 ] || problems="$problems vgpu-fill-read-back-wrong;"
  [ "$(xt_perf_value "$log" ref-vram-fill mismatches)" = 0 ] || problems="$problems qemu-fill-read-back-wrong;"
  if [ -z "$problems" ]; then
    xt_pass "$p-perf-measured" "register read vGPU $v ns, qemu $r ns; VRAM fill per 4 KiB page vGPU $vpp ns, qemu $rpp ns"
  else
    xt_fail "$p-perf-measured" "$problems"
  fi
}

# xt_check_hostile CHECK DOMID LOG: scenario 6. Every probe of xt-hostile got a conformant answer, and xvgpu-dm is
# still there and answering its control socket.
xt_check_hostile() {
  local check=$1 domid=$2 log=$3 bad
  if ! xt_wait_grep "$log" '^GUEST-HOSTILE-END' 300; then
    xt_fail "$check" "the hostile program did not finish (hung vCPU or device model?)"
    xt_block "$log" HOSTILE | xt_relay - guest
    return 1
  fi
  xt_block "$log" HOSTILE | xt_relay - guest
  bad=$(xt_block "$log" HOSTILE | grep -E '^[a-z-]+=bad' | cut -d' ' -f1 | tr '\n' ' ')
  if [ -z "$(xt_dm_pid "$domid")" ]; then
    xt_fail "$check" "xvgpu-dm is gone"
  elif ! xvgpuctl --json stats --domain "$domid" >/tmp/hostile-stats.json 2>&1; then
    xt_fail "$check" "xvgpu-dm does not answer its control socket"
  elif [ -n "$bad" ] || ! grep -q '^hostile-done failures=0' "$log"; then
    xt_fail "$check" "probes: $bad"
  else
    xt_pass "$check" "config-ro odd-sizes rep-across engine-junk alive; xvgpu-dm alive"
  fi
  tr ',' '\n' </tmp/hostile-stats.json | grep -E '"(refused|unrouted|requests)' | tr -d ' \n' | xt_relay - "xvgpu-dm stats"
  echo
}

# The lab's own smoke check for a guest of TYPE (pvh|hvm), shared by scenarios/smoke-*.sh: created paused from the
# dom0 command line, unpaused, prints the marker derived from this run's nonce within MARKER_S seconds, powers
# itself off. Checks TYPE-guest-runs and TYPE-guest-poweroff; returns 1 when the guest never ran.
xt_smoke_guest() {
  local type=$1 marker_s=$2 name=smoke-$1 nonce t0 log domid
  nonce=$(xt_new_nonce)
  xt_write_cfg /tmp/$name.cfg $name $type "$nonce" ""
  t0=$(xt_uptime)
  if ! xl create -p /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
    xt_dump $name
    xt_fail $type-guest-runs "xl create -p failed"
    return 1
  fi
  xt_time $type-create-paused "$(xt_since "$t0")"
  domid=$(xl domid $name)
  xl unpause $name
  log=$(xt_console_log $name)
  if xt_wait_grep "$log" "GUEST-MARKER $(xt_marker "$nonce")" "$marker_s"; then
    xt_guest_started $name "$domid"
    xt_time $type-guest-marker "$(xt_since "$t0")"
    xt_pass $type-guest-runs "$(grep -m1 GUEST-MARKER "$log")"
  else
    xt_dump $name
    xt_fail $type-guest-runs "no marker from the guest within $marker_s s"
    return 1
  fi
  if xt_wait_grep "$log" "^GUEST-DONE" 30 && xt_wait_gone $name 30; then
    xt_time $type-guest-gone "$(xt_since "$t0")"
    xt_pass $type-guest-poweroff
  else
    xt_dump $name
    xt_fail $type-guest-poweroff "guest did not power off"
  fi
  grep "^GUEST-" "$log" | xt_relay - guest
}

# ---- Scenarios 3 and 4: the guest kernel module xt_engine (guest/tasks/kmod.sh) ----

# xt_stat DOMID NAME: one counter of the domain's vGPU from xvgpuctl stats (e.g. engine_jobs, interrupts,
# core.msi_delivered); empty if unavailable.
xt_stat() {
  xvgpuctl --json stats --domain "$1" 2>/dev/null | tr ',{}' '\n\n\n' |
    sed -n "s/^[[:space:]]*\"$2\"[[:space:]]*:[[:space:]]*\([0-9]*\).*/\1/p" | head -n1
}

# xt_kv LINE KEY: the value of KEY=value in a line of the guest module's result (console lines end in CR LF).
xt_kv() { printf '%s\n' "$1" | tr -d '\r' | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }

# xt_stat_snapshot DOMID: "engine_jobs interrupts core.msi_delivered" of the domain's vGPU now.
# xt_stat_delta A B I: field I (1-3) of snapshot B minus that of snapshot A ("?" if either is missing).
xt_stat_snapshot() { echo "$(xt_stat "$1" engine_jobs) $(xt_stat "$1" interrupts) $(xt_stat "$1" core.msi_delivered)"; }
xt_stat_delta() {
  awk -v a="$1" -v b="$2" -v i="$3" 'BEGIN { split(a, x, " "); split(b, y, " ");
    if (x[i] == "" || y[i] == "") print "?"; else print y[i] - x[i] }'
}

# xt_check_kmod P DOMID LOG [hammer]: checks P-kmod-engine-copy (scenario 3) and, with "hammer" (the guest has
# xentest.hammer=1 and two vCPUs), P-two-vcpu-hammer (scenario 4). The guest
# module's own verdict must be ok, and xvgpu-dm's counters, read before and after each phase, must agree with it:
# engine_jobs grew by the descriptors the guest submitted, interrupts and core.msi_delivered by the MSIs the guest's
# handler took (scenario 3: exactly; scenario 4: the device raised one per descriptor, the guest's local APIC may
# merge two that arrive together).
xt_check_kmod() {
  local p=$1 domid=$2 log=$3 hammer=${4:-} c3=$1-kmod-engine-copy c4=$1-two-vcpu-hammer s0 s1 s2 t line j i m problems
  [ "$hammer" = hammer ] || c4=""
  if ! xt_wait_grep "$log" '^GUEST-KMOD-(READY|ABSENT|BOUND driver=[^x])' 300; then
    xt_fail "$c3" "the guest did not get to the kernel module"
    [ -z "$c4" ] || xt_fail "$c4" "the guest did not get to the kernel module"
    return 1
  fi
  if grep -q '^GUEST-KMOD-ABSENT' "$log"; then
    xt_skip "$c3" "$(grep -m1 '^GUEST-KMOD-ABSENT' "$log" | cut -d' ' -f2-)"
    [ -z "$c4" ] || xt_skip "$c4" "no guest kernel module"
    return 0
  fi
  if ! grep -q '^GUEST-KMOD-READY' "$log"; then
    sed -n '/^GUEST-TASK-BEGIN kmod/,$p' "$log" | tail -n 30 | xt_relay - guest
    xt_fail "$c3" "xt_engine did not bind the vGPU: $(grep -m1 '^GUEST-KMOD-BOUND' "$log")"
    [ -z "$c4" ] || xt_fail "$c4" "no driver"
    return 1
  fi
  s0=$(xt_stat_snapshot "$domid")
  t=$(xt_uptime)
  xt_go "$domid" kmod-copy
  xt_wait_grep "$log" '^GUEST-KMOD-COPY ' 300 && xt_time "$c3" "$(xt_since "$t")"
  s1=$(xt_stat_snapshot "$domid")
  t=$(xt_uptime)
  [ -n "$c4" ] && xt_go "$domid" kmod-hammer
  if [ -z "$c4" ]; then
    :
  elif xt_wait_grep "$log" '^GUEST-KMOD-HAMMER ' 240; then
    xt_time "$c4" "$(xt_since "$t")"
  else
    # What was running when the hammer stalled.
    xl vcpu-list 2>&1 | xt_relay - "xl vcpu-list"
    tail -n 30 /run/xvgpu/dm-"$domid".log 2>/dev/null | xt_relay - "xvgpu-dm log"
    tail -n 40 "$log" | xt_relay - guest
  fi
  s2=$(xt_stat_snapshot "$domid")
  xt_go "$domid" kmod-done
  grep -E '^GUEST-KMOD-(BOUND|COPY|CPUS|PROGRESS|HAMMER|PROC)' "$log" | xt_relay - guest
  xt_log "xvgpu-dm engine_jobs/interrupts/msi_delivered: before $s0, after copy $s1, after hammer $s2"

  # Scenario 3.
  line=$(grep -m1 '^GUEST-KMOD-COPY ' "$log")
  problems=""
  if [ -z "$line" ]; then
    problems=" no-result-from-the-guest"
  else
    [ "$(xt_kv "$line" verdict)" = ok ] || problems="$problems guest-verdict=$(xt_kv "$line" verdict);"
    j=$(xt_stat_delta "$s0" "$s1" 1)
    i=$(xt_stat_delta "$s0" "$s1" 2)
    m=$(xt_stat_delta "$s0" "$s1" 3)
    [ "$j" = "$(xt_kv "$line" jobs)" ] || problems="$problems dm-engine_jobs+$j-guest-jobs-$(xt_kv "$line" jobs);"
    [ "$i" = "$(xt_kv "$line" msis)" ] || problems="$problems dm-interrupts+$i-guest-msis-$(xt_kv "$line" msis);"
    [ "$m" = "$(xt_kv "$line" msis)" ] || problems="$problems dm-msi_delivered+$m-guest-msis-$(xt_kv "$line" msis);"
    [ "$(xt_kv "$line" msis)" = "$(xt_kv "$line" irq_jobs)" ] || problems="$problems msis-not-irq_jobs;"
  fi
  if [ -z "$problems" ]; then
    xt_pass "$c3" "$(xt_kv "$line" jobs) copies ($(xt_kv "$line" bytes) bytes) checksums ok, $(xt_kv "$line" msis) MSIs = flagged descriptors = xvgpu-dm interrupts"
  else
    xt_fail "$c3" "$problems"
  fi

  # Scenario 4.
  [ -n "$c4" ] || return 0
  line=$(grep -m1 '^GUEST-KMOD-HAMMER ' "$log")
  problems=""
  if [ -z "$line" ]; then
    problems=" no-result-from-the-guest"
  else
    [ "$(xt_kv "$line" verdict)" = ok ] || problems="$problems guest-verdict=$(xt_kv "$line" verdict);"
    j=$(xt_stat_delta "$s1" "$s2" 1)
    i=$(xt_stat_delta "$s1" "$s2" 2)
    [ "$j" = "$(xt_kv "$line" descriptors)" ] ||
      problems="$problems dm-engine_jobs+$j-guest-descriptors-$(xt_kv "$line" descriptors);"
    [ "$i" = "$(xt_kv "$line" descriptors)" ] ||
      problems="$problems dm-interrupts+$i-guest-descriptors-$(xt_kv "$line" descriptors);"
  fi
  if [ -z "$problems" ]; then
    xt_pass "$c4" "CPU0 $(xt_kv "$line" t0_ops) + CPU1 $(xt_kv "$line" t1_ops) register checks, $(xt_kv "$line" descriptors) engine descriptors, all right; overlap $(xt_kv "$line" overlap_us) us"
  else
    xt_fail "$c4" "$problems"
  fi
}
