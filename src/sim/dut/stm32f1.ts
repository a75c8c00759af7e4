import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../util/fs.js';
import { CortexM3 } from './cortex-m3.js';
import { JtagDp, type MemoryBus } from './dap.js';
import { SimDutError } from './errors.js';
import { IdcodeTap, JtagChain, type JtagHost } from './jtag.js';

/**
 * A simulated STM32F103 (medium density) as its debug port sees it: JTAG chain, DAP, Cortex-M3
 * debug registers, main flash with its controller (FPEC), option bytes and read-out protection.
 * Register facts from RM0008 (reference manual) and PM0075 (flash programming manual).
 */

export const FLASH_BASE = 0x08000000;
export const PAGE_SIZE = 1024;
const SRAM_BASE = 0x20000000;
const SRAM_SIZE = 20 * 1024;
const SYSMEM_BASE = 0x1ffff000; // boot loader ROM, then the device signature
const FLASH_SIZE_REG = 0x1ffff7e0; // u16, KiB
const UID_REG = 0x1ffff7e8; // 96-bit unique ID
const OPTION_BYTES = 0x1ffff800;
const DBGMCU_IDCODE = 0xe0042000;
/** DEV_ID 0x410 (medium density), REV_ID 0x2003 (revision X). */
export const DBGMCU_IDCODE_F103 = 0x20036410;
/** Boundary-scan TAP of the medium-density F1 (RM0008 31.6.2). */
const BS_IDCODE = 0x06410041;

// FPEC (flash interface) registers, base 0x40022000
const FPEC = 0x40022000;
const FLASH_ACR = FPEC + 0x00;
const FLASH_KEYR = FPEC + 0x04;
const FLASH_OPTKEYR = FPEC + 0x08;
const FLASH_SR = FPEC + 0x0c;
const FLASH_CR = FPEC + 0x10;
const FLASH_AR = FPEC + 0x14;
const FLASH_OBR = FPEC + 0x1c;
const FLASH_WRPR = FPEC + 0x20;
export const FLASH_KEY1 = 0x45670123;
export const FLASH_KEY2 = 0xcdef89ab;
// FLASH_SR
const SR_BSY = 1 << 0;
const SR_PGERR = 1 << 2;
const SR_WRPRTERR = 1 << 4;
const SR_EOP = 1 << 5;
// FLASH_CR
const CR_PG = 1 << 0;
const CR_PER = 1 << 1;
const CR_MER = 1 << 2;
const CR_OPTPG = 1 << 4;
const CR_OPTER = 1 << 5;
const CR_STRT = 1 << 6;
const CR_LOCK = 1 << 7;
const CR_OPTWRE = 1 << 9;
const CR_WRITABLE = CR_PG | CR_PER | CR_MER | CR_OPTPG | CR_OPTER | (1 << 10) | (1 << 12); // + ERRIE, EOPIE

/** RDP byte value that means "not protected"; anything else (or a bad complement) protects. */
const RDP_KEY = 0xa5;
/** Factory option bytes: RDP=A5, USER/DATA/WRP all 0xFF, each followed by its complement. */
const FACTORY_OPTION_BYTES = [0xa5, 0x5a, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00, 0xff, 0x00];

/** Faults a test or the virtual jig can inject. Mutable: set them on `chip.faults` at any time. */
export interface DutFaults {
  /** The target stops answering: the adapter gets no reply to 'R', so openocd blocks. */
  silent: boolean;
  /** The adapter connection closes (cleanly) after this many main-flash half-words were
   *  programmed in that connection: a connection dropped mid-programming. */
  dropAfterHalfwords?: number | undefined;
  /** A flash bit that always reads back this value, whatever is programmed or erased. */
  stuckBit?: { address: number; bit: number; value: 0 | 1 } | undefined;
  /** TDO stuck: `true`/'zeros' reads all zeros, 'ones' all ones (a broken scan chain). */
  deadScanChain: boolean | 'zeros' | 'ones';
  /** Read-out protection never takes effect: the RDP option byte is written but not applied at
   *  reset (a lock that must not be trusted without proof). */
  lockIneffective?: boolean | undefined;
}

export type ResetKind = 'power-on' | 'system' | 'pin';

export interface SimStm32Events {
  reset: [kind: ResetKind];
  power: [on: boolean];
  /** A main-flash program operation (one half-word; address is absolute). */
  'flash-write': [address: number, length: number];
  /** A page erase or mass erase of main flash. */
  'flash-erase': [address: number, length: number];
  /** Read-out protection changed, as loaded from the option bytes at reset. */
  lock: [locked: boolean];
}

export interface SimStm32Options {
  /** Main flash size in KiB, 1 KiB pages (default 64, an STM32F103x8). */
  flashKiB?: number;
  /** Whether the chip starts powered (default true). */
  powered?: boolean;
  /** The 96-bit unique ID (12 bytes); random by default. */
  uid?: Uint8Array;
}

const STATE_MAGIC = 'PJSTM32F';
const STATE_VERSION = 1;
const STATE_HEADER = 8 + 4 + 4 + 16 + 12;

export class SimStm32 extends EventEmitter<SimStm32Events> implements JtagHost, MemoryBus {
  /** Main flash; index 0 is address 0x08000000. */
  readonly flash: Uint8Array;
  /** The 16 option bytes as stored at 0x1FFFF800 (each value followed by its complement). */
  readonly optionBytes = Uint8Array.from(FACTORY_OPTION_BYTES);
  readonly uid: Uint8Array;
  readonly faults: DutFaults = { silent: false, deadScanChain: false };
  readonly jtag: JtagChain;
  /** Main-flash half-words programmed since this object was made. */
  halfwordsProgrammed = 0;

  private readonly flashSize: number;
  private readonly sram = new Uint8Array(SRAM_SIZE);
  private readonly dp: JtagDp;
  private readonly core: CortexM3;
  /** Peripheral and PPB words nobody models: read back what was written (DBGMCU_CR, RCC, ...). */
  private readonly registers = new Map<number, number>();
  private isPowered: boolean;
  private srst = false;

  // FPEC
  private crLocked = true;
  private keyStep = 0;
  private optKeyStep = 0;
  /** A wrong KEYR sequence locks the FPEC until the next reset (PM0075 2.3.1). */
  private fpecJammed = false;
  private cr = 0;
  private sr = 0;
  private ar = 0;
  private acr = 0x30;
  // Option bytes as loaded at the last reset
  private obr = 0;
  private wrpr = 0xffffffff;
  private rdpActive = false;

  constructor(opts: SimStm32Options = {}) {
    super();
    const kib = opts.flashKiB ?? 64;
    if (!Number.isInteger(kib) || kib < 16 || kib > 128) throw new SimDutError('BAD_OPTION', `flashKiB must be an integer 16..128, got ${kib}`);
    if (opts.uid && opts.uid.length !== 12) throw new SimDutError('BAD_OPTION', 'uid must be 12 bytes');
    this.flashSize = kib * 1024;
    this.flash = new Uint8Array(this.flashSize).fill(0xff);
    this.uid = opts.uid ? Uint8Array.from(opts.uid) : new Uint8Array(randomBytes(12));
    this.core = new CortexM3({ systemResetRequest: () => this.systemReset('system') });
    this.dp = new JtagDp(this);
    // openocd's stm32f1x.cfg: cpu TAP (JTAG-DP) nearest TDO, then the boundary-scan TAP.
    this.jtag = new JtagChain(this, [this.dp, new IdcodeTap(5, BS_IDCODE, 0b00001)]);
    this.isPowered = false;
    if (opts.powered ?? true) this.power(true);
  }

  get flashKiB(): number {
    return this.flashSize / 1024;
  }

  /** Read-out protection in force (loaded from the option bytes at the last reset). */
  get locked(): boolean {
    return this.rdpActive;
  }

  get powered(): boolean {
    return this.isPowered;
  }

  /** Whether the core is halted by the debugger. */
  get halted(): boolean {
    return this.core.isHalted;
  }

  get tdoStuck(): -1 | 0 | 1 {
    const dead = this.faults.deadScanChain;
    return dead === false ? -1 : dead === 'ones' ? 1 : 0;
  }

  /** Power on (a power-on reset, option bytes loaded) or off. Flash and option bytes persist. */
  power(on: boolean): void {
    if (on === this.isPowered) return;
    this.isPowered = on;
    this.emit('power', on);
    if (!on) return;
    this.sram.fill(0);
    this.registers.clear();
    this.dp.powerOn();
    this.jtag.reset();
    const [msp, pc] = this.vectors();
    this.core.powerOnReset(msp, pc);
    this.resetPeripherals();
    this.emit('reset', 'power-on');
  }

  /** A pulse on NRST: system reset, option bytes reloaded; the debug domain keeps its state. */
  reset(): void {
    if (this.isPowered) this.systemReset('pin');
  }

  /**
   * What `stm32f1x lock 0` + reset does (on) or `stm32f1x unlock 0` + reset (off: the main flash
   * is mass-erased by the unprotection, as on the real part).
   */
  setReadProtection(on: boolean): void {
    this.optionBytes.set(FACTORY_OPTION_BYTES);
    if (on) {
      this.optionBytes[0] = 0x00;
      this.optionBytes[1] = 0xff;
    } else {
      this.eraseFlash(0, this.flashSize);
    }
    if (this.isPowered) this.systemReset('pin');
    else this.loadOptionBytes();
  }

  /** SRST from the adapter: reset is held while asserted and released on deassert. */
  setSrst(asserted: boolean): void {
    if (asserted === this.srst) return;
    this.srst = asserted;
    if (!asserted) this.reset();
  }

  // ---- memory map (MemoryBus) ----

  read(address: number, size: 1 | 2 | 4): number {
    if (address < SRAM_BASE) {
      let offset = address - FLASH_BASE;
      if (address < this.flashSize) offset = address; // boot alias of flash at 0
      if (offset >= 0 && offset < this.flashSize) {
        // With read-out protection and a debugger attached, flash reads are bus errors.
        if (this.rdpActive) return -1;
        return readLe(this.flash, offset, size);
      }
      if (address >= OPTION_BYTES && address < OPTION_BYTES + 16) return readLe(this.optionBytes, address - OPTION_BYTES, size);
      if (address >= SYSMEM_BASE && address < OPTION_BYTES) return this.readSystemMemory(address, size);
      return -1;
    }
    if (address < SRAM_BASE + SRAM_SIZE) return readLe(this.sram, address - SRAM_BASE, size);
    if (address >= 0x40000000 && address < 0x60000000) {
      const word = address >= FPEC && address < FPEC + 0x400 ? this.readFpec(address & ~3) : this.registers.get(address & ~3) ?? 0;
      return lane(word, address, size);
    }
    if (address >= 0xe0000000 && address < 0xe0100000) {
      const aligned = (address & ~3) >>> 0;
      const word = aligned === DBGMCU_IDCODE ? DBGMCU_IDCODE_F103 : aligned >= 0xe00ff000 ? romTable(aligned) : this.core.read(aligned);
      return lane(word, address, size);
    }
    return -1;
  }

  write(address: number, size: 1 | 2 | 4, value: number): boolean {
    if (address < SRAM_BASE) {
      const offset = address - FLASH_BASE;
      if (offset >= 0 && offset < this.flashSize) return this.programFlash(offset, size, value);
      if (address >= OPTION_BYTES && address < OPTION_BYTES + 16) return this.programOptionByte(address - OPTION_BYTES, size, value);
      return false;
    }
    if (address < SRAM_BASE + SRAM_SIZE) {
      writeLe(this.sram, address - SRAM_BASE, size, value);
      return true;
    }
    if (address >= 0x40000000 && address < 0x60000000) {
      const aligned = address & ~3;
      if (address >= FPEC && address < FPEC + 0x400) {
        // The FPEC registers are only written as words by openocd; narrower writes merge.
        return this.writeFpec(aligned, size === 4 ? value : merge(this.readFpec(aligned), address, size, value));
      }
      this.registers.set(aligned, size === 4 ? value >>> 0 : merge(this.registers.get(aligned) ?? 0, address, size, value));
      return true;
    }
    if (address >= 0xe0000000 && address < 0xe0100000) {
      const aligned = (address & ~3) >>> 0;
      if (aligned === DBGMCU_IDCODE || aligned >= 0xe00ff000) return true; // read-only
      this.core.write(aligned, size === 4 ? value : merge(this.core.read(aligned), address, size, value));
      return true;
    }
    return false;
  }

  // ---- persistence ----

  /** Save flash, option bytes and UID; written atomically (temp file, fsync, rename, fsync dir). */
  async saveFlash(path: string): Promise<void> {
    const out = Buffer.alloc(STATE_HEADER + this.flashSize);
    out.write(STATE_MAGIC, 0, 'ascii');
    out.writeUInt32LE(STATE_VERSION, 8);
    out.writeUInt32LE(this.flashKiB, 12);
    out.set(this.optionBytes, 16);
    out.set(this.uid, 32);
    out.set(this.flash, STATE_HEADER);
    try {
      await writeFileAtomic(path, out);
    } catch (cause) {
      throw new SimDutError('STATE_IO', `cannot save the simulated STM32 to ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * A chip with the flash, option bytes and UID saved by `saveFlash`, freshly powered on (so the
   * saved read-out protection is in force). `missingOk` gives a blank chip when there is no file.
   */
  static async loadFlash(path: string, opts: { missingOk?: boolean; powered?: boolean } = {}): Promise<SimStm32> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
        if (opts.missingOk) return new SimStm32({ powered: opts.powered ?? true });
        throw new SimDutError('STATE_MISSING', `no saved simulated STM32 at ${path}`, { cause });
      }
      throw new SimDutError('STATE_IO', `cannot read the simulated STM32 from ${path}: ${(cause as Error).message}`, { cause });
    }
    const bad = (why: string) => new SimDutError('STATE_CORRUPT', `${path} is not a saved simulated STM32: ${why}`);
    if (data.length < STATE_HEADER || data.toString('ascii', 0, 8) !== STATE_MAGIC) throw bad('bad magic');
    if (data.readUInt32LE(8) !== STATE_VERSION) throw bad(`version ${data.readUInt32LE(8)}`);
    const kib = data.readUInt32LE(12);
    if (data.length !== STATE_HEADER + kib * 1024) throw bad(`${data.length} bytes for ${kib} KiB of flash`);
    const chip = new SimStm32({ flashKiB: kib, uid: data.subarray(32, 44), powered: false });
    chip.optionBytes.set(data.subarray(16, 32));
    chip.flash.set(data.subarray(STATE_HEADER));
    chip.loadOptionBytes();
    if (opts.powered ?? true) chip.power(true);
    return chip;
  }

  // ---- internals ----

  private systemReset(kind: ResetKind): void {
    this.resetPeripherals();
    const [msp, pc] = this.vectors();
    this.core.coreReset(msp, pc);
    this.emit('reset', kind);
  }

  private resetPeripherals(): void {
    this.crLocked = true;
    this.keyStep = 0;
    this.optKeyStep = 0;
    this.fpecJammed = false;
    this.cr = 0;
    this.sr = 0;
    this.ar = 0;
    this.acr = 0x30;
    this.loadOptionBytes();
  }

  /** Option bytes are loaded into OBR/WRPR, and RDP takes effect, only at reset (RM0008 2.5). */
  private loadOptionBytes(): void {
    const ob = this.optionBytes;
    const value = (i: number): [number, boolean] => {
      const ok = (ob[2 * i]! ^ ob[2 * i + 1]!) === 0xff;
      return [ok ? ob[2 * i]! : 0xff, ok]; // a bad complement loads 0xFF and flags OPTERR
    };
    let optErr = false;
    const bytes = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => {
      const [v, ok] = value(i);
      if (!ok) optErr = true;
      return v;
    });
    const wasLocked = this.rdpActive;
    this.rdpActive = bytes[0] !== RDP_KEY && !this.faults.lockIneffective;
    this.obr = ((optErr ? 1 : 0) | (this.rdpActive ? 2 : 0) | (bytes[1]! << 2) | (bytes[2]! << 10) | (bytes[3]! << 18)) >>> 0;
    this.wrpr = (bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24)) >>> 0;
    if (wasLocked !== this.rdpActive) this.emit('lock', this.rdpActive);
  }

  private vectors(): [number, number] {
    return [readLe(this.flash, 0, 4), readLe(this.flash, 4, 4)];
  }

  private readSystemMemory(address: number, size: 1 | 2 | 4): number {
    const aligned = address & ~3;
    // F_SIZE is a 16-bit register; the half-word above it reads as erased.
    if (aligned === FLASH_SIZE_REG) return lane((0xffff0000 | this.flashKiB) >>> 0, address, size);
    if (address >= UID_REG && address < UID_REG + 12) return readLe(this.uid, address - UID_REG, size);
    return 0; // the boot loader ROM is not modelled
  }

  private readFpec(aligned: number): number {
    switch (aligned) {
      case FLASH_ACR:
        return this.acr;
      case FLASH_SR:
        return this.sr;
      case FLASH_CR:
        return this.cr | (this.crLocked ? CR_LOCK : 0);
      case FLASH_AR:
        return this.ar;
      case FLASH_OBR:
        return this.obr;
      case FLASH_WRPR:
        return this.wrpr;
      default:
        return 0; // KEYR/OPTKEYR are write-only
    }
  }

  private writeFpec(aligned: number, value: number): boolean {
    switch (aligned) {
      case FLASH_ACR:
        this.acr = value & 0x1f;
        return true;
      case FLASH_KEYR:
        if (this.fpecJammed) return false;
        if (!this.crLocked) return true; // already unlocked: the keys are ignored
        if (this.keyStep === 0 && value === FLASH_KEY1) this.keyStep = 1;
        else if (this.keyStep === 1 && value === FLASH_KEY2) {
          this.keyStep = 0;
          this.crLocked = false;
        } else {
          this.fpecJammed = true; // wrong sequence: bus error, locked until reset
          return false;
        }
        return true;
      case FLASH_OPTKEYR:
        if (this.crLocked) return true;
        if (this.optKeyStep === 0 && value === FLASH_KEY1) this.optKeyStep = 1;
        else if (this.optKeyStep === 1 && value === FLASH_KEY2) {
          this.optKeyStep = 0;
          this.cr |= CR_OPTWRE;
        } else this.optKeyStep = 0;
        return true;
      case FLASH_SR:
        this.sr &= ~(value & (SR_PGERR | SR_WRPRTERR | SR_EOP)); // write 1 to clear
        return true;
      case FLASH_CR:
        this.writeCr(value);
        return true;
      case FLASH_AR:
        if (!this.crLocked) this.ar = value >>> 0;
        return true;
      default:
        return true;
    }
  }

  private writeCr(value: number): void {
    if (this.crLocked) return;
    if (value & CR_LOCK) {
      this.crLocked = true;
      this.cr = 0;
      return;
    }
    // OPTWRE is set only by the OPTKEYR sequence; writing 0 clears it.
    this.cr = (value & CR_WRITABLE) | (this.cr & value & CR_OPTWRE);
    if (!(value & CR_STRT)) return;
    // Every operation completes within the write: BSY is never seen set.
    if (value & CR_PER) this.erasePage();
    else if (value & CR_MER) {
      this.eraseFlash(0, this.flashSize);
      this.sr |= SR_EOP;
    } else if (value & CR_OPTER) {
      if (!(this.cr & CR_OPTWRE)) {
        this.sr |= SR_WRPRTERR;
        return;
      }
      // Removing read protection wipes the main flash (PM0075 2.4.1).
      if (this.rdpActive) this.eraseFlash(0, this.flashSize);
      this.optionBytes.fill(0xff);
      this.sr |= SR_EOP;
    }
    this.sr &= ~SR_BSY;
  }

  private erasePage(): void {
    const offset = this.ar - FLASH_BASE;
    if (offset < 0 || offset >= this.flashSize) return;
    const page = Math.floor(offset / PAGE_SIZE);
    if (this.writeProtected(page)) {
      this.sr |= SR_WRPRTERR;
      return;
    }
    this.eraseFlash(page * PAGE_SIZE, PAGE_SIZE);
    this.sr |= SR_EOP;
  }

  /**
   * Read-out protection forbids every program and page erase while a debugger is attached;
   * a cleared WRPR bit protects its group of 4 pages (bit 31: all pages above).
   */
  private writeProtected(page: number): boolean {
    if (this.rdpActive) return true;
    const bit = Math.min(page >> 2, 31);
    return (this.wrpr & (1 << bit)) === 0;
  }

  private programFlash(offset: number, size: 1 | 2 | 4, value: number): boolean {
    // Writes outside programming mode, or not a half-word, are bus errors (RM0008 3.3.3).
    if (!(this.cr & CR_PG) || this.crLocked || size !== 2) return false;
    if (this.writeProtected(Math.floor(offset / PAGE_SIZE))) {
      this.sr |= SR_WRPRTERR;
      return true;
    }
    const current = this.flash[offset]! | (this.flash[offset + 1]! << 8);
    // Only an erased half-word can be programmed, except that 0x0000 may always be written.
    if (current !== 0xffff && value !== 0) {
      this.sr |= SR_PGERR;
      return true;
    }
    this.flash[offset] = value & 0xff;
    this.flash[offset + 1] = value >>> 8;
    this.applyStuckBit(offset, 2);
    this.sr |= SR_EOP;
    this.halfwordsProgrammed++;
    this.emit('flash-write', FLASH_BASE + offset, 2);
    return true;
  }

  private programOptionByte(offset: number, size: 1 | 2 | 4, value: number): boolean {
    if (!(this.cr & CR_OPTPG) || !(this.cr & CR_OPTWRE) || this.crLocked || size !== 2) return false;
    const ob = this.optionBytes;
    if (ob[offset] !== 0xff || ob[offset + 1] !== 0xff) {
      this.sr |= SR_PGERR;
      return true;
    }
    // Only the low byte is taken; the FPEC writes its complement into the high byte.
    ob[offset] = value & 0xff;
    ob[offset + 1] = ~value & 0xff;
    this.sr |= SR_EOP;
    return true;
  }

  private eraseFlash(offset: number, length: number): void {
    this.flash.fill(0xff, offset, offset + length);
    this.applyStuckBit(offset, length);
    this.emit('flash-erase', FLASH_BASE + offset, length);
  }

  private applyStuckBit(offset: number, length: number): void {
    const stuck = this.faults.stuckBit;
    if (!stuck) return;
    const at = stuck.address - FLASH_BASE;
    if (at < offset || at >= offset + length) return;
    const mask = 1 << stuck.bit;
    this.flash[at] = stuck.value ? this.flash[at]! | mask : this.flash[at]! & ~mask;
  }
}

function readLe(bytes: Uint8Array, offset: number, size: 1 | 2 | 4): number {
  if (size === 1) return bytes[offset]!;
  if (size === 2) return bytes[offset]! | (bytes[offset + 1]! << 8);
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>> 0;
}

function writeLe(bytes: Uint8Array, offset: number, size: 1 | 2 | 4, value: number): void {
  bytes[offset] = value;
  if (size >= 2) bytes[offset + 1] = value >>> 8;
  if (size === 4) {
    bytes[offset + 2] = value >>> 16;
    bytes[offset + 3] = value >>> 24;
  }
}

/** The `size` bytes at `address` out of the 32-bit word that holds them. */
function lane(word: number, address: number, size: 1 | 2 | 4): number {
  if (size === 4) return word >>> 0;
  const v = word >>> ((address & 3) * 8);
  return size === 1 ? v & 0xff : v & 0xffff;
}

function merge(word: number, address: number, size: 1 | 2 | 4, value: number): number {
  const shift = (address & 3) * 8;
  const mask = (size === 1 ? 0xff : 0xffff) << shift;
  return ((word & ~mask) | ((value << shift) & mask)) >>> 0;
}

/**
 * The Cortex-M3 ROM table at 0xE00FF000: SCS, DWT, FPB, ITM, TPIU, ETM, end marker, then the
 * component ID registers (class 1, ROM table).
 */
function romTable(aligned: number): number {
  const offset = aligned - 0xe00ff000;
  const entries = [0xfff0f003, 0xfff02003, 0xfff03003, 0xfff01003, 0xfff41003, 0xfff42003];
  if (offset < entries.length * 4) return entries[offset / 4]!;
  const cid: Record<number, number> = { 0xfd0: 0x04, 0xfe0: 0x10, 0xfe4: 0xb4, 0xfe8: 0x0b, 0xff0: 0x0d, 0xff4: 0x10, 0xff8: 0x05, 0xffc: 0xb1 };
  return cid[offset] ?? 0;
}
