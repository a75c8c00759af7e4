import type { Command } from 'commander';
import { loadStation, type StationConfig } from '../config/station.js';
import { ConfigError } from '../config/errors.js';
import { DataDirLock } from '../records/data-lock.js';
import { startApp, showOnDefaultDisplay, configFaultScreen } from '../app.js';
import type { CliIo } from './io.js';

/** `pijig serve`: the station on the Raspberry Pi's own hardware. */
export function registerServe(program: Command, { err }: CliIo): void {
  const log = (m: string) => err(`${new Date().toISOString()} ${m}`);
  program
    .command('serve')
    .description('run the station on the Raspberry Pi hardware')
    .option('-c, --config <file>', 'station wiring', '/etc/pijig/station.yaml')
    .action(async (o: { config: string }) => {
      let config;
      try {
        config = await loadStation(o.config);
      } catch (e) {
        // The technician at the jig sees it too: on the OLED at the usual place (bus 1, 0x3c), if there is one.
        const { LinuxI2cBus } = await import('../devices/i2c/i2c.real.js');
        if (e instanceof ConfigError) await showOnDefaultDisplay(() => LinuxI2cBus.open(1), configFaultScreen(e));
        throw e;
      }
      // One process per data directory, taken before any hardware is touched.
      const lock = await DataDirLock.acquire(config.dataDir, 'pijig serve');
      try {
        await serve(config, lock, log);
      } finally {
        await lock.release();
      }
    });
}

async function serve(config: StationConfig, lock: DataDirLock, log: (m: string) => void): Promise<void> {
  // Hardware libraries load only here, on the Pi.
  const { openGpioChip } = await import('../devices/gpio/open.js');
  const { LinuxI2cBus } = await import('../devices/i2c/i2c.real.js');
  const { chip: gpio } = await openGpioChip(config.gpio.backend, { ...(config.gpio.chip ? { chip: config.gpio.chip } : {}), log });
  const i2c = await LinuxI2cBus.open(config.i2c.bus);
  const app = await startApp(config, { gpio, i2c, probe: config.probe, console: config.console, printer: config.label?.connection }, { log, lock, command: 'pijig serve' });
  app.station.on('record', (r) => log(`unit #${r.seq} ${r.serial ?? '-'} ${r.result}${r.reason ? ` ${r.failedStep}: ${r.reason}` : ''}`));
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await app.stop();
  await gpio.close();
  await i2c.close();
}
