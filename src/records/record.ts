import type { ReasonCode } from '../steps/errors.js';

export type UnitResult = 'PASS' | 'FAIL' | 'ABORTED' | 'ERROR';
export type StepOutcome = 'pass' | 'fail' | 'error' | 'aborted' | 'skipped';
export type Verdict = 'pass' | 'fail' | 'info';

export interface Limit {
  min?: number;
  max?: number;
  /** Expected value (string/boolean/number); "${image.version}" etc. are resolved before judging. */
  equals?: string | number | boolean;
  unit?: string;
}

export interface JudgedMeasurement {
  name: string;
  value: number | string | boolean;
  unit?: string;
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
  startedAt: string;
  endedAt: string;
  durationMs: number;
  result: UnitResult;
  failedStep?: string;
  reason?: ReasonCode;
  message?: string;
  steps: StepRecord[];
}
