import { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineStep } from './step.js';

/** Wait (settle time, a power-on delay). `ms: 0` makes an instant step, used to measure the station's own overhead. */
export const delayStep = defineStep({
  kind: 'delay',
  description: 'wait a fixed time',
  params: z.strictObject({ ms: z.int().min(0).max(600_000) }),
  needs: [],
  produces: () => [],
  async run(ctx) {
    if (ctx.params.ms > 0) await sleep(ctx.params.ms, undefined, { signal: ctx.signal });
    ctx.progress(1);
    return {};
  },
});
