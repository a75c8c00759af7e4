import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeStation, LINES, DEBOUNCE } from '../helpers/station-harness.js';
import { planOf } from '../helpers/test-steps.js';
import type { Plan } from '../../src/config/plan.js';

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
    s.station.on('screen', (screen) => {
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

  it('shows FAIL with the step and reason and keeps serving after a step throws', async () => {
    const s = await started(planOf([{ name: 'console', kind: 'throw', params: { message: 'undefined is not a function' } }]));
    await s.lid(true);
    await s.press('start');
    await s.until('fail');
    expect(s.screens.at(-1)).toMatchObject({ kind: 'fail', step: 'console', reason: 'STEP_EXCEPTION' });
    expect(s.light.red.active).toBe(true);
    await s.lid(false);
    await s.lid(true);
    await s.press('start');
    await s.until('fail');
    expect((await s.records()).map((r) => [r.seq, r.result, r.reason])).toEqual([
      [1, 'FAIL', 'STEP_EXCEPTION'],
      [2, 'FAIL', 'STEP_EXCEPTION'],
    ]);
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
