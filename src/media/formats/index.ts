import nrfIntelHex from 'nrf-intel-hex';
import { FILE_KIND_NAMES, firmwareFileKind, type FirmwareFileKind } from '../../core/chip-families.js';
import { joinBlocks, type MemoryBlock } from './blocks.js';
import { parseElf } from './elf.js';
import { parseSrec } from './srec.js';

export { joinBlocks, type MemoryBlock } from './blocks.js';
export { firmwareFileKind, type FirmwareFileKind } from '../../core/chip-families.js';

/**
 * Firmware files as `pijig bundle create` takes them, turned into the raw memory blocks the jig
 * flashes:
 *   - Intel HEX (`.hex`, `.ihex`): nrf-intel-hex (Nordic; strict: checksums, EOF record, no byte twice);
 *   - Motorola S-records (`.srec`, `.s19`, `.s28`, `.s37`, `.mot`): srec.ts;
 *   - ELF (`.elf`, `.axf`, `.out`): PT_LOAD segments at their physical addresses, elf.ts;
 *   - raw binary (`.bin`) at an address the engineer gives.
 */
export type FirmwareFormat = FirmwareFileKind;

// nrf-intel-hex is CommonJS (`module.exports = MemoryMap`) while its typings declare `export default`:
// Node hands the class itself to a default import, TypeScript expects it under `.default`.
type MemoryMapClass = typeof nrfIntelHex.default;
const MemoryMap: MemoryMapClass = (nrfIntelHex as unknown as { default?: MemoryMapClass }).default ?? (nrfIntelHex as unknown as MemoryMapClass);

export interface FirmwareImage {
  /** The format the file was read as (what its content is, checked against what the engineer said). */
  format: FirmwareFormat;
  /** Address-ordered; blocks that touch are joined, gaps keep blocks apart. */
  blocks: MemoryBlock[];
}

export type FirmwareErrorKind = 'NOT_BINARY' | 'INVALID' | 'ADDRESS';

export class FirmwareFormatError extends Error {
  override name = 'FirmwareFormatError';
  constructor(
    readonly kind: FirmwareErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ReadOptions {
  /** What the engineer said the file is; default: what its content is. */
  format?: FirmwareFormat;
  /** Load address of a raw binary (and only of a raw binary). */
  address?: number;
}

/**
 * Read one firmware file. A file said to be raw (format 'bin', or given an address) whose bytes are
 * HEX/S-record text or an ELF is refused with kind NOT_BINARY: flashing it would put the text or
 * the ELF header into flash. A file said to be HEX/S-record/ELF whose content is something else,
 * or that does not parse, is INVALID.
 */
export function readFirmware(bytes: Uint8Array, opts: ReadOptions = {}): FirmwareImage {
  const content = firmwareFileKind(bytes);
  const said = opts.format ?? (opts.address !== undefined ? 'bin' : content);
  if (said === 'bin') {
    if (content !== 'bin') {
      throw new FirmwareFormatError('NOT_BINARY', `is ${FILE_KIND_NAMES[content]}, not a raw binary: give it without "address" (or with format "${content}") and pijig converts it`);
    }
    if (opts.address === undefined) throw new FirmwareFormatError('ADDRESS', 'a raw binary needs "address" (where its first byte goes, e.g. "0x08000000")');
    if (bytes.length === 0) throw new FirmwareFormatError('INVALID', 'is empty');
    return { format: 'bin', blocks: [{ address: opts.address, data: bytes }] };
  }
  if (opts.address !== undefined) throw new FirmwareFormatError('ADDRESS', `is ${FILE_KIND_NAMES[said]}, which carries its own addresses: drop "address"`);
  if (content !== said) throw new FirmwareFormatError('INVALID', `said to be ${FILE_KIND_NAMES[said]} but is ${FILE_KIND_NAMES[content]}`);
  let blocks: MemoryBlock[];
  try {
    if (said === 'ihex') blocks = [...MemoryMap.fromHex(Buffer.from(bytes).toString('latin1'))].map(([address, data]) => ({ address, data }));
    else if (said === 'srec') blocks = parseSrec(Buffer.from(bytes).toString('latin1'));
    else blocks = parseElf(bytes);
    blocks = joinBlocks(blocks);
  } catch (cause) {
    throw new FirmwareFormatError('INVALID', `${FILE_KIND_NAMES[said]} does not parse: ${(cause as Error).message}`, { cause });
  }
  for (const b of blocks) {
    if (b.address + b.data.length > 0x1_0000_0000) throw new FirmwareFormatError('INVALID', `data at 0x${b.address.toString(16)} with ${b.data.length} bytes runs past the 4 GiB address space`);
  }
  if (blocks.length === 0) throw new FirmwareFormatError('INVALID', `${FILE_KIND_NAMES[said]} holds no data`);
  return { format: said, blocks };
}
