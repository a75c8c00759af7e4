import { describe, it, expect } from 'vitest';
import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/**
 * The floors of the house (README "Architecture"): what each part of src/ may import. Data flows
 * one way - devices -> steps -> station -> record -> journal -> outputs - and nothing below
 * reaches up. `app` (app.ts) and `cli` (cli.ts, cli/) are the entry points; `sim` is the virtual
 * jig, a second composition root; `bench` measures anything.
 */
export const FLOORS: Record<string, readonly string[]> = {
  util: [],
  core: ['util'],
  config: ['util', 'core'],
  devices: ['util', 'core', 'config'],
  steps: ['util', 'core', 'config', 'devices'],
  records: ['util', 'core'],
  station: ['util', 'core', 'config', 'devices', 'steps', 'records'],
  outputs: ['util', 'core', 'config', 'devices', 'records'],
  media: ['util', 'core', 'config', 'records', 'outputs'],
  operator: ['util', 'core', 'devices', 'station', 'media', 'outputs'],
  control: ['util', 'core', 'config', 'devices', 'steps', 'records', 'station', 'outputs', 'media', 'operator'],
  app: ['util', 'core', 'config', 'devices', 'steps', 'records', 'station', 'outputs', 'media', 'operator', 'control'],
  sim: ['util', 'core', 'config', 'devices', 'steps', 'records', 'station', 'outputs', 'media', 'operator', 'control', 'app'],
  cli: ['util', 'core', 'config', 'devices', 'steps', 'records', 'station', 'outputs', 'media', 'operator', 'control', 'app', 'sim'],
  bench: ['util', 'core', 'config', 'devices', 'steps', 'records', 'station', 'outputs', 'media', 'operator', 'control', 'app', 'sim'],
};

export interface Edge {
  from: string;
  to: string;
  /** `import()` inside a function: loaded only when that code runs. */
  dynamic: boolean;
}

export function floorOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  if (rel.length === 1) return rel[0]!.replace(/\.ts$/, ''); // app.ts, cli.ts
  return rel[0]!;
}

/** Every import (static, dynamic, re-export) between files of src/. */
export async function importGraph(): Promise<Edge[]> {
  const edges: Edge[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = await readFile(path, 'utf8');
        for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'|(?:^|\n)\s*import\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
          const spec = (m[1] ?? m[2] ?? m[3])!;
          edges.push({ from: path, to: resolve(dirname(path), spec.replace(/\.js$/, '.ts')), dynamic: m[3] !== undefined });
        }
      }
    }
  };
  await walk(SRC);
  return edges;
}

/** Imports that reach a floor the importer may not use. */
export function violations(edges: readonly Edge[], floors = FLOORS): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const from = floorOf(e.from);
    const to = floorOf(e.to);
    if (from === to) continue;
    const allowed = floors[from];
    if (!allowed) out.push(`${relative(SRC, e.from)}: floor "${from}" is not on the map`);
    else if (!allowed.includes(to)) out.push(`${relative(SRC, e.from)} imports ${relative(SRC, e.to)}: "${from}" may not import "${to}"`);
  }
  return out;
}

describe('the floors of the house', () => {
  it('no module imports a floor above its own', async () => {
    const edges = await importGraph();
    expect(edges.length).toBeGreaterThan(200);
    expect(violations(edges)).toEqual([]);
  });

  it('the check fails when a lower floor imports a higher one', () => {
    const edge = (from: string, to: string): Edge => ({ from: join(SRC, from), to: join(SRC, to), dynamic: false });
    expect(violations([edge('records/journal.ts', 'station/station.ts')])).toEqual(['records/journal.ts imports station/station.ts: "records" may not import "station"']);
    expect(violations([edge('core/record.ts', 'steps/errors.ts')])).toHaveLength(1);
    expect(violations([edge('steps/program.ts', 'media/store.ts')])).toHaveLength(1);
    expect(violations([edge('app.ts', 'sim/jig.ts')])).toHaveLength(1);
    expect(violations([edge('station/station.ts', 'records/journal.ts'), edge('util/sleep.ts', 'util/crc32.ts')])).toEqual([]);
    expect(violations([edge('newfloor/x.ts', 'core/record.ts')])).toEqual(['newfloor/x.ts: floor "newfloor" is not on the map']);
  });

  it('only devices/ imports hardware libraries (and the FFI)', async () => {
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.name.endsWith('.ts') && floorOf(path) !== 'devices' && /from '(serialport|@serialport\/[^']+|i2c-bus|onoff|koffi)'|import\('(serialport|i2c-bus|onoff|koffi)'\)/.test(await readFile(path, 'utf8'))) offenders.push(relative(SRC, path));
      }
    };
    await walk(SRC);
    expect(offenders).toEqual([]);
  });

  it('`pijig serve` statically reaches no module of the simulator', async () => {
    const edges = (await importGraph()).filter((e) => !e.dynamic);
    const reached = new Set<string>();
    const visit = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const e of edges) if (e.from === file) visit(e.to);
    };
    visit(join(SRC, 'cli.ts'));
    expect([...reached].map((f) => relative(SRC, f)).filter((f) => f.startsWith('sim/'))).toEqual([]);
  });

  it('`pijig serve` run for real loads no module under src/sim/ (every module it resolves is recorded)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-serve-'));
    try {
      const loads = join(dir, 'loads.txt');
      const station = join(dir, 'station.yaml');
      writeFileSync(station, readFileSync(join(ROOT, 'jig-config/station.yaml'), 'utf8').replace('data_dir: /var/lib/pijig', `data_dir: ${dir}/data`));
      // No GPIO or I2C here: serve gets as far as opening the hardware, having loaded all it loads.
      const r = await execa(process.execPath, ['--import', 'tsx', '--import', join(ROOT, 'test/fixtures/record-loads.mjs'), join(SRC, 'cli.ts'), 'serve', '--config', station], {
        reject: false,
        timeout: 60_000,
        killSignal: 'SIGKILL',
        env: { PIJIG_RECORD_LOADS: loads },
      });
      expect(r.exitCode, r.stderr).not.toBe(0);
      expect(existsSync(loads)).toBe(true);
      const urls = readFileSync(loads, 'utf8').split('\n').filter((u) => u.startsWith('file://'));
      const ours = urls.map((u) => fileURLToPath(u)).filter((f) => f.startsWith(SRC)).map((f) => relative(SRC, f));
      expect(ours).toContain('app.ts');
      expect(ours).toContain('station/station.ts');
      expect(ours.filter((f) => f.startsWith('sim/'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
