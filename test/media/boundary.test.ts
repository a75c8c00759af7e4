import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

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

describe('the signing key never exists on the jig', () => {
  it('nothing the jig runs can read or make a private key', async () => {
    const jigSide = ['app.ts', 'media/usb.ts', 'media/importer.ts', 'media/store.ts', 'media/stick.ts', 'outputs/stick-logs.ts'];
    for (const entry of jigSide) {
      const modules = await reach(join(SRC, entry));
      const names = [...modules].map((m) => m.slice(SRC.length + 1));
      expect(names, entry).not.toContain('media/signer.ts');
      expect(names, entry).not.toContain('media/tooling.ts');
      for (const m of modules) expect(await readFile(m, 'utf8'), m).not.toMatch(/createPrivateKey|generateKeyPair|\bsign\(/);
    }
  });
});
