import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerConfig } from '../../src/cli/config.js';
import { ConfigError } from '../../src/config/errors.js';
import { parsePlan } from '../../src/config/plan.js';
import { judge } from '../../src/station/limits.js';
import { STEP_KINDS } from '../../src/steps/registry.js';
import { groupNames } from '../../src/steps/console.js';
import { prepareWorkspace } from '../../src/sim/workspace.js';

const EXAMPLES = fileURLToPath(new URL('../../jig-config/', import.meta.url));
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pijig-plan-check-'));
});
afterEach(async () => {
  process.exitCode = undefined;
  await rm(dir, { recursive: true, force: true });
});

/** `pijig config check FILES...`, in-process. */
async function configCheck(...files: string[]): Promise<{ out: string[]; err: string; ok: boolean }> {
  const out: string[] = [];
  const err: string[] = [];
  process.exitCode = undefined;
  const program = new Command('pijig').exitOverride();
  registerConfig(program, { out: (l) => out.push(l), err: (l) => err.push(l) }, EXAMPLES);
  await program.parseAsync(['config', 'check', ...files], { from: 'user' });
  const ok = process.exitCode !== 1;
  process.exitCode = undefined;
  return { out, err: err.join('\n'), ok };
}

async function planFile(yaml: string, name = 'plan.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, yaml);
  return file;
}

const STATION = join(EXAMPLES, 'station.yaml');

const HEAD = 'name: t\nproduct: widget\nsteps:\n';

describe('config check: a plan against the station it runs on', () => {
  it('the example station and plan check clean', async () => {
    const r = await configCheck(STATION, join(EXAMPLES, 'plan.yaml'));
    expect(r.err).toBe('');
    expect(r.ok).toBe(true);
  });

  it('an led step naming a sensor the station lacks, at the line of `sensor`', async () => {
    const plan = await planFile(`${HEAD}  - name: led\n    kind: led\n    params:\n      sensor: stauts\n`);
    const r = await configCheck(STATION, plan);
    expect(r.ok).toBe(false);
    expect(r.err).toContain(`${plan}:7:15: steps[0].params.sensor: no light sensor "stauts" in ${STATION} (it has "status", "power")`);
  });

  it('a colour judged through a phototransistor', async () => {
    const plan = await planFile(`${HEAD}  - name: led\n    kind: led\n    params: { sensor: status }\n    limits:\n      status_colour: { equals: green }\n`);
    const r = await configCheck(STATION, plan);
    expect(r.err).toContain(`${plan}:8:22: steps[0].limits.status_colour: "status_colour" needs a colour sensor; light sensor "status" in ${STATION} is a photo sensor`);
  });

  it('steps that need devices the station does not wire', async () => {
    const station = join(dir, 'bare.yaml');
    const text = await readFile(STATION, 'utf8');
    await writeFile(station, text.replace(/\npower_monitor:[^]*?\n\n/, '\n\n').replace(/\nconsole:[^]*?\n\n/, '\n\n'));
    const plan = await planFile(`${HEAD}  - name: cur\n    kind: current\n  - name: ver\n    kind: console\n    params: { send: version }\n`);
    const r = await configCheck(station, plan);
    expect(r.err).toContain(`${plan}:5:11: steps[0].kind: step "cur" (current) needs an INA219 power monitor (power_monitor); ${station} has none`);
    expect(r.err).toContain(`${plan}:7:11: steps[1].kind: step "ver" (console) needs a DUT console (console); ${station} has none`);
  });

  it("the identity and lock steps against the station's target (the chip table)", async () => {
    const station = join(dir, 'g0.yaml');
    await writeFile(station, (await readFile(STATION, 'utf8')).replace('target: stm32f103c8', 'target: stm32g071rb').replace('target: target/stm32f1x.cfg', 'target: target/stm32g0x.cfg'));
    const plan = await planFile(`${HEAD}  - name: lock\n    kind: lock\n    params: { family: stm32f1x }\n`);
    const r = await configCheck(station, plan);
    expect(r.ok).toBe(false);
    expect(r.err).toMatch(/plan\.yaml:6:\d+: steps\[0\]\.params\.family: lock family "stm32f1x" is STM32F1, but the target stm32g071rb is STM32G0/);
    // The same plan alone (no station given) is fine: the family is one pijig knows.
    expect((await configCheck(plan)).ok).toBe(true);
  });

  it('warns about a regular expression that can backtrack catastrophically', async () => {
    const plan = await planFile(`${HEAD}  - name: fw\n    kind: console\n    params: { send: version, expect: "^(a+)+$" }\n`);
    const r = await configCheck(plan);
    expect(r.ok).toBe(true);
    expect(r.out[0]).toMatch(/^warning: .*plan\.yaml:6:\d+: steps\[0\]\.params\.expect: \/\^\(a\+\)\+\$\/ has nested quantifiers/);
    expect(r.out[1]).toBe(`${plan}: ok (1 warning)`);
  });
});

describe('the plan alone: what every jig would refuse at load', () => {
  const refused = (yaml: string) => {
    try {
      parsePlan(yaml, 'plan.yaml', STEP_KINDS);
    } catch (e) {
      if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
      throw e;
    }
    return [];
  };

  it('a limit on a measurement no step produces (every unit would end MEASUREMENT_MISSING)', () => {
    expect(refused(`${HEAD}  - name: cur\n    kind: current\n    params: { name: run }\n    limits:\n      idle_ma: { max: 20, unit: mA }\n`)).toEqual([
      '8: steps[0].limits.idle_ma: step "cur" (current) produces no measurement "idle_ma": it produces run_min_ma, run_mean_ma, run_max_ma, run_bus_v',
    ]);
  });

  it("a console step produces its regex's named groups, and nothing else", () => {
    expect(groupNames('sn=(?<sn>\\S+) mac=(?<mac>\\S+)|(?<none>x)')).toEqual(['sn', 'mac', 'none']);
    expect(refused(`${HEAD}  - name: v\n    kind: console\n    params: { send: version, expect: "fw=(?<fw>\\\\S+)" }\n    limits:\n      fw: { equals: "\${image.version}" }\n      version: { equals: "1.0" }\n`)).toEqual([
      '9: steps[0].limits.version: step "v" (console) produces no measurement "version": it produces fw',
    ]);
  });

  it('an unknown ${...} variable', () => {
    expect(refused(`${HEAD}  - name: v\n    kind: console\n    params: { send: version, expect: "fw=(?<fw>\\\\S+)" }\n    limits:\n      fw: { equals: "\${image.verison}" }\n`)).toEqual([
      '8: steps[0].limits.fw.equals: unknown variable ${image.verison} (known: ${image.version}, ${image.product}, ${image.hash}, ${unit.serial}, ${unit.mac})',
    ]);
  });

  it('a limit in a unit of another quantity; one in A on a measurement in mA loads', () => {
    expect(refused(`${HEAD}  - name: cur\n    kind: current\n    limits:\n      current_max_ma: { max: 5, unit: V }\n`)).toEqual([
      '7: steps[0].limits.current_max_ma.unit: "current_max_ma" is measured in mA; a limit in V cannot be compared with it',
    ]);
    expect(refused(`${HEAD}  - name: cur\n    kind: current\n    limits:\n      current_max_ma: { max: 0.06, unit: A }\n`)).toEqual([]);
  });

  it('a misspelled key is reported at its own line, top-level or in a step', () => {
    const yaml = `name: t\nproduct: widget\n\nsteps:\n  - name: d\n    kind: delay\n    params: { ms: 1 }\n    timout_s: 3\n\ntear_down: []\n`;
    expect(refused(yaml)).toEqual(['8: steps[0].timout_s: unknown key "timout_s"', '10: tear_down: unknown key "tear_down"']);
    expect(refused(`name: t\nproduct: widget\nsteps:\n  - name: d\n    kind: delay\n    params:\n      ms: 1\n      msec: 2\n`)).toEqual(['8: steps[0].params.msec: unknown key "msec"']);
  });

  it('every step kind declares what it produces', () => {
    expect([...STEP_KINDS.values()].filter((k) => !k.produces).map((k) => k.kind)).toEqual([]);
  });
});

describe('limits in another unit of the same quantity are converted before judging', () => {
  it('max 0.05 A on 30.2 mA passes; max 0.02 A fails, in the measurement unit', () => {
    const m = [{ name: 'run_max_ma', value: 30.2, unit: 'mA' }];
    const pass = judge(m, { run_max_ma: { max: 0.05, unit: 'A' } }, {});
    expect(pass.failure).toBeUndefined();
    expect(pass.measurements[0]).toEqual({ name: 'run_max_ma', value: 30.2, unit: 'mA', limit: { max: 50, unit: 'mA' }, verdict: 'pass' });
    expect(judge(m, { run_max_ma: { max: 0.02, unit: 'A' } }, {}).failure).toEqual({ reason: 'LIMIT_HIGH', message: 'run_max_ma = 30.2 mA > max 20 mA' });
    expect(judge(m, { run_max_ma: { min: 25000, unit: 'uA' } }, {}).failure).toBeUndefined();
  });

  it('a limit that cannot be converted is an ERROR of the plan, never a pass', () => {
    const j = judge([{ name: 'v', value: 3.3, unit: 'V' }], { v: { max: 60, unit: 'mA' } }, {});
    expect(j.failure).toEqual({ reason: 'UNIT_MISMATCH', message: 'v is measured in V; its limit is in mA' });
    expect(j.measurements[0]!.verdict).toBe('fail');
  });
});

describe('pijig sim: every configuration error names the file and line', () => {
  it("a plan with a YAML error is reported at the user's file and line, before anything is built", async () => {
    const plan = await planFile('name: [unclosed\nproduct: widget\n');
    const e = await prepareWorkspace({ root: join(dir, 'ws'), stationFile: STATION, planFile: plan }).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues[0]).toMatchObject({ file: plan, line: 2 });
  });

  it('a plan that does not validate, and files that cannot be read', async () => {
    const plan = await planFile(`${HEAD}  - name: c\n    kind: curent\n`);
    const e = await prepareWorkspace({ root: join(dir, 'ws'), stationFile: STATION, planFile: plan }).then(() => undefined, (err: unknown) => err);
    expect((e as ConfigError).issues).toEqual([expect.objectContaining({ file: plan, line: 5, path: 'steps[0].kind' })]);
    for (const [stationFile, planFile, missing] of [
      [join(dir, 'nope.yaml'), join(EXAMPLES, 'plan.yaml'), join(dir, 'nope.yaml')],
      [STATION, join(dir, 'nope-plan.yaml'), join(dir, 'nope-plan.yaml')],
    ] as const) {
      const err = await prepareWorkspace({ root: join(dir, 'ws'), stationFile, planFile }).then(() => undefined, (x: unknown) => x);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues[0]).toMatchObject({ file: missing, message: expect.stringMatching(/^cannot read/) });
    }
  });
});
