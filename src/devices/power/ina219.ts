import type { I2cBus } from '../i2c/i2c.js';
import { withI2cRetry } from '../i2c/retry.js';
import { sleep } from '../../util/sleep.js';
import { PowerMonitorError, type PowerMonitor, type PowerSample } from './power-monitor.js';

/** INA219 registers (TI datasheet SBOS448, section 8.6). All are 16-bit, sent MSB first. */
export const INA219_REG = { config: 0x00, shunt: 0x01, bus: 0x02, power: 0x03, current: 0x04, calibration: 0x05 } as const;
/** Bus voltage register flags: CNVR (bit 1) a conversion finished since the power register was last read; OVF (bit 0) math overflow. */
export const INA219_BUS_CNVR = 0b10;
export const INA219_BUS_OVF = 0b01;

/** The chip's fixed scale factor in the calibration equation (datasheet eq. 1). */
const CAL_SCALE = 0.04096;
/** PGA shunt ranges in mV, index = PG bits 12:11. */
const PGA_RANGES_MV = [40, 80, 160, 320] as const;
/**
 * The PGA range is at least this much above max_current_a × shunt: a unit drawing more than
 * the expected maximum still measures as more (and fails its limit) instead of saturating at it.
 */
export const INA219_HEADROOM = 1.25;
/** ADC codes (bits 10:7 and 6:3) for 12-bit conversions averaged over n samples. */
const ADC_AVERAGING = { 1: 0b1000, 2: 0b1001, 4: 0b1010, 8: 0b1011, 16: 0b1100, 32: 0b1101, 64: 0b1110, 128: 0b1111 } as const;
const MODE_SHUNT_AND_BUS_CONTINUOUS = 0b111;
/** Re-reads of CNVR after the conversion time, an eighth of it apart, before a chip that never finishes one is reported. */
const CNVR_POLLS = 8;

/**
 * Conversion time of one ADC code (BADC bits 10:7 or SADC bits 6:3), µs: datasheet table 5.
 * 0x00..0x11 = 9..12 bit single samples (bit 2 of the code is "don't care"); 1xxx = 12 bit,
 * averaged over 2^xxx samples, 532 µs each.
 */
export function ina219AdcTimeUs(code: number): number {
  if (code & 0b1000) return [532, 1060, 2130, 4260, 8510, 17020, 34050, 68100][code & 0b111]!;
  return [84, 148, 276, 532][code & 0b11]!;
}

/**
 * Time for one result in the mode the config register selects, ms: both ADCs convert in turn in
 * the shunt-and-bus modes (16× averaging on both: 2 × 8.51 = 17.02 ms). 0 when the ADCs are off.
 */
export function ina219ConversionTimeMs(config: number): number {
  const mode = config & 0b111;
  const bus = mode & 0b010 ? ina219AdcTimeUs((config >> 7) & 0xf) : 0;
  const shunt = mode & 0b001 ? ina219AdcTimeUs((config >> 3) & 0xf) : 0;
  return mode === 0 || mode === 0b100 ? 0 : (bus + shunt) / 1000;
}

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
 * PGA range: the smallest that holds max_current_a × R_shunt × 1.25 (INA219_HEADROOM), so a
 * shorted unit reads above the expected maximum rather than saturating exactly at it.
 * Current_LSB follows the range, not max_current_a: the range's full current / 32767 rounded up
 * to a 1-2-2.5-5 step, so the current register can count every shunt reading the PGA lets through
 * and a saturated shunt shows as such (the shunt ADC's own step, 10 µV / R_shunt, is 100 µA with
 * 0.1 Ω: a Current_LSB of 25 µA loses nothing). Cal = trunc(0.04096 / (Current_LSB × R_shunt))
 * (datasheet eq. 1-2).
 */
export function ina219Calibration(shuntOhms: number, maxCurrentA: number): Ina219Calibration {
  if (!(shuntOhms > 0) || !(maxCurrentA > 0)) throw new RangeError('shuntOhms and maxCurrentA must be positive');
  const maxShuntMv = maxCurrentA * shuntOhms * 1000;
  const wantedMv = maxShuntMv * INA219_HEADROOM;
  const pga = PGA_RANGES_MV.findIndex((range) => range >= wantedMv * (1 - 1e-9)); // float noise: 0.4 × 0.1 × 1000 = 40.00000000000001
  if (pga < 0) {
    throw new RangeError(
      `max shunt voltage ${maxShuntMv.toFixed(1)} mV (${maxCurrentA} A × ${shuntOhms} Ω) needs ${wantedMv.toFixed(1)} mV with ${INA219_HEADROOM}× headroom, beyond the INA219's 320 mV range: use a smaller shunt`,
    );
  }
  const rangeA = PGA_RANGES_MV[pga]! / 1000 / shuntOhms;
  const currentLsbA = niceCeil(rangeA / 32767);
  // Cal <= 0.04096 × 32767 / range_V: at most 33554 with the 40 mV range, so it always fits 16 bits.
  const calibration = Math.trunc(CAL_SCALE / (currentLsbA * shuntOhms));
  return { currentLsbA, powerLsbW: 20 * currentLsbA, calibration: calibration & 0xfffe, pga, shuntRangeMv: PGA_RANGES_MV[pga]! };
}

/** The smallest value of the 1-2-2.5-5 series that is >= x (x > 0). */
function niceCeil(x: number): number {
  const decade = 10 ** Math.floor(Math.log10(x));
  for (const step of [1, 2, 2.5, 5, 10]) {
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
 *
 * Each sample, as Adafruit_INA219 does ("a sharp load will reset the INA219"): the calibration
 * register is checked first, and config and calibration are written again when a brown-out reset
 * them (the current register reads 0 with Cal = 0). Then it waits for a fresh conversion (CNVR),
 * reads shunt, bus and current, and reads the power register, which clears CNVR: consecutive
 * samples are never the same conversion read twice, so they come at most one conversion time
 * apart (17 ms with 16× averaging).
 */
export class Ina219 implements PowerMonitor {
  readonly address: number;
  readonly calibration: Ina219Calibration;
  readonly config: number;
  /** Time of one conversion (both ADCs) in ms, from the config bits: samples come at most this often. */
  readonly conversionTimeMs: number;
  /** Shunt register counts at the end of the PGA range (10 µV each): ±4000 × 2^PG. */
  readonly shuntFullScale: number;
  /** Samples that found the calibration lost and wrote it again. */
  recalibrations = 0;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private initialised = false;
  /** When CNVR was last cleared (config written, power register read), Date.now(). */
  private clearedAt = 0;

  constructor(private readonly options: Ina219Options) {
    this.address = options.address ?? 0x40;
    this.calibration = ina219Calibration(options.shuntOhms, options.maxCurrentA);
    const averaging = options.averaging ?? 16;
    const adc = ADC_AVERAGING[averaging];
    if (adc === undefined) throw new RangeError(`averaging ${averaging} is not one of 1, 2, 4, ..., 128`);
    this.config =
      ((options.busRangeV ?? 16) === 32 ? 1 << 13 : 0) | (this.calibration.pga << 11) | (adc << 7) | (adc << 3) | MODE_SHUNT_AND_BUS_CONTINUOUS;
    this.conversionTimeMs = ina219ConversionTimeMs(this.config);
    this.shuntFullScale = 4000 << this.calibration.pga;
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.retryDelayMs = options.retryDelayMs ?? 1;
  }

  get description(): string {
    return `ina219 i2c-${this.options.busNumber ?? 1} 0x${this.address.toString(16)}`;
  }

  async init(): Promise<void> {
    this.initialised = false;
    await this.configure();
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

  async sample(signal?: AbortSignal): Promise<PowerSample> {
    if (!this.initialised) throw new PowerMonitorError('NOT_INITIALISED', `${this.description}: sample() before init()`);
    let recalibrated = false;
    if ((await this.readRegister(INA219_REG.calibration)) !== this.calibration.calibration) {
      // A power-on reset (brown-out) also set the config back to 0x399F: write both.
      await this.configure();
      this.recalibrations++;
      recalibrated = true;
    }
    const bus = await this.waitForConversion(signal);
    const shunt = toSigned(await this.readRegister(INA219_REG.shunt));
    const current = toSigned(await this.readRegister(INA219_REG.current));
    await this.readRegister(INA219_REG.power); // clears CNVR: the next sample waits for a new conversion
    this.clearedAt = Date.now();
    return {
      currentMa: round(current * this.calibration.currentLsbA * 1000, 6),
      busVoltageV: round((bus >> 3) * 0.004, 6),
      shuntVoltageMv: round(shunt * 0.01, 6),
      overflow: (bus & INA219_BUS_OVF) !== 0 || Math.abs(shunt) >= this.shuntFullScale,
      ...(recalibrated ? { recalibrated } : {}),
    };
  }

  private async configure(): Promise<void> {
    await this.writeRegister(INA219_REG.config, this.config); // restarts conversion, clears CNVR
    this.clearedAt = Date.now();
    await this.writeRegister(INA219_REG.calibration, this.calibration.calibration);
  }

  /** The bus register once CNVR is set: a conversion finished since CNVR was last cleared. */
  private async waitForConversion(signal?: AbortSignal): Promise<number> {
    // Continuous mode: the next result lands at most one conversion time after CNVR was cleared.
    const due = this.clearedAt + this.conversionTimeMs - Date.now();
    if (due > 0) await sleep(Math.ceil(due), signal);
    const step = Math.max(1, Math.ceil(this.conversionTimeMs / CNVR_POLLS)); // then poll: the chip's oscillator may run slow
    for (let poll = 0; ; poll++) {
      const bus = await this.readRegister(INA219_REG.bus);
      if (bus & INA219_BUS_CNVR) return bus;
      if (poll >= CNVR_POLLS) {
        throw new PowerMonitorError('NO_CONVERSION', `${this.description}: no conversion finished within ${Math.ceil(this.conversionTimeMs + CNVR_POLLS * step)} ms (CNVR never set)`);
      }
      await sleep(step, signal);
    }
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
