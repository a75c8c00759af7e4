import type { Command } from 'commander';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DataDirLock } from '../records/data-lock.js';
import { JOURNAL_FILE, LEDGER_FILE } from '../records/books.js';
import { Journal } from '../records/journal.js';
import { Ledger } from '../records/ledger.js';
import { verifyBooks } from '../records/verify.js';
import type { CliIo } from './io.js';
import { exists } from '../util/fs.js';

/** `pijig ledger verify|reset`: the engineer's tools for the ledger (docs/ledger.md). */
export function registerLedger(program: Command, { out, err }: CliIo): void {
  const ledger = program.command('ledger').description('the ledger of serial numbers, MACs and flashes: verify it, reset it after a loss');
  ledger
    .command('verify')
    .description('recompute everything from the journal and the ledger; exit 0 only when they agree')
    .requiredOption('--data-dir <dir>', 'the station data directory', '/var/lib/pijig')
    .action(async (o: { dataDir: string }) => {
      const r = await verifyBooks(o.dataDir);
      for (const n of r.notes) out(`note: ${n}`);
      for (const p of r.problems) err(`problem: ${p}`);
      const figures = `units=${r.units} serials=${r.serials} macs=${r.macs} flashes=${r.flashes} wasted=${r.wasted}`;
      if (r.problems.length) {
        out(`${figures} ${r.problems.length} problem(s)`);
        process.exitCode = 1;
      } else out(`${figures} ok`);
    });
  ledger
    .command('reset')
    .description('start a new ledger after the ledger AND the journal were lost on a station that has run before (recorded, with the reason)')
    .requiredOption('--data-dir <dir>', 'the station data directory', '/var/lib/pijig')
    .requiredOption('--reason <text>', 'why: it is the first line of the new ledger')
    .option('--by <name>', 'who resets it', process.env['SUDO_USER'] ?? process.env['USER'] ?? 'engineer')
    .requiredOption('--station <id>', 'the station id (station_id of the station config)')
    .action(async (o: { dataDir: string; reason: string; by: string; station: string }) => {
      const lock = await DataDirLock.acquire(o.dataDir, 'pijig ledger reset');
      try {
        const path = join(o.dataDir, LEDGER_FILE);
        if (await exists(path)) throw new Error(`${path} exists: nothing to reset (\`pijig ledger verify\` checks it)`);
        const journal = await Journal.open(join(o.dataDir, JOURNAL_FILE), { readOnly: true }).catch(() => undefined);
        const records = journal?.count ?? 0;
        await journal?.close();
        if (records > 0) throw new Error(`the journal holds ${records} records: the station rebuilds the ledger from it at its next start; no reset is needed`);
        const created = await Ledger.create(path, { t: 'open', station: o.station, origin: 'reset', reason: o.reason, by: `${o.by}@${hostname()}` });
        await created.close();
        out(`${path}: new ledger, reset by ${o.by}: "${o.reason}"`);
        out('numbers restart after the highest each block shows in the ledger, which is empty: give the station a new block (a bundle) unless you know which numbers were issued');
      } finally {
        await lock.release();
      }
    });
}
