# Scenario 1: what the guest's PCI layer sees, for dom0 to check.
echo "GUEST-LSPCI-BEGIN"
lspci -vvv -nn
echo "GUEST-LSPCI-END"
