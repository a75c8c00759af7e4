import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenocdProbe, openocdProbe, type OpenocdProcessInfo } from '../../src/devices/probe/openocd.js';
import type { ProbeDeadlines } from '../../src/devices/probe/probe-config.js';
import { probeSchema } from '../../src/config/station.js';
import type { DebugProbe } from '../../src/devices/probe/probe.js';
import { buildSimFirmware } from '../../src/sim/firmware-image.js';
import { simDutOpenocdArgs } from '../../src/sim/dut/openocd-config.js';
import { RemoteBitbangServer } from '../../src/sim/dut/remote-bitbang.js';
import { SimStm32 } from '../../src/sim/dut/stm32f1.js';
import { StepError } from '../../src/steps/errors.js';
import type { ReasonCode } from '../../src/core/reasons.js';
import { decodeIdentity, encodeIdentity } from '../../src/steps/identity-record.js';
import { identityStep } from '../../src/steps/identity.js';
import { lockStep } from '../../src/steps/lock.js';
import { programStep } from '../../src/steps/program.js';
import type { ActiveImage } from '../../src/core/image.js';
import { TestLedger, imageOf, stepContext, TestCycle } from '../helpers/step-context.js';

// The real openocd 0.12 against the simulated STM32F103 over remote_bitbang. The sim writes flash
// at ~1.5 KiB/s (one JTAG round trip per scan), so images stay at 1-4 KiB.

const FLASH = 0x08000000;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function jig(options: { deadlines?: Partial<ProbeDeadlines>; viaSettings?: boolean } = {}) {
  const chip = new SimStm32();
  const server = new RemoteBitbangServer(chip);
  const { port } = await server.listen({ port: 0 });
  const processes: OpenocdProcessInfo[] = [];
  const onProcess = (p: OpenocdProcessInfo): void => void processes.push(p);
  const probe: DebugProbe = options.viaSettings
    ? openocdProbe(probeSchema.parse({ kind: 'remote_bitbang', target: 'target/stm32f1x.cfg', remote_bitbang: { port: port! }, work_area_size: 0 }), { onProcess })
    : new OpenocdProbe({ args: simDutOpenocdArgs({ port: port! }), family: 'stm32f1x', deadlines: options.deadlines ?? {}, onProcess });
  const cycle = new TestCycle();
  cleanups.push(async () => {
    await cycle.teardown();
    await server.close();
    // Whatever happened, no openocd outlives its test.
    await Promise.all(processes.map((p) => p.exited));
  });
  return { chip, server, probe, cycle, processes };
}

function firmware(size: number, version = '1.0.0'): Uint8Array {
  return buildSimFirmware({ product: 'demo', version }, size);
}

async function image(size: number, version = '1.0.0'): Promise<ActiveImage> {
  return imageOf([{ name: 'application', address: FLASH, bytes: firmware(size, version) }], version);
}

async function expectReason(promise: Promise<unknown>, code: ReasonCode): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  expect((error as StepError).code, (error as StepError).message).toBe(code);
  return error as StepError;
}

describe('flashing the simulated STM32F103 with openocd 0.12', () => {
  it('programs, writes the identity and locks a unit in one openocd session', async () => {
    const { chip, probe, cycle, processes } = await jig({ viaSettings: true });
    const img = await image(4096);
    const ledger = new TestLedger();
    const unit = {};
    const common = { devices: { probe }, image: img, cycle, ledger, unit };

    const program = stepContext(programStep, {}, common);
    const out = await programStep.run(program.ctx);
    expect(Buffer.from(chip.flash.subarray(0, 4096)).equals(Buffer.from(firmware(4096)))).toBe(true);
    expect(chip.flash.subarray(4096, 8192).every((b) => b === 0xff)).toBe(true);
    const m = Object.fromEntries(out.measurements!.map((x) => [x.name, x.value]));
    expect(m['bytes_written']).toBe(4096);
    expect(m['program_s']).toBeGreaterThan(0);
    expect(m['verify_s']).toBeGreaterThan(0);
    expect(out.data!['summary']).toMatch(/^#OK \(Total [\d.]+s, Erase [\d.]+s, Prog [\d.]+s, Verify [\d.]+s\)$/);
    const fractions = program.progress.map((p) => p.fraction);
    expect(fractions.at(-1)).toBe(1);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(program.progress.some((p) => p.text?.startsWith('programmed'))).toBe(true);

    const ident = stepContext(identityStep, {}, common);
    const idOut = await identityStep.run(ident.ctx);
    expect(idOut.measurements).toEqual([
      { name: 'serial', value: 'SN000001' },
      { name: 'mac', value: '02:00:00:00:00:01' },
    ]);
    expect(ident.ctx.unit.identity).toEqual({ serial: 'SN000001', mac: '02:00:00:00:00:01' });
    expect(decodeIdentity(chip.flash.subarray(0xfc00, 0xfc40))).toEqual({ serial: 'SN000001', mac: '02:00:00:00:00:01' });
    expect(Buffer.from(chip.flash.subarray(0, 4096)).equals(Buffer.from(firmware(4096)))).toBe(true);

    const lock = stepContext(lockStep, {}, common);
    const lockOut = await lockStep.run(lock.ctx);
    expect(lockOut.measurements).toContainEqual({ name: 'rdp_active', value: true });
    expect(chip.locked).toBe(true);

    expect(processes).toHaveLength(1);
    await cycle.teardown();
    expect(await processes[0]!.exited).toEqual({ code: 0, signal: null });
  }, 30_000);

  it('skips identical regions on a re-test: a read instead of an erase and write', async () => {
    const { chip, probe, cycle } = await jig();
    const img = await image(1024);
    const unit = {}; // one cycle, one unit: the chip is read and admitted once
    await programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle, unit }).ctx);
    let erased = 0;
    chip.on('flash-erase', () => erased++);
    const again = await programStep.run(stepContext(programStep, { skip_when_identical: true }, { devices: { probe }, image: img, cycle, unit }).ctx);
    expect(erased).toBe(0);
    expect(again.measurements).toContainEqual({ name: 'bytes_written', value: 0, unit: 'B' });
    expect(again.measurements).toContainEqual({ name: 'regions_skipped', value: 1 });
    expect(again.data!['identical']).toEqual(['application']);

    const v2 = await image(1024, '2.0.0');
    const updated = await programStep.run(stepContext(programStep, { skip_when_identical: true }, { devices: { probe }, image: v2, cycle, unit }).ctx);
    expect(updated.measurements).toContainEqual({ name: 'bytes_written', value: 1024, unit: 'B' });
    expect(Buffer.from(chip.flash.subarray(0, 1024)).equals(Buffer.from(firmware(1024, '2.0.0')))).toBe(true);
  }, 30_000);

  it('reports a stuck flash bit as VERIFY_FAILED with the first differing address', async () => {
    const { chip, probe, cycle } = await jig();
    chip.faults.stuckBit = { address: FLASH + 0x123, bit: 2, value: 1 };
    const img = await image(1024);
    const expected = firmware(1024)[0x123]!;
    expect(expected & 4).toBe(0); // the image has a 0 where the bit is stuck at 1
    const error = await expectReason(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx), 'VERIFY_FAILED');
    expect(error.message).toContain('0x08000123');
    expect(error.details).toMatchObject({ address: FLASH + 0x123, expected, actual: expected | 4 });
  }, 30_000);

  it('refuses to flash a file whose sha256 differs from the image, before starting openocd', async () => {
    const { probe, cycle, processes } = await jig();
    const img = await image(1024);
    img.regions[0]!.sha256 = '0'.repeat(64);
    await expectReason(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx), 'IMAGE_CORRUPT');
    expect(processes).toHaveLength(0);
  });

  it('gives PROBE_NOT_FOUND when nothing listens on the adapter socket', async () => {
    const port = await closedPort();
    const probe = openocdProbe(probeSchema.parse({ kind: 'remote_bitbang', target: 'target/stm32f1x.cfg', remote_bitbang: { port }, work_area_size: 0 }));
    const img = await image(1024);
    const cycle = new TestCycle();
    cleanups.push(() => cycle.teardown());
    const error = await expectReason(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx), 'PROBE_NOT_FOUND');
    expect(error.message).toContain('Failed to connect');
  });

  it('gives TARGET_NOT_RESPONDING when the scan chain is dead', async () => {
    const { chip, probe, cycle } = await jig();
    chip.faults.deadScanChain = 'ones';
    const img = await image(1024);
    const error = await expectReason(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx), 'TARGET_NOT_RESPONDING');
    expect(error.message).toMatch(/JTAG scan chain interrogation failed|IDCODE|idcode|tap/i);
  }, 20_000);

  it('gives CONNECTION_LOST when the adapter connection drops mid-programming (openocd aborts)', async () => {
    const { chip, probe, cycle, processes } = await jig();
    chip.faults.dropAfterHalfwords = 100;
    const img = await image(1024);
    await expectReason(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx), 'CONNECTION_LOST');
    expect((await processes[0]!.exited).signal).toBe('SIGABRT'); // exit status 134 in a shell
  }, 20_000);

  it('kills openocd with SIGKILL at its deadline when the target goes silent (PROBE_TIMEOUT)', async () => {
    const { chip, probe, cycle, processes } = await jig({ deadlines: { commandMs: 1000, perKiBMs: 1000 } });
    let writes = 0;
    chip.on('flash-write', () => {
      if (++writes === 50) chip.faults.silent = true;
    });
    const img = await image(1024);
    // PROBE_TIMEOUT comes only from a deadline: the silent target never answers, openocd never ends by itself
    const error = await expectReason(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx), 'PROBE_TIMEOUT');
    expect(error.message).toContain('flash write_image');
    expect(await processes[0]!.exited).toEqual({ code: null, signal: 'SIGKILL' });
  }, 20_000);

  it('gives FLASH_PROTECTED for a read-out protected chip', async () => {
    const { chip, probe, cycle } = await jig();
    chip.setReadProtection(true);
    const img = await image(1024);
    const error = await expectReason(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx), 'FLASH_PROTECTED');
    expect(error.message).toContain('stm32x device protected');
    await cycle.teardown(); // one openocd at a time on the simulated JTAG port
    const cycle2 = new TestCycle();
    cleanups.push(() => cycle2.teardown());
    await expectReason(programStep.run(stepContext(programStep, { skip_when_identical: true }, { devices: { probe }, image: img, cycle: cycle2 }).ctx), 'FLASH_PROTECTED');
  }, 20_000);

  it('lock passes only when flash reads really fail afterwards', async () => {
    const { chip, probe, cycle } = await jig();
    chip.flash.set(firmware(1024));
    await lockStep.run(stepContext(lockStep, {}, { devices: { probe }, cycle }).ctx);
    expect(chip.locked).toBe(true);
    // A fresh session confirms it independently of the step's own check.
    await cycle.teardown(); // one openocd at a time on the simulated JTAG port
    const session = await probe.open({ signal: new AbortController().signal });
    cleanups.push(() => session.close());
    const read = await session.read(FLASH, 4, { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(read).toMatchObject({ code: 'FLASH_PROTECTED' });
  }, 20_000);

  it('lock fails with LOCK_NOT_PROVEN when read-out protection does not take effect', async () => {
    const { chip, probe, cycle } = await jig();
    chip.flash.set(firmware(1024));
    chip.faults.lockIneffective = true; // the RDP byte is written, but the chip never applies it
    const e = await expectReason(lockStep.run(stepContext(lockStep, {}, { devices: { probe }, cycle }).ctx), 'LOCK_NOT_PROVEN');
    expect(chip.locked).toBe(false);
    expect(e.message).toMatch(/read|protection/i);
  }, 20_000);

  it('stops openocd at once on ABORT during programming: SIGKILL, and the chip sees no write after it', async () => {
    const { chip, probe, cycle, processes } = await jig();
    const controller = new AbortController();
    const order: string[] = [];
    let writes = 0;
    chip.on('flash-write', () => {
      if (++writes === 200) {
        order.push('abort');
        controller.abort(new Error('ABORT pressed'));
      }
    });
    const img = await image(4096);
    const run = programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle, signal: controller.signal }).ctx);
    void (async () => {
      while (!processes[0]) await new Promise((r) => setImmediate(r));
      await processes[0].exited;
      order.push(`openocd exited after ${writes} writes`);
    })();
    await expectReason(run, 'ABORTED');
    order.push('step rejected');
    expect(await processes[0]!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await new Promise((r) => setImmediate(r));
    // the 4 KiB image needs 2048 half-word writes: openocd died long before the end
    expect(writes).toBeLessThan(2048);
    expect(order[0]).toBe('abort');
    expect(order).toContain('step rejected');
  }, 20_000);

  it('writes the identity record where the plan says and reads it back', async () => {
    const { chip, probe, cycle } = await jig();
    const out = await identityStep.run(stepContext(identityStep, { address: '0x08008000' }, { devices: { probe }, cycle }).ctx);
    expect(out.measurements).toContainEqual({ name: 'serial', value: 'SN000001' });
    expect(Buffer.from(chip.flash.subarray(0x8000, 0x8040)).equals(Buffer.from(encodeIdentity({ serial: 'SN000001', mac: '02:00:00:00:00:01' })))).toBe(true);
  }, 20_000);
});

/** A TCP port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
