import { crc32 } from '../util/crc32.js';

/**
 * The virtual jig's demo firmware: a real-looking STM32 image (vector table first, so openocd's
 * reset loads MSP/PC from it) carrying a header the simulated DUT recognises. The simulated DUT
 * "runs" the firmware only when the header and its CRC are intact, exactly like a boot check.
 *   0x000  vector table: MSP, Reset, then handlers (0x100 bytes)
 *   0x100  "PJSIMFW1"   magic
 *   0x108  32 bytes     product, ASCII, zero padded
 *   0x128  32 bytes     version, ASCII, zero padded
 *   0x148  u32 LE       body length
 *   0x14C  u32 LE       CRC-32 of the body
 *   0x150  body         deterministic bytes (stand-in for code)
 */
export const FIRMWARE_MAGIC = 'PJSIMFW1';
const HEADER = 0x100;
const BODY = 0x150;

export interface SimFirmwareInfo {
  product: string;
  version: string;
}

export function buildSimFirmware(info: SimFirmwareInfo, size = 4096): Uint8Array {
  if (size < BODY + 16 || size % 4 !== 0) throw new RangeError('firmware size must be a multiple of 4 and at least 352 bytes');
  const out = Buffer.alloc(size);
  out.writeUInt32LE(0x20005000, 0); // initial MSP: top of the F103's 20 KiB SRAM
  for (let v = 4; v < HEADER; v += 4) out.writeUInt32LE(0x08000151, v); // Reset and handlers (Thumb bit set)
  out.write(FIRMWARE_MAGIC, HEADER, 'ascii');
  writeField(out, HEADER + 0x08, info.product);
  writeField(out, HEADER + 0x28, info.version);
  const body = out.subarray(BODY);
  let x = crc32(Buffer.from(`${info.product}@${info.version}`)) || 1;
  for (let i = 0; i < body.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; // xorshift32
    body[i] = x & 0xff;
  }
  out.writeUInt32LE(body.length, HEADER + 0x48);
  out.writeUInt32LE(crc32(body), HEADER + 0x4c);
  return new Uint8Array(out);
}

/** What firmware a flash image (starting at the flash base) holds: a recognised one, blank, or something else. */
export function identifyFirmware(flash: Uint8Array): { state: 'blank' } | { state: 'foreign' } | ({ state: 'firmware' } & SimFirmwareInfo) {
  const b = Buffer.from(flash.buffer, flash.byteOffset, flash.byteLength);
  if (b.length < BODY || b.subarray(0, 8).every((x) => x === 0xff)) return { state: 'blank' };
  if (b.toString('ascii', HEADER, HEADER + 8) !== FIRMWARE_MAGIC) return { state: 'foreign' };
  const length = b.readUInt32LE(HEADER + 0x48);
  if (BODY + length > b.length) return { state: 'foreign' };
  if (crc32(b.subarray(BODY, BODY + length)) !== b.readUInt32LE(HEADER + 0x4c)) return { state: 'foreign' };
  return { state: 'firmware', product: readField(b, HEADER + 0x08), version: readField(b, HEADER + 0x28) };
}

function writeField(out: Buffer, offset: number, text: string): void {
  if (Buffer.byteLength(text, 'ascii') > 31) throw new RangeError(`"${text}" is longer than 31 characters`);
  out.write(text, offset, 'ascii');
}

function readField(b: Buffer, offset: number): string {
  const raw = b.subarray(offset, offset + 32);
  const end = raw.indexOf(0);
  return raw.toString('ascii', 0, end < 0 ? 32 : end);
}
