import { open, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { PijigError } from '../core/errors.js';
import type { UnitResult } from '../core/record.js';
import type { UnitIdentity } from '../core/identity.js';
import {
  BlockError,
  checkOverlap,
  checkRange,
  describeRange,
  lastOf,
  macText,
  macValue,
  rangeFromJson,
  rangeToJson,
  sameBlock,
  serialNumberIn,
  valueText,
  type IdRange,
  type IdentityBlock,
  type RangeJson,
} from '../core/blocks.js';
import { GENESIS, lineHash } from './chain.js';

export type LedgerErrorCode = 'OPEN_FAILED' | 'WRITE_FAILED' | 'DAMAGED' | 'EXHAUSTED' | 'CLOSED' | 'NOT_READY';

export class LedgerError extends PijigError<LedgerErrorCode> {}

/** How a ledger began: first start, rebuilt from the journal, or an engineer's reset after both were lost. */
export type LedgerOrigin = 'new' | 'rebuilt' | 'reset';

/** The image and plan a cycle ran, so that a cycle cut short can still be recorded at the next start. */
export interface CycleHeader {
  cycle: string;
  startedAt: string;
  plan: { name: string; product: string; measurements?: string[] };
  image?: { bundleId: string; version: string; imageHash: string; regions: Record<string, string> };
  order?: string;
  /** An engineering run (`pijig run-step`): no unit, its record in the engineering journal; it ends with an `end` entry. */
  engineering?: boolean;
}

/**
 * One line of the ledger. Every line has `n` (1, 2, ...), `prev` (the hash chain, as the journal)
 * and `at`. Serial numbers and MACs are text; ranges carry their numbers as decimal strings.
 */
export type LedgerEntry =
  | { t: 'open'; station: string; origin: LedgerOrigin; reason?: string; by?: string; journal?: { records: number; head: string } }
  | { t: 'block'; range: RangeJson; source: string }
  | ({ t: 'cycle' } & CycleHeader)
  | { t: 'admit'; cycle: string; uid?: string; attempt: number; locked: boolean }
  | { t: 'flash'; cycle: string; image: string; order: string; uid?: string }
  | { t: 'reserve'; cycle: string; serial: string; mac: string; uid?: string; recovered?: boolean }
  | { t: 'reuse'; cycle: string; serial: string; mac: string; uid: string }
  | {
      t: 'commit';
      cycle: string;
      seq: number;
      result: UnitResult;
      reason?: string;
      serial?: string;
      mac?: string;
      uid?: string;
      image?: string;
      order?: string;
      flashes: number;
      attempt?: number;
      /** The cycle's reservation that no board carries (no UID to bind it, identity never verified on the chip). */
      wasted?: { serial: string; mac: string; why: string };
    }
  /** A cycle that is no unit (an engineering run, or one cut short) ends here: its number bound to the chip, or wasted. */
  | { t: 'end'; cycle: string; result: UnitResult; serial?: string; mac?: string; uid?: string; flashes: number; wasted?: { serial: string; mac: string; why: string } }
  | { t: 'note'; what: string; details?: Record<string, unknown> };

export type StoredEntry = LedgerEntry & { n: number; prev: string; at: string };

export type Counts = Record<UnitResult, number>;

export const zeroCounts = (): Counts => ({ PASS: 0, FAIL: 0, ERROR: 0, ABORTED: 0 });

/** A serial number this station issued. */
export interface Issue {
  serial: string;
  mac: string;
  cycle: string;
  uid?: string;
  state: 'reserved' | 'committed' | 'wasted';
}

/** What the ledger knows of one chip (by UID). */
export interface Board {
  uid: string;
  identity?: UnitIdentity;
  attempts: number;
  passed: boolean;
  lastResult?: UnitResult;
}

/** A cycle with ledger entries but no commit yet (running, or cut short by a crash). */
export interface OpenCycle {
  header?: CycleHeader;
  uid?: string;
  attempt?: number;
  flashes: number;
  reserved?: { serial: string; mac: string };
  identity?: UnitIdentity;
  lastAt: string;
}

export interface OrderTally {
  flashes: number;
  /** Distinct boards flashed (by UID; a board without a readable UID counts once per cycle). */
  boards: Set<string>;
}

export interface CommitSummary {
  cycle: string;
  result: UnitResult;
  serial?: string;
  mac?: string;
  uid?: string;
}

/**
 * The ledger: `<data dir>/ledger.jsonl`, the one source of truth for identities and flashes.
 * Append-only JSON lines, each fsync'd before append() resolves, hash-chained like the journal; a
 * torn last line (power cut) is cut off at open and kept beside it. The state (numbers issued,
 * boards, flashes per image and order, counters) is replayed from the lines at open.
 *
 * A serial number or MAC is reserved here before it is written to a DUT, and never issued again:
 * allocation in a block continues after the highest number ever issued in it, whatever range it
 * was issued from.
 */
export class Ledger {
  readonly ranges: { range: IdRange; source: string }[] = [];
  readonly serials = new Map<string, Issue>();
  /** MAC text -> serial it was issued with. */
  readonly macs = new Map<string, string>();
  readonly boards = new Map<string, Board>();
  readonly cycles = new Map<string, OpenCycle>();
  readonly byImage = new Map<string, OrderTally & { counts: Counts }>();
  readonly byOrder = new Map<string, OrderTally>();
  /** Committed units by journal seq. */
  readonly commits = new Map<number, CommitSummary>();
  /** Flashes counted per cycle. */
  readonly cycleFlashes = new Map<string, number>();
  readonly counts: Counts = zeroCounts();
  flashes = 0;
  wasted = 0;
  lastCommittedSeq = 0;
  origin: LedgerOrigin | undefined;
  /** The station the ledger belongs to (its first line). */
  station: string | undefined;
  /** Why appends are refused (a failed write, a damaged line); undefined while the ledger works. */
  broken: string | undefined;
  private entries = 0;
  private head = GENESIS;
  private queue: Promise<unknown> = Promise.resolve();
  /** Highest issued number per block (by its form and first number), kept current as numbers are issued. */
  private readonly highest = new Map<string, bigint>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle | undefined,
    private readonly now: () => Date,
  ) {}

  /** Open and replay an existing ledger (a torn last line is cut off and kept beside it, unless read-only). */
  static async open(path: string, opts: { readOnly?: boolean; now?: () => Date } = {}): Promise<Ledger> {
    let fh: FileHandle;
    try {
      fh = await open(path, opts.readOnly ? 'r' : 'a+');
    } catch (err) {
      throw new LedgerError('OPEN_FAILED', `cannot open the ledger ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      if (!opts.readOnly) await cutTornTail(path, fh);
      if (opts.readOnly) await fh.close();
      const ledger = new Ledger(path, opts.readOnly ? undefined : fh, opts.now ?? (() => new Date()));
      await ledger.replay();
      return ledger;
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  /** Make a new ledger (the file must not exist) whose first line says how it began. */
  static async create(path: string, opening: Extract<LedgerEntry, { t: 'open' }>, opts: { now?: () => Date; then?: LedgerEntry[] } = {}): Promise<Ledger> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'ax+', 0o644);
    } catch (err) {
      throw new LedgerError('OPEN_FAILED', `cannot create the ledger ${path}: ${(err as Error).message}`, { cause: err });
    }
    const ledger = new Ledger(path, fh, opts.now ?? (() => new Date()));
    await ledger.append([opening, ...(opts.then ?? [])]);
    return ledger;
  }

  /**
   * Append entries as one write and one fsync, applying them to the state once durable. A failed
   * write breaks the ledger for good (until reopened): nothing more is flashed or numbered.
   */
  append(entries: readonly LedgerEntry[]): Promise<StoredEntry[]> {
    const run = async (): Promise<StoredEntry[]> => {
      if (this.closed || !this.fh) throw new LedgerError('CLOSED', `the ledger ${this.path} is ${this.closed ? 'closed' : 'open read-only'}`);
      if (this.broken) throw new LedgerError('NOT_READY', `the ledger ${this.path} cannot be written: ${this.broken}`);
      const at = this.now().toISOString();
      let head = this.head;
      let n = this.entries;
      const stored: StoredEntry[] = [];
      const lines: string[] = [];
      for (const e of entries) {
        const s = { n: ++n, prev: head, at, ...e } as StoredEntry;
        const line = JSON.stringify(s);
        head = lineHash(line);
        stored.push(s);
        lines.push(line);
      }
      try {
        await this.fh.appendFile(`${lines.join('\n')}\n`, 'utf8');
        await this.fh.datasync();
      } catch (err) {
        this.broken = `write failed (${(err as Error).message})`;
        throw new LedgerError('WRITE_FAILED', `cannot write the ledger ${this.path}: ${(err as Error).message}`, { cause: err });
      }
      this.head = head;
      this.entries = n;
      for (const s of stored) this.apply(s);
      return stored;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Still the file on disk (not deleted or replaced under the station), and writable. */
  async check(): Promise<string | undefined> {
    if (this.broken) return this.broken;
    if (!this.fh) return 'open read-only';
    try {
      const [onDisk, open_] = await Promise.all([stat(this.path), this.fh.stat()]);
      if (onDisk.ino !== open_.ino || onDisk.dev !== open_.dev) return `${this.path} was replaced or removed while the station ran`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${this.path} was replaced or removed while the station ran`;
      return `${this.path}: ${(err as Error).message}`;
    }
    return undefined;
  }

  // --- blocks ------------------------------------------------------------------------------

  /** Refuse a range that overlaps one this station has used, unless it is the same block (extended). */
  checkBlock(range: IdRange, source: string): void {
    checkRange(range, source);
    checkOverlap(range, this.ranges, source);
  }

  /**
   * The entries that record a block as used, when it is new or extended (none when it is recorded
   * already); throws BlockError for a block that overlaps ranges used. A block is recorded with
   * the first number issued from it: a block nothing was numbered from is not "used".
   */
  blockEntries(block: IdentityBlock, source: string): LedgerEntry[] {
    const entries: LedgerEntry[] = [];
    for (const range of [block.serial, block.mac]) {
      this.checkBlock(range, source);
      const same = this.ranges.filter((u) => sameBlock(u.range, range));
      if (!same.some((u) => u.range.count === range.count)) entries.push({ t: 'block', range: rangeToJson(range), source });
    }
    return entries;
  }

  /** Check and, when new or extended, record the block as used now. */
  async useBlock(block: IdentityBlock, source: string): Promise<void> {
    const entries = this.blockEntries(block, source);
    if (entries.length) await this.append(entries);
  }

  /** The next free serial number and MAC of a block (not reserved: a `reserve` entry does that). */
  nextIdentity(block: IdentityBlock): UnitIdentity {
    const serial = this.nextIn(block.serial);
    const mac = this.nextIn(block.mac);
    if (serial === undefined || mac === undefined) {
      const used = serial === undefined ? block.serial : block.mac;
      throw new LedgerError('EXHAUSTED', `${describeRange(used)}: every number is issued; extend the block or bring a new one`);
    }
    return { serial: valueText(block.serial, serial), mac: valueText(block.mac, mac) };
  }

  private nextIn(range: IdRange): bigint | undefined {
    const key = blockKey(range);
    let high = this.highest.get(key);
    if (high === undefined) {
      high = range.first - 1n;
      if (range.kind === 'serial') {
        for (const s of this.serials.keys()) {
          const v = serialNumberIn(range, s);
          if (v !== undefined && v >= range.first && v > high) high = v;
        }
      } else {
        for (const m of this.macs.keys()) {
          const v = macValue(m);
          if (v >= range.first && v <= lastOf(range) && v > high) high = v;
        }
      }
      this.highest.set(key, high);
    }
    let next = high + 1n;
    // Paranoia: a number issued from an overlapping range further up is skipped too.
    while (next <= lastOf(range) && (range.kind === 'serial' ? this.serials.has(valueText(range, next)) : this.macs.has(macText(next)))) next++;
    return next <= lastOf(range) ? next : undefined;
  }

  private noteIssued(serial: string, mac: string): void {
    for (const u of this.ranges) {
      const r = u.range;
      const key = blockKey(r);
      const high = this.highest.get(key);
      if (high === undefined) continue;
      const v = r.kind === 'serial' ? serialNumberIn(r, serial) : macValue(mac);
      if (v !== undefined && v > high && v >= r.first) this.highest.set(key, v);
    }
  }

  // --- replay ------------------------------------------------------------------------------

  private async replay(): Promise<void> {
    const lines = createInterface({ input: createReadStream(this.path, { encoding: 'utf8' }), crlfDelay: Infinity });
    let head = GENESIS;
    let n = 0;
    for await (const line of lines) {
      let entry: StoredEntry | undefined;
      try {
        entry = JSON.parse(line) as StoredEntry;
      } catch {
        entry = undefined;
      }
      if (!entry || entry.n !== n + 1 || entry.prev !== head || typeof entry.t !== 'string') {
        this.broken = `line ${n + 1} is damaged (${!entry ? 'not JSON' : entry.n !== n + 1 ? `holds entry ${String(entry.n)}` : entry.prev !== head ? 'the hash chain breaks' : 'no type'})`;
        throw new LedgerError('DAMAGED', `the ledger ${this.path}: ${this.broken}; move it aside and the station rebuilds it from the journal (see docs/ledger.md)`, { details: { line: n + 1 } });
      }
      n++;
      head = lineHash(line);
      this.apply(entry);
    }
    this.entries = n;
    this.head = head;
  }

  /** Apply one durable entry to the state. */
  private apply(e: StoredEntry): void {
    switch (e.t) {
      case 'open':
        this.origin ??= e.origin;
        this.station ??= e.station;
        return;
      case 'block': {
        const range = rangeFromJson(e.range);
        const i = this.ranges.findIndex((u) => sameBlock(u.range, range));
        if (i >= 0) this.ranges[i] = { range, source: e.source };
        else this.ranges.push({ range, source: e.source });
        return;
      }
      case 'cycle': {
        const c = this.cycle(e.cycle, e.at);
        const { t: _t, n: _n, prev: _p, at: _a, ...header } = e;
        c.header = header;
        return;
      }
      case 'admit': {
        const c = this.cycle(e.cycle, e.at);
        if (e.uid) c.uid = e.uid;
        c.attempt = e.attempt;
        if (e.uid) this.board(e.uid).attempts = Math.max(this.board(e.uid).attempts, e.attempt);
        return;
      }
      case 'flash': {
        const c = this.cycle(e.cycle, e.at);
        c.flashes++;
        this.flashes++;
        this.cycleFlashes.set(e.cycle, (this.cycleFlashes.get(e.cycle) ?? 0) + 1);
        const board = e.uid ? `uid:${e.uid}` : `cycle:${e.cycle}`;
        const img = this.imageTally(e.image);
        img.flashes++;
        img.boards.add(board);
        const ord = this.orderTally(e.order);
        ord.flashes++;
        ord.boards.add(board);
        return;
      }
      case 'reserve': {
        const c = this.cycle(e.cycle, e.at);
        c.reserved = { serial: e.serial, mac: e.mac };
        c.identity = { serial: e.serial, mac: e.mac };
        this.serials.set(e.serial, { serial: e.serial, mac: e.mac, cycle: e.cycle, ...(e.uid ? { uid: e.uid } : {}), state: 'reserved' });
        this.macs.set(e.mac, e.serial);
        this.noteIssued(e.serial, e.mac);
        if (e.uid) this.board(e.uid).identity = { serial: e.serial, mac: e.mac };
        return;
      }
      case 'reuse': {
        const c = this.cycle(e.cycle, e.at);
        c.identity = { serial: e.serial, mac: e.mac };
        return;
      }
      case 'commit': {
        this.cycles.delete(e.cycle);
        this.commits.set(e.seq, { cycle: e.cycle, result: e.result, ...(e.serial ? { serial: e.serial } : {}), ...(e.mac ? { mac: e.mac } : {}), ...(e.uid ? { uid: e.uid } : {}) });
        this.lastCommittedSeq = Math.max(this.lastCommittedSeq, e.seq);
        this.counts[e.result]++;
        if (e.image) this.imageTally(e.image).counts[e.result]++;
        if (e.serial) {
          const issue = this.serials.get(e.serial);
          if (issue && issue.state === 'reserved') issue.state = 'committed';
        }
        if (e.wasted) {
          const issue = this.serials.get(e.wasted.serial);
          if (issue) issue.state = 'wasted';
          this.wasted++;
        }
        if (e.uid) {
          const b = this.board(e.uid);
          b.lastResult = e.result;
          if (e.result === 'PASS') b.passed = true;
          if (e.serial && e.mac && !b.identity) b.identity = { serial: e.serial, mac: e.mac };
          if (e.attempt) b.attempts = Math.max(b.attempts, e.attempt);
        }
        return;
      }
      case 'end': {
        this.cycles.delete(e.cycle);
        if (e.serial) {
          const issue = this.serials.get(e.serial);
          if (issue && issue.state === 'reserved') issue.state = 'committed';
        }
        if (e.wasted) {
          const issue = this.serials.get(e.wasted.serial);
          if (issue) issue.state = 'wasted';
          this.wasted++;
        }
        if (e.uid && e.serial && e.mac && !this.board(e.uid).identity) this.board(e.uid).identity = { serial: e.serial, mac: e.mac };
        return;
      }
      case 'note':
        return;
    }
  }

  private cycle(id: string, at: string): OpenCycle {
    let c = this.cycles.get(id);
    if (!c) this.cycles.set(id, (c = { flashes: 0, lastAt: at }));
    c.lastAt = at;
    return c;
  }

  board(uid: string): Board {
    let b = this.boards.get(uid);
    if (!b) this.boards.set(uid, (b = { uid, attempts: 0, passed: false }));
    return b;
  }

  imageTally(hash: string): OrderTally & { counts: Counts } {
    let t = this.byImage.get(hash);
    if (!t) this.byImage.set(hash, (t = { flashes: 0, boards: new Set(), counts: zeroCounts() }));
    return t;
  }

  orderTally(order: string): OrderTally {
    let t = this.byOrder.get(order);
    if (!t) this.byOrder.set(order, (t = { flashes: 0, boards: new Set() }));
    return t;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.fh?.close();
  }
}

/** Ranges of one block (same form and first number) share a key: an extended block continues. */
function blockKey(r: IdRange): string {
  return r.kind === 'serial' ? `serial|${r.prefix}|${r.digits}|${r.first}` : `mac|${r.first}`;
}

/** The order a flash counts against: the bundle's order id, else the image itself. */
export function orderKey(order: string | undefined, imageHash: string): string {
  return order ?? `image:${imageHash}`;
}

async function cutTornTail(path: string, fh: FileHandle): Promise<void> {
  const { size } = await fh.stat();
  if (size === 0) return;
  const window = Math.min(size, 64 * 1024);
  const tail = Buffer.alloc(window);
  await fh.read(tail, 0, window, size - window);
  const lastNewline = tail.lastIndexOf(0x0a);
  if (lastNewline === window - 1) return;
  if (lastNewline < 0 && window < size) throw new LedgerError('DAMAGED', `the ledger ${path}: no line end in its last ${window} bytes`);
  const cut = size - window + lastNewline + 1;
  await writeFile(`${path}.torn-${Date.now()}`, tail.subarray(lastNewline + 1));
  await fh.truncate(cut);
  await fh.datasync();
}

export { BlockError };
