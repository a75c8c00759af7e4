import type { DigitalInput, DigitalOutput, GpioChip, InputSpec, OutputSpec } from './gpio.js';
import { GpioError } from './gpio.js';
import { DebouncedInput, PolarOutput } from './lines.js';

/**
 * The simulated GPIO chip: the virtual jig sets the physical level of input lines (a switch
 * bouncing, a button held) and reads the physical level of outputs (the relay coil). Polarity and
 * debounce go through the same code as the real adapter. Strict like the kernel: a line can be
 * claimed once.
 */
export class SimGpioChip implements GpioChip {
  private readonly inputs = new Map<number, { spec: InputSpec; input: DebouncedInput; high: boolean }>();
  private readonly outputs = new Map<number, { spec: OutputSpec; output: PolarOutput; high: boolean }>();
  private readonly outputListeners = new Set<(line: number, high: boolean, name: string) => void>();
  /** Physical levels of inputs before they are claimed (pull-ups etc.). */
  private readonly idle = new Map<number, boolean>();

  async input(spec: InputSpec): Promise<DigitalInput> {
    this.claim(spec.line, spec.name);
    const high = this.idle.get(spec.line) ?? spec.activeLow;
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

  /** Drive an input line's physical level (what the switch does to the pin). */
  setLevel(line: number, high: boolean): void {
    const entry = this.inputs.get(line);
    if (!entry) {
      this.idle.set(line, high);
      return;
    }
    entry.high = high;
    entry.input.feed(high !== entry.spec.activeLow);
  }

  /** Drive an input by its logical meaning: active = pressed / closed. */
  setActive(line: number, active: boolean): void {
    const entry = this.inputs.get(line);
    if (!entry) throw new GpioError('IO', `GPIO ${line} is not an input`);
    this.setLevel(line, active !== entry.spec.activeLow);
  }

  /** The physical level of an output line (true = high). */
  level(line: number): boolean {
    const entry = this.outputs.get(line);
    if (!entry) throw new GpioError('IO', `GPIO ${line} is not an output`);
    return entry.high;
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

  private claim(line: number, name: string): void {
    const owner = this.inputs.get(line)?.spec.name ?? this.outputs.get(line)?.spec.name;
    if (owner) throw new GpioError('LINE_BUSY', `GPIO ${line} (${name}) is already claimed by ${owner}`);
  }
}
