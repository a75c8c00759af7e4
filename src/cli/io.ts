/** Where a command prints: `out` for its results (stdout), `err` for logs and problems (stderr). */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** A whole number >= 1 from a flag's text, or an error naming the flag. */
export function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: "${value}" is not a positive whole number`);
  return n;
}
