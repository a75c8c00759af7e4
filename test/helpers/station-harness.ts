import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { SimGpioChip } from '../../src/devices/gpio/gpio.sim.js';
import { Books } from '../../src/records/books.js';
import { serialRange, macRange } from '../../src/core/blocks.js';
import { Station, type Job, type StationDeps } from '../../src/station/station.js';
import { OperatorPanel } from '../../src/operator/panel.js';
import type { StationState as State } from '../../src/station/machine.js';
import type { Screen } from '../../src/operator/screens.js';
import type { Devices } from '../../src/steps/step.js';

export const LINES = { start: 17, abort: 27, lid: 22, power: 5, green: 6, red: 13, amber: 19, buzzer: 26 } as const;
export const DEBOUNCE = { start: 20, abort: 10, lid: 30 } as const;

/**
 * A station and its operator panel on the simulated GPIO chip, with a real journal and ledger in a
 * temp dir. The job comes from `provider` (default: `job` with a WG block) as the app
 * hands it over; a provider that rejects leaves the station with no plan. Use with fake timers.
 */
export async function makeStation(job: Partial<Job> & Pick<Job, 'plan'>, provider?: () => Promise<Job>, startGate?: () => string | undefined, devices: Partial<Omit<Devices, 'dutPower'>> = {}, deps: Partial<StationDeps> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-station-'));
  const chip = new SimGpioChip();
  const start = await chip.input({ name: 'start', line: LINES.start, activeLow: true, debounceMs: DEBOUNCE.start, bias: 'pull-up' });
  const abort = await chip.input({ name: 'abort', line: LINES.abort, activeLow: true, debounceMs: DEBOUNCE.abort, bias: 'pull-up' });
  const lidClosed = await chip.input({ name: 'lid_closed', line: LINES.lid, activeLow: false, debounceMs: DEBOUNCE.lid });
  const dutPower = await chip.output({ name: 'dut_power', line: LINES.power, activeLow: false });
  const [green, red, amber, buzzer] = await Promise.all(
    (['green', 'red', 'amber', 'buzzer'] as const).map((n) => chip.output({ name: n, line: LINES[n], activeLow: false })),
  );
  const books = await Books.open({ dataDir: dir, stationId: 'test-jig', ranBefore: false });
  const journal = books.journal;
  const block = { serial: serialRange('WG', 6, 1, 1000), mac: macRange('02:50:4a:00:00:01', 1000) };
  await books.ledger!.useBlock(block, 'test');
  const station = new Station({
    stationId: 'test-jig',
    inputs: { start, abort, lidClosed },
    dutRelay: dutPower,
    devices: { lightSensors: new Map(), ...devices },
    books,
    ...(startGate ? { startGate } : {}),
    ...deps,
  });
  const panel = new OperatorPanel({ station, light: { green: green!, red: red!, amber: amber!, buzzer: buzzer! }, log: () => {} });
  const screens: Screen[] = [];
  const states: string[] = [];
  panel.on('screen', (s) => screens.push(s));
  station.on('state', (from, to, event) => states.push(`${from}-${event}->${to}`));
  panel.attach();
  await station.start();
  const load = async (p: () => Promise<Job> = provider ?? (async () => ({ image: undefined, block, ...job }))) => {
    try {
      station.setJob(await p());
    } catch (err) {
      station.jobFailed(err as Error);
    }
  };
  await load();

  const records = async () => {
    const out = [];
    for await (const r of journal.read()) out.push(r);
    return out;
  };
  /** Press and release a button, each level held past its debounce time. */
  const press = async (button: 'start' | 'abort') => {
    chip.setActive(LINES[button], true);
    await vi.advanceTimersByTimeAsync(DEBOUNCE[button] + 1);
    chip.setActive(LINES[button], false);
    await vi.advanceTimersByTimeAsync(DEBOUNCE[button] + 1);
  };
  const lid = async (closed: boolean) => {
    chip.setActive(LINES.lid, closed);
    await vi.advanceTimersByTimeAsync(DEBOUNCE.lid + 1);
  };
  /** Let the cycle reach `state` (real fsyncs complete while fake time stands still). */
  const until = (wanted: State) =>
    vi.waitFor(
      () => {
        if (station.state !== wanted) throw new Error(`state is ${station.state}, waiting for ${wanted}`);
      },
      { timeout: 5000, interval: 5 },
    );
  const cleanup = async () => {
    await station.stop();
    panel.detach();
    await books.close();
    await chip.close();
    await rm(dir, { recursive: true, force: true });
  };
  return { station, panel, load, chip, lidClosed, journal, books, block, dir, screens, states, records, press, lid, until, cleanup, dutPower, light: { green: green!, red: red!, amber: amber! } };
}
