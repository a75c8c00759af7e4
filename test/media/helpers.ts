import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { UnitRecord } from '../../src/core/record.js';
import type { MediaConfig } from '../../src/config/station.js';
import { createBundle, keygen, signBundle, type KeygenResult } from '../../src/media/tooling.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

export async function tempDir(prefix = 'pijig-media-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export const PLAN_YAML = `name: blinky-production
product: blinky
steps:
  - name: program
    kind: program
  - name: current
    kind: current
    limits:
      current_mean_ma: { min: 5, max: 20, unit: mA }
`;

export interface BundleSpec {
  version?: string;
  release?: string;
  product?: string;
  target?: string;
  plan?: string;
  app?: Buffer;
  orderQuantity?: number;
}

/** One key for a test file (keygen is the real engineer tool). */
export async function makeKey(name = 'factory'): Promise<KeygenResult> {
  return keygen(await tempDir('pijig-key-'), name);
}

/** Build and sign a bundle with the engineer tools, as the release process would. */
export async function makeBundle(key: KeygenResult, spec: BundleSpec = {}, sign = true): Promise<string> {
  const work = await tempDir('pijig-build-');
  const files = join(work, 'files');
  await mkdir(join(files, 'images'), { recursive: true });
  const version = spec.version ?? '1.4.2';
  await writeFile(join(files, 'images', 'boot.bin'), Buffer.alloc(2048, 0xb0));
  await writeFile(join(files, 'images', 'app.bin'), spec.app ?? Buffer.from(`application ${version} `.repeat(400)));
  await writeFile(join(files, 'plan.yaml'), spec.plan ?? PLAN_YAML);
  const template = {
    product: spec.product ?? 'blinky',
    version,
    ...(spec.release !== undefined ? { release: spec.release } : {}),
    build: `ci-${version}`,
    target: spec.target ?? 'stm32f103c8',
    regions: [
      { name: 'bootloader', file: 'images/boot.bin', address: '0x08000000' },
      { name: 'application', file: 'images/app.bin', address: '0x08002000' },
    ],
    plan: { file: 'plan.yaml' },
    ...(spec.orderQuantity !== undefined ? { orderQuantity: spec.orderQuantity } : {}),
    identity: { stations: { 'jig-01': { serial: { prefix: 'BLK-', start: 1000, count: 500, digits: 6 }, mac: { start: '02:50:4a:00:10:00', count: 500 } } } },
    createdAt: '2025-03-01T12:00:00Z',
  };
  await writeFile(join(work, 'manifest.template.json'), JSON.stringify(template, null, 2));
  const out = join(work, 'bundle');
  await createBundle(join(work, 'manifest.template.json'), files, out);
  if (sign) await signBundle(key.privateKeyFile, out);
  return out;
}

/** A stick's contents folder holding a bundle at pijig/bundle/. */
export async function stickWith(bundleDir?: string): Promise<string> {
  const contents = await tempDir('pijig-stick-');
  await mkdir(join(contents, 'pijig'), { recursive: true });
  if (bundleDir) {
    const { cp } = await import('node:fs/promises');
    await cp(bundleDir, join(contents, 'pijig', 'bundle'), { recursive: true, verbatimSymlinks: true });
  }
  return contents;
}

export function settingsFor(keys: KeygenResult[], over: Partial<MediaConfig> = {}): MediaConfig {
  return {
    mount_dir: '/media/pijig',
    product: 'blinky',
    target: 'stm32f103c8',
    allow_downgrade: false,
    max_file_mb: 1,
    public_keys: keys.map((k) => ({ name: k.name, public_key: k.publicBase64 })),
    ...over,
  };
}

/** A digest of a whole tree (names, types, link targets, contents): equal digests mean byte-for-byte untouched. */
export async function treeHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(d)).sort();
    } catch {
      h.update(`missing ${rel}\n`);
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) {
        h.update(`dir ${rel}/${name}\n`);
        await walk(p, `${rel}/${name}`);
      } else if (st.isSymbolicLink()) {
        h.update(`link ${rel}/${name} ${await readlink(p)}\n`);
      } else {
        h.update(`file ${rel}/${name} ${st.mode.toString(8)}\n`);
        h.update(await readFile(p));
      }
    }
  };
  await walk(dir, '');
  return h.digest('hex');
}

export function unit(i: number, over: Partial<UnitRecord> = {}): Omit<UnitRecord, 'seq'> {
  const pass = i % 5 !== 0;
  return {
    id: `u-${i.toString().padStart(6, '0')}`,
    station: 'st-01',
    plan: { name: 'blinky-production', product: 'blinky' },
    image: { bundleId: 'b'.repeat(64), version: '1.4.2', imageHash: 'a'.repeat(64), regions: { application: 'c'.repeat(64) } },
    serial: `BLK-${(1000 + i).toString().padStart(6, '0')}`,
    mac: `02:50:4a:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    startedAt: new Date(Date.UTC(2025, 2, 1, 8, 0, i)).toISOString(),
    endedAt: new Date(Date.UTC(2025, 2, 1, 8, 0, i + 9)).toISOString(),
    durationMs: 9000 + i,
    result: pass ? 'PASS' : 'FAIL',
    ...(pass ? {} : { failedStep: 'current', reason: 'LIMIT_HIGH' as const, message: 'idle 23.1 mA > 20 mA' }),
    steps: [],
    ...over,
  };
}
