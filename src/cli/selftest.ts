import type { Command } from 'commander';
import { loadStation, type StationConfig } from '../config/station.js';
import type { DigitalInput, DigitalOutput } from '../devices/gpio/gpio.js';
import type { I2cBus } from '../devices/i2c/i2c.js';
import { SystemdClock } from '../devices/clock/clock.systemd.js';
import { Ina219 } from '../devices/power/ina219.js';
import { Tcs34725 } from '../devices/light/tcs34725.js';
import { runSelftest, type CheckResult, type SelftestTarget } from '../control/selftest.js';
import { ControlClientError } from '../control/client.js';
import { errorMessage } from '../core/errors.js';
import { checkLine } from './format.js';
import { json, withClient, type ControlCliIo } from './control-io.js';

/**
 * `pijig selftest`: every check PASS/FAIL with its reason; non-zero on any FAIL. Asks the running
 * service (it owns the GPIO lines and the bus); with the service stopped, or --direct, it opens
 * the hardware of the station config itself.
 */
export function registerSelftest(program: Command, io: ControlCliIo): void {
  program
    .command('selftest')
    .description('check openocd, the probe, every I2C device, the GPIO inputs at rest, the DUT relay, disk, data directory, clock, journal; non-zero on any FAIL')
    .option('--json', 'as JSON', false)
    .option('--socket <path>', 'the station\'s control socket', io.socket)
    .option('--direct', 'do not ask the service: open the hardware directly (stop the service first)', false)
    .option('-c, --config <file>', 'station wiring, for --direct or when the service is not running', '/etc/pijig/station.yaml')
    .action(async (o: { json: boolean; socket: string; direct: boolean; config: string }) => {
      let result: { ok: boolean; checks: CheckResult[]; via: string };
      const direct = async (why: string) => {
        if (!o.json) io.err(`${why}: checking the hardware of ${o.config} directly`);
        const checks = await directSelftest(o.config);
        return { ok: checks.every((c) => c.ok), checks, via: `direct (${o.config})` };
      };
      if (o.direct) result = await direct('--direct');
      else {
        try {
          result = { ...(await withClient(o.socket, 'act', (c) => c.request<{ ok: boolean; checks: CheckResult[] }>('selftest'))), via: `service (${o.socket})` };
        } catch (err) {
          if (!(err instanceof ControlClientError) || err.code !== 'NOT_RUNNING') throw err;
          result = await direct(`no service at ${o.socket}`);
        }
      }
      if (o.json) io.out(json(result));
      else {
        for (const c of result.checks) io.out(checkLine(c));
        const failed = result.checks.filter((c) => !c.ok);
        io.out(failed.length ? `${failed.length} of ${result.checks.length} checks FAILED (${result.via})` : `all ${result.checks.length} checks passed (${result.via})`);
      }
      if (!result.ok) io.setExitCode(1);
    });
}

/** The station's hardware opened by the selftest itself; whatever cannot be opened is a FAIL naming it. */
async function directSelftest(configFile: string): Promise<CheckResult[]> {
  let config: StationConfig;
  try {
    config = await loadStation(configFile);
  } catch (err) {
    return [{ name: 'station config', ok: false, detail: errorMessage(err) }];
  }
  const closers: (() => Promise<void>)[] = [];
  let inputs: SelftestTarget['inputs'];
  let relay: DigitalOutput | { error: string };
  try {
    // Hardware libraries load only here, as in `serve`.
    const { openGpioChip } = await import('../devices/gpio/open.js');
    const { chip } = await openGpioChip(config.gpio.backend, config.gpio.chip ? { chip: config.gpio.chip } : {});
    closers.push(() => chip.close());
    const g = config.gpio;
    const input = (name: string, s: (typeof g.inputs)['start']): Promise<DigitalInput> => chip.input({ name, line: s.line, activeLow: s.active_low, debounceMs: 0, ...(s.bias ? { bias: s.bias } : {}) });
    inputs = { start: await input('start', g.inputs.start), abort: await input('abort', g.inputs.abort), lidClosed: await input('lid_closed', g.inputs.lid_closed) };
    // Claimed as an output it is driven off: the selftest itself never powers the DUT.
    relay = await chip.output({ name: 'dut_power', line: g.outputs.dut_power.line, activeLow: g.outputs.dut_power.active_low });
  } catch (err) {
    const error = `GPIO: ${errorMessage(err)}`;
    inputs = { error };
    relay = { error };
  }
  let bus: I2cBus | undefined;
  let busError = '';
  try {
    const { LinuxI2cBus } = await import('../devices/i2c/i2c.real.js');
    bus = await LinuxI2cBus.open(config.i2c.bus);
    const b = bus;
    closers.push(() => b.close());
  } catch (err) {
    busError = errorMessage(err);
  }
  const onBus = (name: string, check: (b: I2cBus) => Promise<void>) => ({ name, check: () => (bus ? check(bus) : Promise.reject(new Error(busError))) });
  const i2c = [onBus(`${config.display.controller} i2c-${config.i2c.bus} 0x${config.display.address.toString(16)}`, async (b) => void (await b.read(config.display.address, 1)))];
  const pm = config.power_monitor;
  if (pm) i2c.push(onBus(`ina219 i2c-${config.i2c.bus} 0x${pm.address.toString(16)}`, (b) => new Ina219({ bus: b, address: pm.address, busNumber: config.i2c.bus, shuntOhms: pm.shunt_ohms, maxCurrentA: pm.max_current_a }).init()));
  for (const s of config.light_sensors) {
    if (s.kind === 'color') i2c.push(onBus(`tcs34725 i2c-${config.i2c.bus} 0x${s.address.toString(16)}`, (b) => new Tcs34725({ bus: b, name: s.name, address: s.address, busNumber: config.i2c.bus }).init()));
  }
  try {
    return await runSelftest({ dataDir: config.dataDir, journalPath: `${config.dataDir}/units.jsonl`, probe: config.probe, inputs, relay, i2c, clock: new SystemdClock() });
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
  }
}
