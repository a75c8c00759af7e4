import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigError, formatIssue } from '../config/errors.js';
import { planSchema } from '../config/plan.js';
import { YamlSource } from '../config/yaml.js';
import { fsyncDir } from '../util/fs.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import { checkBundleContent, checkManifestTarget, MANIFEST_FILE, MAX_MANIFEST_BYTES, readBundleHead, sourceError, verifyBundleFiles, type BundleHead } from './bundle.js';
import { ConfinedDir } from '../util/confined.js';
import { MediaError } from './errors.js';
import { nodeSourceFiles, type SourceFiles } from './files.js';
import { compareVersions, manifestFiles, parseManifestJson, type Manifest } from './manifest.js';
import type { MediaConfig } from '../config/station.js';
import { parsePublicKeys, SIGNATURE_FILE, type TrustedKey } from './signing.js';
import type { BundleStore } from './store.js';

export type ImportPhase = 'waiting' | 'verifying' | 'copying' | 'checking-copy' | 'activating';

export type ImportResult =
  | { status: 'imported'; bundleId: string; product: string; version: string; previous?: { bundleId: string; version: string } }
  | { status: 'unchanged'; bundleId: string; product: string; version: string }
  | { status: 'no-bundle' };

export interface ImporterEvents extends Record<string, unknown[]> {
  phase: [{ phase: ImportPhase; dir: string; version?: string }];
}

export interface ImporterDeps {
  store: BundleStore;
  /** The station config's `media` section. */
  settings: MediaConfig;
  /** Resolves when no cycle runs; the station must not start one while `busy`. */
  waitUntilIdle: () => Promise<void>;
  /**
   * Validates the bundle's plan; throws ConfigError when it is invalid. The station passes the
   * full check (step kinds and params, `parsePlan` with its step registry); the default checks
   * the plan's structure only.
   */
  checkPlan?: (text: string, file: string) => unknown;
  /**
   * The station's own checks of the bundle's identity blocks against its plan and ledger (a plan
   * with an identity step and no block for this station, a block overlapping numbers this station
   * used); throws MediaError (NO_BLOCK_FOR_STATION, BLOCK_OVERLAP). Runs on the verified copy,
   * before the bundle is activated.
   */
  checkIdentity?: (manifest: Manifest, plan: unknown, manifestPath: string) => void | Promise<void>;
  /** The seam to the stick's bytes (tests pull the stick mid-file through it). */
  files?: SourceFiles;
}

/** Where bundles sit on a stick: pijig/bundle/, or one folder each under pijig/bundles/. */
export const STICK_BUNDLE_DIR = 'pijig/bundle';
export const STICK_BUNDLES_DIR = 'pijig/bundles';

/**
 * Brings a signed bundle from a stick into the store and makes it active. Everything is checked
 * on the stick first (signature, trusted key, release tag, product/target, downgrade, paths,
 * sizes, hashes), then copied into a staging folder (each file fsync'd), checked again there,
 * moved into place and only then activated. Any refusal leaves the active bundle untouched.
 */
export class Importer extends TypedEmitter<ImporterEvents> {
  private readonly trusted: TrustedKey[];
  private readonly maxFileBytes: number;
  private readonly files: SourceFiles;
  private readonly checkPlan: (text: string, file: string) => unknown;
  private queue: Promise<unknown> = Promise.resolve();
  private running = 0;

  constructor(private readonly deps: ImporterDeps) {
    super();
    this.trusted = parsePublicKeys(deps.settings.public_keys.map((k) => ({ name: k.name, publicKey: k.public_key })), 'media.public_keys');
    this.maxFileBytes = Math.round(deps.settings.max_file_mb * 1024 * 1024);
    this.files = deps.files ?? nodeSourceFiles;
    this.checkPlan = deps.checkPlan ?? ((text, file) => YamlSource.parse(text, file).validate(planSchema));
  }

  /** True while an import is queued or running: the station must not start a cycle. */
  get busy(): boolean {
    return this.running > 0;
  }

  /** Import the bundle on a mounted stick (its root folder). Refusals throw MediaError. */
  importFrom(stickRoot: string): Promise<ImportResult> {
    return this.serial(async () => {
      const dir = await this.pickBundle(stickRoot);
      return dir ? this.run(dir, stickRoot) : { status: 'no-bundle' as const };
    });
  }

  /** Import one bundle folder. Refusals throw MediaError. */
  importBundle(dir: string): Promise<ImportResult> {
    return this.serial(() => this.run(dir));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    this.running++;
    const result = this.queue.then(fn, fn).finally(() => this.running--);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** `root`: the stick's root; nothing below it is followed if it is a symbolic link. */
  private async run(dir: string, root: string = dir): Promise<ImportResult> {
    const { store, settings } = this.deps;
    const head = await readBundleHead(dir, this.trusted, { files: this.files, root });
    const m = head.manifest;
    const manifestPath = join(dir, MANIFEST_FILE);
    if (settings.product !== undefined && m.product !== settings.product) {
      throw new MediaError('WRONG_PRODUCT', `${manifestPath}: product "${m.product}", this station makes "${settings.product}"`, { file: manifestPath, field: 'product' });
    }
    if (m.target !== settings.target) {
      throw new MediaError('WRONG_TARGET', `${manifestPath}: target "${m.target}", this station programs "${settings.target}"`, { file: manifestPath, field: 'target' });
    }
    // The chip table: a known part, every region inside its flash (a RAM or past-4-GiB region never reaches the store).
    checkManifestTarget(m, manifestPath);
    const active = await store.activeManifest();
    if (active?.bundleId === head.bundleId && (await store.load(head.bundleId).then(() => true, () => false))) {
      return { status: 'unchanged', bundleId: head.bundleId, product: m.product, version: m.version };
    }
    if (active && compareVersions(m.version, active.manifest.version) < 0 && !settings.allow_downgrade) {
      throw new MediaError('DOWNGRADE', `${manifestPath}: version ${m.version} is older than the active ${active.manifest.version} (allow_downgrade is off)`, { file: manifestPath, field: 'version' });
    }
    // Deciding costs a few small reads; the work that follows (hashing, copying, switching) waits for the cycle to end.
    await this.idle(dir);
    this.emit('phase', { phase: 'verifying', dir, version: m.version });
    await verifyBundleFiles(head, this.maxFileBytes, { files: this.files, root });

    if (!(await store.has(head.bundleId)) || !(await store.load(head.bundleId).then(() => true, () => false))) {
      await store.cleanup();
      const staging = await store.createStaging();
      try {
        this.emit('phase', { phase: 'copying', dir, version: m.version });
        await this.copy(head, staging, root);
        this.emit('phase', { phase: 'checking-copy', dir, version: m.version });
        await this.checkStaged(head, staging);
        const plan = await this.planCheck(head, staging);
        await this.deps.checkIdentity?.(head.manifest, plan, manifestPath);
        await store.commit(staging, head.bundleId);
      } catch (err) {
        await store.discard(staging);
        throw err;
      }
    } else {
      const plan = await this.planCheck(head, store.dirOf(head.bundleId));
      await this.deps.checkIdentity?.(head.manifest, plan, manifestPath);
    }
    await this.idle(dir);
    this.emit('phase', { phase: 'activating', dir, version: m.version });
    const pointer = await store.activate(head.bundleId);
    const result: ImportResult = { status: 'imported', bundleId: head.bundleId, product: m.product, version: m.version };
    if (active && pointer.previous === active.bundleId) result.previous = { bundleId: active.bundleId, version: active.manifest.version };
    return result;
  }

  private async idle(dir: string): Promise<void> {
    let settled = false;
    const wait = this.deps.waitUntilIdle().then(() => {
      settled = true;
    });
    await Promise.resolve();
    if (!settled) this.emit('phase', { phase: 'waiting', dir });
    await wait;
  }

  /**
   * Which bundle folder on the stick to import; undefined when the stick carries none. The stick
   * is walked without following a link, and a manifest is read only if it is a regular file of at
   * most MAX_MANIFEST_BYTES, opened non-blocking (a FIFO named manifest.json is no candidate).
   */
  private async pickBundle(stickRoot: string): Promise<string | undefined> {
    let stick: ConfinedDir;
    try {
      stick = await ConfinedDir.open(stickRoot);
    } catch (err) {
      throw await sourceError(err, stickRoot, stickRoot);
    }
    const candidates: string[] = [];
    const present = async (rel: string): Promise<boolean> => {
      try {
        return (await stick.lstat(rel)) !== undefined;
      } catch (err) {
        throw await sourceError(err, stickRoot, join(stickRoot, rel));
      }
    };
    if (await present(STICK_BUNDLE_DIR)) candidates.push(STICK_BUNDLE_DIR);
    if ((await stick.lstat(STICK_BUNDLES_DIR).catch(() => undefined))?.isDirectory()) {
      let names: string[];
      try {
        names = await stick.readdir(STICK_BUNDLES_DIR);
      } catch (err) {
        throw await sourceError(err, stickRoot, join(stickRoot, STICK_BUNDLES_DIR));
      }
      for (const name of names.sort()) if (!name.startsWith('.')) candidates.push(`${STICK_BUNDLES_DIR}/${name}`);
    }
    if (candidates.length <= 1) return candidates[0] === undefined ? undefined : join(stickRoot, candidates[0]);
    // Several bundles (one stick for several kinds of station): take the one made for this station.
    const fits: string[] = [];
    for (const rel of candidates) {
      const dir = join(stickRoot, rel);
      try {
        const m = parseManifestJson((await stick.readFile(`${rel}/${MANIFEST_FILE}`, MAX_MANIFEST_BYTES)).toString('utf8'), join(dir, MANIFEST_FILE)) as { product?: unknown; target?: unknown };
        if (m.target === this.deps.settings.target && (this.deps.settings.product === undefined || m.product === this.deps.settings.product)) fits.push(dir);
      } catch {
        // unreadable: not a candidate
      }
    }
    if (fits.length === 1) return fits[0];
    if (fits.length === 0) return join(stickRoot, candidates[0]!); // its import states why it does not fit
    throw new MediaError('BUNDLE_AMBIGUOUS', `${stickRoot}: ${fits.length} bundles fit this station (${fits.join(', ')}); leave one`, { file: stickRoot });
  }

  /** Copy the verified bundle into staging; the manifest and signature are written from the bytes already verified. */
  private async copy(head: BundleHead, staging: string, root: string): Promise<void> {
    const dirs = new Set<string>([staging]);
    await writeDurable(join(staging, MANIFEST_FILE), head.manifestText);
    await writeDurable(join(staging, SIGNATURE_FILE), head.signatureText);
    for (const f of manifestFiles(head.manifest)) {
      const dest = join(staging, f.file);
      const parent = dirname(dest);
      if (!dirs.has(parent)) {
        await mkdir(parent, { recursive: true }).catch((err: unknown) => {
          throw writeError(err, parent);
        });
        for (let d = parent; d.startsWith(staging) && !dirs.has(d); d = dirname(d)) dirs.add(d);
      }
      await this.copyFile(head.dir, join(head.dir, f.file), dest, f.size, root);
    }
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await fsyncDir(d).catch((err: unknown) => {
      throw writeError(err, d);
    });
  }

  private async copyFile(bundleDir: string, src: string, dest: string, size: number, root: string): Promise<void> {
    let fh;
    try {
      fh = await open(dest, 'wx', 0o644);
    } catch (err) {
      throw writeError(err, dest);
    }
    try {
      const chunks = this.files.read(src, { root })[Symbol.asyncIterator]();
      let copied = 0;
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch (err) {
          throw await sourceError(err, bundleDir, src);
        }
        if (next.done) break;
        copied += next.value.length;
        if (copied > size) {
          await chunks.return?.();
          throw new MediaError('STAGED_MISMATCH', `${src}: grew past its ${size} bytes while being copied`, { file: src });
        }
        try {
          await fh.write(next.value);
        } catch (err) {
          throw writeError(err, dest);
        }
      }
      if (copied !== size) throw new MediaError('STAGED_MISMATCH', `${src}: ${copied} of ${size} bytes copied; the read ended early`, { file: src });
      try {
        await fh.sync();
      } catch (err) {
        throw writeError(err, dest);
      }
    } finally {
      await fh.close();
    }
  }

  /** Verify the copy as if it were a new stick: same manifest, good signature, every hash. */
  private async checkStaged(head: BundleHead, staging: string): Promise<void> {
    try {
      const staged = await readBundleHead(staging, this.trusted);
      if (staged.bundleId !== head.bundleId) throw new MediaError('STAGED_MISMATCH', `${staging}: staged manifest ${staged.bundleId} is not ${head.bundleId}`, { file: staging });
      await verifyBundleFiles(staged, this.maxFileBytes);
    } catch (err) {
      if (err instanceof MediaError && err.code === 'STAGED_MISMATCH') throw err;
      const file = err instanceof MediaError ? err.file : undefined;
      throw new MediaError('STAGED_MISMATCH', `copy in ${staging} does not verify: ${(err as Error).message}`, { cause: err, file });
    }
  }

  /** On the verified copy: raw region bytes only, the plan valid and fitting the target. */
  private async planCheck(head: BundleHead, staging: string): Promise<unknown> {
    await checkBundleContent(staging, head.manifest, head.dir);
    const onStick = join(head.dir, head.manifest.plan.file);
    const text = await readFile(join(staging, head.manifest.plan.file), 'utf8');
    let plan: unknown;
    try {
      plan = this.checkPlan(text, onStick);
    } catch (err) {
      if (err instanceof ConfigError) {
        throw new MediaError('PLAN_INVALID', `${onStick}: ${err.issues.map(formatIssue).join('; ')}`, { cause: err, file: onStick, field: err.issues[0]?.path });
      }
      throw new MediaError('PLAN_INVALID', `${onStick}: ${(err as Error).message}`, { cause: err, file: onStick });
    }
    const product = (plan as { product?: unknown } | undefined)?.product;
    if (typeof product === 'string' && product !== head.manifest.product) {
      throw new MediaError('PLAN_INVALID', `${onStick}: product: plan is for "${product}", the manifest for "${head.manifest.product}"`, { file: onStick, field: 'product' });
    }
    return plan;
  }
}

async function writeDurable(path: string, text: string): Promise<void> {
  try {
    const fh = await open(path, 'wx', 0o644);
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw writeError(err, path);
  }
}

function writeError(err: unknown, path: string): MediaError {
  if (err instanceof MediaError) return err;
  return new MediaError('WRITE_FAILED', `${path}: cannot write the staged copy (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err, file: path });
}
