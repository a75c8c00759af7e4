import { describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryIndex } from '../../src/records/history.js';
import { Journal } from '../../src/records/journal.js';
import type { UnitRecord } from '../../src/core/record.js';

const unit = (seq: number, over: Partial<UnitRecord> = {}): UnitRecord => ({
  seq,
  id: `u-${seq}`,
  station: 'jig',
  plan: { name: 'p', product: 'widget' },
  serial: `WG${String(seq).padStart(6, '0')}`,
  startedAt: new Date(Date.UTC(2026, 0, 1) + seq * 60_000).toISOString(),
  endedAt: new Date(Date.UTC(2026, 0, 1) + seq * 60_000 + 5000).toISOString(),
  durationMs: 5000,
  result: seq % 4 === 0 ? 'FAIL' : 'PASS',
  steps: [],
  ...over,
});

describe('the history index', () => {
  it('finds units by serial, chip UID, label, result and time; the last N; reads the full records at their offsets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-hist-'));
    try {
      const path = join(dir, 'units.jsonl');
      const records = Array.from({ length: 40 }, (_, i) => unit(i + 1, i === 9 ? { chipUid: '0x1234', label: 'LBL-9' } as Partial<UnitRecord> : {}));
      records.push(unit(41, { serial: 'WG000003' })); // a retest that got the same serial
      await writeFile(path, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      const index = await HistoryIndex.open(path);
      expect(index.size).toBe(41);
      expect(index.query({ last: 3 }).map((e) => e.seq)).toEqual([39, 40, 41]);
      expect(index.query({ serial: 'WG000003' }).map((e) => e.seq)).toEqual([3, 41]);
      expect(index.query({ uid: '0x1234' }).map((e) => e.seq)).toEqual([10]);
      expect(index.query({ board: 'LBL-9' }).map((e) => e.seq)).toEqual([10]);
      expect(index.query({ result: 'FAIL', last: 2 }).map((e) => e.seq)).toEqual([36, 40]);
      expect(index.query({ sinceMs: Date.parse(records[37]!.startedAt) }).map((e) => e.seq)).toEqual([38, 39, 40, 41]);
      expect(index.query({ serial: 'NOPE' })).toEqual([]);
      const full = await index.records(index.query({ serial: 'WG000003' }));
      expect(full).toEqual([records[2], records[40]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('follows appends (a line without its newline yet waits), and a missing file is an empty history', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-hist-'));
    try {
      const path = join(dir, 'units.jsonl');
      const index = await HistoryIndex.open(path);
      expect(index.size).toBe(0);
      const journal = await Journal.open(path);
      for (let i = 1; i <= 3; i++) {
        const { seq: _, ...r } = unit(i);
        await journal.append(r);
      }
      await journal.close();
      await appendFile(path, JSON.stringify(unit(4)).slice(0, 30)); // torn, being written
      await index.refresh();
      expect(index.query({}).map((e) => e.seq)).toEqual([1, 2, 3]);
      await appendFile(path, `${JSON.stringify(unit(4)).slice(30)}\n`);
      await index.refresh();
      expect(index.query({}).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect((await index.records(index.query({ serial: 'WG000004' })))[0]).toEqual(unit(4));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
