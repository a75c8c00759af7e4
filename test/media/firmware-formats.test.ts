import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { readFirmware, FirmwareFormatError } from '../../src/media/formats/index.js';
import { parseElf } from '../../src/media/formats/elf.js';
import { parseSrec } from '../../src/media/formats/srec.js';
import { buildFixtureFirmware, type FixtureFirmware } from '../fixtures/firmware/build.js';
import { tempDir } from './helpers.js';

/** The format readers on a real arm-none-eabi build (test/fixtures/firmware), and on broken files. */
describe('firmware formats', () => {
  let fw: FixtureFirmware;
  let bin: Buffer;
  let dir: string;
  beforeAll(async () => {
    // tempDir's cleanup runs after each test; this build lives for the file
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    dir = await mkdtemp(join(tmpdir(), 'pijig-fw-'));
    fw = await buildFixtureFirmware({ outDir: dir, product: 'widget', version: '2.0.0' });
    bin = await readFile(fw.bin);
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('ELF, Intel HEX and S-records of one build give exactly what objcopy -O binary gives', async () => {
    for (const [file, format] of [[fw.elf, 'elf'], [fw.hex, 'ihex'], [fw.srec, 'srec']] as const) {
      const image = readFirmware(await readFile(file));
      expect(image.format).toBe(format);
      expect(image.blocks).toHaveLength(1);
      expect(image.blocks[0]!.address).toBe(0x08000000);
      expect(Buffer.from(image.blocks[0]!.data).equals(bin)).toBe(true);
    }
  });

  it('takes ELF segments at their physical (load) address: .data runs at 0x20000000 but is stored after the code', async () => {
    const { stdout } = await execa('arm-none-eabi-readelf', ['-lW', fw.elf], { timeout: 20_000, killSignal: 'SIGKILL' });
    const loads = [...stdout.matchAll(/LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)/g)].map((m) => ({ vaddr: Number(m[2]), paddr: Number(m[3]), filesz: Number(m[4]) }));
    const data = loads.find((l) => l.vaddr === 0x20000000)!;
    expect(data.paddr).toBeGreaterThan(0x08000000);
    const segments = parseElf(await readFile(fw.elf));
    expect(segments.map((s) => s.address)).toEqual(loads.filter((l) => l.filesz > 0).map((l) => l.paddr));
    expect(segments.some((s) => s.address >= 0x20000000)).toBe(false);
  });

  it('refuses a HEX, S-record or ELF given as a raw binary (NOT_BINARY), and a raw binary without an address', async () => {
    for (const [file, what] of [[fw.hex, /Intel HEX/], [fw.srec, /S-record/], [fw.elf, /ELF/]] as const) {
      const e = catchFormat(() => readFirmware(readFileSyncBuffer(file), { address: 0x08000000 }));
      expect(e.kind).toBe('NOT_BINARY');
      expect(e.message).toMatch(what);
      expect(catchFormat(() => readFirmware(readFileSyncBuffer(file), { format: 'bin' })).kind).toBe('NOT_BINARY');
    }
    expect(catchFormat(() => readFirmware(bin)).kind).toBe('ADDRESS');
    expect(catchFormat(() => readFirmware(bin, { format: 'elf' })).message).toMatch(/said to be an ELF file but is a raw binary/);
    expect(catchFormat(() => readFirmware(readFileSyncBuffer(fw.hex), { address: 0x08000000, format: 'ihex' })).message).toMatch(/drop "address"/);
  });

  it('refuses broken files: a cut ELF, a HEX checksum, a missing HEX EOF, an S-record cut short, bytes given twice', async () => {
    const elf = await readFile(fw.elf);
    const segOffset = parseElfOffsets(elf).at(-1)!;
    expect(catchFormat(() => readFirmware(elf.subarray(0, segOffset + 2))).message).toMatch(/runs past the end of the file.*truncated/);
    const elf64 = Buffer.from(elf);
    elf64[4] = 2;
    expect(catchFormat(() => readFirmware(elf64)).message).toMatch(/not ELF32/);

    const hex = (await readFile(fw.hex, 'latin1')).split(/\r?\n/);
    const badSum = [...hex];
    badSum[1] = badSum[1]!.slice(0, -3) + (badSum[1]!.slice(-3, -1) === '00' ? '01' : '00') + badSum[1]!.slice(-1);
    expect(catchFormat(() => readFirmware(Buffer.from(badSum.join('\n')))).message).toMatch(/Checksum failed/);
    expect(catchFormat(() => readFirmware(Buffer.from(hex.filter((l) => !l.startsWith(':00000001')).join('\n')))).message).toMatch(/No EOF record/);

    const srec = (await readFile(fw.srec, 'latin1')).split(/\r?\n/);
    expect(() => parseSrec(srec.filter((l) => !/^S[789]/.test(l)).join('\n'))).toThrow(/cut short/);
    const twice = [...srec];
    twice.splice(2, 0, srec[1]!);
    expect(() => parseSrec(twice.join('\n'))).toThrow(/already given on line/);
    const corrupt = [...srec];
    corrupt[1] = corrupt[1]!.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    expect(() => parseSrec(corrupt.join('\n'))).toThrow(/checksum/);
  });

  it('keeps a gap between two HEX blocks as two blocks, inventing no bytes', async () => {
    const d = await tempDir();
    await mkdir(d, { recursive: true });
    // two records 0x100 apart: 0x08000000 (4 bytes) and 0x08000100 (4 bytes)
    const text = [':020000040800F2', ':0400000001020304F2', ':04010000AABBCCDDED', ':00000001FF', ''].join('\n');
    await writeFile(join(d, 'gap.hex'), text);
    const image = readFirmware(await readFile(join(d, 'gap.hex')));
    expect(image.blocks.map((b) => [b.address, [...b.data]])).toEqual([
      [0x08000000, [1, 2, 3, 4]],
      [0x08000100, [0xaa, 0xbb, 0xcc, 0xdd]],
    ]);
  });
});

function catchFormat(fn: () => unknown): FirmwareFormatError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FirmwareFormatError) return e;
    throw e;
  }
  throw new Error('expected a FirmwareFormatError');
}

function readFileSyncBuffer(path: string): Buffer {
  return readFileSync(path);
}

/** File offsets of the ELF's PT_LOAD segments (ELF32 LE). */
function parseElfOffsets(b: Buffer): number[] {
  const phoff = b.readUInt32LE(28), n = b.readUInt16LE(44), size = b.readUInt16LE(42);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (b.readUInt32LE(phoff + i * size) === 1) out.push(b.readUInt32LE(phoff + i * size + 4));
  return out;
}
