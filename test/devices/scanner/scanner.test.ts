import { describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialScanner } from '../../../src/devices/scanner/scanner.serial.js';
import { EV_KEY, HidScanner, US_KEYS, inputEventSize } from '../../../src/devices/scanner/scanner.hid.js';
import { SimScanner } from '../../../src/devices/scanner/scanner.sim.js';
import { cleanLabel, LABEL_MAX } from '../../../src/devices/scanner/scanner.js';
import { createPtyPair } from '../../../src/sim/firmware/pty.js';

describe('barcode labels', () => {
  it('are printable ASCII of 1..64 characters; anything else is rejected with why', () => {
    expect(cleanLabel('LBL-0001\r\n')).toEqual({ code: 'LBL-0001' });
    expect(cleanLabel('')).toEqual({ rejected: 'empty scan' });
    expect(cleanLabel('x'.repeat(LABEL_MAX + 1))).toMatchObject({ rejected: expect.stringMatching(/65 characters/) });
    expect(cleanLabel('A\u0000B')).toMatchObject({ rejected: expect.stringMatching(/printable/) });
  });
});

describe('the serial (CDC) scanner', () => {
  it('reads labels ended by CR, LF or CRLF from a real serial port (a pty)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-scan-'));
    const pty = await createPtyPair({ dir });
    const scanner = new SerialScanner({ path: pty.stationPath, baudRate: 9600 });
    try {
      await scanner.open();
      const codes: string[] = [];
      const rejects: string[] = [];
      scanner.onScan((c) => codes.push(c));
      scanner.onReject((w) => rejects.push(w));
      const fd = openSync(pty.dutPath, 'w');
      writeSync(fd, 'LBL-1\rLBL-2\nLBL');
      writeSync(fd, '-3\r\n\u0001bad\r');
      closeSync(fd);
      await vi.waitFor(() => expect(codes).toEqual(['LBL-1', 'LBL-2', 'LBL-3']), { timeout: 5000, interval: 10 });
      await vi.waitFor(() => expect(rejects).toEqual([expect.stringMatching(/printable/)]), { timeout: 5000, interval: 10 });
    } finally {
      await scanner.close();
      await pty.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('a line that never ends is dropped, not grown without bound', () => {
    const s = new SerialScanner({ path: '/dev/null', baudRate: 9600 });
    const rejects: string[] = [];
    s.onReject((w) => rejects.push(w));
    s.data('x'.repeat(LABEL_MAX * 4 + 1));
    expect(rejects).toEqual([expect.stringMatching(/without a line end/)]);
  });
});

describe('the HID scanner', () => {
  /** input_event structs as the kernel writes them (linux/input.h), for a 64-bit or 32-bit kernel. */
  function events(keys: [code: number, value: number][], size: number): Buffer {
    const b = Buffer.alloc(keys.length * size * 2);
    keys.forEach(([code, value], i) => {
      const off = i * 2 * size;
      b.writeUInt16LE(EV_KEY, off + size - 8);
      b.writeUInt16LE(code, off + size - 6);
      b.writeInt32LE(value, off + size - 4);
      b.writeUInt16LE(0, off + 2 * size - 8); // EV_SYN after each
    });
    return b;
  }
  const codeOf = (ch: string): [number, boolean] => {
    for (const [code, [plain, shifted]] of Object.entries(US_KEYS)) {
      if (plain === ch) return [Number(code), false];
      if (shifted === ch) return [Number(code), true];
    }
    throw new Error(`no key for ${ch}`);
  };
  const typed = (text: string): [number, number][] =>
    [...text].flatMap((ch): [number, number][] => {
      const [code, shift] = codeOf(ch);
      return shift ? [[42, 1], [code, 1], [code, 0], [42, 0]] : [[code, 1], [code, 0]];
    });

  for (const size of [24, 16]) {
    it(`decodes typed labels and ENTER from ${size}-byte input events, split anywhere`, () => {
      const s = new HidScanner({ path: '/dev/null', eventSize: size });
      const codes: string[] = [];
      s.onScan((c) => codes.push(c));
      const bytes = events([...typed('LBL-00x7'), [28, 1], [28, 0], ...typed('ab'), [30, 2], [96, 1]], size);
      for (let i = 0; i < bytes.length; i += 7) s.data(bytes.subarray(i, i + 7));
      expect(codes).toEqual(['LBL-00x7', 'ab']);
    });
  }

  it('knows the kernel struct size of this machine', () => {
    expect(inputEventSize('arm')).toBe(16);
    expect(inputEventSize('arm64')).toBe(24);
    expect(inputEventSize('x64')).toBe(24);
  });
});

describe('the simulated scanner', () => {
  it('scans only while open, like a port', async () => {
    const s = new SimScanner();
    const codes: string[] = [];
    s.onScan((c) => codes.push(c));
    s.scan('early');
    await s.open();
    s.scan('LBL-9');
    await s.close();
    s.scan('late');
    expect(codes).toEqual(['LBL-9']);
  });
});
