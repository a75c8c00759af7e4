import { describe, expect, it } from 'vitest';
import { StepError } from '../../src/steps/errors.js';
import { runPlan } from '../../src/station/runner.js';
import type { StepKind } from '../../src/steps/step.js';
import { programStep } from '../../src/steps/program.js';
import { FakeProbe, imageOf, stepContext, TestCycle, TestLedger } from '../helpers/step-context.js';

const FLASH = 0x08000000;
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

async function failure(p: Promise<unknown>): Promise<StepError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(StepError);
  return e as StepError;
}

describe('program step', () => {
  it('has defaults and rejects unknown params', () => {
    expect(programStep.params.parse({})).toEqual({ skip_when_identical: false, erase: 'sectors', reset: true });
    expect(programStep.params.safeParse({ erase: 'chip' }).success).toBe(false);
    expect(programStep.params.safeParse({ region: ['a'] }).success).toBe(false);
  });

  it('programs every region, erasing only their sectors, then verifies and resets', async () => {
    const probe = new FakeProbe();
    probe.flash.fill(0x00, 0x8000, 0x8400); // outside the image: must survive
    const img = await imageOf([
      { name: 'bootloader', address: FLASH, bytes: bytes(1500, 1) },
      { name: 'application', address: FLASH + 0x1000, bytes: bytes(2048, 2) },
    ]);
    const ledger = new TestLedger();
    const out = await programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, ledger }).ctx);
    expect(Buffer.from(probe.flash.subarray(0, 1500))).toEqual(Buffer.from(bytes(1500, 1)));
    expect(Buffer.from(probe.flash.subarray(0x1000, 0x1800))).toEqual(Buffer.from(bytes(2048, 2)));
    expect(probe.flash[0x8000]).toBe(0x00);
    // written in 1 KiB chunks so the progress bar moves; verified whole
    expect(probe.calls).toEqual([
      'reset halt',
      'erase 8000000 1500',
      'erase 8001000 2048',
      'write 8000000 1024',
      'write 8000400 476',
      'write 8001000 1024',
      'write 8001400 1024',
      'verify 8000000',
      'verify 8001000',
      'reset run',
    ]);
    // counted in the ledger (once, before the first erase)
    expect(ledger.flashes).toEqual([img.imageHash]);
    expect(out.measurements).toContainEqual({ name: 'bytes_written', value: 3548, unit: 'B' });
    expect(out.data!['regions']).toEqual([
      expect.objectContaining({ name: 'bootloader', address: '0x08000000', action: 'programmed' }),
      expect.objectContaining({ name: 'application', address: '0x08001000', action: 'programmed' }),
    ]);
  });

  it('moves the progress bar while a region is written, chunk by chunk, in one session', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(32 * 1024, 3) }]);
    const h = stepContext(programStep, {}, { devices: { probe }, image: img });
    await programStep.run(h.ctx);
    expect(probe.opened).toBe(1);
    const writes = probe.calls.filter((c) => c.startsWith('write'));
    expect(writes).toHaveLength(16); // 32 KiB in 2 KiB chunks: at most 16 per region
    const writing = h.progress.filter((p) => p.text?.startsWith('writing'));
    expect(writing.map((p) => p.text)).toEqual(Array.from({ length: 16 }, (_, i) => `writing ${2 * (i + 1)}/32 KiB`));
    const fractions = writing.map((p) => p.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions[0]).toBeLessThan(0.2);
    expect(fractions.at(-1)).toBeGreaterThan(0.75);
    expect(Buffer.from(probe.flash.subarray(0, 32 * 1024))).toEqual(Buffer.from(bytes(32 * 1024, 3)));
  });

  it('programs only the named regions', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([
      { name: 'bootloader', address: FLASH, bytes: bytes(1024, 1) },
      { name: 'application', address: FLASH + 0x1000, bytes: bytes(1024, 2) },
    ]);
    await programStep.run(stepContext(programStep, { regions: ['application'] }, { devices: { probe }, image: img }).ctx);
    expect(probe.flash[0]).toBe(0xff);
    const e = await failure(programStep.run(stepContext(programStep, { regions: ['nope'] }, { devices: { probe }, image: img }).ctx));
    expect(e.code).toBe('NO_IMAGE');
    expect(e.message).toContain('"nope"');
  });

  it('skip_when_identical: verifies first and writes nothing on a good unit', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(2048, 3) }]);
    probe.flash.set(bytes(2048, 3));
    const ledger = new TestLedger();
    const out = await programStep.run(stepContext(programStep, { skip_when_identical: true }, { devices: { probe }, image: img, ledger }).ctx);
    expect(probe.calls).toEqual(['reset halt', 'verify 8000000', 'reset run']);
    expect(ledger.flashes).toEqual([]); // nothing written, nothing counted
    expect(out.measurements).toContainEqual({ name: 'regions_skipped', value: 1 });
  });

  it('skip_when_identical: reprograms an identical region that shares a sector with a changed one', async () => {
    const probe = new FakeProbe();
    const a = bytes(512, 4);
    const b = bytes(512, 5);
    const c = bytes(1024, 6);
    // a and b share the first 1 KiB sector; c has its own.
    const img = await imageOf([
      { name: 'a', address: FLASH, bytes: a },
      { name: 'b', address: FLASH + 512, bytes: b },
      { name: 'c', address: FLASH + 0x1000, bytes: c },
    ]);
    probe.flash.set(a, 0);
    probe.flash.set(bytes(512, 9), 512); // b differs
    probe.flash.set(c, 0x1000);
    const out = await programStep.run(stepContext(programStep, { skip_when_identical: true }, { devices: { probe }, image: img }).ctx);
    expect(Buffer.from(probe.flash.subarray(0, 512))).toEqual(Buffer.from(a));
    expect(Buffer.from(probe.flash.subarray(512, 1024))).toEqual(Buffer.from(b));
    expect(out.data!['identical']).toEqual(['a', 'c']);
    expect(out.data!['regions']).toEqual([
      expect.objectContaining({ name: 'a', action: 'programmed' }),
      expect.objectContaining({ name: 'b', action: 'programmed' }),
      expect.objectContaining({ name: 'c', action: 'identical' }),
    ]);
    expect(probe.calls).toContain('erase 8000000 1024');
    expect(probe.calls.some((c) => c.startsWith('erase 8001000'))).toBe(false);
  });

  it('mass erase reprograms every region', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(1024, 3) }]);
    probe.flash.fill(0, 0x4000, 0x4010);
    await programStep.run(stepContext(programStep, { erase: 'mass' }, { devices: { probe }, image: img }).ctx);
    expect(probe.calls).toContain('mass_erase');
    expect(probe.flash[0x4000]).toBe(0xff);
  });

  it('a verify mismatch is VERIFY_FAILED with the first differing address', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(1024, 3) }]);
    const step = programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img }).ctx);
    // Corrupt the flash between write and verify.
    const origSet = probe.flash.set.bind(probe.flash);
    probe.flash.set = (data: ArrayLike<number>, offset?: number) => {
      origSet(data, offset);
      probe.flash[0x80] = 0x00;
    };
    const e = await failure(step);
    expect(e.code).toBe('VERIFY_FAILED');
    expect(e.message).toContain('0x08000080');
    expect(e.details).toMatchObject({ address: FLASH + 0x80, actual: 0 });
  });

  it('refuses a region file that does not match its declared sha256 or size', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(1024, 3) }]);
    img.regions[0]!.size = 1000;
    const e = await failure(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img }).ctx));
    expect(e.code).toBe('IMAGE_CORRUPT');
    expect(probe.opened).toBe(0);
  });

  it('refuses a region that holds Intel HEX text or an ELF (NOT_BINARY), before opening the probe', async () => {
    const probe = new FakeProbe();
    const hexText = Buffer.from(':020000040800F2\n:100000000050002053010008510100085101000870\n:00000001FF\n');
    const hex = await imageOf([{ name: 'application', address: FLASH, bytes: hexText }]);
    const e = await failure(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: hex }).ctx));
    expect(e.code).toBe('NOT_BINARY');
    expect(e.message).toMatch(/is Intel HEX text, not raw bytes; refusing to flash/);
    const elf = await imageOf([{ name: 'application', address: FLASH, bytes: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]), Buffer.alloc(57)]) }]);
    expect((await failure(programStep.run(stepContext(programStep, {}, { devices: { probe }, image: elf }).ctx))).code).toBe('NOT_BINARY');
    expect(probe.opened).toBe(0);
    expect(probe.flash.every((b) => b === 0xff)).toBe(true);
  });

  it('needs an image and a probe', async () => {
    const probe = new FakeProbe();
    expect((await failure(programStep.run(stepContext(programStep, {}, { devices: { probe } }).ctx))).code).toBe('NO_IMAGE');
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(16, 3) }]);
    // without a probe the runner does not run the step at all
    const plan = { file: 'p.yaml', name: 'p', product: 'demo', teardown: [], steps: [{ name: 'program', kind: 'program', step: programStep as StepKind, params: programStep.params.parse({}), limits: {}, timeout_s: 5, continue_on_fail: false }] };
    const out = await runPlan(plan, { devices: { dutPower: { set: async () => {} }, lightSensors: new Map() }, ledger: new TestLedger(), image: img }, new AbortController().signal);
    expect(out).toMatchObject({ result: 'ERROR', reason: 'DEVICE_MISSING', failedStep: 'program' });
  });

  it('reports progress from 0 to 1 in order', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(2048, 3) }]);
    const h = stepContext(programStep, { skip_when_identical: true }, { devices: { probe }, image: img });
    await programStep.run(h.ctx);
    const f = h.progress.map((p) => p.fraction);
    expect(f.at(-1)).toBe(1);
    expect(f).toEqual([...f].sort((x, y) => x - y));
  });

  it('shares one probe session across the steps of a cycle', async () => {
    const probe = new FakeProbe();
    const cycle = new TestCycle();
    const img = await imageOf([{ name: 'application', address: FLASH, bytes: bytes(64, 3) }]);
    await programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx);
    await programStep.run(stepContext(programStep, {}, { devices: { probe }, image: img, cycle }).ctx);
    expect(probe.opened).toBe(1);
    await cycle.teardown();
    expect(probe.calls.at(-1)).toBe('close');
  });
});
