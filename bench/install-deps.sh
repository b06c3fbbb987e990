#!/usr/bin/env bash
# install-deps.sh [--quick] - the Debian 12 packages the benchmarks need
# beyond the build's (tests/install-deps.sh): jq for the scripts, etcd-server
# for the control-plane experiment's etcd store (also a test dependency), and for
# the full run the servers users pick instead with their C client
# libraries, and gnuplot for the plots.  Does nothing when all are there.
# The servers are only installed, never started as services: the bench
# starts its own, inside its namespaces.
set -euo pipefail

PACKAGES=(jq etcd-server)
if [ "${1:-}" != --quick ]; then
	PACKAGES+=(mosquitto libmosquitto-dev redis-server libhiredis-dev nats-server libnats-dev
		gnuplot-nox)
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' init scripts from starting their services (a Redis
# and a Mosquitto on the host's loopback), unless a policy already exists.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	made_policy=1
fi
trap '[ $made_policy = 1 ] && rm -f "$policy"' EXIT
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
