import { join, resolve } from 'node:path';
import { DataDirLock } from '../records/data-lock.js';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApp, type App } from '../app.js';
import type { UnitRecord } from '../core/record.js';
import type { StationState } from '../station/machine.js';
import { ejectStick, insertStick, pullStick } from './stick.js';
import { STATION_PUB_FILE } from '../records/station-key.js';
import { VirtualJig, type SimFault } from './jig.js';
import { prepareWorkspace, type SimWorkspace } from './workspace.js';
import { runTerminal, toQuadrants } from './terminal.js';

export interface SimOptions {
  root: string;
  stationFile: string;
  planFile: string;
  /** Unattended: run this many cycles and exit; otherwise the interactive terminal. */
  cycles?: number;
  faults: SimFault[];
  keepUnit: boolean;
  fresh: boolean;
  /** Save an OLED screenshot of each result here. */
  screenshots?: string;
  /** Unattended USB round trip: new bundle on a stick, cycles, pull, insert again for the logs. */
  usbDemo: boolean;
  out: (line: string) => void;
  verbose: boolean;
  /** Size of the demo firmware image in bytes (default 4096). */
  firmwareBytes?: number;
  /** The virtual jig's DUT log (see VirtualJigOptions.dutLog). */
  dutLog?: string;
  /** Wait up to this long for another process to free the data directory (default: refuse at once). */
  waitLockMs?: number;
}

export interface SimSummary {
  cycles: number;
  unexpected: number;
  openocdProcesses: number;
}

/** `pijig sim`: the whole service on the virtual jig. */
export async function runSim(opts: SimOptions): Promise<SimSummary> {
  // One process per data directory: the lock comes before anything in the workspace is touched.
  const lock = await DataDirLock.acquire(join(resolve(opts.root), 'data'), 'pijig sim', opts.waitLockMs ? { waitMs: opts.waitLockMs } : {});
  let jig: VirtualJig | undefined;
  let app: App | undefined;
  try {
    const ws = await prepareWorkspace({ root: opts.root, stationFile: opts.stationFile, planFile: opts.planFile, fresh: opts.fresh, ...(opts.firmwareBytes ? { firmwareBytes: opts.firmwareBytes } : {}) });
    jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, keepUnit: opts.keepUnit, faults: opts.faults, labelDir: ws.labelsDir, ...(opts.dutLog ? { dutLog: resolve(opts.dutLog) } : {}) });
    jig.printer?.on('printed', (l) => {
      if (opts.cycles !== undefined && l.file) opts.out(`  label: ${l.file}`);
    });
    const log = (m: string) => {
      if (opts.verbose || opts.cycles !== undefined) opts.out(`  · ${m}`);
    };
    if (opts.verbose) log(`data directory ${lock.dir}: lock taken`);
    app = await startApp(ws.config, jig.hardware(), { log, stickPollMs: 200, lock, command: 'pijig sim' });
    if (opts.verbose) app.station.on('step', (r) => log(`step ${r.name} ${r.outcome}`));
    return await runWith(opts, ws, jig, app);
  } finally {
    await app?.stop();
    await jig?.close();
    await lock.release();
  }
}

async function runWith(opts: SimOptions, ws: SimWorkspace, jig: VirtualJig, app: App): Promise<SimSummary> {
  {
    if (!(await app.store.active())) {
      opts.out('first run: the engineer signs release 1.0.0 of the demo firmware; a stick brings it to the jig');
      await deliverBundle(ws, app, '1.0.0', opts.out);
    }
    if (opts.cycles === undefined) {
      await interactive(ws, jig, app);
      return { cycles: 0, unexpected: 0, openocdProcesses: jig.openocdProcesses };
    }
    if (opts.usbDemo) {
      const active = await app.store.active();
      const next = bumpPatch(active?.manifest.version ?? '1.0.0');
      opts.out(`usb demo: a stick with signed release ${next} is inserted`);
      await deliverBundle(ws, app, next, opts.out);
    }
    // an injected fault makes a reject (FAIL) or a unit the jig could not judge (ERROR); none, a PASS
    const expected: readonly string[] = opts.faults.length ? ['FAIL', 'ERROR'] : ['PASS'];
    let unexpected = 0;
    for (let i = 1; i <= opts.cycles; i++) {
      const record = await oneCycle(jig, app);
      const ok = record !== undefined && expected.includes(record.result);
      if (!ok) unexpected++;
      const what = record ? `${record.serial ?? '-'} ${record.result}${record.reason ? ` ${record.failedStep}: ${record.reason} ${record.message ?? ''}` : ''} ${(record.durationMs / 1000).toFixed(1)} s` : 'no record';
      opts.out(`cycle ${i}/${opts.cycles}: ${what}${ok ? '' : `   <- expected ${expected.join(' or ')}`}`);
      if (opts.screenshots) {
        await mkdir(opts.screenshots, { recursive: true });
        await jig.panel.savePng(join(opts.screenshots, `cycle-${String(i).padStart(3, '0')}-${record?.result ?? 'none'}.png`));
      }
      jig.setLid(false);
      await waitState(app, ['ready'], 30_000);
    }
    if (opts.usbDemo) {
      opts.out('usb demo: the stick is pulled, then inserted again to collect the logs');
      await sleep(400);
      const synced = new Promise<void>((resolve) => app.usb?.on('done', (o) => o.stick.name === 'logs' && resolve()));
      await pullStick(ws.mountDir, 'logs'); // one left in the port (a run cut short) comes out first
      const root = await insertStick(ws.mountDir, 'logs', await ws.emptyStick());
      await synced;
      const csv = join(root, 'pijig', 'logs', ws.config.station_id, 'units.csv');
      const lines = (await readFile(csv, 'utf8')).trim().split('\n');
      opts.out(`usb demo: ${csv} holds ${lines.length - 1} unit lines; the last:`);
      opts.out(`  ${lines.at(-1)}`);
      // The stick goes to the engineer's desk, logs and signed checkpoint on it.
      const desk = join(ws.engineerDir, 'logs-stick');
      await rm(desk, { recursive: true, force: true });
      await ejectStick(ws.mountDir, 'logs', desk);
      opts.out(`usb demo: the stick is on the engineer's desk: pijig audit ${desk} --station-key ${join(ws.dataDir, STATION_PUB_FILE)}`);
    }
    return { cycles: opts.cycles, unexpected, openocdProcesses: jig.openocdProcesses };
  }
}

/** Close the lid, press START, wait for the result; the record of this cycle. */
export async function oneCycle(jig: VirtualJig, app: App): Promise<UnitRecord | undefined> {
  const before = app.journal.count;
  const got = new Promise<UnitRecord>((resolve) => {
    const off = app.station.on('record', (r) => {
      off();
      resolve(r);
    });
  });
  jig.setLid(true);
  await waitState(app, ['ready'], 30_000);
  await sleep(60); // lid debounce
  // START is refused while a stick is being handled (IMPORTING IMAGE): the operator presses it again.
  const refused = { busy: false };
  const offRefused = app.station.on('refused', (r) => void (r.reason === 'busy' && (refused.busy = true)));
  try {
    for (let tries = 0; ; tries++) {
      refused.busy = false;
      await jig.press('start');
      if (!refused.busy || tries >= 600) break;
      await sleep(100);
    }
  } finally {
    offRefused();
  }
  const giveUp = new AbortController();
  const record = await Promise.race([got, sleep(180_000, undefined, { signal: giveUp.signal }).then(() => undefined, () => undefined)]);
  giveUp.abort();
  await waitState(app, ['pass', 'fail', 'unit_error', 'aborted', 'error'], 30_000);
  return record && record.seq > before ? record : undefined;
}

async function waitState(app: App, states: StationState[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!states.includes(app.station.state)) {
    if (Date.now() > deadline) throw new Error(`the station stayed in ${app.station.state}; expected ${states.join(' or ')}`);
    await sleep(10);
  }
}

async function deliverBundle(ws: SimWorkspace, app: App, version: string, out: (l: string) => void): Promise<void> {
  const contents = await ws.stickWithBundle(version);
  const giveUp = new AbortController();
  const done = new Promise<void>((resolve, reject) => {
    app.usb?.on('imported', (r) => r.version === version && resolve());
    app.usb?.on('refused', (err) => reject(err));
    sleep(60_000, undefined, { signal: giveUp.signal }).then(() => reject(new Error(`the jig did not import bundle ${version} within 60 s`)), () => {});
  });
  // each stick its own name: the watcher sees a new mount, as with a real re-insert
  const stick = `release-${version}`;
  await pullStick(ws.mountDir, stick);
  await insertStick(ws.mountDir, stick, contents);
  await done.finally(() => giveUp.abort());
  out(`bundle ${version} verified, copied and activated`);
  await pullStick(ws.mountDir, stick);
  await app.reloadJob();
}

function bumpPatch(v: string): string {
  const [a, b, c] = v.split('.').map(Number);
  return `${a}.${b}.${(c ?? 0) + 1}`;
}

async function interactive(ws: SimWorkspace, jig: VirtualJig, app: App): Promise<void> {
  let stick: string | undefined;
  const pull = () => {
    if (!stick) return;
    const name = stick;
    stick = undefined;
    void pullStick(ws.mountDir, name);
  };
  await runTerminal(
    {
      oled: () => toQuadrants(jig.panel.frame()),
      get lidClosed() {
        return jig.lidClosed;
      },
      setLid: (closed) => jig.setLid(closed),
      press: (b) => void jig.press(b),
      outputs: () => jig.outputs(),
      extraKeys: {
        i: [
          'stick+image',
          () => {
            pull();
            void (async () => {
              const active = await app.store.active();
              const next = bumpPatch(active?.manifest.version ?? '1.0.0');
              stick = `release-${next}`;
              await insertStick(ws.mountDir, stick, await ws.stickWithBundle(next));
            })();
          },
        ],
        u: [
          'stick',
          () => {
            pull();
            stick = 'logs';
            void ws.emptyStick().then((c) => insertStick(ws.mountDir, 'logs', c));
          },
        ],
        p: ['pull', pull],
      },
    },
    app,
    { input: process.stdin, output: process.stdout },
  );
  pull();
}
