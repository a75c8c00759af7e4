import { describe, expect, it } from 'vitest';
import { Framebuffer } from '../../../src/devices/display/framebuffer.js';

describe('Framebuffer', () => {
  it('sets, reads and clips pixels', () => {
    const fb = new Framebuffer();
    fb.setPixel(3, 4);
    fb.setPixel(-1, 0);
    fb.setPixel(128, 0);
    fb.setPixel(0, 64);
    fb.setPixel(1.5, 2);
    expect(fb.getPixel(3, 4)).toBe(true);
    expect(fb.getPixel(-1, 0)).toBe(false);
    expect(fb.countLit()).toBe(1);
  });

  it('fills, outlines and inverts rectangles, clipped to the glass', () => {
    const fb = new Framebuffer();
    fb.fillRect(120, 60, 20, 20);
    expect(fb.countLit()).toBe(8 * 4);
    fb.clear();
    fb.strokeRect(0, 0, 10, 5);
    expect(fb.countLit()).toBe(10 * 2 + 3 * 2);
    fb.invertRect(0, 0, 10, 5);
    expect(fb.countLit()).toBe(50 - 26);
    expect(fb.getPixel(1, 1)).toBe(true);
    expect(fb.getPixel(0, 0)).toBe(false);
  });

  it('packs into SSD1306 GDDRAM order: byte = 8 rows of one column, LSB on top', () => {
    const fb = new Framebuffer();
    fb.setPixel(0, 0);
    fb.setPixel(5, 9); // page 1, bit 1
    fb.setPixel(127, 63); // page 7, bit 7
    const pages = fb.toPages();
    expect(pages.length).toBe(1024);
    expect(pages[0]).toBe(0x01);
    expect(pages[128 + 5]).toBe(0x02);
    expect(pages[7 * 128 + 127]).toBe(0x80);
    expect(pages.reduce((a, b) => a + (b ? 1 : 0), 0)).toBe(3);
  });

  it('round-trips through fromPages and compares with equals', () => {
    const fb = new Framebuffer();
    for (let i = 0; i < 500; i++) fb.setPixel((i * 37) % 128, (i * 11) % 64);
    const back = Framebuffer.fromPages(fb.toPages());
    expect(back.equals(fb)).toBe(true);
    back.setPixel(0, 0, !back.getPixel(0, 0));
    expect(back.equals(fb)).toBe(false);
    expect(() => Framebuffer.fromPages(new Uint8Array(10))).toThrow(RangeError);
  });
});
