import { createHash } from 'node:crypto';
import { lstat, open, readFile, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { checkPlanAgainstTarget, checkRegions, ChipError, FILE_KIND_NAMES, firmwareFileKind, parseTarget, type TargetChip } from '../core/chip-families.js';
import { ConfigError, formatIssue } from '../config/errors.js';
import { YamlSource } from '../config/yaml.js';
import { MediaError } from './errors.js';
import { checkManifestBlocks, manifestFiles, parseManifestJson, pathProblem, releaseProblem, validateManifest, type Manifest } from './manifest.js';
import { bundleIdOf, parseSignatureFile, SIGNATURE_FILE, verifyManifestSignature, type SignatureFile, type TrustedKey } from './signing.js';
import { nodeSourceFiles, type SourceFiles } from './files.js';
import { ConfinedError } from '../util/confined.js';
import { canonicalize } from './canonical.js';
import { exists } from '../util/fs.js';

/**
 * A bundle is a directory: manifest.json, manifest.sig and the files the manifest names (paths
 * relative to the directory). See docs/bundle-format.md.
 */
export const MANIFEST_FILE = 'manifest.json';
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** An authenticated manifest: signature good, key trusted, release-tagged, paths well-formed. Files not yet checked. */
export interface BundleHead {
  dir: string;
  manifest: Manifest;
  manifestJson: unknown;
  manifestText: string;
  signature: SignatureFile;
  signatureText: string;
  /** sha256 of the canonical manifest, hex. */
  bundleId: string;
  key: TrustedKey;
}

export interface ReadOptions {
  files?: SourceFiles;
  /** The stick's root (default: the bundle folder): no symbolic link below it is followed. */
  root?: string;
}

/**
 * Read and authenticate a bundle's manifest. Order matters: the signature is checked over the
 * raw JSON value before the schema is applied, so a tampered manifest is reported as tampered.
 */
export async function readBundleHead(dir: string, trusted: readonly TrustedKey[], opts: ReadOptions = {}): Promise<BundleHead> {
  const files = opts.files ?? nodeSourceFiles;
  await checkDir(dir);
  const manifestPath = join(dir, MANIFEST_FILE);
  const manifestText = await readSmall(dir, manifestPath, MAX_MANIFEST_BYTES, 'MANIFEST_MISSING', files, opts.root);
  const manifestJson = parseManifestJson(manifestText, manifestPath);
  try {
    canonicalize(manifestJson);
  } catch (cause) {
    throw new MediaError('MANIFEST_MALFORMED', `${manifestPath}: ${(cause as Error).message}`, { cause, file: manifestPath });
  }
  const sigPath = join(dir, SIGNATURE_FILE);
  const signatureText = await readSmall(dir, sigPath, 64 * 1024, 'SIGNATURE_MISSING', files, opts.root);
  const signature = parseSignatureFile(signatureText, sigPath);
  const key = verifyManifestSignature(manifestJson, signature, trusted, sigPath);
  const manifest = validateManifest(manifestJson, manifestPath);
  checkManifestContent(manifest, manifestPath);
  return { dir, manifest, manifestJson, manifestText, signature, signatureText, bundleId: bundleIdOf(manifestJson), key };
}

/** What `inspect` shows: the manifest and signature as they are, trusted or not. */
export async function inspectBundle(dir: string): Promise<{ manifestJson: unknown; manifest?: Manifest; problem?: MediaError; signature?: SignatureFile; bundleId: string }> {
  const manifestPath = join(dir, MANIFEST_FILE);
  const manifestJson = parseManifestJson(await readSmall(dir, manifestPath, MAX_MANIFEST_BYTES, 'MANIFEST_MISSING', nodeSourceFiles), manifestPath);
  let manifest: Manifest | undefined;
  let problem: MediaError | undefined;
  try {
    manifest = validateManifest(manifestJson, manifestPath);
    checkManifestContent(manifest, manifestPath);
  } catch (e) {
    if (!(e instanceof MediaError)) throw e;
    problem = e;
  }
  let signature: SignatureFile | undefined;
  try {
    const sigPath = join(dir, SIGNATURE_FILE);
    signature = parseSignatureFile(await readSmall(dir, sigPath, 64 * 1024, 'SIGNATURE_MISSING', nodeSourceFiles), sigPath);
  } catch (e) {
    if (!(e instanceof MediaError)) throw e;
    problem ??= e;
  }
  return { manifestJson, manifest, problem, signature, bundleId: bundleIdOf(manifestJson) };
}

/** Release tag and file paths: what a signed manifest must also satisfy before anything is read. */
export function checkManifestContent(manifest: Manifest, manifestPath: string): void {
  const release = releaseProblem(manifest);
  if (release) throw new MediaError('NOT_RELEASE', `${manifestPath}: ${release.field}: ${release.message}; only release-tagged bundles are flashed`, { file: manifestPath, field: release.field });
  checkManifestBlocks(manifest, manifestPath);
  for (const f of manifestFiles(manifest)) {
    const problem = pathProblem(f.file);
    if (problem) throw new MediaError('PATH_ESCAPE', `${manifestPath}: ${f.field}: "${f.file}" ${problem}`, { file: manifestPath, field: f.field });
  }
}

/**
 * Check every file the manifest names, on whatever disk the bundle is on: a regular file (no
 * symlink anywhere below the bundle directory, and its real path inside the bundle), not larger
 * than maxFileBytes, of the declared size and sha256.
 */
export async function verifyBundleFiles(head: Pick<BundleHead, 'dir' | 'manifest'>, maxFileBytes: number, opts: ReadOptions = {}): Promise<void> {
  const files = opts.files ?? nodeSourceFiles;
  const realDir = await sourceCall(head.dir, head.dir, () => realpath(head.dir));
  for (const f of manifestFiles(head.manifest)) {
    const path = await checkBundlePath(head.dir, realDir, f.file, f.field, f.size, maxFileBytes);
    const got = await hashSource(head.dir, path, f.size, files, opts.root);
    const sizeField = f.field.replace(/file$/, 'size');
    if (got.size !== f.size) {
      const what = got.size > f.size ? `longer than the ${f.size} bytes` : `${got.size} bytes, not the ${f.size}`;
      throw new MediaError('SIZE_MISMATCH', `${path}: ${what} manifest ${sizeField} declares`, { file: path, field: sizeField });
    }
    if (got.sha256 !== f.sha256) throw new MediaError('HASH_MISMATCH', `${path}: sha256 ${got.sha256} differs from manifest ${f.field.replace(/file$/, 'sha256')} ${f.sha256}`, { file: path, field: f.field.replace(/file$/, 'sha256') });
  }
}

/** Path checks for one manifest entry; returns its absolute path. */
export async function checkBundlePath(dir: string, realDir: string, rel: string, field: string, declaredSize: number, maxFileBytes: number): Promise<string> {
  const problem = pathProblem(rel);
  if (problem) throw new MediaError('PATH_ESCAPE', `${field}: "${rel}" ${problem}`, { field });
  const path = join(dir, rel);
  if (declaredSize > maxFileBytes) throw new MediaError('FILE_TOO_LARGE', `${path}: manifest ${field.replace(/file$/, 'size')} ${declaredSize} bytes exceeds the station's limit of ${maxFileBytes}`, { file: path, field });
  // lstat every component below the bundle directory: a symlinked folder is as bad as a symlinked file.
  const segs = rel.split('/');
  let at = dir;
  for (let i = 0; i < segs.length; i++) {
    at = join(at, segs[i]!);
    let st;
    try {
      st = await lstat(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && (await exists(dir))) throw new MediaError('FILE_MISSING', `${path}: missing (named by manifest ${field})`, { cause: err, file: path, field });
      throw await sourceError(err, dir, at);
    }
    if (st.isSymbolicLink()) throw new MediaError('SYMLINK', `${at}: is a symbolic link (manifest ${field}); bundles hold plain files only`, { file: at, field });
    const last = i === segs.length - 1;
    if (!last && !st.isDirectory()) throw new MediaError('FILE_MISSING', `${path}: ${at} is not a folder (manifest ${field})`, { file: path, field });
    if (last) {
      if (!st.isFile()) throw new MediaError('NOT_A_FILE', `${path}: not a regular file (manifest ${field})`, { file: path, field });
      if (st.size > maxFileBytes) throw new MediaError('FILE_TOO_LARGE', `${path}: ${st.size} bytes exceeds the station's limit of ${maxFileBytes}`, { file: path, field });
      const sizeField = field.replace(/file$/, 'size');
      if (st.size !== declaredSize) throw new MediaError('SIZE_MISMATCH', `${path}: ${st.size} bytes, not the ${declaredSize} manifest ${sizeField} declares`, { file: path, field: sizeField });
    }
  }
  const real = await sourceCall(dir, path, () => realpath(path));
  if (!real.startsWith(realDir + sep)) throw new MediaError('PATH_ESCAPE', `${path}: resolves to ${real}, outside the bundle ${realDir} (manifest ${field})`, { file: path, field });
  return path;
}

/** sha256 and size of a file read through the seam; stops reading once it is past `expectedSize`. */
export async function hashSource(bundleDir: string, path: string, expectedSize: number, files: SourceFiles, root: string = bundleDir): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of files.read(path, { root })) {
      size += chunk.length;
      if (size > expectedSize) break;
      hash.update(chunk);
    }
  } catch (err) {
    throw await sourceError(err, bundleDir, path);
  }
  return { sha256: hash.digest('hex'), size };
}

async function checkDir(dir: string): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MediaError('NO_BUNDLE', `${dir}: no bundle folder`, { cause: err, file: dir });
    throw await sourceError(err, dir, dir);
  }
  if (st.isSymbolicLink()) throw new MediaError('SYMLINK', `${dir}: the bundle folder is a symbolic link`, { file: dir });
  if (!st.isDirectory()) throw new MediaError('NO_BUNDLE', `${dir}: not a folder`, { file: dir });
}

async function readSmall(dir: string, path: string, max: number, missing: 'MANIFEST_MISSING' | 'SIGNATURE_MISSING', files: SourceFiles, root: string = dir): Promise<string> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await exists(dir))) throw new MediaError(missing, `${path}: missing`, { cause: err, file: path });
    throw await sourceError(err, dir, path);
  }
  if (st.isSymbolicLink()) throw new MediaError('SYMLINK', `${path}: is a symbolic link`, { file: path });
  if (!st.isFile()) throw new MediaError('NOT_A_FILE', `${path}: not a regular file`, { file: path });
  if (st.size > max) throw new MediaError('FILE_TOO_LARGE', `${path}: ${st.size} bytes exceeds ${max}`, { file: path });
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of files.read(path, { root, maxBytes: max })) {
      size += chunk.length;
      if (size > max) throw new MediaError('FILE_TOO_LARGE', `${path}: grew past ${max} bytes while being read`, { file: path });
      chunks.push(Buffer.from(chunk));
    }
  } catch (err) {
    if (err instanceof MediaError) throw err;
    throw await sourceError(err, dir, path);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function sourceCall<T>(dir: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw await sourceError(err, dir, path);
  }
}

/** A read on the stick failed: if the bundle folder is gone the stick was pulled, else the read itself failed. */
export async function sourceError(err: unknown, bundleDir: string, path: string): Promise<MediaError> {
  if (err instanceof MediaError) return err;
  if (err instanceof ConfinedError) {
    const code = ({ SYMLINK: 'SYMLINK', NOT_A_FILE: 'NOT_A_FILE', TOO_LARGE: 'FILE_TOO_LARGE', ESCAPE: 'PATH_ESCAPE', READ_ONLY: 'READ_FAILED' } as const)[err.code];
    return new MediaError(code, err.message, { cause: err, file: err.path });
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return new MediaError('SYMLINK', `${path}: is a symbolic link`, { cause: err, file: path });
  if (!(await exists(bundleDir))) return new MediaError('STICK_REMOVED', `${path}: the stick went away during the import (${code ?? (err as Error).message})`, { cause: err, file: path });
  return new MediaError('READ_FAILED', `${path}: read failed (${code ?? (err as Error).message})`, { cause: err, file: path });
}

// --- the bundle against its target -------------------------------------------------------------

/**
 * The manifest against the chip table: the target is a part pijig knows (UNKNOWN_TARGET), and
 * every region lies in its main flash, aligned to its programming unit, sharing no programming
 * unit with another region (OUTSIDE_FLASH). Reads nothing but the manifest.
 */
export function checkManifestTarget(manifest: Manifest, manifestPath: string): TargetChip {
  let chip: TargetChip;
  try {
    chip = parseTarget(manifest.target);
  } catch (e) {
    if (!(e instanceof ChipError)) throw e;
    throw new MediaError('UNKNOWN_TARGET', `${manifestPath}: target: ${e.message}`, { cause: e, file: manifestPath, field: 'target' });
  }
  const problems = checkRegions(chip, manifest.regions);
  if (problems.length > 0) {
    const issues = problems.map((p) => ({ path: `regions[${p.region}].${p.field}`, message: p.message }));
    throw new MediaError('OUTSIDE_FLASH', `${manifestPath}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { file: manifestPath, field: issues[0]!.path, issues });
  }
  return chip;
}

/**
 * What the jig will flash and run, checked against the target, on files already verified against
 * the manifest: every region file is raw bytes, not HEX/S-record text or an ELF (NOT_BINARY), and
 * the plan's identity address and lock family fit the target (PLAN_INVALID). `shownDir` names the
 * bundle in messages (the stick, when `dir` is the importer's staged copy).
 */
export async function checkBundleContent(dir: string, manifest: Manifest, shownDir: string = dir): Promise<void> {
  for (const [i, r] of manifest.regions.entries()) {
    const kind = firmwareFileKind(await readHead(join(dir, r.file), 640));
    if (kind !== 'bin') {
      throw new MediaError('NOT_BINARY', `${join(shownDir, r.file)}: regions[${i}].file is ${FILE_KIND_NAMES[kind]}, not raw bytes; the jig flashes binaries only (pijig bundle create converts HEX, S-record and ELF files)`, {
        file: join(shownDir, r.file),
        field: `regions[${i}].file`,
      });
    }
  }
  const planShown = join(shownDir, manifest.plan.file);
  let issues;
  try {
    const source = YamlSource.parse(await readFile(join(dir, manifest.plan.file), 'utf8'), planShown);
    issues = checkPlanAgainstTarget(source, manifest.target, manifest.regions);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    issues = e.issues;
  }
  if (issues.length > 0) {
    throw new MediaError('PLAN_INVALID', issues.map(formatIssue).join('; '), { file: planShown, field: issues[0]!.path || undefined });
  }
}

async function readHead(path: string, max: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
