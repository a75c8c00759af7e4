import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createConnection, type Socket } from 'node:net';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { execa } from 'execa';
import { ControlServer, type CommandTable } from '../../src/control/server.js';
import { handler } from '../../src/control/service.js';
import { ControlClient } from '../../src/control/client.js';
import { LineSplitter } from '../../src/control/protocol.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A raw connection: every line the server sends, and whether it hung up. */
function raw(path: string) {
  const socket: Socket = createConnection(path);
  const lines: Record<string, unknown>[] = [];
  const splitter = new LineSplitter(1 << 24);
  let closed = false;
  const closedP = new Promise<void>((resolve) => socket.on('close', () => ((closed = true), resolve())));
  socket.on('error', () => {});
  socket.on('data', (c: Buffer) => lines.push(...(splitter.push(c) ?? []).map((l) => JSON.parse(l) as Record<string, unknown>)));
  const next = (pred: (m: Record<string, unknown>) => boolean) => vi.waitFor(() => lines.find(pred) ?? Promise.reject(new Error(`no such line yet in ${JSON.stringify(lines)}`)), { timeout: 10_000, interval: 5 });
  return { socket, lines, next, closed: () => closed, closedP, send: (m: unknown) => socket.write(`${typeof m === 'string' ? m : JSON.stringify(m)}\n`) };
}

describe('the control socket', () => {
  let dir: string;
  let server: ControlServer;
  const stream = { stop: false, sent: 0, aborted: false };
  const commands: CommandTable = {
    echo: handler({ access: 'read', args: z.strictObject({ text: z.string() }), run: async (a) => ({ text: a.text }) }),
    poke: handler({ access: 'act', args: z.strictObject({}), run: async () => 'poked' }),
    fail: handler({ access: 'read', args: z.strictObject({}), run: async () => Promise.reject(Object.assign(new Error('lid is open'), { code: 'LID_OPEN' })) }),
    // streams 64 KiB events for as long as the client is there
    firehose: handler({
      access: 'read',
      args: z.strictObject({}),
      run: async (_a, ctx) => {
        const blob = 'x'.repeat(64 * 1024);
        while (!ctx.signal.aborted) {
          if (ctx.event('blob', blob)) stream.sent++;
          await new Promise((r) => setImmediate(r));
        }
        stream.aborted = true;
        return null;
      },
    }),
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pijig-ctl-'));
    server = new ControlServer({ socket: join(dir, 'control.sock'), hello: { station: 'test-jig', version: '0.1.0' }, commands, limits: { maxClients: 3, maxLineBytes: 1024, maxQueued: 2, idleMs: 60_000, maxBufferedBytes: 256 * 1024, writeTimeoutMs: 60_000 }, log: () => {} });
    await server.listen();
  });

  afterEach(async () => {
    vi.useRealTimers();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('says hello with its version and access, answers requests by id, and reports errors as data', async () => {
    const c = raw(join(dir, 'control.sock'));
    const hello = await c.next((m) => 'hello' in m);
    expect(hello).toEqual({ v: 1, hello: { server: 'pijig', protocol: 1, access: 'act', station: 'test-jig', version: '0.1.0', commands: ['echo', 'poke', 'fail', 'firehose'] } });
    c.send({ v: 1, id: 'a', cmd: 'echo', args: { text: 'hi' } });
    expect(await c.next((m) => m['id'] === 'a')).toEqual({ v: 1, id: 'a', ok: true, result: { text: 'hi' } });
    c.send({ v: 1, id: 2, cmd: 'fail' });
    expect(await c.next((m) => m['id'] === 2)).toMatchObject({ ok: false, error: { code: 'LID_OPEN', message: 'lid is open' } });
    c.send('not json');
    expect(await c.next((m) => (m['error'] as { code?: string })?.code === 'BAD_JSON')).toMatchObject({ ok: false });
    c.send({ v: 2, id: 3, cmd: 'echo' });
    expect(await c.next((m) => m['id'] === 3)).toMatchObject({ ok: false, error: { code: 'BAD_VERSION' } });
    c.send({ v: 1, id: 4, cmd: 'nope' });
    expect(await c.next((m) => m['id'] === 4)).toMatchObject({ ok: false, error: { code: 'UNKNOWN_COMMAND' } });
    c.send({ v: 1, id: 5, cmd: 'echo', args: { text: 5 } });
    expect(await c.next((m) => m['id'] === 5)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/text/) } });
    c.send({ v: 1, id: 6, cmd: 'echo', args: { text: 'still here' } });
    expect(await c.next((m) => m['id'] === 6)).toMatchObject({ ok: true });
    c.socket.destroy();
  });

  it('permits acting on control.sock only: status.sock is read-only, by its mode and by the server', async () => {
    expect((await stat(join(dir, 'control.sock'))).mode & 0o777).toBe(0o660);
    expect((await stat(join(dir, 'status.sock'))).mode & 0o777).toBe(0o666);
    const r = await ControlClient.connect(join(dir, 'status.sock'));
    expect(r.access).toBe('read');
    expect(r.hello.commands).toEqual(['echo', 'fail', 'firehose']);
    await expect(r.request('poke')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(r.request('echo', { text: 'ok' })).resolves.toEqual({ text: 'ok' });
    r.close();
    const a = await ControlClient.connect(join(dir, 'control.sock'));
    await expect(a.request('poke')).resolves.toBe('poked');
    a.close();
  });

  // runuser (to act as another user) needs root; as a user the quick start's `npm test` skips it, CI runs it
  it.skipIf(process.getuid?.() !== 0)('a user outside the socket\'s group cannot connect to control.sock, and reads through status.sock (the kernel checks the file mode)', async () => {
    await chmod(dir, 0o755);
    const script = join(dir, 'client.mjs');
    await writeFile(
      script,
      `import { ControlClient } from ${JSON.stringify(join(ROOT, 'src/control/client.ts'))};
const out = {};
for (const s of ['control.sock', 'status.sock']) {
  try { const c = await ControlClient.connect(${JSON.stringify(dir)} + '/' + s); out[s] = { access: c.access, echo: await c.request('echo', { text: 'x' }).catch((e) => e.code), poke: await c.request('poke').catch((e) => e.code) }; c.close(); }
  catch (e) { out[s] = e.code; }
}
console.log(JSON.stringify(out));`,
    );
    await chmod(script, 0o644);
    const r = await execa('runuser', ['-u', 'nobody', '--', process.execPath, '--import', 'tsx', script], { cwd: ROOT, timeout: 60_000, killSignal: 'SIGKILL', reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ 'control.sock': 'EACCES', 'status.sock': { access: 'read', echo: { text: 'x' }, poke: 'FORBIDDEN' } });
  }, 60_000);

  it('hangs up on a line longer than the limit, and the next client is served', async () => {
    const c = raw(join(dir, 'control.sock'));
    await c.next((m) => 'hello' in m);
    c.socket.write('{"v":1,"id":1,"cmd":"echo","args":{"text":"' + 'A'.repeat(4096));
    expect(await c.next((m) => 'bye' in m)).toMatchObject({ bye: { code: 'LINE_TOO_LONG' } });
    await c.closedP;
    const ok = await ControlClient.connect(join(dir, 'control.sock'));
    await expect(ok.request('echo', { text: 'after' })).resolves.toEqual({ text: 'after' });
    ok.close();
  });

  it('hangs up on a client that floods requests faster than they are answered', async () => {
    const c = raw(join(dir, 'control.sock'));
    await c.next((m) => 'hello' in m);
    c.socket.write(Array.from({ length: 200 }, (_, i) => JSON.stringify({ v: 1, id: i, cmd: 'echo', args: { text: String(i) } })).join('\n') + '\n');
    expect(await c.next((m) => 'bye' in m)).toMatchObject({ bye: { code: 'TOO_MANY_REQUESTS' } });
    await c.closedP;
    expect(server.clientCount).toBe(0);
  });

  it('refuses clients past the limit on each socket and serves the others', async () => {
    const held = await Promise.all([1, 2, 3].map(() => ControlClient.connect(join(dir, 'control.sock'))));
    await expect(ControlClient.connect(join(dir, 'control.sock'))).rejects.toMatchObject({ code: 'TOO_MANY_CLIENTS' });
    await expect(held[0]!.request('echo', { text: 'x' })).resolves.toEqual({ text: 'x' });
    // the read-only socket has its own count, both ways
    const readers = await Promise.all([1, 2, 3].map(() => ControlClient.connect(join(dir, 'status.sock'))));
    await expect(ControlClient.connect(join(dir, 'status.sock'))).rejects.toMatchObject({ code: 'TOO_MANY_CLIENTS' });
    held.pop()!.close();
    await vi.waitFor(() => expect(server.clientCount).toBe(5), { timeout: 5000, interval: 5 });
    const acts = await ControlClient.connect(join(dir, 'control.sock'));
    await expect(acts.request('poke')).resolves.toBe('poked');
    [...held, ...readers, acts].forEach((h) => h.close());
  });

  it('drops a client that hangs: connected and silent past the idle time (fake time)', async () => {
    await server.close();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    server = new ControlServer({ socket: join(dir, 'control.sock'), hello: { station: 'test-jig', version: '0.1.0' }, commands, limits: { idleMs: 30_000 }, log: () => {} });
    await server.listen();
    const c = raw(join(dir, 'control.sock'));
    await c.next((m) => 'hello' in m);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(c.closed()).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await c.next((m) => 'bye' in m)).toMatchObject({ bye: { code: 'IDLE' } });
    await vi.advanceTimersByTimeAsync(2_000);
    await c.closedP;
    expect(server.clientCount).toBe(0);
  });

  it('drops a streaming client that stops reading instead of buffering for it', async () => {
    const c = raw(join(dir, 'control.sock'));
    await c.next((m) => 'hello' in m);
    c.socket.pause(); // reads nothing from now on
    c.socket.write(`${JSON.stringify({ v: 1, id: 1, cmd: 'firehose' })}\n`);
    await vi.waitFor(() => expect(stream.aborted).toBe(true), { timeout: 20_000, interval: 20 });
    expect(server.clientCount).toBe(0);
    // far less than it would have taken to buffer forever: the server stopped at its limit
    expect(stream.sent * 64 * 1024).toBeLessThan(64 << 20);
    const other = await ControlClient.connect(join(dir, 'control.sock'));
    await expect(other.request('echo', { text: 'fine' })).resolves.toEqual({ text: 'fine' });
    other.close();
    c.socket.destroy();
  });

  it('never replaces a file that is not a socket, nor a live socket; a stale one is cleared', async () => {
    await server.close();
    const path = join(dir, 'control.sock');
    await writeFile(path, 'precious');
    await expect(new ControlServer({ socket: path, readSocket: null, hello: { station: 's', version: '0' }, commands, log: () => {} }).listen()).rejects.toMatchObject({ code: 'NOT_A_SOCKET' });
    await rm(path);
    const first = new ControlServer({ socket: path, readSocket: null, hello: { station: 's', version: '0' }, commands, log: () => {} });
    await first.listen();
    await expect(new ControlServer({ socket: path, readSocket: null, hello: { station: 's', version: '0' }, commands, log: () => {} }).listen()).rejects.toMatchObject({ code: 'SOCKET_IN_USE' });
    await first.close();
  });
});

describe('LineSplitter', () => {
  it('joins lines across chunks and refuses one past the limit', () => {
    const s = new LineSplitter(10);
    expect(s.push(Buffer.from('{"a":'))).toEqual([]);
    expect(s.push(Buffer.from('1}\n{"b"'))).toEqual(['{"a":1}']);
    expect(s.push(Buffer.from(':2}\n'))).toEqual(['{"b":2}']);
    expect(s.push(Buffer.from('0123456789X'))).toBeUndefined();
  });
});

describe('a control socket that cannot listen', () => {
  it('does not stop the station: it runs without it and says why', async () => {
    const { prepareWorkspace } = await import('../../src/sim/workspace.js');
    const { VirtualJig } = await import('../../src/sim/jig.js');
    const { startApp } = await import('../../src/app.js');
    const root = await mkdtemp(join(tmpdir(), 'pijig-ctl-nolisten-'));
    const ws = await prepareWorkspace({ root, stationFile: join(ROOT, 'jig-config/station.yaml'), planFile: join(ROOT, 'jig-config/plan.yaml') });
    const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir });
    const blocker = join(root, 'control.sock');
    await writeFile(blocker, 'not a socket');
    const logs: string[] = [];
    const app = await startApp(ws.config, jig.hardware(), { log: (m) => logs.push(m), control: { socket: blocker } });
    try {
      expect(app.control).toBeUndefined();
      expect(logs).toContainEqual(expect.stringMatching(/^control socket: control socket .*control\.sock: the path exists and is not a socket; refusing to replace it \(the station runs without it/));
      expect(app.station.state).toBe('ready');
    } finally {
      await app.stop();
      await jig.close();
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});
