import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, open, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/media/errors.js';
import { Importer } from '../../src/media/importer.js';
import { StickWatcher } from '../../src/media/stick.js';
import { BundleStore } from '../../src/media/store.js';
import { UsbMedia } from '../../src/media/usb.js';
import { finalMessage } from '../../src/operator/messages.js';
import { OutputError } from '../../src/outputs/errors.js';
import { LogSync } from '../../src/outputs/stick-logs.js';
import { Journal } from '../../src/records/journal.js';
import type { KeygenResult } from '../../src/media/tooling.js';
import { ConfinedDir, ConfinedError } from '../../src/util/confined.js';
import { makeBundle, makeKey, settingsFor, stickWith, tempDir, treeHash, unit } from './helpers.js';

/*
 * A stick is a filesystem someone else made: links, FIFOs, huge and oddly named files. Each case
 * uses the real thing (symlink(2), mkfifo(1), a read-only tmpfs mount) and checks that the jig's
 * data directory - journal, state, bundle store - is byte for byte what it was.
 */

let key: KeygenResult;
beforeEach(async () => {
  key = await makeKey();
});

/** A jig's data directory with a journal of 10 units, its log sync and importer. */
async function jig() {
  const dataDir = await tempDir('pijig-data-');
  const journal = await Journal.open(join(dataDir, 'units.jsonl'));
  for (let i = 1; i <= 10; i++) await journal.append(unit(i));
  const sync = new LogSync({ journal, stationId: 'st-01', protect: [dataDir] });
  const store = new BundleStore(dataDir);
  const importer = new Importer({ store, settings: settingsFor([key]), waitUntilIdle: async () => {} });
  const before = await treeHash(dataDir);
  return { dataDir, journal, sync, store, importer, untouched: async () => expect(await treeHash(dataDir)).toBe(before) };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!(e instanceof Error)) throw new Error('expected a refusal, it succeeded');
  return e;
}

describe('log sync never writes through a link on the stick', () => {
  it('pijig/logs/<station> a link to the data directory: refused, units.jsonl intact', async () => {
    const j = await jig();
    const stick = await stickWith();
    await mkdir(join(stick, 'pijig/logs'), { recursive: true });
    await symlink(j.dataDir, join(stick, 'pijig/logs/st-01'));
    const e = await rejection(j.sync.sync(stick));
    expect(e).toBeInstanceOf(OutputError);
    expect(e).toMatchObject({ code: 'STICK_UNSAFE' });
    expect(e.message).toContain(`${join(stick, 'pijig/logs/st-01')}: is a symbolic link`);
    expect((await readFile(join(j.dataDir, 'units.jsonl'), 'utf8')).split('\n')).toHaveLength(11);
    await j.untouched();
  });

  it('pijig/logs a link (to a folder holding <station> -> the data directory, or to the data directory itself)', async () => {
    for (const target of ['parent', 'itself'] as const) {
      const j = await jig();
      const stick = await stickWith();
      if (target === 'itself') await symlink(j.dataDir, join(stick, 'pijig/logs'));
      else {
        const elsewhere = await tempDir('pijig-elsewhere-');
        await symlink(j.dataDir, join(elsewhere, 'st-01'));
        await symlink(elsewhere, join(stick, 'pijig/logs'));
      }
      expect(await rejection(j.sync.sync(stick))).toMatchObject({ code: 'STICK_UNSAFE' });
      await j.untouched();
    }
  });

  it('units.jsonl, units.csv or cursor.json a link to the journal: refused before anything is truncated', async () => {
    for (const name of ['units.jsonl', 'units.csv', 'cursor.json']) {
      const j = await jig();
      const stick = await stickWith();
      await mkdir(join(stick, 'pijig/logs/st-01'), { recursive: true });
      await symlink(join(j.dataDir, 'units.jsonl'), join(stick, 'pijig/logs/st-01', name));
      const e = await rejection(j.sync.sync(stick));
      expect(e, name).toMatchObject({ code: 'STICK_UNSAFE' });
      await j.untouched();
    }
  });

  it('a FIFO in place of units.jsonl or cursor.json: refused at once, nothing waits for a writer', async () => {
    for (const name of ['units.jsonl', 'cursor.json']) {
      const j = await jig();
      const stick = await stickWith();
      await mkdir(join(stick, 'pijig/logs/st-01'), { recursive: true });
      execFileSync('mkfifo', [join(stick, 'pijig/logs/st-01', name)]);
      expect(await rejection(j.sync.sync(stick)), name).toMatchObject({ code: 'STICK_UNSAFE', message: expect.stringContaining('not a regular file') });
      await j.untouched();
    }
  });

  it('a stick whose logs folder is made by the jig syncs as before', async () => {
    const j = await jig();
    const stick = await stickWith();
    expect(await j.sync.sync(stick)).toMatchObject({ appended: 10, lastSeq: 10 });
    await j.untouched();
  });
});

describe('the importer walks the stick without following links or opening special files', () => {
  it('a FIFO named manifest.json among several bundles: the importer neither hangs nor reads it', async () => {
    const j = await jig();
    const stick = await stickWith();
    await mkdir(join(stick, 'pijig/bundles/a-fifo'), { recursive: true });
    execFileSync('mkfifo', [join(stick, 'pijig/bundles/a-fifo/manifest.json')]);
    await cp(await makeBundle(key), join(stick, 'pijig/bundles/b-good'), { recursive: true });
    await cp(await makeBundle(key, { target: 'stm32f030c8' }), join(stick, 'pijig/bundles/c-other'), { recursive: true });
    expect(await j.importer.importFrom(stick)).toMatchObject({ status: 'imported', version: '1.4.2' });
    // and a FIFO that is the only candidate is refused, not waited on
    const lone = await stickWith();
    await mkdir(join(lone, 'pijig/bundle'), { recursive: true });
    execFileSync('mkfifo', [join(lone, 'pijig/bundle/manifest.json')]);
    expect(await rejection(j.importer.importFrom(lone))).toMatchObject({ code: 'NOT_A_FILE' });
  });

  it('pijig/, pijig/bundle or pijig/bundles a link to a folder elsewhere: not followed', async () => {
    const elsewhere = await tempDir('pijig-elsewhere-');
    await cp(await makeBundle(key), join(elsewhere, 'pijig/bundle'), { recursive: true });
    await mkdir(join(elsewhere, 'many'));
    await symlink(join(elsewhere, 'pijig/bundle'), join(elsewhere, 'many/one'));
    const cases: [string, string][] = [
      ['pijig', join(elsewhere, 'pijig')],
      ['pijig/bundle', join(elsewhere, 'pijig/bundle')],
      ['pijig/bundles', join(elsewhere, 'pijig')],
    ];
    for (const [at, target] of cases) {
      const j = await jig();
      const stick = await tempDir('pijig-stick-');
      if (at !== 'pijig') await mkdir(join(stick, 'pijig'));
      await symlink(target, join(stick, at));
      const outcome = await j.importer.importFrom(stick).then((r) => r, (e: unknown) => e);
      if (at === 'pijig/bundles') expect(outcome, at).toEqual({ status: 'no-bundle' });
      else expect(outcome, at).toMatchObject({ code: 'SYMLINK' });
      expect(await j.store.active(), at).toBeUndefined();
      await j.untouched();
    }
    // and the watcher does not take a `pijig` link for a stick
    const mountDir = await tempDir('pijig-mnt-');
    await mkdir(join(mountDir, 'EVIL'));
    await symlink(join(elsewhere, 'pijig'), join(mountDir, 'EVIL/pijig'));
    const watcher = new StickWatcher({ mountDir });
    await watcher.scan();
    expect(watcher.sticks).toEqual([]);
  });

  it('a signed manifest with a key given twice is refused (JSON.parse would keep the last silently)', async () => {
    const j = await jig();
    const bundle = await makeBundle(key);
    const path = join(bundle, 'manifest.json');
    const text = await readFile(path, 'utf8');
    // The signature covers the parsed value, whose "version" is the last one: 1.4.2. A reader of the file sees 9.9.9 first.
    await writeFile(path, text.replace('{', '{\n  "version": "9.9.9",'));
    const e = await rejection(j.importer.importFrom(await stickWith(bundle)));
    expect(e).toMatchObject({ code: 'MANIFEST_MALFORMED', field: 'version' });
    expect(e.message).toMatch(/manifest\.json:\d+:\d+: version: the key "version" appears twice in one object/);
    expect(await j.store.active()).toBeUndefined();
  });

  it('names with control characters reach no log line and no OLED line as they are', async () => {
    const j = await jig();
    const stick = await stickWith();
    const forged = 'x\n2026-01-01T00:00:00Z pijig: bundle widget 9.9.9 imported\u001b[2J';
    await mkdir(join(stick, 'pijig/bundles', forged), { recursive: true });
    const usb = new UsbMedia({ watcher: new StickWatcher({ mountDir: await tempDir('pijig-mnt-') }), importer: j.importer, logSync: j.sync });
    const refused: MediaError[] = [];
    usb.on('refused', (e) => refused.push(e));
    const outcome = await usb.handle({ name: 'S', root: stick });
    expect(refused).toHaveLength(1);
    const e = refused[0]!;
    expect(e.code).toBe('MANIFEST_MISSING');
    const logLine = `bundle refused: ${e.code}: ${e.message}`;
    expect(logLine).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(logLine).toContain('x\\n2026-01-01T00:00:00Z pijig: bundle widget 9.9.9 imported\\u001b[2J/manifest.json: missing');
    const screen = finalMessage(outcome);
    expect([screen.title, ...screen.lines].join('')).not.toMatch(/[\u0000-\u001f\u007f]/);
  });
});

describe('sizes are checked on the open file, before a byte is read', () => {
  it('a 1 TiB sparse manifest is refused by its size, not read', async () => {
    const dir = await tempDir('pijig-stick-');
    const file = join(dir, 'manifest.json');
    await writeFile(file, '');
    await truncate(file, 2 ** 40);
    const stick = await ConfinedDir.open(dir);
    const e = await rejection(stick.readFile('manifest.json', 1024 * 1024));
    expect(e).toBeInstanceOf(ConfinedError);
    expect(e).toMatchObject({ code: 'TOO_LARGE', message: `${file}: 1099511627776 bytes exceeds 1048576` });
  });

  it('a path that climbs out, or into the protected data directory, is refused', async () => {
    const dataDir = await tempDir('pijig-data-');
    const stick = await ConfinedDir.open(dataDir, { protect: [] });
    await expect(stick.readFile('../etc/passwd', 10)).rejects.toMatchObject({ code: 'ESCAPE' });
    await expect(ConfinedDir.open(join(dataDir), { protect: [dataDir] })).rejects.toMatchObject({ code: 'ESCAPE' });
  });
});

/*
 * A read-only stick. Mode bits do not stop root (these tests run as root), so a real read-only
 * filesystem is mounted: a tmpfs, filled, then remounted read-only - the kernel answers EROFS as
 * it does for a FAT stick mounted ro or with its write-protect switch on.
 */
describe('a read-only stick', () => {
  it('log sync says "read-only stick" (it used to say ENOENT); the bundle on it still imports', async (ctx) => {
    const root = await mkdtemp(join(tmpdir(), 'pijig-ro-'));
    let mounted = false;
    try {
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', root], { stdio: 'pipe' });
        mounted = true;
      } catch (err) {
        ctx.skip(`cannot mount a tmpfs here: ${(err as Error).message}`);
      }
      await cp(await makeBundle(key), join(root, 'pijig/bundle'), { recursive: true });
      execFileSync('mount', ['-o', 'remount,ro', root], { stdio: 'pipe' });
      const probe = await open(join(root, 'probe'), 'w').then((fh) => fh.close().then(() => 'writable'), (e: NodeJS.ErrnoException) => e.code);
      expect(probe).toBe('EROFS');
      const j = await jig();
      const e = await rejection(j.sync.sync(root));
      expect(e).toMatchObject({ code: 'STICK_READ_ONLY' });
      expect(e.message).toBe(`${root}: read-only stick: the logs cannot be written (${join(root, 'pijig/logs')})`);
      const screen = finalMessage({ stick: { name: 'RO', root }, sync: { ok: false, error: e as OutputError }, import: { ok: true, result: { status: 'no-bundle' } }, safeToRemove: false });
      expect(screen.title).toBe('READ-ONLY STICK');
      await j.untouched();
      expect(await j.importer.importFrom(root)).toMatchObject({ status: 'imported' });
    } finally {
      if (mounted) execFileSync('umount', [root]);
      await rm(root, { recursive: true, force: true });
    }
  });
});
