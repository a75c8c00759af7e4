import { open, writeFile, copyFile, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { UnitRecord } from '../core/record.js';
import { PijigError } from '../core/errors.js';
import { GENESIS, lineHash, verifyChainFile, type ChainSummary } from './chain.js';

export class JournalError extends PijigError<'OPEN_FAILED' | 'APPEND_FAILED' | 'CORRUPT' | 'CLOSED' | 'DAMAGED'> {}

/** What readers of the journal (exports, the outputs' follower) need of it. */
export interface JournalSource {
  /** Highest seq so far. */
  readonly count: number;
  /** Records in order; rejects (JournalError DAMAGED, naming the seq) at a line that is not a whole record. */
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

/** A record of the journal that is not what was written: no unit runs until an engineer repairs it. */
export interface JournalDamage {
  seq: number;
  message: string;
  /** A copy of the journal as found, kept for forensics. */
  copy?: string;
}

export interface JournalOpenOptions {
  /** Open without writing: a torn last line is ignored, not cut (for `verify` and `export` beside a running station). */
  readOnly?: boolean;
}

const TAIL_BYTES = 256 * 1024;

/** A unit record as the journal holds it: everything but the seq and the chain link, which append() assigns. */
export type NewRecord = Omit<UnitRecord, 'seq' | 'prev'>;

/**
 * The unit journal: one JSON line per unit, append-only, fsync'd before append() resolves, so a
 * record is on disk before the station shows PASS. Each line carries the sha256 of the line
 * before it (`prev`, see chain.ts): an edited, inserted, deleted or reordered line shows.
 *
 * A power cut can leave a torn last line (no trailing newline); open() cuts it off - after saving
 * it beside the journal - without touching the complete lines before it. A damaged complete line
 * is never skipped: readers reject at it, naming its seq, and the journal refuses appends until
 * `pijig journal repair` has replaced it with a recorded repair.
 */
export class Journal implements JournalSource {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly appendListeners = new Set<(record: UnitRecord) => void>();
  private damageFound: JournalDamage | undefined;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle | undefined,
    private lastSeq: number,
    private headHash: string,
    readonly recovery: JournalRecovery,
    damage: JournalDamage | undefined,
  ) {
    this.damageFound = damage;
  }

  static async open(path: string, options: JournalOpenOptions = {}): Promise<Journal> {
    let fh: FileHandle;
    try {
      fh = await open(path, options.readOnly ? 'r' : 'a+');
    } catch (err) {
      throw new JournalError('OPEN_FAILED', `cannot open journal ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const found = await recover(path, fh, options.readOnly ?? false);
      if (options.readOnly) await fh.close();
      return new Journal(path, options.readOnly ? undefined : fh, found.lastSeq, found.head, found.recovery, found.damage);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Highest seq so far (0 when empty). */
  get count(): number {
    return this.lastSeq;
  }

  /** sha256 of the last line: the next record's `prev`. */
  get head(): string {
    return this.headHash;
  }

  /** Set when a damaged record was found (at open, by verify() or by a read). */
  get damage(): JournalDamage | undefined {
    return this.damageFound;
  }

  /** Assign the next seq and the chain link, append and fsync. Appends are serialised. */
  append(record: NewRecord): Promise<UnitRecord> {
    const run = async (): Promise<UnitRecord> => {
      if (this.closed || !this.fh) throw new JournalError('CLOSED', `journal ${this.path} is ${this.closed ? 'closed' : 'open read-only'}`);
      if (this.damageFound) throw new JournalError('DAMAGED', `journal ${this.path}: record #${this.damageFound.seq} is damaged; nothing is appended until \`pijig journal repair\``, { details: { seq: this.damageFound.seq } });
      const { seq: _s, prev: _p, ...rest } = record as UnitRecord;
      const full = { seq: this.lastSeq + 1, prev: this.headHash, ...rest } as UnitRecord;
      const line = JSON.stringify(full);
      try {
        await this.fh.appendFile(`${line}\n`, 'utf8');
        await this.fh.datasync();
      } catch (err) {
        throw new JournalError('APPEND_FAILED', `cannot append to journal ${this.path}: ${(err as Error).message}`, { cause: err });
      }
      this.lastSeq = full.seq;
      this.headHash = lineHash(line);
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

  /** Records with seq >= fromSeq, in order. A line that is not a whole record rejects with DAMAGED, naming its seq. */
  async *read(fromSeq = 1): AsyncIterable<UnitRecord> {
    const start = fromSeq > 1 ? await this.offsetBefore(fromSeq) : 0;
    const lines = createInterface({ input: createReadStream(this.path, { encoding: 'utf8', start }), crlfDelay: Infinity });
    // The seq the next line must carry (unknown until the first line when starting mid-file).
    let expected: number | undefined = start === 0 ? 1 : undefined;
    for await (const line of lines) {
      const record = parseRecord(line);
      if (record && (expected === undefined || record.seq === expected)) {
        expected = record.seq + 1;
        if (record.seq > this.lastSeq) return; // appended after this read began, or beyond a torn tail
        if (record.seq >= fromSeq) yield record;
        continue;
      }
      const seq = expected ?? fromSeq;
      if (seq > this.lastSeq) return;
      const why = record ? `holds #${record.seq} where #${seq} belongs` : line === '' ? 'is an empty line' : 'is not a whole record';
      throw this.damaged(seq, `journal ${this.path}: record #${seq} is damaged (the line ${why}); it is not skipped: run \`pijig journal repair\``);
    }
  }

  /** Verify the whole chain (seq order and every prev); a finding becomes the journal's damage. */
  async verify(): Promise<ChainSummary> {
    const summary = await verifyChainFile(this.path, { seqField: 'seq' });
    if (summary.finding && summary.finding.seq <= this.lastSeq) this.damaged(summary.finding.seq, `journal ${this.path}: ${summary.finding.message}`);
    return summary;
  }

  /** Keep a copy of the journal as it is now beside it (before anyone repairs it); returns its path. */
  async keepCopy(tag = 'damaged'): Promise<string> {
    const copy = `${this.path}.${tag}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await copyFile(this.path, copy);
    if (this.damageFound) this.damageFound.copy = copy;
    return copy;
  }

  /** Mark a record damaged (records the ledger knows of but the journal lost): appends stop until a repair. */
  markDamaged(seq: number, message: string): void {
    this.damaged(seq, message);
  }

  private damaged(seq: number, message: string): JournalError {
    if (!this.damageFound || seq < this.damageFound.seq) this.damageFound = { seq, message };
    return new JournalError('DAMAGED', message, { details: { seq } });
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
    await this.fh?.close();
  }
}

/** A journal line as a record, or undefined when it is not one. */
export function parseRecord(line: string): UnitRecord | undefined {
  if (!line.startsWith('{"seq":')) return undefined;
  try {
    const r = JSON.parse(line) as UnitRecord;
    return Number.isSafeInteger(r.seq) && r.seq > 0 ? r : undefined;
  } catch {
    return undefined;
  }
}

async function recover(path: string, fh: FileHandle, readOnly: boolean): Promise<{ lastSeq: number; head: string; recovery: JournalRecovery; damage?: JournalDamage }> {
  const { size } = await fh.stat();
  const recovery: JournalRecovery = { tornBytes: 0 };
  if (size === 0) return { lastSeq: 0, head: GENESIS, recovery };
  const start = Math.max(0, size - TAIL_BYTES);
  const tail = Buffer.alloc(size - start);
  await fh.read(tail, 0, tail.length, start);
  const lastNewline = tail.lastIndexOf(0x0a);
  if (lastNewline !== tail.length - 1 && !readOnly) {
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
  const text = tail.subarray(0, lastNewline + 1).toString('utf8');
  const complete = text.split('\n').slice(0, -1);
  // The first line of the window may be cut by the window's start.
  if (start > 0) complete.shift();
  if (complete.length === 0) {
    if (start === 0) return { lastSeq: 0, head: GENESIS, recovery };
    throw new JournalError('CORRUPT', `journal ${path}: no line end in its last ${TAIL_BYTES} bytes`);
  }
  const head = lineHash(complete[complete.length - 1]!);
  for (let i = complete.length - 1; i >= 0; i--) {
    const record = parseRecord(complete[i]!);
    if (!record) continue;
    const after = complete.length - 1 - i;
    if (after === 0) return { lastSeq: record.seq, head, recovery };
    // Whole lines after the last readable record: damaged records, never skipped.
    const seq = record.seq + 1;
    return { lastSeq: record.seq + after, head, recovery, damage: { seq, message: `journal ${path}: record #${seq} is damaged (not a whole record); run \`pijig journal repair\`` } };
  }
  if (start === 0) return { lastSeq: complete.length, head, recovery, damage: { seq: 1, message: `journal ${path}: record #1 is damaged (not a whole record); run \`pijig journal repair\`` } };
  throw new JournalError('CORRUPT', `journal ${path}: no readable record in its last ${TAIL_BYTES} bytes`);
}
