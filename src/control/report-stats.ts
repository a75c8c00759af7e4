import type { UnitRecord } from '../core/record.js';
import { unitUid } from '../records/history.js';

/**
 * The numbers of `pijig report`, kept apart from the drawing so tests can check them.
 *
 * A board is known by its chip UID, else its scanned label, else its serial (each attempt gets a
 * new serial unless the plan re-reads it, so without a UID or label every attempt is a board of
 * its own and first-pass yield equals final yield). ABORTED attempts judged nothing: they count as
 * attempts, not in yields.
 */
export interface YieldRow {
  group: string;
  boards: number;
  firstPass: number;
  final: number;
  /** Percentages, 0..100. */
  firstPassYield: number;
  finalYield: number;
}

export interface MeasurementStats {
  /** "step / measurement". */
  key: string;
  unit?: string;
  values: number[];
  n: number;
  mean: number;
  sd: number;
  min?: number;
  max?: number;
  cp?: number;
  cpk?: number;
  failed: number;
}

export interface ReportStats {
  units: number;
  judged: number;
  aborted: number;
  from?: string;
  to?: string;
  yieldByImage: YieldRow[];
  yieldByDay: YieldRow[];
  reasons: { name: string; count: number }[];
  failingSteps: { name: string; count: number }[];
  measurements: MeasurementStats[];
  perHour: { hour: string; units: number }[];
  retests: { board: string; attempts: number; results: string[] }[];
  images: { version: string; imageHash: string; units: number; flashes: number; orderQuantity?: number }[];
}

export function boardOf(r: UnitRecord): string {
  return unitUid(r) ?? r.label ?? r.serial ?? `#${r.seq}`;
}

const pct = (a: number, b: number) => (b ? Math.round((1000 * a) / b) / 10 : 0);

function yields(records: readonly UnitRecord[], groupOf: (first: UnitRecord) => string): YieldRow[] {
  const boards = new Map<string, UnitRecord[]>();
  for (const r of records) {
    if (r.result === 'ABORTED') continue;
    const b = boardOf(r);
    const list = boards.get(b);
    if (list) list.push(r);
    else boards.set(b, [r]);
  }
  const groups = new Map<string, { boards: number; firstPass: number; final: number }>();
  for (const attempts of boards.values()) {
    const g = groupOf(attempts[0]!);
    const row = groups.get(g) ?? { boards: 0, firstPass: 0, final: 0 };
    row.boards++;
    if (attempts[0]!.result === 'PASS') row.firstPass++;
    if (attempts.at(-1)!.result === 'PASS') row.final++;
    groups.set(g, row);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, r]) => ({ group, ...r, firstPassYield: pct(r.firstPass, r.boards), finalYield: pct(r.final, r.boards) }));
}

function tally(names: (string | undefined)[]): { name: string; count: number }[] {
  const m = new Map<string, number>();
  for (const n of names) if (n) m.set(n, (m.get(n) ?? 0) + 1);
  return [...m.entries()].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
}

/** Process capability of values against a limit: Cp needs both limits, Cpk one (none when sd is 0). */
export function capability(values: readonly number[], min: number | undefined, max: number | undefined): { mean: number; sd: number; cp?: number; cpk?: number } {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : 0;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  if (!(sd > 0)) return { mean, sd };
  const upper = max !== undefined ? (max - mean) / (3 * sd) : undefined;
  const lower = min !== undefined ? (mean - min) / (3 * sd) : undefined;
  const cpk = upper !== undefined && lower !== undefined ? Math.min(upper, lower) : (upper ?? lower);
  return { mean, sd, ...(min !== undefined && max !== undefined ? { cp: (max - min) / (6 * sd) } : {}), ...(cpk !== undefined ? { cpk } : {}) };
}

export function reportStats(records: readonly UnitRecord[], orders: ReadonlyMap<string, number> = new Map(), flashes: Readonly<Record<string, number>> = {}): ReportStats {
  const judged = records.filter((r) => r.result !== 'ABORTED');
  const failed = judged.filter((r) => r.result !== 'PASS');
  const measurements = new Map<string, { unit?: string; values: number[]; min?: number; max?: number; failed: number }>();
  for (const r of records) {
    for (const s of r.steps) {
      for (const m of s.measurements) {
        if (typeof m.value !== 'number' || !Number.isFinite(m.value)) continue;
        const key = `${s.name} / ${m.name}`;
        const e = measurements.get(key) ?? { values: [], failed: 0 };
        e.values.push(m.value);
        if (m.verdict === 'fail') e.failed++;
        if (m.unit ?? m.limit?.unit) e.unit = m.unit ?? m.limit?.unit;
        // the latest limit stands (a new bundle may change it)
        if (m.limit?.min !== undefined) e.min = m.limit.min;
        if (m.limit?.max !== undefined) e.max = m.limit.max;
        measurements.set(key, e);
      }
    }
  }
  const hours = new Map<string, number>();
  for (const r of records) {
    const h = `${r.startedAt.slice(0, 13)}:00`;
    hours.set(h, (hours.get(h) ?? 0) + 1);
  }
  const boards = new Map<string, UnitRecord[]>();
  for (const r of records) {
    const b = boardOf(r);
    boards.set(b, [...(boards.get(b) ?? []), r]);
  }
  const images = new Map<string, { version: string; imageHash: string; units: number; flashes: number }>();
  for (const r of records) {
    if (!r.image) continue;
    const e = images.get(r.image.imageHash) ?? { version: r.image.version, imageHash: r.image.imageHash, units: 0, flashes: 0 };
    e.units++;
    if (r.steps.some((s) => s.kind === 'program' && s.measurements.some((m) => m.name === 'bytes_written' && typeof m.value === 'number' && m.value > 0))) e.flashes++;
    images.set(r.image.imageHash, e);
  }
  return {
    units: records.length,
    judged: judged.length,
    aborted: records.length - judged.length,
    ...(records.length ? { from: records[0]!.startedAt, to: records.at(-1)!.startedAt } : {}),
    yieldByImage: yields(records, (r) => r.image?.version ?? '(no image)'),
    yieldByDay: yields(records, (r) => r.startedAt.slice(0, 10)),
    reasons: tally(failed.map((r) => r.reason)),
    failingSteps: tally(failed.map((r) => r.failedStep)),
    measurements: [...measurements.entries()].map(([key, e]) => ({
      key,
      ...(e.unit ? { unit: e.unit } : {}),
      values: e.values,
      n: e.values.length,
      failed: e.failed,
      ...(e.min !== undefined ? { min: e.min } : {}),
      ...(e.max !== undefined ? { max: e.max } : {}),
      ...capability(e.values, e.min, e.max),
    })),
    perHour: [...hours.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([hour, units]) => ({ hour, units })),
    retests: [...boards.entries()].filter(([, a]) => a.length > 1).map(([board, a]) => ({ board, attempts: a.length, results: a.map((r) => r.result) })),
    images: [...images.values()].map((e) => {
      const q = orders.get(e.imageHash);
      return { ...e, flashes: flashes[e.imageHash] ?? e.flashes, ...(q !== undefined ? { orderQuantity: q } : {}) };
    }),
  };
}
