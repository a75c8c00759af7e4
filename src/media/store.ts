import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fsyncDir, writeFileAtomic } from '../util/fs.js';
import { MANIFEST_FILE } from './bundle.js';
import { MediaError } from './errors.js';
import { imageHashOf, type ActiveImage } from '../core/image.js';
import { manifestFiles, parseManifest, type IdentityBlocks, type Manifest } from './manifest.js';
import { bundleIdOf, parseSignatureFile, SIGNATURE_FILE } from './signing.js';
import { hashSource } from './bundle.js';
import { nodeSourceFiles } from './files.js';

/** The bundle the station runs: what to flash, the plan to run, the order it belongs to. */
export interface ActiveBundle {
  bundleId: string;
  /** Absolute folder of the bundle in the store. */
  dir: string;
  manifest: Manifest;
  /** Regions with absolute paths in the store: what the runner flashes and records. */
  image: ActiveImage;
  plan: { file: string; text: string };
  orderQuantity: number | undefined;
  /** The order the units are made for (flashes count per order; per image when undefined). */
  orderId: string | undefined;
  /** Identity blocks by station id. */
  identity: IdentityBlocks | undefined;
  signedBy: { name: string; fingerprint: string };
}

const pointerSchema = z.strictObject({
  format: z.literal(1),
  active: z.string().regex(/^[0-9a-f]{64}$/),
  previous: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  activatedAt: z.string(),
});
/** bundles/active.json: which bundle runs, and which one a rollback returns to. */
export type StorePointer = z.infer<typeof pointerSchema>;

const BUNDLE_ID = /^[0-9a-f]{64}$/;
const STAGING_PREFIX = '.staging-';
const TRASH_PREFIX = '.trash-';

/**
 * The bundles on the jig, content-addressed: <dataDir>/bundles/<bundleId>/ holds a verified copy
 * of a bundle (manifest, signature, files); bundles/active.json points at the active one and the
 * previous one. Switching is one atomic rename of the pointer, so a power cut leaves either the
 * old or the new bundle active, never a mix. Only the active and the previous bundle are kept.
 */
export class BundleStore {
  readonly root: string;
  readonly pointerFile: string;

  constructor(
    readonly dataDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.root = join(dataDir, 'bundles');
    this.pointerFile = join(this.root, 'active.json');
  }

  dirOf(bundleId: string): string {
    if (!BUNDLE_ID.test(bundleId)) throw new RangeError(`"${bundleId}" is not a bundle id`);
    return join(this.root, bundleId);
  }

  async pointer(): Promise<StorePointer | undefined> {
    let text: string;
    try {
      text = await readFile(this.pointerFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new MediaError('STORE_CORRUPT', `${this.pointerFile}: cannot be read (${(err as Error).message})`, { cause: err, file: this.pointerFile });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new MediaError('STORE_CORRUPT', `${this.pointerFile}: not valid JSON`, { cause, file: this.pointerFile });
    }
    const r = pointerSchema.safeParse(json);
    if (!r.success) throw new MediaError('STORE_CORRUPT', `${this.pointerFile}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { file: this.pointerFile });
    return r.data;
  }

  /** The active bundle, re-verified (manifest hash = bundle id, every file's size and sha256); STORE_CORRUPT when it is damaged. */
  async active(): Promise<ActiveBundle | undefined> {
    const p = await this.pointer();
    return p ? this.load(p.active) : undefined;
  }

  /** The active manifest without hashing files, for the downgrade check; undefined when none or unreadable. */
  async activeManifest(): Promise<{ bundleId: string; manifest: Manifest } | undefined> {
    try {
      const p = await this.pointer();
      if (!p) return undefined;
      const file = join(this.dirOf(p.active), MANIFEST_FILE);
      return { bundleId: p.active, manifest: parseManifest(await readFile(file, 'utf8'), file).manifest };
    } catch {
      return undefined;
    }
  }

  /** Load and verify a stored bundle. */
  async load(bundleId: string): Promise<ActiveBundle> {
    const dir = this.dirOf(bundleId);
    const corrupt = (file: string, what: string, cause?: unknown) =>
      new MediaError('STORE_CORRUPT', `${file}: ${what}`, { cause, file });
    const manifestPath = join(dir, MANIFEST_FILE);
    let manifest: Manifest;
    let json: unknown;
    try {
      ({ manifest, json } = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath));
    } catch (err) {
      throw corrupt(manifestPath, `stored manifest unreadable (${(err as Error).message})`, err);
    }
    if (bundleIdOf(json) !== bundleId) throw corrupt(manifestPath, `manifest hash ${bundleIdOf(json)} is not the bundle id ${bundleId}`);
    const sigPath = join(dir, SIGNATURE_FILE);
    let signedBy: ActiveBundle['signedBy'];
    try {
      const sig = parseSignatureFile(await readFile(sigPath, 'utf8'), sigPath);
      signedBy = { name: sig.keyName, fingerprint: sig.keyFingerprint };
    } catch (err) {
      throw corrupt(sigPath, `stored signature unreadable (${(err as Error).message})`, err);
    }
    for (const f of manifestFiles(manifest)) {
      const path = join(dir, f.file);
      let got: { sha256: string; size: number };
      try {
        const st = await stat(path);
        if (st.size !== f.size) throw corrupt(path, `${st.size} bytes, manifest ${f.field} declares ${f.size}`);
        got = await hashSource(dir, path, f.size, nodeSourceFiles);
      } catch (err) {
        if (err instanceof MediaError && err.code === 'STORE_CORRUPT') throw err;
        throw corrupt(path, `cannot be read (${(err as Error).message})`, err);
      }
      if (got.sha256 !== f.sha256 || got.size !== f.size) throw corrupt(path, `sha256 ${got.sha256} differs from manifest ${f.field} ${f.sha256}`);
    }
    const planFile = join(dir, manifest.plan.file);
    const regions = manifest.regions.map((r) => ({ name: r.name, file: join(dir, r.file), address: r.address, sha256: r.sha256, size: r.size }));
    return {
      bundleId,
      dir,
      manifest,
      image: { bundleId, product: manifest.product, version: manifest.version, target: manifest.target, regions, imageHash: imageHashOf(regions) },
      plan: { file: planFile, text: await readFile(planFile, 'utf8') },
      orderQuantity: manifest.orderQuantity,
      orderId: manifest.orderId,
      identity: manifest.identity,
      signedBy,
    };
  }

  async has(bundleId: string): Promise<boolean> {
    try {
      return (await stat(this.dirOf(bundleId))).isDirectory();
    } catch {
      return false;
    }
  }

  /** A fresh, empty staging folder inside the store (same filesystem, so committing is a rename). */
  async createStaging(): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const dir = join(this.root, `${STAGING_PREFIX}${randomBytes(6).toString('hex')}`);
    await mkdir(dir);
    return dir;
  }

  /** Move a fully written and verified staging folder into place as bundles/<bundleId>. */
  async commit(staging: string, bundleId: string): Promise<void> {
    const dest = this.dirOf(bundleId);
    if (await this.has(bundleId)) await this.remove(bundleId); // a damaged earlier copy
    await rename(staging, dest);
    await fsyncDir(this.root);
  }

  async discard(staging: string): Promise<void> {
    await rm(staging, { recursive: true, force: true });
  }

  /** Make a stored bundle active; the one active until now becomes `previous`. Then drop the rest. */
  async activate(bundleId: string): Promise<StorePointer> {
    const current = await this.pointer().catch(() => undefined);
    const next: StorePointer = { format: 1, active: bundleId, activatedAt: this.now().toISOString() };
    const previous = current?.active === bundleId ? current.previous : current?.active;
    if (previous) next.previous = previous;
    await this.writePointer(next);
    await this.prune(next);
    return next;
  }

  /** Swap active and previous, after verifying the previous bundle. */
  async rollback(): Promise<ActiveBundle> {
    const p = await this.pointer();
    if (!p) throw new MediaError('NO_ACTIVE', `${this.pointerFile}: no active bundle, nothing to roll back`, { file: this.pointerFile });
    if (!p.previous) throw new MediaError('NO_PREVIOUS', `${this.pointerFile}: no previous bundle to roll back to`, { file: this.pointerFile });
    const bundle = await this.load(p.previous);
    await this.writePointer({ format: 1, active: p.previous, previous: p.active, activatedAt: this.now().toISOString() });
    return bundle;
  }

  /** Remove what an interrupted import or prune left behind. */
  async cleanup(): Promise<void> {
    for (const name of await this.entries()) {
      if (name.startsWith(STAGING_PREFIX) || name.startsWith(TRASH_PREFIX)) await rm(join(this.root, name), { recursive: true, force: true });
    }
  }

  private async writePointer(p: StorePointer): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await writeFileAtomic(this.pointerFile, `${JSON.stringify(p, null, 2)}\n`);
  }

  private async prune(p: StorePointer): Promise<void> {
    for (const name of await this.entries()) {
      if (BUNDLE_ID.test(name) && name !== p.active && name !== p.previous) await this.remove(name);
    }
  }

  /** Rename first, then delete: a power cut mid-delete never leaves a half bundle under a valid id. */
  private async remove(bundleId: string): Promise<void> {
    const trash = join(this.root, `${TRASH_PREFIX}${bundleId}-${randomBytes(4).toString('hex')}`);
    await rename(this.dirOf(bundleId), trash);
    await fsyncDir(this.root);
    await rm(trash, { recursive: true, force: true });
  }

  private async entries(): Promise<string[]> {
    try {
      return await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}
