import { Socket } from 'node:net';
import { HOST_STATUS_QUERY, parseHostStatus } from './zpl.js';
import { printerError, PrinterError, type HostStatus, type LabelPrinter } from './printer.js';

export interface PrinterDeadlines {
  connectMs: number;
  writeMs: number;
  statusMs: number;
}

export interface TcpPrinterOptions {
  host: string;
  port: number;
  deadlines: PrinterDeadlines;
  /** Ask ~HS (station config label.status_query). */
  statusQuery: boolean;
}

/**
 * A ZPL printer on the network, raw TCP (port 9100). One connection per operation: the printer
 * serves one client at a time, and a connection that cannot be opened is the plainest sign that
 * it is off or unplugged. Every phase has a deadline; the socket is destroyed at the end.
 */
export class TcpZplPrinter implements LabelPrinter {
  readonly description: string;
  readonly statusQuery: boolean;

  constructor(private readonly options: TcpPrinterOptions) {
    this.description = `zpl tcp ${options.host}:${options.port}`;
    this.statusQuery = options.statusQuery;
  }

  print(job: Uint8Array): Promise<HostStatus | undefined> {
    return this.exchange(job);
  }

  status(): Promise<HostStatus | undefined> {
    return this.exchange(new Uint8Array(0));
  }

  private exchange(job: Uint8Array): Promise<HostStatus | undefined> {
    const { host, port, deadlines } = this.options;
    const name = this.description;
    const ask = this.statusQuery;
    return new Promise<HostStatus | undefined>((resolve, reject) => {
      const socket = new Socket();
      let phase: 'connect' | 'write' | 'status' = 'connect';
      let answer = '';
      let timer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      const finish = (err: PrinterError | undefined, status?: HostStatus) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.destroy();
        if (err) reject(err);
        else resolve(status);
      };
      const deadline = (ms: number, onExpiry: () => void) => {
        clearTimeout(timer);
        timer = setTimeout(onExpiry, ms);
      };
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // before the printer confirmed anything, any socket error means it is not there
        finish(printerError('PRINTER_OFFLINE', name, `${phase}: ${err.code ?? err.message}`, err, phase !== 'connect'));
      });
      socket.on('close', () => {
        if (phase === 'status') finish(printerError('PRINTER_OFFLINE', name, 'the connection closed before the printer answered ~HS'));
        else finish(printerError('PRINTER_OFFLINE', name, `${phase}: the connection closed`, undefined, phase !== 'connect'));
      });
      socket.on('data', (chunk: Buffer) => {
        if (phase !== 'status') return;
        answer += chunk.toString('latin1');
        try {
          const status = parseHostStatus(answer);
          if (status) finish(undefined, status);
        } catch (err) {
          finish(printerError('STATUS_GARBLED', name, (err as Error).message, err));
        }
      });
      deadline(deadlines.connectMs, () => finish(printerError('PRINTER_OFFLINE', name, `no connection within ${deadlines.connectMs} ms`, undefined, false)));
      socket.connect({ host, port }, () => {
        socket.setNoDelay(true);
        phase = 'write';
        deadline(deadlines.writeMs, () => finish(printerError('PRINTER_TIMEOUT', name, `the printer did not take ${job.length} bytes within ${deadlines.writeMs} ms`)));
        const payload = ask ? Buffer.concat([job, Buffer.from(HOST_STATUS_QUERY, 'latin1')]) : Buffer.from(job);
        socket.write(payload, (err) => {
          if (err || settled) return; // the 'error' handler settles
          if (!ask) {
            // no status: the bytes are handed over once the kernel has them and the printer closed nothing
            socket.end(() => finish(undefined));
            return;
          }
          phase = 'status';
          // the printer took the bytes but stays silent: Zebra firmware does not answer ~HS on media out, ribbon out, head open
          deadline(deadlines.statusMs, () => finish(undefined));
        });
      });
    });
  }
}
