import { join } from 'node:path';
import type { UnitRecord } from '../core/record.js';
import { errorMessage } from '../core/errors.js';
import { verifyChainFile } from './chain.js';
import { JOURNAL_FILE, LEDGER_FILE } from './books.js';
import { Journal } from './journal.js';
import { Ledger, zeroCounts } from './ledger.js';
import { exists } from '../util/fs.js';

export interface BooksReport {
  /** Inconsistencies: the books are not consistent when there is any. */
  problems: string[];
  /** Worth knowing, not wrong (a cycle running now, repairs on record). */
  notes: string[];
  units: number;
  serials: number;
  macs: number;
  flashes: number;
  wasted: number;
}

/**
 * Recompute everything from the journal and the ledger of a data directory, read-only: both hash
 * chains; every journal record committed in the ledger with the same result, serial, MAC, chip
 * and flashes; every reserved number on a unit or marked wasted; no serial, MAC or chip UID on
 * two boards; the counters equal to the records.
 */
export async function verifyBooks(dataDir: string): Promise<BooksReport> {
  const report: BooksReport = { problems: [], notes: [], units: 0, serials: 0, macs: 0, flashes: 0, wasted: 0 };
  const problem = (m: string) => report.problems.push(m);
  const journalPath = join(dataDir, JOURNAL_FILE);
  const ledgerPath = join(dataDir, LEDGER_FILE);
  if (!(await exists(ledgerPath))) {
    problem(`${ledgerPath}: missing (the station rebuilds it from the journal at its next start)`);
    return report;
  }
  const chain = (await exists(journalPath)) ? await verifyChainFile(journalPath, { seqField: 'seq' }) : undefined;
  if (chain?.finding) problem(`${journalPath}: ${chain.finding.message}`);
  if (chain?.unchained) report.notes.push(`${journalPath}: records #1..#${chain.unchained} were written before the hash chain (pijig before the ledger): not covered by it`);
  for (const r of chain?.repairs ?? []) report.notes.push(`${journalPath}: record #${r.seq} was replaced in a repair (${r.found}, ${r.at})`);
  const ledgerChain = await verifyChainFile(ledgerPath, { seqField: 'n', noun: 'ledger entry' });
  if (ledgerChain.finding) problem(`${ledgerPath}: ${ledgerChain.finding.message}`);
  let ledger: Ledger;
  try {
    ledger = await Ledger.open(ledgerPath, { readOnly: true });
  } catch (err) {
    problem(errorMessage(err));
    return report;
  }
  report.serials = ledger.serials.size;
  report.macs = ledger.macs.size;
  report.flashes = ledger.flashes;
  report.wasted = ledger.wasted;

  const serialBoards = new Map<string, Set<string>>();
  const macBoards = new Map<string, Set<string>>();
  const uidSerials = new Map<string, Set<string>>();
  const counts = zeroCounts();
  const seen = new Set<number>();
  const add = (map: Map<string, Set<string>>, key: string, value: string) => {
    let set = map.get(key);
    if (!set) map.set(key, (set = new Set()));
    set.add(value);
  };
  if (chain && !chain.finding) {
    const journal = await Journal.open(journalPath, { readOnly: true });
    try {
      for await (const r of journal.read()) {
        report.units++;
        seen.add(r.seq);
        // A repair's stand-in counts as what the ledger committed for the unit it replaces.
        counts[r.repair ? (ledger.commits.get(r.seq)?.result ?? r.result) : r.result]++;
        checkRecord(r, ledger, problem);
        const board = r.chipUid ? `chip ${r.chipUid}` : `unit #${r.seq}`;
        if (r.serial) add(serialBoards, r.serial, board);
        if (r.mac) add(macBoards, r.mac, board);
        if (r.chipUid && r.serial) add(uidSerials, r.chipUid, r.serial);
      }
    } catch (err) {
      problem(errorMessage(err));
    } finally {
      await journal.close();
    }
  }
  for (const [seq, c] of ledger.commits) if (!seen.has(seq) && chain && !chain.finding) problem(`ledger commits unit #${seq} (${c.result}${c.serial ? ` ${c.serial}` : ''}), which the journal does not hold`);
  for (const [serial, boards] of serialBoards) if (boards.size > 1) problem(`serial ${serial} is on ${boards.size} boards: ${[...boards].join(', ')}`);
  for (const [mac, boards] of macBoards) if (boards.size > 1) problem(`MAC ${mac} is on ${boards.size} boards: ${[...boards].join(', ')}`);
  for (const [uid, serials] of uidSerials) if (serials.size > 1) problem(`chip ${uid} carries ${serials.size} serials: ${[...serials].join(', ')}`);
  for (const [serial, issue] of ledger.serials) {
    if (issue.state === 'reserved' && !ledger.cycles.has(issue.cycle)) problem(`${serial} was reserved (cycle ${issue.cycle}) and is neither on a unit record nor marked wasted`);
  }
  if (chain && !chain.finding) {
    for (const k of Object.keys(counts) as (keyof typeof counts)[]) {
      if (counts[k] !== ledger.counts[k]) problem(`${k}: the journal holds ${counts[k]} units, the ledger counts ${ledger.counts[k]}`);
    }
  }
  for (const [cycle, c] of ledger.cycles) {
    report.notes.push(`cycle ${cycle} is open (${c.flashes} flash(es)${c.identity ? `, ${c.identity.serial}` : ''}): running now, or recorded as INTERRUPTED at the next start`);
  }
  return report;
}

function checkRecord(r: UnitRecord, ledger: Ledger, problem: (m: string) => void): void {
  const c = ledger.commits.get(r.seq);
  if (!c) return problem(`unit #${r.seq} (${r.result}${r.serial ? ` ${r.serial}` : ''}) is not committed in the ledger`);
  if (r.reason === 'RECORD_LOST' && r.repair) return; // a repair's stand-in: the ledger keeps what the unit was
  const where = `unit #${r.seq}`;
  if (c.cycle !== r.id) problem(`${where}: the ledger committed cycle ${c.cycle}, the journal has ${r.id}`);
  if (c.result !== r.result) problem(`${where}: result ${r.result} in the journal, ${c.result} in the ledger`);
  if ((c.serial ?? '') !== (r.serial ?? '')) problem(`${where}: serial ${r.serial ?? '-'} in the journal, ${c.serial ?? '-'} in the ledger`);
  if ((c.mac ?? '') !== (r.mac ?? '')) problem(`${where}: MAC ${r.mac ?? '-'} in the journal, ${c.mac ?? '-'} in the ledger`);
  if ((c.uid ?? '') !== (r.chipUid ?? '')) problem(`${where}: chip ${r.chipUid ?? '-'} in the journal, ${c.uid ?? '-'} in the ledger`);
  if (r.serial && !ledger.serials.has(r.serial)) problem(`${where}: serial ${r.serial} was never reserved in the ledger`);
  const flashes = ledger.cycleFlashes.get(r.id) ?? 0;
  if (r.flashes !== undefined && r.flashes !== flashes) problem(`${where}: ${r.flashes} flash(es) on the record, ${flashes} counted in the ledger`);
}
