#!/usr/bin/env node
import { Command, Option } from 'commander';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadStation } from './config/station.js';
import { loadPlan } from './config/plan.js';
import { YamlSource } from './config/yaml.js';
import { ConfigError } from './config/errors.js';
import { jsonSchemas } from './config/json-schema.js';
import { STEP_KINDS } from './steps/registry.js';
import { registerBundleCommands } from './cli/bundle.js';
import { Journal } from './records/journal.js';
import { exportUnits } from './records/export.js';
import { startApp, probeSettingsFrom, showOnDefaultDisplay, configFaultScreen } from './app.js';
import { SIM_FAULTS, type SimFault } from './sim/jig.js';
import { runSim } from './sim/run.js';
import { systemdNotifier, startWatchdog } from './devices/systemd/notify.js';

/**
 * The `pijig` command. The only place that reads argv and the environment, chooses real or
 * simulated hardware, and sets the process's exit status.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
const EXAMPLES = resolve(HERE, '..', 'jig-config');
const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

const program = new Command('pijig').description('production programming and test station').version('0.1.0');

program
  .command('serve')
  .description('run the station on the Raspberry Pi hardware')
  .option('-c, --config <file>', 'station wiring', '/etc/pijig/station.yaml')
  .action(async (o: { config: string }) => {
    // Hardware libraries load only here, on the Pi.
    const { OnoffGpioChip } = await import('./devices/gpio/gpio.onoff.js');
    const { LinuxI2cBus } = await import('./devices/i2c/i2c.real.js');
    let config;
    try {
      config = await loadStation(o.config);
    } catch (e) {
      // The technician at the jig sees it too: on the OLED at the usual place (bus 1, 0x3c), if there is one.
      if (e instanceof ConfigError) await showOnDefaultDisplay(() => LinuxI2cBus.open(1), configFaultScreen(e));
      throw e;
    }
    const gpio = await OnoffGpioChip.open();
    const i2c = await LinuxI2cBus.open(config.i2c.bus);
    const app = await startApp(config, { gpio, i2c, probe: config.probe ? probeSettingsFrom(config.probe) : undefined, console: config.console }, { log: (m) => err(`${new Date().toISOString()} ${m}`) });
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

program
  .command('sim')
  .description('run the station on the virtual jig (simulated GPIO, OLED, INA219, LEDs, console, and an STM32 that the real openocd programs)')
  .option('-c, --config <file>', 'station wiring to simulate', join(EXAMPLES, 'station.yaml'))
  .option('--plan <file>', 'test plan for the demo bundle', join(EXAMPLES, 'plan.yaml'))
  .option('--data-dir <dir>', 'the virtual jig workspace (station data, sticks, engineer key, DUT flash)', '.pijig-sim')
  .option('--cycles <n>', 'run N complete cycles unattended and exit (non-zero if any did not end as expected)', (v) => positiveInt(v, '--cycles'))
  .addOption(new Option('--fault <name...>', 'inject a fault into every unit (expect FAIL)').choices(Object.keys(SIM_FAULTS)))
  .option('--keep-unit', 'keep the same unit in the fixture when the lid opens (re-test)', false)
  .option('--fresh', 'start from an empty workspace', false)
  .option('--screenshots <dir>', 'save the OLED after each cycle as PNG')
  .option('--usb-demo', 'with --cycles: bring a new signed bundle on a stick, run the cycles, collect the logs on a stick', false)
  .option('-v, --verbose', 'print the station log', false)
  .action(async (o: { config: string; plan: string; dataDir: string; cycles?: number; fault?: SimFault[]; keepUnit: boolean; fresh: boolean; screenshots?: string; usbDemo: boolean; verbose: boolean }) => {
    const summary = await runSim({
      root: o.dataDir,
      stationFile: o.config,
      planFile: o.plan,
      ...(o.cycles !== undefined ? { cycles: o.cycles } : {}),
      faults: o.fault ?? [],
      keepUnit: o.keepUnit,
      fresh: o.fresh,
      ...(o.screenshots ? { screenshots: o.screenshots } : {}),
      usbDemo: o.usbDemo,
      out,
      verbose: o.verbose,
    });
    if (o.cycles !== undefined) {
      out(`${summary.cycles} cycles, ${summary.cycles - summary.unexpected} as expected; ${summary.openocdProcesses} openocd processes; journal: ${resolve(o.dataDir, 'data', 'units.jsonl')}`);
      if (summary.unexpected) process.exitCode = 1;
    }
  });

const config = program.command('config').description('check configuration files, write JSON Schemas for editors');
config
  .command('check <files...>')
  .description('validate station and plan files (a file with station_id is a station)')
  .action(async (files: string[]) => {
    let bad = 0;
    for (const file of files) {
      try {
        const value = (await YamlSource.load(file)).value as Record<string, unknown> | null;
        if (value && typeof value === 'object' && 'station_id' in value) await loadStation(file);
        else await loadPlan(file, STEP_KINDS);
        out(`${file}: ok`);
      } catch (e) {
        bad++;
        err(e instanceof ConfigError ? e.message : `${file}: ${(e as Error).message}`);
      }
    }
    if (bad) process.exitCode = 1;
  });
config
  .command('schema')
  .description('write station.schema.json and plan.schema.json (generated from the validation schemas)')
  .option('--out <dir>', 'folder', EXAMPLES)
  .action(async (o: { out: string }) => {
    await mkdir(o.out, { recursive: true });
    for (const [name, schema] of Object.entries(jsonSchemas())) {
      const file = join(o.out, `${name}.schema.json`);
      await writeFile(file, `${JSON.stringify(schema, null, 2)}\n`);
      out(file);
    }
  });

program
  .command('export')
  .description('export the unit journal as CSV (a line per unit) or JSON')
  .requiredOption('--data-dir <dir>', 'the station data directory', '/var/lib/pijig')
  .addOption(new Option('--format <format>', 'csv or json').choices(['csv', 'json']).default('csv'))
  .requiredOption('--out <file>', 'output file')
  .action(async (o: { dataDir: string; format: 'csv' | 'json'; out: string }) => {
    const journal = await Journal.open(join(o.dataDir, 'units.jsonl'));
    try {
      await exportUnits(journal.read(), o.out, o.format);
      out(`${journal.count} units -> ${o.out}`);
    } finally {
      await journal.close();
    }
  });

registerBundleCommands(program, { out });

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: "${value}" is not a positive whole number`);
  return n;
}

program.parseAsync(process.argv).catch((e: unknown) => {
  const error = e as Error & { code?: string };
  err(error instanceof ConfigError ? error.message : `pijig: ${error.code ? `${error.code}: ` : ''}${error.message}`);
  process.exitCode = 2;
});
