import { access, mkdir, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { UnitRecord } from '../core/record.js';
import { fsyncDir, writeFileAtomic } from '../util/fs.js';
import { csvHeader, unitCsvLine, unitJsonLine } from '../records/export.js';
import type { JournalSource } from '../records/journal.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { OutputError } from './errors.js';
import { JournalFollower } from './follower.js';
import type { Position, RecordOutput } from './output.js';

/** Where a station's logs go on a stick: pijig/logs/<station-id>/. */
export const STICK_LOGS_DIR = 'pijig/logs';
export const UNITS_JSONL = 'units.jsonl';
export const UNITS_CSV = 'units.csv';
export const CURSOR_FILE = 'cursor.json';

const cursorSchema = z.strictObject({
  format: z.literal(1),
  station: z.string(),
  /** Highest seq both files hold, completely and durably. */
  seq: z.int().min(0),
  /** id of the record with that seq: tells this journal from another one with the same station id. */
  lastId: z.string().optional(),
  /** Lengths of the two files at that point: everything beyond is an interrupted append. */
  jsonlBytes: z.int().min(0),
  csvBytes: z.int().min(0),
  updatedAt: z.string(),
});
export type SyncCursor = z.infer<typeof cursorSchema>;

/**
 * What was found on the stick: 'none' (clean), 'truncated' (an interrupted append cut back to
 * the cursor), 'rebuilt' (no usable cursor: both files rewritten), 'rotated' (the files came
 * from another journal with this station id and were renamed aside).
 */
export type StickRepair = 'none' | 'truncated' | 'rebuilt' | 'rotated';

export interface SyncResult {
  dir: string;
  /** Records appended by this sync. */
  appended: number;
  /** Highest seq on the stick now. */
  lastSeq: number;
  repair: StickRepair;
  /** Bytes cut off the two files by the repair. */
  droppedBytes: number;
}

const STATION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkStationId(stationId: string): void {
  if (!STATION_ID.test(stationId)) {
    throw new OutputError('STATION_ID_INVALID', `station id "${stationId}" must be 1-64 letters, digits, ".", "_" or "-" (it names a folder on the stick)`, { details: { field: 'station_id' } });
  }
}

export interface StickLogsOptions {
  stationId: string;
  /** Bytes buffered before they are written (not yet fsync'd). */
  flushBytes?: number;
  /** Records per durable commit (fsync of both files, then the cursor). */
  commitEvery?: number;
  now?: () => Date;
}

/**
 * The USB stick's logs of this station as a record output: pijig/logs/<station>/units.jsonl
 * (full records) and units.csv (one line per unit), appended incrementally and idempotently.
 *
 * The cursor lives on the stick, in cursor.json, and is only ever written (temp + fsync + rename)
 * after both data files are fsync'd up to it, so it is never ahead of the data. A stick pulled
 * mid-sync leaves the files longer than the cursor says, possibly with a torn last line; the next
 * sync cuts both back to the cursor and appends from there: no line lost, none duplicated. A stick
 * whose cursor is missing or does not match its files is rewritten from the journal.
 */
export class StickLogs implements RecordOutput {
  readonly name = 'stick';
  readonly dir: string;
  /** Records per write (staged, not yet fsync'd), and per durable commit (fsync of both files, then the cursor). */
  readonly batchSize = 500;
  readonly commitEvery: number;
  /** What position() found and repaired. */
  repair: StickRepair = 'none';
  droppedBytes = 0;
  private readonly flushBytes: number;
  private readonly now: () => Date;
  /** The cursor as this output left it (committed); `staged` is what was appended after it. */
  private at: SyncCursor | undefined;
  private staged: { jsonlBytes: number; csvBytes: number; last?: UnitRecord } | undefined;

  constructor(
    readonly stickRoot: string,
    private readonly options: StickLogsOptions,
  ) {
    checkStationId(options.stationId);
    this.dir = join(stickRoot, STICK_LOGS_DIR, options.stationId);
    this.commitEvery = options.commitEvery ?? 5000;
    this.flushBytes = options.flushBytes ?? 1024 * 1024;
    this.now = options.now ?? (() => new Date());
  }

  /** Where the stick stands, after repairing what an interrupted sync left. */
  async position(): Promise<Position> {
    await mkdirDurable(this.dir);
    const jsonlPath = join(this.dir, UNITS_JSONL);
    const csvPath = join(this.dir, UNITS_CSV);
    const jsonlSize = await sizeOf(jsonlPath);
    const csvSize = await sizeOf(csvPath);
    const cursor = await readCursor(join(this.dir, CURSOR_FILE));
    const consistent =
      cursor !== undefined &&
      cursor.station === this.options.stationId &&
      jsonlSize >= cursor.jsonlBytes &&
      csvSize >= cursor.csvBytes &&
      (await endsLine(jsonlPath, cursor.jsonlBytes)) &&
      (await endsLine(csvPath, cursor.csvBytes));
    if (!consistent) {
      this.repair = cursor || jsonlSize + csvSize > 0 ? 'rebuilt' : 'none';
      this.droppedBytes = jsonlSize + csvSize;
      await this.startFiles();
      return { seq: 0 };
    }
    this.droppedBytes = jsonlSize - cursor.jsonlBytes + (csvSize - cursor.csvBytes);
    this.repair = this.droppedBytes > 0 ? 'truncated' : 'none';
    if (this.droppedBytes > 0) await this.truncate(cursor);
    this.at = cursor;
    this.staged = undefined;
    return cursor.lastId === undefined ? { seq: cursor.seq } : { seq: cursor.seq, id: cursor.lastId };
  }

  /** The files came from another journal with this station id (a re-imaged jig): set them aside, start afresh. */
  async restart(): Promise<void> {
    const stamp = this.now().toISOString().replace(/[:.]/g, '-');
    await rename(join(this.dir, UNITS_JSONL), join(this.dir, `units.${stamp}.jsonl`)).catch(ignoreMissing);
    await rename(join(this.dir, UNITS_CSV), join(this.dir, `units.${stamp}.csv`)).catch(ignoreMissing);
    await unlink(join(this.dir, CURSOR_FILE)).catch(ignoreMissing);
    await fsyncDir(this.dir);
    this.repair = 'rotated';
    this.droppedBytes = 0;
    await this.startFiles();
  }

  /** Append to both files (staged: durable only at the next flush()). */
  async write(records: readonly UnitRecord[]): Promise<void> {
    const at = this.at;
    if (!at) throw new Error(`${this.dir}: write before position()`);
    const staged = (this.staged ??= { jsonlBytes: at.jsonlBytes, csvBytes: at.csvBytes });
    const jf = await open(join(this.dir, UNITS_JSONL), 'a');
    let cf: FileHandle | undefined;
    try {
      cf = await open(join(this.dir, UNITS_CSV), 'a');
      let jbuf: string[] = [];
      let cbuf: string[] = [];
      let pending = 0;
      const flush = async () => {
        const j = jbuf.join('');
        const c = cbuf.join('');
        if (j) await jf.write(j);
        if (c) await cf!.write(c);
        staged.jsonlBytes += Buffer.byteLength(j);
        staged.csvBytes += Buffer.byteLength(c);
        jbuf = [];
        cbuf = [];
        pending = 0;
      };
      for (const r of records) {
        const j = unitJsonLine(r);
        const c = unitCsvLine(r);
        jbuf.push(j);
        cbuf.push(c);
        pending += j.length + c.length;
        if (pending >= this.flushBytes) await flush();
      }
      await flush();
      const last = records[records.length - 1];
      if (last) staged.last = last;
    } finally {
      await jf.close().catch(() => undefined);
      await cf?.close().catch(() => undefined);
    }
  }

  /** fsync both files, then move the cursor on the stick over what they now hold. */
  async flush(): Promise<void> {
    const at = this.at;
    const staged = this.staged;
    if (!at || !staged) return;
    for (const file of [UNITS_JSONL, UNITS_CSV]) {
      const fh = await open(join(this.dir, file), 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    const last = staged.last;
    await this.commit({ ...at, jsonlBytes: staged.jsonlBytes, csvBytes: staged.csvBytes, ...(last ? { seq: last.seq, lastId: last.id } : {}) });
    this.staged = undefined;
  }

  /** Empty files with the CSV header, and a cursor from the start: even the first sync resumes, not rebuilds. */
  private async startFiles(): Promise<void> {
    const header = csvHeader();
    for (const [file, text] of [
      [UNITS_JSONL, ''],
      [UNITS_CSV, header],
    ] as const) {
      const fh = await open(join(this.dir, file), 'w');
      try {
        if (text) await fh.write(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    this.staged = undefined;
    await this.commit({ format: 1, station: this.options.stationId, seq: 0, jsonlBytes: 0, csvBytes: Buffer.byteLength(header), updatedAt: '' });
  }

  private async truncate(cursor: SyncCursor): Promise<void> {
    for (const [file, bytes] of [
      [UNITS_JSONL, cursor.jsonlBytes],
      [UNITS_CSV, cursor.csvBytes],
    ] as const) {
      const fh = await open(join(this.dir, file), 'r+');
      try {
        await fh.truncate(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
  }

  private async commit(cursor: SyncCursor): Promise<void> {
    const next: SyncCursor = { ...cursor, updatedAt: this.now().toISOString() };
    if (next.lastId === undefined) delete next.lastId;
    await writeFileAtomic(join(this.dir, CURSOR_FILE), `${JSON.stringify(next)}\n`);
    this.at = next;
  }
}

export type LogSyncEvents = {
  progress: [{ done: number; total: number }];
  'listener-error': [event: string, error: unknown];
};

export interface LogSyncDeps extends StickLogsOptions {
  journal: JournalSource;
  /** The station's follower (the stick becomes one of its outputs while it is synced); by default one of its own. */
  follower?: JournalFollower;
  /** Attempts per sync while the stick stays mounted (default 1). */
  attempts?: number;
}

/**
 * Syncs the logs to one stick after another: each stick is an output of the journal follower for
 * the time of its sync, so its records come the way every output's do (in order, from the stick's
 * own cursor, retried with backoff while the stick stays).
 */
export class LogSync extends TypedEmitter<LogSyncEvents> {
  private readonly follower: JournalFollower;

  constructor(private readonly deps: LogSyncDeps) {
    super();
    checkStationId(deps.stationId);
    this.follower = deps.follower ?? new JournalFollower({ journal: deps.journal });
  }

  /** The folder on a stick that holds this station's logs. */
  dirOn(stickRoot: string): string {
    return join(stickRoot, STICK_LOGS_DIR, this.deps.stationId);
  }

  /** Sync to the stick mounted at stickRoot; when this resolves every record is on the stick and it is safe to remove. */
  async sync(stickRoot: string): Promise<SyncResult> {
    const output = new StickLogs(stickRoot, this.deps);
    const gone = async () => !(await access(stickRoot).then(() => true, () => false));
    const off = this.follower.on('progress', (name, p) => {
      if (name === output.name) this.emit('progress', p);
    });
    try {
      const { delivered, position } = await this.follower.drain(output, { attempts: this.deps.attempts ?? 1, stillThere: async () => !(await gone()) });
      return { dir: output.dir, appended: delivered, lastSeq: position.seq, repair: output.repair, droppedBytes: output.droppedBytes };
    } catch (err) {
      if (err instanceof OutputError) throw err;
      const removed = await gone();
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new OutputError(removed ? 'STICK_REMOVED' : 'SYNC_FAILED', `${output.dir}: log sync ${removed ? 'interrupted, the stick went away' : 'failed'} (${code})`, { cause: err, details: { file: output.dir } });
    } finally {
      off();
    }
  }
}

async function readCursor(path: string): Promise<SyncCursor | undefined> {
  try {
    const r = cursorSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined; // missing or torn: the files are rebuilt
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** True when the byte before `offset` is a line feed (or offset is 0): the cursor sits on a record boundary. */
async function endsLine(path: string, offset: number): Promise<boolean> {
  if (offset === 0) return true;
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset - 1);
    return b[0] === 0x0a;
  } finally {
    await fh.close();
  }
}

async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // fsync every folder that was created, and the one holding the first of them
  for (let d = dir; ; d = dirname(d)) {
    await fsyncDir(d);
    if (d.length < first.length) break;
  }
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
