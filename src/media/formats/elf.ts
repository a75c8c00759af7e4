import type { MemoryBlock } from './blocks.js';

/**
 * The loadable bytes of an ELF32 little-endian ARM executable: every PT_LOAD segment with file
 * bytes, at its physical address p_paddr. p_paddr is the load address (LMA): where the linker put
 * .data's initial values in flash, while p_vaddr is where the startup code copies them in RAM.
 * Exactly what `objcopy -O binary` writes, per segment. (ELF: System V ABI gABI 4.1, "Program
 * Header"; ARM: IHI 0044 "ELF for the Arm Architecture", EM_ARM = 40.)
 *
 * Written here rather than taken from npm: the maintained-looking ELF packages either read past
 * the end of a truncated file silently (elf-tools slices, so a cut segment comes back short) or
 * are a beta of a much larger reader (elfinfo). This needs 60 lines of bounds-checked reads.
 */
export class ElfError extends Error {
  override name = 'ElfError';
}

const PT_LOAD = 1;
const EM_ARM = 40;
const ET_EXEC = 2;

export function parseElf(bytes: Uint8Array): MemoryBlock[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 52 || b.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file (no \\x7fELF magic)');
  if (b[4] !== 1) throw new ElfError(`ELF class ${b[4]} is not ELF32: a 64-bit ELF is not Cortex-M firmware`);
  if (b[5] !== 1) throw new ElfError('ELF data encoding is not little-endian');
  if (b[6] !== 1) throw new ElfError(`ELF version ${b[6]} is not 1`);
  const type = b.readUInt16LE(16);
  const machine = b.readUInt16LE(18);
  if (machine !== EM_ARM) throw new ElfError(`ELF machine ${machine} is not ARM (40): not firmware for an STM32`);
  if (type !== ET_EXEC) throw new ElfError(`ELF type ${type} is not an executable (2): link the firmware first (an object file or library has no load addresses)`);
  const phoff = b.readUInt32LE(28);
  const phentsize = b.readUInt16LE(42);
  const phnum = b.readUInt16LE(44);
  if (phnum === 0) throw new ElfError('ELF has no program headers');
  if (phentsize < 32) throw new ElfError(`ELF program header size ${phentsize} is below 32`);
  if (phoff + phnum * phentsize > b.length) throw new ElfError(`ELF program headers (offset ${phoff}, ${phnum} x ${phentsize} bytes) run past the end of the file (${b.length} bytes): truncated`);
  const blocks: MemoryBlock[] = [];
  for (let i = 0; i < phnum; i++) {
    const h = phoff + i * phentsize;
    if (b.readUInt32LE(h) !== PT_LOAD) continue;
    const offset = b.readUInt32LE(h + 4);
    const paddr = b.readUInt32LE(h + 12);
    const filesz = b.readUInt32LE(h + 16);
    const memsz = b.readUInt32LE(h + 20);
    if (filesz === 0) continue; // .bss and stack: memory only, nothing to flash
    if (filesz > memsz) throw new ElfError(`ELF segment ${i}: file size ${filesz} exceeds its memory size ${memsz}`);
    if (offset + filesz > b.length) throw new ElfError(`ELF segment ${i} (offset ${offset}, ${filesz} bytes) runs past the end of the file (${b.length} bytes): truncated`);
    if (paddr + filesz > 0x1_0000_0000) throw new ElfError(`ELF segment ${i} at 0x${paddr.toString(16)} with ${filesz} bytes runs past the 4 GiB address space`);
    blocks.push({ address: paddr, data: new Uint8Array(b.subarray(offset, offset + filesz)) });
  }
  if (blocks.length === 0) throw new ElfError('ELF has no loadable segment with file bytes');
  return blocks;
}
