import { PijigError } from '../../core/errors.js';
export type SimDutErrorCode =
  /** A saved chip state file is missing. */
  | 'STATE_MISSING'
  /** A saved chip state file is not one this code wrote (bad magic, version or size). */
  | 'STATE_CORRUPT'
  /** Reading or writing the state file failed. */
  | 'STATE_IO'
  /** The remote_bitbang server could not listen. */
  | 'LISTEN_FAILED'
  /** A constructor option is out of range. */
  | 'BAD_OPTION';

export class SimDutError extends PijigError<SimDutErrorCode> {}
