#!/bin/bash
# The appliance in CI: install what the image build and the boot test need, check the unit, build
# the image (the arm64 root filesystem comes from the cache when packages.list and rootfs.sh are
# unchanged), boot it in QEMU.
#   image-build/ci.sh            everything
#   image-build/ci.sh --units    only the systemd checks (seconds)
#   image-build/ci.sh --deps     only install what the build needs (.ci/run, before it starts the
#                                root filesystem in the background while the tests run)
# Runs as root, or with sudo for apt-get, mount and chroot.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"
started=$SECONDS
say() { echo "image-ci: [$(( SECONDS - started ))s] $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo --preserve-env=PIJIG_IMAGE_CACHE "$@"; fi; }

# Debian (bookworm) packages: the command each one provides
declare -A NEED=(
  [mmdebstrap]=mmdebstrap [arch-test]=arch-test [qemu-user-static]=/usr/libexec/qemu-binfmt/aarch64-binfmt-P
  [binfmt-support]=update-binfmts [qemu-system-arm]=qemu-system-aarch64
  [dosfstools]=mkfs.vfat [mtools]=mcopy [e2fsprogs]=mkfs.ext4 [fdisk]=sfdisk [zstd]=zstd
  [gcc-aarch64-linux-gnu]=aarch64-linux-gnu-gcc [g++-aarch64-linux-gnu]=aarch64-linux-gnu-g++
  [device-tree-compiler]=dtc [openssh-client]=ssh [file]=file [systemd]=systemd-analyze
  [python3]=python3 [make]=make [socat]=socat
)
missing=()
for pkg in "${!NEED[@]}"; do
  c="${NEED[$pkg]}"
  if [[ "$c" == /* ]]; then [ -e "$c" ] || missing+=("$pkg"); else command -v "$c" > /dev/null || missing+=("$pkg"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

[ "${1:-}" = --deps ] && exit 0

say "systemd-analyze verify"
# verify resolves the unit's executables on this machine: give it a stand-in tree when /opt/pijig is absent
verify_root="$(mktemp -d)"
trap 'rm -rf "$verify_root"' EXIT
mkdir -p "$verify_root/etc/systemd/system"
cp systemd/pijig.service "$verify_root/etc/systemd/system/"
( cd "$verify_root/etc/systemd/system" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no ./pijig.service ) 2>&1 | tee "$verify_root/verify.log"
if grep -v -E "Unknown section 'Install'|/opt/pijig/dist/cli.js" "$verify_root/verify.log" | grep -q .; then
  echo "image-ci: systemd-analyze verify complained about pijig.service" >&2; exit 1
fi
udevadm verify systemd/60-pijig.rules 2>/dev/null || true  # udevadm verify exists from systemd 254 on

say "systemd-analyze security --offline=true (must be 4.0 or lower)"
score_line="$(systemd-analyze security --offline=true --no-pager systemd/pijig.service | grep 'Overall exposure level')"
echo "$score_line"
score="$(echo "$score_line" | grep -oE '[0-9]+\.[0-9]+' | head -1)"
awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }' || { echo "image-ci: exposure $score is above 4.0" >&2; exit 1; }

[ "${1:-}" = --units ] && exit 0

say "image build"
as_root "$here/build.sh"
img="$(ls -t "$here"/out/pijig-*-arm64.img | head -1)"
say "image: $img ($(du -h --apparent-size "$img" | cut -f1), $(du -h "$img" | cut -f1) on disk)"

say "boot test"
as_root "$here/boot-test.sh" "$img"
say "done"
