import { describe, expect, it } from 'vitest';
import { ShiftRegister, TapState } from '../../../src/sim/dut/jtag.js';
import { SimStm32 } from '../../../src/sim/dut/stm32f1.js';

const DPACC = 0xa;
const APACC = 0xb;
const BYPASS5 = 0x1f;

/** The adapter side: drives TMS/TDI and samples TDO before each rising edge, like openocd's bitbang. */
class Host {
  constructor(private readonly chip: SimStm32) {}

  private bit(tms: number, tdi: number): number {
    const tdo = this.chip.jtag.tdo();
    this.chip.jtag.clock(tms, tdi);
    return tdo;
  }

  /** Five TMS=1 clocks reach Test-Logic-Reset from anywhere, then Run-Test/Idle. */
  resetToIdle(): void {
    for (let i = 0; i < 5; i++) this.bit(1, 0);
    this.bit(0, 0);
  }

  /** One scan from Idle back to Idle; `bits` LSB first, returns what came out of TDO. */
  scan(ir: boolean, bits: number[]): number[] {
    this.bit(1, 0); // Select-DR
    if (ir) this.bit(1, 0); // Select-IR
    this.bit(0, 0); // Capture
    this.bit(0, 0); // Shift
    const out = bits.map((b, i) => this.bit(i === bits.length - 1 ? 1 : 0, b));
    this.bit(1, 0); // Update
    this.bit(0, 0); // Idle
    return out;
  }

  /** IR of both TAPs: cpu (4 bits, nearest TDO) gets `cpuIr`, the boundary-scan TAP BYPASS. */
  ir(cpuIr: number): number[] {
    return this.scan(true, [...toBits(cpuIr, 4), ...toBits(BYPASS5, 5)]);
  }

  /** A 35-bit DPACC/APACC scan (+1 bypass bit): returns [ack, data] of the previous transaction. */
  acc(read: boolean, a: number, data = 0): [number, number] {
    const bits = [read ? 1 : 0, (a >> 2) & 1, (a >> 3) & 1, ...toBits(data, 32), 0];
    const out = this.scan(false, bits);
    return [fromBits(out.slice(0, 3)), fromBits(out.slice(3, 35))];
  }

  dpRead(a: number): number {
    this.acc(true, a);
    return this.acc(true, 0xc)[1]; // the result arrives with the next scan
  }

  memRead32(address: number): number {
    this.ir(APACC);
    this.acc(false, 0x0, 0x23000012); // CSW: 32-bit, single increment
    this.acc(false, 0x4, address);
    this.acc(true, 0xc);
    this.ir(DPACC);
    return this.acc(true, 0xc)[1]; // RDBUFF
  }
}

function toBits(value: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (value >>> i) & 1);
}

function fromBits(bits: number[]): number {
  return bits.reduce((acc, b, i) => acc + b * 2 ** i, 0);
}

describe('ShiftRegister', () => {
  it('shifts a 35-bit register through without losing bits', () => {
    const reg = new ShiftRegister();
    reg.load(35, 0xdeadbeef, 0b101);
    const out: number[] = [];
    for (let i = 0; i < 35; i++) out.push(reg.shift(i === 34 ? 1 : 0));
    expect(fromBits(out.slice(0, 32))).toBe(0xdeadbeef);
    expect(fromBits(out.slice(32))).toBe(0b101);
    expect(reg.hi).toBe(0b100);
  });
});

describe('JTAG chain of the simulated STM32F1', () => {
  it('shifts out both IDCODEs after reset, cpu TAP first', () => {
    const host = new Host(new SimStm32());
    host.resetToIdle();
    const out = host.scan(false, new Array(64).fill(0));
    expect(fromBits(out.slice(0, 32))).toBe(0x3ba00477);
    expect(fromBits(out.slice(32))).toBe(0x06410041);
  });

  it('captures 0b0001 and 0b00001 in the instruction registers', () => {
    const host = new Host(new SimStm32());
    host.resetToIdle();
    const out = host.ir(DPACC);
    expect(fromBits(out.slice(0, 4))).toBe(0b0001);
    expect(fromBits(out.slice(4))).toBe(0b00001);
  });

  it('returns to Test-Logic-Reset on five TMS=1 clocks', () => {
    const chip = new SimStm32();
    const host = new Host(chip);
    host.resetToIdle();
    expect(chip.jtag.tapState).toBe(TapState.Idle);
  });

  it('acknowledges power-up requests in CTRL/STAT and reads memory through the MEM-AP', () => {
    const host = new Host(new SimStm32());
    host.resetToIdle();
    host.ir(DPACC);
    const [ack] = host.acc(false, 0x4, 0x50000000);
    expect(ack).toBe(0b010); // OK/FAULT
    expect(host.dpRead(0x4) >>> 0).toBe(0xf0000000);
    expect(host.memRead32(0xe0042000)).toBe(0x20036410);
    host.ir(APACC);
    host.acc(true, 0xfc); // IDR (bank 0xF0 selected below)
    host.ir(DPACC);
    host.acc(false, 0x8, 0x000000f0);
    host.ir(APACC);
    host.acc(true, 0xc);
    expect(host.acc(true, 0xc)[1]).toBe(0x24770011);
  });

  it('does not read packed auto-increment back, so openocd does not use it', () => {
    const host = new Host(new SimStm32());
    host.resetToIdle();
    host.ir(APACC);
    host.acc(false, 0x0, 0x20); // 8-bit, packed
    host.acc(true, 0x0);
    const csw = host.acc(true, 0x0)[1];
    expect(csw & 0x30).toBe(0);
    expect(csw & 0x7).toBe(0);
  });

  it('sets STICKYERR on a read of protected flash; writing 1 clears it', () => {
    const chip = new SimStm32();
    chip.setReadProtection(true);
    const host = new Host(chip);
    host.resetToIdle();
    host.ir(DPACC);
    host.acc(false, 0x4, 0x50000000);
    expect(host.memRead32(0x08000000)).toBe(0);
    host.ir(DPACC);
    expect(host.dpRead(0x4) & 0x20).toBe(0x20);
    host.acc(false, 0x4, 0x50000020);
    expect(host.dpRead(0x4) & 0x20).toBe(0);
  });

  it('drives TDO high and ignores TCK while unpowered, low with a dead scan chain', () => {
    const chip = new SimStm32({ powered: false });
    const host = new Host(chip);
    host.resetToIdle();
    expect(host.scan(false, new Array(32).fill(0)).every((b) => b === 1)).toBe(true);
    chip.power(true);
    chip.faults.deadScanChain = true;
    expect(host.scan(false, new Array(32).fill(0)).every((b) => b === 0)).toBe(true);
  });
});
