import { createServer, type Server, type Socket } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { TypedEmitter } from '../../util/typed-emitter.js';
import { formatHostStatus } from './zpl.js';
import type { HostStatus } from './printer.js';

/** A 1-bit picture decoded from ZPL: 1 = black. */
export class MonoImage {
  readonly px: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.px = new Uint8Array(width * height);
  }

  getPixel(x: number, y: number): boolean {
    return x >= 0 && y >= 0 && x < this.width && y < this.height && this.px[y * this.width + x] === 1;
  }

  setPixel(x: number, y: number, on = true): void {
    if (x >= 0 && y >= 0 && x < this.width && y < this.height) this.px[y * this.width + x] = on ? 1 : 0;
  }

  /** Black dots on white label stock. */
  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    for (let i = 0; i < this.px.length; i++) {
      const v = this.px[i] ? 0 : 255;
      png.data[i * 4] = v;
      png.data[i * 4 + 1] = v;
      png.data[i * 4 + 2] = v;
      png.data[i * 4 + 3] = 255;
    }
    return PNG.sync.write(png);
  }

  static fromPng(data: Buffer): MonoImage {
    const png = PNG.sync.read(data);
    const img = new MonoImage(png.width, png.height);
    for (let i = 0; i < img.px.length; i++) img.px[i] = png.data[i * 4]! < 128 ? 1 : 0;
    return img;
  }
}

/** One label as the printer understood its format. */
export interface DecodedLabel {
  image: MonoImage;
  /** `^FX` comments, in order. */
  comments: string[];
  /** `^PQ` quantity. */
  copies: number;
  /** Commands the simulated printer does not draw (accepted and ignored, as a printer would). */
  ignored: string[];
}

export class ZplSyntaxError extends Error {}

/**
 * Decode one format (`^XA` .. `^XZ`) into pixels: `^PW`/`^LL` set the canvas, `^LH`/`^FO` place
 * fields, `^GFA` graphic fields are drawn (ASCII hex, with ZPL's compression), `^FX` is kept.
 */
export function decodeFormat(format: string): DecodedLabel {
  const commands = [...format.matchAll(/[\^~]([A-Z0-9@]{2})([^\^~]*)/gi)].map((m) => ({ code: m[1]!.toUpperCase(), params: m[2]! }));
  if (commands[0]?.code !== 'XA' || commands.at(-1)?.code !== 'XZ') throw new ZplSyntaxError('a format runs from ^XA to ^XZ');
  let width = 0;
  let height = 0;
  let home = { x: 0, y: 0 };
  let origin = { x: 0, y: 0 };
  const comments: string[] = [];
  const ignored: string[] = [];
  const graphics: { x: number; y: number; rows: Uint8Array[]; bytesPerRow: number }[] = [];
  let copies = 1;
  const ints = (params: string, n: number): number[] => params.split(',').slice(0, n).map((v) => Number.parseInt(v.trim() || '0', 10));
  for (const { code, params } of commands) {
    switch (code) {
      case 'XA':
      case 'XZ':
      case 'FS':
        break;
      case 'PW':
        width = ints(params, 1)[0]!;
        break;
      case 'LL':
        height = ints(params, 1)[0]!;
        break;
      case 'LH': {
        const [x, y] = ints(params, 2);
        home = { x: x!, y: y! };
        break;
      }
      case 'FO': {
        const [x, y] = ints(params, 2);
        origin = { x: home.x + x!, y: home.y + y! };
        break;
      }
      case 'FX':
        comments.push(params);
        break;
      case 'PQ':
        copies = Math.max(1, ints(params, 1)[0]! || 1);
        break;
      case 'GF': {
        const [type, , total, perRow, ...rest] = params.split(',');
        if (type !== 'A') throw new ZplSyntaxError(`^GF${type}: the simulated printer decodes ASCII hex graphics only`);
        const bytesPerRow = Number(perRow);
        const totalBytes = Number(total);
        if (!Number.isInteger(bytesPerRow) || bytesPerRow <= 0 || !Number.isInteger(totalBytes) || totalBytes % bytesPerRow) throw new ZplSyntaxError(`^GF: ${totalBytes} bytes in rows of ${bytesPerRow}`);
        graphics.push({ ...origin, bytesPerRow, rows: decompressGraphic(rest.join(','), bytesPerRow, totalBytes / bytesPerRow) });
        break;
      }
      default:
        ignored.push(`^${code}`);
    }
  }
  for (const g of graphics) {
    width = Math.max(width, g.x + g.bytesPerRow * 8);
    height = Math.max(height, g.y + g.rows.length);
  }
  const image = new MonoImage(width, height);
  for (const g of graphics) {
    g.rows.forEach((row, y) => {
      for (let x = 0; x < g.bytesPerRow * 8; x++) if (row[x >> 3]! & (0x80 >> (x & 7))) image.setPixel(g.x + x, g.y + y);
    });
  }
  return { image, comments, copies, ignored };
}

/** Expand ^GFA data (hex digits, repeat counts G..Y g..z, "," "!" ":"), as the printer does. */
export function decompressGraphic(data: string, bytesPerRow: number, rowCount: number): Uint8Array[] {
  if (data.startsWith(':Z64:') || data.startsWith(':B64:')) throw new ZplSyntaxError('^GF: Z64/B64 data is not decoded by the simulated printer');
  const nibbles = bytesPerRow * 2;
  const rows: Uint8Array[] = [];
  let row: number[] = [];
  let count = 0;
  const endRow = () => {
    const bytes = new Uint8Array(bytesPerRow);
    for (let i = 0; i < bytesPerRow; i++) bytes[i] = ((row[2 * i] ?? 0) << 4) | (row[2 * i + 1] ?? 0);
    rows.push(bytes);
    row = [];
  };
  for (const c of data) {
    if (/\s/.test(c)) continue;
    if (/[0-9A-Fa-f]/.test(c)) {
      const v = Number.parseInt(c, 16);
      for (let n = Math.max(1, count); n > 0; n--) {
        row.push(v);
        if (row.length === nibbles) endRow();
      }
      count = 0;
    } else if (c >= 'G' && c <= 'Y') count += c.charCodeAt(0) - 0x46;
    else if (c >= 'g' && c <= 'z') count += (c.charCodeAt(0) - 0x66) * 20;
    else if (c === ',' || c === '!') {
      while (row.length < nibbles) row.push(c === ',' ? 0 : 15);
      endRow();
    } else if (c === ':') {
      if (row.length) throw new ZplSyntaxError('^GF: ":" in the middle of a row');
      rows.push(rows.length ? rows[rows.length - 1]!.slice() : new Uint8Array(bytesPerRow));
    } else throw new ZplSyntaxError(`^GF: "${c}" is not graphic data`);
    if (rows.length > rowCount) throw new ZplSyntaxError(`^GF: more than ${rowCount} rows`);
  }
  if (row.length) endRow();
  while (rows.length < rowCount) rows.push(new Uint8Array(bytesPerRow));
  return rows.slice(0, rowCount);
}

/** A label the simulated printer printed. */
export interface PrintedLabel extends DecodedLabel {
  /** 1, 2, ... in print order. */
  index: number;
  /** key=value pairs of the `^FX` comments (pijig puts seq, id and serial there). */
  tags: Record<string, string>;
  /** The PNG, when the printer saves them. */
  file?: string;
}

export interface SimPrinterOptions {
  /** Save each label as a PNG here. */
  outDir?: string;
  /** Time to print one label (the print head moving). */
  printMs?: number;
  /**
   * How the printer answers ~HS while it cannot print: 'flags' (the paper-out, head-up, ...
   * flags, as older firmware) or 'silent' (no answer, as current Zebra firmware on media out,
   * ribbon out and head open).
   */
  faultReply?: 'flags' | 'silent';
  host?: string;
}

export type SimPrinterEvents = {
  printed: [label: PrintedLabel];
  /** A format that could not be decoded: the printer would print garbage or nothing. */
  rejected: [error: Error, format: string];
  'listener-error': [event: string, error: unknown];
};

/** A link to the printer: bytes in, answers out (a TCP connection, or a pty in tests). */
export interface PrinterSession {
  receive(data: Uint8Array): void;
  close(): void;
}

/**
 * The virtual jig's label printer, at the wire: a ZPL printer on a TCP port. It takes formats
 * (`^XA`..`^XZ`) into its buffer and prints them one by one, decodes each graphic back into
 * pixels and saves a PNG of each label; it answers `~HS` at once with its real state (formats in
 * buffer, paper out, head open, paused). Switched off it refuses connections and forgets its
 * buffer, as a printer without power does. Scriptable: paper, head, pause, power, and a job
 * that is received and then lost to a power cut.
 */
export class SimZplPrinter extends TypedEmitter<SimPrinterEvents> {
  readonly labels: PrintedLabel[] = [];
  /** Formats received, in order (the wire's view: what a duplicate would show up in). */
  readonly received: string[] = [];
  private queue: string[] = [];
  private printing: ReturnType<typeof setTimeout> | undefined;
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  private sessions = new Set<{ close(): void }>();
  private portValue = 0;
  private powered = true;
  private paper = true;
  private head = false;
  private pausedValue = false;
  private loseNext = false;
  private readonly printMs: number;

  private constructor(private readonly options: SimPrinterOptions) {
    super();
    this.printMs = options.printMs ?? 20;
  }

  static async start(options: SimPrinterOptions = {}): Promise<SimZplPrinter> {
    const printer = new SimZplPrinter(options);
    if (options.outDir) await mkdir(options.outDir, { recursive: true });
    await printer.listen(0);
    return printer;
  }

  get port(): number {
    return this.portValue;
  }

  /** Where the station finds it: `label.connection`. */
  get connection(): { tcp: string } {
    return { tcp: `${this.options.host ?? '127.0.0.1'}:${this.portValue}` };
  }

  get isOn(): boolean {
    return this.powered;
  }

  /** Formats waiting in the printer. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Power on (listens again on the same port) or off (refuses connections, drops open ones, forgets its buffer). */
  async setPower(on: boolean): Promise<void> {
    if (on === this.powered) return;
    this.powered = on;
    if (!on) {
      clearTimeout(this.printing);
      this.printing = undefined;
      this.queue = [];
      await this.closeServer();
    } else {
      await this.listen(this.portValue);
      this.pump();
    }
  }

  setPaperOut(out: boolean): void {
    this.paper = !out;
    this.pump();
  }

  setHeadOpen(open: boolean): void {
    this.head = open;
    this.pump();
  }

  setPaused(paused: boolean): void {
    this.pausedValue = paused;
    this.pump();
  }

  /** The next complete format is received, then the power fails before it prints. */
  loseNextJob(): void {
    this.loseNext = true;
  }

  hostStatus(): HostStatus {
    return {
      paperOut: !this.paper,
      paused: this.pausedValue,
      formatsInBuffer: this.queue.length,
      bufferFull: false,
      partialFormat: false,
      corruptRam: false,
      underTemperature: false,
      overTemperature: false,
      headUp: this.head,
      ribbonOut: false,
      labelsRemaining: 0,
    };
  }

  /** A link that is not TCP (a pty standing in for /dev/usb/lpN): feed it the bytes, get the answers. */
  session(reply: (data: Buffer) => void): PrinterSession {
    let text = '';
    const s = {
      receive: (data: Uint8Array) => {
        if (!this.powered) return;
        text = this.consume(text + Buffer.from(data).toString('latin1'), reply);
      },
      close: () => void this.sessions.delete(s),
    };
    this.sessions.add(s);
    return s;
  }

  async close(): Promise<void> {
    clearTimeout(this.printing);
    this.printing = undefined;
    await this.closeServer();
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      const session = this.session((data) => {
        if (!socket.destroyed) socket.write(data);
      });
      socket.on('data', (chunk: Buffer) => session.receive(chunk));
      socket.on('close', () => session.close());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.portValue = (server.address() as { port: number }).port;
  }

  private async closeServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Take complete commands off the front of the stream; returns what is left (a partial format). */
  private consume(text: string, reply: (data: Buffer) => void): string {
    for (;;) {
      const start = text.search(/[\^~]/);
      if (start < 0) return '';
      text = text.slice(start);
      if (text.startsWith('~')) {
        if (text.length < 3) return text;
        const code = text.slice(1, 3).toUpperCase();
        text = text.slice(3);
        if (code === 'HS' && !(this.options.faultReply === 'silent' && this.faulted())) reply(Buffer.from(formatHostStatus(this.hostStatus()), 'latin1'));
        continue;
      }
      if (text.length < 3) return text;
      if (text.slice(1, 3).toUpperCase() !== 'XA') {
        text = text.slice(1); // a stray command outside a format: ignored
        continue;
      }
      const end = text.search(/\^XZ/i);
      if (end < 0) return text;
      const format = text.slice(0, end + 3);
      text = text.slice(end + 3);
      this.received.push(format);
      if (this.loseNext) {
        this.loseNext = false;
        void this.setPower(false);
        return '';
      }
      this.queue.push(format);
      this.pump();
    }
  }

  private faulted(): boolean {
    return !this.paper || this.head;
  }

  private pump(): void {
    if (this.printing || !this.powered || !this.queue.length || this.faulted() || this.pausedValue) return;
    this.printing = setTimeout(() => {
      this.printing = undefined;
      if (!this.powered || this.faulted() || this.pausedValue) return;
      const format = this.queue.shift();
      if (format !== undefined) void this.print(format);
      this.pump();
    }, this.printMs);
  }

  private async print(format: string): Promise<void> {
    let decoded: DecodedLabel;
    try {
      decoded = decodeFormat(format);
    } catch (err) {
      this.emit('rejected', err as Error, format);
      return;
    }
    for (let copy = 0; copy < decoded.copies; copy++) {
      const tags: Record<string, string> = {};
      for (const c of decoded.comments) for (const m of c.matchAll(/([A-Za-z]+)=(\S+)/g)) tags[m[1]!] = m[2]!;
      const label: PrintedLabel = { ...decoded, index: this.labels.length + 1, tags };
      this.labels.push(label);
      if (this.options.outDir) {
        label.file = join(this.options.outDir, `label-${String(label.index).padStart(4, '0')}${tags['serial'] ? `-${tags['serial'].replace(/[^A-Za-z0-9._-]/g, '_')}` : ''}.png`);
        await writeFile(label.file, decoded.image.toPng());
      }
      this.emit('printed', label);
    }
  }
}
