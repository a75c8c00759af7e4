import { join } from 'node:path';
import { mkdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { startApp, type App } from '../app.js';
import type { UnitRecord } from '../core/record.js';
import { mqttSchema } from '../config/station.js';
import type { StationState } from '../station/machine.js';
import { insertStick, pullStick } from './stick.js';
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
  /** Publish to this MQTT broker (the station config's mqtt section with only a url). */
  mqtt?: string;
  out: (line: string) => void;
  verbose: boolean;
}

export interface SimSummary {
  cycles: number;
  unexpected: number;
  openocdProcesses: number;
}

/** `pijig sim`: the whole service on the virtual jig. */
export async function runSim(opts: SimOptions): Promise<SimSummary> {
  const ws = await prepareWorkspace({ root: opts.root, stationFile: opts.stationFile, planFile: opts.planFile, fresh: opts.fresh });
  const jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, keepUnit: opts.keepUnit, faults: opts.faults, labelDir: ws.labelsDir });
  jig.printer?.on('printed', (l) => {
    if (opts.cycles !== undefined && l.file) opts.out(`  label: ${l.file}`);
  });
  const logs: string[] = [];
  const log = (m: string) => {
    logs.push(m);
    if (opts.verbose || opts.cycles !== undefined) opts.out(`  · ${m}`);
  };
  const config = opts.mqtt === undefined ? ws.config : { ...ws.config, mqtt: mqttSchema.parse({ url: opts.mqtt }) };
  if (config.mqtt) opts.out(`mqtt: publishing to ${config.mqtt.url} under ${config.mqtt.topic_prefix}/${config.station_id}/ (units, status, events)`);
  const app = await startApp(config, jig.hardware(), { log, stickPollMs: 200 });
  try {
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
      const synced = new Promise<void>((resolve) => app.usb?.on('done', () => resolve()));
      const root = await insertStick(ws.mountDir, 'logs', await ws.emptyStick());
      await synced;
      const csv = join(root, 'pijig', 'logs', ws.config.station_id, 'units.csv');
      const lines = (await readFile(csv, 'utf8')).trim().split('\n');
      opts.out(`usb demo: ${csv} holds ${lines.length - 1} unit lines; the last:`);
      opts.out(`  ${lines.at(-1)}`);
      await pullStick(ws.mountDir, 'logs');
    }
    return { cycles: opts.cycles, unexpected, openocdProcesses: jig.openocdProcesses };
  } finally {
    await app.stop();
    await jig.close();
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
  await jig.press('start');
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
