import { PijigError } from '../core/errors.js';
import type { ReasonCode } from '../core/reasons.js';

/** A step's failure with its reason code (see core/reasons.ts); anything else a step throws becomes STEP_EXCEPTION. */
export class StepError extends PijigError<ReasonCode> {}
