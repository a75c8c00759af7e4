import { createReadStream, type ReadStream } from 'node:fs';
import { LABEL_MAX, ScanListeners, ScannerError, type BarcodeScanner } from './scanner.js';

/**
 * A HID (keyboard-wedge) scanner read from its input event device, e.g.
 * /dev/input/by-id/usb-<vendor>-event-kbd: the scanner "types" the label and ENTER. Each read
 * is a `struct input_event` (linux/input.h): a timestamp of two longs, then u16 type, u16 code,
 * s32 value - 24 bytes on 64-bit kernels, 16 on 32-bit ones (Raspberry Pi OS armhf).
 * Only key presses (EV_KEY, value 1) of a US layout are mapped; shift is tracked.
 *
 * The device is not grabbed (EVIOCGRAB): on a headless jig no console reads it. A scanner
 * configured for another keyboard layout sends other key codes: set it to US.
 */
export const EV_KEY = 1;
const KEY_ENTER = 28;
const KEY_KPENTER = 96;
const SHIFTS = new Set([42, 54]);

/** linux/input-event-codes.h: key code -> [unshifted, shifted] on a US layout. */
export const US_KEYS: Record<number, [string, string]> = (() => {
  const map: Record<number, [string, string]> = {};
  const row = (first: number, plain: string, shifted: string) => [...plain].forEach((c, i) => (map[first + i] = [c, shifted[i]!]));
  row(2, '1234567890-=', '!@#$%^&*()_+');
  row(16, 'qwertyuiop[]', 'QWERTYUIOP{}');
  row(30, "asdfghjkl;'`", 'ASDFGHJKL:"~');
  row(43, '\\zxcvbnm,./', '|ZXCVBNM<>?');
  map[57] = [' ', ' '];
  return map;
})();

export function inputEventSize(arch: string = process.arch): number {
  return arch === 'arm' || arch === 'ia32' ? 16 : 24;
}

export class HidScanner implements BarcodeScanner {
  readonly description: string;
  private stream: ReadStream | undefined;
  private readonly listeners = new ScanListeners();
  private readonly size: number;
  private rest = Buffer.alloc(0);
  private shift = false;
  private text = '';

  constructor(private readonly options: { path: string; eventSize?: number }) {
    this.description = `hid ${options.path}`;
    this.size = options.eventSize ?? inputEventSize();
  }

  async open(): Promise<void> {
    const stream = createReadStream(this.options.path, { highWaterMark: this.size * 64 });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (e) => reject(new ScannerError('OPEN_FAILED', `scanner ${this.description}: cannot open: ${e.message}`, { cause: e })));
    });
    stream.on('data', (chunk) => this.data(chunk as Buffer));
    stream.on('error', (e) => this.listeners.reject(`scanner ${this.description}: ${e.message}`));
    this.stream = stream;
  }

  /** Raw bytes of the event device: whole input_event structs, possibly split across reads. */
  data(chunk: Buffer): void {
    let buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const off = this.size - 8;
    while (buf.length >= this.size) {
      const type = buf.readUInt16LE(off);
      const code = buf.readUInt16LE(off + 2);
      const value = buf.readInt32LE(off + 4);
      buf = buf.subarray(this.size);
      if (type === EV_KEY) this.key(code, value);
    }
    this.rest = Buffer.from(buf);
  }

  private key(code: number, value: number): void {
    if (SHIFTS.has(code)) {
      this.shift = value !== 0;
      return;
    }
    if (value !== 1) return; // releases and auto-repeat
    if (code === KEY_ENTER || code === KEY_KPENTER) {
      const line = this.text;
      this.text = '';
      if (line) this.listeners.line(line);
      return;
    }
    const ch = US_KEYS[code];
    if (!ch) return;
    this.text += ch[this.shift ? 1 : 0];
    if (this.text.length > LABEL_MAX * 4) {
      this.listeners.reject(`scanner ${this.description}: ${this.text.length} keys without ENTER (dropped)`);
      this.text = '';
    }
  }

  onScan(l: (code: string) => void): () => void {
    return this.listeners.onScan(l);
  }

  onReject(l: (why: string) => void): () => void {
    return this.listeners.onReject(l);
  }

  async close(): Promise<void> {
    this.stream?.destroy();
    this.stream = undefined;
  }
}
