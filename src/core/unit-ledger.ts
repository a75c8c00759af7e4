import type { UnitIdentity } from './identity.js';

/** The chip in the fixture, as the first probe step of a cycle reads it. */
export interface ChipSeen {
  /** The 96-bit unique ID as 24 hex digits (most significant word first), when the chip exposes it. */
  uid: string | undefined;
  /** Read-out protection is active. */
  locked: boolean;
}

export interface Admission {
  /** 1 for the first cycle this chip (UID) has seen on this station, 2 for its first retest, ... */
  attempt: number;
}

/**
 * What a step may ask of the station's ledger during one cycle (the station hands one per cycle
 * as `ctx.ledger`). Every method writes the ledger durably (fsync) before it resolves, and
 * rejects - failing the step, never silently - when it cannot: a number or a flash is on disk
 * before it reaches the DUT.
 *
 * Refusals are StepErrors with their reason code: QUARANTINE (over the plan's retest limit),
 * ALREADY_PASSED / ALREADY_LOCKED (a locked board), ORDER_COMPLETE, IDENTITY_EXHAUSTED,
 * LEDGER_FAILED (the ledger cannot be read or written).
 */
export interface UnitLedger {
  /** The chip is in the fixture: count the attempt and apply the retest policy. Once per cycle, before anything is written to it. */
  admit(chip: ChipSeen): Promise<Admission>;
  /** Count a flash of this image for this order before the first erase. */
  beginFlash(imageHash: string): Promise<void>;
  /**
   * The unit's identity: the one this ledger issued to the chip's UID (a retest keeps it), else a
   * new serial number and MAC, reserved before they are returned. `onChip` is the identity record
   * the chip already carries, if any.
   */
  identity(onChip: UnitIdentity | undefined): Promise<{ identity: UnitIdentity; reused: boolean }>;
}
