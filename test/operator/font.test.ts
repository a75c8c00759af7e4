import { describe, expect, it } from 'vitest';
import { Framebuffer } from '../../src/devices/display/framebuffer.js';
import { ELLIPSIS, LARGE, SMALL, drawText, fitText, hasGlyphs, textWidth, wrapText } from '../../src/operator/font.js';

const printable = Array.from({ length: 126 - 32 + 1 }, (_, i) => String.fromCharCode(32 + i));

describe('fonts', () => {
  it('the small font covers printable ASCII 32-126 and the ellipsis, 5 px wide at most', () => {
    for (const ch of [...printable, ELLIPSIS]) {
      const g = SMALL.glyphs.get(ch);
      expect(g, `glyph ${JSON.stringify(ch)}`).toBeDefined();
      expect(g!.width).toBeGreaterThan(0);
      expect(g!.width).toBeLessThanOrEqual(5);
      if (ch !== ' ') expect(g!.bits.some((b) => b === 1), `glyph ${JSON.stringify(ch)} is blank`).toBe(true);
    }
    // Digits are tabular so counters and clocks do not jitter.
    expect(new Set([...'0123456789'].map((d) => SMALL.glyphs.get(d)!.width))).toEqual(new Set([5]));
  });

  it('capitals and digits stay inside the 7-row cap height; only descenders go below', () => {
    for (const ch of printable) {
      const g = SMALL.glyphs.get(ch)!;
      const below = g.bits.slice(7 * g.width).some((b) => b === 1);
      expect(below, `glyph ${JSON.stringify(ch)}`).toBe('gjpqy,;_'.includes(ch));
    }
  });

  it('the large font covers capitals, digits and the punctuation the screens use; lowercase maps to capitals', () => {
    expect(hasGlyphs('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.:/!?' + ELLIPSIS, LARGE)).toBe(true);
    expect(hasGlyphs('pass', LARGE)).toBe(true);
    expect(textWidth('pass', LARGE)).toBe(textWidth('PASS', LARGE));
    for (const [ch, g] of LARGE.glyphs) expect(g.bits.length, ch).toBe(g.width * LARGE.height);
  });

  it('measures text: glyph widths plus spacing, no trailing space', () => {
    expect(textWidth('', SMALL)).toBe(0);
    expect(textWidth('A', SMALL)).toBe(5);
    expect(textWidth('AB', SMALL)).toBe(11);
    expect(textWidth('AB', SMALL, 2)).toBe(22);
    expect(textWidth('PASS', LARGE)).toBe(4 * 11 + 3 * 2);
  });

  it('draws exactly the measured width and returns the next x', () => {
    const fb = new Framebuffer();
    const end = drawText(fb, 10, 10, 'HELLO', SMALL);
    expect(end).toBe(10 + textWidth('HELLO', SMALL));
    let minX = 128, maxX = -1;
    for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) if (fb.getPixel(x, y)) { minX = Math.min(minX, x); maxX = Math.max(maxX, x); }
    expect(minX).toBe(10);
    expect(maxX).toBe(end - 1);
  });

  it('draws dark text on a lit background', () => {
    const fb = new Framebuffer();
    fb.fillRect(0, 0, 128, 10);
    drawText(fb, 0, 0, 'I', SMALL, { on: false });
    expect(fb.getPixel(0, 0)).toBe(false);
  });

  it('fits text with an ellipsis', () => {
    expect(fitText('short', SMALL, 100)).toBe('short');
    const cut = fitText('a very long failing step name indeed', SMALL, 60);
    expect(cut.endsWith(ELLIPSIS)).toBe(true);
    expect(textWidth(cut, SMALL)).toBeLessThanOrEqual(60);
    expect(fitText('WWW', LARGE, 2)).toBe('');
  });

  it('wraps at spaces or path punctuation, else anywhere; never wider than asked', () => {
    expect(wrapText('close the lid and press start', SMALL, 64, 5)).toEqual(['close the', 'lid and', 'press start']);
    const cfg = wrapText('station.yaml:12 gpio.start.line.something', SMALL, 70, 4);
    for (const l of cfg) expect(textWidth(l, SMALL)).toBeLessThanOrEqual(70);
    expect(cfg.join('').replace(/ /g, '')).toBe('station.yaml:12gpio.start.line.something');
    expect(cfg[1]).toBe('12 gpio.start.');
    const long = wrapText('x'.repeat(100), SMALL, 50, 2);
    expect(long).toHaveLength(2);
    expect(long[1]!.endsWith(ELLIPSIS)).toBe(true);
    for (const l of long) expect(textWidth(l, SMALL)).toBeLessThanOrEqual(50);
  });
});
