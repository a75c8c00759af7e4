import { PijigError } from '../core/errors.js';

export const OUTPUT_CODES = {
  STICK_REMOVED: 'the stick went away during the log sync',
  SYNC_FAILED: 'log sync to the stick failed',
  STATION_ID_INVALID: 'station id cannot be a directory name',
} as const;

export type OutputErrorCode = keyof typeof OUTPUT_CODES;

/** A record output that failed: `details.file` names the place on the destination. */
export class OutputError extends PijigError<OutputErrorCode> {}
