import type { Command } from 'commander';
import { join } from 'node:path';
import type { UnitRecord } from '../core/record.js';
import { Journal } from '../records/journal.js';
import { Ledger } from '../records/ledger.js';
import { LEDGER_FILE } from '../records/books.js';
import { exists, writeFileAtomic } from '../util/fs.js';
import { parseSince } from './io.js';
import type { ControlCliIo } from './control-io.js';

/** `pijig report`: yields, Paretos, histograms with Cp/Cpk, throughput, retests, flashes - one offline HTML file. */
export function registerReport(program: Command, io: ControlCliIo): void {
  program
    .command('report')
    .description('one self-contained HTML report (inline SVG, no network): yields per image and day, Paretos, histograms with Cp/Cpk, units per hour, retests, flashes against the order')
    .requiredOption('--out <file>', 'the HTML file to write')
    .option('--since <time>', 'units started at or after: 2026-03-01, or 30m / 12h / 7d ago')
    .option('--data-dir <dir>', 'the station data directory', '/var/lib/pijig')
    .action(async (o: { out: string; since?: string; dataDir: string }) => {
      const since = o.since !== undefined ? parseSince(o.since) : undefined;
      // The plotting library loads only for this command.
      const { buildReport } = await import('../control/report.js');
      const { BundleStore } = await import('../media/store.js');
      // Read-only: a report beside a running station changes nothing (no torn-line repair of a file it writes).
      const journal = await Journal.open(join(o.dataDir, 'units.jsonl'), { readOnly: true });
      const records: UnitRecord[] = [];
      try {
        for await (const r of journal.read()) if (since === undefined || Date.parse(r.startedAt) >= since) records.push(r);
      } finally {
        await journal.close();
      }
      const store = new BundleStore(o.dataDir);
      const orders = new Map<string, number>();
      for (const bundleId of new Set(records.map((r) => r.image?.bundleId).filter((b): b is string => !!b))) {
        const b = await store.load(bundleId).catch(() => undefined);
        if (b?.orderQuantity !== undefined) orders.set(b.image.imageHash, b.orderQuantity);
      }
      // Flashes per image from the ledger, which counts every flash before it happens (the report
      // estimates them from the records only when there is no ledger).
      const ledgerPath = join(o.dataDir, LEDGER_FILE);
      const ledger = (await exists(ledgerPath)) ? await Ledger.open(ledgerPath, { readOnly: true }) : undefined;
      const flashes = ledger ? Object.fromEntries([...ledger.byImage].map(([hash, t]) => [hash, t.flashes])) : undefined;
      const station = records.at(-1)?.station ?? 'station';
      const html = buildReport(records, { station, orders, ...(flashes ? { flashes } : {}), ...(o.since ? { since: o.since } : {}) });
      await writeFileAtomic(o.out, html);
      io.out(`${records.length} units -> ${o.out} (${Math.round(html.length / 1024)} KiB)`);
    });
}
