import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { Journal } from '../records/journal.js';
import { exportUnits, streamSink, writeUnits, EXPORT_FORMATS, type ExportFormat } from '../records/export.js';
import { parseSince } from './io.js';
import type { ControlCliIo } from './control-io.js';

/**
 * `pijig export`: the unit journal as CSV, JSON or OpenHTF records. `--out -` is stdout; a path
 * that is not a regular file (/dev/stdout, a FIFO) is written in place, never replaced. The
 * number of records written goes to stderr when the records go to stdout.
 */
export function registerExport(program: Command, io: ControlCliIo): void {
  program
    .command('export')
    .description('export the unit journal: csv (a line per unit), json (full records), openhtf (OpenHTF test records, one JSON per line)')
    .option('--data-dir <dir>', 'the station data directory', '/var/lib/pijig')
    .addOption(new Option('--format <format>', 'csv, json or openhtf').choices([...EXPORT_FORMATS]).default('csv'))
    .option('--out <file>', 'output file, or - for stdout', '-')
    .option('--since <time>', 'only units started at or after: 2026-03-01, or 30m / 12h / 7d ago')
    .action(async (o: { dataDir: string; format: ExportFormat; out: string; since?: string }) => {
      const since = o.since !== undefined ? parseSince(o.since) : undefined;
      // Read-only: exporting beside a running station changes nothing; a damaged record stops the export, naming it.
      const journal = await Journal.open(join(o.dataDir, 'units.jsonl'), { readOnly: true });
      try {
        // read twice for CSV (its measurement columns first), never held in memory
        const records = () => {
          const all = journal.read();
          return since === undefined ? all : filter(all, (r) => Date.parse(r.startedAt) >= since);
        };
        // The process's own stdout by any name: written to fd 1 itself (opening /proc/self/fd/1 fails when it is a socket).
        if (o.out === '-' || ['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1'].includes(o.out)) {
          let n: number;
          try {
            n = await writeUnits(records, streamSink(io.stdout), o.format);
          } catch (err) {
            // `| head` closed the pipe: that is the reader's choice, not a failure.
            if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
            throw err;
          }
          io.err(`${n} record${n === 1 ? '' : 's'} written (${o.format}) to ${o.out === '-' ? 'stdout' : o.out}`);
        } else {
          // Into a device or a pipe (/dev/stdout) the data goes where stdout may go: the count goes to stderr.
          const regular = await stat(o.out).then((s) => s.isFile(), () => true);
          const n = await exportUnits(records, o.out, o.format);
          (regular ? io.out : io.err)(`${n} record${n === 1 ? '' : 's'} written (${o.format}) to ${o.out}`);
        }
      } finally {
        await journal.close();
      }
    });
}

async function* filter<T>(source: AsyncIterable<T>, keep: (v: T) => boolean): AsyncIterable<T> {
  for await (const v of source) if (keep(v)) yield v;
}
