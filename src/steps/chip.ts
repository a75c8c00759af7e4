import { chipFamily, parseTarget, type PartNumber } from '../core/chip-families.js';
import type { ActiveImage } from '../core/image.js';
import { ProbeError, type OperationOptions, type ProbeSession } from '../devices/probe/probe.js';
import { StepError } from './errors.js';
import type { StepContext } from './step.js';

/**
 * The unit's probe session, shared by every flashing step of the cycle (program, identity, lock):
 * opened on first use, closed at the cycle's teardown. The first time, before anything is written
 * to the chip, the chip is read (its unique ID and read-out protection) and admitted by the
 * ledger: the attempt is counted, and a board over the retest limit or already locked is turned
 * away here (QUARANTINE, ALREADY_PASSED, ALREADY_LOCKED).
 */
export async function probeSession(ctx: StepContext<unknown, 'probe'>): Promise<ProbeSession> {
  const probe = ctx.devices.probe;
  let session: ProbeSession;
  try {
    session = await ctx.cycle.acquire('openocd', () => probe.open({ signal: ctx.signal }), (s) => s.close());
  } catch (error) {
    throw asStepError(error);
  }
  ctx.unit.admission ??= admit(ctx, session);
  await ctx.unit.admission;
  return session;
}

async function admit(ctx: StepContext<unknown, 'probe'>, session: ProbeSession): Promise<void> {
  const op = { signal: ctx.signal };
  try {
    // Right after open(): the target is halted (probe.ts), as the option-byte read behind readProtection needs.
    const uid = await readChipUid(session, ctx.image, op);
    const locked = await session.readProtection(op);
    ctx.unit.chip = { uid, locked };
    ctx.log(`chip ${uid ?? '(no readable UID)'}${locked ? ', read-out protected' : ''}`);
  } catch (error) {
    throw asStepError(error);
  }
  await ctx.ledger.admit(ctx.unit.chip);
}

/**
 * The chip's 96-bit unique ID as 24 hex digits, most significant word first (the three 32-bit
 * words at the addresses the chip table gives for the target: 0x1FFFF7E8 on an STM32F1). An ID
 * that reads as all ones or all zeros, or a read the chip refuses, gives undefined.
 */
export async function readChipUid(session: ProbeSession, image: ActiveImage | undefined, op: OperationOptions): Promise<string | undefined> {
  const words = uidAddresses(session.family, image?.target);
  if (!words) return undefined;
  let bytes: Uint8Array;
  try {
    if (words[1] === words[0] + 4 && words[2] === words[0] + 8) bytes = await session.read(words[0], 12, op);
    else {
      const parts: Uint8Array[] = [];
      for (const w of words) parts.push(await session.read(w, 4, op)); // one operation at a time (probe.ts)
      bytes = Buffer.concat(parts);
    }
  } catch (error) {
    // A chip that hides its ID: not an error of the unit (a dead session fails the next command anyway).
    if (error instanceof ProbeError && (error.code === 'FLASH_PROTECTED' || error.code === 'TARGET_NOT_RESPONDING')) return undefined;
    throw error;
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length !== 12 || b.every((x) => x === 0xff) || b.every((x) => x === 0)) return undefined;
  return formatChipUid(b);
}

/** A 96-bit unique ID as pijig writes it: the three 32-bit words, most significant first, in hex. */
export function formatChipUid(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [8, 4, 0].map((o) => b.readUInt32LE(o).toString(16).padStart(8, '0')).join('');
}

function uidAddresses(family: string, target: string | undefined): readonly [number, number, number] | undefined {
  try {
    if (target) return parseTarget(target).uniqueId;
  } catch {
    // not a part number (a test image): the family's table entry below
  }
  try {
    const f = chipFamily(family);
    // Only a few families place the ID by part; without one, the family's usual part is assumed.
    const part: PartNumber = { part: '', family: f.id, line: '', pins: '', sizeLetter: '', flashKiB: f.flashKiB[0] };
    return f.uniqueId(part);
  } catch {
    return undefined;
  }
}

/** A probe failure as the step's outcome; the reason codes are shared. */
export function asStepError(error: unknown): unknown {
  if (!(error instanceof ProbeError)) return error;
  const options = error.details ? { cause: error, details: error.details } : { cause: error };
  return new StepError(error.code, error.message, options);
}
