import { describe, it, expect, afterEach, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimGpioChip } from '../../../src/devices/gpio/gpio.sim.js';
import { prepareWorkspace } from '../../../src/sim/workspace.js';
import { VirtualJig } from '../../../src/sim/jig.js';
import { startApp, type App } from '../../../src/app.js';

const EXAMPLES = fileURLToPath(new URL('../../../jig-config/', import.meta.url));
/** jig-config/station.yaml as it was before pull-ups (issue 10): START 17 and ABORT 27 to GND, no bias; relay on BCM 5. */
const BEFORE = fileURLToPath(new URL('../../fixtures/station-before-issue-10.yaml', import.meta.url));

describe('the simulated GPIO honours bias', () => {
  it('an input nothing drives reads its pull: the bias asked for, else the Pi reset pull (BCM 0-8 up, 9-27 down)', async () => {
    const chip = new SimGpioChip();
    const up = await chip.input({ name: 'up', line: 17, activeLow: false, debounceMs: 0, bias: 'pull-up' });
    const down = await chip.input({ name: 'down', line: 4, activeLow: false, debounceMs: 0, bias: 'pull-down' });
    const reset9 = await chip.input({ name: 'reset9', line: 9, activeLow: false, debounceMs: 0 });
    const reset8 = await chip.input({ name: 'reset8', line: 8, activeLow: false, debounceMs: 0 });
    expect([up.active, down.active, reset9.active, reset8.active]).toEqual([true, false, false, true]);
    expect(chip.level(17)).toBe(true);
    expect(chip.level(2)).toBe(true); // unclaimed: what a meter reads on a bare Pi
    expect(chip.level(24)).toBe(false);
  });

  it('a button to GND with a pull-up: pressed drives low, released lets the pull bring it back', async () => {
    vi.useFakeTimers();
    try {
      const chip = new SimGpioChip();
      const start = await chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' });
      expect(start.active).toBe(false);
      chip.setLevel(17, false);
      await vi.advanceTimersByTimeAsync(21);
      expect(start.active).toBe(true);
      chip.release(17);
      await vi.advanceTimersByTimeAsync(21);
      expect(start.active).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a floating line (bias disabled) settles at a level from the seed, the same for the same seed, and the other level for some seed', async () => {
    const levels = async (seed: number) => {
      const chip = new SimGpioChip({ seed });
      const inputs = await Promise.all([10, 11, 12, 16].map((line) => chip.input({ name: `f${line}`, line, activeLow: false, debounceMs: 0, bias: 'disabled' })));
      return inputs.map((i) => i.active);
    };
    expect(await levels(7)).toEqual(await levels(7));
    const all = (await Promise.all([1, 2, 3, 4, 5, 6].map(levels))).flat();
    expect(all).toContain(true);
    expect(all).toContain(false);
  });

  it('on sysfs (no bias), a pull-up asked for is not applied: the Pi reset pull holds', async () => {
    const chip = new SimGpioChip({ canSetBias: false });
    const start = await chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' });
    expect(start.active).toBe(true); // pulled down at reset: "pressed"
  });
});

describe('the example wiring on a simulated bare Pi', () => {
  const roots: string[] = [];
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const s of stops.splice(0).reverse()) await s();
    for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
  });

  async function boot(stationFile: string) {
    const root = await mkdtemp(join(tmpdir(), 'pijig-bias-'));
    roots.push(root);
    const ws = await prepareWorkspace({ root, stationFile, planFile: join(EXAMPLES, 'plan.yaml') });
    const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir });
    stops.push(() => jig.close());
    const relay = ws.config.gpio.outputs.dut_power;
    // Before pijig claims its lines (the Pi booting), the relay driver sees the pin's reset pull.
    const relayActiveAtBoot = jig.gpio.level(relay.line) !== relay.active_low;
    const app: App = await startApp(ws.config, jig.hardware(), { log: () => {} });
    stops.push(() => app.stop());
    const i = ws.config.gpio.inputs;
    return {
      relayActiveAtBoot,
      start: jig.gpio.inputActive(i.start.line),
      abort: jig.gpio.inputActive(i.abort.line),
      lid: jig.gpio.inputActive(i.lid_closed.line),
    };
  }

  it('without pull-ups (the wiring before issue 10), START and ABORT read pressed and the DUT relay is on while the Pi boots', async () => {
    expect(await boot(BEFORE)).toEqual({ relayActiveAtBoot: true, start: true, abort: true, lid: false });
  });

  it('with pull-ups on START and ABORT and the relay on BCM 24, both buttons read released and the relay is off at boot', async () => {
    expect(await boot(join(EXAMPLES, 'station.yaml'))).toEqual({ relayActiveAtBoot: false, start: false, abort: false, lid: false });
  });
});
