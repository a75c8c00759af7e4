import { createHash, createPrivateKey } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerBundleCommands } from '../../src/cli/bundle.js';
import { MediaError, type MediaErrorCode } from '../../src/media/errors.js';
import { Importer } from '../../src/media/importer.js';
import { signManifest } from '../../src/media/signer.js';
import { insertStick } from '../../src/sim/stick.js';
import { BundleStore } from '../../src/media/store.js';
import { createBundle, signBundle, verifyBundle, readPublicKeyFiles } from '../../src/media/tooling.js';
import type { KeygenResult } from '../../src/media/tooling.js';
import { buildFixtureFirmware, type FixtureFirmware } from '../fixtures/firmware/build.js';
import { makeBundle, makeKey, PLAN_YAML, settingsFor, stickWith, tempDir, treeHash } from './helpers.js';

/**
 * Issue 10's findings at the bundle's edges: HEX/ELF flashed as raw bytes, regions in RAM or past
 * 4 GiB or over the identity page, the F4 identity sector, an unknown target. Each is refused by
 * `bundle create`, by `bundle verify` and by the jig's importer (a signed bundle made by hand, as a
 * careless release script would), and the active bundle stays as it was.
 */
const IDENTITY_PLAN = `${PLAN_YAML}  - name: identity
    kind: identity
    params: { address: 0x0800FC00 }
`;

async function refused(p: Promise<unknown>): Promise<MediaError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!(e instanceof MediaError)) throw new Error(`expected a MediaError, got ${e === undefined ? 'success' : String(e)}`);
  return e;
}

async function template(dir: string, t: Record<string, unknown>, files: Record<string, string | Uint8Array>): Promise<{ manifest: string; files: string }> {
  const filesDir = join(dir, 'files');
  await mkdir(filesDir, { recursive: true });
  for (const [name, content] of Object.entries({ 'plan.yaml': PLAN_YAML, ...files })) await writeFile(join(filesDir, name), content);
  const manifest = join(dir, 'manifest.template.json');
  await writeFile(manifest, JSON.stringify({ product: 'blinky', version: '1.4.2', build: 'ci-1', target: 'stm32f103c8', plan: { file: 'plan.yaml' }, ...t }));
  return { manifest, files: filesDir };
}

async function create(t: Record<string, unknown>, files: Record<string, string | Uint8Array>): Promise<ReturnType<typeof createBundle>> {
  const dir = await tempDir('pijig-create-');
  const { manifest, files: filesDir } = await template(dir, t, files);
  return createBundle(manifest, filesDir, join(dir, 'out'));
}

/** Rewrite a good bundle's region file/address/target and sign the result with the real key. */
async function tamper(dir: string, key: KeygenResult, change: { bytes?: Uint8Array; address?: number; target?: string; plan?: string }): Promise<void> {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(path, 'utf8')) as Record<string, any>;
  const r = m.regions[1];
  if (change.bytes) {
    await writeFile(join(dir, r.file), change.bytes);
    r.size = change.bytes.length;
    r.sha256 = createHash('sha256').update(change.bytes).digest('hex');
  }
  if (change.address !== undefined) r.address = change.address;
  if (change.target) m.target = change.target;
  if (change.plan) {
    await writeFile(join(dir, m.plan.file), change.plan);
    m.plan.size = Buffer.byteLength(change.plan);
    m.plan.sha256 = createHash('sha256').update(change.plan).digest('hex');
  }
  await writeFile(path, JSON.stringify(m, null, 2));
  await writeFile(join(dir, 'manifest.sig'), JSON.stringify(signManifest(m, createPrivateKey(await readFile(key.privateKeyFile, 'utf8')), key.name)));
}

describe('bundle create against the target', () => {
  let fw: FixtureFirmware;
  let fwDir: string;
  beforeAll(async () => {
    fwDir = await mkdtemp(join(tmpdir(), 'pijig-fw-')); // tempDir() is emptied after each test
    fw = await buildFixtureFirmware({ outDir: fwDir, product: 'blinky', version: '1.4.2' });
  }, 60_000);
  afterAll(() => rm(fwDir, { recursive: true, force: true }));

  it('converts an ELF and prints the memory map with the pages each region and the identity record use', async () => {
    const dir = await tempDir('pijig-create-');
    const { manifest, files } = await template(dir, { regions: [{ name: 'application', file: 'fw.elf' }] }, { 'fw.elf': await readFile(fw.elf), 'plan.yaml': IDENTITY_PLAN });
    const out: string[] = [];
    const program = new Command('pijig').exitOverride();
    registerBundleCommands(program, { out: (l) => out.push(l), now: () => new Date('2025-03-01T12:00:00Z') });
    await program.parseAsync(['bundle', 'create', '--manifest', manifest, '--files', files, '--out', join(dir, 'out')], { from: 'user' });
    const size = (await readFile(fw.bin)).length;
    expect(out.slice(1, 5)).toEqual([
      expect.stringMatching(/^bundle id: [0-9a-f]{64}$/),
      'memory map of stm32f103c8 (STM32F1, 64 KiB flash at 0x08000000-0x0800FFFF, 1 KiB pages):',
      `  application    0x08000000-0x${(0x08000000 + size - 1).toString(16).toUpperCase().padStart(8, '0')} ${String(size).padStart(8)} B  page 0       fw.elf (elf)`,
      '  identity       0x0800FC00-0x0800FC3F       64 B  page 63      identity record (steps[2].params.address); the identity step erases all 1024 bytes from 0x0800FC00',
    ]);
    const m = JSON.parse(await readFile(join(dir, 'out', 'manifest.json'), 'utf8'));
    expect(m.regions).toEqual([
      { name: 'application', file: 'regions/application.bin', address: 0x08000000, size, sha256: createHash('sha256').update(await readFile(fw.bin)).digest('hex'), source: { file: 'fw.elf', format: 'elf', sha256: createHash('sha256').update(await readFile(fw.elf)).digest('hex') } },
    ]);
  });

  it('keeps gaps as separate regions, except a gap inside one programming unit (filled with 0xFF, as openocd pads)', async () => {
    const text = [
      hexRecord(0, 4, [0x08, 0x00]),
      hexRecord(0x0000, 0, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), // 0x08000000-0x08000009
      hexRecord(0x000c, 0, [0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11]), // 0x0800000C: in the 8-byte unit the first block ends in
      hexRecord(0x0100, 0, [0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc]), // 0x08000100: a real gap
      ':00000001FF',
    ].join('\n');
    const r = await create({ target: 'stm32l476rg', regions: [{ name: 'application', file: 'fw.hex' }] }, { 'fw.hex': text });
    expect(r.manifest.regions.map((g) => [g.name, g.file, g.address, g.size])).toEqual([
      ['application', 'regions/application.bin', 0x08000000, 20],
      ['application-2', 'regions/application-2.bin', 0x08000100, 8],
    ]);
    expect([...(await readFile(join(r.dir, 'regions/application.bin')))].slice(8, 14)).toEqual([9, 10, 0xff, 0xff, 0xa, 0xb]);
  });

  it('refuses a HEX (or ELF) given as a binary region: NOT_BINARY', async () => {
    const hex = await refused(create({ regions: [{ name: 'application', file: 'fw.hex', address: '0x08000000' }] }, { 'fw.hex': await readFile(fw.hex) }));
    expect(hex.code).toBe('NOT_BINARY');
    expect(hex.message).toMatch(/fw\.hex: regions\[0\]\.file: is Intel HEX text, not a raw binary/);
    expect(hex.field).toBe('regions[0].file');
    expect((await refused(create({ regions: [{ name: 'application', file: 'fw.bin', format: 'bin', address: '0x08000000' }] }, { 'fw.bin': await readFile(fw.elf) }))).code).toBe('NOT_BINARY');
  });

  it('refuses regions in RAM, past 4 GiB, past the end of flash', async () => {
    const bin = new Uint8Array(512).fill(1);
    const ram = await refused(create({ regions: [{ name: 'data', file: 'a.bin', address: '0x20000000' }] }, { 'a.bin': bin }));
    expect(ram.code).toBe('OUTSIDE_FLASH');
    expect(ram.message).toMatch(/region "data" 0x20000000-0x200001FF is outside stm32f103c8 flash 0x08000000-0x0800FFFF \(0x20000000 is SRAM, not flash\)/);
    const wrap = await refused(create({ regions: [{ name: 'wrap', file: 'a.bin', address: '0xFFFFFF00' }] }, { 'a.bin': bin }));
    expect(wrap.code).toBe('OUTSIDE_FLASH');
    expect(wrap.message).toMatch(/runs past the 4 GiB address space/);
    expect((await refused(create({ regions: [{ name: 'tail', file: 'a.bin', address: '0x0800FF00' }] }, { 'a.bin': bin }))).code).toBe('OUTSIDE_FLASH');
  });

  it('refuses a region over the identity page', async () => {
    const e = await refused(create({ regions: [{ name: 'application', file: 'a.bin', address: '0x08000000' }] }, { 'a.bin': new Uint8Array(63 * 1024 + 4), 'plan.yaml': IDENTITY_PLAN }));
    expect(e.code).toBe('PLAN_INVALID');
    expect(e.message).toMatch(/plan\.yaml:\d+:\d+: steps\[2\]\.params\.address: identity address 0x0800FC00 lies in page 63 .*region "application"/);
  });

  it("refuses an F4 bundle whose plan keeps the default identity address: sector 3 holds the firmware", async () => {
    const plan = `${PLAN_YAML}  - name: identity\n    kind: identity\n`;
    const e = await refused(create({ target: 'stm32f407vg', regions: [{ name: 'application', file: 'a.bin', address: '0x08000000' }] }, { 'a.bin': new Uint8Array(60 * 1024), 'plan.yaml': plan }));
    expect(e.code).toBe('PLAN_INVALID');
    expect(e.message).toMatch(/identity address 0x0800FC00 lies in sector 3 \(0x0800C000-0x0800FFFF, 16 KiB\).*the default address; set params\.address/);
    // its own sector works
    const ok = await create({ target: 'stm32f407vg', regions: [{ name: 'application', file: 'a.bin', address: '0x08000000' }] }, { 'a.bin': new Uint8Array(60 * 1024), 'plan.yaml': plan.replace('kind: identity\n', 'kind: identity\n    params: { address: 0x080E0000 }\n') });
    expect(ok.memoryMap.find((e) => e.name === 'identity')).toMatchObject({ address: 0x080e0000, units: 'sector 11' });
  });

  it('refuses an unknown target', async () => {
    const e = await refused(create({ target: 'stm32u575zi', regions: [{ name: 'application', file: 'a.bin', address: '0x08000000' }] }, { 'a.bin': new Uint8Array(16) }));
    expect(e.code).toBe('UNKNOWN_TARGET');
    expect(e.message).toMatch(/target: target "stm32u575zi": the STM32U5 family is not in pijig's chip table/);
  });
});

describe('bundle verify and the importer refuse a signed bundle that does not fit its target', () => {
  const cases: [string, MediaErrorCode, (dir: string, key: KeygenResult) => Promise<void>, string?][] = [
    ['a region holding Intel HEX text', 'NOT_BINARY', (d, k) => tamper(d, k, { bytes: Buffer.from(':020000040800F2\n:0400000001020304F2\n:00000001FF\n') })],
    ['a region holding an ELF', 'NOT_BINARY', (d, k) => tamper(d, k, { bytes: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0]), Buffer.alloc(120)]) })],
    ['a region in RAM', 'OUTSIDE_FLASH', (d, k) => tamper(d, k, { address: 0x20000000 })],
    ['a region running past 4 GiB', 'OUTSIDE_FLASH', (d, k) => tamper(d, k, { address: 0xffffff00 })],
    ['a region over the identity page', 'PLAN_INVALID', (d, k) => tamper(d, k, { address: 0x0800e000, plan: IDENTITY_PLAN })],
    ['an unknown target', 'UNKNOWN_TARGET', (d, k) => tamper(d, k, { target: 'stm32u575zi' }), 'stm32u575zi'],
  ];

  it.each(cases)('%s: %s', async (_what, code, damage, stationTarget) => {
    const key = await makeKey();
    const bundle = await makeBundle(key, { version: '1.4.2' });
    await damage(bundle, key);
    expect((await refused(verifyBundle(bundle, await readPublicKeyFiles([key.publicKeyFile])))).code).toBe(code);

    const dataDir = await tempDir('pijig-data-');
    const store = new BundleStore(dataDir);
    const settings = settingsFor([key], stationTarget ? { target: stationTarget } : {});
    const importer = new Importer({ store, settings, waitUntilIdle: async () => {} });
    const mount = join(await tempDir('pijig-mnt-'), 'media');
    if (!stationTarget) await importer.importFrom(await insertStick(mount, 'OLD', await stickWith(await makeBundle(key, { version: '1.4.1' }))));
    const before = await treeHash(dataDir);
    const root = await insertStick(mount, 'STICK', await stickWith(bundle));
    const e = await refused(importer.importFrom(root));
    expect(e.code, e.message).toBe(code);
    expect(await treeHash(dataDir)).toBe(before);
  });

  it('sign refuses them too', async () => {
    const key = await makeKey();
    const bundle = await makeBundle(key, { version: '1.4.2' }, false);
    await tamper(bundle, key, { address: 0x20000000 });
    expect((await refused(signBundle(key.privateKeyFile, bundle))).code).toBe('OUTSIDE_FLASH');
  });
});

/** One Intel HEX record with its checksum. */
function hexRecord(address: number, type: number, data: number[]): string {
  const bytes = [data.length, (address >> 8) & 0xff, address & 0xff, type, ...data];
  const sum = (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
  return `:${[...bytes, sum].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join('')}`;
}
