/**
 * Renders every station screen through the real driver, the simulated I2C bus and the decoding
 * panel model, and writes what the glass shows to docs/screens/<name>.png.
 *
 *   npx tsx scripts/render-screens.ts [--sh1106] [--terminal]
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimI2cBus } from '../src/devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../src/devices/display/panel.sim.js';
import { renderScreen } from '../src/operator/render.js';
import { SAMPLE_SCREENS } from '../src/operator/sample-screens.js';
import { Ssd1306Display, type OledController } from '../src/devices/display/ssd1306.js';


async function main(): Promise<void> {
  const controller: OledController = process.argv.includes('--sh1106') ? 'sh1106' : 'ssd1306';
  const terminal = process.argv.includes('--terminal');
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screens');
  await mkdir(out, { recursive: true });
  const bus = new SimI2cBus(1);
  const panel = new SimOledPanel({ controller });
  bus.attach(0x3c, panel);
  const display = new Ssd1306Display(bus, { address: 0x3c, controller });
  await display.init();
  for (const [name, screen] of Object.entries(SAMPLE_SCREENS)) {
    const fb = renderScreen(screen);
    await display.show(fb);
    if (!panel.frame().equals(fb)) throw new Error(`${name}: the panel shows something other than what was rendered`);
    await panel.savePng(join(out, `${name}.png`));
    if (terminal) console.log(`${name}\n${panel.toTerminal()}`);
    console.log(`${name.padEnd(24)} ${display.stats.lastFrame?.bytes} bytes in ${display.stats.lastFrame?.transactions} transactions`);
  }
  if (panel.errors.length > 0) throw new Error(`panel decode errors:\n${panel.errors.join('\n')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
