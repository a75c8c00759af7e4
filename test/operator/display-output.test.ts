import { describe, it, expect, vi } from 'vitest';
import { attachDisplay } from '../../src/operator/display-output.js';
import { SimI2cBus } from '../../src/devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../../src/devices/display/panel.sim.js';
import { Ssd1306Display } from '../../src/devices/display/ssd1306.js';
import { renderScreen } from '../../src/operator/render.js';
import type { Screen } from '../../src/operator/screens.js';

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
    const failuresBefore = display.stats.failures;
    show({ kind: 'aborted' });
    await vi.waitFor(() => expect(log).toHaveLength(1));
    show({ kind: 'aborted', step: 'program' });
    // the second frame has been tried and failed too (the driver counts each failed attempt)...
    await vi.waitFor(() => expect(display.stats.failures).toBe(failuresBefore + 2));
    await new Promise((r) => setImmediate(r));
    expect(log).toHaveLength(1); // ...and is not reported again: one report per outage
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
