# Stays up until dom0 destroys the domain.
sleep 100000
