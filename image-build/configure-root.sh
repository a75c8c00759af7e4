#!/bin/sh
# Runs inside the arm64 root (chroot, qemu-user) while build.sh makes the image.
set -eu
say() { echo "configure-root: $*"; }

say "users"
systemd-sysusers
# The engineer logs in over SSH with a key (no password: '*'), reads the journal, uses the
# station's control socket (pijig-control) and the devices, and has sudo (sudoers.d/pijig-engineer).
useradd --no-create-home --home-dir /home/engineer --shell /bin/bash --user-group \
  --groups pijig-control,systemd-journal,adm,gpio,i2c,dialout,plugdev engineer
usermod --password '*' engineer

say "services"
systemctl set-default multi-user.target
systemctl enable pijig.service pijig-firstboot.service pijig-grow-data.service \
  systemd-networkd.service systemd-resolved.service systemd-timesyncd.service ssh.service
# nothing waits for the network; a station without a cable must not fail its boot
systemctl disable systemd-networkd-wait-online.service 2>/dev/null || true
# jobs that write to the read-only root, the interactive first-boot prompt, and the SSH host
# key maker of openssh-server (pijig-firstboot makes them on the data partition)
systemctl mask apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
  dpkg-db-backup.timer dpkg-db-backup.service e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  systemd-firstboot.service sshd-keygen.service
# Wi-Fi is not configured on the station (a cable, or see README for the Zero 2 W)
systemctl disable wpa_supplicant.service 2>/dev/null || true
ln -sf ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf

say "first-boot state: empty machine-id, no SSH host keys"
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
install -d -m 0755 /data /var/lib/pijig /etc/pijig
install -d -m 0750 -o pijig -g pijig /media/pijig
# sticks mount in folders of their own under /media/pijig (60-pijig.rules): a small tmpfs there,
# since the root is read-only
echo "tmpfs             /media/pijig     tmpfs nosuid,nodev,noexec,mode=0750,uid=$(id -u pijig),gid=$(id -g pijig),size=64k  0 0" >> /etc/fstab
# directories tmpfiles would make at boot, made now on what becomes the read-only root
systemd-tmpfiles --create --exclude-prefix=/dev --exclude-prefix=/proc --exclude-prefix=/sys \
  --exclude-prefix=/run --exclude-prefix=/tmp --exclude-prefix=/var/tmp --exclude-prefix=/var/log \
  --exclude-prefix=/var/lib/systemd --exclude-prefix=/home --exclude-prefix=/etc/pijig 2>&1 | sed 's/^/  tmpfiles: /' || true

say "pijig.service as the image's own systemd sees it"
systemd-analyze verify --man=no /etc/systemd/system/pijig.service
score=$(systemd-analyze security --offline=true --no-pager /etc/systemd/system/pijig.service | sed -n 's/.*Overall exposure level for pijig.service: \([0-9.]*\).*/\1/p')
say "  systemd-analyze security --offline=true: $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 4.0) }' || { echo "configure-root: pijig.service exposure $score is above 4.0" >&2; exit 1; }

say "boot partition (config.txt, cmdline.txt, kernel, initrd, device trees)"
DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
sed 's/^/  cmdline.txt: /' /boot/firmware/cmdline.txt

say "pijig's native addons load on this node ($(node --version), $(uname -m))"
cd /opt/pijig
node --input-type=module -e "
  import { createRequire } from 'node:module';
  const require = createRequire('/opt/pijig/package.json');
  require('i2c-bus'); require('epoll');
  const { autoDetect } = require('@serialport/bindings-cpp'); autoDetect();
  const koffi = require('koffi');
  const getpid = koffi.load('libc.so.6').func('int getpid()');
  if (getpid() !== process.pid) throw new Error('koffi: getpid() disagrees');
  console.log('  i2c-bus, epoll, @serialport/bindings-cpp, koffi ' + koffi.version + ': ok');
"
