import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Journal } from '../../src/records/journal.js';
import { JournalFollower } from '../../src/outputs/follower.js';
import type { RecordOutput } from '../../src/outputs/output.js';
import type { UnitRecord } from '../../src/core/record.js';
import { tempDir, unit } from '../media/helpers.js';
import { makeStation } from '../helpers/station-harness.js';
import { planOf } from '../helpers/test-steps.js';

afterEach(() => vi.useRealTimers());

/** Real I/O (fsync of the journal and the cursors) completes while fake time stands still. */
async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 20_000 && !condition(); i++) await new Promise((r) => setImmediate(r));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

/** An output that refuses its first `failures` writes (a broker away, a printer off), then takes everything. */
class FlakyOutput implements RecordOutput {
  readonly name = 'flaky';
  readonly got: UnitRecord[] = [];
  attempts = 0;
  constructor(private failures: number) {}
  async write(records: readonly UnitRecord[]): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('broker unreachable');
    }
    this.got.push(...records);
  }
}

async function journalWith(n: number): Promise<{ journal: Journal; dir: string }> {
  const dir = await tempDir('pijig-follow-');
  const journal = await Journal.open(join(dir, 'units.jsonl'));
  for (let i = 1; i <= n; i++) await journal.append(unit(i));
  return { journal, dir };
}

describe('the journal follower', () => {
  it('delivers every record in order to an output that fails N times, retrying with backoff, losing nothing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { journal, dir } = await journalWith(3);
    const output = new FlakyOutput(4);
    const follower = new JournalFollower({ journal, dataDir: dir, backoff: { initialMs: 1000, maxMs: 60_000 } });
    const failures: number[] = [];
    follower.on('failed', (_name, _err, retryIn) => failures.push(retryIn!));
    follower.add(output);
    await until(() => output.attempts === 1, 'the first attempt');
    expect(follower.status()).toEqual([expect.objectContaining({ name: 'flaky', position: 0, pending: 3, failures: 1, lastError: 'broker unreachable' })]);
    // records keep coming while the output is away: they wait in the journal, not in memory
    for (let i = 4; i <= 6; i++) await journal.append(unit(i));
    expect(output.attempts).toBe(1); // new records do not cut the backoff short
    for (const wait of [1000, 2000, 4000, 8000]) {
      const before = output.attempts;
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(output.attempts).toBe(before);
      await vi.advanceTimersByTimeAsync(1);
      await until(() => output.attempts === before + 1, `attempt ${before + 1}`);
    }
    expect(failures).toEqual([1000, 2000, 4000, 8000]);
    await until(() => output.got.length === 6, 'all six records');
    expect(output.got.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    await until(() => follower.status()[0]!.position === 6, 'the cursor');
    expect(follower.status()[0]).toMatchObject({ position: 6, pending: 0, failures: 0 });
    // the cursor is on disk: a restarted follower does not deliver them again
    expect(JSON.parse(await readFile(join(dir, 'outputs/flaky.cursor.json'), 'utf8'))).toMatchObject({ seq: 6, id: 'u-000006' });
    await follower.stop();
    const again = new FlakyOutput(0);
    const restarted = new JournalFollower({ journal, dataDir: dir });
    restarted.add(Object.assign(again, { name: 'flaky' }));
    await journal.append(unit(7));
    await until(() => again.got.length === 1, 'record 7');
    expect(again.got.map((r) => r.seq)).toEqual([7]);
    await restarted.stop();
    await journal.close();
  });

  it('a failing output never delays a cycle: units are journaled and shown while it fails', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const s = await makeStation({ plan: planOf([{ name: 'measure', kind: 'measure', params: { values: { x: 1 } } }]) });
    const hung = { name: 'hung', write: () => new Promise<void>(() => {}) } satisfies RecordOutput;
    const failing = new FlakyOutput(1_000_000);
    const follower = new JournalFollower({ journal: s.journal, dataDir: s.dir });
    follower.add(hung);
    follower.add(failing);
    for (let i = 0; i < 3; i++) {
      await s.lid(true);
      await s.press('start');
      await s.until('pass');
      await s.lid(false);
    }
    expect((await s.records()).map((r) => r.result)).toEqual(['PASS', 'PASS', 'PASS']);
    expect(follower.status().find((o) => o.name === 'flaky')).toMatchObject({ position: 0, pending: 3 });
    await s.cleanup();
  });

  it('starts afresh when the cursor names a record this journal does not have', async () => {
    const { journal, dir } = await journalWith(2);
    const output = new FlakyOutput(0);
    let restarted = 0;
    const foreign: RecordOutput = { name: 'foreign', position: async () => ({ seq: 2, id: 'someone-else' }), restart: async () => void restarted++, write: (r) => output.write(r) };
    const follower = new JournalFollower({ journal, dataDir: dir });
    expect(await follower.drain(foreign)).toMatchObject({ delivered: 2, position: { seq: 2, id: 'u-000002' } });
    expect(restarted).toBe(1);
    expect(output.got.map((r) => r.seq)).toEqual([1, 2]);
    await journal.close();
  });

  it('a drain retries while the destination stays, and gives up with the last error', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { journal, dir } = await journalWith(2);
    const output = new FlakyOutput(2);
    const follower = new JournalFollower({ journal, dataDir: dir, backoff: { initialMs: 500, maxMs: 500 } });
    const draining = follower.drain(output, { attempts: 3 });
    await until(() => output.attempts === 1);
    await vi.advanceTimersByTimeAsync(500);
    await until(() => output.attempts === 2);
    await vi.advanceTimersByTimeAsync(500);
    expect(await draining).toMatchObject({ delivered: 2 });
    const gone = new FlakyOutput(5);
    await expect(new JournalFollower({ journal, dataDir: dir }).drain(Object.assign(gone, { name: 'gone' }), { attempts: 3, stillThere: async () => false })).rejects.toThrow('broker unreachable');
    expect(gone.attempts).toBe(1);
    await journal.close();
  });

  it('an output that says its destination is back is retried at once, not after its backoff', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { journal, dir } = await journalWith(2);
    const output = new FlakyOutput(2);
    const listeners = new Set<() => void>();
    const ready: RecordOutput = { name: 'ready', write: (r) => output.write(r), onReady: (l) => (listeners.add(l), () => listeners.delete(l)) };
    const follower = new JournalFollower({ journal, dataDir: dir, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    const stop = follower.add(ready);
    await until(() => output.attempts === 1, 'the first attempt');
    await until(() => follower.status()[0]!.failures === 1, 'the backoff');
    for (const l of listeners) l(); // the broker is back
    await until(() => output.attempts === 2, 'a retry without time passing');
    for (const l of listeners) l();
    await until(() => output.got.length === 2, 'both records');
    expect(output.got.map((r) => r.seq)).toEqual([1, 2]);
    await stop();
    expect(listeners.size).toBe(0); // unsubscribed when the output is no longer followed
    await journal.close();
  });
});
