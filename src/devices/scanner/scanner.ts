import { PijigError } from '../../core/errors.js';

/**
 * A barcode scanner at the fixture: the operator scans the board's label before START. A
 * serial/CDC scanner (scanner.serial.ts) or a HID keyboard-wedge one read from its input event
 * device (scanner.hid.ts); the virtual jig's twin is scanner.sim.ts.
 *
 * Contract: `open()` rejects with a ScannerError naming the device. Listeners get one code per
 * scan, already checked by `cleanLabel` (printable ASCII, 1..LABEL_MAX characters); anything else
 * the device sends is dropped and reported to `onReject`. A scanner that goes away reports it to
 * `onReject` too and never throws into the station.
 */
export interface BarcodeScanner {
  /** "serial /dev/ttyACM0", "hid /dev/input/event3". */
  readonly description: string;
  open(): Promise<void>;
  onScan(listener: (code: string) => void): () => void;
  onReject(listener: (why: string) => void): () => void;
  close(): Promise<void>;
}

/** Labels are short (a Code 128 or DataMatrix serial); a longer line is noise, not a label. */
export const LABEL_MAX = 64;

export class ScannerError extends PijigError<'OPEN_FAILED' | 'READ_FAILED'> {}

/** The label in a scanned line, or why it is not one. */
export function cleanLabel(line: string): { code: string } | { rejected: string } {
  const code = line.replace(/^[\r\n]+|[\r\n]+$/g, '');
  if (!code) return { rejected: 'empty scan' };
  if (code.length > LABEL_MAX) return { rejected: `scan of ${code.length} characters (at most ${LABEL_MAX})` };
  if (!/^[\x20-\x7e]+$/.test(code)) return { rejected: 'scan holds characters that are not printable ASCII' };
  return { code };
}

/** Listener bookkeeping shared by the adapters. */
export class ScanListeners {
  private readonly scans = new Set<(code: string) => void>();
  private readonly rejects = new Set<(why: string) => void>();

  onScan(l: (code: string) => void): () => void {
    this.scans.add(l);
    return () => this.scans.delete(l);
  }

  onReject(l: (why: string) => void): () => void {
    this.rejects.add(l);
    return () => this.rejects.delete(l);
  }

  /** A complete line from the device. */
  line(text: string): void {
    const r = cleanLabel(text);
    if ('code' in r) for (const l of this.scans) safely(() => l(r.code));
    else this.reject(r.rejected);
  }

  reject(why: string): void {
    for (const l of this.rejects) safely(() => l(why));
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // a listener's trouble is its own
  }
}
