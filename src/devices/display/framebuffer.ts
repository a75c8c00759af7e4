/**
 * A 1-bit image the size of the OLED glass (128x64 unless the controller says otherwise; the
 * height is a whole number of 8-row pages). Drawing is clipped: a pixel outside the buffer is
 * ignored, so no caller can draw off-screen or corrupt a neighbouring row.
 *
 * Storage is one byte per pixel for simple, fast drawing; `toPages()` packs it into the
 * controller's GDDRAM layout only when a frame is sent.
 */
export class Framebuffer {
  /** The size every screen layout is drawn for (the 0.96" and 1.3" panels). */
  static readonly WIDTH = 128;
  static readonly HEIGHT = 64;

  private readonly px: Uint8Array;

  constructor(
    readonly width: number = Framebuffer.WIDTH,
    readonly height: number = Framebuffer.HEIGHT,
  ) {
    if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0 || height % 8 !== 0) {
      throw new RangeError(`framebuffer ${width}x${height}: the height must be a whole number of 8-row pages`);
    }
    this.px = new Uint8Array(width * height);
  }

  /** GDDRAM pages: 8 pixel rows each; one byte is 8 vertical pixels, LSB on top. */
  get pages(): number {
    return this.height / 8;
  }

  inBounds(x: number, y: number): boolean {
    return Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x < this.width && y < this.height;
  }

  setPixel(x: number, y: number, on = true): void {
    if (this.inBounds(x, y)) this.px[y * this.width + x] = on ? 1 : 0;
  }

  getPixel(x: number, y: number): boolean {
    return this.inBounds(x, y) && this.px[y * this.width + x] === 1;
  }

  clear(on = false): void {
    this.px.fill(on ? 1 : 0);
  }

  fillRect(x: number, y: number, w: number, h: number, on = true): void {
    const r = this.clip(x, y, w, h);
    const v = on ? 1 : 0;
    for (let yy = r.y0; yy < r.y1; yy++) this.px.fill(v, yy * this.width + r.x0, yy * this.width + r.x1);
  }

  /** A one-pixel outline. */
  strokeRect(x: number, y: number, w: number, h: number, on = true): void {
    if (w <= 0 || h <= 0) return;
    this.fillRect(x, y, w, 1, on);
    this.fillRect(x, y + h - 1, w, 1, on);
    this.fillRect(x, y, 1, h, on);
    this.fillRect(x + w - 1, y, 1, h, on);
  }

  /** Flip every pixel in the region (used for highlighted bars: light text on a lit bar). */
  invertRect(x: number, y: number, w: number, h: number): void {
    const r = this.clip(x, y, w, h);
    for (let yy = r.y0; yy < r.y1; yy++) {
      for (let xx = r.x0; xx < r.x1; xx++) {
        const i = yy * this.width + xx;
        this.px[i] = this.px[i]! ^ 1;
      }
    }
  }

  /** Number of lit pixels in a region (tests, and checks like "the bar is filled this far"). */
  countLit(x = 0, y = 0, w = this.width, h = this.height): number {
    const r = this.clip(x, y, w, h);
    let n = 0;
    for (let yy = r.y0; yy < r.y1; yy++) {
      for (let xx = r.x0; xx < r.x1; xx++) n += this.px[yy * this.width + xx]!;
    }
    return n;
  }

  /** Copy `src` in with its top-left corner at (x, y), clipped. */
  blit(src: Framebuffer, x: number, y: number): void {
    for (let sy = 0; sy < src.height; sy++) {
      for (let sx = 0; sx < src.width; sx++) if (src.getPixel(sx, sy)) this.setPixel(x + sx, y + sy);
    }
  }

  equals(other: Framebuffer): boolean {
    if (other.width !== this.width || other.height !== this.height) return false;
    for (let i = 0; i < this.px.length; i++) if (this.px[i] !== other.px[i]) return false;
    return true;
  }

  clone(): Framebuffer {
    const fb = new Framebuffer(this.width, this.height);
    fb.px.set(this.px);
    return fb;
  }

  /** width x pages bytes in GDDRAM order: page 0 columns 0..width-1, then page 1, ...; bit n = row page*8+n. */
  toPages(): Uint8Array {
    const out = new Uint8Array(this.width * this.pages);
    for (let page = 0; page < this.pages; page++) {
      for (let x = 0; x < this.width; x++) {
        let b = 0;
        for (let bit = 0; bit < 8; bit++) b |= this.px[(page * 8 + bit) * this.width + x]! << bit;
        out[page * this.width + x] = b;
      }
    }
    return out;
  }

  static fromPages(pages: Uint8Array, width = Framebuffer.WIDTH, height = Framebuffer.HEIGHT): Framebuffer {
    const fb = new Framebuffer(width, height);
    if (pages.length !== fb.width * fb.pages) {
      throw new RangeError(`fromPages: expected ${fb.width * fb.pages} bytes, got ${pages.length}`);
    }
    for (let page = 0; page < fb.pages; page++) {
      for (let x = 0; x < fb.width; x++) {
        const b = pages[page * fb.width + x]!;
        for (let bit = 0; bit < 8; bit++) fb.px[(page * 8 + bit) * fb.width + x] = (b >> bit) & 1;
      }
    }
    return fb;
  }

  /** ASCII art, '#' lit, '.' dark: for test failure messages. */
  toAscii(): string {
    const rows: string[] = [];
    for (let y = 0; y < this.height; y++) {
      let s = '';
      for (let x = 0; x < this.width; x++) s += this.px[y * this.width + x] ? '#' : '.';
      rows.push(s);
    }
    return rows.join('\n');
  }

  private clip(x: number, y: number, w: number, h: number): { x0: number; y0: number; x1: number; y1: number } {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    return { x0, y0, x1: Math.max(x0, x1), y1: Math.max(y0, y1) };
  }
}
