#!/bin/sh
# Installs what building berth, its demo and its tests need on a fresh
# Debian 12 machine.
set -eu
need=""
[ -x /bin/busybox ] && ! head -c 4096 /bin/busybox | grep -qa ld-linux || need="$need busybox-static"
command -v jq >/dev/null || need="$need jq"
# libseccomp is linked statically into berth (.cargo/config.toml).
[ -f /usr/lib/x86_64-linux-gnu/libseccomp.a ] || need="$need libseccomp-dev pkg-config"
if [ -n "$need" ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need
fi
