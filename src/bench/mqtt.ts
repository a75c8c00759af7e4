import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchFigure } from './bench.js';
import { Mosquitto } from './mosquitto.js';
import { Journal } from '../records/journal.js';
import { JournalFollower } from '../outputs/follower.js';
import { MqttOutput, type MqttOutputOptions } from '../outputs/mqtt.js';
import type { UnitRecord } from '../core/record.js';

const RECORDS = 10_000;
const RECONNECT_MS = 1000;

function record(seq: number): UnitRecord {
  const pass = seq % 20 !== 0;
  return {
    seq,
    id: `bench-${seq}`,
    station: 'bench-01',
    plan: { name: 'blinky-production', product: 'blinky' },
    image: { bundleId: 'b'.repeat(64), version: '1.4.2', imageHash: 'a'.repeat(64), regions: { application: 'd'.repeat(64) } },
    serial: `BLK-${seq.toString().padStart(8, '0')}`,
    startedAt: new Date(Date.UTC(2025, 0, 1) + seq * 20_000).toISOString(),
    endedAt: new Date(Date.UTC(2025, 0, 1) + seq * 20_000 + 9_000).toISOString(),
    durationMs: 9_000,
    result: pass ? 'PASS' : 'FAIL',
    ...(pass ? {} : { failedStep: 'current', reason: 'LIMIT_HIGH' as const }),
    steps: [
      { name: 'program', kind: 'program', outcome: 'pass', startedAt: '2025-01-01T00:00:00.000Z', durationMs: 6200, measurements: [] },
      { name: 'current', kind: 'current', outcome: pass ? 'pass' : 'fail', startedAt: '2025-01-01T00:00:06.200Z', durationMs: 400, measurements: [{ name: 'idle', value: pass ? 12.3 : 23.1, unit: 'mA', limit: { min: 5, max: 20, unit: 'mA' }, verdict: pass ? 'pass' : 'fail' }] },
    ],
  };
}

/** A journal of `RECORDS` records, written in one go (the journal's own format) so the figure is the output's, not fsync's. */
async function journalAt(dir: string): Promise<Journal> {
  const lines: string[] = [];
  for (let seq = 1; seq <= RECORDS; seq++) lines.push(`${JSON.stringify(record(seq))}\n`);
  await writeFile(join(dir, 'units.jsonl'), lines.join(''));
  return Journal.open(join(dir, 'units.jsonl'));
}

function delivered(follower: JournalFollower, seq: number): Promise<void> {
  return new Promise((resolve) => {
    const off = follower.on('delivered', (_name, position) => {
      if (position.seq >= seq) {
        off();
        resolve();
      }
    });
  });
}

/** Time to deliver RECORDS records to a connected broker. */
async function throughput(dir: string, options: MqttOutputOptions): Promise<number> {
  await mkdir(dir, { recursive: true });
  const journal = await journalAt(dir);
  const output = new MqttOutput(options);
  const up = new Promise<void>((resolve) => output.onReady(resolve));
  await output.start();
  await up;
  const follower = new JournalFollower({ journal, dataDir: dir });
  const done = delivered(follower, RECORDS);
  const t0 = performance.now();
  follower.add(output);
  await done;
  const ms = performance.now() - t0;
  await follower.stop();
  await output.stop();
  await journal.close();
  return ms;
}

/**
 * MQTT to a local mosquitto (Debian's, started here on a free port with its own config, persistence
 * on): records per second acknowledged (QoS 1 PUBACK, the follower's cursor saved after each batch
 * of 100), and the drain of a 10,000-record backlog when the broker comes back.
 */
export async function run(): Promise<BenchFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'pijig-bench-mqtt-'));
  const broker = await Mosquitto.start({ dir });
  try {
    const options = { url: broker.url, clientId: 'pijig-bench-01', station: 'bench-01', topicPrefix: 'bench', reconnectMs: RECONNECT_MS };

    // 1. throughput: connected, 10k records waiting in the journal
    const throughputMs = await throughput(join(dir, 'a'), options);
    // the same against mosquitto's default set_tcp_nodelay false
    const slow = await Mosquitto.start({ dir: join(dir, 'nagle'), tcpNoDelay: false });
    let naggedMs: number;
    try {
      naggedMs = await throughput(join(dir, 'a2'), { ...options, url: slow.url });
    } finally {
      await slow.stop();
    }

    // 2. the broker goes away; 10k records wait in the journal; it comes back
    await broker.stop();
    const b = join(dir, 'b');
    await mkdir(b);
    const backlog = await journalAt(b);
    const away = new MqttOutput(options);
    const follower2 = new JournalFollower({ journal: backlog, dataDir: b, backoff: { initialMs: 1000, maxMs: 60_000 } });
    const failed = new Promise<void>((resolve) => follower2.once('failed', () => resolve()));
    await away.start();
    follower2.add(away);
    await failed;
    const heldWhileAway = away.status().inflight;
    const connected = new Promise<number>((resolve) => away.onReady(() => resolve(performance.now())));
    const drained = delivered(follower2, RECORDS);
    const t0 = performance.now();
    await broker.launch();
    const back = performance.now();
    const reconnectedAt = await connected;
    await drained;
    const drainedAt = performance.now();
    await follower2.stop();
    await away.stop();
    await backlog.close();

    return [
      { name: 'mqtt: records acknowledged per second', value: RECORDS / (throughputMs / 1000), unit: 'rec/s', method: `${RECORDS} records (${JSON.stringify(record(1)).length} B each) from a real Journal, QoS 1, batches of 100 (PUBACK for each, then the cursor fsync'd), local mosquitto with set_tcp_nodelay true` },
      { name: 'mqtt: the same, mosquitto set_tcp_nodelay false', value: RECORDS / (naggedMs / 1000), unit: 'rec/s', method: "mosquitto's default: Nagle holds its PUBACKs until the client's delayed ACK (~40 ms per batch)" },
      { name: 'mqtt: drain a 10k backlog after the broker is back', value: drainedAt - t0, unit: 'ms', method: `broker start to the last PUBACK: its start-up (${(back - t0).toFixed(0)} ms), the client's next attempt (reconnect every ${RECONNECT_MS} ms), then the backlog` },
      { name: 'mqtt: of which publishing the backlog', value: drainedAt - reconnectedAt, unit: 'ms', method: 'CONNACK to the last PUBACK (the follower retries at once when the output reconnects)' },
      { name: 'mqtt: messages held in memory while away', value: heldWhileAway, unit: 'msgs', method: `mqtt.js outgoing store + offline queue with ${RECORDS} records waiting in the journal` },
    ];
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
