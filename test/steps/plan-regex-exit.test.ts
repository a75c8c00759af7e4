import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('the plan regex worker and the process', () => {
  it('holds the process only while a match runs: a program that matched exits by itself (pijig sim --cycles, a stopping serve)', async () => {
    const r = await execa(process.execPath, ['--import', 'tsx', 'test/fixtures/regex-then-exit.ts'], { cwd: ROOT, reject: false, timeout: 60_000, killSignal: 'SIGKILL' });
    expect(r.stdout).toBe('1 0');
    expect(r.signal, 'still running: the worker kept the process alive').toBeUndefined();
    expect(r.exitCode).toBe(0);
  }, 90_000);
});
