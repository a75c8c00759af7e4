import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { UnitRecord } from '../core/record.js';
import { PijigError, errorCode, errorMessage } from '../core/errors.js';
import type { JournalSource } from '../records/journal.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { sleep } from '../util/sleep.js';
import { PRINTER_CODES, PrinterError, printerIdle, statusProblem, type HostStatus, type LabelPrinter, type PrinterCode } from '../devices/printer/printer.js';
import type { Position, RecordOutput } from './output.js';

/*
 * Labels as a record output. Each label is printed after its record is journaled, by the journal
 * follower, so a printer that is off, out of paper or unplugged never delays a cycle: its labels
 * wait in the journal and print in order when it is back.
 *
 * None twice. The follower delivers at least once; a label must be printed at most once, since a
 * second label with a unit's serial can end up on another board. So this output keeps its own
 * append-only log (`<data dir>/labels/labels.jsonl`) and never sends a label twice:
 *   1. it asks the printer (~HS) whether it can print and holds nothing: else it waits, sending nothing;
 *   2. it writes "sent" (fsync) - from here on the label is never sent again by this output;
 *   3. it sends the label and ~HS on the same link: the answer proves the printer has the label;
 *   4. it asks again every poll_ms until the printer's buffer is empty (paper out or a paused
 *      printer keep it waiting: the label is in the printer and prints when it is fixed);
 *   5. it writes "printed" (fsync).
 * If pijig stops or the printer drops off the link between 2 and 5 (a power cut, the printer
 * switched off mid-label), the label is *uncertain*: it may or may not have come out. It is not
 * sent again: it is written down as "uncertain", reported (log, OLED, status), and the operator
 * reprints it with `pijig label SERIAL` if the board has none. The window is the time one label
 * takes to reach and leave the printer (about a second); nothing outside it is ever uncertain.
 */

export type LabelEvent =
  | { ev: 'start'; from: number; at: string; why: string }
  | { ev: 'sent'; seq: number; id: string; serial?: string; at: string }
  | { ev: 'printed'; seq: number; id: string; serial?: string; at: string }
  | { ev: 'withdrawn'; seq: number; id: string; serial?: string; at: string; why: string }
  | { ev: 'uncertain'; seq: number; id: string; serial?: string; at: string; why: string };

export const LABEL_LOG = 'labels/labels.jsonl';
export const REPRINT_LOG = 'labels/reprints.jsonl';
export const PRINTER_LOCK = 'labels/printer.lock';

export type LabelOutputCode = 'PRINTER_LOCKED' | 'NO_LABEL' | 'UNIT_NOT_FOUND' | 'LABEL_LOG_CORRUPT';

export class LabelOutputError extends PijigError<LabelOutputCode> {}

/** What the operator is told about the printer: fine, or a code and a short text for the OLED. */
export type PrinterNotice = { ok: true } | { ok: false; code: PrinterCode | 'LABEL_UNCERTAIN' | 'PRINTER_LOCKED'; text: string };

export type LabelOutputEvents = {
  /** The printer's state changed (a problem, or fine again). */
  printer: [notice: PrinterNotice];
  printed: [record: UnitRecord, reprint: boolean];
  /** A label that may or may not have come out: check the board, reprint if it has none. */
  uncertain: [record: Pick<UnitRecord, 'seq' | 'id' | 'serial'>, why: string];
  'listener-error': [event: string, error: unknown];
};

export interface LabelOutputOptions {
  printer: LabelPrinter;
  journal: Pick<JournalSource, 'count'>;
  dataDir: string;
  /**
   * The ZPL job of a record's label, or undefined when it gets none: `auto` follows the
   * station's `label.print`; `reprint` is asked for explicitly (a PASS or a FAIL).
   */
  label: (record: UnitRecord, why: 'auto' | 'reprint') => Uint8Array | undefined;
  /** While a label is in the printer, how often to ask whether it has printed. */
  pollMs: number;
  log?: (message: string) => void;
  now?: () => Date;
}

export interface ReprintResult {
  seq: number;
  serial: string;
  user: string;
  at: string;
}

export class LabelOutput extends TypedEmitter<LabelOutputEvents> implements RecordOutput {
  readonly name = 'label';
  readonly batchSize = 100;
  private loaded = false;
  /** The last label settled (printed or uncertain), or the start mark. */
  private settled: Position = { seq: 0 };
  /** A label written "sent" and not settled. */
  private inFlight: { seq: number; id: string; serial?: string } | undefined;
  /** Records handled in this process (no label, or settled): never behind `settled`. */
  private handled: Position = { seq: 0 };
  private queue: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  private lock: PrinterLock | undefined;
  private notice: PrinterNotice = { ok: true };
  private readonly log: (m: string) => void;
  private readonly now: () => Date;

  constructor(private readonly options: LabelOutputOptions) {
    super();
    this.log = options.log ?? (() => {});
    this.now = options.now ?? (() => new Date());
  }

  get printer(): string {
    return this.options.printer.description;
  }

  /** The printer as last seen. */
  get printerNotice(): PrinterNotice {
    return this.notice;
  }

  async position(): Promise<Position> {
    await this.load();
    if (this.inFlight) return { seq: this.inFlight.seq - 1 };
    return this.handled.seq > this.settled.seq ? this.handled : this.settled;
  }

  /** The journal is another one (a re-imaged jig): labels resume with the records appended from now on. */
  async restart(): Promise<void> {
    await this.load();
    this.inFlight = undefined;
    const from = this.options.journal.count + 1;
    await this.append({ ev: 'start', from, at: this.stamp(), why: 'the label log belongs to another journal' });
    this.settled = { seq: 0 };
    this.handled = { seq: from - 1 };
  }

  async write(records: readonly UnitRecord[]): Promise<void> {
    await this.load();
    await this.exclusive(async () => {
      await this.takeLock();
      for (const record of records) {
        const at = await this.position();
        if (record.seq <= at.seq) continue;
        if (this.inFlight?.seq === record.seq) {
          // sent before pijig stopped, never confirmed: it may be on a board already
          await this.settleUncertain(record, 'pijig stopped while the label was in the printer');
          continue;
        }
        const job = this.options.label(record, 'auto');
        if (job) await this.printOne(record, job);
        this.handled = { seq: record.seq, id: record.id };
      }
    });
  }

  /**
   * Print a unit's label again (`pijig label SERIAL`), logged in `labels/reprints.jsonl` with
   * who and when before it is sent, and with the outcome after. Serialised with the automatic
   * labels.
   */
  async reprint(record: UnitRecord, user: string): Promise<ReprintResult> {
    const job = this.options.label(record, 'reprint');
    if (!job) throw new LabelOutputError('NO_LABEL', `unit #${record.seq} ${record.serial ?? ''} is ${record.result}: only a PASS (label) or a FAIL (REJECT label) has one`);
    return this.exclusive(async () => {
      await this.takeLock();
      await this.ready();
      const at = this.stamp();
      const entry = { at, user, seq: record.seq, id: record.id, serial: record.serial ?? '', printer: this.printer };
      await appendLine(join(this.options.dataDir, REPRINT_LOG), { ...entry, ev: 'reprint' });
      try {
        await this.deliver(job);
      } catch (err) {
        await appendLine(join(this.options.dataDir, REPRINT_LOG), { ...entry, ev: 'failed', at: this.stamp(), error: errorCode(err) ?? errorMessage(err) });
        throw err;
      }
      await appendLine(join(this.options.dataDir, REPRINT_LOG), { ...entry, ev: 'printed', at: this.stamp() });
      this.clearNotice();
      this.emit('printed', record, true);
      this.log(`label: reprinted ${record.serial ?? `#${record.seq}`} for ${user}`);
      return { seq: record.seq, serial: record.serial ?? '', user, at };
    });
  }

  /** Ask the printer how it is (when no label is due), so the operator learns of a problem before the next PASS. */
  async check(): Promise<PrinterNotice> {
    return this.exclusive(async () => {
      try {
        await this.takeLock();
        await this.ready();
      } catch {
        // the notice says why
      }
      return this.notice;
    });
  }

  /**
   * Let a label that is in the printer finish (up to `graceMs`), then stop waiting and let go of
   * the printer; a label still unconfirmed stays "sent" (uncertain at the next start).
   */
  async close(graceMs = 5000): Promise<void> {
    if (graceMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.queue, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    this.abort.abort(new Error('the label output is closing'));
    await this.queue.catch(() => undefined);
    await this.lock?.release();
    this.lock = undefined;
  }

  private async printOne(record: UnitRecord, job: Uint8Array): Promise<void> {
    await this.ready();
    const base = { seq: record.seq, id: record.id, ...(record.serial ? { serial: record.serial } : {}) };
    await this.append({ ev: 'sent', ...base, at: this.stamp() });
    this.inFlight = base;
    try {
      await this.deliver(job);
    } catch (err) {
      if (err instanceof PrinterError && err.details?.['sent'] === false) {
        await this.append({ ev: 'withdrawn', ...base, at: this.stamp(), why: err.message });
        this.inFlight = undefined;
      } else if (!this.abort.signal.aborted) {
        await this.settleUncertain(record, errorMessage(err));
      }
      throw err;
    }
    await this.append({ ev: 'printed', ...base, at: this.stamp() });
    this.inFlight = undefined;
    this.settled = { seq: record.seq, id: record.id };
    this.emit('printed', record, false);
  }

  /** Send a job and wait until the printer has printed it (its buffer empty). */
  private async deliver(job: Uint8Array): Promise<void> {
    const printer = this.options.printer;
    let status = await printer.print(job);
    if (!printer.statusQuery) return; // the bytes are written: as far as this printer tells
    for (;;) {
      if (status && printerIdle(status)) {
        this.setNotice({ ok: true });
        return;
      }
      const problem = status ? statusProblem(status) : 'PRINTER_NOT_READY';
      if (problem) this.setNotice({ ok: false, code: problem, text: noticeText(problem) });
      await sleep(this.options.pollMs, this.abort.signal);
      // a printer that stops answering the link now may have lost the label with its power
      status = await printer.status();
    }
  }

  /** The printer answers, can print and holds nothing: else a PrinterError, nothing sent. */
  private async ready(): Promise<void> {
    const printer = this.options.printer;
    if (!printer.statusQuery) return;
    let status: HostStatus | undefined;
    try {
      status = await printer.status();
      if (!status) throw new PrinterError('PRINTER_NOT_READY', `${printer.description}: ${PRINTER_CODES.PRINTER_NOT_READY}`, { details: { printer: printer.description } });
      const problem = statusProblem(status);
      if (problem) throw new PrinterError(problem, `${printer.description}: ${PRINTER_CODES[problem]}`, { details: { printer: printer.description } });
      if (!printerIdle(status)) throw new PrinterError('PRINTER_BUSY', `${printer.description}: still holds ${status.formatsInBuffer} format(s) from before; waiting until it has printed them`, { details: { printer: printer.description } });
    } catch (err) {
      if (err instanceof PrinterError) this.setNotice({ ok: false, code: err.code, text: noticeText(err.code) });
      throw err;
    }
    this.setNotice({ ok: true });
  }

  private async settleUncertain(record: Pick<UnitRecord, 'seq' | 'id' | 'serial'>, why: string): Promise<void> {
    await this.append({ ev: 'uncertain', seq: record.seq, id: record.id, ...(record.serial ? { serial: record.serial } : {}), at: this.stamp(), why });
    this.inFlight = undefined;
    this.settled = { seq: record.seq, id: record.id };
    this.handled = { seq: record.seq, id: record.id };
    this.log(`label: ${record.serial ?? `unit #${record.seq}`} may not have printed (${why}); it is not sent again - check the board, reprint with \`pijig label ${record.serial ?? ''}\``);
    this.setNotice({ ok: false, code: 'LABEL_UNCERTAIN', text: `CHECK LABEL ${record.serial ?? `#${record.seq}`}` });
    this.emit('uncertain', record, why);
  }

  private setNotice(n: PrinterNotice): void {
    const same = n.ok === this.notice.ok && (n.ok || (!this.notice.ok && n.code === this.notice.code && n.text === this.notice.text));
    // an uncertain label stays on the OLED until the next label prints
    if (n.ok && !this.notice.ok && this.notice.code === 'LABEL_UNCERTAIN') return;
    this.notice = n;
    if (!same) this.emit('printer', n);
  }

  /** Called when a label printed: clears an uncertain-label notice too. */
  private clearNotice(): void {
    if (this.notice.ok) return;
    this.notice = { ok: true };
    this.emit('printer', this.notice);
  }

  private async takeLock(): Promise<void> {
    if (this.lock) return;
    try {
      this.lock = await PrinterLock.acquire(this.options.dataDir);
    } catch (err) {
      if (err instanceof LabelOutputError) this.setNotice({ ok: false, code: 'PRINTER_LOCKED', text: 'PRINTER IN USE' });
      throw err;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const guarded = () => {
      if (this.abort.signal.aborted) return Promise.reject(new Error(`label output for ${this.printer} is closed`));
      return fn();
    };
    const run = this.queue.then(guarded, guarded);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private stamp(): string {
    return this.now().toISOString();
  }

  private async append(event: LabelEvent): Promise<void> {
    await appendLine(join(this.options.dataDir, LABEL_LOG), event);
    if (event.ev === 'printed') this.clearNotice();
  }

  /** The log's last complete line says where labels stand; a torn last line (power cut mid-append) is cut off. */
  private async load(): Promise<void> {
    if (this.loaded) return;
    const file = join(this.options.dataDir, LABEL_LOG);
    const last = await lastLine(file);
    if (!last) {
      // first start: labels begin with the units tested from now on, not the journal's history
      const from = this.options.journal.count + 1;
      await this.append({ ev: 'start', from, at: this.stamp(), why: 'first start of the label output' });
      this.settled = { seq: 0 };
      this.handled = { seq: from - 1 };
    } else {
      const e = last;
      if (e.ev === 'start') this.handled = { seq: e.from - 1 };
      else if (e.ev === 'sent') this.inFlight = { seq: e.seq, id: e.id, ...(e.serial ? { serial: e.serial } : {}) };
      else if (e.ev === 'withdrawn') this.handled = { seq: e.seq - 1 };
      else this.settled = { seq: e.seq, id: e.id };
    }
    this.loaded = true;
  }
}

function noticeText(code: PrinterCode | 'PRINTER_LOCKED'): string {
  const short: Partial<Record<string, string>> = {
    PRINTER_OFFLINE: 'PRINTER OFFLINE',
    PRINTER_TIMEOUT: 'PRINTER NOT TAKING DATA',
    PRINTER_NOT_READY: 'PRINTER NOT READY',
    PRINTER_BUSY: 'PRINTER BUSY',
    PRINTER_ACCESS: 'PRINTER NO ACCESS',
    PAPER_OUT: 'PRINTER PAPER OUT',
    RIBBON_OUT: 'PRINTER RIBBON OUT',
    HEAD_OPEN: 'PRINTER HEAD OPEN',
    PRINTER_PAUSED: 'PRINTER PAUSED',
    PRINTER_FAULT: 'PRINTER FAULT',
    STATUS_GARBLED: 'PRINTER ANSWER GARBLED',
    PRINTER_LOCKED: 'PRINTER IN USE',
  };
  return short[code] ?? `PRINTER ${code}`;
}

async function appendLine(file: string, value: unknown): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  const fh = await open(file, 'a');
  try {
    await fh.appendFile(`${JSON.stringify(value)}\n`);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

async function lastLine(file: string): Promise<LabelEvent | undefined> {
  let fh;
  try {
    fh = await open(file, 'r+');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end !== text.length - 1) {
      // torn by a power cut: the event never happened as far as anyone can tell; cut it off
      await fh.truncate(size - len + Buffer.byteLength(text.slice(0, end + 1)));
      await fh.datasync();
    }
    const lines = text.slice(0, end + 1).split('\n').filter(Boolean);
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        return JSON.parse(lines[i]!) as LabelEvent;
      } catch {
        // a line cut at the window's start, or garbage: look further back
      }
    }
    if (size > 0) throw new LabelOutputError('LABEL_LOG_CORRUPT', `${file}: no readable event in its last ${len} bytes; move it aside to start the label log afresh (labels resume with new units)`);
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * One pijig process at a time drives the printer: the service while it runs, `pijig label`
 * while it does not. `<data dir>/labels/printer.lock` holds the owner's pid and the boot it
 * belongs to, so a lock left by a crash or before a reboot is taken over.
 */
export class PrinterLock {
  private constructor(readonly path: string) {}

  static async acquire(dataDir: string): Promise<PrinterLock> {
    const path = join(dataDir, PRINTER_LOCK);
    await mkdir(join(path, '..'), { recursive: true });
    const me = { pid: process.pid, boot: await bootId() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(path, 'wx');
        try {
          await fh.writeFile(`${JSON.stringify(me)}\n`);
          await fh.sync();
        } finally {
          await fh.close();
        }
        return new PrinterLock(path);
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
      let owner: { pid?: number; boot?: string } = {};
      try {
        owner = JSON.parse(await readFile(path, 'utf8')) as typeof owner;
      } catch {
        // half-written or garbage: stale
      }
      if (owner.pid === me.pid && owner.boot === me.boot) return new PrinterLock(path);
      if (owner.pid && owner.boot === me.boot && alive(owner.pid)) {
        throw new LabelOutputError('PRINTER_LOCKED', `the printer is in use by pijig process ${owner.pid} (${path}); while the service runs, reprint through it`);
      }
      await unlink(path).catch(() => undefined);
    }
    throw new LabelOutputError('PRINTER_LOCKED', `${path}: could not take the printer lock`);
  }

  async release(): Promise<void> {
    await unlink(this.path).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

async function bootId(): Promise<string> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return 'unknown';
  }
}

/** The unit a serial belongs to: its last PASS or FAIL record (a re-tested unit's latest verdict). */
export async function findUnit(journal: Pick<JournalSource, 'read'>, serial: string): Promise<UnitRecord | undefined> {
  let found: UnitRecord | undefined;
  for await (const r of journal.read()) if (r.serial === serial && (r.result === 'PASS' || r.result === 'FAIL')) found = r;
  return found;
}

/**
 * `pijig label SERIAL`: print a unit's label again. The one entry point for both ways in: the
 * CLI calls it with a LabelOutput of its own while the service is stopped (the printer lock
 * proves it is), and the control server (issue 11) calls it with the service's own LabelOutput,
 * so a reprint queues behind the automatic labels and never interleaves with them.
 */
export async function reprintLabel(deps: { journal: Pick<JournalSource, 'read'>; labels: LabelOutput }, request: { serial: string; user: string }): Promise<ReprintResult> {
  const record = await findUnit(deps.journal, request.serial);
  if (!record) throw new LabelOutputError('UNIT_NOT_FOUND', `no PASS or FAIL unit with serial ${request.serial} in the journal`);
  return deps.labels.reprint(record, request.user);
}
