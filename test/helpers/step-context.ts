import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DigitalOutput } from '../../src/devices/gpio/gpio.js';
import { ProbeError, type DebugProbe, type OperationOptions, type ProbeSession } from '../../src/devices/probe/probe.js';
import type { ActiveImage, ImageRegion } from '../../src/media/image.js';
import { CycleScope } from '../../src/station/runner.js';
import type { CycleResources, Devices, IdentityProvider, StepContext, StepKind, UnitIdentity } from '../../src/steps/step.js';

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
    devices: { dutPower: new RecordingOutput('dut-power'), lightSensors: new Map(), ...options.devices },
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

/**
 * An in-memory probe for step logic tests (the real openocd runs in test/e2e/flash.test.ts):
 * 1 KiB sectors from 0x08000000, erase to 0xFF, strict about writing unerased flash.
 */
export class FakeProbe implements DebugProbe {
  readonly flash: Uint8Array;
  opened = 0;
  readonly calls: string[] = [];
  /** Set to make behaviour misfire: what lock does, what reads return. */
  lockTakesEffect = true;
  readsBlockedWhenLocked = true;
  corruptReadAt: number | undefined;
  rdp = false;
  private pendingRdp = false;

  constructor(readonly base = 0x08000000, size = 64 * 1024) {
    this.flash = new Uint8Array(size).fill(0xff);
  }

  async open(opts: OperationOptions): Promise<ProbeSession> {
    if (opts.signal.aborted) throw new ProbeError('ABORTED', 'aborted');
    this.opened++;
    const p = this;
    const offset = (address: number, length: number): number => {
      const o = address - p.base;
      if (o < 0 || o + length > p.flash.length) throw new ProbeError('PROGRAM_FAILED', `${address.toString(16)} outside flash`);
      return o;
    };
    const guard = (): void => {
      if (p.rdp) throw new ProbeError('FLASH_PROTECTED', 'stm32x device protected');
    };
    const sector = 1024;
    return {
      family: 'stm32f1x',
      onEvent: () => () => {},
      async reset(mode) {
        p.calls.push(`reset ${mode}`);
        p.rdp = p.pendingRdp;
      },
      async sectors() {
        return Array.from({ length: p.flash.length / sector }, (_, i) => ({ address: p.base + i * sector, size: sector }));
      },
      async erase(address, length) {
        guard();
        p.calls.push(`erase ${address.toString(16)} ${length}`);
        const start = Math.floor(offset(address, length) / sector) * sector;
        const end = Math.ceil((address - p.base + length) / sector) * sector;
        p.flash.fill(0xff, start, end);
        return { seconds: 0.001 };
      },
      async massErase() {
        guard();
        p.calls.push('mass_erase');
        p.flash.fill(0xff);
        return { seconds: 0.001 };
      },
      async writeFile(file, address) {
        const data = new Uint8Array(await readFile(file));
        return this.writeRaw(address, data);
      },
      async writeBytes(address, data) {
        await this.erase(address, data.length, { signal: new AbortController().signal });
        return this.writeRaw(address, data);
      },
      async verifyFile(file, address) {
        const data = new Uint8Array(await readFile(file));
        guard();
        p.calls.push(`verify ${address.toString(16)}`);
        const o = offset(address, data.length);
        const diffs: number[] = [];
        data.forEach((b, i) => p.flash[o + i] !== b && diffs.push(i));
        if (diffs.length === 0) return { ok: true, bytes: data.length, seconds: 0.001 };
        const i = diffs[0]!;
        return { ok: false, bytes: data.length, seconds: 0.001, differences: diffs.length, firstDifference: { address: address + i, actual: p.flash[o + i]!, expected: data[i]! } };
      },
      async read(address, length) {
        if (p.rdp && p.readsBlockedWhenLocked) throw new ProbeError('FLASH_PROTECTED', 'Failed to read memory');
        const o = offset(address, length);
        const out = p.flash.slice(o, o + length);
        if (p.corruptReadAt !== undefined && p.corruptReadAt >= address && p.corruptReadAt < address + length) out[p.corruptReadAt - address] = out[p.corruptReadAt - address]! ^ 0x01;
        return out;
      },
      async lock() {
        p.calls.push('lock');
        if (p.lockTakesEffect) p.pendingRdp = true;
      },
      async readProtection() {
        return p.rdp;
      },
      async close() {
        p.calls.push('close');
      },
      // not part of ProbeSession: the write path shared by writeFile/writeBytes
      async writeRaw(address: number, data: Uint8Array) {
        guard();
        p.calls.push(`write ${address.toString(16)} ${data.length}`);
        const o = offset(address, data.length);
        for (let i = 0; i < data.length; i++) {
          if (p.flash[o + i] !== 0xff) throw new ProbeError('PROGRAM_FAILED', `write to unerased flash at ${(address + i).toString(16)}`);
        }
        p.flash.set(data, o);
        return { bytes: data.length, seconds: 0.001 };
      },
    } as ProbeSession & { writeRaw(address: number, data: Uint8Array): Promise<{ bytes: number; seconds: number }> };
  }
}
