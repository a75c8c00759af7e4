import { PijigError } from '../../core/errors.js';
/**
 * The DUT's serial console (serialport on a USB-UART in production, a socat pty to the simulated
 * firmware on the virtual jig).
 *
 * Contract: `open` and `close` are idempotent. Received bytes are split into lines (CR/LF
 * stripped) and queued; `expect` consumes queued lines up to and including the first one that
 * matches, waiting for new lines until `timeoutMs` (lines received before then are still tried).
 * Every line, sent or received, is kept in the transcript with its time. Failures reject with a
 * ConsoleError whose message names the port; a matcher's own failure (REGEX_TIMEOUT) passes through.
 */

/** The first matching line of a batch: its index in the batch and the match. */
export interface LineMatch {
  index: number;
  match: RegExpMatchArray;
}

/**
 * Decides which line matches, possibly slowly and off the event loop (a plan's regex runs on a
 * worker thread under a deadline: steps/plan-regex.ts). Rejects when it gives up.
 */
export interface LineMatcher {
  /** For messages: "/fw=(?<fw>\S+)/". */
  readonly text: string;
  first(lines: readonly string[], signal: AbortSignal): Promise<LineMatch | undefined>;
}
export interface ConsoleLine {
  /** ms since the console was opened */
  t: number;
  dir: 'rx' | 'tx';
  text: string;
}

export interface DutConsole {
  /** The port, for messages: "/dev/ttyUSB0". */
  readonly path: string;
  readonly isOpen: boolean;
  open(): Promise<void>;
  /** Send one line (the console appends the line ending). */
  send(line: string): Promise<void>;
  /**
   * Resolve with the first received line matching `pattern` (lines since the last call included).
   * A RegExp runs on the event loop: only for expressions pijig itself wrote; a plan's regex comes
   * as a LineMatcher.
   */
  expect(pattern: RegExp | LineMatcher, timeoutMs: number, signal: AbortSignal): Promise<RegExpMatchArray>;
  /** Drop the queued, unread lines (they stay in the transcript): call before a command whose answer must be fresh. */
  flush(): void;
  transcript(): ConsoleLine[];
  close(): Promise<void>;
}

export type ConsoleErrorCode = 'OPEN_FAILED' | 'NOT_OPEN' | 'WRITE_FAILED' | 'PORT_ERROR' | 'CLOSED' | 'BUSY' | 'TIMEOUT' | 'ABORTED';

export class ConsoleError extends PijigError<ConsoleErrorCode> {
  constructor(
    code: ConsoleErrorCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(code, `${path}: ${message}`, options);
  }
}
