import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { checkPlanAgainstTarget, checkRegions, ChipError, eraseUnitAt, eraseUnitsText, hex, IDENTITY_RECORD_BYTES, parseTarget, planIdentityAddresses, type TargetChip } from '../core/chip-families.js';
import { ConfigError, formatIssue } from '../config/errors.js';
import { YamlSource } from '../config/yaml.js';
import { writeFileAtomic } from '../util/fs.js';
import { checkBundleContent, checkManifestContent, checkManifestTarget, MANIFEST_FILE, readBundleHead, verifyBundleFiles, type BundleHead } from './bundle.js';
import { FirmwareFormatError, readFirmware, type FirmwareFormat, type MemoryBlock } from './formats/index.js';
import { MediaError } from './errors.js';
import { BlockError, checkOverlap } from '../core/blocks.js';
import { Ledger } from '../records/ledger.js';
import { LEDGER_FILE } from '../records/books.js';
import { checkManifestBlocks, stationBlockRanges, parseManifestJson, parseManifestTemplate, pathProblem, releaseProblem, validateManifest, type Manifest } from './manifest.js';
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

export interface MemoryMapEntry {
  /** A region's name, or "identity" for the record an identity step writes. */
  name: string;
  address: number;
  size: number;
  /** "pages 0-1", "sector 3". */
  units: string;
  /** Where a region came from ("fw.elf (elf)"), or what an identity entry means. */
  from: string;
}

export interface CreateResult {
  dir: string;
  manifest: Manifest;
  bundleId: string;
  /** The target part as the chip table knows it. */
  chip: TargetChip;
  /** The regions and identity records in address order, with the pages/sectors they use. */
  memoryMap: MemoryMapEntry[];
  /** Why the jig would refuse it as not release-tagged, if it would. */
  releaseProblem?: string;
}

/** Where a converted region's raw bytes go inside the bundle. */
const REGIONS_DIR = 'regions';

interface PlannedRegion {
  name: string;
  file: string;
  address: number;
  data: Uint8Array;
  source?: { file: string; format: FirmwareFormat; sha256: string };
}

/**
 * Build an unsigned bundle from a manifest template and the build outputs it names (in filesDir).
 * ELF, Intel HEX and S-record files become raw regions (`regions/<name>.bin`; a file with gaps
 * gives `<name>`, `<name>-2`, ...), each keeping its source file, format and sha256 in the
 * manifest; a raw binary (with its address) is copied as it is. Everything is checked before
 * anything is written: the target is known, regions are raw bytes (NOT_BINARY), lie in the
 * target's flash without overlapping (OUTSIDE_FLASH), and the plan's identity record has a
 * page/sector of its own (PLAN_INVALID).
 */
export async function createBundle(templateFile: string, filesDir: string, outDir: string, now: Date = new Date()): Promise<CreateResult> {
  const t = parseManifestTemplate(await readFile(templateFile, 'utf8'), templateFile);
  checkManifestBlocks(t, templateFile);
  let chip: TargetChip;
  try {
    chip = parseTarget(t.target);
  } catch (e) {
    if (!(e instanceof ChipError)) throw e;
    throw new MediaError('UNKNOWN_TARGET', `${templateFile}: target: ${e.message}`, { cause: e, file: templateFile, field: 'target' });
  }
  if (await readdir(outDir).then((e) => e.length > 0, () => false)) throw new MediaError('WRITE_FAILED', `${outDir}: not empty; create writes a new bundle folder`, { file: outDir });
  const read = async (rel: string, field: string): Promise<Buffer> => {
    const problem = pathProblem(rel);
    if (problem) throw new MediaError('PATH_ESCAPE', `${templateFile}: ${field}: "${rel}" ${problem}`, { file: templateFile, field });
    const src = join(filesDir, rel);
    const st = await lstat(src).catch((err: unknown) => {
      throw new MediaError('FILE_MISSING', `${src}: missing (named by ${field})`, { cause: err, file: src, field });
    });
    if (st.isSymbolicLink()) throw new MediaError('SYMLINK', `${src}: is a symbolic link (${field}); copy the file itself`, { file: src, field });
    if (!st.isFile()) throw new MediaError('NOT_A_FILE', `${src}: not a regular file (${field})`, { file: src, field });
    return readFile(src);
  };

  const planned: PlannedRegion[] = [];
  for (const [i, r] of t.regions.entries()) {
    const field = `regions[${i}]`;
    const bytes = await read(r.file, `${field}.file`);
    let image;
    try {
      image = readFirmware(bytes, { ...(r.format ? { format: r.format } : {}), ...(r.address !== undefined ? { address: r.address } : {}) });
    } catch (e) {
      if (!(e instanceof FirmwareFormatError)) throw e;
      const src = join(filesDir, r.file);
      const code = e.kind === 'NOT_BINARY' ? 'NOT_BINARY' : 'FIRMWARE_INVALID';
      const at = e.kind === 'ADDRESS' ? `${field}.address` : `${field}.file`;
      throw new MediaError(code, `${src}: ${at}: ${e.message}`, { cause: e, file: src, field: at });
    }
    if (image.format === 'bin') {
      planned.push({ name: r.name, file: r.file, address: image.blocks[0]!.address, data: image.blocks[0]!.data });
      continue;
    }
    const source = { file: basename(r.file), format: image.format, sha256: sha256Hex(bytes) };
    fillWithinUnits(image.blocks, chip.chip.writeUnit).forEach((b, k) => {
      const name = k === 0 ? r.name : `${r.name}-${k + 1}`;
      planned.push({ name, file: `${REGIONS_DIR}/${name}.bin`, address: b.address, data: b.data, source });
    });
  }
  const taken = new Map<string, string>([[t.plan.file, 'plan.file']]);
  for (const p of planned) {
    const other = taken.get(p.file);
    if (other) throw new MediaError('MANIFEST_INVALID', `${templateFile}: region "${p.name}" would be written to ${p.file}, which ${other} also uses`, { file: templateFile, field: 'regions' });
    taken.set(p.file, `region "${p.name}"`);
  }
  const spans = planned.map((p) => ({ name: p.name, address: p.address, size: p.data.length }));
  const problems = checkRegions(chip, spans);
  if (problems.length > 0) {
    const describe = (k: number): string => {
      const p = planned[k]!;
      return p.source ? `${p.name} (from ${p.source.file})` : p.name;
    };
    const issues = problems.map((p) => ({ path: describe(p.region), message: p.message }));
    throw new MediaError('OUTSIDE_FLASH', `${templateFile}: ${issues.map((i) => i.message).join('; ')}`, { file: templateFile, field: 'regions', issues });
  }

  const planBytes = await read(t.plan.file, 'plan.file');
  const planPath = join(filesDir, t.plan.file);
  let planIssues;
  let planValue: unknown;
  try {
    const source = YamlSource.parse(planBytes.toString('utf8'), planPath);
    planValue = source.value;
    planIssues = checkPlanAgainstTarget(source, t.target, spans);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    planIssues = e.issues;
  }
  if (planIssues.length > 0) throw new MediaError('PLAN_INVALID', planIssues.map(formatIssue).join('; '), { file: planPath, field: planIssues[0]!.path || undefined });

  await mkdir(outDir, { recursive: true });
  const write = async (rel: string, data: Uint8Array): Promise<{ sha256: string; size: number }> => {
    const dest = join(outDir, rel);
    await mkdir(dirname(dest), { recursive: true });
    await writeFileAtomic(dest, data);
    return { sha256: sha256Hex(data), size: data.length };
  };
  const regions = [];
  for (const p of planned) regions.push({ name: p.name, file: p.file, address: p.address, ...(await write(p.file, p.data)), ...(p.source ? { source: p.source } : {}) });
  const plan = { file: t.plan.file, ...(await write(t.plan.file, planBytes)) };
  const json: Record<string, unknown> = {
    format: t.format,
    product: t.product,
    version: t.version,
    release: t.release ?? `v${t.version}`,
    build: t.build,
    target: t.target,
    regions,
    plan,
    orderId: t.orderId,
    orderQuantity: t.orderQuantity,
    identity: t.identity,
    createdAt: t.createdAt ?? now.toISOString(),
  };
  const manifestPath = join(outDir, MANIFEST_FILE);
  const manifest = validateManifest(JSON.parse(JSON.stringify(json)), manifestPath);
  await writeFileAtomic(manifestPath, `${JSON.stringify(json, null, 2)}\n`);
  const release = releaseProblem(manifest);
  const result: CreateResult = { dir: outDir, manifest, bundleId: bundleIdOf(json), chip, memoryMap: memoryMap(chip, planned, planValue) };
  if (release) result.releaseProblem = `${release.field}: ${release.message}`;
  return result;
}

function memoryMap(chip: TargetChip, regions: readonly PlannedRegion[], planValue: unknown): MemoryMapEntry[] {
  const entries: MemoryMapEntry[] = regions.map((r) => ({
    name: r.name,
    address: r.address,
    size: r.data.length,
    units: eraseUnitsText(chip, r.address, r.data.length),
    from: r.source ? `${r.source.file} (${r.source.format})` : `${r.file} (bin)`,
  }));
  for (const id of planIdentityAddresses(planValue)) {
    const unit = eraseUnitAt(chip, id.address);
    entries.push({
      name: 'identity',
      address: id.address,
      size: IDENTITY_RECORD_BYTES,
      units: eraseUnitsText(chip, id.address, IDENTITY_RECORD_BYTES),
      from: `identity record (${id.path[0]}[${id.path[1]}].params.address${id.explicit ? '' : ', default'}); the identity step erases ${unit ? `all ${unit.size} bytes from ${hex(unit.start)}` : 'its page'}`,
    });
  }
  return entries.sort((a, b) => a.address - b.address);
}

/**
 * Join blocks of one file when the next starts inside the programming unit the previous one ends
 * in (a 2-byte gap on an L4's 8-byte unit): two regions cannot share a unit, and openocd would pad
 * that gap with the erased value 0xFF anyway. Larger gaps stay gaps.
 */
function fillWithinUnits(blocks: readonly MemoryBlock[], unit: number): MemoryBlock[] {
  const out: MemoryBlock[] = [];
  for (const b of blocks) {
    const last = out[out.length - 1];
    const lastEnd = last ? last.address + last.data.length : 0;
    if (last && b.address >= lastEnd && b.address < Math.ceil(lastEnd / unit) * unit) {
      const joined = new Uint8Array(b.address + b.data.length - last.address).fill(0xff);
      joined.set(last.data, 0);
      joined.set(b.data, b.address - last.address);
      out[out.length - 1] = { address: last.address, data: joined };
    } else {
      out.push(b);
    }
  }
  return out;
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Sign a bundle with a private key: refuses a manifest that is invalid, not release-tagged, whose
 * files do not match it (so a signature always vouches for the bytes beside it), or that its
 * target's jig would refuse (regions outside flash, not raw bytes, identity over firmware).
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
  checkManifestTarget(manifest, manifestPath);
  await checkBundleContent(bundleDir, manifest);
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

/**
 * What the jig checks, minus the station fit: signature by one of `keys`, release tag, paths,
 * sizes, hashes, and the bundle against its target (known part, regions in flash, raw bytes only,
 * the plan's identity record and lock family).
 */
/**
 * Check a bundle as a jig's import does. `checkPlan` is the jig's plan loader (parsePlan with the
 * step registry: unknown kinds, params, limits against what the steps produce); what it returns
 * comes back as `plan`.
 */
export async function verifyBundle<P = undefined>(
  bundleDir: string,
  keys: readonly TrustedKey[],
  maxFileBytes = Number.MAX_SAFE_INTEGER,
  checkPlan?: (text: string, file: string) => P,
): Promise<BundleHead & { chip: TargetChip; plan: P | undefined }> {
  const head = await readBundleHead(bundleDir, keys);
  await verifyBundleFiles(head, maxFileBytes);
  const chip = checkManifestTarget(head.manifest, join(bundleDir, MANIFEST_FILE));
  await checkBundleContent(bundleDir, head.manifest);
  let plan: P | undefined;
  if (checkPlan) {
    const file = join(bundleDir, head.manifest.plan.file);
    try {
      plan = checkPlan(await readFile(file, 'utf8'), file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new MediaError('PLAN_INVALID', err.issues.map(formatIssue).join('; '), { cause: err, file, field: err.issues[0]?.path });
    }
  }
  return { ...head, chip, plan };
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

/**
 * The bundle's blocks against the numbers stations have already used: each ledger (a station's
 * data folder or its ledger.jsonl) lists the ranges its station numbered from. A block may only
 * be its own station's block again (extended); anything else that overlaps is BLOCK_OVERLAP.
 */
export async function checkBlocksAgainstLedgers(m: Pick<Manifest, 'identity'>, file: string, ledgers: readonly string[]): Promise<void> {
  for (const where of ledgers) {
    const path = where.endsWith('.jsonl') ? where : join(where, LEDGER_FILE);
    let ledger: Ledger;
    try {
      ledger = await Ledger.open(path, { readOnly: true });
    } catch (e) {
      throw new MediaError('READ_FAILED', `${path}: cannot read the ledger (${(e as Error).message})`, { cause: e, file: path });
    }
    const owner = ledger.station ?? '?';
    for (const [station, block] of Object.entries(m.identity?.stations ?? {})) {
      const ranges = stationBlockRanges(block);
      for (const [part, range] of [['serial', ranges.serial], ['mac', ranges.mac]] as const) {
        const field = `identity.stations.${station}.${part}`;
        try {
          checkOverlap(range, ledger.ranges.map((u) => ({ range: u.range, source: `used by station ${owner}, ${path}` })), `${file}: ${field}`, { sameBlockAllowed: station === owner });
        } catch (e) {
          if (!(e instanceof BlockError)) throw e;
          throw new MediaError(e.code, e.message, { cause: e, file, field });
        }
      }
    }
  }
}
