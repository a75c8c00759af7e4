import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { UnitRecord } from '../core/record.js';

/**
 * Unit records for people: CSV for spreadsheets (one line per unit) and JSON for tools.
 *
 * CSV follows RFC 4180: fields separated by ",", records ended by CRLF, a field holding ",", '"',
 * CR or LF is quoted and its quotes doubled. Text that a spreadsheet would run as a formula (it
 * starts with "=", "+", "-", "@", TAB or CR: OWASP "CSV injection") gets a leading "'", so a
 * serial read from a hostile DUT cannot become a formula on the engineer's PC. Numbers the jig
 * itself produced (seq, duration_ms, measured values) are written as plain numbers.
 *
 * After the fixed columns comes one column per measurement the plan declares limits for (the
 * record's `plan.measurements`, in plan order); a file's columns never change after its header.
 */
export const CSV_COLUMNS = [
  'seq',
  'station',
  'serial',
  'mac',
  'chip_uid',
  'attempt',
  'image_hash',
  'version',
  'bundle_id',
  'order',
  'result',
  'failed_step',
  'reason',
  'message',
  'started_at',
  'ended_at',
  'duration_ms',
] as const;

export const CSV_EOL = '\r\n';

/** The measurement columns of a record: what its plan declares. */
export function measurementsOf(r: UnitRecord): string[] {
  return r.plan.measurements ?? [];
}

/** Column names: the fixed ones, then the measurements (a name that clashes with a fixed column is prefixed "m:"). */
export function csvColumns(measurements: readonly string[] = []): string[] {
  const fixed = new Set<string>(CSV_COLUMNS);
  return [...CSV_COLUMNS, ...measurements.map((m) => (fixed.has(m) ? `m:${m}` : m))];
}

export function csvHeader(measurements: readonly string[] = []): string {
  return csvColumns(measurements).map((c) => csvField(c)).join(',') + CSV_EOL;
}

/** The measurement names a header line holds, or undefined when its fixed columns are not this format's. */
export function headerMeasurements(headerLine: string): string[] | undefined {
  const cells = parseCsvLine(headerLine.replace(/\r?\n$/, ''));
  if (cells.length < CSV_COLUMNS.length || CSV_COLUMNS.some((c, i) => cells[i] !== c)) return undefined;
  return cells.slice(CSV_COLUMNS.length).map((c) => (c.startsWith('m:') && (CSV_COLUMNS as readonly string[]).includes(c.slice(2)) ? c.slice(2) : c));
}

/** One CSV field. Strings are formula-protected and quoted as needed; numbers are written as numbers. */
export function csvField(value: string | number | boolean | undefined | null): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  let text = value;
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One unit as one CSV record (ending with CRLF); a quoted field may itself hold line breaks. */
export function unitCsvLine(r: UnitRecord, measurements: readonly string[] = []): string {
  const values = new Map<string, number | string | boolean>();
  for (const step of r.steps) for (const m of step.measurements) if (!values.has(m.name)) values.set(m.name, m.value);
  const row: (string | number | boolean | undefined)[] = [
    r.seq,
    r.station,
    r.serial,
    r.mac,
    r.chipUid,
    r.attempt,
    r.image?.imageHash,
    r.image?.version,
    r.image?.bundleId,
    r.order,
    r.result,
    r.failedStep,
    r.reason,
    r.message,
    r.startedAt,
    r.endedAt,
    r.durationMs,
    ...measurements.map((m) => values.get(m)),
  ];
  return row.map(csvField).join(',') + CSV_EOL;
}

/** One unit as one JSON line (the full record; JSON escapes any line break inside strings). */
export function unitJsonLine(r: UnitRecord): string {
  return `${JSON.stringify(r)}\n`;
}

type Records = AsyncIterable<UnitRecord> | Iterable<UnitRecord>;

/** The measurement columns of a whole export: every plan's, in the order first seen. */
export async function exportMeasurements(records: Records): Promise<string[]> {
  const seen = new Set<string>();
  for await (const r of records) for (const m of measurementsOf(r)) seen.add(m);
  return [...seen];
}

/** CSV of the records; pass `read` twice-readable (a function) to size the columns without holding every record. */
export async function toCsv(records: Records | (() => Records), measurements?: readonly string[]): Promise<string> {
  // A one-shot stream is held in memory; a function (the journal's read) is simply called twice.
  let read: () => Records;
  if (typeof records === 'function') read = records;
  else if (Array.isArray(records)) read = () => records;
  else {
    const all: UnitRecord[] = [];
    for await (const r of records) all.push(r);
    read = () => all;
  }
  const columns = measurements ?? (await exportMeasurements(read()));
  const parts = [csvHeader(columns)];
  for await (const r of read()) parts.push(unitCsvLine(r, columns));
  return parts.join('');
}

export async function toJson(records: Records): Promise<string> {
  const all: UnitRecord[] = [];
  for await (const r of records) all.push(r);
  return `${JSON.stringify(all, null, 2)}\n`;
}

/** Write an export file atomically (a reader never sees half a file). A function is called once per pass over the records. */
export async function exportUnits(records: Records | (() => Records), path: string, format: 'csv' | 'json'): Promise<void> {
  const text = format === 'csv' ? await toCsv(records) : await toJson(typeof records === 'function' ? records() : records);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, text);
}

/** Split one RFC 4180 line (no line breaks inside) into its fields. */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          v += line.slice(i);
          i = line.length;
          break;
        }
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
    } else {
      const c = line.indexOf(',', i);
      out.push(line.slice(i, c < 0 ? line.length : c));
      i = c < 0 ? line.length : c;
    }
    if (line[i] !== ',') return out;
    i++;
  }
}
