import { describe, it, expect, afterEach } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGpioChip } from '../../../src/devices/gpio/open.js';
import { ChardevGpioChip } from '../../../src/devices/gpio/gpio.chardev.js';

/** Backend choice on this machine: koffi loads, and there is no GPIO (no /dev/gpiochip*, no /sys/class/gpio). */
describe('openGpioChip', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const tempDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'pijig-open-'));
    dirs.push(d);
    return d;
  };

  it('auto takes the character device when gpiochip0 exists and koffi loads', async () => {
    const dev = await tempDir();
    await writeFile(join(dev, 'gpiochip0'), '');
    const log: string[] = [];
    const opened = await openGpioChip('auto', { devDir: dev, chip: join(dev, 'gpiochip0'), log: (m) => log.push(m) });
    expect(opened.backend).toBe('chardev');
    expect(opened.chip).toBeInstanceOf(ChardevGpioChip);
    expect(log).toEqual([`gpio: character device ${join(dev, 'gpiochip0')} (bias, kernel debounce)`]);
    await opened.chip.close();
  });

  it('auto falls back to sysfs when there is no gpiochip0, and says why when sysfs fails too', async () => {
    const dev = await tempDir();
    await expect(openGpioChip('auto', { devDir: dev, sysfs: join(dev, 'no-sysfs') })).rejects.toThrow(
      new RegExp(`^gpio \\(auto: ${join(dev, 'gpiochip0')} does not exist, so sysfs\\): `),
    );
  });

  it('sysfs is used when configured, even with a gpiochip present', async () => {
    const dev = await tempDir();
    await writeFile(join(dev, 'gpiochip0'), '');
    await expect(openGpioChip('sysfs', { devDir: dev, sysfs: join(dev, 'no-sysfs') })).rejects.toThrow(/^gpio \(gpio.backend is sysfs, so sysfs\): /);
  });

  it('chardev is used when configured, and a missing chip is named with the line that needed it', async () => {
    const dev = await tempDir();
    const opened = await openGpioChip('chardev', { devDir: dev, chip: '/dev/gpiochip9' });
    expect(opened.backend).toBe('chardev');
    await expect(opened.chip.input({ name: 'lid_closed', line: 22, activeLow: false, debounceMs: 30, bias: 'pull-down' })).rejects.toThrow(
      /^GPIO 22 \(lid_closed\): cannot open GPIO chip \/dev\/gpiochip9: no such GPIO chip/,
    );
    await opened.chip.close();
  });
});
