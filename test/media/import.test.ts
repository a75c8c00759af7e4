import { createPrivateKey } from 'node:crypto';
import { readdir, readFile, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMediaError, MediaError, type MediaErrorCode } from '../../src/media/errors.js';
import { nodeSourceFiles, type SourceFiles } from '../../src/media/files.js';
import { imageHashOf } from '../../src/core/image.js';
import { Importer, type ImportPhase } from '../../src/media/importer.js';
import type { MediaConfig } from '../../src/config/station.js';
import { signManifest } from '../../src/media/signer.js';
import { insertStick, pullStick } from '../../src/sim/stick.js';
import { BundleStore } from '../../src/media/store.js';
import type { KeygenResult } from '../../src/media/tooling.js';
import { makeBundle, makeKey, settingsFor, stickWith, tempDir, treeHash } from './helpers.js';

interface Jig {
  dataDir: string;
  mountDir: string;
  store: BundleStore;
  importer(over?: Partial<MediaConfig>, files?: SourceFiles): Importer;
  /** Insert a stick holding the bundle; returns the stick's root. */
  insert(bundleDir?: string, name?: string): Promise<string>;
}

async function jig(key: KeygenResult, extraKeys: KeygenResult[] = []): Promise<Jig> {
  const dataDir = await tempDir('pijig-data-');
  const mountDir = join(await tempDir('pijig-mnt-'), 'media');
  const store = new BundleStore(dataDir);
  return {
    dataDir,
    mountDir,
    store,
    importer: (over = {}, files) => new Importer({ store, settings: settingsFor([key, ...extraKeys], over), waitUntilIdle: async () => {}, ...(files ? { files } : {}) }),
    insert: async (bundleDir, name = 'STICK') => {
      await pullStick(mountDir, name);
      return insertStick(mountDir, name, await stickWith(bundleDir));
    },
  };
}

async function refusal(p: Promise<unknown>): Promise<MediaError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MediaError) return err;
    throw err;
  }
  throw new Error('expected a refusal, the import succeeded');
}

/** Edit a bundle's manifest and sign the result with a real key: a signed-but-bad bundle, as a careless or compromised release would make. */
async function resign(dir: string, key: KeygenResult, mutate: (m: Record<string, any>) => void): Promise<void> {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(path, 'utf8')) as Record<string, any>;
  mutate(m);
  await writeFile(path, JSON.stringify(m, null, 2));
  const sig = signManifest(m, createPrivateKey(await readFile(key.privateKeyFile, 'utf8')), key.name);
  await writeFile(join(dir, 'manifest.sig'), JSON.stringify(sig));
}

describe('import: the round trip', () => {
  it('imports a signed bundle from a stick and serves it as the active bundle', async () => {
    const key = await makeKey();
    const j = await jig(key);
    const root = await j.insert(await makeBundle(key, { version: '1.4.2', orderQuantity: 500 }));
    const importer = j.importer();
    const phases: ImportPhase[] = [];
    importer.on('phase', (p) => phases.push(p.phase));

    const result = await importer.importFrom(root);

    expect(result).toMatchObject({ status: 'imported', product: 'blinky', version: '1.4.2' });
    expect(phases).toEqual(['verifying', 'copying', 'checking-copy', 'activating']);
    const active = await j.store.active();
    expect(active).toBeDefined();
    const a = active!;
    expect(a.bundleId).toBe(result.status === 'imported' ? result.bundleId : '');
    expect(a.dir).toBe(join(j.dataDir, 'bundles', a.bundleId));
    expect(a.image).toMatchObject({ bundleId: a.bundleId, product: 'blinky', version: '1.4.2', target: 'stm32f103c8' });
    expect(a.image.regions.map((r) => [r.name, r.address, r.file])).toEqual([
      ['bootloader', 0x08000000, join(a.dir, 'images/boot.bin')],
      ['application', 0x08002000, join(a.dir, 'images/app.bin')],
    ]);
    expect(a.image.imageHash).toBe(imageHashOf(a.image.regions));
    expect(await readFile(a.image.regions[1]!.file, 'utf8')).toMatch(/^application 1\.4\.2/);
    expect(a.plan.text).toContain('name: blinky-production');
    expect(a.orderQuantity).toBe(500);
    expect(a.identity?.stations['jig-01']?.serial).toEqual({ prefix: 'BLK-', start: 1000, count: 500, digits: 6 });
    expect(a.signedBy).toEqual({ name: 'factory', fingerprint: key.fingerprint });
  });

  it('reports an unchanged bundle without copying it again, and a stick without a bundle as such', async () => {
    const key = await makeKey();
    const j = await jig(key);
    const root = await j.insert(await makeBundle(key));
    await j.importer().importFrom(root);
    const before = await treeHash(j.dataDir);
    const phases: ImportPhase[] = [];
    const importer = j.importer();
    importer.on('phase', (p) => phases.push(p.phase));
    expect(await importer.importFrom(root)).toMatchObject({ status: 'unchanged', version: '1.4.2' });
    expect(phases).toEqual([]);
    expect(await treeHash(j.dataDir)).toBe(before);
    expect(await j.importer().importFrom(await j.insert(undefined, 'EMPTY'))).toEqual({ status: 'no-bundle' });
  });

  it('takes the bundle made for this station from a stick carrying several', async () => {
    const key = await makeKey();
    const j = await jig(key);
    const contents = await stickWith();
    const { cp } = await import('node:fs/promises');
    await cp(await makeBundle(key, { target: 'stm32f030f4' }), join(contents, 'pijig/bundles/other'), { recursive: true });
    await cp(await makeBundle(key, { version: '2.0.0' }), join(contents, 'pijig/bundles/ours'), { recursive: true });
    const root = await insertStick(j.mountDir, 'MULTI', contents);
    expect(await j.importer().importFrom(root)).toMatchObject({ status: 'imported', version: '2.0.0' });
    await cp(await makeBundle(key, { version: '2.0.1' }), join(root, 'pijig/bundles/ours-too'), { recursive: true });
    expect((await refusal(j.importer().importFrom(root))).code).toBe('BUNDLE_AMBIGUOUS');
  });

  it('waits for the running cycle to end before importing', async () => {
    const key = await makeKey();
    const j = await jig(key);
    const root = await j.insert(await makeBundle(key));
    let idle!: () => void;
    const cycleEnds = new Promise<void>((r) => (idle = r));
    const importer = new Importer({ store: j.store, settings: settingsFor([key]), waitUntilIdle: () => cycleEnds });
    const waiting = new Promise<void>((resolve) => importer.on('phase', (p) => p.phase === 'waiting' && resolve()));
    const done = importer.importFrom(root);
    await waiting;
    expect(importer.busy).toBe(true);
    expect(await j.store.pointer()).toBeUndefined();
    idle();
    await done;
    expect(importer.busy).toBe(false);
    expect((await j.store.active())?.manifest.version).toBe('1.4.2');
  });
});

describe('import: hostile and broken bundles are refused and change nothing', () => {
  /**
   * Each case: a jig running 1.4.1, a stick with a damaged 1.4.2. The import must be refused with
   * the code, and the data directory (active bundle, its files, the pointer) must be byte-for-byte
   * what it was.
   */
  async function expectRefused(
    code: MediaErrorCode,
    damage: (bundleDir: string, ctx: { key: KeygenResult; other: KeygenResult }) => Promise<void>,
    opts: { settings?: Partial<MediaConfig>; spec?: Parameters<typeof makeBundle>[1]; files?: SourceFiles } = {},
  ): Promise<MediaError> {
    const key = await makeKey('factory');
    const other = await makeKey('intruder');
    const j = await jig(key);
    await j.importer().importFrom(await j.insert(await makeBundle(key, { version: '1.4.1' }), 'OLD'));
    const activeBefore = await j.store.active();
    const before = await treeHash(j.dataDir);

    const bundle = await makeBundle(key, { version: '1.4.2', ...opts.spec });
    await damage(bundle, { key, other });
    const root = await j.insert(bundle);
    const err = await refusal(j.importer(opts.settings, opts.files).importFrom(root));

    expect(err.code, err.message).toBe(code);
    expect(await treeHash(j.dataDir)).toBe(before);
    expect(await j.store.active()).toEqual(activeBefore);
    return err;
  }

  it('bad signature', async () => {
    const err = await expectRefused('BAD_SIGNATURE', async (dir) => {
      const sig = JSON.parse(await readFile(join(dir, 'manifest.sig'), 'utf8'));
      const bytes = Buffer.from(sig.signature, 'base64');
      bytes[10]! ^= 0x01;
      sig.signature = bytes.toString('base64');
      await writeFile(join(dir, 'manifest.sig'), JSON.stringify(sig));
    });
    expect(err.file).toMatch(/manifest\.sig$/);
  });

  it('unknown key', async () => {
    const err = await expectRefused('UNKNOWN_KEY', async (dir, { other }) => resign(dir, other, () => {}));
    expect(err.message).toContain('intruder');
  });

  it('manifest changed after signing', async () => {
    await expectRefused('MANIFEST_CHANGED', async (dir) => {
      const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      m.orderQuantity = 100000;
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    });
  });

  it('re-indenting the manifest is not a change (canonical form)', async () => {
    const key = await makeKey();
    const j = await jig(key);
    const bundle = await makeBundle(key);
    const m = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8'));
    await writeFile(join(bundle, 'manifest.json'), JSON.stringify(m, Object.keys(m).reverse(), 7));
    await writeFile(join(bundle, 'manifest.json'), JSON.stringify(m, null, 7));
    expect(await j.importer().importFrom(await j.insert(bundle))).toMatchObject({ status: 'imported' });
  });

  it('unsigned bundle', async () => {
    await expectRefused('SIGNATURE_MISSING', async (dir) => rm(join(dir, 'manifest.sig')));
  });

  it('a file whose hash differs', async () => {
    const err = await expectRefused('HASH_MISMATCH', async (dir) => {
      const p = join(dir, 'images/app.bin');
      const b = await readFile(p);
      b[100]! ^= 0xff;
      await writeFile(p, b);
    });
    expect(err.field).toBe('regions[1].sha256');
    expect(err.file).toMatch(/images\/app\.bin$/);
  });

  it('a file of another size', async () => {
    const err = await expectRefused('SIZE_MISMATCH', async (dir) => writeFile(join(dir, 'images/boot.bin'), Buffer.alloc(100)));
    expect(err.field).toBe('regions[0].size');
  });

  it('a missing file', async () => {
    const err = await expectRefused('FILE_MISSING', async (dir) => rm(join(dir, 'images/app.bin')));
    expect(err.message).toContain('regions[1].file');
  });

  it('a path climbing out with ../', async () => {
    const err = await expectRefused('PATH_ESCAPE', async (dir, { key }) =>
      resign(dir, key, (m) => {
        m.regions[1].file = '../../../etc/passwd';
      }),
    );
    expect(err.field).toBe('regions[1].file');
  });

  it('an absolute path', async () => {
    const err = await expectRefused('PATH_ESCAPE', async (dir, { key }) =>
      resign(dir, key, (m) => {
        m.plan.file = '/etc/pijig/plan.yaml';
      }),
    );
    expect(err.field).toBe('plan.file');
  });

  it('a file that is a symlink', async () => {
    await expectRefused('SYMLINK', async (dir) => {
      const outside = join(await tempDir(), 'app.bin');
      await writeFile(outside, await readFile(join(dir, 'images/app.bin')));
      await rm(join(dir, 'images/app.bin'));
      await symlink(outside, join(dir, 'images/app.bin'));
    });
  });

  it('a folder that is a symlink', async () => {
    await expectRefused('SYMLINK', async (dir) => {
      const outside = await tempDir();
      const { cp } = await import('node:fs/promises');
      await cp(join(dir, 'images'), join(outside, 'images'), { recursive: true });
      await rm(join(dir, 'images'), { recursive: true });
      await symlink(join(outside, 'images'), join(dir, 'images'));
    });
  });

  it('a manifest that is a symlink', async () => {
    await expectRefused('SYMLINK', async (dir) => {
      const outside = join(await tempDir(), 'manifest.json');
      await writeFile(outside, await readFile(join(dir, 'manifest.json')));
      await rm(join(dir, 'manifest.json'));
      await symlink(outside, join(dir, 'manifest.json'));
    });
  });

  it('an oversized file', async () => {
    // fits the stm32f103c8's 64 KiB flash: only the station's cap refuses it
    const err = await expectRefused('FILE_TOO_LARGE', async () => {}, { spec: { app: Buffer.alloc(40 * 1024, 1) }, settings: { max_file_mb: 32 / 1024 } });
    expect(err.field).toBe('regions[1].file');
  });

  it('malformed JSON', async () => {
    await expectRefused('MANIFEST_MALFORMED', async (dir) => writeFile(join(dir, 'manifest.json'), '{ "format": 1, "product": "blinky",'));
  });

  it('a signed manifest with invalid fields names every field', async () => {
    const err = await expectRefused('MANIFEST_INVALID', async (dir, { key }) =>
      resign(dir, key, (m) => {
        m.regions[0].sha256 = 'not-a-hash';
        m.regions[1].address = -1;
        m.extra = true;
      }),
    );
    expect(err.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['regions[0].sha256', 'regions[1].address', '(root)']));
    expect(err.message).toContain('regions[0].sha256');
  });

  it('a pre-release (not release-tagged) build', async () => {
    const err = await expectRefused('NOT_RELEASE', async (dir, { key }) =>
      resign(dir, key, (m) => {
        m.version = '1.5.0-dev';
        m.release = 'v1.5.0-dev';
      }),
    );
    expect(err.field).toBe('version');
  });

  it('a release tag that is not v<version>', async () => {
    const err = await expectRefused('NOT_RELEASE', async (dir, { key }) =>
      resign(dir, key, (m) => {
        m.release = 'main';
      }),
    );
    expect(err.field).toBe('release');
  });

  it('a wrong product', async () => {
    await expectRefused('WRONG_PRODUCT', async () => {}, { spec: { product: 'gizmo', plan: 'name: g\nproduct: gizmo\nsteps: [{ name: a, kind: program }]\n' } });
  });

  it('a wrong target', async () => {
    const err = await expectRefused('WRONG_TARGET', async () => {}, { spec: { target: 'stm32f030f4' } });
    expect(err.field).toBe('target');
  });

  it('an invalid plan', async () => {
    const err = await expectRefused('PLAN_INVALID', async () => {}, { spec: { plan: 'name: blinky\nproduct: blinky\nsteps: []\n' } });
    expect(err.message).toContain('steps');
  });

  it('a plan for another product', async () => {
    await expectRefused('PLAN_INVALID', async () => {}, { spec: { plan: 'name: g\nproduct: gizmo\nsteps: [{ name: a, kind: program }]\n' } });
  });

  /** A seam that hands out the real bytes, except on the second read of app.bin: the copy (the first read verifies it on the stick). */
  function duringCopyOfApp(fault: (chunk: Uint8Array) => AsyncGenerator<Uint8Array>): SourceFiles {
    const reads = new Map<string, number>();
    return {
      async *read(path) {
        const n = (reads.get(path) ?? 0) + 1;
        reads.set(path, n);
        for await (const chunk of nodeSourceFiles.read(path)) {
          if (path.endsWith('images/app.bin') && n === 2) yield* fault(chunk);
          else yield chunk;
        }
      },
    };
  }

  it('stick pulled during the copy: the folder vanishes', async () => {
    let mountDir = '';
    const files = duringCopyOfApp(async function* (chunk) {
      yield chunk;
      await pullStick(mountDir, 'STICK');
    });
    const key = await makeKey();
    const j = await jig(key);
    mountDir = j.mountDir;
    await j.importer().importFrom(await j.insert(await makeBundle(key, { version: '1.4.1' }), 'OLD'));
    const before = await treeHash(j.dataDir);
    const root = await j.insert(await makeBundle(key, { version: '1.4.2' }));
    const err = await refusal(j.importer({}, files).importFrom(root));
    expect(err.code, err.message).toBe('STICK_REMOVED');
    expect(err.file).toMatch(/plan\.yaml$/); // the next file could not be opened
    expect(await treeHash(j.dataDir)).toBe(before); // the staged copy is gone too
    expect((await j.store.active())?.manifest.version).toBe('1.4.1');
  });

  it('stick pulled during the copy: a read fails mid-file', async () => {
    const files = duringCopyOfApp(async function* (chunk) {
      yield chunk.subarray(0, 1000);
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    });
    const err = await expectRefused('READ_FAILED', async () => {}, { files });
    expect(err.file).toMatch(/images\/app\.bin$/);
  });

  it('a copy that comes out short is discarded', async () => {
    const files = duringCopyOfApp(async function* (chunk) {
      yield chunk.subarray(0, chunk.length >> 1);
    });
    const err = await expectRefused('STAGED_MISMATCH', async () => {}, { files });
    expect(err.message).toContain('ended early');
  });

  it('a file that changes between the check and the copy is caught by the check of the copy', async () => {
    const files = duringCopyOfApp(async function* (chunk) {
      const b = Buffer.from(chunk);
      b[7]! ^= 0x55;
      yield b;
    });
    const err = await expectRefused('STAGED_MISMATCH', async () => {}, { files });
    expect((err.cause as MediaError).code).toBe('HASH_MISMATCH');
  });

  it('a short read while verifying on the stick', async () => {
    const files: SourceFiles = {
      async *read(path) {
        for await (const chunk of nodeSourceFiles.read(path)) yield path.endsWith('app.bin') ? chunk.subarray(1) : chunk;
      },
    };
    await expectRefused('SIZE_MISMATCH', async () => {}, { files });
  });
});

describe('versions and rollback', () => {
  it('refuses a downgrade unless allowed', async () => {
    const key = await makeKey();
    const j = await jig(key);
    await j.importer().importFrom(await j.insert(await makeBundle(key, { version: '1.4.2' })));
    const old = await makeBundle(key, { version: '1.3.9' });
    const before = await treeHash(j.dataDir);
    const err = await refusal(j.importer().importFrom(await j.insert(old)));
    expect(err.code).toBe('DOWNGRADE');
    expect(err.message).toContain('1.3.9 is older than the active 1.4.2');
    expect(await treeHash(j.dataDir)).toBe(before);
    expect(await j.importer({ allow_downgrade: true }).importFrom(await j.insert(old))).toMatchObject({ status: 'imported', version: '1.3.9', previous: { version: '1.4.2' } });
  });

  it('compares versions numerically (1.10.0 is newer than 1.9.9)', async () => {
    const key = await makeKey();
    const j = await jig(key);
    await j.importer().importFrom(await j.insert(await makeBundle(key, { version: '1.9.9' })));
    expect(await j.importer().importFrom(await j.insert(await makeBundle(key, { version: '1.10.0' })))).toMatchObject({ status: 'imported' });
  });

  it('keeps the previous bundle for rollback, and only that one', async () => {
    const key = await makeKey();
    const j = await jig(key);
    for (const v of ['1.0.0', '1.1.0', '1.2.0']) await j.importer().importFrom(await j.insert(await makeBundle(key, { version: v })));
    const ids = (await readdir(join(j.dataDir, 'bundles'))).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expect(ids).toHaveLength(2);
    expect((await j.store.rollback()).manifest.version).toBe('1.1.0');
    expect((await j.store.active())?.manifest.version).toBe('1.1.0');
    const p = await j.store.pointer();
    expect((await j.store.load(p!.previous!)).manifest.version).toBe('1.2.0');
    expect((await j.store.rollback()).manifest.version).toBe('1.2.0'); // and forward again
  });

  it('refuses to roll back without a previous bundle', async () => {
    const key = await makeKey();
    const j = await jig(key);
    expect((await refusal(j.store.rollback())).code).toBe('NO_ACTIVE');
    await j.importer().importFrom(await j.insert(await makeBundle(key)));
    expect((await refusal(j.store.rollback())).code).toBe('NO_PREVIOUS');
  });

  it('detects a corrupted store at load, and a good stick repairs it', async () => {
    const key = await makeKey();
    const j = await jig(key);
    const bundle = await makeBundle(key);
    await j.importer().importFrom(await j.insert(bundle));
    const a = (await j.store.active())!;
    const b = await readFile(a.image.regions[0]!.file);
    b[0]! ^= 1;
    await writeFile(a.image.regions[0]!.file, b);
    const err = await refusal(j.store.active());
    expect(err.code).toBe('STORE_CORRUPT');
    expect(err.file).toBe(a.image.regions[0]!.file);
    expect(await j.importer().importFrom(await j.insert(bundle))).toMatchObject({ status: 'imported' });
    expect((await j.store.active())?.bundleId).toBe(a.bundleId);
  });

  it('cleans up a staging folder a power cut left behind', async () => {
    const key = await makeKey();
    const j = await jig(key);
    await mkdir(join(j.dataDir, 'bundles', '.staging-deadbeef', 'images'), { recursive: true });
    await j.importer().importFrom(await j.insert(await makeBundle(key)));
    expect((await readdir(join(j.dataDir, 'bundles'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});

describe('trusted keys', () => {
  it('accepts any of several keys, in PEM or raw base64', async () => {
    const a = await makeKey('line-a');
    const b = await makeKey('line-b');
    const dataDir = await tempDir();
    const store = new BundleStore(dataDir);
    const settings = settingsFor([a], { public_keys: [{ name: 'line-a', public_key: a.publicBase64 }, { name: 'line-b', public_key: b.publicPem }] });
    const importer = new Importer({ store, settings, waitUntilIdle: async () => {} });
    const mount = await tempDir();
    expect(await importer.importFrom(await insertStick(mount, 'A', await stickWith(await makeBundle(a, { version: '1.0.0' }))))).toMatchObject({ status: 'imported' });
    expect(await importer.importFrom(await insertStick(mount, 'B', await stickWith(await makeBundle(b, { version: '1.0.1' }))))).toMatchObject({ status: 'imported' });
    expect((await store.active())?.signedBy.name).toBe('line-b');
  });

  it('refuses a station config with a bad public key, naming it', () => {
    const store = new BundleStore('/nonexistent');
    const settings = settingsFor([], { public_keys: [{ name: 'typo', public_key: 'AAAA' }] });
    expect(() => new Importer({ store, settings, waitUntilIdle: async () => {} })).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
    try {
      new Importer({ store, settings, waitUntilIdle: async () => {} });
    } catch (e) {
      expect(isMediaError(e, 'KEY_INVALID') && e.message).toContain('media.public_keys[0]');
    }
  });
});
