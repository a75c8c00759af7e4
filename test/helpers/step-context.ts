import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DigitalOutput } from '../../src/devices/gpio/gpio.js';
export { FakeProbe } from '../../src/devices/probe/probe.fake.js';
import type { ActiveImage, ImageRegion } from '../../src/core/image.js';
import { CycleScope } from '../../src/station/runner.js';
import type { CycleResources, Devices, StepContext, StepKind, UnitState } from '../../src/steps/step.js';
import type { UnitIdentity } from '../../src/core/identity.js';
import type { Admission, ChipSeen, UnitLedger } from '../../src/core/unit-ledger.js';

/** The runner's own cycle scope; `teardown` disposes what the steps acquired. */
export class TestCycle extends CycleScope {
  teardown(): Promise<void> {
    return this.disposeAll();
  }
}

/**
 * An in-memory ledger for step tests: admits every chip, counts flashes, hands out SN000001,
 * SN000002, ... and 02:00:00:00:00:01, ..., and gives a chip it has numbered its own number again.
 * (The station's real one is station/cycle-ledger.ts over records/ledger.ts.)
 */
export class TestLedger implements UnitLedger {
  issued: UnitIdentity[] = [];
  admitted: ChipSeen[] = [];
  flashes: string[] = [];
  readonly byUid = new Map<string, UnitIdentity>();
  private uid: string | undefined;
  async admit(chip: ChipSeen): Promise<Admission> {
    this.admitted.push(chip);
    this.uid = chip.uid;
    return { attempt: this.admitted.filter((c) => c.uid !== undefined && c.uid === chip.uid).length || 1 };
  }
  async beginFlash(imageHash: string): Promise<void> {
    this.flashes.push(imageHash);
  }
  async identity(): Promise<{ identity: UnitIdentity; reused: boolean }> {
    const known = this.uid ? this.byUid.get(this.uid) : undefined;
    if (known) return { identity: known, reused: true };
    const n = this.issued.length + 1;
    const id = { serial: `SN${String(n).padStart(6, '0')}`, mac: `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}` };
    this.issued.push(id);
    if (this.uid) this.byUid.set(this.uid, id);
    return { identity: id, reused: false };
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
  unit?: UnitState;
  ledger?: UnitLedger;
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
    ledger: options.ledger ?? new TestLedger(),
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
