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
  /** sha256 (hex) of the journal line before this one (64 zeros for the first): the hash chain. */
  prev?: string;
  id: string;
  station: string;
  /** `measurements`: what the plan declares limits for, in plan order (the CSV's measurement columns). */
  plan: { name: string; product: string; measurements?: string[] };
  image?: { bundleId: string; version: string; imageHash: string; regions: Record<string, string> };
  /** The order the unit was made for (the bundle's order id). */
  order?: string;
  serial?: string;
  mac?: string;
  /** The chip's unique ID (24 hex digits), when the chip exposes it: links every run of one board. */
  chipUid?: string;
  /** Which run of this board on this station (1 = first; a retest counts up). */
  attempt?: number;
  /** Flashes of the image counted in the ledger during this cycle. */
  flashes?: number;
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
  /** Present on a record written by `pijig journal repair` in place of a damaged line (reason RECORD_LOST). */
  repair?: JournalRepairNote;
}

export interface JournalRepairNote {
  at: string;
  /** What was wrong: "damaged line", "edited", "missing", ... */
  found: string;
  /** sha256 of the original line as the next record chained it (the chain continues through this record). */
  replaces?: string;
  /** The damaged text, when there was any (cut at 4 KiB). */
  text?: string;
  /** Where the journal as it was before the repair is kept. */
  copy: string;
}
