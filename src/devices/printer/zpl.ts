import type { HostStatus } from './printer.js';

/** A 1-bit picture: true = a dot the printer burns (black). The operator's Framebuffer is one. */
export interface MonoBitmap {
  readonly width: number;
  readonly height: number;
  getPixel(x: number, y: number): boolean;
}

/** ZPL's host status query: the printer answers at once, ahead of any format still in its buffer. */
export const HOST_STATUS_QUERY = '~HS';

export interface ZplJobOptions {
  /** A `^FX` comment: names the unit in the job (printers ignore it; the simulated one reads it). */
  comment?: string;
}

/**
 * One label as a ZPL format: the whole picture as a single `^GFA` graphic field at the origin,
 * print width and label length set to the picture. The graphic data uses ZPL's ASCII
 * compression (see compressGraphic), so a 50x25 mm label at 203 dpi is a few KB, not 20.
 */
export function zplLabel(image: MonoBitmap, opts: ZplJobOptions = {}): Buffer {
  const bytesPerRow = Math.ceil(image.width / 8);
  const total = bytesPerRow * image.height;
  const comment = opts.comment ? `^FX${opts.comment.replace(/[^A-Za-z0-9 ._:=/-]/g, '_')}^FS\n` : '';
  const data = compressGraphic(graphicRows(image));
  return Buffer.from(`^XA\n${comment}^PW${image.width}\n^LL${image.height}\n^LH0,0\n^FO0,0^GFA,${total},${total},${bytesPerRow},${data}^FS\n^PQ1\n^XZ\n`, 'latin1');
}

/** The picture as ^GF rows: each row padded to whole bytes, most significant bit leftmost, 1 = black. */
export function graphicRows(image: MonoBitmap): Uint8Array[] {
  const bytesPerRow = Math.ceil(image.width / 8);
  const rows: Uint8Array[] = [];
  for (let y = 0; y < image.height; y++) {
    const row = new Uint8Array(bytesPerRow);
    for (let x = 0; x < image.width; x++) if (image.getPixel(x, y)) row[x >> 3]! |= 0x80 >> (x & 7);
    rows.push(row);
  }
  return rows;
}

const HEX = '0123456789ABCDEF';

/**
 * ZPL II "Alternative Data Compression Scheme" (Programming Guide, ~DG/~DB, also valid in ^GFA):
 * a run of one hex digit is a repeat count before it - G..Y = 1..19, g..z = 20..400, summed - a
 * row that repeats the previous one is ":", and "," / "!" fill the rest of a row with 0 / F.
 * The fills are only used on a byte boundary (older firmware fills whole bytes).
 */
export function compressGraphic(rows: readonly Uint8Array[]): string {
  const out: string[] = [];
  let prev: string | undefined;
  for (const row of rows) {
    let hex = '';
    for (const b of row) hex += HEX[b >> 4]! + HEX[b & 15]!;
    if (hex === prev) {
      out.push(':');
      continue;
    }
    prev = hex;
    out.push(compressRow(hex));
  }
  return out.join('');
}

function compressRow(hex: string): string {
  // the tail of zeros (or of Fs) from a byte boundary on becomes "," (or "!")
  let end = hex.length;
  let fill = '';
  for (const [digit, mark] of [['0', ','], ['F', '!']] as const) {
    let i = hex.length;
    while (i > 0 && hex[i - 1] === digit) i--;
    if (i % 2) i++;
    if (i < hex.length) {
      end = i;
      fill = mark;
      break;
    }
  }
  let s = '';
  for (let i = 0; i < end; ) {
    let j = i;
    while (j < end && hex[j] === hex[i]) j++;
    s += j - i > 2 ? repeatCount(j - i) + hex[i]! : hex.slice(i, j);
    i = j;
  }
  return s + fill;
}

/** A repeat count in ZPL's letters: z (400) as often as needed, then g..y (20..380), then G..Y (1..19). */
export function repeatCount(n: number): string {
  let s = 'z'.repeat(Math.floor(n / 400));
  let rest = n % 400;
  if (rest >= 20) s += String.fromCharCode(0x66 + Math.floor(rest / 20)); // 'g' = 20
  rest %= 20;
  if (rest > 0) s += String.fromCharCode(0x46 + rest); // 'G' = 1
  return s;
}

/**
 * Parse the three strings of a `~HS` answer; undefined until all three have arrived (so a
 * caller can feed it the bytes as they come). Throws on an answer that has the frames but not
 * the fields.
 */
export function parseHostStatus(text: string): HostStatus | undefined {
  const frames = [...text.matchAll(/\x02([^\x02\x03]*)\x03/g)].map((m) => m[1]!.split(','));
  if (frames.length < 3) return undefined;
  const [a, b] = frames as [string[], string[]];
  if (a.length < 12 || b.length < 11) throw new Error(`not a ~HS answer: ${JSON.stringify(text.slice(0, 80))}`);
  const int = (v: string | undefined, what: string): number => {
    const n = Number((v ?? '').trim());
    if (!Number.isInteger(n) || n < 0) throw new Error(`~HS answer: ${what} is "${v}"`);
    return n;
  };
  const flag = (v: string | undefined): boolean => (v ?? '').trim() === '1';
  return {
    paperOut: flag(a[1]),
    paused: flag(a[2]),
    formatsInBuffer: int(a[4], 'formats in buffer'),
    bufferFull: flag(a[5]),
    partialFormat: flag(a[7]),
    corruptRam: flag(a[9]),
    underTemperature: flag(a[10]),
    overTemperature: flag(a[11]),
    headUp: flag(b[2]),
    ribbonOut: flag(b[3]),
    labelsRemaining: int(b[8], 'labels remaining'),
  };
}

/** A `~HS` answer as a printer sends it (the simulated printer's, and tests'). */
export function formatHostStatus(s: HostStatus, labelLengthDots = 0): string {
  const f = (v: boolean) => (v ? '1' : '0');
  const n = (v: number, w: number) => String(v).padStart(w, '0');
  const one = ['030', f(s.paperOut), f(s.paused), n(labelLengthDots, 4), n(s.formatsInBuffer, 3), f(s.bufferFull), '0', f(s.partialFormat), '000', f(s.corruptRam), f(s.underTemperature), f(s.overTemperature)];
  const two = ['001', '0', f(s.headUp), f(s.ribbonOut), '0', '2', '6', '0', n(s.labelsRemaining, 8), '1', '000'];
  return `\x02${one.join(',')}\x03\r\n\x02${two.join(',')}\x03\r\n\x021234,0\x03\r\n`;
}
