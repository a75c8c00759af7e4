import type { PublicKeySetting } from './signing.js';

/** What the station's configuration tells the media subsystem (the zod schema lives in config/station.ts). */
export interface MediaSettings {
  /** Only bundles for this product are accepted; any product when absent. */
  product?: string;
  /** The MCU the station programs, e.g. "stm32f103c8"; a bundle for another target is refused. */
  target: string;
  /** Accept a bundle whose version is lower than the active one. */
  allowDowngrade: boolean;
  /** Largest file (region image or plan) a bundle may hold. */
  maxFileBytes: number;
  /** The keys bundles may be signed with: PEM or base64 of the 32 raw Ed25519 bytes. */
  publicKeys: PublicKeySetting[];
}
