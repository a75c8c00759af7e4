import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { HOST_STATUS_QUERY, parseHostStatus } from './zpl.js';
import { printerError, PrinterError, type HostStatus, type LabelPrinter } from './printer.js';
import type { PrinterDeadlines } from './zpl-tcp.js';

export interface UsbPrinterOptions {
  /** The usblp device, /dev/usb/lpN (or a udev symlink to it). */
  path: string;
  deadlines: PrinterDeadlines;
  statusQuery: boolean;
  /** How often a would-block read or write is tried again (default 10 ms). */
  retryMs?: number;
}

/**
 * A ZPL printer on USB through the kernel's usblp driver. The device is opened non-blocking
 * (usblp honours O_NONBLOCK for reads and writes), so a printer that never answers cannot hold
 * one of libuv's threadpool threads in a blocking read: every read and write is retried on
 * EAGAIN until its deadline. The device node disappears when the printer is unplugged or off
 * (ENOENT), and a printer unplugged mid-job fails with ENODEV.
 */
export class UsbZplPrinter implements LabelPrinter {
  readonly description: string;
  readonly statusQuery: boolean;
  private readonly retryMs: number;

  constructor(private readonly options: UsbPrinterOptions) {
    this.description = `zpl usb ${options.path}`;
    this.statusQuery = options.statusQuery;
    this.retryMs = options.retryMs ?? 10;
  }

  print(job: Uint8Array): Promise<HostStatus | undefined> {
    return this.exchange(job);
  }

  status(): Promise<HostStatus | undefined> {
    return this.exchange(new Uint8Array(0));
  }

  private async exchange(job: Uint8Array): Promise<HostStatus | undefined> {
    const { deadlines, path } = this.options;
    const name = this.description;
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (err) {
      throw this.mapError(err, 'open', false);
    }
    try {
      await this.drain(fh); // an answer left over from an earlier, abandoned query
      const payload = this.statusQuery ? Buffer.concat([job, Buffer.from(HOST_STATUS_QUERY, 'latin1')]) : Buffer.from(job);
      const writeBy = Date.now() + deadlines.writeMs;
      for (let off = 0; off < payload.length; ) {
        const n = await this.attempt(() => fh.write(payload, off, payload.length - off), writeBy, 'write');
        if (n === undefined) throw printerError('PRINTER_TIMEOUT', name, `the printer took ${off} of ${payload.length} bytes in ${deadlines.writeMs} ms`);
        off += n.bytesWritten;
      }
      if (!this.statusQuery) return undefined;
      const readBy = Date.now() + deadlines.statusMs;
      const buf = Buffer.alloc(512);
      let answer = '';
      for (;;) {
        const r = await this.attempt(() => fh.read(buf, 0, buf.length, null), readBy, 'read');
        if (r === undefined) return undefined; // took the job, said nothing: see PRINTER_NOT_READY
        answer += buf.toString('latin1', 0, r.bytesRead);
        let status: HostStatus | undefined;
        try {
          status = parseHostStatus(answer);
        } catch (err) {
          throw printerError('STATUS_GARBLED', name, (err as Error).message, err);
        }
        if (status) return status;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * Run a non-blocking read or write until it moves data: undefined at the deadline. A read of 0
   * bytes (nothing yet) counts as would-block.
   */
  private async attempt<T extends { bytesRead?: number; bytesWritten?: number }>(op: () => Promise<T>, by: number, what: string): Promise<T | undefined> {
    for (;;) {
      try {
        const r = await op();
        if ((r.bytesRead ?? r.bytesWritten ?? 0) > 0) return r;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw this.mapError(err, what);
      }
      if (Date.now() >= by) return undefined;
      await new Promise((resolve) => setTimeout(resolve, this.retryMs));
    }
  }

  private async drain(fh: FileHandle): Promise<void> {
    const buf = Buffer.alloc(512);
    for (let i = 0; i < 16; i++) {
      try {
        if ((await fh.read(buf, 0, buf.length, null)).bytesRead === 0) return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
        throw this.mapError(err, 'read');
      }
    }
  }

  private mapError(err: unknown, what: string, sent?: boolean): PrinterError {
    if (err instanceof PrinterError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const detail = `${what}: ${code || (err as Error).message}`;
    if (code === 'EACCES' || code === 'EPERM') return printerError('PRINTER_ACCESS', this.description, `${detail}; add the pijig user to the lp group`, err, sent);
    if (code === 'EBUSY') return printerError('PRINTER_BUSY', this.description, detail, err, sent);
    // ENOENT (no device node), ENODEV/ESHUTDOWN (unplugged mid-job), EIO, EPIPE: the printer is not there
    return printerError('PRINTER_OFFLINE', this.description, detail, err, sent);
  }
}
