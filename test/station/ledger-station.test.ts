import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { makeStation } from '../helpers/station-harness.js';
import { planOf } from '../helpers/test-steps.js';
import { Books, LEDGER_FILE } from '../../src/records/books.js';
import type { StepPlan as Plan } from '../../src/steps/registry.js';

type Harness = Awaited<ReturnType<typeof makeStation>>;
let h: Harness | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  vi.useRealTimers();
});

const image = { bundleId: 'b'.repeat(64), product: 'widget', version: '1.4.2', target: 'stm32f103c8', regions: [], imageHash: 'f'.repeat(64) };

/** A unit's plan: the chip is read (its UID), flashed, numbered, then measured (25 mA passes, 99 mA fails). */
function unitPlan(uid: string, currentMa = 25, opts: { locked?: boolean; maxAttempts?: number } = {}): Plan {
  const plan = planOf([
    { name: 'program', kind: 'flash', params: { uid, locked: opts.locked ?? false } },
    { name: 'identity', kind: 'number' },
    { name: 'current', kind: 'measure', params: { values: { current_ma: currentMa }, unit: 'mA' }, limits: { current_ma: { max: 40 } } },
  ]);
  return opts.maxAttempts ? { ...plan, retest: { max_attempts: opts.maxAttempts } } : plan;
}

async function cycle(s: Harness, plan: Plan) {
  await s.load(async () => ({ plan, image, block: s.block }));
  await s.lid(true);
  await s.press('start');
  await vi.waitFor(() => {
    if (!['pass', 'fail', 'unit_error', 'aborted'].includes(s.station.state)) throw new Error(`state ${s.station.state}`);
  }, { timeout: 5000, interval: 5 });
  const records = await s.records();
  await s.lid(false);
  return records.at(-1)!;
}

describe('retests keep the board\'s identity', () => {
  it('a failed board put in again keeps its serial and counts once against the order; every run is linked by chip UID and attempt', async () => {
    h = await makeStation({ plan: unitPlan('u1') });
    const s = h;
    const first = await cycle(s, unitPlan('u1', 99));
    expect(first).toMatchObject({ result: 'FAIL', serial: 'WG000001', chipUid: 'u1', attempt: 1, flashes: 1 });
    const retest = await cycle(s, unitPlan('u1'));
    expect(retest).toMatchObject({ result: 'PASS', serial: 'WG000001', mac: '02:50:4a:00:00:01', chipUid: 'u1', attempt: 2, flashes: 1 });
    const next = await cycle(s, unitPlan('u2'));
    expect(next).toMatchObject({ serial: 'WG000002', chipUid: 'u2', attempt: 1 });
    // two boards flashed (three flashes) for the order
    expect(s.station.status().job).toMatchObject({ flashed: 2 });
    expect(s.books.ledger!.byImage.get(image.imageHash)).toMatchObject({ flashes: 3 });
  });

  it('QUARANTINE: a board over the plan\'s retest limit is not run again, and says so', async () => {
    h = await makeStation({ plan: unitPlan('u3') });
    const s = h;
    await cycle(s, unitPlan('u3', 99, { maxAttempts: 2 }));
    await cycle(s, unitPlan('u3', 99, { maxAttempts: 2 }));
    const third = await cycle(s, unitPlan('u3', 25, { maxAttempts: 2 }));
    expect(third).toMatchObject({ result: 'FAIL', reason: 'QUARANTINE', failedStep: 'program', chipUid: 'u3', attempt: 3, flashes: 0 });
    expect(third.steps.map((x) => x.name)).toEqual(['program']); // nothing else ran
    expect(s.screens.filter((x) => x.kind === 'fail').at(-1)).toEqual({ kind: 'fail', title: 'QUARANTINE', step: 'run 3 of this board', reason: 'WG000001', detail: 'over the retest limit' });
  });

  it('a board that passed and is locked is recognised by its chip: ALREADY_PASSED with its own serial, not an anonymous FAIL', async () => {
    h = await makeStation({ plan: unitPlan('u4') });
    const s = h;
    const passed = await cycle(s, unitPlan('u4'));
    const again = await cycle(s, unitPlan('u4', 25, { locked: true }));
    expect(again).toMatchObject({ result: 'ERROR', reason: 'ALREADY_PASSED', serial: passed.serial, mac: passed.mac, chipUid: 'u4', flashes: 0 });
    expect(s.screens.filter((x) => x.kind === 'fail').at(-1)).toMatchObject({ title: 'PASSED', reason: passed.serial });
    // a locked chip the station never passed
    const stranger = await cycle(s, unitPlan('u5', 25, { locked: true }));
    expect(stranger).toMatchObject({ result: 'ERROR', reason: 'ALREADY_LOCKED', chipUid: 'u5' });
    expect(stranger.serial).toBeUndefined();
  });
});

describe('the order cap reads the ledger', () => {
  it('ORDER CHECK FAILED: a ledger removed under the station refuses START', async () => {
    h = await makeStation({ plan: unitPlan('u6') });
    const s = h;
    await unlink(join(s.dir, LEDGER_FILE));
    await cycle(s, unitPlan('u6'));
    await s.lid(true);
    await s.press('start');
    expect(s.station.state).toBe('ready');
    expect(s.screens.at(-1)).toMatchObject({ kind: 'fault', title: 'ORDER CHECK FAILED', lines: ['ledger cannot be used:', expect.stringMatching(/ledger\.jsonl was replaced or removed/)] });
  });

  it('the counters are the books\': a restart shows the same', async () => {
    h = await makeStation({ plan: unitPlan('u7') });
    const s = h;
    await cycle(s, unitPlan('u7'));
    await cycle(s, unitPlan('u8', 99));
    expect(s.station.status().counts).toEqual({ pass: 1, fail: 1, error: 0 });
    const again = await Books.open({ dataDir: s.dir, stationId: 'test-jig', ranBefore: true });
    expect(again.counts(image.imageHash)).toMatchObject({ PASS: 1, FAIL: 1, ERROR: 0 });
    await again.close();
  });
});
