import { writeFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import type { SimI2cDevice } from '../i2c/i2c.sim.js';
import { Framebuffer } from './framebuffer.js';
import type { OledController } from './ssd1306.js';

export interface SimOledPanelOptions {
  controller: OledController;
}

/** Parameter bytes that follow each command byte, or undefined for a byte the chip does not know. */
function ssd1306Params(c: number): number | undefined {
  if (c <= 0x1f) return 0; //                          page-mode lower/higher column start
  if (c >= 0x40 && c <= 0x7f) return 0; //             display start line
  if (c >= 0xb0 && c <= 0xb7) return 0; //             page-mode page start
  switch (c) {
    case 0x20: return 1; //                            memory addressing mode
    case 0x21: case 0x22: return 2; //                 column / page window
    case 0x23: return 1; //                            fade out / blink
    case 0x26: case 0x27: return 6; //                 horizontal scroll setup
    case 0x29: case 0x2a: return 5; //                 vertical + horizontal scroll setup
    case 0x2e: case 0x2f: return 0; //                 scroll off / on
    case 0x81: case 0x8d: return 1; //                 contrast, charge pump
    case 0xa0: case 0xa1: return 0; //                 segment remap
    case 0xa3: return 2; //                            vertical scroll area
    case 0xa4: case 0xa5: case 0xa6: case 0xa7: return 0;
    case 0xa8: return 1; //                            multiplex ratio
    case 0xae: case 0xaf: return 0;
    case 0xc0: case 0xc8: return 0; //                 COM scan direction
    case 0xd3: case 0xd5: case 0xd6: case 0xd9: case 0xda: case 0xdb: return 1;
    case 0xe3: return 0; //                            NOP
    default: return undefined;
  }
}

function sh1106Params(c: number): number | undefined {
  if (c <= 0x1f) return 0; //                          lower/higher column address
  if (c >= 0x30 && c <= 0x33) return 0; //             pump voltage
  if (c >= 0x40 && c <= 0x7f) return 0;
  if (c >= 0xb0 && c <= 0xb7) return 0;
  if (c >= 0xc0 && c <= 0xcf) return 0; //             COM scan (only bit 3 counts)
  switch (c) {
    case 0x81: case 0xa8: case 0xad: return 1; //      contrast, multiplex, DC-DC
    case 0xa0: case 0xa1: case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xae: case 0xaf: return 0;
    case 0xd3: case 0xd5: case 0xd9: case 0xda: case 0xdb: return 1;
    case 0xe0: case 0xee: case 0xe3: return 0; //      read-modify-write start / end, NOP
    default: return undefined;
  }
}

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/**
 * The OLED module as the I2C bus sees it: decodes the real byte stream (control bytes, the
 * SSD1306 or SH1106 command set with its parameter counts, GDDRAM data) into controller RAM, and
 * shows what the glass would: display on/off, inversion, segment remap, COM direction, start line.
 *
 * Strict like hardware, and louder: a byte the controller would not understand is recorded in
 * `errors` (a real chip would silently misbehave). State starts at the datasheet reset values.
 */
export class SimOledPanel implements SimI2cDevice {
  readonly controller: OledController;
  /** Columns of GDDRAM: 128 (SSD1306) or 132 (SH1106). */
  readonly columns: number;
  /** Decoding problems, in order: unknown commands, bad control bytes, writes outside RAM. */
  readonly errors: string[] = [];
  /** Times the last visible RAM cell was written: one per complete frame from a sane driver. */
  frames = 0;
  dataBytes = 0;
  commandBytes = 0;
  /** Called after each completed frame (the live terminal view subscribes here). */
  onFrame: ((panel: SimOledPanel) => void) | undefined;

  displayOn = false;
  inverted = false;
  entireOn = false;
  segmentRemap = false;
  comScanReversed = false;
  startLine = 0;
  displayOffset = 0;
  multiplex = 63;
  comPins = 0x12;
  contrast: number;
  /** SSD1306 modules without external VCC stay dark unless the charge pump is on (reset: off). */
  chargePump: boolean;
  addressing: 'horizontal' | 'vertical' | 'page' = 'page';
  scrolling = false;

  private readonly ram: Uint8Array;
  private readonly visibleOffset: number;
  private window = { colStart: 0, colEnd: 127, pageStart: 0, pageEnd: 7 };
  private col = 0;
  private page = 0;
  /** Page mode: the column the pointer returns to at the end of a page (SSD1306). */
  private pageModeColumn = 0;
  private pendingCommand: { op: number; params: number[]; need: number } | undefined;

  constructor(opts: SimOledPanelOptions) {
    this.controller = opts.controller;
    this.columns = opts.controller === 'sh1106' ? 132 : 128;
    this.visibleOffset = opts.controller === 'sh1106' ? 2 : 0;
    this.ram = new Uint8Array(this.columns * 8);
    this.contrast = opts.controller === 'sh1106' ? 0x80 : 0x7f;
    this.chargePump = opts.controller === 'sh1106'; // the SH1106's DC-DC is on at reset
  }

  onWrite(data: Uint8Array): void {
    let i = 0;
    while (i < data.length) {
      const control = data[i++]!;
      if ((control & 0x3f) !== 0) this.error(`control byte ${hex(control)} has bits other than Co and D/C set`);
      const continuation = (control & 0x80) !== 0;
      const isData = (control & 0x40) !== 0;
      if (!continuation) {
        for (; i < data.length; i++) this.byte(isData, data[i]!);
        break;
      }
      if (i >= data.length) {
        this.error(`control byte ${hex(control)} ends the message with no byte after it`);
        break;
      }
      this.byte(isData, data[i++]!);
    }
  }

  /** An I2C read returns the status byte: bit 6 set while the display is off. */
  onRead(length: number): Uint8Array {
    return new Uint8Array(length).fill(this.displayOn ? 0x00 : 0x40);
  }

  /** The controller RAM as written (columns x 8 pages), before any display mapping. */
  gddram(): Uint8Array {
    return this.ram.slice();
  }

  /** What the glass shows now. */
  frame(): Framebuffer {
    const fb = new Framebuffer(Framebuffer.WIDTH, Framebuffer.HEIGHT);
    const powered = this.displayOn && this.chargePump;
    if (!powered) return fb;
    for (let line = 0; line <= Math.min(63, this.multiplex); line++) {
      const ramRow = (line + this.startLine + this.displayOffset) % 64;
      const y = this.glassRow(line);
      for (let x = 0; x < Framebuffer.WIDTH; x++) {
        let lit: boolean;
        if (this.entireOn) {
          lit = true;
        } else {
          const col = this.segmentRemap ? this.visibleOffset + x : this.columns - 1 - this.visibleOffset - x;
          lit = ((this.ram[(ramRow >> 3) * this.columns + col]! >> (ramRow & 7)) & 1) === 1;
          if (this.inverted) lit = !lit;
        }
        fb.setPixel(x, y, lit);
      }
    }
    return fb;
  }

  /** The glass as a PNG: each pixel `scale` x `scale` with a faint grid, inside a dark bezel. */
  toPng(scale = 4): Buffer {
    const fb = this.frame();
    const bezel = 3 * scale;
    const w = Framebuffer.WIDTH * scale + 2 * bezel;
    const h = Framebuffer.HEIGHT * scale + 2 * bezel;
    const png = new PNG({ width: w, height: h });
    const put = (x: number, y: number, rgb: readonly [number, number, number]): void => {
      const o = (y * w + x) * 4;
      png.data[o] = rgb[0];
      png.data[o + 1] = rgb[1];
      png.data[o + 2] = rgb[2];
      png.data[o + 3] = 255;
    };
    const BEZEL: [number, number, number] = [24, 26, 31];
    const EDGE: [number, number, number] = [78, 84, 96];
    const GLASS: [number, number, number] = [4, 6, 10];
    const LIT: [number, number, number] = [196, 226, 255];
    const LIT_GAP: [number, number, number] = [120, 146, 178];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const gx = x - bezel;
        const gy = y - bezel;
        const inGlass = gx >= 0 && gy >= 0 && gx < Framebuffer.WIDTH * scale && gy < Framebuffer.HEIGHT * scale;
        if (!inGlass) {
          const onEdge = x === bezel - 2 || y === bezel - 2 || x === w - bezel + 1 || y === h - bezel + 1;
          const inside = x >= bezel - 2 && y >= bezel - 2 && x <= w - bezel + 1 && y <= h - bezel + 1;
          put(x, y, onEdge && inside ? EDGE : inside ? GLASS : BEZEL);
          continue;
        }
        const px = Math.floor(gx / scale);
        const py = Math.floor(gy / scale);
        const gap = scale >= 3 && (gx % scale === scale - 1 || gy % scale === scale - 1);
        put(x, y, fb.getPixel(px, py) ? (gap ? LIT_GAP : LIT) : GLASS);
      }
    }
    return PNG.sync.write(png);
  }

  async savePng(path: string, scale = 4): Promise<void> {
    await writeFile(path, this.toPng(scale));
  }

  /** The glass in Unicode half blocks, two pixel rows per text line, framed. */
  toTerminal(): string {
    const fb = this.frame();
    const lines = ['\u250c' + '\u2500'.repeat(Framebuffer.WIDTH) + '\u2510'];
    for (let y = 0; y < Framebuffer.HEIGHT; y += 2) {
      let s = '\u2502';
      for (let x = 0; x < Framebuffer.WIDTH; x++) {
        const top = fb.getPixel(x, y);
        const bottom = fb.getPixel(x, y + 1);
        s += top && bottom ? '\u2588' : top ? '\u2580' : bottom ? '\u2584' : ' ';
      }
      lines.push(s + '\u2502');
    }
    lines.push('\u2514' + '\u2500'.repeat(Framebuffer.WIDTH) + '\u2518');
    return lines.join('\n');
  }

  private glassRow(line: number): number {
    // Modules are wired so that COM63->COM0 (0xC8) is upright. With sequential COM pins (0x02)
    // a panel wired for the alternative layout shows rows interleaved, as the real one does.
    const physical = this.comPins & 0x10 ? line : line < 32 ? line * 2 : (line - 32) * 2 + 1;
    return this.comScanReversed ? physical : 63 - physical;
  }

  private byte(isData: boolean, b: number): void {
    if (isData) {
      if (this.pendingCommand) {
        this.error(`data byte while command ${hex(this.pendingCommand.op)} still awaits ${this.pendingCommand.need - this.pendingCommand.params.length} parameter(s)`);
        this.pendingCommand = undefined;
      }
      this.data(b);
      return;
    }
    this.commandBytes++;
    const p = this.pendingCommand;
    if (p) {
      p.params.push(b);
      if (p.params.length === p.need) {
        this.pendingCommand = undefined;
        this.execute(p.op, p.params);
      }
      return;
    }
    const need = this.controller === 'sh1106' ? sh1106Params(b) : ssd1306Params(b);
    if (need === undefined) {
      this.error(`unknown ${this.controller} command ${hex(b)}`);
      return;
    }
    if (need > 0) this.pendingCommand = { op: b, params: [], need };
    else this.execute(b, []);
  }

  private execute(op: number, params: number[]): void {
    const p0 = params[0] ?? 0;
    const sh = this.controller === 'sh1106';
    if (op <= 0x0f) {
      this.col = (this.col & 0xf0) | op;
      this.pageModeColumn = this.col;
      return;
    }
    if (op <= 0x1f) {
      this.col = ((op & 0x0f) << 4) | (this.col & 0x0f);
      this.pageModeColumn = this.col;
      if (!sh && this.col > 127) this.error(`column ${this.col} is beyond the SSD1306's 128 columns`);
      return;
    }
    if (op >= 0x40 && op <= 0x7f) { this.startLine = op & 0x3f; return; }
    if (op >= 0xb0 && op <= 0xb7) { this.page = op & 0x07; return; }
    if (sh && op >= 0xc0 && op <= 0xcf) { this.comScanReversed = (op & 0x08) !== 0; return; }
    switch (op) {
      case 0x20:
        if (p0 & 0xfc || p0 === 3) this.error(`addressing mode ${hex(p0)} is invalid`);
        this.addressing = (['horizontal', 'vertical', 'page'] as const)[p0 & 0x03] ?? 'page';
        return;
      case 0x21:
        this.window.colStart = params[0]! & 0x7f;
        this.window.colEnd = params[1]! & 0x7f;
        this.col = this.window.colStart;
        return;
      case 0x22:
        this.window.pageStart = params[0]! & 0x07;
        this.window.pageEnd = params[1]! & 0x07;
        this.page = this.window.pageStart;
        return;
      case 0x2e: this.scrolling = false; return;
      case 0x2f: this.scrolling = true; return;
      case 0x81: this.contrast = p0; return;
      case 0x8d: this.chargePump = (p0 & 0x04) !== 0; return;
      case 0xad: this.chargePump = (p0 & 0x01) !== 0; return;
      case 0xa0: case 0xa1: this.segmentRemap = op === 0xa1; return;
      case 0xa4: case 0xa5: this.entireOn = op === 0xa5; return;
      case 0xa6: case 0xa7: this.inverted = op === 0xa7; return;
      case 0xa8:
        if ((p0 & 0x3f) < 15) this.error(`multiplex ratio ${p0 + 1} is below the minimum of 16`);
        this.multiplex = p0 & 0x3f;
        return;
      case 0xae: case 0xaf: this.displayOn = op === 0xaf; return;
      case 0xc0: case 0xc8: this.comScanReversed = op === 0xc8; return;
      case 0xd3: this.displayOffset = p0 & 0x3f; return;
      case 0xda: this.comPins = p0; return;
      default: return; // timing, pre-charge, VCOM, fade, zoom, scroll setup, NOP: no effect on the picture here
    }
  }

  private data(b: number): void {
    this.dataBytes++;
    if (this.col >= this.columns) {
      this.error(`data written past column ${this.columns - 1} (page ${this.page})`);
      return;
    }
    this.ram[this.page * this.columns + this.col] = b;
    const lastVisible = this.page === 7 && this.col === this.visibleOffset + Framebuffer.WIDTH - 1;
    this.advance();
    if (lastVisible) {
      this.frames++;
      this.onFrame?.(this);
    }
  }

  private advance(): void {
    const w = this.window;
    if (this.controller === 'sh1106') {
      this.col++; // page mode only; the pointer does not wrap to the next page
      return;
    }
    switch (this.addressing) {
      case 'horizontal':
        if (++this.col > w.colEnd) {
          this.col = w.colStart;
          if (++this.page > w.pageEnd) this.page = w.pageStart;
        }
        return;
      case 'vertical':
        if (++this.page > w.pageEnd) {
          this.page = w.pageStart;
          if (++this.col > w.colEnd) this.col = w.colStart;
        }
        return;
      case 'page':
        if (++this.col > 127) this.col = this.pageModeColumn;
        return;
    }
  }

  private error(message: string): void {
    this.errors.push(message);
  }
}
