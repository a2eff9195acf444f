#!/bin/sh
# Builds a busybox bundle in ./demo and runs it with berth: the container
# shows its own hostname, that it is pid 1, and its own root filesystem.
set -eu
berth=${BERTH:-target/x86_64-unknown-linux-gnu/release/berth}
dir=demo
rm -rf "$dir" && mkdir -p "$dir/rootfs/bin"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$a"; done
"$berth" spec --bundle "$dir"
jq '.process.terminal = false | .hostname = "berth-demo"
    | .process.args = ["sh", "-c", "echo \"hostname: $(hostname)\"; echo \"my pid: $$\"; echo \"processes I can see:\"; ps; echo \"my / holds:\"; ls /; echo \"mounted:\"; grep -c . /proc/mounts"]' \
   "$dir/config.json" > "$dir/config.json.tmp" && mv "$dir/config.json.tmp" "$dir/config.json"
exec "$berth" run --bundle "$dir" "berth-demo-$$"
