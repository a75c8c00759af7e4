import type { StepPlan as Plan, StepPlanStep as PlanStep } from '../steps/registry.js';
import type { ActiveImage } from '../core/image.js';
import type { StepOutcome, StepRecord, UnitResult } from '../core/record.js';
import { REASONS, resultOf, type ReasonCode } from '../core/reasons.js';
import { StepError } from '../steps/errors.js';
import type { CycleResources, DeviceName, Devices, StepContext, StepDevices, StepOutput, UnitState } from '../steps/step.js';
import type { UnitIdentity } from '../core/identity.js';
import type { UnitLedger } from '../core/unit-ledger.js';
import { judge, type Substitutions } from './limits.js';

export interface RunnerHooks {
  stepStarted?(index: number, count: number, step: PlanStep): void;
  /** Progress of the running step (0..1) and of the whole plan, with a short text. */
  progress?(step: { fraction: number; overall: number; text?: string }, planStep: PlanStep): void;
  stepEnded?(record: StepRecord): void;
  log?(message: string): void;
}

export interface RunnerDeps {
  devices: Devices;
  /** The station's ledger for this cycle (attempt, flashes, identity). */
  ledger: UnitLedger;
  image: ActiveImage | undefined;
  hooks?: RunnerHooks;
  now?: () => Date;
}

export interface CycleOutcome {
  result: UnitResult;
  failedStep?: string;
  reason?: ReasonCode;
  message?: string;
  steps: StepRecord[];
  identity?: UnitIdentity;
}

/** Cycle-scoped resources, disposed in reverse order of creation at teardown, each alone. */
export class CycleScope implements CycleResources {
  private readonly entries = new Map<string, { value: Promise<unknown>; dispose: (v: never) => Promise<void> }>();

  constructor(private readonly log: (message: string) => void = () => {}) {}

  acquire<T>(key: string, create: () => Promise<T>, dispose: (value: T) => Promise<void>): Promise<T> {
    const existing = this.entries.get(key);
    if (existing) return existing.value as Promise<T>;
    const value = create();
    this.entries.set(key, { value, dispose: dispose as (v: never) => Promise<void> });
    value.catch(() => this.entries.delete(key));
    return value;
  }

  async disposeAll(): Promise<void> {
    const entries = [...this.entries.entries()].reverse();
    this.entries.clear();
    for (const [key, entry] of entries) {
      try {
        await entry.dispose((await entry.value) as never);
      } catch (err) {
        this.log(`teardown of ${key} failed: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * Runs a plan's steps in order against one unit: each step under its own timeout and the cycle's
 * cancel signal, its measurements judged against the plan's limits, stopping at the first failure
 * unless the step says continue_on_fail. Teardown steps run after a pass or a fail (not after an
 * abort: the DUT is already off); cycle resources are always disposed.
 */
export async function runPlan(plan: Plan, deps: RunnerDeps, signal: AbortSignal): Promise<CycleOutcome> {
  const now = deps.now ?? (() => new Date());
  const hooks = deps.hooks ?? {};
  const log = hooks.log ?? (() => {});
  const scope = new CycleScope(log);
  const unit: UnitState = {};
  const records: StepRecord[] = [];
  // FAIL is definitive (the unit was judged bad), so it outranks an ERROR wherever it happened.
  let firstFail: { step: string; reason: ReasonCode; message: string } | undefined;
  let firstError: { step: string; reason: ReasonCode; message: string } | undefined;
  let aborted = false;

  const runList = async (list: PlanStep[], offset: number, total: number, stopOnFail: boolean) => {
    for (let i = 0; i < list.length; i++) {
      if (signal.aborted) {
        aborted = true;
        return;
      }
      const planStep = list[i]!;
      hooks.stepStarted?.(offset + i, total, planStep);
      const { record } = await runStep(planStep, offset + i, total);
      records.push(record);
      hooks.stepEnded?.(record);
      if (record.outcome === 'aborted') {
        aborted = true;
        return;
      }
      if (record.outcome !== 'pass') {
        const failure = { step: record.name, reason: record.reason ?? 'STEP_EXCEPTION', message: record.message ?? '' };
        if (record.outcome === 'fail') firstFail ??= failure;
        else firstError ??= failure;
        if (stopOnFail && !planStep.continue_on_fail) return;
      }
    }
  };

  const runStep = async (planStep: PlanStep, index: number, total: number): Promise<{ record: StepRecord; output?: StepOutput }> => {
    const started = now();
    const base = { name: planStep.name, kind: planStep.kind, startedAt: started.toISOString() };
    const finish = (outcome: StepOutcome, extra: Partial<StepRecord> = {}): StepRecord => ({
      ...base,
      outcome,
      durationMs: now().getTime() - started.getTime(),
      measurements: [],
      ...extra,
    });
    const devices = devicesFor(planStep.step.needs, deps.devices);
    if ('missing' in devices) {
      return { record: finish('error', { reason: 'DEVICE_MISSING', message: `step "${planStep.name}" needs ${devices.missing.join(', ')}, which the station config does not provide` }) };
    }
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new StepError('STEP_TIMEOUT', `no result within ${planStep.timeout_s} s`)), planStep.timeout_s * 1000);
    const stepSignal = AbortSignal.any([signal, timeout.signal]);
    const ctx: StepContext<unknown> = {
      step: { name: planStep.name, kind: planStep.kind, timeoutMs: planStep.timeout_s * 1000 },
      params: planStep.params,
      signal: stepSignal,
      devices: devices.granted,
      image: deps.image,
      unit,
      ledger: deps.ledger,
      cycle: scope,
      progress: (fraction, text) => {
        const f = Math.min(1, Math.max(0, fraction));
        hooks.progress?.({ fraction: f, overall: (index + f) / total, ...(text ? { text } : {}) }, planStep);
      },
      log: (message) => log(`[${planStep.name}] ${message}`),
    };
    try {
      const work = planStep.step.run(ctx);
      work.catch(() => {}); // a step that ignores its signal must not become an unhandled rejection later
      const output = await raceSignal(work, stepSignal);
      const vars = substitutions(deps.image, unit.identity);
      const judged = judge(output.measurements ?? [], planStep.limits, vars);
      const extra: Partial<StepRecord> = { measurements: judged.measurements, ...(output.data ? { data: output.data } : {}) };
      if (judged.failure) return { record: finish(outcomeOf(judged.failure.reason), { ...extra, reason: judged.failure.reason, message: judged.failure.message }), output };
      return { record: finish('pass', extra), output };
    } catch (err) {
      if (signal.aborted) return { record: finish('aborted', { reason: 'ABORTED', message: abortMessage(signal) }) };
      if (timeout.signal.aborted) return { record: finish('error', { reason: 'STEP_TIMEOUT', message: `no result within ${planStep.timeout_s} s` }) };
      if (err instanceof StepError) {
        return { record: finish(outcomeOf(err.code), { reason: err.code, message: err.message, ...(err.details ? { data: err.details } : {}) }) };
      }
      return { record: finish('error', { reason: 'STEP_EXCEPTION', message: `${(err as Error)?.message ?? String(err)}` }) };
    } finally {
      clearTimeout(timer);
    }
  };

  const total = plan.steps.length + plan.teardown.length;
  try {
    await runList(plan.steps, 0, total, true);
    if (!aborted) await runList(plan.teardown, plan.steps.length, total, false);
  } finally {
    await scope.disposeAll();
  }

  const first = firstFail ?? firstError;
  const outcome: CycleOutcome = {
    result: aborted ? 'ABORTED' : firstFail ? 'FAIL' : firstError ? 'ERROR' : 'PASS',
    steps: records,
    ...(unit.identity ? { identity: unit.identity } : {}),
  };
  if (aborted) {
    const last = records.at(-1);
    return { ...outcome, reason: 'ABORTED', message: abortMessage(signal), ...(last ? { failedStep: last.name } : {}) };
  }
  if (first) return { ...outcome, failedStep: first.step, reason: first.reason, message: first.message };
  return outcome;
}

/** A step's outcome for a failure with this code: 'fail' when it judges the unit, 'error' when the jig could not. */
function outcomeOf(code: ReasonCode): StepOutcome {
  const result = resultOf(code);
  return result === 'FAIL' ? 'fail' : result === 'ABORTED' ? 'aborted' : 'error';
}

/** Exactly the devices a step declares, or the ones the station lacks. */
function devicesFor<N extends DeviceName>(needs: readonly N[], all: Devices): { granted: StepDevices<N> } | { missing: N[] } {
  const granted: Partial<Record<DeviceName, unknown>> = {};
  const missing: N[] = [];
  for (const name of needs) {
    const device = all[name];
    if (device === undefined || (name === 'lightSensors' && all.lightSensors.size === 0)) missing.push(name);
    else granted[name] = device;
  }
  return missing.length ? { missing } : { granted: granted as StepDevices<N> };
}

function substitutions(image: ActiveImage | undefined, identity: UnitIdentity | undefined): Substitutions {
  return {
    'image.version': image?.version,
    'image.product': image?.product,
    'image.hash': image?.imageHash,
    'unit.serial': identity?.serial,
    'unit.mac': identity?.mac,
  };
}

function abortMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return typeof reason === 'string' ? reason : reason instanceof Error ? reason.message : REASONS.ABORTED.text;
}

/** Settle with the work, or reject as soon as the signal fires (the work may go on; it is abandoned). */
function raceSignal<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
