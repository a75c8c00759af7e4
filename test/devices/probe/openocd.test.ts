import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OpenocdProbe, type OpenocdProcessInfo } from '../../../src/devices/probe/openocd.js';
import { ProbeError, type ProbeEvent, type ProbeSession } from '../../../src/devices/probe/probe.js';

// The driver against a scripted stand-in for openocd (test/fixtures/fake-openocd.mjs) that, like a
// hung openocd 0.12, ignores SIGTERM. The real openocd is exercised in test/e2e/flash.test.ts.
const FAKE = fileURLToPath(new URL('../../fixtures/fake-openocd.mjs', import.meta.url));
const live: ProbeSession[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(live.splice(0).map((s) => s.close()));
});

function probe(scenario: string, deadlines = {}) {
  const processes: OpenocdProcessInfo[] = [];
  const p = new OpenocdProbe({ executable: process.execPath, args: [FAKE, scenario], family: 'stm32f1x', deadlines, onProcess: (x) => void processes.push(x) });
  return { probe: p, processes };
}

async function open(scenario: string, deadlines = {}) {
  const { probe: p, processes } = probe(scenario, deadlines);
  const session = await p.open({ signal: new AbortController().signal });
  live.push(session);
  return { session, processes };
}

async function file(size: number): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'pijig-test-')), 'f.bin');
  await writeFile(path, new Uint8Array(size));
  return path;
}

const op = () => ({ signal: new AbortController().signal });

async function rejection(p: Promise<unknown>): Promise<ProbeError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(ProbeError);
  return e as ProbeError;
}

describe('openocd driver (TCL RPC over the process pipe)', () => {
  it('runs commands in one process and reports what openocd printed', async () => {
    const { session, processes } = await open('ok');
    const events: ProbeEvent[] = [];
    session.onEvent((e) => events.push(e));
    const f = await file(1024);
    // Issued together, they still run one at a time in call order.
    const [erased, wrote, bytes] = await Promise.all([session.erase(0x08000000, 1024, op()), session.writeFile(f, 0x08000000, op()), session.read(0x08000000, 4, op())]);
    expect(erased.seconds).toBe(0.02);
    expect(wrote).toEqual({ bytes: 1024, seconds: 0.25 });
    expect([...bytes]).toEqual([1, 2, 3, 4]);
    expect(events.map((e) => e.type)).toEqual(['started', 'erased', 'started', 'programmed', 'started']);
    expect(processes).toHaveLength(1);
  });

  it('returns a verify mismatch as data, lowest address first', async () => {
    const { session } = await open('ok');
    const v = await session.verifyFile(await file(64), 0x08000000, op());
    expect(v).toMatchObject({ ok: false, differences: 2, firstDifference: { address: 0x08000008, actual: 0x00, expected: 0x01 } });
  });

  it('kills a hung openocd (which ignores SIGTERM) with SIGKILL at the deadline (fake time: the deadline decides)', async () => {
    const { session, processes } = await open('hang-on-write', { commandMs: 200, perKiBMs: 0 });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const writing = new Promise<void>((resolve) => session.onEvent((e) => e.type === 'started' && e.operation === 'program' && resolve()));
    const pending = rejection(session.writeFile(await file(1024), 0x08000000, op()));
    await writing;
    let settled = false;
    void pending.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(199);
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false); // still hung: nothing but the deadline ends it
    await vi.advanceTimersByTimeAsync(1);
    const e = await pending;
    vi.useRealTimers();
    expect(e.code).toBe('PROBE_TIMEOUT');
    expect(e.message).toContain('200 ms');
    expect(await processes[0]!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // The session is dead: later calls fail at once with the same reason.
    expect((await rejection(session.read(0x08000000, 4, op()))).code).toBe('PROBE_TIMEOUT');
  });

  it('ends openocd at once on the abort signal, by SIGKILL (fake time stands still: no deadline can have done it)', async () => {
    const { session, processes } = await open('hang-on-write');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const controller = new AbortController();
    const writing = new Promise<void>((resolve) => session.onEvent((e) => e.type === 'started' && e.operation === 'program' && resolve()));
    const running = session.writeFile(await file(1024), 0x08000000, { signal: controller.signal });
    await writing;
    controller.abort(new Error('ABORT'));
    expect((await rejection(running)).code).toBe('ABORTED');
    expect(await processes[0]!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    vi.useRealTimers();
  });

  it('ends openocd on an abort that comes between commands', async () => {
    const { session, processes } = await open('ok');
    const controller = new AbortController();
    controller.abort(new Error('ABORT'));
    expect((await rejection(session.read(0x08000000, 4, { signal: controller.signal }))).code).toBe('ABORTED');
    expect((await processes[0]!.exited).signal).toBe('SIGKILL');
  });

  it('maps openocd aborting on a dropped adapter connection to CONNECTION_LOST', async () => {
    const { session, processes } = await open('abort-on-write');
    const e = await rejection(session.writeFile(await file(1024), 0x08000000, op()));
    expect(e.code).toBe('CONNECTION_LOST');
    expect((await processes[0]!.exited).signal).toBe('SIGABRT');
  });

  it('classifies an init failure from the log', async () => {
    const { probe: p } = probe('no-probe');
    const e = await rejection(p.open(op()));
    expect(e.code).toBe('PROBE_NOT_FOUND');
    expect(e.message).toContain('No J-Link device found');
  });

  it('asks the option bytes when a flash read fails, and says FLASH_PROTECTED', async () => {
    const { session } = await open('locked');
    const e = await rejection(session.read(0x08000000, 4, op()));
    expect(e.code).toBe('FLASH_PROTECTED');
    expect(e.message).toContain('Failed to read memory');
    expect(await session.readProtection(op())).toBe(true);
  });

  it('shuts openocd down on close, once', async () => {
    const { session, processes } = await open('ok');
    await Promise.all([session.close(), session.close()]);
    expect(await processes[0]!.exited).toEqual({ code: 0, signal: null });
    expect((await rejection(session.read(0x08000000, 4, op()))).code).toBe('CONNECTION_LOST');
  });

  it('refuses file names that could escape their Tcl braces', async () => {
    const { session } = await open('ok');
    const dir = await mkdtemp(join(tmpdir(), 'pijig-test-'));
    const bad = join(dir, 'a}b.bin');
    await writeFile(bad, new Uint8Array(4));
    await expect(session.writeFile(bad, 0x08000000, op())).rejects.toThrow(/not allowed/);
  });
});
