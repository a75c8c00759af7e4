/** A light sensor looking at one DUT LED. Owned by the functional-checks work; may grow. */
export interface LightReading {
  /** Fraction of the window the LED was seen lit (0..1). */
  dutyCycle: number;
  /** Blink frequency in Hz, from counted edges (0 when steady). */
  frequencyHz: number;
  /** Colour sensors only. */
  rgb?: { r: number; g: number; b: number; clear: number };
}

export interface LightSensor {
  readonly name: string;
  readonly kind: 'photo' | 'color';
  /** Observe the LED for `windowMs`; honours the signal. */
  observe(windowMs: number, signal: AbortSignal): Promise<LightReading>;
}
