import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { checkManifestContent, MANIFEST_FILE, readBundleHead, verifyBundleFiles, type BundleHead } from './bundle.js';
import { MediaError } from './errors.js';
import { parseManifestJson, parseManifestTemplate, pathProblem, releaseProblem, validateManifest, type Manifest } from './manifest.js';
import { bundleIdOf, parsePublicKey, SIGNATURE_FILE, type SignatureFile, type TrustedKey } from './signing.js';
import { generateSigningKey, parsePrivateKey, signManifest, type GeneratedKey } from './signer.js';

/*
 * The engineer's side of bundles: make a key, build a bundle, sign it, check it. This is the only
 * module that reads a private key; nothing on the jig's path (store, importer, log sync) imports it.
 */

export interface KeygenResult extends GeneratedKey {
  privateKeyFile: string;
  publicKeyFile: string;
}

/** A new Ed25519 key pair: <out>/<name>.key (PKCS#8 PEM, mode 0600) and <out>/<name>.pub (SPKI PEM). Never overwrites. */
export async function keygen(outDir: string, name: string): Promise<KeygenResult> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new MediaError('KEY_INVALID', `key name "${name}" must be 1-64 letters, digits, ".", "_" or "-"`, { field: 'name' });
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const key = generateSigningKey(name);
  const privateKeyFile = join(outDir, `${name}.key`);
  const publicKeyFile = join(outDir, `${name}.pub`);
  for (const f of [privateKeyFile, publicKeyFile]) {
    if (await lstat(f).then(() => true, () => false)) throw new MediaError('KEY_EXISTS', `${f}: already exists; refusing to overwrite a key`, { file: f });
  }
  await writeNew(privateKeyFile, key.privatePem, 0o600);
  await chmod(privateKeyFile, 0o600); // in case a umask or ACL widened it
  await writeNew(publicKeyFile, key.publicPem, 0o644);
  return { ...key, privateKeyFile, publicKeyFile };
}

export interface CreateResult {
  dir: string;
  manifest: Manifest;
  bundleId: string;
  /** Why the jig would refuse it as not release-tagged, if it would. */
  releaseProblem?: string;
}

/**
 * Build an unsigned bundle: read the manifest template, copy every file it names from filesDir
 * into outDir (same relative paths), fill in sizes and sha256s, write manifest.json.
 */
export async function createBundle(templateFile: string, filesDir: string, outDir: string, now: Date = new Date()): Promise<CreateResult> {
  const t = parseManifestTemplate(await readFile(templateFile, 'utf8'), templateFile);
  if (await readdir(outDir).then((e) => e.length > 0, () => false)) throw new MediaError('WRITE_FAILED', `${outDir}: not empty; create writes a new bundle folder`, { file: outDir });
  await mkdir(outDir, { recursive: true });
  const copy = async (rel: string, field: string): Promise<{ sha256: string; size: number }> => {
    const problem = pathProblem(rel);
    if (problem) throw new MediaError('PATH_ESCAPE', `${templateFile}: ${field}: "${rel}" ${problem}`, { file: templateFile, field });
    const src = join(filesDir, rel);
    const st = await lstat(src).catch((err: unknown) => {
      throw new MediaError('FILE_MISSING', `${src}: missing (named by ${field})`, { cause: err, file: src, field });
    });
    if (st.isSymbolicLink()) throw new MediaError('SYMLINK', `${src}: is a symbolic link (${field}); copy the file itself`, { file: src, field });
    if (!st.isFile()) throw new MediaError('NOT_A_FILE', `${src}: not a regular file (${field})`, { file: src, field });
    const dest = join(outDir, rel);
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(src, dest);
    const data = await readFile(dest);
    return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
  };
  const regions = [];
  for (const [i, r] of t.regions.entries()) regions.push({ name: r.name, file: r.file, address: r.address, ...(await copy(r.file, `regions[${i}].file`)) });
  const plan = { file: t.plan.file, ...(await copy(t.plan.file, 'plan.file')) };
  const json: Record<string, unknown> = {
    format: t.format,
    product: t.product,
    version: t.version,
    release: t.release ?? `v${t.version}`,
    build: t.build,
    target: t.target,
    regions,
    plan,
    orderQuantity: t.orderQuantity,
    identity: t.identity,
    createdAt: t.createdAt ?? now.toISOString(),
  };
  const manifestPath = join(outDir, MANIFEST_FILE);
  const manifest = validateManifest(JSON.parse(JSON.stringify(json)), manifestPath);
  await writeFileAtomic(manifestPath, `${JSON.stringify(json, null, 2)}\n`);
  const release = releaseProblem(manifest);
  const result: CreateResult = { dir: outDir, manifest, bundleId: bundleIdOf(json) };
  if (release) result.releaseProblem = `${release.field}: ${release.message}`;
  return result;
}

/**
 * Sign a bundle with a private key: refuses a manifest that is invalid, not release-tagged, or
 * whose files do not match it (so a signature always vouches for the bytes beside it).
 */
export async function signBundle(keyFile: string, bundleDir: string, keyName?: string): Promise<{ signature: SignatureFile; bundleId: string }> {
  const pem = await readFile(keyFile, 'utf8').catch((err: unknown) => {
    throw new MediaError('KEY_INVALID', `${keyFile}: cannot read the private key (${(err as Error).message})`, { cause: err, file: keyFile });
  });
  const privateKey = parsePrivateKey(pem, keyFile);
  const name = keyName ?? basename(keyFile).replace(/\.(key|pem)$/, '');
  const manifestPath = join(bundleDir, MANIFEST_FILE);
  const json = parseManifestJson(await readFile(manifestPath, 'utf8').catch((err: unknown) => {
    throw new MediaError('MANIFEST_MISSING', `${manifestPath}: missing`, { cause: err, file: manifestPath });
  }), manifestPath);
  const manifest = validateManifest(json, manifestPath);
  checkManifestContent(manifest, manifestPath);
  await verifyBundleFiles({ dir: bundleDir, manifest }, Number.MAX_SAFE_INTEGER);
  const signature = signManifest(json, privateKey, name);
  await writeFileAtomic(join(bundleDir, SIGNATURE_FILE), `${JSON.stringify(signature, null, 2)}\n`);
  return { signature, bundleId: signature.manifestSha256 };
}

/** Read public key files (PEM, or base64 of the raw 32 bytes); each key is named after its file. */
export async function readPublicKeyFiles(files: readonly string[]): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch((err: unknown) => {
      throw new MediaError('KEY_INVALID', `${f}: cannot read (${(err as Error).message})`, { cause: err, file: f });
    });
    keys.push(parsePublicKey({ name: basename(f).replace(/\.(pub|pem)$/, ''), publicKey: text }, f));
  }
  return keys;
}

/** What the jig checks before copying, minus the station fit: signature by one of `keys`, release tag, paths, sizes, hashes. */
export async function verifyBundle(bundleDir: string, keys: readonly TrustedKey[], maxFileBytes = Number.MAX_SAFE_INTEGER): Promise<BundleHead> {
  const head = await readBundleHead(bundleDir, keys);
  await verifyBundleFiles(head, maxFileBytes);
  return head;
}

async function writeNew(path: string, text: string, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
}
