/**
 * Prints the example station's label on the simulated printer, over TCP as ZPL, and writes the
 * PNG it decoded to docs/label.png (and a REJECT label to docs/label-reject.png).
 *
 *   npx tsx scripts/render-label.ts
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStation } from '../src/config/station.js';
import { SimZplPrinter } from '../src/devices/printer/zpl.sim.js';
import { openPrinter } from '../src/devices/printer/open.js';
import { zplLabel } from '../src/devices/printer/zpl.js';
import { labelContent, labelDots, renderLabel } from '../src/operator/label.js';
import type { UnitRecord } from '../src/core/record.js';

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const config = await loadStation(join(root, 'jig-config', 'station.yaml'));
  const label = config.label!;
  const tmp = await mkdtemp(join(tmpdir(), 'pijig-label-'));
  const printer = await SimZplPrinter.start({ outDir: tmp, printMs: 1 });
  try {
    const tcp = openPrinter(printer.connection, label);
    const unit: UnitRecord = {
      seq: 12, id: 'u-12', station: config.station_id, plan: { name: 'widget-production', product: 'widget' },
      image: { bundleId: '', version: '1.2.0', imageHash: '', regions: {} },
      serial: 'WG000012', mac: '02:50:4a:00:00:0c', startedAt: '2026-03-05T09:14:00Z', endedAt: '2026-03-05T09:14:05Z', durationMs: 5000, result: 'PASS', steps: [],
    };
    const reject: UnitRecord = { ...unit, seq: 13, id: 'u-13', serial: 'WG000013', mac: '02:50:4a:00:00:0d', result: 'FAIL', failedStep: 'boot current', reason: 'LIMIT_HIGH' };
    const template = { ...labelDots(label.size_mm, label.dpi), fields: label.fields, qr: label.qr, qrEcc: label.qr_ecc };
    for (const [record, name] of [[unit, 'label.png'], [reject, 'label-reject.png']] as const) {
      const printed = new Promise<string>((resolve) => printer.once('printed', (l) => resolve(l.file!)));
      await tcp.print(zplLabel(renderLabel(template, labelContent(record)).image, { comment: `pijig seq=${record.seq} serial=${record.serial}` }));
      await copyFile(await printed, join(root, 'docs', name));
      process.stdout.write(`docs/${name}\n`);
    }
  } finally {
    await printer.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
