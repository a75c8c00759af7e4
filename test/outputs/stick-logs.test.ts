import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutputError } from '../../src/outputs/errors.js';
import { CURSOR_FILE, LogSync, UNITS_CSV, UNITS_JSONL, type LogSyncDeps } from '../../src/outputs/stick-logs.js';
import { ejectStick, insertStick } from '../../src/sim/stick.js';
import { csvHeader, unitCsvLine, unitJsonLine } from '../../src/records/export.js';
import { Journal } from '../../src/records/journal.js';
import type { UnitRecord } from '../../src/core/record.js';
import { stickWith, tempDir, unit } from '../media/helpers.js';
import { CHECKPOINT_FILE, checkpointProblem, makeCheckpoint, parseCheckpoint, type CheckpointCounts } from '../../src/records/checkpoint.js';
import { loadOrCreateStationKey } from '../../src/records/station-key.js';
import { lineHash, verifyChainFile } from '../../src/records/chain.js';

async function journalWith(n: number): Promise<Journal> {
  const j = await Journal.open(join(await tempDir('pijig-journal-'), 'units.jsonl'));
  for (let i = 1; i <= n; i++) await j.append(unit(i));
  return j;
}

async function all(j: Journal): Promise<UnitRecord[]> {
  const out: UnitRecord[] = [];
  for await (const r of j.read()) out.push(r);
  return out;
}

/** What the stick must hold after a complete sync: every record once, in order. */
async function expectComplete(stickRoot: string, j: Journal): Promise<void> {
  const dir = join(stickRoot, 'pijig/logs/st-01');
  const records = await all(j);
  expect(await readFile(join(dir, UNITS_JSONL), 'utf8')).toBe(records.map(unitJsonLine).join(''));
  expect(await readFile(join(dir, UNITS_CSV), 'utf8')).toBe(csvHeader() + records.map((r) => unitCsvLine(r)).join(''));
}

/** A journal whose reading stops dead after `after` records: the stick pulled at that moment. */
function pulledAfter(j: Journal, after: number, onPull: () => Promise<void> = async () => {}): LogSyncDeps['journal'] {
  return {
    get count() {
      return j.count;
    },
    async *read(from?: number) {
      let n = 0;
      for await (const r of j.read(from)) {
        if (n++ === after) {
          await onPull();
          throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        }
        yield r;
      }
    },
  };
}

describe('log sync to the stick', () => {
  it('writes every record as CSV and JSONL, then only the new ones, and nothing on a repeat', async () => {
    const j = await journalWith(25);
    const stick = await tempDir('pijig-stick-');
    const sync = new LogSync({ journal: j, stationId: 'st-01', commitEvery: 10 });
    const progress: string[] = [];
    sync.on('progress', (p) => progress.push(`${p.done}/${p.total}`));

    expect(await sync.sync(stick)).toMatchObject({ appended: 25, lastSeq: 25, repair: 'none' });
    expect(progress).toEqual(['0/25', '10/25', '20/25', '25/25']);
    await expectComplete(stick, j);

    for (let i = 26; i <= 30; i++) await j.append(unit(i));
    expect(await sync.sync(stick)).toMatchObject({ appended: 5, lastSeq: 30, repair: 'none' });
    await expectComplete(stick, j);

    const before = await readFile(join(stick, 'pijig/logs/st-01', UNITS_CSV), 'utf8');
    expect(await sync.sync(stick)).toMatchObject({ appended: 0, lastSeq: 30 });
    expect(await readFile(join(stick, 'pijig/logs/st-01', UNITS_CSV), 'utf8')).toBe(before);
    const cursor = JSON.parse(await readFile(join(stick, 'pijig/logs/st-01', CURSOR_FILE), 'utf8'));
    expect(cursor).toMatchObject({ station: 'st-01', seq: 30, lastId: 'u-000030' });
  });

  it('keeps each stick incremental on its own', async () => {
    const j = await journalWith(3);
    const a = await tempDir();
    const b = await tempDir();
    const sync = new LogSync({ journal: j, stationId: 'st-01' });
    await sync.sync(a);
    await j.append(unit(4));
    expect((await sync.sync(b)).appended).toBe(4);
    expect((await sync.sync(a)).appended).toBe(1);
    await expectComplete(a, j);
    await expectComplete(b, j);
  });

  it('loses nothing and duplicates nothing when the stick is pulled at any point of a sync', async () => {
    const j = await journalWith(14);
    for (let synced = 0; synced <= 4; synced += 4) {
      for (let k = 0; k < 14 - synced; k++) {
        const stick = await tempDir('pijig-stick-');
        // a stick that already holds the first `synced` records
        if (synced) {
          const first = await Journal.open(join(await tempDir(), 'j.jsonl'));
          for (const r of (await all(j)).slice(0, synced)) await first.append(r);
          await new LogSync({ journal: first, stationId: 'st-01' }).sync(stick);
          await first.close();
        }
        // a sync pulled after k records, each written as it comes, fsync'd every 3 ...
        const interrupted = new LogSync({ journal: pulledAfter(j, k), stationId: 'st-01', commitEvery: 3, flushBytes: 1 });
        await expect(interrupted.sync(stick)).rejects.toBeInstanceOf(OutputError);
        // ... with a line half-written when the power went
        await appendFile(join(stick, 'pijig/logs/st-01', UNITS_JSONL), '{"seq":99,"id":"u-0');
        await appendFile(join(stick, 'pijig/logs/st-01', UNITS_CSV), '99,st-01,"BLK-');
        // the next insertion completes it
        const next = await new LogSync({ journal: j, stationId: 'st-01' }).sync(stick);
        expect(next.repair).toBe('truncated');
        expect(next.lastSeq).toBe(14);
        await expectComplete(stick, j);
      }
    }
  });

  it('the cursor is never ahead of the data: only committed records count as synced', async () => {
    const j = await journalWith(10);
    const stick = await tempDir();
    await expect(new LogSync({ journal: pulledAfter(j, 7), stationId: 'st-01', commitEvery: 3, flushBytes: 1 }).sync(stick)).rejects.toThrow();
    const cursor = JSON.parse(await readFile(join(stick, 'pijig/logs/st-01', CURSOR_FILE), 'utf8'));
    expect(cursor.seq).toBe(6);
    const jsonl = await readFile(join(stick, 'pijig/logs/st-01', UNITS_JSONL));
    expect(jsonl.length).toBeGreaterThanOrEqual(cursor.jsonlBytes);
    expect(jsonl.subarray(0, cursor.jsonlBytes).toString().trimEnd().split('\n').map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a stick pulled mid-sync (the mount vanishes) is completed on the next insert', async () => {
    const j = await journalWith(12);
    const mount = await tempDir();
    const kept = join(await tempDir(), 'kept');
    const root = await insertStick(mount, 'LOGS', await stickWith());
    const err = await new LogSync({ journal: pulledAfter(j, 8, () => ejectStick(mount, 'LOGS', kept).then(() => undefined)), stationId: 'st-01', commitEvery: 5, flushBytes: 1 })
      .sync(root)
      .catch((e: unknown) => e as OutputError);
    expect(err).toMatchObject({ code: 'STICK_REMOVED' });
    const again = await insertStick(mount, 'LOGS', kept);
    // a batch is written only once it is read whole: the read that failed left nothing to cut
    expect(await new LogSync({ journal: j, stationId: 'st-01' }).sync(again)).toMatchObject({ appended: 7, lastSeq: 12, repair: 'none' });
    await expectComplete(again, j);
  });

  it('cuts an append the stick lost mid-write (data beyond the cursor, a torn line) and appends from the cursor', async () => {
    const j = await journalWith(4);
    const stick = await tempDir('pijig-stick-');
    await new LogSync({ journal: j, stationId: 'st-01' }).sync(stick);
    const dir = join(stick, 'pijig/logs/st-01');
    // the stick was pulled after part of the next records reached the files, before the cursor
    await appendFile(join(dir, UNITS_JSONL), '{"seq":5,"id":"torn');
    await appendFile(join(dir, UNITS_CSV), '5,st-01,WG0');
    for (let i = 5; i <= 6; i++) await j.append(unit(i));
    expect(await new LogSync({ journal: j, stationId: 'st-01' }).sync(stick)).toMatchObject({ appended: 2, lastSeq: 6, repair: 'truncated', droppedBytes: 30 });
    await expectComplete(stick, j);
  });

  it('rewrites the files when the cursor is lost or does not match them', async () => {
    const j = await journalWith(6);
    const stick = await tempDir();
    const sync = new LogSync({ journal: j, stationId: 'st-01' });
    await sync.sync(stick);
    await rm(join(stick, 'pijig/logs/st-01', CURSOR_FILE));
    await appendFile(join(stick, 'pijig/logs/st-01', UNITS_JSONL), '{"seq":7,"id":"half');
    expect(await sync.sync(stick)).toMatchObject({ repair: 'rebuilt', appended: 6 });
    await expectComplete(stick, j);
    await writeFile(join(stick, 'pijig/logs/st-01', UNITS_CSV), 'shortened by someone\r\n');
    expect(await sync.sync(stick)).toMatchObject({ repair: 'rebuilt', appended: 6 });
    await expectComplete(stick, j);
  });

  it('sets aside the logs of another journal with the same station id', async () => {
    const old = await journalWith(8);
    const stick = await tempDir();
    await new LogSync({ journal: old, stationId: 'st-01' }).sync(stick);
    const fresh = await Journal.open(join(await tempDir(), 'j.jsonl'));
    for (let i = 1; i <= 3; i++) await fresh.append(unit(i, { id: `new-${i}` }));
    expect(await new LogSync({ journal: fresh, stationId: 'st-01', now: () => new Date('2025-03-02T10:00:00Z') }).sync(stick)).toMatchObject({ repair: 'rotated', appended: 3 });
    await expectComplete(stick, fresh);
    expect((await readFile(join(stick, 'pijig/logs/st-01/units.2025-03-02T10-00-00-000Z.jsonl'), 'utf8')).split('\n')).toHaveLength(9);
  });

  it('refuses a station id that is not a plain folder name', () => {
    expect(() => new LogSync({ journal: { count: 0, read: async function* () {} }, stationId: '../etc' })).toThrow(expect.objectContaining({ code: 'STATION_ID_INVALID' }));
  });

  it('writes a checkpoint signed with the station key after the data: chain head and counts up to the last record synced', async () => {
    const j = await journalWith(7);
    const stick = await tempDir();
    const { key } = await loadOrCreateStationKey(await tempDir('pijig-data-'));
    const checkpoint = (at: { seq: number; head: string; counts: CheckpointCounts }) => JSON.stringify(makeCheckpoint(key, { station: 'st-01', ...at, at: '2026-12-01T10:00:00.000Z' }));
    const sync = new LogSync({ journal: j, stationId: 'st-01', checkpoint, commitEvery: 3 });
    await sync.sync(stick);
    const dir = join(stick, 'pijig/logs/st-01');
    const cp = parseCheckpoint(await readFile(join(dir, CHECKPOINT_FILE), 'utf8'), 'checkpoint.json');
    const lines = (await readFile(join(dir, UNITS_JSONL), 'utf8')).trimEnd().split('\n');
    expect(cp).toMatchObject({ station: 'st-01', seq: 7, head: lineHash(lines[6]!), counts: { PASS: 6, FAIL: 1, ERROR: 0, ABORTED: 0 }, fingerprint: key.fingerprint });
    expect(checkpointProblem(cp, key.publicKey)).toBeUndefined();
    // the stick's lines are the journal's own lines: its chain verifies on the stick
    expect((await verifyChainFile(join(dir, UNITS_JSONL), { seqField: 'seq' })).finding).toBeUndefined();
    await j.append(unit(8, { result: 'FAIL' }));
    await sync.sync(stick);
    expect(parseCheckpoint(await readFile(join(dir, CHECKPOINT_FILE), 'utf8'), 'c')).toMatchObject({ seq: 8, counts: { PASS: 6, FAIL: 2 } });
  });

  it("a CSV never changes its columns: a unit of a plan with other measurements starts a new units.csv, the old one is kept aside", async () => {
    const j = await Journal.open(join(await tempDir(), 'units.jsonl'));
    const measured = (i: number, names: string[]) =>
      unit(i, { plan: { name: 'p', product: 'blinky', measurements: names }, steps: [{ name: 's', kind: 'measure', outcome: 'pass', startedAt: '', durationMs: 1, measurements: names.map((n, k) => ({ name: n, value: k + 0.5, verdict: 'pass' as const })) }] });
    await j.append(measured(1, ['run_mean_ma']));
    await j.append(measured(2, ['run_mean_ma']));
    const stick = await tempDir();
    const sync = new LogSync({ journal: j, stationId: 'st-01', now: () => new Date('2026-03-02T10:00:00Z') });
    expect(await sync.sync(stick)).toMatchObject({ repair: 'none', appended: 2 });
    const dir = join(stick, 'pijig/logs/st-01');
    expect(await readFile(join(dir, UNITS_CSV), 'utf8')).toMatch(/^seq,.*,duration_ms,run_mean_ma\r\n1,.*,0\.5\r\n2,.*,0\.5\r\n$/);
    await j.append(measured(3, ['run_mean_ma', 'temp_c']));
    expect(await sync.sync(stick)).toMatchObject({ repair: 'rotated', appended: 1 });
    expect(await readFile(join(dir, UNITS_CSV), 'utf8')).toMatch(/^seq,.*,duration_ms,run_mean_ma,temp_c\r\n3,.*,0\.5,1\.5\r\n$/);
    expect((await readFile(join(dir, 'units.2026-03-02T10-00-00-000Z.csv'), 'utf8')).split('\r\n')).toHaveLength(4);
    expect((await readFile(join(dir, UNITS_JSONL), 'utf8')).trimEnd().split('\n')).toHaveLength(3); // the JSON lines go on
    await j.append(measured(4, ['run_mean_ma', 'temp_c']));
    expect(await sync.sync(stick)).toMatchObject({ repair: 'none', appended: 1 });
  });
});
