#!/bin/sh
# Installs what berth's demo and tests need on a fresh Debian 12 machine.
set -eu
need=""
[ -x /bin/busybox ] && ! head -c 4096 /bin/busybox | grep -qa ld-linux || need="$need busybox-static"
command -v jq >/dev/null || need="$need jq"
if [ -n "$need" ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need
fi
