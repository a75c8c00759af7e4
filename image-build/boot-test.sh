#!/bin/bash
# Boot the pijig image in QEMU and check the appliance from the outside, as an engineer would:
#   image-build/boot-test.sh image-build/out/pijig-<version>-arm64.img
#
# qemu-system-aarch64 -M virt (cortex-a72, 2 CPUs, 2 GiB, software emulation) boots the image's
# own kernel and initrd (taken from its boot partition) with the image's own cmdline.txt, the
# console moved to virt's UART. Attached: the image (virtio disk, enlarged to prove the data
# partition grows), a USB stick (qemu-xhci + usb-storage, vfat) holding a bundle signed by a key
# made here with `pijig bundle keygen|create|sign`, and a user-mode network (restricted: no way
# out) with the guest's SSH forwarded to 127.0.0.1. The engineer's SSH key and the test's station
# wiring (with the bundle key) go into the boot partition's pijig/ folder, the way an engineer
# configures a freshly flashed card; the first boot takes them from there.
#
# virt has no Raspberry Pi GPIO or I2C. To let today's GPIO adapter (onoff, sysfs, which looks for
# the Pi's GPIO chip) start, the test adds to virt's device tree a bcm2835 GPIO block whose
# registers are plain RAM (the kernel's pinctrl-bcm2835 driver runs on it: 54 lines, base 512,
# edge setup; levels are what the test preset: START/ABORT released, lid open, I2C lines pulled
# up), and an i2c-gpio bus on lines 2/3 as i2c-1 on which nothing answers. So the station comes up
# in its fault state (DEVICE MISSING: INA219, TCS34725), as on a Pi with an empty I2C bus.
#
# One line per check: "BOOT-TEST PASS <check>: ..." or "BOOT-TEST FAIL <check>: ...", then
# "N passed, M failed". Exit status 0 only if every check passed.
# Environment: PIJIG_BOOT_TEST_KEEP=1 keeps the work folder; PIJIG_BOOT_TEST_PORT (default 10022).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
image="$(readlink -f "${1:?usage: boot-test.sh IMAGE}")"
port="${PIJIG_BOOT_TEST_PORT:-10022}"
work="$(mktemp -d "${TMPDIR:-/tmp}/pijig-boot-test.XXXXXX")"
started=$SECONDS
qemu_pid=""

CHECKS=(first-boot multi-user service-ready station-fault status-json selftest stick-mounted
  bundle-active stick-logs stick-removed watchdog-restart root-readonly data-grown control-group ssh-host-key journal-persists image-update)
declare -A RESULT=()
mark() { # mark pass|fail CHECK DETAIL
  local verdict="$1" check="$2" detail="$3"
  case "$verdict" in
    pass)
      [ "${RESULT[$check]:-}" = fail ] || RESULT[$check]=pass
      echo "BOOT-TEST PASS $check: $detail" ;;
    *)
      RESULT[$check]=fail
      echo "BOOT-TEST FAIL $check: $detail" ;;
  esac
}
log() { echo "boot-test: [$(( SECONDS - started ))s] $*" >&2; }
deadline() { timeout --kill-after=5 "$@"; }

finish() {
  stop_qemu
  local passed=0 failed=0
  for c in "${CHECKS[@]}"; do
    case "${RESULT[$c]:-}" in
      pass) passed=$((passed + 1)) ;;
      fail) failed=$((failed + 1)) ;;
      *) echo "BOOT-TEST FAIL $c: not reached"; failed=$((failed + 1)) ;;
    esac
  done
  log "console logs: $work/console-*.log"
  if [ "$failed" != 0 ] && [ -e "$work/disk.img" ]; then
    # the jig's journal, from the data partition, readable here with journalctl --directory
    local start
    start=$(sfdisk --json "$work/disk.img" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).partitiontable.partitions[2].start)')
    dd if="$work/disk.img" of="$work/data.ext4" bs=512 skip="$start" status=none &&
      debugfs -R "rdump /log/journal $work" "$work/data.ext4" > /dev/null 2>&1 &&
      log "journal: journalctl --directory=$(ls -d "$work"/journal/* | head -1)"
    rm -f "$work/data.ext4"
  fi
  if [ "$failed" = 0 ] && [ "${PIJIG_BOOT_TEST_KEEP:-0}" != 1 ]; then rm -rf "$work"; else log "work folder kept: $work"; fi
  echo "boot test: $(( SECONDS - started )) s"
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}

stop_qemu() {
  declare -F ssh_close > /dev/null && ssh_close
  [ -n "$qemu_pid" ] || return 0
  if kill -0 "$qemu_pid" 2>/dev/null; then kill -KILL "$qemu_pid" 2>/dev/null; fi
  wait "$qemu_pid" 2>/dev/null
  qemu_pid=""
}
trap 'stop_qemu' EXIT

for tool in qemu-system-aarch64 mcopy mmd mdir mkfs.vfat sfdisk dtc ssh ssh-keygen node; do
  command -v "$tool" > /dev/null || { echo "boot-test: $tool is missing (image-build/ci.sh installs what is needed)" >&2; exit 2; }
done
[ -r "$image" ] || { echo "boot-test: no image at $image" >&2; exit 2; }
[ -e "$repo/dist/cli.js" ] || (cd "$repo" && deadline 300 npm run build --silent) || exit 2
pijig() { node "$repo/dist/cli.js" "$@"; }

# --- the card: a copy of the image, 512 MiB larger than the image (a bigger SD card) -----------
log "image $(basename "$image") ($(( $(stat -c %s "$image") / 1048576 )) MiB)"
cp --sparse=always "$image" "$work/disk.img"
truncate -s +512M "$work/disk.img"
boot_offset=$(( $(sfdisk --json "$work/disk.img" | node -e 'const t=JSON.parse(require("fs").readFileSync(0)).partitiontable; console.log(t.partitions[0].start * (t.sectorsize ?? 512))') ))
boot="$work/disk.img@@$boot_offset"

kernel=$(mdir -b -i "$boot" :: | sed 's|^::/||' | grep '^vmlinuz-' | sort -V | tail -1)
initrd=$(mdir -b -i "$boot" :: | sed 's|^::/||' | grep '^initrd.img-' | sort -V | tail -1)
[ -n "$kernel" ] && [ -n "$initrd" ] || { echo "boot-test: no kernel/initrd on the boot partition" >&2; exit 2; }
mcopy -n -i "$boot" "::$kernel" "$work/vmlinuz"
mcopy -n -i "$boot" "::$initrd" "$work/initrd"
mcopy -n -i "$boot" ::cmdline.txt "$work/cmdline.txt"
# the image's own kernel command line; the console moves (to virt's PL011 UART)
# and, under software emulation, udev can take minutes to announce the devices at boot: systemd
# waits for them longer than the 90 s it allows on real hardware.
cmdline="$(tr -s ' \n' '  ' < "$work/cmdline.txt" | sed -E 's/(^| )console=[^ ]*//g') console=ttyAMA0 systemd.default_device_timeout_sec=600"
log "kernel $kernel, cmdline: $cmdline"

# --- the engineer: an SSH key, a signing key, a signed bundle on a stick -----------------------
ssh-keygen -q -t ed25519 -N '' -C boot-test -f "$work/engineer" || exit 2
pijig bundle keygen --out "$work/keys" --name boot-test > /dev/null || exit 2
pubkey=$(node -e 'const c=require("crypto"); const k=c.createPublicKey(require("fs").readFileSync(process.argv[1])); console.log(Buffer.from(k.export({format:"jwk"}).x,"base64url").toString("base64"))' "$work/keys/boot-test.pub")
mkdir -p "$work/build"
head -c 4096 /dev/urandom > "$work/build/app.bin"
cp "$repo/jig-config/plan.yaml" "$work/build/plan.yaml"
cat > "$work/build/manifest.template.json" <<JSON
{ "product": "widget", "version": "1.4.2", "build": "boot-test", "target": "stm32f103c8",
  "regions": [{ "name": "application", "file": "app.bin", "address": 134217728 }],
  "plan": { "file": "plan.yaml" },
  "identity": { "stations": { "qemu-virt": {
    "serial": { "prefix": "QV", "start": 1, "count": 1000, "digits": 6 },
    "mac": { "start": "02:50:4a:7e:00:01", "count": 1000 } } } } }
JSON
pijig bundle create --manifest "$work/build/manifest.template.json" --files "$work/build" --out "$work/stick/pijig/bundle" > /dev/null || exit 2
bundle_id=$(pijig bundle sign --key "$work/keys/boot-test.key" --bundle "$work/stick/pijig/bundle" | sed -n 's/^bundle id: //p')
[ -n "$bundle_id" ] || { echo "boot-test: signing the bundle failed" >&2; exit 2; }
log "bundle widget 1.4.2 signed, id ${bundle_id:0:12}"
# a partitioned stick (as sold), one vfat partition
truncate -s 64M "$work/stick.img"
echo 'start=2048, type=c' | sfdisk --quiet "$work/stick.img"
mkfs.vfat -C -F 32 -n PIJIGSTICK "$work/stick.vfat" $(( (64 - 1) * 1024 )) > /dev/null
mcopy -s -i "$work/stick.vfat" "$work/stick/pijig" ::
dd if="$work/stick.vfat" of="$work/stick.img" bs=1M seek=1 conv=notrunc status=none
rm -f "$work/stick.vfat"

# --- the station wiring and SSH key, on the boot partition (what an engineer does after dd) ----
mkdir -p "$work/seed"
cp "$work/engineer.pub" "$work/seed/authorized_keys"
sed -e 's|^  public_keys: \[\].*|  public_keys:\n    - { name: boot-test, public_key: "'"$pubkey"'" }|' \
  -e 's|^station_id: .*|station_id: qemu-virt|' -e 's|^  path: /dev/ttyAMA0 .*|  path: /dev/ttyS1|' \
  "$repo/jig-config/station.yaml" > "$work/seed/station.yaml"
pijig config check "$work/seed/station.yaml" "$repo/jig-config/plan.yaml" > /dev/null || { echo "boot-test: the test's station.yaml is invalid" >&2; exit 2; }
mmd -i "$boot" ::pijig
mcopy -i "$boot" "$work/seed/authorized_keys" "$work/seed/station.yaml" ::pijig/

# --- virt's device tree, plus a RAM-backed bcm2835 GPIO block and an i2c-gpio bus ---------------
qemu_machine=(-M virt -cpu cortex-a72 -smp 2 -m 2048)
qemu-system-aarch64 "${qemu_machine[@]}" -machine dumpdtb="$work/virt.dtb" -display none -net none > /dev/null 2>&1
dtc -q -I dtb -O dts "$work/virt.dtb" | sed 1d > "$work/virt.dts"
gpio_base=0xbff00000      # the last MiB of the 2 GiB of RAM, kept from Linux (no-map)
cat > "$work/pijig-virt.dts" <<DTS
/dts-v1/;
/include/ "virt.dts"
/ {
	reserved-memory {
		#address-cells = <2>;
		#size-cells = <2>;
		ranges;
		header-gpio-registers@bff00000 { reg = <0x00 ${gpio_base} 0x00 0x100000>; no-map; };
	};
	aliases { i2c1 = "/i2c-header"; };
	header_gpio: gpio@bff00000 {
		compatible = "brcm,bcm2835-gpio";
		reg = <0x00 ${gpio_base} 0x00 0x1000>;
		gpio-controller;
		#gpio-cells = <2>;
		interrupt-controller;
		#interrupt-cells = <2>;
	};
	i2c-header {
		compatible = "i2c-gpio";
		sda-gpios = <&header_gpio 2 6>;   /* GPIO_OPEN_DRAIN */
		scl-gpios = <&header_gpio 3 6>;
		i2c-gpio,delay-us = <5>;
		#address-cells = <1>;
		#size-cells = <0>;
	};
};
DTS
(cd "$work" && dtc -q -I dts -O dtb -o pijig-virt.dtb pijig-virt.dts) || { echo "boot-test: dtc failed" >&2; exit 2; }
# GPLEV0 (offset 0x34): lines 2, 3 (I2C pull-ups), 17 START and 27 ABORT (active low: released) high
node -e 'const b=Buffer.alloc(4); b.writeUInt32LE(((1<<2)|(1<<3)|(1<<17)|(1<<27))>>>0); process.stdout.write(b)' > "$work/gplev.bin"

boot_no=0
stick_attached=yes
start_qemu() {
  local stick=()
  ssh_close
  [ "$stick_attached" = yes ] && stick=(-drive file="$work/stick.img",format=raw,if=none,id=stick -device usb-storage,bus=xhci.0,drive=stick,id=stickdev)
  boot_no=$((boot_no + 1))
  log "boot $boot_no"
  # SIGKILL deadline: no boot outlives an hour
  timeout -s KILL 3600 qemu-system-aarch64 "${qemu_machine[@]}" -display none -no-reboot \
    -kernel "$work/vmlinuz" -initrd "$work/initrd" -dtb "$work/pijig-virt.dtb" -append "$cmdline" \
    -device loader,file="$work/gplev.bin",addr=$(( gpio_base + 0x34 )),force-raw=on \
    -drive file="$work/disk.img",format=raw,if=none,id=card -device virtio-blk-pci,drive=card \
    -device virtio-rng-pci \
    -netdev user,id=net,restrict=on,hostfwd=tcp:127.0.0.1:"$port"-:22 -device virtio-net-pci,netdev=net,romfile= \
    -device qemu-xhci,id=xhci "${stick[@]}" \
    -serial file:"$work/console-$boot_no.log" -monitor unix:"$work/monitor.sock",server=on,wait=off &
  qemu_pid=$!
}

# One SSH connection carries the commands of a boot (multiplexed): a login per command costs a
# logind session and a user manager each, which is slow under emulation.
SSH=(ssh -i "$work/engineer" -p "$port" -o BatchMode=yes -o ConnectTimeout=30 -o LogLevel=ERROR
  -o UserKnownHostsFile="$work/known_hosts" -o ServerAliveInterval=15 -o ServerAliveCountMax=8
  -o ControlMaster=auto -o ControlPath="$work/ssh-%C" -o ControlPersist=300)
ssh_close() { [ -n "$(ls "$work"/ssh-* 2>/dev/null)" ] && "${SSH[@]}" -O exit engineer@127.0.0.1 > /dev/null 2>&1; rm -f "$work"/ssh-*; return 0; }
# run a command on the jig as the engineer (deadline in seconds first)
on_jig() { local t="$1"; shift; [ "$t" -ge 120 ] || t=120; deadline "$t" "${SSH[@]}" -o StrictHostKeyChecking="${HOSTKEY_MODE:-accept-new}" engineer@127.0.0.1 "$@"; }

wait_ssh() { # seconds
  local until=$(( SECONDS + $1 ))
  while [ $SECONDS -lt $until ]; do
    kill -0 "$qemu_pid" 2>/dev/null || { wait "$qemu_pid" 2>/dev/null; qemu_pid=""; log "qemu exited"; return 1; }
    if on_jig 20 true 2> "$work/ssh.err"; then return 0; fi
    sleep 5
  done
  log "no SSH after $1 s: $(tail -1 "$work/ssh.err")"
  return 1
}

wait_qemu_exit() { # seconds
  local until=$(( SECONDS + $1 ))
  while [ $SECONDS -lt $until ]; do
    kill -0 "$qemu_pid" 2>/dev/null || { wait "$qemu_pid" 2>/dev/null; qemu_pid=""; return 0; }
    sleep 2
  done
  return 1
}

# --- boot 1 ----------------------------------------------------------------------------------
start_qemu
if ! wait_ssh 1200; then
  mark fail first-boot "no SSH login as engineer (see $work/console-1.log)"
  tail -30 "$work/console-1.log" >&2
  finish; exit $?
fi
mark pass first-boot "SSH login as engineer with the key from the boot partition after $(( SECONDS - started )) s"

state=$(on_jig 300 'systemctl is-system-running --wait' 2>&1)
failed_units=$(on_jig 30 'systemctl list-units --failed --plain --no-legend' 2>&1)
if [ "$state" = running ] && [ -z "$failed_units" ]; then
  mark pass multi-user "system running, no failed units ($(on_jig 30 "systemctl list-units --type=service --state=running --plain --no-legend | wc -l") services running)"
else
  mark fail multi-user "system $state; failed: $(echo "$failed_units" | tr '\n' ';')"
fi

on_jig 600 'end=$((SECONDS + 600)); while [ $SECONDS -lt $end ]; do [ "$(systemctl is-active pijig)" = active ] && break; sleep 2; done'
svc=$(on_jig 30 'systemctl show pijig.service -p Type,ActiveState,SubState,NotifyAccess,WatchdogUSec,MainPID | sort | paste -sd" "')
prop() { echo "$svc" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
s_type=$(prop Type) s_active=$(prop ActiveState) s_sub=$(prop SubState) s_notify=$(prop NotifyAccess) s_wd=$(prop WatchdogUSec) s_pid=$(prop MainPID)
if [ "$s_type" = notify ] && [ "$s_active" = active ] && [ "$s_sub" = running ] && [ "$s_notify" = main ]; then
  mark pass service-ready "pijig.service Type=notify active (running) after READY=1 from its main pid $s_pid, NotifyAccess=main, watchdog $s_wd"
else
  mark fail service-ready "pijig.service: $svc; $(on_jig 30 'journalctl -u pijig -b --no-pager -n 15' 2>&1 | tr '\n' '|')"
fi

fault=$(on_jig 30 'journalctl -u pijig -b --no-pager -o cat | grep -m1 "device missing:"')
if [ -n "$fault" ]; then mark pass station-fault "up in its fault state on virt (no I2C devices): $fault"
else mark fail station-fault "no 'device missing' in the station log"; fi

status=$(on_jig 300 'pijig status --json' 2>&1)
if echo "$status" | node -e 'JSON.parse(require("fs").readFileSync(0,"utf8"))' 2> /dev/null; then
  mark pass status-json "pijig status --json over /run/pijig/control.sock: $(echo "$status" | head -c 200 | tr '\n' ' ')"
elif echo "$status" | grep -q "unknown command 'status'"; then
  mark fail status-json "this pijig has no 'status' command yet"
else
  mark fail status-json "pijig status --json: $(echo "$status" | head -3 | tr '\n' ' ')"
fi

selftest=$(on_jig 300 'pijig selftest' 2>&1)
if echo "$selftest" | grep -qi 'ina219' && echo "$selftest" | grep -qiE 'fail'; then
  mark pass selftest "pijig selftest names the missing devices: $(echo "$selftest" | grep -i -m2 'ina219\|tcs' | tr '\n' ' ')"
elif echo "$selftest" | grep -q "unknown command 'selftest'"; then
  mark fail selftest "this pijig has no 'selftest' command yet"
else
  mark fail selftest "pijig selftest: $(echo "$selftest" | head -3 | tr '\n' ' ')"
fi

# the stick: mounted by udev + systemd-mount, imported, logs written
mnt=$(on_jig 300 'end=$((SECONDS + 300)); while [ $SECONDS -lt $end ]; do m=$(findmnt -rn -o TARGET,FSTYPE,OPTIONS --target /media/pijig/sda1 | grep "^/media/pijig/sda1 "); [ -n "$m" ] && { echo "$m"; break; }; sleep 1; done')
pijig_uid=$(on_jig 30 'id -u pijig')
if echo "$mnt" | grep -q ' vfat ' && for o in nosuid nodev noexec "uid=$pijig_uid"; do echo "$mnt" | grep -qE "(^|[ ,])$o(,|$)" || exit 1; done; then
  mark pass stick-mounted "$mnt"
else
  mark fail stick-mounted "/media/pijig/sda1: ${mnt:-not mounted}; $(on_jig 30 'journalctl -b --no-pager -o cat | grep -i -m3 "media-pijig\|systemd-mount"' | tr '\n' ' ')"
fi
imported=$(on_jig 300 'end=$((SECONDS + 300)); while [ $SECONDS -lt $end ]; do l=$(journalctl -u pijig -b --no-pager -o cat | grep -m1 "bundle widget 1.4.2 imported"); [ -n "$l" ] && { echo "$l"; break; }; sleep 1; done')
active=$(on_jig 30 "sudo grep -rl '${bundle_id}' /var/lib/pijig 2>/dev/null | head -3 | paste -sd' '")
if [ -n "$imported" ] && [ -n "$active" ]; then
  mark pass bundle-active "$imported; in the store: $active"
else
  mark fail bundle-active "log: ${imported:-none}; $(on_jig 30 'journalctl -u pijig -b --no-pager -o cat | grep -i -m3 "bundle\|refused"' | tr '\n' ' ')"
fi
synced=$(on_jig 300 'end=$((SECONDS + 300)); while [ $SECONDS -lt $end ]; do l=$(journalctl -u pijig -b --no-pager -o cat | grep -m1 "logs synced"); [ -n "$l" ] && { echo "$l"; break; }; sleep 1; done')
onstick=$(on_jig 30 'sudo ls /media/pijig/sda1/pijig/logs/qemu-virt/ 2>&1 | paste -sd" "')
if [ -n "$synced" ] && echo "$onstick" | grep -q units; then
  mark pass stick-logs "$synced: pijig/logs/qemu-virt/ holds $onstick"
else
  mark fail stick-logs "log: ${synced:-none}; stick: $onstick"
fi

# pulling the stick: the mount goes with the device, the station carries on
echo "device_del stickdev" | deadline 10 socat - UNIX-CONNECT:"$work/monitor.sock" > /dev/null
gone=$(on_jig 300 'end=$((SECONDS + 300)); while [ $SECONDS -lt $end ]; do findmnt -rn /media/pijig/sda1 > /dev/null || { echo unmounted; break; }; sleep 1; done; systemctl list-units --all --plain --no-legend "media-pijig-*.mount" | wc -l; systemctl is-active pijig' | paste -sd' ')
if [ "$gone" = "unmounted 0 active" ]; then
  mark pass stick-removed "stick pulled (QEMU device_del): /media/pijig/sda1 unmounted, its mount unit collected, pijig still active"
else
  mark fail stick-removed "after device_del: $gone (expected: unmounted, 0 mount units, pijig active)"
fi
stick_attached=no

# the watchdog: freeze the station's event loop (SIGSTOP) and wait for systemd to replace it
pid_before=$(on_jig 30 'systemctl show pijig -p MainPID --value')
restarts_before=$(on_jig 30 'systemctl show pijig -p NRestarts --value')
on_jig 30 'sudo systemctl kill --kill-whom=main --signal=SIGSTOP pijig.service'
wd=$(on_jig 600 "end=\$((SECONDS + 600)); while [ \$SECONDS -lt \$end ]; do p=\$(systemctl show pijig -p MainPID --value); s=\$(systemctl show pijig -p SubState --value); n=\$(systemctl show pijig -p NRestarts --value); if [ \"\$p\" != 0 ] && [ \"\$p\" != $pid_before ] && [ \"\$s\" = running ] && [ \"\$n\" -gt $restarts_before ]; then echo \"pid $pid_before -> \$p, NRestarts $restarts_before -> \$n\"; break; fi; sleep 1; done")
wdlog=$(on_jig 30 'journalctl -u pijig -b --no-pager -o cat | grep -m1 -i "watchdog timeout"')
if [ -n "$wd" ] && [ -n "$wdlog" ]; then
  mark pass watchdog-restart "SIGSTOPped main pid killed by the watchdog and restarted to READY: $wd ($wdlog)"
else
  mark fail watchdog-restart "after SIGSTOP of pid $pid_before: ${wd:-not restarted}; ${wdlog:-no watchdog timeout logged}"
fi

rootopts=$(on_jig 30 'findmnt -n -o OPTIONS /')
rootwrite=$(on_jig 30 'sudo touch /etc/pijig-boot-test 2>&1; sudo touch /usr/pijig-boot-test 2>&1' | paste -sd' ')
if [[ "$rootopts" == ro,* ]] && [ "$(echo "$rootwrite" | grep -o 'Read-only file system' | wc -l)" = 2 ]; then
  mark pass root-readonly "/ mounted $rootopts; root cannot write /etc or /usr ($rootwrite)"
else
  mark fail root-readonly "/ mounted $rootopts; writes: ${rootwrite:-succeeded}"
fi

grown=$(on_jig 30 'lsblk -bno SIZE /dev/disk/by-label/pijig-data; df -B1 --output=size /data | tail -1' | paste -sd' ')
read -r part_bytes fs_bytes <<< "$grown"
if [ "${part_bytes:-0}" -gt $(( 512 * 1048576 )) ] && [ "${fs_bytes:-0}" -gt $(( 500 * 1048576 )) ]; then
  mark pass data-grown "data partition grown to the end of the card: $(( part_bytes / 1048576 )) MiB, file system $(( fs_bytes / 1048576 )) MiB"
else
  mark fail data-grown "data partition ${part_bytes:-?} bytes, file system ${fs_bytes:-?} bytes"
fi

groups=$(on_jig 30 'id -nG; command -v pijig; stat -c "%U:%G %a" /run/pijig' | paste -sd' ')
if echo "$groups" | grep -qw pijig-control && echo "$groups" | grep -q '/usr/local/bin/pijig'; then
  mark pass control-group "engineer in pijig-control, pijig on PATH, /run/pijig: $groups"
else
  mark fail control-group "$groups"
fi

# persistence across an image update: mark this boot in the journal, shut down, write the image's
# boot and root partitions over the card's (what README's update does with dd), boot again
token="pijig-boot-test-$RANDOM$RANDOM"
machine_id_1=$(on_jig 30 'cat /etc/machine-id')
on_jig 30 "logger -t pijig-boot-test $token && sudo journalctl --sync && sudo journalctl --flush"
on_jig 30 'sudo systemctl reboot' || true
if ! wait_qemu_exit 600; then log "no reboot within 600 s: stopping qemu"; stop_qemu; fi
update_end=$(sfdisk --json "$image" | node -e 'const p=JSON.parse(require("fs").readFileSync(0)).partitiontable.partitions; console.log(p[1].start + p[1].size)')
dd if="$image" of="$work/disk.img" bs=512 skip=8192 seek=8192 count=$(( update_end - 8192 )) conv=notrunc,sparse status=none
log "image update: sectors 8192..$update_end (boot and root partitions) rewritten, data partition kept"

# --- boot 2 (and 3): the updated root's first boot restores the machine-id and reboots once ----
HOSTKEY_MODE=yes
start_qemu
if ! wait_ssh 1200 && [ -z "$qemu_pid" ]; then
  log "boot $boot_no ended by itself: the updated root's first boot took the machine-id back from the data partition and rebooted"
  start_qemu
  wait_ssh 1200
fi
if on_jig 30 true 2> /dev/null; then
  mark pass ssh-host-key "same SSH host key after the image update (strict host key checking)"
  on_jig 300 'systemctl is-system-running --wait' > /dev/null
  machine_id_2=$(on_jig 30 'cat /etc/machine-id')
  seen=$(on_jig 30 "journalctl -t pijig-boot-test --no-pager -o cat | grep -c $token")
  boots=$(on_jig 30 'journalctl --list-boots --no-pager --quiet | wc -l')
  if [ "${seen:-0}" -ge 1 ] && [ "$machine_id_1" = "$machine_id_2" ]; then
    mark pass journal-persists "boot 1's journal entry read back after a reboot and an image update, from /var/log/journal on the data partition ($boots boots listed, machine-id $machine_id_2 kept)"
  else
    mark fail journal-persists "token seen ${seen:-0} times; machine-id $machine_id_1 -> ${machine_id_2:-?}"
  fi
  state2=$(on_jig 600 'end=$((SECONDS + 600)); while [ $SECONDS -lt $end ]; do [ "$(systemctl is-active pijig)" = active ] && break; sleep 2; done; systemctl is-system-running; systemctl is-active pijig' | paste -sd' ')
  kept=$(on_jig 30 "sudo grep -c '${bundle_id}' /var/lib/pijig/bundles/active.json; grep -c '^station_id: qemu-virt' /etc/pijig/station.yaml" | paste -sd' ')
  if [ "$state2" = "running active" ] && [ "$kept" = "1 1" ]; then
    mark pass image-update "after the update: system running, pijig active, bundle ${bundle_id:0:12} still active, the card's station.yaml kept"
  else
    mark fail image-update "after the update: system/pijig $state2; bundle active / station.yaml kept: $kept"
  fi
  on_jig 30 'sudo systemctl poweroff' || true
  wait_qemu_exit 600 || stop_qemu
else
  mark fail ssh-host-key "no SSH login after the image update (a changed host key fails strict checking): $(tail -1 "$work/ssh.err")"
  mark fail journal-persists "boot after the update not reached"
fi
stop_qemu

# the logs on the stick, read on this machine after the jig let go of it
if mdir -b -i "$work/stick.img@@1048576" ::pijig/logs/qemu-virt 2>/dev/null | grep -q 'units.csv'; then
  mark pass stick-logs "pijig/logs/qemu-virt/units.csv is on the stick image, read back on the host"
else
  mark fail stick-logs "no pijig/logs/qemu-virt/units.csv on the stick image"
fi

finish
