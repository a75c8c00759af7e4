import { LIMIT_VARIABLE, type Limit } from '../core/limit.js';
import type { JudgedMeasurement } from '../core/record.js';
import type { Measurement } from '../core/record.js';
import type { ReasonCode } from '../core/reasons.js';
import { convertUnit, unitsCompatible } from '../core/units.js';

export interface Judgement {
  measurements: JudgedMeasurement[];
  /** The first failing measurement, if any. */
  failure?: { reason: ReasonCode; message: string };
}

/** Values the plan's `equals` may refer to: ${image.version}, ${unit.serial}, ... */
export type Substitutions = Record<string, string | undefined>;

export function substitute(expected: string | number | boolean, vars: Substitutions): string | number | boolean {
  if (typeof expected !== 'string') return expected;
  return expected.replace(LIMIT_VARIABLE, (whole, key: string) => vars[key] ?? whole);
}

function fmt(value: number | string | boolean, unit?: string): string {
  return `${typeof value === 'string' ? JSON.stringify(value) : String(value)}${unit ? ` ${unit}` : ''}`;
}

/** The runner - not the step - decides pass or fail, from the plan's limits. */
export function judge(measured: readonly Measurement[], limits: Readonly<Record<string, Limit>>, vars: Substitutions): Judgement {
  const out: JudgedMeasurement[] = [];
  let failure: Judgement['failure'];
  const fail = (reason: ReasonCode, message: string) => {
    failure ??= { reason, message };
  };
  for (const m of measured) {
    const limit = limits[m.name];
    const unit = m.unit ?? limit?.unit;
    if (!limit) {
      out.push({ name: m.name, value: m.value, ...(unit ? { unit } : {}), verdict: 'info' });
      continue;
    }
    const inUnit = limitIn(limit, m.unit);
    if (!inUnit) {
      out.push({ name: m.name, value: m.value, ...(unit ? { unit } : {}), limit, verdict: 'fail' });
      fail('UNIT_MISMATCH', `${m.name} is measured in ${m.unit}; its limit is in ${limit.unit}`);
      continue;
    }
    const resolved: Limit = inUnit.equals === undefined ? inUnit : { ...inUnit, equals: substitute(inUnit.equals, vars) };
    let ok = true;
    if (resolved.min !== undefined || resolved.max !== undefined) {
      if (typeof m.value !== 'number' || Number.isNaN(m.value)) {
        ok = false;
        fail('LIMIT_MISMATCH', `${m.name} = ${fmt(m.value)} is not a number`);
      } else if (resolved.min !== undefined && m.value < resolved.min) {
        ok = false;
        fail('LIMIT_LOW', `${m.name} = ${fmt(m.value, unit)} < min ${fmt(resolved.min, unit)}`);
      } else if (resolved.max !== undefined && m.value > resolved.max) {
        ok = false;
        fail('LIMIT_HIGH', `${m.name} = ${fmt(m.value, unit)} > max ${fmt(resolved.max, unit)}`);
      }
    }
    if (ok && resolved.equals !== undefined && !sameValue(m.value, resolved.equals)) {
      ok = false;
      fail('LIMIT_MISMATCH', `${m.name} = ${fmt(m.value, unit)}, expected ${fmt(resolved.equals, unit)}`);
    }
    out.push({ name: m.name, value: m.value, ...(unit ? { unit } : {}), limit: resolved, verdict: ok ? 'pass' : 'fail' });
  }
  for (const name of Object.keys(limits)) {
    if (!measured.some((m) => m.name === name)) fail('MEASUREMENT_MISSING', `the step produced no measurement "${name}"`);
  }
  return failure ? { measurements: out, failure } : { measurements: out };
}

/** The limit in the measurement's unit (min/max converted: 0.06 A is 60 mA); undefined when the units are of different quantities. */
function limitIn(limit: Limit, unit: string | undefined): Limit | undefined {
  if (unit === undefined || limit.unit === undefined || limit.unit === unit) return limit;
  const from = limit.unit;
  if (!unitsCompatible(from, unit)) return undefined;
  const min = limit.min === undefined ? undefined : convertUnit(limit.min, from, unit);
  const max = limit.max === undefined ? undefined : convertUnit(limit.max, from, unit);
  return { ...limit, ...(min === undefined ? {} : { min }), ...(max === undefined ? {} : { max }), unit };
}

function sameValue(a: number | string | boolean, b: number | string | boolean): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (typeof a === 'number' && typeof b === 'string' && b.trim() !== '' && !Number.isNaN(Number(b))) return a === Number(b);
  return String(a) === String(b);
}
