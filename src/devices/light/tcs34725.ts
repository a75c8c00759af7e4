import type { I2cBus } from '../i2c/i2c.js';
import { sleep } from '../../util/sleep.js';
import { withI2cRetry } from '../i2c/retry.js';
import { frequency } from './photo.js';
import { LightSensorError, type LightReading, type LightSensor } from './light-sensor.js';

/** TCS34725 registers (ams datasheet, register set table). */
export const TCS_REG = { enable: 0x00, atime: 0x01, wtime: 0x03, control: 0x0f, id: 0x12, status: 0x13, cdatal: 0x14 } as const;
/** Every register access starts with a command byte: CMD bit, then the transaction type. */
export const TCS_COMMAND = 0x80;
export const TCS_AUTO_INCREMENT = 0x20;
export const TCS_ENABLE_PON = 0x01;
export const TCS_ENABLE_AEN = 0x02;
export const TCS_STATUS_AVALID = 0x01;
/**
 * ID register: 0x44 = TCS34721/TCS34725, 0x4D = TCS34723/TCS34727 (ams datasheet); 0x10 is what
 * some TCS34725 boards report, and Adafruit_TCS34725 (and DFRobot's driver) accept it too.
 */
export const TCS_IDS: readonly number[] = [0x44, 0x4d, 0x10];
/** One integration cycle, ms. */
export const TCS_CYCLE_MS = 2.4;
const GAINS = { 1: 0, 4: 1, 16: 2, 60: 3 } as const;
/** The oscillator needs 2.4 ms after PON before the ADCs may be enabled. */
const POWER_ON_MS = 3;

export type TcsGain = keyof typeof GAINS;

export interface Tcs34725Options {
  bus: I2cBus;
  /** The LED this sensor looks at (station wiring). */
  name: string;
  address?: number;
  busNumber?: number;
  /** Integration time, ms: 2.4 × (1..256) cycles; rounded to whole cycles. */
  integrationMs?: number;
  gain?: TcsGain;
  /** Clear-channel counts above this fraction of full scale count as "lit". */
  litThreshold?: number;
  attempts?: number;
  retryDelayMs?: number;
}

export interface Rgbc {
  clear: number;
  r: number;
  g: number;
  b: number;
}

/**
 * TCS34725 colour sensor over the I2cBus port. Initialised lazily on the first observation (and
 * again after a failure): ID check, integration time, gain, power on, ADC enable. An observation
 * reads all four channels once per integration period for the window and reports how often the
 * LED was lit, how fast it blinked (a blink faster than about 1 / (4 × integration time) cannot
 * be resolved) and its mean colour while lit.
 */
export class Tcs34725 implements LightSensor {
  readonly kind = 'color';
  readonly name: string;
  readonly address: number;
  readonly cycles: number;
  readonly gain: TcsGain;
  private readonly attempts: number;
  private ready = false;

  constructor(private readonly options: Tcs34725Options) {
    this.name = options.name;
    this.address = options.address ?? 0x29;
    this.cycles = Math.min(256, Math.max(1, Math.round((options.integrationMs ?? 24) / TCS_CYCLE_MS)));
    this.gain = options.gain ?? 4;
    if (!(this.gain in GAINS)) throw new RangeError(`gain ${this.gain} is not one of 1, 4, 16, 60`);
    this.attempts = Math.max(1, options.attempts ?? 3);
  }

  get integrationMs(): number {
    return Number((this.cycles * TCS_CYCLE_MS).toFixed(1));
  }

  /** Counts at saturation for this integration time (datasheet: 1024 per cycle, 16-bit max). */
  get fullScale(): number {
    return Math.min(65535, 1024 * this.cycles);
  }

  get description(): string {
    return `tcs34725 "${this.name}" i2c-${this.options.busNumber ?? 1} 0x${this.address.toString(16)}`;
  }

  async init(signal?: AbortSignal): Promise<void> {
    this.ready = false;
    const [id] = await this.readBytes(TCS_REG.id, 1);
    if (!TCS_IDS.includes(id!)) {
      throw new LightSensorError('WRONG_ID', `${this.description}: ID register reads 0x${id!.toString(16)}, expected ${TCS_IDS.map((i) => `0x${i.toString(16)}`).join(', ')} (not a TCS3472x?)`);
    }
    await this.writeRegister(TCS_REG.atime, 256 - this.cycles);
    await this.writeRegister(TCS_REG.control, GAINS[this.gain]);
    await this.writeRegister(TCS_REG.enable, TCS_ENABLE_PON);
    await sleep(POWER_ON_MS, signal);
    await this.writeRegister(TCS_REG.enable, TCS_ENABLE_PON | TCS_ENABLE_AEN);
    await sleep(this.integrationMs, signal);
    this.ready = true;
  }

  /** One reading of the four channels (waits for a valid integration once). */
  async read(signal?: AbortSignal): Promise<Rgbc> {
    if (!this.ready) await this.init(signal);
    let [status] = await this.readBytes(TCS_REG.status, 1);
    if (!(status! & TCS_STATUS_AVALID)) {
      await sleep(this.integrationMs, signal);
      [status] = await this.readBytes(TCS_REG.status, 1);
      if (!(status! & TCS_STATUS_AVALID)) throw new LightSensorError('NOT_READY', `${this.description}: no valid integration after ${2 * this.integrationMs} ms`);
    }
    const b = await this.readBytes(TCS_REG.cdatal, 8);
    const word = (i: number): number => b[i]! | (b[i + 1]! << 8); // data registers are little-endian
    return { clear: word(0), r: word(2), g: word(4), b: word(6) };
  }

  async observe(windowMs: number, signal: AbortSignal): Promise<LightReading> {
    signal.throwIfAborted();
    try {
      if (!this.ready) await this.init(signal);
      const threshold = (this.options.litThreshold ?? 0.02) * this.fullScale;
      const start = Date.now();
      const rises: number[] = [];
      const sum = { lit: { r: 0, g: 0, b: 0, clear: 0, n: 0 }, all: { r: 0, g: 0, b: 0, clear: 0, n: 0 } };
      let previous: boolean | undefined;
      let edges = 0;
      let samples = 0;
      for (;;) {
        const t = Date.now();
        const reading = await this.read(signal);
        const lit = reading.clear >= threshold;
        samples++;
        if (previous !== undefined && lit !== previous) {
          edges++;
          if (lit) rises.push(t);
        }
        previous = lit;
        accumulate(lit ? sum.lit : sum.all, reading);
        if (lit) accumulate(sum.all, reading);
        if (Date.now() - start + this.integrationMs > windowMs) break;
        await sleep(this.integrationMs, signal);
      }
      const span = Math.max(1, Date.now() - start);
      const mean = sum.lit.n > 0 ? sum.lit : sum.all;
      const avg = (x: number): number => Math.round(x / Math.max(1, mean.n));
      return {
        dutyCycle: Number((sum.lit.n / samples).toFixed(4)),
        frequencyHz: frequency(rises, edges, span),
        edges,
        rgb: { r: avg(mean.r), g: avg(mean.g), b: avg(mean.b), clear: avg(mean.clear), fullScale: this.fullScale },
      };
    } catch (error) {
      if (error instanceof LightSensorError) this.ready = false;
      throw error;
    }
  }

  private async readBytes(register: number, length: number): Promise<Uint8Array> {
    return this.withRetry(`read 0x${register.toString(16)}`, async () => {
      await this.options.bus.write(this.address, Uint8Array.of(TCS_COMMAND | TCS_AUTO_INCREMENT | register));
      return this.options.bus.read(this.address, length);
    });
  }

  private async writeRegister(register: number, value: number): Promise<void> {
    await this.withRetry(`write 0x${register.toString(16)}`, () =>
      this.options.bus.write(this.address, Uint8Array.of(TCS_COMMAND | TCS_AUTO_INCREMENT | register, value & 0xff)),
    );
  }

  private withRetry<T>(what: string, op: () => Promise<T>): Promise<T> {
    return withI2cRetry(op, {
      attempts: this.attempts,
      delayMs: this.options.retryDelayMs ?? 1,
      fail: (error, attempts) => new LightSensorError('I2C', `${this.description}: ${what} failed after ${attempts} attempts: ${error.message}`, { cause: error }),
    });
  }
}

function accumulate(into: { r: number; g: number; b: number; clear: number; n: number }, x: Rgbc): void {
  into.r += x.r;
  into.g += x.g;
  into.b += x.b;
  into.clear += x.clear;
  into.n++;
}
