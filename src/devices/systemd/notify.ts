import { UnixDatagramSocket } from './notify.koffi.js';

export { NotifyError } from './notify.koffi.js';

/**
 * The service manager port: what the station tells systemd about itself (sd_notify(3)).
 *
 * Contract: every method returns at once and never throws. A message that cannot be sent is
 * reported through `onError` (the service must not die because systemd is busy or gone); the
 * cost of a missed WATCHDOG=1 is a restart, which is what a hung event loop deserves anyway.
 * Outside systemd (no NOTIFY_SOCKET: a terminal, the virtual jig, tests) the notifier does nothing.
 */
export interface ServiceNotifier {
  /** READY=1: the station is up (also when it is up in a fault state). */
  ready(status?: string): void;
  /** WATCHDOG=1: the event loop is alive. */
  watchdog(): void;
  /** STATUS=...: one line shown by `systemctl status`. */
  status(text: string): void;
  /** STOPPING=1: shutting down on purpose. */
  stopping(): void;
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface NotifierOptions {
  onError?: (err: Error) => void;
}

/** The datagram transport of sd_notify. The real one is a unix datagram socket (notify.koffi.ts). */
export interface NotifySocket {
  send(message: string): void;
  close(): void;
}

const noop: ServiceNotifier = { ready() {}, watchdog() {}, status() {}, stopping() {} };

/** sd_notify's message format: newline-separated KEY=VALUE; a value cannot hold a newline. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

export class SocketNotifier implements ServiceNotifier {
  constructor(
    private readonly socket: NotifySocket,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  ready(status?: string): void {
    this.send(status === undefined ? 'READY=1' : `READY=1\nSTATUS=${oneLine(status)}`);
  }

  watchdog(): void {
    this.send('WATCHDOG=1');
  }

  status(text: string): void {
    this.send(`STATUS=${oneLine(text)}`);
  }

  stopping(): void {
    this.send('STOPPING=1');
  }

  private send(message: string): void {
    try {
      this.socket.send(message);
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/**
 * The notifier for this process: a no-op without NOTIFY_SOCKET, else the unix datagram socket
 * that systemd named (a path, or `@name` in the abstract namespace). The FFI library loads only
 * then. Throws NotifyError when the socket cannot be made (a bad address, no koffi for this platform).
 */
export function systemdNotifier(env: Env, opts: NotifierOptions = {}): ServiceNotifier {
  const address = env.NOTIFY_SOCKET;
  if (!address) return noop;
  return new SocketNotifier(UnixDatagramSocket.connect(address), opts.onError);
}

/**
 * Ping the watchdog from the event loop every half period systemd asked for (WatchdogSec= arrives
 * as WATCHDOG_USEC; WATCHDOG_PID, when set, must be this process). A blocked event loop stops the
 * pings and systemd restarts the service. Returns the function that stops the pings.
 */
export function startWatchdog(
  notifier: ServiceNotifier,
  env: Env,
  timers: { setInterval: (fn: () => void, ms: number) => unknown; clearInterval: (handle: never) => void } = { setInterval, clearInterval },
  pid: number = process.pid,
): () => void {
  const periodMs = watchdogPeriodMs(env, pid);
  if (periodMs === undefined) return () => {};
  notifier.watchdog();
  const handle = timers.setInterval(() => notifier.watchdog(), periodMs) as { unref?: () => void };
  handle?.unref?.();
  return () => timers.clearInterval(handle as never);
}

/** Half of WATCHDOG_USEC in milliseconds, or undefined when there is no watchdog for this process. */
export function watchdogPeriodMs(env: Env, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}
