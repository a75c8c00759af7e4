import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PijigError } from '../core/errors.js';
import { writeFileAtomic } from '../util/fs.js';

/**
 * The station's own Ed25519 key: made on the first start, kept in the data directory (mode
 * 0600). It is the station's identity in its logs - it signs log checkpoints, never firmware:
 * every signature is over "pijig-checkpoint-v1\n" + the checkpoint, a message no bundle signature
 * can ever be (bundles sign "pijig-bundle-v1\n" + a manifest, with the engineer's key).
 *
 * This is the only module on the jig that makes or reads a private key
 * (test/media/boundary.test.ts holds it to that).
 */
export const STATION_KEY_FILE = 'station-key.pem';
export const STATION_PUB_FILE = 'station-key.pub';
export const CHECKPOINT_DOMAIN = 'pijig-checkpoint-v1\n';

export class StationKeyError extends PijigError<'KEY_INVALID' | 'KEY_WRITE_FAILED'> {}

export interface StationKey {
  /** "sha256:" + hex sha256 of the 32 raw public key bytes (as bundle keys are named). */
  fingerprint: string;
  /** base64 of the 32 raw public key bytes. */
  publicKey: string;
  publicPem: string;
  /** Sign a log checkpoint's payload (the domain prefix is added here). */
  signCheckpoint(payload: string): string;
}

/** Load the station key, or make one on the first start. */
export async function loadOrCreateStationKey(dataDir: string): Promise<{ key: StationKey; created: boolean }> {
  const file = join(dataDir, STATION_KEY_FILE);
  let pem: string | undefined;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StationKeyError('KEY_INVALID', `${file}: cannot be read (${(err as Error).message})`, { cause: err });
  }
  if (pem !== undefined) {
    const key = stationKeyOf(pem, file);
    // A start cut short between the two files: the public half is written again.
    const pub = join(dataDir, STATION_PUB_FILE);
    if ((await readFile(pub, 'utf8').catch(() => '')) !== key.publicPem) await writeFileAtomic(pub, key.publicPem).catch(() => {});
    return { key, created: false };
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const text = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    await writeFileAtomic(file, text, 0o600);
    await writeFileAtomic(join(dataDir, STATION_PUB_FILE), createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString());
  } catch (err) {
    throw new StationKeyError('KEY_WRITE_FAILED', `${file}: cannot write the new station key (${(err as Error).message})`, { cause: err });
  }
  return { key: stationKeyOf(text, file), created: true };
}

function stationKeyOf(pem: string, file: string): StationKey {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new StationKeyError('KEY_INVALID', `${file}: not a PEM private key (${(cause as Error).message})`, { cause });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new StationKeyError('KEY_INVALID', `${file}: key is ${key.asymmetricKeyType}, not ed25519`);
  const pub = createPublicKey(key);
  const raw = rawPublic(pub);
  return {
    fingerprint: fingerprintOfRaw(raw),
    publicKey: raw.toString('base64'),
    publicPem: pub.export({ format: 'pem', type: 'spki' }).toString(),
    signCheckpoint: (payload) => sign(null, Buffer.from(CHECKPOINT_DOMAIN + payload, 'utf8'), key).toString('base64'),
  };
}

/** Check a checkpoint signature with a public key (base64 of the 32 raw bytes, or PEM). */
export function verifyCheckpointSignature(payload: string, signature: string, publicKey: string): boolean {
  try {
    return verify(null, Buffer.from(CHECKPOINT_DOMAIN + payload, 'utf8'), publicKeyOf(publicKey), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export function publicKeyOf(text: string): KeyObject {
  const t = text.trim();
  if (t.includes('-----BEGIN')) {
    const k = createPublicKey(t.includes('PRIVATE') ? createPrivateKey(t) : t);
    return k.type === 'private' ? createPublicKey(k) : k;
  }
  const raw = Buffer.from(t, 'base64');
  if (raw.length !== 32) throw new StationKeyError('KEY_INVALID', 'a station public key is 32 bytes in base64, or PEM');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** The fingerprint of a public key given as PEM or base64. */
export function fingerprintOfKey(text: string): string {
  return fingerprintOfRaw(rawPublic(publicKeyOf(text)));
}

function rawPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new StationKeyError('KEY_INVALID', 'not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url');
}

function fingerprintOfRaw(raw: Buffer): string {
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}
