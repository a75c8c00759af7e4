import type { BenchFigure } from './bench.js';
import { RegexRunner } from '../steps/plan-regex.js';

const CONSOLE_LINE = 'PIJIG-SIM widget fw=1.4.2 build 2025-03-01 uptime=12 ms';
const EXPECT = { source: 'fw=(?<fw>\\S+)' };

/**
 * What running a plan's regexes on a worker thread (under a deadline) costs against running them
 * on the event loop: thread start (once per process, and after a regex was stopped), one console
 * line (a round trip per call), and a tool's output in batches.
 */
export async function run(): Promise<BenchFigure[]> {
  const runner = new RegexRunner();
  try {
    const t0 = performance.now();
    await runner.first(EXPECT, ['boot']);
    const startMs = performance.now() - t0;
    const n = 2000;
    for (let i = 0; i < 200; i++) await runner.first(EXPECT, [CONSOLE_LINE]); // warm
    let t = performance.now();
    for (let i = 0; i < n; i++) await runner.first(EXPECT, [CONSOLE_LINE]);
    const perCallUs = ((performance.now() - t) / n) * 1000;
    const lines = Array.from({ length: 1000 }, (_, i) => `Writing ${i * 1024} of 1048576 bytes ${'#'.repeat(40)}`);
    const batches = 50;
    t = performance.now();
    for (let i = 0; i < batches; i++) await runner.first({ source: '^Error:' }, lines);
    const batchedUs = ((performance.now() - t) / (batches * lines.length)) * 1000;
    const re = new RegExp(EXPECT.source);
    t = performance.now();
    for (let i = 0; i < 100_000; i++) re.exec(CONSOLE_LINE);
    const inlineUs = ((performance.now() - t) / 100_000) * 1000;
    return [
      { name: 'plan regex worker: thread start + first match', value: startMs, unit: 'ms', method: 'once per process, and again after a regex was stopped (REGEX_TIMEOUT, ABORT mid-match)' },
      { name: 'plan regex worker: one console line', value: perCallUs, unit: 'us', method: `${n} calls of 1 line each (postMessage round trip), /${EXPECT.source}/` },
      { name: 'plan regex worker: per line of tool output', value: batchedUs, unit: 'us', method: `${batches} batches of ${lines.length} lines, no match` },
      { name: 'same regex on the event loop (not used: unbounded)', value: inlineUs, unit: 'us', method: '100,000 RegExp.exec of one console line' },
    ];
  } finally {
    await runner.close();
  }
}
