import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { YamlSource } from '../config/yaml.js';
import { parseStation, type StationConfig } from '../config/station.js';
import { loadPlan } from '../config/plan.js';
import { STEP_KINDS } from '../steps/registry.js';
import { keygen, createBundle, signBundle } from '../media/tooling.js';
import { buildSimFirmware } from './firmware-image.js';

/**
 * The virtual jig's workspace (default ./.pijig-sim):
 *   data/      the station's data directory (journal, state, imported bundles)
 *   media/     where simulated USB sticks are mounted
 *   engineer/  the engineer's workstation: the demo signing key and the bundles built with it.
 *              It stands apart from data/: the jig itself only ever gets the public key.
 *   dut/       the simulated DUT's flash file and the console pty links
 *   labels/    the labels the simulated printer printed, one PNG each
 */
export interface SimWorkspace {
  root: string;
  dataDir: string;
  mountDir: string;
  engineerDir: string;
  dutDir: string;
  labelsDir: string;
  config: StationConfig;
  /** Build and sign a release bundle of the demo firmware; returns a folder to put on a stick. */
  stickWithBundle(version: string): Promise<string>;
  /** A stick with nothing but the pijig/ folder (for log collection). */
  emptyStick(): Promise<string>;
}

const KEY_NAME = 'sim-release';

export async function prepareWorkspace(opts: { root: string; stationFile: string; planFile: string; fresh?: boolean }): Promise<SimWorkspace> {
  const root = resolve(opts.root);
  if (opts.fresh) await rm(root, { recursive: true, force: true });
  const dirs = { dataDir: join(root, 'data'), mountDir: join(root, 'media'), engineerDir: join(root, 'engineer'), dutDir: join(root, 'dut'), labelsDir: join(root, 'labels') };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });

  const keyFile = join(dirs.engineerDir, `${KEY_NAME}.key`);
  const exists = await access(keyFile).then(() => true, () => false);
  const publicPem = exists ? await readFile(join(dirs.engineerDir, `${KEY_NAME}.pub`), 'utf8') : (await keygen(dirs.engineerDir, KEY_NAME)).publicPem;

  // The user's files are checked first, so their errors name the file and line they wrote (not a
  // copy in the workspace, and not a bare ENOENT).
  const source = await YamlSource.load(opts.stationFile);
  parseStation(source);
  await loadPlan(opts.planFile, STEP_KINDS);
  // The example station wiring, with the workspace's folders and the demo release key.
  source.doc.setIn(['data_dir'], dirs.dataDir);
  source.doc.setIn(['plan'], resolve(opts.planFile));
  source.doc.setIn(['media', 'mount_dir'], dirs.mountDir);
  source.doc.setIn(['media', 'public_keys'], source.doc.createNode([{ name: KEY_NAME, public_key: publicPem.trim() }]));
  const config = parseStation(source);

  const stickWithBundle = async (version: string): Promise<string> => {
    const build = join(dirs.engineerDir, `build-${version}`);
    const stick = join(dirs.engineerDir, `stick-${version}`);
    await rm(build, { recursive: true, force: true });
    await rm(stick, { recursive: true, force: true });
    await mkdir(build, { recursive: true });
    const product = config.media?.product ?? 'widget';
    await writeFile(join(build, 'app.bin'), buildSimFirmware({ product, version }, 4096));
    await writeFile(join(build, 'plan.yaml'), await readFile(opts.planFile));
    const template = {
      product,
      version,
      build: `sim-${version}`,
      target: config.media?.target ?? 'stm32f103c8',
      regions: [{ name: 'application', file: 'app.bin', address: 0x08000000 }],
      plan: { file: 'plan.yaml' },
    };
    await writeFile(join(build, 'manifest.template.json'), JSON.stringify(template, null, 2));
    const out = join(stick, 'pijig', 'bundle');
    await createBundle(join(build, 'manifest.template.json'), build, out);
    await signBundle(keyFile, out);
    return stick;
  };
  const emptyStick = async (): Promise<string> => {
    const stick = join(dirs.engineerDir, 'stick-empty');
    await mkdir(join(stick, 'pijig'), { recursive: true });
    return stick;
  };
  return { root, ...dirs, config, stickWithBundle, emptyStick };
}
