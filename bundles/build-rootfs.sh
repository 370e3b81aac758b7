#!/bin/bash
# Builds bundles/rootfs: Debian's static busybox, its applet symlinks, the
# /payload probe and a minimal /etc.  Every bundle directory (one holding a
# config.json) gets its own rootfs/, a hard-linked copy of the shared one:
# runc refuses a rootfs path that is a symlink.  Safe to run again: it
# returns at once when nothing it depends on has changed.
#
# Environment: BUSYBOX (default /bin/busybox), a statically linked busybox.
set -Eeuo pipefail
trap 'echo "build-rootfs.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

die() {
    echo "build-rootfs.sh: $*" >&2
    exit 1
}

bundles=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$bundles")
rootfs=$bundles/rootfs
stamp=$bundles/.rootfs-stamp
build=$repo/build
payload_source=$repo/native/payload/payload.c
payload=$build/payload
busybox=${BUSYBOX:-/bin/busybox}

# ldd succeeds only on a dynamic executable, which would need a libc in
# the rootfs.
is_static() {
    [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1
}
if ! is_static "$busybox"; then
    [ "$busybox" = /bin/busybox ] || die "$busybox is not a static executable"
    echo "build-rootfs.sh: installing busybox-static" >&2
    apt-get install -y busybox-static >&2 || die "cannot install busybox-static"
    is_static "$busybox" || die "$busybox is still not a static executable"
fi

if [ ! "$payload" -nt "$payload_source" ]; then
    cmake -S "$repo" -B "$build" >/dev/null
    cmake --build "$build" --target payload
fi

# Gives each bundle its rootfs copy; with "all", replaces existing copies,
# which still link the files of the previous build.
link_bundles() {
    local bundle
    for bundle in "$bundles"/*/; do
        bundle=${bundle%/}
        [ -f "$bundle/config.json" ] || continue
        if [ "$1" = all ] || [ -L "$bundle/rootfs" ] || [ ! -d "$bundle/rootfs" ]; then
            rm -rf "$bundle/rootfs"
            cp -al "$rootfs" "$bundle/rootfs"
        fi
    done
}

up_to_date() {
    [ -f "$stamp" ] && [ -x "$rootfs/payload" ] &&
        [ "$stamp" -nt "$busybox" ] && [ "$stamp" -nt "$payload" ] &&
        [ "$stamp" -nt "${BASH_SOURCE[0]}" ]
}
if up_to_date; then
    link_bundles missing
    exit 0
fi
rm -f "$stamp"

for dir in bin sbin etc proc sys dev tmp root home/user var run usr/bin usr/sbin; do
    mkdir -p "$rootfs/$dir"
done
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
if [ "$(id -u)" = 0 ]; then
    chown 1000:1000 "$rootfs/home/user"
fi

install -m 0755 "$busybox" "$rootfs/bin/busybox"
install -m 0755 "$payload" "$rootfs/payload"

# --list-full names each applet with its directory (bin/ls, usr/bin/awk);
# each link climbs back to the root with one ../ per directory level.
"$busybox" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    slashes=${applet//[^\/]/}
    ln -sfn "${slashes//\//../}bin/busybox" "$rootfs/$applet"
done

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
GROUP

link_bundles all
touch "$stamp"
echo "build-rootfs.sh: built $rootfs"
