import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import * as jsqrModule from 'jsqr';
import { prepareWorkspace, type SimWorkspace } from '../../src/sim/workspace.js';
import { VirtualJig } from '../../src/sim/jig.js';
import { startApp, type App } from '../../src/app.js';
import { importFromStick, oneCycle } from '../../src/sim/run.js';
import { MonoImage, SimZplPrinter } from '../../src/devices/printer/zpl.sim.js';
import { labelContent, labelDots, renderLabel, textBitmap, type LabelTemplate } from '../../src/operator/label.js';
import type { UnitRecord } from '../../src/core/record.js';
import { Journal } from '../../src/records/journal.js';

const EXAMPLES = fileURLToPath(new URL('../../jig-config/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// jsqr is a UMD bundle: its default export arrives wrapped once more under ESM interop
type Decode = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const wrapped = jsqrModule as unknown as { default: Decode | { default: Decode } };
const jsQR: Decode = typeof wrapped.default === 'function' ? wrapped.default : wrapped.default.default;

export function readQr(img: MonoImage): string | undefined {
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0; i < img.px.length; i++) rgba.set(img.px[i] ? [0, 0, 0, 255] : [255, 255, 255, 255], i * 4);
  return jsQR(rgba, img.width, img.height)?.data;
}

/** The label's pixels in a line's box are exactly `text` drawn in the line's style: the serial and MAC are on it. */
function showsText(img: MonoImage, line: { x: number; y: number; height: number; style: Parameters<typeof textBitmap>[1] }, text: string): boolean {
  const expected = textBitmap(text, line.style);
  for (let y = 0; y < line.height; y++) for (let x = 0; x < expected.width; x++) if (img.getPixel(line.x + x, line.y + y) !== expected.getPixel(x, y)) return false;
  return true;
}

/** The example station on the virtual jig: every PASS unit's label comes out of the simulated printer as a PNG. */
describe('labels on the virtual jig', () => {
  let root: string;
  let ws: SimWorkspace;
  let jig: VirtualJig;
  let app: App;
  const records: UnitRecord[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pijig-labels-'));
    ws = await prepareWorkspace({ root, stationFile: join(EXAMPLES, 'station.yaml'), planFile: join(EXAMPLES, 'plan.yaml') });
    jig = await VirtualJig.start({ station: ws.config, workDir: ws.dutDir, labelDir: ws.labelsDir });
    app = await startApp(ws.config, jig.hardware(), { log: () => {}, stickPollMs: 50, control: { socket: join(root, 'control.sock') } });
    await importFromStick(ws, app, 'release', await ws.stickWithBundle('1.2.0'));
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await jig?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('every PASS unit gets a label PNG: its QR code holds the serial, its text shows the serial and the MAC', async () => {
    for (let i = 0; i < 2; i++) {
      const printed = new Promise<void>((resolve) => jig.printer!.on('printed', () => resolve()));
      const record = await oneCycle(jig, app);
      expect(record?.result).toBe('PASS');
      records.push(record!);
      jig.setLid(false);
      await printed;
      // the lid must be seen open (debounced) before the next unit closes it
      await vi.waitFor(() => expect(app.station.state).toBe('ready'), { timeout: 30_000, interval: 10 });
    }
    const files = (await readdir(ws.labelsDir)).sort();
    expect(files).toEqual(['label-0001-WG000001.png', 'label-0002-WG000002.png']);
    const label = ws.config.label!;
    const template: LabelTemplate = { ...labelDots(label.size_mm, label.dpi), fields: label.fields, qr: label.qr, qrEcc: label.qr_ecc };
    for (const [i, record] of records.entries()) {
      const img = MonoImage.fromPng(await readFile(join(ws.labelsDir, files[i]!)));
      expect(readQr(img)).toBe(record.serial);
      // where the renderer puts each line; the pixels there are compared with the text drawn afresh
      const layout = renderLabel(template, labelContent(record));
      const serial = layout.lines.find((l) => l.field === 'serial')!;
      const mac = layout.lines.find((l) => l.field === 'mac')!;
      expect(showsText(img, serial, `WG00000${i + 1}`)).toBe(true);
      expect(showsText(img, mac, `02:50:4A:00:00:0${i + 1}`)).toBe(true);
      expect(showsText(img, serial, `WG00000${i + 2}`)).toBe(false); // the comparison can fail
    }
    // the printer received each label once
    expect(jig.printer!.received).toHaveLength(2);
  }, 120_000);

  it('`pijig label SERIAL` reprints through the running station, and the reprint is logged with who and when', async () => {
    const before = jig.printer!.received.length;
    const r = await execa(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'label', 'WG000001', '--socket', join(root, 'control.sock')], {
      reject: false,
      timeout: 60_000,
      killSignal: 'SIGKILL',
      env: { SUDO_USER: 'operator9' },
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/reprinted the label of WG000001 \(unit #1\) through the running station; logged as operator9/);
    await vi.waitFor(() => expect(jig.printer!.received.length).toBe(before + 1), { timeout: 30_000, interval: 20 });
    const log = (await readFile(join(ws.dataDir, 'labels/reprints.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(log[0]).toMatchObject({ ev: 'reprint', user: 'operator9', serial: 'WG000001', seq: 1 });
  }, 120_000);
});

describe('pijig label SERIAL', () => {
  it('reprints a unit\'s label with the service stopped, and logs who and when', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pijig-reprint-'));
    const printer = await SimZplPrinter.start({});
    try {
      const journal = await Journal.open(join(dir, 'units.jsonl'));
      const base = { station: 'line1-jig01', plan: { name: 'p', product: 'widget' }, startedAt: '2026-03-05T10:00:00Z', endedAt: '2026-03-05T10:00:05Z', durationMs: 5000, steps: [] };
      await journal.append({ ...base, id: 'u-1', serial: 'WG000007', mac: '02:50:4a:00:00:07', result: 'PASS' });
      await journal.append({ ...base, id: 'u-2', serial: 'WG000008', mac: '02:50:4a:00:00:08', result: 'ERROR', reason: 'STEP_EXCEPTION', failedStep: 'program' });
      await journal.close();
      const station = (await readFile(join(EXAMPLES, 'station.yaml'), 'utf8'))
        .replace('data_dir: /var/lib/pijig', `data_dir: ${dir}`)
        .replace('plan: plan.yaml', `plan: ${join(EXAMPLES, 'plan.yaml')}`)
        .replace('connection: { usb: /dev/usb/lp0 }', `connection: { tcp: "127.0.0.1:${printer.port}" }`);
      await writeFile(join(dir, 'station.yaml'), station);
      const cli = (serial: string) => execa(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'label', serial, '--config', join(dir, 'station.yaml')], { reject: false, timeout: 60_000, killSignal: 'SIGKILL', env: { SUDO_USER: 'operator7' } });
      const ok = await cli('WG000007');
      expect(ok.exitCode, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/reprinted the label of WG000007 \(unit #1\).*as operator7/);
      expect(printer.labels).toHaveLength(1);
      expect(printer.labels[0]!.tags).toMatchObject({ serial: 'WG000007', reprint: '1' });
      expect(readQr(printer.labels[0]!.image)).toBe('WG000007');
      const log = (await readFile(join(dir, 'labels/reprints.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(log).toEqual([expect.objectContaining({ ev: 'reprint', user: 'operator7', serial: 'WG000007', seq: 1 }), expect.objectContaining({ ev: 'printed', user: 'operator7' })]);
      // a unit the jig could not judge has no label; an unknown serial is said so
      const none = await cli('WG000008');
      expect(none.exitCode).not.toBe(0);
      expect(none.stderr).toMatch(/UNIT_NOT_FOUND|no PASS or FAIL unit/);
    } finally {
      await printer.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
