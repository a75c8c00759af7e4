import { spawn, type ChildProcess } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { boundToThisProcess } from '../../util/child.js';
import { makeTempDir } from '../../util/temp.js';
import { PijigError } from '../../core/errors.js';

export type PtyErrorCode = 'SOCAT_MISSING' | 'START_FAILED' | 'START_TIMEOUT';

export class PtyError extends PijigError<PtyErrorCode> {}

export interface PtyPairOptions {
  /** Directory for the two links; a fresh temp directory (removed on close) when omitted. */
  dir?: string;
  socatPath?: string;
  /** Deadline for socat to create both ptys. */
  startTimeoutMs?: number;
  /** After SIGTERM, how long socat gets before SIGKILL. */
  killAfterMs?: number;
}

export interface PtyPair {
  /** The DUT end (the simulated firmware opens it). */
  readonly dutPath: string;
  /** The station end (the station's serial console opens it). */
  readonly stationPath: string;
  readonly pid: number | undefined;
  close(): Promise<void>;
}

/**
 * A connected pair of pseudo-terminals made by socat: bytes written to one end come out of the
 * other, like a null-modem cable. Resolves once socat reports its transfer loop and both links
 * exist. `close` ends socat (SIGTERM, then SIGKILL after a deadline) and removes the links.
 */
export async function createPtyPair(options: PtyPairOptions = {}): Promise<PtyPair> {
  const socat = options.socatPath ?? 'socat';
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await makeTempDir('pty'));
  const dutPath = join(dir, 'dut');
  const stationPath = join(dir, 'station');
  // Bound to pijig's life (setpriv --pdeathsig KILL): a SIGKILLed `pijig sim` leaves no socat behind.
  const command = boundToThisProcess(socat, ['-d', '-d', `pty,raw,echo=0,link=${dutPath}`, `pty,raw,echo=0,link=${stationPath}`]);
  const child = spawn(command.file, command.args, {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const cleanup = async (): Promise<void> => {
    await stop(child, exited, options.killAfterMs ?? 2000);
    if (ownDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitForTransferLoop(child, socat, options.startTimeoutMs ?? 5000);
    await Promise.all([stat(dutPath), stat(stationPath)]);
  } catch (error) {
    await cleanup();
    if (error instanceof PtyError) throw error;
    throw new PtyError('START_FAILED', `socat did not create ${dutPath} and ${stationPath}: ${(error as Error).message}`, { cause: error });
  }

  let closing: Promise<void> | undefined;
  return {
    dutPath,
    stationPath,
    pid: child.pid,
    close: () => (closing ??= cleanup()),
  };
}

function waitForTransferLoop(child: ChildProcess, socat: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const finish = (error?: PtyError): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('error', onError);
      child.off('exit', onExit);
      // Keep draining stderr so socat never blocks on a full pipe.
      child.stderr?.resume();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString();
      if (stderr.includes('starting data transfer loop')) finish();
    };
    const onError = (error: NodeJS.ErrnoException): void => {
      finish(
        error.code === 'ENOENT'
          ? new PtyError('SOCAT_MISSING', `"${socat}" not found: install socat (apt-get install socat) to run the simulated console`, { cause: error })
          : new PtyError('START_FAILED', `cannot start ${socat}: ${error.message}`, { cause: error }),
      );
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      finish(new PtyError('START_FAILED', `${socat} exited (${signal ?? code}) before the ptys were ready: ${stderr.trim().split('\n').slice(-2).join(' | ')}`));
    };
    const timer = setTimeout(
      () => finish(new PtyError('START_TIMEOUT', `${socat} did not create the ptys within ${timeoutMs} ms: ${stderr.trim()}`)),
      timeoutMs,
    );
    child.stderr?.on('data', onData);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

async function stop(child: ChildProcess, exited: Promise<void>, killAfterMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  child.kill('SIGTERM');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), killAfterMs)));
  if ((await Promise.race([exited, deadline])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}
