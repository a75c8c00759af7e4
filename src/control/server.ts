import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { PijigError, errorCode, errorMessage } from '../core/errors.js';
import { LineSplitter, PROTOCOL_VERSION, readSocketOf, type Access, type Hello, type ProtocolErrorCode, type ServerMessage } from './protocol.js';

export class ControlError extends PijigError<ProtocolErrorCode | 'SOCKET_IN_USE' | 'NOT_A_SOCKET' | 'LISTEN_FAILED'> {}

/** What a command handler gets besides its arguments. */
export interface CommandContext {
  access: Access;
  /** Fires when the client hangs up (or is dropped): a streaming command ends then. */
  signal: AbortSignal;
  /** Send a streamed event for this request. False once the client is gone. */
  event(name: string, data: unknown): boolean;
}

export interface CommandHandler<A = unknown> {
  /** `act` commands are refused on the read-only socket. */
  access: Access;
  /** The arguments' schema: a request whose args do not fit is refused (BAD_REQUEST) before it runs. */
  args: z.ZodType<A>;
  /** The result; a streaming command sends events and resolves when it is done or ctx.signal fires. */
  run(args: A, ctx: CommandContext): Promise<unknown>;
}

export type CommandTable = Record<string, CommandHandler<never>>;

/** Everything a misbehaving client may not exceed. */
export interface ControlLimits {
  /** Connections at once, on each socket. */
  maxClients: number;
  /** Longest request line in bytes. */
  maxLineBytes: number;
  /** Requests waiting behind the running one, per connection. */
  maxQueued: number;
  /** A connection with no request running or queued is closed after this long. */
  idleMs: number;
  /** Bytes waiting to be sent to one client; past this it is dropped (a watch client that stopped reading). */
  maxBufferedBytes: number;
  /** A client whose send buffer has not drained within this long is dropped. */
  writeTimeoutMs: number;
}

export const DEFAULT_LIMITS: ControlLimits = { maxClients: 16, maxLineBytes: 64 * 1024, maxQueued: 8, idleMs: 60_000, maxBufferedBytes: 1 << 20, writeTimeoutMs: 10_000 };

export interface ControlServerOptions {
  /** The act socket (default /run/pijig/control.sock): read and act, mode 0660. */
  socket: string;
  /** The read-only socket (default: status.sock beside the act socket), mode 0666. Null: none. */
  readSocket?: string | null;
  /** Group of the act socket (a gid): who may act. Default: the service's own group. */
  actGid?: number;
  actMode?: number;
  readMode?: number;
  hello: Omit<Hello, 'access' | 'commands' | 'protocol' | 'server'>;
  commands: CommandTable;
  limits?: Partial<ControlLimits>;
  log: (message: string) => void;
}

interface Client {
  socket: Socket;
  access: Access;
  queue: { id: number | string; cmd: string; args: unknown }[];
  busy: boolean;
  controller: AbortController;
  idle: ReturnType<typeof setTimeout> | undefined;
  stall: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

/**
 * The control socket: a client of the station like the OLED is. It never blocks a cycle (every
 * command is asynchronous and short, or streams), and a client cannot hurt the station: lines,
 * clients, queued requests, idle time and unsent bytes are all bounded, and a client that breaks a
 * bound is told why (`bye`) and disconnected. A slow reader is dropped, never buffered for.
 *
 * Permissions are two socket files, because Node cannot read a unix peer's credentials
 * (SO_PEERCRED): the act socket (control.sock, 0660, group `actGid`) and the read-only socket
 * (status.sock, 0666). The kernel checks write permission on the socket file at connect(2).
 */
export class ControlServer {
  private readonly servers: { server: Server; path: string; access: Access; ino: number }[] = [];
  private readonly clients = new Set<Client>();
  private readonly limits: ControlLimits;

  constructor(private readonly options: ControlServerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
  }

  get clientCount(): number {
    return this.clients.size;
  }

  get paths(): { act: string; read: string | undefined } {
    return { act: this.options.socket, read: this.readPath };
  }

  private get readPath(): string | undefined {
    const r = this.options.readSocket;
    return r === null ? undefined : (r ?? readSocketOf(this.options.socket));
  }

  async listen(): Promise<void> {
    await this.open(this.options.socket, 'act', this.options.actMode ?? 0o660, this.options.actGid);
    const read = this.readPath;
    if (read) await this.open(read, 'read', this.options.readMode ?? 0o666, undefined);
  }

  /** Stop listening, say goodbye to every client, remove the socket files. */
  async close(): Promise<void> {
    for (const c of [...this.clients]) this.drop(c, 'SHUTDOWN', 'the station is stopping');
    await Promise.all(
      this.servers.splice(0).map(async ({ server, path, ino }) => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        // only our own socket file: another pijig may have taken the path since
        if ((await lstat(path).catch(() => undefined))?.ino === ino) await unlink(path).catch(() => {});
      }),
    );
  }

  private async open(path: string, access: Access, mode: number, gid: number | undefined): Promise<void> {
    // sockaddr_un.sun_path holds 108 bytes with its terminating NUL (unix(7)).
    if (Buffer.byteLength(path) > 107) throw new ControlError('LISTEN_FAILED', `control socket ${path}: the path is ${Buffer.byteLength(path)} bytes, a unix socket's at most 107; choose a shorter --socket`);
    await mkdir(dirname(path), { recursive: true });
    await clearStale(path);
    const server = createServer((socket) => this.accept(socket, access));
    server.maxConnections = this.limits.maxClients * 2; // the kernel-side backstop; accept() enforces the real limit
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new ControlError('LISTEN_FAILED', `control socket ${path}: ${errorMessage(err)}`, { cause: err })));
      server.listen(path, () => resolve());
    });
    server.on('error', (err) => this.options.log(`control socket ${path}: ${errorMessage(err)}`));
    this.servers.push({ server, path, access, ino: (await lstat(path)).ino });
    // Created with the umask's mode (connect needs write permission: 0755 lets nobody else in); now the intended one.
    if (gid !== undefined) await chown(path, -1, gid);
    await chmod(path, mode);
  }

  private accept(socket: Socket, access: Access): void {
    const client: Client = { socket, access, queue: [], busy: false, controller: new AbortController(), idle: undefined, stall: undefined, closed: false };
    socket.on('error', () => this.drop(client));
    socket.on('close', () => this.drop(client));
    // Counted per socket: readers filling status.sock do not lock the engineers out of control.sock.
    if ([...this.clients].filter((c) => c.access === access).length >= this.limits.maxClients) {
      client.closed = true;
      socket.end(`${JSON.stringify({ v: PROTOCOL_VERSION, bye: { code: 'TOO_MANY_CLIENTS', message: `at most ${this.limits.maxClients} clients at once` } })}\n`);
      socket.destroySoon();
      return;
    }
    this.clients.add(client);
    const { hello, commands } = this.options;
    const names = Object.entries(commands).filter(([, h]) => access === 'act' || h.access === 'read').map(([n]) => n);
    this.send(client, { v: PROTOCOL_VERSION, hello: { server: 'pijig', protocol: PROTOCOL_VERSION, access, ...hello, commands: names } });
    const lines = new LineSplitter(this.limits.maxLineBytes);
    socket.on('data', (chunk: Buffer) => {
      if (client.closed) return;
      const got = lines.push(chunk);
      if (!got) return this.drop(client, 'LINE_TOO_LONG', `a request line is longer than ${this.limits.maxLineBytes} bytes`);
      for (const line of got) if (line.trim()) this.request(client, line);
    });
    this.armIdle(client);
  }

  private request(client: Client, line: string): void {
    if (client.closed) return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.reply(client, null, { code: 'BAD_JSON', message: 'a request is one JSON object per line' });
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return this.reply(client, null, { code: 'BAD_JSON', message: 'a request is a JSON object' });
    const m = msg as Record<string, unknown>;
    const id = typeof m['id'] === 'number' || typeof m['id'] === 'string' ? m['id'] : null;
    if (m['v'] !== PROTOCOL_VERSION) return this.reply(client, id, { code: 'BAD_VERSION', message: `this server speaks protocol version ${PROTOCOL_VERSION}; the request says ${JSON.stringify(m['v'])}` });
    if (id === null || typeof m['cmd'] !== 'string') return this.reply(client, id, { code: 'BAD_REQUEST', message: 'a request needs "id" (number or string) and "cmd"' });
    if (client.queue.length >= this.limits.maxQueued) return this.drop(client, 'TOO_MANY_REQUESTS', `more than ${this.limits.maxQueued} requests waiting on one connection`);
    client.queue.push({ id, cmd: m['cmd'], args: m['args'] ?? {} });
    void this.pump(client);
  }

  private async pump(client: Client): Promise<void> {
    if (client.busy) return;
    client.busy = true;
    clearTimeout(client.idle);
    try {
      for (let next = client.queue.shift(); next && !client.closed; next = client.queue.shift()) await this.run(client, next);
    } finally {
      client.busy = false;
      if (!client.closed) this.armIdle(client);
    }
  }

  private async run(client: Client, req: { id: number | string; cmd: string; args: unknown }): Promise<void> {
    const handler = Object.hasOwn(this.options.commands, req.cmd) ? (this.options.commands[req.cmd] as CommandHandler<unknown>) : undefined;
    if (!handler) return this.reply(client, req.id, { code: 'UNKNOWN_COMMAND', message: `no command "${req.cmd}" (commands: ${Object.keys(this.options.commands).join(', ')})` });
    if (handler.access === 'act' && client.access !== 'act') {
      return this.reply(client, req.id, { code: 'FORBIDDEN', message: `"${req.cmd}" acts on the station: use the control socket ${this.options.socket} (its group may act), not the read-only one` });
    }
    const args = handler.args.safeParse(req.args);
    if (!args.success) return this.reply(client, req.id, { code: 'BAD_REQUEST', message: args.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ') });
    const ctx: CommandContext = {
      access: client.access,
      signal: client.controller.signal,
      event: (name, data) => !client.closed && this.send(client, { v: PROTOCOL_VERSION, id: req.id, event: name, data }),
    };
    try {
      const result = await handler.run(args.data, ctx);
      this.send(client, { v: PROTOCOL_VERSION, id: req.id, ok: true, result: result ?? null });
    } catch (err) {
      this.reply(client, req.id, { code: errorCode(err) ?? 'FAILED', message: errorMessage(err) });
    }
  }

  private reply(client: Client, id: number | string | null, error: { code: string; message: string }): void {
    this.send(client, { v: PROTOCOL_VERSION, id: id ?? 0, ok: false, error });
  }

  /** Queue one message; a client that lets its buffer fill, or does not drain it in time, is dropped. */
  private send(client: Client, msg: ServerMessage): boolean {
    if (client.closed) return false;
    const s = client.socket;
    if (s.writableLength > this.limits.maxBufferedBytes) {
      this.drop(client, 'SLOW_READER', `more than ${this.limits.maxBufferedBytes} bytes unread`);
      return false;
    }
    const flushed = s.write(`${JSON.stringify(msg)}\n`);
    if (!flushed && !client.stall) {
      client.stall = setTimeout(() => this.drop(client, 'SLOW_READER', `nothing read for ${this.limits.writeTimeoutMs} ms`), this.limits.writeTimeoutMs);
      s.once('drain', () => {
        clearTimeout(client.stall);
        client.stall = undefined;
      });
    }
    return true;
  }

  private armIdle(client: Client): void {
    clearTimeout(client.idle);
    client.idle = setTimeout(() => this.drop(client, 'IDLE', `no request for ${this.limits.idleMs} ms`), this.limits.idleMs);
  }

  /** Disconnect a client (telling it why, when there is a why) and end its commands. */
  private drop(client: Client, code?: ProtocolErrorCode, message?: string): void {
    if (client.closed) {
      this.clients.delete(client);
      return;
    }
    client.closed = true;
    this.clients.delete(client);
    clearTimeout(client.idle);
    clearTimeout(client.stall);
    client.queue.length = 0;
    client.controller.abort(code ?? 'client closed');
    const s = client.socket;
    if (code && code !== 'SLOW_READER' && !s.destroyed) {
      s.end(`${JSON.stringify({ v: PROTOCOL_VERSION, bye: { code, message: message ?? code } })}\n`);
      // A client that does not read even the goodbye is cut off.
      setTimeout(() => s.destroy(), 1000).unref();
    } else {
      s.destroy();
    }
  }
}

/** A socket file left by a pijig that died is removed; a live one, or anything that is not a socket, is never touched. */
async function clearStale(path: string): Promise<void> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) return;
  if (!info.isSocket()) throw new ControlError('NOT_A_SOCKET', `control socket ${path}: the path exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new ControlError('SOCKET_IN_USE', `control socket ${path}: another pijig is listening there`);
  await unlink(path);
}
