#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test xvgpu (idempotent).
# Usage: scripts/install-deps.sh [--xen-lab]   (--xen-lab adds the packages for the real-Xen tests)
set -euo pipefail
pkgs=(build-essential cmake pkg-config ninja-build
      libxen-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libpng-dev zlib1g-dev libseccomp-dev
      libvncserver-dev
      libgtest-dev libgmock-dev libbenchmark-dev python3 valgrind)
# Console tests: real VNC clients (vnccapture, vncsnapshot) and noVNC in headless Chromium.
pkgs+=(libnet-vnc-perl vncsnapshot novnc chromium python3-pil)
pkgs+=(clang libclang-rt-dev)  # libFuzzer for fuzz/ (scripts/fuzz-smoke.sh)
pkgs+=(seabios)  # SeaVGABIOS for Bochs displays: the simgpu vGPU's default expansion ROM
if [[ "${1:-}" == "--xen-lab" ]]; then
  pkgs+=(qemu-system-x86 qemu-system-xen xen-hypervisor-4.17-amd64 xen-utils-4.17 linux-image-amd64
         busybox-static cpio pciutils linux-headers-amd64 kmod xz-utils)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
