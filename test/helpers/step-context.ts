import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DigitalOutput } from '../../src/devices/gpio/gpio.js';
export { FakeProbe } from '../../src/devices/probe/probe.fake.js';
import type { ActiveImage, ImageRegion } from '../../src/core/image.js';
import { CycleScope } from '../../src/station/runner.js';
import type { CycleResources, Devices, StepContext, StepKind } from '../../src/steps/step.js';
import type { IdentityProvider, UnitIdentity } from '../../src/core/identity.js';

/** The runner's own cycle scope; `teardown` disposes what the steps acquired. */
export class TestCycle extends CycleScope {
  teardown(): Promise<void> {
    return this.disposeAll();
  }
}

/** Hands out SN000001, SN000002, ... and 02:00:00:00:00:01, ... */
export class CountingIdentity implements IdentityProvider {
  issued: UnitIdentity[] = [];
  async allocate(): Promise<UnitIdentity> {
    const n = this.issued.length + 1;
    const id = { serial: `SN${String(n).padStart(6, '0')}`, mac: `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}` };
    this.issued.push(id);
    return id;
  }
}

class RecordingOutput implements DigitalOutput {
  active = false;
  constructor(readonly name: string) {}
  async set(active: boolean): Promise<void> {
    this.active = active;
  }
}

export interface StepContextOptions {
  devices?: Partial<Omit<Devices, 'dutPower'>>;
  image?: ActiveImage;
  unit?: { identity?: UnitIdentity };
  identity?: IdentityProvider;
  cycle?: CycleResources;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface StepHarness<P> {
  ctx: StepContext<P>;
  progress: Array<{ fraction: number; text: string | undefined }>;
  logs: string[];
}

/** A StepContext with the step's params parsed by its schema (as the plan loader does). */
export function stepContext<P>(step: StepKind<P>, rawParams: unknown, options: StepContextOptions = {}): StepHarness<P> {
  const progress: StepHarness<P>['progress'] = [];
  const logs: string[] = [];
  const ctx: StepContext<P> = {
    step: { name: step.kind, kind: step.kind, timeoutMs: options.timeoutMs ?? 30_000 },
    params: step.params.parse(rawParams),
    signal: options.signal ?? new AbortController().signal,
    // like the runner: the step sees only the devices it declares
    devices: declared(step, { dutPower: new RecordingOutput('dut-power'), lightSensors: new Map(), ...options.devices }),
    image: options.image,
    unit: options.unit ?? {},
    identity: options.identity ?? new CountingIdentity(),
    cycle: options.cycle ?? new TestCycle(),
    progress: (fraction, text) => progress.push({ fraction, text }),
    log: (message) => logs.push(message),
  };
  return { ctx, progress, logs };
}

/** Write region files into a fresh temp dir and describe them as the active image. */
export async function imageOf(regions: { name: string; address: number; bytes: Uint8Array }[], version = '1.0.0'): Promise<ActiveImage> {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-image-'));
  const out: ImageRegion[] = [];
  for (const r of regions) {
    const file = join(dir, `${r.name}.bin`);
    await writeFile(file, r.bytes);
    out.push({ name: r.name, file, address: r.address, sha256: sha256(r.bytes), size: r.bytes.length });
  }
  return { bundleId: 'unsigned-sim', product: 'demo', version, target: 'stm32f1x', regions: out, imageHash: sha256(Buffer.from(JSON.stringify(out))) };
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The devices a step declares, picked from what the test provides (as the runner does). */
export function declared<P>(step: StepKind<P>, all: Record<string, unknown>): StepContext<P>['devices'] {
  return Object.fromEntries(step.needs.filter((n) => all[n] !== undefined).map((n) => [n, all[n]])) as StepContext<P>['devices'];
}
