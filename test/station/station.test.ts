import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeStation, LINES, DEBOUNCE } from '../helpers/station-harness.js';
import { planOf } from '../helpers/test-steps.js';
import { toCsv } from '../../src/records/export.js';
import type { StepPlan as Plan } from '../../src/steps/registry.js';

type Harness = Awaited<ReturnType<typeof makeStation>>;
let h: Harness | undefined;

beforeEach(() => {
  // Timers and the clock are fake; file I/O (journal fsync) is real.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  vi.useRealTimers();
});

const passPlan = () => planOf([{ name: 'measure current', kind: 'measure', params: { values: { current_ma: 25 }, unit: 'mA' }, limits: { current_ma: { min: 10, max: 40 } } }]);
const longPlan = () => planOf([{ name: 'quick', kind: 'measure', params: { values: {} } }, { name: 'program flash', kind: 'wait-for-signal' }]);

async function started(plan: Plan) {
  h = await makeStation({ plan });
  expect(h.station.state).toBe('ready');
  return h;
}

describe('station: START and the lid', () => {
  it('does nothing but show CLOSE LID when START is pressed with the lid open', async () => {
    const s = await started(passPlan());
    await s.press('start');
    expect(s.station.state).toBe('ready');
    expect(s.screens.at(-1)).toMatchObject({ kind: 'close-lid', product: 'widget' });
    expect(s.chip.level(LINES.power)).toBe(false);
    expect(await s.records()).toHaveLength(0);
    await s.lid(true);
    expect(s.screens.at(-1)).toMatchObject({ kind: 'ready' });
  });

  it('ignores a START that bounces shorter than its debounce time', async () => {
    const s = await started(passPlan());
    await s.lid(true);
    for (let i = 0; i < 5; i++) {
      s.chip.setActive(LINES.start, true);
      await vi.advanceTimersByTimeAsync(DEBOUNCE.start - 5);
      s.chip.setActive(LINES.start, false);
      await vi.advanceTimersByTimeAsync(3);
    }
    await vi.advanceTimersByTimeAsync(100);
    expect(s.station.state).toBe('ready');
  });
});

describe('station: a full cycle', () => {
  it('runs a unit to PASS, journals it before showing PASS, and holds the result until the lid opens', async () => {
    const s = await started(passPlan());
    const journalAtPassScreen: number[] = [];
    s.panel.on('screen', (screen) => {
      if (screen.kind === 'pass') journalAtPassScreen.push(readFileSync(join(s.dir, 'units.jsonl'), 'utf8').split('\n').filter(Boolean).length);
    });
    await s.lid(true);
    await s.press('start');
    await s.until('pass');
    expect(journalAtPassScreen).toEqual([1]); // the record was on disk when PASS was drawn
    const [record] = await s.records();
    expect(record).toMatchObject({ seq: 1, station: 'test-jig', result: 'PASS', plan: { name: 'test plan', product: 'widget' } });
    expect(record!.steps[0]!.measurements[0]).toEqual({ name: 'current_ma', value: 25, unit: 'mA', limit: { min: 10, max: 40 }, verdict: 'pass' });
    expect(s.screens.at(-1)).toMatchObject({ kind: 'pass' });
    expect(s.light.green.active).toBe(true);
    expect(s.chip.level(LINES.power)).toBe(false); // DUT off once the cycle is over
    await s.press('start'); // no re-test without reseating
    expect(s.station.state).toBe('pass');
    await s.lid(false);
    expect(s.station.state).toBe('ready');
    expect(s.screens.at(-1)).toMatchObject({ kind: 'ready', pass: 1, fail: 0 });
    expect(s.states).toEqual(['idle-devices_ok->ready', 'ready-lid_close->ready', 'ready-start->running', 'running-cycle_pass->pass', 'pass-lid_open->ready']);
  });

  it('shows ERROR with the step and reason and keeps serving after a step throws', async () => {
    const s = await started(planOf([{ name: 'console', kind: 'throw', params: { message: 'undefined is not a function' } }]));
    await s.lid(true);
    await s.press('start');
    await s.until('unit_error');
    expect(s.screens.at(-1)).toMatchObject({ kind: 'fail', error: true, step: 'console', reason: 'STEP_EXCEPTION' });
    expect(s.light.red.active).toBe(true);
    expect(s.light.amber.active).toBe(true); // ERROR: red and amber, the jig needs attention
    await s.lid(false);
    await s.lid(true);
    await s.press('start');
    await s.until('unit_error');
    expect((await s.records()).map((r) => [r.seq, r.result, r.reason])).toEqual([
      [1, 'ERROR', 'STEP_EXCEPTION'],
      [2, 'ERROR', 'STEP_EXCEPTION'],
    ]);
    await s.lid(false);
    expect(s.screens.at(-1)).toMatchObject({ kind: 'ready', pass: 0, fail: 0, error: 2 });
    // the CSV carries the difference too
    const csv = (await toCsv(await s.records())).split('\r\n');
    expect(csv[1]).toMatch(/^1,test-jig,,,,1,,,,,ERROR,console,STEP_EXCEPTION,/);
    expect(s.books.counts()).toMatchObject({ PASS: 0, FAIL: 0, ERROR: 2 });
  });

  it('shows FAIL (a reject) for a unit judged bad, and counts it apart from ERROR', async () => {
    const s = await started(planOf([{ name: 'verify', kind: 'fail', params: { code: 'VERIFY_FAILED' } }]));
    await s.lid(true);
    await s.press('start');
    await s.until('fail');
    expect(s.screens.at(-1)).toEqual({ kind: 'fail', step: 'verify', reason: 'VERIFY_FAILED', detail: 'failed with VERIFY_FAILED' });
    expect(s.light.red.active).toBe(true);
    expect(s.light.amber.active).toBe(false);
    await s.lid(false);
    expect(s.screens.at(-1)).toMatchObject({ kind: 'ready', pass: 0, fail: 1 });
    expect((await s.records())[0]).toMatchObject({ result: 'FAIL', reason: 'VERIFY_FAILED' });
  });

  it('shows the running step with progress on the OLED', async () => {
    const s = await started(longPlan());
    await s.lid(true);
    await s.press('start');
    await vi.advanceTimersByTimeAsync(1000);
    // the bar shows the running step's own progress (the wait-for-signal step reports 0.5)
    expect(s.screens.at(-1)).toMatchObject({ kind: 'running', step: 'program flash', stepIndex: 1, stepCount: 2, progress: 0.5, detail: 'working' });
    expect(s.light.amber.active).toBe(true);
    // the elapsed time ticks every second while the step runs
    const before = (s.screens.at(-1) as { elapsedMs: number }).elapsedMs;
    await vi.advanceTimersByTimeAsync(1000);
    expect((s.screens.at(-1) as { elapsedMs: number }).elapsedMs).toBe(before + 1000);
  });
});

describe('station: ABORT, lid open and the interlock', () => {
  it('ABORT during a step powers the DUT off at once and records the unit as ABORTED', async () => {
    const s = await started(longPlan());
    await s.lid(true);
    await s.press('start');
    await vi.advanceTimersByTimeAsync(500);
    expect(s.station.state).toBe('running');
    expect(s.chip.level(LINES.power)).toBe(true);
    s.chip.setActive(LINES.abort, true);
    await vi.advanceTimersByTimeAsync(DEBOUNCE.abort);
    // the relay drops in the same tick as the debounced ABORT edge: 10 ms after the press, well within 100 ms
    expect(s.chip.level(LINES.power)).toBe(false);
    await s.until('aborted');
    const [record] = await s.records();
    expect(record).toMatchObject({ result: 'ABORTED', failedStep: 'program flash', reason: 'ABORTED', message: 'ABORT pressed' });
    expect(record!.steps.map((st) => st.outcome)).toEqual(['pass', 'aborted']);
    expect(s.screens.at(-1)).toMatchObject({ kind: 'aborted', step: 'program flash' });
    await s.lid(false);
    expect(s.station.state).toBe('ready');
  });

  it('opening the lid during a step aborts the cycle, and closing it on the next unit gives READY', async () => {
    const s = await started(longPlan());
    await s.lid(true);
    await s.press('start');
    await vi.advanceTimersByTimeAsync(200);
    s.chip.setActive(LINES.lid, false);
    await vi.advanceTimersByTimeAsync(DEBOUNCE.lid);
    expect(s.chip.level(LINES.power)).toBe(false);
    await s.until('aborted');
    expect((await s.records())[0]).toMatchObject({ result: 'ABORTED', message: 'lid opened' });
    await s.lid(true);
    expect(s.station.state).toBe('ready');
  });

  it('never powers the DUT while the lid is open', async () => {
    const s = await started(longPlan());
    const violations: string[] = [];
    s.chip.onOutput((line, high) => {
      if (line === LINES.power && high && !s.chip.outputActive(LINES.power)) violations.push('inconsistent');
      if (line === LINES.power && high && !s.lidClosed.active) violations.push('powered with lid open');
    });
    // a rough operator: START with the lid open, lid bouncing, aborts, lid opened mid-cycle
    await s.press('start');
    await s.lid(true);
    await s.press('start');
    await vi.advanceTimersByTimeAsync(50);
    await s.lid(false);
    await s.until('aborted');
    await s.lid(true);
    await s.press('start');
    await vi.advanceTimersByTimeAsync(50);
    await s.press('abort');
    await s.until('aborted');
    await s.lid(false);
    await s.press('start');
    expect(violations).toEqual([]);
    expect(s.chip.level(LINES.power)).toBe(false);
    expect((await s.records()).map((r) => r.result)).toEqual(['ABORTED', 'ABORTED']);
  });

  it('does not power the DUT when the lid opens between START and power-on', async () => {
    const s = await started(longPlan());
    await s.lid(true);
    s.chip.setActive(LINES.start, true);
    s.chip.setActive(LINES.lid, false); // lid starts opening; its debounce is longer than START's
    await vi.advanceTimersByTimeAsync(DEBOUNCE.start + 1);
    await vi.advanceTimersByTimeAsync(DEBOUNCE.lid);
    await s.until('aborted');
    expect(s.chip.level(LINES.power)).toBe(false);
  });
});

describe('station: faults', () => {
  it('shows RECORD NOT SAVED and goes to error when the journal cannot be written', async () => {
    const s = await started(passPlan());
    await s.journal.close();
    await s.lid(true);
    await s.press('start');
    await s.until('error');
    expect(s.screens.at(-1)).toMatchObject({ kind: 'fault', title: 'RECORD NOT SAVED' });
    expect(s.screens.some((x) => x.kind === 'pass')).toBe(false);
  });

  it('starts in error with a fault screen when there is no plan to run', async () => {
    h = await makeStation({ plan: passPlan() }, () => Promise.reject(new Error('plan.yaml:3: steps: a plan needs at least one step')));
    expect(h.station.state).toBe('error');
    expect(h.screens.at(-1)).toMatchObject({ kind: 'fault', title: 'NO TEST PLAN' });
    await h.lid(true);
    await h.press('start');
    expect(h.station.state).toBe('error');
    expect(h.chip.level(LINES.power)).toBe(false);
  });
});

describe('station: what holds START back', () => {
  const image = { bundleId: 'b'.repeat(64), product: 'widget', version: '1.4.2', target: 'stm32f103c8', regions: [], imageHash: 'f'.repeat(64) };

  it('ORDER COMPLETE: once the image has been flashed the order quantity of times, START flashes no more', async () => {
    h = await makeStation({ plan: planOf([{ name: 'program', kind: 'flash' }]), image, orderQuantity: 2 });
    const s = h;
    for (let i = 0; i < 2; i++) {
      await s.lid(true);
      await s.press('start');
      await s.until('pass');
      await s.lid(false);
    }
    expect(s.books.ledger!.byImage.get(image.imageHash)?.flashes).toBe(2);
    await s.lid(true);
    await s.press('start');
    expect(s.station.state).toBe('ready');
    expect(s.screens.at(-1)).toEqual({ kind: 'fault', title: 'ORDER COMPLETE', lines: ['2 of 2 units', 'flashed for this order', 'load a new bundle'] });
    expect(s.chip.level(LINES.power)).toBe(false);
    expect(await s.records()).toHaveLength(2);
    expect(s.station.status().job).toMatchObject({ orderQuantity: 2, flashed: 2, version: '1.4.2' });
  });

  it('IMPORTING IMAGE: START waits while a bundle is being imported, and works once it is done', async () => {
    let importing = true;
    h = await makeStation({ plan: passPlan() }, undefined, () => (importing ? 'IMPORTING IMAGE' : undefined));
    const s = h;
    await s.lid(true);
    await s.press('start');
    expect(s.station.state).toBe('ready');
    expect(s.screens.at(-1)).toEqual({ kind: 'message', title: 'IMPORTING IMAGE', lines: ['START again when done'], icon: 'wait' });
    expect(s.chip.level(LINES.power)).toBe(false);
    expect(await s.records()).toHaveLength(0);
    importing = false;
    await s.press('start');
    await s.until('pass');
    expect(await s.records()).toHaveLength(1);
  });

  it('a new job while the station waits shows its version; a failing one puts NO TEST PLAN up until a good one comes', async () => {
    h = await makeStation({ plan: passPlan() });
    const s = h;
    await s.load(async () => ({ plan: passPlan(), image }));
    expect(s.screens.at(-1)).toMatchObject({ kind: 'ready', version: '1.4.2' });
    await s.load(() => Promise.reject(new Error('plan.yaml:3: steps: a plan needs at least one step')));
    expect(s.station.state).toBe('error');
    expect(s.screens.at(-1)).toEqual({ kind: 'fault', title: 'NO TEST PLAN', lines: ['plan.yaml:3: steps: a plan needs at least one step'] });
    await s.load();
    expect(s.station.state).toBe('ready');
  });
});

describe('the interlock as a structure', () => {
  it('a step cannot switch the DUT on once the lid is open or the cycle is over (INTERLOCK)', async () => {
    const { Interlock } = await import('../../src/station/interlock.js');
    h = await makeStation({ plan: passPlan() });
    const s = h;
    const interlock = new Interlock(s.dutPower, s.lidClosed, () => {});
    const cycle = new AbortController();
    await expect(interlock.forCycle(cycle.signal).set(true)).rejects.toMatchObject({ code: 'INTERLOCK', message: 'DUT power refused: the lid is open' });
    expect(s.chip.level(LINES.power)).toBe(false);
    await s.lid(true);
    const power = interlock.forCycle(cycle.signal);
    await power.set(true);
    expect(s.chip.level(LINES.power)).toBe(true);
    await power.set(false);
    cycle.abort('ABORT pressed');
    await expect(power.set(true)).rejects.toMatchObject({ code: 'INTERLOCK', message: 'DUT power refused: the cycle was cancelled' });
    const next = interlock.forCycle(new AbortController().signal);
    next.end();
    await expect(next.set(true)).rejects.toMatchObject({ code: 'INTERLOCK', message: 'DUT power refused: the cycle has ended' });
    expect(s.chip.level(LINES.power)).toBe(false);
  });

  it('a power-cycle step in a plan switches the DUT through the cycle\'s handle, and steps see only the devices they declare', async () => {
    const seen: string[][] = [];
    const { defineStep } = await import('../../src/steps/step.js');
    const { z } = await import('zod');
    const spy = defineStep({ kind: 'spy', description: 'records what it is given', params: z.object({}), needs: ['dutPower'], async run(ctx) {
      seen.push(Object.keys(ctx.devices));
      await ctx.devices.dutPower.set(false);
      await ctx.devices.dutPower.set(true);
      return {};
    } });
    const plan = planOf([{ name: 'spy', kind: 'measure', params: { values: {} } }]);
    plan.steps[0]!.step = spy as never;
    h = await makeStation({ plan });
    const s = h;
    await s.lid(true);
    await s.press('start');
    await s.until('pass');
    expect(seen).toEqual([['dutPower']]);
    expect(s.chip.level(LINES.power)).toBe(false);
  });
});
