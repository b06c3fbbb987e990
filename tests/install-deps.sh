#!/usr/bin/env bash
# Install the Debian 12 packages psoffload builds, tests and demos with
# (libclang-rt-14-dev: clang's libFuzzer and sanitizer runtimes, for
# `make fuzz`; python3: tests/fuzz/make_corpus.py; etcd-server and
# etcd-client: the etcd store's tests start their own members, so the
# package's service is kept from starting while it installs).
# Does nothing when they are all there already.
set -euo pipefail

PACKAGES=(
	make gcc clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config
	libnl-3-dev libnl-route-3-dev libnl-genl-3-dev libcmocka-dev
	libinih-dev libjson-c-dev libsystemd-dev libmicrohttpd-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev etcd-server etcd-client bpftool iproute2 ethtool tshark jq
	curl python3 debhelper dpkg-dev scdoc systemd util-linux
	libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	policy=/usr/sbin/policy-rc.d
	made_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		made_policy=1
	fi
	trap '[ $made_policy = 0 ] || rm -f "$policy"' EXIT
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
