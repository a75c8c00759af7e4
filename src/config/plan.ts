import { z } from 'zod';
import { YamlSource } from './yaml.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { StepKind } from '../steps/step.js';

export const limitSchema = z
  .strictObject({
    min: z.number().optional(),
    max: z.number().optional(),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional().describe('expected value; ${image.version}, ${unit.serial}, ${unit.mac} are substituted'),
    unit: z.string().optional(),
  })
  .refine((l) => l.min === undefined || l.max === undefined || l.min <= l.max, { error: 'min is above max' })
  .refine((l) => l.min !== undefined || l.max !== undefined || l.equals !== undefined, { error: 'a limit needs min, max or equals' });

const stepSchema = z.strictObject({
  name: z.string().min(1).max(40),
  kind: z.string().min(1),
  params: z.record(z.string(), z.unknown()).default({}),
  limits: z.record(z.string(), limitSchema).default({}),
  timeout_s: z.number().positive().max(3600).default(30),
  continue_on_fail: z.boolean().default(false),
});

export const planSchema = z.strictObject({
  name: z.string().min(1),
  product: z.string().min(1),
  description: z.string().optional(),
  steps: z.array(stepSchema).min(1, { error: 'a plan needs at least one step' }),
  /** Steps that always run after the others, pass or fail (not after ABORT: the DUT is off then). */
  teardown: z.array(stepSchema).default([]),
});

export type PlanStepSpec = z.output<typeof stepSchema>;
export type Limit = z.output<typeof limitSchema>;

export interface PlanStep extends Omit<PlanStepSpec, 'params'> {
  step: StepKind;
  params: unknown;
}

export interface Plan {
  file: string;
  name: string;
  product: string;
  steps: PlanStep[];
  teardown: PlanStep[];
}

export type StepRegistry = ReadonlyMap<string, StepKind>;

/** Parse and validate a plan, each step's params against its kind; every issue at once. */
export function parsePlanSource(source: YamlSource, registry: StepRegistry): Plan {
  const raw = source.validate(planSchema);
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  const resolve = (section: 'steps' | 'teardown') =>
    raw[section].flatMap((spec, i): PlanStep[] => {
      if (names.has(spec.name)) issues.push(source.issue([section, i, 'name'], `step name "${spec.name}" is used twice`));
      names.add(spec.name);
      const kind = registry.get(spec.kind);
      if (!kind) {
        issues.push(source.issue([section, i, 'kind'], `unknown step kind "${spec.kind}" (known: ${[...registry.keys()].join(', ')})`));
        return [];
      }
      const params = kind.params.safeParse(spec.params);
      if (!params.success) {
        for (const issue of params.error.issues) issues.push(source.issue([section, i, 'params', ...issue.path], issue.message));
        return [];
      }
      return [{ ...spec, step: kind, params: params.data }];
    });
  const steps = resolve('steps');
  const teardown = resolve('teardown');
  if (issues.length) throw new ConfigError(issues);
  return { file: source.file, name: raw.name, product: raw.product, steps, teardown };
}

export function parsePlan(text: string, file: string, registry: StepRegistry): Plan {
  return parsePlanSource(YamlSource.parse(text, file), registry);
}

export async function loadPlan(file: string, registry: StepRegistry): Promise<Plan> {
  return parsePlanSource(await YamlSource.load(file), registry);
}
