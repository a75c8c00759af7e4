import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchFigure } from './bench.js';
import { HistoryIndex } from '../records/history.js';
import { ControlServer } from '../control/server.js';
import { ControlClient } from '../control/client.js';
import { handler } from '../control/service.js';
import { summarize } from '../control/summary.js';
import { z } from 'zod';
import { benchRecord } from './media.js';

const RECORDS = 100_000;

/**
 * `pijig history --serial` at 100k units: the index built over a real 100k-record journal (the
 * same records as the log-sync figure), then the lookup and the read of the record - in process,
 * and through a control socket as the command asks it (connect, hello, request, answer).
 */
export async function run(): Promise<BenchFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-bench-history-'));
  try {
    const path = join(dir, 'units.jsonl');
    const lines: string[] = [];
    for (let seq = 1; seq <= RECORDS; seq++) lines.push(`${JSON.stringify(benchRecord(seq))}\n`);
    await writeFile(path, lines.join(''));
    let t0 = performance.now();
    const index = await HistoryIndex.open(path);
    const buildMs = performance.now() - t0;

    const serials = [1, 25_000, 50_000, 75_000, 99_999].map((s) => `BLK-${String(s).padStart(8, '0')}`);
    const lookups: number[] = [];
    for (const serial of serials) {
      t0 = performance.now();
      const got = await index.records(index.query({ serial }));
      lookups.push(performance.now() - t0);
      if (got.length !== 1) throw new Error(`bench: ${serial} found ${got.length} times`);
    }

    const server = new ControlServer({
      socket: join(dir, 'control.sock'),
      readSocket: null,
      hello: { station: 'bench', version: '0' },
      commands: {
        history: handler({
          access: 'read',
          args: z.strictObject({ serial: z.string() }),
          run: async (a) => {
            await index.refresh();
            return { total: index.size, units: (await index.records(index.query({ serial: a.serial }))).map(summarize) };
          },
        }),
      },
      log: () => {},
    });
    await server.listen();
    const trips: number[] = [];
    try {
      for (const serial of serials) {
        t0 = performance.now();
        const c = await ControlClient.connect(join(dir, 'control.sock'));
        await c.request('history', { serial });
        c.close();
        trips.push(performance.now() - t0);
      }
    } finally {
      await server.close();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return [
      { name: 'history: index build, 100k records', value: buildMs, unit: 'ms', method: 'HistoryIndex.open over a 100k-record journal (one streaming pass, JSON.parse per line); done once at start-up, in the background' },
      { name: 'history --serial at 100k: lookup + read, median', value: median(lookups), unit: 'ms', method: `5 serials across the journal; map lookup, then the record read at its offset` },
      { name: 'history --serial at 100k: over the socket, median', value: median(trips), unit: 'ms', method: 'ControlClient connect + hello + history request + answer, 5 serials (node start-up of the CLI not included)' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
