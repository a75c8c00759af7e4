import { describe, expect, it } from 'vitest';
import { ProbeError } from '../../src/devices/probe/probe.js';
import { StepError } from '../../src/steps/errors.js';
import { lockStep } from '../../src/steps/lock.js';
import { FakeProbe, stepContext } from '../helpers/step-context.js';

async function code(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(StepError);
  return (e as StepError).code;
}

describe('lock step', () => {
  it('locks, resets and proves that flash reads fail', async () => {
    const probe = new FakeProbe();
    const out = await lockStep.run(stepContext(lockStep, {}, { devices: { probe } }).ctx);
    expect(out.measurements).toEqual([
      { name: 'rdp_active', value: true },
      { name: 'flash_read_blocked', value: true },
    ]);
    expect(probe.calls).toEqual(['reset halt', 'lock', 'reset halt', 'reset run']);
  });

  it('gives LOCK_NOT_PROVEN when the option bytes still say unprotected', async () => {
    const probe = new FakeProbe();
    probe.lockTakesEffect = false;
    expect(await code(lockStep.run(stepContext(lockStep, {}, { devices: { probe } }).ctx))).toBe('LOCK_NOT_PROVEN');
  });

  it('gives LOCK_NOT_PROVEN when flash is still readable although protection reads on', async () => {
    const probe = new FakeProbe();
    probe.readsBlockedWhenLocked = false;
    const e = await lockStep.run(stepContext(lockStep, {}, { devices: { probe } }).ctx).catch((x: unknown) => x);
    expect((e as StepError).code).toBe('LOCK_NOT_PROVEN');
    expect((e as StepError).message).toContain('still reads');
  });

  it('does not count a lost probe as proof', async () => {
    const probe = new FakeProbe();
    const open = probe.open.bind(probe);
    probe.open = async (opts) => {
      const s = await open(opts);
      s.read = async () => {
        throw new ProbeError('CONNECTION_LOST', 'openocd aborted');
      };
      return s;
    };
    expect(await code(lockStep.run(stepContext(lockStep, {}, { devices: { probe } }).ctx))).toBe('CONNECTION_LOST');
  });

  it('validates the family name against the chip table: an unknown family is a plan error, not a failed unit', () => {
    expect(lockStep.params.safeParse({ family: 'stm32f4x' }).success).toBe(true);
    expect(lockStep.params.safeParse({ family: 'stm32g0' }).success).toBe(true);
    expect(lockStep.params.safeParse({ family: 'stm32l0' }).success).toBe(true);
    expect(lockStep.params.safeParse({ family: 'x; shutdown' }).success).toBe(false);
    const unknown = lockStep.params.safeParse({ family: 'stm32u5x' });
    expect(unknown.success).toBe(false);
    expect(unknown.error?.issues[0]?.message).toMatch(/"stm32u5x" is not a chip family pijig knows/);
  });

  it("names the family's lock command and proof when the lock does not take", async () => {
    const probe = new FakeProbe();
    probe.lockTakesEffect = false;
    const e = (await lockStep.run(stepContext(lockStep, { family: 'stm32g0' }, { devices: { probe } }).ctx).catch((x: unknown) => x)) as StepError;
    expect(e.message).toMatch(/after `stm32l4x lock 0` and a reset, FLASH_OPTR still reports read protection off \(the proof: `stm32l4x option_read 0 0x20`/);
  });
});
