#!/usr/bin/env bash
# run.sh BUILD - psoffload's hardware-offload path, end to end, on netdevsim
# inside a VM (issue 5): `make test-offload`, and part of `make test` through
# tests/e2e/test_offload_vm.sh.
#
#   1-2. prepare.sh: Debian's current 6.1 kernel (downloaded, not installed),
#        netdevsim.ko built out of tree against its headers, the modules it
#        needs; the host packages (qemu-system-x86, busybox-static, cpio, ...)
#   3.   mkinitramfs.sh: busybox, the modules, BUILD/psoffload, ip, tc,
#        bpftool and their libraries, the BPF objects, nic-profiles/, the tests
#   4.   boots it under qemu-system-x86_64 -accel tcg; /init creates a
#        netdevsim device and runs in-vm-tests.sh, which prints one line per
#        test ("ok N - ..." / "not ok N - ...")
# and turns those lines into this script's output: the VM's result lines,
# then "N passed, N failed"; exit 0 only if every test passed.
#
# Downloads and builds are cached in BUILD/offload-vm/ (a second run only
# rebuilds the initramfs and boots).  A host that cannot run the VM at all
# (not root, no apt, download or build failure, no qemu) fails with a line
# saying so; nothing is skipped silently.
#
# Environment: PSO_VM_TIMEOUT (seconds for the whole VM run, default 600),
# PSO_VM_SMP (CPUs, default 2), PSO_VM_KEEP=1 keeps the initramfs,
# PSO_VM_DAEMON_FLAGS (one word, e.g. -vv: added to every broker the tests
# start; the kernel hands it to /init through its command line).
set -uo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${PSO_VM_TIMEOUT:-600}
smp=${PSO_VM_SMP:-2}

t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# fail_host WHAT: the host cannot run the VM; one failed test says why.
fail_host() {
	echo "not ok 1 - offload VM: $1"
	echo "# offload-vm: the hardware-offload tests did not run (total $(elapsed "$t_start") s)"
	echo "0 passed, 1 failed"
	exit 1
}

[ "$(id -u)" -eq 0 ] || fail_host "must run as root (apt-get, /usr/src); got uid $(id -u)"
[ -d "$build" ] || fail_host "no build directory $build: run make first"
build=$(cd "$build" && pwd)
[ -x "$build/psoffload" ] || fail_host "no $build/psoffload: run make first"
ls "$build"/bpf/*.bpf.o >/dev/null 2>&1 || fail_host "no BPF objects in $build/bpf: run make first"
cache=$build/offload-vm
mkdir -p "$cache"

# ---- 1-2: kernel, modules, host packages ------------------------------------
t=$(date +%s.%N)
if ! kdir=$(bash "$here/prepare.sh" "$cache" 2>"$cache/prepare.log"); then
	sed 's/^/#   /' "$cache/prepare.log" | tail -n 30
	fail_host "$(grep '^offload-vm: ' "$cache/prepare.log" | tail -1 | sed 's/^offload-vm: //')"
fi
kdir=$(echo "$kdir" | tail -1)
grep '^# ' "$cache/prepare.log"
t_prepare=$(elapsed "$t")
for tool in qemu-system-x86_64 cpio gzip; do
	command -v "$tool" >/dev/null || fail_host "no $tool after prepare.sh (apt-get install failed?)"
done

# The one-way UDP client the VM's tests simulate remote subscribers with.
inject=$cache/tools/udp_inject
if [ ! -x "$inject" ] || [ "$here/udp_inject.c" -nt "$inject" ]; then
	mkdir -p "$cache/tools"
	"${CC:-gcc}" -O2 -Wall -Wextra -o "$inject.tmp" "$here/udp_inject.c" &&
		mv "$inject.tmp" "$inject" || fail_host "cannot build udp_inject"
fi

# ---- 3: initramfs (a private one: concurrent runs do not share it) ----------
t=$(date +%s.%N)
run_dir=$(mktemp -d "$cache/run.XXXXXX")
cleanup() { [ "${PSO_VM_KEEP:-0}" = 1 ] || rm -rf "$run_dir"; }
trap cleanup EXIT
initrd=$run_dir/initramfs.cpio.gz
if ! bash "$here/mkinitramfs.sh" "$build" "$kdir" "$inject" "$initrd" 2>"$run_dir/mkinitramfs.log"; then
	sed 's/^/#   /' "$run_dir/mkinitramfs.log" | tail -n 20
	fail_host "cannot pack the initramfs: $(tail -1 "$run_dir/mkinitramfs.log")"
fi
t_initrd=$(elapsed "$t")

# ---- 4: boot ------------------------------------------------------------------
t=$(date +%s.%N)
console=$cache/console.log
echo "# offload-vm: booting $(basename "$kdir") under qemu-system-x86_64 -accel tcg (timeout ${timeout_s} s)"
# -nographic: the serial console is stdio; stdin from /dev/null so qemu
# never takes over a terminal.  panic=-1 + -no-reboot: a crash ends qemu.
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg -cpu max -smp "$smp" -m 1G \
	-nographic -monitor none -serial stdio -nic none -no-reboot \
	-kernel "$kdir/vmlinuz" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 loglevel=1 quiet${PSO_VM_DAEMON_FLAGS:+ PSO_DAEMON_FLAGS=$PSO_VM_DAEMON_FLAGS}" \
	</dev/null 2>&1 | tr -d '\r' | tee "$console" | grep --line-buffered -E '^(ok |not ok |#|1\.\.)'
qemu_rc=${PIPESTATUS[0]}
t_vm=$(elapsed "$t")

# ---- results --------------------------------------------------------------------
passed=$(grep -c '^ok ' "$console")
failed=$(grep -c '^not ok ' "$console")
if ! grep -q '^# vm: tests done' "$console"; then
	if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
		why="timed out after ${timeout_s} s"
	else
		why="qemu exited $qemu_rc before the tests finished"
	fi
	echo "not ok $((passed + failed + 1)) - offload VM: $why (console: $console)"
	tail -n 30 "$console" | sed 's/^/#   /'
	failed=$((failed + 1))
fi
echo "# offload-vm: prepare ${t_prepare} s, initramfs ${t_initrd} s, VM ${t_vm} s, total $(elapsed "$t_start") s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
