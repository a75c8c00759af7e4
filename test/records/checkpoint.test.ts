import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointProblem, makeCheckpoint, parseCheckpoint } from '../../src/records/checkpoint.js';
import { loadOrCreateStationKey, STATION_KEY_FILE, STATION_PUB_FILE } from '../../src/records/station-key.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'pijig-key-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('the station key and its checkpoints', () => {
  it('is made once, on the first start, private to the station', async () => {
    const first = await loadOrCreateStationKey(dir);
    expect(first.created).toBe(true);
    expect((await stat(join(dir, STATION_KEY_FILE))).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateStationKey(dir);
    expect(again.created).toBe(false);
    expect(again.key.fingerprint).toBe(first.key.fingerprint);
    expect(first.key.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('a checkpoint verifies with the station key, and not once anything in it changes or another key is pinned', async () => {
    const { key } = await loadOrCreateStationKey(dir);
    const cp = makeCheckpoint(key, { station: 'jig-01', seq: 12, head: 'a'.repeat(64), counts: { PASS: 10, FAIL: 1, ERROR: 1, ABORTED: 0 }, at: '2026-12-01T10:00:00.000Z' });
    const text = JSON.stringify(cp);
    expect(checkpointProblem(parseCheckpoint(text, 'checkpoint.json'))).toBeUndefined();
    expect(checkpointProblem(cp, await readFile(join(dir, STATION_PUB_FILE), 'utf8'))).toBeUndefined();
    expect(checkpointProblem({ ...cp, seq: 11 })).toMatch(/signature does not verify/);
    expect(checkpointProblem({ ...cp, counts: { ...cp.counts, PASS: 9 } })).toMatch(/signature does not verify/);
    const other = await loadOrCreateStationKey(await mkdtemp(join(tmpdir(), 'pijig-key2-')));
    expect(checkpointProblem(cp, other.key.publicPem)).toMatch(/not by the station key/);
    // a forger's key in the checkpoint, claiming the station's fingerprint
    expect(checkpointProblem({ ...cp, publicKey: other.key.publicKey })).toMatch(/not the .* it names/);
  });
});
