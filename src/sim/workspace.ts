import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { LOCK_FILE } from '../records/data-lock.js';
import { YamlSource } from '../config/yaml.js';
import { parseStation, type StationConfig } from '../config/station.js';
import { loadPlan } from '../config/plan.js';
import { STEP_KINDS } from '../steps/registry.js';
import { keygen, createBundle, signBundle } from '../media/tooling.js';
import type { StationBlock } from '../media/manifest.js';
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

export interface WorkspaceOptions {
  root: string;
  stationFile: string;
  planFile: string;
  fresh?: boolean;
  firmwareBytes?: number;
  /**
   * The identity blocks the engineer's bundles carry, by station id (default: one block for this
   * station, the station config's own numbers).
   */
  blocks?: Record<string, StationBlock>;
  /** The order the bundles are for, and how many units it allows. */
  order?: { id?: string; quantity?: number };
}

export async function prepareWorkspace(opts: WorkspaceOptions): Promise<SimWorkspace> {
  const root = resolve(opts.root);
  // Fresh: everything goes but the data directory's lock (held by the process preparing it).
  if (opts.fresh) await emptyExcept(root, join('data', LOCK_FILE));
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
    await writeFile(join(build, 'app.bin'), buildSimFirmware({ product, version }, opts.firmwareBytes ?? 4096));
    await writeFile(join(build, 'plan.yaml'), await readFile(opts.planFile));
    const template = {
      product,
      version,
      build: `sim-${version}`,
      target: config.media?.target ?? 'stm32f103c8',
      regions: [{ name: 'application', file: 'app.bin', address: 0x08000000 }],
      plan: { file: 'plan.yaml' },
      ...(opts.order?.id ? { orderId: opts.order.id } : {}),
      ...(opts.order?.quantity ? { orderQuantity: opts.order.quantity } : {}),
      identity: { stations: opts.blocks ?? { [config.station_id]: ownBlock(config) } },
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

/** Remove everything under `root` except the file at `keep` (a path relative to root). */
async function emptyExcept(root: string, keep: string): Promise<void> {
  const [first, ...rest] = keep.split(sep);
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (name === first && rest.length > 0) await emptyExcept(join(root, name), rest.join(sep));
    else if (name !== first) await rm(join(root, name), { recursive: true, force: true });
  }
}

/** The station config's identity block as a bundle's station block. */
function ownBlock(config: StationConfig): StationBlock {
  const c = config.identity;
  return { serial: { prefix: c.serial_prefix, start: c.first, count: c.count, digits: c.serial_digits }, mac: { start: c.mac_first.toLowerCase(), count: c.count } };
}
