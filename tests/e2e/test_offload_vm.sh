#!/usr/bin/env bash
# test_offload_vm.sh BUILD - the hardware-offload tests on netdevsim in a VM
# (tests/offload-vm/run.sh): downloads Debian's 6.1 kernel and builds
# netdevsim on the first run, cached in BUILD/offload-vm/ after that.
# Ends with "N passed, N failed"; fails (never skips) when the host cannot
# run the VM.
exec bash "$(dirname "$0")/../offload-vm/run.sh" "${1:-build}"
