import { Option, type Command } from 'commander';
import { join, resolve } from 'node:path';
import { SIM_FAULT_NAMES } from './sim-faults.js';
import { positiveInt, type CliIo } from './io.js';
import { mqttUrlProblem } from '../config/station.js';

/** `pijig sim`: the whole station on the virtual jig. The simulator is loaded only when this command runs. */
export function registerSim(program: Command, { out }: CliIo, examples: string, version: string): void {
  program
    .command('sim')
    .description('run the station on the virtual jig (simulated GPIO, OLED, INA219, LEDs, console, and an STM32 that the real openocd programs)')
    .option('-c, --config <file>', 'station wiring to simulate', join(examples, 'station.yaml'))
    .option('--plan <file>', 'test plan for the demo bundle', join(examples, 'plan.yaml'))
    .option('--data-dir <dir>', 'the virtual jig workspace (station data, sticks, engineer key, DUT flash)', '.pijig-sim')
    .option('--socket <path>', 'the control socket (default: control.sock in the workspace)')
    .option('--cycles <n>', 'run N complete cycles unattended and exit (non-zero if any did not end as expected)', (v) => positiveInt(v, '--cycles'))
    .option('--headless', 'no terminal: run until Ctrl-C / SIGTERM, driven over the control socket', false)
    .addOption(new Option('--fault <name...>', `inject a fault into every unit (expect FAIL or ERROR): ${SIM_FAULT_NAMES.join(', ')}`))
    .option('--keep-unit', 'keep the same unit in the fixture when the lid opens (re-test)', false)
    .option('--fresh', 'start from an empty workspace', false)
    .option('--screenshots <dir>', 'save the OLED after each cycle as PNG')
    .option('--usb-demo', 'with --cycles: bring a new signed bundle on a stick, run the cycles, collect the logs on a stick', false)
    .option('--mqtt <url>', 'publish unit records, status and step events to this MQTT broker (mqtt://host[:port] or mqtts://...; see docs/mqtt.md)')
    .option('-v, --verbose', 'print the station log', false)
    .option('--firmware-size <bytes>', 'size of the demo firmware image (default 4096; a multiple of 4, at least 352)', (v) => positiveInt(v, '--firmware-size'))
    .option('--dut-log <file>', 'append what happens to each simulated chip (erases, identity records, chip UIDs) to this file, as JSON lines')
    .option('--wait-lock <seconds>', 'when another pijig holds the data directory, wait this long for it to end (default: exit at once)', (v) => positiveInt(v, '--wait-lock'))
    .action(async (o: { config: string; plan: string; dataDir: string; socket?: string; cycles?: number; headless: boolean; fault?: string[]; keepUnit: boolean; fresh: boolean; screenshots?: string; usbDemo: boolean; mqtt?: string; verbose: boolean; firmwareSize?: number; dutLog?: string; waitLock?: number }) => {
      const mqttProblem = o.mqtt === undefined ? undefined : mqttUrlProblem(o.mqtt);
      if (mqttProblem) throw new Error(`--mqtt ${o.mqtt}: ${mqttProblem}`);
      // The simulator loads only here: `serve` never imports anything under sim/.
      const { runSim } = await import('../sim/run.js');
      const { SIM_FAULTS } = await import('../sim/jig.js');
      const unknown = (o.fault ?? []).filter((f) => !(f in SIM_FAULTS));
      if (unknown.length) throw new Error(`--fault: unknown fault ${unknown.map((f) => `"${f}"`).join(', ')} (known: ${SIM_FAULT_NAMES.join(', ')})`);
      const summary = await runSim({
        root: o.dataDir,
        stationFile: o.config,
        planFile: o.plan,
        ...(o.cycles !== undefined ? { cycles: o.cycles } : {}),
        ...(o.socket ? { socket: resolve(o.socket) } : {}),
        headless: o.headless,
        faults: (o.fault ?? []) as (keyof typeof SIM_FAULTS)[],
        keepUnit: o.keepUnit,
        fresh: o.fresh,
        ...(o.screenshots ? { screenshots: o.screenshots } : {}),
        usbDemo: o.usbDemo,
        ...(o.mqtt !== undefined ? { mqtt: o.mqtt } : {}),
        out,
        verbose: o.verbose || o.headless,
        version,
        ...(o.firmwareSize ? { firmwareBytes: o.firmwareSize } : {}),
        ...(o.dutLog ? { dutLog: o.dutLog } : {}),
        ...(o.waitLock ? { waitLockMs: o.waitLock * 1000 } : {}),
      });
      if (o.cycles !== undefined) {
        out(`${summary.cycles} cycles, ${summary.cycles - summary.unexpected} as expected; ${summary.openocdProcesses} openocd processes; journal: ${resolve(o.dataDir, 'data', 'units.jsonl')}`);
        if (summary.unexpected) process.exitCode = 1;
      }
    });
}
