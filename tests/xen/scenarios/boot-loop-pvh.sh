# Measurement, not a ctest test: one Xen boot creates a two-vCPU PVH guest (vCPU N on physical CPU N, as in
# vgpu-hammer-pvh), waits for its marker or its end, destroys it and repeats, one XENTEST-NOTE line per guest boot
# (ok / fault + seconds from unpause). Counts the nested-emulation triple faults of docs/real-xen-testing.md, "Lab
# faults". Parameters from the runner's --scenario-arg: boots=N (default 40), guest_extra=OPT+OPT (added to the guest's
# command line, '+' for a space), pin=0 (guest vCPUs free to move), until=smp (a boot counts as ok once the guest kernel
# has both vCPUs up, "smp: Brought up ...", instead of at the marker: cheaper, covers the first seconds only).
# checks: bootloop-ran
# needs:
# timeout: 3600
# guest-triple-faults: counted
. /etc/xentest/lib.sh
boots=$(xt_scenario_arg boots 40)
extra=$(xt_scenario_arg guest_extra "" | tr '+' ' ')
pin=$(xt_scenario_arg pin 1)
until=$(xt_scenario_arg until marker)
cpus='cpus = ["0", "1"]'
[ "$pin" = 1 ] || cpus=""
ok=0 faults=0 other=0 i=1
while [ "$i" -le "$boots" ]; do
  name=loop$i
  nonce=$(xt_new_nonce)
  XT_GUEST_VCPUS=2 XT_GUEST_CMDLINE="$extra" xt_write_cfg /tmp/$name.cfg $name pvh "$nonce" "" "$cpus"
  if ! xl create -p /tmp/$name.cfg >/tmp/$name-create.log 2>&1; then
    xt_dump $name
    other=$((other + 1))
    printf 'XENTEST-%s bootloop boot=%s result=create-failed\n' NOTE "$i"
    i=$((i + 1))
    continue
  fi
  domid=$(xl domid $name)
  log=$(xt_console_log $name)
  marker="GUEST-MARKER $(xt_marker "$nonce")"
  [ "$until" = smp ] && marker="smp: Brought up .* 2 CPUs"
  t0=$(xt_uptime)
  xl unpause $name
  result=timeout
  while awk -v a="$t0" -v b="$(xt_uptime)" 'BEGIN { exit !(b - a < 240) }'; do
    if [ -f "$log" ] && grep -qE "$marker" "$log"; then
      result=ok
      xt_guest_started $name "$domid"
      break
    fi
    if ! xl domid $name >/dev/null 2>&1; then
      # Gone before its marker: the shutdown's cause is in Xen's log.
      if xl dmesg | grep -qE "d${domid}v[0-9]+ Triple fault|Domain ${domid} \(vcpu#"; then result=fault; else result=gone; fi
      break
    fi
    sleep 0.2
  done
  t=$(xt_since "$t0")
  case $result in
    ok) ok=$((ok + 1)) ;;
    fault) faults=$((faults + 1)) ;;
    *) other=$((other + 1)); xt_dump $name ;;
  esac
  printf 'XENTEST-%s bootloop boot=%s domid=%s result=%s after_unpause=%s\n' NOTE "$i" "$domid" "$result" "$t"
  xl destroy $name >/dev/null 2>&1
  xt_wait_gone $name 60 || xt_log "$name still there after xl destroy"
  # Where a two-vCPU boot spends its time (the guest kernel's clock), for the first boot.
  [ "$i" = 1 ] && grep -E 'smp: Brought up|Unpacking initramfs|Freeing unused kernel|Run /init|GUEST-MARKER' "$log" |
    xt_relay - "loop1 console"
  rm -f "$log"
  i=$((i + 1))
done
xt_metric bootloop-boots "$boots" boots
xt_metric bootloop-faults "$faults" boots
if [ "$other" -eq 0 ]; then
  xt_pass bootloop-ran "$boots boots: $ok reached the marker, $faults triple faults"
else
  xt_fail bootloop-ran "$boots boots: $ok reached the marker, $faults triple faults, $other other endings"
fi
