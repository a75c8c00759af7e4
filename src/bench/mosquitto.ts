import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * A local mosquitto (Debian's `mosquitto` package) for the bench and the MQTT tests: its own
 * configuration file in `dir`, one listener on 127.0.0.1 on a free port, persistence in `dir` (so a
 * persistent subscriber's queue survives a restart, as on a real line broker). Stopped with
 * SIGTERM (mosquitto saves its persistence file then), SIGKILL after 5 s.
 */
export interface MosquittoOptions {
  dir: string;
  port?: number;
  /** PEM files: the listener speaks TLS only; with requireCertificate, clients need a certificate signed by cafile. */
  tls?: { cafile: string; certfile: string; keyfile: string; requireCertificate?: boolean };
  /** A mosquitto_passwd file: anonymous clients are refused. */
  passwordFile?: string;
  /**
   * `set_tcp_nodelay` (default true). mosquitto's default (false) lets Nagle hold back its PUBACKs
   * until the client's delayed ACK (40 ms on Linux): a batch of QoS 1 messages then waits ~40 ms.
   */
  tcpNoDelay?: boolean;
}

export function mosquittoBinary(): string {
  const candidates = [process.env['MOSQUITTO'], '/usr/sbin/mosquitto', '/usr/bin/mosquitto'].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(`mosquitto not found (${candidates.join(', ')}): apt-get install mosquitto mosquitto-clients`);
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export class Mosquitto {
  readonly output: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly options: MosquittoOptions & { port: number },
    readonly configFile: string,
  ) {}

  get url(): string {
    return `${this.options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.options.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  static async start(options: MosquittoOptions): Promise<Mosquitto> {
    const port = options.port ?? (await freePort());
    await mkdir(options.dir, { recursive: true });
    const configFile = join(options.dir, 'mosquitto.conf');
    const lines = [
      'per_listener_settings false',
      `listener ${port} 127.0.0.1`,
      ...(options.tls ? [`cafile ${options.tls.cafile}`, `certfile ${options.tls.certfile}`, `keyfile ${options.tls.keyfile}`, `require_certificate ${options.tls.requireCertificate ? 'true' : 'false'}`] : []),
      options.passwordFile ? `password_file ${options.passwordFile}` : '',
      `allow_anonymous ${options.passwordFile ? 'false' : 'true'}`,
      'persistence true',
      `persistence_location ${options.dir}/`,
      'max_queued_messages 0', // no cap on a persistent subscriber's queue
      `set_tcp_nodelay ${options.tcpNoDelay === false ? 'false' : 'true'}`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      // as root, mosquitto would switch to the mosquitto user, who cannot read this folder
      process.getuid?.() === 0 ? 'user root' : '',
    ];
    await writeFile(configFile, `${lines.filter(Boolean).join('\n')}\n`);
    const broker = new Mosquitto({ ...options, port }, configFile);
    await broker.launch();
    return broker;
  }

  /** Start it again on the same port, with the same persistence. */
  async launch(): Promise<void> {
    if (this.child) throw new Error('mosquitto is running');
    const child = spawn(mosquittoBinary(), ['-c', this.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        if (this.child === child) this.child = undefined;
        resolve();
      }),
    );
    await new Promise<void>((resolve, reject) => {
      let text = '';
      const deadline = setTimeout(() => fail(new Error(`mosquitto did not start within 10 s:\n${text}`)), 10_000);
      const fail = (err: Error) => {
        clearTimeout(deadline);
        child.kill('SIGKILL');
        reject(err);
      };
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        text += chunk;
        this.output.push(...chunk.split('\n').filter(Boolean));
        if (/ running$/m.test(text)) {
          clearTimeout(deadline);
          resolve();
        }
      });
      child.once('exit', (code, signal) => fail(new Error(`mosquitto exited (${code ?? signal}) at start:\n${text}`)));
      child.once('error', fail);
    });
  }

  /** SIGTERM (persistence saved), SIGKILL after 5 s; resolves when it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(kill);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** SIGHUP: mosquitto reads its password file again. */
  reload(): void {
    this.child?.kill('SIGHUP');
  }
}
