/**
 * IEEE 1149.1 TAP controller and a scan chain of TAPs, clocked one TCK rising edge at a time by
 * the remote_bitbang server. Registers are at most 35 bits (the ADIv5 DPACC/APACC scan), held as
 * two unsigned 32-bit numbers so the per-bit path allocates nothing.
 */

/** TAP controller states, numbered as in IEEE 1149.1 figure 6-1 (the order does not matter). */
export const TapState = {
  Reset: 0, Idle: 1,
  SelectDr: 2, CaptureDr: 3, ShiftDr: 4, Exit1Dr: 5, PauseDr: 6, Exit2Dr: 7, UpdateDr: 8,
  SelectIr: 9, CaptureIr: 10, ShiftIr: 11, Exit1Ir: 12, PauseIr: 13, Exit2Ir: 14, UpdateIr: 15,
} as const;
export type TapState = (typeof TapState)[keyof typeof TapState];

const S = TapState;
/** NEXT[state * 2 + tms] */
const NEXT = new Uint8Array([
  S.Idle, S.Reset, // Reset
  S.Idle, S.SelectDr, // Idle
  S.CaptureDr, S.SelectIr, // SelectDr
  S.ShiftDr, S.Exit1Dr, // CaptureDr
  S.ShiftDr, S.Exit1Dr, // ShiftDr
  S.PauseDr, S.UpdateDr, // Exit1Dr
  S.PauseDr, S.Exit2Dr, // PauseDr
  S.ShiftDr, S.UpdateDr, // Exit2Dr
  S.Idle, S.SelectDr, // UpdateDr
  S.CaptureIr, S.Reset, // SelectIr
  S.ShiftIr, S.Exit1Ir, // CaptureIr
  S.ShiftIr, S.Exit1Ir, // ShiftIr
  S.PauseIr, S.UpdateIr, // Exit1Ir
  S.PauseIr, S.Exit2Ir, // PauseIr
  S.ShiftIr, S.UpdateIr, // Exit2Ir
  S.Idle, S.SelectDr, // UpdateIr
]);

/** A shift register of 1..64 bits: bits 0..31 in `lo`, bits 32.. in `hi`. Bit 0 is next out on TDO. */
export class ShiftRegister {
  length = 1;
  lo = 0;
  hi = 0;

  load(length: number, lo: number, hi = 0): void {
    this.length = length;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** One Shift-xR clock: TDI enters at the top, the old bit 0 leaves (returned). */
  shift(tdi: number): number {
    const out = this.lo & 1;
    const n = this.length;
    if (n <= 32) {
      this.lo = ((this.lo >>> 1) | (tdi << (n - 1))) >>> 0;
    } else {
      this.lo = ((this.lo >>> 1) | ((this.hi & 1) << 31)) >>> 0;
      this.hi = ((this.hi >>> 1) | (tdi << (n - 33))) >>> 0;
    }
    return out;
  }
}

/** One TAP on the chain. The chain owns the shift registers; the TAP decides what they hold. */
export interface Tap {
  readonly irLength: number;
  /** Loaded into the IR in Capture-IR; IEEE 1149.1 requires the two low bits to be 0b01. */
  readonly irCapture: number;
  /** Test-Logic-Reset: the instruction becomes IDCODE (or BYPASS if the TAP has none). */
  reset(): void;
  updateIr(ir: number): void;
  /** Capture-DR: load the register the current instruction selects (set its length too). */
  captureDr(dr: ShiftRegister): void;
  updateDr(dr: ShiftRegister): void;
}

/** A TAP with only IDCODE and BYPASS, like the STM32F1 boundary-scan TAP as openocd uses it. */
export class IdcodeTap implements Tap {
  private ir: number;
  constructor(
    readonly irLength: number,
    readonly idcode: number,
    private readonly idcodeInstruction: number,
    readonly irCapture = 0b01,
  ) {
    this.ir = idcodeInstruction;
  }
  reset(): void {
    this.ir = this.idcodeInstruction;
  }
  updateIr(ir: number): void {
    this.ir = ir;
  }
  captureDr(dr: ShiftRegister): void {
    if (this.ir === this.idcodeInstruction) dr.load(32, this.idcode);
    else dr.load(1, 0);
  }
  updateDr(): void {}
}

/** What the chain needs from the chip: whether it answers at all. */
export interface JtagHost {
  readonly powered: boolean;
  /** TDO stuck at this level (a dead scan chain), or -1 when the chain works. */
  readonly tdoStuck: -1 | 0 | 1;
}

/**
 * A scan chain. `taps[0]` is nearest TDO (openocd's declaration order: the first TAP declared
 * is the first whose bits come out), the last is nearest TDI.
 */
export class JtagChain {
  private state: TapState = S.Reset;
  private readonly ir: ShiftRegister[];
  private readonly dr: ShiftRegister[];

  constructor(
    private readonly host: JtagHost,
    private readonly taps: readonly Tap[],
  ) {
    this.ir = taps.map(() => new ShiftRegister());
    this.dr = taps.map(() => new ShiftRegister());
    this.reset();
  }

  get tapState(): TapState {
    return this.state;
  }

  /** TRST, or power-on: every TAP to Test-Logic-Reset. */
  reset(): void {
    this.state = S.Reset;
    for (const tap of this.taps) tap.reset();
  }

  /** TDO as sampled before the next rising edge: bit 0 of the register being shifted. */
  tdo(): number {
    const host = this.host;
    if (!host.powered) return 1; // no drive: the adapter's pull-up
    if (host.tdoStuck >= 0) return host.tdoStuck;
    if (this.state === S.ShiftDr) return this.dr[0]!.lo & 1;
    if (this.state === S.ShiftIr) return this.ir[0]!.lo & 1;
    return 1;
  }

  /** One TCK rising edge: do the current state's action, then move on TMS. */
  clock(tms: number, tdi: number): void {
    const host = this.host;
    if (!host.powered || host.tdoStuck >= 0) return;
    const state = this.state;
    switch (state) {
      case S.ShiftDr: {
        const regs = this.dr;
        let bit = tdi;
        for (let i = regs.length - 1; i >= 0; i--) bit = regs[i]!.shift(bit);
        break;
      }
      case S.ShiftIr: {
        const regs = this.ir;
        let bit = tdi;
        for (let i = regs.length - 1; i >= 0; i--) bit = regs[i]!.shift(bit);
        break;
      }
      case S.CaptureDr:
        for (let i = 0; i < this.taps.length; i++) this.taps[i]!.captureDr(this.dr[i]!);
        break;
      case S.CaptureIr:
        for (let i = 0; i < this.taps.length; i++) {
          const tap = this.taps[i]!;
          this.ir[i]!.load(tap.irLength, tap.irCapture);
        }
        break;
      case S.UpdateDr:
        for (let i = 0; i < this.taps.length; i++) this.taps[i]!.updateDr(this.dr[i]!);
        break;
      case S.UpdateIr:
        for (let i = 0; i < this.taps.length; i++) this.taps[i]!.updateIr(this.ir[i]!.lo);
        break;
    }
    const next = NEXT[state * 2 + tms]! as TapState;
    this.state = next;
    if (next === S.Reset && state !== S.Reset) for (const tap of this.taps) tap.reset();
  }
}
