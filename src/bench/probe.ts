import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchFigure } from './bench.js';
import type { ActiveImage } from '../core/image.js';
import { buildSimFirmware } from '../sim/firmware-image.js';
import { RemoteBitbangServer } from '../sim/dut/remote-bitbang.js';
import { SimStm32 } from '../sim/dut/stm32f1.js';
import { identityStep } from '../steps/identity.js';
import { lockStep } from '../steps/lock.js';
import { programStep } from '../steps/program.js';
import type { CycleResources, StepContext, StepKind, StepOutput, UnitState } from '../steps/step.js';
import { openocdProbe } from '../devices/probe/openocd.js';
import type { DebugProbe } from '../devices/probe/probe.js';
import { probeSchema } from '../config/station.js';

const SIZE = 4096;

/**
 * The real openocd 0.12 against the simulated STM32F103 (remote_bitbang, no flash loader, so the
 * write speed is the simulator's ~1.5 KiB/s, not a real probe's):
 * - openocd processes started for one unit's program + identity + lock (must be 1);
 * - a 4 KiB program + verify;
 * - what "skip when identical" saves on a re-test of a good unit.
 */
export async function run(): Promise<BenchFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-bench-probe-'));
  try {
    const image = await writeImage(dir);

    // One cycle: program, identity, lock.
    const cycleFixture = await fixture();
    let spawned = 0;
    const probe = openocdProbe(cycleFixture.settings, { onProcess: () => void spawned++ });
    const cycle = new Cycle();
    let t0 = performance.now();
    const programmed = await runStep(programStep, {}, probe, image, cycle);
    const programMs = performance.now() - t0;
    await runStep(identityStep, {}, probe, image, cycle);
    await runStep(lockStep, {}, probe, image, cycle);
    await cycle.close();
    const cycleMs = performance.now() - t0;
    await cycleFixture.close();
    if (!cycleFixture.chip.locked) throw new Error('bench: the simulated chip is not locked after the cycle');

    // Re-test of a good unit: full reprogram against verify-only.
    const retest = await fixture();
    retest.chip.flash.set(buildSimFirmware({ product: 'bench', version: '1.0.0' }, SIZE));
    const retestProbe = openocdProbe(retest.settings);
    const c1 = new Cycle();
    t0 = performance.now();
    await runStep(programStep, {}, retestProbe, image, c1);
    const fullMs = performance.now() - t0;
    await c1.close();
    const c2 = new Cycle();
    t0 = performance.now();
    const skipped = await runStep(programStep, { skip_when_identical: true }, retestProbe, image, c2);
    const skipMs = performance.now() - t0;
    await c2.close();
    await retest.close();
    if (!skipped.measurements?.some((m) => m.name === 'bytes_written' && m.value === 0)) throw new Error('bench: the re-test wrote flash');

    const m = (name: string): number => Number(programmed.measurements?.find((x) => x.name === name)?.value ?? NaN);
    return [
      { name: 'openocd processes per unit (program+identity+lock)', value: spawned, unit: 'proc', method: 'spawns counted over one cycle on the simulated STM32F103; must be 1' },
      { name: 'program+verify 4 KiB (step wall time)', value: programMs / 1000, unit: 's', method: `real openocd 0.12 over remote_bitbang to the sim, incl. openocd start; openocd's own: prog ${m('program_s')} s, verify ${m('verify_s')} s` },
      { name: 'program+identity+lock cycle, 4 KiB', value: cycleMs / 1000, unit: 's', method: 'one openocd session, from spawn to shutdown' },
      { name: 're-test 4 KiB good unit, full reprogram', value: fullMs / 1000, unit: 's', method: 'erase + write + verify of an already good unit' },
      { name: 're-test 4 KiB good unit, skip_when_identical', value: skipMs / 1000, unit: 's', method: 'verify only (read-back), nothing erased or written' },
      { name: 're-test time saved by skip_when_identical', value: (fullMs - skipMs) / 1000, unit: 's', method: 'difference of the two lines above' },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function fixture() {
  const chip = new SimStm32();
  const server = new RemoteBitbangServer(chip);
  const { port } = await server.listen({ port: 0 });
  if (port === undefined) throw new Error('bench: the remote_bitbang server reported no port');
  return {
    chip,
    settings: probeSchema.parse({ kind: 'remote_bitbang', target: 'target/stm32f1x.cfg', remote_bitbang: { port }, work_area_size: 0 }),
    close: () => server.close(),
  };
}

async function writeImage(dir: string): Promise<ActiveImage> {
  const bytes = buildSimFirmware({ product: 'bench', version: '1.0.0' }, SIZE);
  const file = join(dir, 'application.bin');
  await writeFile(file, bytes);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { bundleId: 'unsigned-sim', product: 'bench', version: '1.0.0', target: 'stm32f1x', regions: [{ name: 'application', file, address: 0x08000000, sha256, size: SIZE }], imageHash: sha256 };
}

class Cycle implements CycleResources {
  private readonly items = new Map<string, { value: Promise<unknown>; dispose: (v: never) => Promise<void> }>();
  acquire<T>(key: string, create: () => Promise<T>, dispose: (value: T) => Promise<void>): Promise<T> {
    const found = this.items.get(key);
    if (found) return found.value as Promise<T>;
    const value = create();
    this.items.set(key, { value, dispose: dispose as (v: never) => Promise<void> });
    return value;
  }
  async close(): Promise<void> {
    for (const item of this.items.values()) await item.dispose((await item.value) as never);
    this.items.clear();
  }
}

let serial = 0;
const unit: UnitState = {};

function runStep<P>(step: StepKind<P, 'probe'>, params: unknown, probe: DebugProbe, image: ActiveImage, cycle: CycleResources): Promise<StepOutput> {
  const ctx: StepContext<P, 'probe'> = {
    step: { name: step.kind, kind: step.kind, timeoutMs: 60_000 },
    params: step.params.parse(params),
    signal: new AbortController().signal,
    devices: { probe },
    image,
    unit,
    ledger: {
      admit: async () => ({ attempt: 1 }),
      beginFlash: async () => {},
      identity: async () => ({ identity: { serial: `BENCH${++serial}`, mac: '02:00:00:00:00:01' }, reused: false }),
    },
    cycle,
    progress: () => {},
    log: () => {},
  };
  return step.run(ctx);
}
