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

/** Labels of the Pi's main GPIO controller across models (Pi 5: the RP1's lines). */
export const PI_CHIP_LABELS = ['pinctrl-bcm2711', 'pinctrl-bcm2835', 'pinctrl-bcm2712', 'pinctrl-rp1', 'raspberrypi-exp-gpio'];

/**
 * The Pi's main GPIO chip among those found: by label (the one asked for, else one of the Pi's),
 * else - when none was asked for - the first with at least 28 lines. `labels` names what was looked for.
 */
export function pickPiChip<T extends { label: string }>(found: readonly T[], wanted: string | undefined, lines: (chip: T) => number): { chip: T | undefined; labels: readonly string[] } {
  const labels = wanted ? [wanted] : PI_CHIP_LABELS;
  return { chip: found.find((c) => labels.includes(c.label)) ?? (wanted ? undefined : found.find((c) => lines(c) >= 28)), labels };
}
