import type { Command } from 'commander';
import { loadStation } from '../config/station.js';
import { ConfigError } from '../config/errors.js';
import { startApp, showOnDefaultDisplay, configFaultScreen } from '../app.js';
import { systemdNotifier, startWatchdog } from '../devices/systemd/notify.js';
import type { CliIo } from './io.js';

/** `pijig serve`: the station on the Raspberry Pi's own hardware. */
export function registerServe(program: Command, { err }: CliIo): void {
  program
    .command('serve')
    .description('run the station on the Raspberry Pi hardware')
    .option('-c, --config <file>', 'station wiring', '/etc/pijig/station.yaml')
    .action(async (o: { config: string }) => {
      // Hardware libraries load only here, on the Pi.
      const { openGpioChip } = await import('../devices/gpio/open.js');
      const { LinuxI2cBus } = await import('../devices/i2c/i2c.real.js');
      let config;
      try {
        config = await loadStation(o.config);
      } catch (e) {
        // The technician at the jig sees it too: on the OLED at the usual place (bus 1, 0x3c), if there is one.
        if (e instanceof ConfigError) await showOnDefaultDisplay(() => LinuxI2cBus.open(1), configFaultScreen(e));
        throw e;
      }
      const { chip: gpio } = await openGpioChip(config.gpio.backend, { ...(config.gpio.chip ? { chip: config.gpio.chip } : {}), log: (m) => err(`${new Date().toISOString()} ${m}`) });
      const i2c = await LinuxI2cBus.open(config.i2c.bus);
      const app = await startApp(config, { gpio, i2c, probe: config.probe, console: config.console, printer: config.label?.connection }, { log: (m) => err(`${new Date().toISOString()} ${m}`) });
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
    });
}
