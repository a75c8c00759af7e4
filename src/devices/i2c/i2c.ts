import { PijigError } from '../../core/errors.js';
/**
 * The I2C port. Every I2C device driver (OLED, INA219, TCS34725) talks to a bus through this
 * interface only; the real adapter wraps i2c-bus, the simulated twin routes the same bytes to
 * register-level device models. One call is one I2C transaction on the wire.
 *
 * Contract: calls are asynchronous and never block the event loop; a device that does not
 * acknowledge its address rejects with an I2cError whose code is 'EREMOTEIO' (as the Linux
 * i2c-dev driver does); other bus faults reject with code 'EIO'. Drivers catch and report,
 * they never let an I2C error escape as an uncaught exception.
 */
export interface I2cBus {
  /** One write transaction: START, address+W, the bytes, STOP. */
  write(address: number, data: Uint8Array): Promise<void>;
  /** One read transaction of `length` bytes: START, address+R, bytes, STOP. */
  read(address: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export type I2cErrorCode = 'EREMOTEIO' | 'EIO' | 'ETIMEDOUT' | 'ENOENT';

export class I2cError extends PijigError<I2cErrorCode> {
  constructor(
    code: I2cErrorCode,
    readonly busNumber: number,
    readonly address: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `i2c-${busNumber} 0x${address.toString(16).padStart(2, '0')}: ${message}`, options);
  }
}

/** Write a register pointer then read `length` bytes (two transactions, as INA219/TCS34725 allow). */
export async function readRegister(bus: I2cBus, address: number, register: number, length: number): Promise<Uint8Array> {
  await bus.write(address, Uint8Array.of(register));
  return bus.read(address, length);
}
