# Reboot scenarios: ends this boot the way dom0 says in the guest's xenstore key data/xentest/reboot. "guest": the
# guest reboots itself (reboot -f, the reboot system call: what `reboot` does once init has stopped everything;
# this init is a shell that would ignore the signal plain `reboot` sends it). "xl": the guest waits for dom0's
# `xl reboot`, which its kernel takes from xenbus (control/shutdown) and hands to /sbin/reboot (orderly_reboot); that
# becomes `reboot -f` here for the same reason.
i=0
while :; do
  case "$(xenstore-read data/xentest/reboot 2>/dev/null)" in
    guest)
      echo "GUEST-REBOOTING by=guest"
      reboot -f
      ;;
    xl)
      rm -f /sbin/reboot
      printf '#!/bin/sh\nexec /bin/busybox reboot -f\n' >/sbin/reboot
      chmod 755 /sbin/reboot
      echo "GUEST-REBOOT-WAIT by=xl"
      sleep 100000
      ;;
  esac
  i=$((i + 1))
  [ $i -gt 3000 ] && { echo "GUEST-WAIT-TIMEOUT reboot"; exit 1; }
  sleep 0.2
done
