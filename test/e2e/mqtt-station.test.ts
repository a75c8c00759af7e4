import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { startApp, type App } from '../../src/app.js';
import { loadStation } from '../../src/config/station.js';
import { SimGpioChip } from '../../src/devices/gpio/gpio.sim.js';
import { SimI2cBus } from '../../src/devices/i2c/i2c.sim.js';
import { SimOledPanel } from '../../src/devices/display/panel.sim.js';
import { Mosquitto } from '../../src/bench/mosquitto.js';
import { eventMessageSchema, statusMessageSchema, unitMessageSchema, type StatusMessage } from '../../src/outputs/mqtt-messages.js';
import type { UnitRecord } from '../../src/core/record.js';
import { tempDir } from '../media/helpers.js';
import { Subscriber, until } from '../helpers/mqtt.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function broker(options: { passwordFile?: string } = {}): Promise<Mosquitto> {
  const b = await Mosquitto.start({ dir: await tempDir('pijig-mosquitto-'), ...options });
  cleanups.push(() => b.stop('SIGKILL'));
  return b;
}

async function subscriber(...args: Parameters<typeof Subscriber.connect>): Promise<Subscriber> {
  const s = await Subscriber.connect(...args);
  cleanups.push(() => s.close());
  return s;
}

const LINE = { start: 17, abort: 27, lid: 22 } as const;

/** The whole station (app.ts) on simulated GPIO and I2C with a plan of instant steps, publishing to `mqtt`. */
async function jig(stationId: string, mqtt: string) {
  const dir = await tempDir('pijig-mqtt-jig-');
  await writeFile(join(dir, 'plan.yaml'), 'name: line test\nproduct: widget\nsteps:\n  - { name: settle, kind: delay, params: { ms: 0 } }\n  - { name: check, kind: delay, params: { ms: 0 } }\n');
  await writeFile(
    join(dir, 'station.yaml'),
    `station_id: ${stationId}
data_dir: data
plan: plan.yaml
gpio:
  inputs:
    start: { line: ${LINE.start}, debounce_ms: 0 }
    abort: { line: ${LINE.abort}, debounce_ms: 0 }
    lid_closed: { line: ${LINE.lid}, debounce_ms: 0 }
  outputs:
    dut_power: { line: 24 }
display: { controller: ssd1306 }
mqtt:
${mqtt.replace(/^/gm, '  ')}
`,
  );
  const config = await loadStation(join(dir, 'station.yaml'));
  const gpio = new SimGpioChip();
  const i2c = new SimI2cBus(1);
  i2c.attach(0x3c, new SimOledPanel({ controller: 'ssd1306' }));
  const logs: string[] = [];
  const app = await startApp(config, { gpio, i2c, probe: undefined, console: undefined }, { log: (m) => logs.push(m) });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.stop();
  };
  cleanups.push(stop);
  /** One unit: lid closed, START, its record, lid opened - driven by the station's own events. */
  const unit = async (): Promise<UnitRecord> => {
    const recorded = new Promise<UnitRecord>((resolve) => app.station.once('record', resolve));
    gpio.setActive(LINE.lid, true);
    await until(() => app.station.status().lidClosed && app.station.state === 'ready', 'lid closed, ready');
    gpio.setActive(LINE.start, true);
    const record = await recorded;
    gpio.setActive(LINE.start, false);
    await until(() => app.station.state === 'pass', 'PASS shown');
    gpio.setActive(LINE.lid, false);
    await until(() => app.station.state === 'ready', 'ready again');
    return record;
  };
  return { dir, app: app as App, logs, unit, stop, topic: (t: string) => `line1/${stationId}/${t}` };
}

const statusOf = (text: string) => statusMessageSchema.parse(JSON.parse(text)) as StatusMessage;

describe('the station on an MQTT broker (app.ts, simulated hardware, real mosquitto)', () => {
  it('wrong credentials: a clear status and one log line; units keep running; once the broker accepts the station nothing is missing; a later subscriber sees the retained status; stopping says offline', async () => {
    const dir = await tempDir('pijig-mqtt-auth-');
    const passwords = join(dir, 'passwords');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwords, 'mes', 'mes-secret']);
    execFileSync('mosquitto_passwd', ['-b', passwords, 'jig-auth', 'right-password']);
    const b = await broker({ passwordFile: passwords });
    const sub = await subscriber(b.url, 'line1/jig-auth/units', { clientId: 'mes', clean: false, username: 'mes', password: 'mes-secret' });

    await writeFile(join(dir, 'jig.password'), 'wrong-password\n');
    const j = await jig('jig-auth', `url: ${b.url}\ntopic_prefix: line1\nusername: jig-auth\npassword_file: ${join(dir, 'jig.password')}\nreconnect_ms: 200`);

    const why = `127.0.0.1:${new URL(b.url).port} refused the station: not authorized; check mqtt.username "jig-auth" and mqtt.password_file ${join(dir, 'jig.password')}`;
    await until(() => j.app.mqttStatus!().lastError?.includes(why) === true, 'the refusal in the status');
    // units keep running while the broker refuses the station; their records wait in the journal
    const records: UnitRecord[] = [];
    for (let i = 0; i < 3; i++) records.push(await j.unit());
    expect(records.map((r) => r.result)).toEqual(['PASS', 'PASS', 'PASS']);
    await until(() => j.app.mqttStatus!().backlog === 3, 'a backlog of 3');
    expect(j.app.mqttStatus!()).toMatchObject({ connected: false, state: expect.stringMatching(/offline|connecting/), backlog: 3, position: 0, inflight: 0, lastError: expect.stringContaining(why) });
    expect(j.app.follower.status().find((o) => o.name === 'mqtt')).toMatchObject({ pending: 3, lastError: expect.stringContaining(why) });
    expect(j.logs.filter((l) => l.startsWith(`mqtt: ${why}`))).toHaveLength(1);
    expect(sub.received).toEqual([]);

    // the broker's administrator gives the station the password it has: everything arrives, in order
    execFileSync('mosquitto_passwd', ['-b', passwords, 'jig-auth', 'wrong-password']);
    b.reload();
    await sub.until((r) => r.length >= 3, 'the three records');
    expect(sub.received.map((m) => unitMessageSchema.parse(JSON.parse(m.text)).id)).toEqual(records.map((r) => r.id));
    await until(() => j.app.mqttStatus!().backlog === 0, 'no backlog');
    expect(j.app.mqttStatus!()).toMatchObject({ connected: true, state: 'online', position: 3, failures: 0 });
    expect(j.logs.filter((l) => l.startsWith(`mqtt: connected to ${b.url} as pijig-jig-auth`))).toHaveLength(1);

    // a dashboard that connects now gets the retained status at once
    const late = await subscriber(b.url, j.topic('status'), { username: 'mes', password: 'mes-secret' });
    await late.until((r) => r.some((m) => m.retain && (statusOf(m.text) as { counts?: { pass: number } }).counts?.pass === 3), 'the retained status');
    const retained = statusOf(late.received.filter((m) => m.retain).at(-1)!.text);
    expect(retained).toMatchObject({ station: 'jig-auth', online: true, state: 'ready', counts: { pass: 3, fail: 0, error: 0 }, last: { seq: 3, id: records[2]!.id, result: 'PASS' }, job: { plan: 'line test', product: 'widget' }, lidClosed: false, dutPowered: false, faults: [] });

    // stopping the service says so (retained), no last will needed
    await j.stop();
    const after = await subscriber(b.url, j.topic('status'), { username: 'mes', password: 'mes-secret' });
    await after.until((r) => r.some((m) => m.retain), 'the retained status after stop');
    expect(statusOf(after.received[0]!.text)).toMatchObject({ station: 'jig-auth', online: false, reason: 'stopped', at: expect.any(String) });
  }, 120_000);

  it('the status is rate-limited but always goes out on connect; step events and records flow as units run', async () => {
    const b = await broker();
    const sub = await subscriber(b.url, 'line1/jig-rate/#', { clientId: 'dashboard' });
    // one status per hour at most: only connects publish it in this test
    const j = await jig('jig-rate', `url: ${b.url}\ntopic_prefix: line1\nreconnect_ms: 200\nstatus_interval_ms: 3600000`);
    await sub.until((r) => r.some((m) => m.topic === j.topic('status')), 'the status on connect');
    const records = [await j.unit(), await j.unit()];
    await sub.until((r) => r.filter((m) => m.topic === j.topic('units')).length === 2, 'both records');
    await sub.until((r) => r.filter((m) => m.topic === j.topic('events') && JSON.parse(m.text).type === 'record').length === 2, 'both record events');
    const events = sub.on(j.topic('events')).map((m) => eventMessageSchema.parse(JSON.parse(m.text)));
    expect(events.filter((e) => e.type === 'step').map((e) => (e as { step: { name: string } }).step.name)).toEqual(['settle', 'check', 'settle', 'check']);
    expect(events.filter((e) => e.type === 'progress').length).toBeGreaterThanOrEqual(4);
    expect(events.filter((e) => e.type === 'record').map((e) => (e as { unit: { id: string } }).unit.id)).toEqual(records.map((r) => r.id));
    expect(sub.on(j.topic('status')).map((m) => statusOf(m.text))).toEqual([expect.objectContaining({ online: true, state: 'ready', counts: { pass: 0, fail: 0, error: 0 } })]);
    expect(sub.on(j.topic('events')).every((m) => !m.retain) && sub.on(j.topic('units')).every((m) => !m.retain)).toBe(true);

    // the broker restarts: on connect the station publishes its status as it is now, interval or not
    await b.restart();
    await sub.until((r) => r.some((m) => m.topic === j.topic('status') && (statusOf(m.text) as { counts?: { pass: number } }).counts?.pass === 2), 'the status after the reconnect');
    expect(statusOf(sub.on(j.topic('status')).at(-1)!.text)).toMatchObject({ online: true, counts: { pass: 2 }, last: { seq: 2, id: records[1]!.id } });
  }, 120_000);

  it('`pijig sim --mqtt URL` publishes to that broker; when the jig dies its last will marks it offline for anyone who subscribes later', async () => {
    const b = await broker();
    const sub = await subscriber(b.url, 'pijig/line1-jig01/#', { clientId: 'line-view', clean: false });
    const workspace = await tempDir('pijig-sim-mqtt-');
    // the interactive virtual jig, its keys on stdin: l = lid, s = START
    const sim = execa(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'sim', '--data-dir', workspace, '--mqtt', b.url], { cwd: ROOT, reject: false, timeout: 180_000, killSignal: 'SIGKILL', stdin: 'pipe', stdout: 'ignore', stderr: 'pipe' });
    cleanups.push(async () => {
      sim.kill('SIGKILL');
      await sim;
    });
    const status = () => sub.on('pijig/line1-jig01/status').map((m) => statusOf(m.text));
    const ready = (s: StatusMessage) => s.online && s.state === 'ready' && s.job?.version === '1.0.0';
    await sub.until(() => status().some(ready), 'the jig ready with the demo release', 120_000);
    sim.stdin!.write('l');
    await sub.until(() => status().some((s) => ready(s) && s.online && s.lidClosed), 'the lid closed', 60_000);
    sim.stdin!.write('s');
    await sub.until((r) => r.some((m) => m.topic === 'pijig/line1-jig01/units'), 'the unit record', 120_000);
    const record = unitMessageSchema.parse(JSON.parse(sub.on('pijig/line1-jig01/units')[0]!.text));
    expect(record).toMatchObject({ seq: 1, station: 'line1-jig01', result: 'PASS', serial: 'WG000001' });
    await sub.until(() => status().some((s) => s.online && s.state === 'pass'), 'PASS in the status', 60_000);

    sim.kill('SIGKILL'); // the jig loses power: no goodbye, the broker publishes its last will
    await sim;
    await sub.until(() => status().some((s) => !s.online), 'the last will');
    expect(status().at(-1)).toEqual({ station: 'line1-jig01', online: false, reason: 'connection lost' });
    const later = await subscriber(b.url, 'pijig/+/status', { clientId: 'late-view' });
    await later.until((r) => r.length > 0, 'the retained status');
    expect(later.received[0]).toMatchObject({ topic: 'pijig/line1-jig01/status', retain: true });
    expect(statusOf(later.received[0]!.text)).toEqual({ station: 'line1-jig01', online: false, reason: 'connection lost' });
  }, 240_000);
});
