import { PijigError } from '../core/errors.js';
import { printable } from '../util/printable.js';

/**
 * Every way the media subsystem refuses or fails. A refused bundle never changes the active
 * bundle; the code is what the OLED and the logs show, the message names the file and field.
 */
export const MEDIA_CODES = {
  // reading the bundle
  NO_BUNDLE: 'no bundle on the stick',
  BUNDLE_AMBIGUOUS: 'more than one bundle fits this station',
  MANIFEST_MISSING: 'manifest.json missing',
  MANIFEST_MALFORMED: 'manifest.json is not valid JSON',
  MANIFEST_INVALID: 'manifest.json has invalid fields',
  // trust
  SIGNATURE_MISSING: 'bundle is not signed',
  SIGNATURE_MALFORMED: 'manifest.sig is malformed',
  UNKNOWN_KEY: 'signed with a key this station does not trust',
  MANIFEST_CHANGED: 'manifest changed after signing',
  BAD_SIGNATURE: 'bad signature',
  NOT_RELEASE: 'not a release build',
  // station fit
  WRONG_PRODUCT: 'wrong product for this station',
  WRONG_TARGET: 'wrong target for this station',
  DOWNGRADE: 'older than the active image',
  PLAN_INVALID: 'test plan is invalid',
  UNKNOWN_TARGET: 'target is not a part pijig knows',
  OUTSIDE_FLASH: 'a region lies outside the target flash or breaks its layout',
  NOT_BINARY: 'a region holds HEX/S-record text or an ELF, not raw bytes',
  FIRMWARE_INVALID: 'a firmware file does not parse',
  BLOCK_INVALID: 'an identity block cannot be used (MAC not unicast, wraps, numbers wider than their digits)',
  BLOCK_OVERLAP: 'an identity block overlaps another station\'s block or numbers this station has used',
  NO_BLOCK_FOR_STATION: 'the plan writes identities and the bundle has no block for this station',
  // files
  PATH_ESCAPE: 'a file path leaves the bundle',
  SYMLINK: 'a file is a symbolic link',
  NOT_A_FILE: 'a bundle entry is not a regular file',
  FILE_MISSING: 'a file is missing',
  FILE_TOO_LARGE: 'a file is too large',
  SIZE_MISMATCH: 'a file has the wrong size',
  HASH_MISMATCH: 'a file hash differs',
  // copying
  STICK_REMOVED: 'stick removed during import',
  READ_FAILED: 'reading the stick failed',
  WRITE_FAILED: 'writing the data directory failed',
  STAGED_MISMATCH: 'copy differs from the stick',
  // the store on the jig
  NO_ACTIVE: 'no active bundle',
  NO_PREVIOUS: 'no previous bundle to roll back to',
  STORE_CORRUPT: 'stored bundle is corrupt',
  // keys and engineer tooling
  KEY_INVALID: 'key file or key text is invalid',
  KEY_EXISTS: 'key file already exists',
  // log sync
  SYNC_FAILED: 'log sync to the stick failed',
  STATION_ID_INVALID: 'station id cannot be a directory name',
} as const;

export type MediaErrorCode = keyof typeof MEDIA_CODES;

export interface MediaIssue {
  /** Field path inside the manifest, e.g. "regions[0].sha256". */
  path: string;
  message: string;
}

/**
 * A refusal or failure of the media subsystem. Its message, file and field name things on the
 * stick, so they are made printable here, once (util/printable.ts): whatever logs or draws a
 * MediaError cannot be handed a forged line.
 */
export class MediaError extends PijigError<MediaErrorCode> {
  readonly file: string | undefined;
  readonly field: string | undefined;
  readonly issues: MediaIssue[];
  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown; file?: string; field?: string; issues?: MediaIssue[] }) {
    super(code, printable(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.file = options?.file === undefined ? undefined : printable(options.file);
    this.field = options?.field === undefined ? undefined : printable(options.field);
    this.issues = (options?.issues ?? []).map((i) => ({ path: printable(i.path), message: printable(i.message) }));
  }
}

export function isMediaError(e: unknown, code?: MediaErrorCode): e is MediaError {
  return e instanceof MediaError && (code === undefined || e.code === code);
}
