import { PijigError } from '../core/errors.js';
import { printable } from '../util/printable.js';

export const OUTPUT_CODES = {
  STICK_REMOVED: 'the stick went away during the log sync',
  STICK_READ_ONLY: 'read-only stick: the logs cannot be written',
  STICK_UNSAFE: 'the stick holds a symbolic link or a special file where the logs go',
  SYNC_FAILED: 'log sync to the stick failed',
  STATION_ID_INVALID: 'station id cannot be a directory name',
} as const;

export type OutputErrorCode = keyof typeof OUTPUT_CODES;

/** A record output that failed: `details.file` names the place on the destination (made printable: it may come from a stick). */
export class OutputError extends PijigError<OutputErrorCode> {
  constructor(code: OutputErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    const file = options?.details?.['file'];
    const details = typeof file === 'string' ? { ...options!.details, file: printable(file) } : options?.details;
    super(code, printable(message), { ...(options?.cause === undefined ? {} : { cause: options.cause }), ...(details ? { details } : {}) });
  }
}
