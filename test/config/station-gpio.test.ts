import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { YamlSource } from '../../src/config/yaml.js';
import { parseStation, stationWarnings } from '../../src/config/station.js';
import { formatIssue } from '../../src/config/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const example = fileURLToPath(new URL('../../jig-config/station.yaml', import.meta.url));
/** jig-config/station.yaml as it was before issue 10: buttons to GND with no bias, relay and green light on BCM 5/6. */
const before = fileURLToPath(new URL('../fixtures/station-before-issue-10.yaml', import.meta.url));

async function warningsOf(file: string, edit: (text: string) => string = (t) => t) {
  const text = edit(await readFile(file, 'utf8'));
  const source = YamlSource.parse(text, 'station.yaml');
  return { warnings: stationWarnings(parseStation(source), source), lineOf: (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1 };
}

describe('station wiring warnings (gpio)', () => {
  it("warns on the example as it was: START and ABORT read pressed on a bare Pi, the relay powers the DUT while the Pi boots", async () => {
    const { warnings, lineOf } = await warningsOf(before);
    expect(warnings.map((w) => [w.path, w.line])).toEqual([
      ['gpio.inputs.start', lineOf('start:')],
      ['gpio.inputs.abort', lineOf('abort:')],
      ['gpio.outputs.dut_power.line', lineOf('dut_power:')],
      ['gpio.outputs.light_green.line', lineOf('light_green:')],
    ]);
    expect(warnings[0]!.message).toBe(
      'active low with no pull-up: BCM 17 pulls down at reset, so start reads pressed while nothing drives it; set bias: pull-up (or fit an external pull-up)',
    );
    expect(warnings[2]!.message).toMatch(/^BCM 5 pulls up at reset: the DUT is powered while the Pi boots, until pijig claims the line; move it to BCM 9-27/);
  });

  it('has nothing to say about the example wiring now', async () => {
    expect((await warningsOf(example)).warnings).toEqual([]);
  });

  it('sysfs cannot set pull resistors: says so for each input that asks for one, and what the input then reads', async () => {
    const { warnings, lineOf } = await warningsOf(example, (t) => t.replace('gpio:  ', 'gpio:\n  backend: sysfs\n  '));
    const sysfs = warnings.filter((w) => w.path === 'gpio.backend');
    expect(sysfs.map((w) => w.message)).toEqual([
      'sysfs cannot set pull resistors: inputs.start asks for pull-up',
      'sysfs cannot set pull resistors: inputs.abort asks for pull-up',
      'sysfs cannot set pull resistors: inputs.lid_closed asks for pull-down',
    ]);
    expect(sysfs[0]!.line).toBe(lineOf('backend: sysfs'));
    expect(warnings.find((w) => w.path === 'gpio.inputs.start.bias')!.message).toMatch(/BCM 17 pulls down at reset and sysfs cannot change it, so start reads pressed .*gpio.backend chardev/);
  });

  it('a lid switch pulled up reads closed with its wire cut; a floating input may read anything', async () => {
    const { warnings } = await warningsOf(example, (t) => t.replace('bias: pull-down', 'bias: pull-up').replace('debounce_ms: 10, bias: pull-up', 'debounce_ms: 10, bias: disabled'));
    expect(warnings.map(formatIssue)).toEqual([
      expect.stringMatching(/^station\.yaml:13:\d+: gpio\.inputs\.abort\.bias: bias disabled: BCM 27 floats while nothing drives it and may read pressed/),
      expect.stringMatching(/^station\.yaml:14:\d+: gpio\.inputs\.lid_closed\.bias: active high with no pull-down: bias pull-up, so lid_closed reads closed while nothing drives it/),
    ]);
  });

  it('an active-low output on a pin pulled down at reset is active while the Pi boots; on BCM 0-8 it is not', async () => {
    const low = await warningsOf(example, (t) => t.replace('buzzer:      { line: 26 }', 'buzzer:      { line: 26, active_low: true }'));
    expect(low.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/^BCM 26 pulls down at reset: buzzer is active while the Pi boots.*move it to BCM 2-8, which pull up$/)]);
    const ok = await warningsOf(example, (t) => t.replace('buzzer:      { line: 26 }', 'buzzer:      { line: 4, active_low: true }'));
    expect(ok.warnings).toEqual([]);
  });

  it('`pijig config check` prints the warnings with file:line and still exits 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'config', 'check', before, example], { cwd: ROOT, timeout: 60_000 });
    const lines = stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith(`warning: ${before}:12:`))).toHaveLength(1);
    expect(lines).toContain(`${before}: ok (4 warnings)`);
    expect(lines).toContain(`${example}: ok`);
  }, 60_000);
});
