import { I2cError, type I2cBus, type I2cErrorCode } from './i2c.js';

/** The real bus: Linux i2c-dev through i2c-bus (promisified, so nothing blocks the event loop). */
export class LinuxI2cBus implements I2cBus {
  private constructor(
    readonly busNumber: number,
    private readonly bus: import('i2c-bus').PromisifiedBus,
  ) {}

  static async open(busNumber: number): Promise<LinuxI2cBus> {
    const { openPromisified } = await import('i2c-bus');
    try {
      return new LinuxI2cBus(busNumber, await openPromisified(busNumber));
    } catch (err) {
      throw new I2cError('ENOENT', busNumber, 0, `cannot open /dev/i2c-${busNumber} (${(err as Error).message})`, { cause: err });
    }
  }

  async write(address: number, data: Uint8Array): Promise<void> {
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      await this.bus.i2cWrite(address, buffer.length, buffer);
    } catch (err) {
      throw this.wrap(err, address);
    }
  }

  async read(address: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.alloc(length);
    try {
      const { bytesRead } = await this.bus.i2cRead(address, length, buffer);
      if (bytesRead !== length) throw new I2cError('EIO', this.busNumber, address, `short read: ${bytesRead} of ${length} bytes`);
      return buffer;
    } catch (err) {
      throw this.wrap(err, address);
    }
  }

  async close(): Promise<void> {
    await this.bus.close();
  }

  private wrap(err: unknown, address: number): I2cError {
    if (err instanceof I2cError) return err;
    const code = (err as NodeJS.ErrnoException).code;
    const known: I2cErrorCode = code === 'EREMOTEIO' || code === 'ETIMEDOUT' ? code : 'EIO';
    return new I2cError(known, this.busNumber, address, (err as Error).message, { cause: err });
  }
}
