/**
 * The control socket's protocol (docs/control.md): line-delimited JSON over a unix socket, every
 * message one line of UTF-8 JSON ended by "\n", every message carrying `v` (the protocol version).
 *
 *   server, on connect   {"v":1,"hello":{"server":"pijig","protocol":1,"access":"act",...}}
 *   client               {"v":1,"id":7,"cmd":"history","args":{"last":5}}
 *   server, streaming    {"v":1,"id":7,"event":"step","data":{...}}        (watch, run-step)
 *   server, the answer   {"v":1,"id":7,"ok":true,"result":{...}}
 *                        {"v":1,"id":7,"ok":false,"error":{"code":"LID_OPEN","message":"..."}}
 *   server, hanging up   {"v":1,"bye":{"code":"IDLE","message":"..."}}
 */
import { dirname, join } from 'node:path';
export const PROTOCOL_VERSION = 1;

/** read: status, watch, history, unit. act: also run-step, selftest and the virtual jig's own commands. */
export type Access = 'read' | 'act';

export interface Hello {
  server: 'pijig';
  protocol: number;
  /** What this socket permits. */
  access: Access;
  station: string;
  version: string;
  commands: string[];
}

export interface Request {
  v: number;
  id: number | string;
  cmd: string;
  args?: Record<string, unknown>;
}

export interface ProtocolError {
  code: string;
  message: string;
}

export type ServerMessage =
  | { v: number; hello: Hello }
  | { v: number; id: number | string; ok: true; result: unknown }
  | { v: number; id: number | string; ok: false; error: ProtocolError }
  | { v: number; id: number | string; event: string; data: unknown }
  | { v: number; bye: ProtocolError };

/** Error codes of the protocol itself (commands add their own, e.g. the station's LID_OPEN). */
export type ProtocolErrorCode =
  | 'BAD_JSON' // a line that is not a JSON object
  | 'BAD_VERSION' // `v` is not a version this server speaks
  | 'BAD_REQUEST' // no id or cmd, or args that do not fit the command
  | 'UNKNOWN_COMMAND'
  | 'FORBIDDEN' // an act command on the read-only socket
  | 'LINE_TOO_LONG' // then the server hangs up
  | 'TOO_MANY_CLIENTS' // then the server hangs up
  | 'TOO_MANY_REQUESTS' // more requests queued than allowed: the server hangs up
  | 'IDLE' // nothing asked for too long: the server hangs up
  | 'SLOW_READER' // the client did not read what it was sent: the server hangs up
  | 'SHUTDOWN'
  | 'FAILED'; // a command failed without a code of its own

/**
 * Splits a byte stream into lines, refusing any line longer than `maxBytes` (without its "\n").
 * `push` returns the complete lines, or `undefined` once the limit is broken (the caller hangs
 * up: nothing after a broken limit is trusted).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private pending = 0;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): string[] | undefined {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.pending + piece.length > this.maxBytes) return undefined;
      lines.push(this.parts.length ? Buffer.concat([...this.parts, piece]).toString('utf8') : piece.toString('utf8'));
      this.parts = [];
      this.pending = 0;
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (this.pending + rest.length > this.maxBytes) return undefined;
    if (rest.length) {
      this.parts.push(Buffer.from(rest));
      this.pending += rest.length;
    }
    return lines;
  }
}

/** The read-only socket beside an act socket. */
export function readSocketOf(actSocket: string): string {
  return join(dirname(actSocket), 'status.sock');
}
