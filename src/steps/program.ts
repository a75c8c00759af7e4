import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { FILE_KIND_NAMES, firmwareFileKind } from '../core/chip-families.js';
import type { FlashSector, ProbeEvent, ProbeSession } from '../devices/probe/probe.js';
import type { ImageRegion } from '../core/image.js';
import { StepError } from './errors.js';
import { defineStep, type StepContext } from './step.js';
import { asStepError, probeSession } from './chip.js';
import { makeTempDir } from '../util/temp.js';

const paramsSchema = z
  .object({
    /** Region names to program, in the image's order; default all. */
    regions: z.array(z.string().min(1)).min(1).optional(),
    /** Verify first and program only the regions that differ: a re-test of a good unit costs a read. */
    skip_when_identical: z.boolean().default(false),
    /** 'sectors' erases only what the regions cover; 'mass' erases the whole chip first. */
    erase: z.enum(['sectors', 'mass']).default('sectors'),
    /** Reset and run the target when done. */
    reset: z.boolean().default(true),
  })
  .strict();

export type ProgramParams = z.output<typeof paramsSchema>;

interface Phases {
  check: number;
  erase: number;
  program: number;
  verify: number;
}

export const programStep = defineStep({
  kind: 'program',
  description: 'Program the image regions over the debug probe, verify them by read-back, reset',
  params: paramsSchema,
  needs: ['probe'],
  produces: () => [
    { name: 'bytes_written', unit: 'B' },
    { name: 'erase_s', unit: 's' },
    { name: 'program_s', unit: 's' },
    { name: 'verify_s', unit: 's' },
    { name: 'total_s', unit: 's' },
    { name: 'regions_skipped' },
  ],
  async run(ctx) {
    const t0 = performance.now();
    const regions = selectRegions(ctx);
    const image = ctx.image!; // selectRegions refused a cycle without one
    await checkFiles(regions);
    const session = await probeSession(ctx);
    const phases: Phases = { check: 0, erase: 0, program: 0, verify: 0 };
    const op = { signal: ctx.signal };
    const total = regions.reduce((n, r) => n + r.size, 0);
    // Work units for the progress bar: writing costs about 4x reading on an STM32 over SWD/JTAG.
    const work = (ctx.params.skip_when_identical ? total : 0) + total * 4 + total;
    let done = 0;
    const advance = (units: number, text: string): void => {
      done += units;
      ctx.progress(Math.min(1, done / work), text);
    };
    // Writes report their own progress per chunk (below); the session's events name the other phases.
    const unsubscribe = session.onEvent((e) => {
      const writing = (e.type === 'started' && e.operation === 'program') || e.type === 'programmed';
      if (!writing) ctx.progress(Math.min(1, done / work), eventText(e, regions));
    });
    const scratch = new Scratch();
    try {
      await session.reset('halt', op);
      let todo = regions;
      const identical: string[] = [];
      if (ctx.params.skip_when_identical) {
        todo = [];
        for (const r of regions) {
          const v = await session.verifyFile(r.file, r.address, op);
          phases.check += v.seconds;
          if (v.ok) identical.push(r.name);
          else todo.push(r);
          advance(r.size, `checked ${r.name}`);
        }
        if (todo.length > 0 && ctx.params.erase === 'mass') todo = regions;
        else if (todo.length > 0) todo = await widenToSharedSectors(session, regions, todo, op);
      }
      const skipped = regions.filter((r) => !todo.includes(r));
      advance(skipped.reduce((n, r) => n + r.size * 5, 0), 'identical');

      if (todo.length > 0) {
        // Counted in the ledger (fsync'd) before the first erase: a flash is never uncounted, and
        // a ledger that cannot be written stops the step here (LEDGER_FAILED, ORDER_COMPLETE).
        await ctx.ledger.beginFlash(image.imageHash);
        if (ctx.params.erase === 'mass') {
          phases.erase += (await session.massErase(op)).seconds;
        } else {
          for (const range of mergeRanges(todo)) phases.erase += (await session.erase(range.address, range.size, op)).seconds;
        }
      }
      let written = 0;
      for (const r of todo) {
        // openocd says nothing while it writes, so a region goes in a few chunks (same session)
        // and the progress bar moves after each.
        const chunks = await chunkFiles(r, scratch);
        for (const c of chunks) {
          const w = await session.writeFile(c.file, c.address, op);
          phases.program += w.seconds;
          written += w.bytes;
          advance(c.size * 4, `writing ${Math.round((c.address + c.size - r.address) / 1024)}/${Math.ceil(r.size / 1024)} KiB`);
        }
      }
      for (const r of todo) {
        const v = await session.verifyFile(r.file, r.address, op);
        phases.verify += v.seconds;
        if (!v.ok) {
          const d = v.firstDifference;
          throw new StepError(
            'VERIFY_FAILED',
            `region ${r.name}: read-back differs at ${hex(d.address)} (read ${hex8(d.actual)}, expected ${hex8(d.expected)}), ${v.differences} difference(s)`,
            { details: { region: r.name, address: d.address, actual: d.actual, expected: d.expected, differences: v.differences } },
          );
        }
        advance(r.size, `verified ${r.name}`);
      }
      if (ctx.params.reset) await session.reset('run', op);
      ctx.progress(1, todo.length === 0 ? 'identical, not reprogrammed' : 'programmed');

      const totalS = (performance.now() - t0) / 1000;
      return {
        measurements: [
          { name: 'bytes_written', value: written, unit: 'B' },
          { name: 'erase_s', value: round(phases.erase), unit: 's' },
          { name: 'program_s', value: round(phases.program), unit: 's' },
          { name: 'verify_s', value: round(phases.verify), unit: 's' },
          { name: 'total_s', value: round(totalS), unit: 's' },
          { name: 'regions_skipped', value: skipped.length },
        ],
        data: {
          summary: `#OK (Total ${totalS.toFixed(2)}s, Erase ${phases.erase.toFixed(2)}s, Prog ${phases.program.toFixed(2)}s, Verify ${phases.verify.toFixed(2)}s)`,
          phases: { total_s: round(totalS), check_s: round(phases.check), erase_s: round(phases.erase), program_s: round(phases.program), verify_s: round(phases.verify) },
          regions: regions.map((r) => ({ name: r.name, address: hex(r.address), size: r.size, sha256: r.sha256, action: todo.includes(r) ? 'programmed' : 'identical' })),
          erase: ctx.params.erase,
          identical,
        },
      };
    } catch (error) {
      throw asStepError(error);
    } finally {
      unsubscribe();
      await scratch.remove();
    }
  },
});

/** At most this many chunks per region (each is one openocd command); none smaller than 1 KiB. */
const MAX_CHUNKS = 16;
const MIN_CHUNK = 1024;

/** A temp folder for the chunk files of one program step. */
class Scratch {
  private dir: Promise<string> | undefined;
  get(): Promise<string> {
    return (this.dir ??= makeTempDir('program'));
  }
  async remove(): Promise<void> {
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
  }
}

/** The region as consecutive chunk files (1 KiB multiples, so half-word and page aligned). */
async function chunkFiles(region: ImageRegion, scratch: Scratch): Promise<{ file: string; address: number; size: number }[]> {
  const size = Math.max(MIN_CHUNK, Math.ceil(region.size / MAX_CHUNKS / MIN_CHUNK) * MIN_CHUNK);
  if (region.size <= size) return [{ file: region.file, address: region.address, size: region.size }];
  const data = await readFile(region.file);
  const dir = await scratch.get();
  const out = [];
  for (let off = 0; off < data.length; off += size) {
    const file = join(dir, `${region.name}-${off.toString(16)}.bin`);
    const part = data.subarray(off, Math.min(off + size, data.length));
    await writeFile(file, part);
    out.push({ file, address: region.address + off, size: part.length });
  }
  return out;
}

function selectRegions(ctx: StepContext<ProgramParams, 'probe'>): ImageRegion[] {
  const image = ctx.image;
  if (!image) throw new StepError('NO_IMAGE', 'no active image to program');
  const names = ctx.params.regions;
  if (!names) return image.regions;
  return names.map((name) => {
    const r = image.regions.find((x) => x.name === name);
    if (!r) throw new StepError('NO_IMAGE', `image ${image.product} ${image.version} has no region "${name}" (has ${image.regions.map((x) => x.name).join(', ')})`);
    return r;
  });
}

/**
 * Refuse to flash a file that is not what the image declares (torn copy, swapped file), or that is
 * not raw bytes: a HEX or ELF written as-is would put its text or header into flash and could
 * still verify.
 */
async function checkFiles(regions: readonly ImageRegion[]): Promise<void> {
  for (const r of regions) {
    let bytes: Buffer;
    try {
      bytes = await readFile(r.file);
    } catch (cause) {
      throw new StepError('IMAGE_CORRUPT', `region ${r.name}: cannot read ${r.file}`, { cause });
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== r.sha256.toLowerCase() || bytes.length !== r.size) {
      throw new StepError('IMAGE_CORRUPT', `region ${r.name}: ${r.file} has sha256 ${sha256} (${bytes.length} B), the image declares ${r.sha256} (${r.size} B); refusing to flash`, {
        details: { region: r.name, file: r.file, sha256, expected: r.sha256, size: bytes.length, expectedSize: r.size },
      });
    }
    const kind = firmwareFileKind(bytes);
    if (kind !== 'bin') {
      throw new StepError('NOT_BINARY', `region ${r.name}: ${r.file} is ${FILE_KIND_NAMES[kind]}, not raw bytes; refusing to flash (convert it with pijig bundle create)`, {
        details: { region: r.name, file: r.file, content: kind },
      });
    }
  }
}

/**
 * Erasing works on whole sectors: an identical region that shares a sector with one that is
 * reprogrammed would be erased with it, so it is reprogrammed too.
 */
async function widenToSharedSectors(session: ProbeSession, all: readonly ImageRegion[], todo: readonly ImageRegion[], op: { signal: AbortSignal }): Promise<ImageRegion[]> {
  const sectors = await session.sectors(op);
  const sectorsOf = (r: ImageRegion): FlashSector[] => sectors.filter((s) => s.address < r.address + r.size && r.address < s.address + s.size);
  const erased = new Set(todo.flatMap(sectorsOf));
  return all.filter((r) => todo.includes(r) || sectorsOf(r).some((s) => erased.has(s)));
}

/** Regions as address ranges, overlapping or adjacent ones merged (one erase command each). */
function mergeRanges(regions: readonly ImageRegion[]): { address: number; size: number }[] {
  const sorted = [...regions].sort((a, b) => a.address - b.address);
  const out: { address: number; size: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.address <= last.address + last.size) last.size = Math.max(last.size, r.address + r.size - last.address);
    else out.push({ address: r.address, size: r.size });
  }
  return out;
}

function eventText(e: ProbeEvent, regions: readonly ImageRegion[]): string {
  const name = 'address' in e ? regions.find((r) => r.address === e.address)?.name : undefined;
  const what = name ?? ('address' in e && e.address !== undefined ? hex(e.address) : '');
  switch (e.type) {
    case 'started':
      return `${e.operation} ${what}`.trim();
    case 'erased':
      return `erased ${what}`.trim();
    case 'programmed':
      return `programmed ${what}`.trim();
    case 'verified':
      return `${e.ok ? 'verified' : 'differs'} ${what}`.trim();
    case 'reset':
      return `reset ${e.mode}`;
  }
}

export function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function hex8(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

function round(s: number): number {
  return Math.round(s * 1000) / 1000;
}
