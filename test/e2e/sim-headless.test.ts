import { describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { ControlClient } from '../../src/control/client.js';
import type { UnitSummary } from '../../src/control/summary.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pijig = (...args: string[]) => [process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args]] as const;

/** `pijig sim --headless` in one process, the engineer's commands from another, as over SSH. */
describe('pijig sim --headless', () => {
  it('prints its socket; status from a second process; a scanned unit run through the jig commands; SIGTERM removes the sockets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-headless-'));
    const [node, args] = pijig('sim', '--headless', '--data-dir', dir);
    const sim = execa(node, args, { cwd: ROOT, reject: false, killSignal: 'SIGKILL', timeout: 240_000, all: true });
    let output = '';
    sim.all!.on('data', (c: Buffer) => (output += c.toString()));
    try {
      await vi.waitFor(() => expect(output).toMatch(/headless: the virtual jig runs/), { timeout: 120_000, interval: 100 });
      const socket = /control socket: (\S+)/.exec(output)![1]!;
      expect(socket).toBe(join(dir, 'control.sock'));

      const [n2, a2] = pijig('status', '--json', '--socket', socket);
      const status = JSON.parse((await execa(n2, a2, { cwd: ROOT, timeout: 60_000, killSignal: 'SIGKILL' })).stdout);
      expect(status).toMatchObject({ state: 'ready', job: { version: '1.0.0' }, scanner: { description: 'simulated scanner', ok: true } });

      const c = await ControlClient.connect(socket);
      const watcher = await ControlClient.connect(socket);
      const events: [string, unknown][] = [];
      void watcher.request('watch', {}, (name, data) => events.push([name, data])).catch(() => {});
      const { label } = await c.request<{ label: string }>('jig', { action: 'scan' });
      expect(label).toMatch(/^LBL-\d{6}-0001$/);
      await c.request('jig', { action: 'lid', closed: true });
      await vi.waitFor(async () => expect((await c.request<{ lidClosed: boolean }>('status')).lidClosed).toBe(true), { timeout: 5000, interval: 20 });
      await c.request('jig', { action: 'press', button: 'start' });
      const record = await vi.waitFor(() => (events.find(([n]) => n === 'record')?.[1] as UnitSummary) ?? Promise.reject(new Error('no record yet')), { timeout: 120_000, interval: 100 });
      // The unit's verdict is not this test's subject (a starved 2-core machine can make the sim's LED timing miss); its record is.
      expect(record, JSON.stringify(record)).toMatchObject({ seq: 1, result: expect.stringMatching(/^(PASS|FAIL|ERROR)$/), label, clockSynced: true });
      expect(events.map(([n]) => n)).toEqual(expect.arrayContaining(['status', 'scanned', 'state', 'step', 'screen', 'record']));
      watcher.close();
      c.close();
    } finally {
      sim.kill('SIGTERM');
      const r = await sim;
      expect(r.exitCode, output).toBe(0);
      expect(existsSync(join(dir, 'control.sock'))).toBe(false);
      expect(existsSync(join(dir, 'status.sock'))).toBe(false);
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
