import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_DOMAIN, loadOrCreateStationKey } from '../../src/records/station-key.js';
import { parsePublicKey, SIGNATURE_DOMAIN, verifyManifestSignature, bundleIdOf } from '../../src/media/signing.js';
import { canonicalBytes } from '../../src/media/canonical.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Every src/ module a module reaches through its static imports. */
async function reach(entry: string, seen = new Set<string>()): Promise<Set<string>> {
  if (seen.has(entry)) return seen;
  seen.add(entry);
  const text = await readFile(entry, 'utf8');
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'(\.{1,2}\/[^']+)\.js'/gm)) {
    await reach(resolve(dirname(entry), `${m[1]}.ts`), seen);
  }
  return seen;
}

/** The one module on the jig that makes and uses a private key: the station's own log key. */
const STATION_KEY = 'records/station-key.ts';

describe('the signing key never exists on the jig', () => {
  it('nothing the jig runs can read or make a private key, but the station key module', async () => {
    const jigSide = ['app.ts', 'cli/serve.ts', 'media/usb.ts', 'media/importer.ts', 'media/store.ts', 'media/stick.ts', 'outputs/stick-logs.ts', 'records/books.ts'];
    for (const entry of jigSide) {
      const modules = await reach(join(SRC, entry));
      const names = [...modules].map((m) => m.slice(SRC.length + 1));
      expect(names, entry).not.toContain('media/signer.ts');
      expect(names, entry).not.toContain('media/tooling.ts');
      for (const m of modules) {
        if (m.slice(SRC.length + 1) === STATION_KEY) continue;
        expect(await readFile(m, 'utf8'), m).not.toMatch(/createPrivateKey|generateKeyPair|\bsign\(/);
      }
    }
  });

  it('the station key signs log checkpoints only: every signature it makes starts with the checkpoint domain', async () => {
    const text = await readFile(join(SRC, STATION_KEY), 'utf8');
    const signs = [...text.matchAll(/\bsign\(([^)]*\))?[^)]*\)/g)].map((m) => m[0]);
    expect(signs).toEqual(['sign(null, Buffer.from(CHECKPOINT_DOMAIN + payload, \'utf8\'), key)']);
    // it knows nothing of bundles
    expect([...(await reach(join(SRC, STATION_KEY)))].map((m) => m.slice(SRC.length + 1)).filter((m) => m.startsWith('media/'))).toEqual([]);
    expect(CHECKPOINT_DOMAIN).not.toBe(SIGNATURE_DOMAIN);
  });

  it('a checkpoint signature is never a bundle signature, even over a manifest and with the station key trusted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-key-'));
    try {
      const { key } = await loadOrCreateStationKey(dir);
      const manifest = { format: 1, product: 'widget', version: '9.9.9' };
      // the most a station key could be made to sign: the canonical manifest bytes as a "checkpoint"
      const signature = key.signCheckpoint(canonicalBytes(manifest).toString('utf8'));
      const trusted = [parsePublicKey({ name: 'station', publicKey: key.publicKey })];
      const sig = { format: 1 as const, algorithm: 'ed25519' as const, keyName: 'station', keyFingerprint: key.fingerprint, manifestSha256: bundleIdOf(manifest), signature };
      expect(() => verifyManifestSignature(manifest, sig, trusted, 'manifest.sig')).toThrow(/signature does not verify/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
