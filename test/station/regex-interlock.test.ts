import { afterEach, describe, expect, it, vi } from 'vitest';
import { parsePlan } from '../../src/config/plan.js';
import { STEP_KINDS } from '../../src/steps/registry.js';
import { planRegex, REGEX_BUDGET_MS } from '../../src/steps/plan-regex.js';
import { DEMO, UNIT, consoleRig, simFlash } from '../helpers/functional-context.js';
import { DEBOUNCE, LINES, makeStation } from '../helpers/station-harness.js';

/*
 * A signed plan whose console regex backtracks catastrophically once froze the whole station: the
 * regex ran on the event loop that also debounces ABORT and the lid. These drive the whole station
 * (real plan loader, real serial console on a pty, the simulated firmware) with `(a+)+$` against a
 * line of 40 "a" and a "!": 2^40 steps of backtracking. Time is fake (debounce, the regex budget);
 * the console I/O and the worker thread are real.
 */

const PLAN = `
name: hostile regex
product: demo
steps:
  - name: hostile
    kind: console
    params: { send: "${'a'.repeat(40)}!", expect: "(a+)+$", timeout_ms: 60000 }
    timeout_s: 600
`;

let rig: Awaited<ReturnType<typeof consoleRig>> | undefined;
let h: Awaited<ReturnType<typeof makeStation>> | undefined;

afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  vi.useRealTimers();
  await rig?.close();
  rig = undefined;
});

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A station running the hostile plan, with the regex running on the worker. */
async function stationStuckInRegex() {
  rig = await consoleRig(simFlash({ firmware: DEMO, identity: UNIT }));
  await rig.boot();
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  h = await makeStation({ plan: parsePlan(PLAN, 'plan.yaml', STEP_KINDS) }, undefined, undefined, { console: rig.console });
  const events: string[] = [];
  h.chip.onOutput((line, high) => {
    if (line === LINES.power) events.push(`relay ${high ? 'on' : 'off'}${planRegex.running ? ' while the regex runs' : ''}`);
  });
  await h.lid(true);
  await h.press('start');
  expect(h.station.state).toBe('running');
  // The firmware answers after its 1 ms reply delay (fake time); the line reaches the worker.
  // (The worker thread starts on real time; this waits for it, it does not time anything.)
  for (let i = 0; !planRegex.running; i++) {
    if (i % 10 === 0) await vi.advanceTimersByTimeAsync(1);
    await turn();
  }
  expect(rig.console.transcript().at(-1)).toMatchObject({ dir: 'rx', text: `err unknown command: ${'a'.repeat(40)}!` });
  return { h, events };
}

describe('a catastrophic plan regex cannot block ABORT or the lid', () => {
  it('ABORT drops the DUT relay at its debounced edge while the regex still runs; the unit is ABORTED', async () => {
    const { h: s, events } = await stationStuckInRegex();
    expect(s.chip.level(LINES.power)).toBe(true);
    s.chip.setActive(LINES.abort, true);
    await vi.advanceTimersByTimeAsync(DEBOUNCE.abort - 1);
    expect(s.chip.level(LINES.power)).toBe(true); // not before the debounced edge
    await vi.advanceTimersByTimeAsync(1);
    expect(s.chip.level(LINES.power)).toBe(false);
    expect(events.slice(0, 2)).toEqual(['relay on', 'relay off while the regex runs']);
    s.chip.setActive(LINES.abort, false);
    await vi.advanceTimersByTimeAsync(DEBOUNCE.abort + 1);
    await s.until('aborted');
    const [record] = await s.records();
    expect(record).toMatchObject({ result: 'ABORTED', reason: 'ABORTED', failedStep: 'hostile' });
    expect(events.slice(2).every((e) => e === 'relay off')).toBe(true);
    // The backtracking thread was terminated, not left burning a core.
    expect(planRegex.running).toBe(false);
  });

  it('opening the lid drops the relay at its debounced edge while the regex runs', async () => {
    const { h: s, events } = await stationStuckInRegex();
    s.chip.setActive(LINES.lid, false);
    await vi.advanceTimersByTimeAsync(DEBOUNCE.lid - 1);
    expect(s.chip.level(LINES.power)).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(events.slice(0, 2)).toEqual(['relay on', 'relay off while the regex runs']);
    await s.until('aborted');
    expect(events.slice(2).every((e) => e === 'relay off')).toBe(true); // the cycle's end switches it off again
    expect((await s.records())[0]).toMatchObject({ result: 'ABORTED' });
  });

  it('left alone, the regex is stopped at its budget: the step fails REGEX_TIMEOUT, an ERROR of the plan', async () => {
    const { h: s, events } = await stationStuckInRegex();
    await vi.advanceTimersByTimeAsync(REGEX_BUDGET_MS);
    await s.until('unit_error');
    const [record] = await s.records();
    expect(record).toMatchObject({ result: 'ERROR', reason: 'REGEX_TIMEOUT', failedStep: 'hostile' });
    expect(record!.message).toMatch(/^expect \/\(a\+\)\+\$\/ took longer than 1000 ms on a line of 62 characters and was stopped/);
    expect(events[0]).toBe('relay on');
    expect(events.slice(1).every((e) => e === 'relay off')).toBe(true);
    expect(planRegex.running).toBe(false);
  });
});
