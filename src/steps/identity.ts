import { z } from 'zod';
import { DEFAULT_IDENTITY_ADDRESS } from '../core/chip-families.js';
import { decodeIdentity, encodeIdentity, IDENTITY_RECORD_SIZE } from './identity-record.js';
import { StepError } from './errors.js';
import { hex } from './program.js';
import { asStepError, probeSession } from './chip.js';
import { defineStep } from './step.js';

/** A flash address: a number, or a hex string as plans often write it ("0x0800FC00"). */
export const flashAddress = z.union([
  z.number().int().nonnegative().max(0xffffffff),
  z
    .string()
    .regex(/^0x[0-9a-fA-F]{1,8}$/, 'an address like 0x0800FC00')
    .transform((s) => Number(s)),
]);

const paramsSchema = z
  .object({
    /**
     * Where the 64-byte identity record goes; default the last 1 KiB page of a 64 KiB STM32F103.
     * The step erases the whole page/sector under it: bundle create/verify/import and config check
     * refuse an address whose page/sector holds firmware (an F4's 0x0800FC00 is in sector 3).
     */
    address: flashAddress.default(DEFAULT_IDENTITY_ADDRESS),
    /** Reset and run the target afterwards, so the firmware boots with its identity for the checks that follow. */
    reset: z.boolean().default(true),
  })
  .strict();

export const identityStep = defineStep({
  kind: 'identity',
  description: 'Give the unit its serial number and MAC (a retested board keeps its own), write the identity record to flash, read it back',
  params: paramsSchema,
  needs: ['probe'],
  produces: () => [{ name: 'serial' }, { name: 'mac' }],
  async run(ctx) {
    const address = ctx.params.address;
    const session = await probeSession(ctx);
    const op = { signal: ctx.signal };
    try {
      await session.reset('halt', op);
      // What the chip carries already: a retested board has its record here.
      const onChip = decodeIdentity(await session.read(address, IDENTITY_RECORD_SIZE, op));
      // A unit keeps the identity it was given in this cycle (a repeated step must not burn a
      // number); else the ledger decides: the number it issued to this chip, or a new one,
      // reserved (fsync) before it is written.
      let identity = ctx.unit.identity;
      let reused = false;
      if (!identity) {
        ({ identity, reused } = await ctx.ledger.identity(onChip));
        ctx.log(`${identity.serial} ${identity.mac} ${reused ? 'kept (a retest: issued to this chip before)' : 'reserved in the ledger'}`);
      }
      ctx.unit.identity = identity;
      const record = encodeIdentity(identity);
      const present = onChip?.serial === identity.serial && onChip.mac === identity.mac;
      let writeS = 0;
      if (!present) {
        ctx.progress(0, `writing ${identity.serial}`);
        writeS = (await session.writeBytes(address, record, op)).seconds;
      }
      ctx.progress(0.7, 'reading back');
      const back = await session.read(address, IDENTITY_RECORD_SIZE, op);
      const decoded = decodeIdentity(back);
      if (!decoded || decoded.serial !== identity.serial || decoded.mac !== identity.mac) {
        throw new StepError(
          'IDENTITY_MISMATCH',
          decoded
            ? `identity at ${hex(address)} reads back as ${decoded.serial} / ${decoded.mac}, wrote ${identity.serial} / ${identity.mac}`
            : `identity at ${hex(address)} reads back as no valid record (wrote ${identity.serial} / ${identity.mac})`,
          { details: { address, written: Buffer.from(record).toString('hex'), read: Buffer.from(back).toString('hex') } },
        );
      }
      if (ctx.params.reset) await session.reset('run', op);
      ctx.progress(1, identity.serial);
      return {
        measurements: [
          { name: 'serial', value: identity.serial },
          { name: 'mac', value: identity.mac },
        ],
        data: {
          address: hex(address),
          record: Buffer.from(record).toString('hex'),
          // a retest: the board keeps the identity this station issued to its chip
          reused,
          written: !present,
          write_s: Math.round(writeS * 1000) / 1000,
          ...(onChip && !present ? { replaced: `${onChip.serial} / ${onChip.mac}` } : {}),
        },
      };
    } catch (error) {
      throw asStepError(error);
    }
  },
});
