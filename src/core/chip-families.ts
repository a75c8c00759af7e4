import { PijigError } from './errors.js';
/**
 * The STM32 families pijig programs, in one place: which openocd 0.12 target script and flash
 * driver serve each, where its flash is and how it erases, where its unique ID sits, and the exact
 * commands that lock it, prove the lock and mass-erase it. Bundle create/verify, the importer,
 * config check, the probe driver and the lock step all read this table; nothing else names a
 * driver or an option register.
 *
 * Sources, checked for each entry: openocd v0.12.0 src/flash/nor/stm32{f1x,f2x,l4x,lx,h7x}.c
 * (command tables, register offsets, what each command prints) and tcl/target/stm32*.cfg; the
 * unique-ID addresses against libopencm3's memorymap.h files, ST's CMSIS device headers and the
 * reference manuals quoted beside each number. tests/core/chip-families.openocd.test.ts asks the
 * installed openocd whether every command below exists for its target script.
 */

export type FlashDriver = 'stm32f1x' | 'stm32f2x' | 'stm32l4x' | 'stm32lx' | 'stm32h7x';

export type FamilyId = 'stm32f0' | 'stm32f1' | 'stm32f2' | 'stm32f3' | 'stm32f4' | 'stm32f7' | 'stm32g0' | 'stm32g4' | 'stm32l0' | 'stm32l1' | 'stm32l4' | 'stm32wb' | 'stm32wl' | 'stm32h7';

/** `count` erase units (pages or sectors) of `size` bytes each, from `start`. */
export interface EraseRun {
  start: number;
  size: number;
  count: number;
}

/**
 * How a lock is proven from the option bytes after the reset that loads them (the lock step then
 * also proves that a flash read over the debug port fails):
 * - 'options_read': the stm32f1x driver prints "read protection: on|off" (FLASH_OBR bit 1, RDPRT);
 * - 'option_register': the stm32l4x/stm32h7x `option_read` prints "Option Register: <0xADDR> = 0xVALUE";
 * - 'memory': no driver command prints RDP, so the option register is read with `read_memory`.
 * For the register kinds, RDP is `(value >> shift) & 0xff`; 0xAA is level 0 (unprotected), 0xCC
 * level 2, anything else level 1.
 */
export type LockProof =
  | { kind: 'options_read'; command: string; register: string }
  | { kind: 'option_register'; command: string; register: string; address: number; shift: number }
  | { kind: 'memory'; command: string; register: string; address: number; shift: number };

/** RDP byte value of level 0 (no read-out protection) on every STM32 whose RDP is a byte. */
export const RDP_LEVEL0 = 0xaa;

export interface ChipFamily {
  id: FamilyId;
  /** "STM32F1" */
  name: string;
  core: string;
  /** The stock openocd script for the family's single-bank parts. */
  targetScript: string;
  /** Every stock script that serves the family (single and dual bank variants). */
  targetScripts: readonly string[];
  driver: FlashDriver;
  flashBase: number;
  /** Smallest and largest main flash the family comes with, KiB. */
  flashKiB: readonly [number, number];
  /**
   * Programming granularity: a region starts on it, and two regions never share one (a second
   * write into a programmed double-word/flash-word is an error on these parts). openocd pads the
   * rest (stm32f1x 2, stm32l4x 8, stm32h7x 32 bytes); stm32f2x needs 2-byte, stm32lx 4-byte starts.
   */
  writeUnit: number;
  /** Cortex-M0/M0+ parts have no JTAG; stm32l0.cfg even fails to load under JTAG. */
  swdOnly: boolean;
  /** Commands pijig sends for this family (bank 0 is the main flash in every stock script). */
  lock: string;
  unlock: string;
  massErase: string;
  lockProof: LockProof;
  /** What the lock proof reads, in words, for docs and messages. */
  lockProofText: string;
  /** Honest notes on layouts the table simplifies (dual bank, option-dependent page sizes). */
  notes: readonly string[];
  /** The erase layout of one part (already parsed). */
  layout(part: PartNumber): EraseRun[];
  /** The three 32-bit words of the 96-bit unique ID (not always contiguous). */
  uniqueId(part: PartNumber): readonly [number, number, number];
  /** The stock script for this part (dual-bank parts need another one to reach their second bank). */
  scriptFor(part: PartNumber): string;
}

/** A part number taken apart: stm32 f1 03 c 8 (t6). */
export interface PartNumber {
  /** As given, lower-cased. */
  part: string;
  family: FamilyId;
  /** Two characters after the family: "03" in stm32f103c8, "b1" in stm32g0b1re, "e5" in stm32wle5jc. */
  line: string;
  pins: string;
  sizeLetter: string;
  flashKiB: number;
}

/** A target part number resolved against the table. */
export interface TargetChip extends PartNumber {
  chip: ChipFamily;
  flashBase: number;
  flashSize: number;
  layout: EraseRun[];
  targetScript: string;
  uniqueId: readonly [number, number, number];
}

export type ChipErrorCode = 'UNKNOWN_TARGET' | 'UNKNOWN_FAMILY';

export class ChipError extends PijigError<ChipErrorCode> {}

const KiB = 1024;
const FLASH = 0x08000000;

/** The flash-size letter of an STM32 part number (the character after the pin-count letter), KiB. */
export const SIZE_LETTERS: Readonly<Record<string, number>> = {
  '3': 8,
  '4': 16,
  '6': 32,
  '8': 64,
  b: 128,
  z: 192,
  c: 256,
  d: 384,
  e: 512,
  y: 640,
  f: 768,
  g: 1024,
  h: 1536,
  i: 2048,
};

/** Parts whose flash is not what their size letter says (datasheets). */
const SIZE_EXCEPTIONS: Readonly<Record<string, number>> = {
  stm32wb15cc: 320, // DS13258: 320 KB
  stm32wb10cc: 320, // DS13581: 320 KB
};

const uniform = (size: number, flashBytes: number, start = FLASH): EraseRun[] => [{ start, size, count: flashBytes / size }];

/** F2/F4 and F72x/F73x sectors: 4 x 16 KiB, 64 KiB, then 128 KiB (RM0033, RM0090, RM0431). */
const f4Sectors = (flashBytes: number, start = FLASH, unit = 16 * KiB): EraseRun[] => {
  const runs: EraseRun[] = [{ start, size: unit, count: Math.min(4, flashBytes / unit) }];
  if (flashBytes > 4 * unit) runs.push({ start: start + 4 * unit, size: 4 * unit, count: 1 });
  if (flashBytes > 8 * unit) runs.push({ start: start + 8 * unit, size: 8 * unit, count: (flashBytes - 8 * unit) / (8 * unit) });
  return runs;
};

const words = (base: number, third = 8): readonly [number, number, number] => [base, base + 4, base + third];

const l4Proof = (regs: number): LockProof => ({ kind: 'option_register', command: 'stm32l4x option_read 0 0x20', register: 'FLASH_OPTR', address: regs + 0x20, shift: 0 });

function family(f: Omit<ChipFamily, 'lock' | 'unlock' | 'massErase' | 'scriptFor'> & { scriptFor?: ChipFamily['scriptFor'] }): ChipFamily {
  return {
    scriptFor: () => f.targetScript,
    ...f,
    lock: `${f.driver} lock 0`,
    unlock: `${f.driver} unlock 0`,
    massErase: `${f.driver} mass_erase 0`,
  };
}

const F1X_PROOF: LockProof = { kind: 'options_read', command: 'stm32f1x options_read 0', register: 'FLASH_OBR' };
const F1X_PROOF_TEXT = '`stm32f1x options_read 0` prints "read protection: on" (FLASH_OBR bit 1, RDPRT)';
// stm32f2x `options_read` prints only the user options, not RDP: read FLASH_OPTCR (0x40023C14), RDP is bits 15:8.
const F2X_PROOF: LockProof = { kind: 'memory', command: 'read_memory 0x40023c14 32 1', register: 'FLASH_OPTCR', address: 0x40023c14, shift: 8 };
const F2X_PROOF_TEXT = 'FLASH_OPTCR (0x40023C14) bits 15:8 (RDP) read with read_memory are not 0xAA';
const L4_PROOF_TEXT = (addr: string): string => `\`stm32l4x option_read 0 0x20\` prints FLASH_OPTR (${addr}); bits 7:0 (RDP) are not 0xAA`;

export const CHIP_FAMILIES: Readonly<Record<FamilyId, ChipFamily>> = {
  stm32f0: family({
    id: 'stm32f0',
    name: 'STM32F0',
    core: 'Cortex-M0',
    targetScript: 'target/stm32f0x.cfg',
    targetScripts: ['target/stm32f0x.cfg'],
    driver: 'stm32f1x',
    flashBase: FLASH,
    flashKiB: [16, 256],
    writeUnit: 2,
    swdOnly: true,
    lockProof: F1X_PROOF,
    lockProofText: F1X_PROOF_TEXT,
    // RM0091/RM0360: 1 KiB pages up to 64 KiB (F03x/F04x/F05x), 2 KiB on F07x/F09x (128/256 KiB).
    layout: (p) => uniform(p.flashKiB >= 128 ? 2 * KiB : KiB, p.flashKiB * KiB),
    uniqueId: () => words(0x1ffff7ac), // RM0091 33.1
    notes: [],
  }),
  stm32f1: family({
    id: 'stm32f1',
    name: 'STM32F1',
    core: 'Cortex-M3',
    targetScript: 'target/stm32f1x.cfg',
    targetScripts: ['target/stm32f1x.cfg', 'target/stm32xl.cfg'],
    driver: 'stm32f1x',
    flashBase: FLASH,
    flashKiB: [16, 1024],
    writeUnit: 2,
    swdOnly: false,
    lockProof: F1X_PROOF,
    lockProofText: F1X_PROOF_TEXT,
    // RM0008: 1 KiB pages on low/medium density (<= 128 KiB), 2 KiB on high/XL density and on the F105/F107 connectivity line.
    layout: (p) => uniform(p.flashKiB > 128 || p.line === '05' || p.line === '07' ? 2 * KiB : KiB, p.flashKiB * KiB),
    uniqueId: () => words(0x1ffff7e8), // RM0008 30.2
    scriptFor: (p) => (p.flashKiB > 512 ? 'target/stm32xl.cfg' : 'target/stm32f1x.cfg'),
    notes: ['XL density (768 KiB, 1 MiB) is dual bank: bank 2 at 0x08080000 is reached only through target/stm32xl.cfg.'],
  }),
  stm32f2: family({
    id: 'stm32f2',
    name: 'STM32F2',
    core: 'Cortex-M3',
    targetScript: 'target/stm32f2x.cfg',
    targetScripts: ['target/stm32f2x.cfg'],
    driver: 'stm32f2x',
    flashBase: FLASH,
    flashKiB: [128, 1024],
    writeUnit: 2,
    swdOnly: false,
    lockProof: F2X_PROOF,
    lockProofText: F2X_PROOF_TEXT,
    layout: (p) => f4Sectors(p.flashKiB * KiB),
    uniqueId: () => words(0x1fff7a10), // RM0033 32.2
    notes: ['Sectors of 16/16/16/16/64/128... KiB: the first erase of a large sector takes up to seconds.'],
  }),
  stm32f3: family({
    id: 'stm32f3',
    name: 'STM32F3',
    core: 'Cortex-M4',
    targetScript: 'target/stm32f3x.cfg',
    targetScripts: ['target/stm32f3x.cfg'],
    driver: 'stm32f1x',
    flashBase: FLASH,
    flashKiB: [16, 512],
    writeUnit: 2,
    swdOnly: false,
    lockProof: F1X_PROOF,
    lockProofText: F1X_PROOF_TEXT,
    layout: (p) => uniform(2 * KiB, p.flashKiB * KiB), // RM0316/RM0365/RM0364/RM0313: 2 KiB pages
    uniqueId: () => words(0x1ffff7ac), // RM0316 34.1
    notes: [],
  }),
  stm32f4: family({
    id: 'stm32f4',
    name: 'STM32F4',
    core: 'Cortex-M4',
    targetScript: 'target/stm32f4x.cfg',
    targetScripts: ['target/stm32f4x.cfg'],
    driver: 'stm32f2x',
    flashBase: FLASH,
    flashKiB: [64, 2048],
    writeUnit: 2,
    swdOnly: false,
    lockProof: F2X_PROOF,
    lockProofText: F2X_PROOF_TEXT,
    // RM0090: 2 MiB parts (F42x/F43x/F469/F479) are two banks of 16/16/16/16/64/128 x 7 KiB, bank 2 at 0x08100000.
    layout: (p) => (p.flashKiB === 2048 ? [...f4Sectors(1024 * KiB), ...f4Sectors(1024 * KiB, FLASH + 1024 * KiB)] : f4Sectors(p.flashKiB * KiB)),
    uniqueId: () => words(0x1fff7a10), // RM0090 39.1
    notes: [
      'Sectors of 16/16/16/16/64/128... KiB: an identity record needs a sector of its own (0x0800FC00 is in sector 3, with the firmware).',
      '1 MiB F42x/F43x with DB1M=1 split into two 512 KiB banks with smaller sectors; the table assumes DB1M=0 (factory), whose sectors contain those.',
    ],
  }),
  stm32f7: family({
    id: 'stm32f7',
    name: 'STM32F7',
    core: 'Cortex-M7',
    targetScript: 'target/stm32f7x.cfg',
    targetScripts: ['target/stm32f7x.cfg'],
    driver: 'stm32f2x',
    flashBase: FLASH,
    flashKiB: [64, 2048],
    writeUnit: 2,
    swdOnly: false,
    lockProof: F2X_PROOF,
    lockProofText: F2X_PROOF_TEXT,
    // RM0431 (F72x/F73x): 16 KiB-based sectors; RM0385/RM0410 (F74x-F77x, single-bank mode): 32/32/32/32/128/256... KiB.
    layout: (p) => (/^[23]/.test(p.line) ? f4Sectors(p.flashKiB * KiB) : f4Sectors(p.flashKiB * KiB, FLASH, 32 * KiB)),
    // RM0385 45.1: 0x1FF0F420; RM0431 (F72x/F73x, DEV_ID 0x452): 0x1FF07A10.
    uniqueId: (p) => (/^[23]/.test(p.line) ? words(0x1ff07a10) : words(0x1ff0f420)),
    notes: ['F76x/F77x in dual-bank mode (nDBANK=0) have smaller sectors; the table uses single-bank mode (factory), whose sectors contain them.'],
  }),
  stm32g0: family({
    id: 'stm32g0',
    name: 'STM32G0',
    core: 'Cortex-M0+',
    targetScript: 'target/stm32g0x.cfg',
    targetScripts: ['target/stm32g0x.cfg'],
    driver: 'stm32l4x',
    flashBase: FLASH,
    flashKiB: [16, 512],
    writeUnit: 8,
    swdOnly: true,
    lockProof: l4Proof(0x40022000),
    lockProofText: L4_PROOF_TEXT('0x40022020'),
    layout: (p) => uniform(2 * KiB, p.flashKiB * KiB), // RM0444: 2 KiB pages (G0B1/G0C1 512 KiB: two banks, contiguous)
    uniqueId: () => words(0x1fff7590), // RM0444 40.1
    notes: [],
  }),
  stm32g4: family({
    id: 'stm32g4',
    name: 'STM32G4',
    core: 'Cortex-M4',
    targetScript: 'target/stm32g4x.cfg',
    targetScripts: ['target/stm32g4x.cfg'],
    driver: 'stm32l4x',
    flashBase: FLASH,
    flashKiB: [32, 512],
    writeUnit: 8,
    swdOnly: false,
    lockProof: l4Proof(0x40022000),
    lockProofText: L4_PROOF_TEXT('0x40022020'),
    // RM0440: category 3 (G47x/G48x) has 2 KiB pages in dual-bank mode (DBANK=1, factory) and 4 KiB
    // pages with DBANK=0; the table uses 4 KiB, which contains both. Categories 2 and 4: 2 KiB.
    layout: (p) => uniform(/^[78]/.test(p.line) ? 4 * KiB : 2 * KiB, p.flashKiB * KiB),
    uniqueId: () => words(0x1fff7590), // RM0440 48.1
    notes: ['G47x/G48x: erase units taken as 4 KiB (DBANK=0 pages) so that a check holds in both bank modes.'],
  }),
  stm32l0: family({
    id: 'stm32l0',
    name: 'STM32L0',
    core: 'Cortex-M0+',
    targetScript: 'target/stm32l0.cfg',
    targetScripts: ['target/stm32l0.cfg', 'target/stm32l0_dual_bank.cfg'],
    driver: 'stm32lx',
    flashBase: FLASH,
    flashKiB: [8, 192],
    writeUnit: 4,
    swdOnly: true,
    // The stm32lx driver has no option-byte command: FLASH_OPTR (0x4002201C), RDPROT bits 7:0 (RM0367 3.7.8).
    lockProof: { kind: 'memory', command: 'read_memory 0x4002201c 32 1', register: 'FLASH_OPTR', address: 0x4002201c, shift: 0 },
    lockProofText: 'FLASH_OPTR (0x4002201C) bits 7:0 (RDPROT) read with read_memory are not 0xAA',
    layout: (p) => uniform(128, p.flashKiB * KiB), // RM0367/RM0376/RM0377: 128-byte pages
    uniqueId: () => words(0x1ff80050, 0x14), // RM0367 28.2: offsets 0x00, 0x04, 0x14
    scriptFor: (p) => (p.flashKiB > 128 ? 'target/stm32l0_dual_bank.cfg' : 'target/stm32l0.cfg'),
    notes: ['Category 5 (192 KiB) is dual bank: bank 2 at 0x08018000 is reached only through target/stm32l0_dual_bank.cfg.'],
  }),
  stm32l1: family({
    id: 'stm32l1',
    name: 'STM32L1',
    core: 'Cortex-M3',
    targetScript: 'target/stm32l1.cfg',
    targetScripts: ['target/stm32l1.cfg', 'target/stm32l1x_dual_bank.cfg'],
    driver: 'stm32lx',
    flashBase: FLASH,
    flashKiB: [32, 512],
    writeUnit: 4,
    swdOnly: false,
    // FLASH_OBR (0x40023C1C), RDPRT bits 7:0 (RM0038 3.9.9).
    lockProof: { kind: 'memory', command: 'read_memory 0x40023c1c 32 1', register: 'FLASH_OBR', address: 0x40023c1c, shift: 0 },
    lockProofText: 'FLASH_OBR (0x40023C1C) bits 7:0 (RDPRT) read with read_memory are not 0xAA',
    layout: (p) => uniform(256, p.flashKiB * KiB), // RM0038: 256-byte pages
    // RM0038 31.2: categories 1 and 2 (up to 128 KiB) at 0x1FF80050, categories 3-6 at 0x1FF800D0; third word at +0x14.
    uniqueId: (p) => words(p.flashKiB <= 128 ? 0x1ff80050 : 0x1ff800d0, 0x14),
    scriptFor: (p) => (p.flashKiB > 256 ? 'target/stm32l1x_dual_bank.cfg' : 'target/stm32l1.cfg'),
    notes: ['Categories 4-6 (384, 512 KiB) are dual bank: the second bank is reached only through target/stm32l1x_dual_bank.cfg.'],
  }),
  stm32l4: family({
    id: 'stm32l4',
    name: 'STM32L4',
    core: 'Cortex-M4',
    targetScript: 'target/stm32l4x.cfg',
    targetScripts: ['target/stm32l4x.cfg'],
    driver: 'stm32l4x',
    flashBase: FLASH,
    flashKiB: [64, 2048],
    writeUnit: 8,
    swdOnly: false,
    lockProof: l4Proof(0x40022000),
    lockProofText: L4_PROOF_TEXT('0x40022020'),
    // RM0351/RM0394: 2 KiB pages (L47x/L48x/L49x/L4Ax are two banks, contiguous). RM0432 (L4+:
    // L4R/L4S/L4P/L4Q): 4 KiB pages in dual-bank mode (factory), 8 KiB single-bank: 8 KiB taken.
    layout: (p) => uniform(/^[rspq]/.test(p.line) ? 8 * KiB : 2 * KiB, p.flashKiB * KiB),
    uniqueId: () => words(0x1fff7590), // RM0351 50.1
    notes: ['L4+ (L4R/L4S/L4P/L4Q): erase units taken as 8 KiB (single-bank pages) so that a check holds in both bank modes.'],
  }),
  stm32wb: family({
    id: 'stm32wb',
    name: 'STM32WB',
    core: 'Cortex-M4 + M0+',
    targetScript: 'target/stm32wbx.cfg',
    targetScripts: ['target/stm32wbx.cfg'],
    driver: 'stm32l4x',
    flashBase: FLASH,
    flashKiB: [256, 1024],
    writeUnit: 8,
    swdOnly: false,
    lockProof: l4Proof(0x58004000),
    lockProofText: L4_PROOF_TEXT('0x58004020'),
    layout: (p) => uniform(4 * KiB, p.flashKiB * KiB), // RM0434: 4 KiB pages
    uniqueId: () => words(0x1fff7590), // RM0434 38.1 (the IEEE 64-bit UID64 is at 0x1FFF7580)
    notes: ['The top of flash holds the wireless stack (CPU2, secure from SFSA): the table cannot know where it starts; keep regions below it.'],
  }),
  stm32wl: family({
    id: 'stm32wl',
    name: 'STM32WL',
    core: 'Cortex-M4 (+ M0+)',
    targetScript: 'target/stm32wlx.cfg',
    targetScripts: ['target/stm32wlx.cfg'],
    driver: 'stm32l4x',
    flashBase: FLASH,
    flashKiB: [64, 256],
    writeUnit: 8,
    swdOnly: false,
    lockProof: l4Proof(0x58004000),
    lockProofText: L4_PROOF_TEXT('0x58004020'),
    layout: (p) => uniform(2 * KiB, p.flashKiB * KiB), // RM0453/RM0461: 2 KiB pages
    uniqueId: () => words(0x1fff7590), // RM0461 37.1 (UID64 at 0x1FFF7580)
    notes: [],
  }),
  stm32h7: family({
    id: 'stm32h7',
    name: 'STM32H7',
    core: 'Cortex-M7 (+ M4)',
    targetScript: 'target/stm32h7x.cfg',
    targetScripts: ['target/stm32h7x.cfg', 'target/stm32h7x_dual_bank.cfg'],
    driver: 'stm32h7x',
    flashBase: FLASH,
    flashKiB: [64, 2048],
    writeUnit: 32,
    swdOnly: false,
    // FLASH_OPTSR_CUR is at offset 0x1C of the flash registers (0x5200201C), RDP bits 15:8 (RM0433 4.9.9).
    lockProof: { kind: 'option_register', command: 'stm32h7x option_read 0 0x1c', register: 'FLASH_OPTSR_CUR', address: 0x5200201c, shift: 8 },
    lockProofText: '`stm32h7x option_read 0 0x1c` prints FLASH_OPTSR_CUR (0x5200201C); bits 15:8 (RDP) are not 0xAA',
    // RM0433/RM0399/RM0468: 128 KiB sectors; RM0455 (H7A3/H7B3/H7B0): 8 KiB sectors.
    layout: (p) => uniform(/^[ab]/.test(p.line) ? 8 * KiB : 128 * KiB, p.flashKiB * KiB),
    // RM0433 61.1: 0x1FF1E800; RM0455 (H7A3/H7B3/H7B0): 0x08FFF800.
    uniqueId: (p) => (/^[ab]/.test(p.line) ? words(0x08fff800) : words(0x1ff1e800)),
    scriptFor: (p) => (p.flashKiB > 1024 ? 'target/stm32h7x_dual_bank.cfg' : 'target/stm32h7x.cfg'),
    notes: [
      '2 MiB parts are two banks (bank 2 at 0x08100000), reached only through target/stm32h7x_dual_bank.cfg; `stm32h7x mass_erase 0` erases bank 1 only.',
    ],
  }),
};

export const FAMILY_IDS = Object.keys(CHIP_FAMILIES) as FamilyId[];

/** Every family-specific openocd command pijig sends (the generic ones - reset, flash erase_address/write_image, verify_image, read_memory - are the same for all). */
export function familyCommands(f: ChipFamily): { lock: string; massErase: string; lockProof: string } {
  return { lock: f.lock, massErase: f.massErase, lockProof: f.lockProof.command };
}

const PART = /^stm32(f0|f1|f2|f3|f4|f7|g0|g4|l0|l1|l4|wb|wl|h7)([0-9a-z]{2})([a-z])([0-9a-z])([a-z0-9]*)$/;

/**
 * A part number ("stm32f103c8", "stm32g071rb", "stm32f407vg"; a package suffix such as "t6" is
 * allowed) as family, flash size and layout. Throws ChipError('UNKNOWN_TARGET') naming what is
 * not understood.
 */
export function parseTarget(target: string): TargetChip {
  const part = target.trim().toLowerCase();
  const m = PART.exec(part);
  if (!m) {
    const known = /^stm32([a-z]\d)/.exec(part)?.[1];
    const why = known && !Object.hasOwn(CHIP_FAMILIES, `stm32${known}`)
      ? `the STM32${known.toUpperCase()} family is not in pijig's chip table`
      : 'not an STM32 part number with pin-count and flash-size letters';
    throw new ChipError('UNKNOWN_TARGET', `target "${target}": ${why} (e.g. stm32f103c8, stm32g071rb, stm32f407vg; families: ${familyList()})`);
  }
  const [, fam, line, pins, sizeLetter] = m as unknown as [string, string, string, string, string];
  const chip = CHIP_FAMILIES[`stm32${fam}` as FamilyId];
  const flashKiB = SIZE_EXCEPTIONS[part.slice(0, 11)] ?? SIZE_LETTERS[sizeLetter];
  if (flashKiB === undefined) {
    throw new ChipError('UNKNOWN_TARGET', `target "${target}": flash-size letter "${sizeLetter}" is not one pijig knows (${Object.keys(SIZE_LETTERS).join(' ')})`);
  }
  if (flashKiB < chip.flashKiB[0] || flashKiB > chip.flashKiB[1]) {
    throw new ChipError('UNKNOWN_TARGET', `target "${target}": size letter "${sizeLetter}" means ${flashKiB} KiB, but ${chip.name} parts have ${chip.flashKiB[0]}..${chip.flashKiB[1]} KiB`);
  }
  const p: PartNumber = { part, family: chip.id, line, pins, sizeLetter, flashKiB };
  return { ...p, chip, flashBase: chip.flashBase, flashSize: flashKiB * KiB, layout: chip.layout(p), targetScript: chip.scriptFor(p), uniqueId: chip.uniqueId(p) };
}

/**
 * The family a name stands for: a family id ("stm32g0"), an openocd target script
 * ("target/stm32g0x.cfg", "stm32g0x", "stm32l1x_dual_bank") or a part number. Throws
 * ChipError('UNKNOWN_FAMILY') listing what is known. (A flash driver name such as "stm32lx" is
 * not enough: it serves several families whose option registers differ.)
 */
export function chipFamily(name: string): ChipFamily {
  const n = name.trim().toLowerCase();
  if (Object.hasOwn(CHIP_FAMILIES, n)) return CHIP_FAMILIES[n as FamilyId];
  const script = scriptName(n);
  for (const f of Object.values(CHIP_FAMILIES)) if (f.targetScripts.some((s) => scriptName(s) === script)) return f;
  if (PART.test(n)) return parseTarget(n).chip;
  throw new ChipError('UNKNOWN_FAMILY', `"${name}" is not a chip family pijig knows: use a family (${familyList()}) or its openocd target script (${Object.values(CHIP_FAMILIES).map((f) => f.targetScript).join(', ')})`);
}

export function isKnownFamily(name: string): boolean {
  try {
    chipFamily(name);
    return true;
  } catch {
    return false;
  }
}

function scriptName(s: string): string {
  return (s.split('/').pop() ?? s).replace(/\.cfg$/, '');
}

function familyList(): string {
  return FAMILY_IDS.join(', ');
}

// --- erase units, regions, the identity record ---------------------------------------------------

export interface EraseUnit {
  index: number;
  start: number;
  size: number;
}

/** The page or sector that holds `address`, or undefined outside main flash. */
export function eraseUnitAt(chip: Pick<TargetChip, 'layout'>, address: number): EraseUnit | undefined {
  let index = 0;
  for (const run of chip.layout) {
    const end = run.start + run.size * run.count;
    if (address >= run.start && address < end) {
      const k = Math.floor((address - run.start) / run.size);
      return { index: index + k, start: run.start + k * run.size, size: run.size };
    }
    index += run.count;
  }
  return undefined;
}

/** The erase units [first, last] a range touches ("pages 0-1", "sector 3"). */
export function eraseUnitsText(chip: TargetChip, address: number, size: number): string {
  const a = eraseUnitAt(chip, address);
  const b = eraseUnitAt(chip, address + Math.max(size, 1) - 1);
  if (!a || !b) return 'outside flash';
  const word = unitWord(chip);
  return a.index === b.index ? `${word} ${a.index}` : `${word}s ${a.index}-${b.index}`;
}

function unitWord(chip: TargetChip): 'page' | 'sector' {
  return chip.chip.driver === 'stm32f2x' || chip.chip.driver === 'stm32h7x' ? 'sector' : 'page';
}

/** What the chip's flash looks like, in one line: "STM32F1, 64 KiB flash at 0x08000000-0x0800FFFF, 1 KiB pages". */
export function describeFlash(chip: TargetChip): string {
  const sizes = [...new Set(chip.layout.map((r) => r.size))].map(kib).join('/');
  return `${chip.chip.name}, ${kib(chip.flashSize)} flash at ${hex(chip.flashBase)}-${hex(chip.flashBase + chip.flashSize - 1)}, ${sizes} ${unitWord(chip)}s`;
}

export interface RegionSpan {
  name: string;
  address: number;
  size: number;
}

export interface MapIssue {
  /** Index of the region the problem is about. */
  region: number;
  field: 'address' | 'size';
  message: string;
}

/**
 * Every region inside the chip's main flash, aligned to its write unit, and no two regions
 * overlapping or sharing a write unit. Returns every problem.
 */
export function checkRegions(chip: TargetChip, regions: readonly RegionSpan[]): MapIssue[] {
  const issues: MapIssue[] = [];
  const flashEnd = chip.flashBase + chip.flashSize;
  const where = `${chip.part} flash ${hex(chip.flashBase)}-${hex(flashEnd - 1)}`;
  regions.forEach((r, i) => {
    const end = r.address + r.size;
    if (end > 0x1_0000_0000) {
      issues.push({ region: i, field: 'size', message: `region "${r.name}" at ${hex(r.address)} with ${r.size} bytes runs past the 4 GiB address space` });
    } else if (r.address < chip.flashBase || end > flashEnd) {
      const what = memoryName(r.address);
      issues.push({
        region: i,
        field: r.address < chip.flashBase || r.address >= flashEnd ? 'address' : 'size',
        message: `region "${r.name}" ${hex(r.address)}-${hex(end - 1)} is outside ${where}${what ? ` (${hex(r.address)} is ${what})` : ''}`,
      });
    }
    if (r.address % chip.chip.writeUnit !== 0) {
      issues.push({ region: i, field: 'address', message: `region "${r.name}" at ${hex(r.address)} is not aligned to the ${chip.chip.name}'s ${chip.chip.writeUnit}-byte programming unit` });
    }
  });
  const unit = chip.chip.writeUnit;
  const sorted = regions.map((r, i) => ({ r, i })).sort((a, b) => a.r.address - b.r.address);
  for (let k = 1; k < sorted.length; k++) {
    const a = sorted[k - 1]!, b = sorted[k]!;
    const aEnd = a.r.address + a.r.size;
    if (aEnd > b.r.address) {
      issues.push({ region: b.i, field: 'address', message: `region "${b.r.name}" at ${hex(b.r.address)} overlaps region "${a.r.name}" (${hex(a.r.address)}-${hex(aEnd - 1)})` });
    } else if (Math.ceil(aEnd / unit) * unit > b.r.address) {
      issues.push({ region: b.i, field: 'address', message: `region "${b.r.name}" at ${hex(b.r.address)} shares a ${unit}-byte programming unit with region "${a.r.name}" (ends ${hex(aEnd - 1)})` });
    }
  }
  return issues;
}

/** The identity step's default record address: the last 1 KiB page of a 64 KiB STM32F103. */
export const DEFAULT_IDENTITY_ADDRESS = 0x0800fc00;

/**
 * Why `address` cannot hold the identity record (`bytes` long), or undefined. The identity step
 * erases the whole page/sector under the record (`flash erase_address pad`), so that unit must
 * hold no image region.
 */
export function identityProblem(chip: TargetChip, address: number, bytes: number, regions: readonly RegionSpan[]): string | undefined {
  const first = eraseUnitAt(chip, address);
  const last = eraseUnitAt(chip, address + bytes - 1);
  if (!first || !last) {
    const what = memoryName(address);
    return `identity address ${hex(address)} is outside ${chip.part} flash ${hex(chip.flashBase)}-${hex(chip.flashBase + chip.flashSize - 1)}${what ? ` (${what})` : ''}`;
  }
  if (address % chip.chip.writeUnit !== 0) return `identity address ${hex(address)} is not aligned to the ${chip.chip.name}'s ${chip.chip.writeUnit}-byte programming unit`;
  const start = first.start;
  const end = last.start + last.size;
  const word = unitWord(chip);
  const span = first.index === last.index ? `${word} ${first.index} (${hex(start)}-${hex(end - 1)}, ${kib(first.size)})` : `${word}s ${first.index}-${last.index} (${hex(start)}-${hex(end - 1)})`;
  for (const r of regions) {
    if (r.address < end && start < r.address + r.size) {
      return `identity address ${hex(address)} lies in ${span}, which region "${r.name}" (${hex(r.address)}-${hex(r.address + r.size - 1)}) also uses: writing the identity erases that whole ${word} and the firmware in it; put the identity in a ${word} of its own`;
    }
  }
  return undefined;
}

// --- plans against a target ---------------------------------------------------------------------

/** What checkPlanAgainstTarget needs of a parsed plan file (config/yaml.ts's YamlSource fits). */
export interface PlanSourceLike<I> {
  readonly value: unknown;
  issue(path: readonly PropertyKey[], message: string): I;
}

/** Size of the identity record the identity step writes (steps/identity-record.ts). */
export const IDENTITY_RECORD_BYTES = 64;

/**
 * A plan checked against the part it programs: the target is known; every identity step's
 * address (param `address`, default 0x0800FC00) lies in flash, in a page/sector no image region
 * uses; every lock step's `family` (if given) is the target's family. Issues carry the plan's file
 * and line through `plan.issue`. Pure: reads nothing.
 */
export function checkPlanAgainstTarget<I>(plan: PlanSourceLike<I>, target: string, regions: readonly RegionSpan[] = []): I[] {
  let chip: TargetChip;
  try {
    chip = parseTarget(target);
  } catch (e) {
    return [plan.issue([], (e as Error).message)];
  }
  const issues: I[] = [];
  for (const use of planIdentityAddresses(plan.value)) {
    const problem = identityProblem(chip, use.address, IDENTITY_RECORD_BYTES, regions);
    if (problem) issues.push(plan.issue(use.explicit ? [...use.path, 'params', 'address'] : [...use.path, 'kind'], use.explicit ? problem : `${problem} (the default address; set params.address)`));
  }
  for (const { path, params } of planSteps(plan.value)) {
    if (params.kind !== 'lock' || typeof params.family !== 'string') continue;
    const given = params.family;
    let fam: ChipFamily;
    try {
      fam = chipFamily(given);
    } catch (e) {
      issues.push(plan.issue([...path, 'params', 'family'], (e as Error).message));
      continue;
    }
    if (fam.id !== chip.family) issues.push(plan.issue([...path, 'params', 'family'], `lock family "${given}" is ${fam.name}, but the target ${chip.part} is ${chip.chip.name}`));
  }
  return issues;
}

/** Where a plan's identity steps write their record: params.address, or the default. */
export function planIdentityAddresses(planValue: unknown): { path: (string | number)[]; address: number; explicit: boolean }[] {
  const out: { path: (string | number)[]; address: number; explicit: boolean }[] = [];
  for (const { path, params } of planSteps(planValue)) {
    if (params.kind !== 'identity') continue;
    const raw = params.address;
    if (raw === undefined) out.push({ path, address: DEFAULT_IDENTITY_ADDRESS, explicit: false });
    else if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) out.push({ path, address: raw, explicit: true });
    else if (typeof raw === 'string' && /^0x[0-9a-f]{1,8}$/i.test(raw)) out.push({ path, address: Number(raw), explicit: true });
    // anything else: the identity step's own schema reports it
  }
  return out;
}

function planSteps(planValue: unknown): { path: (string | number)[]; params: { kind: unknown; address?: unknown; family?: unknown } }[] {
  const out: { path: (string | number)[]; params: { kind: unknown; address?: unknown; family?: unknown } }[] = [];
  const value = planValue as { steps?: unknown; teardown?: unknown } | null;
  for (const section of ['steps', 'teardown'] as const) {
    const steps = value && typeof value === 'object' ? value[section] : undefined;
    if (!Array.isArray(steps)) continue;
    steps.forEach((step: unknown, i) => {
      if (!step || typeof step !== 'object') return;
      const s = step as { kind?: unknown; params?: unknown };
      const p = (s.params && typeof s.params === 'object' ? s.params : {}) as Record<string, unknown>;
      out.push({ path: [section, i], params: { kind: s.kind, address: p['address'], family: p['family'] } });
    });
  }
  return out;
}

/** Why a probe's openocd target script cannot program `target`, or undefined. */
export function probeScriptProblem(script: string, target: string): string | undefined {
  const chip = parseTarget(target);
  let fam: ChipFamily;
  try {
    fam = chipFamily(script);
  } catch {
    return `target script "${script}" is not a stock script pijig knows for ${chip.chip.name} (${chip.targetScript})`;
  }
  if (fam.id !== chip.family) return `target script "${script}" is for ${fam.name}, but ${chip.part} is ${chip.chip.name} (${chip.targetScript})`;
  if (scriptName(script) !== scriptName(chip.targetScript) && chip.targetScript !== chip.chip.targetScript) {
    return `${chip.part} is dual bank: target script "${script}" reaches only the first bank; use ${chip.targetScript}`;
  }
  return undefined;
}

// --- raw binaries only --------------------------------------------------------------------------

export type FirmwareFileKind = 'elf' | 'ihex' | 'srec' | 'bin';

/**
 * What a firmware file's bytes are: an ELF (its magic), Intel HEX or Motorola S-record text (the
 * first record is well formed with a correct checksum), or anything else, taken as a raw binary.
 * A raw image that happens to start with such a record is vanishingly unlikely: its checksum must
 * also hold.
 */
export function firmwareFileKind(bytes: Uint8Array): FirmwareFileKind {
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return 'elf';
  let i = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0; // UTF-8 BOM
  while (i < bytes.length && i < 16 && (bytes[i] === 0x0d || bytes[i] === 0x0a || bytes[i] === 0x20 || bytes[i] === 0x09)) i++;
  let end = i;
  while (end < bytes.length && end - i < 600 && bytes[end] !== 0x0a && bytes[end] !== 0x0d) end++;
  const line = String.fromCharCode(...bytes.subarray(i, end));
  // Intel HEX: count, address, type, data and checksum sum to 0 (mod 256).
  if (/^:[0-9A-Fa-f]{10,}$/.test(line) && recordOk(line.slice(1), (b) => b[0]! + 5 === b.length, 0)) return 'ihex';
  // S-record: the count covers address, data and checksum; the checksum is the ones' complement of the rest.
  if (/^S[0-9][0-9A-Fa-f]{8,}$/.test(line) && recordOk(line.slice(2), (b) => b[0]! + 1 === b.length, 0xff)) return 'srec';
  return 'bin';
}

function recordOk(hexText: string, lengthOk: (bytes: number[]) => boolean, sum: number): boolean {
  if (hexText.length % 2 !== 0) return false;
  const b: number[] = [];
  for (let k = 0; k < hexText.length; k += 2) b.push(Number.parseInt(hexText.slice(k, k + 2), 16));
  return lengthOk(b) && (b.reduce((s, x) => s + x, 0) & 0xff) === sum;
}

export const FILE_KIND_NAMES: Readonly<Record<FirmwareFileKind, string>> = { elf: 'an ELF file', ihex: 'Intel HEX text', srec: 'Motorola S-record text', bin: 'a raw binary' };

// --- helpers ------------------------------------------------------------------------------------

function memoryName(address: number): string | undefined {
  if (address >= 0x20000000 && address < 0x40000000) return 'SRAM, not flash';
  if (address >= 0x40000000 && address < 0x60000000) return 'peripheral registers';
  if (address >= 0x1fff0000 && address < 0x20000000) return 'system memory / option bytes';
  if (address < 0x08000000) return 'below flash (the boot alias)';
  return undefined;
}

export function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;
}

function kib(bytes: number): string {
  return bytes >= 1024 * KiB && bytes % (1024 * KiB) === 0 ? `${bytes / (1024 * KiB)} MiB` : bytes % KiB === 0 ? `${bytes / KiB} KiB` : `${bytes} B`;
}
