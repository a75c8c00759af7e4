import { describe, it, expect, vi, afterEach } from 'vitest';
import { runPlan, CycleScope } from '../../src/station/runner.js';
import type { Devices } from '../../src/steps/step.js';
import { planOf } from '../helpers/test-steps.js';
import { TestLedger } from '../helpers/step-context.js';

const devices: Devices = { dutPower: { set: async () => {} }, lightSensors: new Map() };
const ledger = new TestLedger();
const image = { bundleId: 'b1', product: 'widget', version: '1.4.2', target: 'stm32f103c8', regions: [], imageHash: 'abc' };
const deps = { devices, ledger, image };

afterEach(() => vi.useRealTimers());

describe('plan runner', () => {
  it('judges measurements against the plan limits, with units', async () => {
    const plan = planOf([
      { name: 'current', kind: 'measure', params: { values: { current_ma: 25.5 }, unit: 'mA' }, limits: { current_ma: { min: 10, max: 40 } } },
      { name: 'fw', kind: 'measure', params: { values: { fw: '1.4.2', temp_c: 31 } }, limits: { fw: { equals: '${image.version}' } } },
    ]);
    const out = await runPlan(plan, deps, new AbortController().signal);
    expect(out.result).toBe('PASS');
    expect(out.steps[0]!.measurements).toEqual([{ name: 'current_ma', value: 25.5, unit: 'mA', limit: { min: 10, max: 40 }, verdict: 'pass' }]);
    expect(out.steps[1]!.measurements).toEqual([
      { name: 'fw', value: '1.4.2', limit: { equals: '1.4.2' }, verdict: 'pass' },
      { name: 'temp_c', value: 31, verdict: 'info' },
    ]);
  });

  it.each([
    [{ current_ma: 52.1 }, { min: 10, max: 40, unit: 'mA' }, 'LIMIT_HIGH', 'current_ma = 52.1 mA > max 40 mA', 'FAIL'],
    [{ current_ma: 2 }, { min: 10, max: 40, unit: 'mA' }, 'LIMIT_LOW', 'current_ma = 2 mA < min 10 mA', 'FAIL'],
    [{ current_ma: 'n/a' }, { min: 10 }, 'LIMIT_MISMATCH', 'current_ma = "n/a" is not a number', 'FAIL'],
    [{ fw: '1.4.1' }, { equals: '${image.version}' }, 'LIMIT_MISMATCH', 'fw = "1.4.1", expected "1.4.2"', 'FAIL'],
    // the plan asks for what the step does not give: the jig cannot judge the unit
    [{ other: 1 }, { min: 1 }, 'MEASUREMENT_MISSING', 'the step produced no measurement "current_ma"', 'ERROR'],
  ])('judges %j against %j as %s (%s)', async (values, limit, reason, message, result) => {
    const name = Object.keys(values)[0] === 'other' ? 'current_ma' : Object.keys(values)[0]!;
    const plan = planOf([
      { name: 'check', kind: 'measure', params: { values }, limits: { [name]: limit } },
      { name: 'after', kind: 'measure', params: { values: {} } },
    ]);
    const out = await runPlan(plan, deps, new AbortController().signal);
    expect(out).toMatchObject({ result, failedStep: 'check', reason, message });
    expect(out.steps[0]!.outcome).toBe(result === 'FAIL' ? 'fail' : 'error');
    expect(out.steps.map((s) => s.name)).toEqual(['check']); // stops at the first failure
  });

  it.each([
    ['VERIFY_FAILED', 'FAIL'],
    ['LOCK_NOT_PROVEN', 'FAIL'],
    ['CONSOLE_TIMEOUT', 'FAIL'],
    ['PROBE_NOT_FOUND', 'ERROR'],
    ['PROBE_TIMEOUT', 'ERROR'],
    ['CONNECTION_LOST', 'ERROR'],
    ['I2C_ERROR', 'ERROR'],
  ])('a step failing with %s gives %s', async (code, result) => {
    const out = await runPlan(planOf([{ name: 'x', kind: 'fail', params: { code } }]), deps, new AbortController().signal);
    expect(out).toMatchObject({ result, reason: code, failedStep: 'x' });
  });

  it('a FAIL outranks an ERROR: a unit judged bad is a reject whatever else happened', async () => {
    const plan = planOf([
      { name: 'probe hiccup', kind: 'fail', params: { code: 'CONNECTION_LOST' }, continue_on_fail: true },
      { name: 'current', kind: 'measure', params: { values: { x: 5 } }, limits: { x: { max: 1 } } },
    ]);
    const out = await runPlan(plan, deps, new AbortController().signal);
    expect(out.steps.map((s) => [s.name, s.outcome])).toEqual([
      ['probe hiccup', 'error'],
      ['current', 'fail'],
    ]);
    expect(out).toMatchObject({ result: 'FAIL', failedStep: 'current', reason: 'LIMIT_HIGH' });
  });

  it('goes on after a continue_on_fail step but still fails the unit, naming the first failure', async () => {
    const plan = planOf([
      { name: 'a', kind: 'measure', params: { values: { x: 5 } }, limits: { x: { max: 1 } }, continue_on_fail: true },
      { name: 'b', kind: 'fail', params: { code: 'CONSOLE_TIMEOUT' } },
      { name: 'c', kind: 'measure', params: { values: {} } },
    ]);
    const out = await runPlan(plan, deps, new AbortController().signal);
    expect(out.steps.map((s) => [s.name, s.outcome])).toEqual([
      ['a', 'fail'],
      ['b', 'fail'],
    ]);
    expect(out).toMatchObject({ result: 'FAIL', failedStep: 'a', reason: 'LIMIT_HIGH' });
  });

  it('turns a step that throws into an ERROR (the jig could not judge the unit) with a reason code, and always runs teardown', async () => {
    const plan = planOf([{ name: 'explode', kind: 'throw', params: { message: 'cannot read properties of undefined' } }], [{ name: 'cleanup', kind: 'measure', params: { values: { done: true } } }]);
    const out = await runPlan(plan, deps, new AbortController().signal);
    expect(out).toMatchObject({ result: 'ERROR', failedStep: 'explode', reason: 'STEP_EXCEPTION', message: 'cannot read properties of undefined' });
    expect(out.steps.map((s) => [s.name, s.outcome])).toEqual([
      ['explode', 'error'],
      ['cleanup', 'pass'],
    ]);
  });

  it('gives ERROR for a step that needs a device the station lacks, without running it', async () => {
    const out = await runPlan(planOf([{ name: 'flash', kind: 'needs-probe' }]), deps, new AbortController().signal);
    expect(out).toMatchObject({ result: 'ERROR', reason: 'DEVICE_MISSING' });
    expect(out.message).toMatch(/needs probe/);
  });

  it('times a step out through its signal (fake timers), even one that ignores the signal', async () => {
    vi.useFakeTimers();
    const run = runPlan(planOf([{ name: 'hang', kind: 'stubborn', timeout_s: 5 }]), deps, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(4999);
    let settled = false;
    void run.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await run).toMatchObject({ result: 'ERROR', failedStep: 'hang', reason: 'STEP_TIMEOUT', message: 'no result within 5 s' });
  });

  it('aborts the running step, skips the rest and the teardown, and disposes cycle resources', async () => {
    const controller = new AbortController();
    const disposed: string[] = [];
    const plan = planOf([{ name: 'program', kind: 'wait-for-signal' }, { name: 'never', kind: 'measure', params: { values: {} } }], [{ name: 'teardown', kind: 'measure', params: { values: {} } }]);
    // a resource acquired by the step, as the openocd session is
    plan.steps[0]!.step = {
      ...plan.steps[0]!.step,
      run: async (ctx) => {
        await ctx.cycle.acquire('openocd', async () => 'session', async (v) => void disposed.push(v));
        return new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      },
    };
    const run = runPlan(plan, deps, controller.signal);
    await new Promise((r) => setImmediate(r));
    controller.abort('ABORT pressed');
    const out = await run;
    expect(out).toMatchObject({ result: 'ABORTED', failedStep: 'program', reason: 'ABORTED', message: 'ABORT pressed' });
    expect(out.steps.map((s) => [s.name, s.outcome])).toEqual([['program', 'aborted']]);
    expect(disposed).toEqual(['session']);
  });

  it('keeps the identity for the record; the steps ask the cycle\'s ledger for it', async () => {
    const plan = planOf([{ name: 'id', kind: 'number' }]);
    plan.steps[0]!.limits = { serial: { equals: '${unit.serial}' } };
    const own = new TestLedger();
    const out = await runPlan(plan, { ...deps, ledger: own }, new AbortController().signal);
    expect(out).toMatchObject({ result: 'PASS', identity: { serial: 'SN000001' } });
    expect(own.issued).toEqual([{ serial: 'SN000001', mac: '02:00:00:00:00:01' }]);
  });
});

describe('cycle scope', () => {
  it('creates a resource once and disposes each alone, in reverse order', async () => {
    const log: string[] = [];
    const scope = new CycleScope((m) => log.push(m));
    const a = await scope.acquire('a', async () => 1, async () => void log.push('dispose a'));
    const again = await scope.acquire('a', async () => 2, async () => {});
    await scope.acquire('b', async () => 3, async () => {
      throw new Error('port busy');
    });
    expect([a, again]).toEqual([1, 1]);
    await scope.disposeAll();
    expect(log).toEqual(['teardown of b failed: port busy', 'dispose a']);
  });
});
