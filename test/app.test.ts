import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { configFaultScreen, showOnDefaultDisplay } from '../src/app.js';
import { openocdArgs } from '../src/devices/probe/probe-config.js';
import { YamlSource } from '../src/config/yaml.js';
import { parseStation, loadStation } from '../src/config/station.js';
import { ConfigError } from '../src/config/errors.js';
import { SimI2cBus } from '../src/devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../src/devices/display/panel.sim.js';
import { renderScreen } from '../src/operator/render.js';

const example = fileURLToPath(new URL('../jig-config/station.yaml', import.meta.url));

describe('composition root', () => {
  it('shows a station config error on the OLED at its usual address, as file:line and field', async () => {
    const text = (await readFile(example, 'utf8')).replace('line: 17,', 'line: 99,');
    const err = (() => {
      try {
        parseStation(YamlSource.parse(text, '/etc/pijig/station.yaml'));
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    const screen = configFaultScreen(err);
    expect(screen).toEqual({ kind: 'fault', title: 'CONFIG ERROR', lines: ['station.yaml:12', 'gpio.inputs.start.line', expect.stringMatching(/unknown pin/)] });
    const bus = new SimI2cBus(1);
    const panel = new SimOledPanel({ controller: 'ssd1306' });
    bus.attach(0x3c, panel);
    await showOnDefaultDisplay(async () => bus, screen);
    expect(panel.frame().equals(renderScreen(screen))).toBe(true);
    // no panel there: nothing thrown, the error still reaches the log through the caller
    await expect(showOnDefaultDisplay(async () => new SimI2cBus(1), screen)).resolves.toBeUndefined();
  });

  it('the probe and media sections are the drivers\' settings, and what validates the driver accepts', async () => {
    const config = await loadStation(example);
    expect(openocdArgs(config.probe!).filter((a) => a !== '-c')).toEqual(expect.arrayContaining(['source [find interface/stlink.cfg]', 'source [find {target/stm32f1x.cfg}]', 'adapter speed 1800']));
    expect(config.probe!.deadlines).toEqual({ open_ms: 15_000, command_ms: 15_000, per_kib_ms: 2_000 });
    const gpio = { kind: 'linuxgpiod', target: 'target/stm32f1x.cfg', extra_commands: ['reset_config srst_only'], gpio: { swclk: 20, swdio: 21, srst: 16 } };
    const source = YamlSource.parse((await readFile(example, 'utf8')).replace(/probe:\n(  .*\n)+/, `probe: ${JSON.stringify(gpio)}\n`), '/etc/pijig/station.yaml');
    expect(openocdArgs(parseStation(source).probe!).filter((a) => a !== '-c')).toEqual(expect.arrayContaining(['adapter driver linuxgpiod', 'adapter gpio swclk 20 -chip 0', 'adapter gpio srst 16 -chip 0', 'transport select swd', 'reset_config srst_only']));
    expect(config.media).toEqual({ mount_dir: '/media/pijig', product: 'widget', target: 'stm32f103c8', allow_downgrade: false, max_file_mb: 16, public_keys: [] });
  });

  it.each([
    ['kind: bcm2835gpio with no peripheral_base', { kind: 'bcm2835gpio', gpio: { swclk: 25, swdio: 24 } }, 'probe.peripheral_base', /needs peripheral_base/],
    ['a Pi-GPIO adapter with no swdio', { kind: 'linuxgpiod', gpio: { swclk: 25 } }, 'probe.gpio.swdio', /needs gpio.swdio/],
    ['JTAG pins missing', { kind: 'linuxgpiod', transport: 'jtag', gpio: { tck: 25, tms: 24, tdi: 23 } }, 'probe.gpio.tdo', /needs gpio.tdo/],
    ['remote_bitbang over SWD', { kind: 'remote_bitbang', transport: 'swd', remote_bitbang: { port: 3335 } }, 'probe.transport', /JTAG only/],
    ['pins on a USB probe', { kind: 'stlink', gpio: { swclk: 25, swdio: 24 } }, 'probe.gpio', /takes no gpio pins/],
  ])('refuses %s as a config error with file:line (not a start-up exception)', async (_what, probe, path, message) => {
    const text = (await readFile(example, 'utf8')).replace(/probe:\n(  .*\n)+/, `probe: ${JSON.stringify(probe)}\n`);
    let err: unknown;
    try {
      parseStation(YamlSource.parse(text, '/etc/pijig/station.yaml'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issue = (err as ConfigError).issues.find((i) => i.path === path);
    expect(issue, (err as ConfigError).message).toMatchObject({ file: '/etc/pijig/station.yaml', line: expect.any(Number), message: expect.stringMatching(message) });
  });
});
