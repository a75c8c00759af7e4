import { access, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { UnitRecord } from '../core/record.js';
import { ConfinedDir, ConfinedError } from '../util/confined.js';
import { csvHeader, headerMeasurements, measurementsOf, unitCsvLine, unitJsonLine } from '../records/export.js';
import type { JournalSource } from '../records/journal.js';
import { GENESIS, lineHash } from '../records/chain.js';
import { CHECKPOINT_FILE, type CheckpointCounts } from '../records/checkpoint.js';
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
  /** sha256 of the last JSON line (the journal's hash chain at `seq`) and the results up to it: what the checkpoint signs. */
  head: z.string().regex(/^[0-9a-f]{64}$/),
  counts: z.strictObject({ PASS: z.int().min(0), FAIL: z.int().min(0), ERROR: z.int().min(0), ABORTED: z.int().min(0) }),
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
  /** Folders a write may never land in, whatever the stick holds: the jig's data directory. */
  protect?: readonly string[];
  /** Bytes buffered before they are written (not yet fsync'd). */
  flushBytes?: number;
  /** Records per durable commit (fsync of both files, then the cursor). */
  commitEvery?: number;
  now?: () => Date;
  /**
   * The signed checkpoint for the logs up to `seq` (records/checkpoint.ts, signed with the
   * station key), as the text of checkpoint.json; written after every commit, once the data it
   * covers is fsync'd.
   */
  checkpoint?: (at: { seq: number; head: string; counts: CheckpointCounts }) => string;
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
 *
 * The stick is hostile (util/confined.ts): the jig creates pijig/logs/<station>/ itself, one folder
 * at a time, and refuses (STICK_UNSAFE) a symbolic link or special file anywhere on the way or in
 * place of its files; nothing is written through a link or into `protect` (the data directory),
 * and a file is truncated only once it is known to be the stick's own regular file.
 */
export class StickLogs implements RecordOutput {
  readonly name = 'stick';
  readonly dir: string;
  /** pijig/logs/<station>, relative to the stick's root. */
  private readonly rel: string;
  private stick: ConfinedDir | undefined;
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
  private staged: { jsonlBytes: number; csvBytes: number; head: string; counts: CheckpointCounts; last?: UnitRecord } | undefined;
  /** The measurement columns of units.csv's header (undefined: its header is of another format). */
  private columns: string[] | undefined = [];

  constructor(
    readonly stickRoot: string,
    private readonly options: StickLogsOptions,
  ) {
    checkStationId(options.stationId);
    this.dir = join(stickRoot, STICK_LOGS_DIR, options.stationId);
    this.rel = `${STICK_LOGS_DIR}/${options.stationId}`;
    this.commitEvery = options.commitEvery ?? 5000;
    this.flushBytes = options.flushBytes ?? 1024 * 1024;
    this.now = options.now ?? (() => new Date());
  }

  /** Where the stick stands, after repairing what an interrupted sync left. */
  async position(): Promise<Position> {
    const stick = await this.open();
    await mkdirDurable(stick, this.rel);
    const jsonlPath = this.file(UNITS_JSONL);
    const csvPath = this.file(UNITS_CSV);
    const [jsonlSize, csvSize, cursor] = await Promise.all([sizeOf(stick, jsonlPath), sizeOf(stick, csvPath), readCursor(stick, this.file(CURSOR_FILE))]);
    const consistent =
      cursor !== undefined &&
      cursor.station === this.options.stationId &&
      jsonlSize >= cursor.jsonlBytes &&
      csvSize >= cursor.csvBytes &&
      (await endsLine(stick, jsonlPath, cursor.jsonlBytes)) &&
      (await endsLine(stick, csvPath, cursor.csvBytes));
    if (!consistent) {
      this.repair = cursor || jsonlSize + csvSize > 0 ? 'rebuilt' : 'none';
      this.droppedBytes = jsonlSize + csvSize;
      await this.startFiles();
      return { seq: 0 };
    }
    this.droppedBytes = jsonlSize - cursor.jsonlBytes + (csvSize - cursor.csvBytes);
    this.repair = this.droppedBytes > 0 ? 'truncated' : 'none';
    if (this.droppedBytes > 0) await this.truncate(cursor);
    this.columns = headerMeasurements(await firstLine(stick, csvPath));
    this.at = cursor;
    this.staged = undefined;
    return cursor.lastId === undefined ? { seq: cursor.seq } : { seq: cursor.seq, id: cursor.lastId };
  }

  /** The files came from another journal with this station id (a re-imaged jig): set them aside, start afresh. */
  async restart(): Promise<void> {
    const stick = await this.open();
    const stamp = this.now().toISOString().replace(/[:.]/g, '-');
    await stick.rename(this.file(UNITS_JSONL), this.file(`units.${stamp}.jsonl`)).catch(ignoreMissing);
    await stick.rename(this.file(UNITS_CSV), this.file(`units.${stamp}.csv`)).catch(ignoreMissing);
    await stick.unlink(this.file(CURSOR_FILE)).catch(ignoreMissing);
    await stick.fsyncDir(this.rel);
    this.repair = 'rotated';
    this.droppedBytes = 0;
    await this.startFiles();
  }

  /** Append to both files (staged: durable only at the next flush()). */
  async write(records: readonly UnitRecord[]): Promise<void> {
    const at = this.at;
    if (!at) throw new Error(`${this.dir}: write before position()`);
    const staged = (this.staged ??= { jsonlBytes: at.jsonlBytes, csvBytes: at.csvBytes, head: at.head, counts: { ...at.counts } });
    const stick = await this.open();
    const jf = await stick.openWrite(this.file(UNITS_JSONL), { create: true, append: true });
    let cf: FileHandle | undefined;
    try {
      cf = await stick.openWrite(this.file(UNITS_CSV), { create: true, append: true });
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
        const columns = measurementsOf(r);
        if (!sameColumns(this.columns, columns)) {
          // A CSV never changes its columns: a unit of another plan starts a new units.csv (the old one is kept aside).
          await flush();
          await cf.sync();
          await cf.close();
          staged.csvBytes = await this.startCsv(columns, staged.csvBytes);
          cf = await stick.openWrite(this.file(UNITS_CSV), { create: true, append: true });
        }
        const j = unitJsonLine(r);
        const c = unitCsvLine(r, columns);
        staged.head = lineHash(j.slice(0, -1));
        staged.counts[r.result]++;
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
    const stick = await this.open();
    for (const file of [UNITS_JSONL, UNITS_CSV]) {
      const { fh } = await stick.openRead(this.file(file));
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    const last = staged.last;
    await this.commit({ ...at, jsonlBytes: staged.jsonlBytes, csvBytes: staged.csvBytes, head: staged.head, counts: staged.counts, ...(last ? { seq: last.seq, lastId: last.id } : {}) });
    this.staged = undefined;
    // The signed checkpoint, after the data and the cursor it vouches for are durable.
    const checkpoint = this.options.checkpoint;
    const now = this.at!;
    if (checkpoint && now.seq > 0) await stick.writeFileAtomic(this.file(CHECKPOINT_FILE), checkpoint({ seq: now.seq, head: now.head, counts: now.counts }));
  }

  /** Empty files with the CSV header, and a cursor from the start: even the first sync resumes, not rebuilds. */
  private async startFiles(): Promise<void> {
    const stick = await this.open();
    const header = csvHeader();
    this.columns = [];
    for (const [file, text] of [
      [UNITS_JSONL, ''],
      [UNITS_CSV, header],
    ] as const) {
      // Truncated only now that it is known to be the stick's own regular file (not a link to the journal).
      const fh = await stick.openWrite(this.file(file), { create: true });
      try {
        await fh.truncate(0);
        if (text) await fh.write(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    this.staged = undefined;
    await stick.unlink(this.file(CHECKPOINT_FILE)).catch(ignoreMissing);
    await this.commit({ format: 1, station: this.options.stationId, seq: 0, jsonlBytes: 0, csvBytes: Buffer.byteLength(header), head: GENESIS, counts: { PASS: 0, FAIL: 0, ERROR: 0, ABORTED: 0 }, updatedAt: '' });
  }

  /**
   * A units.csv with these measurement columns: the header is rewritten in place while the file
   * holds no unit yet, else the file is renamed aside (units.<time>.csv) and a new one begun.
   * Returns the new file's length. (The cursor that follows names the new length; a stick pulled
   * before it is rebuilt from the journal.)
   */
  private async startCsv(columns: string[], csvBytes: number): Promise<number> {
    const stick = await this.open();
    const empty = this.columns !== undefined && csvBytes === Buffer.byteLength(csvHeader(this.columns));
    if (!empty) {
      const stamp = this.now().toISOString().replace(/[:.]/g, '-');
      await stick.rename(this.file(UNITS_CSV), this.file(`units.${stamp}.csv`));
      this.repair = this.repair === 'none' ? 'rotated' : this.repair;
    }
    const header = csvHeader(columns);
    const fh = await stick.openWrite(this.file(UNITS_CSV), { create: true });
    try {
      await fh.truncate(0);
      await fh.write(header);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await stick.fsyncDir(this.rel);
    this.columns = columns;
    return Buffer.byteLength(header);
  }

  private async truncate(cursor: SyncCursor): Promise<void> {
    const stick = await this.open();
    for (const [file, bytes] of [
      [UNITS_JSONL, cursor.jsonlBytes],
      [UNITS_CSV, cursor.csvBytes],
    ] as const) {
      const fh = await stick.openWrite(this.file(file));
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
    await (await this.open()).writeFileAtomic(this.file(CURSOR_FILE), `${JSON.stringify(next)}\n`);
    this.at = next;
  }

  private async open(): Promise<ConfinedDir> {
    this.stick ??= await ConfinedDir.open(this.stickRoot, { protect: this.options.protect ?? [] });
    return this.stick;
  }

  private file(name: string): string {
    return `${this.rel}/${name}`;
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
      if (!removed && err instanceof ConfinedError) {
        if (err.code === 'READ_ONLY') throw new OutputError('STICK_READ_ONLY', `${stickRoot}: read-only stick: the logs cannot be written (${err.path})`, { cause: err, details: { file: err.path } });
        throw new OutputError('STICK_UNSAFE', `${err.message}: the logs are not written through it`, { cause: err, details: { file: err.path } });
      }
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new OutputError(removed ? 'STICK_REMOVED' : 'SYNC_FAILED', `${output.dir}: log sync ${removed ? 'interrupted, the stick went away' : 'failed'} (${code})`, { cause: err, details: { file: output.dir } });
    } finally {
      off();
    }
  }
}

function sameColumns(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The first line of a file on the stick (its CSV header), or '' when it has none. */
async function firstLine(stick: ConfinedDir, rel: string): Promise<string> {
  let opened;
  try {
    opened = await stick.openRead(rel);
  } catch {
    return '';
  }
  try {
    const b = Buffer.alloc(8192);
    const { bytesRead } = await opened.fh.read(b, 0, b.length, 0);
    const text = b.toString('utf8', 0, bytesRead);
    const end = text.indexOf('\n');
    return end < 0 ? text : text.slice(0, end + 1);
  } finally {
    await opened.fh.close();
  }
}

async function readCursor(stick: ConfinedDir, rel: string): Promise<SyncCursor | undefined> {
  let text: string;
  try {
    text = (await stick.readFile(rel, 64 * 1024)).toString('utf8');
  } catch (err) {
    if (err instanceof ConfinedError && err.code !== 'TOO_LARGE') throw err; // a link or a FIFO: refused, not "missing"
    return undefined; // missing or oversized: the files are rebuilt
  }
  try {
    const r = cursorSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined; // torn: the files are rebuilt
  }
}

/** Size of one of the log files; 0 when missing. A link or special file in its place is refused. */
async function sizeOf(stick: ConfinedDir, rel: string): Promise<number> {
  const st = await stick.lstat(rel);
  if (!st) return 0;
  if (st.isSymbolicLink()) throw new ConfinedError('SYMLINK', stick.path(rel), `${stick.path(rel)}: is a symbolic link`);
  if (!st.isFile()) throw new ConfinedError('NOT_A_FILE', stick.path(rel), `${stick.path(rel)}: not a regular file`);
  return st.size;
}

/** True when the byte before `offset` is a line feed (or offset is 0): the cursor sits on a record boundary. */
async function endsLine(stick: ConfinedDir, rel: string, offset: number): Promise<boolean> {
  if (offset === 0) return true;
  const { fh } = await stick.openRead(rel);
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset - 1);
    return b[0] === 0x0a;
  } finally {
    await fh.close();
  }
}

/** Create the logs folder one folder at a time (each a real folder, never a link), fsync'ing what was made. */
async function mkdirDurable(stick: ConfinedDir, rel: string): Promise<void> {
  const created = await stick.mkdir(rel);
  if (created.length === 0) return;
  const first = created[0]!;
  const parent = first.includes('/') ? first.slice(0, first.lastIndexOf('/')) : '';
  for (const d of [...created].reverse()) await stick.fsyncDir(d);
  await stick.fsyncDir(parent);
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
