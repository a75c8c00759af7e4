import { SerialPort } from 'serialport';
import { ReadlineParser } from '@serialport/parser-readline';
import { ConsoleError, type ConsoleLine, type DutConsole, type LineMatcher } from './dut-console.js';

export interface SerialConsoleOptions {
  path: string;
  baudRate?: number;
  /** Appended to every sent line. */
  lineEnding?: string;
  /** Transcript lines kept (oldest dropped first). */
  maxTranscript?: number;
}

/** The pending expect: told of each received line and of a port failure. */
interface Waiter {
  wake(): void;
  fail(error: ConsoleError): void;
}

/** A RegExp matched on the event loop: for pijig's own expressions only (dut-console.ts). */
function regexMatcher(pattern: RegExp): LineMatcher {
  const single = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  return {
    text: String(pattern),
    first: async (lines) => {
      for (let index = 0; index < lines.length; index++) {
        const match = lines[index]!.match(single);
        if (match) return { index, match };
      }
      return undefined;
    },
  };
}

/** The DUT console on a serial port (serialport 13 with a readline parser). */
export class SerialConsole implements DutConsole {
  readonly path: string;
  private port: SerialPort | undefined;
  private openedAt = 0;
  private readonly unread: string[] = [];
  private readonly lines: ConsoleLine[] = [];
  private waiter: Waiter | undefined;

  constructor(private readonly options: SerialConsoleOptions) {
    this.path = options.path;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    const port = new SerialPort({ path: this.path, baudRate: this.options.baudRate ?? 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) =>
      port.open((error) => (error ? reject(new ConsoleError('OPEN_FAILED', this.path, `cannot open: ${error.message}`, { cause: error })) : resolve())),
    );
    this.port = port;
    this.openedAt = Date.now();
    this.lines.length = 0;
    this.unread.length = 0;
    const parser = port.pipe(new ReadlineParser({ delimiter: '\n', encoding: 'utf8' }));
    parser.on('data', (line: string) => this.received(line.replace(/\r+$/, '').replace(/^\r+/, '')));
    port.on('error', (error: Error) => this.fail(new ConsoleError('PORT_ERROR', this.path, `port error: ${error.message}`, { cause: error })));
    port.on('close', (error: (Error & { disconnected?: boolean }) | null) => {
      if (error) this.fail(new ConsoleError('CLOSED', this.path, `port closed: ${error.message}`, { cause: error }));
    });
  }

  async send(line: string): Promise<void> {
    const port = this.requireOpen();
    this.record('tx', line);
    await new Promise<void>((resolve, reject) => {
      port.write(line + (this.options.lineEnding ?? '\r\n'), (error) => {
        if (error) return reject(new ConsoleError('WRITE_FAILED', this.path, `write of "${line}" failed: ${error.message}`, { cause: error }));
        port.drain((drainError) =>
          drainError ? reject(new ConsoleError('WRITE_FAILED', this.path, `drain after "${line}" failed: ${drainError.message}`, { cause: drainError })) : resolve(),
        );
      });
    });
  }

  async expect(pattern: RegExp | LineMatcher, timeoutMs: number, signal: AbortSignal): Promise<RegExpMatchArray> {
    this.requireOpen();
    const matcher = pattern instanceof RegExp ? regexMatcher(pattern) : pattern;
    if (this.waiter) throw new ConsoleError('BUSY', this.path, `expect(${matcher.text}) while another expect is pending`);
    if (signal.aborted) throw new ConsoleError('ABORTED', this.path, `aborted before waiting for ${matcher.text}`, { cause: signal.reason });
    let wake: (() => void) | undefined;
    let failure: ConsoleError | undefined;
    // Lines still owed a match when the time ran out: they arrived in time, so they are tried.
    let owed: number | undefined;
    const waiter: Waiter = {
      wake: () => wake?.(),
      fail: (error) => {
        failure ??= error;
        wake?.();
      },
    };
    this.waiter = waiter;
    const timer = setTimeout(() => {
      owed = this.unread.length;
      wake?.();
    }, timeoutMs);
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal.aborted) throw new ConsoleError('ABORTED', this.path, `aborted while waiting for ${matcher.text}`, { cause: signal.reason });
        if (failure) throw failure;
        const take = owed === undefined ? this.unread.length : Math.min(owed, this.unread.length);
        if (take > 0) {
          const lines = this.unread.splice(0, take);
          if (owed !== undefined) owed -= take;
          // May take a while (a plan's regex on a worker): lines arriving meanwhile queue in `unread`.
          const found = await matcher.first(lines, signal);
          if (found) {
            this.unread.unshift(...lines.slice(found.index + 1));
            return found.match;
          }
          continue;
        }
        if (owed !== undefined) {
          throw new ConsoleError('TIMEOUT', this.path, `no line matching ${matcher.text} within ${timeoutMs} ms${this.lastRx()}`, {
            details: { pattern: matcher.text, timeoutMs, unread: [...this.unread] },
          });
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (this.waiter === waiter) this.waiter = undefined;
    }
  }

  flush(): void {
    this.unread.length = 0;
  }

  transcript(): ConsoleLine[] {
    return this.lines.map((line) => ({ ...line }));
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    this.waiter?.fail(new ConsoleError('CLOSED', this.path, 'console closed while waiting'));
    if (!port?.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private received(text: string): void {
    this.record('rx', text);
    this.unread.push(text);
    this.waiter?.wake();
  }

  private fail(error: ConsoleError): void {
    this.waiter?.fail(error);
  }

  private record(dir: 'rx' | 'tx', text: string): void {
    this.lines.push({ t: Date.now() - this.openedAt, dir, text });
    if (this.lines.length > (this.options.maxTranscript ?? 10_000)) this.lines.shift();
  }

  private requireOpen(): SerialPort {
    if (!this.port?.isOpen) throw new ConsoleError('NOT_OPEN', this.path, 'console is not open');
    return this.port;
  }

  private lastRx(): string {
    const rx = this.lines.filter((line) => line.dir === 'rx').slice(-3);
    return rx.length ? ` (last received: ${rx.map((line) => JSON.stringify(line.text)).join(', ')})` : ' (nothing received)';
  }
}
