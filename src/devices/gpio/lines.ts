import type { DigitalInput, DigitalOutput } from './gpio.js';
import { Debouncer } from './debounce.js';

/** A debounced logical input fed with raw levels by an adapter (real or simulated). */
export class DebouncedInput implements DigitalInput {
  private readonly listeners = new Set<(active: boolean) => void>();
  private readonly debouncer: Debouncer;

  constructor(
    readonly name: string,
    initialActive: boolean,
    debounceMs: number,
  ) {
    this.debouncer = new Debouncer(initialActive, debounceMs, (level) => {
      for (const listener of [...this.listeners]) listener(level);
    });
  }

  get active(): boolean {
    return this.debouncer.level;
  }

  /** Raw logical level from the adapter (polarity already applied). */
  feed(active: boolean): void {
    this.debouncer.feed(active);
  }

  onChange(listener: (active: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispose(): void {
    this.debouncer.dispose();
    this.listeners.clear();
  }
}

/** An output that remembers its logical level and writes the physical one through `writeRaw`. */
export class PolarOutput implements DigitalOutput {
  private level = false;

  constructor(
    readonly name: string,
    private readonly activeLow: boolean,
    private readonly writeRaw: (high: boolean) => Promise<void> | void,
  ) {}

  get active(): boolean {
    return this.level;
  }

  async set(active: boolean): Promise<void> {
    this.level = active;
    await this.writeRaw(active !== this.activeLow);
  }
}
