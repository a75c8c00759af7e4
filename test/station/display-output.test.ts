import { describe, it, expect, vi } from 'vitest';
import { attachDisplay } from '../../src/station/display-output.js';
import { SimI2cBus } from '../../src/devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../../src/devices/display/panel.sim.js';
import { Ssd1306Display } from '../../src/devices/display/ssd1306.js';
import { renderScreen } from '../../src/devices/display/render.js';
import type { Screen } from '../../src/devices/display/screens.js';

describe('the OLED as a station output', () => {
  it('reports a dead panel once, keeps going, and draws again when it answers', async () => {
    const bus = new SimI2cBus(1);
    const panel = new SimOledPanel({ controller: 'ssd1306' });
    bus.attach(0x3c, panel);
    const display = new Ssd1306Display(bus, { address: 0x3c, controller: 'ssd1306' });
    await display.init();
    const listeners = new Set<(s: Screen) => void>();
    const source = { on: (_e: 'screen', l: (s: Screen) => void) => (listeners.add(l), () => listeners.delete(l)) };
    const log: string[] = [];
    attachDisplay(source, display, (m) => log.push(m));
    const show = (s: Screen) => listeners.forEach((l) => l(s));

    bus.detach(0x3c);
    show({ kind: 'aborted' });
    show({ kind: 'aborted', step: 'program' });
    await vi.waitFor(() => expect(log).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toHaveLength(1); // one report per outage
    expect(log[0]).toMatch(/^display: /);

    const replugged = new SimOledPanel({ controller: 'ssd1306' }); // a fresh module: dark until configured
    bus.attach(0x3c, replugged);
    bus.reattach(0x3c);
    const pass: Screen = { kind: 'pass', serial: 'WG000007', durationMs: 4900 };
    show(pass);
    await vi.waitFor(() => expect(log).toEqual([expect.stringMatching(/^display: /), 'display: answering again']));
    expect(replugged.displayOn).toBe(true); // the driver reconfigured the panel itself
    expect(replugged.frame().equals(renderScreen(pass))).toBe(true);
  });
});
