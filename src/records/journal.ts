import { open, writeFile, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { UnitRecord } from '../core/record.js';
import { PijigError } from '../core/errors.js';

export class JournalError extends PijigError<'OPEN_FAILED' | 'APPEND_FAILED' | 'CORRUPT' | 'CLOSED'> {}

/** What readers of the journal (exports, the outputs' follower) need of it. */
export interface JournalSource {
  /** Highest seq so far. */
  readonly count: number;
  read(fromSeq?: number): AsyncIterable<UnitRecord>;
  /** Called after each durable append; returns the unsubscribe function. */
  onAppend?(listener: (record: UnitRecord) => void): () => void;
}

/** What open() found and repaired. */
export interface JournalRecovery {
  /** Bytes of a torn last line that were cut off (saved beside the journal). */
  tornBytes: number;
  tornSavedTo?: string;
}

const TAIL_BYTES = 256 * 1024;

/**
 * The unit journal: one JSON line per unit, append-only, fsync'd before append() resolves, so a
 * record is on disk before the station shows PASS. A power cut can leave a torn last line (no
 * trailing newline); open() cuts it off - after saving it beside the journal for forensics -
 * without touching the complete lines before it.
 */
export class Journal implements JournalSource {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly appendListeners = new Set<(record: UnitRecord) => void>();

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private lastSeq: number,
    readonly recovery: JournalRecovery,
  ) {}

  static async open(path: string): Promise<Journal> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'a+');
    } catch (err) {
      throw new JournalError('OPEN_FAILED', `cannot open journal ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const { lastSeq, recovery } = await recover(path, fh);
      return new Journal(path, fh, lastSeq, recovery);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Highest seq so far (0 when empty). */
  get count(): number {
    return this.lastSeq;
  }

  /** Assign the next seq, append and fsync. Appends are serialised. */
  append(record: Omit<UnitRecord, 'seq'>): Promise<UnitRecord> {
    const run = async (): Promise<UnitRecord> => {
      if (this.closed) throw new JournalError('CLOSED', `journal ${this.path} is closed`);
      const full = { seq: this.lastSeq + 1, ...record } as UnitRecord;
      try {
        await this.fh.appendFile(`${JSON.stringify(full)}\n`, 'utf8');
        await this.fh.datasync();
      } catch (err) {
        throw new JournalError('APPEND_FAILED', `cannot append to journal ${this.path}: ${(err as Error).message}`, { cause: err });
      }
      this.lastSeq = full.seq;
      for (const listener of this.appendListeners) {
        try {
          listener(full);
        } catch {
          // a reader's trouble is its own: the record is on disk
        }
      }
      return full;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  onAppend(listener: (record: UnitRecord) => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Records with seq >= fromSeq, in order. Lines that do not parse are skipped. */
  async *read(fromSeq = 1): AsyncIterable<UnitRecord> {
    const start = fromSeq > 1 ? await this.offsetBefore(fromSeq) : 0;
    const lines = createInterface({ input: createReadStream(this.path, { encoding: 'utf8', start }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      if (fromSeq > 1 && !line.startsWith('{"seq":')) continue;
      if (fromSeq > 1) {
        const seq = Number.parseInt(line.slice(7, 20), 10);
        if (seq < fromSeq) continue;
      }
      let record: UnitRecord;
      try {
        record = JSON.parse(line) as UnitRecord;
      } catch {
        continue;
      }
      if (record.seq >= fromSeq && record.seq <= this.lastSeq) yield record;
    }
  }

  /**
   * A line start at or before the line holding `seq`, found by bisecting the file's bytes (seqs
   * are consecutive and in file order), so an incremental read of a large journal does not scan
   * it from the start.
   */
  private async offsetBefore(seq: number): Promise<number> {
    const fh = await open(this.path, 'r');
    try {
      let lo = 0;
      let hi = (await fh.stat()).size;
      const window = Buffer.alloc(64 * 1024);
      while (hi - lo > window.length) {
        const mid = Math.floor((lo + hi) / 2);
        const { bytesRead } = await fh.read(window, 0, window.length, mid);
        const nl = window.subarray(0, bytesRead).indexOf(0x0a);
        const lineStart = mid + nl + 1;
        const found = nl < 0 ? undefined : /^\{"seq":(\d+)/.exec(window.toString('utf8', nl + 1, Math.min(bytesRead, nl + 32)));
        if (found && Number(found[1]) < seq) lo = lineStart;
        else hi = mid;
      }
      return lo;
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.fh.close();
  }
}

async function recover(path: string, fh: FileHandle): Promise<{ lastSeq: number; recovery: JournalRecovery }> {
  const { size } = await fh.stat();
  if (size === 0) return { lastSeq: 0, recovery: { tornBytes: 0 } };
  const start = Math.max(0, size - TAIL_BYTES);
  const tail = Buffer.alloc(size - start);
  await fh.read(tail, 0, tail.length, start);
  const lastNewline = tail.lastIndexOf(0x0a);
  const recovery: JournalRecovery = { tornBytes: 0 };
  if (lastNewline !== tail.length - 1) {
    // A torn last line: a power cut between write and fsync. Keep the bytes for forensics, cut them off.
    const tornStart = lastNewline + 1;
    const torn = tail.subarray(tornStart);
    const savedTo = `${path}.torn-${Date.now()}`;
    await writeFile(savedTo, torn);
    await fh.truncate(start + tornStart);
    await fh.datasync();
    recovery.tornBytes = torn.length;
    recovery.tornSavedTo = savedTo;
  }
  const complete = tail.subarray(0, lastNewline + 1).toString('utf8').split('\n').filter(Boolean);
  for (let i = complete.length - 1; i >= 0; i--) {
    try {
      const seq = (JSON.parse(complete[i]!) as UnitRecord).seq;
      if (Number.isInteger(seq)) return { lastSeq: seq, recovery };
    } catch {
      // a damaged complete line: keep looking backwards
    }
  }
  if (start === 0) return { lastSeq: 0, recovery };
  throw new JournalError('CORRUPT', `journal ${path}: no readable record in its last ${TAIL_BYTES} bytes`);
}
