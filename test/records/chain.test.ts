import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UnitRecord } from '../../src/core/record.js';
import { GENESIS, lineHash, verifyChainFile } from '../../src/records/chain.js';
import { Journal, type NewRecord } from '../../src/records/journal.js';
import { repairJournal } from '../../src/records/repair.js';
import { Books } from '../../src/records/books.js';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pijig-chain-'));
  path = join(dir, 'units.jsonl');
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const unit = (serial: string): NewRecord => ({
  id: `id-${serial}`,
  station: 'jig',
  plan: { name: 'p', product: 'widget' },
  serial,
  startedAt: '2026-11-21T06:00:00.000Z',
  endedAt: '2026-11-21T06:00:05.000Z',
  durationMs: 5000,
  result: 'PASS',
  steps: [],
});

async function journalOf(n: number): Promise<string[]> {
  const j = await Journal.open(path);
  for (let i = 1; i <= n; i++) await j.append(unit(`S${i}`));
  await j.close();
  return (await readFile(path, 'utf8')).trimEnd().split('\n');
}

const write = (lines: string[]) => writeFile(path, `${lines.join('\n')}\n`);
const verify = () => verifyChainFile(path, { seqField: 'seq' });

describe('the journal hash chain', () => {
  it('each record carries the sha256 of the line before it', async () => {
    const lines = await journalOf(3);
    const records = lines.map((l) => JSON.parse(l) as UnitRecord);
    expect(records[0]!.prev).toBe(GENESIS);
    expect(records[1]!.prev).toBe(lineHash(lines[0]!));
    expect(records[2]!.prev).toBe(lineHash(lines[1]!));
    expect(lines[1]!.startsWith('{"seq":2,"prev":"')).toBe(true);
    const s = await verify();
    expect(s.finding).toBeUndefined();
    expect(s).toMatchObject({ lines: 3, lastSeq: 3, head: lineHash(lines[2]!) });
  });

  it('names an edited record', async () => {
    const lines = await journalOf(5);
    lines[2] = lines[2]!.replace('"result":"PASS"', '"result":"FAIL"');
    await write(lines);
    expect((await verify()).finding).toMatchObject({ kind: 'edited', seq: 3, line: 3 });
  });

  it('names a deleted record', async () => {
    const lines = await journalOf(5);
    lines.splice(1, 1);
    await write(lines);
    expect((await verify()).finding).toMatchObject({ kind: 'deleted', seq: 2, message: 'line 2: record #2 was deleted (#3 follows #1)' });
  });

  it('names an inserted record', async () => {
    const lines = await journalOf(5);
    lines.splice(3, 0, lines[2]!);
    await write(lines);
    expect((await verify()).finding).toMatchObject({ kind: 'inserted', seq: 3, line: 4 });
  });

  it('names a reordered record', async () => {
    const lines = await journalOf(5);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    await write(lines);
    expect((await verify()).finding).toMatchObject({ kind: 'reordered', seq: 2, message: 'line 2: record #2 is out of order (found at line 3, after #3)' });
  });

  it('names a damaged line', async () => {
    const lines = await journalOf(5);
    lines[3] = lines[3]!.slice(0, 40);
    await write(lines);
    expect((await verify()).finding).toMatchObject({ kind: 'damaged', seq: 4 });
  });
});

describe('a journal from before the chain', () => {
  it('its unchained records are accepted as they are; the chain starts after them and is checked from there', async () => {
    const legacy = [1, 2, 3].map((i) => JSON.stringify({ seq: i, ...unit(`L${i}`) }));
    await write(legacy);
    const j = await Journal.open(path);
    await j.append(unit('S4'));
    await j.append(unit('S5'));
    await j.close();
    const s = await verify();
    expect(s.finding).toBeUndefined();
    expect(s.unchained).toBe(3);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(JSON.parse(lines[3]!).prev).toBe(lineHash(lines[2]!));
    lines[3] = lines[3]!.replace('S4', 'S9');
    await write(lines);
    expect((await verify()).finding).toMatchObject({ kind: 'edited', seq: 4 });
  });
});

describe('a damaged line is never skipped', () => {
  it('readers reject at it, naming its seq; the journal refuses appends once it is known', async () => {
    const lines = await journalOf(5);
    lines[2] = '{"seq":3,"prev":"garbage';
    await write(lines);
    const j = await Journal.open(path);
    const read: number[] = [];
    await expect(
      (async () => {
        for await (const r of j.read()) read.push(r.seq);
      })(),
    ).rejects.toMatchObject({ code: 'DAMAGED', message: expect.stringContaining('record #3 is damaged') });
    expect(read).toEqual([1, 2]);
    await expect(j.append(unit('S6'))).rejects.toMatchObject({ code: 'DAMAGED' });
    await j.close();
  });

  it('a damaged last line is found at open', async () => {
    const lines = await journalOf(3);
    lines[2] = 'xx';
    await write(lines);
    const j = await Journal.open(path);
    expect(j.damage).toMatchObject({ seq: 3 });
    expect(j.count).toBe(3);
    await j.close();
  });

  it('verify() finds an edit anywhere and marks the journal damaged', async () => {
    const lines = await journalOf(5);
    lines[1] = lines[1]!.replace('S2', 'S9');
    await write(lines);
    const j = await Journal.open(path);
    expect(j.damage).toBeUndefined(); // open reads only the tail
    await j.verify();
    expect(j.damage).toMatchObject({ seq: 2 });
    await j.close();
  });
});

describe('pijig journal repair', () => {
  it('replaces a damaged line by a record of the repair: the chain verifies through it, the copy is kept, the repair is in the chain', async () => {
    const lines = await journalOf(5);
    const original = lines[2]!;
    lines[2] = original.slice(0, 50);
    await write(lines);
    const r = await repairJournal(dir, { by: 'ana', now: () => new Date('2026-12-01T10:00:00Z') });
    expect(r).toMatchObject({ replaced: [{ seq: 3, found: 'a damaged line' }], dropped: 0, records: 5 });
    const s = await verify();
    expect(s.finding).toBeUndefined();
    expect(s.repairs).toEqual([{ seq: 3, line: 3, found: 'a damaged line', at: '2026-12-01T10:00:00.000Z' }]);
    const repaired = (await readFile(path, 'utf8')).trimEnd().split('\n');
    const stand = JSON.parse(repaired[2]!) as UnitRecord;
    expect(stand).toMatchObject({ seq: 3, result: 'ERROR', reason: 'RECORD_LOST', repair: { found: 'a damaged line', text: original.slice(0, 50), replaces: lineHash(original) } });
    expect(repaired[3]).toBe(lines[3]); // the records after it are untouched
    expect(await readFile(r!.copy, 'utf8')).toBe(`${lines.join('\n')}\n`);
    // and the station appends again
    const j = await Journal.open(path);
    await j.verify();
    expect(j.damage).toBeUndefined();
    expect((await j.append(unit('S6'))).seq).toBe(6);
    await j.close();
    expect((await verify()).finding).toBeUndefined();
  });

  it('an edited record is replaced, a duplicate and a deleted one are accounted for', async () => {
    const lines = await journalOf(6);
    lines[1] = lines[1]!.replace('S2', 'S9'); // edited
    lines.splice(4, 1); // #5 deleted
    lines.push(lines[0]!); // #1 again
    await write(lines);
    const r = await repairJournal(dir);
    expect(r!.replaced).toEqual([
      { seq: 2, found: 'an edited record' },
      { seq: 5, found: 'missing' },
    ]);
    expect(r!.dropped).toBe(1);
    expect((await verify()).finding).toBeUndefined();
  });

  it('records the ledger committed and the journal lost are put back as repairs, with what the ledger knows', async () => {
    const books = await Books.open({ dataDir: dir, stationId: 'jig', ranBefore: false });
    for (let i = 1; i <= 3; i++) {
      await books.ledger!.append([{ t: 'reserve', cycle: `id-S${i}`, serial: `S${i}`, mac: `02:00:00:00:00:0${i}` }]);
      await books.record({ ...unit(`S${i}`), mac: `02:00:00:00:00:0${i}` });
    }
    await books.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    await write(lines.slice(0, 1));
    const r = await repairJournal(dir);
    expect(r!.replaced.map((x) => x.seq)).toEqual([2, 3]);
    const repaired = (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as UnitRecord);
    expect(repaired[2]).toMatchObject({ seq: 3, serial: 'S3', mac: '02:00:00:00:00:03', reason: 'RECORD_LOST', message: expect.stringContaining('the ledger shows PASS') });
    expect((await verify()).finding).toBeUndefined();
    expect((await readdir(dir)).some((f) => f.startsWith('units.jsonl.before-repair-'))).toBe(true);
  });

  it('a whole journal needs no repair', async () => {
    await journalOf(3);
    expect(await repairJournal(dir)).toBeUndefined();
  });
});
