import { crc32 } from '../util/crc32.js';
import { formatMac, parseMac, type UnitIdentity } from '../core/identity.js';

/**
 * The identity record written into the DUT's flash (64 bytes, a multiple of the STM32F1's
 * half-word programming unit):
 *   0  "PJID"            magic
 *   4  u8                format (1)
 *   5  u8                serial length
 *   6  6 bytes           MAC
 *   12 48 bytes          serial, ASCII, zero padded
 *   60 u32 LE            CRC-32 of bytes 0..59
 * The firmware reads it at boot; the identity step reads it back over the debug port.
 */
export const IDENTITY_RECORD_SIZE = 64;
const MAGIC = 'PJID';

export function encodeIdentity(identity: UnitIdentity): Uint8Array {
  const serial = Buffer.from(identity.serial, 'ascii');
  if (serial.length === 0 || serial.length > 48) throw new RangeError(`serial "${identity.serial}" must be 1..48 ASCII characters`);
  const out = Buffer.alloc(IDENTITY_RECORD_SIZE);
  out.write(MAGIC, 0, 'ascii');
  out[4] = 1;
  out[5] = serial.length;
  Buffer.from(parseMac(identity.mac)).copy(out, 6);
  serial.copy(out, 12);
  out.writeUInt32LE(crc32(out.subarray(0, 60)), 60);
  return new Uint8Array(out);
}

/** Decode a record, or undefined when the bytes hold none (blank, torn or foreign). */
export function decodeIdentity(bytes: Uint8Array): UnitIdentity | undefined {
  if (bytes.length < IDENTITY_RECORD_SIZE) return undefined;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, IDENTITY_RECORD_SIZE);
  if (b.toString('ascii', 0, 4) !== MAGIC || b[4] !== 1) return undefined;
  if (b.readUInt32LE(60) !== crc32(b.subarray(0, 60))) return undefined;
  const length = b[5]!;
  if (length === 0 || length > 48) return undefined;
  return { serial: b.toString('ascii', 12, 12 + length), mac: formatMac(b.subarray(6, 12)) };
}
