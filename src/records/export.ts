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
export async function writeUnits(records: AsyncIterable<UnitRecord> | Iterable<UnitRecord>, sink: ExportSink, format: ExportFormat): Promise<number> {
  let n = 0;
  if (format === 'csv') await sink.write(csvHeader());
  for await (const r of records) {
    if (format === 'csv') await sink.write(unitCsvLine(r));
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
export async function exportUnits(records: AsyncIterable<UnitRecord> | Iterable<UnitRecord>, path: string, format: ExportFormat): Promise<number> {
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
