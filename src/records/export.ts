import { mkdir, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from '../util/fs.js';
import type { UnitRecord } from '../core/record.js';
import { toOpenhtf } from './openhtf.js';

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

/** csv: a line per unit; json: one JSON array of full records; openhtf: JSON Lines, one OpenHTF test record per line. */
export type ExportFormat = 'csv' | 'json' | 'openhtf';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'json', 'openhtf'];

/** Where export text goes; `write` resolves when the sink can take more (backpressure). */
export interface ExportSink {
  write(text: string): Promise<void>;
}

/**
 * Stream records to a sink in a format; returns how many records were written. The JSON form
 * is byte for byte what `toJson` gives, without holding every record in memory.
 */
export async function writeUnits(source: Records | (() => Records), sink: ExportSink, format: ExportFormat): Promise<number> {
  let n = 0;
  // CSV: the measurement columns of every plan in the records come first (a function is read twice;
  // a one-shot stream is held in memory for it).
  let records: Records;
  let columns: string[] = [];
  if (format === 'csv') {
    if (typeof source === 'function') {
      columns = await exportMeasurements(source());
      records = source();
    } else {
      const all: UnitRecord[] = [];
      for await (const r of source) all.push(r);
      columns = await exportMeasurements(all);
      records = all;
    }
    await sink.write(csvHeader(columns));
  } else records = typeof source === 'function' ? source() : source;
  for await (const r of records) {
    if (format === 'csv') await sink.write(unitCsvLine(r, columns));
    else if (format === 'openhtf') await sink.write(`${JSON.stringify(toOpenhtf(r))}\n`);
    else await sink.write(`${n === 0 ? '[\n' : ',\n'}  ${JSON.stringify(r, null, 2).replace(/\n/g, '\n  ')}`);
    n++;
  }
  if (format === 'json') await sink.write(n === 0 ? '[]\n' : '\n]\n');
  return n;
}

/** A sink on a stream (stdout, a device): waits for 'drain' when the stream's buffer is full; a stream error rejects. */
export function streamSink(out: Writable): ExportSink {
  return {
    async write(text) {
      if (out.destroyed) throw Object.assign(new Error('the output was closed'), { code: 'EPIPE' });
      if (!out.write(text)) await once(out, 'drain');
    },
  };
}

/** A sink on an open file, written in blocks of about 1 MB. */
function fileSink(fh: FileHandle): ExportSink & { flush(): Promise<void> } {
  let parts: string[] = [];
  let size = 0;
  const flush = async () => {
    if (!parts.length) return;
    const text = parts.join('');
    parts = [];
    size = 0;
    await fh.write(text);
  };
  return {
    async write(text) {
      parts.push(text);
      size += text.length;
      if (size >= 1 << 20) await flush();
    },
    flush,
  };
}

/**
 * Export to a path. A new or regular file is replaced atomically (temp file, fsync, rename: a
 * reader never sees half a file; a symlink to a regular file is followed). A path that is not a
 * regular file - a character device such as /dev/stdout or /dev/null, a FIFO - is written in
 * place and never replaced. A directory is refused. Returns the number of records written.
 */
export async function exportUnits(records: Records | (() => Records), path: string, format: ExportFormat): Promise<number> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info?.isDirectory()) throw Object.assign(new Error(`${path} is a directory: name a file, or - for stdout`), { code: 'EISDIR' });
  if (info && !info.isFile()) {
    // Opened without O_CREAT or O_TRUNC: the node stays what it is.
    const fh = await open(path, 'r+').catch(() => open(path, 'a'));
    try {
      const sink = fileSink(fh);
      const n = await writeUnits(records, sink, format);
      await sink.flush();
      return n;
    } finally {
      await fh.close();
    }
  }
  const target = info ? await realpath(path) : path; // a symlink is followed: the link itself stays
  if (!info) await mkdir(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, 'w', 0o644);
  try {
    const sink = fileSink(fh);
    const n = await writeUnits(records, sink, format);
    await sink.flush();
    await fh.sync();
    await fh.close();
    await rename(tmp, target);
    await fsyncDir(dirname(target));
    return n;
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
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
