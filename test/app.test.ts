import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { configFaultScreen, mediaSettingsFrom, probeSettingsFrom, showOnDefaultDisplay } from '../src/app.js';
import { YamlSource } from '../src/config/yaml.js';
import { parseStation, loadStation } from '../src/config/station.js';
import { ConfigError } from '../src/config/errors.js';
import { SimI2cBus } from '../src/devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../src/devices/display/panel.sim.js';
import { renderScreen } from '../src/devices/display/render.js';

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

  it('maps the station config to the probe driver and media settings', async () => {
    const config = await loadStation(example);
    expect(probeSettingsFrom(config.probe!)).toEqual({ kind: 'stlink', target: 'target/stm32f1x.cfg', speedKhz: 1800, extraCommands: [] });
    expect(
      probeSettingsFrom({ kind: 'linuxgpiod', target: 'target/stm32f1x.cfg', extra_commands: ['reset_config srst_only'], gpio: { swclk: 25, swdio: 24, srst: 18, chip: 0 }, openocd: 'openocd' }),
    ).toEqual({ kind: 'linuxgpiod', target: 'target/stm32f1x.cfg', gpio: { chip: 0, swclk: 25, swdio: 24, srst: 18 }, extraCommands: ['reset_config srst_only'] });
    expect(mediaSettingsFrom(config)).toEqual({ product: 'widget', target: 'stm32f103c8', allowDowngrade: false, maxFileBytes: 16 * 1024 * 1024, publicKeys: [] });
  });
});
