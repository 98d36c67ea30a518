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

# xt_relay FILE LABEL: copy a log into dom0's console, prefixed, with verdict markers defused.
xt_relay() {
  [ -e "$1" ] || { xt_log "($1 missing)"; return 0; }
  sed -e 's/XENTEST-/xentest-/g' -e "s/^/[$2] /" "$1"
}

# xt_dump NAME: the logs that explain a failure of guest NAME.
xt_dump() {
  local f
  xt_log "---- logs for $1 ----"
  xl list 2>&1 | sed 's/^/[xl list] /'
  for f in /var/log/xen/xl-"$1".log /var/log/xen/qemu-dm-"$1".log /var/log/xen/console/guest-"$1".log \
    /tmp/"$1"-create.log; do
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
      echo "kernel = \"/var/lib/xentest/vmlinuz\""
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
    fi
    for l in "$@"; do echo "$l"; done
  } >"$file"
}
