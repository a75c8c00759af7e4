/**
 * The kill test: SIGKILLs real `pijig sim` processes on one data directory at random moments -
 * while it starts and reconciles its books, mid-program, mid-identity (a number just reserved),
 * around the journal and ledger writes of a unit's end, mid-import of a bundle, mid-sync of the
 * logs to a stick - then checks that nothing was lost or issued twice:
 *
 * - `pijig ledger verify` and `pijig journal verify` pass (and `pijig audit` on a final stick);
 * - no serial number, MAC or chip UID is on two boards (the journal, and the simulated chips'
 *   own log of what they carry: the DUT log);
 * - no flash uncounted: every flash the chips saw (an erase of the image's first page) has a
 *   ledger entry for that chip;
 * - no child process (openocd, socat) outlives its killed pijig by more than 2 s;
 * - no temp folder of a killed pijig is left after the next start.
 *
 *   npm run kill-test -- [--kills 200] [--seed 1] [--keep]
 *
 * Seeded (the moments, the phases); prints its figures as one line; exits non-zero on any failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const KILLS = Number(arg('kills', '200'));
const SEED = Number(arg('seed', '1'));
const KEEP = args.includes('--keep');

/** mulberry32: a small seeded generator, so a run can be repeated. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const between = (lo: number, hi: number) => lo + random() * (hi - lo);

/** Where each kill is aimed: a line the sim prints, then a random delay. */
interface Phase {
  name: string;
  weight: number;
  usbDemo: boolean;
  /** undefined: from the spawn. */
  marker?: RegExp;
  delayMs: [number, number];
}
const PHASES: Phase[] = [
  // opening and reconciling the books (recording what the last kill cut short), the virtual jig, the first unit's start
  { name: 'start', weight: 26, usbDemo: false, marker: /lock taken/, delayMs: [0, 1500] },
  // the flash counted in the ledger, erase and write under way
  { name: 'program', weight: 28, usbDemo: false, marker: /\[program\] chip /, delayMs: [0, 1000] },
  // a number just reserved, being written to the chip
  { name: 'identity', weight: 12, usbDemo: false, marker: /reserved in the ledger|kept \(a retest/, delayMs: [0, 60] },
  // the unit's end: teardown, journal append, ledger commit
  { name: 'journal', weight: 16, usbDemo: false, marker: /step lock pass/, delayMs: [0, 40] },
  // a bundle being built, verified, copied and activated
  { name: 'import', weight: 10, usbDemo: true, marker: /usb demo: a stick with signed release/, delayMs: [0, 1500] },
  // the logs being written to a stick
  { name: 'sync', weight: 8, usbDemo: true, marker: /usb demo: the stick is pulled/, delayMs: [380, 650] },
];
function pickPhase(): Phase {
  const total = PHASES.reduce((n, p) => n + p.weight, 0);
  let r = random() * total;
  for (const p of PHASES) if ((r -= p.weight) < 0) return p;
  return PHASES[0]!;
}

const PLAN = `# the kill test's plan: a short unit that still flashes, numbers, measures and locks
name: kill test
product: widget
steps:
  - { name: program, kind: program, timeout_s: 60 }
  - { name: identity, kind: identity, params: { address: 0x0800FC00 }, timeout_s: 30 }
  - { name: lock, kind: lock, timeout_s: 30 }
`;

interface Proc {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  onLine: (re: RegExp) => Promise<void>;
}

function sim(root: string, planFile: string, stationFile: string, dutLog: string, extra: string[]): Proc {
  // --wait-lock: the next run loads while this one works, and takes the data directory the moment it is free
  const child = spawn(process.execPath, [CLI, 'sim', '--data-dir', root, '--config', stationFile, '--plan', planFile, '--firmware-size', '512', '--dut-log', dutLog, '--wait-lock', '600', '-v', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onText = (line: string) => {
    lines.push(line);
    for (const w of [...waiters]) if (w.re.test(line)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  createInterface({ input: child.stdout! }).on('line', onText);
  createInterface({ input: child.stderr! }).on('line', onText);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, exited, onLine: (re) => new Promise((r) => waiters.push({ re, resolve: r })) };
}

/** The direct children of a process, with their start times (a pid alone can be reused). */
function childrenOf(pid: number): { pid: number; start: string; comm: string }[] {
  const out: { pid: number; start: string; comm: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid) out.push({ pid: Number(name), start: f[19]!, comm });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function alive(p: { pid: number; start: string }): boolean {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return f[19] === p.start && f[0] !== 'Z';
  } catch {
    return false;
  }
}

async function pullLeftSticks(mountDir: string): Promise<void> {
  for (const name of await readdir(mountDir).catch(() => [] as string[])) {
    const gone = join(dirname(mountDir), `.pulled-${name}-${Date.now()}`);
    await rename(join(mountDir, name), gone).catch(() => {});
    await rm(gone, { recursive: true, force: true });
  }
}

async function run(cmd: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [CLI, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, out };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const root = await mkdtemp(join(tmpdir(), 'pijig-killtest-'));
  const planFile = join(root, 'kill-plan.yaml');
  const dutLog = join(root, 'dut-log.jsonl');
  await writeFile(planFile, PLAN);
  // The example station without the devices the plan does not use (the console stays: socat is a child to check)
  const stationFile = join(root, 'kill-station.yaml');
  const example = await readFile(join(ROOT, 'jig-config', 'station.yaml'), 'utf8');
  await writeFile(stationFile, example.replace(/^power_monitor:.*\n(?:[ #].*\n)+/m, '').replace(/^light_sensors:.*\n(?:[ #].*\n)+/m, '').replace(/^plan: .*$/m, ''));
  const failures: string[] = [];
  const fail = (m: string) => {
    failures.push(m);
    if (args.includes('--verbose')) console.error(`  ${m}`);
  };
  const byPhase: Record<string, number> = Object.fromEntries(PHASES.map((p) => [p.name, 0]));
  const killedPids: number[] = [];
  const orphanChecks: Promise<void>[] = [];
  let orphans = 0;
  let childrenSeen = 0;
  let kills = 0;
  let spawns = 0;
  let runs = 0;

  const launch = () => {
    const phase = pickPhase();
    const extra = phase.usbDemo ? ['--cycles', '1', '--usb-demo'] : ['--cycles', '100'];
    spawns++;
    const p = sim(root, planFile, stationFile, dutLog, extra);
    // armed now: the marker may come while the process before it is still being killed
    const aim = phase.marker ? p.onLine(phase.marker) : Promise.resolve();
    return { phase, p, aim };
  };
  let next = launch();
  while (kills < KILLS) {
    const { phase, p, aim } = next;
    const outcome = await Promise.race([
      aim.then(() => new Promise<'aim'>((r) => setTimeout(() => r('aim'), between(...phase.delayMs)))),
      p.exited.then(() => 'exited' as const),
      new Promise<'late'>((r) => setTimeout(() => r('late'), 90_000).unref()),
    ]);
    if (kills + 1 < KILLS) next = launch();
    if (outcome === 'late') fail(`a run aimed at ${phase.name} did not get there within 90 s: ${p.lines.slice(-3).join(' | ')}`);
    if (outcome === 'exited') {
      const code = await p.exited;
      runs++;
      // a run that ended by itself (its cycles done, or a start-up refusal) must have ended well
      if (code !== 0) fail(`a sim run (aimed at ${phase.name}) exited ${code}: ${p.lines.slice(-3).join(' | ')}`);
      if (kills + 1 >= KILLS) next = launch();
      continue;
    }
    const pid = p.child.pid!;
    const children = childrenOf(pid);
    childrenSeen += children.length;
    p.child.kill('SIGKILL');
    await p.exited;
    kills++;
    // The operator takes out a stick the killed run left in the port (as it would be, eventually).
    await pullLeftSticks(join(root, 'media'));
    byPhase[phase.name]!++;
    killedPids.push(pid);
    // The children must be gone within 2 s; checked while the next run starts.
    orphanChecks.push(
      (async () => {
        const deadline = Date.now() + 2000;
        let left = children.filter(alive);
        while (left.length && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
          left = left.filter(alive);
        }
        for (const c of left) {
          orphans++;
          failures.push(`kill ${kills} (${phase.name}): ${c.comm} (pid ${c.pid}) outlived pijig by more than 2 s`);
          try {
            process.kill(c.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      })(),
    );
  }
  await Promise.all(orphanChecks);

  // A clean run: reconciles what the last kill left, then a stick collects the logs.
  const final = sim(root, planFile, stationFile, dutLog, ['--cycles', '2', '--usb-demo']);
  const finalCode = await final.exited;
  if (finalCode !== 0) failures.push(`the final sim run exited ${finalCode}: ${final.lines.slice(-5).join(' | ')}`);
  const dataDir = join(root, 'data');

  const ledger = await run(['ledger', 'verify', '--data-dir', dataDir]);
  const figures = ledger.out.trim().split('\n').at(-1) ?? '';
  if (ledger.code !== 0) failures.push(`pijig ledger verify: ${ledger.out.trim()}`);
  const journal = await run(['journal', 'verify', join(dataDir, 'units.jsonl')]);
  if (journal.code !== 0) failures.push(`pijig journal verify: ${journal.out.trim()}`);
  // the final run's log stick, kept on the engineer's desk (the newest)
  const kept = (await readdir(join(root, 'engineer'))).filter((n) => n.startsWith('stick-logs-')).sort();
  const stick = join(root, 'engineer', kept.at(-1) ?? 'stick-logs-missing');
  const audit = await run(['audit', stick, '--station-key', join(dataDir, 'station-key.pub')]);
  if (audit.code !== 0) failures.push(`pijig audit: ${audit.out.trim()}`);

  // The chips' own account against the books.
  const records = (await readFile(join(dataDir, 'units.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; serial?: string; mac?: string; chipUid?: string; reason?: string; repair?: unknown });
  const ledgerLines = (await readFile(join(dataDir, 'ledger.jsonl'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { t: string; uid?: string });
  const dut = (await readFile(dutLog, 'utf8').catch(() => '')).trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ev: string; uid: string; address?: number; serial?: string; mac?: string });
  const twice = (pairs: [string, string][], what: string): number => {
    const map = new Map<string, Set<string>>();
    for (const [k, v] of pairs) map.set(k, (map.get(k) ?? new Set()).add(v));
    let n = 0;
    for (const [k, vs] of map) if (vs.size > 1) (n++, failures.push(`${what} ${k} on ${vs.size}: ${[...vs].join(', ')}`));
    return n;
  };
  const onBoards = records.filter((r) => !r.repair && r.chipUid);
  const dutIds = dut.filter((e) => e.ev === 'identity');
  let duplicates = 0;
  duplicates += twice(onBoards.filter((r) => r.serial).map((r) => [r.serial!, r.chipUid!]), 'serial (journal)');
  duplicates += twice(onBoards.filter((r) => r.mac).map((r) => [r.mac!, r.chipUid!]), 'MAC (journal)');
  duplicates += twice(onBoards.filter((r) => r.serial).map((r) => [r.chipUid!, r.serial!]), 'chip UID (journal)');
  duplicates += twice(dutIds.map((e) => [e.serial!, e.uid]), 'serial (on the chips)');
  duplicates += twice(dutIds.map((e) => [e.mac!, e.uid]), 'MAC (on the chips)');
  duplicates += twice(dutIds.map((e) => [e.uid, e.serial!]), 'chip UID (on the chips)');
  const counted = new Map<string, number>();
  for (const e of ledgerLines) if (e.t === 'flash' && e.uid) counted.set(e.uid, (counted.get(e.uid) ?? 0) + 1);
  const flashed = new Map<string, number>();
  for (const e of dut) if (e.ev === 'erase' && e.address === 0x08000000) flashed.set(e.uid, (flashed.get(e.uid) ?? 0) + 1);
  let uncounted = 0;
  for (const [uid, n] of flashed) {
    const c = counted.get(uid) ?? 0;
    if (n > c) (uncounted += n - c, failures.push(`chip ${uid}: flashed ${n} time(s), ${c} counted in the ledger`));
  }
  const dutSerials = new Set(dutIds.map((e) => e.serial));
  const interrupted = records.filter((r) => r.reason === 'INTERRUPTED').length;

  // Temp folders of the killed processes: the next start removed them.
  const killed = new Set(killedPids.map(String));
  const leaked = (await readdir(tmpdir())).filter((n) => {
    const m = /^pijig-(\d+)\.\d+-/.exec(n);
    return m && killed.has(m[1]!);
  });
  if (leaked.length) failures.push(`temp folders of killed processes left: ${leaked.join(', ')}`);

  const secs = Math.round((Date.now() - t0) / 1000);
  const phases = PHASES.map((p) => `${p.name} ${byPhase[p.name]}`).join(', ');
  const verdict = failures.length ? `FAILED (${failures.length})` : 'ok';
  console.log(
    `kill-test seed=${SEED} kills=${kills} (${phases}) runs=${spawns} completed=${runs} records=${records.length} interrupted=${interrupted} chips_numbered=${dutSerials.size} ${figures.replace(/ ok$/, '')} duplicates=${duplicates} uncounted=${uncounted} children=${childrenSeen} orphans=${orphans} leaked_tmp=${leaked.length} time=${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s ${verdict}`,
  );
  for (const f of failures.slice(0, 30)) console.error(`  ${f}`);
  if (KEEP || failures.length) console.error(`  workspace: ${root}`);
  else await rm(root, { recursive: true, force: true });
  if (failures.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 2;
});
