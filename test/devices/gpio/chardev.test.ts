import { describe, it, expect, beforeAll, afterEach, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsc, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChardevGpioChip, ChardevInput, FdWatcher, SysError, loadLibc, type Libc } from '../../../src/devices/gpio/gpio.chardev.js';
import { IOCTL, LINE_FLAG, OFFSET, SIZEOF, decodeLineValues, encodeLineValues } from '../../../src/devices/gpio/gpio.uapi.js';

/**
 * The character-device adapter on this machine's real kernel and libc (through koffi), without
 * GPIO hardware: this kernel has no GPIO support at all (no /dev/gpiochip*, no gpio-sim, no
 * configfs), so the GPIO ioctls themselves are answered by a small model of the kernel's GPIO
 * driver (below). Everything else is real: koffi's ioctl/fcntl/eventfd, poll() on a libuv worker
 * thread, non-blocking reads of 48-byte events from a real fd (a FIFO standing in for the line
 * request's anonymous fd: both are plain pollable, readable fds).
 */

let libc: Libc;
const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  libc = await loadLibc();
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'pijig-chardev-'));
  dirs.push(d);
  return d;
}

/** A FIFO opened read-write and non-blocking: a pollable fd that a test can write events into. */
function fifo(dir: string, name: string, owner: 'test' | 'adapter' = 'test'): number {
  const path = join(dir, name);
  execFileSync('mkfifo', [path], { timeout: 5000 });
  const fd = openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK);
  if (owner === 'test') cleanups.push(() => closeSync(fd));
  return fd;
}

/** struct gpio_v2_line_event bytes, as the kernel writes them. */
function eventBytes(e: { ts: bigint; rising: boolean; offset: number; seqno: number; lineSeqno: number }): Buffer {
  const b = Buffer.alloc(SIZEOF.gpio_v2_line_event);
  b.writeBigUInt64LE(e.ts, OFFSET.event.timestamp_ns);
  b.writeUInt32LE(e.rising ? 1 : 2, OFFSET.event.id);
  b.writeUInt32LE(e.offset, OFFSET.event.offset);
  b.writeUInt32LE(e.seqno, OFFSET.event.seqno);
  b.writeUInt32LE(e.lineSeqno, OFFSET.event.line_seqno);
  return b;
}

/**
 * The GPIO ioctls as the kernel's gpiolib-cdev answers them, over a regular file standing in for
 * /dev/gpiochip0: chip info, line requests (handing back a FIFO as the request fd), values. It
 * records the raw request bytes the adapter sent. Everything that is not a GPIO ioctl goes to the
 * real libc.
 */
class GpioKernelModel implements Libc {
  readonly requests: { line: number; flags: bigint; bytes: Buffer; fd: number }[] = [];
  readonly setValues: { line: number; bits: bigint; mask: bigint }[] = [];
  /** Logical levels the kernel would report (active-low applied). */
  readonly level = new Map<number, boolean>();
  readonly busy = new Map<number, string>();
  private readonly lineOfFd = new Map<number, number>();

  constructor(
    private readonly real: Libc,
    private readonly dir: string,
    private readonly chipFdPath: string,
  ) {}

  ioctl(fd: number, request: number, arg: Buffer): void {
    switch (request) {
      case IOCTL.GET_CHIPINFO:
        arg.write('gpiochip0', OFFSET.chipInfo.name);
        arg.write('pinctrl-bcm2711', OFFSET.chipInfo.label);
        arg.writeUInt32LE(58, OFFSET.chipInfo.lines);
        return;
      case IOCTL.GET_LINE: {
        const line = arg.readUInt32LE(OFFSET.request.offsets);
        if (this.busy.has(line)) throw new SysError('ioctl', 16, 'EBUSY');
        const requestFd = fifo(this.dir, `line${line}`, 'adapter'); // the request fd belongs to its user
        this.lineOfFd.set(requestFd, line);
        this.requests.push({ line, flags: arg.readBigUInt64LE(OFFSET.request.config), bytes: Buffer.from(arg), fd: requestFd });
        arg.writeInt32LE(requestFd, OFFSET.request.fd);
        return;
      }
      case IOCTL.GET_LINEINFO: {
        const line = arg.readUInt32LE(OFFSET.lineInfo.offset);
        arg.write(this.busy.get(line) ?? '', OFFSET.lineInfo.consumer);
        return;
      }
      case IOCTL.LINE_GET_VALUES:
        arg.writeBigUInt64LE(this.level.get(this.lineOfFd.get(fd)!) ? 1n : 0n, OFFSET.values.bits);
        return;
      case IOCTL.LINE_SET_VALUES:
        this.setValues.push({ line: this.lineOfFd.get(fd)!, ...decodeLineValues(arg) });
        return;
      default:
        this.real.ioctl(fd, request, arg);
    }
  }

  setNonBlocking(fd: number): void {
    this.real.setNonBlocking(fd);
  }
  eventfd(): number {
    return this.real.eventfd();
  }
  pollAsync(fds: readonly number[], timeoutMs: number): Promise<number[]> {
    return this.real.pollAsync(fds, timeoutMs);
  }

  /** The kernel reports an edge on a line (writes the event into the request fd). */
  edge(line: number, e: { ts: bigint; rising: boolean; seqno: number; lineSeqno: number }): void {
    const req = this.requests.find((r) => r.line === line)!;
    this.level.set(line, e.rising);
    writeSync(req.fd, eventBytes({ ...e, offset: line }));
  }

  get chipPath(): string {
    return this.chipFdPath;
  }
}

async function modelChip(): Promise<{ chip: ChardevGpioChip; kernel: GpioKernelModel; errors: Error[] }> {
  const dir = await tempDir();
  const chipPath = join(dir, 'gpiochip0');
  writeFileSync(chipPath, '');
  const kernel = new GpioKernelModel(libc, dir, chipPath);
  const errors: Error[] = [];
  const chip = await ChardevGpioChip.open({ chip: chipPath, devDir: dir, libc: kernel, onError: (e) => errors.push(e) });
  cleanups.push(() => chip.close());
  return { chip, kernel, errors };
}

describe('libc through koffi', () => {
  it('reaches ioctl(): a GPIO ioctl on a file that is not a GPIO chip fails with ENOTTY', () => {
    const fd = openSync('/dev/null', fsc.O_RDWR);
    try {
      const err = (() => {
        try {
          libc.ioctl(fd, IOCTL.GET_CHIPINFO, Buffer.alloc(SIZEOF.gpiochip_info));
        } catch (e) {
          return e as SysError;
        }
        throw new Error('expected ENOTTY');
      })();
      expect(err).toBeInstanceOf(SysError);
      expect(err.code).toBe('ENOTTY');
    } finally {
      closeSync(fd);
    }
  });

  it('polls on a worker thread: the event loop keeps running until an fd becomes readable, and close() wakes the poll', async () => {
    const dir = await tempDir();
    const fd = fifo(dir, 'events');
    const watcher = new FdWatcher(libc);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    const readable = new Promise<void>((resolve) => watcher.watch(fd, resolve, () => {}));
    await vi.waitFor(() => expect(ticks).toBeGreaterThan(3), { timeout: 5000, interval: 2 }); // timers fire while poll() waits
    writeSync(fd, eventBytes({ ts: 1n, rising: true, offset: 17, seqno: 1, lineSeqno: 1 }));
    await readable;
    clearInterval(ticker);
    // nothing readable now: close() must still return, by waking the poll through its eventfd
    await watcher.close();
  });
});

describe('ChardevGpioChip errors name the chip and the line', () => {
  it('a GPIO chip that does not exist', async () => {
    const dir = await tempDir();
    const chip = await ChardevGpioChip.open({ chip: join(dir, 'gpiochip9'), devDir: dir, libc });
    await expect(chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' })).rejects.toThrow(
      `GPIO 17 (start): cannot open GPIO chip ${join(dir, 'gpiochip9')}: no such GPIO chip (present: none)`,
    );
    await expect(chip.output({ name: 'dut_power', line: 24, activeLow: false })).rejects.toMatchObject({ code: 'NO_CHIP', message: expect.stringContaining('GPIO 24 (dut_power)') });
    await chip.close();
  });

  it('a file that is not a GPIO chip (the real ioctl answers ENOTTY)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'gpiochip0');
    writeFileSync(path, '');
    const chip = await ChardevGpioChip.open({ chip: path, libc });
    await expect(chip.input({ name: 'abort', line: 27, activeLow: true, debounceMs: 10 })).rejects.toThrow(new RegExp(`GPIO 27 \\(abort\\): ${path} is not a GPIO chip: .*ENOTTY`));
    await chip.close();
  });

  it('no GPIO chip to find by label', async () => {
    const dir = await tempDir();
    await expect(ChardevGpioChip.open({ devDir: dir, libc })).rejects.toThrow(/no GPIO chip labelled pinctrl-bcm2711 or .* in .* \(found: none\); set gpio.chip/);
  });

  it('a line another program holds, and a line the chip does not have', async () => {
    const { chip, kernel } = await modelChip();
    kernel.busy.set(17, 'gpiomon');
    await expect(chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20 })).rejects.toMatchObject({
      code: 'LINE_BUSY',
      message: `GPIO 17 (start) on ${kernel.chipPath} is busy: used by "gpiomon"`,
    });
    await expect(chip.input({ name: 'start', line: 60, activeLow: true, debounceMs: 20 })).rejects.toThrow(`GPIO 60 (start): ${kernel.chipPath} ("pinctrl-bcm2711") has lines 0..57`);
    await chip.input({ name: 'abort', line: 27, activeLow: true, debounceMs: 10 });
    await expect(chip.output({ name: 'buzzer', line: 27, activeLow: false })).rejects.toThrow('GPIO 27 (buzzer) is already claimed by abort');
  });
});

describe('ChardevGpioChip on a model of the kernel driver', () => {
  it('asks the kernel for bias, active-low, both edges and debounce on an input, and reads its level', async () => {
    const { chip, kernel } = await modelChip();
    kernel.level.set(17, false);
    const start = await chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' });
    const [req] = kernel.requests;
    expect(req!.flags).toBe(LINE_FLAG.INPUT | LINE_FLAG.EDGE_RISING | LINE_FLAG.EDGE_FALLING | LINE_FLAG.ACTIVE_LOW | LINE_FLAG.BIAS_PULL_UP);
    const attr = OFFSET.request.config + OFFSET.config.attrs;
    expect(req!.bytes.readUInt32LE(OFFSET.request.config + OFFSET.config.num_attrs)).toBe(1);
    expect(req!.bytes.readUInt32LE(attr + OFFSET.attribute.id)).toBe(3); // DEBOUNCE
    expect(req!.bytes.readUInt32LE(attr + OFFSET.attribute.value)).toBe(20_000); // µs
    expect(req!.bytes.toString('utf8', OFFSET.request.consumer, OFFSET.request.consumer + 11)).toBe('pijig start');
    expect(start.active).toBe(false);
  });

  it('turns edge events into changes, keeps the kernel timestamp, and re-reads the level after lost events', async () => {
    const { chip, kernel } = await modelChip();
    const start = (await chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' })) as ChardevInput;
    const seen: boolean[] = [];
    start.onChange((a) => seen.push(a));
    kernel.edge(17, { ts: 5_000_000_000n, rising: true, seqno: 1, lineSeqno: 1 }); // pressed
    kernel.edge(17, { ts: 5_180_000_000n, rising: false, seqno: 2, lineSeqno: 2 }); // released
    await vi.waitFor(() => expect(seen).toEqual([true, false]), { timeout: 5000, interval: 2 });
    expect(start.lastEdge).toMatchObject({ timestampNs: 5_180_000_000n, edge: 'falling', offset: 17 });
    // the kernel's buffer overflowed: line_seqno jumps from 2 to 9, and the last edge seen is a fall
    kernel.edge(17, { ts: 6_000_000_000n, rising: false, seqno: 9, lineSeqno: 9 });
    kernel.level.set(17, true); // ... but the button is held now
    await vi.waitFor(() => expect(start.active).toBe(true), { timeout: 5000, interval: 2 });
    expect(start.lostEvents).toBe(6);
  });

  it('claims an output already inactive, drives logical levels, and leaves it inactive on close', async () => {
    const { chip, kernel } = await modelChip();
    const relay = await chip.output({ name: 'dut_power', line: 24, activeLow: true });
    const [req] = kernel.requests;
    expect(req!.flags).toBe(LINE_FLAG.OUTPUT | LINE_FLAG.ACTIVE_LOW);
    const attr = OFFSET.request.config + OFFSET.config.attrs;
    expect(req!.bytes.readUInt32LE(attr + OFFSET.attribute.id)).toBe(2); // OUTPUT_VALUES
    expect(req!.bytes.readBigUInt64LE(attr + OFFSET.attribute.value)).toBe(0n); // inactive from the start
    expect(req!.bytes.readBigUInt64LE(attr + OFFSET.configAttribute.mask)).toBe(1n);
    await relay.set(true);
    // active-low is the kernel's: the logical 1 goes down as is
    expect(kernel.setValues).toEqual([{ line: 24, bits: 1n, mask: 1n }]);
    expect(encodeLineValues(1n, 1n).equals(encodeLineValues(kernel.setValues[0]!.bits, kernel.setValues[0]!.mask))).toBe(true);
    await chip.close();
    expect(kernel.setValues.at(-1)).toEqual({ line: 24, bits: 0n, mask: 1n });
  });

  it('closes with inputs being polled, and the request fds are released', async () => {
    const { chip, kernel } = await modelChip();
    await chip.input({ name: 'start', line: 17, activeLow: true, debounceMs: 20, bias: 'pull-up' });
    await chip.input({ name: 'abort', line: 27, activeLow: true, debounceMs: 10, bias: 'pull-up' });
    await chip.close();
    for (const r of kernel.requests) expect(() => writeSync(r.fd, Buffer.from('x'))).toThrow(/EBADF/);
  });
});
