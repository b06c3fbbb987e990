#!/usr/bin/env bash
# prepare.sh CACHE - the kernel and the modules the offload VM boots with.
#
#   1. The current linux-image-6.1.0-N-amd64 behind Debian's linux-image-amd64
#      (apt-get download, never installed), the matching
#      linux-headers-6.1.0-N-amd64 and linux-source-6.1 (installed), and the
#      tools the VM needs: qemu-system-x86, busybox-static, cpio, kmod.
#   2. netdevsim.ko built out of tree from the source's drivers/net/netdevsim/
#      (CONFIG_NETDEVSIM=m) against those headers, and the modules it depends
#      on (modinfo -F depends, recursively) taken from the kernel package.
#
# Everything lands in CACHE/kernel/KVER/: vmlinuz, modules/*.ko and
# modules/load-order (one module name per line, dependencies first).  A step
# whose output is there already is skipped, so a second run only asks apt
# which kernel is current.  Prints the directory as its last line.
#
# Exits non-zero with one line "offload-vm: ..." when the host cannot do it
# (no package lists, download refused, build failed).
set -euo pipefail
cache=$(mkdir -p "${1:?usage: prepare.sh CACHE}" && cd "$1" && pwd)
export DEBIAN_FRONTEND=noninteractive

die() { echo "offload-vm: $*" >&2; exit 1; }
log() { echo "# offload-vm: $*" >&2; }

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, kernel headers); got uid $(id -u)"
command -v apt-cache >/dev/null || die "no apt-cache: this needs a Debian 12 host"

# ---- 1. which kernel ---------------------------------------------------------

# The ABI package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64.
current_image() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *|\{0,1\}Depends: \(linux-image-6\.1\.0-[0-9][0-9]*-amd64\)$/\1/p' | head -1
}
image=$(current_image)
if [ -z "$image" ]; then
	log "no package lists know linux-image-amd64: apt-get update"
	apt-get update -qq >&2 || die "apt-get update failed: cannot find Debian's current kernel"
	image=$(current_image)
fi
[ -n "$image" ] || die "apt-cache finds no linux-image-6.1.0-N-amd64 behind linux-image-amd64 (is this Debian 12?)"
kver=${image#linux-image-}
version=$(apt-cache show --no-all-versions "$image" | sed -n 's/^Version: //p' | head -1)
[ -n "$version" ] || die "apt-cache show $image gives no version"
kdir=$cache/kernel/$kver
mkdir -p "$kdir"
log "kernel $image $version"

# ---- 1b. the host's packages --------------------------------------------------

# The source at the image's own version when the archive still has it.
source_pkg=linux-source-6.1
if apt-cache madison linux-source-6.1 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' |
	grep -qxF "$version"; then
	source_pkg="linux-source-6.1=$version"
fi
packages=(qemu-system-x86 busybox-static cpio kmod xz-utils make "linux-headers-$kver" "$source_pkg")
missing=()
for p in "${packages[@]}"; do
	name=${p%%=*} want=${p#*=}
	[ "$name" != "$p" ] || want=
	have=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$name" 2>/dev/null || true)
	case "$have" in
	"ii "*) [ -z "$want" ] || [ "${have#ii }" = "$want" ] || missing+=("$p") ;;
	*) missing+=("$p") ;;
	esac
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
		die "apt-get install ${missing[*]} failed"
fi

# ---- 1c. the kernel package (downloaded, not installed) -----------------------

debs=$cache/debs
mkdir -p "$debs"
deb=$(ls "$debs/${image}_${version}_amd64.deb" 2>/dev/null || true)
if [ -z "$deb" ]; then
	log "apt-get download $image=$version"
	# apt's _apt user cannot write here: apt downloads as root then, and says so.
	(cd "$debs" && apt-get download -q "$image=$version" 2>&1 |
		grep -v "unsandboxed as root" >&2) || true
	deb=$(ls "$debs/${image}_${version}_amd64.deb" 2>/dev/null || true)
	[ -n "$deb" ] || die "apt-get download $image=$version failed (no network to Debian's archive?)"
	# A new kernel replaces the old one's cache.
	find "$debs" -maxdepth 1 -name 'linux-image-*.deb' ! -name "${deb##*/}" -delete
	find "$cache/kernel" -mindepth 1 -maxdepth 1 ! -name "$kver" -exec rm -rf {} +
fi

# ---- 2. netdevsim.ko out of tree ----------------------------------------------

headers=/usr/src/linux-headers-$kver
[ -f "$headers/Makefile" ] || die "$headers is missing after installing linux-headers-$kver"
src=$kdir/netdevsim-src
if [ ! -f "$src/netdevsim.ko" ]; then
	tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -1)
	[ -n "$tarball" ] || die "no /usr/src/linux-source-6.1.tar.* after installing linux-source-6.1"
	log "extracting drivers/net/netdevsim/ from $tarball"
	rm -rf "$src" "$kdir/src-tmp"
	mkdir -p "$kdir/src-tmp"
	# The driver is self-contained: its own headers plus the kernel's, which
	# the headers package has.
	tar -xf "$tarball" -C "$kdir/src-tmp" --wildcards '*/drivers/net/netdevsim/*' ||
		die "cannot extract drivers/net/netdevsim/ from $tarball"
	mv "$kdir"/src-tmp/*/drivers/net/netdevsim "$src"
	rm -rf "$kdir/src-tmp"
	log "building netdevsim.ko against $headers"
	make -s -C "$headers" M="$src" CONFIG_NETDEVSIM=m -j"$(nproc)" modules >"$kdir/netdevsim-build.log" 2>&1 || {
		tail -20 "$kdir/netdevsim-build.log" >&2
		die "building netdevsim.ko failed (log: $kdir/netdevsim-build.log)"
	}
	[ -f "$src/netdevsim.ko" ] || die "make modules built no netdevsim.ko"
fi

# ---- 2b. vmlinuz and the modules netdevsim needs, from the package -----------

# Beside netdevsim, what the daemon needs in the VM that Debian builds as
# modules and no modprobe can load there: clsact and cls_bpf for the TC path.
VM_MODULES="sch_ingress cls_bpf"
mods=$kdir/modules
if [ ! -f "$mods/load-order" ] || [ ! -f "$kdir/vmlinuz" ] ||
	[ "$(cat "$mods/wanted" 2>/dev/null)" != "netdevsim $VM_MODULES" ]; then
	log "unpacking $image from ${deb##*/}"
	pkg=$kdir/pkg
	rm -rf "$pkg" "$mods"
	mkdir -p "$pkg" "$mods"
	dpkg-deb -x "$deb" "$pkg" || die "dpkg-deb -x ${deb##*/} failed"
	cp "$pkg/boot/vmlinuz-$kver" "$kdir/vmlinuz.tmp" || die "no boot/vmlinuz-$kver in ${deb##*/}"
	cp "$src/netdevsim.ko" "$mods/"
	# Depth first: a module's dependencies go into load-order before it.
	order=()
	add_module() {
		local name=$1 file dep
		for dep in "${order[@]}"; do [ "$dep" = "$name" ] && return 0; done
		if [ "$name" = netdevsim ]; then
			file=$mods/netdevsim.ko
		else
			# modinfo says udp_tunnel for udp-tunnel.ko and the like
			file=$(find "$pkg/lib/modules/$kver" -name "${name//_/[-_]}.ko*" | head -1)
			[ -n "$file" ] || die "module $name (a dependency of netdevsim) is not in ${deb##*/}"
			case "$file" in
			*.xz) xz -dc "$file" >"$mods/$name.ko" ;;
			*.zst) zstd -qdc "$file" >"$mods/$name.ko" ;;
			*.gz) gzip -dc "$file" >"$mods/$name.ko" ;;
			*) cp "$file" "$mods/$name.ko" ;;
			esac
			file=$mods/$name.ko
		fi
		for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
			add_module "$dep"
		done
		order+=("$name")
	}
	add_module netdevsim
	for m in $VM_MODULES; do add_module "$m"; done
	printf '%s\n' "${order[@]}" >"$mods/load-order"
	echo "netdevsim $VM_MODULES" >"$mods/wanted"
	mv "$kdir/vmlinuz.tmp" "$kdir/vmlinuz"
	# The rest of the package (~400 MB of modules) is not needed again.
	rm -rf "$pkg"
	log "modules: $(tr '\n' ' ' <"$mods/load-order")"
fi

echo "$kdir"
