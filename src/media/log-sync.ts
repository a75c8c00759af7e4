import { access, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { fsyncDir, writeFileAtomic } from '../records/durable-file.js';
import { csvHeader, unitCsvLine, unitJsonLine } from '../records/export.js';
import type { Journal } from '../records/journal.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { MediaError } from './errors.js';

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

export interface SyncResult {
  dir: string;
  /** Records appended by this sync. */
  appended: number;
  /** Highest seq on the stick now. */
  lastSeq: number;
  /**
   * What was found on the stick: 'none' (clean), 'truncated' (an interrupted append cut back to
   * the cursor), 'rebuilt' (no usable cursor: both files rewritten), 'rotated' (the files came
   * from another journal with this station id and were renamed aside).
   */
  repair: 'none' | 'truncated' | 'rebuilt' | 'rotated';
  /** Bytes cut off the two files by the repair. */
  droppedBytes: number;
}

export interface LogSyncEvents extends Record<string, unknown[]> {
  progress: [{ done: number; total: number }];
}

export interface LogSyncDeps {
  journal: Pick<Journal, 'count' | 'read'>;
  /** Names the folder on the stick; letters, digits, ".", "_" and "-". */
  stationId: string;
  /** Records between durable commits (fsync of both files, then the cursor). */
  commitEvery?: number;
  /** Bytes buffered before they are written (not yet fsync'd). */
  flushBytes?: number;
  now?: () => Date;
}

/**
 * Appends the journal's records the stick does not hold yet to pijig/logs/<station>/units.jsonl
 * (full records) and units.csv (one line per unit), incrementally and idempotently.
 *
 * The cursor lives on the stick, in cursor.json, and is only ever written (temp + fsync + rename)
 * after both data files are fsync'd up to it, so it is never ahead of the data. A stick pulled
 * mid-sync leaves the files longer than the cursor says, possibly with a torn last line; the next
 * sync cuts both back to the cursor and appends from there: no line lost, none duplicated. A stick
 * whose cursor is missing or does not match its files is rewritten from the journal.
 */
export class LogSync extends TypedEmitter<LogSyncEvents> {
  private readonly commitEvery: number;
  private readonly flushBytes: number;
  private readonly now: () => Date;

  constructor(private readonly deps: LogSyncDeps) {
    super();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(deps.stationId)) {
      throw new MediaError('STATION_ID_INVALID', `station id "${deps.stationId}" must be 1-64 letters, digits, ".", "_" or "-" (it names a folder on the stick)`, { field: 'station.id' });
    }
    this.commitEvery = deps.commitEvery ?? 5000;
    this.flushBytes = deps.flushBytes ?? 1024 * 1024;
    this.now = deps.now ?? (() => new Date());
  }

  /** The folder on a stick that holds this station's logs. */
  dirOn(stickRoot: string): string {
    return join(stickRoot, STICK_LOGS_DIR, this.deps.stationId);
  }

  /** Sync to the stick mounted at stickRoot; when this resolves every record is on the stick and it is safe to remove. */
  async sync(stickRoot: string): Promise<SyncResult> {
    const dir = this.dirOn(stickRoot);
    try {
      return await this.run(dir);
    } catch (err) {
      if (err instanceof MediaError) throw err;
      const gone = !(await access(stickRoot).then(() => true, () => false));
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new MediaError(gone ? 'STICK_REMOVED' : 'SYNC_FAILED', `${dir}: log sync ${gone ? 'interrupted, the stick went away' : 'failed'} (${code})`, { cause: err, file: dir });
    }
  }

  private async run(dir: string): Promise<SyncResult> {
    const { journal } = this.deps;
    await mkdirDurable(dir);
    const end = journal.count;
    let start = await this.resume(dir);
    // One pass over the journal: read from the cursor's own record, to check it is this journal's.
    let records = journal.read(Math.max(start.seq, 1))[Symbol.asyncIterator]();
    if (start.seq > 0) {
      const first = await records.next();
      if (first.done || start.seq > end || first.value.seq !== start.seq || first.value.id !== start.lastId) {
        await records.return?.();
        start = await this.rotate(dir);
        records = journal.read(1)[Symbol.asyncIterator]();
      }
    }
    const jsonlPath = join(dir, UNITS_JSONL);
    const csvPath = join(dir, UNITS_CSV);
    const jf = await open(jsonlPath, 'a');
    let cf;
    try {
      cf = await open(csvPath, 'a');
    } catch (err) {
      await jf.close();
      throw err;
    }
    try {
      let jsonlBytes = start.jsonlBytes;
      let csvBytes = start.csvBytes;
      await jf.truncate(jsonlBytes);
      await cf.truncate(csvBytes);
      let seq = start.seq;
      let lastId = start.lastId;
      const total = end - start.seq;
      let jbuf: string[] = [];
      let cbuf: string[] = [];
      let pending = 0;
      let sinceCommit = 0;
      if (csvBytes === 0) {
        cbuf.push(csvHeader());
        pending += csvHeader().length;
      }
      const flush = async () => {
        if (jbuf.length) {
          const j = jbuf.join('');
          await jf.write(j);
          jsonlBytes += Buffer.byteLength(j);
        }
        if (cbuf.length) {
          const c = cbuf.join('');
          await cf.write(c);
          csvBytes += Buffer.byteLength(c);
        }
        jbuf = [];
        cbuf = [];
        pending = 0;
      };
      const commit = async () => {
        await flush();
        await jf.sync();
        await cf.sync();
        const cursor: SyncCursor = { format: 1, station: this.deps.stationId, seq, jsonlBytes, csvBytes, updatedAt: this.now().toISOString() };
        if (lastId !== undefined) cursor.lastId = lastId;
        await writeFileAtomic(join(dir, CURSOR_FILE), `${JSON.stringify(cursor)}\n`);
        sinceCommit = 0;
      };
      if (csvBytes === 0) await commit(); // a cursor from the start: even the first sync resumes, not rebuilds
      if (total > 0) this.emit('progress', { done: 0, total });
      while (seq < end) {
        const next = await records.next();
        if (next.done) break;
        const r = next.value;
        if (r.seq > end) break;
        const j = unitJsonLine(r);
        const c = unitCsvLine(r);
        jbuf.push(j);
        cbuf.push(c);
        pending += j.length + c.length;
        seq = r.seq;
        lastId = r.id;
        sinceCommit++;
        if (sinceCommit >= this.commitEvery) {
          await commit();
          this.emit('progress', { done: seq - start.seq, total });
        } else if (pending >= this.flushBytes) {
          await flush();
        }
      }
      await commit();
      if (total > 0) this.emit('progress', { done: seq - start.seq, total });
      return { dir, appended: seq - start.seq, lastSeq: seq, repair: start.repair, droppedBytes: start.droppedBytes };
    } finally {
      await records.return?.();
      await jf.close().catch(() => undefined);
      await cf.close().catch(() => undefined);
    }
  }

  /** Where to continue on this stick, repairing what an interrupted sync left. */
  private async resume(dir: string): Promise<Resume> {
    const jsonlPath = join(dir, UNITS_JSONL);
    const csvPath = join(dir, UNITS_CSV);
    const jsonlSize = await sizeOf(jsonlPath);
    const csvSize = await sizeOf(csvPath);
    const fresh = { seq: 0, lastId: undefined, jsonlBytes: 0, csvBytes: 0, droppedBytes: jsonlSize + csvSize };
    const cursor = await readCursor(join(dir, CURSOR_FILE));
    if (!cursor) return { ...fresh, repair: jsonlSize + csvSize === 0 ? 'none' : 'rebuilt' };
    const consistent =
      cursor.station === this.deps.stationId &&
      jsonlSize >= cursor.jsonlBytes &&
      csvSize >= cursor.csvBytes &&
      (await endsLine(jsonlPath, cursor.jsonlBytes)) &&
      (await endsLine(csvPath, cursor.csvBytes));
    if (!consistent) return { ...fresh, repair: 'rebuilt' };
    const dropped = jsonlSize - cursor.jsonlBytes + (csvSize - cursor.csvBytes);
    return { seq: cursor.seq, lastId: cursor.lastId, jsonlBytes: cursor.jsonlBytes, csvBytes: cursor.csvBytes, repair: dropped > 0 ? 'truncated' : 'none', droppedBytes: dropped };
  }

  /** The files came from another journal with this station id (a re-imaged jig): set them aside, start afresh. */
  private async rotate(dir: string): Promise<Resume> {
    const stamp = this.now().toISOString().replace(/[:.]/g, '-');
    await rename(join(dir, UNITS_JSONL), join(dir, `units.${stamp}.jsonl`)).catch(ignoreMissing);
    await rename(join(dir, UNITS_CSV), join(dir, `units.${stamp}.csv`)).catch(ignoreMissing);
    await unlink(join(dir, CURSOR_FILE)).catch(ignoreMissing);
    await fsyncDir(dir);
    return { seq: 0, lastId: undefined, jsonlBytes: 0, csvBytes: 0, droppedBytes: 0, repair: 'rotated' };
  }
}

interface Resume {
  seq: number;
  lastId: string | undefined;
  jsonlBytes: number;
  csvBytes: number;
  repair: SyncResult['repair'];
  droppedBytes: number;
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
