import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { MediaError } from './errors.js';
import { bundleIdOf, fingerprintOf, rawPublicKey, signedMessage, type SignatureFile } from './signing.js';

/*
 * The engineer's side of signing: the only module that makes or reads a private key. Nothing the
 * jig runs (store, importer, log sync, stick, usb) imports it - test/media/boundary.test.ts checks.
 */

export interface GeneratedKey {
  name: string;
  privatePem: string;
  publicPem: string;
  /** base64 of the 32 raw public key bytes: the short form for the station config. */
  publicBase64: string;
  fingerprint: string;
}

export function generateSigningKey(name: string): GeneratedKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    name,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicBase64: rawPublicKey(publicKey).toString('base64'),
    fingerprint: fingerprintOf(publicKey),
  };
}

export function parsePrivateKey(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new MediaError('KEY_INVALID', `${file}: not a PEM private key (${(cause as Error).message})`, { cause, file });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new MediaError('KEY_INVALID', `${file}: key is ${key.asymmetricKeyType}, not ed25519`, { file });
  return key;
}

export function signManifest(manifestJson: unknown, privateKey: KeyObject, keyName: string): SignatureFile {
  const publicKey = createPublicKey(privateKey);
  return {
    format: 1,
    algorithm: 'ed25519',
    keyName,
    keyFingerprint: fingerprintOf(publicKey),
    manifestSha256: bundleIdOf(manifestJson),
    signature: sign(null, signedMessage(manifestJson), privateKey).toString('base64'),
  };
}

