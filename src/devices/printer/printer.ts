import { PijigError } from '../../core/errors.js';

/**
 * What a ZPL printer says about itself in its answer to `~HS` (ZPL II Programming Guide, "~HS
 * Host Status Return": three strings, each `<STX>...<ETX><CR><LF>`).
 */
export interface HostStatus {
  paperOut: boolean;
  paused: boolean;
  /** Formats received and not yet printed. */
  formatsInBuffer: number;
  bufferFull: boolean;
  /** A format is being received (its ^XZ has not arrived). */
  partialFormat: boolean;
  corruptRam: boolean;
  underTemperature: boolean;
  overTemperature: boolean;
  headUp: boolean;
  ribbonOut: boolean;
  /** Labels of the format being printed that are still to come. */
  labelsRemaining: number;
}

export const PRINTER_CODES = {
  PRINTER_OFFLINE: 'the printer cannot be reached: off, unplugged or no network',
  PRINTER_TIMEOUT: 'the printer did not take the label in time',
  PRINTER_NOT_READY: 'the printer takes data but does not answer ~HS: paper or ribbon out, or head open',
  PRINTER_BUSY: 'another program has the printer open',
  PRINTER_ACCESS: 'no permission to open the printer',
  PAPER_OUT: 'the printer is out of labels',
  RIBBON_OUT: 'the printer is out of ribbon',
  HEAD_OPEN: 'the print head is open',
  PRINTER_PAUSED: 'the printer is paused',
  PRINTER_FAULT: 'the printer reports a fault (temperature, memory)',
  STATUS_GARBLED: 'the printer answered ~HS with something that is not a host status',
} as const;

export type PrinterCode = keyof typeof PRINTER_CODES;

/** A printer that cannot print now; `details.printer` names it. */
export class PrinterError extends PijigError<PrinterCode> {}

/**
 * A label printer at the end of a link (USB or TCP). One operation at a time: the caller
 * serialises them. Every operation has a deadline and ends in a PrinterError, never a hang.
 */
export interface LabelPrinter {
  /** "zpl tcp 10.0.0.50:9100", "zpl usb /dev/usb/lp0". */
  readonly description: string;
  /** Whether the printer is asked `~HS` (station config `label.status_query`). */
  readonly statusQuery: boolean;
  /**
   * Send a job, then `~HS` on the same link. The printer reads its input in order, so its answer
   * proves it holds the whole job; the status it reports is the one *after* receiving it.
   * Resolves `undefined` when the printer took the bytes but did not answer (see
   * PRINTER_NOT_READY), or when status queries are off. Rejects with PRINTER_OFFLINE when the
   * link cannot be opened or breaks, PRINTER_TIMEOUT when the bytes are not taken in time.
   */
  print(job: Uint8Array): Promise<HostStatus | undefined>;
  /** `~HS` alone: the same answers and errors as print(), nothing printed. */
  status(): Promise<HostStatus | undefined>;
}

/** Why a printer that answers cannot print, or undefined when it can. */
export function statusProblem(s: HostStatus): PrinterCode | undefined {
  if (s.paperOut) return 'PAPER_OUT';
  if (s.ribbonOut) return 'RIBBON_OUT';
  if (s.headUp) return 'HEAD_OPEN';
  if (s.paused) return 'PRINTER_PAUSED';
  if (s.overTemperature || s.underTemperature || s.corruptRam) return 'PRINTER_FAULT';
  return undefined;
}

/** Nothing waits in the printer: every format it received has been printed. */
export function printerIdle(s: HostStatus): boolean {
  return s.formatsInBuffer === 0 && s.labelsRemaining === 0 && !s.partialFormat;
}

/**
 * A PrinterError naming the printer. `details.sent` is false when nothing of the job can have
 * reached the printer (the link never opened): the job may be sent again.
 */
export function printerError(code: PrinterCode, printer: string, detail?: string, cause?: unknown, sent?: boolean): PrinterError {
  return new PrinterError(code, `${printer}: ${PRINTER_CODES[code]}${detail ? ` (${detail})` : ''}`, { ...(cause === undefined ? {} : { cause }), details: { printer, ...(sent === false ? { sent } : {}) } });
}
