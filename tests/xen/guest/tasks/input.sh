# Console input (HVM): keys typed into the vGPU's VNC console by a real client on the host go through xvgpu-dm and
# qemu-xen's QMP to the guest's emulated PS/2 keyboard; read here through evdev (xt-evdev prints the codes, dom0
# compares them).
. /xentest/lib.sh
while read -r ko; do
  insmod "$ko" 2>/dev/null
done </etc/xentest/input-modules
xt-evdev "${XT_INPUT_KEYS:-16}" 90
