import { SimI2cBus, type I2cTransaction } from '../../../src/devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../../../src/devices/display/panel.sim.js';
import { Ssd1306Display, type OledController } from '../../../src/devices/display/ssd1306.js';

export const ADDRESS = 0x3c;

/** The real driver on a simulated bus with the decoding panel model attached. */
export function oledRig(controller: OledController) {
  const bus = new SimI2cBus(1);
  const panel = new SimOledPanel({ controller });
  bus.attach(ADDRESS, panel);
  const log: I2cTransaction[] = [];
  bus.onTransaction = (t) => log.push(t);
  const display = new Ssd1306Display(bus, { address: ADDRESS, controller });
  return { bus, panel, display, log };
}
