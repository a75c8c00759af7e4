import type { Command } from 'commander';
import { join } from 'node:path';
import { loadStation } from '../config/station.js';
import { Journal } from '../records/journal.js';
import { PrinterLock, REPRINT_LOG, reprintLabel } from '../outputs/label.js';
import { createLabelOutput } from '../app.js';
import type { CliIo } from './io.js';

/**
 * `pijig label SERIAL`: print a unit's label again, logged with who and when.
 *
 * Directly, while the service is stopped: the printer lock (`labels/printer.lock`) proves it is
 * (the service holds it while it runs). While the service runs, the reprint belongs in the
 * service, through the control socket (issue 11), which calls the same `reprintLabel()` with
 * the service's own label output.
 */
export function registerLabel(program: Command, { out, err }: CliIo, whoami: () => string): void {
  program
    .command('label <serial>')
    .description('reprint the label of a unit (its last PASS, or a REJECT label for its last FAIL); logged with who and when')
    .option('-c, --config <file>', 'station wiring', '/etc/pijig/station.yaml')
    .action(async (serial: string, o: { config: string }) => {
      const config = await loadStation(o.config);
      if (!config.label) throw new Error(`${config.file}: no label section: this station has no label printer`);
      // the lock first: only then is the journal ours to open (its torn-line repair writes)
      const lock = await PrinterLock.acquire(config.dataDir);
      const journal = await Journal.open(join(config.dataDir, 'units.jsonl'));
      const labels = createLabelOutput(config, config.label.connection, { journal, log: (m) => err(m) });
      try {
        const r = await reprintLabel({ journal, labels }, { serial, user: whoami() });
        out(`reprinted the label of ${r.serial} (unit #${r.seq}) on ${labels.printer}; logged in ${join(config.dataDir, REPRINT_LOG)} as ${r.user} at ${r.at}`);
      } finally {
        await labels.close(0);
        await journal.close();
        await lock.release();
      }
    });
}
