import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Journal } from '../../src/records/journal.js';
import { JournalFollower } from '../../src/outputs/follower.js';
import { LABEL_LOG, LabelOutput, PrinterLock, REPRINT_LOG, reprintLabel, type LabelEvent, type PrinterNotice } from '../../src/outputs/label.js';
import { SimZplPrinter } from '../../src/devices/printer/zpl.sim.js';
import { TcpZplPrinter } from '../../src/devices/printer/zpl-tcp.js';
import { zplLabel } from '../../src/devices/printer/zpl.js';
import { labelContent, renderLabel, type LabelTemplate } from '../../src/operator/label.js';
import type { UnitRecord } from '../../src/core/record.js';
import { tempDir, unit } from '../media/helpers.js';
import { makeStation } from '../helpers/station-harness.js';
import { planOf } from '../helpers/test-steps.js';

afterEach(() => vi.useRealTimers());

const TEMPLATE: LabelTemplate = { width: 392, height: 192, fields: ['serial', 'mac', 'date'], qr: '${unit.serial}', qrEcc: 'M' };

/** The real timer, taken before any test fakes it: real I/O needs real time on a loaded machine. */
const realSetTimeout = globalThis.setTimeout;

/** Let fake time pass in small steps, with real I/O (sockets, fsync) running between them. */
async function pass(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    await vi.advanceTimersByTimeAsync(10);
    // real I/O (sockets, fsync, the journal's reads) gets many turns of the loop per step, and a
    // little real time: on a loaded machine an fsync can take longer than any number of turns
    for (let i = 0; i < 40; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => realSetTimeout(r, 1));
  }
}

/** Pass fake time until `condition` holds (at most `ms`). */
async function until(condition: () => boolean, what: string, ms = 8_000): Promise<void> {
  for (let t = 0; t < ms && !condition(); t += 10) await pass(10);
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

async function rig(opts: { faultReply?: 'flags' | 'silent'; printMs?: number; records?: number; dataDir?: string } = {}) {
  const dir = opts.dataDir ?? (await tempDir('pijig-labels-'));
  const journal = await Journal.open(join(dir, 'units.jsonl'));
  for (let i = 1; i <= (opts.records ?? 0); i++) await journal.append(unit(i));
  const printer = await SimZplPrinter.start({ printMs: opts.printMs ?? 20, ...(opts.faultReply ? { faultReply: opts.faultReply } : {}) });
  const follower = new JournalFollower({ journal, dataDir: dir, backoff: { initialMs: 1000, maxMs: 4000 } });
  const notices: PrinterNotice[] = [];
  const uncertain: number[] = [];
  const make = () => {
    const labels = new LabelOutput({
      printer: new TcpZplPrinter({ host: '127.0.0.1', port: printer.port, deadlines: { connectMs: 60_000, writeMs: 60_000, statusMs: 10_000 }, statusQuery: true }),
      journal,
      dataDir: dir,
      pollMs: 100,
      label: (r: UnitRecord, why) => (r.result === 'PASS' || why === 'reprint' ? zplLabel(renderLabel(TEMPLATE, labelContent(r)).image, { comment: `pijig seq=${r.seq} serial=${r.serial}` }) : undefined),
    });
    labels.on('printer', (n) => notices.push(n));
    labels.on('uncertain', (r) => uncertain.push(r.seq));
    return labels;
  };
  const labels = make();
  const log = async (): Promise<LabelEvent[]> => (await readFile(join(dir, LABEL_LOG), 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as LabelEvent);
  const printedSeqs = () => printer.labels.map((l) => Number(l.tags['seq']));
  const receivedSeqs = () => printer.received.map((f) => Number(/seq=(\d+)/.exec(f)?.[1]));
  const close = async () => {
    await labels.close(0);
    await follower.stop();
    await printer.close();
    await journal.close();
  };
  return { dir, journal, printer, follower, labels, notices, uncertain, log, printedSeqs, receivedSeqs, make, close };
}

describe('labels as an output of the journal follower', () => {
  it('a printer that is off: units are journaled, their labels wait, then print in order when it is back, none twice', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const r = await rig({ records: 2 });
    await r.printer.setPower(false);
    const failures: string[] = [];
    r.follower.on('failed', (_n, err) => failures.push((err as { code?: string }).code ?? err.message));
    r.follower.add(r.labels);
    await pass(50);
    // the journal's history (units 1 and 2, tested before labels were on) is not printed
    for (let i = 3; i <= 6; i++) await r.journal.append(unit(i)); // 3, 4, 6 PASS; 5 FAIL
    await until(() => failures.length >= 1, 'the first failure');
    expect(failures[0]).toBe('PRINTER_OFFLINE');
    expect(r.notices.at(-1)).toEqual({ ok: false, code: 'PRINTER_OFFLINE', text: 'PRINTER OFFLINE' });
    expect(r.follower.status()[0]).toMatchObject({ name: 'label', pending: 4, failures: 1 });
    expect(r.printer.received).toEqual([]);
    await until(() => failures.length >= 2, 'a retry while still off');
    await r.printer.setPower(true);
    await until(() => r.printer.labels.length === 3, 'three labels');
    expect(r.printedSeqs()).toEqual([3, 4, 6]);
    expect(r.printer.labels.map((l) => l.tags['serial'])).toEqual(['BLK-001003', 'BLK-001004', 'BLK-001006']);
    await until(() => r.follower.status()[0]!.pending === 0, 'the label output to catch up');
    expect(r.notices.at(-1)).toEqual({ ok: true });
    await r.journal.append(unit(7));
    await until(() => r.printer.labels.length === 4, 'label 7');
    await pass(500);
    // each label went over the wire exactly once
    expect(r.receivedSeqs()).toEqual([3, 4, 6, 7]);
    expect(r.printedSeqs()).toEqual([3, 4, 6, 7]);
    const log = await r.log();
    expect(log[0]).toMatchObject({ ev: 'start', from: 3 });
    expect(log.filter((e) => e.ev === 'printed').map((e) => (e as { seq: number }).seq)).toEqual([3, 4, 6, 7]);
    await r.close();
  });

  it('paper out with a label in the printer: it stays there and prints once when paper is back; the next waits in the journal', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const r = await rig({ printMs: 1000 });
    r.follower.add(r.labels);
    await pass(50);
    await r.journal.append(unit(1));
    await until(() => r.printer.received.length === 1, 'label 1 at the printer');
    r.printer.setPaperOut(true); // runs out while printing it
    await r.journal.append(unit(2));
    await until(() => r.notices.some((n) => !n.ok && n.code === 'PAPER_OUT'), 'PAPER OUT');
    await pass(3000);
    expect(r.printer.labels).toEqual([]);
    expect(r.printer.buffered).toBe(1);
    expect(r.receivedSeqs()).toEqual([1]); // label 2 waits in the journal, not in the printer
    r.printer.setPaperOut(false);
    await until(() => r.printer.labels.length === 2, 'both labels');
    await pass(500);
    expect(r.printedSeqs()).toEqual([1, 2]);
    expect(r.receivedSeqs()).toEqual([1, 2]);
    expect(r.uncertain).toEqual([]);
    await r.close();
  });

  it('a printer that goes silent on a fault (current Zebra firmware) holds its label the same way', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const r = await rig({ printMs: 1000, faultReply: 'silent' });
    r.follower.add(r.labels);
    await pass(50);
    await r.journal.append(unit(1));
    await until(() => r.printer.received.length === 1, 'label 1 at the printer');
    r.printer.setHeadOpen(true);
    await until(() => r.notices.some((n) => !n.ok && n.code === 'PRINTER_NOT_READY'), 'PRINTER NOT READY', 30_000);
    r.printer.setHeadOpen(false);
    await until(() => r.printer.labels.length === 1, 'label 1');
    await pass(500);
    expect(r.receivedSeqs()).toEqual([1]);
    expect(r.uncertain).toEqual([]);
    await r.close();
  });

  it('the printer loses power with a label in it: that label is uncertain and reported, never sent again; the next ones print', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const r = await rig();
    r.follower.add(r.labels);
    await pass(50);
    r.printer.loseNextJob();
    await r.journal.append(unit(1));
    await until(() => r.uncertain.length === 1, 'label 1 uncertain');
    expect(r.notices.some((n) => !n.ok && n.code === 'LABEL_UNCERTAIN' && n.text === 'CHECK LABEL BLK-001001')).toBe(true);
    await r.journal.append(unit(2));
    await pass(500);
    await r.printer.setPower(true);
    await until(() => r.printer.labels.length === 1, 'label 2');
    await until(() => r.follower.status()[0]!.pending === 0, 'label 2 settled');
    expect(r.printedSeqs()).toEqual([2]);
    expect(r.receivedSeqs()).toEqual([1, 2]);
    expect(r.uncertain).toEqual([1]);
    expect((await r.log()).map((e) => `${e.ev}${'seq' in e ? e.seq : ''}`)).toEqual(['start', 'sent1', 'uncertain1', 'sent2', 'printed2']);
    await r.close();
  });

  it('pijig stopped while a label was in the printer: at the next start that label is uncertain, not sent again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const r = await rig({ printMs: 1000 });
    r.follower.add(r.labels);
    await pass(50);
    await r.journal.append(unit(1));
    await until(() => r.printer.received.length === 1, 'label 1 at the printer');
    r.printer.setPaperOut(true);
    await pass(300);
    await r.labels.close(0); // the service stops (or the Pi loses power) before the label came out
    await r.follower.stop();
    expect((await r.log()).at(-1)).toMatchObject({ ev: 'sent', seq: 1 });
    r.printer.setPaperOut(false); // the printer still had it, and prints it
    await until(() => r.printer.labels.length === 1, 'the held label');
    const follower = new JournalFollower({ journal: r.journal, dataDir: r.dir, backoff: { initialMs: 1000, maxMs: 4000 } });
    const again = r.make();
    follower.add(again);
    await until(() => r.uncertain.length === 1, 'label 1 uncertain');
    await r.journal.append(unit(2));
    await until(() => r.printer.labels.length === 2, 'label 2');
    await pass(300);
    expect(r.receivedSeqs()).toEqual([1, 2]);
    expect(r.printedSeqs()).toEqual([1, 2]);
    await again.close(0);
    await follower.stop();
    await r.close();
  });

  it('a reprint is logged with who and when before it is sent, and with its outcome', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const r = await rig({ records: 6 });
    let done = false;
    const reprint = reprintLabel({ journal: r.journal, labels: r.labels }, { serial: 'BLK-001003', user: 'alice' }).finally(() => (done = true));
    await until(() => done, 'the reprint');
    expect(r.printer.labels).toHaveLength(1);
    expect(await reprint).toMatchObject({ seq: 3, serial: 'BLK-001003', user: 'alice' });
    expect(r.printer.labels[0]!.tags).toMatchObject({ seq: '3', serial: 'BLK-001003' });
    const lines = (await readFile(join(r.dir, REPRINT_LOG), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([
      expect.objectContaining({ ev: 'reprint', user: 'alice', seq: 3, serial: 'BLK-001003', at: expect.any(String) }),
      expect.objectContaining({ ev: 'printed', user: 'alice', seq: 3 }),
    ]);
    await expect(reprintLabel({ journal: r.journal, labels: r.labels }, { serial: 'NOPE', user: 'alice' })).rejects.toMatchObject({ code: 'UNIT_NOT_FOUND' });
    await r.printer.setPower(false);
    const failing = reprintLabel({ journal: r.journal, labels: r.labels }, { serial: 'BLK-001004', user: 'bob' });
    await expect(failing).rejects.toMatchObject({ code: 'PRINTER_OFFLINE' });
    expect((await readFile(join(r.dir, REPRINT_LOG), 'utf8')).trim().split('\n')).toHaveLength(2); // nothing was sent: a refused reprint is not one
    await r.close();
  });

  it('one process drives the printer: a second is refused while the first lives', async () => {
    const dir = await tempDir('pijig-lock-');
    const mine = await PrinterLock.acquire(dir);
    // a lock held by another live process of this boot (our parent stands in for the service)
    await mine.release();
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'labels'), { recursive: true });
    const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    await writeFile(join(dir, 'labels/printer.lock'), JSON.stringify({ pid: process.ppid, boot }));
    await expect(PrinterLock.acquire(dir)).rejects.toMatchObject({ code: 'PRINTER_LOCKED' });
    // a lock from before a reboot, or of a process that is gone, is taken over
    await writeFile(join(dir, 'labels/printer.lock'), JSON.stringify({ pid: process.ppid, boot: 'another-boot' }));
    await (await PrinterLock.acquire(dir)).release();
  });
});

describe('a printer that is off never stops the station', () => {
  it('units run to PASS while it is off, the panel says PRINTER OFFLINE under PASS, and the labels come when it is back', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const s = await makeStation({ plan: planOf([{ name: 'measure', kind: 'measure', params: { values: { x: 1 } } }]) });
    const printer = await SimZplPrinter.start({ printMs: 20 });
    await printer.setPower(false);
    const labels = new LabelOutput({
      printer: new TcpZplPrinter({ host: '127.0.0.1', port: printer.port, deadlines: { connectMs: 60_000, writeMs: 60_000, statusMs: 1000 }, statusQuery: true }),
      journal: s.journal,
      dataDir: s.dir,
      pollMs: 100,
      label: (r) => (r.result === 'PASS' ? zplLabel(renderLabel(TEMPLATE, labelContent(r)).image, { comment: `pijig seq=${r.seq} serial=${r.serial}` }) : undefined),
    });
    labels.on('printer', (n) => s.panel.setPrinter(n.ok ? undefined : n.text));
    const follower = new JournalFollower({ journal: s.journal, dataDir: s.dir, backoff: { initialMs: 1000, maxMs: 4000 } });
    follower.add(labels);
    for (let i = 0; i < 3; i++) {
      await s.lid(true);
      await s.press('start');
      await s.until('pass');
      await pass(50);
      await s.lid(false);
    }
    expect((await s.records()).map((r) => r.result)).toEqual(['PASS', 'PASS', 'PASS']);
    expect(s.screens.filter((x) => x.kind === 'pass').at(-1)).toMatchObject({ kind: 'pass', printer: 'PRINTER OFFLINE' });
    expect(s.screens.filter((x) => x.kind === 'ready').at(-1)).toMatchObject({ printer: 'PRINTER OFFLINE' });
    await printer.setPower(true);
    await until(() => printer.labels.length === 3, 'three labels');
    expect(printer.labels.map((l) => Number(l.tags['seq']))).toEqual([1, 2, 3]);
    await until(() => s.screens.at(-1)?.kind === 'ready' && !('printer' in s.screens.at(-1)!), 'the notice to go');
    await labels.close(0);
    await follower.stop();
    await printer.close();
    await s.cleanup();
  });
});
