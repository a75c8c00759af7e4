import type { MemoryBlock } from './blocks.js';

/**
 * Motorola S-records (S19/S28/S37) to memory blocks. Strict, like nrf-intel-hex is for Intel HEX:
 * every record's checksum, S1/S2/S3 data with 16/24/32-bit addresses, S5/S6 record counts checked
 * against the data records seen, a terminating S7/S8/S9 record required (a file cut short is
 * refused), no byte given twice. S0 (header) is checked and ignored. (Record format: the
 * `srec(5)` manual of SRecord; what `objcopy -O srec` writes.)
 *
 * Written here: npm has no maintained S-record parser (none in the registry lists we checked).
 */
export class SrecError extends Error {
  override name = 'SrecError';
}

const ADDRESS_BYTES: Record<string, number> = { '0': 2, '1': 2, '2': 3, '3': 4, '5': 2, '6': 3, '7': 4, '8': 3, '9': 2 };

export function parseSrec(text: string): MemoryBlock[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const chunks: { address: number; data: Uint8Array; line: number }[] = [];
  let dataRecords = 0;
  let terminated = false;
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (line === '') return;
    if (terminated) throw new SrecError(`line ${n}: data after the terminating S7/S8/S9 record`);
    const m = /^S([0-9])([0-9A-Fa-f]{2})((?:[0-9A-Fa-f]{2})*)$/.exec(line);
    if (!m) throw new SrecError(`line ${n}: not an S-record ("${line.slice(0, 40)}")`);
    const kind = m[1]!;
    const count = Number.parseInt(m[2]!, 16);
    const rest = Buffer.from(m[3]!, 'hex');
    if (rest.length !== count) throw new SrecError(`line ${n}: byte count ${count} but the record holds ${rest.length} bytes`);
    const addrBytes = ADDRESS_BYTES[kind];
    if (addrBytes === undefined) throw new SrecError(`line ${n}: S${kind} is not a defined record type`);
    if (count < addrBytes + 1) throw new SrecError(`line ${n}: S${kind} record too short`);
    let sum = count;
    for (let k = 0; k < rest.length - 1; k++) sum += rest[k]!;
    const expected = ~sum & 0xff;
    if (rest[rest.length - 1] !== expected) throw new SrecError(`line ${n}: checksum 0x${rest[rest.length - 1]!.toString(16)} should be 0x${expected.toString(16)}`);
    const address = rest.readUIntBE(0, addrBytes);
    const data = rest.subarray(addrBytes, rest.length - 1);
    switch (kind) {
      case '1':
      case '2':
      case '3':
        dataRecords++;
        if (address + data.length > 0x1_0000_0000) throw new SrecError(`line ${n}: data at 0x${address.toString(16)} runs past the 4 GiB address space`);
        if (data.length > 0) chunks.push({ address, data: new Uint8Array(data), line: n });
        return;
      case '5':
      case '6':
        if (address !== (dataRecords & (kind === '5' ? 0xffff : 0xffffff))) throw new SrecError(`line ${n}: S${kind} counts ${address} data records, the file has ${dataRecords} before it`);
        return;
      case '7':
      case '8':
      case '9':
        if (data.length !== 0) throw new SrecError(`line ${n}: S${kind} carries data`);
        terminated = true;
        return;
      default: // S0 header
        return;
    }
  });
  if (!terminated) throw new SrecError('no terminating S7/S8/S9 record: the file is cut short');
  if (chunks.length === 0) throw new SrecError('no data records');
  chunks.sort((a, b) => a.address - b.address);
  for (let k = 1; k < chunks.length; k++) {
    const a = chunks[k - 1]!, c = chunks[k]!;
    if (a.address + a.data.length > c.address) throw new SrecError(`line ${c.line}: data at 0x${c.address.toString(16)} was already given on line ${a.line}`);
  }
  return chunks.map(({ address, data }) => ({ address, data }));
}
