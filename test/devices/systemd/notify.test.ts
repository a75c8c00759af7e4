import { describe, it, expect, vi, afterEach, beforeAll } from 'vitest';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemdNotifier, startWatchdog, watchdogPeriodMs, NotifyError, type ServiceNotifier } from '../../../src/devices/systemd/notify.js';

/**
 * The receiving end of sd_notify, as systemd has it: a bound unix datagram socket (through the
 * same FFI, since Node has no datagram unix sockets). Reads never block: the sender's sendto has
 * already queued the datagram when notify returns.
 */
const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
let c: {
  socket: (d: number, t: number, p: number) => number;
  bind: (fd: number, addr: Buffer, len: number) => number;
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
  close: (fd: number) => number;
};
beforeAll(() => {
  const lib = koffi.load('libc.so.6');
  c = {
    socket: lib.func('int socket(int, int, int)'),
    bind: lib.func('int bind(int, const void *, uint32_t)'),
    recv: lib.func('intptr_t recv(int, void *, size_t, int)'),
    close: lib.func('int close(int)'),
  };
});

/** struct sockaddr_un, built here independently of the adapter: family 1, then the path. */
function sockaddr(address: string): Buffer {
  const path = address.startsWith('@') ? Buffer.concat([Buffer.of(0), Buffer.from(address.slice(1))]) : Buffer.from(`${address}\0`);
  return Buffer.concat([Buffer.of(1, 0), path]);
}

class Receiver {
  private constructor(private readonly fd: number) {}
  static bind(address: string): Receiver {
    const fd = c.socket(1, 2 | 0o2000000, 0);
    const addr = sockaddr(address);
    expect(c.bind(fd, addr, addr.length), `bind ${address}: errno ${koffi.errno()}`).toBe(0);
    return new Receiver(fd);
  }
  /** Every datagram queued so far. */
  drain(): string[] {
    const out: string[] = [];
    const buf = Buffer.alloc(4096);
    for (;;) {
      const n = Number(c.recv(this.fd, buf, buf.length, 0x40 /* MSG_DONTWAIT */));
      if (n < 0) return out;
      out.push(buf.subarray(0, n).toString());
    }
  }
  close(): void {
    c.close(this.fd);
  }
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
  vi.useRealTimers();
});

function tempSocketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pijig-notify-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'notify');
}

describe('systemdNotifier on a real unix datagram socket', () => {
  it('sends READY, STATUS, WATCHDOG and STOPPING to a socket path, one datagram each', () => {
    const path = tempSocketPath();
    const rx = Receiver.bind(path);
    cleanup.push(() => rx.close());
    const n = systemdNotifier({ NOTIFY_SOCKET: path });
    n.ready('fault: DEVICE MISSING');
    n.watchdog();
    n.status('running unit\nWG000001');
    n.stopping();
    expect(rx.drain()).toEqual(['READY=1\nSTATUS=fault: DEVICE MISSING', 'WATCHDOG=1', 'STATUS=running unit WG000001', 'STOPPING=1']);
  });

  it('reaches an abstract-namespace socket given as @name', () => {
    const name = `@pijig-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const rx = Receiver.bind(name);
    cleanup.push(() => rx.close());
    const n = systemdNotifier({ NOTIFY_SOCKET: name });
    n.ready();
    expect(rx.drain()).toEqual(['READY=1']);
  });

  it('reports a send that fails (nobody listening) through onError, without throwing', () => {
    const path = tempSocketPath();
    const rx = Receiver.bind(path);
    const errors: Error[] = [];
    const n = systemdNotifier({ NOTIFY_SOCKET: path }, { onError: (e) => errors.push(e) });
    rx.close();
    expect(() => n.watchdog()).not.toThrow();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(NotifyError);
    expect(errors[0]!.message).toMatch(/ECONNREFUSED|ENOENT/);
  });

  it('refuses an address systemd would never give', () => {
    expect(() => systemdNotifier({ NOTIFY_SOCKET: 'relative/notify' })).toThrow(NotifyError);
    expect(() => systemdNotifier({ NOTIFY_SOCKET: `/${'x'.repeat(120)}` })).toThrow(/longer than 108/);
  });

  it('is a no-op without NOTIFY_SOCKET', () => {
    const n = systemdNotifier({});
    expect(() => {
      n.ready();
      n.watchdog();
      n.status('x');
      n.stopping();
    }).not.toThrow();
  });
});

describe('startWatchdog', () => {
  const recorder = () => {
    const calls: string[] = [];
    const n: ServiceNotifier = { ready: () => calls.push('ready'), watchdog: () => calls.push('watchdog'), status: () => calls.push('status'), stopping: () => calls.push('stopping') };
    return { n, calls };
  };

  it('pings at once and then every half of WATCHDOG_USEC, until stopped', () => {
    vi.useFakeTimers();
    const { n, calls } = recorder();
    const stop = startWatchdog(n, { WATCHDOG_USEC: '10000000' });
    expect(calls).toEqual(['watchdog']);
    vi.advanceTimersByTime(4999);
    expect(calls).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(calls).toHaveLength(2);
    vi.advanceTimersByTime(15000);
    expect(calls).toHaveLength(5);
    stop();
    vi.advanceTimersByTime(60000);
    expect(calls).toHaveLength(5);
  });

  it('does nothing when the watchdog is off or meant for another process', () => {
    vi.useFakeTimers();
    const { n, calls } = recorder();
    startWatchdog(n, {});
    startWatchdog(n, { WATCHDOG_USEC: '0' });
    startWatchdog(n, { WATCHDOG_USEC: 'soon' });
    startWatchdog(n, { WATCHDOG_USEC: '2000000', WATCHDOG_PID: '1' }, undefined, 4242);
    vi.advanceTimersByTime(60000);
    expect(calls).toEqual([]);
  });

  it('pings for its own pid, and uses the timers it is given', () => {
    const intervals: number[] = [];
    const { n, calls } = recorder();
    const stop = startWatchdog(n, { WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' }, { setInterval: (_fn, ms) => intervals.push(ms), clearInterval: () => intervals.push(-1) }, 4242);
    stop();
    expect(calls).toEqual(['watchdog']);
    expect(intervals).toEqual([15000, -1]);
    expect(watchdogPeriodMs({ WATCHDOG_USEC: '1500' })).toBe(1);
  });
});
