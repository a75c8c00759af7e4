import { realpath, stat } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SerialPort } from 'serialport';
import { createPtyPair, PtyError } from '../../../src/sim/firmware/pty.js';
import { connectUart, type UartPeer } from '../../../src/devices/console/uart.sim.js';

function openPort(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  return new Promise((resolve, reject) => port.open((error) => (error ? reject(error) : resolve(port))));
}

function closePort(port: SerialPort): Promise<void> {
  return new Promise((resolve) => port.close(() => resolve()));
}

function nextData(port: SerialPort): Promise<string> {
  return new Promise((resolve) => port.once('data', (chunk: Buffer) => resolve(chunk.toString())));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('createPtyPair (real socat)', () => {
  it('links two ptys like a null-modem cable and removes everything on close', async () => {
    const pair = await createPtyPair();
    try {
      expect(await realpath(pair.dutPath)).toMatch(/^\/dev\/pts\/\d+$/);
      expect(await realpath(pair.stationPath)).toMatch(/^\/dev\/pts\/\d+$/);
      const dut = await openPort(pair.dutPath);
      const station = await openPort(pair.stationPath);
      const got = nextData(station);
      dut.write('hello\r\n');
      expect(await got).toBe('hello\r\n');
      const back = nextData(dut);
      station.write('version\r');
      expect(await back).toBe('version\r');
      await closePort(dut);
      await closePort(station);
    } finally {
      await pair.close();
    }
    expect(alive(pair.pid!)).toBe(false);
    await expect(stat(pair.dutPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await pair.close(); // idempotent
  });

  it('tells the user to install socat when it is missing', async () => {
    const error = await createPtyPair({ socatPath: '/nonexistent/socat' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PtyError);
    expect(error).toMatchObject({ code: 'SOCAT_MISSING', message: expect.stringMatching(/install socat/) });
  });

  it('reports a socat that exits before the ptys are ready', async () => {
    const error = await createPtyPair({ socatPath: '/bin/false' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'START_FAILED', message: expect.stringMatching(/exited \(1\)/) });
  });

  it('connects a simulated UART to the DUT end', async () => {
    const pair = await createPtyPair();
    const listeners = new Set<(data: Uint8Array) => void>();
    const echo: UartPeer = {
      receive: (data) => listeners.forEach((l) => l(Uint8Array.from(data, (b) => (b >= 0x61 && b <= 0x7a ? b - 32 : b)))),
      onTransmit: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const link = await connectUart(echo, pair.dutPath);
    const station = await openPort(pair.stationPath);
    try {
      const got = nextData(station);
      station.write('ping\n');
      expect(await got).toBe('PING\n');
    } finally {
      await closePort(station);
      await link.close();
      await pair.close();
    }
    expect(listeners.size).toBe(0);
  });
});
