import { SerialPort } from 'serialport';
import { LABEL_MAX, ScanListeners, ScannerError, type BarcodeScanner } from './scanner.js';

/**
 * A serial or USB-CDC scanner (/dev/ttyACM0, /dev/ttyUSB0): it sends each label as a line ended
 * by CR, LF or CRLF (the factory default of most scanners). Bytes are split here rather than by a
 * readline parser so that CR alone also ends a label, and a line never grows past LABEL_MAX * 4.
 */
export class SerialScanner implements BarcodeScanner {
  readonly description: string;
  private port: SerialPort | undefined;
  private pending = '';
  private readonly listeners = new ScanListeners();

  constructor(private readonly options: { path: string; baudRate: number }) {
    this.description = `serial ${options.path}`;
  }

  async open(): Promise<void> {
    const port = new SerialPort({ path: this.options.path, baudRate: this.options.baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(new ScannerError('OPEN_FAILED', `scanner ${this.description}: cannot open: ${e.message}`, { cause: e })) : resolve())));
    this.port = port;
    port.on('data', (chunk: Buffer) => this.data(chunk.toString('latin1')));
    port.on('error', (e: Error) => this.listeners.reject(`scanner ${this.description}: ${e.message}`));
    port.on('close', (e: Error | null) => e && this.listeners.reject(`scanner ${this.description} closed: ${e.message}`));
  }

  /** Bytes as they arrive: every CR or LF ends a label. */
  data(text: string): void {
    const parts = (this.pending + text).split(/[\r\n]/);
    this.pending = parts.pop() ?? '';
    if (this.pending.length > LABEL_MAX * 4) {
      this.listeners.reject(`scanner ${this.description}: ${this.pending.length} characters without a line end (dropped)`);
      this.pending = '';
    }
    for (const p of parts) if (p) this.listeners.line(p);
  }

  onScan(l: (code: string) => void): () => void {
    return this.listeners.onScan(l);
  }

  onReject(l: (why: string) => void): () => void {
    return this.listeners.onReject(l);
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
