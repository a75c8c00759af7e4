/**
 * Reason codes: what a technician reads on the OLED and in the record. Steps throw StepError
 * with one of these; anything else a step throws becomes STEP_EXCEPTION.
 */
export const REASONS = {
  // station / runner
  STEP_EXCEPTION: 'the step threw an unexpected error',
  STEP_TIMEOUT: 'the step did not finish within its timeout',
  ABORTED: 'ABORT pressed or lid opened',
  LIMIT_LOW: 'a measurement is below its lower limit',
  LIMIT_HIGH: 'a measurement is above its upper limit',
  LIMIT_MISMATCH: 'a measurement differs from the expected value',
  MEASUREMENT_MISSING: 'a limit names a measurement the step did not produce',
  DEVICE_MISSING: 'a device the step needs is not configured or not answering',
  NO_IMAGE: 'no active image to flash',
  // probe / openocd
  PROBE_NOT_FOUND: 'debug probe not found',
  TARGET_NOT_RESPONDING: 'target not responding on the debug port',
  FLASH_PROTECTED: 'flash is read-out protected',
  VERIFY_FAILED: 'read-back differs from the image',
  CONNECTION_LOST: 'connection to the probe/target lost',
  PROBE_TIMEOUT: 'openocd did not finish before its deadline',
  PROGRAM_FAILED: 'programming failed',
  IMAGE_CORRUPT: 'an image file does not match its declared sha256 or size',
  LOCK_NOT_PROVEN: 'read-out protection did not take effect',
  IDENTITY_MISMATCH: 'identity read back differs from what was written',
  COMMAND_FAILED: 'external command failed',
  // functional checks
  I2C_ERROR: 'I2C device did not answer',
  OVERRANGE: 'the unit drew more current than the power monitor can measure (its range ends above max_current_a)',
  CONSOLE_TIMEOUT: 'console did not answer in time',
  CONSOLE_ERROR: 'console port error',
  LED_STATE: 'an LED is not in the expected state (dark, stuck on or not blinking)',
} as const;

export type ReasonCode = keyof typeof REASONS;

export class StepError extends Error {
  override name = 'StepError';
  constructor(
    readonly code: ReasonCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;
}
