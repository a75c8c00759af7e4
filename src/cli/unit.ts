import type { Command } from 'commander';
import { join } from 'node:path';
import type { UnitRecord } from '../core/record.js';
import { HistoryIndex } from '../records/history.js';
import { unitBlock } from './format.js';
import { json, withClient, type ControlCliIo } from './control-io.js';

/** `pijig unit SERIAL|UID|LABEL`: every attempt of one board, with its steps and measurements. */
export function registerUnit(program: Command, io: ControlCliIo): void {
  program
    .command('unit <board>')
    .description('every attempt of one board (by serial, chip UID or scanned label), full records')
    .option('--json', 'as JSON', false)
    .option('--socket <path>', 'the station\'s control socket', io.socket)
    .option('--data-dir <dir>', 'read this data directory directly instead (the service may be stopped)')
    .action(async (board: string, o: { json: boolean; socket: string; dataDir?: string }) => {
      let records: UnitRecord[];
      if (o.dataDir) {
        const index = await HistoryIndex.open(join(o.dataDir, 'units.jsonl'));
        records = await index.records(index.query({ board }));
      } else {
        records = (await withClient(o.socket, 'read', (c) => c.request<{ records: UnitRecord[] }>('unit', { board }))).records;
      }
      if (o.json) return io.out(json(records));
      if (!records.length) {
        io.err(`no unit with serial, chip UID or label "${board}"`);
        return io.setExitCode(1);
      }
      io.out(`${board}: ${records.length} attempt${records.length === 1 ? '' : 's'}`);
      for (const r of records) for (const line of unitBlock(r)) io.out(line);
    });
}
