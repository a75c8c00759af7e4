import { SerialPort } from 'serialport';
import { ReadlineParser } from '@serialport/parser-readline';
import { ConsoleError, type ConsoleLine, type DutConsole } from './dut-console.js';

export interface SerialConsoleOptions {
  path: string;
  baudRate?: number;
  /** Appended to every sent line. */
  lineEnding?: string;
  /** Transcript lines kept (oldest dropped first). */
  maxTranscript?: number;
}

interface Waiter {
  pattern: RegExp;
  resolve(match: RegExpMatchArray): void;
  reject(error: ConsoleError): void;
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

  expect(pattern: RegExp, timeoutMs: number, signal: AbortSignal): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      this.requireOpen();
      if (this.waiter) throw new ConsoleError('BUSY', this.path, `expect(${pattern}) while another expect is pending`);
      const single = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
      if (signal.aborted) throw new ConsoleError('ABORTED', this.path, `aborted before waiting for ${pattern}`, { cause: signal.reason });
      const index = this.unread.findIndex((line) => single.test(line));
      if (index >= 0) {
        const [line] = this.unread.splice(0, index + 1).slice(-1);
        return resolve(line!.match(single)!);
      }
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiter = undefined;
      };
      const onAbort = (): void => {
        done();
        reject(new ConsoleError('ABORTED', this.path, `aborted while waiting for ${pattern}`, { cause: signal.reason }));
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new ConsoleError('TIMEOUT', this.path, `no line matching ${pattern} within ${timeoutMs} ms${this.lastRx()}`, {
            details: { pattern: String(pattern), timeoutMs, unread: [...this.unread] },
          }),
        );
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiter = {
        pattern: single,
        resolve: (match) => {
          done();
          resolve(match);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
    });
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
    this.waiter?.reject(new ConsoleError('CLOSED', this.path, 'console closed while waiting'));
    if (!port?.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private received(text: string): void {
    this.record('rx', text);
    this.unread.push(text);
    const waiter = this.waiter;
    if (!waiter) return;
    const match = text.match(waiter.pattern);
    if (!match) return;
    this.unread.length = 0;
    waiter.resolve(match);
  }

  private fail(error: ConsoleError): void {
    this.waiter?.reject(error);
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
