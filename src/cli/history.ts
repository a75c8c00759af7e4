import { Option, type Command } from 'commander';
import { join } from 'node:path';
import type { UnitRecord } from '../core/record.js';
import { HistoryIndex } from '../records/history.js';
import { summarize, type UnitSummary } from '../control/summary.js';
import { parseSince, positiveInt } from './io.js';
import { unitLine } from './format.js';
import { json, withClient, type ControlCliIo } from './control-io.js';

interface HistoryOptions {
  n: number;
  serial?: string;
  uid?: string;
  result?: UnitRecord['result'];
  since?: string;
  engineering: boolean;
  full: boolean;
  json: boolean;
  socket: string;
  dataDir?: string;
}

/** `pijig history`: the last units, by serial, chip UID, result or time; from the running station's index, or a data directory. */
export function registerHistory(program: Command, io: ControlCliIo): void {
  program
    .command('history')
    .description('the last units (newest last), filtered by serial, chip UID, result or time')
    .option('-n <count>', 'how many', (v) => positiveInt(v, '-n'), 20)
    .option('--serial <serial>', 'units with this serial number')
    .option('--uid <uid>', 'units with this chip UID')
    .addOption(new Option('--result <result>', 'only this result').choices(['PASS', 'FAIL', 'ERROR', 'ABORTED']))
    .option('--since <time>', 'started at or after: 2026-03-01, 2026-03-01T08:00, or 30m / 12h / 7d ago')
    .option('--engineering', 'engineering runs (pijig run-step) instead of units', false)
    .option('--full', 'full records (with --json)', false)
    .option('--json', 'as JSON', false)
    .option('--socket <path>', 'the station\'s control socket', io.socket)
    .option('--data-dir <dir>', 'read this data directory directly instead (the service may be stopped)')
    .action(async (o: HistoryOptions) => {
      const since = o.since !== undefined ? parseSince(o.since) : undefined;
      const query = {
        last: o.n,
        ...(o.serial !== undefined ? { serial: o.serial } : {}),
        ...(o.uid !== undefined ? { uid: o.uid } : {}),
        ...(o.result !== undefined ? { result: o.result } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(o.engineering ? { engineering: true } : {}),
        ...(o.full ? { full: true } : {}),
      };
      let got: { total: number; units: (UnitSummary | UnitRecord)[] };
      if (o.dataDir) {
        const index = await HistoryIndex.open(join(o.dataDir, o.engineering ? 'engineering.jsonl' : 'units.jsonl'));
        const { since: sinceMs, ...rest } = query;
        const records = await index.records(index.query({ ...rest, ...(sinceMs !== undefined ? { sinceMs } : {}) }));
        got = { total: index.size, units: o.full ? records : records.map(summarize) };
      } else {
        got = await withClient(o.socket, 'read', (c) => c.request('history', query));
      }
      if (o.json) return io.out(json(got.units));
      if (!got.units.length) return io.out(`no ${o.engineering ? 'engineering runs' : 'units'} match (of ${got.total})`);
      for (const u of got.units) io.out(unitLine('steps' in u ? summarize(u) : u));
      io.out(`${got.units.length} of ${got.total} ${o.engineering ? 'engineering runs' : 'units'}`);
    });
}
