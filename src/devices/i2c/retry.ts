import { setTimeout as sleep } from 'node:timers/promises';
import { I2cError } from './i2c.js';

/**
 * Run one register access, retrying a bounded number of times on an I2C error (a transient NAK on
 * a long fixture cable), then report the last error through `fail`. Other errors pass through.
 */
export async function withI2cRetry<T>(op: () => Promise<T>, opts: { attempts: number; delayMs: number; fail: (error: I2cError, attempts: number) => Error }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (error) {
      if (!(error instanceof I2cError)) throw error;
      if (attempt >= opts.attempts) throw opts.fail(error, attempt);
      if (opts.delayMs > 0) await sleep(opts.delayMs);
    }
  }
}
