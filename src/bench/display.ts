import type { BenchFigure } from './bench.js';
import { SimI2cBus } from '../devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../devices/display/panel.sim.js';
import { renderScreen } from '../operator/render.js';
import type { Screen } from '../operator/screens.js';
import { Ssd1306Display, type OledController } from '../devices/display/ssd1306.js';

const FRAMES = 60;
const ADDRESS = 0x3c;

/** Bits on the wire for one write transaction of n bytes: START, address + n bytes (9 bits each with ACK), STOP. */
const wireBits = (n: number): number => 1 + (1 + n) * 9 + 1;

/**
 * OLED figures: bytes and I2C transactions per full frame for each controller, the wire time
 * that implies at 400 kHz, and the time to render a screen and push it through the simulated
 * bus and panel decoder (median of FRAMES frames, running screens with changing progress).
 */
export async function run(): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  for (const controller of ['ssd1306', 'sh1106'] as const satisfies readonly OledController[]) {
    const bus = new SimI2cBus(1);
    const panel = new SimOledPanel({ controller });
    bus.attach(ADDRESS, panel);
    const sizes: number[] = [];
    bus.onTransaction = (t) => sizes.push(t.bytes);
    const display = new Ssd1306Display(bus, { address: ADDRESS, controller });
    await display.init();

    const times: number[] = [];
    for (let i = 0; i < FRAMES; i++) {
      const screen: Screen = { kind: 'running', step: 'program', stepIndex: 2, stepCount: 6, progress: i / FRAMES, elapsedMs: i * 1000 };
      sizes.length = 0;
      const t0 = performance.now();
      await display.show(renderScreen(screen));
      times.push(performance.now() - t0);
    }
    const last = display.stats.lastFrame!;
    const wireMs = (sizes.reduce((a, n) => a + wireBits(n), 0) / 400_000) * 1000;
    figures.push(
      { name: `oled ${controller}: bytes per full frame`, value: last.bytes, unit: 'B', method: 'control bytes included, counted by the driver' },
      { name: `oled ${controller}: I2C transactions per frame`, value: last.transactions, unit: 'tx', method: 'write transactions per show()' },
      { name: `oled ${controller}: wire time per frame at 400 kHz`, value: wireMs, unit: 'ms', method: 'START+addr+bytes*9 bits+STOP, no clock stretching' },
      { name: `oled ${controller}: render + send through sim bus`, value: median(times), unit: 'ms', method: `median of ${FRAMES} running-screen frames, renderScreen -> driver -> SimI2cBus -> SimOledPanel decode` },
    );
    if (panel.errors.length > 0) throw new Error(`oled bench: panel decode errors: ${panel.errors.join('; ')}`);
  }
  return figures;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
