import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerBundleCommands } from '../../src/cli/bundle.js';
import { MediaError } from '../../src/media/errors.js';
import { Importer } from '../../src/media/importer.js';
import { insertStick } from '../../src/sim/stick.js';
import { BundleStore } from '../../src/media/store.js';
import { PLAN_YAML, stickWith, tempDir } from './helpers.js';

async function pijig(...args: string[]): Promise<string[]> {
  const out: string[] = [];
  const program = new Command('pijig').exitOverride();
  registerBundleCommands(program, { out: (l) => out.push(l), now: () => new Date('2025-03-01T12:00:00Z') });
  await program.parseAsync(args, { from: 'user' });
  return out;
}

async function fails(p: Promise<unknown>): Promise<MediaError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  if (!(e instanceof MediaError)) throw new Error(`expected a MediaError, got ${String(e)}`);
  return e;
}

async function release(dir: string, version: string, plan = PLAN_YAML): Promise<{ template: string; files: string }> {
  const files = join(dir, `files-${version}`);
  await mkdir(files, { recursive: true });
  await writeFile(join(files, 'app.bin'), Buffer.from(`app ${version}`.repeat(100)));
  await writeFile(join(files, 'plan.yaml'), plan);
  const template = join(dir, `manifest-${version}.json`);
  await writeFile(
    template,
    JSON.stringify({ product: 'blinky', version, build: `ci-${version}`, target: 'stm32f103c8', regions: [{ name: 'application', file: 'app.bin', address: '0x08000000' }], plan: { file: 'plan.yaml' } }),
  );
  return { template, files };
}

describe('pijig bundle', () => {
  it('keygen, create, sign, verify, inspect; the jig imports the result; rollback', async () => {
    const dir = await tempDir();
    const keys = join(dir, 'keys');
    const keygen = await pijig('bundle', 'keygen', '--out', keys, '--name', 'factory-2025');
    expect((await stat(join(keys, 'factory-2025.key'))).mode & 0o777).toBe(0o600);
    expect(keygen.join('\n')).toContain('BEGIN PUBLIC KEY');
    expect((await fails(pijig('bundle', 'keygen', '--out', keys, '--name', 'factory-2025'))).code).toBe('KEY_EXISTS');

    for (const v of ['1.0.0', '1.1.0']) {
      const r = await release(dir, v);
      const out = join(dir, `bundle-${v}`);
      expect((await pijig('bundle', 'create', '--manifest', r.template, '--files', r.files, '--out', out))[0]).toContain(`blinky ${v} for stm32f103c8`);
      const m = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
      expect(m).toMatchObject({ release: `v${v}`, createdAt: '2025-03-01T12:00:00.000Z', regions: [{ address: 0x08000000, size: (await readFile(join(r.files, 'app.bin'))).length }] });
      expect((await pijig('bundle', 'sign', '--key', join(keys, 'factory-2025.key'), '--bundle', out))[0]).toContain('signed');
      const verified = await pijig('bundle', 'verify', '--bundle', out, '--pubkey', join(keys, 'factory-2025.pub'), '--target', 'stm32f103c8');
      expect(verified[0]).toBe(`OK blinky ${v} (v${v}, build ci-${v}) for stm32f103c8 (STM32F1, 64 KiB flash at 0x08000000-0x0800FFFF, 1 KiB pages)`);
    }
    expect((await fails(pijig('bundle', 'verify', '--bundle', join(dir, 'bundle-1.0.0'), '--pubkey', join(keys, 'factory-2025.pub'), '--target', 'stm32f030'))).code).toBe('WRONG_TARGET');
    const inspect = await pijig('bundle', 'inspect', '--bundle', join(dir, 'bundle-1.1.0'));
    expect(inspect.join('\n')).toMatch(/region: +application +0x08000000/);
    expect(inspect.join('\n')).toContain('not verified');

    // the jig: public key only
    const dataDir = join(dir, 'jig');
    const store = new BundleStore(dataDir);
    const importer = new Importer({
      store,
      settings: { mount_dir: '/media/pijig', target: 'stm32f103c8', allow_downgrade: false, max_file_mb: 1, public_keys: [{ name: 'factory-2025', public_key: await readFile(join(keys, 'factory-2025.pub'), 'utf8') }] },
      waitUntilIdle: async () => {},
    });
    const mount = join(dir, 'media');
    for (const v of ['1.0.0', '1.1.0']) await importer.importFrom(await insertStick(mount, `S${v}`, await stickWith(join(dir, `bundle-${v}`))));
    expect((await store.active())?.manifest.version).toBe('1.1.0');
    expect((await pijig('bundle', 'rollback', '--data-dir', dataDir))[0]).toMatch(/^active: blinky 1\.0\.0/);
    expect((await store.active())?.manifest.version).toBe('1.0.0');
  });

  it('create warns about, and sign refuses, a build that is not release-tagged', async () => {
    const dir = await tempDir();
    await pijig('bundle', 'keygen', '--out', dir, '--name', 'k');
    const r = await release(dir, '2.0.0-rc.1');
    const out = join(dir, 'b');
    expect((await pijig('bundle', 'create', '--manifest', r.template, '--files', r.files, '--out', out)).join('\n')).toContain('warning: not release-tagged');
    expect((await fails(pijig('bundle', 'sign', '--key', join(dir, 'k.key'), '--bundle', out))).code).toBe('NOT_RELEASE');
  });

  it('sign refuses a bundle whose files do not match its manifest', async () => {
    const dir = await tempDir();
    await pijig('bundle', 'keygen', '--out', dir, '--name', 'k');
    const r = await release(dir, '1.0.0');
    const out = join(dir, 'b');
    await pijig('bundle', 'create', '--manifest', r.template, '--files', r.files, '--out', out);
    await writeFile(join(out, 'app.bin'), 'x'.repeat((await readFile(join(out, 'app.bin'))).length));
    expect((await fails(pijig('bundle', 'sign', '--key', join(dir, 'k.key'), '--bundle', out))).code).toBe('HASH_MISMATCH');
  });

  it('verify refuses a key it was not given', async () => {
    const dir = await tempDir();
    await pijig('bundle', 'keygen', '--out', dir, '--name', 'a');
    await pijig('bundle', 'keygen', '--out', dir, '--name', 'b');
    const r = await release(dir, '1.0.0');
    const out = join(dir, 'bundle');
    await pijig('bundle', 'create', '--manifest', r.template, '--files', r.files, '--out', out);
    await pijig('bundle', 'sign', '--key', join(dir, 'a.key'), '--bundle', out);
    expect((await fails(pijig('bundle', 'verify', '--bundle', out, '--pubkey', join(dir, 'b.pub')))).code).toBe('UNKNOWN_KEY');
  });

  it('verify loads the plan as every jig does: a misspelled step kind is refused at its line', async () => {
    const dir = await tempDir();
    await pijig('bundle', 'keygen', '--out', dir, '--name', 'k');
    const r = await release(dir, '1.0.0', PLAN_YAML.replace('kind: current', 'kind: curent'));
    const out = join(dir, 'b');
    await pijig('bundle', 'create', '--manifest', r.template, '--files', r.files, '--out', out);
    await pijig('bundle', 'sign', '--key', join(dir, 'k.key'), '--bundle', out);
    const e = await fails(pijig('bundle', 'verify', '--bundle', out, '--pubkey', join(dir, 'k.pub')));
    expect(e.code).toBe('PLAN_INVALID');
    expect(e.message).toContain(`${join(out, 'plan.yaml')}:7:11: steps[1].kind: unknown step kind "curent"`);
  });

  it('verify lists what the plan needs of a station', async () => {
    const dir = await tempDir();
    await pijig('bundle', 'keygen', '--out', dir, '--name', 'k');
    const plan = `${PLAN_YAML}  - name: id\n    kind: identity\n  - name: led\n    kind: led\n    params: { sensor: power }\n    limits:\n      power_colour: { equals: green }\n`;
    const r = await release(dir, '1.0.0', plan);
    const out = join(dir, 'b');
    await pijig('bundle', 'create', '--manifest', r.template, '--files', r.files, '--out', out);
    await pijig('bundle', 'sign', '--key', join(dir, 'k.key'), '--bundle', out);
    const lines = await pijig('bundle', 'verify', '--bundle', out, '--pubkey', join(dir, 'k.pub'));
    expect(lines.slice(3)).toEqual([
      'plan "blinky-production": 4 step(s); a station running it needs:',
      '  a debug probe (probe)',
      '  an INA219 power monitor (power_monitor)',
      '  light sensor "power" (a colour sensor: the plan judges its colour) (light_sensors)',
      "  serial numbers and MACs: the bundle's identity block or the station's (identity)",
      '  a flash page/sector of its own at 0x0800FC00 for the identity record (media.target)',
    ]);
  });
});
