import type { DigitalInput, DigitalOutput, GpioBias, GpioChip, InputSpec, OutputSpec } from './gpio.js';
import { GpioError } from './gpio.js';
import { DebouncedInput, PolarOutput } from './lines.js';
import { resetPull } from '../../config/pi-header.js';

export interface SimGpioOptions {
  /** Seed of the levels floating lines settle at (bias disabled, or no pull at all). */
  seed?: number;
  /** Whether the chip can set bias (chardev) or not (sysfs: every input keeps its reset pull). */
  canSetBias?: boolean;
}

/**
 * The simulated GPIO chip: a bare Raspberry Pi. The virtual jig drives input lines (a button
 * pulls its line to ground while pressed) or lets go of them (`release`: a switch that is open),
 * and reads the physical level of outputs (the relay coil).
 *
 * A line nothing drives reads its pull: the input's `bias` when it asks for one (and the chip can
 * set bias), otherwise the Pi's reset pull (BCM 0-8 up, 9-27 down; config/pi-header.ts). With bias
 * `disabled` the line floats: a real floating CMOS input reads whatever noise and leakage give
 * it. Here it settles at a level drawn from the seed, per line, and keeps it: runs stay
 * reproducible, and another seed shows the other level.
 *
 * Polarity and debounce go through the same code as the real adapters. Strict like the kernel:
 * a line can be claimed once.
 */
export class SimGpioChip implements GpioChip {
  private readonly inputs = new Map<number, { spec: InputSpec; input: DebouncedInput; high: boolean }>();
  private readonly outputs = new Map<number, { spec: OutputSpec; output: PolarOutput; high: boolean }>();
  private readonly outputListeners = new Set<(line: number, high: boolean, name: string) => void>();
  /** Levels something outside the Pi drives on lines (a pressed button, a sensor's output). */
  private readonly driven = new Map<number, boolean>();
  private readonly floating = new Map<number, boolean>();
  private readonly seed: number;
  private readonly canSetBias: boolean;

  constructor(options: SimGpioOptions = {}) {
    this.seed = options.seed ?? 1;
    this.canSetBias = options.canSetBias ?? true;
  }

  async input(spec: InputSpec): Promise<DigitalInput> {
    this.claim(spec.line, spec.name);
    const high = this.physical(spec.line, spec.bias);
    const input = new DebouncedInput(spec.name, high !== spec.activeLow, spec.debounceMs);
    this.inputs.set(spec.line, { spec, input, high });
    return input;
  }

  async output(spec: OutputSpec): Promise<DigitalOutput> {
    this.claim(spec.line, spec.name);
    const entry = { spec, high: spec.activeLow, output: undefined as unknown as PolarOutput };
    entry.output = new PolarOutput(spec.name, spec.activeLow, (high) => {
      entry.high = high;
      for (const l of this.outputListeners) l(spec.line, high, spec.name);
    });
    this.outputs.set(spec.line, entry);
    return entry.output;
  }

  async close(): Promise<void> {
    for (const { output } of this.outputs.values()) await output.set(false);
    for (const { input } of this.inputs.values()) input.dispose();
    this.inputs.clear();
    // outputs stay readable: the pins keep the (inactive) level they were left at
  }

  /** Drive a line's physical level from outside (a closed switch, a sensor's output). */
  setLevel(line: number, high: boolean): void {
    this.driven.set(line, high);
    this.update(line);
  }

  /** Stop driving a line (an open switch): it reads its pull, or floats. */
  release(line: number): void {
    this.driven.delete(line);
    this.update(line);
  }

  /** Drive an input by its logical meaning: active = pressed / closed. */
  setActive(line: number, active: boolean): void {
    const entry = this.inputs.get(line);
    if (!entry) throw new GpioError('IO', `GPIO ${line} is not an input`);
    this.setLevel(line, active !== entry.spec.activeLow);
  }

  /**
   * The physical level of a line (true = high): an output's driven level; for any other line what
   * a meter would read (driven, pulled, or floating) - e.g. what a relay driver on an unclaimed
   * pin sees while the Pi boots.
   */
  level(line: number): boolean {
    const out = this.outputs.get(line);
    if (out) return out.high;
    return this.physical(line, this.inputs.get(line)?.spec.bias);
  }

  /** The debounced logical level of a claimed input, as the station sees it. */
  inputActive(line: number): boolean {
    const entry = this.inputs.get(line);
    if (!entry) throw new GpioError('IO', `GPIO ${line} is not an input`);
    return entry.input.active;
  }

  /** Logical state of an output by line. */
  outputActive(line: number): boolean {
    const entry = this.outputs.get(line);
    if (!entry) throw new GpioError('IO', `GPIO ${line} is not an output`);
    return entry.output.active;
  }

  onOutput(listener: (line: number, high: boolean, name: string) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  private update(line: number): void {
    const entry = this.inputs.get(line);
    if (!entry) return;
    entry.high = this.physical(line, entry.spec.bias);
    entry.input.feed(entry.high !== entry.spec.activeLow);
  }

  private physical(line: number, bias: GpioBias | undefined): boolean {
    const driven = this.driven.get(line);
    if (driven !== undefined) return driven;
    const pull = bias && this.canSetBias ? bias : resetPull(line);
    if (pull === 'pull-up' || pull === 'up') return true;
    if (pull === 'pull-down' || pull === 'down') return false;
    return this.floatingLevel(line);
  }

  private floatingLevel(line: number): boolean {
    let level = this.floating.get(line);
    if (level === undefined) {
      // one draw of a small hash of (seed, line): stable for a line, different across seeds
      let h = Math.imul(this.seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(line + 1, 0xc2b2ae35);
      h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
      h ^= h >>> 15;
      level = (h & 1) === 1;
      this.floating.set(line, level);
    }
    return level;
  }

  private claim(line: number, name: string): void {
    const owner = this.inputs.get(line)?.spec.name ?? this.outputs.get(line)?.spec.name;
    if (owner) throw new GpioError('LINE_BUSY', `GPIO ${line} (${name}) is already claimed by ${owner}`);
  }
}
