import { createServer, type Server, type Socket } from 'node:net';
import { lstat, unlink } from 'node:fs/promises';
import { SimDutError } from './errors.js';
import type { SimStm32 } from './stm32f1.js';

/**
 * The far end of openocd's `remote_bitbang` adapter (openocd 0.12: JTAG only), wired to a
 * simulated chip. Protocol, one character each: '0'..'7' set TCK/TMS/TDI (bits 2/1/0), 'R' reads
 * TDO and is answered with exactly one '0' or '1', 'r'..'u' set TRST/SRST (bits 1/0),
 * 'B'/'b' the LED, 'Q' quit. The chain is clocked on each TCK rising edge. openocd waits for the
 * replies at the end of every scan, so each scan is one round trip: replies are sent once per
 * received chunk and Nagle is off.
 */

export interface RemoteBitbangStats {
  /** Protocol characters received. */
  bytesIn: number;
  /** 'R' requests answered. */
  reads: number;
  /** Connections accepted. */
  connections: number;
}

export type ListenOptions = { host?: string; port?: number } | { path: string };

const CH_0 = 0x30;
const CH_7 = 0x37;
const CH_R = 0x52;
const CH_Q = 0x51;
const CH_r = 0x72;
const CH_u = 0x75;

export class RemoteBitbangServer {
  /** The chip in the fixture. Swap in a fresh one when a new unit is put in. */
  chip: SimStm32;
  readonly stats: RemoteBitbangStats = { bytesIn: 0, reads: 0, connections: 0 };
  private server: Server | undefined;
  /** Live connections, each with the function that ends it. */
  private readonly connections = new Map<Socket, () => void>();

  constructor(chip: SimStm32) {
    this.chip = chip;
  }

  /** Start listening (TCP on 127.0.0.1 by default, port 0 = any free port, or a unix socket). */
  async listen(opts: ListenOptions = {}): Promise<{ port?: number; path?: string }> {
    if (this.server) throw new SimDutError('LISTEN_FAILED', 'remote_bitbang server is already listening');
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    const path = 'path' in opts ? opts.path : undefined;
    if (path !== undefined) await removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause) =>
        reject(new SimDutError('LISTEN_FAILED', `remote_bitbang server cannot listen on ${path ?? describe(opts)}: ${cause.message}`, { cause })),
      );
      if (path !== undefined) server.listen(path, resolve);
      else {
        const tcp = opts as { host?: string; port?: number };
        server.listen(tcp.port ?? 0, tcp.host ?? '127.0.0.1', resolve);
      }
    });
    this.server = server;
    const address = server.address();
    return typeof address === 'string' || address === null ? { path: path ?? String(address) } : { port: address.port };
  }

  /** Stop listening and destroy live connections. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.connections.keys()) socket.destroy();
    this.connections.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Close every live connection cleanly (FIN), as a pulled cable looks to openocd. */
  dropConnections(): void {
    for (const end of [...this.connections.values()]) end();
  }

  private accept(socket: Socket): void {
    this.stats.connections++;
    socket.setNoDelay(true);
    let tck = 0;
    let ended = false;
    let chip = this.chip;
    let halfwordsAtStart = chip.halfwordsProgrammed;
    const end = () => {
      ended = true;
      this.connections.delete(socket);
      socket.end();
    };
    this.connections.set(socket, end);
    socket.on('error', () => {}); // openocd killed mid-run: ECONNRESET is expected
    socket.on('close', () => this.connections.delete(socket));
    socket.on('data', (data: Buffer) => {
      if (ended) return;
      if (chip !== this.chip) {
        chip = this.chip;
        halfwordsAtStart = chip.halfwordsProgrammed;
      }
      const jtag = chip.jtag;
      const silent = chip.faults.silent;
      const len = data.length;
      let out: Buffer | undefined;
      let n = 0;
      let reads = 0;
      for (let i = 0; i < len; i++) {
        const c = data[i]!;
        if (c >= CH_0 && c <= CH_7) {
          if (c & 4) {
            if (tck === 0) jtag.clock((c >> 1) & 1, c & 1);
            tck = 1;
          } else tck = 0;
        } else if (c === CH_R) {
          if (silent) continue; // the target stopped answering: openocd blocks on its read
          if (out === undefined) out = Buffer.allocUnsafe(len - i);
          out[n++] = CH_0 + jtag.tdo();
          reads++;
        } else if (c >= CH_r && c <= CH_u) {
          const v = c - CH_r;
          if (v & 2) jtag.reset();
          chip.setSrst((v & 1) === 1);
        } else if (c === CH_Q) {
          end();
          break;
        }
        // 'B'/'b' (LED) and anything else: ignored
      }
      this.stats.bytesIn += len;
      this.stats.reads += reads;
      const limit = chip.faults.dropAfterHalfwords;
      if (limit !== undefined && chip.halfwordsProgrammed - halfwordsAtStart >= limit) {
        // Close without answering: openocd 0.12 reads EOF where it expects TDO and aborts.
        end();
        return;
      }
      if (n > 0 && !ended) socket.write(out!.subarray(0, n));
    });
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch {
    // nothing there: listen() reports anything else
  }
}

function describe(opts: ListenOptions): string {
  const tcp = opts as { host?: string; port?: number };
  return `${tcp.host ?? '127.0.0.1'}:${tcp.port ?? 0}`;
}
