import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { commandStep, OUTPUT_LIMIT } from '../../src/steps/command.js';
import { StepError } from '../../src/steps/errors.js';
import { planRegex, REGEX_BUDGET_MS } from '../../src/steps/plan-regex.js';
import { imageOf, stepContext, TestLedger } from '../helpers/step-context.js';

const TOOL = fileURLToPath(new URL('../fixtures/fake-tool.mjs', import.meta.url));
const tool = (...actions: string[]): string[] => [process.execPath, TOOL, ...actions];

async function run(params: Record<string, unknown>, options: Parameters<typeof stepContext>[2] = {}) {
  return commandStep.run(stepContext(commandStep, { timeout_ms: 5000, ...params }, options).ctx);
}

/** Wait until the real child process has shown a sign of life. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
}

async function failure(p: Promise<unknown>): Promise<StepError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(StepError);
  return e as StepError;
}

afterEach(() => vi.useRealTimers());

describe('command step', () => {
  it('validates placeholders and patterns when the plan loads', () => {
    expect(commandStep.params.safeParse({ argv: ['dfu-util', '-D', '${image.file}'], timeout_ms: 1000 }).success).toBe(true);
    expect(commandStep.params.safeParse({ argv: ['x', '${region.app.file}', '${serial}', '${mac}'], timeout_ms: 1000 }).success).toBe(true);
    expect(commandStep.params.safeParse({ argv: ['x', '${image.path}'], timeout_ms: 1000 }).success).toBe(false);
    expect(commandStep.params.safeParse({ argv: ['x'], timeout_ms: 1000, pass_pattern: '(' }).success).toBe(false);
    expect(commandStep.params.safeParse({ argv: [], timeout_ms: 1000 }).success).toBe(false);
    expect(commandStep.params.safeParse({ argv: ['x'] }).success).toBe(false);
  });

  it('passes on the expected exit code and keeps the output', async () => {
    const out = await run({ argv: tool('out:Download done.', 'err:warning: x', 'exit:0') });
    expect(out.data!['output']).toContain('Download done.');
    expect(out.data!['output']).toContain('warning: x');
    expect(out.data!['exit_code']).toBe(0);
    expect(out.measurements).toContainEqual({ name: 'exit_code', value: 0 });
  });

  it('fills placeholders from the image and the unit, and counts its flash in the ledger before it runs', async () => {
    const img = await imageOf([{ name: 'app', address: 0x08004000, bytes: new Uint8Array(16) }], '3.1.4');
    const ledger = new TestLedger();
    const out = await run(
      { argv: tool('out:${image.file}', 'out:${region.app.address}', 'out:${image.version}', 'out:${serial}/${mac}', 'env:FW', 'cwd'), env: { FW: '${region.app.file}' }, cwd: '/tmp', flashes_image: true },
      { image: img, unit: { identity: { serial: 'SN1', mac: '02:00:00:00:00:09' } }, ledger },
    );
    expect(ledger.flashes).toEqual([img.imageHash]);
    const text = out.data!['output'] as string;
    expect(text).toContain(img.regions[0]!.file);
    expect(text).toContain('0x08004000');
    expect(text).toContain('3.1.4');
    expect(text).toContain('SN1/02:00:00:00:00:09');
    expect(text).toContain(`FW=${img.regions[0]!.file}`);
    expect(text).toContain('cwd=/tmp');
  });

  it('refuses a placeholder it cannot fill', async () => {
    const e = await failure(run({ argv: tool('out:${serial}') }));
    expect(e.code).toBe('COMMAND_FAILED');
    expect(e.message).toContain('identity');
  });

  it('fails with the exit code in the message', async () => {
    const e = await failure(run({ argv: tool('err:dfu-util: No DFU capable USB device available', 'exit:74') }));
    expect(e.code).toBe('COMMAND_FAILED');
    expect(e.message).toMatch(/exited with code 74, expected 0/);
    expect(e.details!['output']).toContain('No DFU capable');
    const ok = await run({ argv: tool('exit:3'), expect_exit: 3 });
    expect(ok.data!['exit_code']).toBe(3);
  });

  it('judges output against pass_pattern and fail_pattern', async () => {
    await run({ argv: tool('out:Verify OK'), pass_pattern: '^Verify OK$' });
    const missing = await failure(run({ argv: tool('out:Verify skipped'), pass_pattern: '^Verify OK$' }));
    expect(missing.message).toContain('never matched pass_pattern');
    const bad = await failure(run({ argv: tool('out:Error: target voltage low', 'exit:0'), fail_pattern: 'Error:' }));
    expect(bad.message).toContain('target voltage low');
  });

  it('a pass or fail pattern too slow for the output fails the step REGEX_TIMEOUT once the tool has finished', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = stepContext(commandStep, { argv: tool(`out:${'a'.repeat(40)}!`, 'out:done', 'exit:0'), timeout_ms: 60_000, fail_pattern: '(a+)+$' });
    const running = failure(commandStep.run(h.ctx));
    while (!planRegex.running) await new Promise((r) => setImmediate(r));
    await vi.advanceTimersByTimeAsync(REGEX_BUDGET_MS);
    const e = await running;
    expect(e.code).toBe('REGEX_TIMEOUT');
    expect(e.message).toMatch(/output: \/\(a\+\)\+\$\/ took longer than 1000 ms/);
    expect(e.details).toMatchObject({ exit_code: 0 });
  });

  it('kills a tool that ignores SIGTERM at its deadline (fake time: the deadline, not start-up, decides)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = stepContext(commandStep, { argv: tool('ignore-term', 'out:started', 'hang'), timeout_ms: 300 });
    const running = failure(commandStep.run(h.ctx));
    await until(() => h.logs.includes('started')); // however long the real child takes to start
    await vi.advanceTimersByTimeAsync(299);
    let settled = false;
    void running.then(() => (settled = true));
    await until(() => true);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const e = await running;
    expect(e.code).toBe('COMMAND_FAILED');
    expect(e.message).toContain('300 ms');
    expect(e.details).toMatchObject({ timed_out: true, signal: 'SIGKILL' });
    expect(e.details!['output']).toContain('started');
  });

  it('stops the tool at once on ABORT, by SIGKILL, long before its deadline', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const controller = new AbortController();
    const h = stepContext(commandStep, { argv: tool('ignore-term', 'out:started', 'hang'), timeout_ms: 10_000 }, { signal: controller.signal });
    const running = commandStep.run(h.ctx);
    await until(() => h.logs.includes('started'));
    controller.abort(new Error('ABORT'));
    // fake time stands still: only the abort can have ended it
    const e = await failure(running);
    expect(e.code).toBe('ABORTED');
    expect(e.details).toMatchObject({ signal: 'SIGKILL', timed_out: false });
  });

  it('keeps only the last 64 KiB of output', async () => {
    const out = await run({ argv: tool('flood:200', 'out:THE END') });
    const text = out.data!['output'] as string;
    expect(text.length).toBe(OUTPUT_LIMIT);
    expect(text).toContain('THE END');
    expect(out.data!['output_dropped_bytes']).toBeGreaterThan(100 * 1024);
  });

  it('reports a program that does not exist', async () => {
    const e = await failure(run({ argv: ['/nonexistent/dfu-util'] }));
    expect(e.code).toBe('COMMAND_FAILED');
    expect(e.message).toContain('could not be started');
  });
});
