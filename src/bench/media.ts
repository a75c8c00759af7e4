import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchFigure } from './bench.js';
import { Journal } from '../records/journal.js';
import type { UnitRecord } from '../core/record.js';
import { LogSync, STICK_LOGS_DIR, UNITS_CSV, UNITS_JSONL } from '../outputs/stick-logs.js';

const RECORDS = 100_000;
const MORE = 100;

/** The benchmark's unit record (also the history figure's). */
export function benchRecord(seq: number): UnitRecord {
  const pass = seq % 20 !== 0;
  return {
    seq,
    id: `bench-${seq}`,
    station: 'bench-01',
    plan: { name: 'blinky-production', product: 'blinky' },
    image: { bundleId: 'b'.repeat(64), version: '1.4.2', imageHash: 'a'.repeat(64), regions: { bootloader: 'c'.repeat(64), application: 'd'.repeat(64) } },
    serial: `BLK-${seq.toString().padStart(8, '0')}`,
    mac: `02:50:4a:${((seq >> 16) & 0xff).toString(16).padStart(2, '0')}:${((seq >> 8) & 0xff).toString(16).padStart(2, '0')}:${(seq & 0xff).toString(16).padStart(2, '0')}`,
    startedAt: new Date(Date.UTC(2025, 0, 1) + seq * 20_000).toISOString(),
    endedAt: new Date(Date.UTC(2025, 0, 1) + seq * 20_000 + 9_000).toISOString(),
    durationMs: 9_000 + (seq % 500),
    result: pass ? 'PASS' : 'FAIL',
    ...(pass ? {} : { failedStep: 'current', reason: 'LIMIT_HIGH' as const, message: 'idle current 23.1 mA above 20 mA' }),
    steps: [
      { name: 'program', kind: 'program', outcome: 'pass', startedAt: '2025-01-01T00:00:00.000Z', durationMs: 6200, measurements: [] },
      { name: 'current', kind: 'current', outcome: pass ? 'pass' : 'fail', startedAt: '2025-01-01T00:00:06.200Z', durationMs: 400, measurements: [{ name: 'idle', value: pass ? 12.3 : 23.1, unit: 'mA', limit: { min: 5, max: 20, unit: 'mA' }, verdict: pass ? 'pass' : 'fail' }] },
    ],
  };
}

/**
 * Log sync to a stick: 100k unit records from a real Journal to a folder standing in for the
 * stick (on the temp filesystem, so the figure is the software's cost, not a USB stick's write
 * speed), first a full sync, then an incremental one after 100 more records.
 */
export async function run(): Promise<BenchFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-bench-media-'));
  try {
    const journalPath = join(dir, 'journal.jsonl');
    // The journal is written in one go (its format: one JSON line per record, seq first) - appending
    // 100k records with an fsync each would measure the disk, not the sync.
    const lines: string[] = [];
    for (let seq = 1; seq <= RECORDS; seq++) lines.push(`${JSON.stringify(benchRecord(seq))}\n`);
    await writeFile(journalPath, lines.join(''));
    const journal = await Journal.open(journalPath);
    const stick = join(dir, 'stick');
    await mkdir(stick); // the mount: the jig makes only pijig/logs/<station> on it
    const sync = new LogSync({ journal, stationId: 'bench-01' });

    let t0 = performance.now();
    const first = await sync.sync(stick);
    const firstMs = performance.now() - t0;
    if (first.appended !== RECORDS) throw new Error(`bench: first sync appended ${first.appended}, expected ${RECORDS}`);

    for (let seq = RECORDS + 1; seq <= RECORDS + MORE; seq++) await journal.append(benchRecord(seq));
    t0 = performance.now();
    const second = await sync.sync(stick);
    const incrementalMs = performance.now() - t0;
    if (second.appended !== MORE) throw new Error(`bench: incremental sync appended ${second.appended}, expected ${MORE}`);
    await journal.close();

    const logs = join(stick, STICK_LOGS_DIR, 'bench-01');
    const bytes = (await stat(join(logs, UNITS_JSONL))).size + (await stat(join(logs, UNITS_CSV))).size;
    return [
      { name: 'media: log sync, first, 100k records', value: firstMs, unit: 'ms', method: `LogSync.sync to an empty temp dir from a real Journal; JSONL + CSV (${(bytes / 1e6).toFixed(1)} MB), fsync + cursor every 5000` },
      { name: 'media: log sync, incremental, +100 after 100k', value: incrementalMs, unit: 'ms', method: 'second LogSync.sync after 100 Journal.append; includes the journal scan to the cursor' },
      { name: 'media: log sync throughput, first sync', value: RECORDS / (firstMs / 1000), unit: 'rec/s', method: '100k / first sync time' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
