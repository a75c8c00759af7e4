import { z } from 'zod';
import { chipFamily, isKnownFamily } from '../core/chip-families.js';
import { ProbeError } from '../devices/probe/probe.js';
import { StepError } from './errors.js';
import { flashAddress } from './identity.js';
import { hex } from './program.js';
import { asStepError, probeSession } from './chip.js';
import { defineStep } from './step.js';

const paramsSchema = z
  .object({
    /**
     * Chip family ("stm32g0", or its openocd script "stm32g0x"); default the probe's configured
     * one. The lock and proof commands come from the chip table (core/chip-families.ts).
     */
    family: z
      .string()
      .regex(/^[a-z0-9_]+$/)
      .refine(isKnownFamily, { error: (i) => `"${String(i.input)}" is not a chip family pijig knows (stm32f0, stm32f1, ..., stm32h7, or the openocd script name such as stm32g0x)` })
      .optional(),
    /** An address in flash to try reading once locked: the read must fail. */
    probe_address: flashAddress.default(0x08000000),
    /** Reset and run the (now locked) target when done. */
    reset: z.boolean().default(true),
  })
  .strict();

/**
 * Turn on read-out protection and prove it took: after a reset (option bytes load at reset),
 * the option bytes must report protection on AND a read of flash over the debug port must fail.
 * Anything less is LOCK_NOT_PROVEN: a unit that leaves the jig readable is a failed unit.
 */
export const lockStep = defineStep({
  kind: 'lock',
  description: 'Enable flash read-out protection and prove that flash reads over the debug port fail',
  params: paramsSchema,
  needs: ['probe'],
  produces: () => [{ name: 'rdp_active' }, { name: 'flash_read_blocked' }],
  async run(ctx) {
    const session = await probeSession(ctx);
    const family = ctx.params.family;
    const op = family ? { signal: ctx.signal, family } : { signal: ctx.signal };
    const at = ctx.params.probe_address;
    try {
      ctx.progress(0, 'locking');
      await session.reset('halt', op);
      await session.lock(op);
      ctx.progress(0.4, 'reset');
      await session.reset('halt', op);
      ctx.progress(0.6, 'proving');
      const rdp = await session.readProtection(op);
      if (!rdp) {
        const chip = chipFamily(family ?? session.family);
        throw new StepError('LOCK_NOT_PROVEN', `after \`${chip.lock}\` and a reset, ${chip.lockProof.register} still reports read protection off (the proof: ${chip.lockProofText})`, {
          details: { rdp_active: false },
        });
      }
      try {
        const bytes = await session.read(at, 4, op);
        throw new StepError('LOCK_NOT_PROVEN', `read protection reported on, but flash at ${hex(at)} still reads as ${Buffer.from(bytes).toString('hex')}`, {
          details: { rdp_active: true, read_blocked: false, probe_address: at },
        });
      } catch (error) {
        // Only a refusal that the chip attributes to protection counts; a lost probe proves nothing.
        if (!(error instanceof ProbeError) || error.code !== 'FLASH_PROTECTED') throw error;
      }
      if (ctx.params.reset) await session.reset('run', op);
      ctx.progress(1, 'locked');
      return {
        measurements: [
          { name: 'rdp_active', value: true },
          { name: 'flash_read_blocked', value: true },
        ],
        data: { probe_address: hex(at), family: family ?? session.family },
      };
    } catch (error) {
      throw asStepError(error);
    }
  },
});
