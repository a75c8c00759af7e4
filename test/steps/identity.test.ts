import { describe, expect, it } from 'vitest';
import { StepError } from '../../src/steps/errors.js';
import { decodeIdentity } from '../../src/steps/identity-record.js';
import { identityStep } from '../../src/steps/identity.js';
import { FakeProbe, stepContext, TestLedger } from '../helpers/step-context.js';

describe('identity step', () => {
  it('defaults to the last 1 KiB page of a 64 KiB STM32F103 and accepts hex strings', () => {
    expect(identityStep.params.parse({})).toEqual({ address: 0x0800fc00, reset: true });
    expect(identityStep.params.parse({ address: '0x08008000', reset: false })).toEqual({ address: 0x08008000, reset: false });
    expect(identityStep.params.safeParse({ address: '08008000' }).success).toBe(false);
    expect(identityStep.params.safeParse({ address: -1 }).success).toBe(false);
  });

  it('takes a number from the ledger, stores it on the unit, writes and reads back the record', async () => {
    const probe = new FakeProbe();
    const ledger = new TestLedger();
    const h = stepContext(identityStep, {}, { devices: { probe }, ledger });
    const out = await identityStep.run(h.ctx);
    expect(out.measurements).toEqual([
      { name: 'serial', value: 'SN000001' },
      { name: 'mac', value: '02:00:00:00:00:01' },
    ]);
    expect(h.ctx.unit.identity).toEqual({ serial: 'SN000001', mac: '02:00:00:00:00:01' });
    expect(decodeIdentity(probe.flash.subarray(0xfc00, 0xfc40))).toEqual(h.ctx.unit.identity);
    expect(out.data).toMatchObject({ address: '0x0800fc00', reused: false, written: true });
    // the chip was read and admitted first: its UID links the runs of this board
    const uid = Buffer.from(probe.uid!);
    expect(ledger.admitted).toEqual([{ uid: [8, 4, 0].map((o) => uid.readUInt32LE(o).toString(16).padStart(8, '0')).join(''), locked: false }]);
    // halted to write, then run again so the firmware boots with its identity for the checks that follow
    expect(probe.calls.filter((c) => c.startsWith('reset'))).toEqual(['reset halt', 'reset run']);
  });

  it('leaves the target halted when told not to reset', async () => {
    const probe = new FakeProbe();
    await identityStep.run(stepContext(identityStep, { reset: false }, { devices: { probe } }).ctx);
    expect(probe.calls.filter((c) => c.startsWith('reset'))).toEqual(['reset halt']);
  });

  it('keeps the identity the unit already has in this cycle', async () => {
    const probe = new FakeProbe();
    const ledger = new TestLedger();
    const unit = { identity: { serial: 'SN777', mac: '02:00:00:00:07:77' } };
    await identityStep.run(stepContext(identityStep, {}, { devices: { probe }, ledger, unit }).ctx);
    expect(ledger.issued).toHaveLength(0);
    expect(decodeIdentity(probe.flash.subarray(0xfc00))?.serial).toBe('SN777');
  });

  it('a retested board keeps the number the ledger gave its chip, and a record already in place is not written again', async () => {
    const probe = new FakeProbe();
    const ledger = new TestLedger();
    await identityStep.run(stepContext(identityStep, {}, { devices: { probe }, ledger }).ctx);
    const again = await identityStep.run(stepContext(identityStep, {}, { devices: { probe }, ledger }).ctx);
    expect(again.measurements).toEqual([
      { name: 'serial', value: 'SN000001' },
      { name: 'mac', value: '02:00:00:00:00:01' },
    ]);
    expect(again.data).toMatchObject({ reused: true, written: false });
    expect(ledger.issued).toHaveLength(1);
    expect(probe.calls.filter((c) => c.startsWith('erase'))).toEqual(['erase 800fc00 64']);
  });

  it('gives IDENTITY_MISMATCH when the read-back differs', async () => {
    const probe = new FakeProbe();
    probe.corruptReadAt = 0x0800fc00 + 20;
    const e = await identityStep.run(stepContext(identityStep, {}, { devices: { probe } }).ctx).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StepError);
    expect((e as StepError).code).toBe('IDENTITY_MISMATCH');
    expect((e as StepError).message).toContain('0x0800fc00');
    expect((e as StepError).details).toHaveProperty('read');
  });
});
