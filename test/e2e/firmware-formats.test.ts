import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace, type SimWorkspace } from '../../src/sim/workspace.js';
import { VirtualJig } from '../../src/sim/jig.js';
import { startApp, type App } from '../../src/app.js';
import { insertStick, pullStick } from '../../src/sim/stick.js';
import { oneCycle } from '../../src/sim/run.js';
import { createBundle, signBundle } from '../../src/media/tooling.js';
import type { OpenocdProcessInfo } from '../../src/devices/probe/openocd.js';
import { buildFixtureFirmware, type FixtureFirmware } from '../fixtures/firmware/build.js';

const EXAMPLES = fileURLToPath(new URL('../../jig-config/', import.meta.url));

/**
 * Issue 10's "done when": a bundle made by `pijig bundle create` from a real arm-none-eabi build's
 * .elf (and, for the next release, its .hex) is imported by the station on the virtual jig, the
 * real openocd flashes it into the simulated STM32F103, the flash holds exactly what
 * `objcopy -O binary` makes of the same ELF, and the whole example plan passes.
 */
describe('real firmware builds on the virtual jig', () => {
  let root: string;
  let ws: SimWorkspace;
  let jig: VirtualJig;
  let app: App;
  const processes: OpenocdProcessInfo[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-fwfmt-'));
    ws = await prepareWorkspace({ root, stationFile: join(EXAMPLES, 'station.yaml'), planFile: join(EXAMPLES, 'plan.yaml') });
    jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir });
    app = await startApp(ws.config, { ...jig.hardware(), onOpenocd: (p) => void processes.push(p) }, { log: () => {}, stickPollMs: 50 });
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await jig?.close();
    await Promise.all(processes.map((p) => p.exited));
    await rm(root, { recursive: true, force: true });
  });

  /** Build the firmware for `version`, make and sign a bundle from its `format` output, bring it on a stick. */
  async function release(version: string, output: keyof Omit<FixtureFirmware, 'bin'>): Promise<{ fw: FixtureFirmware; bundle: string }> {
    const build = join(root, `build-${version}`);
    await mkdir(build, { recursive: true });
    const fw = await buildFixtureFirmware({ outDir: build, product: 'widget', version });
    await writeFile(join(build, 'plan.yaml'), await readFile(join(EXAMPLES, 'plan.yaml')));
    const file = fw[output].slice(build.length + 1);
    const template = {
      product: 'widget',
      version,
      build: `ci-${version}`,
      target: 'stm32f103c8',
      regions: [{ name: 'application', file }],
      plan: { file: 'plan.yaml' },
      identity: { stations: { [ws.config.station_id]: { serial: { prefix: 'WG', start: 1, count: 1000, digits: 6 }, mac: { start: '02:50:4a:00:00:01', count: 1000 } } } },
    };
    await writeFile(join(build, 'manifest.template.json'), JSON.stringify(template));
    const stick = join(root, `stick-${version}`);
    const bundle = join(stick, 'pijig', 'bundle');
    const created = await createBundle(join(build, 'manifest.template.json'), build, bundle);
    expect(created.memoryMap.map((e) => [e.name, e.address, e.units])).toEqual([
      ['application', 0x08000000, 'page 0'],
      ['identity', 0x0800fc00, 'page 63'],
    ]);
    await signBundle(join(ws.engineerDir, 'sim-release.key'), bundle);
    const imported = new Promise((resolve, reject) => {
      const offA = app.usb!.on('imported', (r) => {
        offA();
        offB();
        resolve(r);
      });
      const offB = app.usb!.on('refused', (e) => {
        offA();
        offB();
        reject(e);
      });
    });
    await insertStick(ws.mountDir, `release-${version}`, stick);
    await imported;
    await pullStick(ws.mountDir, `release-${version}`);
    await app.reloadJob();
    return { fw, bundle };
  }

  it.each([
    ['1.3.0', 'elf'],
    ['1.3.1', 'hex'],
  ] as const)('%s from the build\'s .%s: flashed byte-identical to objcopy\'s .bin, the example plan passes', async (version, output) => {
    const { fw, bundle } = await release(version, output);
    const manifest = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8'));
    expect(manifest.regions).toEqual([
      expect.objectContaining({ name: 'application', file: 'regions/application.bin', address: 0x08000000, source: expect.objectContaining({ file: `fw.${output}`, format: output === 'hex' ? 'ihex' : 'elf' }) }),
    ]);
    const bin = await readFile(fw.bin);
    expect(await readFile(join(bundle, 'regions/application.bin'))).toEqual(bin);

    const record = await oneCycle(jig, app);
    expect(record, JSON.stringify(record?.steps.find((s) => s.outcome !== 'pass'))).toMatchObject({ result: 'PASS' });
    expect(record!.image).toMatchObject({ version });
    expect(Buffer.from(jig.chip.flash.subarray(0, bin.length)).equals(bin)).toBe(true);
    expect(jig.chip.flash.subarray(bin.length, 0xfc00).every((b) => b === 0xff)).toBe(true);
    const fwStep = record!.steps.find((s) => s.name === 'firmware version')!;
    expect(fwStep.measurements[0]).toMatchObject({ name: 'fw', value: version, verdict: 'pass' });
    expect(jig.chip.locked).toBe(true);
    jig.setLid(false); // the unit leaves the fixture
  }, 120_000);
});
