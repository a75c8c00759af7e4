import { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineStep } from './step.js';

/** Power-cycle the DUT (e.g. to boot freshly programmed firmware before the functional checks). */
export const powerCycleStep = defineStep({
  kind: 'power-cycle',
  description: 'switch the DUT supply off, wait, switch it on again',
  params: z.strictObject({ off_ms: z.int().min(0).max(60_000).default(200), settle_ms: z.int().min(0).max(60_000).default(0) }),
  needs: ['dutPower'],
  produces: () => [],
  async run(ctx) {
    await ctx.devices.dutPower.set(false);
    await sleep(ctx.params.off_ms, undefined, { signal: ctx.signal });
    await ctx.devices.dutPower.set(true);
    if (ctx.params.settle_ms) await sleep(ctx.params.settle_ms, undefined, { signal: ctx.signal });
    return {};
  },
});
