import { PijigError } from '../../core/errors.js';
/**
 * A light sensor looking at one DUT LED: a phototransistor on a GPIO input (on/off/blink) or a
 * TCS34725 colour sensor on I2C (adds colour and intensity).
 *
 * Contract: `observe` watches the LED for `windowMs` and reports what it saw; it rejects with a
 * LightSensorError when the sensor itself fails (I2C fault: the I2cError is the `cause`), and
 * with the signal's reason as soon as the signal aborts. Judging the reading is the step's job.
 */
export interface LightReading {
  /** Fraction of the window the LED was seen lit (0..1). */
  dutyCycle: number;
  /** Blink frequency in Hz, from counted edges (0 when steady). */
  frequencyHz: number;
  /** Transitions (dark to lit and lit to dark) seen in the window. */
  edges: number;
  /** Colour sensors only: mean raw counts while the LED was lit (or over the window if never lit). */
  rgb?: { r: number; g: number; b: number; clear: number; /** counts at saturation */ fullScale: number };
}

export interface LightSensor {
  readonly name: string;
  readonly kind: 'photo' | 'color';
  /** Observe the LED for `windowMs`; honours the signal. */
  observe(windowMs: number, signal: AbortSignal): Promise<LightReading>;
}

export type LightSensorErrorCode = 'I2C' | 'WRONG_ID' | 'NOT_READY';

export class LightSensorError extends PijigError<LightSensorErrorCode> {}
