import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { makeStation, LINES } from '../helpers/station-harness.js';
import { planOf } from '../helpers/test-steps.js';
import { Journal } from '../../src/records/journal.js';

type Harness = Awaited<ReturnType<typeof makeStation>>;
let h: Harness | undefined;
let eng: Journal | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(async () => {
  await h?.cleanup();
  await eng?.close();
  h = undefined;
  eng = undefined;
  vi.useRealTimers();
});

const measure = (name = 'measure current') => ({ name, kind: 'measure', params: { values: { current_ma: 25 }, unit: 'mA' }, limits: { current_ma: { min: 10, max: 40 } } });

describe('the board label from the scanner', () => {
  it('a plan that requires a scan refuses START with SCAN BOARD; the scanned label goes into the record; a new board needs a new scan', async () => {
    const plan = { ...planOf([measure()]), requireScan: true };
    h = await makeStation({ plan });
    const s = h;
    const logs: string[] = [];
    s.station.on('log', (m) => logs.push(m));
    await s.lid(true);
    expect(s.screens.at(-1)).toMatchObject({ kind: 'ready', note: 'SCAN BOARD' });
    await s.press('start');
    expect(s.station.state).toBe('ready');
    expect(s.screens.at(-1)).toEqual({ kind: 'message', title: 'SCAN BOARD', lines: ['scan the label on the board,', 'then press START'], icon: 'wait' });
    expect(s.chip.level(LINES.power)).toBe(false);
    s.station.scan('LBL-0001');
    expect(s.screens.at(-1)).toMatchObject({ kind: 'ready', note: 'LBL-0001' });
    expect(s.station.status().scan).toEqual({ required: true, label: 'LBL-0001' });
    await s.press('start');
    await s.until('pass');
    const [record] = await s.records();
    expect(record).toMatchObject({ result: 'PASS', label: 'LBL-0001' });
    expect(s.station.status().scan).toEqual({ required: true });
    await s.lid(false);
    await s.lid(true);
    await s.press('start');
    expect(s.station.state).toBe('ready');
    expect(await s.records()).toHaveLength(1);
  });

  it('a label scanned while no scan is required is still recorded', async () => {
    h = await makeStation({ plan: planOf([measure()]) });
    await h.lid(true);
    h.station.scan('LBL-7');
    await h.press('start');
    await h.until('pass');
    expect((await h.records())[0]).toMatchObject({ label: 'LBL-7' });
  });
});

describe('the clock and station faults in the record and the log', () => {
  it('every record says whether the clock was synchronised', async () => {
    let synced: boolean | undefined = false;
    h = await makeStation({ plan: planOf([measure()]) }, undefined, undefined, {}, { clockSynced: () => synced });
    await h.lid(true);
    await h.press('start');
    await h.until('pass');
    await h.lid(false);
    synced = true;
    await h.lid(true);
    await h.press('start');
    await h.until('pass');
    expect((await h.records()).map((r) => r.clockSynced)).toEqual([false, true]);
  });

  it('RECORD NOT SAVED is logged with its cause, not only drawn', async () => {
    h = await makeStation({ plan: planOf([measure()]) });
    const logs: string[] = [];
    h.station.on('log', (m) => logs.push(m));
    await h.lid(true);
    await h.journal.close(); // the journal cannot take the record
    await h.press('start');
    await h.until('error');
    expect(h.screens.at(-1)).toMatchObject({ kind: 'fault', title: 'RECORD NOT SAVED' });
    expect(logs).toContainEqual(expect.stringMatching(/^station fault RECORD NOT SAVED: journal .*units\.jsonl is closed \(journal\)$/));
    expect(logs.filter((l) => l.startsWith('station fault'))).toHaveLength(1);
  });
});

describe('engineering runs (pijig run-step)', () => {
  async function withEngineering(steps = [measure(), { name: 'program flash', kind: 'wait-for-signal' }]) {
    const dir = (await import('node:fs/promises')).mkdtemp;
    const tmp = await dir(join((await import('node:os')).tmpdir(), 'pijig-eng-'));
    eng = await Journal.open(join(tmp, 'engineering.jsonl'));
    h = await makeStation({ plan: planOf(steps) }, undefined, undefined, {}, { engineeringJournal: eng });
    return h;
  }

  it('runs one step with the lid closed, recorded apart from the units and counted nowhere; refused with the lid open', async () => {
    const s = await withEngineering();
    await expect(s.station.runEngineering({ step: 'measure current' })).rejects.toMatchObject({ code: 'LID_OPEN' });
    await s.lid(true);
    await expect(s.station.runEngineering({ step: 'nope' })).rejects.toMatchObject({ code: 'UNKNOWN_STEP' });
    await expect(s.station.runEngineering({ step: 'measure current', params: { values: 'x' } })).rejects.toMatchObject({ code: 'BAD_PARAMS' });
    const progress: number[] = [];
    const record = await s.station.runEngineering({ step: 'measure', params: { values: { current_ma: 55 } } }, { progress: (p) => progress.push(p.fraction) });
    expect(record).toMatchObject({ seq: 1, result: 'FAIL', reason: 'LIMIT_HIGH', engineering: { step: 'measure current', kind: 'measure' } });
    expect(record.steps[0]!.measurements[0]).toMatchObject({ name: 'current_ma', value: 55, verdict: 'fail' });
    expect(s.chip.level(LINES.power)).toBe(false);
    expect(await s.records()).toEqual([]);
    expect(s.station.status().counts).toEqual({ pass: 0, fail: 0, error: 0 });
    expect(s.books.counts()).toEqual({ PASS: 0, FAIL: 0, ABORTED: 0, ERROR: 0 });
    const lines = (await readFile(eng!.path, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(s.station.state).toBe('ready');
  });

  it('START waits while it runs; ABORT stops it, drops the DUT power and records it ABORTED', async () => {
    const s = await withEngineering();
    await s.lid(true);
    const run = s.station.runEngineering({ step: 'program flash' });
    await vi.waitFor(() => expect(s.chip.level(LINES.power)).toBe(true), { timeout: 5000, interval: 5 });
    expect(s.station.status().engineering).toMatchObject({ step: 'program flash' });
    await s.press('start');
    expect(s.station.state).toBe('ready');
    expect(await s.records()).toEqual([]);
    await expect(s.station.runEngineering({ step: 'measure current' })).rejects.toMatchObject({ code: 'BUSY' });
    s.chip.setActive(LINES.abort, true);
    await vi.advanceTimersByTimeAsync(20);
    expect(s.chip.level(LINES.power)).toBe(false);
    const record = await run;
    s.chip.setActive(LINES.abort, false);
    expect(record).toMatchObject({ result: 'ABORTED', reason: 'ABORTED', message: 'ABORT pressed' });
    expect(s.station.running).toBe(false);
  });

  it('is refused while a unit cycle runs', async () => {
    const s = await withEngineering([{ name: 'program flash', kind: 'wait-for-signal' }]);
    await s.lid(true);
    await s.press('start');
    await s.until('running');
    await expect(s.station.runEngineering({ step: 'program flash' })).rejects.toMatchObject({ code: 'BUSY', message: expect.stringMatching(/a unit cycle is running/) });
    await s.press('abort');
    await s.until('aborted');
  });
});

describe('DEVICE MISSING in the log', () => {
  it('names each missing device with the error it gave, not only the name the OLED shows', async () => {
    const { DeviceWatch } = await import('../../src/station/device-watch.js');
    const logs: string[] = [];
    const faults: unknown[] = [];
    const watch = new DeviceWatch({
      station: { running: false, reportFault: (f) => faults.push(f), clearFault: () => {} },
      checks: [
        { name: 'ina219 i2c-1 0x40', check: () => Promise.reject(new Error('i2c-1 0x40: EREMOTEIO: no acknowledge')) },
        { name: 'tcs34725 i2c-1 0x29', check: async () => {} },
      ],
      log: (m) => logs.push(m),
    });
    await watch.start();
    watch.stop();
    expect(logs).toEqual(['device missing: ina219 i2c-1 0x40: i2c-1 0x40: EREMOTEIO: no acknowledge']);
    expect(faults).toEqual([{ source: 'devices', title: 'DEVICE MISSING', lines: ['ina219 i2c-1 0x40'] }]);
  });
});
