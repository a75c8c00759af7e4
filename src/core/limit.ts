import { z } from 'zod';

/** What a limit's `equals` may name as `${...}`: filled in from the active image and the unit. */
export const LIMIT_VARIABLES = ['image.version', 'image.product', 'image.hash', 'unit.serial', 'unit.mac'] as const;
/** `${name}` in a limit's `equals`. */
export const LIMIT_VARIABLE = /\$\{([^}]*)\}/g;

/**
 * A plan's limit on one measurement: `{min, max, unit}` or `{equals}`. The zod schema is the one
 * definition; the type is derived from it.
 */
export const limitSchema = z
  .strictObject({
    min: z.number().optional(),
    max: z.number().optional(),
    equals: z
      .union([z.string(), z.number(), z.boolean()])
      .optional()
      .describe(`expected value; ${LIMIT_VARIABLES.map((v) => `\${${v}}`).join(', ')} are substituted`),
    unit: z.string().optional(),
  })
  .refine((l) => l.min === undefined || l.max === undefined || l.min <= l.max, { error: 'min is above max' })
  .refine((l) => l.min !== undefined || l.max !== undefined || l.equals !== undefined, { error: 'a limit needs min, max or equals' })
  .superRefine((l, ctx) => {
    if (typeof l.equals !== 'string') return;
    for (const m of l.equals.matchAll(LIMIT_VARIABLE)) {
      if (!(LIMIT_VARIABLES as readonly string[]).includes(m[1]!)) {
        ctx.addIssue({ code: 'custom', path: ['equals'], message: `unknown variable \${${m[1]}} (known: ${LIMIT_VARIABLES.map((v) => `\${${v}}`).join(', ')})` });
      }
    }
  });

export type Limit = z.output<typeof limitSchema>;
