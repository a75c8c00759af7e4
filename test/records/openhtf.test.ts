import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { toOpenhtf, validatorText } from '../../src/records/openhtf.js';
import type { UnitRecord } from '../../src/core/record.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(ROOT, 'test/fixtures/openhtf');

/** The structure of a JSON value: object keys (sorted) with the types of their values; arrays by their first element. */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (typeof v === 'object') return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, shape((v as Record<string, unknown>)[k])]));
  return typeof v;
}

const keys = (o: object) => Object.keys(o).sort();

/** The same kind of unit as the reference records: a current in range, a version, a temperature over its limit. */
const unit: UnitRecord = {
  seq: 7,
  id: 'u-7',
  station: 'line1-jig01',
  plan: { name: 'widget production test', product: 'widget' },
  serial: 'WG000001',
  mac: '02:50:4a:00:00:01',
  startedAt: '2026-12-01T23:26:36.442Z',
  endedAt: '2026-12-01T23:26:36.468Z',
  durationMs: 26,
  result: 'FAIL',
  failedStep: 'temperature',
  reason: 'LIMIT_HIGH',
  message: 'temp_c 71 above 60',
  steps: [
    {
      name: 'boot current',
      kind: 'current',
      outcome: 'pass',
      startedAt: '2026-12-01T23:26:36.442Z',
      durationMs: 9,
      measurements: [
        { name: 'run_mean_ma', value: 31.5, unit: 'mA', limit: { min: 20, max: 50, unit: 'mA' }, verdict: 'pass' },
        { name: 'fw', value: '1.2.0', limit: { equals: '1.2.0' }, verdict: 'pass' },
      ],
    },
    { name: 'temperature', kind: 'console', outcome: 'fail', startedAt: '2026-12-01T23:26:36.452Z', durationMs: 15, reason: 'LIMIT_HIGH', message: 'temp_c 71 above 60', measurements: [{ name: 'temp_c', value: 71, unit: '°C', limit: { max: 60, unit: '°C' }, verdict: 'fail' }] },
  ],
};

/**
 * The OpenHTF form against records the real openhtf package wrote (test/fixtures/openhtf, made by
 * scripts/openhtf-reference.py with openhtf 1.6.1 run from source on Debian's python3 packages).
 */
describe('export --format openhtf', () => {
  const reference = async (name: string) => JSON.parse(await readFile(join(FIXTURES, name), 'utf8')) as Record<string, unknown> & { phases: Record<string, unknown>[] };

  it('has the top-level fields of an OpenHTF test record, with the same types', async () => {
    const ref = await reference('record-fail.json');
    const ours = toOpenhtf(unit) as unknown as Record<string, unknown>;
    expect(keys(ours)).toEqual(keys(ref));
    for (const k of ['dut_id', 'start_time_millis', 'end_time_millis', 'outcome', 'station_id', 'outcome_details', 'phases', 'log_records', 'subtests', 'branches', 'diagnosers', 'diagnoses', 'code_info']) {
      expect([k, shape(ours[k]) === 'object' ? 'object' : typeof ours[k]]).toEqual([k, shape(ref[k]) === 'object' ? 'object' : typeof ref[k]]);
    }
    expect(ours).toMatchObject({ dut_id: 'WG000001', start_time_millis: Date.parse(unit.startedAt), end_time_millis: Date.parse(unit.endedAt), outcome: 'FAIL', station_id: 'line1-jig01' });
    expect((ours['metadata'] as Record<string, unknown>)['test_name']).toBe((ref['metadata'] as Record<string, unknown>)['test_name']);
  });

  it('phases and measurements have OpenHTF\'s fields: measured_value, outcome, validators (as OpenHTF prints them), units', async () => {
    const ref = await reference('record-fail.json');
    const refPhases = ref.phases.filter((p) => p['name'] !== 'trigger_phase');
    const ours = toOpenhtf(unit).phases;
    expect(ours.map((p) => [p.name, p.outcome])).toEqual([
      ['boot current', 'PASS'],
      ['temperature', 'FAIL'],
    ]);
    expect(refPhases.map((p) => p['outcome'])).toEqual(['PASS', 'FAIL']);
    for (let i = 0; i < ours.length; i++) {
      expect(keys(ours[i]!)).toEqual(keys(refPhases[i]!));
      const refMs = refPhases[i]!['measurements'] as Record<string, Record<string, unknown>>;
      const ourMs = ours[i]!.measurements as unknown as Record<string, Record<string, unknown>>;
      expect(Object.keys(ourMs)).toEqual(Object.keys(refMs));
      for (const name of Object.keys(refMs)) {
        expect(keys(ourMs[name]!)).toEqual(keys(refMs[name]!));
        for (const k of ['name', 'outcome', 'measured_value', 'units']) expect([name, k, ourMs[name]![k]]).toEqual([name, k, refMs[name]![k]]);
      }
    }
    // Range validators read exactly as OpenHTF's; pijig's equals is exact equality (OpenHTF's Equals), not a regex.
    expect((ours[0]!.measurements['run_mean_ma']!).validators).toEqual((refPhases[0]!['measurements'] as Record<string, { validators: string[] }>)['run_mean_ma']!.validators);
    expect((ours[1]!.measurements['temp_c']!).validators).toEqual((refPhases[1]!['measurements'] as Record<string, { validators: string[] }>)['temp_c']!.validators);
    expect(ours[0]!.measurements['fw']!.validators).toEqual(["'x' is equal to '1.2.0'"]);
    expect(validatorText({ min: 5 })).toBe('5 <= x');
    expect(validatorText({ min: 3, max: 3 })).toBe('x == 3');
  });

  it('an ERROR unit carries its reason in outcome_details as OpenHTF does ({code, description})', async () => {
    const ref = await reference('record-error.json');
    expect(ref['outcome']).toBe('ERROR');
    const ours = toOpenhtf({ ...unit, result: 'ERROR', reason: 'CONSOLE_ERROR', message: 'console port error', steps: [{ ...unit.steps[0]!, name: 'console', outcome: 'error', measurements: [] }] });
    expect(ours.outcome).toBe('ERROR');
    expect(shape(ours.outcome_details)).toEqual(shape(ref['outcome_details']));
    expect(ours.outcome_details).toEqual([{ code: 'CONSOLE_ERROR', description: 'console port error' }]);
    expect(ours.phases[0]!.outcome).toBe((ref.phases.at(-1) as { outcome: string }).outcome);
  });

  // Only where an openhtf source tree is at hand (OPENHTF_SRC): CI has none and no PyPI.
  it.skipIf(!process.env['OPENHTF_SRC'] || !existsSync('/usr/bin/python3'))('the reference records are what the real openhtf writes today (OPENHTF_SRC)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-openhtf-'));
    try {
      await execa('/usr/bin/python3', [join(ROOT, 'scripts/openhtf-reference.py'), dir], { env: { OPENHTF_SRC: process.env['OPENHTF_SRC']! }, timeout: 120_000, killSignal: 'SIGKILL' });
      for (const name of ['record-fail.json', 'record-error.json']) {
        expect(shape(JSON.parse(await readFile(join(dir, name), 'utf8')))).toEqual(shape(await reference(name)));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
