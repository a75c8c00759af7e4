/** Bytes at an absolute target address, as a firmware file describes them. */
export interface MemoryBlock {
  address: number;
  data: Uint8Array;
}

/**
 * Sort blocks by address and join those that touch into one: the result is what a flash would
 * hold, with no byte invented for a gap (separate blocks stay separate regions). Throws on
 * overlapping blocks, naming both.
 */
export function joinBlocks(blocks: readonly MemoryBlock[]): MemoryBlock[] {
  const sorted = [...blocks].sort((a, b) => a.address - b.address);
  const out: { address: number; parts: Uint8Array[]; end: number }[] = [];
  for (const b of sorted) {
    if (b.data.length === 0) continue;
    const last = out[out.length - 1];
    if (last && b.address < last.end) throw new RangeError(`data at 0x${b.address.toString(16)} overlaps data ending at 0x${(last.end - 1).toString(16)}`);
    if (last && b.address === last.end) {
      last.parts.push(b.data);
      last.end += b.data.length;
    } else {
      out.push({ address: b.address, parts: [b.data], end: b.address + b.data.length });
    }
  }
  return out.map((o) => ({ address: o.address, data: o.parts.length === 1 ? o.parts[0]! : new Uint8Array(Buffer.concat(o.parts)) }));
}
