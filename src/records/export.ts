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
 * itself produced (seq, duration_ms) are written as plain numbers.
 */
export const CSV_COLUMNS = [
  'seq',
  'station',
  'serial',
  'mac',
  'image_hash',
  'version',
  'bundle_id',
  'result',
  'failed_step',
  'reason',
  'started_at',
  'duration_ms',
] as const;

export const CSV_EOL = '\r\n';

export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + CSV_EOL;
}

/** One CSV field. Strings are formula-protected and quoted as needed; numbers are written as numbers. */
export function csvField(value: string | number | undefined | null): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  let text = value;
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One unit as one CSV record (ending with CRLF); a quoted field may itself hold line breaks. */
export function unitCsvLine(r: UnitRecord): string {
  const row: (string | number | undefined)[] = [
    r.seq,
    r.station,
    r.serial,
    r.mac,
    r.image?.imageHash,
    r.image?.version,
    r.image?.bundleId,
    r.result,
    r.failedStep,
    r.reason,
    r.startedAt,
    r.durationMs,
  ];
  return row.map(csvField).join(',') + CSV_EOL;
}

/** One unit as one JSON line (the full record; JSON escapes any line break inside strings). */
export function unitJsonLine(r: UnitRecord): string {
  return `${JSON.stringify(r)}\n`;
}

export async function toCsv(records: AsyncIterable<UnitRecord> | Iterable<UnitRecord>): Promise<string> {
  const parts = [csvHeader()];
  for await (const r of records) parts.push(unitCsvLine(r));
  return parts.join('');
}

export async function toJson(records: AsyncIterable<UnitRecord> | Iterable<UnitRecord>): Promise<string> {
  const all: UnitRecord[] = [];
  for await (const r of records) all.push(r);
  return `${JSON.stringify(all, null, 2)}\n`;
}

/** Write an export file atomically (a reader never sees half a file). */
export async function exportUnits(records: AsyncIterable<UnitRecord> | Iterable<UnitRecord>, path: string, format: 'csv' | 'json'): Promise<void> {
  const text = format === 'csv' ? await toCsv(records) : await toJson(records);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, text);
}
