import { readFile } from 'node:fs/promises';
import type { IClientOptions, MqttClient } from 'mqtt';
import { PijigError } from '../core/errors.js';
import type { StepRecord, UnitRecord } from '../core/record.js';
import type { OutputStatus } from './follower.js';
import type { RecordOutput } from './output.js';
import {
  mqttTopics,
  offlineStatus,
  progressEvent,
  recordEvent,
  statusOf,
  stepEvent,
  type CycleSnapshot,
  type EventMessage,
  type StationSnapshot,
} from './mqtt-messages.js';

export type MqttErrorCode = 'MQTT_OFFLINE' | 'MQTT_ACK_TIMEOUT';

/** A batch the broker did not acknowledge: its records stay in the journal and are sent again. */
export class MqttError extends PijigError<MqttErrorCode> {}

export interface MqttOutputOptions {
  /** mqtt://host[:port] or mqtts://host[:port]. */
  url: string;
  clientId: string;
  station: string;
  topicPrefix: string;
  username?: string;
  /** Read (first line) each time the output starts connecting. */
  passwordFile?: string;
  /** PEM files, read each time the output starts connecting. */
  tls?: { ca?: string; cert?: string; key?: string };
  keepaliveS?: number;
  /** Wait between connection attempts (default 5 s). */
  reconnectMs?: number;
  /** TCP + TLS + CONNACK (default 10 s). */
  connectTimeoutMs?: number;
  /** A batch not acknowledged within this fails and is sent again (default 30 s). */
  ackTimeoutMs?: number;
  /** The retained status goes out on change, at most this often (default 1 s). */
  statusIntervalMs?: number;
  /** Records per write: per batch of PUBACKs (default 100). */
  batchSize?: number;
  log?: (message: string) => void;
}

/**
 * connecting: an attempt is under way; online: connected; offline: the last attempt failed or the
 * connection was lost, the next one is due; stopped.
 */
export type MqttConnectionState = 'connecting' | 'online' | 'offline' | 'stopped';

export interface MqttConnectionStatus {
  url: string;
  clientId: string;
  state: MqttConnectionState;
  connected: boolean;
  /** When the state began. */
  since: string;
  /** The latest connection problem (kept after reconnecting, with its time). */
  lastError?: string;
  lastErrorAt?: string;
  /** Messages the MQTT client holds in memory: published, not yet acknowledged. Never more than one batch; 0 while offline. */
  inflight: number;
}

/** The MQTT output as `pijig status` shows it: the connection, and where the records stand. */
export interface MqttStatus extends MqttConnectionStatus {
  /** Records in the journal the broker has not acknowledged yet. */
  backlog: number;
  /** seq of the last record the broker acknowledged. */
  position: number;
  /** Batches that failed in a row, and when the next try is due. */
  failures: number;
  retryAt?: string;
}

/** What the output reads of the station: `Station` fits it (outputs/ does not import station/). */
export interface StationFeed {
  status(): StationSnapshot;
  on(event: 'state' | 'job' | 'fault', listener: () => void): () => void;
  on(event: 'progress', listener: (progress: CycleSnapshot) => void): () => void;
  on(event: 'step', listener: (step: StepRecord) => void): () => void;
  on(event: 'record', listener: (record: UnitRecord) => void): () => void;
}

// openssl's verify codes that mean "not signed by a CA we trust".
const UNTRUSTED = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_SIGNATURE_FAILURE']);

/**
 * Unit records, the station's status and its step events on an MQTT broker (mqtt.js).
 *
 * Records: each is published QoS 1 to `<prefix>/<station>/units`; `write()` resolves only when the
 * broker has acknowledged (PUBACK) every record of the batch, and only then does the follower move
 * its cursor. Nothing waits in memory: while the broker is away `write()` fails at once and the
 * records stay in the journal; when the connection drops mid-batch, the batch's messages are taken
 * back from the client (so it neither keeps nor resends them) and the follower sends the batch
 * again: delivery is at least once, and the record's `id` tells a consumer it has one already.
 *
 * Status: retained at `<prefix>/<station>/status`, on every connect and on change (at most every
 * `statusIntervalMs`); the last will, retained there too, says `online: false`. Events: QoS 0 at
 * `<prefix>/<station>/events`, dropped while offline.
 *
 * A broker that is away, refuses the station or fails TLS shows in `status()` and the log; it never
 * throws into the station.
 */
export class MqttOutput implements RecordOutput {
  readonly name = 'mqtt';
  readonly batchSize: number;
  readonly topics: { units: string; status: string; events: string };
  private client: MqttClient | undefined;
  private state: MqttConnectionState = 'connecting';
  private since = new Date();
  private lastError: { message: string; at: Date } | undefined;
  private lastLogged: string | undefined;
  private everConnected = false;
  private readonly readyListeners = new Set<() => void>();
  private readonly stateWaiters = new Set<() => void>();
  private retryFiles: NodeJS.Timeout | undefined;
  private feed: StationFeed | undefined;
  private offFeed: (() => void)[] = [];
  private statusTimer: NodeJS.Timeout | undefined;
  private lastStatusAt = 0;
  private lastStatusJson: string | undefined;
  private readonly log: (message: string) => void;
  private readonly o: Required<Pick<MqttOutputOptions, 'keepaliveS' | 'reconnectMs' | 'connectTimeoutMs' | 'ackTimeoutMs' | 'statusIntervalMs'>>;

  constructor(private readonly options: MqttOutputOptions) {
    this.batchSize = options.batchSize ?? 100;
    this.topics = mqttTopics(options.topicPrefix, options.station);
    this.log = options.log ?? (() => {});
    this.o = {
      keepaliveS: options.keepaliveS ?? 30,
      reconnectMs: options.reconnectMs ?? 5000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
      statusIntervalMs: options.statusIntervalMs ?? 1000,
    };
  }

  private get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Start connecting (returns at once; the connection comes and goes by itself from now on). */
  async start(): Promise<void> {
    if (this.client || this.stopped) return;
    this.setState('connecting');
    let settings: IClientOptions;
    try {
      settings = await this.clientOptions();
    } catch (err) {
      this.failed(err as Error);
      this.setState('offline');
      // The file may appear (an engineer copies the CA): read it again later.
      this.retryFiles = setTimeout(() => {
        this.retryFiles = undefined;
        void this.start();
      }, this.o.reconnectMs);
      return;
    }
    if (this.stopped) return;
    const { connect } = await import('mqtt');
    if (this.stopped) return;
    const client = connect(this.options.url, settings);
    this.client = client;
    client.on('connect', () => this.onConnect());
    client.on('reconnect', () => this.setState('connecting'));
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.failed(err));
  }

  /** Publish the station's status (retained) and its step events from now on. Returns the detach function. */
  attach(feed: StationFeed): () => void {
    this.feed = feed;
    const changed = () => this.statusChanged();
    this.offFeed = [
      feed.on('state', changed),
      feed.on('job', changed),
      feed.on('fault', changed),
      feed.on('progress', (p) => {
        this.event(progressEvent(this.options.station, p, new Date()));
        changed();
      }),
      feed.on('step', (s) => this.event(stepEvent(this.options.station, s, new Date()))),
      feed.on('record', (r) => {
        this.event(recordEvent(this.options.station, r, new Date()));
        changed();
      }),
    ];
    this.lastStatusJson = undefined;
    this.statusChanged();
    return () => this.detach();
  }

  async write(records: readonly UnitRecord[]): Promise<void> {
    const client = await this.online();
    const acks = records.map((r) => client.publishAsync(this.topics.units, JSON.stringify(r), { qos: 1 }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.takeBackInflight();
        reject(new MqttError('MQTT_ACK_TIMEOUT', `${this.options.url} did not acknowledge ${records.length} record(s) within ${this.o.ackTimeoutMs} ms; they are sent again`));
      }, this.o.ackTimeoutMs);
    });
    try {
      await Promise.race([Promise.all(acks), timeout]);
    } catch (err) {
      if (err instanceof MqttError) throw err;
      throw new MqttError('MQTT_OFFLINE', `connection to ${this.options.url} lost before it acknowledged record #${records[0]?.seq}..#${records.at(-1)?.seq}${this.lastError ? ` (${this.lastError.message})` : ''}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The follower retries at once when the broker is back, instead of waiting out its backoff. */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  status(): MqttConnectionStatus {
    const client = this.client;
    return {
      url: this.options.url,
      clientId: this.options.clientId,
      state: this.state,
      connected: this.state === 'online',
      since: this.since.toISOString(),
      ...(this.lastError ? { lastError: this.lastError.message, lastErrorAt: this.lastError.at.toISOString() } : {}),
      inflight: client ? Object.keys(client.outgoing).length + client.queue.length : 0,
    };
  }

  /** Say goodbye (retained `online: false, reason: stopped`) when connected, and disconnect. Stop the follower first. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.detach();
    clearTimeout(this.retryFiles);
    const client = this.client;
    const wasOnline = this.state === 'online';
    this.setState('stopped');
    if (!client) return;
    const deadline = <T>(p: Promise<T>) => Promise.race([p, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
    if (wasOnline) await deadline(client.publishAsync(this.topics.status, JSON.stringify(offlineStatus(this.options.station, 'stopped', new Date())), { qos: 1, retain: true }).catch(() => {}));
    await deadline(client.endAsync());
    client.end(true);
  }

  private async clientOptions(): Promise<IClientOptions> {
    const { tls, passwordFile, username } = this.options;
    const file = async (field: string, path: string): Promise<Buffer> => {
      try {
        return await readFile(path);
      } catch (err) {
        throw new Error(`mqtt.${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    };
    let password: Buffer | undefined;
    if (passwordFile !== undefined) {
      const first = (await file('password_file', passwordFile)).toString('utf8').split(/\r?\n/)[0] ?? '';
      if (!first) throw new Error(`mqtt.password_file: ${passwordFile} is empty`);
      password = Buffer.from(first, 'utf8');
    }
    return {
      clientId: this.options.clientId,
      protocolVersion: 4,
      clean: true, // the journal is the session: nothing is resent from the client's memory
      keepalive: this.o.keepaliveS,
      reconnectPeriod: this.o.reconnectMs,
      connectTimeout: this.o.connectTimeoutMs,
      reconnectOnConnackError: true, // refused credentials may be fixed on the broker: keep trying
      queueQoSZero: false, // events while offline are dropped, never queued
      resubscribe: false,
      ...(username !== undefined ? { username } : {}),
      ...(password ? { password } : {}),
      ...(tls?.ca ? { ca: await file('tls.ca', tls.ca) } : {}),
      ...(tls?.cert ? { cert: await file('tls.cert', tls.cert) } : {}),
      ...(tls?.key ? { key: await file('tls.key', tls.key) } : {}),
      rejectUnauthorized: true,
      will: { topic: this.topics.status, payload: Buffer.from(JSON.stringify(offlineStatus(this.options.station, 'connection lost'))), qos: 1, retain: true },
    };
  }

  private onConnect(): void {
    if (this.state === 'stopped') return;
    const again = this.everConnected;
    this.everConnected = true;
    const offlineSince = this.since;
    this.setState('online');
    this.lastLogged = undefined;
    this.log(`mqtt: connected to ${this.options.url} as ${this.options.clientId}${again ? ` (offline since ${offlineSince.toISOString()})` : ''}`);
    // The retained status may be the last will or stale: always publish it on connect.
    this.lastStatusJson = undefined;
    this.lastStatusAt = 0;
    clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    this.statusChanged();
    for (const listener of this.readyListeners) listener();
  }

  private onClose(): void {
    // Take back what the client holds: the follower sends the batch again from the journal.
    this.takeBackInflight();
    if (this.state === 'stopped') return;
    if (this.state === 'online') {
      const cause = this.lastError && this.lastError.at >= this.since ? this.lastError.message : undefined;
      if (!cause) this.lastError = { message: `the connection to ${this.options.url} was closed`, at: new Date() };
      this.log(`mqtt: connection to ${this.options.url} lost${cause ? ` (${cause})` : ''}; records wait in the journal`);
    }
    this.setState('offline');
  }

  private takeBackInflight(): void {
    const client = this.client;
    if (!client) return;
    for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
  }

  private failed(err: Error): void {
    const message = this.describe(err);
    this.lastError = { message, at: new Date() };
    if (message !== this.lastLogged) this.log(`mqtt: ${message}`);
    this.lastLogged = message;
  }

  private setState(state: MqttConnectionState): void {
    if (this.state === state) return;
    if (this.state === 'stopped') return;
    this.state = state;
    this.since = new Date();
    for (const wake of this.stateWaiters) wake();
  }

  /** The client, when connected; while an attempt is under way, its outcome; else fail at once. */
  private async online(): Promise<MqttClient> {
    if (this.state === 'connecting') {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.stateWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, this.o.connectTimeoutMs + 1000);
        this.stateWaiters.add(done);
      });
    }
    if (this.state === 'online' && this.client?.connected) return this.client;
    const why = this.state === 'stopped' ? 'the output is stopped' : (this.lastError?.message ?? this.state);
    throw new MqttError('MQTT_OFFLINE', `not connected to ${this.options.url}: ${why}`);
  }

  private detach(): void {
    for (const off of this.offFeed) off();
    this.offFeed = [];
    this.feed = undefined;
    clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
  }

  /** Publish the status soon: at once if the last one is older than the interval, else when it is. */
  private statusChanged(): void {
    if (!this.feed || this.statusTimer || this.state !== 'online') return;
    const wait = Math.max(0, this.lastStatusAt + this.o.statusIntervalMs - Date.now());
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.publishStatus();
    }, wait);
  }

  private publishStatus(): void {
    const client = this.client;
    if (!this.feed || !client || this.state !== 'online') return; // published on the next connect
    const status = statusOf(this.options.station, this.feed.status());
    const json = JSON.stringify(status);
    if (json === this.lastStatusJson) return;
    this.lastStatusJson = json;
    this.lastStatusAt = Date.now();
    client.publish(this.topics.status, JSON.stringify({ ...status, at: new Date().toISOString() }), { qos: 1, retain: true }, (err) => {
      if (err && this.lastStatusJson === json) this.lastStatusJson = undefined; // lost with the connection: sent again on connect
    });
  }

  private event(message: EventMessage): void {
    const client = this.client;
    if (!client || this.state !== 'online') return;
    client.publish(this.topics.events, JSON.stringify(message), { qos: 0 }, () => {});
  }

  private describe(err: Error & { code?: string | number }): string {
    const { url, clientId, username, passwordFile, tls } = this.options;
    const u = new URL(url);
    const where = `${u.hostname}:${u.port || (u.protocol === 'mqtts:' ? 8883 : 1883)}`;
    const code = err.code;
    if (typeof code === 'number') {
      // CONNACK return codes (MQTT 3.1.1) and reason codes (MQTT 5)
      const credentials = username === undefined ? 'no username is configured (mqtt.username, mqtt.password_file)' : `check mqtt.username "${username}"${passwordFile ? ` and mqtt.password_file ${passwordFile}` : ''}`;
      if (code === 4 || code === 134) return `${where} refused the username or password: ${credentials} [CONNACK ${code}]`;
      if (code === 5 || code === 135) return `${where} refused the station: not authorized; ${credentials}, or the broker's ACL [CONNACK ${code}]`;
      if (code === 2 || code === 133) return `${where} refused the client id "${clientId}" (mqtt.client_id) [CONNACK ${code}]`;
      return `${where} refused the connection: ${err.message} [CONNACK ${code}]`;
    }
    if (typeof code === 'string' && UNTRUSTED.has(code)) {
      return `TLS: the certificate of ${where} is not signed by ${tls?.ca ? `the CA in mqtt.tls.ca (${tls.ca})` : 'a CA this system trusts (set mqtt.tls.ca)'}: connection refused [${code}]`;
    }
    if (typeof code === 'string' && /^ERR_SSL_.*ALERT_(CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|ACCESS_DENIED)$/.test(code)) {
      // the broker's TLS alert: it did not accept this station's client certificate (or its absence)
      return tls?.cert
        ? `TLS: ${where} refused the station's client certificate (mqtt.tls.cert ${tls.cert}): not signed by a CA it trusts, expired or revoked [${code}]`
        : `TLS: ${where} refused the station: it asks for a client certificate (set mqtt.tls.cert and mqtt.tls.key) [${code}]`;
    }
    switch (code) {
      case 'ERR_SSL_WRONG_VERSION_NUMBER':
        return `TLS handshake with ${where} failed: it does not speak TLS on this port (mqtt:// for a plain port) [${code}]`;
      case 'ERR_TLS_CERT_ALTNAME_INVALID':
        return `TLS: the certificate of ${where} is not issued for ${u.hostname} [${code}]`;
      case 'CERT_HAS_EXPIRED':
      case 'CERT_NOT_YET_VALID':
        return `TLS: the certificate of ${where} is not valid now (${err.message}) [${code}]`;
      case 'ECONNREFUSED':
        return `connection refused: nothing listens on ${where} [${code}]`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `host ${u.hostname} not found [${code}]`;
      case 'ETIMEDOUT':
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `cannot reach ${where} [${code}]`;
      case 'ECONNRESET':
      case 'EPIPE': // written to a connection the broker had closed
        return `${where} closed the connection [${code}]`;
      case 'EPROTO':
        return `TLS handshake with ${where} failed: ${err.message.split('\n')[0]}${u.protocol === 'mqtts:' ? ' (is it a TLS port?)' : ''} [${code}]`;
    }
    if (err.message === 'connack timeout') return `no MQTT answer from ${where} within ${this.o.connectTimeoutMs} ms${u.protocol === 'mqtt:' ? ' (a TLS port needs mqtts://)' : ''}`;
    if (err.message === 'Keepalive timeout') return `${where} stopped answering (keepalive ${this.o.keepaliveS} s)`;
    if (/^mqtt\./.test(err.message)) return err.message; // a file of the configuration
    return `${where}: ${err.message}${typeof code === 'string' ? ` [${code}]` : ''}`;
  }
}

/** The MQTT output and where its records stand (the follower's status of it), for `pijig status`. */
export function mqttStatus(output: MqttOutput, follower: { status(): OutputStatus[] }): MqttStatus {
  const delivery = follower.status().find((s) => s.name === output.name);
  return {
    ...output.status(),
    backlog: delivery?.pending ?? 0,
    position: delivery?.position ?? 0,
    failures: delivery?.failures ?? 0,
    ...(delivery?.retryAt ? { retryAt: delivery.retryAt } : {}),
  };
}
