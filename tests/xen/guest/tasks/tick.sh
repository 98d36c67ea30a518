# A heartbeat on the console for measuring a migration's downtime by hand (tests/xen/manual/two-host-migrate.sh):
# about every 100 ms a line with a counter and the guest's uptime, in the background, so the next task runs at once.
# The host stamps each line as it arrives; the largest gap across the migration is the downtime the guest saw.
(
  n=0
  while :; do
    n=$((n + 1))
    read -r up _ </proc/uptime
    echo "GUEST-TICK $n $up"
    usleep 100000
  done
) &
