import { PijigError } from '../../core/errors.js';
/**
 * The GPIO port. Levels are logical: `true` means *active* (button pressed, lid closed, relay
 * energised), whatever the wiring polarity; adapters apply active-low. Inputs are debounced by
 * the adapter (see debounce.ts) and emit a change only once the new level has been stable.
 */
export interface DigitalInput {
  readonly name: string;
  /** The debounced logical level. */
  readonly active: boolean;
  /** Subscribe to debounced changes; returns an unsubscribe function. */
  onChange(listener: (active: boolean) => void): () => void;
}

export interface DigitalOutput {
  readonly name: string;
  readonly active: boolean;
  set(active: boolean): Promise<void>;
}

/** The pin's internal pull resistor. */
export type GpioBias = 'pull-up' | 'pull-down' | 'disabled';

export interface InputSpec {
  name: string;
  /** BCM line number on the GPIO chip. */
  line: number;
  activeLow: boolean;
  debounceMs: number;
  /**
   * Pull resistor to set. Absent: leave the pin as it is (on a Pi after reset BCM 0-8 pull up,
   * 9-27 pull down). Adapters that cannot set bias (sysfs) ignore it; `config check` warns.
   */
  bias?: GpioBias;
}

export interface OutputSpec {
  name: string;
  line: number;
  activeLow: boolean;
}

export interface GpioChip {
  input(spec: InputSpec): Promise<DigitalInput>;
  /** Outputs start inactive. */
  output(spec: OutputSpec): Promise<DigitalOutput>;
  /** Drive every output inactive and release the lines. */
  close(): Promise<void>;
}

export class GpioError extends PijigError<'NO_CHIP' | 'NO_BACKEND' | 'EXPORT_FAILED' | 'REQUEST_FAILED' | 'LINE_BUSY' | 'IO'> {}
