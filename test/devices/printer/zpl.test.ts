import { describe, expect, it } from 'vitest';
import { compressGraphic, formatHostStatus, graphicRows, parseHostStatus, repeatCount, zplLabel } from '../../../src/devices/printer/zpl.js';
import { decodeFormat, decompressGraphic, MonoImage, SimZplPrinter } from '../../../src/devices/printer/zpl.sim.js';
import { TcpZplPrinter } from '../../../src/devices/printer/zpl-tcp.js';
import { printerIdle, statusProblem } from '../../../src/devices/printer/printer.js';

function random(width: number, height: number, seed: number, density: number): MonoImage {
  const img = new MonoImage(width, height);
  let s = seed;
  for (let i = 0; i < img.px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    img.px[i] = (s >>> 16) / 65536 < density ? 1 : 0;
  }
  // long runs, blank rows, repeated rows, full rows: every form of the compression
  for (let y = 0; y < height; y += 7) for (let x = 0; x < width; x++) img.setPixel(x, y, y % 14 === 0);
  for (let x = 0; x < width; x++) img.setPixel(x, 3, img.getPixel(x, 2));
  return img;
}

describe('ZPL graphics', () => {
  it('repeat counts are ZPL letters: 7 = M, 40 = h, 327 = vM (the Programming Guide examples), counts above add up', () => {
    expect(repeatCount(7)).toBe('M');
    expect(repeatCount(40)).toBe('h');
    expect(repeatCount(327)).toBe('vM');
    expect(repeatCount(400)).toBe('z');
    expect(repeatCount(821)).toBe('zzgG');
    expect(decompressGraphic('vMB', 200, 1)[0]![0]).toBe(0xbb);
  });

  it('a label goes to ^GFA and comes back dot for dot, compressed well below plain hex', () => {
    for (const [w, h, density] of [[392, 192, 0.02], [1201, 40, 0.5], [8, 8, 1], [17, 5, 0]] as const) {
      const img = random(w, h, w * h, density);
      const zpl = zplLabel(img, { comment: 'pijig seq=1 serial=WG^000001' });
      const back = decodeFormat(zpl.toString('latin1'));
      expect(back.image.width).toBe(Math.ceil(w / 8) * 8);
      expect(back.image.height).toBe(h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) expect(back.image.getPixel(x, y)).toBe(img.getPixel(x, y));
      expect(back.comments).toEqual(['pijig seq=1 serial=WG_000001']); // ^ and ~ never reach the printer inside a comment
    }
    const sparse = random(392, 192, 1, 0.02);
    expect(compressGraphic(graphicRows(sparse)).length).toBeLessThan((392 / 8) * 192 * 2 * 0.5);
  });

  it('rejects graphic data a printer would not take', () => {
    expect(() => decompressGraphic('0#', 1, 1)).toThrow(/not graphic data/);
    expect(() => decodeFormat('^XA^GFB,1,1,1,x^FS^XZ')).toThrow(/ASCII hex/);
  });
});

describe('~HS host status', () => {
  const idle = { paperOut: false, paused: false, formatsInBuffer: 0, bufferFull: false, partialFormat: false, corruptRam: false, underTemperature: false, overTemperature: false, headUp: false, ribbonOut: false, labelsRemaining: 0 };

  it('parses the three strings, only once all three have come', () => {
    const text = formatHostStatus({ ...idle, paperOut: true, formatsInBuffer: 2, headUp: true, labelsRemaining: 3 });
    expect(parseHostStatus(text.slice(0, 40))).toBeUndefined();
    const s = parseHostStatus(text)!;
    expect(s).toMatchObject({ paperOut: true, formatsInBuffer: 2, headUp: true, labelsRemaining: 3 });
    expect(statusProblem(s)).toBe('PAPER_OUT');
    expect(printerIdle(s)).toBe(false);
    expect(printerIdle(parseHostStatus(formatHostStatus(idle))!)).toBe(true);
    expect(() => parseHostStatus('\x02a\x03\x02b\x03\x02c\x03')).toThrow(/not a ~HS answer/);
  });

  it('the TCP adapter: status and receipt over one connection, PRINTER_OFFLINE when off (nothing sent), silence as undefined', async () => {
    const printer = await SimZplPrinter.start({ printMs: 60_000, faultReply: 'silent' });
    const tcp = new TcpZplPrinter({ host: '127.0.0.1', port: printer.port, deadlines: { connectMs: 5000, writeMs: 5000, statusMs: 300 }, statusQuery: true });
    try {
      expect(await tcp.status()).toMatchObject({ formatsInBuffer: 0 });
      const img = random(64, 16, 3, 0.3);
      expect(await tcp.print(zplLabel(img))).toMatchObject({ formatsInBuffer: 1 }); // the answer proves receipt
      printer.setPaperOut(true);
      expect(await tcp.status()).toBeUndefined(); // Zebra firmware says nothing on media out
      await printer.setPower(false);
      await expect(tcp.print(zplLabel(img))).rejects.toMatchObject({ code: 'PRINTER_OFFLINE', details: { sent: false } });
      expect(printer.received).toHaveLength(1);
    } finally {
      await printer.close();
    }
  });
});
