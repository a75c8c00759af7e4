import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/media/canonical.js';
import { compareVersions, parseManifest, pathProblem, releaseProblem } from '../../src/media/manifest.js';
import { bundleIdOf, fingerprintOf, parsePublicKey, verifyManifestSignature } from '../../src/media/signing.js';
import { generateSigningKey, signManifest } from '../../src/media/signer.js';

describe('canonical form', () => {
  it('sorts keys by UTF-16 code units, drops whitespace, keeps array order', () => {
    expect(canonicalize({ b: [3, 1, { z: 1, a: null }], a: 'x', B: true, é: 1, '\u{1F600}': 2, '\uFB33': 3 })).toBe(
      '{"B":true,"a":"x","b":[3,1,{"a":null,"z":1}],"é":1,"\u{1F600}":2,"\uFB33":3}',
    );
  });

  it('writes numbers and strings as JSON.stringify does (RFC 8785)', () => {
    expect(canonicalize([1e21, 0.1, -0, 134217728, 'a"\\\n\u0001'])).toBe('[1e+21,0.1,0,134217728,"a\\"\\\\\\n\\u0001"]');
  });

  it('is the same for the same value whatever the layout', () => {
    const a = JSON.parse('{ "x": 1,\n  "y": [ 2, 3 ] }');
    const b = JSON.parse('{"y":[2,3],"x":1}');
    expect(canonicalize(a)).toBe(canonicalize(b));
  });

  it('refuses what is not JSON', () => {
    expect(() => canonicalize({ a: Number.NaN })).toThrow(/\$\.a/);
    expect(() => canonicalize([undefined])).toThrow(/\$\[0\]/);
    expect(() => canonicalize(new Date())).toThrow(/plain objects/);
    expect(() => canonicalize('\uD800')).toThrow(/lone surrogate/);
    expect(canonicalize({ a: undefined, b: 1 })).toBe('{"b":1}');
  });
});

describe('manifest rules', () => {
  it('defines release-tagged: plain MAJOR.MINOR.PATCH and tag v<version>', () => {
    expect(releaseProblem({ version: '1.4.2', release: 'v1.4.2' })).toBeUndefined();
    expect(releaseProblem({ version: '1.4.2-dev', release: 'v1.4.2-dev' })?.field).toBe('version');
    expect(releaseProblem({ version: '1.4.2-rc.1', release: 'v1.4.2-rc.1' })?.message).toContain('pre-release');
    expect(releaseProblem({ version: '1.4.2+abc', release: 'v1.4.2+abc' })?.field).toBe('version');
    expect(releaseProblem({ version: '1.4.2', release: '1.4.2' })?.field).toBe('release');
  });

  it('compares versions numerically', () => {
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0);
    expect(compareVersions('2.0.0', '2.0.0')).toBe(0);
    expect(compareVersions('0.9.0', '1.0.0')).toBeLessThan(0);
  });

  it('allows plain relative paths only', () => {
    expect(pathProblem('images/app.bin')).toBeUndefined();
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'C:/x', 'a\\b', 'a//b', './a', '']) expect(pathProblem(bad), bad).toBeDefined();
  });

  it('reports every invalid field with its path', () => {
    const text = JSON.stringify({ format: 2, product: 'p', version: 'one', release: 'v1', build: 'b', target: 't', regions: [{ name: 'a', file: 'a', address: 0, sha256: 'A'.repeat(64), size: 10 }, { name: 'a', file: 'b', address: 5, sha256: 'a'.repeat(64), size: 1 }], plan: { file: 'p', sha256: 'a'.repeat(64), size: 1 }, createdAt: 'yesterday' });
    const err = (() => {
      try {
        parseManifest(text, 'm.json');
      } catch (e) {
        return e as { code: string; issues: { path: string }[] };
      }
      throw new Error('parsed');
    })();
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.issues.map((i) => i.path).sort()).toEqual(['createdAt', 'format', 'regions[0].sha256', 'regions[1].address', 'regions[1].name', 'version']);
  });
});

describe('signatures', () => {
  const m = { format: 1, product: 'p', version: '1.0.0' };

  it('identifies a key by the fingerprint of its raw public key, in PEM or base64', () => {
    const k = generateSigningKey('factory');
    const trusted = parsePublicKey({ name: 'factory', publicKey: k.publicBase64 });
    expect(parsePublicKey({ name: 'factory', publicKey: k.publicPem }).fingerprint).toBe(k.fingerprint);
    expect(trusted.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(trusted.fingerprint).toBe(k.fingerprint);
  });

  it('tells a changed manifest from a bad signature, and an unknown key from both', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const trusted = [{ name: 'k', fingerprint: fingerprintOf(publicKey), key: publicKey }];
    const sig = signManifest(m, privateKey, 'k');
    expect(sig.manifestSha256).toBe(bundleIdOf(m));
    expect(verifyManifestSignature({ version: '1.0.0', product: 'p', format: 1 }, sig, trusted, 's').name).toBe('k');
    expect(() => verifyManifestSignature({ ...m, version: '9.0.0' }, sig, trusted, 's')).toThrow(expect.objectContaining({ code: 'MANIFEST_CHANGED' }));
    const forged = { ...sig, signature: signManifest(m, other.privateKey, 'k').signature };
    expect(() => verifyManifestSignature(m, forged, trusted, 's')).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    expect(() => verifyManifestSignature(m, signManifest(m, other.privateKey, 'x'), trusted, 's')).toThrow(expect.objectContaining({ code: 'UNKNOWN_KEY' }));
  });

  it('refuses a public key that is not Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => parsePublicKey({ name: 'rsa', publicKey: rsa })).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
    expect(() => parsePublicKey({ name: 'short', publicKey: 'AAAA' })).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
  });
});
