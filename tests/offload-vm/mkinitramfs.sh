#!/usr/bin/env bash
# mkinitramfs.sh BUILD KDIR INJECT OUT - the offload VM's root file system.
#
# A gzip'd cpio (newc) archive with:
#   /init                     tests/offload-vm/init
#   /bin/busybox + symlinks   every applet, except those the real tools below
#                             replace (ip, tc)
#   /lib/modules/             KDIR/modules: netdevsim.ko, its dependencies and
#                             load-order
#   /pso/build/psoffload      with the BPF objects beside it (build/bpf/*.o) and
#   /pso/nic-profiles/        the profiles where the daemon looks by default
#                             (dirname(psoffload)/../nic-profiles)
#   /pso/build/udp_inject     INJECT (tests/offload-vm/udp_inject.c, built)
#   /pso/tests/               in-vm-tests.sh
#   /usr/sbin/{ip,tc,bpftool} iproute2's and bpftool's own binaries
#   + every shared library those binaries load (ldd), at the same paths.
set -euo pipefail
build=$(cd "${1:?usage: mkinitramfs.sh BUILD KDIR INJECT OUT}" && pwd)
kdir=${2:?}
inject=${3:?}
out=${4:?}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

die() { echo "offload-vm: $*" >&2; exit 1; }

stage=$out.d
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc,proc,sys,dev,tmp,run,root} \
	"$stage"/pso/{build/bpf,tests}

# ---- busybox -------------------------------------------------------------------
bb=$(command -v busybox || true)
[ -n "$bb" ] || die "no busybox: apt-get install busybox-static"
# ldd fails on a static binary, which the initramfs needs: no libraries.
! ldd "$bb" >/dev/null 2>&1 || die "$bb is dynamically linked: apt-get install busybox-static"
cp "$bb" "$stage/bin/busybox"
for applet in $("$bb" --list); do
	case "$applet" in ip | tc | busybox) continue ;; esac
	[ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
done

# ---- binaries and their libraries ----------------------------------------------
# copy_bin SRC DEST: the file, and each library `ldd SRC` resolves, at the
# path the dynamic loader looks for it (symlinks resolved).
copy_bin() {
	local src=$1 dest=$2 lib
	[ -x "$src" ] || die "missing $src"
	install -D -m 0755 "$src" "$stage$dest"
	for lib in $(ldd "$src" | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}'); do
		[ -e "$stage$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$stage$lib"
	done
	if ldd "$src" | grep -q "not found"; then
		die "$src: $(ldd "$src" | grep "not found" | head -1)"
	fi
}
copy_bin "$build/psoffload" /pso/build/psoffload
copy_bin "$inject" /pso/build/udp_inject
ip=$(command -v ip) || die "no ip: apt-get install iproute2"
tc=$(command -v tc) || die "no tc: apt-get install iproute2"
bpftool=$(command -v bpftool) || die "no bpftool: apt-get install bpftool"
copy_bin "$(readlink -f "$ip")" /usr/sbin/ip
copy_bin "$(readlink -f "$tc")" /usr/sbin/tc
copy_bin "$(readlink -f "$bpftool")" /usr/sbin/bpftool

cp "$build"/bpf/*.o "$stage/pso/build/bpf/"
cp -r "$root/nic-profiles" "$stage/pso/nic-profiles"
install -m 0755 "$here/in-vm-tests.sh" "$stage/pso/tests/in-vm-tests.sh"
install -m 0755 "$here/init" "$stage/init"

# ---- modules ---------------------------------------------------------------------
cp "$kdir"/modules/*.ko "$kdir/modules/load-order" "$stage/lib/modules/"

# ---- the little /etc the tools read -------------------------------------------
printf '127.0.0.1 localhost\n::1 localhost\n' >"$stage/etc/hosts"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\n' >"$stage/etc/group"

# ---- pack ------------------------------------------------------------------------
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$stage"
