import { join } from 'node:path';
import type { UnitRecord } from '../core/record.js';
import { errorMessage } from '../core/errors.js';
import { Journal, type NewRecord } from './journal.js';
import { Ledger, LedgerError, orderKey, zeroCounts, type Counts, type LedgerEntry, type OpenCycle } from './ledger.js';
import { STATION_KEY_FILE } from './station-key.js';
import { exists } from '../util/fs.js';

export const JOURNAL_FILE = 'units.jsonl';
export const LEDGER_FILE = 'ledger.jsonl';

export interface BooksOptions {
  dataDir: string;
  stationId: string;
  /**
   * The station has run on this data directory before (its station key, bundle store or output
   * cursors exist): with both journal and ledger gone, numbers are refused until an engineer's
   * `pijig ledger reset`. Ask `stationHasRun()` before the station key is made.
   */
  ranBefore: boolean;
  log?: (message: string) => void;
  now?: () => Date;
}

/** What opening the books found and did. */
export interface BooksRecovery {
  /** The ledger was missing and was rebuilt from this many journal records. */
  rebuiltFrom?: number;
  /** Journal records the ledger had not committed (a crash between the two writes). */
  committed: number;
  /** Cycles cut short (a crash or power cut mid-cycle), now recorded as INTERRUPTED units. */
  interrupted: UnitRecord[];
}

/**
 * The journal and the ledger, opened and reconciled together: the station's books.
 *
 * - Ledger missing, journal kept: rebuilt from the journal (every serial, MAC, chip UID, flash).
 * - Both missing on a station that has run before: numbers and flashes are refused until an
 *   engineer's recorded `pijig ledger reset`.
 * - A journal record the ledger has not committed (crash between the two fsyncs) is committed now;
 *   a cycle the ledger saw start but nobody recorded (crash mid-cycle) gets a journal record,
 *   result ERROR, reason INTERRUPTED, with its serial, chip UID and flashes.
 * - The ledger shows units the journal lost: the journal is damaged (nothing runs until repaired).
 */
export class Books {
  private constructor(
    readonly dataDir: string,
    readonly stationId: string,
    readonly journal: Journal,
    readonly ledger: Ledger | undefined,
    private readonly refusal: string | undefined,
    readonly recovery: BooksRecovery,
    private readonly now: () => Date,
  ) {}

  static async open(opts: BooksOptions): Promise<Books> {
    const now = opts.now ?? (() => new Date());
    const log = opts.log ?? (() => {});
    const journalPath = join(opts.dataDir, JOURNAL_FILE);
    const ledgerPath = join(opts.dataDir, LEDGER_FILE);
    const journalExisted = await exists(journalPath);
    const journal = await Journal.open(journalPath);
    if (journal.recovery.tornBytes) log(`journal: cut a torn last line of ${journal.recovery.tornBytes} bytes (kept in ${journal.recovery.tornSavedTo})`);
    const recovery: BooksRecovery = { committed: 0, interrupted: [] };
    let ledger: Ledger | undefined;
    let refusal: string | undefined;
    try {
      if (await exists(ledgerPath)) {
        ledger = await Ledger.open(ledgerPath, { now });
      } else if (journal.count > 0) {
        ledger = await rebuild(ledgerPath, journal, opts.stationId, now);
        recovery.rebuiltFrom = journal.count;
        log(`ledger: missing; rebuilt from the ${journal.count} records of the journal`);
      } else if (opts.ranBefore || journalExisted) {
        refusal = `the ledger and the journal are both gone, but this station has run before (its station key or bundle store is here): no number is issued and nothing is flashed until an engineer runs \`pijig ledger reset\``;
      } else {
        ledger = await Ledger.create(ledgerPath, { t: 'open', station: opts.stationId, origin: 'new' }, { now });
      }
    } catch (err) {
      refusal = errorMessage(err);
    }
    const books = new Books(opts.dataDir, opts.stationId, journal, ledger, refusal, recovery, now);
    if (ledger && !ledger.broken) await books.reconcile(log);
    return books;
  }

  /** Why no number may be issued and nothing flashed now (START shows ORDER CHECK FAILED), or undefined. */
  async problem(): Promise<string | undefined> {
    await this.checkLedger();
    return this.problemNow();
  }

  /** What problem() last found, without touching the disk (the START path: nothing there may wait on I/O). */
  problemNow(): string | undefined {
    if (this.refusal) return this.refusal;
    if (!this.ledger) return 'no ledger';
    return this.ledger.broken;
  }

  /** Look at the ledger file itself: one removed or replaced under the station breaks the ledger until the next start. */
  async checkLedger(): Promise<void> {
    const l = this.ledger;
    if (!l || l.broken) return;
    const why = await l.check();
    if (why) l.broken = why;
  }

  /** Results of the units with this image (every unit when none is given). */
  counts(imageHash?: string): Counts {
    if (!this.ledger) return zeroCounts();
    if (imageHash === undefined) return { ...this.ledger.counts };
    return { ...(this.ledger.byImage.get(imageHash)?.counts ?? zeroCounts()) };
  }

  /** Boards flashed for this order (the order id, or the image when the bundle names none). */
  orderUnits(order: string | undefined, imageHash: string): number {
    return this.ledger?.byOrder.get(orderKey(order, imageHash))?.boards.size ?? 0;
  }

  /** Write a unit's record to the journal (fsync), then commit it in the ledger (fsync). */
  async record(record: NewRecord): Promise<UnitRecord> {
    const saved = await this.journal.append(record);
    await this.commit(saved);
    return saved;
  }

  /** Commit a journaled unit in the ledger; a failure leaves it for the next open's reconciliation. */
  async commit(record: UnitRecord): Promise<void> {
    if (!this.ledger) throw new LedgerError('NOT_READY', this.refusal ?? 'no ledger');
    await this.ledger.append(commitEntries(this.ledger, record));
  }

  async close(): Promise<void> {
    await this.ledger?.close();
    await this.journal.close();
  }

  private async reconcile(log: (m: string) => void): Promise<void> {
    const ledger = this.ledger!;
    const journal = this.journal;
    if (journal.count < ledger.lastCommittedSeq) {
      const from = journal.count + 1;
      journal.markDamaged(from, `journal ${journal.path}: records #${from}..#${ledger.lastCommittedSeq} are missing (the ledger committed them); run \`pijig journal repair\``);
      return;
    }
    // Records after the ledger's last commit: journaled, then the station stopped before the ledger's fsync.
    if (journal.count > ledger.lastCommittedSeq && !journal.damage) {
      try {
        for await (const r of journal.read(ledger.lastCommittedSeq + 1)) {
          if (ledger.commits.has(r.seq)) continue;
          await ledger.append(commitEntries(ledger, r));
          this.recovery.committed++;
        }
      } catch (err) {
        log(`ledger: cannot commit the journal's last records: ${errorMessage(err)}`);
        return;
      }
      if (this.recovery.committed) log(`ledger: committed ${this.recovery.committed} journal record(s) it had not (the station stopped between the two writes)`);
    }
    // Cycles the ledger saw begin and nobody recorded: cut short mid-cycle.
    if (journal.damage) return;
    for (const [cycle, c] of [...ledger.cycles]) {
      if (c.header?.engineering) {
        // An engineering run cut short: no unit, it ends in the ledger only.
        await ledger.append([{ t: 'end', cycle, result: 'ERROR', ...(c.identity ? { serial: c.identity.serial, mac: c.identity.mac } : {}), ...(c.uid ? { uid: c.uid } : {}), flashes: c.flashes, ...(c.reserved && !c.uid ? { wasted: { ...c.reserved, why: 'INTERRUPTED' } } : {}) }]);
        log(`ledger: engineering run ${cycle} was cut short (${describeCycle(c)}); closed in the ledger`);
        continue;
      }
      const record = await this.record(interruptedRecord(this.stationId, cycle, c, this.now()));
      this.recovery.interrupted.push(record);
      log(`ledger: cycle ${cycle} was cut short (${describeCycle(c)}); recorded as unit #${record.seq} INTERRUPTED`);
    }
  }
}

/** The station has run on this data directory before: its station key, bundle store or output cursors are there. */
export async function stationHasRun(dataDir: string): Promise<boolean> {
  for (const marker of [STATION_KEY_FILE, join('bundles', 'active.json'), 'outputs']) if (await exists(join(dataDir, marker))) return true;
  return false;
}

/**
 * The ledger entries that commit a journaled unit: numbers the ledger never saw are reserved
 * first (recovered). `pending` holds serials reserved by entries not yet appended (a batch).
 */
export function commitEntries(ledger: Ledger, r: UnitRecord, pending?: Set<string>): LedgerEntry[] {
  const entries: LedgerEntry[] = [];
  const cycle = ledger.cycles.get(r.id);
  const uid = r.chipUid;
  if (r.serial && r.mac && !ledger.serials.has(r.serial) && !pending?.has(r.serial)) {
    entries.push({ t: 'reserve', cycle: r.id, serial: r.serial, mac: r.mac, ...(uid ? { uid } : {}), recovered: true });
    pending?.add(r.serial);
  }
  const image = r.image?.imageHash;
  for (let i = cycle?.flashes ?? 0; image && i < (r.flashes ?? 0); i++) entries.push({ t: 'flash', cycle: r.id, image, order: orderKey(r.order, image), ...(uid ? { uid } : {}) });
  const reserved = cycle?.reserved;
  const verified = r.steps.some((s) => s.kind === 'identity' && s.outcome === 'pass');
  const wasted = reserved && !uid && !verified ? { ...reserved, why: r.reason ?? r.result } : undefined;
  entries.push({
    t: 'commit',
    cycle: r.id,
    seq: r.seq,
    result: r.result,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.serial ? { serial: r.serial } : {}),
    ...(r.mac ? { mac: r.mac } : {}),
    ...(uid ? { uid } : {}),
    ...(image ? { image, order: orderKey(r.order, image) } : {}),
    flashes: r.flashes ?? 0,
    ...(r.attempt ? { attempt: r.attempt } : {}),
    ...(wasted ? { wasted } : {}),
  });
  return entries;
}

function interruptedRecord(station: string, cycle: string, c: OpenCycle, now: Date): NewRecord {
  const h = c.header;
  const started = h?.startedAt ?? c.lastAt;
  return {
    id: cycle,
    station,
    plan: h?.plan ?? { name: '?', product: '?' },
    ...(h?.image ? { image: h.image } : {}),
    ...(h?.order ? { order: h.order } : {}),
    ...(c.identity ? { serial: c.identity.serial, mac: c.identity.mac } : {}),
    ...(c.uid ? { chipUid: c.uid } : {}),
    attempt: c.attempt ?? 1,
    flashes: c.flashes,
    startedAt: started,
    endedAt: c.lastAt,
    durationMs: Math.max(0, Date.parse(c.lastAt) - Date.parse(started)),
    result: 'ERROR',
    reason: 'INTERRUPTED',
    message: `the station stopped mid-cycle (last ledger entry ${c.lastAt}); recorded at the start of ${now.toISOString()}`,
    steps: [],
  };
}

function describeCycle(c: OpenCycle): string {
  const parts = [c.uid ? `chip ${c.uid}` : 'chip UID unknown', `${c.flashes} flash(es)`];
  if (c.identity) parts.push(c.identity.serial);
  return parts.join(', ');
}

/** A new ledger from the journal's records: every number, chip, flash and result they show. */
async function rebuild(path: string, journal: Journal, station: string, now: () => Date): Promise<Ledger> {
  const ledger = await Ledger.create(path, { t: 'open', station, origin: 'rebuilt', journal: { records: journal.count, head: journal.head } }, { now });
  let batch: LedgerEntry[] = [];
  const pending = new Set<string>();
  for await (const r of journal.read()) {
    if (r.chipUid) batch.push({ t: 'admit', cycle: r.id, uid: r.chipUid, attempt: r.attempt ?? 1, locked: false });
    batch.push(...commitEntries(ledger, r, pending));
    if (batch.length >= 500) {
      await ledger.append(batch);
      batch = [];
    }
  }
  if (batch.length) await ledger.append(batch);
  return ledger;
}
