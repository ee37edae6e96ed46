#!/bin/sh
# `make image`: the OCI image pairpick:VERSION from Debian packages only (no
# container registry is needed): a Debian 12 minbase root made by
# mmdebstrap, the .deb installed into it by apt inside the root (so apt
# resolves its dependencies), a non-root user, then imported with podman.
#
#   tests/package/image.sh DEB VERSION CACHE [--rootfs-only]
#
# Leaves build/image/rootfs.tar (the image's root filesystem, also used by
# tests/package/run.sh) and, unless --rootfs-only, the image pairpick:VERSION
# in podman's store and build/image/pairpick_VERSION.oci.tar (podman load,
# skopeo copy).
#
# CACHE keeps the minbase root as a tarball (with its apt lists) and every
# .deb apt downloads, so a second build neither runs mmdebstrap nor
# downloads. The root is made again when the mmdebstrap command changes or
# the tarball is older than CACHE_DAYS (7) days. build/ holds tarballs
# only, never an unpacked root: the Makefile reads every *.d under build/
# as a dependency file, and a root has many (etc/apt/apt.conf.d ...). The
# root is assembled in a temporary folder. Run as root.
set -eu

deb=${1:?usage: image.sh DEB VERSION CACHE [--rootfs-only]}
version=${2:?usage: image.sh DEB VERSION CACHE [--rootfs-only]}
cache=${3:?usage: image.sh DEB VERSION CACHE [--rootfs-only]}
mode=${4:-}
suite=bookworm
out=build/image
uid=10001

[ "$(id -u)" -eq 0 ] || { echo "image: run as root (mmdebstrap, chroot)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "image: mmdebstrap is missing (make deps-test installs it)" >&2; exit 1; }
[ -f "$deb" ] || { echo "image: $deb: no such file (make deb)" >&2; exit 1; }

mkdir -p "$cache/archives" "$out"
rm -f "$out/rootfs.tar"
cache=$(cd "$cache" && pwd)
base=$cache/$suite-minbase.tar

# The image keeps no translations, translated manual pages or documentation
# but pairpick's own and every copyright file (as debian:bookworm-slim
# does). dpkg keeps an excluded folder only for an include pattern that
# starts with the folder's path: man[1-9]/* does, man1/pairpick.1* does
# not, so pairpick's man1 folder would be missing.
set -- --variant=minbase --skip=essential/unlink --skip=cleanup/apt/lists \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-include=/usr/share/man/man[1-9]/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-include=/usr/share/doc/pairpick/*' \
    --dpkgopt='path-exclude=/usr/share/info/*'
recipe="mmdebstrap $* $suite"

if [ ! -f "$base" ] || [ "$(cat "$base.recipe" 2>/dev/null)" != "$recipe" ] \
    || [ -n "$(find "$base" -mtime +"${CACHE_DAYS:-7}")" ]; then
    echo "image: making the $suite minbase root with mmdebstrap (cached in $base)"
    rm -f "$base" "$base.tmp" "$base.recipe"
    mmdebstrap "$@" --format=tar \
        --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
        --setup-hook="sync-in $cache/archives /var/cache/apt/archives/" \
        --customize-hook="sync-out /var/cache/apt/archives $cache/archives" \
        "$suite" "$base.tmp"
    mv "$base.tmp" "$base"
    echo "$recipe" > "$base.recipe"
else
    echo "image: the $suite minbase root from $base"
fi

mounted=""
unmount() {
    for m in $mounted; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
    mounted=""
}
# Nothing is removed while a folder of the host is still mounted in the root.
remove_root() {
    unmount
    [ -n "${rootfs:-}" ] || return 0
    if grep -q " $rootfs/" /proc/mounts; then
        echo "image: $rootfs still has mounts; left in place" >&2
        return 0
    fi
    rm -rf "$rootfs"
}
trap remove_root EXIT
trap 'exit 1' INT TERM

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-image.XXXXXX")
tar -x -f "$base" -C "$rootfs"

# apt inside the root installs the .deb and fetches what it depends on
# (from the cache when it is there); the host's resolver for the download.
cp "$deb" "$rootfs/tmp/"
name=$(basename "$deb")
mount --bind "$cache/archives" "$rootfs/var/cache/apt/archives"
mounted="$rootfs/var/cache/apt/archives $mounted"
mount -t proc proc "$rootfs/proc"
mounted="$rootfs/proc $mounted"
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
in_root() {
    chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
}
if ! in_root apt-get install -y -q --no-install-recommends "/tmp/$name"; then
    # The cached package lists may name versions the archive no longer has.
    in_root apt-get update -q
    in_root apt-get install -y -q --no-install-recommends "/tmp/$name"
fi
in_root useradd --system --uid "$uid" --user-group --create-home --home-dir /home/pairpick \
    --shell /usr/sbin/nologin pairpick
in_root apt-get clean
unmount
rm -rf "$rootfs/tmp/$name" "$rootfs"/var/lib/apt/lists/* "$rootfs/etc/resolv.conf"
: > "$rootfs/etc/resolv.conf"

installed=$(chroot "$rootfs" /usr/bin/pairpick --version)
tar -C "$rootfs" --numeric-owner -c -f "$out/rootfs.tar.tmp" .
mv "$out/rootfs.tar.tmp" "$out/rootfs.tar"
echo "image: $installed installed by apt; root filesystem in $out/rootfs.tar"

[ "$mode" = "--rootfs-only" ] && exit 0

command -v podman >/dev/null || { echo "image: podman is missing (make deps-test installs it)" >&2; exit 1; }
podman import \
    --change "ENTRYPOINT [\"/usr/bin/pairpick\"]" \
    --change "CMD [\"--help\"]" \
    --change "USER $uid:$uid" \
    --change "WORKDIR /home/pairpick" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV HOME=/home/pairpick" \
    --change "LABEL org.opencontainers.image.title=pairpick" \
    --change "LABEL org.opencontainers.image.version=$version" \
    --change "LABEL org.opencontainers.image.licenses=MIT" \
    --message "pairpick $version on Debian 12 ($suite minbase)" \
    "$out/rootfs.tar" "localhost/pairpick:$version" >/dev/null
rm -f "$out/pairpick_$version.oci.tar"
podman save --format oci-archive -o "$out/pairpick_$version.oci.tar" "localhost/pairpick:$version"
echo "image: pairpick:$version built; also $out/pairpick_$version.oci.tar"
