/**
 * The debug side of a Cortex-M3 r1p1 (ARMv7-M ARM, part C1): the System Control Space registers
 * openocd's cortex_m target uses, the core register file behind DCRSR/DCRDR, FPB and DWT.
 * No instructions execute: "running" only means not halted.
 */

export const CPUID_M3_R1P1 = 0x411fc231;

const CPUID = 0xe000ed00;
const AIRCR = 0xe000ed0c;
const DFSR = 0xe000ed30;
const DHCSR = 0xe000edf0;
const DCRSR = 0xe000edf4;
const DCRDR = 0xe000edf8;
const DEMCR = 0xe000edfc;
const DWT_CTRL = 0xe0001000;
const FP_CTRL = 0xe0002000;

// DHCSR
const C_DEBUGEN = 1 << 0;
const C_HALT = 1 << 1;
const C_STEP = 1 << 2;
const C_CONTROL = 0x2f; // C_DEBUGEN, C_HALT, C_STEP, C_MASKINTS, C_SNAPSTALL
const S_REGRDY = 1 << 16;
const S_HALT = 1 << 17;
const S_RETIRE_ST = 1 << 24;
const S_RESET_ST = 1 << 25;
const DBGKEY = 0xa05f;
// DFSR
const DFSR_HALTED = 1 << 0;
const DFSR_VCATCH = 1 << 3;
// DEMCR
const VC_CORERESET = 1 << 0;
// AIRCR
const VECTKEY = 0x05fa;
const VECTKEYSTAT = 0xfa05;
const SYSRESETREQ = 1 << 2;
const VECTRESET = 1 << 0;
/** FP_CTRL: 6 code and 2 literal comparators (Cortex-M3 TRM 11.4.1). */
const FP_CTRL_ID = 0x260;
/** DWT_CTRL: NUMCOMP = 4. */
const DWT_CTRL_ID = 0x40000000;

// DCRSR REGSEL numbers
const REG_SP = 13;
const REG_PC = 15;
const REG_XPSR = 16;
const REG_MSP = 17;
const REG_LR = 14;

export interface CortexM3Hooks {
  /** SYSRESETREQ: the whole chip resets (the STM32 also reloads its option bytes). */
  systemResetRequest(): void;
}

export class CortexM3 {
  private halted = false;
  private control = 0;
  private resetSticky = false;
  private demcr = 0;
  private dfsr = 0;
  private dcrdr = 0;
  private prigroup = 0;
  private fpEnable = 0;
  private dwtCtrl = 0;
  /** Core registers by DCRSR REGSEL. */
  private readonly regs = new Uint32Array(128);
  /** Every other SCS/DWT/FPB/ITM word: reads back what was written (comparators, VTOR, ...). */
  private readonly other = new Map<number, number>();

  constructor(private readonly hooks: CortexM3Hooks) {}

  get isHalted(): boolean {
    return this.halted;
  }

  /** The core's PC as the debugger sees it. */
  get pc(): number {
    return this.regs[REG_PC]!;
  }

  /** Power-on reset: the debug domain is cleared too. */
  powerOnReset(msp: number, reset: number): void {
    this.control = 0;
    this.demcr = 0;
    this.dfsr = 0;
    this.dcrdr = 0;
    this.prigroup = 0;
    this.fpEnable = 0;
    this.dwtCtrl = 0;
    this.other.clear();
    this.coreReset(msp, reset);
  }

  /**
   * Core reset (SYSRESETREQ, NRST, VECTRESET): registers reload from the vector table; the debug
   * registers survive. With DEMCR.VC_CORERESET (openocd's `reset halt`) the core halts on the
   * first instruction, otherwise it runs unless C_HALT is still set.
   */
  coreReset(msp: number, reset: number): void {
    this.regs.fill(0);
    this.regs[REG_MSP] = msp & ~3;
    this.regs[REG_SP] = msp & ~3;
    this.regs[REG_PC] = reset & ~1;
    this.regs[REG_LR] = 0xffffffff;
    this.regs[REG_XPSR] = 0x01000000; // Thumb state
    this.resetSticky = true;
    const debug = (this.control & C_DEBUGEN) !== 0;
    if (debug && this.demcr & VC_CORERESET) {
      this.halted = true;
      this.control |= C_HALT;
      this.dfsr |= DFSR_VCATCH;
    } else {
      this.halted = debug && (this.control & C_HALT) !== 0;
    }
  }

  read(address: number): number {
    switch (address) {
      case CPUID:
        return CPUID_M3_R1P1;
      case AIRCR:
        return ((VECTKEYSTAT << 16) | (this.prigroup << 8)) >>> 0;
      case DFSR:
        return this.dfsr;
      case DHCSR: {
        let v = (this.control & C_CONTROL) | S_REGRDY; // register transfers complete instantly
        if (this.halted) v |= S_HALT;
        else v |= S_RETIRE_ST;
        if (this.resetSticky) v |= S_RESET_ST;
        this.resetSticky = false; // S_RESET_ST and S_RETIRE_ST clear on read
        return v >>> 0;
      }
      case DCRSR:
        return 0;
      case DCRDR:
        return this.dcrdr;
      case DEMCR:
        return this.demcr;
      case DWT_CTRL:
        return (DWT_CTRL_ID | (this.dwtCtrl & 0x0fffffff)) >>> 0;
      case FP_CTRL:
        return FP_CTRL_ID | this.fpEnable;
      default:
        return this.other.get(address) ?? 0;
    }
  }

  write(address: number, value: number): void {
    switch (address) {
      case CPUID:
        return;
      case AIRCR:
        if (value >>> 16 !== VECTKEY) return;
        this.prigroup = (value >>> 8) & 7;
        if (value & SYSRESETREQ) this.hooks.systemResetRequest();
        else if (value & VECTRESET) this.coreReset(this.regs[REG_MSP]!, this.regs[REG_PC]!);
        return;
      case DFSR:
        this.dfsr &= ~value; // write 1 to clear
        return;
      case DHCSR:
        if (value >>> 16 !== DBGKEY) return;
        this.writeDhcsr(value & C_CONTROL);
        return;
      case DCRSR: {
        const sel = value & 0x7f;
        if (value & (1 << 16)) {
          this.regs[sel] = this.dcrdr;
          if (sel === REG_SP) this.regs[REG_MSP] = this.dcrdr; // SPSEL is 0: SP is MSP
          else if (sel === REG_MSP) this.regs[REG_SP] = this.dcrdr;
        } else {
          this.dcrdr = this.regs[sel]!;
        }
        return;
      }
      case DCRDR:
        this.dcrdr = value >>> 0;
        return;
      case DEMCR:
        this.demcr = value >>> 0;
        return;
      case DWT_CTRL:
        this.dwtCtrl = value >>> 0;
        return;
      case FP_CTRL:
        if (value & 2) this.fpEnable = value & 1; // KEY must be set for ENABLE to change
        return;
      default:
        this.other.set(address, value >>> 0);
    }
  }

  private writeDhcsr(control: number): void {
    if (!(control & C_DEBUGEN)) {
      this.control = 0;
      this.halted = false;
      return;
    }
    this.control = control;
    if (control & C_HALT) {
      if (!this.halted) this.dfsr |= DFSR_HALTED;
      this.halted = true;
    } else if (this.halted) {
      if (control & C_STEP) this.dfsr |= DFSR_HALTED; // a step retires nothing here and halts again
      else this.halted = false;
    }
  }
}
