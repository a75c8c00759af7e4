import type { Plan, PlanStep, StepRegistry } from '../config/plan.js';
import type { StepKind } from './step.js';
import { programStep } from './program.js';
import { identityStep } from './identity.js';
import { lockStep } from './lock.js';
import { commandStep } from './command.js';
import { currentStep } from './current.js';
import { ledStep } from './led.js';
import { consoleStep } from './console.js';
import { delayStep } from './delay.js';
import { powerCycleStep } from './power.js';

/** A plan whose steps are bound to their kinds (what the runner runs). */
export type StepPlan = Plan<StepKind>;
export type StepPlanStep = PlanStep<StepKind>;

/** Every step kind a plan may name. */
export const STEP_KINDS: StepRegistry<StepKind> = new Map(
  [programStep, identityStep, currentStep, ledStep, consoleStep, lockStep, commandStep, delayStep, powerCycleStep].map((s) => [s.kind, s as StepKind]),
);
