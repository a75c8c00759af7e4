import type { DigitalInput } from '../gpio/gpio.js';
import type { LightReading, LightSensor } from './light-sensor.js';

/**
 * A phototransistor taped over one DUT LED, wired to a GPIO input (active = light seen). The
 * input is debounced by the GPIO adapter, so its debounce time bounds the fastest blink this can
 * follow (a 5 ms debounce still resolves 50 Hz). Edges are timed with the global clock, so tests
 * drive it with fake timers.
 */
export class PhotoSensor implements LightSensor {
  readonly kind = 'photo';

  constructor(
    readonly name: string,
    private readonly input: DigitalInput,
    private readonly now: () => number = () => Date.now(),
  ) {}

  observe(windowMs: number, signal: AbortSignal): Promise<LightReading> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const start = this.now();
      let lit = this.input.active;
      let litSince = start;
      let litMs = 0;
      let edges = 0;
      const rises: number[] = [];

      const unsubscribe = this.input.onChange((active) => {
        if (active === lit) return;
        const t = this.now();
        edges++;
        if (active) {
          rises.push(t);
          litSince = t;
        } else {
          litMs += t - litSince;
        }
        lit = active;
      });
      const cleanup = (): void => {
        clearTimeout(timer);
        unsubscribe();
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        cleanup();
        const end = this.now();
        if (lit) litMs += end - litSince;
        const span = Math.max(1, end - start);
        resolve({ dutyCycle: clamp01(litMs / span), frequencyHz: frequency(rises, edges, span), edges });
      }, windowMs);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Hz from the rising edges' spacing; with fewer than two rises, from the transition count. */
export function frequency(rises: readonly number[], edges: number, windowMs: number): number {
  if (rises.length >= 2) {
    const span = rises[rises.length - 1]! - rises[0]!;
    if (span > 0) return round3(((rises.length - 1) * 1000) / span);
  }
  if (edges < 2) return 0;
  return round3((edges / 2) / (windowMs / 1000));
}

function clamp01(x: number): number {
  return Math.min(1, Math.max(0, Number(x.toFixed(4))));
}

function round3(x: number): number {
  return Number(x.toFixed(3));
}
