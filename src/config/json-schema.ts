import { z } from 'zod';
import { stationSchema } from './station.js';
import { planSchema } from './plan.js';

/** JSON Schemas for editors (yaml-language-server), generated from the zod schemas - never written by hand. */
export function jsonSchemas(): Record<'station' | 'plan', unknown> {
  const opts = { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' } as const;
  return {
    station: { title: 'pijig station wiring', ...z.toJSONSchema(stationSchema, opts) },
    plan: { title: 'pijig test plan', ...z.toJSONSchema(planSchema, opts) },
  };
}
