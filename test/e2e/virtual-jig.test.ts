import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace, type SimWorkspace } from '../../src/sim/workspace.js';
import { VirtualJig } from '../../src/sim/jig.js';
import { startApp, type App } from '../../src/app.js';
import { importFromStick, oneCycle } from '../../src/sim/run.js';
import { renderScreen } from '../../src/operator/render.js';
import type { OpenocdProcessInfo } from '../../src/devices/probe/openocd.js';

const EXAMPLES = fileURLToPath(new URL('../../jig-config/', import.meta.url));

/**
 * The whole station on the virtual jig: the example station and plan, a signed bundle brought on
 * a simulated stick, and the real openocd programming the simulated STM32 in every cycle.
 */
describe('the station on the virtual jig', () => {
  let root: string;
  let ws: SimWorkspace;
  let jig: VirtualJig;
  let app: App;
  const processes: OpenocdProcessInfo[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-vjig-'));
    ws = await prepareWorkspace({ root, stationFile: join(EXAMPLES, 'station.yaml'), planFile: join(EXAMPLES, 'plan.yaml') });
    jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir });
    const hw = jig.hardware();
    app = await startApp(ws.config, { ...hw, onOpenocd: (p) => void processes.push(p) }, { log: () => {}, stickPollMs: 50 });
    await importFromStick(ws, app, 'release', await ws.stickWithBundle('1.2.0'));
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await jig?.close();
    await Promise.all(processes.map((p) => p.exited));
    await rm(root, { recursive: true, force: true });
  });

  it('runs the example plan to PASS: flashed byte for byte, identity read back, locked, one openocd', async () => {
    const before = processes.length;
    const record = await oneCycle(jig, app);
    expect(record, JSON.stringify(record?.steps.at(-1))).toMatchObject({ result: 'PASS', serial: 'WG000001', mac: '02:50:4a:00:00:01' });
    const active = (await app.store.active())!;
    expect(record!.image).toMatchObject({ bundleId: active.bundleId, version: '1.2.0', imageHash: active.image.imageHash });
    const bin = await readFile(active.image.regions[0]!.file);
    expect(Buffer.from(jig.chip.flash.subarray(0, bin.length)).equals(bin)).toBe(true);
    expect(jig.chip.locked).toBe(true);
    expect(processes.length - before).toBe(1);
    expect(record!.steps.map((s) => [s.name, s.outcome])).toEqual([
      ['program', 'pass'],
      ['identity', 'pass'],
      ['boot current', 'pass'],
      ['status led', 'pass'],
      ['power led', 'pass'],
      ['firmware version', 'pass'],
      ['identity readback', 'pass'],
      ['temperature', 'pass'],
      ['lock', 'pass'],
    ]);
    const fw = record!.steps.find((s) => s.name === 'firmware version')!;
    expect(fw.measurements[0]).toMatchObject({ name: 'fw', value: '1.2.0', verdict: 'pass' });
    expect((fw.data?.['transcript'] as unknown[]).length).toBeGreaterThan(0);
    // what the operator sees: the PASS screen, decoded from the real SSD1306 byte stream
    await new Promise((r) => setTimeout(r, 50));
    expect(jig.panel.frame().equals(renderScreen({ kind: 'pass', serial: 'WG000001', durationMs: record!.durationMs }))).toBe(true);
    jig.setLid(false);
  }, 60_000);

  it('ABORT during programming drops DUT power at the debounced edge, kills openocd, then records ABORTED', async () => {
    await new Promise((r) => setTimeout(r, 100));
    const relay = ws.config.gpio.outputs.dut_power;
    const abortIn = ws.config.gpio.inputs.abort;
    // What happens, in order. No wall-clock bound: the station test proves "within the debounce"
    // with fake timers; here the real openocd and chip show the order of events.
    const order: string[] = [];
    const offOutput = jig.gpio.onOutput((line, high) => {
      if (line === relay.line && high === relay.active_low && order.includes('ABORT pressed')) order.push('relay off');
    });
    const offState = app.station.on('state', (_from, to, event) => {
      if (event === 'abort') order.push('station aborts');
      if (to === 'aborted') order.push('aborted');
    });
    const record = new Promise<import('../../src/core/record.js').UnitRecord>((resolve) =>
      app.station.on('record', (r) => {
        order.push('record');
        resolve(r);
      }),
    );
    jig.setLid(true);
    await new Promise((r) => setTimeout(r, 60));
    const chipInFixture = jig.chip;
    let writes = 0;
    chipInFixture.on('flash-write', () => {
      if (++writes === 300) {
        order.push('ABORT pressed');
        jig.gpio.setLevel(abortIn.line, !abortIn.active_low); // the operator hits ABORT
      }
    });
    const spawned = processes.length;
    await jig.press('start');
    const proc = await vi.waitFor(() => processes[spawned] ?? Promise.reject(new Error('no openocd yet')), { timeout: 10_000 });
    void proc.exited.then(() => order.push('openocd exited'));
    const unit = await record;
    const exit = await proc.exited;
    jig.gpio.setLevel(abortIn.line, abortIn.active_low);
    offOutput();
    offState();
    expect(unit).toMatchObject({ result: 'ABORTED', failedStep: 'program', reason: 'ABORTED', message: 'ABORT pressed' });
    // the relay drops in the same tick as the debounced edge: before the station even changes state
    expect(order.slice(0, 3)).toEqual(['ABORT pressed', 'relay off', 'station aborts']);
    // openocd is killed (SIGKILL: 0.12 can ignore SIGTERM) before the unit is recorded
    expect(exit.signal).toBe('SIGKILL');
    expect(order.indexOf('openocd exited')).toBeGreaterThan(-1);
    expect(order.indexOf('openocd exited')).toBeLessThan(order.indexOf('record'));
    expect(order.at(-1)).toBe('aborted');
    expect(chipInFixture.powered).toBe(false);
    expect(app.station.state).toBe('aborted');
    jig.setLid(false);
  }, 60_000);
});

describe('a device the wiring declares is missing', () => {
  it('shows DEVICE MISSING naming it, refuses START, and recovers when it answers again', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pijig-vjig-missing-'));
    const ws = await prepareWorkspace({ root, stationFile: join(EXAMPLES, 'station.yaml'), planFile: join(EXAMPLES, 'plan.yaml') });
    const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir });
    const colour = ws.config.light_sensors.find((s) => s.kind === 'color')!;
    jig.i2c.detach(ws.config.power_monitor!.address);
    jig.i2c.detach(colour.address);
    const app = await startApp(ws.config, jig.hardware(), { log: () => {}, deviceRecheckMs: 20 });
    try {
      expect(app.station.state).toBe('error');
      expect(app.panel.screen).toEqual({ kind: 'fault', title: 'DEVICE MISSING', lines: ['ina219 i2c-1 0x40', expect.stringMatching(/0x29/)] });
      jig.setLid(true);
      await new Promise((r) => setTimeout(r, 60));
      await jig.press('start');
      expect(app.station.state).toBe('error');
      expect(jig.outputs().dutPower).toBe(false);
      // a stick's message may cover the fault screen meanwhile; the fault still clears
      app.panel.showMessage({ kind: 'message', title: 'SAFE TO REMOVE', lines: [], icon: 'usb' });
      expect(app.station.state).toBe('error');
      jig.i2c.reattach(ws.config.power_monitor!.address);
      jig.i2c.reattach(colour.address);
      await vi.waitFor(() => expect(app.station.state).toBe('ready'), { timeout: 2000, interval: 10 });
      expect(app.panel.screen).toMatchObject({ kind: 'ready', product: 'widget' });
    } finally {
      await app.stop();
      await jig.close();
      await rm(root, { recursive: true, force: true });
    }
  }, 30_000);
});
