import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DigitalInput, DigitalOutput, GpioChip, InputSpec, OutputSpec } from './gpio.js';
import { GpioError, pickPiChip } from './gpio.js';
import { DebouncedInput, PolarOutput } from './lines.js';

type OnoffGpio = import('onoff').Gpio;

const SYSFS = '/sys/class/gpio';

/**
 * Find the sysfs number base of the Pi's GPIO chip. Since kernel 6.6 the lines are numbered from
 * the chip's base (512 on Pi 4 / Zero 2 W kernels), so BCM 17 is sysfs 529 there
 * (fivdi/onoff#200, raspberrypi/linux#6084).
 */
export async function findGpioBase(sysfs = SYSFS, wantedLabel?: string): Promise<{ base: number; label: string }> {
  let chips: string[];
  try {
    chips = (await readdir(sysfs)).filter((n) => n.startsWith('gpiochip'));
  } catch (err) {
    throw new GpioError('NO_CHIP', `${sysfs} is missing: this kernel has no sysfs GPIO (use the libgpiod adapter)`, { cause: err });
  }
  const found: { base: number; label: string; ngpio: number }[] = [];
  for (const chip of chips) {
    const read = (f: string) => readFile(join(sysfs, chip, f), 'utf8').then((t) => t.trim());
    found.push({ base: Number(await read('base')), label: await read('label'), ngpio: Number(await read('ngpio')) });
  }
  const { chip, labels } = pickPiChip(found, wantedLabel, (c) => c.ngpio);
  if (!chip) throw new GpioError('NO_CHIP', `no GPIO chip labelled ${labels.join(' or ')} in ${sysfs} (found: ${found.map((c) => c.label).join(', ') || 'none'})`);
  return chip;
}

/** The real GPIO adapter on onoff (sysfs), with edge interrupts; debounce is ours (onoff's delays every edge). */
export class OnoffGpioChip implements GpioChip {
  private readonly lines: { gpio: OnoffGpio; input?: DebouncedInput; output?: PolarOutput }[] = [];

  private constructor(
    private readonly Gpio: typeof import('onoff').Gpio,
    readonly base: number,
  ) {}

  static async open(opts: { sysfs?: string; label?: string } = {}): Promise<OnoffGpioChip> {
    const { Gpio } = await import('onoff');
    if (!Gpio.accessible) throw new GpioError('NO_CHIP', 'GPIO is not accessible (is this a Raspberry Pi, and is the user in the gpio group?)');
    const { base } = await findGpioBase(opts.sysfs, opts.label);
    return new OnoffGpioChip(Gpio, base);
  }

  async input(spec: InputSpec): Promise<DigitalInput> {
    const gpio = this.export(spec.line, spec.name, 'in', 'both');
    const high = gpio.readSync() === 1;
    const input = new DebouncedInput(spec.name, high !== spec.activeLow, spec.debounceMs);
    gpio.watch((err, value) => {
      if (!err) input.feed((value === 1) !== spec.activeLow);
    });
    this.lines.push({ gpio, input });
    return input;
  }

  async output(spec: OutputSpec): Promise<DigitalOutput> {
    // 'high'/'low' as the initial direction sets the level glitch-free, already inactive.
    const gpio = this.export(spec.line, spec.name, spec.activeLow ? 'high' : 'low');
    const output = new PolarOutput(spec.name, spec.activeLow, (high) => gpio.write(high ? 1 : 0));
    this.lines.push({ gpio, output });
    return output;
  }

  async close(): Promise<void> {
    for (const { gpio, input, output } of this.lines) {
      try {
        if (output) await output.set(false);
        input?.dispose();
        gpio.unexport();
      } catch {
        // best effort: the process is going away
      }
    }
    this.lines.length = 0;
  }

  private export(line: number, name: string, direction: 'in' | 'high' | 'low', edge?: 'both'): OnoffGpio {
    try {
      return new this.Gpio(this.base + line, direction, edge);
    } catch (err) {
      throw new GpioError('EXPORT_FAILED', `GPIO ${line} (${name}, sysfs ${this.base + line}): ${(err as Error).message}`, { cause: err });
    }
  }
}
