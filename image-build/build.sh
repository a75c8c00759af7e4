#!/bin/bash
# Build the pijig SD card image for Raspberry Pi 3 / 4 / Zero 2 W from Debian trixie packages:
#   image-build/build.sh        ->  image-build/out/pijig-<version>-arm64.img (+ .sha256)
#
# 1. the arm64 root filesystem: mmdebstrap output, cached by packages.list + rootfs.sh (rootfs.sh)
# 2. pijig in /opt/pijig, built for arm64 (app.sh)
# 3. the appliance's configuration (overlay/, ../systemd/), applied in the arm64 root
# 4. three partitions made as files without loop mounts, then one image:
#      1 RASPIFIRM  vfat  256 MiB  firmware, kernel, initrd, config.txt, cmdline.txt
#      2 RASPIROOT  ext4  fixed    the read-only root (same size in every release: updates
#                                  rewrite partitions 1 and 2 only)
#      3 pijig-data ext4  64 MiB   /data: station data, wiring, journal, SSH keys, homes; grown
#                                  to the end of the card on first boot, kept across updates
# Needs root (ownership in the file systems, chroot), qemu-user-static + binfmt-support,
# mmdebstrap, arch-test, dosfstools, mtools, e2fsprogs, fdisk, gcc-aarch64-linux-gnu, zstd.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cache="${PIJIG_IMAGE_CACHE:-/var/cache/pijig-image}"
work="${PIJIG_IMAGE_WORK:-$cache/work}"
out="$here/out"
BOOT_MB=256
ROOT_MB=${PIJIG_ROOT_MB:-1536}
DATA_MB=64
started=$SECONDS
step() { echo "build: [$(( SECONDS - started ))s] $*" >&2; }

[ "$(id -u)" = 0 ] || { echo "build.sh: run as root (file ownership in the image, chroot)" >&2; exit 1; }
version="$(node -p "require('$repo/package.json').version")"
img="$out/pijig-$version-arm64.img"

step "root filesystem (cache: $cache)"
# PIJIG_ROOTFS_TARBALL: use this root filesystem tarball instead (while working on the recipe)
tarball="${PIJIG_ROOTFS_TARBALL:-$("$here/rootfs.sh")}"
# keep the two newest root filesystems in the cache (each is about 300 MB)
ls -t "$cache"/rootfs-*.tar.zst 2>/dev/null | tail -n +3 | xargs -r rm -f --

root="$work/root"
data="$work/data"
cleanup() {
  for m in "$root/proc" "$root/sys" "$root/dev"; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  return 0
}
trap cleanup EXIT
cleanup
rm -rf "$work"
mkdir -p "$root" "$data" "$out"

step "extract $(basename "$tarball")"
tar --zstd --numeric-owner --xattrs --xattrs-include='*' -xpf "$tarball" -C "$root"

step "pijig for arm64"
"$here/app.sh" "$root/opt/pijig" > "$work/app.log" || { cat "$work/app.log" >&2; exit 1; }
mkdir -p "$root/opt/pijig/image-build"
cp "$here/README.md" "$root/opt/pijig/image-build/"

step "configuration"
cp -r --no-preserve=ownership "$here/overlay/." "$root/"
sys="$repo/systemd"
install -m 0644 "$sys/pijig.service" "$root/etc/systemd/system/pijig.service"
install -m 0644 "$sys/pijig.sysusers.conf" "$root/usr/lib/sysusers.d/pijig.conf"
install -m 0644 "$sys/pijig.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/pijig.conf"
install -m 0644 "$sys/pijig.modules-load.conf" "$root/etc/modules-load.d/pijig.conf"
install -m 0644 "$sys/60-pijig.rules" "$root/etc/udev/rules.d/60-pijig.rules"
install -D -m 0644 "$sys/journald-pijig.conf" "$root/etc/systemd/journald.conf.d/pijig.conf"
# the station's defaults for a card that has none (first boot copies them to /etc/pijig)
sed -e 's|^\(  path: \)/dev/ttyAMA0 .*|\1/dev/ttyS1                  # the header UART: serial1 = ttyS1 on Debian'"'"'s device trees (Pi 3/4/Zero 2 W)|' \
  "$repo/jig-config/station.yaml" > "$root/usr/share/pijig/station.yaml"
cp "$repo/jig-config/plan.yaml" "$root/usr/share/pijig/plan.yaml"
(cd "$root/usr/share/pijig" && node "$repo/dist/cli.js" config check station.yaml plan.yaml >&2)
ln -sf /opt/pijig/dist/cli.js "$root/usr/local/bin/pijig"
chmod 0440 "$root/etc/sudoers.d/pijig-engineer"

step "configure in the arm64 root (qemu-user)"
mount -t proc proc "$root/proc"
install -m 0755 "$here/configure-root.sh" "$root/tmp/configure-root.sh"
timeout --kill-after=10 900 chroot "$root" /tmp/configure-root.sh >&2
rm -f "$root/tmp/configure-root.sh"
umount "$root/proc"

step "data partition skeleton"
engineer_uid=$(chroot "$root" id -u engineer); engineer_gid=$(chroot "$root" id -g engineer)
pijig_uid=$(chroot "$root" id -u pijig); pijig_gid=$(chroot "$root" id -g pijig)
install -d -m 0755 "$data/etc-pijig" "$data/systemd" "$data/log" "$data/home" "$data/ssh"
install -d -m 0750 -o "$pijig_uid" -g "$pijig_gid" "$data/pijig"
install -d -m 0750 -o "$engineer_uid" -g "$engineer_gid" "$data/home/engineer"
# what the packages put in the directories the data partition covers
cp -a "$root/var/lib/systemd/." "$data/systemd/"
cp -a "$root/var/log/." "$data/log/"
install -d -m 2755 -g "$(chroot "$root" getent group systemd-journal | cut -d: -f3)" "$data/log/journal"

step "boot partition"
rm -f "$work/boot.vfat" "$work/root.ext4" "$work/data.ext4"
mkfs.vfat -C -F 32 -n RASPIFIRM -S 512 "$work/boot.vfat" $(( BOOT_MB * 1024 )) > /dev/null
mcopy -s -p -i "$work/boot.vfat" "$root/boot/firmware/"* ::
mdir -i "$work/boot.vfat" -b :: | sed 's|^::/||' | sort | tr '\n' ' ' >&2; echo >&2
find "$root/boot/firmware" -mindepth 1 -delete

step "root partition (ext4, ${ROOT_MB} MiB)"
used_mb=$(( $(du -sxm "$root" | cut -f1) ))
[ "$used_mb" -lt $(( ROOT_MB * 85 / 100 )) ] || { echo "build.sh: the root needs $used_mb MiB, too close to ROOT_MB=$ROOT_MB" >&2; exit 1; }
mkfs.ext4 -q -F -L RASPIROOT -m 0 -d "$root" "$work/root.ext4" "${ROOT_MB}M"

step "data partition (ext4, ${DATA_MB} MiB, grows on first boot)"
mkfs.ext4 -q -F -L pijig-data -m 1 -d "$data" "$work/data.ext4" "${DATA_MB}M"

step "image"
boot_start=$(( 4 * 2048 ))                       # sectors: 4 MiB alignment
root_start=$(( boot_start + BOOT_MB * 2048 ))
data_start=$(( root_start + ROOT_MB * 2048 ))
total=$(( data_start + DATA_MB * 2048 ))
rm -f "$img" "$img.sha256"
truncate -s $(( total * 512 )) "$img.partial"
sfdisk --quiet "$img.partial" <<SFDISK
label: dos
unit: sectors

start=$boot_start, size=$(( BOOT_MB * 2048 )), type=c, bootable
start=$root_start, size=$(( ROOT_MB * 2048 )), type=83
start=$data_start, size=$(( DATA_MB * 2048 )), type=83
SFDISK
dd if="$work/boot.vfat" of="$img.partial" bs=1M seek=$(( boot_start / 2048 )) conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$img.partial" bs=1M seek=$(( root_start / 2048 )) conv=notrunc,sparse status=none
dd if="$work/data.ext4" of="$img.partial" bs=1M seek=$(( data_start / 2048 )) conv=notrunc,sparse status=none
mv "$img.partial" "$img"
(cd "$out" && sha256sum "$(basename "$img")" > "$(basename "$img").sha256")
rm -rf "$work"
step "done: $img ($(( total / 2048 )) MiB; root uses $used_mb MiB of $ROOT_MB)"
echo "$img"
