# Console input (HVM): pointer moves and clicks, then keys, made in the vGPU's VNC console by a real client on the host
# go through xvgpu-dm and qemu-xen's QMP to the guest's emulated PS/2 mouse and keyboard; read here through evdev
# (xt-evdev prints the codes and motion, dom0 compares them).
. /xentest/lib.sh
while read -r ko; do
  insmod "$ko" 2>&1 | grep -v 'File exists' | sed 's/^/GUEST-INPUT-INSMOD /'
done </etc/xentest/input-modules
# serio binds psmouse to the AUX port asynchronously; xt-evdev opens only the devices there when it starts.
i=0
while ! grep -q '^N: Name=".*PS/2.*Mouse"' /proc/bus/input/devices && [ $i -lt 50 ]; do
  sleep 0.2
  i=$((i + 1))
done
dmesg | grep -iE 'i8042|serio|psmouse|mouse' | tail -n 8 | sed 's/^/GUEST-INPUT-DMESG /'
echo "GUEST-INPUT-DEVICES $(sed -n 's/^N: Name="\(.*\)"$/\1/p' /proc/bus/input/devices | tr '\n' ';')"
xt-evdev "${XT_INPUT_KEYS:-16}" 90
