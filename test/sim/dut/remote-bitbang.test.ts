import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteBitbangServer } from '../../../src/sim/dut/remote-bitbang.js';
import { SimStm32 } from '../../../src/sim/dut/stm32f1.js';

/** remote_bitbang characters for one TCK cycle: falling edge (optionally sample TDO), rising edge. */
function cycle(tms: number, tdi: number, sample = false): string {
  const low = String((tms << 1) | tdi);
  const high = String(4 | (tms << 1) | tdi);
  return low + (sample ? 'R' : '') + high;
}

/** From Test-Logic-Reset into Shift-DR, then 32 sampled bits: the cpu TAP's IDCODE. */
const READ_IDCODE = '0' + cycle(1, 0).repeat(5) + cycle(0, 0) + cycle(1, 0) + cycle(0, 0) + cycle(0, 0) + Array.from({ length: 32 }, (_, i) => cycle(i === 31 ? 1 : 0, 0, true)).join('');

function bitsToNumber(reply: string): number {
  return [...reply].reduce((acc, c, i) => acc + (c === '1' ? 2 ** i : 0), 0);
}

class Client {
  private received = '';
  private waiters: Array<() => void> = [];
  ended = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.received += d.toString('latin1');
      this.waiters.splice(0).forEach((w) => w());
    });
    socket.on('end', () => {
      this.ended = true;
      this.waiters.splice(0).forEach((w) => w());
    });
  }
  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new Client(socket)));
      socket.once('error', reject);
    });
  }
  /** Send and wait for exactly `n` reply characters (or the end of the connection). */
  async exchange(text: string, n: number): Promise<string> {
    this.socket.write(text);
    while (this.received.length < n && !this.ended) await new Promise<void>((r) => this.waiters.push(r));
    const out = this.received.slice(0, n);
    this.received = this.received.slice(n);
    return out;
  }
  waitEnd(): Promise<void> {
    return this.ended ? Promise.resolve() : new Promise((r) => this.waiters.push(() => this.ended && r()));
  }
}

let server: RemoteBitbangServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('RemoteBitbangServer', () => {
  it('answers each R with one character: the IDCODE comes out LSB first', async () => {
    server = new RemoteBitbangServer(new SimStm32());
    const { port } = await server.listen({ port: 0 });
    const client = await Client.open(port!);
    const reply = await client.exchange(READ_IDCODE, 32);
    expect(bitsToNumber(reply)).toBe(0x3ba00477);
    expect(server.stats).toMatchObject({ reads: 32, connections: 1, bytesIn: READ_IDCODE.length });
    client.socket.destroy();
  });

  it('uses the chip in the fixture now: a swapped-in unpowered chip answers all ones', async () => {
    server = new RemoteBitbangServer(new SimStm32());
    const { port } = await server.listen({ port: 0 });
    const client = await Client.open(port!);
    server.chip = new SimStm32({ powered: false });
    expect(await client.exchange(READ_IDCODE, 32)).toBe('1'.repeat(32));
    client.socket.destroy();
  });

  it('stays silent on R when the target is silent', async () => {
    const chip = new SimStm32();
    chip.faults.silent = true;
    server = new RemoteBitbangServer(chip);
    const { port } = await server.listen({ port: 0 });
    const client = await Client.open(port!);
    client.socket.write(READ_IDCODE);
    while (server.stats.bytesIn < READ_IDCODE.length) await new Promise((r) => setImmediate(r));
    expect(server.stats.reads).toBe(0);
    chip.faults.silent = false;
    // The next exchange gets the answers to its own reads only: the silent ones are never sent.
    expect(await client.exchange('R', 1)).toBe('1');
    expect(server.stats.reads).toBe(1);
    client.socket.destroy();
  });

  it('closes live connections cleanly on dropConnections and on Q', async () => {
    server = new RemoteBitbangServer(new SimStm32());
    const { port } = await server.listen({ port: 0 });
    const a = await Client.open(port!);
    await a.exchange('R', 1);
    server.dropConnections();
    await a.waitEnd();
    const b = await Client.open(port!);
    b.socket.write('Q');
    await b.waitEnd();
    expect(a.ended && b.ended).toBe(true);
  });
});
