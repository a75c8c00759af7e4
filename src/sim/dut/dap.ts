import type { ShiftRegister, Tap } from './jtag.js';

/**
 * ARM ADIv5 JTAG-DP with one AHB-AP (MEM-AP), as on the Cortex-M3 of an STM32F1
 * (ARM IHI 0031; openocd src/target/adi_v5_jtag.c is the other end).
 */

/** The system bus the MEM-AP masters. Addresses arrive aligned to the access size. */
export interface MemoryBus {
  /** The value (unsigned, `size` bytes), or -1 for a bus error. */
  read(address: number, size: 1 | 2 | 4): number;
  /** false for a bus error. */
  write(address: number, size: 1 | 2 | 4, value: number): boolean;
}

/** JTAG-DP instructions (4-bit IR). Anything else selects BYPASS. */
export const DpIr = { ABORT: 0x8, DPACC: 0xa, APACC: 0xb, IDCODE: 0xe, BYPASS: 0xf } as const;

/** ACK of a DPACC/APACC scan: JTAG-DP answers OK/FAULT (faults show in CTRL/STAT) or WAIT. */
const ACK_OK_FAULT = 0b010;

// CTRL/STAT (DP 0x4)
const ORUNDETECT = 1 << 0;
const STICKYORUN = 1 << 1;
const STICKYCMP = 1 << 4;
const STICKYERR = 1 << 5;
const CDBGRSTREQ = 1 << 26;
const CDBGRSTACK = 1 << 27;
const CDBGPWRUPREQ = 1 << 28;
const CDBGPWRUPACK = 1 << 29;
const CSYSPWRUPREQ = 1 << 30;
const CSYSPWRUPACK = 1 << 31;
const STICKY = STICKYORUN | STICKYCMP | STICKYERR;
/** Bits kept from a CTRL/STAT write: the requests, ORUNDETECT, TRNMODE, TRNCNT, MASKLANE. */
const CTRL_WRITABLE = (CSYSPWRUPREQ | CDBGPWRUPREQ | CDBGRSTREQ | 0x03ffff0c | ORUNDETECT) >>> 0;

// MEM-AP registers and CSW fields
const CSW_SIZE = 0x7;
const CSW_ADDRINC = 0x30;
const CSW_ADDRINC_SINGLE = 0x10;
const CSW_DEVICEEN = 1 << 6;
/** The AHB-AP of a Cortex-M3: AHB-AP, ARM designer code, MEM-AP class. */
export const AHB_AP_IDR = 0x24770011;
/** Debug base: the Cortex-M3 ROM table at 0xE00FF000, entry present. */
export const AHB_AP_BASE = 0xe00ff003;
/** openocd's note for Cortex-M3/M4: TAR auto-increment wraps at 4 KiB. */
const TAR_AUTOINC_BLOCK = 0x1000;

export class JtagDp implements Tap {
  readonly irLength = 4;
  readonly irCapture = 0b0001;
  private instruction: number = DpIr.IDCODE;

  private ctrl = 0;
  private sticky = 0;
  private select = 0;
  /** Presented in the next DPACC/APACC capture: the result of the previous read. */
  private readResult = 0;
  /** RDBUFF: the last AP read result. */
  private rdbuff = 0;

  private csw = CSW_DEVICEEN | 0x2;
  private tar = 0;

  constructor(
    private readonly bus: MemoryBus,
    readonly idcode = 0x3ba00477,
  ) {}

  /** Debug power-on: the DP and AP lose their state. */
  powerOn(): void {
    this.instruction = DpIr.IDCODE;
    this.ctrl = 0;
    this.sticky = 0;
    this.select = 0;
    this.readResult = 0;
    this.rdbuff = 0;
    this.csw = CSW_DEVICEEN | 0x2;
    this.tar = 0;
  }

  reset(): void {
    this.instruction = DpIr.IDCODE;
  }

  updateIr(ir: number): void {
    this.instruction = ir & 0xf;
  }

  captureDr(dr: ShiftRegister): void {
    switch (this.instruction) {
      case DpIr.DPACC:
      case DpIr.APACC:
      case DpIr.ABORT: {
        const data = this.readResult;
        dr.load(35, (ACK_OK_FAULT | (data << 3)) >>> 0, data >>> 29);
        return;
      }
      case DpIr.IDCODE:
        dr.load(32, this.idcode);
        return;
      default:
        dr.load(1, 0);
    }
  }

  updateDr(dr: ShiftRegister): void {
    const ir = this.instruction;
    if (ir !== DpIr.DPACC && ir !== DpIr.APACC) return; // ABORT: nothing is ever in flight to abort
    const lo = dr.lo;
    const read = (lo & 1) === 1;
    const a = (lo & 0x6) << 1; // A[3:2] as a byte address 0, 4, 8, C
    const data = ((lo >>> 3) | (dr.hi << 29)) >>> 0;
    if (ir === DpIr.DPACC) {
      if (read) this.readResult = this.dpRead(a);
      else this.dpWrite(a, data);
    } else {
      const reg = (this.select & 0xf0) | a;
      if ((this.select >>> 24) !== 0) {
        // No AP at this APSEL: reads as zero (IDR 0 ends openocd's AP search).
        if (read) this.rdbuff = this.readResult = 0;
        return;
      }
      if (read) this.rdbuff = this.readResult = this.apRead(reg);
      else this.apWrite(reg, data);
    }
  }

  private dpRead(a: number): number {
    switch (a) {
      case 0x4: {
        let v = this.ctrl | this.sticky;
        // The power domains come up as soon as they are requested.
        if (v & CDBGPWRUPREQ) v |= CDBGPWRUPACK;
        if (v & CSYSPWRUPREQ) v |= CSYSPWRUPACK;
        if (v & CDBGRSTREQ) v |= CDBGRSTACK;
        return v >>> 0;
      }
      case 0x8:
        return this.select;
      case 0xc:
        return this.rdbuff;
      default:
        return 0; // DPv0 (Cortex-M3 r1): no DPIDR
    }
  }

  private dpWrite(a: number, data: number): void {
    if (a === 0x4) {
      this.sticky &= ~(data & STICKY); // JTAG-DP: write 1 to clear
      this.ctrl = (data & CTRL_WRITABLE) >>> 0;
    } else if (a === 0x8) {
      this.select = data;
    }
  }

  private apRead(reg: number): number {
    switch (reg) {
      case 0x00:
        return this.csw;
      case 0x04:
        return this.tar;
      case 0x0c: {
        const size = this.csw & CSW_SIZE;
        const bytes = size === 0 ? 1 : size === 1 ? 2 : 4;
        const address = this.tar;
        const aligned = (address & ~(bytes - 1)) >>> 0;
        const value = this.bus.read(aligned, bytes);
        this.increment(bytes);
        if (value < 0) {
          this.sticky |= STICKYERR;
          return 0;
        }
        // Byte lanes: a narrow read arrives in the lanes its address selects.
        return bytes === 4 ? value : (value << ((aligned & 3) * 8)) >>> 0;
      }
      case 0x10:
      case 0x14:
      case 0x18:
      case 0x1c: {
        const value = this.bus.read(((this.tar & ~0xf) | (reg & 0xc)) >>> 0, 4);
        if (value < 0) {
          this.sticky |= STICKYERR;
          return 0;
        }
        return value;
      }
      case 0xf4:
        return 0; // CFG: 32-bit addresses, little endian
      case 0xf8:
        return AHB_AP_BASE;
      case 0xfc:
        return AHB_AP_IDR;
      default:
        return 0;
    }
  }

  private apWrite(reg: number, data: number): void {
    switch (reg) {
      case 0x00: {
        let size = data & CSW_SIZE;
        if (size > 2) size = 2;
        // Packed auto-increment is not implemented by this AP: the field reads back as off,
        // which is how openocd learns not to use it.
        const inc = (data & CSW_ADDRINC) === CSW_ADDRINC_SINGLE ? CSW_ADDRINC_SINGLE : 0;
        this.csw = ((data & ~(CSW_SIZE | CSW_ADDRINC | 0x80)) | size | inc | CSW_DEVICEEN) >>> 0;
        return;
      }
      case 0x04:
        this.tar = data;
        return;
      case 0x0c: {
        const size = this.csw & CSW_SIZE;
        const bytes = size === 0 ? 1 : size === 1 ? 2 : 4;
        const address = this.tar;
        const aligned = (address & ~(bytes - 1)) >>> 0;
        const value = bytes === 4 ? data : (data >>> ((aligned & 3) * 8)) & (bytes === 1 ? 0xff : 0xffff);
        const ok = this.bus.write(aligned, bytes, value);
        this.increment(bytes);
        if (!ok) this.sticky |= STICKYERR;
        return;
      }
      case 0x10:
      case 0x14:
      case 0x18:
      case 0x1c:
        if (!this.bus.write(((this.tar & ~0xf) | (reg & 0xc)) >>> 0, 4, data)) this.sticky |= STICKYERR;
        return;
    }
  }

  private increment(bytes: number): void {
    if ((this.csw & CSW_ADDRINC) !== CSW_ADDRINC_SINGLE) return;
    const t = this.tar;
    this.tar = ((t & ~(TAR_AUTOINC_BLOCK - 1)) | ((t + bytes) & (TAR_AUTOINC_BLOCK - 1))) >>> 0;
  }
}
