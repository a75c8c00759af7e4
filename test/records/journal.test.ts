import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtemp, rm, appendFile, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../src/records/journal.js';
import type { UnitRecord } from '../../src/core/record.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'pijig-journal-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

const unit = (serial: string): Omit<UnitRecord, 'seq'> => ({
  id: serial,
  station: 'jig',
  plan: { name: 'p', product: 'widget' },
  serial,
  startedAt: '2026-11-21T06:00:00.000Z',
  endedAt: '2026-11-21T06:00:05.000Z',
  durationMs: 5000,
  result: 'PASS',
  steps: [],
});

async function all(j: Journal, from?: number) {
  const out: UnitRecord[] = [];
  for await (const r of j.read(from)) out.push(r);
  return out;
}

describe('unit journal', () => {
  it('appends with consecutive seq numbers that survive a reopen', async () => {
    const path = join(dir, 'units.jsonl');
    const j = await Journal.open(path);
    await Promise.all([j.append(unit('A1')), j.append(unit('A2')), j.append(unit('A3'))]);
    await j.close();
    const again = await Journal.open(path);
    expect(again.count).toBe(3);
    expect((await again.append(unit('A4'))).seq).toBe(4);
    expect((await all(again)).map((r) => [r.seq, r.serial])).toEqual([
      [1, 'A1'],
      [2, 'A2'],
      [3, 'A3'],
      [4, 'A4'],
    ]);
    expect((await all(again, 3)).map((r) => r.serial)).toEqual(['A3', 'A4']);
    await again.close();
  });

  it('cuts a torn last line (power cut) on open, keeps it aside, and loses none of the lines before it', async () => {
    const path = join(dir, 'units.jsonl');
    const j = await Journal.open(path);
    for (let i = 1; i <= 5; i++) await j.append(unit(`S${i}`));
    await j.close();
    const torn = JSON.stringify({ seq: 6, ...unit('S6') }).slice(0, 57);
    await appendFile(path, torn);

    const recovered = await Journal.open(path);
    expect(recovered.recovery.tornBytes).toBe(torn.length);
    expect(recovered.count).toBe(5);
    expect((await all(recovered)).map((r) => r.serial)).toEqual(['S1', 'S2', 'S3', 'S4', 'S5']);
    const next = await recovered.append(unit('S6'));
    expect(next.seq).toBe(6);
    await recovered.close();
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((l) => JSON.parse(l).serial)).toEqual(['S1', 'S2', 'S3', 'S4', 'S5', 'S6']);
    const saved = (await readdir(dir)).filter((f) => f.startsWith('units.jsonl.torn-'));
    expect(saved).toHaveLength(1);
    expect(await readFile(join(dir, saved[0]!), 'utf8')).toBe(torn);
  });

  it('reads from any seq of a large journal without scanning it from the start', async () => {
    const path = join(dir, 'units.jsonl');
    const j = await Journal.open(path);
    const padding = 'x'.repeat(700); // ~1 KB lines: the bisection window (64 KiB) is crossed many times
    for (let i = 1; i <= 3000; i++) await j.append({ ...unit(`S${i}`), message: padding });
    for (const from of [2, 64, 65, 1500, 2999, 3000, 3001]) {
      const got = await all(j, from);
      expect(got.length, `from ${from}`).toBe(Math.max(0, 3001 - from));
      if (got.length) expect(got[0]!.seq).toBe(from);
    }
    await j.close();
  });

  it('opens a journal that is only a torn line as empty', async () => {
    const path = join(dir, 'units.jsonl');
    await appendFile(path, '{"seq":1,"id":"x","sta');
    const j = await Journal.open(path);
    expect(j.count).toBe(0);
    expect((await j.append(unit('A'))).seq).toBe(1);
    await j.close();
  });

  it('refuses to append after close with a clear error', async () => {
    const j = await Journal.open(join(dir, 'units.jsonl'));
    await j.close();
    await expect(j.append(unit('late'))).rejects.toThrow(/journal .*units\.jsonl is closed/);
  });
});
