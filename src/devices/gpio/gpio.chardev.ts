import { closeSync, openSync, readdirSync, readSync, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import type { DigitalInput, DigitalOutput, GpioChip, InputSpec, OutputSpec } from './gpio.js';
import { GpioError, pickPiChip } from './gpio.js';
import { DebouncedInput, PolarOutput } from './lines.js';
import {
  BIAS_FLAG,
  IOCTL,
  LINE_FLAG,
  SIZEOF,
  decodeChipInfo,
  decodeLineEvents,
  decodeLineInfo,
  decodeLineValues,
  encodeLineInfoQuery,
  encodeLineRequest,
  encodeLineValues,
  requestFd,
  type LineEvent,
  type LineRequest,
} from './gpio.uapi.js';

/**
 * GPIO on the Linux character device (/dev/gpiochipN, uAPI v2) through koffi: bias, active-low,
 * debounce and timestamped edges per line, on every current kernel (sysfs GPIO is deprecated and
 * cannot set pull resistors; HARDWARE.md "GPIO on current Raspberry Pi kernels").
 *
 * Event loop: the ioctls used here (GET_LINE, GET/SET_VALUES, chip/line info) return at once;
 * waiting for edges is one poll() on a libuv worker thread (koffi's async call) over every line
 * fd plus an eventfd that wakes it for close(). Line fds are non-blocking and read only after
 * poll() said they are readable, so nothing here can block the loop. The cost is one of libuv's
 * four pool threads, held while the chip is open.
 *
 * Debounce is the kernel's (GPIO_V2_LINE_ATTR_ID_DEBOUNCE, per line), not debounce.ts: the same
 * rule (a new level is reported once it has held for the period), but contact bounce stays in the
 * kernel: no wake-up of the event loop per bounce, and the per-line event buffer (16 events) is
 * not flooded by a bouncing switch, which would drop events. The kernel counts the period in
 * jiffies (4 ms steps at HZ=250). Active-low is the kernel's too, so levels and edge ids are
 * already logical (rising = became active), and `gpioinfo` shows the line as pijig sees it.
 */

const POLLIN = 0x1;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
/** Events read per read(): the kernel returns whole events only. */
const EVENTS_PER_READ = 16;

/** The few libc calls the adapter needs. */
export interface Libc {
  /** ioctl(fd, request, arg); throws SysError on -1. Never blocks for the requests used here. */
  ioctl(fd: number, request: number, arg: Buffer): void;
  /** Set O_NONBLOCK. */
  setNonBlocking(fd: number): void;
  /** eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) */
  eventfd(): number;
  /** poll() on a worker thread; resolves with each fd's revents. */
  pollAsync(fds: readonly number[], timeoutMs: number): Promise<number[]>;
}

export class SysError extends Error {
  override name = 'SysError';
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(`${call}: ${code} (errno ${errno})`);
  }
}

/** libc through koffi (prebuilt for linux x64 and arm64: no compiler on the Pi). */
export async function loadLibc(): Promise<Libc> {
  const koffi = (await import('koffi')).default;
  const lib = koffi.load('libc.so.6');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  const eventfd = lib.func('int eventfd(unsigned int initval, int flags)');
  const poll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)');
  const names = new Map(Object.entries(koffi.os.errno).map(([name, n]) => [n, name]));
  const fail = (call: string): never => {
    const errno = koffi.errno();
    throw new SysError(call, errno, names.get(errno) ?? `errno ${errno}`);
  };
  const F_GETFL = 3;
  const F_SETFL = 4;
  const O_NONBLOCK = fsc.O_NONBLOCK;
  const O_CLOEXEC = 0o2000000;
  return {
    ioctl(fd, request, arg) {
      if (ioctl(fd, request, 'void *', arg) < 0) fail(`ioctl(0x${request.toString(16)})`);
    },
    setNonBlocking(fd) {
      const flags = fcntl(fd, F_GETFL) as number;
      if (flags < 0 || (fcntl(fd, F_SETFL, 'int', flags | O_NONBLOCK) as number) < 0) fail('fcntl(O_NONBLOCK)');
    },
    eventfd() {
      const fd = eventfd(0, O_CLOEXEC | O_NONBLOCK) as number;
      return fd < 0 ? fail('eventfd') : fd;
    },
    pollAsync(fds, timeoutMs) {
      // Native memory that stays put while the worker thread writes revents (koffi: "stable pointers").
      const ptr = koffi.alloc('uint8_t', 8 * fds.length);
      const view = new DataView(koffi.view(ptr, 8 * fds.length));
      fds.forEach((fd, i) => {
        view.setInt32(8 * i, fd, true); // struct pollfd { int fd; short events; short revents; }
        view.setInt16(8 * i + 4, POLLIN, true);
        view.setInt16(8 * i + 6, 0, true);
      });
      return new Promise((resolve, reject) => {
        poll.async(ptr, fds.length, timeoutMs, (err: unknown, n: number) => {
          const revents = fds.map((_, i) => view.getInt16(8 * i + 6, true));
          koffi.free(ptr);
          if (err) reject(err instanceof Error ? err : new Error(String(err)));
          else if (n < 0) resolve(fds.map(() => 0)); // EINTR: nothing ready, poll again
          else resolve(revents);
        });
      });
    },
  };
}

/**
 * Watches fds for readability with one poll() at a time on a worker thread. `onReadable` runs on
 * the event loop; it must drain the fd (non-blocking reads). A hung-up or invalid fd is dropped
 * and reported through `onGone`.
 */
export class FdWatcher {
  private readonly watched = new Map<number, { onReadable: () => void; onGone: (revents: number) => void }>();
  private readonly wakeFd: number;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly libc: Libc,
    private readonly onError: (error: Error) => void = () => {},
  ) {
    this.wakeFd = libc.eventfd();
  }

  watch(fd: number, onReadable: () => void, onGone: (revents: number) => void): void {
    if (this.closed) throw new Error('FdWatcher is closed');
    this.watched.set(fd, { onReadable, onGone });
    if (this.running) this.wake();
    else this.running = this.loop();
  }

  /** Stop polling; resolves once the worker thread's poll() has returned (then the fds may be closed). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.running) {
      this.wake();
      await this.running;
    }
    closeSync(this.wakeFd);
  }

  private wake(): void {
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    try {
      // eventfd counter: a write makes it readable; EAGAIN (non-blocking) only if it is at its maximum
      writeSync(this.wakeFd, one);
    } catch {
      // already readable
    }
  }

  private async loop(): Promise<void> {
    try {
      await this.pollUntilClosed();
    } catch (err) {
      // poll() itself failed: no more edges will arrive; say so rather than go quiet
      this.onError(err as Error);
    } finally {
      this.running = undefined;
    }
  }

  private async pollUntilClosed(): Promise<void> {
    while (!this.closed && this.watched.size > 0) {
      const fds = [this.wakeFd, ...this.watched.keys()];
      const revents = await this.libc.pollAsync(fds, -1);
      if (revents[0]! & POLLIN) drain(this.wakeFd, Buffer.alloc(8));
      if (this.closed) break;
      for (let i = 1; i < fds.length; i++) {
        const r = revents[i]!;
        const entry = this.watched.get(fds[i]!);
        if (!r || !entry) continue;
        if (r & POLLIN) {
          try {
            entry.onReadable();
          } catch (err) {
            this.onError(err as Error);
          }
        }
        if (r & (POLLERR | POLLHUP | POLLNVAL)) {
          this.watched.delete(fds[i]!);
          entry.onGone(r);
        }
      }
    }
  }
}

/** Read a non-blocking fd until EAGAIN; returns what each read() gave. */
function drain(fd: number, buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return out;
      throw err;
    }
    if (n <= 0) return out;
    out.push(Buffer.from(buf.subarray(0, n)));
  }
}

/** The line request for an input: edges both ways, bias, active-low and debounce done by the kernel. */
export function inputLineRequest(spec: InputSpec, opts: { consumer?: string; eventClock?: 'monotonic' | 'realtime' } = {}): LineRequest {
  let flags = LINE_FLAG.INPUT | LINE_FLAG.EDGE_RISING | LINE_FLAG.EDGE_FALLING;
  if (spec.activeLow) flags |= LINE_FLAG.ACTIVE_LOW;
  if (spec.bias) flags |= BIAS_FLAG[spec.bias];
  if (opts.eventClock === 'realtime') flags |= LINE_FLAG.EVENT_CLOCK_REALTIME;
  const debounceUs = Math.round(spec.debounceMs * 1000);
  return {
    offsets: [spec.line],
    consumer: consumerName(opts.consumer, spec.name),
    flags,
    attrs: debounceUs > 0 ? [{ id: 'debounce', periodUs: debounceUs, mask: 1n }] : [],
  };
}

/** The line request for an output: driven inactive from the moment it is claimed (no glitch). */
export function outputLineRequest(spec: OutputSpec, opts: { consumer?: string } = {}): LineRequest {
  return {
    offsets: [spec.line],
    consumer: consumerName(opts.consumer, spec.name),
    flags: LINE_FLAG.OUTPUT | (spec.activeLow ? LINE_FLAG.ACTIVE_LOW : 0n),
    attrs: [{ id: 'output_values', values: 0n, mask: 1n }],
  };
}

function consumerName(prefix = 'pijig', name: string): string {
  const full = Buffer.from(`${prefix} ${name}`, 'utf8');
  return full.subarray(0, 31).toString('utf8').replace(/\uFFFD$/, '');
}

/** A debounced (by the kernel) input that also keeps the kernel's timestamp of its last edge. */
export class ChardevInput extends DebouncedInput {
  /** The last edge the kernel reported for this line (CLOCK_MONOTONIC unless configured realtime). */
  lastEdge: LineEvent | undefined;
  /** Edges the kernel dropped because its buffer was full (line_seqno gaps). */
  lostEvents = 0;
}

export interface ChardevGpioOptions {
  /** /dev/gpiochipN, or a chip label; default: the Pi's main controller, found by label. */
  chip?: string;
  /** Where the gpiochip devices are (tests). */
  devDir?: string;
  /** Clock of edge timestamps: CLOCK_MONOTONIC (default) or CLOCK_REALTIME. */
  eventClock?: 'monotonic' | 'realtime';
  /** Prefix of the consumer name the lines show in `gpioinfo`. */
  consumer?: string;
  /** A line failed after it was claimed (chip removed, read error). The input keeps its last level. */
  onError?: (error: GpioError) => void;
  /** libc binding (default: koffi). */
  libc?: Libc;
}

interface ClaimedLine {
  fd: number;
  input?: ChardevInput;
  output?: PolarOutput;
}

export class ChardevGpioChip implements GpioChip {
  private chipFd: number | undefined;
  private info: { name: string; label: string; lines: number } | undefined;
  private readonly lines = new Map<number, ClaimedLine & { name: string }>();
  private readonly watcher: FdWatcher;

  private constructor(
    private readonly libc: Libc,
    /** The chip's device path. */
    readonly path: string,
    private readonly options: ChardevGpioOptions,
  ) {
    this.watcher = new FdWatcher(libc, (err) => options.onError?.(new GpioError('IO', `${path}: waiting for edges failed: ${err.message}; inputs keep their last level`, { cause: err })));
  }

  /**
   * Load koffi and find the chip. The chip itself is opened with the first line, so an error
   * names the line that needed it as well as the chip.
   */
  static async open(options: ChardevGpioOptions = {}): Promise<ChardevGpioChip> {
    const libc = options.libc ?? (await loadLibc());
    const devDir = options.devDir ?? '/dev';
    const wanted = options.chip;
    const path = wanted?.startsWith('/') ? wanted : findChip(libc, devDir, wanted);
    return new ChardevGpioChip(libc, path, options);
  }

  /** Chip name, label and number of lines (opens the chip). */
  chipInfo(forWhat = 'chip info'): { name: string; label: string; lines: number } {
    this.openChip(forWhat);
    return this.info!;
  }

  async input(spec: InputSpec): Promise<DigitalInput> {
    const what = `GPIO ${spec.line} (${spec.name})`;
    const request = inputLineRequest(spec, { consumer: this.options.consumer, eventClock: this.options.eventClock });
    const fd = this.request(what, spec.line, request);
    try {
      this.libc.setNonBlocking(fd);
      const initial = this.readValue(fd, what);
      const input = new ChardevInput(spec.name, initial, 0); // the kernel debounces
      this.lines.set(spec.line, { fd, input, name: spec.name });
      const buf = Buffer.alloc(EVENTS_PER_READ * SIZEOF.gpio_v2_line_event);
      this.watcher.watch(
        fd,
        () => this.onEvents(fd, input, buf, what),
        (revents) => this.options.onError?.(new GpioError('IO', `${what} on ${this.path}: the line stopped answering (poll revents 0x${revents.toString(16)}); it keeps its last level`)),
      );
      return input;
    } catch (err) {
      this.lines.delete(spec.line);
      closeSync(fd);
      throw err;
    }
  }

  async output(spec: OutputSpec): Promise<DigitalOutput> {
    const what = `GPIO ${spec.line} (${spec.name})`;
    const fd = this.request(what, spec.line, outputLineRequest(spec, { consumer: this.options.consumer }));
    // The kernel applies active-low: logical values go straight to SET_VALUES.
    const output = new PolarOutput(spec.name, false, (active) => {
      try {
        this.libc.ioctl(fd, IOCTL.LINE_SET_VALUES, encodeLineValues(active ? 1n : 0n, 1n));
      } catch (err) {
        throw new GpioError('IO', `${what} on ${this.path}: cannot set ${active ? 'active' : 'inactive'}: ${(err as Error).message}`, { cause: err });
      }
    });
    this.lines.set(spec.line, { fd, output, name: spec.name });
    return output;
  }

  async close(): Promise<void> {
    for (const { output } of this.lines.values()) {
      try {
        await output?.set(false);
      } catch {
        // best effort: the process is going away
      }
    }
    await this.watcher.close();
    for (const { fd, input } of this.lines.values()) {
      input?.dispose();
      // Releasing the request leaves an output driven at its last (inactive) level.
      closeSync(fd);
    }
    this.lines.clear();
    if (this.chipFd !== undefined) closeSync(this.chipFd);
    this.chipFd = undefined;
  }

  private openChip(forWhat: string): number {
    if (this.chipFd !== undefined) return this.chipFd;
    let fd: number;
    try {
      fd = openSync(this.path, fsc.O_RDWR);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint =
        code === 'ENOENT'
          ? `no such GPIO chip (present: ${listChips(this.libc, this.options.devDir ?? '/dev') || 'none'})`
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied (is the user in the gpio group, and does udev give the gpiochip devices to it?)'
            : (err as Error).message;
      throw new GpioError('NO_CHIP', `${forWhat}: cannot open GPIO chip ${this.path}: ${hint}`, { cause: err });
    }
    try {
      const buf = Buffer.alloc(SIZEOF.gpiochip_info);
      this.libc.ioctl(fd, IOCTL.GET_CHIPINFO, buf);
      this.info = decodeChipInfo(buf);
    } catch (err) {
      closeSync(fd);
      throw new GpioError('NO_CHIP', `${forWhat}: ${this.path} is not a GPIO chip: ${(err as Error).message}`, { cause: err });
    }
    this.chipFd = fd;
    return fd;
  }

  private request(what: string, line: number, request: LineRequest): number {
    const chipFd = this.openChip(what);
    const info = this.info!;
    const owner = this.lines.get(line);
    if (owner) throw new GpioError('LINE_BUSY', `${what} is already claimed by ${owner.name}`);
    if (line >= info.lines) throw new GpioError('REQUEST_FAILED', `${what}: ${this.path} ("${info.label}") has lines 0..${info.lines - 1}`);
    const buf = encodeLineRequest(request);
    try {
      this.libc.ioctl(chipFd, IOCTL.GET_LINE, buf);
    } catch (err) {
      const code = (err as SysError).code;
      if (code === 'EBUSY') throw new GpioError('LINE_BUSY', `${what} on ${this.path} is busy: used by ${this.lineConsumer(line) || 'another program or a kernel driver'}`, { cause: err });
      const detail = code === 'EINVAL' ? ` (the kernel refused flags 0x${request.flags.toString(16)}${request.attrs?.length ? ` with ${request.attrs.map((a) => a.id).join(', ')}` : ''}: kernel older than 5.10?)` : '';
      throw new GpioError('REQUEST_FAILED', `${what} on ${this.path}: cannot claim the line: ${(err as Error).message}${detail}`, { cause: err });
    }
    return requestFd(buf);
  }

  private lineConsumer(line: number): string {
    try {
      const buf = encodeLineInfoQuery(line);
      this.libc.ioctl(this.chipFd!, IOCTL.GET_LINEINFO, buf);
      const consumer = decodeLineInfo(buf).consumer;
      return consumer ? `"${consumer}"` : '';
    } catch {
      return '';
    }
  }

  private readValue(fd: number, what: string): boolean {
    const buf = encodeLineValues(0n, 1n);
    try {
      this.libc.ioctl(fd, IOCTL.LINE_GET_VALUES, buf);
    } catch (err) {
      throw new GpioError('IO', `${what} on ${this.path}: cannot read the level: ${(err as Error).message}`, { cause: err });
    }
    return (decodeLineValues(buf).bits & 1n) === 1n;
  }

  private onEvents(fd: number, input: ChardevInput, buf: Buffer, what: string): void {
    let chunks: Buffer[];
    try {
      chunks = drain(fd, buf);
    } catch (err) {
      this.options.onError?.(new GpioError('IO', `${what} on ${this.path}: reading edge events failed: ${(err as Error).message}`, { cause: err }));
      return;
    }
    let lost = false;
    for (const chunk of chunks) {
      for (const event of decodeLineEvents(chunk)) {
        const expected = (input.lastEdge?.lineSeqno ?? 0) + 1; // the kernel numbers a line's events from 1
        if (event.lineSeqno !== expected) {
          input.lostEvents += Math.max(0, event.lineSeqno - expected);
          lost = true;
        }
        input.lastEdge = event;
        input.feed(event.edge === 'rising');
      }
    }
    // After lost events the edges alone may not tell the level: ask the kernel.
    if (lost) {
      try {
        input.feed(this.readValue(fd, what));
      } catch (err) {
        this.options.onError?.(err as GpioError);
      }
    }
  }
}

/** The Pi's main GPIO chip among /dev/gpiochip*: by label (given, or one of the Pi's), else the one with >= 28 lines. */
function findChip(libc: Libc, devDir: string, label: string | undefined): string {
  const chips = scanChips(libc, devDir);
  const { chip, labels } = pickPiChip(chips, label, (c) => c.lines);
  if (!chip) {
    throw new GpioError(
      'NO_CHIP',
      `no GPIO chip labelled ${labels.join(' or ')} in ${devDir} (found: ${chips.map((c) => `${c.path} "${c.label}"`).join(', ') || 'none'}); set gpio.chip to a /dev/gpiochipN path or label`,
    );
  }
  return chip.path;
}

function scanChips(libc: Libc, devDir: string): { path: string; label: string; lines: number }[] {
  let names: string[];
  try {
    names = readdirSync(devDir).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return [];
  }
  const found: { path: string; label: string; lines: number }[] = [];
  for (const name of names.sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)))) {
    const path = join(devDir, name);
    let fd: number | undefined;
    try {
      fd = openSync(path, fsc.O_RDONLY);
      const buf = Buffer.alloc(SIZEOF.gpiochip_info);
      libc.ioctl(fd, IOCTL.GET_CHIPINFO, buf);
      const info = decodeChipInfo(buf);
      found.push({ path, label: info.label, lines: info.lines });
    } catch {
      // not readable or not a chip: skipped, the error names what was found
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return found;
}

function listChips(libc: Libc, devDir: string): string {
  return scanChips(libc, devDir)
    .map((c) => `${c.path} "${c.label}"`)
    .join(', ');
}
