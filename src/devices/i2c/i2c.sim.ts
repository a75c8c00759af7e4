import { I2cError, type I2cBus } from './i2c.js';

/** A register-level model of one I2C device, attached to a SimI2cBus at its address. */
export interface SimI2cDevice {
  /** Bytes of one write transaction addressed to this device. */
  onWrite(data: Uint8Array): void;
  /** Produce the bytes of one read transaction. */
  onRead(length: number): Uint8Array;
}

export interface I2cTransaction {
  kind: 'write' | 'read';
  address: number;
  bytes: number;
}

/**
 * The simulated I2C bus: routes each transaction to the device model at its address. A missing
 * (or detached) device rejects with EREMOTEIO like the kernel does. Every call waits a tick so
 * callers see the same asynchrony as hardware. Keeps counters of the traffic for benchmarks.
 */
export class SimI2cBus implements I2cBus {
  private readonly devices = new Map<number, SimI2cDevice>();
  private readonly detached = new Set<number>();
  private closed = false;
  readonly stats = { transactions: 0, bytes: 0 };
  /** Called for every transaction (for tests and benchmarks). */
  onTransaction: ((t: I2cTransaction) => void) | undefined;

  constructor(readonly busNumber = 1) {}

  attach(address: number, device: SimI2cDevice): void {
    this.devices.set(address, device);
  }

  /** Fault injection: the device stops acknowledging (unplugged, broken wire). */
  detach(address: number): void {
    this.detached.add(address);
  }

  reattach(address: number): void {
    this.detached.delete(address);
  }

  async write(address: number, data: Uint8Array): Promise<void> {
    await tick();
    const device = this.target(address);
    this.count('write', address, data.length);
    device.onWrite(Uint8Array.from(data));
  }

  async read(address: number, length: number): Promise<Uint8Array> {
    await tick();
    const device = this.target(address);
    this.count('read', address, length);
    const out = device.onRead(length);
    if (out.length !== length) throw new I2cError('EIO', this.busNumber, address, `short read: ${out.length} of ${length} bytes`);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private target(address: number): SimI2cDevice {
    if (this.closed) throw new I2cError('EIO', this.busNumber, address, 'bus is closed');
    const device = this.devices.get(address);
    if (!device || this.detached.has(address)) {
      throw new I2cError('EREMOTEIO', this.busNumber, address, 'no acknowledge (device missing?)');
    }
    return device;
  }

  private count(kind: 'write' | 'read', address: number, bytes: number): void {
    this.stats.transactions++;
    this.stats.bytes += bytes;
    this.onTransaction?.({ kind, address, bytes });
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
