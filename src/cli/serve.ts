import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { loadStation, type StationConfig } from '../config/station.js';
import { ConfigError } from '../config/errors.js';
import { DEFAULT_SOCKET } from '../control/client.js';
import { DataDirLock } from '../records/data-lock.js';
import { startApp, showOnDefaultDisplay, configFaultScreen } from '../app.js';
import { systemdNotifier, startWatchdog } from '../devices/systemd/notify.js';
import type { CliIo } from './io.js';

/** `pijig serve`: the station on the Raspberry Pi's own hardware. */
export function registerServe(program: Command, { err }: CliIo, version: string): void {
  program
    .command('serve')
    .description('run the station on the Raspberry Pi hardware')
    .option('-c, --config <file>', 'station wiring', '/etc/pijig/station.yaml')
    .option('--socket <path>', 'the control socket (read and act; a read-only status.sock goes beside it)', DEFAULT_SOCKET)
    .option('--control-group <group>', `the group that may act through the control socket (default: ${CONTROL_GROUP} when it exists, else the service's own group)`)
    .action(async (o: { config: string; socket: string; controlGroup?: string }) => {
      // Hardware libraries load only here, on the Pi.
      const { openGpioChip } = await import('../devices/gpio/open.js');
      const { LinuxI2cBus } = await import('../devices/i2c/i2c.real.js');
      const { SystemdClock } = await import('../devices/clock/clock.systemd.js');
      let config: StationConfig;
      try {
        config = await loadStation(o.config);
      } catch (e) {
        // The technician at the jig sees it too: on the OLED at the usual place (bus 1, 0x3c), if there is one.
        if (e instanceof ConfigError) await showOnDefaultDisplay(() => LinuxI2cBus.open(1), configFaultScreen(e));
        throw e;
      }
      const log = (m: string) => err(`${new Date().toISOString()} ${m}`);
      // One process per data directory, taken before any hardware is touched.
      const lock = await DataDirLock.acquire(config.dataDir, 'pijig serve');
      try {
        await serve(lock);
      } finally {
        await lock.release();
      }

      async function serve(lock: DataDirLock): Promise<void> {
        const actGid = o.controlGroup !== undefined ? await groupId(o.controlGroup) : await groupId(CONTROL_GROUP).catch(() => undefined);
        const { chip: gpio } = await openGpioChip(config.gpio.backend, { ...(config.gpio.chip ? { chip: config.gpio.chip } : {}), log });
        const i2c = await LinuxI2cBus.open(config.i2c.bus);
        let scanner;
        if (config.scanner?.kind === 'serial') scanner = new (await import('../devices/scanner/scanner.serial.js')).SerialScanner({ path: config.scanner.path, baudRate: config.scanner.baud });
        else if (config.scanner?.kind === 'hid') scanner = new (await import('../devices/scanner/scanner.hid.js')).HidScanner({ path: config.scanner.path });
        const app = await startApp(
          config,
          { gpio, i2c, probe: config.probe, console: config.console, printer: config.label?.connection, clock: new SystemdClock(), ...(scanner ? { scanner } : {}) },
          { log, version, lock, command: 'pijig serve', control: { socket: o.socket, ...(actGid !== undefined ? { actGid } : {}) } },
        );
        app.station.on('record', (r) => err(`${r.endedAt} unit #${r.seq} ${r.serial ?? '-'} ${r.result}${r.reason ? ` ${r.failedStep}: ${r.reason}` : ''}`));
        // Up, also in a fault state: READY, and the watchdog pings from this event loop from now on.
        const notifier = systemdNotifier(process.env, { onError: (e) => err(`sd_notify: ${e.message}`) });
        notifier.ready();
        const stopWatchdog = startWatchdog(notifier, process.env);
        await new Promise<void>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
        });
        notifier.stopping();
        stopWatchdog();
        await app.stop();
        await gpio.close();
        await i2c.close();
      }
    });
}

/** The group whose members may act on the station (systemd/pijig.sysusers.conf). */
const CONTROL_GROUP = 'pijig-control';

/** A group's gid from /etc/group (Node has no getgrnam). */
async function groupId(name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const line = (await readFile('/etc/group', 'utf8')).split('\n').find((l) => l.split(':')[0] === name);
  const gid = line ? Number(line.split(':')[2]) : NaN;
  if (!Number.isInteger(gid)) throw new Error(`--control-group: no group "${name}" in /etc/group`);
  return gid;
}
