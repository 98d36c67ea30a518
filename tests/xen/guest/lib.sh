# Helpers for guest tasks (sourced by the guest's init).

# xt_wait_go KEY [TIMEOUT_S]: waits until dom0 writes 1 to the guest's xenstore key data/xentest/KEY. Used where
# dom0 must act on a state the guest has set up (a screenshot of what it drew) before the guest moves on.
xt_wait_go() {
  local i=0 limit=${2:-600}
  while [ "$(xenstore-read "data/xentest/$1" 2>/dev/null)" != 1 ]; do
    i=$((i + 1))
    [ $i -gt $((limit * 5)) ] && { echo "GUEST-WAIT-TIMEOUT $1"; return 1; }
    sleep 0.2
  done
}

# The first PCI function with vendor:device $1 (e.g. 1234:1111) at slot $2 (e.g. 05), as 0000:00:05.0.
xt_find_dev() {
  lspci -D -n -d "$1" | awk -v s=":$2." 'index($1, s) { print $1; exit }'
}

# xt_bind_engine: binds the vGPU $XT_VGPU to the engine module xt_engine only (any driver that holds it let go, ours
# made the only one that binds it), waiting up to 5 s; sets xt_engine_drv to the driver then bound (empty: none).
xt_bind_engine() {
  local dev=/sys/bus/pci/devices/$XT_VGPU i=0
  [ -e "$dev/driver" ] && echo "$XT_VGPU" >"$dev/driver/unbind"
  echo xt_engine >"$dev/driver_override"
  insmod /xentest/bin/xt_engine.ko 2>&1
  while [ ! -e "$dev/driver" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  xt_engine_drv=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null)
}
