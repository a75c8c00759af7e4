import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { UnitRecord } from '../core/record.js';
import { lastOf, macValue, serialNumberIn, valueText, type IdentityBlock } from '../core/blocks.js';
import { verifyChainFile } from './chain.js';
import { CHECKPOINT_FILE, checkpointProblem, parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { orderKey, zeroCounts } from './ledger.js';
import { fingerprintOfKey } from './station-key.js';
import { exists } from '../util/fs.js';

/** What the brand owner expects of the logs: from the bundle the units were made with. */
export interface AuditExpectations {
  bundleId: string;
  /** The order id of the bundle (flashes count per order; per image without one). */
  order: string | undefined;
  imageHash: string;
  quantity: number | undefined;
  /** Each station's identity block. */
  blocks: Record<string, IdentityBlock>;
}

export interface AuditOptions {
  /** Station public keys the checkpoints must be signed with (PEM or base64); any station key when none. */
  stationKeys?: readonly string[];
  expect?: AuditExpectations;
}

export interface StationAudit {
  station: string;
  dir: string;
  records: number;
  checkpoint?: { seq: number; fingerprint: string };
}

export interface OrderTally {
  order: string;
  boards: number;
  flashes: number;
  quantity?: number;
}

export interface AuditReport {
  stations: StationAudit[];
  findings: string[];
  notes: string[];
  units: number;
  boards: number;
  orders: OrderTally[];
}

/** The folders holding a station's logs (units.jsonl) under `root`: itself, its children, or pijig/logs/<station>/. */
export async function findStationLogs(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (await exists(join(dir, 'units.jsonl'))) {
      found.push(dir);
      return;
    }
    if (depth === 0) return;
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory() && !entry.isSymbolicLink()) await walk(join(dir, entry.name), depth - 1);
    }
  };
  await walk(root, 3);
  return found.sort();
}

/**
 * The brand owner's check of the logs of any number of stations: each station's hash chain and
 * its signed checkpoint (signature, head, counts, nothing after it), then across all of them no
 * serial number, MAC or chip UID on two boards, the boards flashed per order and image against
 * the order quantity, each station's numbers inside its own block. Every finding names the
 * station and the record.
 */
export async function auditLogs(dirs: readonly string[], opts: AuditOptions = {}): Promise<AuditReport> {
  const report: AuditReport = { stations: [], findings: [], notes: [], units: 0, boards: 0, orders: [] };
  const finding = (m: string) => report.findings.push(m);
  const pinned = (opts.stationKeys ?? []).map((k) => ({ text: k, fingerprint: fingerprintOfKey(k) }));
  const units: { station: string; r: UnitRecord }[] = [];

  for (const dir of dirs) {
    const station = basename(dir);
    const file = join(dir, 'units.jsonl');
    let checkpoint: Checkpoint | undefined;
    const cpFile = join(dir, CHECKPOINT_FILE);
    if (await exists(cpFile)) {
      try {
        checkpoint = parseCheckpoint(await readFile(cpFile, 'utf8'), cpFile);
      } catch (err) {
        finding(`${station}: ${(err as Error).message}`);
      }
    } else finding(`${station}: no signed checkpoint (${cpFile}): the logs cannot be tied to the station`);
    const tally = zeroCounts();
    const records: UnitRecord[] = [];
    const chain = await verifyChainFile(file, {
      seqField: 'seq',
      ...(checkpoint ? { hashesOf: [checkpoint.seq] } : {}),
      onLine: (value, _line, seq) => {
        const r = value as unknown as UnitRecord;
        records.push(r);
        if (checkpoint && seq <= checkpoint.seq) tally[r.result]++;
      },
    });
    if (chain.finding) finding(`${station}: ${chain.finding.message}`);
    if (chain.tornTail) finding(`${station}: ${file} ends in a torn line`);
    for (const r of chain.repairs) report.notes.push(`${station}: record #${r.seq} is a recorded repair (${r.found}, ${r.at})`);
    if (chain.unchained) report.notes.push(`${station}: records #1..#${chain.unchained} predate the hash chain`);
    const audit: StationAudit = { station, dir, records: records.length };
    if (checkpoint) {
      audit.checkpoint = { seq: checkpoint.seq, fingerprint: checkpoint.fingerprint };
      const key = pinned.find((k) => k.fingerprint === checkpoint!.fingerprint);
      const problem = checkpointProblem(checkpoint, pinned.length ? (key?.text ?? pinned[0]!.text) : undefined);
      if (problem) finding(`${station}: ${cpFile}: ${problem}`);
      if (checkpoint.station !== station) finding(`${station}: ${cpFile}: signed for station ${checkpoint.station}`);
      if (!chain.finding) {
        if (chain.lastSeq < checkpoint.seq) finding(`${station}: records #${chain.lastSeq + 1}..#${checkpoint.seq} were deleted (the station signed #${checkpoint.seq})`);
        else {
          const head = chain.hashes.get(checkpoint.seq) ?? (checkpoint.seq === 0 ? undefined : '');
          if (checkpoint.seq > 0 && head !== checkpoint.head) finding(`${station}: the records up to #${checkpoint.seq} are not the ones the station signed (the chain was rewritten)`);
          for (const k of Object.keys(tally) as (keyof typeof tally)[]) {
            if (tally[k] !== checkpoint.counts[k]) finding(`${station}: ${tally[k]} ${k} units up to #${checkpoint.seq}, the station signed ${checkpoint.counts[k]}`);
          }
          if (chain.lastSeq > checkpoint.seq) finding(`${station}: records #${checkpoint.seq + 1}..#${chain.lastSeq} are not covered by the signed checkpoint`);
        }
      }
    }
    report.stations.push(audit);
    for (const r of records) if (!r.repair) units.push({ station, r });
  }

  // Across every station: one board per number, one number per board.
  const serialBoards = new Map<string, Map<string, string>>();
  const macBoards = new Map<string, Map<string, string>>();
  const uidSerials = new Map<string, Map<string, string>>();
  const boards = new Set<string>();
  const orders = new Map<string, { boards: Set<string>; flashes: number }>();
  const note = (map: Map<string, Map<string, string>>, key: string, value: string, where: string) => {
    let m = map.get(key);
    if (!m) map.set(key, (m = new Map()));
    if (!m.has(value)) m.set(value, where);
  };
  for (const { station, r } of units) {
    const where = `${station} #${r.seq}`;
    const board = r.chipUid ? `chip ${r.chipUid}` : `the board of ${where}`;
    boards.add(board);
    if (r.serial) note(serialBoards, r.serial, board, where);
    if (r.mac) note(macBoards, r.mac, board, where);
    if (r.chipUid && r.serial) note(uidSerials, r.chipUid, r.serial, where);
    if (r.image && (r.flashes ?? 0) > 0) {
      const key = orderKey(r.order, r.image.imageHash);
      let o = orders.get(key);
      if (!o) orders.set(key, (o = { boards: new Set(), flashes: 0 }));
      o.boards.add(board);
      o.flashes += r.flashes ?? 0;
    }
    const e = opts.expect;
    if (e && r.image?.bundleId === e.bundleId) {
      const block = e.blocks[station];
      if (!block && (r.serial || r.mac)) finding(`${where}: ${r.serial ?? r.mac} was issued by station ${station}, which the bundle gives no block`);
      if (block && r.serial) {
        const n = serialNumberIn(block.serial, r.serial);
        if (n === undefined || n < block.serial.first || n > lastOf(block.serial)) finding(`${where}: serial ${r.serial} is outside station ${station}'s block (${valueText(block.serial, block.serial.first)}..${valueText(block.serial, lastOf(block.serial))})`);
      }
      if (block && r.mac) {
        const v = macValue(r.mac);
        if (v < block.mac.first || v > lastOf(block.mac)) finding(`${where}: MAC ${r.mac} is outside station ${station}'s block`);
      }
    }
  }
  const twice = (what: string, map: Map<string, Map<string, string>>) => {
    for (const [key, holders] of map) {
      if (holders.size > 1) finding(`${what} ${key} is on ${holders.size} boards: ${[...holders].map(([b, where]) => `${b} (${where})`).join(', ')}`);
    }
  };
  twice('serial', serialBoards);
  twice('MAC', macBoards);
  for (const [uid, serials] of uidSerials) {
    if (serials.size > 1) finding(`chip ${uid} carries ${serials.size} serials: ${[...serials].map(([s, where]) => `${s} (${where})`).join(', ')}`);
  }
  const e = opts.expect;
  const expectedOrder = e ? orderKey(e.order, e.imageHash) : undefined;
  for (const [order, o] of orders) {
    const tally: OrderTally = { order, boards: o.boards.size, flashes: o.flashes };
    if (order === expectedOrder && e?.quantity !== undefined) {
      tally.quantity = e.quantity;
      if (o.boards.size > e.quantity) finding(`order ${order}: ${o.boards.size} boards flashed, the order allows ${e.quantity}`);
    }
    report.orders.push(tally);
  }
  // Numbers of a station's block that no record shows (wasted, or their records lost): worth a look.
  if (e) {
    for (const [station, block] of Object.entries(e.blocks)) {
      const used = new Set<bigint>();
      for (const { station: s, r } of units) {
        const n = s === station && r.serial ? serialNumberIn(block.serial, r.serial) : undefined;
        if (n !== undefined) used.add(n);
      }
      if (used.size === 0) continue;
      const high = [...used].reduce((a, b) => (b > a ? b : a));
      const gaps: string[] = [];
      for (let n = block.serial.first; n <= high && gaps.length < 20; n++) if (!used.has(n)) gaps.push(valueText(block.serial, n));
      if (gaps.length) report.notes.push(`${station}: ${gaps.length === 20 ? '20+' : gaps.length} serial number(s) up to the highest used are on no record (wasted or lost): ${gaps.join(', ')}`);
    }
  }
  report.units = units.length;
  report.boards = boards.size;
  return report;
}
