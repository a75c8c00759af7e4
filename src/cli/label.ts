import type { Command } from 'commander';
import { join } from 'node:path';
import { loadStation } from '../config/station.js';
import { Journal } from '../records/journal.js';
import { PrinterLock, REPRINT_LOG, reprintLabel } from '../outputs/label.js';
import { createLabelOutput } from '../app.js';
import { ControlClient, ControlClientError } from '../control/client.js';
import type { CliIo } from './io.js';

/**
 * `pijig label SERIAL`: print a unit's label again, logged with who and when.
 *
 * While the service runs, through its control socket: the service reprints with its own label
 * output (the same `reprintLabel()`), and logs it. Directly, while the service is stopped: the
 * printer lock (`labels/printer.lock`) proves it is (the service holds it while it runs).
 */
export function registerLabel(program: Command, { out, err }: CliIo, whoami: () => string, socket: string): void {
  program
    .command('label <serial>')
    .description('reprint the label of a unit (its last PASS, or a REJECT label for its last FAIL); logged with who and when')
    .option('-c, --config <file>', 'station wiring (when the service is not running)', '/etc/pijig/station.yaml')
    .option('--socket <path>', 'the running station\'s control socket', socket)
    .action(async (serial: string, o: { config: string; socket: string }) => {
      let client: ControlClient | undefined;
      try {
        client = await ControlClient.connect(o.socket);
      } catch (e) {
        if (!(e instanceof ControlClientError) || e.code !== 'NOT_RUNNING') throw e;
      }
      if (client) {
        try {
          const r = await client.request<{ serial: string; seq: number; user: string; at: string }>('label', { serial, user: whoami() });
          out(`reprinted the label of ${r.serial} (unit #${r.seq}) through the running station; logged as ${r.user} at ${r.at}`);
          return;
        } finally {
          client.close();
        }
      }
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
