import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'src', 'cli.ts');
const pijig = (args: string[], opts: { timeout?: number } = {}) =>
  execa(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, reject: false, all: true, timeout: opts.timeout ?? 120_000, killSignal: 'SIGKILL' });

/** Resolves with the first output line matching `re`. */
function waitFor(p: ResultPromise, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = text.split('\n').find((l) => re.test(l));
      if (m) {
        p.all?.off('data', onData);
        resolve(m);
      }
    };
    p.all?.on('data', onData);
    p.then((r) => reject(new Error(`exited (${r.exitCode}) before ${re}: ${r.all}`)), reject);
  });
}

/** Direct children of a process, with their start times (a pid alone can be reused). */
function childrenOf(pid: number): { pid: number; start: string; comm: string }[] {
  const out = [];
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid) out.push({ pid: Number(name), start: f[19]!, comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // gone
    }
  }
  return out;
}

function alive(c: { pid: number; start: string }): boolean {
  try {
    const stat = readFileSync(`/proc/${c.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[19] === c.start && f[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('pijig sim as a process', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-proc-'));
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('one process per data directory; SIGKILLed, it leaves no child running, and the next start removes its temp folders', async () => {
    const ws = join(root, 'ws');
    const first = pijig(['sim', '--data-dir', ws, '--cycles', '20', '-v']);
    try {
      // It runs a unit: openocd programs the chip, socat carries the console.
      await waitFor(first, /\[program\] chip [0-9a-f]{24}/);
      const pid = first.pid!;

      const second = await pijig(['sim', '--data-dir', ws, '--cycles', '1']);
      expect(second.exitCode).not.toBe(0);
      expect(second.all).toMatch(new RegExp(`LOCK_HELD: data directory .*/ws/data is in use by pijig pid ${pid} \\(pijig sim, since `));

      // mid-program: a temp folder of its own and its children (openocd, socat) are there
      await expect.poll(() => childrenOf(pid).map((c) => c.comm).sort(), { timeout: 30_000 }).toEqual(expect.arrayContaining(['openocd', 'socat']));
      const children = childrenOf(pid);
      await expect.poll(async () => (await readdir(tmpdir())).filter((n) => n.startsWith(`pijig-${pid}.`)).length, { timeout: 30_000 }).toBeGreaterThan(0);
      first.kill('SIGKILL');
      await first;
      // the kernel ends them with it (setpriv --pdeathsig KILL); the kill test measures that it takes under 2 s
      await expect.poll(() => children.filter(alive).map((c) => c.comm), { timeout: 10_000, interval: 50 }).toEqual([]);
      expect((await readdir(tmpdir())).filter((n) => n.startsWith(`pijig-${pid}.`))).not.toEqual([]);

      const next = await pijig(['sim', '--data-dir', ws, '--cycles', '1', '-v']);
      expect(next.exitCode, next.all).toBe(0);
      // (any pijig that starts removes them - on a shared machine, maybe another one first)
      // the cycle the kill cut short is on record
      expect(next.all).toMatch(/recorded as unit #\d+ INTERRUPTED/);
      expect((await readdir(tmpdir())).filter((n) => n.startsWith(`pijig-${pid}.`))).toEqual([]);
    } finally {
      first.kill('SIGKILL');
    }
  }, 240_000);

  it('a data directory that cannot be written ends the process with a clear message, at once', async () => {
    const ws = join(root, 'ro');
    await mkdir(ws, { recursive: true });
    await writeFile(join(ws, 'data'), 'not a folder');
    const r = await pijig(['sim', '--data-dir', ws, '--cycles', '1']);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(2);
    expect(r.all).toMatch(/DATA_DIR_NOT_WRITABLE: data directory .*\/ro\/data is not writable \(EEXIST: a file, not a folder\)/);
  }, 120_000);

  it('a start-up failure after the simulator started (socat cannot make its links) ends the process instead of hanging', async () => {
    const ws = join(root, 'no-pty');
    await mkdir(join(ws, 'dut', 'dut'), { recursive: true }); // where socat must put its link: a folder
    await writeFile(join(ws, 'dut', 'dut', 'x'), 'x');
    const r = await pijig(['sim', '--data-dir', ws, '--cycles', '1'], { timeout: 90_000 });
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(2);
    expect(r.all).toMatch(/START_FAILED: socat .*dut/);
  }, 120_000);

  it('openocd missing ends the process at start-up with a clear message', async () => {
    const dir = join(root, 'no-openocd');
    await mkdir(dir, { recursive: true });
    const station = join(dir, 'station.yaml');
    await writeFile(station, (await readFile(join(ROOT, 'jig-config', 'station.yaml'), 'utf8')).replace('  speed_khz: 1800', '  speed_khz: 1800\n  openocd: /nonexistent/openocd'));
    const r = await pijig(['sim', '--config', station, '--data-dir', join(dir, 'ws'), '--cycles', '1']);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(2);
    expect(r.all).toMatch(/probe\.openocd: "\/nonexistent\/openocd" not found: install openocd/);
  }, 120_000);

  it('a read-only workspace (a read-only mount) ends the process with a clear message', async () => {
    const ws = join(root, 'rofs');
    const populated = await pijig(['sim', '--data-dir', ws, '--cycles', '1']);
    expect(populated.exitCode, populated.all).toBe(0);
    // A read-only bind mount needs root; elsewhere the ENOTDIR case above stands for it.
    const mount = await execa('mount', ['--bind', '-o', 'ro', ws, ws], { reject: false });
    if (mount.exitCode !== 0) return;
    try {
      const r = await pijig(['sim', '--data-dir', ws, '--cycles', '1'], { timeout: 90_000 });
      expect(r.timedOut).toBe(false);
      expect(r.exitCode).toBe(2);
      expect(r.all).toMatch(/data directory .*\/rofs\/data is not writable \(EROFS\)/);
    } finally {
      await execa('umount', [ws], { reject: false });
    }
    expect(await readFile(join(ws, 'data', 'units.jsonl'), 'utf8')).toMatch(/"seq":1/);
  }, 240_000);
});
