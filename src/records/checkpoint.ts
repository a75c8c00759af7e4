import { z } from 'zod';
import type { UnitResult } from '../core/record.js';
import { fingerprintOfKey, verifyCheckpointSignature, type StationKey } from './station-key.js';

/**
 * A signed checkpoint of a station's journal: "up to record #seq the chain's head is <head> and
 * the results are <counts>", signed with the station key. Written beside the logs at every sync
 * to a stick (after the data is fsync'd), so a record edited, deleted or added afterwards - even
 * with the chain recomputed - no longer matches what the station signed.
 */
export const CHECKPOINT_FILE = 'checkpoint.json';

const counts = z.strictObject({ PASS: z.int().min(0), FAIL: z.int().min(0), ERROR: z.int().min(0), ABORTED: z.int().min(0) });

const checkpointSchema = z.strictObject({
  format: z.literal(1),
  station: z.string().min(1),
  seq: z.int().min(0),
  head: z.string().regex(/^[0-9a-f]{64}$/),
  counts,
  at: z.string(),
  fingerprint: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  publicKey: z.string().min(1),
  signature: z.string().min(1),
});

export type Checkpoint = z.infer<typeof checkpointSchema>;
export type CheckpointCounts = Record<UnitResult, number>;

/** The signed text: the fields in a fixed order (the signature and the key that checks it aside). */
export function checkpointPayload(c: Omit<Checkpoint, 'signature' | 'publicKey'>): string {
  return JSON.stringify({
    format: c.format,
    station: c.station,
    seq: c.seq,
    head: c.head,
    counts: { PASS: c.counts.PASS, FAIL: c.counts.FAIL, ERROR: c.counts.ERROR, ABORTED: c.counts.ABORTED },
    at: c.at,
    fingerprint: c.fingerprint,
  });
}

export function makeCheckpoint(key: StationKey, fields: { station: string; seq: number; head: string; counts: CheckpointCounts; at: string }): Checkpoint {
  const body = { format: 1 as const, ...fields, fingerprint: key.fingerprint };
  return { ...body, publicKey: key.publicKey, signature: key.signCheckpoint(checkpointPayload(body)) };
}

export function parseCheckpoint(text: string, file: string): Checkpoint {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new Error(`${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  const r = checkpointSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: not a checkpoint (${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`);
  return r.data;
}

/**
 * Why a checkpoint cannot be trusted, or undefined: its signature must verify with the key it
 * names, and that key must be `pinned` (the station key the brand owner holds) when one is given.
 */
export function checkpointProblem(c: Checkpoint, pinned?: string): string | undefined {
  let fingerprint: string;
  try {
    fingerprint = fingerprintOfKey(c.publicKey);
  } catch (err) {
    return `its public key cannot be read (${(err as Error).message})`;
  }
  if (fingerprint !== c.fingerprint) return `its public key is ${fingerprint}, not the ${c.fingerprint} it names`;
  if (pinned !== undefined) {
    let want: string;
    try {
      want = fingerprintOfKey(pinned);
    } catch (err) {
      return `the station key given cannot be read (${(err as Error).message})`;
    }
    if (want !== fingerprint) return `signed by ${fingerprint}, not by the station key ${want}`;
  }
  if (!verifyCheckpointSignature(checkpointPayload(c), c.signature, c.publicKey)) return 'its signature does not verify (the checkpoint was changed after it was signed)';
  return undefined;
}
