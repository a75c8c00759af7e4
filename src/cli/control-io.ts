import type { CliIo } from './io.js';
import { connectFor, type ControlClient } from '../control/client.js';

/** What the engineer's commands need beyond CliIo: the socket, and the terminal for `watch`. */
export interface ControlCliIo extends CliIo {
  /** Default --socket (PIJIG_SOCKET, else /run/pijig/control.sock). */
  socket: string;
  stdout: NodeJS.WriteStream;
  /** Exit status for the entry point. */
  setExitCode(code: number): void;
  /** Ctrl-C / SIGTERM: returns the unsubscribe. */
  onInterrupt(listener: () => void): () => void;
}

/** Connect, run `fn`, always close. */
export async function withClient<T>(socket: string, access: 'read' | 'act', fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const client = await connectFor(socket, access);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

export const json = (v: unknown): string => JSON.stringify(v, null, 2);
