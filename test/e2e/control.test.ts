import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConnection } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { prepareWorkspace, type SimWorkspace } from '../../src/sim/workspace.js';
import { VirtualJig } from '../../src/sim/jig.js';
import { startApp, type App } from '../../src/app.js';
import { importFromStick, oneCycle } from '../../src/sim/run.js';
import { ControlClient } from '../../src/control/client.js';
import type { StatusSnapshot } from '../../src/control/service.js';
import type { UnitRecord } from '../../src/core/record.js';
import { cli } from '../helpers/cli-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = join(ROOT, 'jig-config');

/** The station on the virtual jig with its control socket; the engineer's commands from "a second terminal". */
describe('the engineer over the control socket', () => {
  let root: string;
  let ws: SimWorkspace;
  let jig: VirtualJig;
  let app: App;
  let socket: string;
  const logs: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-ctl-e2e-'));
    socket = join(root, 'control.sock');
    ws = await prepareWorkspace({ root, stationFile: join(EXAMPLES, 'station.yaml'), planFile: join(EXAMPLES, 'plan.yaml') });
    jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir });
    app = await startApp(ws.config, jig.hardware(), { log: (m) => logs.push(m), stickPollMs: 50, version: '0.1.0', control: { socket } });
    await importFromStick(ws, app, 'release', await ws.stickWithBundle('1.2.0'));
  }, 90_000);

  afterAll(async () => {
    await app?.stop();
    await jig?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('`pijig status --json` (the real command, another process) answers with the state, job, devices and clock', async () => {
    const r = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'status', '--json', '--socket', socket], { timeout: 60_000, killSignal: 'SIGKILL' });
    const s = JSON.parse(r.stdout) as StatusSnapshot;
    expect(s).toMatchObject({ station: 'line1-jig01', state: 'ready', job: { product: 'widget', version: '1.2.0' }, clock: { synchronized: true }, lidClosed: false, dutPowered: false });
    expect(s.devices).toEqual([
      { name: 'ina219 i2c-1 0x40', ok: true },
      { name: expect.stringMatching(/tcs34725.*0x29/), ok: true },
    ]);
    expect(s.screen).toMatchObject({ kind: 'ready' });
    expect(s.oled).toHaveLength(16);
    // the round trip a client sees (connect, hello, status), printed for the record; no bound is asserted
    const t0 = performance.now();
    const c = await ControlClient.connect(socket);
    await c.request('status');
    c.close();
    console.log(`status round trip over the socket: ${(performance.now() - t0).toFixed(1)} ms`);
  }, 60_000);

  it('`pijig watch` shows a unit\'s steps with their measurements and verdicts, then its result; Ctrl-C leaves cleanly', async () => {
    const w = cli(socket);
    const watching = w.run('watch');
    await vi.waitFor(() => expect(w.out[0]).toMatch(/^watching line1-jig01/), { timeout: 10_000 });
    const record = await oneCycle(jig, app);
    expect(record?.result).toBe('PASS');
    await vi.waitFor(() => expect(w.out.some((l) => / unit  #\d+ .*WG\d+ +PASS/.test(l))).toBe(true), { timeout: 10_000 });
    expect(w.out.some((l) => /state ready -> running \(start\)/.test(l))).toBe(true);
    expect(w.out.some((l) => / step  1\/9 program started$/.test(l))).toBe(true);
    expect(w.out.some((l) => / step  program PASS .*bytes_written=4096 B/.test(l))).toBe(true);
    expect(w.out.some((l) => / step  boot current PASS .*run_mean_ma=[\d.]+ mA \[20\.\.50\] pass/.test(l))).toBe(true);
    const order = ['program', 'identity', 'boot current', 'lock'].map((n) => w.out.findIndex((l) => l.includes(` step  ${n} PASS`)));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    w.interrupt();
    await expect(watching).resolves.toBeUndefined();
    expect(w.exitCode).toBe(0);
    jig.setLid(false);
    await vi.waitFor(() => expect(app.station.state).toBe('ready'), { timeout: 5000 });
  }, 90_000);

  it('`pijig history -n 5 --json` lists the last units; `pijig unit SERIAL` prints every attempt in full', async () => {
    await oneCycle(jig, app);
    jig.setLid(false);
    await vi.waitFor(() => expect(app.station.state).toBe('ready'), { timeout: 5000 });
    const h = cli(socket);
    await h.run('history', '-n', '5', '--json');
    const units = h.json<{ seq: number; serial: string; result: string }[]>();
    expect(units.map((u) => [u.seq, u.serial, u.result])).toEqual([
      [1, 'WG000001', 'PASS'],
      [2, 'WG000002', 'PASS'],
    ]);
    const one = cli(socket);
    await one.run('history', '--serial', 'WG000002', '--json', '--full');
    expect(one.json<UnitRecord[]>()[0]!.steps).toHaveLength(9);
    const u = cli(socket);
    await u.run('unit', 'WG000001');
    expect(u.out[0]).toBe('WG000001: 1 attempt');
    expect(u.out.join('\n')).toMatch(/boot current PASS .*run_mean_ma/);
    const none = cli(socket);
    await none.run('unit', 'NOPE');
    expect(none.exitCode).toBe(1);
  }, 90_000);

  it('`pijig run-step program` programs the chip in the fixture as an engineering run, counted in no unit', async () => {
    const refused = cli(socket);
    await expect(refused.run('run-step', 'program')).rejects.toMatchObject({ code: 'LID_OPEN' });
    jig.setLid(true); // a fresh, blank chip goes in
    await vi.waitFor(() => expect(app.station.status().lidClosed).toBe(true), { timeout: 5000 });
    const before = { units: app.journal.count, counts: app.station.status().counts, flashed: app.station.status().job?.flashed };
    const r = cli(socket);
    await r.run('run-step', 'program', '--json');
    const record = r.json<UnitRecord & { engineering: { step: string } }>();
    expect(record).toMatchObject({ result: 'PASS', engineering: { step: 'program' } });
    expect(record.serial).toBeUndefined();
    const active = (await app.store.active())!;
    const bin = await readFile(active.image.regions[0]!.file);
    expect(Buffer.from(jig.chip.flash.subarray(0, bin.length)).equals(bin)).toBe(true);
    expect(jig.outputs().dutPower).toBe(false);
    // no unit and no unit count; but a flash is a flash: the ledger counted it before the erase, and
    // the order's count (and cap) includes the board flashed on the engineer's bench
    expect({ units: app.journal.count, counts: app.station.status().counts, flashed: app.station.status().job?.flashed }).toEqual({ ...before, flashed: before.flashed! + 1 });
    const eng = (await readFile(join(ws.dataDir, 'engineering.jsonl'), 'utf8')).trim().split('\n');
    expect(eng).toHaveLength(1);
    const hist = cli(socket);
    await hist.run('history', '--engineering', '--json');
    expect(hist.json<{ result: string }[]>()).toEqual([expect.objectContaining({ seq: 1, result: 'PASS' })]);
    // an identity step allocates nothing unless asked
    const id = cli(socket);
    await id.run('run-step', 'identity', '--json');
    expect(id.json<UnitRecord>()).toMatchObject({ result: 'ERROR', reason: 'STEP_EXCEPTION', message: expect.stringMatching(/allocates no serial/) });
    expect(id.exitCode).toBe(1);
    jig.setLid(false);
  }, 90_000);

  it('`pijig selftest` passes on the virtual jig', async () => {
    const s = cli(socket);
    await s.run('selftest');
    expect(s.out.at(-1)).toMatch(/^all \d+ checks passed/);
    expect(s.out.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(s.out.join('\n')).toMatch(/PASS  openocd +openocd 0\.12/);
    expect(s.exitCode).toBe(0);
  }, 60_000);

  it('`pijig export --format csv --out - | head` prints CSV (the real command in a shell pipe)', async () => {
    const r = await execa('bash', ['-c', `${process.execPath} --import tsx ${join(ROOT, 'src/cli.ts')} export --data-dir ${ws.dataDir} --format csv --out - | head -3`], { timeout: 60_000, killSignal: 'SIGKILL', cwd: ROOT });
    const lines = r.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toMatch(/^seq,station,serial,mac,chip_uid,attempt,image_hash,version,bundle_id,order,result,failed_step,reason,message,started_at,ended_at,duration_ms,/);
    expect(lines[1]).toMatch(/^1,line1-jig01,WG000001,/);
    expect(r.stderr).toMatch(/records written \(csv\) to stdout/);
  }, 60_000);

  it('clients that flood, hang or stop reading do not hurt the station: a unit still runs to PASS', async () => {
    const flood = createConnection(socket);
    flood.on('error', () => {});
    const hang = createConnection(socket);
    hang.on('error', () => {});
    const stalled = await ControlClient.connect(socket);
    void stalled.request('watch').catch(() => {});
    (stalled as unknown as { socket: { pause(): void } }).socket.pause();
    const bytes = Buffer.alloc(1 << 20, 0x41);
    flood.write(bytes);
    const record = await oneCycle(jig, app);
    expect(record?.result).toBe('PASS');
    const c = await ControlClient.connect(socket);
    await expect(c.request('status')).resolves.toMatchObject({ state: 'pass' });
    c.close();
    flood.destroy();
    hang.destroy();
    stalled.close();
    jig.setLid(false);
  }, 90_000);
});

describe('selftest names a missing device', () => {
  it('after the INA219 dies (--fault no-power-monitor), `pijig selftest` fails naming it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'pijig-ctl-fault-'));
    const ws = await prepareWorkspace({ root, stationFile: join(EXAMPLES, 'station.yaml'), planFile: join(EXAMPLES, 'plan.yaml') });
    const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, faults: ['no-power-monitor'] });
    const socket = join(root, 'control.sock');
    const app = await startApp(ws.config, jig.hardware(), { log: () => {}, stickPollMs: 50, control: { socket } });
    try {
      const ok = cli(socket);
      await ok.run('selftest');
      expect(ok.exitCode).toBe(0);
      jig.setLid(true);
      await new Promise((r) => setTimeout(r, 60));
      await jig.press('start'); // the relay goes on, and the INA219 with it (a broken wire)
      await vi.waitFor(() => expect(app.station.state).not.toBe('running'), { timeout: 60_000, interval: 20 });
      const s = cli(socket);
      await s.run('selftest');
      expect(s.exitCode).toBe(1);
      expect(s.out).toContainEqual(expect.stringMatching(/^FAIL  i2c ina219 i2c-1 0x40 +ina219 i2c-1 0x40 does not answer/));
      expect(s.out.at(-1)).toMatch(/^1 of \d+ checks FAILED/);
    } finally {
      await app.stop();
      await jig.close();
      await rm(root, { recursive: true, force: true });
    }
  }, 90_000);
});
