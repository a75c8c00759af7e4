/** The DUT's serial console. Owned by the functional-checks work; may grow. */
export interface ConsoleLine {
  /** ms since the console was opened */
  t: number;
  dir: 'rx' | 'tx';
  text: string;
}

export interface DutConsole {
  open(): Promise<void>;
  send(line: string): Promise<void>;
  /** Resolve with the first received line matching `pattern` (lines since the last call included). */
  expect(pattern: RegExp, timeoutMs: number, signal: AbortSignal): Promise<RegExpMatchArray>;
  transcript(): ConsoleLine[];
  close(): Promise<void>;
}
