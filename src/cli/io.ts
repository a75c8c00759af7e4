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

/** `--since`: an ISO date or time ("2026-03-01", "2026-03-01T08:00"), or a span back from now ("30m", "12h", "7d"). */
export function parseSince(value: string, now: Date = new Date()): number {
  const span = /^(\d+)\s*([mhd])$/.exec(value.trim());
  if (span) return now.getTime() - Number(span[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2] as 'm' | 'h' | 'd'];
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`--since: "${value}" is neither a date/time (2026-03-01, 2026-03-01T08:00) nor a span (30m, 12h, 7d)`);
  return t;
}

/** `--param k=v`: the value as JSON when it parses (numbers, booleans, arrays), else as text. */
export function parseParam(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf('=');
  if (eq < 1) throw new Error(`--param: "${value}" is not of the form name=value`);
  const key = value.slice(0, eq);
  const text = value.slice(eq + 1);
  let v: unknown = text;
  try {
    v = JSON.parse(text);
  } catch {
    // plain text
  }
  return { ...previous, [key]: v };
}
