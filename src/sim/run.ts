import { join, resolve } from 'node:path';
import { DataDirLock } from '../records/data-lock.js';
import { STATION_PUB_FILE } from '../records/station-key.js';
import { mkdir, readFile } from 'node:fs/promises';
import { z } from 'zod';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApp, type App } from '../app.js';
import type { UnitRecord } from '../core/record.js';
import { mqttSchema } from '../config/station.js';
import type { StationState } from '../station/machine.js';
import { ejectStick, insertStick, pullStick } from './stick.js';
import { handler } from '../control/service.js';
import type { CommandTable } from '../control/server.js';
import { VirtualJig, type SimFault } from './jig.js';
import { prepareWorkspace, type SimWorkspace } from './workspace.js';
import { runTerminal, oledText } from './terminal.js';

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
  /** Publish to this MQTT broker (the station config's mqtt section with only a url). */
  mqtt?: string;
  out: (line: string) => void;
  verbose: boolean;
  /** The control socket (default: control.sock in the workspace). */
  socket?: string;
  /** No terminal: run until SIGINT/SIGTERM, driven over the control socket (`jig` commands). */
  headless?: boolean;
  /** Resolves when a headless sim should stop (default: SIGINT or SIGTERM). */
  until?: Promise<void>;
  version?: string;
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
    return await runLocked(opts, lock, (j) => (jig = j), (a) => (app = a));
  } finally {
    await app?.stop();
    await jig?.close();
    await lock.release();
  }
}

async function runLocked(opts: SimOptions, lock: DataDirLock, onJig: (jig: VirtualJig) => void, onApp: (app: App) => void): Promise<SimSummary> {
  const ws = await prepareWorkspace({ root: opts.root, stationFile: opts.stationFile, planFile: opts.planFile, fresh: opts.fresh, ...(opts.firmwareBytes ? { firmwareBytes: opts.firmwareBytes } : {}) });
  const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, keepUnit: opts.keepUnit, faults: opts.faults, labelDir: ws.labelsDir, ...(opts.dutLog ? { dutLog: resolve(opts.dutLog) } : {}) });
  onJig(jig);
  jig.printer?.on('printed', (l) => {
    if (opts.cycles !== undefined && l.file) opts.out(`  label: ${l.file}`);
  });
  const logs: string[] = [];
  const notes = new Set<(message: string) => void>();
  const log = (m: string) => {
    logs.push(m);
    for (const n of notes) n(m);
    if (opts.verbose || opts.cycles !== undefined) opts.out(`  · ${m}`);
  };
  if (opts.verbose) log(`data directory ${lock.dir}: lock taken`);
  const config = opts.mqtt === undefined ? ws.config : { ...ws.config, mqtt: mqttSchema.parse({ url: opts.mqtt }) };
  if (config.mqtt) opts.out(`mqtt: publishing to ${config.mqtt.url} under ${config.mqtt.topic_prefix}/${config.station_id}/ (units, status, events)`);
  const socket = opts.socket ?? join(ws.root, 'control.sock');
  let labels = 0;
  const nextLabel = () => `LBL-${new Date().toISOString().slice(2, 10).replace(/-/g, '')}-${String(++labels).padStart(4, '0')}`;
  const app = await startApp(config, jig.hardware(), { log, stickPollMs: 200, version: opts.version ?? '0.0.0', lock, command: 'pijig sim', control: { socket, commands: jigCommands(jig, nextLabel) } });
  onApp(app);
  if (opts.verbose) app.station.on('step', (r) => log(`step ${r.name} ${r.outcome}`));
  opts.out(`control socket: ${socket} (from another terminal: pijig status --socket ${socket}, or export PIJIG_SOCKET=${socket})`);
  {
    if (!(await app.store.active())) {
      opts.out('first run: the engineer signs release 1.0.0 of the demo firmware; a stick brings it to the jig');
      await deliverBundle(ws, app, '1.0.0', opts.out);
    }
    if (opts.cycles === undefined && opts.headless) {
      opts.out('headless: the virtual jig runs until SIGINT or SIGTERM; drive it with the control socket\'s "jig" command (docs/control.md)');
      await (opts.until ??
        new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        }));
      return { cycles: 0, unexpected: 0, openocdProcesses: jig.openocdProcesses };
    }
    if (opts.cycles === undefined) {
      await interactive(ws, jig, app, socket, nextLabel, notes);
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
      await insertStick(ws.mountDir, 'logs', await ws.emptyStick());
      await synced;
      // Pulled and taken to the engineer's PC: the logs stay where this says they are.
      const kept = await ejectStick(ws.mountDir, 'logs', join(ws.engineerDir, `stick-logs-${new Date().toISOString().replace(/[:.]/g, '-')}`));
      const csv = join(kept, 'pijig', 'logs', ws.config.station_id, 'units.csv');
      const lines = (await readFile(csv, 'utf8')).trim().split('\n');
      opts.out(`usb demo: the stick was pulled; its logs are kept in ${join(kept, 'pijig', 'logs', ws.config.station_id)}`);
      opts.out(`usb demo: ${csv} holds ${lines.length - 1} unit lines; the last:`);
      opts.out(`  ${lines.at(-1)}`);
      opts.out(`usb demo: the brand owner's check: pijig audit ${kept} --station-key ${join(ws.dataDir, STATION_PUB_FILE)}`);
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
  // each stick its own name: the watcher sees a new mount, as with a real re-insert
  const stick = `release-${version}`;
  await pullStick(ws.mountDir, stick);
  await importFromStick(ws, app, stick, contents, { version, onImported: () => out(`bundle ${version} verified, copied and activated`) });
}

/**
 * Insert a stick holding a bundle (`contents`, a folder), wait until the jig has imported it (of
 * `version`, when given; a refusal rejects, and so does no answer within 60 s), pull the stick and
 * load the new job.
 */
export async function importFromStick(ws: SimWorkspace, app: App, stick: string, contents: string, opts: { version?: string; onImported?: () => void } = {}): Promise<void> {
  const usb = app.usb;
  if (!usb) throw new Error('the station config has no media section: no USB stick port');
  const giveUp = new AbortController();
  const offs: (() => void)[] = [];
  const done = new Promise<void>((resolve, reject) => {
    offs.push(usb.on('imported', (r) => (opts.version === undefined || r.version === opts.version) && resolve()));
    offs.push(usb.on('refused', (err) => reject(err)));
    sleep(60_000, undefined, { signal: giveUp.signal }).then(() => reject(new Error(`the jig did not import the bundle on stick ${stick} within 60 s`)), () => {});
  });
  await insertStick(ws.mountDir, stick, contents);
  await done.finally(() => {
    giveUp.abort();
    for (const off of offs) off();
  });
  opts.onImported?.();
  await pullStick(ws.mountDir, stick);
  await app.reloadJob();
}

function bumpPatch(v: string): string {
  const [a, b, c] = v.split('.').map(Number);
  return `${a}.${b}.${(c ?? 0) + 1}`;
}

/**
 * The virtual jig's own commands on its control socket (act only): what the keys of its terminal
 * do, for scripts and tests driving a headless sim.
 */
function jigCommands(jig: VirtualJig, nextLabel: () => string): CommandTable {
  return {
    jig: handler({
      access: 'act',
      args: z.discriminatedUnion('action', [
        z.strictObject({ action: z.literal('lid'), closed: z.boolean() }),
        z.strictObject({ action: z.literal('press'), button: z.enum(['start', 'abort']) }),
        z.strictObject({ action: z.literal('scan'), label: z.string().max(200).optional() }),
        z.strictObject({ action: z.literal('clock'), synchronized: z.boolean() }),
      ]),
      run: async (a) => {
        if (a.action === 'lid') jig.setLid(a.closed);
        else if (a.action === 'press') await jig.press(a.button);
        else if (a.action === 'scan') {
          const label = a.label ?? nextLabel();
          jig.scanner.scan(label);
          return { label };
        } else jig.clock.synced = a.synchronized;
        return { lidClosed: jig.lidClosed, outputs: jig.outputs() };
      },
    }),
  };
}

/** `notes`: the service's log, and the jig's own messages, for the terminal's log lines. */
async function interactive(ws: SimWorkspace, jig: VirtualJig, app: App, socket: string, nextLabel: () => string, notes: Set<(message: string) => void>): Promise<void> {
  let stick: string | undefined;
  const pull = () => {
    if (!stick) return;
    const name = stick;
    stick = undefined;
    if (name !== 'logs') return void pullStick(ws.mountDir, name);
    // The logs stick goes to the engineer's PC: what was written to it stays, and the log says where.
    const keep = join(ws.engineerDir, `stick-logs-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    void ejectStick(ws.mountDir, name, keep).then(
      (kept) => notes.forEach((n) => n(`stick pulled; its logs are kept in ${join(kept, 'pijig', 'logs', ws.config.station_id)}`)),
      (err: Error) => notes.forEach((n) => n(`stick pulled: ${err.message}`)),
    );
  };
  await runTerminal(
    {
      oled: () => oledText(jig.panel.frame()),
      note: `socket ${socket}`,
      onNote: (listener) => {
        notes.add(listener);
        return () => notes.delete(listener);
      },
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
        b: ['scan', () => jig.scanner.scan(nextLabel())],
      },
    },
    app,
    { input: process.stdin, output: process.stdout },
  );
  pull();
}
