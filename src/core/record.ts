import type { ReasonCode } from './reasons.js';
import type { Limit } from './limit.js';

/**
 * PASS: every step passed. FAIL: the unit was judged bad. ERROR: the jig could not judge it.
 * ABORTED: ABORT or the lid stopped the cycle. See reasons.ts.
 */
export type UnitResult = 'PASS' | 'FAIL' | 'ABORTED' | 'ERROR';
export type StepOutcome = 'pass' | 'fail' | 'error' | 'aborted' | 'skipped';
export type Verdict = 'pass' | 'fail' | 'info';

/** A value a step measured. The plan declares its unit and limits; the runner judges it. */
export interface Measurement {
  name: string;
  value: number | string | boolean;
  unit?: string;
}

export interface JudgedMeasurement extends Measurement {
  limit?: Limit;
  verdict: Verdict;
}

export interface StepRecord {
  name: string;
  kind: string;
  outcome: StepOutcome;
  startedAt: string;
  durationMs: number;
  reason?: ReasonCode;
  message?: string;
  measurements: JudgedMeasurement[];
  data?: Record<string, unknown>;
}

/** One unit, as journaled (one JSON line) and exported. */
export interface UnitRecord {
  /** 1-based position in this station's journal. */
  seq: number;
  id: string;
  station: string;
  plan: { name: string; product: string };
  image?: { bundleId: string; version: string; imageHash: string; regions: Record<string, string> };
  serial?: string;
  mac?: string;
  /** The board label a barcode scanner read before START (when the fixture has one). */
  label?: string;
  /** Whether the system clock was synchronised (NTP) when the record was made; absent: unknown. */
  clockSynced?: boolean;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  result: UnitResult;
  failedStep?: string;
  reason?: ReasonCode;
  message?: string;
  steps: StepRecord[];
}
