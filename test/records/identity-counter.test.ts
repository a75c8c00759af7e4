import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CounterIdentityProvider, identityAt } from '../../src/records/identity-counter.js';
import { StationState } from '../../src/records/state.js';
import { tempDir } from '../media/helpers.js';

const block = { serialPrefix: 'WG', serialDigits: 6, first: 1, count: 3, macFirst: '02:50:4a:00:00:ff' };

describe('the identity counter', () => {
  it('hands out consecutive serials and MACs (carrying into the next byte), each persisted before it is returned', async () => {
    const dir = await tempDir('pijig-ids-');
    const state = await StationState.open(dir);
    const ids = new CounterIdentityProvider(state, block);
    expect(await ids.allocate()).toEqual({ serial: 'WG000001', mac: '02:50:4a:00:00:ff' });
    // on disk before the caller had the number
    expect(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')).identityCursor).toEqual({ 'WG1+3/02:50:4a:00:00:ff': 1 });
    expect(await ids.allocate()).toEqual({ serial: 'WG000002', mac: '02:50:4a:00:01:00' });
  });

  it('never issues a number twice across a restart, and says when the block is used up', async () => {
    const dir = await tempDir('pijig-ids-');
    await new CounterIdentityProvider(await StationState.open(dir), block).allocate();
    const reopened = new CounterIdentityProvider(await StationState.open(dir), block);
    expect((await reopened.allocate()).serial).toBe('WG000002');
    expect((await reopened.allocate()).serial).toBe('WG000003');
    await expect(reopened.allocate()).rejects.toMatchObject({ code: 'IDENTITY_EXHAUSTED' });
  });

  it('formats the serial with its fixed digits', () => {
    expect(identityAt({ ...block, first: 41 }, 1)).toEqual({ serial: 'WG000042', mac: '02:50:4a:00:01:00' });
  });
});
