import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DisplayError } from '../../../src/devices/display/display.js';
import { Framebuffer } from '../../../src/devices/display/framebuffer.js';
import { I2cError } from '../../../src/devices/i2c/i2c.js';
import { ADDRESS, oledRig } from './oled-rig.js';

function pattern(seed: number): Framebuffer {
  const fb = new Framebuffer();
  for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) if ((x * 7 + y * 13 + seed) % 5 === 0) fb.setPixel(x, y);
  fb.strokeRect(0, 0, 128, 64); // the edges catch off-by-one column offsets
  return fb;
}

describe.each(['ssd1306', 'sh1106'] as const)('Ssd1306Display (%s)', (controller) => {
  it('init configures the panel, clears its RAM and switches it on, with no decode errors', async () => {
    const { panel, display } = oledRig(controller);
    await display.init();
    expect(panel.errors).toEqual([]);
    expect(panel.displayOn).toBe(true);
    expect(panel.chargePump).toBe(true);
    expect(panel.segmentRemap).toBe(true);
    expect(panel.comScanReversed).toBe(true);
    expect(panel.multiplex).toBe(63);
    expect(panel.gddram().every((b) => b === 0)).toBe(true);
    if (controller === 'ssd1306') expect(panel.addressing).toBe('horizontal');
    expect(panel.frame().countLit()).toBe(0);
  });

  it('a frame decoded from the byte stream equals the frame sent', async () => {
    const { panel, display } = oledRig(controller);
    await display.init();
    for (const seed of [0, 1, 2]) {
      const fb = pattern(seed);
      await display.show(fb);
      expect(panel.frame().equals(fb)).toBe(true);
    }
    expect(panel.errors).toEqual([]);
    expect(display.stats.frames).toBe(3);
  });

  it('copies the frame at show(), so the caller may keep drawing', async () => {
    const { panel, display } = oledRig(controller);
    const fb = pattern(4);
    const expected = fb.clone();
    const sent = display.show(fb);
    fb.clear();
    await sent;
    expect(panel.frame().equals(expected)).toBe(true);
  });

  it('coalesces a burst of frames in one tick into the newest', async () => {
    const { panel, display } = oledRig(controller);
    await display.init();
    const frames = [1, 2, 3, 4, 5].map((s) => pattern(s));
    const before = panel.frames;
    const results = await Promise.allSettled(frames.map((f) => display.show(f)));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(panel.frames - before).toBe(1);
    expect(panel.frame().equals(frames[4]!)).toBe(true);
    expect(display.stats.coalesced).toBe(4);
  });

  it('frames requested while one is on the wire: that one finishes, then only the newest is sent', async () => {
    const { bus, panel, display } = oledRig(controller);
    await display.init();
    const frames = [1, 2, 3, 4].map((s) => pattern(s));
    const shown: Framebuffer[] = [];
    panel.onFrame = (p) => shown.push(p.frame());
    const later: Array<Promise<void>> = [];
    bus.onTransaction = () => {
      // Inside the first frame's first transaction: a slow bus, and the station moves on.
      if (later.length === 0) later.push(...frames.slice(1).map((f) => display.show(f)));
    };
    await display.show(frames[0]!);
    await Promise.all(later);
    expect(shown).toHaveLength(2);
    expect(shown[0]!.equals(frames[0]!)).toBe(true);
    expect(shown[1]!.equals(frames[3]!)).toBe(true);
    expect(display.stats.coalesced).toBe(2);
  });

  it('a missing panel rejects show() with a DisplayError carrying the I2cError; nothing escapes', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => { unhandled.push(e); };
    process.on('unhandledRejection', onUnhandled);
    try {
      const { bus, panel, display } = oledRig(controller);
      await display.init();
      bus.detach(ADDRESS);
      const err = await display.show(pattern(1)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(DisplayError);
      expect((err as DisplayError).code).toBe('NOT_RESPONDING');
      expect((err as DisplayError).cause).toBeInstanceOf(I2cError);
      expect(((err as DisplayError).cause as I2cError).code).toBe('EREMOTEIO');
      expect((err as DisplayError).message).toMatch(/0x3c/);
      // Coalesced callers share the failure.
      const both = await Promise.allSettled([display.show(pattern(2)), display.show(pattern(3))]);
      expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      await expect(display.init()).rejects.toBeInstanceOf(DisplayError);

      // Plugged back in (and power-cycled): the next frame re-runs init and shows.
      bus.reattach(ADDRESS);
      panel.onWrite(Uint8Array.of(0x00, 0xae));
      await display.show(pattern(7));
      expect(panel.displayOn).toBe(true);
      expect(panel.frame().equals(pattern(7))).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('sleep and wake switch the glass off and on, keeping the picture', async () => {
    const { panel, display } = oledRig(controller);
    await display.show(pattern(9));
    await display.sleep();
    expect(panel.displayOn).toBe(false);
    expect(panel.frame().countLit()).toBe(0);
    await display.wake();
    expect(panel.frame().equals(pattern(9))).toBe(true);
  });
});

describe('I2C traffic per frame', () => {
  let rig: ReturnType<typeof oledRig>;
  afterEach(() => expect(rig.panel.errors).toEqual([]));

  describe('ssd1306', () => {
    beforeEach(async () => {
      rig = oledRig('ssd1306');
      await rig.display.init();
      rig.log.length = 0;
    });

    it('sends a window command and ONE bulk write of 0x40 + 1024 bytes', async () => {
      const data: Uint8Array[] = [];
      const onWrite = rig.panel.onWrite.bind(rig.panel);
      rig.panel.onWrite = (d) => { data.push(d); onWrite(d); };
      await rig.display.show(pattern(1));
      expect(rig.log.map((t) => t.bytes)).toEqual([7, 1025]);
      expect([...data[0]!]).toEqual([0x00, 0x21, 0, 127, 0x22, 0, 7]);
      expect(data[1]![0]).toBe(0x40);
      expect(rig.display.stats.lastFrame).toMatchObject({ transactions: 2, bytes: 1032 });
    });
  });

  describe('sh1106', () => {
    beforeEach(async () => {
      rig = oledRig('sh1106');
      await rig.display.init();
      rig.log.length = 0;
    });

    it('sends 8 pages, each after page and column commands with the 2-column offset', async () => {
      const data: Uint8Array[] = [];
      const onWrite = rig.panel.onWrite.bind(rig.panel);
      rig.panel.onWrite = (d) => { data.push(d); onWrite(d); };
      await rig.display.show(pattern(1));
      expect(rig.log).toHaveLength(16);
      for (let page = 0; page < 8; page++) {
        expect([...data[page * 2]!]).toEqual([0x00, 0xb0 | page, 0x02, 0x10]);
        expect(data[page * 2 + 1]!.length).toBe(129);
        expect(data[page * 2 + 1]![0]).toBe(0x40);
      }
      expect(rig.display.stats.lastFrame).toMatchObject({ transactions: 16, bytes: 1064 });
      // The invisible columns 0-1 and 130-131 are left alone.
      const ram = rig.panel.gddram();
      for (let page = 0; page < 8; page++) for (const c of [0, 1, 130, 131]) expect(ram[page * 132 + c]).toBe(0);
    });
  });
});
