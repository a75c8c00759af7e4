import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { macRange, serialRange, type IdentityBlock } from '../../src/core/blocks.js';
import type { UnitRecord } from '../../src/core/record.js';
import { Books, LEDGER_FILE, stationHasRun } from '../../src/records/books.js';
import { Ledger, LedgerError } from '../../src/records/ledger.js';
import { loadOrCreateStationKey } from '../../src/records/station-key.js';
import { verifyBooks } from '../../src/records/verify.js';
import type { NewRecord } from '../../src/records/journal.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'pijig-ledger-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

const WG: IdentityBlock = { serial: serialRange('WG', 6, 1, 100_000), mac: macRange('02:50:4a:00:00:01', 100_000) };

const open = (ranBefore = false) => Books.open({ dataDir: dir, stationId: 'jig-01', ranBefore });

/** What the station does for one unit: the identity reserved (with the chip), then the record and its commit. */
async function unit(books: Books, block: IdentityBlock, opts: { uid?: string; result?: UnitRecord['result']; cycle?: string } = {}): Promise<UnitRecord> {
  const ledger = books.ledger!;
  const cycle = opts.cycle ?? `c-${Math.random().toString(16).slice(2)}`;
  const known = opts.uid ? ledger.boards.get(opts.uid)?.identity : undefined;
  const identity = known ?? ledger.nextIdentity(block);
  await ledger.append([
    { t: 'cycle', cycle, startedAt: new Date().toISOString(), plan: { name: 'p', product: 'widget' } },
    { t: 'admit', cycle, ...(opts.uid ? { uid: opts.uid } : {}), attempt: 1, locked: false },
    known ? { t: 'reuse', cycle, serial: known.serial, mac: known.mac, uid: opts.uid! } : { t: 'reserve', cycle, serial: identity.serial, mac: identity.mac, ...(opts.uid ? { uid: opts.uid } : {}) },
  ]);
  return books.record(record(cycle, identity, opts));
}

function record(cycle: string, identity: { serial: string; mac: string }, opts: { uid?: string; result?: UnitRecord['result'] }): NewRecord {
  return {
    id: cycle,
    station: 'jig-01',
    plan: { name: 'p', product: 'widget' },
    serial: identity.serial,
    mac: identity.mac,
    ...(opts.uid ? { chipUid: opts.uid } : {}),
    attempt: 1,
    flashes: 0,
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:00:05.000Z',
    durationMs: 5000,
    result: opts.result ?? 'PASS',
    steps: [{ name: 'identity', kind: 'identity', outcome: 'pass', startedAt: '', durationMs: 1, measurements: [] }],
  };
}

describe('the ledger: numbers', () => {
  it('issues consecutive serials and MACs, never twice across a restart', async () => {
    let books = await open();
    await books.ledger!.useBlock(WG, 'station config');
    expect((await unit(books, WG)).serial).toBe('WG000001');
    expect((await unit(books, WG)).mac).toBe('02:50:4a:00:00:02');
    await books.close();
    books = await open(true);
    const third = await unit(books, WG);
    expect([third.serial, third.mac]).toEqual(['WG000003', '02:50:4a:00:00:03']);
    await books.close();
  });

  it('a block overlapping numbers used is refused, naming both ranges; an extended block continues after the last number issued', async () => {
    const books = await open();
    const small: IdentityBlock = { serial: serialRange('WG', 6, 1, 2), mac: macRange('02:50:4a:00:00:01', 2) };
    await books.ledger!.useBlock(small, 'bundle 1.0.0');
    await unit(books, small);
    await unit(books, small);
    expect(() => books.ledger!.nextIdentity(small)).toThrow(LedgerError);
    expect(() => books.ledger!.nextIdentity(small)).toThrow(/serial WG000001..WG000002 \(2\): every number is issued/);
    // the same block, extended: continues at 3
    const extended: IdentityBlock = { serial: serialRange('WG', 6, 1, 10), mac: macRange('02:50:4a:00:00:01', 10) };
    await books.ledger!.useBlock(extended, 'bundle 1.1.0');
    expect((await unit(books, extended)).serial).toBe('WG000003');
    // a block that starts inside the used one: refused
    const overlapping: IdentityBlock = { serial: serialRange('WG', 6, 2, 10), mac: macRange('02:50:4a:00:10:00', 10) };
    await expect(books.ledger!.useBlock(overlapping, 'bundle 2.0.0')).rejects.toMatchObject({
      code: 'BLOCK_OVERLAP',
      message: 'bundle 2.0.0: serial WG000002..WG000011 (10) overlaps serial WG000001..WG000010 (10) (bundle 1.1.0)',
    });
    await books.close();
  });

  it('a new serial range with the MAC range kept (serial-only change) numbers from its start and keeps counting the MACs, and the other way round', async () => {
    const books = await open();
    await books.ledger!.useBlock(WG, 'config');
    await unit(books, WG);
    await unit(books, WG);
    const serialOnly: IdentityBlock = { serial: serialRange('XY', 6, 500, 100), mac: WG.mac };
    await books.ledger!.useBlock(serialOnly, 'bundle with its own serials');
    expect(await unit(books, serialOnly)).toMatchObject({ serial: 'XY000500', mac: '02:50:4a:00:00:03' });
    const macOnly: IdentityBlock = { serial: WG.serial, mac: macRange('02:99:00:00:00:00', 100) };
    await books.ledger!.useBlock(macOnly, 'bundle with its own MACs');
    expect(await unit(books, macOnly)).toMatchObject({ serial: 'WG000003', mac: '02:99:00:00:00:00' });
    await books.close();
  });

  it('a block near 2^53 issues distinct numbers (BigInt)', async () => {
    const books = await open();
    const big: IdentityBlock = { serial: serialRange('P', 16, 9_007_199_254_740_991, 3), mac: macRange('02:00:00:00:00:01', 3) };
    await books.ledger!.useBlock(big, 'bundle');
    const serials = [(await unit(books, big)).serial, (await unit(books, big)).serial, (await unit(books, big)).serial];
    expect(serials).toEqual(['P9007199254740991', 'P9007199254740992', 'P9007199254740993']);
    await books.close();
  });

  it('a board with a chip UID keeps the number issued to it', async () => {
    const books = await open();
    await books.ledger!.useBlock(WG, 'config');
    const first = await unit(books, WG, { uid: 'aa'.repeat(12), result: 'FAIL' });
    await unit(books, WG, { uid: 'bb'.repeat(12) });
    const retest = await unit(books, WG, { uid: 'aa'.repeat(12) });
    expect(retest.serial).toBe(first.serial);
    expect(books.ledger!.boards.get('aa'.repeat(12))).toMatchObject({ passed: true, identity: { serial: 'WG000001' } });
    await books.close();
  });
});

describe('the ledger: crashes and losses', () => {
  it('a torn last line is cut off and kept aside; a damaged line in the middle is refused (never skipped)', async () => {
    let books = await open();
    await books.ledger!.useBlock(WG, 'config');
    await unit(books, WG);
    await books.close();
    const path = join(dir, LEDGER_FILE);
    await appendFile(path, '{"n":99,"prev":"00');
    books = await open(true);
    expect(await books.problem()).toBeUndefined();
    expect((await unit(books, WG)).serial).toBe('WG000002');
    await books.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    const at = lines.findIndex((l) => l.includes('"t":"reserve"'));
    lines[at] = lines[at]!.replace('WG000001', 'WG000009'); // someone "moves" a serial number
    await writeFile(path, lines.join('\n'));
    books = await open(true);
    expect(await books.problem()).toMatch(new RegExp(`line ${at + 2} is damaged \\(the hash chain breaks\\)`));
    expect(books.problemNow()).toBeDefined(); // START is refused: ORDER CHECK FAILED
    await books.close();
  });

  it('a unit journaled but not committed (crash between the two writes) is committed at the next open', async () => {
    const books = await open();
    await books.ledger!.useBlock(WG, 'config');
    const cycle = 'crash-1';
    const id = books.ledger!.nextIdentity(WG);
    await books.ledger!.append([{ t: 'reserve', cycle, serial: id.serial, mac: id.mac }]);
    await books.journal.append(record(cycle, id, {})); // the ledger's commit never happened
    await books.close();
    const again = await open(true);
    expect(again.recovery.committed).toBe(1);
    expect(again.counts().PASS).toBe(1);
    expect((await verifyBooks(dir)).problems).toEqual([]);
    await again.close();
  });

  it('a cycle cut short mid-cycle gets a journal record (INTERRUPTED) with its serial, chip and flashes', async () => {
    const books = await open();
    await books.ledger!.useBlock(WG, 'config');
    const cycle = 'cut-1';
    await books.ledger!.append([
      { t: 'cycle', cycle, startedAt: '2026-01-01T00:00:00.000Z', plan: { name: 'p', product: 'widget' }, image: { bundleId: 'b', version: '1.0.0', imageHash: 'f'.repeat(64), regions: {} } },
      { t: 'admit', cycle, uid: 'cc'.repeat(12), attempt: 1, locked: false },
      { t: 'flash', cycle, image: 'f'.repeat(64), order: 'image:ff', uid: 'cc'.repeat(12) },
      { t: 'reserve', cycle, serial: 'WG000001', mac: '02:50:4a:00:00:01', uid: 'cc'.repeat(12) },
    ]);
    await books.close();
    const again = await open(true);
    expect(again.recovery.interrupted).toHaveLength(1);
    expect(again.recovery.interrupted[0]).toMatchObject({ seq: 1, id: cycle, result: 'ERROR', reason: 'INTERRUPTED', serial: 'WG000001', chipUid: 'cc'.repeat(12), flashes: 1 });
    // the chip keeps its number when it comes back; the next board gets the next one
    expect((await unit(again, WG, { uid: 'cc'.repeat(12) })).serial).toBe('WG000001');
    expect((await unit(again, WG)).serial).toBe('WG000002');
    const report = await verifyBooks(dir);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ units: 3, serials: 2, flashes: 1 });
    await again.close();
  });

  it('ledger lost, journal kept: rebuilt from the journal, and numbering never restarts below what the journal shows', async () => {
    let books = await open();
    await books.ledger!.useBlock(WG, 'config');
    for (let i = 0; i < 3; i++) await unit(books, WG, { uid: `${i}`.repeat(24) });
    await books.close();
    await unlink(join(dir, LEDGER_FILE));
    books = await open(true);
    expect(books.recovery.rebuiltFrom).toBe(3);
    expect(books.ledger!.origin).toBe('rebuilt');
    await books.ledger!.useBlock(WG, 'config');
    expect((await unit(books, WG)).serial).toBe('WG000004');
    expect((await unit(books, WG, { uid: '1'.repeat(24) })).serial).toBe('WG000002'); // the retest still finds its chip
    expect(books.counts().PASS).toBe(5);
    await books.close();
  });

  it('both lost on a station that has run before (its station key is there): refused until a recorded engineer reset', async () => {
    await loadOrCreateStationKey(dir);
    expect(await stationHasRun(dir)).toBe(true);
    const books = await open(true);
    expect(books.ledger).toBeUndefined();
    expect(await books.problem()).toMatch(/both gone, but this station has run before.*pijig ledger reset/);
    await books.close();
    // the reset is the first line of the new ledger
    const reset = await Ledger.create(join(dir, LEDGER_FILE), { t: 'open', station: 'jig-01', origin: 'reset', reason: 'SD card replaced', by: 'ana' });
    await reset.close();
    const after = await open(true);
    expect(await after.problem()).toBeUndefined();
    expect(after.ledger!.origin).toBe('reset');
    expect((await readFile(join(dir, LEDGER_FILE), 'utf8')).split('\n')[0]).toContain('"reason":"SD card replaced"');
    await after.close();
  });

  it('the ledger shows units the journal lost: the journal is damaged, nothing is appended', async () => {
    const books = await open();
    await books.ledger!.useBlock(WG, 'config');
    await unit(books, WG);
    await unit(books, WG);
    await books.close();
    const path = join(dir, 'units.jsonl');
    const lines = (await readFile(path, 'utf8')).split('\n');
    await writeFile(path, `${lines[0]}\n`);
    const again = await open(true);
    expect(again.journal.damage).toMatchObject({ seq: 2 });
    expect(again.journal.damage!.message).toMatch(/records #2..#2 are missing/);
    await expect(again.journal.append(record('x', { serial: 'X', mac: '02:00:00:00:00:09' }, {}))).rejects.toMatchObject({ code: 'DAMAGED' });
    await again.close();
  });

  it('counters come from the ledger and the journal, and survive a restart', async () => {
    let books = await open();
    await books.ledger!.useBlock(WG, 'config');
    await unit(books, WG, { result: 'PASS' });
    await unit(books, WG, { result: 'FAIL' });
    await unit(books, WG, { result: 'ERROR' });
    await books.close();
    books = await open(true);
    expect(books.counts()).toEqual({ PASS: 1, FAIL: 1, ERROR: 1, ABORTED: 0 });
    const report = await verifyBooks(dir);
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ units: 3, serials: 3, macs: 3, flashes: 0, wasted: 0 });
    await books.close();
  });
});
