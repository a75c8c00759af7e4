import { z } from 'zod';
import { YamlSource } from './yaml.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { limitSchema } from '../core/limit.js';
import { unitsCompatible } from '../core/units.js';

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
  scan: z
    .strictObject({ required: z.boolean().default(false).describe('START is refused (SCAN BOARD) until the board label is scanned') })
    .optional()
    .describe('the fixture barcode scanner'),
  steps: z.array(stepSchema).min(1, { error: 'a plan needs at least one step' }),
  /** Steps that always run after the others, pass or fail (not after ABORT: the DUT is off then). */
  teardown: z.array(stepSchema).default([]),
  /** Retest policy: a board (known by its chip UID) run this many times is put in QUARANTINE instead of running again. */
  retest: z.strictObject({ max_attempts: z.int().min(1).max(1000) }).optional(),
});

export type PlanStepSpec = z.output<typeof stepSchema>;

/** A measurement a step kind can produce, as its params configure it. */
export interface MeasurementDecl {
  name: string;
  /** The unit the step reports it in; absent for text, booleans and numbers the plan gives a unit. */
  unit?: string;
  /** Produced only when the station's light sensor of this name is a colour sensor. */
  colourSensor?: string;
}

/**
 * What the plan loader needs of a step kind: its name, the schema of its params, and the
 * measurements it produces (steps/ holds the kinds themselves). A limit on a measurement the step
 * does not produce, or in a unit of another quantity, refuses the plan at load.
 */
export interface StepSchema {
  kind: string;
  params: z.ZodType<unknown>;
  produces?(params: never): readonly MeasurementDecl[];
}

export type StepRegistry<K extends StepSchema = StepSchema> = ReadonlyMap<string, K>;

export interface PlanStep<K extends StepSchema = StepSchema> extends Omit<PlanStepSpec, 'params'> {
  step: K;
  /** Validated by the kind's schema. */
  params: unknown;
}

export interface Plan<K extends StepSchema = StepSchema> {
  file: string;
  name: string;
  product: string;
  /** START waits for a scanned board label. */
  requireScan?: boolean;
  steps: PlanStep<K>[];
  teardown: PlanStep<K>[];
  retest?: { max_attempts: number };
}

/** Parse and validate a plan, each step's params against its kind; every issue at once. */
export function parsePlanSource<K extends StepSchema>(source: YamlSource, registry: StepRegistry<K>): Plan<K> {
  const raw = source.validate(planSchema);
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  const resolve = (section: 'steps' | 'teardown') =>
    raw[section].flatMap((spec, i): PlanStep<K>[] => {
      if (names.has(spec.name)) issues.push(source.issue([section, i, 'name'], `step name "${spec.name}" is used twice`));
      names.add(spec.name);
      const kind = registry.get(spec.kind);
      if (!kind) {
        issues.push(source.issue([section, i, 'kind'], `unknown step kind "${spec.kind}" (known: ${[...registry.keys()].join(', ')})`));
        return [];
      }
      const params = kind.params.safeParse(spec.params);
      if (!params.success) {
        issues.push(...source.issuesOf(params.error.issues, [section, i, 'params']));
        return [];
      }
      if (kind.produces) {
        const produced = (kind.produces as (p: unknown) => readonly MeasurementDecl[])(params.data);
        for (const [name, limit] of Object.entries(spec.limits)) {
          const decl = produced.find((d) => d.name === name);
          if (!decl) {
            const known = produced.length ? `it produces ${produced.map((d) => d.name).join(', ')}` : 'it produces no measurements';
            issues.push(source.issue([section, i, 'limits', name], `step "${spec.name}" (${spec.kind}) produces no measurement "${name}": ${known}`));
          } else if (decl.unit !== undefined && limit.unit !== undefined && !unitsCompatible(limit.unit, decl.unit)) {
            issues.push(source.issue([section, i, 'limits', name, 'unit'], `"${name}" is measured in ${decl.unit}; a limit in ${limit.unit} cannot be compared with it`));
          }
        }
      }
      return [{ ...spec, step: kind, params: params.data }];
    });
  const steps = resolve('steps');
  const teardown = resolve('teardown');
  if (issues.length) throw new ConfigError(issues);
  return { file: source.file, name: raw.name, product: raw.product, requireScan: raw.scan?.required ?? false, steps, teardown, ...(raw.retest ? { retest: raw.retest } : {}) };
}

export function parsePlan<K extends StepSchema>(text: string, file: string, registry: StepRegistry<K>): Plan<K> {
  return parsePlanSource(YamlSource.parse(text, file), registry);
}

export async function loadPlan<K extends StepSchema>(file: string, registry: StepRegistry<K>): Promise<Plan<K>> {
  return parsePlanSource(await YamlSource.load(file), registry);
}
