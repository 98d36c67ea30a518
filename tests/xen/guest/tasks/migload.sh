# During a live migration (issue 14): after fbkeep (the 1024x768 pattern on screen, no driver bound), the engine
# driver xt_engine binds the vGPU and, until dom0 says migload-stop, repeats: the engine draws one 64-row band of the
# frame with the next stamp (16 copies into VRAM, one MSI), then an engine copy test of 2 rounds (checksums, MSIs
# counted exactly). Each step's own verdict is checked; the totals and the last stamp of every band go to dom0, which
# compares the screenshot after the migration with that frame and the totals with what the device model counted.
# restores counts the driver's PM restore callbacks: the migration's resume, where it binds its MSI again.
# shellcheck source=../lib.sh
. /xentest/lib.sh
ko=/xentest/bin/xt_engine.ko
dev=/sys/bus/pci/devices/$XT_VGPU
if [ ! -f "$ko" ]; then
  echo "GUEST-MIGLOAD-ABSENT xt_engine.ko was not built"
  exit 0
fi
xt_bind_engine
drv=$xt_engine_drv
if [ "$drv" != xt_engine ]; then
  echo "GUEST-MIGLOAD-ERROR driver=${drv:-none}"
  exit 1
fi
xt_wait_go migload-start 300 || exit 1
echo "GUEST-MIGLOAD-RUNNING"
k=0 paints=0 paint_bad=0 copies=0 copy_bad=0 jobs=0 msis=0 irq_jobs=0 first_bad=""
s0=0 s1=0 s2=0 s3=0 s4=0 s5=0 s6=0 s7=0 s8=0 s9=0 s10=0 s11=0
kv() { echo " $1" | sed -n "s/.* $2=\([^ ]*\).*/\1/p"; }
while [ "$(xenstore-read data/xentest/migload-stop 2>/dev/null)" != 1 ]; do
  k=$((k + 1))
  b=$((k % 12))
  echo "$b $k" >"$dev/xt_paint"
  r=$(cat "$dev/xt_paint")
  paints=$((paints + 1))
  jobs=$((jobs + $(kv "$r" jobs)))
  msis=$((msis + $(kv "$r" msis)))
  irq_jobs=$((irq_jobs + 1))
  if [ "$(kv "$r" verdict)" = ok ]; then
    eval "s$b=$k"
  else
    paint_bad=$((paint_bad + 1))
    [ -n "$first_bad" ] || first_bad="paint:$r"
  fi
  echo 2 >"$dev/xt_copy"
  r=$(cat "$dev/xt_copy")
  copies=$((copies + 1))
  jobs=$((jobs + $(kv "$r" jobs)))
  msis=$((msis + $(kv "$r" msis)))
  irq_jobs=$((irq_jobs + $(kv "$r" irq_jobs)))
  if [ "$(kv "$r" verdict)" != ok ]; then
    copy_bad=$((copy_bad + 1))
    [ -n "$first_bad" ] || first_bad="copy:$r"
  fi
  [ $((k % 5)) = 0 ] && echo "GUEST-MIGLOAD-PROGRESS steps=$k restores=$(cat "$dev/xt_restores")"
done
echo "GUEST-MIGLOAD steps=$k paints=$paints paint_bad=$paint_bad copies=$copies copy_bad=$copy_bad jobs=$jobs" \
  "msis=$msis irq_jobs=$irq_jobs restores=$(cat "$dev/xt_restores") bands=$s0,$s1,$s2,$s3,$s4,$s5,$s6,$s7,$s8,$s9,$s10,$s11"
[ -n "$first_bad" ] && echo "GUEST-MIGLOAD-FIRST-BAD $first_bad"
echo "GUEST-MIGLOAD-PROC-INTERRUPTS $(grep xt_engine /proc/interrupts | tr -s ' ')"
xt_wait_go migload-done 300
rmmod xt_engine
echo >"$dev/driver_override"
