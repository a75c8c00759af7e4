import { z } from 'zod';

/**
 * A plan's limit on one measurement: `{min, max, unit}` or `{equals}`. The zod schema is the one
 * definition; the type is derived from it.
 */
export const limitSchema = z
  .strictObject({
    min: z.number().optional(),
    max: z.number().optional(),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional().describe('expected value; ${image.version}, ${unit.serial}, ${unit.mac} are substituted'),
    unit: z.string().optional(),
  })
  .refine((l) => l.min === undefined || l.max === undefined || l.min <= l.max, { error: 'min is above max' })
  .refine((l) => l.min !== undefined || l.max !== undefined || l.equals !== undefined, { error: 'a limit needs min, max or equals' });

export type Limit = z.output<typeof limitSchema>;
