import { describe, expect, it } from 'vitest';
import { Framebuffer } from '../../src/devices/display/framebuffer.js';
import { LARGE, SMALL, drawText, textWidth } from '../../src/operator/font.js';
import { PROGRESS_BAR, drawScreen, formatClock, formatDuration, progressFill, renderScreen } from '../../src/operator/render.js';
import type { Screen } from '../../src/operator/screens.js';
import { SAMPLE_SCREENS } from '../../src/operator/sample-screens.js';
import { oledRig } from '../devices/display/oled-rig.js';

const SCREENS: Record<string, Screen> = {
  ready: { kind: 'ready', product: 'Widget WX-200', version: '1.4.2', pass: 128, fail: 3 },
  'close-lid': { kind: 'close-lid', product: 'Widget WX-200', version: '1.4.2' },
  running: { kind: 'running', step: 'program', stepIndex: 2, stepCount: 6, progress: 0.62, elapsedMs: 83_000, detail: 'writing 41/64 KiB' },
  pass: { kind: 'pass', serial: 'WX2-0001742', durationMs: 42_300 },
  fail: { kind: 'fail', step: 'current', reason: 'CURRENT_HIGH', detail: '182.4 mA > 150 mA' },
  aborted: { kind: 'aborted', step: 'console check' },
  fault: { kind: 'fault', title: 'CONFIG ERROR', lines: ['station.yaml:12', 'gpio.start.line: expected a number'] },
  'message-new-image': { kind: 'message', icon: 'ok', title: 'NEW IMAGE 1.4.2 READY', lines: ['signature OK'] },
  'message-safe-to-remove': { kind: 'message', icon: 'usb', title: 'SAFE TO REMOVE', lines: ['logs copied: 131 units'] },
  'message-wait': { kind: 'message', icon: 'wait', title: 'Verifying image bundle from the USB stick', lines: [] },
  'message-error': { kind: 'message', icon: 'error', title: 'REFUSED', lines: ['bad signature'] },
};

/** A framebuffer that remembers every attempt to draw outside the glass. */
class SpyFramebuffer extends Framebuffer {
  readonly outside: Array<[number, number]> = [];
  override setPixel(x: number, y: number, on = true): void {
    if (!this.inBounds(x, y)) this.outside.push([x, y]);
    super.setPixel(x, y, on);
  }
}

function regionEquals(a: Framebuffer, b: Framebuffer, x: number, y: number, w: number, h: number): boolean {
  for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) if (a.getPixel(xx, yy) !== b.getPixel(xx, yy)) return false;
  return true;
}

/** Text as the renderer should have drawn it, alone on a frame. */
function textAt(x: number, y: number, text: string, font = SMALL, on = true, background = false): Framebuffer {
  const fb = new Framebuffer();
  if (background) fb.clear(true);
  drawText(fb, x, y, text, font, { on });
  return fb;
}

const centreX = (text: string, font = SMALL, scale = 1): number => Math.floor((128 - textWidth(text, font, scale)) / 2);

describe('every screen, through the driver and the decoding panel', () => {
  for (const controller of ['ssd1306', 'sh1106'] as const) {
    it(`${controller}: the decoded glass equals renderScreen for each screen`, async () => {
      const { panel, display } = oledRig(controller);
      await display.init();
      for (const [name, screen] of [...Object.entries(SCREENS), ...Object.entries(SAMPLE_SCREENS)]) {
        const fb = renderScreen(screen);
        expect(fb.countLit(), `${name} is blank`).toBeGreaterThan(100);
        await display.show(fb);
        expect(panel.frame().equals(fb), name).toBe(true);
      }
      expect(panel.errors).toEqual([]);
    });
  }
});

describe('screen content', () => {
  it('PASS: large word on top, serial and duration below, decoded from the panel', async () => {
    const { panel, display } = oledRig('ssd1306');
    await display.show(renderScreen(SCREENS.pass!));
    const glass = panel.frame();
    const hero = new Framebuffer();
    drawText(hero, centreX('PASS', LARGE, 2), 3, 'PASS', LARGE, { scale: 2 });
    expect(regionEquals(glass, hero, 0, 0, 128, 36)).toBe(true);
    expect(glass.countLit(0, 3, 128, 30)).toBeGreaterThan(1000); // big and bold
    expect(regionEquals(glass, textAt(centreX('SN WX2-0001742'), 40, 'SN WX2-0001742'), 0, 38, 128, 10)).toBe(true);
    expect(regionEquals(glass, textAt(centreX('42.3 s'), 52, '42.3 s'), 0, 50, 128, 12)).toBe(true);
  });

  it('FAIL is dark on a lit block, PASS lit on dark: told apart without reading', () => {
    const pass = renderScreen(SCREENS.pass!);
    const fail = renderScreen(SCREENS.fail!);
    expect(fail.countLit(0, 0, 128, 35)).toBeGreaterThan(128 * 35 * 0.6);
    expect(pass.countLit(0, 0, 128, 35)).toBeLessThan(128 * 35 * 0.4);
    expect(regionEquals(fail, textAt(centreX('CURRENT_HIGH'), 46, 'CURRENT_HIGH'), 0, 45, 128, 9)).toBe(true);
  });

  it('a long failing step name is wrapped and cut with an ellipsis, never drawn off the glass', () => {
    const screen: Screen = {
      kind: 'fail',
      step: 'verify the external flash checksum against the bundle manifest after programming',
      reason: 'FLASH_CHECKSUM_MISMATCH_AFTER_PROGRAMMING',
      detail: 'crc32 0x1234abcd expected 0xdeadbeef at 0x08000000',
    };
    const fb = drawScreen(new SpyFramebuffer(), screen) as SpyFramebuffer;
    expect(fb.outside).toEqual([]);
    // Text keeps its 2-pixel margin: nothing was cut at the glass edge.
    expect(fb.countLit(0, 36, 2, 28)).toBe(0);
    expect(fb.countLit(126, 36, 2, 28)).toBe(0);
  });

  it('the progress bar fill matches progress, clamped', () => {
    const inner = PROGRESS_BAR.w - 2 * PROGRESS_BAR.inset;
    const midY = PROGRESS_BAR.y + Math.floor(PROGRESS_BAR.h / 2);
    for (const [progress, expected] of [[0, 0], [0.25, 31], [0.5, 62], [0.62, 77], [1, 124], [1.7, 124], [-1, 0], [Number.NaN, 0]] as const) {
      const fb = renderScreen({ ...(SCREENS.running as Extract<Screen, { kind: 'running' }>), progress });
      expect(fb.countLit(PROGRESS_BAR.inset, midY, inner, 1), `progress ${progress}`).toBe(expected);
      expect(progressFill(progress)).toBe(expected);
      // The outline is always there.
      expect(fb.getPixel(0, midY) && fb.getPixel(127, midY)).toBe(true);
    }
    expect(inner).toBe(124);
  });

  it('RUNNING: step i/n and the mm:ss clock in the header, step name large', () => {
    const fb = renderScreen(SCREENS.running!);
    expect(formatClock(83_000)).toBe('01:23');
    const clock = '01:23';
    const x = 126 - textWidth(clock, SMALL);
    const header = new Framebuffer();
    header.fillRect(0, 0, 128, 11);
    drawText(header, x, 2, clock, SMALL, { on: false });
    drawText(header, 2, 2, 'STEP 2/6', SMALL, { on: false });
    expect(regionEquals(fb, header, 0, 0, 128, 11)).toBe(true);
    expect(regionEquals(fb, textAt(centreX('PROGRAM', LARGE), 16, 'PROGRAM', LARGE), 0, 14, 128, 17)).toBe(true);
  });

  it('READY shows the counts; FAULT shows its title and wraps its lines', () => {
    const ready = renderScreen(SCREENS.ready!);
    expect(regionEquals(ready, textAt(2, 54, 'PASS 128'), 0, 52, 64, 10)).toBe(true);
    expect(regionEquals(ready, textAt(126 - textWidth('FAIL 3', SMALL), 54, 'FAIL 3'), 64, 52, 64, 10)).toBe(true);
    const fault = renderScreen(SCREENS.fault!);
    expect(fault.countLit(0, 0, 128, 19)).toBeGreaterThan(128 * 19 * 0.6); // lit title bar
    expect(regionEquals(fault, textAt(2, 22, 'station.yaml:12'), 0, 21, 128, 9)).toBe(true);
  });

  it('nothing is drawn off the glass, whatever the strings', () => {
    const long = 'W'.repeat(80);
    const words = 'supercalifragilistic '.repeat(12);
    const nasty: Screen[] = [
      { kind: 'ready', product: long, version: long, pass: 123456789, fail: 987654321, note: words },
      { kind: 'ready', product: '', version: '', pass: 0, fail: 0 },
      { kind: 'close-lid', product: long, version: long },
      { kind: 'running', step: long, stepIndex: 99, stepCount: 99, progress: 2, elapsedMs: 1e9, detail: words },
      { kind: 'running', step: words, stepIndex: 1, stepCount: 2, progress: 0.5, elapsedMs: 0 },
      { kind: 'pass', serial: long, durationMs: 1e9 },
      { kind: 'pass', durationMs: 1 },
      { kind: 'fail', step: long, reason: long, detail: long },
      { kind: 'aborted' },
      { kind: 'aborted', step: words },
      { kind: 'fault', title: long, lines: [words, long, words, long, words] },
      { kind: 'fault', title: '', lines: [] },
      { kind: 'message', title: words, lines: [words, long], icon: 'wait' },
      { kind: 'message', title: long, lines: [] },
      { kind: 'message', title: 'é ü ∑ \u{1F600} tabs\tand\nnewlines', lines: ['\u0000\u0007'] },
    ];
    for (const s of nasty) {
      const fb = drawScreen(new SpyFramebuffer(), s) as SpyFramebuffer;
      expect(fb.outside, JSON.stringify(s).slice(0, 80)).toEqual([]);
    }
  });

  it('formats durations for the operator', () => {
    expect(formatDuration(42_300)).toBe('42.3 s');
    expect(formatDuration(65_000)).toBe('1:05 min');
    expect(formatClock(3_725_000)).toBe('1:02:05');
  });
});
