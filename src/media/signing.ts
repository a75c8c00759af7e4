import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalBytes } from './canonical.js';
import { MediaError } from './errors.js';
import { issuePath } from './manifest.js';

/**
 * Ed25519 signatures over the canonical manifest. The signed message is the ASCII prefix
 * "pijig-bundle-v1\n" followed by the canonical manifest bytes; the prefix keeps a bundle
 * signature from ever being valid for anything else the same key might sign.
 *
 * A key is identified by its fingerprint: "sha256:" + hex sha256 of the 32 raw public key bytes.
 * Names are labels for people; trust is decided by fingerprint only.
 */
export const SIGNATURE_DOMAIN = 'pijig-bundle-v1\n';
export const SIGNATURE_FILE = 'manifest.sig';

export interface TrustedKey {
  name: string;
  fingerprint: string;
  key: KeyObject;
}

/** A public key as written in the station config: PEM (SPKI) or base64 of the 32 raw bytes. */
export interface PublicKeySetting {
  name: string;
  publicKey: string;
}

const signatureSchema = z.strictObject({
  format: z.literal(1),
  algorithm: z.literal('ed25519'),
  keyName: z.string().min(1).max(64),
  keyFingerprint: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  /** sha256 of the canonical manifest the signature was made over (= the bundle id); a hint that tells "manifest changed" from "bad signature". */
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'must be 64 bytes, base64'),
});
export type SignatureFile = z.infer<typeof signatureSchema>;

export function bundleIdOf(manifestJson: unknown): string {
  return createHash('sha256').update(canonicalBytes(manifestJson)).digest('hex');
}

export function signedMessage(manifestJson: unknown): Buffer {
  return Buffer.concat([Buffer.from(SIGNATURE_DOMAIN, 'ascii'), canonicalBytes(manifestJson)]);
}

export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new TypeError('not an Ed25519 public key');
  return Buffer.from(jwk.x, 'base64url');
}

export function fingerprintOf(key: KeyObject): string {
  return `sha256:${createHash('sha256').update(rawPublicKey(key)).digest('hex')}`;
}

/** Parse one configured public key; `where` names it in errors (e.g. "station.yaml media.publicKeys[0]"). */
export function parsePublicKey(setting: PublicKeySetting, where = setting.name): TrustedKey {
  const text = setting.publicKey.trim();
  let key: KeyObject;
  try {
    if (text.includes('-----BEGIN')) {
      key = createPublicKey(text);
    } else {
      const raw = Buffer.from(text, 'base64');
      if (raw.length !== 32 || raw.toString('base64') !== text) throw new Error('expected 32 bytes in base64 (or a PEM public key)');
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
  } catch (cause) {
    throw new MediaError('KEY_INVALID', `${where}: public key "${setting.name}" cannot be read: ${(cause as Error).message}`, { cause, field: where });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new MediaError('KEY_INVALID', `${where}: public key "${setting.name}" is ${key.asymmetricKeyType ?? 'not asymmetric'}, not ed25519`, { field: where });
  }
  return { name: setting.name, key, fingerprint: fingerprintOf(key) };
}

export function parsePublicKeys(settings: readonly PublicKeySetting[], field = 'publicKeys'): TrustedKey[] {
  return settings.map((s, i) => parsePublicKey(s, `${field}[${i}]`));
}

// --- jig side ----------------------------------------------------------------------------

export function parseSignatureFile(text: string, file: string): SignatureFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new MediaError('SIGNATURE_MALFORMED', `${file}: not valid JSON (${(cause as Error).message})`, { cause, file });
  }
  const r = signatureSchema.safeParse(json);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new MediaError('SIGNATURE_MALFORMED', `${file}: ${r.error.issues.map((i) => `${issuePath(i.path)}: ${i.message}`).join('; ')}`, {
      file,
      field: issuePath(first.path),
    });
  }
  return r.data;
}

/**
 * Check a signature against the trusted keys; returns the key that made it. Refuses with
 * UNKNOWN_KEY (fingerprint not trusted), MANIFEST_CHANGED (the manifest's canonical hash is not
 * the one that was signed) or BAD_SIGNATURE.
 */
export function verifyManifestSignature(manifestJson: unknown, sig: SignatureFile, trusted: readonly TrustedKey[], file: string): TrustedKey {
  const key = trusted.find((k) => k.fingerprint === sig.keyFingerprint);
  if (!key) {
    throw new MediaError('UNKNOWN_KEY', `${file}: signed by "${sig.keyName}" (${sig.keyFingerprint}), which is not among this station's ${trusted.length} trusted key(s)`, {
      file,
      field: 'keyFingerprint',
    });
  }
  const ok = verify(null, signedMessage(manifestJson), key.key, Buffer.from(sig.signature, 'base64'));
  if (ok) return key;
  if (bundleIdOf(manifestJson) !== sig.manifestSha256) {
    throw new MediaError('MANIFEST_CHANGED', `${file}: manifest.json was changed after it was signed (canonical sha256 is ${bundleIdOf(manifestJson)}, signed ${sig.manifestSha256})`, {
      file,
      field: 'manifestSha256',
    });
  }
  throw new MediaError('BAD_SIGNATURE', `${file}: signature does not verify with key "${key.name}" (${key.fingerprint})`, { file, field: 'signature' });
}
