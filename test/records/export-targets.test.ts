import { describe, expect, it } from 'vitest';
import { lstat, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { exportUnits, toJson, writeUnits } from '../../src/records/export.js';
import type { UnitRecord } from '../../src/core/record.js';

const unit = (seq: number): UnitRecord => ({
  seq,
  id: `u-${seq}`,
  station: 'jig',
  plan: { name: 'p', product: 'widget' },
  serial: `WG${seq}`,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:05.000Z',
  durationMs: 5000,
  result: 'PASS',
  steps: [{ name: 'current', kind: 'current', outcome: 'pass', startedAt: '2026-01-01T00:00:01.000Z', durationMs: 10, measurements: [{ name: 'i', value: 31.5, unit: 'mA', verdict: 'pass' }] }],
});

describe('export targets', () => {
  it('streams JSON byte for byte as toJson, and returns the number of records written', async () => {
    let text = '';
    const n = await writeUnits([unit(1), unit(2)], { write: async (t) => void (text += t) }, 'json');
    expect(n).toBe(2);
    expect(text).toBe(await toJson([unit(1), unit(2)]));
    let empty = '';
    expect(await writeUnits([], { write: async (t) => void (empty += t) }, 'json')).toBe(0);
    expect(empty).toBe(await toJson([]));
  });

  it('writes into a FIFO in place and never replaces it (as /dev/stdout is never replaced); a symlink to a file stays a symlink', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-export-'));
    try {
      const fifo = join(dir, 'pipe');
      await execa('mkfifo', [fifo]);
      const reader = new Promise<string>((resolve) => {
        let got = '';
        createReadStream(fifo, 'utf8')
          .on('data', (c) => (got += c))
          .on('end', () => resolve(got));
      });
      expect(await exportUnits([unit(1), unit(2), unit(3)], fifo, 'csv')).toBe(3);
      expect((await reader).split('\r\n').filter(Boolean)).toHaveLength(4);
      expect((await lstat(fifo)).isFIFO()).toBe(true);

      const target = join(dir, 'real.csv');
      await writeFile(target, 'old');
      const link = join(dir, 'link.csv');
      await symlink(target, link);
      expect(await exportUnits([unit(1)], link, 'csv')).toBe(1);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      expect(await readlink(link)).toBe(target);
      expect(await readFile(target, 'utf8')).toMatch(/^seq,/);
      await expect(exportUnits([unit(1)], dir, 'csv')).rejects.toMatchObject({ code: 'EISDIR' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('`pijig export --out /dev/stdout` as root leaves the device node a symlink and writes through it', async () => {
    const before = await lstat('/dev/stdout');
    const dir = await mkdtemp(join(tmpdir(), 'pijig-export-'));
    try {
      await writeFile(join(dir, 'units.jsonl'), `${JSON.stringify(unit(1))}\n`);
      const r = await execa(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'export', '--data-dir', dir, '--format', 'openhtf', '--out', '/dev/stdout'], { timeout: 60_000, killSignal: 'SIGKILL' });
      expect(JSON.parse(r.stdout.trim())).toMatchObject({ dut_id: 'WG1', outcome: 'PASS' });
      expect(r.stderr).toMatch(/^1 record written \(openhtf\) to \/dev\/stdout$/m);
      const after = await lstat('/dev/stdout');
      expect(after.isSymbolicLink()).toBe(before.isSymbolicLink());
      expect(after.ino).toBe(before.ino);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
