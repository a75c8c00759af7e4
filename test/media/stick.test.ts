import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StickWatcher, type Stick } from '../../src/media/stick.js';
import { insertStick, pullStick } from '../../src/sim/stick.js';
import { stickWith, tempDir } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

function next(w: StickWatcher, event: 'inserted' | 'removed'): Promise<Stick> {
  return new Promise((resolve) => {
    const off = w.on(event, (s) => {
      off();
      resolve(s);
    });
  });
}

describe('StickWatcher', () => {
  it('reports sticks with a pijig/ folder appearing and vanishing, on its poll', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const mount = join(await tempDir(), 'media'); // does not exist until the first stick
    const w = new StickWatcher({ mountDir: mount, intervalMs: 500 });
    const events: string[] = [];
    w.on('inserted', (s) => events.push(`+${s.name}`));
    w.on('removed', (s) => events.push(`-${s.name}`));
    w.start();
    await w.scan();
    expect(events).toEqual([]);

    await insertStick(mount, 'KINGSTON', await stickWith());
    await mkdir(join(mount, 'NOT-OURS'), { recursive: true }); // a stick without pijig/
    const inserted = next(w, 'inserted');
    await vi.advanceTimersByTimeAsync(500);
    expect(await inserted).toEqual({ name: 'KINGSTON', root: join(mount, 'KINGSTON') });
    expect(w.sticks.map((s) => s.name)).toEqual(['KINGSTON']);

    await vi.advanceTimersByTimeAsync(500);
    await w.scan();
    expect(events).toEqual(['+KINGSTON']); // still there: no repeat

    await pullStick(mount, 'KINGSTON');
    const removed = next(w, 'removed');
    await vi.advanceTimersByTimeAsync(500);
    expect((await removed).name).toBe('KINGSTON');
    expect(events).toEqual(['+KINGSTON', '-KINGSTON']);
    w.stop();
  });

  it('sees a stick that is already in at start', async () => {
    const mount = await tempDir();
    await insertStick(mount, 'A', await stickWith());
    const w = new StickWatcher({ mountDir: mount });
    const inserted = next(w, 'inserted');
    await w.scan();
    expect((await inserted).name).toBe('A');
  });

  it('stops polling when stopped', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const mount = await tempDir();
    const w = new StickWatcher({ mountDir: mount, intervalMs: 100 });
    const scan = vi.spyOn(w, 'scan');
    w.start();
    await vi.advanceTimersByTimeAsync(300);
    const calls = scan.mock.calls.length;
    expect(calls).toBe(4); // at start, then every 100 ms
    w.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(scan.mock.calls.length).toBe(calls);
  });
});
