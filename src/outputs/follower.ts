import type { UnitRecord } from '../core/record.js';
import type { JournalSource } from '../records/journal.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { FileCursor } from './cursor.js';
import type { Position, RecordOutput } from './output.js';
import { sleep } from '../util/sleep.js';

export interface FollowerOptions {
  journal: JournalSource;
  /** Holds the cursors of outputs without their own (`<dataDir>/outputs/`). Needed only for those. */
  dataDir?: string;
  log?: (message: string) => void;
  /** Retry delays: initial, doubled per failure up to max (ms). Default 1 s .. 60 s. */
  backoff?: { initialMs: number; maxMs: number };
}

export interface OutputStatus {
  name: string;
  /** The last record the output holds. */
  position: number;
  /** Records in the journal it does not hold yet. */
  pending: number;
  /** Deliveries that failed in a row. */
  failures: number;
  lastError?: string;
  /** When the next attempt is due, while failing. */
  retryAt?: string;
}

export interface DrainResult {
  /** Records written by this drain. */
  delivered: number;
  position: Position;
}

export type FollowerEvents = {
  delivered: [name: string, position: Position, count: number];
  progress: [name: string, progress: { done: number; total: number }];
  failed: [name: string, error: Error, retryInMs: number | undefined];
  'listener-error': [event: string, error: unknown];
};

interface Follow {
  output: RecordOutput;
  cursor: FileCursor | undefined;
  status: OutputStatus;
  wake: () => void;
  /** The output says its destination is back; and the unsubscribe from the output's onReady. */
  ready: () => void;
  offReady: (() => void) | undefined;
  stopped: boolean;
  done: Promise<void>;
}

/**
 * Follows the journal and delivers every record to every output, in order, with a durable cursor
 * per output. Each output runs alone: one that fails is retried with backoff (its records wait in
 * the journal, not in memory) and never delays another output or the station's cycle - the
 * station only appends to the journal, the follower reads it.
 */
export class JournalFollower extends TypedEmitter<FollowerEvents> {
  private readonly follows = new Map<string, Follow>();
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly log: (message: string) => void;
  private offAppend: (() => void) | undefined;

  constructor(private readonly options: FollowerOptions) {
    super();
    this.backoff = options.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    this.log = options.log ?? (() => {});
  }

  get journal(): JournalSource {
    return this.options.journal;
  }

  /** Deliver to `output` from now on, as records are appended; returns a function that stops it. */
  add(output: RecordOutput): () => Promise<void> {
    if (this.follows.has(output.name)) throw new Error(`output "${output.name}" is already followed`);
    this.offAppend ??= this.options.journal.onAppend?.(() => {
      for (const f of this.follows.values()) f.wake();
    });
    const follow: Follow = {
      output,
      cursor: this.cursorFor(output),
      status: { name: output.name, position: 0, pending: 0, failures: 0 },
      wake: () => {},
      ready: () => {},
      offReady: undefined,
      stopped: false,
      done: Promise.resolve(),
    };
    this.follows.set(output.name, follow);
    follow.offReady = output.onReady?.(() => follow.ready());
    follow.done = this.loop(follow);
    return async () => {
      follow.stopped = true;
      follow.wake();
      await follow.done;
      this.follows.delete(output.name);
    };
  }

  /**
   * One-shot: deliver to `output` everything the journal holds now (a stick being synced). A
   * failure is retried up to `attempts` times with backoff while `stillThere()` says the
   * destination is present; the last error is thrown.
   */
  async drain(output: RecordOutput, opts: { attempts?: number; stillThere?: () => Promise<boolean> } = {}): Promise<DrainResult> {
    const attempts = opts.attempts ?? 1;
    const cursor = this.cursorFor(output);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.deliver(output, cursor, (done, total) => this.emit('progress', output.name, { done, total }));
      } catch (err) {
        const error = err as Error;
        const last = attempt >= attempts || (opts.stillThere && !(await opts.stillThere()));
        const retryIn = last ? undefined : this.delay(attempt);
        this.emit('failed', output.name, error, retryIn);
        if (retryIn === undefined) throw error;
        this.log(`output ${output.name}: ${error.message}; retry ${attempt + 1} of ${attempts} in ${retryIn} ms`);
        await sleep(retryIn);
      }
    }
  }

  /** Where each followed output stands. */
  status(): OutputStatus[] {
    return [...this.follows.values()].map((f) => ({ ...f.status, pending: Math.max(0, this.options.journal.count - f.status.position) }));
  }

  /** Stop every output (each finishes the write it is in). */
  async stop(): Promise<void> {
    this.offAppend?.();
    this.offAppend = undefined;
    for (const f of this.follows.values()) {
      f.stopped = true;
      f.wake();
    }
    await Promise.all([...this.follows.values()].map((f) => f.done));
    this.follows.clear();
  }

  private cursorFor(output: RecordOutput): FileCursor | undefined {
    if (output.position) return undefined;
    if (!this.options.dataDir) throw new Error(`output "${output.name}" keeps no cursor of its own, and the follower has no data directory for one`);
    return new FileCursor(this.options.dataDir, output.name);
  }

  private async loop(f: Follow): Promise<void> {
    let due = true; // something to deliver: at start, catch up
    let resume: (() => void) | undefined;
    const nudge = () => {
      due = true;
      resume?.();
    };
    const sleep = (ms?: number) =>
      new Promise<void>((resolve) => {
        const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
        resume = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    f.wake = nudge;
    let ready = false; // the destination said it is back during this attempt or its backoff
    f.ready = () => {
      ready = true;
      resume?.();
    };
    while (!f.stopped) {
      if (!due) {
        await sleep(); // until a record is appended, or stop
        continue;
      }
      due = false;
      ready = false;
      try {
        const result = await this.deliver(f.output, f.cursor, () => {});
        f.status.position = result.position.seq;
        if (f.status.failures) this.log(`output ${f.output.name}: delivering again after ${f.status.failures} failure(s)`);
        f.status.failures = 0;
        delete f.status.lastError;
        delete f.status.retryAt;
      } catch (err) {
        const error = err as Error;
        f.status.failures++;
        f.status.lastError = error.message;
        const retryIn = this.delay(f.status.failures);
        f.status.retryAt = new Date(Date.now() + retryIn).toISOString();
        this.emit('failed', f.output.name, error, retryIn);
        if (f.status.failures === 1) this.log(`output ${f.output.name}: ${error.message}; retrying with backoff, its records wait in the journal`);
        // New records do not cut the backoff short; stop does, and so does the output saying it is back.
        f.wake = () => {
          if (f.stopped) resume?.();
        };
        if (!ready) await sleep(retryIn);
        f.wake = nudge;
        due = true;
      }
    }
    f.offReady?.();
  }

  private delay(failures: number): number {
    return Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (failures - 1));
  }

  /** One round: from the output's position to the journal's end as it is now, in batches, the cursor after each. */
  private async deliver(output: RecordOutput, cursor: FileCursor | undefined, progress: (done: number, total: number) => void): Promise<DrainResult> {
    const journal = this.options.journal;
    const end = journal.count;
    let position = output.position ? await output.position() : await cursor!.load();
    let records = journal.read(Math.max(position.seq, 1))[Symbol.asyncIterator]();
    try {
      if (position.seq > 0) {
        // The position must name this journal's record; else the destination holds another journal's.
        const first = position.seq <= end ? await records.next() : undefined;
        if (!first || first.done || first.value.seq !== position.seq || (position.id !== undefined && first.value.id !== position.id)) {
          await records.return?.();
          this.log(`output ${output.name}: its position #${position.seq} is not in this journal; starting from the first record`);
          await output.restart?.();
          position = { seq: 0 };
          await cursor?.save(position);
          records = journal.read(1)[Symbol.asyncIterator]();
        }
      }
      const start = position.seq;
      const total = Math.max(0, end - start);
      const commitEvery = Math.max(1, output.commitEvery ?? 5000);
      const size = Math.max(1, Math.min(output.batchSize ?? 500, output.flush ? commitEvery : Infinity));
      let delivered = 0;
      let staged = 0;
      let stagedLast: UnitRecord | undefined;
      if (total > 0) progress(0, total);
      let batch: UnitRecord[] = [];
      let read = 0;
      const commit = async (last: UnitRecord, count: number) => {
        position = { seq: last.seq, id: last.id };
        await cursor?.save(position);
        delivered += count;
        this.emit('delivered', output.name, position, count);
        progress(delivered, total);
      };
      const write = async () => {
        if (!batch.length) return;
        const last = batch[batch.length - 1]!;
        await output.write(batch);
        const count = batch.length;
        batch = [];
        if (!output.flush) return commit(last, count);
        staged += count;
        stagedLast = last;
        if (staged >= commitEvery) await flush();
      };
      const flush = async () => {
        if (!output.flush || !stagedLast) return;
        await output.flush();
        const [last, count] = [stagedLast, staged];
        staged = 0;
        stagedLast = undefined;
        await commit(last, count);
      };
      while (start + read < end) {
        const next = await records.next();
        if (next.done || next.value.seq > end) break;
        batch.push(next.value);
        read++;
        if (batch.length >= size) await write();
      }
      await write();
      await flush();
      return { delivered, position };
    } finally {
      await records.return?.();
    }
  }
}
