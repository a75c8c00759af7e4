import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace, type SimWorkspace } from '../../src/sim/workspace.js';
import { VirtualJig } from '../../src/sim/jig.js';
import { startApp, type App } from '../../src/app.js';
import { ejectStick, insertStick } from '../../src/sim/stick.js';
import { importFromStick, oneCycle } from '../../src/sim/run.js';
import { auditLogs, findStationLogs } from '../../src/records/audit.js';
import { repairJournal } from '../../src/records/repair.js';
import { verifyBooks } from '../../src/records/verify.js';
import { verifyChainFile } from '../../src/records/chain.js';
import { STATION_PUB_FILE } from '../../src/records/station-key.js';
import type { UnitRecord } from '../../src/core/record.js';

const EXAMPLES = fileURLToPath(new URL('../../jig-config/', import.meta.url));

/** A short unit (no LED or console checks): flashed, numbered, measured, locked. */
const PLAN = `name: ledger e2e
product: widget
retest: { max_attempts: 2 }
steps:
  - { name: program, kind: program, timeout_s: 60 }
  - { name: identity, kind: identity, timeout_s: 30 }
  - name: boot current
    kind: current
    params: { name: run, settle_ms: 100, samples: 3, window_ms: 60 }
    limits: { run_mean_ma: { min: 20, max: 50, unit: mA } }
    timeout_s: 5
  - { name: lock, kind: lock, timeout_s: 30 }
`;

async function station(root: string, id: string, opts: { keepUnit?: boolean; blocks?: Parameters<typeof prepareWorkspace>[0]['blocks']; engineerFrom?: string } = {}) {
  await mkdir(root, { recursive: true });
  const stationFile = join(root, 'station.yaml');
  await writeFile(stationFile, (await readFile(join(EXAMPLES, 'station.yaml'), 'utf8')).replace('station_id: line1-jig01', `station_id: ${id}`));
  const planFile = join(root, 'plan.yaml');
  await writeFile(planFile, PLAN);
  // a second station trusts the same release key: the engineer's folder is shared
  if (opts.engineerFrom) await cp(opts.engineerFrom, join(root, 'ws', 'engineer'), { recursive: true });
  const ws = await prepareWorkspace({ root: join(root, 'ws'), stationFile, planFile, firmwareBytes: 1024, ...(opts.blocks ? { blocks: opts.blocks } : {}) });
  const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, keepUnit: opts.keepUnit ?? false });
  const app = await startApp(ws.config, jig.hardware(), { log: () => {}, stickPollMs: 50 });
  return { ws, jig, app };
}


/** One unit: the lid opened on the last result (if any), then closed, START; the result stays on the panel. */
async function run(jig: VirtualJig, app: App): Promise<UnitRecord> {
  if (jig.lidClosed) {
    jig.setLid(false);
    await expect.poll(() => app.station.state, { timeout: 5000 }).toBe('ready');
  }
  const r = await oneCycle(jig, app);
  expect(r).toBeDefined();
  return r!;
}

describe('retests on the virtual jig: the board keeps its identity', () => {
  let root: string;
  let ws: SimWorkspace;
  let jig: VirtualJig;
  let app: App;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-ledger-e2e-'));
    ({ ws, jig, app } = await station(root, 'line1-jig01', { keepUnit: true }));
    await importFromStick(ws, app, 'release', await ws.stickWithBundle('1.0.0'));
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await jig?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('a failed board retested keeps its serial; every run carries the chip UID and its attempt; the passed, locked board is recognised', async () => {
    jig.firmware.inject({ extraCurrentMa: 120 }); // a short on the board: FAIL at boot current
    const failed = await run(jig, app);
    expect(failed).toMatchObject({ result: 'FAIL', failedStep: 'boot current', serial: 'WG000001', attempt: 1, flashes: 1 });
    expect(failed.chipUid).toMatch(/^[0-9a-f]{24}$/);
    jig.firmware.inject({ extraCurrentMa: 0 }); // repaired, put in again
    const passed = await run(jig, app);
    expect(passed).toMatchObject({ result: 'PASS', serial: 'WG000001', mac: '02:50:4a:00:00:01', chipUid: failed.chipUid, attempt: 2 });
    expect(passed.steps.find((s) => s.name === 'identity')?.data).toMatchObject({ reused: true, written: false });
    expect(jig.chip.locked).toBe(true);
    // the same board again: locked, and known by its UID (the STM32F1 keeps its UID readable when locked)
    const again = await run(jig, app);
    expect(again).toMatchObject({ result: 'ERROR', reason: 'ALREADY_PASSED', failedStep: 'program', serial: 'WG000001', chipUid: failed.chipUid, attempt: 3, flashes: 0 });
    expect(app.panel.screen).toMatchObject({ kind: 'fail', title: 'PASSED', reason: 'WG000001' });
    // one board, two flashes, one unit against the order
    expect(app.station.status().job?.flashed).toBe(1);
  }, 120_000);

  it('a board over the retest limit is put in QUARANTINE without being flashed', async () => {
    jig.newUnit();
    jig.firmware.inject({ extraCurrentMa: 120 });
    const one = await run(jig, app);
    const two = await run(jig, app);
    expect([one.serial, two.serial]).toEqual(['WG000002', 'WG000002']);
    const flashesBefore = app.books.ledger!.flashes;
    const three = await run(jig, app);
    expect(three).toMatchObject({ result: 'FAIL', reason: 'QUARANTINE', chipUid: one.chipUid, attempt: 3, flashes: 0 });
    expect(app.books.ledger!.flashes).toBe(flashesBefore);
    expect(app.panel.screen).toMatchObject({ kind: 'fail', title: 'QUARANTINE' });
    jig.firmware.inject({ extraCurrentMa: 0 });
  }, 120_000);

  /** The station stopped and started again; the jig too (the unit in the fixture is kept). */
  async function restart(): Promise<void> {
    await app.stop();
    await jig.close();
    jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, keepUnit: true });
    app = await startApp(ws.config, jig.hardware(), { log: () => {}, stickPollMs: 50 });
  }

  it('a record edited in the journal: JOURNAL DAMAGED, no unit runs until `pijig journal repair`, and the repair is in the chain', async () => {
    await app.stop();
    const path = join(ws.dataDir, 'units.jsonl');
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    lines[1] = lines[1]!.replace('"result":"PASS"', '"result":"FAIL"');
    await writeFile(path, `${lines.join('\n')}\n`);
    await jig.close();
    jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, keepUnit: true });
    app = await startApp(ws.config, jig.hardware(), { log: () => {}, stickPollMs: 50 });
    await expect.poll(() => app.station.state, { timeout: 10_000 }).toBe('error');
    expect(app.panel.screen).toEqual({ kind: 'fault', title: 'JOURNAL DAMAGED', lines: ['record #2', 'copy kept; engineer:', 'pijig journal repair'] });
    jig.newUnit();
    jig.setLid(true);
    await jig.press('start');
    expect(app.station.state).toBe('error');
    jig.setLid(false);
    await app.stop();

    const repair = await repairJournal(ws.dataDir, { by: 'test' });
    expect(repair?.replaced).toEqual([{ seq: 2, found: 'an edited record' }]);
    await app.stop();
    await restart();
    jig.newUnit();
    const after = await run(jig, app);
    expect(after).toMatchObject({ result: 'PASS', serial: 'WG000003' });
    const chain = await verifyChainFile(path, { seqField: 'seq' });
    expect(chain.finding).toBeUndefined();
    expect(chain.repairs.map((r) => r.seq)).toEqual([2]);
    const books = await verifyBooks(ws.dataDir);
    expect(books.problems).toEqual([]);
  }, 120_000);
});

describe('two stations, one bundle, one audit', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-audit-e2e-'));
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('each station numbers from its own block; the audit of both stations\' logs finds no duplicate, and names a hand-edited record', async () => {
    const blocks = {
      'line1-jig01': { serial: { prefix: 'WG', start: 1, count: 1000, digits: 6 }, mac: { start: '02:50:4a:00:00:01', count: 1000 } },
      'line1-jig02': { serial: { prefix: 'WG', start: 1001, count: 1000, digits: 6 }, mac: { start: '02:50:4a:00:10:00', count: 1000 } },
    };
    const a = await station(join(root, 'a'), 'line1-jig01', { blocks });
    const b = await station(join(root, 'b'), 'line1-jig02', { blocks, engineerFrom: a.ws.engineerDir });
    try {
      const stick = await a.ws.stickWithBundle('1.0.0'); // one bundle, signed once, for both stations
      await importFromStick(a.ws, a.app, 'release', stick);
      await importFromStick(b.ws, b.app, 'release', stick);
      const units = [await run(a.jig, a.app), await run(b.jig, b.app), await run(a.jig, a.app), await run(b.jig, b.app)];
      expect(units.map((u) => [u.station, u.serial, u.mac, u.result])).toEqual([
        ['line1-jig01', 'WG000001', '02:50:4a:00:00:01', 'PASS'],
        ['line1-jig02', 'WG001001', '02:50:4a:00:10:00', 'PASS'],
        ['line1-jig01', 'WG000002', '02:50:4a:00:00:02', 'PASS'],
        ['line1-jig02', 'WG001002', '02:50:4a:00:10:01', 'PASS'],
      ]);

      // one stick goes round both stations, then to the brand owner
      const logs = join(root, 'logs-stick');
      await mkdir(join(logs, 'pijig'), { recursive: true });
      for (const s of [a, b]) {
        const done = new Promise<void>((resolve) => s.app.usb!.on('done', () => resolve()));
        await insertStick(s.ws.mountDir, 'logs', logs);
        await done;
        await rm(logs, { recursive: true, force: true });
        await ejectStick(s.ws.mountDir, 'logs', logs);
      }
      const dirs = await findStationLogs(logs);
      expect(dirs.map((d) => d.split('/').at(-1))).toEqual(['line1-jig01', 'line1-jig02']);
      const keys = [await readFile(join(a.ws.dataDir, STATION_PUB_FILE), 'utf8'), await readFile(join(b.ws.dataDir, STATION_PUB_FILE), 'utf8')];
      const clean = await auditLogs(dirs, { stationKeys: keys });
      expect(clean.findings).toEqual([]);
      expect(clean).toMatchObject({ units: 4, boards: 4 });
      expect(clean.stations.map((s) => s.checkpoint?.seq)).toEqual([2, 2]);

      // someone edits a serial number on the stick
      const file = join(logs, 'pijig/logs/line1-jig02/units.jsonl');
      const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
      lines[0] = lines[0]!.replace('WG001001', 'WG000002');
      await writeFile(file, `${lines.join('\n')}\n`);
      const edited = await auditLogs(dirs, { stationKeys: keys });
      expect(edited.findings).toContain('line1-jig02: line 1: record #1 was edited (record #2 chained another line)');
      expect(edited.findings.some((f) => /^serial WG000002 is on 2 boards/.test(f))).toBe(true);
    } finally {
      for (const s of [a, b]) {
        await s.app.stop();
        await s.jig.close();
      }
    }
  }, 240_000);
});
