import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { SimOledPanel } from '../../../src/devices/display/panel.sim.js';

/** Reset state plus what every module needs to show anything, without touching addressing. */
function litPanel(controller: 'ssd1306' | 'sh1106'): SimOledPanel {
  const p = new SimOledPanel({ controller });
  p.onWrite(Uint8Array.of(0x00, 0xa1, 0xc8, ...(controller === 'ssd1306' ? [0x8d, 0x14] : []), 0xaf));
  return p;
}

describe('SimOledPanel decoding', () => {
  it('starts at the datasheet reset state: display off, page addressing', () => {
    const p = new SimOledPanel({ controller: 'ssd1306' });
    expect(p.displayOn).toBe(false);
    expect(p.addressing).toBe('page');
    expect(p.chargePump).toBe(false);
    expect(p.onRead(1)[0]).toBe(0x40); // status bit 6: display off
  });

  it('honours the Co bit: single command/parameter pairs, and streams', () => {
    const p = new SimOledPanel({ controller: 'ssd1306' });
    p.onWrite(Uint8Array.of(0x80, 0x81, 0x80, 0x10, 0x80, 0xaf));
    expect(p.contrast).toBe(0x10);
    expect(p.displayOn).toBe(true);
    expect(p.onRead(2)).toEqual(Uint8Array.of(0, 0));
    // Co=1 command, then a data stream in the same message.
    p.onWrite(Uint8Array.of(0x80, 0xa7, 0x40, 0xff, 0xff));
    expect(p.inverted).toBe(true);
    expect(p.dataBytes).toBe(2);
    expect(p.errors).toEqual([]);
  });

  it('keeps a command waiting for its parameter across transactions', () => {
    const p = new SimOledPanel({ controller: 'ssd1306' });
    p.onWrite(Uint8Array.of(0x00, 0x81));
    p.onWrite(Uint8Array.of(0x00, 0x42));
    expect(p.contrast).toBe(0x42);
    expect(p.errors).toEqual([]);
  });

  it('records what a real chip would silently misread', () => {
    const p = new SimOledPanel({ controller: 'ssd1306' });
    p.onWrite(Uint8Array.of(0x00, 0xff));
    p.onWrite(Uint8Array.of(0x01, 0xaf));
    p.onWrite(Uint8Array.of(0x80));
    p.onWrite(Uint8Array.of(0x00, 0x81));
    p.onWrite(Uint8Array.of(0x40, 0x00));
    expect(p.errors).toHaveLength(4);
    expect(p.errors[0]).toMatch(/unknown ssd1306 command 0xff/);
    expect(p.errors[1]).toMatch(/control byte 0x01/);
    expect(p.errors[2]).toMatch(/no byte after it/);
    expect(p.errors[3]).toMatch(/0x81 still awaits 1 parameter/);

    const sh = new SimOledPanel({ controller: 'sh1106' });
    sh.onWrite(Uint8Array.of(0x00, 0x20, 0x00, 0x8d, 0x14));
    expect(sh.errors.filter((e) => e.includes('unknown sh1106 command'))).toHaveLength(2);
  });

  it('page addressing: page and column commands place a byte', () => {
    const p = litPanel('ssd1306');
    p.onWrite(Uint8Array.of(0x00, 0xb3, 0x05, 0x10));
    p.onWrite(Uint8Array.of(0x40, 0x81));
    const f = p.frame();
    expect(f.getPixel(5, 24)).toBe(true);
    expect(f.getPixel(5, 31)).toBe(true);
    expect(f.countLit()).toBe(2);
  });

  it('horizontal and vertical addressing walk the window', () => {
    const h = litPanel('ssd1306');
    h.onWrite(Uint8Array.of(0x00, 0x20, 0x00, 0x21, 10, 11, 0x22, 2, 3));
    h.onWrite(Uint8Array.of(0x40, 0x01, 0x02, 0x04, 0x08, 0x10));
    const hf = h.frame();
    expect([hf.getPixel(11, 17), hf.getPixel(10, 26), hf.getPixel(11, 27)]).toEqual([true, true, true]);
    // The 5th byte wrapped back to the window start and replaced the first.
    expect([hf.getPixel(10, 16), hf.getPixel(10, 20)]).toEqual([false, true]);
    const v = litPanel('ssd1306');
    v.onWrite(Uint8Array.of(0x00, 0x20, 0x01, 0x21, 10, 11, 0x22, 2, 3));
    v.onWrite(Uint8Array.of(0x40, 0x01, 0x02, 0x04, 0x08));
    const vf = v.frame();
    expect([vf.getPixel(10, 16), vf.getPixel(10, 25), vf.getPixel(11, 18), vf.getPixel(11, 27)]).toEqual([true, true, true, true]);
    expect(h.errors.concat(v.errors)).toEqual([]);
  });

  it('shows the glass: remap, COM direction, invert, entire-on, off, charge pump', () => {
    const p = litPanel('ssd1306');
    p.onWrite(Uint8Array.of(0x00, 0xb0, 0x00, 0x10));
    p.onWrite(Uint8Array.of(0x40, 0x01));
    expect(p.frame().getPixel(0, 0)).toBe(true);
    p.onWrite(Uint8Array.of(0x00, 0xa0));
    expect(p.frame().getPixel(127, 0)).toBe(true);
    p.onWrite(Uint8Array.of(0x00, 0xc0));
    expect(p.frame().getPixel(127, 63)).toBe(true);
    p.onWrite(Uint8Array.of(0x00, 0xa1, 0xc8, 0xa7));
    expect(p.frame().countLit()).toBe(128 * 64 - 1);
    p.onWrite(Uint8Array.of(0x00, 0xa6, 0xa5));
    expect(p.frame().countLit()).toBe(128 * 64);
    p.onWrite(Uint8Array.of(0x00, 0xa4, 0x8d, 0x10));
    expect(p.frame().countLit()).toBe(0);
    p.onWrite(Uint8Array.of(0x00, 0x8d, 0x14, 0xae));
    expect(p.frame().countLit()).toBe(0);
    expect(p.errors).toEqual([]);
  });

  it('SH1106: 132-column RAM, the glass shows columns 2..129, no wrap past 131', () => {
    const p = litPanel('sh1106');
    p.onWrite(Uint8Array.of(0x00, 0xb0, 0x00, 0x10));
    p.onWrite(Uint8Array.of(0x40, 0xff, 0xff, 0x01));
    expect(p.frame().countLit()).toBe(1);
    expect(p.frame().getPixel(0, 0)).toBe(true);
    p.onWrite(Uint8Array.of(0x00, 0x03, 0x18));
    p.onWrite(Uint8Array.of(0x40, 0x01, 0x01));
    expect(p.errors).toEqual(['data written past column 131 (page 0)']);
  });

  it('counts frames when the last visible cell is written', () => {
    const p = litPanel('ssd1306');
    let seen = 0;
    p.onFrame = () => seen++;
    p.onWrite(Uint8Array.of(0x00, 0x20, 0x00, 0x21, 0, 127, 0x22, 0, 7));
    p.onWrite(new Uint8Array(1025).fill(0x40, 0, 1));
    expect(p.frames).toBe(1);
    expect(seen).toBe(1);
  });
});

describe('SimOledPanel views', () => {
  it('toTerminal draws two pixel rows per line with half blocks, framed', () => {
    const p = litPanel('ssd1306');
    p.onWrite(Uint8Array.of(0x00, 0xb0, 0x00, 0x10));
    p.onWrite(Uint8Array.of(0x40, 0x01, 0x02, 0x03));
    const lines = p.toTerminal().split('\n');
    expect(lines).toHaveLength(34);
    for (const l of lines) expect([...l]).toHaveLength(130);
    expect([...lines[1]!].slice(1, 4).join('')).toBe('\u2580\u2584\u2588');
    expect(lines[2]!.slice(1, -1).trim()).toBe('');
  });

  it('toPng is a scaled panel picture with a bezel', () => {
    const p = litPanel('ssd1306');
    p.onWrite(Uint8Array.of(0x00, 0xb0, 0x00, 0x10));
    p.onWrite(Uint8Array.of(0x40, 0x01));
    const png = PNG.sync.read(p.toPng(4));
    expect(png.width).toBe(128 * 4 + 2 * 12);
    expect(png.height).toBe(64 * 4 + 2 * 12);
    const at = (x: number, y: number): number => png.data[(y * png.width + x) * 4]!;
    expect(at(12 + 1, 12 + 1)).toBeGreaterThan(150); // pixel (0,0) lit
    expect(at(12 + 5, 12 + 1)).toBeLessThan(20); // pixel (1,0) dark
  });
});
