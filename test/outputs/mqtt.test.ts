import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { Journal } from '../../src/records/journal.js';
import { JournalFollower } from '../../src/outputs/follower.js';
import { MqttOutput, mqttStatus, type MqttOutputOptions } from '../../src/outputs/mqtt.js';
import { unitMessageSchema } from '../../src/outputs/mqtt-messages.js';
import { Mosquitto } from '../../src/bench/mosquitto.js';
import { tempDir, unit } from '../media/helpers.js';
import { Subscriber, until } from '../helpers/mqtt.js';

/** Everything a test started, stopped at its end (brokers last). */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function broker(options: Omit<Parameters<typeof Mosquitto.start>[0], 'dir'> & { dir?: string } = {}): Promise<Mosquitto> {
  const b = await Mosquitto.start({ dir: options.dir ?? (await tempDir('pijig-mosquitto-')), ...options });
  cleanups.push(() => b.stop('SIGKILL'));
  return b;
}

async function subscriber(url: string, filter: string, options: Parameters<typeof Subscriber.connect>[2] = {}): Promise<Subscriber> {
  const s = await Subscriber.connect(url, filter, options);
  cleanups.push(() => s.close());
  return s;
}

/** One station: its journal, the follower, the MQTT output on it. */
async function station(name: string, options: Partial<MqttOutputOptions> & Pick<MqttOutputOptions, 'url'>) {
  const dir = await tempDir('pijig-mqtt-station-');
  const journal = await Journal.open(join(dir, 'units.jsonl'));
  const logs: string[] = [];
  const output = new MqttOutput({ clientId: `pijig-${name}`, station: name, topicPrefix: 'line1', reconnectMs: 100, connectTimeoutMs: 3000, log: (m) => logs.push(m), ...options });
  const follower = new JournalFollower({ journal, dataDir: dir, backoff: { initialMs: 20, maxMs: 300 }, log: (m) => logs.push(m) });
  const failures: string[] = [];
  follower.on('failed', (_name, err) => failures.push(err.message));
  follower.add(output);
  await output.start();
  cleanups.push(async () => {
    await follower.stop();
    await output.stop();
    await journal.close();
  });
  const acked = () => follower.status()[0]?.position ?? 0;
  return { name, dir, journal, output, follower, logs, failures, acked };
}

const ORDER_IN = (texts: string[]) => {
  const first: string[] = [];
  const seen = new Set<string>();
  for (const t of texts) {
    const id = (JSON.parse(t) as { id: string }).id;
    if (!seen.has(id)) first.push(id);
    seen.add(id);
  }
  return first;
};

describe('the MQTT output against a real mosquitto', () => {
  it('1,000 records from two stations reach a persistent subscriber while the broker is stopped and restarted five times mid-stream: every id, in journal order per station, nothing held in memory while it is away', async () => {
    const b = await broker();
    const sub = await subscriber(b.url, 'line1/+/units', { clientId: 'line1-mes', clean: false });
    const stations = await Promise.all(['jig-a', 'jig-b'].map((n) => station(n, { url: b.url, batchSize: 25 })));
    const PER_STATION = 500;
    const idOf = (s: string, i: number) => `${s}-${String(i).padStart(4, '0')}`;
    const producing = (async () => {
      for (let i = 1; i <= PER_STATION; i++) for (const s of stations) await s.journal.append(unit(i, { station: s.name, id: idOf(s.name, i) }));
    })();
    cleanups.push(() => producing);
    const acked = () => stations.reduce((n, s) => n + s.acked(), 0);

    for (const threshold of [80, 240, 400, 560, 720]) {
      await until(() => acked() >= threshold, `${threshold} records acknowledged`);
      const failuresBefore = stations.map((s) => s.failures.length);
      await b.stop();
      // away: every station notices (a write fails), and nothing waits in the client's memory
      await until(() => stations.every((s, i) => s.failures.length > failuresBefore[i]! && !s.output.status().connected), 'both stations to notice');
      for (const s of stations) {
        expect(s.output.status()).toMatchObject({ connected: false, inflight: 0 });
        expect(mqttStatus(s.output, s.follower)).toMatchObject({ connected: false, lastError: expect.stringMatching(/nothing listens|closed/) });
      }
      await b.launch();
    }
    await producing;
    await until(() => stations.every((s) => s.acked() === PER_STATION), 'every record acknowledged', 120_000);
    await sub.until((r) => new Set(r.map((m) => m.text)).size >= 2 * PER_STATION, 'every record at the subscriber', 120_000);

    for (const s of stations) {
      const texts = sub.on(`line1/${s.name}/units`).map((m) => m.text);
      // at least once, in order: the first appearance of each id is the journal's order
      expect(ORDER_IN(texts)).toEqual(Array.from({ length: PER_STATION }, (_, i) => idOf(s.name, i + 1)));
      const first = unitMessageSchema.parse(JSON.parse(texts[0]!));
      expect(first).toMatchObject({ seq: 1, station: s.name, id: idOf(s.name, 1) });
      expect(mqttStatus(s.output, s.follower)).toMatchObject({ connected: true, backlog: 0, position: PER_STATION, inflight: 0 });
      expect(s.logs.filter((l) => l.startsWith('mqtt: connected to')), s.logs.join('\n')).toHaveLength(6); // the first connect and five reconnects
    }
  }, 240_000);

  it('TLS: a broker whose certificate the test CA signed is trusted; with another CA the station refuses it and says why; client certificates; a CA file put in place later', async () => {
    const dir = await tempDir('pijig-mqtt-tls-');
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    for (const name of ['line-ca', 'other-ca']) ssl('req', '-x509', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
    ssl('req', ...newKey, '-keyout', 'broker.key', '-out', 'broker.csr', '-subj', '/CN=broker');
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl('x509', '-req', '-in', 'broker.csr', '-CA', 'line-ca.pem', '-CAkey', 'line-ca.key', '-CAcreateserial', '-out', 'broker.pem', '-days', '2', '-extfile', 'san.ext');
    const lineCa = join(dir, 'line-ca.pem');
    const otherCa = join(dir, 'other-ca.pem');
    const b = await broker({ tls: { cafile: lineCa, certfile: join(dir, 'broker.pem'), keyfile: join(dir, 'broker.key') } });
    expect(b.url).toMatch(/^mqtts:/);
    const sub = await subscriber(b.url, 'line1/+/units', { ca: await readFile(lineCa) });

    const trusted = await station('jig-tls', { url: b.url, tls: { ca: lineCa } });
    for (let i = 1; i <= 3; i++) await trusted.journal.append(unit(i, { station: 'jig-tls' }));
    await sub.until((r) => r.length >= 3, 'three records over TLS');
    expect(sub.received.map((m) => JSON.parse(m.text).seq)).toEqual([1, 2, 3]);
    expect(trusted.output.status()).toMatchObject({ connected: true });

    const fooled = await station('jig-wrong-ca', { url: b.url, tls: { ca: otherCa } });
    for (let i = 1; i <= 2; i++) await fooled.journal.append(unit(i, { station: 'jig-wrong-ca' }));
    await until(() => fooled.failures.length >= 3, 'three refused attempts');
    const port = new URL(b.url).port;
    const why = `TLS: the certificate of 127.0.0.1:${port} is not signed by the CA in mqtt.tls.ca (${otherCa}): connection refused`;
    expect(fooled.output.status()).toMatchObject({ connected: false, lastError: expect.stringContaining(why) });
    expect(mqttStatus(fooled.output, fooled.follower)).toMatchObject({ connected: false, backlog: 2, position: 0, lastError: expect.stringContaining(why) });
    // the follower's own status says it too, and the output logs it once, not once per attempt
    expect(fooled.follower.status()[0]!.lastError).toContain(why);
    expect(fooled.logs.filter((l) => l.startsWith('mqtt: ') && l.includes(why))).toHaveLength(1);
    expect(sub.on('line1/jig-wrong-ca/units')).toEqual([]);

    // a broker that asks for client certificates: the station's, signed by the line CA, is accepted; none is refused, clearly
    ssl('req', ...newKey, '-keyout', 'jig.key', '-out', 'jig.csr', '-subj', '/CN=jig-cert');
    ssl('x509', '-req', '-in', 'jig.csr', '-CA', 'line-ca.pem', '-CAkey', 'line-ca.key', '-CAcreateserial', '-out', 'jig.pem', '-days', '2');
    const strict = await broker({ dir: await tempDir('pijig-mosquitto-'), tls: { cafile: lineCa, certfile: join(dir, 'broker.pem'), keyfile: join(dir, 'broker.key'), requireCertificate: true } });
    const strictSub = await subscriber(strict.url, 'line1/+/units', { ca: await readFile(lineCa), cert: await readFile(join(dir, 'jig.pem')), key: await readFile(join(dir, 'jig.key')) });
    const withCert = await station('jig-cert', { url: strict.url, tls: { ca: lineCa, cert: join(dir, 'jig.pem'), key: join(dir, 'jig.key') } });
    await withCert.journal.append(unit(1, { station: 'jig-cert' }));
    await strictSub.until((r) => r.some((m) => m.topic === 'line1/jig-cert/units'), 'the record of the station with a client certificate');
    const noCert = await station('jig-no-cert', { url: strict.url, tls: { ca: lineCa } });
    await noCert.journal.append(unit(1, { station: 'jig-no-cert' }));
    await until(() => noCert.failures.length >= 2, 'refused attempts');
    expect(noCert.output.status()).toMatchObject({ connected: false, lastError: expect.stringContaining(`TLS: 127.0.0.1:${new URL(strict.url).port} refused the station: it asks for a client certificate (set mqtt.tls.cert and mqtt.tls.key)`) });

    // a CA file that is not there yet: the output says so, and connects once an engineer puts it in place
    const later = join(dir, 'installed-later.pem');
    const waiting = await station('jig-no-ca', { url: b.url, tls: { ca: later } });
    await waiting.journal.append(unit(1, { station: 'jig-no-ca' }));
    await until(() => waiting.output.status().lastError === `mqtt.tls.ca: cannot read ${later} (ENOENT)`, 'the missing file in the status');
    expect(mqttStatus(waiting.output, waiting.follower)).toMatchObject({ connected: false, backlog: 1 });
    await writeFile(later, await readFile(lineCa));
    await sub.until((r) => r.some((m) => m.topic === 'line1/jig-no-ca/units'), 'the record once the CA is there');
  }, 60_000);
});
