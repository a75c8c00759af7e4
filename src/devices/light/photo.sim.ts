/** What a simulated phototransistor looks at: the simulated DUT's LEDs (DutFirmware satisfies this). */
export interface SimLedSource {
  ledLit(name: string): boolean;
  onLedChange(listener: (name: string, lit: boolean) => void): () => void;
}

/**
 * A simulated phototransistor over LED `led`: pushes the LED's lit state as the raw input level
 * into `feed` (e.g. the SimGpioChip's `DebouncedInput.feed`) whenever it changes. `stuck`
 * injects a sensor fault (covered: always dark; flooded by ambient light: always lit).
 */
export class SimPhotoTransistor {
  private unsubscribe: (() => void) | undefined;
  private stuckLevel: 'dark' | 'lit' | undefined;

  constructor(
    private readonly source: SimLedSource,
    readonly led: string,
    private readonly feed: (level: boolean) => void,
  ) {}

  /** The level the sensor drives now. */
  get level(): boolean {
    if (this.stuckLevel) return this.stuckLevel === 'lit';
    return this.source.ledLit(this.led);
  }

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.source.onLedChange((name) => {
      if (name === this.led) this.feed(this.level);
    });
    this.feed(this.level);
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  stuck(level: 'dark' | 'lit' | undefined): void {
    this.stuckLevel = level;
    if (this.unsubscribe) this.feed(this.level);
  }
}
