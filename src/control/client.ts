import { createConnection, type Socket } from 'node:net';
import { PijigError } from '../core/errors.js';
import { LineSplitter, PROTOCOL_VERSION, readSocketOf, type Hello, type ServerMessage } from './protocol.js';

export const DEFAULT_SOCKET = '/run/pijig/control.sock';

export class ControlClientError extends PijigError<string> {}

/** The largest line a client accepts from the server (a full unit record with its console transcripts fits many times). */
const MAX_REPLY_BYTES = 64 << 20;

/**
 * A connection to the station's control socket: `request()` sends one command and resolves with
 * its result (events of a streaming command go to `onEvent` first). Requests on one connection
 * run one after the other.
 */
export class ControlClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; onEvent?: (name: string, data: unknown) => void }>();
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly hello: Hello,
    readonly path: string,
  ) {}

  /** Connect and read the server's hello (within `timeoutMs`). */
  static connect(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      const lines = new LineSplitter(MAX_REPLY_BYTES);
      let client: ControlClient | undefined;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ControlClientError('TIMEOUT', `${path}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (!client) reject(connectError(path, err));
      });
      socket.on('data', (chunk: Buffer) => {
        const got = lines.push(chunk);
        if (!got) return socket.destroy(new Error('reply line too long'));
        for (const line of got) {
          let msg: ServerMessage;
          try {
            msg = JSON.parse(line) as ServerMessage;
          } catch {
            continue;
          }
          if (!client) {
            clearTimeout(timer);
            if ('hello' in msg) {
              client = new ControlClient(socket, msg.hello, path);
              socket.on('close', () => client!.fail(new ControlClientError('CLOSED', `${path}: the station closed the connection`)));
              socket.on('error', (e) => client!.fail(e));
              resolve(client);
            } else if ('bye' in msg) {
              reject(new ControlClientError(msg.bye.code, `${path}: ${msg.bye.message}`));
              socket.destroy();
            }
            continue;
          }
          client.message(msg);
        }
      });
    });
  }

  get access(): Hello['access'] {
    return this.hello.access;
  }

  request<T = unknown>(cmd: string, args: Record<string, unknown> = {}, onEvent?: (name: string, data: unknown) => void): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, ...(onEvent ? { onEvent } : {}) });
      this.socket.write(`${JSON.stringify({ v: PROTOCOL_VERSION, id, cmd, args })}\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private message(msg: ServerMessage): void {
    if ('bye' in msg) return this.fail(new ControlClientError(msg.bye.code, `${this.path}: ${msg.bye.message}`));
    if (!('id' in msg)) return;
    const w = this.waiting.get(Number(msg.id));
    if (!w) return;
    if ('event' in msg) return w.onEvent?.(msg.event, msg.data);
    this.waiting.delete(Number(msg.id));
    if (msg.ok) w.resolve(msg.result);
    else w.reject(new ControlClientError(msg.error.code, msg.error.message));
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const w of this.waiting.values()) w.reject(this.closedError);
    this.waiting.clear();
  }
}

function connectError(path: string, err: NodeJS.ErrnoException): ControlClientError {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new ControlClientError('NOT_RUNNING', `no pijig station is listening at ${path} (is the service running? \`systemctl status pijig\`; the virtual jig prints its socket; or pass --socket PATH)`, { cause: err });
  }
  if (err.code === 'EACCES') return new ControlClientError('EACCES', `${path}: permission denied (acting on the station needs the socket's group: \`sudo usermod -aG pijig-control $USER\`, then log in again; or root)`, { cause: err });
  return new ControlClientError(err.code ?? 'CONNECT_FAILED', `${path}: ${err.message}`, { cause: err });
}

/**
 * Connect for a command: the act socket first; a read command falls back to the read-only socket
 * beside it when the act socket is not ours to open (EACCES).
 */
export async function connectFor(socket: string, access: 'read' | 'act'): Promise<ControlClient> {
  try {
    return await ControlClient.connect(socket);
  } catch (err) {
    if (access === 'read' && (err as ControlClientError).code === 'EACCES') return ControlClient.connect(readSocketOf(socket));
    throw err;
  }
}
