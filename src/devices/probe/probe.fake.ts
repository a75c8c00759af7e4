import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ProbeError, type DebugProbe, type FlashSector, type OperationOptions, type ProbeEvent, type ProbeSession, type VerifyResult } from './probe.js';

/**
 * An in-memory probe that holds every caller to the contract in probe.ts, as strictly as the
 * real openocd session and stricter than hardware: the reference for step tests (the real openocd
 * against the simulated STM32 runs in the end-to-end tests).
 *
 * - Every operation takes at least one tick (setImmediate), as real I/O does.
 * - The abort signal is honoured: already aborted, or aborted while the operation runs, it
 *   rejects with ABORTED and the session is dead; every later call rejects with that error.
 * - No overlapping operations: a call made while another is still running rejects (a step must
 *   await each operation; the real session would interleave openocd commands).
 * - Flash: 1 KiB sectors from `base`, erased to 0xFF; writing unerased flash is PROGRAM_FAILED.
 * - Read-out protection: `lock` takes effect at the next reset; then reads, writes, erases and
 *   verifies are FLASH_PROTECTED.
 */
const UID_ADDRESS = 0x1ffff7e8;

export class FakeProbe implements DebugProbe {
  readonly flash: Uint8Array;
  readonly sectorSize = 1024;
  opened = 0;
  /** What changed the chip, in order: "reset halt", "erase 8000000 1024", "write 8000000 1024", "verify 8000000", "mass_erase", "lock", "close" (reads are not listed). */
  readonly calls: string[] = [];
  /** Misbehaviour to script: whether lock takes effect, whether locked reads fail, a read-back bit flip. */
  lockTakesEffect = true;
  readsBlockedWhenLocked = true;
  corruptReadAt: number | undefined;
  rdp = false;
  /**
   * The 96-bit unique ID at 0x1FFFF7E8 (the STM32F1's place, RM0008 30.2), random per fake chip;
   * readable when locked, as on the F1 (read-out protection covers the main flash only).
   * Undefined: reads there fail like unmapped memory.
   */
  uid: Uint8Array | undefined = Uint8Array.from(randomBytes(12));
  /** Violations of the contract seen so far (also thrown to the caller). */
  readonly violations: string[] = [];
  private pendingRdp = false;

  constructor(
    readonly base = 0x08000000,
    size = 64 * 1024,
    readonly family = 'stm32f1x',
  ) {
    this.flash = new Uint8Array(size).fill(0xff);
  }

  async open(opts: OperationOptions): Promise<ProbeSession> {
    await tick();
    if (opts.signal.aborted) throw new ProbeError('ABORTED', 'open: aborted', { cause: opts.signal.reason });
    this.opened++;
    return new FakeSession(this);
  }

  /** @internal the session's view of the chip */
  offset(address: number, length: number): number {
    const o = address - this.base;
    if (o < 0 || o + length > this.flash.length) throw new ProbeError('PROGRAM_FAILED', `0x${address.toString(16)}+${length} is outside the flash`);
    return o;
  }

  /** @internal */
  guard(): void {
    if (this.rdp) throw new ProbeError('FLASH_PROTECTED', 'stm32x device protected');
  }

  /** @internal */
  resetChip(): void {
    this.rdp = this.pendingRdp;
  }

  /** @internal */
  armLock(): void {
    if (this.lockTakesEffect) this.pendingRdp = true;
  }
}

class FakeSession implements ProbeSession {
  readonly family: string;
  private busy: string | undefined;
  private closed = false;
  private dead: ProbeError | undefined;
  private readonly listeners = new Set<(e: ProbeEvent) => void>();

  constructor(private readonly chip: FakeProbe) {
    this.family = chip.family;
  }

  onEvent(listener: (event: ProbeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  reset(mode: 'run' | 'halt', opts: OperationOptions): Promise<void> {
    return this.op(`reset ${mode}`, opts, async () => {
      this.chip.calls.push(`reset ${mode}`);
      this.chip.resetChip();
      this.emit({ type: 'reset', mode, seconds: 0.001 });
    });
  }

  sectors(opts: OperationOptions): Promise<FlashSector[]> {
    return this.op('sectors', opts, async () => {
      const n = this.chip.flash.length / this.chip.sectorSize;
      return Array.from({ length: n }, (_, i) => ({ address: this.chip.base + i * this.chip.sectorSize, size: this.chip.sectorSize }));
    });
  }

  erase(address: number, length: number, opts: OperationOptions): Promise<{ seconds: number }> {
    return this.op(`erase ${address.toString(16)} ${length}`, opts, async () => {
      this.eraseRange(address, length);
      return { seconds: 0.001 };
    });
  }

  massErase(opts: OperationOptions): Promise<{ seconds: number }> {
    return this.op('mass_erase', opts, async () => {
      this.chip.guard();
      this.chip.calls.push('mass_erase');
      this.chip.flash.fill(0xff);
      return { seconds: 0.001 };
    });
  }

  writeFile(file: string, address: number, opts: OperationOptions): Promise<{ bytes: number; seconds: number }> {
    return this.op(`write ${address.toString(16)}`, opts, async () => this.writeRaw(address, new Uint8Array(await readFile(file))));
  }

  writeBytes(address: number, data: Uint8Array, opts: OperationOptions): Promise<{ bytes: number; seconds: number }> {
    return this.op(`write_bytes ${address.toString(16)} ${data.length}`, opts, async () => {
      this.eraseRange(address, data.length);
      return this.writeRaw(address, data);
    });
  }

  verifyFile(file: string, address: number, opts: OperationOptions): Promise<VerifyResult> {
    return this.op(`verify ${address.toString(16)}`, opts, async () => {
      const data = new Uint8Array(await readFile(file));
      this.chip.guard();
      this.chip.calls.push(`verify ${address.toString(16)}`);
      const o = this.chip.offset(address, data.length);
      const diffs: number[] = [];
      data.forEach((b, i) => this.chip.flash[o + i] !== b && diffs.push(i));
      this.emit({ type: 'verified', address, bytes: data.length, seconds: 0.001, ok: diffs.length === 0 });
      if (diffs.length === 0) return { ok: true, bytes: data.length, seconds: 0.001 };
      const i = diffs[0]!;
      return { ok: false, bytes: data.length, seconds: 0.001, differences: diffs.length, firstDifference: { address: address + i, actual: this.chip.flash[o + i]!, expected: data[i]! } };
    });
  }

  read(address: number, length: number, opts: OperationOptions): Promise<Uint8Array> {
    return this.op(`read ${address.toString(16)} ${length}`, opts, async () => {
      const chip = this.chip;
      if (address >= UID_ADDRESS && address + length <= UID_ADDRESS + 12) {
        if (!chip.uid) throw new ProbeError('TARGET_NOT_RESPONDING', `Failed to read memory at 0x${address.toString(16)}`);
        return chip.uid.slice(address - UID_ADDRESS, address - UID_ADDRESS + length);
      }
      if (chip.rdp && chip.readsBlockedWhenLocked) throw new ProbeError('FLASH_PROTECTED', `Failed to read memory at 0x${address.toString(16)}`);
      const o = chip.offset(address, length);
      const out = chip.flash.slice(o, o + length);
      const at = chip.corruptReadAt;
      if (at !== undefined && at >= address && at < address + length) out[at - address] = out[at - address]! ^ 0x01;
      return out;
    });
  }

  lock(opts: OperationOptions): Promise<void> {
    return this.op('lock', opts, async () => {
      this.chip.calls.push('lock');
      this.chip.armLock();
    });
  }

  readProtection(opts: OperationOptions): Promise<boolean> {
    return this.op('read_protection', opts, async () => this.chip.rdp);
  }

  /** Always resolves; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.chip.calls.push('close');
    this.dead ??= new ProbeError('CONNECTION_LOST', 'the session was closed');
  }

  private async op<T>(name: string, opts: OperationOptions, body: () => Promise<T>): Promise<T> {
    if (this.busy) {
      const violation = `overlapping probe operations: "${name}" called while "${this.busy}" runs`;
      this.chip.violations.push(violation);
      throw new Error(violation);
    }
    if (this.dead) throw this.dead;
    this.busy = name;
    try {
      const aborted = (): ProbeError => (this.dead = new ProbeError('ABORTED', `${name}: aborted`, { cause: opts.signal.reason }));
      if (opts.signal.aborted) throw aborted();
      await tick();
      if (opts.signal.aborted) throw aborted();
      return await body();
    } finally {
      this.busy = undefined;
    }
  }

  private eraseRange(address: number, length: number): void {
    this.chip.guard();
    this.chip.calls.push(`erase ${address.toString(16)} ${length}`);
    const size = this.chip.sectorSize;
    const start = Math.floor(this.chip.offset(address, length) / size) * size;
    const end = Math.ceil((address - this.chip.base + length) / size) * size;
    this.chip.flash.fill(0xff, start, end);
    this.emit({ type: 'erased', address, bytes: length, seconds: 0.001 });
  }

  private writeRaw(address: number, data: Uint8Array): { bytes: number; seconds: number } {
    this.chip.guard();
    this.chip.calls.push(`write ${address.toString(16)} ${data.length}`);
    const o = this.chip.offset(address, data.length);
    for (let i = 0; i < data.length; i++) {
      if (this.chip.flash[o + i] !== 0xff) throw new ProbeError('PROGRAM_FAILED', `write to unerased flash at 0x${(address + i).toString(16)}`);
    }
    this.chip.flash.set(data, o);
    this.emit({ type: 'programmed', address, bytes: data.length, seconds: 0.001 });
    return { bytes: data.length, seconds: 0.001 };
  }

  private emit(event: ProbeEvent): void {
    for (const l of this.listeners) l(event);
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
