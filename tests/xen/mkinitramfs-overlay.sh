#!/usr/bin/env bash
# Builds the per-run dom0 archive, appended to the base one: the scenario, the guest initramfs, and the project's
# files when given (xvgpu-dm, xvgpuctl with their libraries, the xl-scripts, vendor plugins).
# Usage: mkinitramfs-overlay.sh OUT.cpio SCENARIO.sh GUEST.cpio [--dm BIN] [--ctl BIN] [--xl-scripts DIR]
#        [--plugin-dir DIR] [--dom0-tools DIR]
set -euo pipefail
out=$1
scenario=$2
guest=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/rootfs.sh
. "$here/lib/rootfs.sh"

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/xvgpu-overlay.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/etc/xentest "$ROOT"/var/lib/xentest "$ROOT"/usr/local/bin
install -m 0644 "$scenario" "$ROOT"/etc/xentest/scenario.sh
install -m 0644 "$here"/dom0/lib.sh "$ROOT"/etc/xentest/lib.sh
cp "$guest" "$ROOT"/var/lib/xentest/guest.cpio
cp "$guest.xz" "$ROOT"/var/lib/xentest/guest.cpio.xz
while (($#)); do
  case "$1" in
    --dm) add_tool "$2" /usr/local/bin/xvgpu-dm ;;
    --ctl) add_tool "$2" /usr/local/bin/xvgpuctl ;;
    --dom0-tools)
      for f in "$2"/*; do [[ -f "$f" && -x "$f" ]] && add_tool "$f" "/usr/local/bin/${f##*/}"; done
      ;;
    --xl-scripts) mkdir -p "$ROOT"/usr/local/lib/xvgpu; cp -a "$2" "$ROOT"/usr/local/lib/xvgpu/xl-scripts ;;
    --plugin-dir)
      mkdir -p "$ROOT"/usr/local/lib/xvgpu/plugins
      find "$2" -maxdepth 1 -name '*.so' -exec cp {} "$ROOT"/usr/local/lib/xvgpu/plugins/ \;
      ;;
    *) echo "mkinitramfs-overlay: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
pack_cpio "$out"
