import { I2cError, type I2cErrorCode } from '../i2c/i2c.js';
import type { SimI2cDevice } from '../i2c/i2c.sim.js';
import { INA219_REG } from './ina219.js';

export interface SimIna219Options {
  /** The DUT's supply current right now, mA (from the virtual jig / simulated firmware). */
  currentMa: () => number;
  /** Bus voltage at the load, V. */
  busVoltageV?: () => number;
  /** The shunt fitted on the simulated board, ohms. */
  shuntOhms?: number;
  /** Standard deviation of Gaussian noise added to the current, mA (0: none). */
  noiseMa?: number;
  /** Seed of the noise generator: the same seed gives the same readings. */
  seed?: number;
  /** For I2cError messages. */
  address?: number;
  busNumber?: number;
}

export interface SimI2cTraffic {
  dir: 'write' | 'read';
  bytes: number[];
}

const POWER_ON_CONFIG = 0x399f;
const TRAFFIC_KEPT = 256;
/** Conversion time per ADC code, µs (datasheet table 5): 9/10/11/12-bit, then 12-bit averaged over 2..128. */
const ADC_US = [84, 148, 276, 532, 84, 148, 276, 532, 532, 1060, 2130, 4260, 8510, 17020, 34050, 68100];

/**
 * Register-level INA219. Speaks the chip's protocol: a 1-byte write sets the register pointer, a
 * 3-byte write sets pointer + a 16-bit value (config and calibration only), a read returns the
 * pointed register MSB first. The current register is computed from the shunt register and the
 * calibration with the chip's integer arithmetic: Current = trunc(Shunt × Cal / 4096),
 * Power = trunc(Current × Bus / 5000) (datasheet eq. 3-4); with Cal = 0 (power-on) both read 0.
 *
 * Conversions run on the clock (Date.now, so fake timers drive it): in continuous mode a result
 * lands every conversion time, computed from the config register's ADC and mode bits (16×
 * averaging on both ADCs: 17.02 ms), counted from the last config write. Registers hold the last
 * result until the next one. CNVR (bus register bit 1) is set when a result lands and cleared by
 * reading the power register or writing the config register. `brownOut()` is a power-on reset:
 * config back to 0x399F, calibration 0.
 *
 * Strict: writes to read-only registers, pointers past 0x05 and odd transaction lengths reject
 * with EIO, where the real chip would NAK or ignore them.
 */
export class SimIna219 implements SimI2cDevice {
  private readonly regs = new Uint16Array(6);
  private pointer = 0;
  /** Start of the conversion sequence (config write / reset), ms. */
  private startedAt = 0;
  /** Index of the result in the registers (0: none since the start). */
  private served = 0;
  private readonly random: () => number;
  private failures: { count: number; code: I2cErrorCode } = { count: 0, code: 'EIO' };
  private readonly recorded: SimI2cTraffic[] = [];
  /** Shunt register reads of a new result, and of a result already read (or of none since the last restart). */
  readonly stats = { freshReads: 0, staleReads: 0 };
  private shuntReadOf = 0;

  constructor(private readonly options: SimIna219Options) {
    this.random = gaussian(mulberry32(options.seed ?? 1));
    this.reset();
  }

  /** Register value as the chip holds it now (for tests and the virtual jig's display); no side effects. */
  register(register: number): number {
    this.update();
    return this.regs[register] ?? 0;
  }

  /** The last transactions, oldest first. */
  get traffic(): readonly SimI2cTraffic[] {
    return this.recorded;
  }

  /** Conversion time of the current config, ms. */
  get conversionTimeMs(): number {
    const config = this.regs[INA219_REG.config]!;
    const mode = config & 0b111;
    if (mode === 0 || mode === 0b100) return Infinity;
    return ((mode & 0b010 ? ADC_US[(config >> 7) & 0xf]! : 0) + (mode & 0b001 ? ADC_US[(config >> 3) & 0xf]! : 0)) / 1000;
  }

  /** Fault injection: the next `count` transactions fail with `code` (a glitching bus). */
  failNext(count: number, code: I2cErrorCode = 'EIO'): void {
    this.failures = { count, code };
  }

  /** Fault injection: the supply dipped and the chip went through a power-on reset (calibration 0). */
  brownOut(): void {
    this.reset();
  }

  onWrite(data: Uint8Array): void {
    this.record('write', data);
    this.maybeFail();
    if (data.length !== 1 && data.length !== 3) this.error(`write of ${data.length} bytes (INA219 takes a pointer, or a pointer and 2 bytes)`);
    const register = data[0]!;
    if (register > INA219_REG.calibration) this.error(`register pointer 0x${register.toString(16)} does not exist`);
    this.pointer = register;
    if (data.length === 1) return;
    const value = (data[1]! << 8) | data[2]!;
    if (register === INA219_REG.config) {
      if (value & 0x8000) return this.reset();
      this.update();
      this.regs[INA219_REG.config] = value & 0x3fff;
      this.restart(); // a mode write restarts conversion and clears CNVR
    } else if (register === INA219_REG.calibration) {
      this.update();
      this.regs[INA219_REG.calibration] = value & 0xfffe; // FS0 is void and reads 0; used from the next result on
    } else {
      this.error(`register 0x${register.toString(16)} is read-only`);
    }
  }

  onRead(length: number): Uint8Array {
    this.record('read', undefined, length);
    this.maybeFail();
    if (length !== 1 && length !== 2) this.error(`read of ${length} bytes (INA219 registers are 2 bytes)`);
    this.update();
    if (this.pointer === INA219_REG.shunt) {
      if (this.served > this.shuntReadOf) this.stats.freshReads++;
      else this.stats.staleReads++;
      this.shuntReadOf = this.served;
    }
    const value = this.regs[this.pointer]!;
    if (this.pointer === INA219_REG.power) this.regs[INA219_REG.bus] = this.regs[INA219_REG.bus]! & ~0b10; // reading power clears CNVR
    const out = length === 2 ? Uint8Array.of(value >> 8, value & 0xff) : Uint8Array.of(value >> 8);
    this.recorded[this.recorded.length - 1]!.bytes = [...out];
    return out;
  }

  private reset(): void {
    this.regs.fill(0);
    this.regs[INA219_REG.config] = POWER_ON_CONFIG;
    this.pointer = 0;
    this.restart();
  }

  private restart(): void {
    this.startedAt = Date.now();
    this.served = 0;
    this.shuntReadOf = 0;
    this.regs[INA219_REG.bus] = this.regs[INA219_REG.bus]! & ~0b10;
  }

  /** Bring the registers up to the latest result the clock says has landed. */
  private update(): void {
    const config = this.regs[INA219_REG.config]!;
    const mode = config & 0b111;
    const elapsed = Date.now() - this.startedAt;
    const results = mode & 0b100 ? Math.floor(elapsed / this.conversionTimeMs) : elapsed >= this.conversionTimeMs ? 1 : 0; // triggered: one
    if (results > this.served) {
      this.served = results;
      this.convert();
    }
  }

  private convert(): void {
    const config = this.regs[INA219_REG.config]!;
    const pga = (config >> 11) & 0b11;
    const shuntFullScale = 4000 << pga; // 10 µV units: ±40 mV × 2^PG
    const amps = (this.options.currentMa() + (this.options.noiseMa ?? 0) * this.random()) / 1000;
    const shunt = clamp(Math.round((amps * (this.options.shuntOhms ?? 0.1)) / 10e-6), -shuntFullScale, shuntFullScale);

    const busFullScale = config & (1 << 13) ? 8000 : 4000; // 4 mV units: 32 V or 16 V
    const bus = clamp(Math.round((this.options.busVoltageV?.() ?? 5) / 0.004), 0, busFullScale);

    const calibration = this.regs[INA219_REG.calibration]!;
    let overflow = false;
    let current = Math.trunc((shunt * calibration) / 4096);
    if (current > 32767 || current < -32768) {
      overflow = true;
      current = clamp(current, -32768, 32767);
    }
    let power = Math.trunc((Math.abs(current) * bus) / 5000);
    if (power > 0xffff) {
      overflow = true;
      power = 0xffff;
    }
    this.regs[INA219_REG.shunt] = shunt & 0xffff;
    this.regs[INA219_REG.bus] = (bus << 3) | 0b10 | (overflow ? 1 : 0); // CNVR, OVF
    this.regs[INA219_REG.power] = power;
    this.regs[INA219_REG.current] = current & 0xffff;
  }

  private maybeFail(): void {
    if (this.failures.count <= 0) return;
    this.failures.count--;
    throw new I2cError(this.failures.code, this.options.busNumber ?? 1, this.options.address ?? 0x40, 'injected bus fault');
  }

  private error(message: string): never {
    throw new I2cError('EIO', this.options.busNumber ?? 1, this.options.address ?? 0x40, `INA219: ${message}`);
  }

  private record(dir: 'write' | 'read', data?: Uint8Array, length = 0): void {
    this.recorded.push({ dir, bytes: data ? [...data] : new Array<number>(length).fill(0) });
    if (this.recorded.length > TRAFFIC_KEPT) this.recorded.shift();
  }
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** Small seeded PRNG (mulberry32): uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviates from a uniform source (Box-Muller). */
export function gaussian(uniform: () => number): () => number {
  return () => {
    const u = 1 - uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
}
