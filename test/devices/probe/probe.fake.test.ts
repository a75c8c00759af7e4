import { describe, expect, it } from 'vitest';
import { FakeProbe } from '../../../src/devices/probe/probe.fake.js';
import { programStep } from '../../../src/steps/program.js';
import { imageOf, stepContext, TestCycle } from '../../helpers/step-context.js';

const op = () => ({ signal: new AbortController().signal });

describe('the strict probe fake holds callers to the probe contract', () => {
  it('refuses overlapping operations on one session', async () => {
    const probe = new FakeProbe();
    const session = await probe.open(op());
    const first = session.reset('halt', op());
    await expect(session.read(0x08000000, 4, op())).rejects.toThrow('overlapping probe operations: "read 8000000 4" called while "reset halt" runs');
    await first;
    expect(probe.violations).toHaveLength(1);
    await expect(session.read(0x08000000, 4, op())).resolves.toHaveLength(4);
  });

  it('honours the abort signal, and the session is dead afterwards', async () => {
    const probe = new FakeProbe();
    const session = await probe.open(op());
    const controller = new AbortController();
    const erasing = session.massErase({ signal: controller.signal });
    controller.abort('ABORT pressed');
    await expect(erasing).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(session.reset('run', op())).rejects.toMatchObject({ code: 'ABORTED' });
    const pre = new AbortController();
    pre.abort();
    await expect(probe.open({ signal: pre.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('a closed session rejects every call; close is idempotent', async () => {
    const probe = new FakeProbe();
    const session = await probe.open(op());
    await session.close();
    await session.close();
    await expect(session.reset('halt', op())).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    expect(probe.calls).toEqual(['close']);
  });

  it('the program step stops at ABORT mid-write and never touches the dead session again', async () => {
    const probe = new FakeProbe();
    const img = await imageOf([{ name: 'application', address: 0x08000000, bytes: new Uint8Array(8 * 1024).fill(7) }]);
    const controller = new AbortController();
    const cycle = new TestCycle();
    let writes = 0;
    const h = stepContext(programStep, {}, { devices: { probe }, image: img, signal: controller.signal, cycle });
    const offProgress = (text: string | undefined) => text?.startsWith('writing') && ++writes === 2 && controller.abort('ABORT pressed');
    const original = h.ctx.progress;
    h.ctx.progress = (f, text) => {
      original(f, text);
      offProgress(text);
    };
    await expect(programStep.run(h.ctx)).rejects.toMatchObject({ code: 'ABORTED' });
    await cycle.teardown();
    expect(probe.violations).toEqual([]);
    expect(probe.calls.filter((c) => c.startsWith('write'))).toHaveLength(2);
    expect(probe.calls.at(-1)).toBe('close');
  });
});
