import { parse as parseJsonAst, type DocumentNode, type ValueNode } from '@humanwhocodes/momoa';
import { z } from 'zod';
import { MediaError, type MediaIssue } from './errors.js';
import { BlockError, checkOverlap, checkRange, macRange, serialRange, type IdRange, type IdentityBlock } from '../core/blocks.js';

/**
 * manifest.json: what a bundle holds and where each region goes. See docs/bundle-format.md.
 * The manifest is strict (unknown fields are refused): the format number governs any change.
 */
export const MANIFEST_FORMAT = 1;

const SEMVER = /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
const SHA256 = /^[0-9a-f]{64}$/;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"');
const relFile = z.string().min(1).max(255);
const sha256 = z.string().regex(SHA256, 'must be 64 lower-case hex digits');

/** The firmware formats `bundle create` reads (media/formats); a bundle itself holds raw binaries only. */
export const SOURCE_FORMATS = ['bin', 'ihex', 'srec', 'elf'] as const;

const region = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 letters, digits, "_" or "-"'),
  file: relFile,
  address: z.int().min(0).max(0xffffffff),
  sha256,
  size: z.int().min(1),
  /** Traceability only: the build output this region was cut from (not part of the bundle). */
  source: z.strictObject({ file: z.string().min(1).max(255), format: z.enum(SOURCE_FORMATS), sha256 }).optional(),
});

const fileRef = z.strictObject({ file: relFile, sha256, size: z.int().min(0) });

/** One station's identity block: the serial numbers and MACs it may issue (see docs/ledger.md). */
const stationBlock = z.strictObject({
  serial: z.strictObject({
    prefix: z.string().regex(/^[A-Za-z0-9_-]{0,24}$/, 'must be up to 24 letters, digits, "_" or "-"'),
    start: z.int().min(0),
    count: z.int().min(1),
    /** Zero-padded width of the number part (default 6). */
    digits: z.int().min(1).max(20).optional(),
  }),
  mac: z.strictObject({
    start: z.string().regex(MAC, 'must be six lower-case hex octets separated by ":"'),
    count: z.int().min(1),
  }),
});

/** Identity blocks by station id: each station numbers its units from its own block only. */
const identityBlocks = z.strictObject({
  stations: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a station id: letters, digits, ".", "_" or "-"'), stationBlock),
});

/**
 * The one shared block of bundles made before per-station blocks (`identity: { serial, mac }`).
 * Every station would number from it, so it numbers nothing: such a bundle still reads (one
 * already active keeps its station running), and one whose plan writes identities is refused
 * at import (NO_BLOCK_FOR_STATION).
 */
const sharedBlock = z
  .strictObject({
    serial: z.strictObject({ prefix: z.string(), start: z.int(), count: z.int(), digits: z.int().optional() }).optional(),
    mac: z.strictObject({ start: z.string(), count: z.int() }).optional(),
  })
  .transform(() => ({ stations: {} as Record<string, StationBlock>, shared: true as const }));

export const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  product: name,
  version: z.string().regex(SEMVER, 'must be a semantic version (1.4.2)'),
  /** The git tag the build came from; a release is tagged "v" + version. */
  release: z.string().min(1).max(64),
  build: z.string().min(1).max(128),
  target: name,
  regions: z.array(region).min(1).max(16).superRefine((regions, ctx) => {
    const names = new Set<string>();
    const sorted = regions.map((r, i) => ({ r, i })).sort((a, b) => a.r.address - b.r.address);
    regions.forEach((r, i) => {
      if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate region name "${r.name}"` });
      names.add(r.name);
    });
    for (let k = 1; k < sorted.length; k++) {
      const a = sorted[k - 1]!, b = sorted[k]!;
      if (a.r.address + a.r.size > b.r.address) {
        ctx.addIssue({ code: 'custom', path: [b.i, 'address'], message: `region "${b.r.name}" overlaps region "${a.r.name}"` });
      }
    }
  }),
  plan: fileRef,
  /** The order the bundle makes units for: flashes count per order id (per image without one), also across bundles. */
  orderId: name.optional(),
  orderQuantity: z.int().min(1).optional(),
  identity: z.union([identityBlocks, sharedBlock]).optional(),
  createdAt: z.iso.datetime({ offset: true }),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestRegion = Manifest['regions'][number];
export type StationBlock = z.infer<typeof stationBlock>;
export type IdentityBlocks = { stations: Record<string, StationBlock>; shared?: true };

/**
 * What an engineer writes for `pijig bundle create`: the manifest without sizes and hashes
 * (computed from the files) and with createdAt optional (defaults to now). A region names a build
 * output: an ELF, Intel HEX or S-record file (which carry their addresses; `format` is detected
 * from the content when not given) or a raw binary with its `address` ("0x08000000").
 */
const address = z.union([z.int().min(0).max(0xffffffff), z.string().regex(/^0x[0-9a-fA-F]{1,8}$/).transform((s) => Number.parseInt(s, 16))]);
export const manifestTemplateSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT).default(MANIFEST_FORMAT),
  product: z.string(),
  version: z.string(),
  release: z.string().optional(),
  build: z.string(),
  target: z.string(),
  regions: z.array(z.strictObject({ name: z.string(), file: z.string(), address: address.optional(), format: z.enum(SOURCE_FORMATS).optional() })).min(1),
  plan: z.strictObject({ file: z.string() }),
  orderId: z.string().optional(),
  orderQuantity: z.int().optional(),
  identity: identityBlocks.optional(),
  createdAt: z.string().optional(),
});
export type ManifestTemplate = z.infer<typeof manifestTemplateSchema>;

export function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(root)';
}

/**
 * manifest.json text to a JSON value (not yet validated: the signature is checked over this value
 * first). A key given twice in one object is refused: JSON.parse would silently keep the last one,
 * so what a reviewer reads in the file and what the jig acts on could differ.
 */
export function parseManifestJson(text: string, file: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new MediaError('MANIFEST_MALFORMED', `${file}: not valid JSON (${(cause as Error).message})`, { cause, file });
  }
  refuseDuplicateKeys(text, file);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new MediaError('MANIFEST_MALFORMED', `${file}: not a JSON object`, { file });
  return json;
}

/** Validate a manifest value; every problem is reported at once, each with its field path. */
export function validateManifest(json: unknown, file: string): Manifest {
  const result = manifestSchema.safeParse(json);
  if (!result.success) throw invalid(file, result.error.issues);
  return result.data;
}

export function parseManifest(text: string, file: string): { manifest: Manifest; json: unknown } {
  const json = parseManifestJson(text, file);
  return { manifest: validateManifest(json, file), json };
}

export function parseManifestTemplate(text: string, file: string): ManifestTemplate {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new MediaError('MANIFEST_MALFORMED', `${file}: not valid JSON (${(cause as Error).message})`, { cause, file });
  }
  refuseDuplicateKeys(text, file);
  const result = manifestTemplateSchema.safeParse(json);
  if (!result.success) throw invalid(file, result.error.issues);
  return result.data;
}

/** The first key that appears twice in one object, with its line (momoa: a JSON parser that keeps every member). */
function refuseDuplicateKeys(text: string, file: string): void {
  let doc: DocumentNode;
  try {
    doc = parseJsonAst(text, { mode: 'json' });
  } catch (cause) {
    throw new MediaError('MANIFEST_MALFORMED', `${file}: not valid JSON (${(cause as Error).message})`, { cause, file });
  }
  const walk = (node: ValueNode, path: (string | number)[]): void => {
    if (node.type === 'Object') {
      const seen = new Set<string>();
      for (const member of node.members) {
        const key = member.name.type === 'String' ? member.name.value : member.name.name;
        if (seen.has(key)) {
          const at = member.name.loc.start;
          const field = issuePath([...path, key]);
          throw new MediaError('MANIFEST_MALFORMED', `${file}:${at.line}:${at.column}: ${field}: the key "${key}" appears twice in one object`, { file, field });
        }
        seen.add(key);
        walk(member.value, [...path, key]);
      }
    } else if (node.type === 'Array') {
      node.elements.forEach((element, i) => walk(element.value, [...path, i]));
    }
  };
  walk(doc.body, []);
}

function invalid(file: string, zodIssues: readonly { path: readonly PropertyKey[]; message: string }[]): MediaError {
  const issues: MediaIssue[] = zodIssues.map((i) => ({ path: issuePath(i.path), message: i.message }));
  return new MediaError('MANIFEST_INVALID', `${file}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
    file,
    field: issues[0]?.path,
    issues,
  });
}

// --- versions ---------------------------------------------------------------------------

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: string | undefined;
  build: string | undefined;
}

export function parseSemVer(v: string): SemVer | undefined {
  const m = SEMVER.exec(v);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease: m[4], build: m[5] };
}

/** Compares release versions (MAJOR.MINOR.PATCH); pre-release ordering is not needed: pre-releases are never imported. */
export function compareVersions(a: string, b: string): number {
  const x = parseSemVer(a), y = parseSemVer(b);
  if (!x || !y) throw new RangeError(`cannot compare "${a}" and "${b}": not semantic versions`);
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch;
}

/**
 * "Release-tagged", concretely: the version is a plain MAJOR.MINOR.PATCH (no "-dev", "-rc.1" or
 * other pre-release part, no "+build" metadata) and the release tag is exactly "v" + version.
 * Only a manifest that passes this AND carries a good signature from a trusted key is flashed.
 * Returns the reason it is not a release, or undefined.
 */
export function releaseProblem(m: Pick<Manifest, 'version' | 'release'>): { field: string; message: string } | undefined {
  const v = parseSemVer(m.version);
  if (!v) return { field: 'version', message: `"${m.version}" is not a semantic version` };
  if (v.prerelease !== undefined) return { field: 'version', message: `"${m.version}" is a pre-release ("-${v.prerelease}")` };
  if (v.build !== undefined) return { field: 'version', message: `"${m.version}" carries build metadata ("+${v.build}"); put it in "build"` };
  if (m.release !== `v${m.version}`) return { field: 'release', message: `release tag "${m.release}" is not "v${m.version}"` };
  return undefined;
}

/**
 * Why a manifest path is unsafe as a path inside the bundle, or undefined. Paths are relative,
 * "/"-separated, and every segment is a plain name: no "..", ".", empty segment, backslash,
 * drive letter or NUL. (Symlinks are checked on disk, see bundle.ts.)
 */
export function pathProblem(p: string): string | undefined {
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'is absolute';
  if (p.includes('\\')) return 'contains a backslash';
  if (p.includes('\0')) return 'contains NUL';
  for (const seg of p.split('/')) {
    if (seg === '..') return 'climbs out with ".."';
    if (seg === '' || seg === '.') return 'has an empty or "." segment';
  }
  return undefined;
}

/** Every file a manifest names, with the field that names it. */
export function manifestFiles(m: Manifest): { field: string; file: string; sha256: string; size: number }[] {
  return [
    ...m.regions.map((r, i) => ({ field: `regions[${i}].file`, file: r.file, sha256: r.sha256, size: r.size })),
    { field: 'plan.file', file: m.plan.file, sha256: m.plan.sha256, size: m.plan.size },
  ];
}

// --- identity blocks -------------------------------------------------------------------------

/** A station's block of the manifest as numeric ranges. */
export function stationBlockRanges(b: StationBlock): IdentityBlock {
  return {
    serial: serialRange(b.serial.prefix, b.serial.digits ?? 6, b.serial.start, b.serial.count),
    mac: macRange(b.mac.start, b.mac.count),
  };
}

/**
 * The blocks a manifest carries must each be usable (a unicast MAC block that neither wraps nor
 * reaches broadcast, serial numbers that fit their digits) and no two stations' blocks may share
 * a number (BLOCK_INVALID, BLOCK_OVERLAP, naming both).
 */
export function checkManifestBlocks(m: Pick<Manifest, 'identity'>, file: string): void {
  const used: { range: IdRange; source: string }[] = [];
  for (const [station, block] of Object.entries(m.identity?.stations ?? {})) {
    const ranges = stationBlockRanges(block);
    for (const [part, range] of [['serial', ranges.serial], ['mac', ranges.mac]] as const) {
      const field = `identity.stations.${station}.${part}`;
      try {
        checkRange(range, `${file}: ${field}`);
        checkOverlap(range, used, `${file}: ${field}`);
      } catch (e) {
        if (!(e instanceof BlockError)) throw e;
        throw new MediaError(e.code, e.message, { cause: e, file, field });
      }
      used.push({ range, source: `the block of station ${station}` });
    }
  }
}
