import type { JudgedMeasurement, StepOutcome, StepRecord, UnitRecord } from '../core/record.js';
import { REASONS } from '../core/reasons.js';
import type { Limit } from '../core/limit.js';
import { unitUid } from './history.js';

/**
 * A unit record in the shape of OpenHTF's JSON output (openhtf.output.callbacks.json_factory:
 * a TestRecord converted to base types), so tools that ingest OpenHTF records take pijig's.
 * Checked against records written by the real openhtf package (test/fixtures/openhtf/).
 *
 * pijig -> OpenHTF: a unit is a test record, a step a phase, a judged measurement a measurement;
 * the limit becomes the validator's text as OpenHTF prints it ("20 <= x <= 50", "x <= 60",
 * "'x' is equal to 'green'"); the reason code and message go to `outcome_details`; what OpenHTF
 * has no field for (serial, MAC, image, label, clock) goes to `metadata.pijig`.
 */
export interface OpenhtfMeasurement {
  name: string;
  outcome: 'PASS' | 'FAIL' | 'UNSET';
  validators?: string[];
  units?: { name: string; code: string | null; suffix: string | null };
  measured_value?: number | string | boolean;
}

export interface OpenhtfPhase {
  measurements: Record<string, OpenhtfMeasurement>;
  options: null;
  diagnosers: [];
  subtest_name: null;
  start_time_millis: number;
  end_time_millis: number;
  attachments: Record<string, never>;
  diagnosis_results: [];
  failure_diagnosis_results: [];
  result: { phase_result: 'CONTINUE' | 'STOP' | 'SKIP' };
  outcome: 'PASS' | 'FAIL' | 'SKIP' | 'ERROR';
  marginal: null;
  descriptor_id: number;
  name: string;
  codeinfo: { name: string; docstring: string | null; sourcecode: string };
}

export interface OpenhtfRecord {
  dut_id: string;
  start_time_millis: number;
  end_time_millis: number;
  outcome: 'PASS' | 'FAIL' | 'ERROR' | 'ABORTED';
  outcome_details: { code: string; description: string }[];
  marginal: null;
  metadata: { test_name: string; pijig: Record<string, unknown> };
  phases: OpenhtfPhase[];
  subtests: [];
  branches: [];
  diagnosers: [];
  diagnoses: [];
  log_records: [];
  station_id: string;
  code_info: { name: string; docstring: null; sourcecode: string };
}

/** UN/CEFACT Rec. 20 codes, as OpenHTF's UnitDescriptor carries them (openhtf/util/units.py). */
const UNITS: Record<string, [name: string, code: string]> = {
  mA: ['milliampere', '4K'],
  A: ['ampere', 'AMP'],
  uA: ['microampere', 'B84'],
  'µA': ['microampere', 'B84'],
  V: ['volt', 'VLT'],
  mV: ['millivolt', '2Z'],
  W: ['watt', 'WTT'],
  mW: ['milliwatt', 'C31'],
  Hz: ['hertz', 'HTZ'],
  kHz: ['kilohertz', 'KHZ'],
  '°C': ['degree Celsius', 'CEL'],
  s: ['second [unit of time]', 'SEC'],
  ms: ['millisecond', 'C26'],
  B: ['byte', 'AD'],
  '%': ['percent', 'P1'],
  'Ω': ['ohm', 'OHM'],
};

function units(suffix: string | undefined): OpenhtfMeasurement['units'] | undefined {
  if (!suffix) return undefined;
  const known = UNITS[suffix];
  return known ? { name: known[0], code: known[1], suffix } : { name: suffix, code: null, suffix };
}

/** The validator as OpenHTF's str() prints it (validators.InRange, validators.Equals). */
export function validatorText(limit: Limit): string | undefined {
  if (limit.equals !== undefined) return `'x' is equal to '${String(limit.equals)}'`;
  if (limit.min !== undefined && limit.max !== undefined && limit.min === limit.max) return `x == ${limit.min}`;
  if (limit.min === undefined && limit.max === undefined) return undefined;
  return `${limit.min !== undefined ? `${limit.min} <= ` : ''}x${limit.max !== undefined ? ` <= ${limit.max}` : ''}`;
}

function measurement(m: JudgedMeasurement): OpenhtfMeasurement {
  const v = m.limit ? validatorText(m.limit) : undefined;
  const u = units(m.unit ?? m.limit?.unit);
  return {
    name: m.name,
    outcome: m.verdict === 'fail' ? 'FAIL' : 'PASS',
    ...(v ? { validators: [v] } : {}),
    ...(u ? { units: u } : {}),
    measured_value: m.value,
  };
}

const PHASE_OUTCOME: Record<StepOutcome, OpenhtfPhase['outcome']> = { pass: 'PASS', fail: 'FAIL', error: 'ERROR', aborted: 'ERROR', skipped: 'SKIP' };

function phase(s: StepRecord, index: number, stop: boolean): OpenhtfPhase {
  const start = Date.parse(s.startedAt);
  const measurements: Record<string, OpenhtfMeasurement> = {};
  for (const m of s.measurements) measurements[m.name] = measurement(m);
  return {
    measurements,
    options: null,
    diagnosers: [],
    subtest_name: null,
    start_time_millis: start,
    end_time_millis: start + s.durationMs,
    attachments: {},
    diagnosis_results: [],
    failure_diagnosis_results: [],
    result: { phase_result: s.outcome === 'skipped' ? 'SKIP' : stop ? 'STOP' : 'CONTINUE' },
    outcome: PHASE_OUTCOME[s.outcome],
    marginal: null,
    descriptor_id: index,
    name: s.name,
    codeinfo: { name: s.kind, docstring: s.message ?? null, sourcecode: '' },
  };
}

export function toOpenhtf(r: UnitRecord): OpenhtfRecord {
  const uid = unitUid(r);
  const pijig: Record<string, unknown> = { seq: r.seq, id: r.id, product: r.plan.product };
  if (r.serial) pijig['serial'] = r.serial;
  if (r.mac) pijig['mac'] = r.mac;
  if (uid) pijig['chip_uid'] = uid;
  if (r.label) pijig['label'] = r.label;
  if (r.image) pijig['image'] = { version: r.image.version, image_hash: r.image.imageHash, bundle_id: r.image.bundleId };
  if (r.failedStep) pijig['failed_step'] = r.failedStep;
  if (r.clockSynced !== undefined) pijig['clock_synchronized'] = r.clockSynced;
  const last = r.steps.length - 1;
  return {
    dut_id: r.serial ?? uid ?? r.label ?? `${r.station}-${r.seq}`,
    start_time_millis: Date.parse(r.startedAt),
    end_time_millis: Date.parse(r.endedAt),
    outcome: r.result,
    outcome_details: r.reason ? [{ code: r.reason, description: r.message ?? REASONS[r.reason]?.text ?? r.reason }] : [],
    marginal: null,
    metadata: { test_name: r.plan.name, pijig },
    phases: r.steps.map((s, i) => phase(s, i, i === last && r.result !== 'PASS' && s.outcome !== 'pass')),
    subtests: [],
    branches: [],
    diagnosers: [],
    diagnoses: [],
    log_records: [],
    station_id: r.station,
    code_info: { name: '', docstring: null, sourcecode: '' },
  };
}
