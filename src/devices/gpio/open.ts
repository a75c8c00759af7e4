import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { GpioChip } from './gpio.js';
import { GpioError } from './gpio.js';

export type GpioBackend = 'auto' | 'chardev' | 'sysfs';

export interface OpenGpioOptions {
  /** chardev: a /dev/gpiochipN path or chip label; sysfs: a chip label. Default: the Pi's main controller. */
  chip?: string;
  /** Where the gpiochip devices are (default /dev). */
  devDir?: string;
  /** sysfs GPIO root (default /sys/class/gpio). */
  sysfs?: string;
  /** Which backend was chosen and why; a line failing after start-up. */
  log?: (message: string) => void;
}

export interface OpenedGpio {
  chip: GpioChip;
  backend: 'chardev' | 'sysfs';
  /** Why this backend, for the log. */
  why: string;
}

/**
 * Open the Pi's GPIO on the configured backend. The adapter modules (and so koffi and onoff) load
 * only here. `auto` takes the character device when /dev/gpiochip0 exists and koffi loads, else
 * sysfs through onoff, which cannot set pull resistors: inputs then read the Pi's reset pulls.
 */
export async function openGpioChip(backend: GpioBackend, options: OpenGpioOptions = {}): Promise<OpenedGpio> {
  const devDir = options.devDir ?? '/dev';
  const log = options.log ?? (() => {});
  let why: string;
  if (backend === 'sysfs') {
    why = 'gpio.backend is sysfs';
  } else {
    const present = existsSync(join(devDir, 'gpiochip0'));
    let chardev: typeof import('./gpio.chardev.js') | undefined;
    let libc: import('./gpio.chardev.js').Libc | undefined;
    let loadError: Error | undefined;
    if (present || backend === 'chardev') {
      try {
        chardev = await import('./gpio.chardev.js');
        libc = await chardev.loadLibc();
      } catch (err) {
        chardev = undefined;
        loadError = err as Error;
      }
    }
    if (chardev && libc) {
      const chip = await chardev.ChardevGpioChip.open({
        libc,
        ...(options.chip ? { chip: options.chip } : {}),
        devDir,
        onError: (e) => log(`gpio: ${e.message}`),
      });
      const opened = { chip, backend: 'chardev' as const, why: `${backend === 'auto' ? 'auto: ' : ''}${chip.path}` };
      log(`gpio: character device ${chip.path} (bias, kernel debounce)`);
      return opened;
    }
    if (backend === 'chardev') {
      throw new GpioError('NO_BACKEND', `gpio.backend chardev: koffi could not call libc: ${loadError?.message ?? 'unknown error'} (use gpio.backend sysfs, or reinstall koffi for this platform)`, { cause: loadError });
    }
    why = present ? `auto: koffi did not load (${loadError?.message ?? 'unknown error'})` : `auto: ${join(devDir, 'gpiochip0')} does not exist`;
  }
  const { OnoffGpioChip } = await import('./gpio.onoff.js');
  let chip: GpioChip;
  try {
    chip = await OnoffGpioChip.open({ ...(options.sysfs ? { sysfs: options.sysfs } : {}), ...(options.chip && !options.chip.startsWith('/') ? { label: options.chip } : {}) });
  } catch (err) {
    if (err instanceof GpioError) throw new GpioError(err.code, `gpio (${why}, so sysfs): ${err.message}`, { cause: err });
    throw err;
  }
  log(`gpio: sysfs through onoff (${why}): pull resistors cannot be set, inputs read the Pi's reset pulls`);
  return { chip, backend: 'sysfs', why };
}
