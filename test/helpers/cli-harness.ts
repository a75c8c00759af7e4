import { Command } from 'commander';
import { PassThrough } from 'node:stream';
import type { ControlCliIo } from '../../src/cli/control-io.js';
import { registerStatus } from '../../src/cli/status.js';
import { registerWatch } from '../../src/cli/watch.js';
import { registerHistory } from '../../src/cli/history.js';
import { registerUnit } from '../../src/cli/unit.js';
import { registerRunStep } from '../../src/cli/run-step.js';
import { registerSelftest } from '../../src/cli/selftest.js';
import { registerExport } from '../../src/cli/export.js';
import { registerReport } from '../../src/cli/report.js';

/**
 * The engineer's commands run in this process, as `pijig` registers them, with their output
 * collected: `out`/`err` lines, `stdout` bytes (export -), the exit code, and an interrupt to
 * press (Ctrl-C).
 */
export function cli(socket: string) {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = new PassThrough();
  let stdoutText = '';
  stdout.on('data', (c: Buffer) => (stdoutText += c.toString('utf8')));
  const interrupts = new Set<() => void>();
  let exitCode = 0;
  const io: ControlCliIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    socket,
    stdout: stdout as unknown as NodeJS.WriteStream,
    setExitCode: (c) => void (exitCode = c),
    onInterrupt: (l) => {
      interrupts.add(l);
      return () => interrupts.delete(l);
    },
  };
  const run = async (...args: string[]) => {
    const program = new Command('pijig').exitOverride();
    for (const register of [registerStatus, registerWatch, registerHistory, registerUnit, registerRunStep, registerSelftest, registerExport, registerReport]) register(program, io);
    await program.parseAsync(args, { from: 'user' });
  };
  return {
    run,
    out,
    err,
    get stdout() {
      return stdoutText;
    },
    get exitCode() {
      return exitCode;
    },
    interrupt: () => [...interrupts].forEach((l) => l()),
    json: <T = unknown>() => JSON.parse(out.join('\n')) as T,
  };
}
