/**
 * Reason codes: what a technician reads on the OLED and in the record, and what the unit's
 * result becomes. As in OpenHTF, FAIL and ERROR are different verdicts:
 * - `FAIL`: the unit was judged bad (a limit, a verify, a lock that did not take): a reject.
 * - `ERROR`: the jig could not judge the unit (an exception, a probe or device fault, a timeout of
 *   the jig's own machinery, a plan that asks for what no step gives): not known bad; the jig
 *   needs attention and the unit a retest.
 * Steps throw StepError with one of these; anything else a step throws becomes STEP_EXCEPTION.
 */
export const REASONS = {
  // station / runner
  STEP_EXCEPTION: { result: 'ERROR', text: 'the step threw an unexpected error' },
  STEP_TIMEOUT: { result: 'ERROR', text: 'the step did not finish within its timeout' },
  ABORTED: { result: 'ABORTED', text: 'ABORT pressed or lid opened' },
  INTERLOCK: { result: 'ERROR', text: 'DUT power refused: the lid is open or the cycle has ended' },
  LIMIT_LOW: { result: 'FAIL', text: 'a measurement is below its lower limit' },
  LIMIT_HIGH: { result: 'FAIL', text: 'a measurement is above its upper limit' },
  LIMIT_MISMATCH: { result: 'FAIL', text: 'a measurement differs from the expected value' },
  MEASUREMENT_MISSING: { result: 'ERROR', text: 'a limit names a measurement the step did not produce' },
  UNIT_MISMATCH: { result: 'ERROR', text: "a limit's unit is not a unit of its measurement's quantity (V against mA)" },
  REGEX_TIMEOUT: { result: 'ERROR', text: "a plan's regular expression took too long on a line of input and was stopped" },
  DEVICE_MISSING: { result: 'ERROR', text: 'a device the step needs is not configured or not answering' },
  NO_IMAGE: { result: 'ERROR', text: 'no active image to flash' },
  // probe / openocd
  PROBE_NOT_FOUND: { result: 'ERROR', text: 'debug probe not found' },
  TARGET_NOT_RESPONDING: { result: 'FAIL', text: 'target not responding on the debug port' },
  FLASH_PROTECTED: { result: 'FAIL', text: 'flash is read-out protected' },
  VERIFY_FAILED: { result: 'FAIL', text: 'read-back differs from the image' },
  CONNECTION_LOST: { result: 'ERROR', text: 'connection to the probe/target lost' },
  PROBE_TIMEOUT: { result: 'ERROR', text: 'openocd did not finish before its deadline' },
  PROGRAM_FAILED: { result: 'FAIL', text: 'programming failed' },
  IMAGE_CORRUPT: { result: 'ERROR', text: 'an image file does not match its declared sha256 or size' },
  NOT_BINARY: { result: 'ERROR', text: 'an image region holds Intel HEX, S-record or ELF text, not the raw bytes the jig flashes' },
  LOCK_NOT_PROVEN: { result: 'FAIL', text: 'read-out protection did not take effect' },
  IDENTITY_MISMATCH: { result: 'FAIL', text: 'identity read back differs from what was written' },
  IDENTITY_EXHAUSTED: { result: 'ERROR', text: 'every number of the identity block is used' },
  // the ledger (records/ledger.ts): every number and flash accounted for
  QUARANTINE: { result: 'FAIL', text: 'the board reached the plan\'s retest limit (retest.max_attempts): quarantined, not run again' },
  ALREADY_PASSED: { result: 'ERROR', text: 'this board already passed here and is locked: not tested again (its identity is in the record)' },
  ALREADY_LOCKED: { result: 'ERROR', text: 'the chip is read-out protected and not known to this station: not tested' },
  ORDER_COMPLETE: { result: 'ERROR', text: 'the order quantity is reached: no more boards are flashed for this order' },
  LEDGER_FAILED: { result: 'ERROR', text: 'the ledger cannot be read or written: nothing is flashed or numbered' },
  INTERRUPTED: { result: 'ERROR', text: 'the station stopped mid-cycle (power cut or crash); recorded at the next start' },
  RECORD_LOST: { result: 'ERROR', text: 'the journal line of this unit was damaged and replaced in a recorded repair' },
  COMMAND_FAILED: { result: 'FAIL', text: 'external command failed' },
  // functional checks
  I2C_ERROR: { result: 'ERROR', text: 'I2C device did not answer' },
  CONSOLE_TIMEOUT: { result: 'FAIL', text: 'console did not answer in time' },
  CONSOLE_ERROR: { result: 'ERROR', text: 'console port error' },
  LED_STATE: { result: 'FAIL', text: 'an LED is not in the expected state (dark, stuck on or not blinking)' },
  OVERRANGE: { result: 'FAIL', text: 'the unit drew more current than the power monitor can measure (its range ends above max_current_a)' },
} as const satisfies Record<string, { result: 'FAIL' | 'ERROR' | 'ABORTED'; text: string }>;

export type ReasonCode = keyof typeof REASONS;

/** What a failure with this code makes of the unit. */
export function resultOf(code: ReasonCode): 'FAIL' | 'ERROR' | 'ABORTED' {
  return REASONS[code].result;
}
