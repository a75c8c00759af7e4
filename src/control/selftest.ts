import { access, open, readdir, readFile, statfs, unlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { execa } from 'execa';
import type { ProbeConfig } from '../config/station.js';
import type { DigitalInput, DigitalOutput } from '../devices/gpio/gpio.js';
import type { ClockSync } from '../devices/clock/clock.js';
import { errorMessage } from '../core/errors.js';
import { LEDGER_FILE } from '../records/books.js';
import { verifyBooks } from '../records/verify.js';
import { exists } from '../util/fs.js';

/** One line of `pijig selftest`. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** Why it passed (what was found) or failed (what is wrong, naming the device, file or pin). */
  detail: string;
  /** Not checked (e.g. I2C while a cycle uses the bus); does not fail the selftest. */
  skipped?: boolean;
}

/** What the selftest looks at: the running service's own devices, or ones opened directly with the service stopped. */
export interface SelftestTarget {
  dataDir: string;
  journalPath: string;
  probe: ProbeConfig | undefined;
  /** The GPIO inputs, or why they could not be opened. */
  inputs: { start: DigitalInput; abort: DigitalInput; lidClosed: DigitalInput } | { error: string };
  relay: DigitalOutput | { error: string };
  /** Every I2C device the wiring declares, each with a check that it answers. */
  i2c: readonly { name: string; check(): Promise<void> }[];
  clock: ClockSync;
  /** True while a cycle runs: the bus and the relay belong to it then. */
  busy?: () => boolean;
  /** Free space below this fails (default 50 MB). */
  minFreeBytes?: number;
}

/** Run every check; each alone, so one that throws is a FAIL of its own and the rest still run. */
export async function runSelftest(t: SelftestTarget): Promise<CheckResult[]> {
  const checks: [string, () => Promise<CheckResult | CheckResult[]>][] = [
    ['openocd', () => openocdCheck(t.probe?.openocd ?? 'openocd')],
    ['probe', () => probeCheck(t.probe)],
    ['i2c', () => i2cChecks(t)],
    ['gpio inputs', () => inputChecks(t)],
    ['dut relay', () => relayCheck(t)],
    ['disk space', () => diskCheck(t.dataDir, t.minFreeBytes ?? 50e6)],
    ['data directory', () => writableCheck(t.dataDir)],
    ['clock', () => clockCheck(t.clock)],
    ['journal and ledger', () => booksCheck(t.dataDir, t.journalPath)],
  ];
  const out: CheckResult[] = [];
  for (const [name, check] of checks) {
    try {
      const r = await check();
      out.push(...(Array.isArray(r) ? r : [r]));
    } catch (err) {
      out.push({ name, ok: false, detail: `check failed: ${errorMessage(err)}` });
    }
  }
  return out;
}

export async function openocdCheck(binary: string): Promise<CheckResult> {
  const r = await execa(binary, ['--version'], { timeout: 5000, killSignal: 'SIGKILL', reject: false, all: true });
  const version = /Open On-Chip Debugger\s+(\S+)/.exec(r.all ?? '')?.[1];
  if (r.failed && !version) return { name: 'openocd', ok: false, detail: `${binary}: ${r.code === 'ENOENT' ? 'not installed (apt-get install openocd)' : (r.shortMessage ?? 'did not run')}` };
  return version ? { name: 'openocd', ok: true, detail: `${binary} ${version}` } : { name: 'openocd', ok: false, detail: `${binary} --version printed no version` };
}

/** USB vendor:product IDs of the adapters (openocd's interface/*.cfg and udev rules). */
const USB_PROBES: Record<string, (vid: string, pid: string, product: string) => boolean> = {
  stlink: (v, p) => v === '0483' && ['3744', '3748', '374b', '374d', '374e', '374f', '3752', '3753', '3754', '3757'].includes(p),
  jlink: (v) => v === '1366',
  'cmsis-dap': (_v, _p, product) => /CMSIS-DAP/i.test(product),
};

export async function probeCheck(probe: ProbeConfig | undefined, sysUsb = '/sys/bus/usb/devices'): Promise<CheckResult> {
  const name = 'probe';
  if (!probe) return { name, ok: true, skipped: true, detail: 'no probe in the station config' };
  const match = USB_PROBES[probe.kind];
  if (match) {
    const found: string[] = [];
    for (const dev of await readdir(sysUsb).catch(() => [] as string[])) {
      const read = (f: string) => readFile(join(sysUsb, dev, f), 'utf8').then((s) => s.trim(), () => '');
      const [vid, pid, product, serial] = await Promise.all([read('idVendor'), read('idProduct'), read('product'), read('serial')]);
      if (vid && match(vid, pid, product) && (!probe.serial || probe.serial === serial)) found.push(`${product || probe.kind} ${vid}:${pid}${serial ? ` serial ${serial}` : ''}`);
    }
    return found.length ? { name, ok: true, detail: found.join(', ') } : { name, ok: false, detail: `no ${probe.kind} probe on USB${probe.serial ? ` with serial ${probe.serial}` : ''} (${sysUsb})` };
  }
  if (probe.kind === 'remote_bitbang') {
    const rb = probe.remote_bitbang!;
    const where = 'path' in rb ? rb.path : `${rb.host}:${rb.port}`;
    const ok = await new Promise<string | undefined>((resolve) => {
      const c = 'path' in rb ? createConnection(rb.path) : createConnection(rb.port, rb.host);
      const timer = setTimeout(() => {
        c.destroy();
        resolve('no answer within 2 s');
      }, 2000);
      c.once('connect', () => {
        clearTimeout(timer);
        c.destroy();
        resolve(undefined);
      });
      c.once('error', (e) => {
        clearTimeout(timer);
        resolve(e.message);
      });
    });
    return ok === undefined ? { name, ok: true, detail: `remote_bitbang ${where} answers` } : { name, ok: false, detail: `remote_bitbang ${where}: ${ok}` };
  }
  const dev = probe.kind === 'linuxgpiod' ? `/dev/gpiochip${probe.gpio?.chip ?? 0}` : '/dev/gpiomem';
  return access(dev).then(
    () => ({ name, ok: true, detail: `${probe.kind} on ${dev}` }),
    () => ({ name, ok: false, detail: `${probe.kind}: ${dev} is absent` }),
  );
}

async function i2cChecks(t: SelftestTarget): Promise<CheckResult[]> {
  if (!t.i2c.length) return [{ name: 'i2c', ok: true, skipped: true, detail: 'no I2C device in the station config' }];
  if (t.busy?.()) return t.i2c.map((d) => ({ name: `i2c ${d.name}`, ok: true, skipped: true, detail: 'a cycle is using the bus' }));
  const out: CheckResult[] = [];
  for (const d of t.i2c) {
    try {
      await d.check();
      out.push({ name: `i2c ${d.name}`, ok: true, detail: 'answers' });
    } catch (err) {
      out.push({ name: `i2c ${d.name}`, ok: false, detail: `${d.name} does not answer: ${errorMessage(err)}` });
    }
  }
  return out;
}

/** Inputs at rest: START and ABORT must read released - pressed at rest is a wiring fault (a missing pull-up). */
async function inputChecks(t: SelftestTarget): Promise<CheckResult[]> {
  if ('error' in t.inputs) return [{ name: 'gpio inputs', ok: false, detail: t.inputs.error }];
  const { start, abort, lidClosed } = t.inputs;
  const atRest = (i: DigitalInput, what: string): CheckResult =>
    i.active
      ? { name: `gpio ${i.name}`, ok: false, detail: `${i.name} reads ${what} at rest: a wiring fault (no pull resistor, or a shorted switch), or someone is holding it` }
      : { name: `gpio ${i.name}`, ok: true, detail: 'released' };
  return [atRest(start, 'pressed'), atRest(abort, 'pressed'), { name: `gpio ${lidClosed.name}`, ok: true, detail: lidClosed.active ? 'lid closed' : 'lid open' }];
}

async function relayCheck(t: SelftestTarget): Promise<CheckResult> {
  if ('error' in t.relay) return { name: 'dut relay', ok: false, detail: t.relay.error };
  if (t.busy?.()) return { name: 'dut relay', ok: true, skipped: true, detail: 'a cycle is running (the relay is its own)' };
  return t.relay.active ? { name: 'dut relay', ok: false, detail: `${t.relay.name} is energised with no cycle running` } : { name: 'dut relay', ok: true, detail: 'off' };
}

export async function diskCheck(dir: string, minFree: number): Promise<CheckResult> {
  const s = await statfs(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!s) return { name: 'disk space', ok: false, detail: `the data directory ${dir} does not exist` };
  const free = s.bavail * s.bsize;
  const total = s.blocks * s.bsize;
  const detail = `${(free / 1e6).toFixed(0)} MB free of ${(total / 1e6).toFixed(0)} MB on ${dir}`;
  return free >= minFree ? { name: 'disk space', ok: true, detail } : { name: 'disk space', ok: false, detail: `${detail} (below ${(minFree / 1e6).toFixed(0)} MB: records may not be saved)` };
}

export async function writableCheck(dir: string): Promise<CheckResult> {
  const probe = join(dir, `.selftest-${process.pid}-${Date.now()}`);
  try {
    const fh = await open(probe, 'wx', 0o600);
    try {
      await fh.write('pijig selftest\n');
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await unlink(probe);
    return { name: 'data directory', ok: true, detail: `${dir} is writable (write + fsync)` };
  } catch (err) {
    await unlink(probe).catch(() => {});
    return { name: 'data directory', ok: false, detail: `${dir}: ${errorMessage(err)}` };
  }
}

export async function clockCheck(clock: ClockSync): Promise<CheckResult> {
  const synced = await clock.synchronized();
  if (synced === true) return { name: 'clock', ok: true, detail: `synchronised (${clock.source})` };
  return { name: 'clock', ok: false, detail: synced === false ? `not synchronised (${clock.source}): record times may be wrong` : `cannot tell whether it is synchronised (${clock.source})` };
}

/**
 * "journal and ledger consistent": `pijig ledger verify`'s check (both hash chains, every record
 * committed in the ledger, no number on two boards). A data directory without a ledger yet (no
 * unit run) gets the journal's own check.
 */
export async function booksCheck(dataDir: string, journalPath: string): Promise<CheckResult> {
  if (!(await exists(join(dataDir, LEDGER_FILE)))) return journalConsistency(journalPath);
  const r = await verifyBooks(dataDir);
  const figures = `units=${r.units} serials=${r.serials} macs=${r.macs} flashes=${r.flashes} wasted=${r.wasted}`;
  if (r.problems.length) return { name: 'journal and ledger', ok: false, detail: `${r.problems.length} problem(s), the first: ${r.problems[0]} (pijig ledger verify lists them)` };
  return { name: 'journal and ledger', ok: true, detail: `${figures}: consistent` };
}

/** The journal's own consistency: every line a record, seqs 1, 2, 3... without gaps or repeats. */
export async function journalConsistency(path: string): Promise<CheckResult> {
  const name = 'journal and ledger';
  if (!(await exists(path))) return { name, ok: true, detail: `${path}: no units yet` };
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let expected = 1;
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line) continue;
    let seq: unknown;
    try {
      seq = (JSON.parse(line) as { seq?: unknown }).seq;
    } catch {
      lines.close();
      return { name, ok: false, detail: `${path}:${n}: not a JSON record` };
    }
    if (seq !== expected) {
      lines.close();
      return { name, ok: false, detail: `${path}:${n}: seq ${String(seq)}, expected ${expected}` };
    }
    expected++;
  }
  return { name, ok: true, detail: `${path}: ${expected - 1} records, seqs consecutive (no ledger yet)` };
}
