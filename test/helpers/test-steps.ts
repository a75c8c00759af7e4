import { z } from 'zod';
import { defineStep, type StepKind } from '../../src/steps/step.js';
import { StepError } from '../../src/steps/errors.js';
import type { StepPlan as Plan, StepPlanStep as PlanStep } from '../../src/steps/registry.js';
import { delayStep } from '../../src/steps/delay.js';

/** Step kinds for driving the runner and the station in tests. */
export const measureStep = defineStep({
  kind: 'measure',
  description: 'returns the measurements it is given',
  params: z.object({ values: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])), unit: z.string().optional() }),
  needs: [],
  async run(ctx) {
    return { measurements: Object.entries(ctx.params.values).map(([name, value]) => ({ name, value, ...(ctx.params.unit ? { unit: ctx.params.unit } : {}) })) };
  },
});

/** Runs until its signal fires, like a cooperative long step (openocd programming). */
export const waitStep = defineStep({
  kind: 'wait-for-signal',
  description: 'waits until cancelled',
  params: z.object({}),
  needs: [],
  run: (ctx) =>
    new Promise((_resolve, reject) => {
      ctx.progress(0.5, 'working');
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
    }),
});

/** Never settles and ignores its signal: the runner must not hang on it. */
export const stubbornStep = defineStep({
  kind: 'stubborn',
  description: 'ignores cancellation',
  params: z.object({}),
  needs: [],
  run: () => new Promise(() => {}),
});

export const throwStep = defineStep({
  kind: 'throw',
  description: 'throws a plain error',
  params: z.object({ message: z.string().default('boom') }),
  needs: [],
  async run(ctx) {
    throw new TypeError(ctx.params.message);
  },
});

export const failStep = defineStep({
  kind: 'fail',
  description: 'throws a StepError',
  params: z.object({ code: z.string().default('VERIFY_FAILED') }),
  needs: [],
  async run(ctx) {
    throw new StepError(ctx.params.code as 'VERIFY_FAILED', `failed with ${ctx.params.code}`);
  },
});

/** Pretends to program the DUT: the chip is admitted and the flash counted in the ledger first, as the program step does. */
export const flashStep = defineStep({
  kind: 'flash',
  description: 'pretends to program the DUT',
  params: z.object({ uid: z.string().optional(), locked: z.boolean().default(false) }),
  needs: [],
  async run(ctx) {
    await ctx.ledger.admit({ uid: ctx.params.uid, locked: ctx.params.locked });
    if (ctx.image) await ctx.ledger.beginFlash(ctx.image.imageHash);
    return {};
  },
});

/** Pretends to number the DUT: the identity comes from the ledger, as the identity step's does. */
export const numberStep = defineStep({
  kind: 'number',
  description: 'pretends to write the identity record',
  params: z.object({}),
  needs: [],
  async run(ctx) {
    const { identity } = await ctx.ledger.identity(undefined);
    ctx.unit.identity = identity;
    return { measurements: [{ name: 'serial', value: identity.serial }] };
  },
});

export const needsProbeStep = defineStep({
  kind: 'needs-probe',
  description: 'declares a probe',
  params: z.object({}),
  needs: ['probe'],
  async run() {
    return {};
  },
});

export const testRegistry: ReadonlyMap<string, StepKind> = new Map(
  [measureStep, waitStep, stubbornStep, throwStep, failStep, flashStep, numberStep, needsProbeStep, delayStep].map((s) => [s.kind, s as StepKind]),
);

type StepSpec = { name: string; kind: string; params?: unknown; limits?: PlanStep['limits']; timeout_s?: number; continue_on_fail?: boolean };

export function planOf(steps: StepSpec[], teardown: StepSpec[] = []): Plan {
  const make = (s: StepSpec): PlanStep => {
    const kind = testRegistry.get(s.kind);
    if (!kind) throw new Error(`unknown test step ${s.kind}`);
    return { name: s.name, kind: s.kind, step: kind, params: kind.params.parse(s.params ?? {}), limits: s.limits ?? {}, timeout_s: s.timeout_s ?? 30, continue_on_fail: s.continue_on_fail ?? false };
  };
  return { file: 'test-plan.yaml', name: 'test plan', product: 'widget', steps: steps.map(make), teardown: teardown.map(make) };
}
