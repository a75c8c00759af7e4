import type { I2cBus } from '../i2c/i2c.js';
import { withI2cRetry } from '../i2c/retry.js';
import { PowerMonitorError, type PowerMonitor, type PowerSample } from './power-monitor.js';

/** INA219 registers (TI datasheet SBOS448, section 8.6). All are 16-bit, sent MSB first. */
export const INA219_REG = { config: 0x00, shunt: 0x01, bus: 0x02, power: 0x03, current: 0x04, calibration: 0x05 } as const;

/** The chip's fixed scale factor in the calibration equation (datasheet eq. 1). */
const CAL_SCALE = 0.04096;
/** PGA shunt ranges in mV, index = PG bits 12:11. */
const PGA_RANGES_MV = [40, 80, 160, 320] as const;
/** ADC codes (bits 10:7 and 6:3) for 12-bit conversions averaged over n samples. */
const ADC_AVERAGING = { 1: 0b1000, 2: 0b1001, 4: 0b1010, 8: 0b1011, 16: 0b1100, 32: 0b1101, 64: 0b1110, 128: 0b1111 } as const;
/** Conversion time of one 12-bit sample, µs (datasheet table 5). */
const CONVERSION_US = 532;
const MODE_SHUNT_AND_BUS_CONTINUOUS = 0b111;

export type Ina219Averaging = keyof typeof ADC_AVERAGING;

export interface Ina219Options {
  bus: I2cBus;
  /** 7-bit address, 0x40..0x4F by A0/A1 strapping. */
  address?: number;
  /** Bus number, for messages only. */
  busNumber?: number;
  /** Shunt resistor in ohms (0.1 on the common breakout boards). */
  shuntOhms: number;
  /** Largest current expected through the shunt, in A; sets Current_LSB and the PGA range. */
  maxCurrentA: number;
  /** Bus voltage full-scale range. */
  busRangeV?: 16 | 32;
  /** Samples averaged per conversion (both ADCs). */
  averaging?: Ina219Averaging;
  /** Tries per register access before a bus fault is reported (transient NAKs happen on long jig cables). */
  attempts?: number;
  /** Pause between tries, ms. */
  retryDelayMs?: number;
}

export interface Ina219Calibration {
  /** A per bit of the current register. */
  currentLsbA: number;
  /** W per bit of the power register (20 × Current_LSB). */
  powerLsbW: number;
  /** Value written to register 0x05 (bit 0 is void in the chip, so always even). */
  calibration: number;
  /** PGA bits 12:11 and the shunt range they select. */
  pga: number;
  shuntRangeMv: number;
}

/**
 * Current_LSB = max / 32768 rounded up to the next 1-2-5 step (so readings are round numbers),
 * Cal = trunc(0.04096 / (Current_LSB × R_shunt)) (datasheet eq. 1-2). When Cal would not fit the
 * 16-bit register (tiny shunt, small current), Current_LSB steps up until it does.
 */
export function ina219Calibration(shuntOhms: number, maxCurrentA: number): Ina219Calibration {
  if (!(shuntOhms > 0) || !(maxCurrentA > 0)) throw new RangeError('shuntOhms and maxCurrentA must be positive');
  const maxShuntMv = maxCurrentA * shuntOhms * 1000;
  const pga = PGA_RANGES_MV.findIndex((range) => range >= maxShuntMv * (1 - 1e-9)); // 0.4 × 0.1 × 1000 = 40.00000000000001
  if (pga < 0) throw new RangeError(`max shunt voltage ${maxShuntMv.toFixed(1)} mV exceeds the INA219's 320 mV range: use a smaller shunt`);
  let currentLsbA = niceCeil(maxCurrentA / 32768);
  let calibration = Math.trunc(CAL_SCALE / (currentLsbA * shuntOhms));
  while (calibration > 0xfffe) {
    currentLsbA = niceCeil(currentLsbA * 1.000001);
    calibration = Math.trunc(CAL_SCALE / (currentLsbA * shuntOhms));
  }
  if (calibration < 1) throw new RangeError(`calibration for ${shuntOhms} Ω and ${maxCurrentA} A is below 1`);
  return { currentLsbA, powerLsbW: 20 * currentLsbA, calibration: calibration & 0xfffe, pga, shuntRangeMv: PGA_RANGES_MV[pga]! };
}

/** The smallest value of the 1-2-5 series that is >= x (x > 0). */
function niceCeil(x: number): number {
  const decade = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 2, 5, 10]) {
    const v = step * decade;
    // Guard against 3e-5 / 1e-5 = 2.9999999999999996 style float noise.
    if (v >= x * (1 - 1e-12)) return Number(v.toPrecision(12));
  }
  return 10 * decade;
}

/**
 * INA219 high-side current monitor over the I2cBus port. Registers are big-endian, so every
 * access is a raw transaction (pointer write, then a 2-byte read MSB first) rather than SMBus
 * word calls, which would swap the bytes (HARDWARE.md).
 */
export class Ina219 implements PowerMonitor {
  readonly address: number;
  readonly calibration: Ina219Calibration;
  readonly config: number;
  /** Time of one conversion (both ADCs) in ms: space samples at least this far apart. */
  readonly conversionTimeMs: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private initialised = false;

  constructor(private readonly options: Ina219Options) {
    this.address = options.address ?? 0x40;
    this.calibration = ina219Calibration(options.shuntOhms, options.maxCurrentA);
    const averaging = options.averaging ?? 16;
    const adc = ADC_AVERAGING[averaging];
    if (adc === undefined) throw new RangeError(`averaging ${averaging} is not one of 1, 2, 4, ..., 128`);
    this.config =
      ((options.busRangeV ?? 16) === 32 ? 1 << 13 : 0) | (this.calibration.pga << 11) | (adc << 7) | (adc << 3) | MODE_SHUNT_AND_BUS_CONTINUOUS;
    this.conversionTimeMs = (2 * averaging * CONVERSION_US) / 1000;
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.retryDelayMs = options.retryDelayMs ?? 1;
  }

  get description(): string {
    return `ina219 i2c-${this.options.busNumber ?? 1} 0x${this.address.toString(16)}`;
  }

  async init(): Promise<void> {
    this.initialised = false;
    await this.writeRegister(INA219_REG.config, this.config);
    await this.writeRegister(INA219_REG.calibration, this.calibration.calibration);
    // Read back: a different chip at this address (or a dead one that reads 0xFFFF) shows up here.
    const config = await this.readRegister(INA219_REG.config);
    const calibration = await this.readRegister(INA219_REG.calibration);
    if (config !== this.config || calibration !== this.calibration.calibration) {
      throw new PowerMonitorError(
        'CALIBRATION_MISMATCH',
        `${this.description}: config/calibration read back as 0x${hex(config)}/0x${hex(calibration)}, wrote 0x${hex(this.config)}/0x${hex(this.calibration.calibration)} (not an INA219?)`,
      );
    }
    this.initialised = true;
  }

  async sample(): Promise<PowerSample> {
    if (!this.initialised) throw new PowerMonitorError('NOT_INITIALISED', `${this.description}: sample() before init()`);
    const shunt = toSigned(await this.readRegister(INA219_REG.shunt));
    const bus = await this.readRegister(INA219_REG.bus);
    const current = toSigned(await this.readRegister(INA219_REG.current));
    return {
      currentMa: round(current * this.calibration.currentLsbA * 1000, 6),
      busVoltageV: round((bus >> 3) * 0.004, 6),
      shuntVoltageMv: round(shunt * 0.01, 6),
      overflow: (bus & 0x1) !== 0,
    };
  }

  private async readRegister(register: number): Promise<number> {
    const bytes = await this.withRetry(`read register 0x${hex(register, 2)}`, async () => {
      await this.options.bus.write(this.address, Uint8Array.of(register));
      return this.options.bus.read(this.address, 2);
    });
    return (bytes[0]! << 8) | bytes[1]!;
  }

  private async writeRegister(register: number, value: number): Promise<void> {
    await this.withRetry(`write register 0x${hex(register, 2)}`, () =>
      this.options.bus.write(this.address, Uint8Array.of(register, (value >> 8) & 0xff, value & 0xff)),
    );
  }

  private withRetry<T>(what: string, op: () => Promise<T>): Promise<T> {
    return withI2cRetry(op, {
      attempts: this.attempts,
      delayMs: this.retryDelayMs,
      fail: (error, attempts) => new PowerMonitorError('I2C', `${this.description}: ${what} failed after ${attempts} attempts: ${error.message}`, { cause: error }),
    });
  }
}

function toSigned(word: number): number {
  return word & 0x8000 ? word - 0x10000 : word;
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

function hex(value: number, width = 4): string {
  return value.toString(16).padStart(width, '0');
}
