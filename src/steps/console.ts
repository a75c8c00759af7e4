import { z } from 'zod';
import { ConsoleError, type ConsoleLine } from '../devices/console/dut-console.js';
import { defineStep } from './step.js';
import { type Measurement } from '../core/record.js';
import { StepError } from './errors.js';
import { planRegex, RegexTimeoutError } from './plan-regex.js';

const regexSource = z.string().refine((source) => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}, 'not a valid regular expression');

export const consoleParams = z
  .strictObject({
    /** Line to send first (without line ending). */
    send: z.string().optional(),
    /** Regex a received line must match; named groups become measurements. Omit to send without waiting. */
    expect: regexSource.optional(),
    flags: z.string().regex(/^[imsu]*$/, 'regex flags: any of i, m, s, u').default(''),
    timeout_ms: z.number().int().min(1).max(600_000).default(2000),
    /** Drop unread lines (the boot banner, ...) before sending, so the answer is fresh. */
    flush: z.boolean().default(true),
    /** Groups kept as text even when they look numeric (serial numbers with digits only). */
    strings: z.array(z.string()).default([]),
  })
  .refine((p) => p.send !== undefined || p.expect !== undefined, 'give `send`, `expect` or both');

export type ConsoleParams = z.output<typeof consoleParams>;

/**
 * The named groups of a regular expression, in order. The engine itself lists them: with an empty
 * alternative added, the expression matches the empty string and its match has every group's key.
 * (Run on an empty string, no expression backtracks.)
 */
export function groupNames(source: string, flags = ''): string[] {
  const match = new RegExp(`(?:${source})|`, flags.replace(/[gy]/g, '')).exec('');
  return Object.keys(match?.groups ?? {});
}

/** Numbers without leading zeros ("12", "-3.5") become numbers; "007", "1.2.0", "0x1f" stay text. */
const NUMERIC = /^-?(0|[1-9]\d*)(\.\d+)?$/;

/**
 * Talk to the DUT console: optionally send a line, optionally wait for a line matching `expect`.
 * Named capture groups become measurements (`fw=(?<fw>\S+)` gives measurement "fw"), so the plan
 * can hold limits like `fw: { equals: "${image.version}" }`. The step's transcript goes into
 * `data.transcript`, on failure into the StepError's details.
 */
export const consoleStep = defineStep({
  kind: 'console',
  description: 'send a command on the DUT console and check the answer',
  params: consoleParams,
  needs: ['console'],
  produces: ({ expect, flags }) => (expect === undefined ? [] : groupNames(expect, flags).map((name) => ({ name }))),
  patterns: ({ expect, flags }) => (expect === undefined ? [] : [{ param: 'expect', source: expect, flags }]),
  async run(ctx) {
    const dut = ctx.devices.console;
    if (!dut) throw new StepError('DEVICE_MISSING', 'no DUT console is configured on this station');
    const { send, expect, flags, timeout_ms, flush, strings } = ctx.params;
    // The plan's regex runs on a worker thread under a deadline, never on the event loop.
    const pattern = expect === undefined ? undefined : planRegex.matcher({ source: expect, flags });
    let start = 0;
    const transcript = (): ConsoleLine[] => dut.transcript().slice(start);
    try {
      if (!dut.isOpen) await dut.open();
      start = dut.transcript().length;
      if (send !== undefined) {
        if (flush) dut.flush();
        ctx.progress(0, send);
        await dut.send(send);
      }
      if (!pattern) return { data: { transcript: transcript() } };
      const match = await dut.expect(pattern, timeout_ms, ctx.signal);
      ctx.progress(1);
      const measurements: Measurement[] = Object.entries(match.groups ?? {})
        .filter((entry): entry is [string, string] => entry[1] !== undefined)
        .map(([name, text]) => ({ name, value: !strings.includes(name) && NUMERIC.test(text) ? Number(text) : text }));
      return { measurements, data: { line: match[0], transcript: transcript() } };
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (error instanceof RegexTimeoutError) {
        throw new StepError('REGEX_TIMEOUT', `expect ${error.message}; the plan's regex is too slow for the console's output`, {
          cause: error,
          details: { port: dut.path, sent: send, expect, transcript: transcript() },
        });
      }
      if (error instanceof ConsoleError) {
        const details = { port: dut.path, sent: send, expect, transcript: transcript() };
        if (error.code === 'TIMEOUT') {
          throw new StepError('CONSOLE_TIMEOUT', `${send === undefined ? '' : `"${send}": `}${error.message}`, { cause: error, details });
        }
        throw new StepError('CONSOLE_ERROR', error.message, { cause: error, details });
      }
      throw error;
    }
  },
});
