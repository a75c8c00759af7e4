import { BlockError, type IdentityBlock } from '../core/blocks.js';
import { errorMessage } from '../core/errors.js';
import type { UnitIdentity } from '../core/identity.js';
import type { StepRecord, UnitRecord } from '../core/record.js';
import type { Admission, ChipSeen, UnitLedger } from '../core/unit-ledger.js';
import type { Books } from '../records/books.js';
import { LedgerError, orderKey, type CycleHeader, type LedgerEntry } from '../records/ledger.js';
import { StepError } from '../steps/errors.js';

export interface CycleLedgerJob {
  header: CycleHeader;
  block: IdentityBlock | undefined;
  /** Where the block comes from, for the ledger ("bundle 1.4.2 (ab12..)", "station config ..."). */
  blockSource: string | undefined;
  orderQuantity: number | undefined;
  order: string | undefined;
  /** The plan's retest policy. */
  maxAttempts: number | undefined;
  /** A new number may be issued (an engineering run only with --allocate-identity); a retest's own number always. */
  allowNewIdentity?: boolean;
}

/**
 * The ledger as the steps of one cycle see it (ctx.ledger): each call writes the ledger durably
 * before it resolves, and turns the station's policy into the step's outcome - a retest keeps the
 * board's identity, a board over the retest limit is quarantined, a locked board is recognised,
 * the order cap holds. The cycle's header (plan, image, order) goes with its first entry, so a
 * cycle cut short can be recorded at the next start.
 */
export class CycleLedger implements UnitLedger {
  uid: string | undefined;
  attempt = 1;
  flashes = 0;
  /** The identity the ledger gave (or recognised) in this cycle. */
  identityGiven: UnitIdentity | undefined;
  /** A number reserved (new) in this cycle. */
  private reserved: UnitIdentity | undefined;
  private headerWritten = false;

  constructor(
    private readonly books: Books,
    private readonly job: CycleLedgerJob,
  ) {}

  get cycleId(): string {
    return this.job.header.cycle;
  }

  async admit(chip: ChipSeen): Promise<Admission> {
    const ledger = this.ledger();
    const board = chip.uid ? ledger.boards.get(chip.uid) : undefined;
    this.uid = chip.uid;
    this.attempt = (board?.attempts ?? 0) + 1;
    const entry: LedgerEntry = { t: 'admit', cycle: this.cycleId, ...(chip.uid ? { uid: chip.uid } : {}), attempt: this.attempt, locked: chip.locked };
    const uidText = chip.uid ? `chip ${chip.uid}` : 'the chip (no readable UID)';
    if (chip.locked) {
      await this.write([entry]);
      if (board?.passed && board.identity) {
        this.identityGiven = board.identity;
        throw new StepError('ALREADY_PASSED', `${uidText} already passed here as ${board.identity.serial} / ${board.identity.mac} and is locked: not tested again`, {
          details: { chip_uid: chip.uid, serial: board.identity.serial, mac: board.identity.mac },
        });
      }
      throw new StepError('ALREADY_LOCKED', `${uidText} is read-out protected and this station never passed it: not tested (unlocking erases it; an engineer decides)`, {
        details: { chip_uid: chip.uid },
      });
    }
    const max = this.job.maxAttempts;
    if (max !== undefined && chip.uid !== undefined && this.attempt > max) {
      await this.write([entry]);
      if (board?.identity) this.identityGiven = board.identity; // the record names the board
      throw new StepError('QUARANTINE', `${uidText}: run ${this.attempt}, the plan allows ${max} (retest.max_attempts): quarantine the board`, {
        details: { chip_uid: chip.uid, attempt: this.attempt, max_attempts: max },
      });
    }
    await this.write([entry]);
    return { attempt: this.attempt };
  }

  async beginFlash(imageHash: string): Promise<void> {
    const ledger = this.ledger();
    const order = orderKey(this.job.order, imageHash);
    const quantity = this.job.orderQuantity;
    if (quantity !== undefined) {
      const boards = ledger.byOrder.get(order)?.boards;
      const key = this.uid ? `uid:${this.uid}` : `cycle:${this.cycleId}`;
      if (!boards?.has(key) && (boards?.size ?? 0) >= quantity) {
        throw new StepError('ORDER_COMPLETE', `order ${this.job.order ?? imageHash.slice(0, 12)}: ${boards?.size ?? 0} of ${quantity} boards are flashed; no more for this order`);
      }
    }
    await this.write([{ t: 'flash', cycle: this.cycleId, image: imageHash, order, ...(this.uid ? { uid: this.uid } : {}) }]);
    this.flashes++;
  }

  async identity(onChip: UnitIdentity | undefined): Promise<{ identity: UnitIdentity; reused: boolean }> {
    const ledger = this.ledger();
    const block = this.job.block;
    if (!block) throw new StepError('LEDGER_FAILED', 'no identity block for this station (a bundle brings one per station id; without a bundle, the station config\'s)');
    const known = this.uid ? ledger.boards.get(this.uid)?.identity : undefined;
    if (known) {
      // A retest: the board keeps the number this station issued to its chip, whatever the flash holds now.
      await this.write([{ t: 'reuse', cycle: this.cycleId, serial: known.serial, mac: known.mac, uid: this.uid! }]);
      this.identityGiven = known;
      return { identity: known, reused: true };
    }
    void onChip; // a record this ledger did not issue to this chip is not trusted: the board gets a number of its own
    if (this.job.allowNewIdentity === false) throw new StepError('STEP_EXCEPTION', 'an engineering run allocates no serial number or MAC unless asked (run-step --allocate-identity)');
    let next: UnitIdentity;
    let used: LedgerEntry[];
    try {
      // The block is recorded as used with its first number (refused if it overlaps numbers used).
      used = ledger.blockEntries(block, this.job.blockSource ?? 'the job');
      next = ledger.nextIdentity(block);
    } catch (err) {
      if (err instanceof LedgerError && err.code === 'EXHAUSTED') throw new StepError('IDENTITY_EXHAUSTED', err.message, { cause: err });
      if (err instanceof BlockError) throw new StepError('LEDGER_FAILED', err.message, { cause: err });
      throw err;
    }
    await this.write([...used, { t: 'reserve', cycle: this.cycleId, serial: next.serial, mac: next.mac, ...(this.uid ? { uid: this.uid } : {}) }]);
    this.identityGiven = next;
    this.reserved = next;
    return { identity: next, reused: false };
  }

  /**
   * End a cycle that is no unit (an engineering run) in the ledger: its number bound to the chip,
   * or wasted when no chip carries it. A cycle that wrote nothing to the ledger needs no end.
   */
  async close(record: { result: UnitRecord['result']; reason?: string; steps: StepRecord[] }): Promise<void> {
    if (!this.headerWritten) return;
    const reserved = this.reserved;
    const verified = record.steps.some((s) => s.kind === 'identity' && s.outcome === 'pass');
    const given = this.identityGiven;
    await this.write([
      {
        t: 'end',
        cycle: this.cycleId,
        result: record.result,
        ...(given ? { serial: given.serial, mac: given.mac } : {}),
        ...(this.uid ? { uid: this.uid } : {}),
        flashes: this.flashes,
        ...(reserved && !this.uid && !verified ? { wasted: { ...reserved, why: record.reason ?? record.result } } : {}),
      },
    ]);
  }

  private ledger() {
    const ledger = this.books.ledger;
    if (!ledger || ledger.broken) throw new StepError('LEDGER_FAILED', `the ledger cannot be used: ${ledger?.broken ?? 'there is none'}; nothing is flashed or numbered`);
    return ledger;
  }

  private async write(entries: LedgerEntry[]): Promise<void> {
    const ledger = this.ledger();
    const all: LedgerEntry[] = this.headerWritten ? entries : [{ t: 'cycle', ...this.job.header }, ...entries];
    try {
      await ledger.append(all);
    } catch (err) {
      throw new StepError('LEDGER_FAILED', `${errorMessage(err)}; nothing is flashed or numbered`, { cause: err });
    }
    this.headerWritten = true;
  }
}
