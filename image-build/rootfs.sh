#!/bin/bash
# Build (or reuse) the cached arm64 root filesystem tarball of the pijig image.
#
#   image-build/rootfs.sh            prints the path of the cached tarball, building it when missing
#   image-build/rootfs.sh --key      prints the cache key only
#
# The tarball is the output of mmdebstrap (Debian trixie, main + non-free-firmware, minbase plus
# packages.list), with the initramfs built exactly once. Everything that is cheap and changes often
# (pijig itself, configuration) is added later by build.sh, so a code change reuses this cache.
# The key is a hash of packages.list and this script; the cache lives outside the checkout in
# ${PIJIG_IMAGE_CACHE:-/var/cache/pijig-image}.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${PIJIG_IMAGE_CACHE:-/var/cache/pijig-image}"
suite=trixie
mirror="${PIJIG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

packages="$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.list" | tr -d ' \t' | sort -u | paste -sd, -)"
key="$( { echo "$suite $mirror"; echo "$packages"; cat "$here/rootfs.sh"; } | sha256sum | cut -c1-16)"
tarball="$cache/rootfs-$suite-arm64-$key.tar.zst"

if [ "${1:-}" = --key ]; then echo "$key"; exit 0; fi
if [ -s "$tarball" ]; then echo "$tarball"; exit 0; fi

mkdir -p "$cache"
# arm64 maintainer scripts run through qemu-user (binfmt_misc, "F" flag so it works in the chroot)
if [ "$(uname -m)" != aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
fi

tmp="$cache/.partial-$$.tar.zst"
trap 'rm -f "$tmp"' EXIT
echo "rootfs: building $tarball (mmdebstrap under qemu-user: about 15-20 minutes on 2 cores)" >&2
start=$SECONDS
# - no docs, man pages, locales: smaller image, less for dpkg to unpack under emulation; no fsync
#   per unpacked file (force-unsafe-io): the tarball is written once at the end
# - update-initramfs is diverted while packages install (the kernel, initramfs-tools, udev, zstd
#   and the firmware each trigger it) and run once at the end
mmdebstrap --arch=arm64 --variant=minbase --mode=root \
  --components="main non-free-firmware" \
  --include="$packages" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='force-unsafe-io' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs' \
  --essential-hook='printf "#!/bin/sh\necho update-initramfs: deferred by the pijig image build\n" > "$1/usr/sbin/update-initramfs"; chmod 755 "$1/usr/sbin/update-initramfs"' \
  --customize-hook='rm -f "$1/usr/sbin/update-initramfs"; chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs' \
  --customize-hook='chroot "$1" update-initramfs -c -k all' \
  --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
  "$suite" "$tmp" "$mirror" >&2
mv "$tmp" "$tarball"
echo "rootfs: built in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s" >&2
echo "$tarball"
