import type { UnitRecord } from '../core/record.js';
import { unitUid } from '../records/history.js';

/** A unit in one line (history). */
export interface UnitSummary {
  seq: number;
  startedAt: string;
  durationMs: number;
  result: UnitRecord['result'];
  serial?: string;
  uid?: string;
  label?: string;
  version?: string;
  failedStep?: string;
  reason?: string;
  message?: string;
  clockSynced?: boolean;
}

export function summarize(r: UnitRecord): UnitSummary {
  const uid = unitUid(r);
  return {
    seq: r.seq,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    result: r.result,
    ...(r.serial ? { serial: r.serial } : {}),
    ...(uid ? { uid } : {}),
    ...(r.label ? { label: r.label } : {}),
    ...(r.image ? { version: r.image.version } : {}),
    ...(r.failedStep ? { failedStep: r.failedStep } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.message ? { message: r.message } : {}),
    ...(r.clockSynced !== undefined ? { clockSynced: r.clockSynced } : {}),
  };
}

