import { I2cError, type I2cErrorCode } from '../i2c/i2c.js';
import type { SimI2cDevice } from '../i2c/i2c.sim.js';
import { TCS_COMMAND, TCS_CYCLE_MS, TCS_ENABLE_AEN, TCS_ENABLE_PON, TCS_REG } from './tcs34725.js';

/** Light falling on the sensor: counts per ms of integration at 1× gain, per channel. */
export interface SimIrradiance {
  r: number;
  g: number;
  b: number;
}

export interface SimTcs34725Options {
  /** What the sensor sees right now (the virtual jig derives it from the DUT's LED). */
  light: () => SimIrradiance;
  /** ID register value: 0x44, 0x4d or 0x10 for a real part; anything else simulates a wrong chip. */
  id?: number;
  /** Infrared seen by the clear channel only, as a fraction of r+g+b. */
  infrared?: number;
  address?: number;
  busNumber?: number;
  now?: () => number;
}

const GAIN_FACTOR = [1, 4, 16, 60] as const;
const WRITABLE = new Set([0x00, 0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x0d, 0x0f]);
const LAST_REGISTER = 0x1b;

/**
 * Register-level TCS34725. Every write starts with a command byte (bit 7 set; bits 6:5 = 00
 * repeated byte, 01 auto-increment, 11 special function; bits 4:0 the register); following bytes
 * are written from there. Reads continue from the last command's register. Integration follows
 * the clock: AVALID is set once a full integration time has passed since AEN, and a read that
 * starts at CDATAL latches all four channels (the chip's shadow registers), little-endian.
 */
export class SimTcs34725 implements SimI2cDevice {
  private readonly regs = new Uint8Array(LAST_REGISTER + 1);
  private pointer = 0;
  private autoIncrement = false;
  private enabledAt = 0;
  private failures: { count: number; code: I2cErrorCode } = { count: 0, code: 'EIO' };
  private readonly now: () => number;

  constructor(private readonly options: SimTcs34725Options) {
    this.now = options.now ?? ((): number => Date.now());
    this.regs[TCS_REG.atime] = 0xff;
    this.regs[TCS_REG.wtime] = 0xff;
    this.regs[TCS_REG.id] = options.id ?? 0x44;
  }

  register(register: number): number {
    return this.regs[register] ?? 0;
  }

  /** Fault injection: the next `count` transactions fail with `code`. */
  failNext(count: number, code: I2cErrorCode = 'EIO'): void {
    this.failures = { count, code };
  }

  onWrite(data: Uint8Array): void {
    this.maybeFail();
    const command = data[0];
    if (command === undefined || !(command & TCS_COMMAND)) this.error('write without the command bit (0x80) in the first byte');
    const type = (command >> 5) & 0b11;
    if (type === 0b11) return; // special function (interrupt clear): nothing latched here
    if (type === 0b10) this.error(`reserved transaction type in command 0x${command.toString(16)}`);
    const register = command & 0x1f;
    if (register > LAST_REGISTER) this.error(`register 0x${register.toString(16)} does not exist`);
    this.pointer = register;
    this.autoIncrement = type === 0b01;
    for (let i = 1; i < data.length; i++) {
      const target = this.autoIncrement ? register + i - 1 : register;
      if (!WRITABLE.has(target)) this.error(`register 0x${target.toString(16)} is read-only`);
      this.store(target, data[i]!);
    }
  }

  onRead(length: number): Uint8Array {
    this.maybeFail();
    this.refreshStatus();
    if (this.pointer === TCS_REG.cdatal) this.latch();
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      out[i] = this.regs[this.pointer] ?? 0;
      if (this.autoIncrement) this.pointer = Math.min(LAST_REGISTER, this.pointer + 1);
    }
    return out;
  }

  private store(register: number, value: number): void {
    if (register === TCS_REG.enable) {
      const wasOn = (this.regs[TCS_REG.enable]! & (TCS_ENABLE_PON | TCS_ENABLE_AEN)) === (TCS_ENABLE_PON | TCS_ENABLE_AEN);
      const on = (value & (TCS_ENABLE_PON | TCS_ENABLE_AEN)) === (TCS_ENABLE_PON | TCS_ENABLE_AEN);
      if (on && !wasOn) this.enabledAt = this.now();
      if (!on) this.regs[TCS_REG.status] = 0;
    }
    if (register === TCS_REG.atime && this.running) this.enabledAt = this.now(); // a new integration starts
    this.regs[register] = value;
  }

  private get running(): boolean {
    return (this.regs[TCS_REG.enable]! & (TCS_ENABLE_PON | TCS_ENABLE_AEN)) === (TCS_ENABLE_PON | TCS_ENABLE_AEN);
  }

  private get cycles(): number {
    return 256 - this.regs[TCS_REG.atime]!;
  }

  private refreshStatus(): void {
    if (this.running && this.now() - this.enabledAt >= this.cycles * TCS_CYCLE_MS) this.regs[TCS_REG.status]! |= 0x01;
  }

  private latch(): void {
    const channels = { clear: 0, r: 0, g: 0, b: 0 };
    if (this.regs[TCS_REG.status]! & 0x01) {
      const light = this.options.light();
      const scale = this.cycles * TCS_CYCLE_MS * GAIN_FACTOR[this.regs[TCS_REG.control]! & 0b11]!;
      const full = Math.min(65535, 1024 * this.cycles);
      const count = (x: number): number => Math.min(full, Math.max(0, Math.round(x * scale)));
      const visible = light.r + light.g + light.b;
      Object.assign(channels, {
        clear: count(visible * (1 + (this.options.infrared ?? 0.1))),
        r: count(light.r),
        g: count(light.g),
        b: count(light.b),
      });
    }
    [channels.clear, channels.r, channels.g, channels.b].forEach((value, i) => {
      this.regs[TCS_REG.cdatal + 2 * i] = value & 0xff;
      this.regs[TCS_REG.cdatal + 2 * i + 1] = value >> 8;
    });
  }

  private maybeFail(): void {
    if (this.failures.count <= 0) return;
    this.failures.count--;
    throw new I2cError(this.failures.code, this.options.busNumber ?? 1, this.options.address ?? 0x29, 'injected bus fault');
  }

  private error(message: string): never {
    throw new I2cError('EIO', this.options.busNumber ?? 1, this.options.address ?? 0x29, `TCS34725: ${message}`);
  }
}

/**
 * The light a sensor taped over an LED sees: the LED's colour (0..255 per channel) scaled to
 * `countsPerMs` at full brightness while lit, plus a little ambient light leaking in.
 */
export function ledIrradiance(colour: { r: number; g: number; b: number }, lit: boolean, countsPerMs = 40, ambient = 0.05): SimIrradiance {
  const k = lit ? countsPerMs / 255 : 0;
  return { r: colour.r * k + ambient, g: colour.g * k + ambient, b: colour.b * k + ambient };
}
