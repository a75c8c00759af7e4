import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';

/**
 * A hash chain over JSON lines: every line carries `prev`, the sha256 (hex) of the line before it
 * as written (its bytes without the line feed); the first line's `prev` is GENESIS. Editing,
 * inserting, deleting or reordering a line breaks the chain at the next line, and a signed
 * checkpoint (the hash of line N) covers the lines up to N, the last one included.
 */
export const GENESIS = '0'.repeat(64);

export function lineHash(line: string | Uint8Array): string {
  return createHash('sha256').update(line).digest('hex');
}

export type ChainFindingKind = 'damaged' | 'edited' | 'deleted' | 'inserted' | 'reordered' | 'rewritten';

/** The first thing wrong with a chained file, naming the record. */
export interface ChainFinding {
  kind: ChainFindingKind;
  /** The record (seq) concerned. */
  seq: number;
  /** 1-based line of the file where it shows. */
  line: number;
  message: string;
}

export interface ChainSummary {
  /** Lines (records) read. */
  lines: number;
  /** Highest sequence number read. */
  lastSeq: number;
  /** Hash of the last line (GENESIS for an empty file). */
  head: string;
  /** Hash of the line holding each seq asked for in `hashesOf`. */
  hashes: Map<number, string>;
  /** Records written by a repair in place of damaged lines. */
  repairs: { seq: number; line: number; found: string; at: string }[];
  /** Records at the start of the file written before the chain existed (no `prev`): accepted as they are. */
  unchained: number;
  /** The first finding; undefined when the chain is whole. */
  finding?: ChainFinding;
  /** A line that does not end with a line feed (a torn write), if the file has one. */
  tornTail: boolean;
}

export interface ChainOptions {
  /** The sequence field: "seq" for the journal, "n" for the ledger. */
  seqField: string;
  /** What the file is called in messages ("record", "ledger entry"). */
  noun?: string;
  /** Collect the hashes of these seqs (a checkpoint's head). */
  hashesOf?: readonly number[];
  /** Called with each parsed line, in order (only while the chain is whole). */
  onLine?: (value: Record<string, unknown>, line: string, seq: number) => void;
}

/**
 * Verify the chain of a JSONL file: consecutive sequence numbers from 1 and every `prev` the hash
 * of the line before (or, after a repair record, the hash it `replaces`). Reports the first
 * record that was edited, inserted, deleted or reordered, or a line that is not JSON (damaged).
 */
export async function verifyChainFile(path: string, options: ChainOptions): Promise<ChainSummary> {
  const summary: ChainSummary = { lines: 0, lastSeq: 0, head: GENESIS, hashes: new Map(), repairs: [], unchained: 0, tornTail: false };
  let chained = false;
  const noun = options.noun ?? 'record';
  const wanted = new Set(options.hashesOf ?? []);
  let expected = 1;
  let prevHash = GENESIS;
  let prevReplaces: string | undefined;
  let finding: ChainFinding | undefined;
  // Lines are streamed; telling a deletion from a move needs where each seq first appears.
  const later = new Map<number, number>();
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let index = 0;
  for await (const line of lines) {
    index++;
    if (line === '') {
      finding ??= { kind: 'inserted', seq: expected, line: index, message: `line ${index}: an empty line was inserted before ${noun} #${expected}` };
      continue;
    }
    const hash = lineHash(line);
    let value: Record<string, unknown> | undefined;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) value = v as Record<string, unknown>;
    } catch {
      value = undefined;
    }
    const seq = value && Number.isSafeInteger(value[options.seqField]) ? (value[options.seqField] as number) : undefined;
    const prev = value && typeof value['prev'] === 'string' ? value['prev'] : undefined;
    const repair = value?.['repair'] as { replaces?: unknown; found?: unknown; at?: unknown } | undefined;
    summary.lines = index;
    summary.head = hash;
    if (seq !== undefined) summary.lastSeq = Math.max(summary.lastSeq, seq);
    if (seq !== undefined && wanted.has(seq) && !summary.hashes.has(seq)) summary.hashes.set(seq, hash);
    if (seq !== undefined && !later.has(seq)) later.set(seq, index);
    if (finding) continue;
    if (seq === undefined) {
      finding = { kind: 'damaged', seq: expected, line: index, message: `line ${index}: ${noun} #${expected} is damaged (${value ? `no ${options.seqField}` : 'not JSON'})` };
      continue;
    }
    if (seq === expected && prev === undefined && !chained && value && !('prev' in value)) {
      // A journal older than the chain: its first records carry no link. The chain starts after them.
      summary.unchained++;
      options.onLine?.(value, line, seq);
      prevHash = hash;
      expected++;
      continue;
    }
    if (seq === expected) {
      chained = true;
      if (prev !== prevHash && !(prevReplaces !== undefined && prev === prevReplaces)) {
        finding =
          expected === 1
            ? { kind: 'edited', seq: 1, line: index, message: `line ${index}: ${noun} #1 was edited (its prev is not the chain's start)` }
            : { kind: 'edited', seq: expected - 1, line: index - 1, message: `line ${index - 1}: ${noun} #${expected - 1} was edited (${noun} #${expected} chained another line)` };
        continue;
      }
      if (repair && value) summary.repairs.push({ seq, line: index, found: String(repair.found ?? 'damaged'), at: String(repair.at ?? '') });
      options.onLine?.(value!, line, seq);
      prevHash = hash;
      prevReplaces = typeof repair?.replaces === 'string' ? repair.replaces : undefined;
      expected++;
      continue;
    }
    if (seq < expected) {
      const again = (later.get(seq) ?? index) < index;
      finding = again
        ? { kind: 'inserted', seq, line: index, message: `line ${index}: a second ${noun} #${seq} was inserted after #${expected - 1}` }
        : { kind: 'reordered', seq, line: index, message: `line ${index}: ${noun} #${seq} is out of order (after #${expected - 1})` };
      continue;
    }
    // seq > expected: deleted, or moved later (reordered); the rest of the file says which.
    finding = { kind: 'deleted', seq: expected, line: index, message: '' };
    (finding as ChainFinding & { jumpTo: number }).jumpTo = seq;
  }
  if (finding?.kind === 'deleted') {
    const jumpTo = (finding as ChainFinding & { jumpTo: number }).jumpTo;
    const movedTo = later.get(finding.seq);
    finding =
      movedTo !== undefined && movedTo > finding.line
        ? { kind: 'reordered', seq: finding.seq, line: finding.line, message: `line ${finding.line}: ${noun} #${finding.seq} is out of order (found at line ${movedTo}, after #${jumpTo})` }
        : {
            kind: 'deleted',
            seq: finding.seq,
            line: finding.line,
            message: `line ${finding.line}: ${jumpTo - 1 > finding.seq ? `${noun}s #${finding.seq}..#${jumpTo - 1} were` : `${noun} #${finding.seq} was`} deleted (#${jumpTo} follows #${finding.seq - 1})`,
          };
  }
  if (finding) summary.finding = finding;
  summary.tornTail = await endsWithoutNewline(path);
  return summary;
}

async function endsWithoutNewline(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return false;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 1);
    return b[0] !== 0x0a;
  } finally {
    await fh.close();
  }
}
