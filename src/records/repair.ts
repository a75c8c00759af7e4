import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JournalRepairNote, UnitRecord } from '../core/record.js';
import { writeFileAtomic, exists } from '../util/fs.js';
import { GENESIS, lineHash } from './chain.js';
import { JOURNAL_FILE, LEDGER_FILE } from './books.js';
import { parseRecord } from './journal.js';
import { Ledger } from './ledger.js';

export interface JournalRepair {
  /** Records written in place of damaged, edited or missing lines. */
  replaced: { seq: number; found: string }[];
  /** Lines taken out of the chain (duplicates, out of order), kept in the copy. */
  dropped: number;
  /** Where the journal as it was is kept. */
  copy: string;
  records: number;
}

/**
 * `pijig journal repair`: make the journal whole again, on the record. Every line that is not
 * what the chain says (damaged, edited, missing - also records the ledger committed and the
 * journal lost) is replaced by a record of the repair (reason RECORD_LOST, with what was found,
 * the damaged text and the hash the next record chained, so the chain verifies through it);
 * duplicates and lines out of order are taken out. The journal as it was is kept beside it. Run
 * with the station stopped (the caller holds the data directory's lock).
 */
export async function repairJournal(dataDir: string, opts: { by?: string; now?: () => Date } = {}): Promise<JournalRepair | undefined> {
  const now = (opts.now ?? (() => new Date()))();
  const at = now.toISOString();
  const path = join(dataDir, JOURNAL_FILE);
  const ledgerPath = join(dataDir, LEDGER_FILE);
  const ledger = (await exists(ledgerPath)) ? await Ledger.open(ledgerPath).catch(() => undefined) : undefined;
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const lines = text.split('\n');
  const torn = lines.pop() ?? ''; // text after the last line feed: a torn line (or '')
  const copy = `${path}.before-repair-${at.replace(/[:.]/g, '-')}`;
  const station = ledger?.station ?? lines.map(parseRecord).find((r) => r)?.station ?? '?';

  type Entry = { kind: 'line'; text: string } | { kind: 'lost'; seq: number; note: JournalRepairNote };
  const out: Entry[] = [];
  const replaced: JournalRepair['replaced'] = [];
  let dropped = torn ? 1 : 0;
  let expected = 1;
  let prevHash = GENESIS;
  let afterLost: Extract<Entry, { kind: 'lost' }> | undefined;
  let chained = false;
  const lost = (seq: number, found: string, damaged?: string): Extract<Entry, { kind: 'lost' }> => {
    const note: JournalRepairNote = { at, found, copy, ...(damaged !== undefined ? { text: damaged.slice(0, 4096) } : {}) };
    replaced.push({ seq, found });
    return { kind: 'lost', seq, note };
  };

  for (const line of lines) {
    const rec = parseRecord(line);
    if (!rec) {
      const t = lost(expected++, 'a damaged line', line);
      out.push(t);
      afterLost = t;
      continue;
    }
    if (rec.seq === expected && !chained && !('prev' in rec)) {
      // from before the chain existed: kept as it is
      out.push({ kind: 'line', text: line });
      prevHash = lineHash(line);
      expected++;
      continue;
    }
    chained = true;
    if (rec.seq < expected) {
      const last = out[out.length - 1];
      if (afterLost && last === afterLost && afterLost.seq === rec.seq && rec.prev === prevHash) {
        // The damaged line was an insertion: this record chains the one before it. Keep it instead.
        out.pop();
        replaced.pop();
        dropped++;
        afterLost = undefined;
        expected = rec.seq;
      } else {
        dropped++; // a second #seq, or a line out of order: kept in the copy only
        continue;
      }
    } else if (rec.seq > expected) {
      for (let s = expected; s < rec.seq; s++) out.push((afterLost = lost(s, 'missing')));
      afterLost!.note.replaces = rec.prev;
      expected = rec.seq;
    } else if (rec.prev !== prevHash) {
      if (afterLost) afterLost.note.replaces = rec.prev;
      else {
        // The record before was edited (this one chained the original): it is replaced.
        const last = out.length - 1;
        const before = out[last];
        if (before?.kind === 'line') {
          const t = lost(expected - 1, 'an edited record', before.text);
          t.note.replaces = rec.prev;
          out[last] = t;
        } else {
          const t = lost(expected, 'an edited record (its link to the start)', line);
          out.push(t);
          afterLost = t;
          expected++;
          continue;
        }
      }
    }
    out.push({ kind: 'line', text: line });
    prevHash = lineHash(line);
    afterLost = undefined;
    expected++;
  }
  // Units the ledger committed after the journal's end: lost with the journal's tail.
  for (let s = expected; ledger && s <= ledger.lastCommittedSeq; s++) out.push(lost(s, 'missing (the ledger committed it)'));
  if (replaced.length === 0 && dropped === 0) {
    await ledger?.close();
    return undefined;
  }

  await copyFile(path, copy).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') await writeFileAtomic(copy, '');
    else throw err;
  });
  const texts: string[] = [];
  let prev = GENESIS;
  for (const e of out) {
    const line = e.kind === 'line' ? e.text : JSON.stringify(lostRecord(e.seq, prev, e.note, station, ledger, opts.by));
    texts.push(line);
    prev = lineHash(line);
  }
  await writeFileAtomic(path, texts.length ? `${texts.join('\n')}\n` : '');
  if (ledger && !ledger.broken) {
    await ledger.append([{ t: 'note', what: 'journal repair', details: { copy, replaced, dropped, ...(opts.by ? { by: opts.by } : {}) } }]).catch(() => {});
  }
  await ledger?.close();
  return { replaced, dropped, copy, records: out.length };
}

/** The record that stands in a repaired journal where a unit's line was lost; what the ledger knows of the unit is kept. */
function lostRecord(seq: number, prev: string, note: JournalRepairNote, station: string, ledger: Ledger | undefined, by: string | undefined): UnitRecord {
  const c = ledger?.commits.get(seq);
  return {
    seq,
    prev,
    id: c?.cycle ?? `lost-${seq}`,
    station,
    plan: { name: '?', product: '?' },
    ...(c?.serial ? { serial: c.serial } : {}),
    ...(c?.mac ? { mac: c.mac } : {}),
    ...(c?.uid ? { chipUid: c.uid } : {}),
    startedAt: note.at,
    endedAt: note.at,
    durationMs: 0,
    result: 'ERROR',
    reason: 'RECORD_LOST',
    message: `record #${seq}: ${note.found}; replaced by \`pijig journal repair\`${by ? ` (${by})` : ''}${c ? `; the ledger shows ${c.result}` : ''}`,
    steps: [],
    repair: note,
  };
}
