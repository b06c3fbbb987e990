# shellcheck shell=bash
# runfile.sh - the lock that makes a pin directory its broker's, under
# /run/psoffload, named by the directory's canonical path escaped as
# `systemd-escape --path` does (host/util/instance.h).  Source it.

# run_file PIN_DIR SUFFIX: /run/psoffload/PATH.SUFFIX (lock: the owner's
# lock).  PIN_DIR absolute and canonical, of letters, digits, '-', '_', '.'
# and '/': only '-' and '/' change.
run_file() {
	local p=${1#/}
	printf '/run/psoffload/%s.%s\n' "$(printf '%s' "$p" | sed -e 's/-/\\x2d/g' -e 's|/|-|g')" "$2"
}
