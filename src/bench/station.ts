import { mkdtemp, rm, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimGpioChip } from '../devices/gpio/gpio.sim.js';
import { SimI2cBus } from '../devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../devices/display/panel.sim.js';
import { Ssd1306Display } from '../devices/display/ssd1306.js';
import { Books } from '../records/books.js';
import { Journal } from '../records/journal.js';
import type { UnitRecord } from '../core/record.js';
import { Station } from '../station/station.js';
import { attachDisplay } from '../operator/display-output.js';
import type { StepPlan as Plan, StepPlanStep as PlanStep } from '../steps/registry.js';
import { OperatorPanel } from '../operator/panel.js';
import { delayStep } from '../steps/delay.js';
import type { StepKind } from '../steps/step.js';
import type { BenchFigure } from './bench.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

/** The station's own overhead: a plan of instant steps, from the START edge to the result on the panel's glass. */
async function stationOverhead(steps: number, cycles: number): Promise<number[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-bench-'));
  const chip = new SimGpioChip();
  const start = await chip.input({ name: 'start', line: 17, activeLow: false, debounceMs: 0 });
  const abort = await chip.input({ name: 'abort', line: 27, activeLow: false, debounceMs: 0 });
  const lidClosed = await chip.input({ name: 'lid', line: 22, activeLow: false, debounceMs: 0 });
  const dutPower = await chip.output({ name: 'dut_power', line: 5, activeLow: false });
  const bus = new SimI2cBus(1);
  const panel = new SimOledPanel({ controller: 'ssd1306' });
  bus.attach(0x3c, panel);
  const display = new Ssd1306Display(bus, { address: 0x3c, controller: 'ssd1306' });
  await display.init();
  const books = await Books.open({ dataDir: dir, stationId: 'bench', ranBefore: false });
  const step = (i: number): PlanStep => ({ name: `step ${i}`, kind: 'delay', step: delayStep as StepKind, params: { ms: 0 }, limits: {}, timeout_s: 5, continue_on_fail: false });
  const plan: Plan = { file: 'bench', name: 'bench', product: 'widget', steps: Array.from({ length: steps }, (_, i) => step(i)), teardown: [] };
  const station = new Station({
    stationId: 'bench',
    inputs: { start, abort, lidClosed },
    dutRelay: dutPower,
    devices: { lightSensors: new Map() },
    books,
  });
  const operator = new OperatorPanel({ station, light: {}, log: () => {} });
  attachDisplay(operator, display, () => {});
  operator.attach();
  await station.start();
  station.setJob({ plan, image: undefined });
  const times: number[] = [];
  for (let c = 0; c < cycles; c++) {
    chip.setLevel(22, true);
    const onGlass = new Promise<number>((resolve) => {
      let sawPass = false;
      const off = operator.on('screen', (s) => {
        if (s.kind === 'pass') sawPass = true;
      });
      panel.onFrame = () => {
        if (sawPass) {
          off();
          panel.onFrame = undefined;
          resolve(performance.now());
        }
      };
    });
    const t0 = performance.now();
    chip.setLevel(17, true);
    const t1 = await onGlass;
    times.push(t1 - t0);
    chip.setLevel(17, false);
    chip.setLevel(22, false);
    await new Promise((r) => setImmediate(r));
  }
  await station.stop();
  operator.detach();
  await books.close();
  await rm(dir, { recursive: true, force: true });
  return times;
}

function sampleRecord(seq: number): UnitRecord {
  const step = (name: string, kind: string) => ({
    name,
    kind,
    outcome: 'pass' as const,
    startedAt: '2026-11-21T06:00:00.000Z',
    durationMs: 412,
    measurements: [{ name: 'run_mean_ma', value: 35.02, unit: 'mA', limit: { min: 20, max: 50 }, verdict: 'pass' as const }],
  });
  return {
    seq,
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    station: 'line1-jig01',
    plan: { name: 'widget production test', product: 'widget' },
    image: { bundleId: 'a'.repeat(64), version: '1.4.2', imageHash: 'b'.repeat(64), regions: { application: 'c'.repeat(64) } },
    serial: `WG${String(seq).padStart(6, '0')}`,
    mac: '02:50:4a:00:00:01',
    startedAt: '2026-11-21T06:00:00.000Z',
    endedAt: '2026-11-21T06:00:05.000Z',
    durationMs: 5000,
    result: 'PASS',
    steps: ['program', 'identity', 'current', 'led', 'console', 'lock'].map((k) => step(k, k)),
  };
}

/** Append time (write + fdatasync) with `existing` records already in the journal. */
async function journalAppend(existing: number, appends: number): Promise<{ times: number[]; bytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-bench-'));
  const path = join(dir, 'units.jsonl');
  const fh = await open(path, 'w');
  let chunk = '';
  for (let i = 1; i <= existing; i++) {
    chunk += `${JSON.stringify(sampleRecord(i))}\n`;
    if (chunk.length > 1 << 20) {
      await fh.write(chunk);
      chunk = '';
    }
  }
  await fh.write(chunk);
  await fh.close();
  const openStart = performance.now();
  const journal = await Journal.open(path);
  const openMs = performance.now() - openStart;
  const times: number[] = [];
  for (let i = 0; i < appends; i++) {
    const { seq: _seq, ...record } = sampleRecord(existing + i + 1);
    const t0 = performance.now();
    await journal.append(record);
    times.push(performance.now() - t0);
  }
  await journal.close();
  await rm(dir, { recursive: true, force: true });
  return { times: [openMs, ...times], bytes: JSON.stringify(sampleRecord(1)).length + 1 };
}

export async function run(): Promise<BenchFigure[]> {
  const figures: BenchFigure[] = [];
  await stationOverhead(6, 20); // warm-up: JIT, fonts
  const overhead = await stationOverhead(6, 200);
  figures.push(
    { name: 'station overhead per cycle (6 instant steps), median', value: median(overhead), unit: 'ms', method: 'START edge -> PASS frame decoded by the sim panel; journal fsync included; 200 cycles' },
    { name: 'station overhead per cycle (6 instant steps), p95', value: p95(overhead), unit: 'ms', method: 'same 200 cycles' },
  );
  for (const existing of [1_000, 100_000]) {
    const { times, bytes } = await journalAppend(existing, 200);
    const [openMs, ...appends] = times;
    figures.push(
      { name: `journal append with ${existing.toLocaleString('en')} records, median`, value: median(appends), unit: 'ms', method: `append + fdatasync of a ${bytes}-byte record; 200 appends, tmpfs/disk of this machine` },
      { name: `journal open with ${existing.toLocaleString('en')} records`, value: openMs!, unit: 'ms', method: 'Journal.open: reads the tail only, finds the last seq' },
    );
  }
  return figures;
}
