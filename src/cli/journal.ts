import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { verifyChainFile } from '../records/chain.js';
import { CHECKPOINT_FILE, checkpointProblem, parseCheckpoint, type Checkpoint } from '../records/checkpoint.js';
import { DataDirLock } from '../records/data-lock.js';
import { zeroCounts } from '../records/ledger.js';
import { repairJournal } from '../records/repair.js';
import type { UnitResult } from '../core/record.js';
import type { CliIo } from './io.js';
import { exists } from '../util/fs.js';

/** `pijig journal verify|repair`: the unit journal's hash chain (docs/ledger.md). */
export function registerJournal(program: Command, { out, err }: CliIo): void {
  const journal = program.command('journal').description('the unit journal: verify its hash chain, repair a damaged one on the record');
  journal
    .command('verify <file>')
    .description('check the hash chain of a journal (the station\'s units.jsonl, or a stick\'s) and its signed checkpoint; names the first edited, inserted, deleted or reordered record')
    .option('--station-key <file>', 'the station\'s public key (station-key.pub): the checkpoint must be signed with it')
    .option('--checkpoint <file>', 'the signed checkpoint (default: checkpoint.json beside the file, when there is one)')
    .action(async (file: string, o: { stationKey?: string; checkpoint?: string }) => {
      const cpFile = o.checkpoint ?? join(dirname(file), CHECKPOINT_FILE);
      let checkpoint: Checkpoint | undefined;
      if (await exists(cpFile)) checkpoint = parseCheckpoint(await readFile(cpFile, 'utf8'), cpFile);
      else if (o.checkpoint || o.stationKey) throw new Error(`${cpFile}: no checkpoint to check the station key against`);
      const tally = zeroCounts();
      const chain = await verifyChainFile(file, {
        seqField: 'seq',
        ...(checkpoint ? { hashesOf: [checkpoint.seq] } : {}),
        onLine: (value, _line, seq) => {
          if (checkpoint && seq <= checkpoint.seq) tally[value['result'] as UnitResult]++;
        },
      });
      const problems: string[] = [];
      if (chain.finding) problems.push(`${file}: ${chain.finding.message}`);
      if (chain.tornTail) problems.push(`${file}: ends in a torn line (the station cuts it at its next start)`);
      if (checkpoint) {
        const key = o.stationKey ? await readFile(o.stationKey, 'utf8') : undefined;
        const problem = checkpointProblem(checkpoint, key);
        if (problem) problems.push(`${cpFile}: ${problem}`);
        else out(`checkpoint: #${checkpoint.seq} signed by ${checkpoint.fingerprint}${key ? ' (the station key given)' : ' (not checked against a key you hold: give --station-key)'}`);
        if (!chain.finding) {
          if (chain.lastSeq < checkpoint.seq) problems.push(`${file}: records #${chain.lastSeq + 1}..#${checkpoint.seq} were deleted (the checkpoint signed #${checkpoint.seq})`);
          else if (checkpoint.seq > 0 && chain.hashes.get(checkpoint.seq) !== checkpoint.head) problems.push(`${file}: the records up to #${checkpoint.seq} are not the ones the station signed (the chain was rewritten)`);
          else {
            for (const k of Object.keys(tally) as UnitResult[]) if (tally[k] !== checkpoint.counts[k]) problems.push(`${file}: ${tally[k]} ${k} units up to #${checkpoint.seq}, the checkpoint signed ${checkpoint.counts[k]}`);
          }
        }
      }
      if (chain.unchained) out(`note: records #1..#${chain.unchained} were written before the hash chain: not covered by it`);
      for (const r of chain.repairs) out(`note: record #${r.seq} was replaced in a recorded repair (${r.found}, ${r.at})`);
      for (const p of problems) err(p);
      if (problems.length) {
        out(`records=${chain.lines} ${problems.length} problem(s)`);
        process.exitCode = 1;
      } else out(`records=${chain.lines} head=${chain.head} ok`);
    });
  journal
    .command('repair')
    .description('with the station stopped: replace damaged, edited or missing records by records of the repair (the chain verifies through them); the journal as it was is kept')
    .requiredOption('--data-dir <dir>', 'the station data directory', '/var/lib/pijig')
    .option('--by <name>', 'who repairs it', process.env['SUDO_USER'] ?? process.env['USER'] ?? 'engineer')
    .action(async (o: { dataDir: string; by: string }) => {
      const lock = await DataDirLock.acquire(o.dataDir, 'pijig journal repair');
      try {
        const r = await repairJournal(o.dataDir, { by: o.by });
        if (!r) return out('the journal is whole: nothing to repair');
        for (const x of r.replaced) out(`record #${x.seq}: ${x.found}; replaced by a record of the repair`);
        if (r.dropped) out(`${r.dropped} line(s) out of order, duplicated or torn: taken out`);
        out(`the journal as it was: ${r.copy}`);
        out(`${r.records} records; start the station again`);
      } finally {
        await lock.release();
      }
    });
}
