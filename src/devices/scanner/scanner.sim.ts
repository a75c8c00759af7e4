import { ScanListeners, type BarcodeScanner } from './scanner.js';

/** The virtual jig's scanner: `scan(text)` is the operator pulling the trigger on a label. */
export class SimScanner implements BarcodeScanner {
  readonly description = 'simulated scanner';
  private readonly listeners = new ScanListeners();
  private opened = false;

  async open(): Promise<void> {
    this.opened = true;
  }

  /** The line the scanner sends (a label; the sim adds no line end). Ignored while closed, as a real port would. */
  scan(text: string): void {
    if (this.opened) this.listeners.line(text);
  }

  onScan(l: (code: string) => void): () => void {
    return this.listeners.onScan(l);
  }

  onReject(l: (why: string) => void): () => void {
    return this.listeners.onReject(l);
  }

  async close(): Promise<void> {
    this.opened = false;
  }
}
