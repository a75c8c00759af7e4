import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { Journal } from '../records/journal.js';
import { exportUnits } from '../records/export.js';
import type { CliIo } from './io.js';

/** `pijig export`: the unit journal as CSV or JSON. */
export function registerExport(program: Command, { out }: CliIo): void {
  program
    .command('export')
    .description('export the unit journal as CSV (a line per unit) or JSON')
    .requiredOption('--data-dir <dir>', 'the station data directory', '/var/lib/pijig')
    .addOption(new Option('--format <format>', 'csv or json').choices(['csv', 'json']).default('csv'))
    .requiredOption('--out <file>', 'output file')
    .action(async (o: { dataDir: string; format: 'csv' | 'json'; out: string }) => {
      // Read-only: exporting beside a running station changes nothing; a damaged record stops the export, naming it.
      const journal = await Journal.open(join(o.dataDir, 'units.jsonl'), { readOnly: true });
      try {
        await exportUnits(() => journal.read(), o.out, o.format);
        out(`${journal.count} units -> ${o.out}`);
      } finally {
        await journal.close();
      }
    });
}
