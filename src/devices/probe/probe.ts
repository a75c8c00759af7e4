import { PijigError } from '../../core/errors.js';

/**
 * The debug probe: one session per unit carries every flash operation of the cycle (erase,
 * program, identity, verify, reset, lock), so a cycle costs one adapter init and one target
 * examine. The real implementation drives one openocd process (openocd.ts).
 *
 * Contract of every operation:
 * - operations of one session run one at a time, in call order;
 * - each has a deadline (`timeoutMs`, or one derived from its size); at the deadline, or when
 *   `signal` fires, the session is ended hard (SIGKILL for openocd) and the operation rejects:
 *   a session that timed out or was aborted is dead and every later call rejects;
 * - failures reject with ProbeError, whose `code` is one of the reason codes below;
 * - a verify mismatch is a result, not an error (skip-when-identical uses verify as a test).
 */

export type ProbeFailure =
  | 'PROBE_NOT_FOUND'
  | 'TARGET_NOT_RESPONDING'
  | 'FLASH_PROTECTED'
  | 'VERIFY_FAILED'
  | 'CONNECTION_LOST'
  | 'PROBE_TIMEOUT'
  | 'PROGRAM_FAILED'
  | 'ABORTED';

export class ProbeError extends PijigError<ProbeFailure> {}

export interface OperationOptions {
  signal: AbortSignal;
  /** Override the operation's deadline (ms). */
  timeoutMs?: number;
}

export interface FamilyOptions extends OperationOptions {
  /** Chip family ("stm32f1x", "stm32f4x"); default: the probe's configured one. */
  family?: string;
}

export type ProbeOperation = 'erase' | 'program' | 'verify' | 'read' | 'reset' | 'lock';

/** What the session reports while it works; a step turns these into ctx.progress. */
export type ProbeEvent =
  | { type: 'started'; operation: ProbeOperation; address?: number; bytes?: number }
  | { type: 'erased'; address: number; bytes: number; seconds: number }
  | { type: 'programmed'; address: number; bytes: number; seconds: number }
  | { type: 'verified'; address: number; bytes: number; seconds: number; ok: boolean }
  | { type: 'reset'; mode: 'run' | 'halt'; seconds: number };

export type VerifyResult =
  | { ok: true; bytes: number; seconds: number }
  /** `firstDifference` is the lowest differing address; the tool lists at most 128 differences. */
  | { ok: false; bytes: number; seconds: number; differences: number; firstDifference: { address: number; actual: number; expected: number } };

export interface FlashSector {
  address: number;
  size: number;
}

export interface ProbeSession {
  /** Flash driver family of the target ("stm32f1x"). */
  readonly family: string;
  /** Subscribe to progress events; returns the unsubscribe function. */
  onEvent(listener: (event: ProbeEvent) => void): () => void;
  /** Reset the target and leave it halted ('halt') or running ('run'). */
  reset(mode: 'run' | 'halt', opts: OperationOptions): Promise<void>;
  /** The sectors of the flash bank(s), absolute addresses. */
  sectors(opts: OperationOptions): Promise<FlashSector[]>;
  /** Erase the sectors covering [address, address+length). */
  erase(address: number, length: number, opts: OperationOptions): Promise<{ seconds: number }>;
  /** Erase the whole flash with the family's mass-erase command. */
  massErase(opts: OperationOptions): Promise<{ seconds: number }>;
  /** Write a raw binary file at `address` (already erased). */
  writeFile(file: string, address: number, opts: OperationOptions): Promise<{ bytes: number; seconds: number }>;
  /** Erase the sectors under `data` and write it at `address`. */
  writeBytes(address: number, data: Uint8Array, opts: OperationOptions): Promise<{ bytes: number; seconds: number }>;
  /** Compare target memory at `address` with a raw binary file by read-back. */
  verifyFile(file: string, address: number, opts: OperationOptions): Promise<VerifyResult>;
  /** Read `length` bytes of target memory. */
  read(address: number, length: number, opts: OperationOptions): Promise<Uint8Array>;
  /** Turn read-out protection on (`<driver> lock 0`); effective after the next reset. */
  lock(opts: FamilyOptions): Promise<void>;
  /** Whether read protection is active, as the chip's option-byte register reports it. */
  readProtection(opts: FamilyOptions): Promise<boolean>;
  /** End the session (always; idempotent). Never rejects. */
  close(): Promise<void>;
}

export interface DebugProbe {
  /** Start one session for this unit: adapter up, target examined and halted. */
  open(opts: OperationOptions): Promise<ProbeSession>;
}
