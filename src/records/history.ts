import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { UnitRecord, UnitResult } from '../core/record.js';

/** What the index keeps of one journal line: enough to filter, and where to read the full record. */
export interface HistoryEntry {
  seq: number;
  /** Byte offset and length of the line in the journal. */
  offset: number;
  length: number;
  startedMs: number;
  result: UnitResult;
  serial?: string;
  uid?: string;
  label?: string;
}

export interface HistoryQuery {
  /** The last N matches (default: all). */
  last?: number;
  serial?: string;
  uid?: string;
  /** Any of serial, chip UID or scanned label (`pijig unit`). */
  board?: string;
  result?: UnitResult;
  /** Units started at or after this time (ms since the epoch). */
  sinceMs?: number;
}

/** The chip's unique ID when the record carries one (issue 9's identity step writes it). */
export function unitUid(r: UnitRecord): string | undefined {
  const x = r as UnitRecord & { chipUid?: unknown; chip_uid?: unknown; uid?: unknown };
  const v = x.chipUid ?? x.chip_uid ?? x.uid;
  return typeof v === 'string' && v ? v : undefined;
}

/**
 * An index of a journal (units.jsonl or engineering.jsonl) for `pijig history` and `pijig unit`:
 * every line's seq, offset, time, result, serial, chip UID and label, in memory, with maps by
 * serial, UID and label. Built by one streaming pass at open (about a second per 100k records on
 * a Pi 4, in chunks of 256 KiB, so the event loop keeps serving ABORT), then kept current by reading only
 * the bytes appended since (`refresh()`). Queries read the full records at their offsets.
 *
 * It indexes the file, not the Journal object: it works on a stopped station's data directory as
 * well, and whatever a line holds beyond the fields above is read back as written.
 */
export class HistoryIndex {
  private readonly entries: HistoryEntry[] = [];
  private readonly bySerial = new Map<string, number[]>();
  private readonly byUid = new Map<string, number[]>();
  private readonly byLabel = new Map<string, number[]>();
  /** Bytes of the file indexed so far (always at a line start). */
  private end = 0;
  private refreshing: Promise<void> | undefined;

  private constructor(readonly path: string) {}

  /** Index the journal at `path` (a missing file is an empty journal). */
  static async open(path: string): Promise<HistoryIndex> {
    const index = new HistoryIndex(path);
    await index.refresh();
    return index;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Index what was appended since the last refresh. Calls overlap safely. */
  refresh(): Promise<void> {
    this.refreshing ??= this.readNew().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Matching entries, oldest first (the last `last` of them). */
  query(q: HistoryQuery): HistoryEntry[] {
    let candidates: number[] | undefined;
    const narrow = (list: number[] | undefined) => {
      const next = list ?? [];
      candidates = candidates ? candidates.filter((i) => next.includes(i)) : next;
    };
    if (q.serial !== undefined) narrow(this.bySerial.get(q.serial));
    if (q.uid !== undefined) narrow(this.byUid.get(q.uid));
    if (q.board !== undefined) narrow([...new Set([...(this.bySerial.get(q.board) ?? []), ...(this.byUid.get(q.board) ?? []), ...(this.byLabel.get(q.board) ?? [])])].sort((a, b) => a - b));
    const keep = (e: HistoryEntry) => (q.result === undefined || e.result === q.result) && (q.sinceMs === undefined || e.startedMs >= q.sinceMs);
    const out: HistoryEntry[] = [];
    const want = q.last ?? Infinity;
    // Newest first, so `-n 5` over 100k units stops after five.
    if (candidates) {
      for (let k = candidates.length - 1; k >= 0 && out.length < want; k--) {
        const e = this.entries[candidates[k]!]!;
        if (keep(e)) out.push(e);
      }
    } else {
      for (let i = this.entries.length - 1; i >= 0 && out.length < want; i--) {
        const e = this.entries[i]!;
        if (keep(e)) out.push(e);
      }
    }
    return out.reverse();
  }

  /** The full records of these entries, read at their offsets. */
  async records(entries: readonly HistoryEntry[]): Promise<UnitRecord[]> {
    if (!entries.length) return [];
    const fh = await open(this.path, 'r');
    try {
      const out: UnitRecord[] = [];
      for (const e of entries) {
        const buf = Buffer.alloc(e.length);
        await fh.read(buf, 0, e.length, e.offset);
        out.push(JSON.parse(buf.toString('utf8')) as UnitRecord);
      }
      return out;
    } finally {
      await fh.close();
    }
  }

  private async readNew(): Promise<void> {
    const size = await stat(this.path).then((s) => s.size, () => 0);
    if (size < this.end) {
      // The file shrank (a torn line cut at open, or another file): index it again.
      this.entries.length = 0;
      this.bySerial.clear();
      this.byUid.clear();
      this.byLabel.clear();
      this.end = 0;
    }
    if (size === this.end) return;
    let offset = this.end;
    let carry: Buffer | undefined;
    const stream = createReadStream(this.path, { start: this.end, end: size - 1, highWaterMark: 256 * 1024 }); // ~1000 lines a chunk: a few ms of parsing between turns of the event loop
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      let start = 0;
      for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
        this.add(buf, start, nl, offset + start);
        start = nl + 1;
      }
      offset += start;
      carry = start < buf.length ? Buffer.from(buf.subarray(start)) : undefined;
    }
    this.end = offset; // a line without its newline yet is read again next time
  }

  private add(buf: Buffer, from: number, to: number, fileOffset: number): void {
    if (to <= from) return;
    let r: UnitRecord;
    try {
      r = JSON.parse(buf.toString('utf8', from, to)) as UnitRecord;
    } catch {
      return; // a damaged line: the journal's own checks report it
    }
    if (!Number.isInteger(r?.seq)) return;
    const i = this.entries.length;
    const uid = unitUid(r);
    const e: HistoryEntry = { seq: r.seq, offset: fileOffset, length: to - from, startedMs: Date.parse(r.startedAt), result: r.result };
    if (r.serial) {
      e.serial = r.serial;
      push(this.bySerial, r.serial, i);
    }
    if (uid) {
      e.uid = uid;
      push(this.byUid, uid, i);
    }
    if (r.label) {
      e.label = r.label;
      push(this.byLabel, r.label, i);
    }
    this.entries.push(e);
  }
}

function push(map: Map<string, number[]>, key: string, i: number): void {
  const list = map.get(key);
  if (list) list.push(i);
  else map.set(key, [i]);
}
